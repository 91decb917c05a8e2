//! The IPC fast path's refusals (`kernel/src/fastpath.rs`): for every
//! condition under which `Call` or `ReplyRecv` must not take the fast path,
//! a case builds exactly that condition and checks that the general path
//! then gives what it always gives — the same words, label, badge, error
//! and order of running as a call the fast path did take. Cases that the
//! other groups already cover (rights: `ipc_call_needs_grant_or_grant_reply`;
//! malformed info: `ipc_info_*_refused`; capability transfer: `ipc_xfer_*`)
//! are not repeated here.

use crate::common::{
    PRIO, Settle, XOR, caller, echo_server, get, get_result, mint, pack, put, reset, unpack,
};
use core::sync::atomic::{AtomicU64, Ordering};
use septum_test_tasks::ktest::{Ctx, SELF_TCB, Test, TestResult, rights, thread_ipc};
use septum_test_tasks::{check, check_eq};
use septum_user::abi::Error;
use septum_user::abi::ipc::NOTIFICATION_LABEL;
use septum_user::ipc::{self, Message, Short};
use septum_user::syscall;

pub const TESTS: &[Test] = &[
    Test {
        name: "ipc_fastpath_call_shapes_same_answer",
        run: call_shapes,
    },
    Test {
        name: "ipc_fastpath_call_refused_when_outranked",
        run: call_outranked,
    },
    Test {
        name: "ipc_fastpath_replyrecv_refused_when_outranked",
        run: reply_outranked,
    },
    Test {
        name: "ipc_fastpath_replyrecv_refused_sender_queued",
        run: reply_sender_queued,
    },
    Test {
        name: "ipc_fastpath_replyrecv_refused_notification_pending",
        run: reply_notification_pending,
    },
    Test {
        name: "ipc_fastpath_replyrecv_refused_bad_capabilities",
        run: reply_bad_caps,
    },
];

/// Order in which threads reached their marks.
pub(crate) static SEQ: AtomicU64 = AtomicU64::new(0);

/// Cell `cell` := the next number in the running order (1, 2, ...).
pub(crate) fn mark(cell: u64) {
    put(cell as usize, SEQ.fetch_add(1, Ordering::SeqCst) + 1);
}

/// A `Call` to a waiting echo server in each shape: the ones the fast path
/// takes (up to four words, any badge) and the ones it must refuse (five
/// words and more), all through one server thread; every answer must be
/// the echo.
fn call_shapes(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    c.spawn("echo", echo_server, pack(&[ep, reply]), PRIO)?;
    s.run()?;
    let badged = mint(c, ep, rights::ALL, 0x77)?;
    for (cap, badge) in [(ep, 0), (badged, 0x77)] {
        for len in [0, 1, 4, 5, 9] {
            let words: [u64; 9] = core::array::from_fn(|i| 0x1000 * (len as u64 + 1) + i as u64);
            let m = Message::new(0x300 + len as u64, &words[..len]);
            let got = c.ipc.call(cap, &m)?;
            // The echo's label carries the badge the request came with;
            // the answer itself carries none.
            check_eq!(got.msg.label, 0x300 + len as u64 + 1 + badge);
            check_eq!(got.badge, 0);
            check_eq!(got.msg.len, len);
            for (i, w) in words.iter().enumerate().take(len) {
                check!(
                    got.msg.words[i] == w ^ XOR,
                    "len {len} badge {badge:#x}: word {i} = {:#x}",
                    got.msg.words[i]
                );
            }
        }
    }
    // The kernel's notification label is refused, whichever path looks
    // at it first, and reaches nobody.
    let r = syscall::raw(
        septum_user::abi::syscall::CALL,
        ep,
        syscall::info(NOTIFICATION_LABEL, 0),
        [0; 4],
        0,
    );
    check!(
        Error::from_rax(r.rax).is_err(),
        "notification label accepted"
    );
    let got = c.ipc.call(ep, &Message::new(0x3f0, &[1]))?;
    check_eq!(got.msg.label, 0x3f1);
    // The register-only helpers give the same answers, and a longer
    // answer's words 4.. wait in the buffer.
    let got = ipc::call_short(badged, &Short::new(0x3f2, &[5, 6])?)?;
    check_eq!(got.msg.label, 0x3f3 + 0x77);
    check_eq!(got.msg.len, 2);
    check_eq!(got.msg.word(1), 6 ^ XOR);
    check_eq!(got.badge, 0);
    check_eq!(
        Short::new(0x3f4, &[1, 2, 3, 4, 5]).map(|_| ()),
        Err(Error::Range)
    );
    let long = c.ipc.call(ep, &Message::new(0x3f6, &[1, 2, 3, 4, 5, 6]))?;
    check_eq!(long.msg.len, 6);
    check_eq!(c.ipc.buffer_word(5), 6 ^ XOR);
    check_eq!(c.ipc.buffer_word(3), 0);
    Ok(())
}

