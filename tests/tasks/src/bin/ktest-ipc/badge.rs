//! Badges: the receiver learns which capability a message came through.

use crate::common::{PRIO, Settle, caller, get, get_result, mint, pack, reset, sender};
use septum_test_tasks::ktest::{Ctx, Test, TestResult, rights};
use septum_test_tasks::{check, check_eq};
use septum_user::ipc::Message;

pub const TESTS: &[Test] = &[
    Test {
        name: "ipc_badge_seen_by_receiver",
        run: badge_seen,
    },
    Test {
        name: "ipc_unbadged_sender_badge_zero",
        run: unbadged,
    },
    Test {
        name: "ipc_badges_tell_clients_apart",
        run: apart,
    },
];

fn badge_seen(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let badged = mint(c, ep, rights::ALL, 0x1234)?;
    check_eq!(c.identify(badged)?.badge, 0x1234);
    // A Send through the badged capability...
    c.spawn("sender", sender, pack(&[badged, 0x11, 0]), PRIO)?;
    let r = c.ipc.recv(ep, 0)?;
    check_eq!(r.badge, 0x1234);
    check_eq!(r.msg.label, 0x11);
    s.run()?;
    check_eq!(get_result(0), Some(Ok(1)));
    // ...and a Call: the server sees the badge, the caller's answer
    // carries none.
    let reply = c.reply()?;
    c.spawn("caller", caller, pack(&[badged, 0x12, 4]), PRIO)?;
    let r = c.ipc.recv(ep, reply)?;
    check_eq!(r.badge, 0x1234);
    check_eq!(r.msg.label, 0x12);
    c.ipc.reply(reply, &Message::new(0x13, &[0xbeef]))?;
    s.run()?;
    check_eq!(get_result(4), Some(Ok(0x13)));
    check_eq!(get(5), 0xbeef);
    check_eq!(get(6), 0);
    Ok(())
}

fn unbadged(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    // A copy with fewer rights and badge 0 stays unbadged.
    let weak = mint(c, ep, rights::WRITE, 0)?;
    check_eq!(c.identify(weak)?.badge, 0);
    c.spawn("a", sender, pack(&[ep, 0x21, 0]), PRIO)?;
    c.spawn("b", sender, pack(&[weak, 0x22, 1]), PRIO)?;
    for label in [0x21, 0x22] {
        let r = c.ipc.recv(ep, 0)?;
        check_eq!(r.msg.label, label);
        check_eq!(r.badge, 0);
    }
    s.run()?;
    check_eq!(get_result(0), Some(Ok(1)));
    check_eq!(get_result(1), Some(Ok(1)));
    Ok(())
}

fn apart(c: &mut Ctx) -> TestResult {
    reset();
    let ep = c.endpoint()?;
    let send_only = rights::WRITE | rights::GRANT_REPLY;
    let a = mint(c, ep, send_only, 0xa)?;
    let b = mint(c, ep, send_only, 0xb)?;
    let anon = mint(c, ep, send_only, 0)?;
    // Each client says who it is in the label; the anonymous one claims
    // to be B.
    c.spawn("client-a", sender, pack(&[a, 0xa, 0]), PRIO)?;
    c.spawn("client-b", sender, pack(&[b, 0xb, 1]), PRIO)?;
    c.spawn("impostor", sender, pack(&[anon, 0xb, 2]), PRIO)?;
    let mut seen = [0u32; 3];
    for _ in 0..3 {
        let r = c.ipc.recv(ep, 0)?;
        match r.badge {
            0xa => {
                check_eq!(r.msg.label, 0xa);
                seen[0] += 1;
            }
            0xb => {
                check_eq!(r.msg.label, 0xb);
                seen[1] += 1;
            }
            0 => {
                // Claims to be B, but the badge says it is not.
                check_eq!(r.msg.label, 0xb);
                seen[2] += 1;
            }
            other => check!(false, "unexpected badge {:#x}", other),
        }
    }
    check_eq!(seen, [1, 1, 1]);
    Ok(())
}
