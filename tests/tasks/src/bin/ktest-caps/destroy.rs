//! Destroying objects that hold capabilities: deep chains of CNodes each
//! holding the only capability to the next, and cycles that nothing
//! outside reaches. Deleting or revoking must finish them without
//! recursion limits, and the memory must come back.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use septum_test_tasks::ktest::{
    CNODE, Ctx, DEPTH, SELF_TCB, SELF_VSPACE, Test, TestResult, cap, rights, ty,
};
use septum_test_tasks::{check, check_eq};
use septum_user::abi::Error;

pub const TESTS: &[Test] = &[
    Test {
        name: "destroy_deep_chain_by_delete_releases_its_contents",
        run: chain_delete,
    },
    Test {
        name: "destroy_deep_chain_by_revoke_returns_the_memory",
        run: chain_revoke,
    },
    Test {
        name: "destroy_cycle_of_two_cnodes",
        run: cycle_two,
    },
    Test {
        name: "destroy_cycle_of_three_cnodes",
        run: cycle_three,
    },
    Test {
        name: "destroy_thread_and_its_own_cspace_holding_each_other",
        run: tcb_cycle,
    },
    Test {
        name: "destroy_large_cnode_finishes_under_preemption",
        run: large_cnode,
    },
    Test {
        name: "destroy_waiting_zombie_memory_is_not_reused_early",
        run: waiting_memory,
    },
    Test {
        name: "destroy_revoke_of_untyped_held_in_its_own_child",
        run: self_held_untyped,
    },
    Test {
        name: "destroy_nested_across_untypeds_comes_back_whole_in_rounds",
        run: rounds_across_untypeds,
    },
];

/// Depth of the chains: far beyond any fixed recursion limit.
const DEPTH_OF_CHAIN: u64 = 40;

/// Build a chain C1 → C2 → … → Cn of 2-slot CNodes from untyped `u`, each
/// holding the only capability to the next in its slot 0, with `bottom`'s
/// capability moved into Cn's slot 1 first. Returns the root slot of C1.
/// They are made bottom-up, so C1 is the newest: the first descendant a
/// revoke of `u` meets, and the deepest to destroy.
fn chain(c: &mut Ctx, u: u64, n: u64, bottom: Option<u64>) -> Result<u64, Error> {
    let mut below: Option<u64> = None;
    for level in 0..n {
        let s = c.slot();
        c.ipc.retype(u, ty::CNODE, 1, CNODE, s, 1)?;
        if level == 0
            && let Some(b) = bottom
        {
            c.ipc.cnode_move(s, (1, 1), CNODE, (b, DEPTH))?;
        }
        if let Some(b) = below {
            c.ipc.cnode_move(s, (0, 1), CNODE, (b, DEPTH))?;
        }
        below = Some(s);
    }
    below.ok_or(Error::Range)
}

static RESULT: AtomicU64 = AtomicU64::new(0);

/// Calls `ep` and records the status it got back.
extern "C" fn caller(ep: u64, buffer: u64) -> ! {
    let mut ipc = septum_test_tasks::ktest::thread_ipc(buffer);
    let r = ipc.call(ep, &septum_user::ipc::Message::new(1, &[]));
    RESULT.store(
        match r {
            Ok(_) => 1,
            Err(e) => 100 + e as u64,
        },
        Relaxed,
    );
    septum_user::syscall::thread_exit()
}

fn let_others_run(c: &mut Ctx) -> Result<(), Error> {
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 1)?;
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 255)
}

/// A caller waits on a reply object whose only capability ends up at the
/// bottom of the chain; deleting the chain's head must destroy everything
/// down to that reply object, which releases the caller with `PeerGone`.
fn chain_delete(c: &mut Ctx) -> TestResult {
    let u = c.make(ty::UNTYPED, 16)?;
    let ep = c.endpoint()?;
    let reply = c.slot();
    c.ipc.retype(u, ty::REPLY, 0, CNODE, reply, 1)?;
    RESULT.store(0, Relaxed);
    c.spawn("caller", caller, ep, 100)?;
    let_others_run(c)?;
    let got = c.ipc.recv(ep, reply)?;
    check_eq!(got.msg.label, 1);
    let head = chain(c, u, DEPTH_OF_CHAIN, Some(reply))?;
    check_eq!(c.identify(reply)?.cap_type, cap::NULL);
    check_eq!(RESULT.load(Relaxed), 0);
    c.ipc.cnode_delete(CNODE, (head, DEPTH))?;
    let_others_run(c)?;
    check_eq!(RESULT.load(Relaxed), 100 + Error::PeerGone as u64);
    check_eq!(c.identify(head)?.cap_type, cap::NULL);
    Ok(())
}

