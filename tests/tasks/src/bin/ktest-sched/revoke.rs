//! Revoke and destruction: large derivation trees, an untyped with a
//! running thread in it, threads deleted while blocked on an endpoint, a
//! CNode deleted with the only capability to a notification inside, and a
//! thread deleting its own TCB.

use crate::common::{
    arg, bump, cnt, code, expect_log, let_others_run, record, res, set_arg, set_res, set_root_prio,
    spin_until,
};
use crate::prio::{rec, recorder};
use septum_test_tasks::ktest::{
    CNODE, Ctx, DEPTH, SELF_TCB, SELF_VSPACE, Test, TestResult, Thread, cap, rights, thread_ipc, ty,
};
use septum_test_tasks::{check, check_eq};
use septum_user::abi::Error;
use septum_user::ipc::Message;
use septum_user::syscall::{poll, signal, thread_exit, wait, yield_now};

pub const TESTS: &[Test] = &[
    case!("revoke_large_derivation_tree", large_tree),
    case!("revoke_middle_of_chain", middle_of_chain),
    case!(
        "revoke_untyped_destroys_running_thread",
        untyped_running_thread
    ),
    case!("delete_blocked_receiver_leaves_queue", blocked_receiver),
    case!("delete_blocked_sender_leaves_queue", blocked_sender),
    case!("delete_cnode_destroys_contents", cnode_contents),
    case!("delete_own_tcb_stops_thread", own_tcb),
];

const P: u64 = 50;
/// Radix of the sub-CNode the trees are built in.
const RADIX: u64 = 8;
const SUB_SLOTS: u64 = 1 << RADIX;
/// Length of the copy chain (the rest of the sub-CNode is a fan).
const CHAIN: u64 = 48;

fn large_tree(c: &mut Ctx) -> TestResult {
    let ep = c.endpoint()?;
    let sub = c.make(ty::CNODE, RADIX)?;
    // A chain ep -> sub[0] -> sub[1] -> ... -> sub[CHAIN-1] ...
    c.ipc
        .cnode_copy(sub, (0, RADIX), CNODE, (ep, DEPTH), rights::ALL)?;
    for i in 1..CHAIN {
        c.ipc
            .cnode_copy(sub, (i, RADIX), sub, (i - 1, RADIX), rights::ALL)?;
    }
    // ... and a fan: badged children of the original and of chain nodes.
    for i in CHAIN..SUB_SLOTS {
        if i % 2 == 0 {
            c.ipc
                .cnode_mint(sub, (i, RADIX), CNODE, (ep, DEPTH), rights::ALL, i)?;
        } else {
            c.ipc
                .cnode_mint(sub, (i, RADIX), sub, (i % CHAIN, RADIX), rights::WRITE, i)?;
        }
    }
    // Every slot is full before.
    for i in 0..SUB_SLOTS {
        let id = c.ipc.cnode_identify(sub, (i, RADIX))?;
        check!(
            id.cap_type == cap::ENDPOINT,
            "slot {i} holds type {} before revoke",
            id.cap_type
        );
    }
    check_eq!(c.ipc.cnode_identify(sub, (255, RADIX))?.badge, 255);
    c.ipc.cnode_revoke(CNODE, (ep, DEPTH))?;
    for i in 0..SUB_SLOTS {
        let id = c.ipc.cnode_identify(sub, (i, RADIX))?;
        check!(
            id.cap_type == cap::NULL,
            "slot {i} still holds type {} after revoke",
            id.cap_type
        );
    }
    // The original remains, and the endpoint with it; the CNode too.
    let id = c.identify(ep)?;
    check_eq!(id.cap_type, cap::ENDPOINT);
    check_eq!(id.rights, rights::ALL);
    check_eq!(c.identify(sub)?.cap_type, cap::CNODE);
    check_eq!(
        c.ipc.nb_send(ep, &Message::new(0, &[1])),
        Err(Error::WouldBlock)
    );
    // Revoking again finds nothing; the tree can be rebuilt.
    c.ipc.cnode_revoke(CNODE, (ep, DEPTH))?;
    c.ipc
        .cnode_copy(sub, (7, RADIX), CNODE, (ep, DEPTH), rights::ALL)?;
    check_eq!(
        c.ipc.cnode_identify(sub, (7, RADIX))?.cap_type,
        cap::ENDPOINT
    );
    Ok(())
}

