//! On-target suite, attack group, the cases that count instructions.
//! Booted as the root task by the `kernel-attack-icount` scenario, which
//! runs QEMU under `-icount shift=0`: the guest TSC advances once per
//! executed instruction, so an `rdtsc` delta around a system call is an
//! exact, repeatable count (a deterministic figure, not a timing).
//!
//! The attack: make one kernel operation do work proportional to a number
//! the attacker chooses, with interrupts off. Deleting a capability with
//! 65,535 children must cost O(1) in the children (whether deleted
//! directly or from inside a CNode being destroyed), and what the delete
//! leaves must still be right. Deleting an endpoint or notification with
//! a thousand threads waiting must release them all with PeerGone; how
//! long that took, seen from the caller (a preempted call restarts, so
//! the figure may span several ticks), is printed for the record.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use septum_test_tasks::ktest::{
    CNODE, Ctx, DEPTH, SELF_TCB, SELF_VSPACE, Test, TestResult, cap, rights, ty,
};
use septum_test_tasks::{check, check_eq, fail};
use septum_user::abi::Error;
use septum_user::abi::fault;
use septum_user::abi::syscall as nr;
use septum_user::ipc::Message;
use septum_user::syscall::{info, thread_exit};

septum_user::entry!(main);

fn main() {
    septum_test_tasks::ktest::run_all(&[TESTS]);
}

const TESTS: &[Test] = &[
    Test {
        name: "attack_icount_delete_with_many_children",
        run: delete_many_children,
    },
    Test {
        name: "attack_icount_cnode_destroy_with_many_grandchildren",
        run: destroy_cnode_many_grandchildren,
    },
    Test {
        name: "attack_icount_endpoint_delete_releases_many_senders",
        run: endpoint_many_senders,
    },
    Test {
        name: "attack_icount_notification_delete_releases_many_waiters",
        run: notification_many_waiters,
    },
];

/// Priority of the threads the cases start (below the root's 255).
const PRIO: u64 = 100;
/// Radix of the CNode the copies go in: 65,536 slots, 2 MiB.
const RADIX: u64 = 16;
const SLOTS: u64 = 1 << RADIX;
/// The most a delete may cost, whatever the number of children.
const LIMIT: u64 = 50_000;
/// Waiting threads in the endpoint and notification cases.
const WAITERS: usize = 1000;

const UNSET: u64 = 0x5eb7_0000_dead_beef;
static LABEL: AtomicU64 = AtomicU64::new(UNSET);
static RESULTS: [AtomicU64; WAITERS] = [const { AtomicU64::new(UNSET) }; WAITERS];

fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: the kernel leaves CR4.TSD clear, so `rdtsc` runs in user
    // mode; it only reads the time-stamp counter.
    unsafe { core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    u64::from(hi) << 32 | u64::from(lo)
}

/// Let every other thread run until none is runnable.
fn settle(c: &mut Ctx) -> Result<(), Error> {
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 1)?;
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 255)
}

fn copy(c: &mut Ctx, src: u64) -> Result<u64, Error> {
    let s = c.slot();
    c.ipc
        .cnode_copy(CNODE, (s, DEPTH), CNODE, (src, DEPTH), rights::ALL)?;
    Ok(s)
}

/// Fill slots 1.. of the big CNode `big` with copies of the capability in
/// (`src_cnode`, `src`): all children of it.
fn fill(c: &mut Ctx, big: u64, src_cnode: u64, src: (u64, u64)) -> TestResult {
    for i in 1..SLOTS {
        if let Err(e) = c
            .ipc
            .cnode_copy(big, (i, RADIX), src_cnode, src, rights::ALL)
        {
            fail!("copy {} of the endpoint: {:?}", i, e);
        }
    }
    Ok(())
}

/// How many of the copies in slots 1.. of `big` are endpoints still.
fn endpoints_left(c: &mut Ctx, big: u64) -> Result<u64, Error> {
    let mut n = 0;
    for i in 1..SLOTS {
        if c.ipc.cnode_identify(big, (i, RADIX))?.cap_type == cap::ENDPOINT {
            n += 1;
        }
    }
    Ok(n)
}

/// Receives on `ep` for ever; each label goes to `LABEL`.
extern "C" fn receiver(ep: u64, buffer: u64) -> ! {
    let mut ipc = septum_test_tasks::ktest::thread_ipc(buffer);
    while let Ok(r) = ipc.recv(ep, 0) {
        LABEL.store(r.msg.label, SeqCst);
    }
    thread_exit()
}

