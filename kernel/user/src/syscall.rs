//! Raw system calls and the IPC primitives built on them.
//!
//! Register use (see `septum_abi::syscall`): number in `rax`, capability
//! pointer in `rdi`, message info in `rsi`, message words 0–3 in `rdx`,
//! `r10`, `r8`, `r9`, reply-object pointer in `r12`. The kernel returns
//! the status in `rax`, the badge in `rdi`, the info in `rsi` and the
//! words in the same four registers; `rcx` and `r11` are clobbered.
//! The kernel checks every argument, so a wrong one only returns an error.

use septum_abi::ipc::{MessageInfo, REGISTER_WORDS};
use septum_abi::{Error, syscall as nr};

/// The registers a system call returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    pub rax: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub mr: [u64; REGISTER_WORDS],
}

/// Issue system call `number` with every argument register.
#[inline]
pub fn raw(number: u64, rdi: u64, rsi: u64, mr: [u64; REGISTER_WORDS], r12: u64) -> Regs {
    let (rax, rdi_out, rsi_out, m0, m1, m2, m3);
    // SAFETY: `syscall` enters the kernel, which reads and writes only the
    // registers declared here (plus rcx/r11, clobbered by the instruction)
    // and never this task's stack. Memory the kernel writes (the IPC
    // buffer) is only ever read back through volatile accesses.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") number => rax,
            inlateout("rdi") rdi => rdi_out,
            inlateout("rsi") rsi => rsi_out,
            inlateout("rdx") mr[0] => m0,
            inlateout("r10") mr[1] => m1,
            inlateout("r8") mr[2] => m2,
            inlateout("r9") mr[3] => m3,
            in("r12") r12,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack)
        );
    }
    Regs {
        rax,
        rdi: rdi_out,
        rsi: rsi_out,
        mr: [m0, m1, m2, m3],
    }
}

/// Status of a call.
#[inline]
pub fn status(r: &Regs) -> Result<u64, Error> {
    Error::from_rax(r.rax)
}

/// Write `bytes` to the kernel's debug console (at most
/// [`nr::DEBUG_WRITE_MAX`] per call).
pub fn debug_write(bytes: &[u8]) -> Result<u64, Error> {
    let r = raw(
        nr::DEBUG_WRITE,
        bytes.as_ptr() as u64,
        bytes.len() as u64,
        [0; 4],
        0,
    );
    status(&r)
}

/// Stop the calling thread for good.
pub fn thread_exit() -> ! {
    raw(nr::THREAD_EXIT, 0, 0, [0; 4], 0);
    unreachable!("thread_exit returned")
}

/// Give up the rest of the time slice.
pub fn yield_now() {
    raw(nr::YIELD, 0, 0, [0; 4], 0);
}

/// Signal the notification `cptr`.
pub fn signal(cptr: u64) -> Result<(), Error> {
    status(&raw(nr::SIGNAL, cptr, 0, [0; 4], 0)).map(|_| ())
}

/// Wait on the notification `cptr`; returns the word (badges OR-ed).
pub fn wait(cptr: u64) -> Result<u64, Error> {
    let r = raw(nr::WAIT, cptr, 0, [0; 4], 0);
    status(&r).map(|_| r.rdi)
}

/// Take the notification's word without blocking (0 if none).
pub fn poll(cptr: u64) -> Result<u64, Error> {
    let r = raw(nr::POLL, cptr, 0, [0; 4], 0);
    status(&r).map(|_| r.rdi)
}

/// Issue system call `nr` with two arguments; returns `rax`. For tests
/// that probe the kernel with arbitrary numbers and arguments.
pub fn raw2(number: u64, a0: u64, a1: u64) -> u64 {
    raw(number, a0, a1, [0; 4], 0).rax
}

/// The info word for a register-only message.
pub fn info(label: u64, words: usize) -> u64 {
    MessageInfo::new(label, words, 0).encode()
}
