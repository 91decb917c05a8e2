//! A signal to a higher-priority waiter switches straight to it
//! (`syscall::signalled`, `sched::preempt_for`). The signaller goes to the
//! front of its run queue first; if the waiter then cannot run (its
//! address space was taken away while it waited), the kernel stops the
//! waiter and must schedule as the general path would — the signaller
//! runs on, and is never both running and queued (a queued thread that
//! blocks would be popped and run while blocked).

use crate::{debug_check, settle};
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use septum_test_tasks::ktest::{
    CNODE, Ctx, DEPTH, SELF_TCB, SELF_VSPACE, Test, TestResult, Thread, ty,
};
use septum_test_tasks::{check, check_eq};
use septum_user::abi::object::rights;
use septum_user::abi::syscall as nr;
use septum_user::syscall::{raw, thread_exit};

pub const TESTS: &[Test] = &[Test {
    name: "rev2_signal_to_spaceless_waiter_leaves_signaller_blocking",
    run: spaceless_waiter,
}];

static NTFN: AtomicU64 = AtomicU64::new(0);
static OTHER: AtomicU64 = AtomicU64::new(0);
/// The waiter got past its wait.
static WAITER_RAN: AtomicU64 = AtomicU64::new(0);
/// The signaller signalled (1), and got past a wait nobody answers (2).
static SIGNALLER: AtomicU64 = AtomicU64::new(0);

extern "C" fn waiter(_: u64, _: u64) -> ! {
    raw(nr::WAIT, NTFN.load(SeqCst), 0, [0; 4], 0);
    WAITER_RAN.store(1, SeqCst);
    thread_exit()
}

extern "C" fn signaller(_: u64, _: u64) -> ! {
    raw(nr::SIGNAL, NTFN.load(SeqCst), 0, [0; 4], 0);
    SIGNALLER.store(1, SeqCst);
    // Nobody signals this one: the thread must stay blocked here.
    raw(nr::WAIT, OTHER.load(SeqCst), 0, [0; 4], 0);
    SIGNALLER.store(2, SeqCst);
    thread_exit()
}

fn spaceless_waiter(c: &mut Ctx) -> TestResult {
    WAITER_RAN.store(0, SeqCst);
    SIGNALLER.store(0, SeqCst);
    let n = c.notification()?;
    let other = c.notification()?;
    NTFN.store(n, SeqCst);
    OTHER.store(other, SeqCst);
    // The waiter's address space is a copy of the root's: revoking that
    // copy empties the waiter's vspace slot (its child) and nothing else.
    let space = c.slot();
    c.ipc.cnode_copy(
        CNODE,
        (space, DEPTH),
        CNODE,
        (SELF_VSPACE, DEPTH),
        rights::ALL,
    )?;
    let tcb = c.make(ty::TCB, 0)?;
    let (frame, buffer) = c.mapped_frame()?;
    c.ipc.tcb_configure(tcb, CNODE, space, frame, buffer, 0)?;
    c.ipc.tcb_set_name(tcb, "rev2-spaceless")?;
    c.ipc.tcb_set_priority(tcb, SELF_TCB, 110)?;
    c.start(Thread { tcb, buffer }, waiter, 0)?;
    settle(c)?;
    c.ipc.cnode_revoke(CNODE, (space, DEPTH))?;
    // The signaller is below the waiter: its signal takes the direct switch.
    c.spawn("rev2-signaller", signaller, 0, 100)?;
    settle(c)?;
    let check_after = debug_check();
    check_eq!(WAITER_RAN.load(SeqCst), 0);
    check!(
        SIGNALLER.load(SeqCst) != 2,
        "the signaller got past a wait nobody answered: it ran while blocked \
         (left queued by the direct switch to a waiter without an address space)"
    );
    check_eq!(SIGNALLER.load(SeqCst), 1);
    check!(check_after.is_ok(), "DebugCheck failed after the signal");
    Ok(())
}
