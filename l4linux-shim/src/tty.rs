//! The console's terminal: its `termios`, window size, foreground process
//! group and session, and the line discipline between the device and the
//! processes, as Linux's `n_tty` does it for what busybox uses:
//!
//! - input: ISTRIP, IGNCR/ICRNL/INLCR; ISIG (VINTR, VQUIT, VSUSP send
//!   SIGINT, SIGQUIT, SIGTSTP to the foreground group and flush the
//!   input unless NOFLSH); IXON swallows VSTART/VSTOP (output is never
//!   actually stopped); canonical mode (ICANON) edits a line: VERASE and
//!   VWERASE erase (ECHOE erases on the screen), VKILL erases the line
//!   (ECHOKE on the screen, ECHOK with a newline), VEOF ends a line
//!   without a newline (at the start of one: end-of-file), `\n`, VEOL and
//!   VEOL2 end it with theirs; ECHO echoes (ECHOCTL as `^X`), ECHONL
//!   echoes newlines even without ECHO; at most 4,095 bytes a line;
//! - non-canonical mode: bytes as they come, read as VMIN and VTIME say;
//! - output: OPOST with ONLCR (`\n` as `\r\n`), only on a real terminal.
//!
//! No IPC here: `Shim` feeds it the device's input and writes the echo
//! it returns (`syscall/tty.rs`).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::linux::{Termios, Winsize};

pub const ISTRIP: u32 = 0o40;
pub const INLCR: u32 = 0o100;
pub const IGNCR: u32 = 0o200;
pub const ICRNL: u32 = 0o400;
pub const IXON: u32 = 0o2000;
pub const OPOST: u32 = 0o1;
pub const ONLCR: u32 = 0o4;
pub const ISIG: u32 = 0o1;
pub const ICANON: u32 = 0o2;
pub const ECHO: u32 = 0o10;
pub const ECHOE: u32 = 0o20;
pub const ECHOK: u32 = 0o40;
pub const ECHONL: u32 = 0o100;
pub const NOFLSH: u32 = 0o200;
pub const ECHOCTL: u32 = 0o1000;
pub const ECHOKE: u32 = 0o4000;
pub const IEXTEN: u32 = 0o100000;
pub const TOSTOP: u32 = 0o400;

pub const VINTR: usize = 0;
pub const VQUIT: usize = 1;
pub const VERASE: usize = 2;
pub const VKILL: usize = 3;
pub const VEOF: usize = 4;
pub const VTIME: usize = 5;
pub const VMIN: usize = 6;
pub const VSTART: usize = 8;
pub const VSTOP: usize = 9;
pub const VSUSP: usize = 10;
pub const VEOL: usize = 11;
pub const VWERASE: usize = 14;
pub const VEOL2: usize = 16;

pub const SIGINT: u64 = 2;
pub const SIGQUIT: u64 = 3;
pub const SIGTSTP: u64 = 20;

/// Most bytes of one line, and of the unread input (Linux's 4 KiB).
pub const LINE_MAX: usize = 4095;

/// What a terminal is set to when the shim starts: Linux's `stty sane`.
pub fn sane() -> Termios {
    let mut t = Termios {
        c_iflag: ICRNL | IXON,
        c_oflag: OPOST | ONLCR,
        c_cflag: 0o277, // B38400 | CS8 | CREAD
        c_lflag: ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
        ..Termios::default()
    };
    t.c_cc[..17].copy_from_slice(&[3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0]);
    t
}

pub struct Tty {
    pub termios: Termios,
    pub winsize: Winsize,
    /// The foreground process group (0: none yet).
    pub pgrp: u64,
    /// The session it is the controlling terminal of (0: none).
    pub sid: u64,
    /// Canonical mode: lines ended by `\n`, VEOL, VEOL2 (kept) or VEOF
    /// (dropped; an empty one is end-of-file). Non-canonical: one entry
    /// of bytes.
    lines: VecDeque<Vec<u8>>,
    /// The line being edited (canonical mode).
    edit: Vec<u8>,
    /// When input last came, for VTIME (shim nanoseconds).
    pub last_input: u64,
}

