//! Capability transfer: up to three capabilities with a message, only
//! through an endpoint capability with the grant right, into the slots
//! the receiver names.

use crate::common::{PRIO, Settle, get, get_result, mint, pack, put_result, reset, unpack};
use septum_test_tasks::ktest::{CNODE, Ctx, Test, TestResult, cap, rights, ty};
use septum_test_tasks::{check, check_eq};
use septum_user::abi::Error;
use septum_user::ipc::Message;
use septum_user::syscall::{self, thread_exit};

pub const TESTS: &[Test] = &[
    Test {
        name: "ipc_caps_transferred_with_grant",
        run: with_grant,
    },
    Test {
        name: "ipc_caps_transferred_from_blocked_sender",
        run: from_blocked_sender,
    },
    Test {
        name: "ipc_caps_not_transferred_without_grant",
        run: without_grant,
    },
    Test {
        name: "ipc_caps_refused_by_recv_cnode_zero",
        run: recv_cnode_zero,
    },
    Test {
        name: "ipc_caps_stop_at_first_bad_pointer",
        run: bad_pointer,
    },
    Test {
        name: "ipc_transferred_caps_work",
        run: caps_work,
    },
];

/// Where a case's capabilities to send are: the sender helper finds
/// them in cells 12..15 (cell 15: how many the message says it carries).
const SEND_CELL: usize = 12;

/// `[ep, label, result cell]`: send `label` with the capabilities named in
/// cells 12..14, saying it carries cell 15 of them.
extern "C" fn cap_sender(arg: u64, buffer: u64) -> ! {
    let [ep, label, cell, _] = unpack(arg);
    let mut ipc = septum_test_tasks::ktest::thread_ipc(buffer);
    let caps = [get(SEND_CELL), get(SEND_CELL + 1), get(SEND_CELL + 2)];
    ipc.set_send_caps(&caps);
    let mut m = Message::new(label, &[label, 2]);
    m.caps = get(SEND_CELL + 3) as usize;
    put_result(cell as usize, ipc.send(ep, &m).map(|()| 1));
    thread_exit()
}

fn name_caps(caps: &[u64], count: usize) {
    for i in 0..3 {
        crate::common::put(SEND_CELL + i, caps.get(i).copied().unwrap_or(0));
    }
    crate::common::put(SEND_CELL + 3, count as u64);
}

/// Three capabilities of different types, the notification badged.
fn three_caps(c: &mut Ctx) -> Result<[u64; 3], Error> {
    let ep = c.endpoint()?;
    let n = c.notification()?;
    let nb = mint(c, n, rights::ALL, 0x77)?;
    let f = c.make(ty::FRAME, 0)?;
    Ok([ep, nb, f])
}

fn check_three(c: &mut Ctx, dst: u64) -> TestResult {
    let a = c.identify(dst)?;
    check_eq!(a.cap_type, cap::ENDPOINT);
    check_eq!(a.rights, rights::ALL);
    let b = c.identify(dst + 1)?;
    check_eq!(b.cap_type, cap::NOTIFICATION);
    check_eq!(b.badge, 0x77);
    let f = c.identify(dst + 2)?;
    check_eq!(f.cap_type, cap::FRAME);
    check!(!f.mapped, "a transferred frame capability is mapped");
    Ok(())
}

fn with_grant(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let caps = three_caps(c)?;
    name_caps(&caps, 3);
    let dst = c.slots(3);
    c.spawn("sender", cap_sender, pack(&[ep, 0x61, 0]), PRIO)?;
    c.ipc.set_recv_slots(CNODE, dst);
    // We wait first; the sender finds us waiting.
    let r = c.ipc.recv(ep, 0)?;
    check_eq!(r.msg.label, 0x61);
    check_eq!(r.msg.caps, 3);
    check_eq!(r.msg.words(), &[0x61, 2][..]);
    check_three(c, dst)?;
    // Copies: the sender still has its own.
    check_eq!(c.identify(caps[1])?.cap_type, cap::NOTIFICATION);
    s.run()?;
    check_eq!(get_result(0), Some(Ok(1)));
    Ok(())
}

fn from_blocked_sender(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let caps = three_caps(c)?;
    // Two of them this time.
    name_caps(&caps[..2], 2);
    let dst = c.slots(3);
    c.spawn("sender", cap_sender, pack(&[ep, 0x62, 0]), PRIO)?;
    s.run()?;
    check_eq!(get_result(0), None);
    c.ipc.set_recv_slots(CNODE, dst);
    let r = c.ipc.recv(ep, 0)?;
    check_eq!(r.msg.label, 0x62);
    check_eq!(r.msg.caps, 2);
    check_eq!(c.identify(dst)?.cap_type, cap::ENDPOINT);
    check_eq!(c.identify(dst + 1)?.badge, 0x77);
    check_eq!(c.identify(dst + 2)?.cap_type, cap::NULL);
    s.run()?;
    check_eq!(get_result(0), Some(Ok(1)));
    Ok(())
}

