//! Raw system calls. Each wrapper states which registers the call reads and
//! clobbers; the kernel checks every argument, so a wrong one only returns
//! an error.

use septum_abi::{Error, syscall as nr};

/// Write `bytes` to the kernel's debug console (at most
/// [`nr::DEBUG_WRITE_MAX`] per call).
pub fn debug_write(bytes: &[u8]) -> Result<u64, Error> {
    // SAFETY: the kernel only reads [ptr, ptr+len) through our page tables
    // and returns a result in rax; `syscall` clobbers rcx and r11.
    let rax = unsafe { raw2(nr::DEBUG_WRITE, bytes.as_ptr() as u64, bytes.len() as u64) };
    Error::from_rax(rax)
}

/// Stop the calling thread for good.
pub fn thread_exit() -> ! {
    // SAFETY: the kernel never returns from this call.
    unsafe { raw2(nr::THREAD_EXIT, 0, 0) };
    unreachable!("thread_exit returned")
}

/// Issue system call `nr` with two arguments; returns `rax`.
///
/// # Safety
/// The call must not make the kernel write memory this task relies on
/// being unchanged. For test tasks that probe the kernel with arbitrary
/// numbers and arguments this holds: the kernel writes only registers.
pub unsafe fn raw2(nr: u64, a0: u64, a1: u64) -> u64 {
    let ret;
    // SAFETY: `syscall` transfers to the kernel, which returns to the next
    // instruction with rax set and rcx/r11 clobbered (declared below); it
    // touches no other register and no stack memory of ours.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") nr => ret,
            in("rdi") a0,
            in("rsi") a1,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack)
        );
    }
    ret
}