impl Tty {
    pub fn new() -> Tty {
        Tty {
            termios: sane(),
            winsize: Winsize {
                ws_row: 24,
                ws_col: 80,
                ..Winsize::default()
            },
            pgrp: 0,
            sid: 0,
            lines: VecDeque::new(),
            edit: Vec::new(),
            last_input: 0,
        }
    }

    fn lflag(&self, f: u32) -> bool {
        self.termios.c_lflag & f != 0
    }

    fn cc(&self, i: usize) -> u8 {
        self.termios.c_cc[i]
    }

    /// Whether `c` is control character `i` (a 0 there disables it).
    fn is(&self, c: u8, i: usize) -> bool {
        self.cc(i) != 0 && c == self.cc(i)
    }

    /// Whether a background process's write stops its group (TOSTOP).
    pub fn tostop(&self) -> bool {
        self.lflag(TOSTOP)
    }

    pub fn canonical(&self) -> bool {
        self.lflag(ICANON)
    }

    /// Bytes a read could take now (FIONREAD): in canonical mode, those
    /// of complete lines.
    pub fn available(&self) -> usize {
        self.lines.iter().map(Vec::len).sum()
    }

    /// Whether a read would return now (at least `min` bytes in
    /// non-canonical mode; a line, or end-of-file, in canonical mode).
    pub fn readable(&self, min: usize) -> bool {
        if self.canonical() {
            !self.lines.is_empty()
        } else {
            self.available() >= min.max(1)
        }
    }

    /// Take up to `max` bytes: one line at most in canonical mode (an
    /// empty VEOF line gives 0: end-of-file).
    pub fn take(&mut self, max: usize) -> Vec<u8> {
        if self.canonical() {
            let Some(line) = self.lines.front_mut() else {
                return Vec::new();
            };
            let n = line.len().min(max);
            let out: Vec<u8> = line.drain(..n).collect();
            if line.is_empty() {
                self.lines.pop_front();
            }
            out
        } else {
            let mut out = Vec::new();
            while out.len() < max {
                let Some(chunk) = self.lines.front_mut() else {
                    break;
                };
                let n = chunk.len().min(max - out.len());
                out.extend(chunk.drain(..n));
                if chunk.is_empty() {
                    self.lines.pop_front();
                }
            }
            out
        }
    }

    /// Throw away the unread input (TCFLSH, TCSETSF, a signal key).
    pub fn flush_input(&mut self) {
        self.lines.clear();
        self.edit.clear();
    }

    /// New settings. Leaving canonical mode makes the line being edited
    /// readable; entering it makes unread bytes the start of a line.
    pub fn set(&mut self, t: Termios) {
        let was = self.canonical();
        self.termios = t;
        match (was, self.canonical()) {
            (true, false) if !self.edit.is_empty() => {
                let e = core::mem::take(&mut self.edit);
                self.lines.push_back(e);
            }
            (false, true) => {
                let mut bytes: Vec<u8> = self.lines.drain(..).flatten().collect();
                bytes.append(&mut self.edit);
                self.edit = bytes;
            }
            _ => {}
        }
    }

    /// Output processing: `\n` as `\r\n` with OPOST and ONLCR.
    pub fn output(&self, bytes: &[u8], out: &mut Vec<u8>) {
        let t = &self.termios;
        if t.c_oflag & OPOST != 0 && t.c_oflag & ONLCR != 0 {
            for &b in bytes {
                if b == b'\n' {
                    out.push(b'\r');
                }
                out.push(b);
            }
        } else {
            out.extend_from_slice(bytes);
        }
    }

    /// Echo `c` (ECHOCTL shows control characters as `^X`).
    fn echo(&self, c: u8, out: &mut Vec<u8>) {
        if self.lflag(ECHOCTL) && (c < 0x20 && c != b'\t' && c != b'\n' || c == 0x7f) {
            out.extend_from_slice(&[b'^', c ^ 0x40]);
        } else {
            self.output(&[c], out);
        }
    }

    /// The columns the echo of `c` took.
    fn width(&self, c: u8) -> usize {
        if self.lflag(ECHOCTL) && (c < 0x20 && c != b'\t' || c == 0x7f) {
            2
        } else {
            1
        }
    }

