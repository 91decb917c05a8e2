//! The least-authority probe (`tests/systems/probe.toml`): a domain checks
//! that its capability space holds exactly what `cargo xtask describe`
//! prints for it, that every other slot (and every pointer past its
//! CNode) names nothing, that its quota retypes exactly as far as its size
//! and no further, and that a thread of its own cannot read the memory its
//! peer maps (the fault arrives at the probe, at that address).
//!
//! What describe prints for it: 1 its CNode, 2 its thread, 3 its address
//! space, 4 its IPC buffer frame (rw), 8 endpoint `ask` (call: write and
//! grant-reply, badge 7), 9 untyped 16KiB; 10.. free, 256 slots.
#![no_std]
#![no_main]

use core::sync::atomic::AtomicU64;
use septum_interfaces::echo::EchoClient;
use septum_user::abi::Error;
use septum_user::abi::fault::{self as fk, Kind};
use septum_user::abi::object::{cap_type as ct, object_type as ty, rights};
use septum_user::ipc::{Ipc, Message};
use septum_user::println;

const CNODE: u64 = 1;
const TCB: u64 = 2;
const VSPACE: u64 = 3;
const ASK: u64 = 8;
const QUOTA: u64 = 9;
const FREE: u64 = 10;
const SLOTS: u64 = 256;
const DEPTH: u64 = 64;
/// Where the peer maps its secret region (and the probe maps nothing).
const PEER_SECRET: u64 = 0x4000_0000;

septum_user::entry!(main);

/// One capability describe prints: (slot, type, rights to check or None,
/// badge, extra word of identify to check or None).
type Expected = (u64, u64, Option<u64>, u64, Option<u64>);

const EXPECTED: [Expected; 6] = [
    (1, ct::CNODE, None, 0, Some(8)),
    (2, ct::TCB, None, 0, None),
    (3, ct::PAGE_TABLE, None, 0, Some(4)),
    (4, ct::FRAME, Some(rights::READ | rights::WRITE), 0, None),
    (
        8,
        ct::ENDPOINT,
        Some(rights::WRITE | rights::GRANT_REPLY),
        7,
        None,
    ),
    (9, ct::UNTYPED, None, 0, Some(14)),
];

fn verdict(case: &str, failures: u32) {
    if failures == 0 {
        println!("septum-test: {case} ok");
    } else {
        println!("septum-test: {case} FAILED {failures} failed checks (listed above)");
    }
}

/// Its capability space, slot by slot, against the table.
fn exact_cspace(ipc: &mut Ipc) -> u32 {
    let mut failures = 0;
    let mut held = 0;
    for slot in 0..SLOTS {
        let id = match ipc.cnode_identify(CNODE, (slot, DEPTH)) {
            Ok(id) => id,
            Err(e) => {
                println!("slot {slot}: identify failed: {}", e.name());
                failures += 1;
                continue;
            }
        };
        let want = EXPECTED.iter().find(|e| e.0 == slot);
        let ok = match want {
            None => id.cap_type == ct::NULL,
            Some(&(_, t, r, badge, extra)) => {
                id.cap_type == t
                    && r.is_none_or(|r| id.rights == r)
                    && id.badge == badge
                    && extra.is_none_or(|x| id.extra == x)
            }
        };
        if id.cap_type != ct::NULL {
            held += 1;
            println!(
                "slot {slot}: type {} rights {:#x} badge {} extra {}",
                id.cap_type, id.rights, id.badge, id.extra
            );
        }
        if !ok {
            println!("slot {slot}: not what describe printed ({want:?})");
            failures += 1;
        }
    }
    println!("{held} capabilities in {SLOTS} slots, as describe printed");
    failures
}

/// Every slot it was not given, and pointers past its CNode, name nothing.
fn ungranted_slots_fail(ipc: &mut Ipc) -> u32 {
    let mut failures = 0;
    let mut tried = 0;
    let beyond = [SLOTS, 0x1_0000, 1 << 40, u64::MAX];
    for cptr in (0..SLOTS)
        .filter(|s| !EXPECTED.iter().any(|e| e.0 == *s))
        .chain(beyond)
    {
        tried += 1;
        let signal = septum_user::syscall::signal(cptr);
        let call = ipc.call(cptr, &Message::new(0, &[]));
        let send = ipc.nb_send(cptr, &Message::new(0, &[]));
        let invoke = ipc.tcb_suspend(cptr);
        let results = [signal.err(), call.err(), send.err(), invoke.err()];
        if results.iter().any(|r| r != &Some(Error::InvalidCapability)) {
            println!("cptr {cptr:#x}: not refused as invalid: {results:?}");
            failures += 1;
        }
    }
    println!("{tried} capability pointers it was not given: each refused four ways");
    failures
}