/// A thread receiving on `e`, made before the big CNode takes the upper
/// half of the case's memory.
fn start_receiver(c: &mut Ctx, e: u64) -> TestResult {
    LABEL.store(UNSET, SeqCst);
    c.spawn("ka-icount-recv", receiver, e, PRIO)?;
    Ok(())
}

/// After the delete: every copy is still an endpoint capability that
/// sends to the endpoint (the receiver gets what a sample of them send);
/// they hang below the deleted capability's parent `p` now, so revoking
/// its sibling `s` leaves them and revoking `p` removes every one.
fn children_moved_up(c: &mut Ctx, e: u64, p: u64, s: u64, big: u64) -> TestResult {
    check_eq!(endpoints_left(c, big)?, SLOTS - 1);
    settle(c)?;
    let tmp = c.slot();
    for i in (1..SLOTS).step_by(4093).chain([SLOTS - 1]) {
        c.ipc.cnode_move(CNODE, (tmp, DEPTH), big, (i, RADIX))?;
        let sent = c.ipc.nb_send(tmp, &Message::new(i, &[]));
        c.ipc.cnode_move(big, (i, RADIX), CNODE, (tmp, DEPTH))?;
        check!(sent.is_ok(), "a send through copy {}: {:?}", i, sent);
        settle(c)?;
        check_eq!(LABEL.load(SeqCst), i);
    }
    c.ipc.cnode_revoke(CNODE, (s, DEPTH))?;
    let left = endpoints_left(c, big)?;
    check!(
        left == SLOTS - 1,
        "revoking a sibling of the deleted capability took {} of its children",
        SLOTS - 1 - left
    );
    let t0 = rdtsc();
    c.ipc.cnode_revoke(CNODE, (p, DEPTH))?;
    let t1 = rdtsc();
    let left = endpoints_left(c, big)?;
    check!(
        left == 0,
        "revoking the deleted capability's parent left {} of its former children",
        left
    );
    check_eq!(c.identify(s)?.cap_type, cap::NULL);
    check_eq!(c.identify(e)?.cap_type, cap::ENDPOINT);
    septum_user::println!(
        "ktest: revoking the parent of {} former grandchildren: {} instructions (preemptible)",
        SLOTS - 1,
        t1 - t0
    );
    Ok(())
}

/// An endpoint E, its copy P, and two children of P: O (in slot 0 of the
/// big CNode) and its sibling S. O gets 65,535 children filling the big
/// CNode. Deleting O must cost the same as deleting a capability without
/// children.
fn delete_many_children(c: &mut Ctx) -> TestResult {
    let e = c.endpoint()?;
    let p = copy(c, e)?;
    let s = copy(c, p)?;
    start_receiver(c, e)?;
    let big = c.make(ty::CNODE, RADIX)?;
    c.ipc
        .cnode_copy(big, (0, RADIX), CNODE, (p, DEPTH), rights::ALL)?;
    fill(c, big, big, (0, RADIX))?;
    // The same delete of a capability without children, for reference.
    let lone = copy(c, p)?;
    let r0 = rdtsc();
    c.ipc.cnode_delete(CNODE, (lone, DEPTH))?;
    let r1 = rdtsc();
    let t0 = rdtsc();
    let r = c.ipc.cnode_delete(big, (0, RADIX));
    let t1 = rdtsc();
    check!(r.is_ok(), "CNODE_DELETE: {:?}", r);
    septum_user::println!(
        "ktest: CNODE_DELETE of a capability with {} children: {} instructions (without children: {})",
        SLOTS - 1,
        t1 - t0,
        r1 - r0
    );
    check!(
        t1 - t0 < LIMIT,
        "CNODE_DELETE of a capability with {} children took {} instructions (limit {})",
        SLOTS - 1,
        t1 - t0,
        LIMIT
    );
    check_eq!(c.ipc.cnode_identify(big, (0, RADIX))?.cap_type, cap::NULL);
    children_moved_up(c, e, p, s, big)
}

