//! The kernel log: leveled lines on the debug console.
//!
//! `error!`, `warn!`, `info!` and `debug!` print `[LEVEL] message` when the
//! level is at or below the one chosen with `log=` on the kernel command line
//! (default `info`). Lines never interleave: one lock covers a whole line.
//!
//! Threads write on the same console through `DebugWrite` ([`thread_write`]).
//! Their lines are framed by `septum_kcore::console`: each starts with the
//! thread's name and `": "`, and a kernel line first ends any thread line
//! left open, so nothing a thread prints can pass for a kernel line.

use crate::arch::serial;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU8, Ordering};
use septum_kcore::console::Framer;

/// How important a log line is; lower is more important.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

impl Level {
    fn tag(self) -> &'static str {
        match self {
            Level::Error => "[ERROR] ",
            Level::Warn => "[WARN]  ",
            Level::Info => "[INFO]  ",
            Level::Debug => "[DEBUG] ",
        }
    }

    /// Parse a `log=` value.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "error" => Some(Level::Error),
            "warn" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            _ => None,
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
/// The console lock, with the line state it protects.
static CONSOLE: spin::Mutex<Framer> = spin::Mutex::new(Framer::new());

/// Show lines up to `level`.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

struct Serial;

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        serial::write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Print one log line (use the macros).
pub fn log(level: Level, args: fmt::Arguments<'_>) {
    if level as u8 > LEVEL.load(Ordering::Relaxed) {
        return;
    }
    let mut console = CONSOLE.lock();
    console.kernel_line(&mut serial::write_bytes);
    let _ = Serial.write_str(level.tag());
    let _ = Serial.write_fmt(args);
    let _ = Serial.write_str("\n");
}

/// Print what thread `id` (its TCB address), named `name`, wrote: each
/// chunk `next` yields, in order, as one unit, framed as the module says.
pub fn thread_write<'a>(id: u64, name: &str, mut next: impl FnMut() -> Option<&'a [u8]>) {
    let mut console = CONSOLE.lock();
    while let Some(bytes) = next() {
        console.thread_write(id, name.as_bytes(), bytes, &mut serial::write_bytes);
    }
}

/// Print without taking the lock: for the panic handler, which may have
/// interrupted a line in progress.
pub fn emergency(args: fmt::Arguments<'_>) {
    let _ = Serial.write_fmt(args);
}

#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Error, format_args!($($t)*)) } }
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Warn, format_args!($($t)*)) } }
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Info, format_args!($($t)*)) } }
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Debug, format_args!($($t)*)) } }