/// The quota retypes into exactly its 16 KiB and no more.
fn quota_bounds(ipc: &mut Ipc) -> u32 {
    let mut failures = 0;
    match ipc.retype(QUOTA, ty::UNTYPED, 15, CNODE, FREE, 1) {
        Ok(()) => {
            println!("a 32 KiB untyped from the 16 KiB quota was not refused");
            failures += 1;
        }
        Err(e) => println!("a 32 KiB untyped from the 16 KiB quota: {}", e.name()),
    }
    let mut made = 0;
    for i in 0..8 {
        match ipc.retype(QUOTA, ty::FRAME, 0, CNODE, FREE + i, 1) {
            Ok(()) => made += 1,
            Err(Error::NotEnoughMemory) => break,
            Err(e) => {
                println!("frame {i}: {}", e.name());
                failures += 1;
                break;
            }
        }
    }
    println!("the quota gave {made} frames of 4 KiB, then refused");
    if made != 4 {
        failures += 1;
    }
    // Give it all back, for the next case.
    if let Err(e) = ipc.cnode_revoke(CNODE, (QUOTA, DEPTH)) {
        println!("revoking the quota: {}", e.name());
        failures += 1;
    }
    failures
}

/// The stack of the thread that tries to read the peer's memory.
static REACH_STACK: [AtomicU64; 512] = [const { AtomicU64::new(0) }; 512];

extern "C" fn reach() -> ! {
    // SAFETY: not sound on purpose: the probe maps nothing at PEER_SECRET,
    // so the read must fault and the thread stops before using the value.
    let v = unsafe { core::ptr::read_volatile(PEER_SECRET as *const u64) };
    println!("FAILED: read {v:#x} from the peer's memory");
    septum_user::syscall::thread_exit()
}

/// A thread of its own reads where the peer maps its region: the fault
/// comes back to the probe, at exactly that address.
fn cannot_reach_peer(ipc: &mut Ipc) -> u32 {
    let (tcb, ep) = (FREE, FREE + 1);
    let made = ipc
        .retype(QUOTA, ty::TCB, 0, CNODE, tcb, 1)
        .and_then(|()| ipc.retype(QUOTA, ty::ENDPOINT, 0, CNODE, ep, 1))
        .and_then(|()| ipc.tcb_configure(tcb, CNODE, VSPACE, 0, 0, ep))
        .and_then(|()| ipc.tcb_set_priority(tcb, TCB, 80));
    if let Err(e) = made {
        println!("making the reaching thread: {}", e.name());
        return 1;
    }
    let top = REACH_STACK.as_ptr() as u64 + core::mem::size_of_val(&REACH_STACK) as u64;
    let mut r = [0u64; 18];
    r[fk::W_RIP] = reach as *const () as u64;
    r[fk::W_RSP] = (top & !15) - 8;
    r[fk::W_RFLAGS] = 0x202;
    if let Err(e) = ipc
        .tcb_write_registers(tcb, &r)
        .and_then(|()| ipc.tcb_resume(tcb))
    {
        println!("starting the reaching thread: {}", e.name());
        return 1;
    }
    match ipc.recv(ep, 0) {
        Ok(f)
            if Kind::from_label(f.msg.label) == Some(Kind::PageFault)
                && f.msg.word(fk::W_ADDR) == PEER_SECRET =>
        {
            println!("reading the peer's {PEER_SECRET:#x} faulted: nothing is mapped there");
            0
        }
        other => {
            println!("the reaching thread: {other:?}");
            1
        }
    }
}

fn main() {
    let mut ipc = septum_test_tasks::domain_ipc();
    // The one slot it was given to reach the peer works.
    match EchoClient::new(ASK).add(&mut ipc, 20, 22) {
        Ok(42) => println!("its granted endpoint works: add(20, 22) -> 42"),
        other => println!("septum-test: probe_granted_endpoint FAILED {other:?}"),
    }
    verdict("probe_exact_cspace", exact_cspace(&mut ipc));
    verdict(
        "probe_ungranted_slots_refused",
        ungranted_slots_fail(&mut ipc),
    );
    verdict("probe_quota_bounds", quota_bounds(&mut ipc));
    verdict("probe_cannot_reach_peer", cannot_reach_peer(&mut ipc));
}
