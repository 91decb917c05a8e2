//! Threads and the (for now trivial) scheduler.
//!
//! Until the kernel-core issue brings thread objects made from untyped
//! memory, the kernel has exactly one thread: the root task's first thread,
//! in a static. Its saved registers stay at a fixed address because the
//! trap entry writes them in place (see `arch::x86_64::trap`).

use crate::arch::{cpu, paging, trap::UserContext};
use core::mem::size_of;

/// Longest thread name kept (a boot-image entry name).
pub const NAME_LEN: usize = septum_kcore::bootimage::NAME_LEN;

/// Whether a thread may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Nothing set up in this slot.
    Empty,
    /// Ready to run.
    Runnable,
    /// Stopped for good (exited, or faulted with nobody to handle it).
    Stopped,
}

/// How the next return to user mode must go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Any register may have changed: restore all of them with `iretq`.
    Full,
    /// Returning from a system call with RIP/RFLAGS as `syscall` saved them.
    Syscall,
}

/// A thread of a user task.
pub struct Thread {
    /// Saved user registers; written in place by the trap entry.
    pub ctx: UserContext,
    /// The task's name, from its boot-image entry.
    pub name: heapless::String<NAME_LEN>,
    /// Physical address of its PML4.
    pub pml4: u64,
    pub state: State,
    pub resume: Resume,
}

impl Thread {
    const EMPTY: Thread = Thread {
        ctx: UserContext {
            r15: 0,
            r14: 0,
            r13: 0,
            r12: 0,
            r11: 0,
            r10: 0,
            r9: 0,
            r8: 0,
            rbp: 0,
            rdi: 0,
            rsi: 0,
            rdx: 0,
            rcx: 0,
            rbx: 0,
            rax: 0,
            vector: 0,
            error: 0,
            rip: 0,
            cs: 0,
            rflags: 0,
            rsp: 0,
            ss: 0,
        },
        name: heapless::String::new(),
        pml4: 0,
        state: State::Empty,
        resume: Resume::Full,
    };
}

/// The only thread until the kernel-core issue.
pub static ROOT: spin::Mutex<Thread> = spin::Mutex::new(Thread::EMPTY);

/// Run the next runnable thread, or idle if there is none. Never returns.
pub fn schedule() -> ! {
    let mut t = ROOT.lock();
    if t.state != State::Runnable {
        drop(t);
        idle();
    }
    // The one place every return to user mode passes: force user selectors,
    // IF on, IOPL/NT/RF/VM off, whatever changed the context.
    t.ctx.sanitize();
    let ctx: *const UserContext = &t.ctx;
    let (pml4, resume, rip) = (t.pml4, t.resume, t.ctx.rip);
    drop(t);
    cpu::set_context_end(ctx as u64 + size_of::<UserContext>() as u64);
    paging::switch_to(pml4);
    let sysret_ok = resume == Resume::Syscall && septum_abi::layout::is_canonical(rip);
    // SAFETY: `ctx` is the runnable thread's saved context, which the
    // per-CPU context end now points past; its address space is loaded; it
    // was sanitized above; sysret only with a canonical RIP.
    unsafe {
        if sysret_ok {
            crate::arch::trap::resume_sysret(ctx)
        } else {
            crate::arch::trap::resume_iret(ctx)
        }
    }
}

fn idle() -> ! {
    crate::info!("no runnable threads");
    if crate::boot_options().exit_on_idle {
        crate::info!("exit_on_idle: ending the run");
        crate::arch::exit_qemu(septum_abi::qemu_exit::PASS);
    }
    crate::arch::halt_forever()
}