/// `[ep, cell]`: Call `ep` with one word; cell := the order it got its
/// answer in.
pub(crate) extern "C" fn ordered_caller(arg: u64, buffer: u64) -> ! {
    let [ep, cell, ..] = unpack(arg);
    let mut ipc = thread_ipc(buffer);
    let r = ipc.call(ep, &Message::new(0x31, &[1]));
    if r.is_ok() {
        mark(cell);
    } else {
        put(cell as usize, 0xbad);
    }
    syscall::thread_exit()
}

/// `[cell]`: cell := the order it ran in.
pub(crate) extern "C" fn marker(arg: u64, _buffer: u64) -> ! {
    let [cell, ..] = unpack(arg);
    mark(cell);
    syscall::thread_exit()
}

/// `[ep, reply, cell]`: receive one Call, cell := its order, answer it
/// with ReplyRecv, then wait on `ep` for good.
pub(crate) extern "C" fn ordered_server(arg: u64, buffer: u64) -> ! {
    let [ep, reply, cell, _] = unpack(arg);
    let mut ipc = thread_ipc(buffer);
    if let Ok(rx) = ipc.recv(ep, reply) {
        mark(cell);
        let _ = ipc.reply_recv(ep, reply, &Message::new(rx.msg.label + 1, &[]));
    }
    syscall::thread_exit()
}

/// A Call to a waiting server while a thread above the server's priority
/// is ready: switching straight to the server would run it out of turn,
/// so the fast path must refuse and the ready thread runs first.
fn call_outranked(c: &mut Ctx) -> TestResult {
    reset();
    SEQ.store(0, Ordering::SeqCst);
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    c.spawn("server", ordered_server, pack(&[ep, reply, 0]), PRIO)?;
    s.run()?;
    // Both become ready under the root (priority 255); the caller runs
    // first, calls, and blocks.
    c.spawn("between", marker, pack(&[1]), PRIO + 10)?;
    c.spawn("caller", ordered_caller, pack(&[ep, 2]), PRIO + 20)?;
    s.run()?;
    check!(
        get(1) == 1,
        "the thread between them ran first (order {:#x})",
        get(1)
    );
    check!(get(0) == 2, "then the server (order {:#x})", get(0));
    check!(
        get(2) == 3,
        "then the caller had its answer (order {:#x})",
        get(2)
    );
    Ok(())
}

/// `[ep, reply, ntfn]`: receive one Call, wake the thread waiting on
/// `ntfn` (it outranks the caller, not this server), answer with
/// ReplyRecv, then wait on `ep` for good.
extern "C" fn waking_server(arg: u64, buffer: u64) -> ! {
    let [ep, reply, ntfn, _] = unpack(arg);
    let mut ipc = thread_ipc(buffer);
    if let Ok(rx) = ipc.recv(ep, reply) {
        let _ = syscall::signal(ntfn);
        let _ = ipc.reply_recv(ep, reply, &Message::new(rx.msg.label + 1, &[]));
    }
    syscall::thread_exit()
}

/// `[ntfn, cell]`: wait on `ntfn`, then cell := its order.
extern "C" fn waiting_marker(arg: u64, _buffer: u64) -> ! {
    let [ntfn, cell, ..] = unpack(arg);
    let _ = syscall::wait(ntfn);
    mark(cell);
    syscall::thread_exit()
}

