//! Destroying an endpoint releases its waiters with a preemption point
//! (issue 7): attacked by waiters that, once released, send again on the
//! same capability while the delete that released them is still under way.
//!
//! A delete that stops part way leaves the endpoint whole and its last
//! capability in place, to be restarted. Nothing stops a released thread
//! that can still name that capability from queueing on the endpoint
//! again. Each waiter here, once released with `PeerGone`, probes the
//! endpoint with a non-blocking send: on a sound kernel that fails (the
//! endpoint is dying or gone), and each delete releases every waiter
//! exactly once. `WouldBlock` means the dying endpoint still takes
//! senders; the waiter then queues on it again, and a deleter at the
//! waiters' priority keeps releasing them for as long as they care to come
//! back (here each waiter comes back at most [`RETRIES`] times in all, so
//! the case ends either way).

use crate::common::{CNT, P, ROOT_PRIO, big_untyped, cnt, let_others_run, set_root_prio};
use septum_test_tasks::ktest::{
    CNODE, Ctx, DEPTH, SELF_TCB, SELF_VSPACE, Test, TestResult, cap, ty,
};
use septum_test_tasks::{check_eq, fail, skip};
use septum_user::abi::{fault, syscall as nr};
use septum_user::syscall::signal;

pub const TESTS: &[Test] = &[crate::case!(
    "endpoint_delete_releases_each_waiter_once",
    endpoint_release
)];

/// Deletes tried (each with every waiter blocked on a fresh endpoint in
/// the same slot): a delete is preempted only if a tick falls due while it
/// releases, which takes a good part of a tick.
const ATTEMPTS: u64 = 8;
/// `PeerGone`s a waiter takes in all before it stops coming back.
const RETRIES: u64 = ATTEMPTS + 8;
/// Loop iterations a released waiter spins before it sends again (the
/// time a deleter loses to each round of returning waiters grows with it).
const SPIN: u64 = 2_000;
/// Waiters: 2 KiB each.
const WAITERS: u64 = 8192;
const SUB_RADIX: u64 = 13;
const BATCH: u64 = 32;

// A waiter that needs no stack. `rbx` names the endpoint, `rbp` a sink
// endpoint nobody sends to, `r12` the gate notification, `r13` points at
// two counters (released; found the endpoint still open after release),
// `r14` counts the returns it may still make, `r15` how long it spins.
//
// Send (blocking, empty message). Released with `PeerGone`: count it and
// probe the endpoint with a non-blocking send. `WouldBlock` means the
// endpoint is still alive and open to senders although its delete already
// released this thread: count that, spin, and queue on it again with a
// blocking send (while r14 lasts; then wait on the sink for good). Any
// other answer (`PeerGone` from a dying endpoint, `InvalidCapability` once
// it is gone), or a first send that fails: wait at the gate, then start
// over (the root puts a fresh endpoint in the slot before it opens it).
core::arch::global_asm!(
    ".global kr_send_loop",
    "kr_send_loop:",
    "2:",
    "mov eax, {send}",
    "mov rdi, rbx",
    "xor esi, esi",
    "syscall",
    "cmp rax, -{peer_gone}",
    "jne 4f",
    "lock inc qword ptr [r13]",
    "mov eax, {nb_send}",
    "mov rdi, rbx",
    "xor esi, esi",
    "syscall",
    "cmp rax, -{would_block}",
    "jne 4f",
    "lock inc qword ptr [r13 + 8]",
    "dec r14",
    "jz 6f",
    "mov rcx, r15",
    "5:",
    "dec rcx",
    "jnz 5b",
    "jmp 2b",
    "4:",
    "mov eax, {wait}",
    "mov rdi, r12",
    "syscall",
    "jmp 2b",
    "6:",
    "mov eax, {recv}",
    "mov rdi, rbp",
    "xor esi, esi",
    "xor r12d, r12d",
    "syscall",
    "mov eax, {exit}",
    "syscall",
    "7:",
    "jmp 7b",
    send = const nr::SEND,
    nb_send = const nr::NB_SEND,
    recv = const nr::RECV,
    wait = const nr::WAIT,
    exit = const nr::THREAD_EXIT,
    peer_gone = const septum_user::abi::Error::PeerGone as u64,
    would_block = const septum_user::abi::Error::WouldBlock as u64,
);