fn without_grant(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let no_grant = mint(c, ep, rights::ALL & !rights::GRANT, 0)?;
    let caps = three_caps(c)?;
    name_caps(&caps, 3);
    let dst = c.slots(3);
    c.ipc.set_recv_slots(CNODE, dst);
    // Receiver waiting first, then sender waiting first: neither path
    // transfers anything, but the message itself arrives.
    c.spawn("sender", cap_sender, pack(&[no_grant, 0x63, 0]), PRIO)?;
    let r = c.ipc.recv(ep, 0)?;
    check_eq!(r.msg.label, 0x63);
    check_eq!(r.msg.caps, 0);
    check_eq!(r.msg.words(), &[0x63, 2][..]);
    c.spawn("sender", cap_sender, pack(&[no_grant, 0x64, 1]), PRIO)?;
    s.run()?;
    let r = c.ipc.recv(ep, 0)?;
    check_eq!(r.msg.label, 0x64);
    check_eq!(r.msg.caps, 0);
    for i in 0..3 {
        check_eq!(c.identify(dst + i)?.cap_type, cap::NULL);
    }
    s.run()?;
    check_eq!(get_result(0), Some(Ok(1)));
    check_eq!(get_result(1), Some(Ok(1)));
    Ok(())
}

fn recv_cnode_zero(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let caps = three_caps(c)?;
    name_caps(&caps, 3);
    let dst = c.slots(3);
    // Slots named, but CNode pointer 0: accept none.
    c.ipc.set_recv_slots(0, dst);
    c.spawn("sender", cap_sender, pack(&[ep, 0x65, 0]), PRIO)?;
    let r = c.ipc.recv(ep, 0)?;
    check_eq!(r.msg.label, 0x65);
    check_eq!(r.msg.caps, 0);
    for i in 0..3 {
        check_eq!(c.identify(dst + i)?.cap_type, cap::NULL);
    }
    s.run()?;
    check_eq!(get_result(0), Some(Ok(1)));
    Ok(())
}

fn bad_pointer(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let caps = three_caps(c)?;
    let empty = c.slot();
    name_caps(&[caps[1], empty, caps[0]], 3);
    let dst = c.slots(3);
    c.ipc.set_recv_slots(CNODE, dst);
    c.spawn("sender", cap_sender, pack(&[ep, 0x66, 0]), PRIO)?;
    let r = c.ipc.recv(ep, 0)?;
    // The first arrived; transfer stopped at the empty slot.
    check_eq!(r.msg.caps, 1);
    check_eq!(c.identify(dst)?.cap_type, cap::NOTIFICATION);
    check_eq!(c.identify(dst + 1)?.cap_type, cap::NULL);
    check_eq!(c.identify(dst + 2)?.cap_type, cap::NULL);
    // An occupied receive slot takes nothing either.
    name_caps(&caps, 3);
    c.spawn("sender", cap_sender, pack(&[ep, 0x67, 1]), PRIO)?;
    let r = c.ipc.recv(ep, 0)?;
    check_eq!(r.msg.label, 0x67);
    check_eq!(r.msg.caps, 0);
    check_eq!(c.identify(dst)?.cap_type, cap::NOTIFICATION);
    s.run()?;
    check_eq!(get_result(0), Some(Ok(1)));
    check_eq!(get_result(1), Some(Ok(1)));
    Ok(())
}

fn caps_work(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let n = c.notification()?;
    let nb = mint(c, n, rights::ALL, 0x30)?;
    let read_only = mint(c, n, rights::READ, 0)?;
    let target = c.endpoint()?;
    name_caps(&[nb, read_only, target], 3);
    let dst = c.slots(3);
    c.ipc.set_recv_slots(CNODE, dst);
    c.spawn("sender", cap_sender, pack(&[ep, 0x68, 0]), PRIO)?;
    check_eq!(c.ipc.recv(ep, 0)?.msg.caps, 3);
    // Signal through the received badged notification.
    syscall::signal(dst)?;
    check_eq!(syscall::poll(n)?, 0x30);
    // The received read-only copy kept its rights.
    check_eq!(syscall::signal(dst + 1), Err(Error::MissingRight));
    check_eq!(syscall::poll(dst + 1)?, 0);
    // The received endpoint reaches the same endpoint.
    c.spawn(
        "receiver",
        crate::common::receiver,
        pack(&[target, 4]),
        PRIO,
    )?;
    s.run()?;
    c.ipc.send(dst + 2, &Message::new(0x69, &[6]))?;
    s.run()?;
    check_eq!(get_result(4), Some(Ok(0x69)));
    check_eq!(get(6), 6);
    Ok(())
}
