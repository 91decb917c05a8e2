//! The kernel log: leveled lines on the debug console.
//!
//! `error!`, `warn!`, `info!` and `debug!` print `[LEVEL] message` when the
//! level is at or below the one chosen with `log=` on the kernel command line
//! (default `info`). Lines never interleave: one lock covers a whole line.

use crate::arch::serial;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU8, Ordering};

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
static CONSOLE: spin::Mutex<()> = spin::Mutex::new(());

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
    let _guard = CONSOLE.lock();
    let _ = Serial.write_str(level.tag());
    let _ = Serial.write_fmt(args);
    let _ = Serial.write_str("\n");
}

/// Hold the console so that several writes appear as one unit.
pub fn lock_console() -> spin::MutexGuard<'static, ()> {
    CONSOLE.lock()
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
