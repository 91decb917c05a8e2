//! What the kernel does with a trap: system calls, user faults, and faults
//! of its own.
//!
//! A user fault stops the thread and is reported with the task's name, the
//! fault and the address; the kernel carries on. (From the kernel-core
//! issue on, it becomes a message to the thread's fault endpoint instead.)
//! A fault in ring 0 is a kernel bug and panics with the same details.

use crate::arch::paging::{self, PTE_USER};
use crate::arch::trap::{KernelFrame, cr2};
use crate::thread::{self, Resume, State, Thread};
use septum_abi::layout::is_user_range;
use septum_abi::{Error, syscall as nr};

const PF: u64 = 14;

fn exception_name(vector: u64) -> &'static str {
    match vector {
        0 => "divide error",
        1 => "debug exception",
        2 => "non-maskable interrupt",
        3 => "breakpoint",
        4 => "overflow",
        5 => "bound range exceeded",
        6 => "invalid opcode",
        7 => "device not available",
        8 => "double fault",
        10 => "invalid TSS",
        11 => "segment not present",
        12 => "stack-segment fault",
        13 => "general protection fault",
        14 => "page fault",
        16 => "x87 floating-point exception",
        17 => "alignment check",
        18 => "machine check",
        19 => "SIMD floating-point exception",
        20 => "virtualization exception",
        21 => "control-protection exception",
        _ => "reserved exception",
    }
}

/// Describe a page-fault error code: what access, and why it failed.
fn page_fault_cause(error: u64) -> (&'static str, &'static str) {
    let access = if error & 0x10 != 0 {
        "instruction fetch"
    } else if error & 0x2 != 0 {
        "write"
    } else {
        "read"
    };
    let why = if error & 0x8 != 0 {
        "reserved bit set"
    } else if error & 0x1 != 0 {
        "protection violation"
    } else {
        "not present"
    };
    (access, why)
}

/// Stop `t` for good after reporting why.
fn stop(t: &mut Thread, why: core::fmt::Arguments<'_>) {
    crate::warn!("fault: task '{}': {why}; thread stopped", t.name);
    t.state = State::Stopped;
}

/// An exception or interrupt taken in user mode; the running thread's
/// context holds the saved state.
pub fn user_trap() -> ! {
    let mut t = thread::ROOT.lock();
    let c = t.ctx;
    t.resume = Resume::Full;
    if c.vector >= 32 {
        // No device interrupts are routed yet (the PIC is masked): a stray
        // vector is logged and the thread continues.
        crate::warn!("unexpected interrupt vector {} in user mode", c.vector);
    } else if c.vector == PF {
        let (access, why) = page_fault_cause(c.error);
        let addr = cr2();
        let name = exception_name(c.vector);
        stop(
            &mut t,
            format_args!(
                "{name} ({access}, {why}) at rip={:#x}, addr={addr:#x}, error={:#x}",
                c.rip, c.error
            ),
        );
    } else {
        let name = exception_name(c.vector);
        stop(
            &mut t,
            format_args!(
                "{name} (vector {}) at rip={:#x}, error={:#x}",
                c.vector, c.rip, c.error
            ),
        );
    }
    drop(t);
    thread::schedule()
}

/// A `syscall` from user mode; the running thread's context holds the
/// arguments and receives the result.
pub fn syscall() -> ! {
    let mut t = thread::ROOT.lock();
    t.resume = Resume::Syscall;
    let c = t.ctx;
    let result = match c.rax {
        nr::DEBUG_WRITE => debug_write(t.pml4, c.rdi, c.rsi),
        nr::THREAD_EXIT => {
            crate::info!("task '{}' exited", t.name);
            t.state = State::Stopped;
            Ok(0)
        }
        n if nr::is_septum(n) => Err(Error::UnknownSyscall),
        n => {
            // Not a Septum call (a guest's system call): with no fault
            // handler to forward it to, the thread stops.
            stop(
                &mut t,
                format_args!("unknown system call {n:#x} at rip={:#x}", c.rip),
            );
            Ok(0)
        }
    };
    t.ctx.rax = match result {
        Ok(v) => v,
        Err(e) => e.to_rax(),
    };
    drop(t);
    thread::schedule()
}

/// Copy a task's bytes to the console, reading them through its page
/// tables: the kernel never dereferences a user pointer.
fn debug_write(pml4: u64, ptr: u64, len: u64) -> Result<u64, Error> {
    if len > nr::DEBUG_WRITE_MAX as u64 {
        return Err(Error::Range);
    }
    if !is_user_range(ptr, len) {
        return Err(Error::InvalidAddress);
    }
    let mut buf = [0u8; nr::DEBUG_WRITE_MAX];
    let mut done = 0;
    while done < len {
        let va = ptr + done;
        let chunk = (4096 - (va & 0xfff)).min(len - done);
        let (pa, rights) = paging::translate(pml4, va).ok_or(Error::InvalidAddress)?;
        if rights & PTE_USER == 0 {
            return Err(Error::InvalidAddress);
        }
        let src = paging::phys_slice(pa, chunk).ok_or(Error::InvalidAddress)?;
        buf[done as usize..(done + chunk) as usize].copy_from_slice(src);
        done += chunk;
    }
    crate::log::console_write(&buf[..len as usize]);
    Ok(len)
}

/// An exception in ring 0: always a kernel bug.
pub fn kernel_trap(f: &KernelFrame) -> ! {
    panic!(
        "{} (vector {}) in the kernel at rip={:#x}, rsp={:#x}, error={:#x}, cr2={:#x}",
        exception_name(f.vector),
        f.vector,
        f.rip,
        f.rsp,
        f.error,
        cr2()
    )
}
