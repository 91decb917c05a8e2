//! Reply objects: many callers kept waiting and answered in any order,
//! the one-shot right, and callers released when the reply object, its
//! server's memory or the endpoint goes.

use crate::common::{
    PRIO, Settle, caller, echo_server, get, get_result, pack, parked, put, receiver, reset, sender,
    unpack,
};
use septum_test_tasks::ktest::{
    CNODE, Ctx, DEPTH, SELF_TCB, SELF_VSPACE, Test, TestResult, Thread, cap, thread_ipc, ty,
};
use septum_test_tasks::{check, check_eq};
use septum_user::abi::Error;
use septum_user::ipc::Message;
use septum_user::syscall::thread_exit;

pub const TESTS: &[Test] = &[
    Test {
        name: "ipc_reply_objects_answer_out_of_order",
        run: out_of_order,
    },
    Test {
        name: "ipc_reply_unbound_refused",
        run: unbound,
    },
    Test {
        name: "ipc_recv_with_bound_reply_refused",
        run: recv_bound,
    },
    Test {
        name: "ipc_call_without_reply_object_peer_gone",
        run: no_reply_object,
    },
    Test {
        name: "ipc_reply_deleted_releases_caller",
        run: reply_deleted,
    },
    Test {
        name: "ipc_server_untyped_revoked_releases_caller",
        run: server_revoked,
    },
    Test {
        name: "ipc_reply_deleted_while_armed",
        run: deleted_while_armed,
    },
    Test {
        name: "ipc_reply_deleted_while_server_in_replyrecv",
        run: deleted_in_replyrecv,
    },
    Test {
        name: "ipc_reply_deleted_after_switching_reply_objects",
        run: switched_objects,
    },
    Test {
        name: "ipc_endpoint_deleted_releases_waiters",
        run: endpoint_deleted,
    },
];

fn out_of_order(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let (r1, r2) = (c.reply()?, c.reply()?);
    c.spawn("caller-a", caller, pack(&[ep, 0xa, 0]), PRIO)?;
    c.spawn("caller-b", caller, pack(&[ep, 0xb, 4]), PRIO)?;
    let first = c.ipc.recv(ep, r1)?;
    let second = c.ipc.recv(ep, r2)?;
    let (l1, l2) = (first.msg.label, second.msg.label);
    check!(
        (l1, l2) == (0xa, 0xb) || (l1, l2) == (0xb, 0xa),
        "calls arrived as {:#x}, {:#x}",
        l1,
        l2
    );
    let cell = |label: u64| if label == 0xa { 0 } else { 4 };
    // Answer the second caller first.
    c.ipc.reply(r2, &Message::new(l2 + 0x100, &[l2 * 7]))?;
    s.run()?;
    check_eq!(get_result(cell(l2)), Some(Ok(l2 + 0x100)));
    check_eq!(get(cell(l2) + 1), l2 * 7);
    check_eq!(get_result(cell(l1)), None);
    c.ipc.reply(r1, &Message::new(l1 + 0x100, &[l1 * 7]))?;
    s.run()?;
    check_eq!(get_result(cell(l1)), Some(Ok(l1 + 0x100)));
    check_eq!(get(cell(l1) + 1), l1 * 7);
    // Each reply object is spent.
    let m = Message::new(0, &[]);
    check_eq!(c.ipc.reply(r1, &m), Err(Error::IllegalOperation));
    check_eq!(c.ipc.reply(r2, &m), Err(Error::IllegalOperation));
    Ok(())
}

fn unbound(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let r = c.reply()?;
    let m = Message::new(0x5, &[1]);
    check_eq!(c.ipc.reply(r, &m), Err(Error::IllegalOperation));
    // Bound by a plain Send? No: only a Call binds.
    c.spawn("sender", sender, pack(&[ep, 0x6, 0]), PRIO)?;
    check_eq!(c.ipc.recv(ep, r)?.msg.label, 0x6);
    check_eq!(c.ipc.reply(r, &m), Err(Error::IllegalOperation));
    // Bound by a Call, answered once; the second answer is refused.
    c.spawn("caller", caller, pack(&[ep, 0x7, 4]), PRIO)?;
    check_eq!(c.ipc.recv(ep, r)?.msg.label, 0x7);
    c.ipc.reply(r, &m)?;
    check_eq!(c.ipc.reply(r, &m), Err(Error::IllegalOperation));
    s.run()?;
    check_eq!(get_result(4), Some(Ok(0x5)));
    check_eq!(get_result(0), Some(Ok(1)));
    Ok(())
}

