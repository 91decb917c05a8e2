//! The guest's console, behind a trait so the serial server's client can
//! replace the first one (the kernel's debug console) without touching
//! the system calls: for now every process's output to the terminal is
//! written with `DebugWrite`, which the kernel frames with the shim's
//! thread name (`guest: ...`), and reading it gives end-of-file.

use alloc::vec::Vec;

pub trait Console {
    /// Write what a process wrote to the terminal.
    fn write(&mut self, bytes: &[u8]);
    /// Read what was typed; 0 is end-of-file.
    fn read(&mut self, buf: &mut [u8]) -> usize;
    /// A program ended: write out what it left unfinished.
    fn flush(&mut self) {}
}

/// The kernel's debug console. It keeps a process's partial line until
/// its end (or until a program exits), so the kernel frames whole lines.
#[derive(Default)]
pub struct DebugConsole {
    line: Vec<u8>,
}

impl DebugConsole {
    fn emit(bytes: &[u8]) {
        for chunk in bytes.chunks(septum_user::abi::syscall::DEBUG_WRITE_MAX) {
            let _ = septum_user::syscall::debug_write(chunk);
        }
    }
}

impl Console for DebugConsole {
    fn write(&mut self, bytes: &[u8]) {
        self.line.extend_from_slice(bytes);
        if let Some(end) = self.line.iter().rposition(|&b| b == b'\n') {
            Self::emit(&self.line[..=end]);
            self.line.drain(..=end);
        }
        if self.line.len() >= 4096 {
            Self::emit(&self.line);
            self.line.clear();
        }
    }

    fn read(&mut self, _buf: &mut [u8]) -> usize {
        0
    }

    fn flush(&mut self) {
        if !self.line.is_empty() {
            self.line.push(b'\n');
            Self::emit(&self.line);
            self.line.clear();
        }
    }
}
