//! `print!` and `println!` on the kernel's debug console.
//!
//! Output is gathered in a small buffer and written in as few system calls
//! as possible, so one `println!` usually reaches the console as one unit.

use core::fmt::{self, Write};

const BUF: usize = 256;

/// A `fmt::Write` sink that batches output into debug-console writes.
pub struct Console {
    buf: [u8; BUF],
    len: usize,
}

impl Console {
    /// An empty sink.
    pub const fn new() -> Self {
        Console {
            buf: [0; BUF],
            len: 0,
        }
    }

    /// Send what is buffered.
    pub fn flush(&mut self) {
        if self.len > 0 {
            // Nothing useful to do if the console refuses: output is best effort.
            let _ = crate::syscall::debug_write(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl Default for Console {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for chunk in s.as_bytes().chunks(BUF) {
            if self.len + chunk.len() > BUF {
                self.flush();
            }
            self.buf[self.len..self.len + chunk.len()].copy_from_slice(chunk);
            self.len += chunk.len();
        }
        Ok(())
    }
}

/// Print formatted text (used by the macros).
pub fn print(args: fmt::Arguments<'_>) {
    let mut c = Console::new();
    let _ = c.write_fmt(args);
    c.flush();
}

/// Print to the debug console.
#[macro_export]
macro_rules! print {
    ($($t:tt)*) => { $crate::console::print(format_args!($($t)*)) };
}

/// Print a line to the debug console.
#[macro_export]
macro_rules! println {
    () => { $crate::console::print(format_args!("\n")) };
    ($($t:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($t)*))) };
}
