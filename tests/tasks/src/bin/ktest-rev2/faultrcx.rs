//! The fault fast path's `RESUME_AT` for a `syscall` fault resumes through
//! `sysret`, which loads RCX with the new RIP (and R11 with RFLAGS); the
//! general path's reply sets the full-restore flag and resumes through
//! `iretq` with RCX as saved. One fault answered each way: the resumed
//! thread must see the same RCX.

use crate::settle;
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use septum_test_tasks::check_eq;
use septum_test_tasks::ktest::{Ctx, Test, TestResult};
use septum_user::abi::fault;
use septum_user::abi::ipc::REGISTER_WORDS;
use septum_user::abi::syscall as nr;
use septum_user::syscall::{info, raw, thread_exit};

pub const TESTS: &[Test] = &[Test {
    name: "rev2_syscall_fault_resume_at_rcx_same_by_both_paths",
    run: resume_at_rcx,
}];

static EP: AtomicU64 = AtomicU64::new(0);
static REPLY: AtomicU64 = AtomicU64::new(0);
/// Where each resume goes (written by the faulter before its `syscall`).
static TARGET: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
/// The RIP each fault reported (just past the `syscall`).
static RIP: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
/// RCX as the faulter saw it after each resume.
static RCX: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static ERR: [AtomicU64; 2] = [const { AtomicU64::new(u64::MAX) }; 2];

extern "C" fn handler(_: u64, buffer: u64) -> ! {
    let (ep, reply) = (EP.load(SeqCst), REPLY.load(SeqCst));
    raw(nr::RECV, ep, 0, [0; 4], reply);
    for n in 0..2usize {
        // SAFETY: this thread's own IPC buffer; the kernel wrote the fault there.
        let rip = unsafe {
            ((buffer + (fault::W_RIP - REGISTER_WORDS) as u64 * 8) as *const u64).read_volatile()
        };
        RIP[n].store(rip, SeqCst);
        let mr = [TARGET[n].load(SeqCst), 0, 0, 0];
        if n == 0 {
            // The fast path's way.
            let r = raw(nr::REPLY_RECV, ep, info(fault::RESUME_AT, 1), mr, reply);
            ERR[0].store(r.rax, SeqCst);
        } else {
            // The general path's.
            let a = raw(nr::REPLY, reply, info(fault::RESUME_AT, 1), mr, 0);
            ERR[1].store(a.rax, SeqCst);
        }
    }
    thread_exit()
}

/// In syscall-fault mode: a `syscall` whose handler resumes it past a
/// `ud2`, twice, recording RCX.
extern "C" fn faulter(_: u64, _: u64) -> ! {
    for n in 0..2 {
        let rcx: u64;
        // SAFETY: the `syscall` is a fault (syscall-fault mode); the handler
        // resumes at label 2, past the `ud2`. Every register written is
        // declared.
        unsafe {
            core::arch::asm!(
                "lea rax, [rip + 2f]",
                "mov qword ptr [{t}], rax",
                "mov eax, 39",
                "syscall",
                "ud2",
                "2:",
                t = in(reg) TARGET[n].as_ptr(),
                out("rax") _,
                out("rcx") rcx,
                out("r11") _,
                options(nostack),
            );
        }
        RCX[n].store(rcx, SeqCst);
    }
    thread_exit()
}

fn resume_at_rcx(c: &mut Ctx) -> TestResult {
    let ep = c.endpoint()?;
    EP.store(ep, SeqCst);
    REPLY.store(c.reply()?, SeqCst);
    c.spawn("rev2-handler", handler, 0, 110)?;
    let t = c.configured_thread("rev2-faulter", 100, ep)?;
    c.ipc.tcb_set_syscall_faults(t.tcb, true)?;
    c.start(t, faulter, 0)?;
    settle(c)?;
    check_eq!((ERR[0].load(SeqCst), ERR[1].load(SeqCst)), (0, 0));
    // Both resumes went past the `ud2`.
    for rcx in &RCX {
        check_eq!(rcx.load(SeqCst) != 0, true);
    }
    // What the general path gives (RCX as saved: the `syscall`'s return
    // address, the RIP the fault reported) — by both paths.
    let general = RCX[1].load(SeqCst) == RIP[1].load(SeqCst);
    let fast = RCX[0].load(SeqCst) == RIP[0].load(SeqCst);
    check_eq!(
        (fast, RCX[0].load(SeqCst).wrapping_sub(RIP[0].load(SeqCst))),
        (
            general,
            RCX[1].load(SeqCst).wrapping_sub(RIP[1].load(SeqCst))
        )
    );
    Ok(())
}