fn middle_of_chain(c: &mut Ctx) -> TestResult {
    let n = c.notification()?;
    let sub = c.make(ty::CNODE, 4)?;
    c.ipc
        .cnode_copy(sub, (0, 4), CNODE, (n, DEPTH), rights::ALL)?;
    for i in 1..12 {
        c.ipc
            .cnode_copy(sub, (i, 4), sub, (i - 1, 4), rights::ALL)?;
    }
    // A sibling branch off sub[2] (not below sub[5]).
    c.ipc.cnode_copy(sub, (15, 4), sub, (2, 4), rights::ALL)?;
    c.ipc.cnode_revoke(sub, (5, 4))?;
    for i in 0..16 {
        let t = c.ipc.cnode_identify(sub, (i, 4))?.cap_type;
        let want = if i <= 5 || i == 15 {
            cap::NOTIFICATION
        } else {
            cap::NULL
        };
        check!(t == want, "slot {i}: type {t}, expected {want}");
    }
    // Deleting one in the middle keeps those below it usable: signal
    // through a copy of the last.
    c.ipc.cnode_delete(sub, (3, 4))?;
    let s = c.slot();
    c.ipc
        .cnode_copy(CNODE, (s, DEPTH), sub, (5, 4), rights::ALL)?;
    signal(s)?;
    check_eq!(poll(n), Ok(1));
    Ok(())
}

/// Count in `CNT[0]` forever; after 1000 signal `ARG[0]` (once).
extern "C" fn spin_signal(_arg: u64, _buf: u64) -> ! {
    loop {
        if bump(0) == 1000 {
            let _ = signal(arg(0));
        }
    }
}

fn untyped_running_thread(c: &mut Ctx) -> TestResult {
    let u2 = c.slot();
    c.ipc.retype(c.ut, ty::UNTYPED, 16, CNODE, u2, 1)?;
    let n = c.notification()?;
    set_arg(0, n);
    let tcb = c.slot();
    c.ipc.retype(u2, ty::TCB, 0, CNODE, tcb, 1)?;
    let (frame, buffer) = c.mapped_frame()?;
    c.ipc
        .tcb_configure(tcb, CNODE, SELF_VSPACE, frame, buffer, 0)?;
    c.ipc.tcb_set_name(tcb, "ks-doomed-spinner")?;
    c.ipc.tcb_set_priority(tcb, SELF_TCB, P)?;
    c.start(Thread { tcb, buffer }, spin_signal, 0)?;
    // The spinner runs (never yielding) until its signal wakes the root,
    // which preempts it in the middle of its loop.
    wait(n)?;
    let at_revoke = cnt(0);
    check!(at_revoke >= 1000, "spinner counted only {at_revoke}");
    c.ipc.cnode_revoke(CNODE, (u2, DEPTH))?;
    check_eq!(c.identify(tcb)?.cap_type, cap::NULL);
    // Share the spinner's priority for a while: were it alive, the root
    // yielding (or the timer) would hand it the CPU.
    set_root_prio(c, P)?;
    for _ in 0..20 {
        yield_now();
    }
    spin_until(300_000_000, || false);
    set_root_prio(c, 255)?;
    check_eq!(cnt(0), at_revoke);
    // The system goes on: the untyped is whole again and a new thread
    // made from the same memory runs.
    let again = c.slot();
    c.ipc.retype(u2, ty::TCB, 0, CNODE, again, 1)?;
    c.ipc
        .tcb_configure(again, CNODE, SELF_VSPACE, frame, buffer, 0)?;
    c.ipc.tcb_set_priority(again, SELF_TCB, P)?;
    c.start(Thread { tcb: again, buffer }, recorder, rec(b'n', 1))?;
    let_others_run(c)?;
    expect_log("n")?;
    check_eq!(cnt(0), at_revoke);
    Ok(())
}

/// Receive on `ARG[0]`: result in `RES[0]`, word 0 in `RES[1]`; record 'R'.
extern "C" fn receiver(_arg: u64, buf: u64) -> ! {
    let mut ipc = thread_ipc(buf);
    let r = ipc.recv(arg(0), 0);
    set_res(1, r.map_or(0, |m| m.msg.word(0)));
    set_res(0, code(r));
    record(b'R');
    thread_exit()
}

fn blocked_receiver(c: &mut Ctx) -> TestResult {
    let ep = c.endpoint()?;
    set_arg(0, ep);
    let doomed = c.spawn("ks-doomed-receiver", receiver, 0, P)?;
    let_others_run(c)?;
    expect_log("")?;
    c.ipc.cnode_delete(CNODE, (doomed.tcb, DEPTH))?;
    check_eq!(c.identify(doomed.tcb)?.cap_type, cap::NULL);
    // Nobody receives any more.
    check_eq!(
        c.ipc.nb_send(ep, &Message::new(0, &[0x66])),
        Err(Error::WouldBlock)
    );
    // A new receiver gets the next message; the dead one never wakes.
    c.spawn("ks-receiver", receiver, 0, P)?;
    let_others_run(c)?;
    expect_log("")?;
    c.ipc.nb_send(ep, &Message::new(0, &[0x77]))?;
    let_others_run(c)?;
    expect_log("R")?;
    check_eq!(res(0), 0);
    check_eq!(res(1), 0x77);
    Ok(())
}