/// A ReplyRecv whose caller is outranked by a ready thread: the fast path
/// must not switch to the caller; the ready thread runs first.
fn reply_outranked(c: &mut Ctx) -> TestResult {
    reset();
    SEQ.store(0, Ordering::SeqCst);
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    let n = c.notification()?;
    c.spawn("server", waking_server, pack(&[ep, reply, n]), PRIO + 20)?;
    c.spawn("between", waiting_marker, pack(&[n, 1]), PRIO + 10)?;
    s.run()?;
    c.spawn("caller", ordered_caller, pack(&[ep, 2]), PRIO)?;
    s.run()?;
    check!(
        get(1) == 1,
        "the woken thread ran first (order {:#x})",
        get(1)
    );
    check!(
        get(2) == 2,
        "then the answered caller (order {:#x})",
        get(2)
    );
    Ok(())
}

/// ReplyRecv with a sender already queued on the endpoint: the receive
/// half must take that message at once (the fast path would block the
/// server); the caller still gets the answer, longer than the registers.
fn reply_sender_queued(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    let badged = mint(c, ep, rights::ALL, 0x55)?;
    c.spawn("caller", caller, pack(&[ep, 0x41, 0]), PRIO)?;
    c.spawn(
        "sender",
        crate::common::sender,
        pack(&[badged, 0x42, 4]),
        PRIO,
    )?;
    s.run()?;
    let rx = c.ipc.recv(ep, reply)?;
    check_eq!(rx.msg.label, 0x41);
    check_eq!(rx.badge, 0);
    let answer = Message::new(0x43, &[10, 11, 12, 13, 14, 15]);
    let next = c.ipc.reply_recv(ep, reply, &answer)?;
    check_eq!(next.msg.label, 0x42);
    check_eq!(next.badge, 0x55);
    check_eq!(next.msg.word(0), 0x42);
    s.run()?;
    check_eq!(get_result(0), Some(Ok(0x43)));
    check_eq!(get(1), 10);
    check_eq!(get_result(4), Some(Ok(1)));
    Ok(())
}

/// ReplyRecv by a thread whose bound notification is pending: the
/// receive half returns the notification at once.
fn reply_notification_pending(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    let n = c.notification()?;
    let b = mint(c, n, rights::WRITE, 0x600)?;
    c.spawn("caller", caller, pack(&[ep, 0x51, 0]), PRIO)?;
    s.run()?;
    let rx = c.ipc.recv(ep, reply)?;
    check_eq!(rx.msg.label, 0x51);
    c.ipc.tcb_bind_notification(SELF_TCB, n)?;
    let r = syscall::signal(b).and_then(|_| c.ipc.reply_recv(ep, reply, &Message::new(0x52, &[7])));
    c.ipc.tcb_unbind_notification(SELF_TCB)?;
    let next = r?;
    check_eq!(next.msg.label, NOTIFICATION_LABEL);
    check_eq!(next.badge, 0x600);
    s.run()?;
    check_eq!(get_result(0), Some(Ok(0x52)));
    check_eq!(get(1), 7);
    Ok(())
}

/// ReplyRecv naming capabilities the fast path must not accept: no reply
/// object in r12 (nothing answered), a receive end without the read right
/// (answered, then refused).
fn reply_bad_caps(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    let write_only = mint(c, ep, rights::WRITE | rights::GRANT, 0)?;
    c.spawn("caller", caller, pack(&[ep, 0x61, 0]), PRIO)?;
    s.run()?;
    let rx = c.ipc.recv(ep, reply)?;
    check_eq!(rx.msg.label, 0x61);
    // r12 names the endpoint, not a reply object: refused, nobody answered.
    check_eq!(
        c.ipc
            .reply_recv(ep, ep, &Message::new(0x62, &[]))
            .map(|_| ()),
        Err(Error::WrongType)
    );
    s.run()?;
    check_eq!(get_result(0), None);
    // A receive end without read: the answer goes out, the receive fails.
    check_eq!(
        c.ipc
            .reply_recv(write_only, reply, &Message::new(0x63, &[3]))
            .map(|_| ()),
        Err(Error::MissingRight)
    );
    s.run()?;
    check_eq!(get_result(0), Some(Ok(0x63)));
    check_eq!(get(1), 3);
    Ok(())
}