fn recv_bound(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let r = c.reply()?;
    c.spawn("caller", caller, pack(&[ep, 0x8, 0]), PRIO)?;
    check_eq!(c.ipc.recv(ep, r)?.msg.label, 0x8);
    check_eq!(c.ipc.recv(ep, r).map(|_| ()), Err(Error::IllegalOperation));
    check_eq!(
        c.ipc.nb_recv(ep, r).map(|_| ()),
        Err(Error::IllegalOperation)
    );
    // The caller is still waiting, and still gets its answer.
    s.run()?;
    check_eq!(get_result(0), None);
    c.ipc.reply(r, &Message::new(0x9, &[]))?;
    s.run()?;
    check_eq!(get_result(0), Some(Ok(0x9)));
    // Free again: a receive with it is accepted (and finds nobody).
    check_eq!(c.ipc.nb_recv(ep, r).map(|_| ()), Err(Error::WouldBlock));
    Ok(())
}

fn no_reply_object(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    c.spawn("caller", caller, pack(&[ep, 0x31, 0]), PRIO)?;
    // Received without a reply object: the message arrives, but the
    // caller can never be answered, so it is released with PeerGone.
    let r = c.ipc.recv(ep, 0)?;
    check_eq!(r.msg.label, 0x31);
    s.run()?;
    check_eq!(get_result(0), Some(Err(Error::PeerGone)));
    Ok(())
}

/// `[ep, reply, park]`: take one Call with `reply`, note its label in
/// cell 8, then exit (`park` = 0) or block for good on `park`.
extern "C" fn take_call(arg: u64, buffer: u64) -> ! {
    let [ep, reply, park, _] = unpack(arg);
    let mut ipc = thread_ipc(buffer);
    let r = ipc.recv(ep, reply);
    put(8, r.map_or(0, |r| r.msg.label));
    if park != 0 {
        parked(park, 0)
    }
    thread_exit()
}

fn reply_deleted(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let r = c.reply()?;
    c.spawn("server", take_call, pack(&[ep, r, 0]), PRIO + 10)?;
    c.spawn("caller", caller, pack(&[ep, 0x41, 0]), PRIO)?;
    s.run()?;
    // The server took the call and exited; the caller waits.
    check_eq!(get(8), 0x41);
    check_eq!(get_result(0), None);
    // A supervisor cleans up after the dead server.
    c.ipc.cnode_delete(CNODE, (r, DEPTH))?;
    s.run()?;
    check_eq!(get_result(0), Some(Err(Error::PeerGone)));
    Ok(())
}

fn server_revoked(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let park = c.notification()?;
    // The server's thread, IPC buffer and reply object come from an
    // untyped of its own.
    let sub = c.make(ty::UNTYPED, 16)?;
    let tcb = c.slot();
    c.ipc.retype(sub, ty::TCB, 0, CNODE, tcb, 1)?;
    let frame = c.slot();
    c.ipc.retype(sub, ty::FRAME, 0, CNODE, frame, 1)?;
    let r = c.slot();
    c.ipc.retype(sub, ty::REPLY, 0, CNODE, r, 1)?;
    let va = c.page_addr();
    c.ipc.frame_map(frame, SELF_VSPACE, va, 1)?;
    c.ipc.tcb_configure(tcb, CNODE, SELF_VSPACE, frame, va, 0)?;
    c.ipc.tcb_set_priority(tcb, SELF_TCB, PRIO + 10)?;
    c.start(Thread { tcb, buffer: va }, take_call, pack(&[ep, r, park]))?;
    c.spawn("caller", caller, pack(&[ep, 0x42, 0]), PRIO)?;
    s.run()?;
    check_eq!(get(8), 0x42);
    check_eq!(get_result(0), None);
    // Everything made from the server's memory goes at once.
    c.ipc.cnode_revoke(CNODE, (sub, DEPTH))?;
    check_eq!(c.identify(tcb)?.cap_type, cap::NULL);
    check_eq!(c.identify(r)?.cap_type, cap::NULL);
    s.run()?;
    check_eq!(get_result(0), Some(Err(Error::PeerGone)));
    // The endpoint still works.
    c.spawn("sender", sender, pack(&[ep, 0x43, 4]), PRIO)?;
    check_eq!(c.ipc.recv(ep, 0)?.msg.label, 0x43);
    Ok(())
}