/// Send `arg` on `ARG[0]` (blocking); record 's'.
extern "C" fn sender(arg_word: u64, buf: u64) -> ! {
    let mut ipc = thread_ipc(buf);
    let _ = ipc.send(arg(0), &Message::new(0, &[arg_word]));
    record(b's');
    thread_exit()
}

fn blocked_sender(c: &mut Ctx) -> TestResult {
    let ep = c.endpoint()?;
    set_arg(0, ep);
    let doomed = c.spawn("ks-doomed-sender", sender, 0x55, P)?;
    let_others_run(c)?;
    expect_log("")?;
    c.ipc.cnode_delete(CNODE, (doomed.tcb, DEPTH))?;
    check_eq!(
        c.ipc.nb_recv(ep, 0).map(|r| r.msg.word(0)),
        Err(Error::WouldBlock)
    );
    c.spawn("ks-sender", sender, 0x66, P)?;
    let_others_run(c)?;
    let got = c.ipc.nb_recv(ep, 0)?;
    check_eq!(got.msg.word(0), 0x66);
    let_others_run(c)?;
    expect_log("s")?;
    check_eq!(
        c.ipc.nb_recv(ep, 0).map(|r| r.msg.word(0)),
        Err(Error::WouldBlock)
    );
    Ok(())
}

/// Wait on `ARG[0]`: result in `RES[0]`; record 'W'.
extern "C" fn ntfn_waiter(_arg: u64, _buf: u64) -> ! {
    let r = wait(arg(0));
    set_res(0, code(r));
    record(b'W');
    thread_exit()
}

fn cnode_contents(c: &mut Ctx) -> TestResult {
    let n = c.notification()?;
    let ep = c.endpoint()?;
    set_arg(0, n);
    c.spawn("ks-ntfn-waiter", ntfn_waiter, 0, P)?;
    let_others_run(c)?;
    expect_log("")?;
    // The notification's only capability goes into a CNode (the waiter
    // keeps waiting: waiting holds no capability), with a copy of the
    // endpoint next to it.
    let sub = c.make(ty::CNODE, 2)?;
    c.ipc.cnode_move(sub, (0, 2), CNODE, (n, DEPTH))?;
    c.ipc
        .cnode_copy(sub, (1, 2), CNODE, (ep, DEPTH), rights::ALL)?;
    let_others_run(c)?;
    expect_log("")?;
    // Deleting the CNode deletes what it holds: the notification is
    // destroyed and its waiter released with PeerGone; the endpoint,
    // which has another capability, lives on.
    c.ipc.cnode_delete(CNODE, (sub, DEPTH))?;
    check_eq!(c.identify(sub)?.cap_type, cap::NULL);
    let_others_run(c)?;
    expect_log("W")?;
    check_eq!(res(0), Error::PeerGone as u64);
    check_eq!(c.identify(ep)?.cap_type, cap::ENDPOINT);
    check_eq!(
        c.ipc.nb_send(ep, &Message::new(0, &[1])),
        Err(Error::WouldBlock)
    );
    Ok(())
}

/// Record 'a', delete its own TCB capability `ARG[0]` (result in
/// `RES[0]`, which it should never get to write), record 'b'.
extern "C" fn self_deleter(_arg: u64, buf: u64) -> ! {
    let mut ipc = thread_ipc(buf);
    record(b'a');
    let r = ipc.cnode_delete(CNODE, (arg(0), DEPTH));
    set_res(0, code(r));
    record(b'b');
    thread_exit()
}

fn own_tcb(c: &mut Ctx) -> TestResult {
    let t = c.configured_thread("ks-self-deleter", P, 0)?;
    set_arg(0, t.tcb);
    c.start(t, self_deleter, 0)?;
    let_others_run(c)?;
    expect_log("a")?;
    check_eq!(res(0), crate::common::NONE);
    check_eq!(c.identify(t.tcb)?.cap_type, cap::NULL);
    // Others still run afterwards.
    c.spawn("ks-after", recorder, rec(b'c', 2), P)?;
    let_others_run(c)?;
    expect_log("acc")
}