    /// Erase the last byte of the line being edited, on the screen too
    /// with ECHO and ECHOE.
    fn erase_one(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(c) = self.edit.pop() else {
            return false;
        };
        if self.lflag(ECHO) && self.lflag(ECHOE) {
            for _ in 0..self.width(c) {
                out.extend_from_slice(b"\x08 \x08");
            }
        }
        true
    }

    /// The device's input `bytes` at time `now`: what to echo goes into
    /// `out`, signals for the foreground group into `sigs`.
    pub fn receive(&mut self, bytes: &[u8], now: u64, out: &mut Vec<u8>, sigs: &mut Vec<u64>) {
        self.last_input = now;
        for &b in bytes {
            self.receive_one(b, out, sigs);
        }
    }

    fn receive_one(&mut self, mut c: u8, out: &mut Vec<u8>, sigs: &mut Vec<u64>) {
        let iflag = self.termios.c_iflag;
        if iflag & ISTRIP != 0 {
            c &= 0x7f;
        }
        if c == b'\r' {
            if iflag & IGNCR != 0 {
                return;
            }
            if iflag & ICRNL != 0 {
                c = b'\n';
            }
        } else if c == b'\n' && iflag & INLCR != 0 {
            c = b'\r';
        }
        if self.lflag(ISIG) {
            let sig = if self.is(c, VINTR) {
                Some(SIGINT)
            } else if self.is(c, VQUIT) {
                Some(SIGQUIT)
            } else if self.is(c, VSUSP) {
                Some(SIGTSTP)
            } else {
                None
            };
            if let Some(sig) = sig {
                if !self.lflag(NOFLSH) {
                    self.flush_input();
                }
                if self.lflag(ECHO) {
                    self.echo(c, out);
                }
                sigs.push(sig);
                return;
            }
        }
        if iflag & IXON != 0 && (self.is(c, VSTART) || self.is(c, VSTOP)) {
            return;
        }
        if !self.canonical() {
            if self.available() < LINE_MAX {
                match self.lines.back_mut() {
                    Some(chunk) => chunk.push(c),
                    None => self.lines.push_back(alloc::vec![c]),
                }
            }
            if self.lflag(ECHO) {
                self.echo(c, out);
            } else if c == b'\n' && self.lflag(ECHONL) {
                self.output(b"\n", out);
            }
            return;
        }
        if self.is(c, VERASE) {
            self.erase_one(out);
            return;
        }
        if self.lflag(IEXTEN) && self.is(c, VWERASE) {
            while self.edit.last().is_some_and(|&b| b == b' ' || b == b'\t') {
                self.erase_one(out);
            }
            while self.edit.last().is_some_and(|&b| b != b' ' && b != b'\t') {
                self.erase_one(out);
            }
            return;
        }
        if self.is(c, VKILL) {
            if self.lflag(ECHO) && self.lflag(ECHOKE) && self.lflag(ECHOE) {
                while self.erase_one(out) {}
            } else {
                self.edit.clear();
                if self.lflag(ECHO) {
                    self.echo(c, out);
                    if self.lflag(ECHOK) {
                        self.output(b"\n", out);
                    }
                }
            }
            return;
        }
        if self.is(c, VEOF) {
            let line = core::mem::take(&mut self.edit);
            self.lines.push_back(line);
            return;
        }
        let ends = c == b'\n' || self.is(c, VEOL) || self.is(c, VEOL2);
        if !ends && self.edit.len() >= LINE_MAX {
            return;
        }
        self.edit.push(c);
        if self.lflag(ECHO) {
            self.echo(c, out);
        } else if c == b'\n' && self.lflag(ECHONL) {
            self.output(b"\n", out);
        }
        if ends {
            let line = core::mem::take(&mut self.edit);
            self.lines.push_back(line);
        }
    }

    /// VMIN and VTIME (in nanoseconds) as non-canonical reads use them.
    pub fn vmin_vtime(&self) -> (usize, u64) {
        (
            usize::from(self.cc(VMIN)),
            u64::from(self.cc(VTIME)) * 100_000_000,
        )
    }
}
