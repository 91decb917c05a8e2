//! Every interface defined in `idl/*.idl`, generated at build time by
//! `septum-idlgen`: per interface its types, method ids and worst-case
//! message sizes, a typed client (`<Name>Client`), a server trait
//! (`<Name>Server`) and the loop that dispatches requests to it (`serve`).
//!
//! The build fails with `<file>:<line>:<col>: <what>; <fix>` for a mistake in
//! a definition, and if a definition has no module here.
#![no_std]
#![forbid(unsafe_code)]

/// The reference interface (`idl/echo.idl`): one method per argument kind.
pub mod echo {
    include!(concat!(env!("OUT_DIR"), "/echo.rs"));
}

pub mod crash {
    include!(concat!(env!("OUT_DIR"), "/crash.rs"));
}

/// The timer scenario's judge (`idl/sleep_test.idl`), a test interface.
pub mod sleep_test {
    include!(concat!(env!("OUT_DIR"), "/sleep_test.rs"));
}

/// The timer server's clock and sleeps (`idl/timer.idl`).
pub mod timer {
    include!(concat!(env!("OUT_DIR"), "/timer.rs"));
}

/// What each `Echo` method answers, as pure functions: the reference
/// semantics every Echo server implements (the demo's, the on-target
/// suite's), kept in one place so they cannot drift apart.
pub mod echo_semantics {
    use crate::echo::{EchoError, Mode, Rect, Widths};

    /// `echo`: the text as `mode` says; "forbidden" is refused.
    pub fn echo(text: &str, mode: Mode) -> Result<heapless::String<64>, EchoError> {
        if text == "forbidden" {
            return Err(EchoError::Forbidden);
        }
        let mut out = heapless::String::<64>::new();
        let ok = match mode {
            Mode::Plain => out.push_str(text).is_ok(),
            Mode::Shout => text
                .chars()
                .all(|c| out.push(c.to_ascii_uppercase()).is_ok()),
            Mode::Reverse => text.chars().rev().all(|c| out.push(c).is_ok()),
        };
        if ok { Ok(out) } else { Err(EchoError::TooLong) }
    }

    /// `sum`: every argument, added with wrap-around.
    #[allow(clippy::too_many_arguments)]
    pub fn sum(a: u8, b: u16, c: u32, d: u64, e: i8, f: i16, g: i32, h: i64) -> i64 {
        [
            i64::from(a),
            i64::from(b),
            i64::from(c),
            d as i64,
            i64::from(e),
            i64::from(f),
            i64::from(g),
            h,
        ]
        .into_iter()
        .fold(0i64, i64::wrapping_add)
    }

    /// `increment`: every field plus one, with wrap-around.
    pub fn increment(w: Widths) -> Widths {
        Widths {
            a: w.a.wrapping_add(1),
            b: w.b.wrapping_add(1),
            c: w.c.wrapping_add(1),
            d: w.d.wrapping_add(1),
            e: w.e.wrapping_add(1),
            f: w.f.wrapping_add(1),
            g: w.g.wrapping_add(1),
            h: w.h.wrapping_add(1),
        }
    }

    /// `next_mode`: Plain, Shout, Reverse, round again.
    pub fn next_mode(m: Mode) -> Mode {
        match m {
            Mode::Plain => Mode::Shout,
            Mode::Shout => Mode::Reverse,
            Mode::Reverse => Mode::Plain,
        }
    }

    /// `area`: width times height; a negative size is out of range.
    pub fn area(r: Rect) -> Result<u64, EchoError> {
        if r.size.x < 0 || r.size.y < 0 {
            return Err(EchoError::OutOfRange);
        }
        Ok(r.size.x as u64 * r.size.y as u64)
    }

    /// `checksum`: the bytes' sum, with wrap-around.
    pub fn checksum(data: &[u8]) -> u32 {
        data.iter().fold(0u32, |s, &b| s.wrapping_add(u32::from(b)))
    }

    /// `reverse`: the bytes back to front, at most 32 of them.
    pub fn reverse(data: &[u8]) -> Result<heapless::Vec<u8, 32>, EchoError> {
        let mut out = heapless::Vec::new();
        for &b in data.iter().rev() {
            out.push(b).map_err(|_| EchoError::TooLong)?;
        }
        Ok(out)
    }
}

/// The console (`idl/serial.idl`): the 16550 driver's interface.
pub mod serial {
    include!(concat!(env!("OUT_DIR"), "/serial.rs"));
}