fn deleted_while_armed(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let r = c.reply()?;
    // The server waits in Recv with the reply object...
    c.spawn("server", take_call, pack(&[ep, r, 0]), PRIO + 10)?;
    s.run()?;
    check_eq!(get(8), crate::common::UNSET);
    // ...which is deleted before any Call comes.
    c.ipc.cnode_delete(CNODE, (r, DEPTH))?;
    c.spawn("caller", caller, pack(&[ep, 0x44, 0]), PRIO)?;
    s.run()?;
    // The server got the message; the caller, with no reply object to
    // wait on, is released rather than left waiting on a dead one.
    check_eq!(get(8), 0x44);
    check_eq!(get_result(0), Some(Err(Error::PeerGone)));
    Ok(())
}

fn deleted_in_replyrecv(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let r = c.reply()?;
    c.spawn("echo", echo_server, pack(&[ep, r]), PRIO + 10)?;
    c.spawn("caller", caller, pack(&[ep, 0x46, 0]), PRIO)?;
    s.run()?;
    // Answered; the server waits again in ReplyRecv with the same object.
    check_eq!(get_result(0), Some(Ok(0x47)));
    c.ipc.cnode_delete(CNODE, (r, DEPTH))?;
    c.spawn("caller", caller, pack(&[ep, 0x48, 4]), PRIO)?;
    s.run()?;
    check_eq!(get_result(4), Some(Err(Error::PeerGone)));
    Ok(())
}

fn endpoint_deleted(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let (ep1, ep2) = (c.endpoint()?, c.endpoint()?);
    c.spawn("receiver", receiver, pack(&[ep1, 0]), PRIO)?;
    c.spawn("sender", sender, pack(&[ep2, 0x51, 4]), PRIO)?;
    c.spawn("caller", caller, pack(&[ep2, 0x52, 8]), PRIO)?;
    s.run()?;
    for cell in [0, 4, 8] {
        check_eq!(get_result(cell), None);
    }
    c.ipc.cnode_delete(CNODE, (ep1, DEPTH))?;
    c.ipc.cnode_delete(CNODE, (ep2, DEPTH))?;
    s.run()?;
    for cell in [0, 4, 8] {
        check_eq!(get_result(cell), Some(Err(Error::PeerGone)));
    }
    Ok(())
}

/// `[ep, r1, r2]`: take two Calls (with `r1`, `r2`), answer the first
/// with ReplyRecv through `r1` (so it waits with `r1` again), note the
/// next message's label in cell 8. The answer has 5 words, so the
/// general path runs it: with a register-only answer the fast path
/// (`fastpath.rs`, `reply_recv`) records `r1` in the thread without
/// telling `r1`, and deleting `r1` then leaves the next caller waiting on
/// the dead object (reported, not in this file's reach).
extern "C" fn two_then_replyrecv(arg: u64, buffer: u64) -> ! {
    let [ep, r1, r2, _] = unpack(arg);
    let mut ipc = thread_ipc(buffer);
    let _ = ipc.recv(ep, r1);
    let _ = ipc.recv(ep, r2);
    let r = ipc.reply_recv(ep, r1, &Message::new(0x1, &[0; 5]));
    put(8, r.map_or(0, |r| r.msg.label));
    thread_exit()
}

fn switched_objects(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let (r1, r2) = (c.reply()?, c.reply()?);
    c.spawn("server", two_then_replyrecv, pack(&[ep, r1, r2]), PRIO + 10)?;
    c.spawn("a", caller, pack(&[ep, 0xa, 0]), PRIO)?;
    c.spawn("b", caller, pack(&[ep, 0xb, 4]), PRIO)?;
    s.run()?;
    // A is answered, B waits on r2, the server waits with r1 again.
    check_eq!(get_result(0), Some(Ok(1)));
    check_eq!(get_result(4), None);
    c.ipc.cnode_delete(CNODE, (r1, DEPTH))?;
    c.spawn("c", caller, pack(&[ep, 0xc, 12]), PRIO)?;
    s.run()?;
    check_eq!(get(8), 0xc);
    check_eq!(get_result(12), Some(Err(Error::PeerGone)));
    // B is still bound to r2, and still answerable.
    check_eq!(get_result(4), None);
    c.ipc.reply(r2, &Message::new(0xbb, &[]))?;
    s.run()?;
    check_eq!(get_result(4), Some(Ok(0xbb)));
    Ok(())
}