/// The same capability O, with its 65,535 children, held in a small CNode
/// whose only capability is deleted: destroying the CNode deletes O, which
/// must cost no more for its children.
fn destroy_cnode_many_grandchildren(c: &mut Ctx) -> TestResult {
    let e = c.endpoint()?;
    let p = copy(c, e)?;
    let s = copy(c, p)?;
    let small = c.make(ty::CNODE, 1)?;
    start_receiver(c, e)?;
    let big = c.make(ty::CNODE, RADIX)?;
    c.ipc
        .cnode_copy(small, (0, 1), CNODE, (p, DEPTH), rights::ALL)?;
    fill(c, big, small, (0, 1))?;
    let t0 = rdtsc();
    let r = c.ipc.cnode_delete(CNODE, (small, DEPTH));
    let t1 = rdtsc();
    check!(r.is_ok(), "CNODE_DELETE of the small CNode: {:?}", r);
    septum_user::println!(
        "ktest: destroying a CNode holding a capability with {} children: {} instructions",
        SLOTS - 1,
        t1 - t0
    );
    check!(
        t1 - t0 < LIMIT,
        "destroying a CNode holding a capability with {} children took {} instructions (limit {})",
        SLOTS - 1,
        t1 - t0,
        LIMIT
    );
    check_eq!(c.identify(small)?.cap_type, cap::NULL);
    children_moved_up(c, e, p, s, big)
}

/// Makes the call whose number is in r14 on rdi (info in rsi), stores the
/// status at `[r12]`, then waits on the notification in r13 for good.
#[unsafe(naked)]
unsafe extern "C" fn waiter() -> ! {
    core::arch::naked_asm!(
        "mov rax, r14",
        "syscall",
        "mov qword ptr [r12], rax",
        "mov rdi, r13",
        "mov eax, {wait}",
        "syscall",
        "ud2",
        wait = const nr::WAIT,
    )
}

/// `WAITERS` threads, each blocked in the call `number` on `object`;
/// their TCB capabilities go into a CNode of their own. Then `object`'s
/// only capability is deleted: every thread must be released with
/// PeerGone.
fn many_waiters(c: &mut Ctx, object: u64, number: u64, what: &str) -> TestResult {
    for r in &RESULTS {
        r.store(UNSET, SeqCst);
    }
    let park = c.notification()?;
    let holder = c.make(ty::CNODE, 10)?;
    let tmp = c.slot();
    for (i, result) in RESULTS.iter().enumerate() {
        c.ipc.retype(c.ut, ty::TCB, 0, CNODE, tmp, 1)?;
        c.ipc.tcb_configure(tmp, CNODE, SELF_VSPACE, 0, 0, 0)?;
        c.ipc.tcb_set_priority(tmp, SELF_TCB, PRIO)?;
        let mut regs = [0u64; 18];
        regs[fault::W_RIP] = waiter as *const () as u64;
        regs[fault::W_RFLAGS] = 0x202;
        regs[fault::W_RDI] = object;
        regs[fault::W_RSI] = info(0x5e, 0);
        regs[fault::W_R12] = result.as_ptr() as u64;
        regs[fault::W_R13] = park;
        regs[fault::W_R14] = number;
        c.ipc.tcb_write_registers(tmp, &regs)?;
        c.ipc.tcb_resume(tmp)?;
        c.ipc
            .cnode_move(holder, (i as u64, 10), CNODE, (tmp, DEPTH))?;
    }
    settle(c)?;
    if let Some(i) = RESULTS.iter().position(|r| r.load(SeqCst) != UNSET) {
        fail!(
            "thread {} did not block in its {} (status {:#x})",
            i,
            what,
            RESULTS[i].load(SeqCst)
        );
    }
    let t0 = rdtsc();
    let r = c.ipc.cnode_delete(CNODE, (object, DEPTH));
    let t1 = rdtsc();
    check!(r.is_ok(), "CNODE_DELETE: {:?}", r);
    septum_user::println!(
        "ktest: deleting the {} with {} threads waiting, seen by the caller: {} instructions",
        what,
        WAITERS,
        t1 - t0
    );
    settle(c)?;
    let gone = Error::PeerGone.to_rax();
    let released = RESULTS.iter().filter(|r| r.load(SeqCst) == gone).count();
    if released != WAITERS {
        let i = RESULTS
            .iter()
            .position(|r| r.load(SeqCst) != gone)
            .unwrap_or(0);
        fail!(
            "{} of {} threads waiting on a deleted {} got PeerGone; thread {}: {:#x}",
            released,
            WAITERS,
            what,
            i,
            RESULTS[i].load(SeqCst)
        );
    }
    Ok(())
}

fn endpoint_many_senders(c: &mut Ctx) -> TestResult {
    let ep = c.endpoint()?;
    many_waiters(c, ep, nr::SEND, "endpoint")
}

fn notification_many_waiters(c: &mut Ctx) -> TestResult {
    let n = c.notification()?;
    many_waiters(c, n, nr::WAIT, "notification")
}
