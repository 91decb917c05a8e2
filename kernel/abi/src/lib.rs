//! The system-call ABI shared by the kernel and every user task.
//!
//! Everything here is a fact both sides must agree on bit for bit: system-call
//! numbers, error codes, the fixed user-space addresses the kernel sets up for a
//! task, and the QEMU exit codes tests rely on. Nothing here does any work.
#![no_std]
#![forbid(unsafe_code)]

pub mod bootinfo;
pub mod error;
pub mod fault;
pub mod invocation;
pub mod ipc;
pub mod layout;
pub mod object;
pub mod sched;
pub mod syscall;

/// How a test run ends QEMU: the value written to `isa-debug-exit`
/// (QEMU then exits with status `value << 1 | 1`). Distinct from QEMU's own
/// statuses 0 and 1, so only a deliberate pass reads as a pass.
pub mod qemu_exit {
    /// I/O port of the `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4,iosize=4`).
    pub const PORT: u16 = 0xf4;
    /// Written when the run passed.
    pub const PASS: u32 = 0x10;
    /// Written on a kernel panic or a failed check.
    pub const FAIL: u32 = 0x20;
    /// QEMU's process exit status for a value written to the port.
    pub const fn status(value: u32) -> i32 {
        ((value << 1) | 1) as i32
    }
}

pub use error::Error;