unsafe extern "C" {
    fn kr_send_loop();
}

fn endpoint_release(c: &mut Ctx) -> TestResult {
    let Some((big, big_bits)) = big_untyped(c) else {
        skip!("no RAM untyped");
    };
    if big_bits < 26 {
        skip!("no RAM untyped of 64 MiB or more");
    }
    let u = c.slot();
    c.ipc.retype(big, ty::UNTYPED, 25, CNODE, u, 1)?;
    let r = run(c, u);
    c.ipc.cnode_revoke(CNODE, (u, DEPTH))?;
    c.ipc.cnode_delete(CNODE, (u, DEPTH))?;
    r
}

fn run(c: &mut Ctx, u: u64) -> TestResult {
    let ep = c.slot();
    let sink = c.slot();
    c.ipc.retype(u, ty::ENDPOINT, 0, CNODE, sink, 1)?;
    let gate = c.slot();
    c.ipc.retype(u, ty::NOTIFICATION, 0, CNODE, gate, 1)?;
    let sub = c.slot();
    c.ipc.retype(u, ty::CNODE, SUB_RADIX, CNODE, sub, 1)?;
    let batch = c.slots(BATCH);
    let counter = (&raw const CNT[0]) as u64;
    c.ipc.retype(u, ty::ENDPOINT, 0, CNODE, ep, 1)?;
    for b in 0..WAITERS / BATCH {
        c.ipc.retype(u, ty::TCB, 0, CNODE, batch, BATCH)?;
        for i in 0..BATCH {
            let t = batch + i;
            c.ipc.tcb_configure(t, CNODE, SELF_VSPACE, 0, 0, 0)?;
            c.ipc.tcb_set_priority(t, SELF_TCB, P)?;
            let mut regs = [0u64; 18];
            regs[fault::W_RIP] = kr_send_loop as *const () as u64;
            regs[fault::W_RBX] = ep;
            regs[fault::W_RBP] = sink;
            regs[fault::W_R12] = gate;
            regs[fault::W_R13] = counter;
            regs[fault::W_R14] = RETRIES;
            regs[fault::W_R15] = SPIN;
            regs[fault::W_RFLAGS] = 0x202;
            c.ipc.tcb_write_registers(t, &regs)?;
            c.ipc.tcb_resume(t)?;
            c.ipc
                .cnode_move(sub, (b * BATCH + i, SUB_RADIX), CNODE, (t, DEPTH))?;
        }
    }
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            // A fresh endpoint in the same slot for the waiters to block on.
            c.ipc.retype(u, ty::ENDPOINT, 0, CNODE, ep, 1)?;
            for _ in 0..WAITERS {
                signal(gate)?;
            }
        }
        // Every waiter is blocked on the endpoint now.
        let_others_run(c)?;
        let (before, reopened_before) = (cnt(0), cnt(1));
        // Delete the endpoint's only capability at the waiters' priority,
        // so a released waiter runs whenever the delete stops for a tick.
        set_root_prio(c, P)?;
        let deleted = c.ipc.cnode_delete(CNODE, (ep, DEPTH));
        set_root_prio(c, ROOT_PRIO)?;
        deleted?;
        check_eq!(c.identify(ep)?.cap_type, cap::NULL);
        // The released waiters find the slot empty and wait at the gate.
        let_others_run(c)?;
        let released = cnt(0) - before;
        let reopened = cnt(1) - reopened_before;
        if released != WAITERS || reopened != 0 {
            fail!(
                "delete {attempt}: {WAITERS} waiters released {released} times; {reopened} \
                 times a released one found the dying endpoint open"
            );
        }
    }
    Ok(())
}