/// Revoke the untyped the chain came from, meeting the chain's head first;
/// afterwards the whole untyped retypes again (its watermark reset, which
/// needs every object made from it gone).
fn chain_revoke(c: &mut Ctx) -> TestResult {
    let u = c.make(ty::UNTYPED, 16)?;
    let head = chain(c, u, DEPTH_OF_CHAIN, None)?;
    check_eq!(c.identify(head)?.cap_type, cap::CNODE);
    c.ipc.cnode_revoke(CNODE, (u, DEPTH))?;
    check_eq!(c.identify(head)?.cap_type, cap::NULL);
    let whole = c.slot();
    c.ipc.retype(u, ty::UNTYPED, 16, CNODE, whole, 1)?;
    Ok(())
}

/// CNodes that hold the only capabilities to each other in a ring, with
/// nothing outside pointing in. Returns nothing: only revoking `u` can
/// reach them.
fn ring(c: &mut Ctx, u: u64, n: usize) -> Result<(), Error> {
    let mut nodes = [0u64; 4];
    for node in nodes.iter_mut().take(n) {
        *node = c.slot();
        c.ipc.retype(u, ty::CNODE, 1, CNODE, *node, 1)?;
    }
    // Each node i gets a copy of node i+1's capability in its slot 0...
    for i in 0..n {
        let next = nodes[(i + 1) % n];
        c.ipc
            .cnode_copy(nodes[i], (0, 1), CNODE, (next, DEPTH), rights::ALL)?;
    }
    // ...then the root lets go: the copies are the only capabilities left.
    for &node in nodes.iter().take(n) {
        c.ipc.cnode_delete(CNODE, (node, DEPTH))?;
    }
    Ok(())
}

fn revoke_and_reuse(c: &mut Ctx, u: u64) -> TestResult {
    c.ipc.cnode_revoke(CNODE, (u, DEPTH))?;
    let whole = c.slot();
    c.ipc.retype(u, ty::UNTYPED, 16, CNODE, whole, 1)?;
    check_eq!(c.identify(whole)?.cap_type, cap::UNTYPED);
    Ok(())
}

fn cycle_two(c: &mut Ctx) -> TestResult {
    let u = c.make(ty::UNTYPED, 16)?;
    ring(c, u, 2)?;
    // Before the revoke the memory is still in use.
    let probe = c.slot();
    check_eq!(
        c.ipc.retype(u, ty::UNTYPED, 16, CNODE, probe, 1),
        Err(Error::NotEnoughMemory)
    );
    revoke_and_reuse(c, u)
}

fn cycle_three(c: &mut Ctx) -> TestResult {
    let u = c.make(ty::UNTYPED, 16)?;
    ring(c, u, 3)?;
    revoke_and_reuse(c, u)
}

/// A thread whose capability space is a CNode holding the only capability
/// to the thread itself, with nothing else referring to either.
fn tcb_cycle(c: &mut Ctx) -> TestResult {
    let u = c.make(ty::UNTYPED, 16)?;
    let x = c.slot();
    c.ipc.retype(u, ty::CNODE, 2, CNODE, x, 1)?;
    let t = c.slot();
    c.ipc.retype(u, ty::TCB, 0, CNODE, t, 1)?;
    c.ipc.tcb_configure(t, x, SELF_VSPACE, 0, 0, 0)?;
    c.ipc.cnode_move(x, (0, 2), CNODE, (t, DEPTH))?;
    c.ipc.cnode_delete(CNODE, (x, DEPTH))?;
    check!(
        c.identify(x)?.cap_type == cap::NULL,
        "the root still holds x"
    );
    revoke_and_reuse(c, u)
}

/// A CNode of 2^16 slots (2 MiB) with one capability in its first slot:
/// clearing it takes several timer ticks. The scan keeps its progress in
/// the zombie across preemptions, so the delete finishes (it used to start
/// over after every tick and never end).
fn large_cnode(c: &mut Ctx) -> TestResult {
    let big = c.slot();
    c.ipc.retype(c.ut, ty::CNODE, 16, CNODE, big, 1)?;
    let ep = c.endpoint()?;
    c.ipc
        .cnode_copy(big, (0, 16), CNODE, (ep, DEPTH), rights::ALL)?;
    c.ipc.cnode_delete(CNODE, (big, DEPTH))?;
    check_eq!(c.identify(big)?.cap_type, cap::NULL);
    check_eq!(c.identify(ep)?.cap_type, cap::ENDPOINT);
    Ok(())
}

