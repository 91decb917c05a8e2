//! What the kernel does with a trap from user mode or its own.
//!
//! A user fault (any CPU exception, or a `syscall` that is not Septum's)
//! becomes a message to the thread's fault endpoint; a thread without one
//! is suspended and reported with its name, the fault and the address,
//! and the kernel carries on. A fault in ring 0 is a kernel bug and panics
//! with the same details.

use crate::arch::trap::{KernelFrame, cr2};
use crate::object::tcb::{Reg, State, Tcb};
use crate::sched;
use septum_abi::fault::Kind;

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

/// `t` faulted: tell its handler, or suspend it and log why. Returns the
/// handler to switch straight to, when the fault fast path applies.
#[inline]
pub fn fault(t: Tcb, kind: Kind, addr: u64) -> Option<Tcb> {
    match crate::ipc::raise_fault(t, kind, addr) {
        crate::ipc::Raised::SwitchTo(handler) => Some(handler),
        crate::ipc::Raised::Sent => None,
        crate::ipc::Raised::NoHandler => {
            stop_unhandled(t, kind, addr);
            None
        }
    }
}

/// `t` faulted with nobody to tell: stop it and say why (out of line, so
/// the handled fault's path carries none of the formatting's weight).
#[cold]
#[inline(never)]
fn stop_unhandled(t: Tcb, kind: Kind, addr: u64) {
    let (rip, error, vector) = (
        t.reg(Reg::Rip),
        t.reg(Reg::Error),
        t.reg(Reg::Vector) & 0xffff,
    );
    let name = t.name();
    match kind {
        Kind::PageFault => {
            let (access, why) = page_fault_cause(error);
            crate::warn!(
                "fault: task '{name}': page fault ({access}, {why}) at rip={rip:#x}, addr={addr:#x}, error={error:#x}; thread stopped"
            );
        }
        Kind::Exception => crate::warn!(
            "fault: task '{name}': {} (vector {vector}) at rip={rip:#x}, error={error:#x}; thread stopped",
            exception_name(vector)
        ),
        Kind::UnknownSyscall | Kind::Syscall => crate::warn!(
            "fault: task '{name}': unknown system call {:#x} at rip={rip:#x}; thread stopped",
            t.reg(Reg::Rax)
        ),
    }
    t.set_state(State::Inactive);
}

/// Leave the kernel after `t` faulted: into its handler if the fast path
/// gave one, otherwise whatever the scheduler picks.
pub fn after_fault(handler: Option<Tcb>) -> ! {
    match handler {
        Some(h) => sched::switch_to(h),
        None => sched::schedule(),
    }
}

/// An exception or interrupt taken in user mode; the running thread's
/// context holds the saved state.
pub fn user_trap() -> ! {
    let t = sched::current().expect("user traps come from threads");
    let vector = t.reg(Reg::Vector);
    t.set_flag(crate::object::tcb::flags::FULL_RESTORE, true);
    if vector >= 32 {
        if let Some(woken) = crate::irq::handle(vector) {
            // A driver woken by its interrupt, above the interrupted
            // thread and everything ready: run it now, the interrupted
            // thread first in line at its priority.
            if woken.priority() > t.priority()
                && t.state() == crate::object::tcb::State::Runnable
                && !sched::is_queued(t)
                && sched::may_switch_to(woken)
            {
                sched::preempt_for(t, woken);
            }
            sched::enqueue(woken);
        }
    } else if vector == PF {
        after_fault(fault(t, Kind::PageFault, cr2()));
    } else {
        after_fault(fault(t, Kind::Exception, 0));
    }
    sched::schedule()
}

/// A trap taken in ring 0. Interrupts (the idle loop runs with them on)
/// are handled and return; exceptions are kernel bugs.
pub fn kernel_trap(f: &KernelFrame) {
    if f.vector >= 32 {
        if let Some(woken) = crate::irq::handle(f.vector) {
            sched::enqueue(woken);
        }
        return;
    }
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