/// CNode A (from untyped U1) holds the only capability to a large CNode B
/// (from U2). Revoking U1 destroys A, which must destroy B first; A's
/// zombie waits inside A meanwhile, and B's zombie points at it. Should the
/// revoke be preempted inside B and restarted, U1 must not come back free
/// while that pointer exists (its memory reused under it): either the
/// revoke finished everything, or U1 stays in use until it does.
fn waiting_memory(c: &mut Ctx) -> TestResult {
    let u2 = c.make(ty::UNTYPED, 21)?;
    let u1 = c.make(ty::UNTYPED, 12)?;
    let b = c.slot();
    c.ipc.retype(u2, ty::CNODE, 14, CNODE, b, 1)?;
    let ep = c.endpoint()?;
    for i in 0..(1u64 << 14) {
        c.ipc
            .cnode_copy(b, (i, 14), CNODE, (ep, DEPTH), rights::ALL)?;
    }
    let a = c.slot();
    c.ipc.retype(u1, ty::CNODE, 1, CNODE, a, 1)?;
    c.ipc.cnode_move(a, (0, 1), CNODE, (b, DEPTH))?;
    c.ipc.cnode_revoke(CNODE, (u1, DEPTH))?;
    let probe = c.slot();
    let reused = c.ipc.retype(u1, ty::FRAME, 0, CNODE, probe, 1);
    match c.identify(a)?.cap_type {
        cap::NULL => {
            // Everything finished: U1 is free again.
            check_eq!(reused, Ok(()));
        }
        cap::ZOMBIE => {
            // A zombie chain is still pending: U1 must stay in use.
            check_eq!(reused, Err(Error::NotEnoughMemory));
            // Finishing it (deleting its top) frees U1 for the next revoke.
            c.ipc.cnode_delete(CNODE, (a, DEPTH))?;
            c.ipc.cnode_revoke(CNODE, (u1, DEPTH))?;
            c.ipc.retype(u1, ty::FRAME, 0, CNODE, probe, 1)?;
        }
        other => septum_test_tasks::fail!("slot a holds type {other}"),
    }
    Ok(())
}

/// An untyped capability moved into a CNode made from it: revoking it
/// destroys that CNode and with it the capability being revoked. The call
/// must see that and return, not hunt for it forever.
fn self_held_untyped(c: &mut Ctx) -> TestResult {
    let u = c.make(ty::UNTYPED, 12)?;
    let s = c.slot();
    c.ipc.retype(u, ty::CNODE, 1, CNODE, s, 1)?;
    c.ipc.cnode_move(s, (0, 1), CNODE, (u, DEPTH))?;
    check_eq!(c.identify(u)?.cap_type, cap::NULL);
    c.ipc.cnode_revoke(s, (0, 1))?;
    // The CNode went with the revoke, and so did the untyped inside it.
    check_eq!(c.identify(s)?.cap_type, cap::NULL);
    // The slot is reusable and the kernel still answers.
    let e = c.endpoint()?;
    check_eq!(c.identify(e)?.cap_type, cap::ENDPOINT);
    Ok(())
}

/// A vmm's teardown in small (`docs/vmm.md`): CNode O, from U1, holds the
/// only capability to itself (as a domain's CNode does in its slot 1), the
/// only one to a large CNode N from U2, and many capabilities from
/// elsewhere (as a guest's holds the vmm's channel ends). Revoking U1
/// destroys O, which destroys N first; preempted in N, the revoke returns
/// with O's zombie waiting in U1's memory. Revoking U2 finishes N and
/// wakes O's zombie, which a preemption can leave unfinished again, now in
/// U1's tree: one revoke of each is not enough, so `revoke_whole` goes
/// round until both retype whole, and then they do.
fn rounds_across_untypeds(c: &mut Ctx) -> TestResult {
    // 512 KiB CNodes: destroying one takes a few timer ticks.
    const RADIX: u64 = 14;
    const BITS: u64 = 20;
    let u1 = c.make(ty::UNTYPED, BITS)?;
    let u2 = c.make(ty::UNTYPED, BITS)?;
    let ep = c.endpoint()?;
    let n = c.slot();
    c.ipc.retype(u2, ty::CNODE, RADIX, CNODE, n, 1)?;
    let o = c.slot();
    c.ipc.retype(u1, ty::CNODE, RADIX, CNODE, o, 1)?;
    let last = (1 << RADIX) - 1;
    for i in 1..last {
        c.ipc
            .cnode_copy(n, (i, RADIX), CNODE, (ep, DEPTH), rights::ALL)?;
        c.ipc
            .cnode_copy(o, (i, RADIX), CNODE, (ep, DEPTH), rights::ALL)?;
    }
    c.ipc.cnode_move(o, (last, RADIX), CNODE, (n, DEPTH))?;
    c.ipc
        .cnode_copy(o, (0, RADIX), CNODE, (o, DEPTH), rights::ALL)?;
    c.ipc.cnode_delete(CNODE, (o, DEPTH))?;
    // Nothing but revoking the untypeds reaches O and N now.
    let scratch = c.slot();
    let pieces = [(u1, BITS), (u2, BITS)];
    check!(
        c.ipc
            .revoke_whole(CNODE, DEPTH, pieces.into_iter(), scratch),
        "the untypeds did not come back whole"
    );
    check_eq!(c.identify(scratch)?.cap_type, cap::NULL);
    for (u, bits) in pieces {
        c.ipc.retype(u, ty::UNTYPED, bits, CNODE, scratch, 1)?;
        c.ipc.cnode_delete(CNODE, (scratch, DEPTH))?;
    }
    // The capabilities from elsewhere went with O and N; their source stays.
    check_eq!(c.identify(ep)?.cap_type, cap::ENDPOINT);
    Ok(())
}
