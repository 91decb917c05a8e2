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
        name: "destroy_revoke_preempted_in_a_nested_cnode_frees_its_untyped",
        run: waiting_memory,
    },
    Test {
        name: "destroy_revoke_of_untyped_held_in_its_own_child",
        run: self_held_untyped,
    },
    Test {
        name: "destroy_nested_across_untypeds_comes_back_whole",
        run: rounds_across_untypeds,
    },
    Test {
        name: "destroy_one_revoke_comes_back_whole_across_untypeds",
        run: one_revoke_across,
    },
    Test {
        name: "destroy_revoke_of_the_inner_untyped_first",
        run: inner_first,
    },
    Test {
        name: "destroy_revoke_of_a_domain_holding_anothers_thread",
        run: cross_domain_thread,
    },
    Test {
        name: "destroy_chain_longer_than_a_zombie_chain_across_untypeds",
        run: long_chain_across,
    },
    Test {
        name: "destroy_driving_slot_deleted_while_the_other_untyped_is_revoked",
        run: concurrent_revokes,
    },
    Test {
        name: "destroy_head_zombie_moved_about_while_it_is_destroyed",
        run: moved_head,
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
/// (from U2). Revoking U1 destroys A, which must destroy B first, in the
/// slot that held A's capability, while A's zombie waits inside A. Should
/// the revoke be preempted inside B, its restart meets A's waiting zombie
/// and drives B's destruction on to the end: when it returns, A and B are
/// gone and U1 retypes again, though U2 was never revoked.
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
    check_eq!(c.identify(a)?.cap_type, cap::NULL);
    let probe = c.slot();
    c.ipc.retype(u1, ty::UNTYPED, 12, CNODE, probe, 1)?;
    c.ipc.cnode_delete(CNODE, (probe, DEPTH))?;
    c.ipc.retype(u2, ty::UNTYPED, 21, CNODE, probe, 1)?;
    check_eq!(c.identify(ep)?.cap_type, cap::ENDPOINT);
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
/// destroys O, which destroys N first; preempted in N, the restarted
/// revoke meets O's waiting zombie and finishes N and then O. Once used to
/// need rounds of revokes; `revoke_whole` revokes each once, and both
/// retype whole.
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

/// A CNode of 2^`RADIX` slots from `u`, all but its first and last slot
/// holding copies of `ep`: destroying it takes a few timer ticks.
fn big_cnode(c: &mut Ctx, u: u64, ep: u64) -> Result<u64, Error> {
    let n = c.slot();
    c.ipc.retype(u, ty::CNODE, RADIX, CNODE, n, 1)?;
    for i in 1..LAST {
        c.ipc
            .cnode_copy(n, (i, RADIX), CNODE, (ep, DEPTH), rights::ALL)?;
    }
    Ok(n)
}

/// Radix of the large CNodes (512 KiB each), and their last slot.
const RADIX: u64 = 14;
const LAST: u64 = (1 << RADIX) - 1;

/// Whether the untyped `u` of 2^`bits` bytes retypes whole (nothing made
/// from it is left), leaving it as it was.
fn whole(c: &mut Ctx, u: u64, bits: u64) -> Result<bool, Error> {
    let probe = c.slot();
    match c.ipc.retype(u, ty::UNTYPED, bits, CNODE, probe, 1) {
        Ok(()) => {
            c.ipc.cnode_delete(CNODE, (probe, DEPTH))?;
            Ok(true)
        }
        Err(Error::NotEnoughMemory) => Ok(false),
        Err(e) => Err(e),
    }
}

/// One revoke of `first` leaves it whole, then one of `second` leaves
/// that whole (both 2^`bits` bytes).
fn revoke_each_whole(c: &mut Ctx, first: u64, second: u64, bits: u64) -> TestResult {
    c.ipc.cnode_revoke(CNODE, (first, DEPTH))?;
    check!(
        whole(c, first, bits)?,
        "the first untyped not whole after one revoke"
    );
    c.ipc.cnode_revoke(CNODE, (second, DEPTH))?;
    check!(
        whole(c, second, bits)?,
        "the second untyped not whole after its revoke"
    );
    Ok(())
}

/// The chain U1 → U2 → U1 of large CNodes: O (from U1, holding the only
/// capability to itself) holds the only one to N (from U2), which holds
/// the only one to M (from U1). Returns (U1, U2); nothing but revoking
/// reaches them.
fn chain_through_u2(c: &mut Ctx, ep: u64) -> Result<(u64, u64), Error> {
    let (u1, u2, o) = nested_pair(c, ep, true)?;
    c.ipc
        .cnode_copy(o, (0, RADIX), CNODE, (o, DEPTH), rights::ALL)?;
    c.ipc.cnode_delete(CNODE, (o, DEPTH))?;
    Ok((u1, u2))
}

/// Untypeds U1 and U2 of 1 MiB, and a large CNode O from U1 holding the
/// only capability to a large N from U2, which (if `deeper`) holds the
/// only one to a large M from U1. Returns (U1, U2, O's slot).
fn nested_pair(c: &mut Ctx, ep: u64, deeper: bool) -> Result<(u64, u64, u64), Error> {
    let u1 = c.make(ty::UNTYPED, 20)?;
    let u2 = c.make(ty::UNTYPED, 20)?;
    let n = big_cnode(c, u2, ep)?;
    if deeper {
        let m = big_cnode(c, u1, ep)?;
        c.ipc.cnode_move(n, (LAST, RADIX), CNODE, (m, DEPTH))?;
    }
    let o = big_cnode(c, u1, ep)?;
    c.ipc.cnode_move(o, (LAST, RADIX), CNODE, (n, DEPTH))?;
    Ok((u1, u2, o))
}

/// ONE revoke of U1 (restarted by the kernel as often as it is preempted)
/// destroys O, N and M: it returns only when U1 is whole, though the chain
/// passes through U2's N and U2 is never revoked; N went with O, so U2 is
/// whole too.
fn one_revoke_across(c: &mut Ctx) -> TestResult {
    let ep = c.endpoint()?;
    let (u1, u2) = chain_through_u2(c, ep)?;
    check!(!whole(c, u1, 20)?, "U1 whole before the revoke");
    c.ipc.cnode_revoke(CNODE, (u1, DEPTH))?;
    check!(whole(c, u1, 20)?, "U1 not whole after one revoke");
    check!(whole(c, u2, 20)?, "N outlived the CNode holding it");
    check_eq!(c.identify(ep)?.cap_type, cap::ENDPOINT);
    Ok(())
}

/// The same chain, but U2 (whose N sits in the middle) is revoked first:
/// that destroys N and with it M, the only way to M being through N, so
/// U2 comes back whole from one revoke; then U1's revoke finishes O.
fn inner_first(c: &mut Ctx) -> TestResult {
    let ep = c.endpoint()?;
    let (u1, u2) = chain_through_u2(c, ep)?;
    revoke_each_whole(c, u2, u1, 20)
}

/// Domain X's CNode (from U1) holds the only capability to domain Y's
/// thread (from U2), whose capability space is Y's large CNode, which in
/// turn holds the only capability to a large CNode of X's (U1). X revokes
/// U1 once: U1 comes back whole; Y's thread is gone (it held its space
/// only by a copy), Y's CNode stays Y's, and U2 stays in use for it.
fn cross_domain_thread(c: &mut Ctx) -> TestResult {
    let ep = c.endpoint()?;
    let u1 = c.make(ty::UNTYPED, 20)?;
    let u2 = c.make(ty::UNTYPED, 20)?;
    let yc = big_cnode(c, u2, ep)?;
    let yt = c.slot();
    c.ipc.retype(u2, ty::TCB, 0, CNODE, yt, 1)?;
    c.ipc.tcb_configure(yt, yc, SELF_VSPACE, 0, 0, 0)?;
    let xm = big_cnode(c, u1, ep)?;
    c.ipc.cnode_move(yc, (LAST, RADIX), CNODE, (xm, DEPTH))?;
    let xo = big_cnode(c, u1, ep)?;
    c.ipc.cnode_move(xo, (0, RADIX), CNODE, (yt, DEPTH))?;
    c.ipc.cnode_revoke(CNODE, (u1, DEPTH))?;
    check!(whole(c, u1, 20)?, "X's memory not whole after its revoke");
    check_eq!(c.identify(xo)?.cap_type, cap::NULL);
    check_eq!(c.identify(yc)?.cap_type, cap::CNODE);
    check!(!whole(c, u2, 20)?, "Y's CNode is gone");
    c.ipc.cnode_revoke(CNODE, (u2, DEPTH))?;
    check!(whole(c, u2, 20)?, "Y's memory not whole after its revoke");
    Ok(())
}

/// A chain of 600 small CNodes, each holding the only capability to the
/// next, alternately from U1 and U2: far more than a zombie chain holds
/// waiting, so the kernel sets the deeper ones aside. One revoke of U1
/// still leaves U1 whole; a revoke of U2 then U2. A chain as long from one
/// untyped, deleted at its head, comes back whole with one revoke too.
fn long_chain_across(c: &mut Ctx) -> TestResult {
    let u1 = c.make(ty::UNTYPED, 16)?;
    let u2 = c.make(ty::UNTYPED, 16)?;
    let slots = [c.slot(), c.slot()];
    long_chain(c, &[u2, u1], slots)?;
    revoke_each_whole(c, u1, u2, 16)?;
    let u = c.make(ty::UNTYPED, 16)?;
    let head = long_chain(c, &[u], slots)?;
    c.ipc.cnode_delete(CNODE, (head, DEPTH))?;
    check_eq!(c.identify(head)?.cap_type, cap::NULL);
    c.ipc.cnode_revoke(CNODE, (u, DEPTH))?;
    check!(whole(c, u, 16)?, "the long chain's untyped not whole");
    Ok(())
}

/// 600 small CNodes from the untypeds `us` in turn, each holding the only
/// capability to the one made before; built in the two empty `slots`,
/// the root keeps the last one's, in the slot returned.
fn long_chain(c: &mut Ctx, us: &[u64], slots: [u64; 2]) -> Result<u64, Error> {
    for level in 0..600usize {
        let s = slots[level % 2];
        c.ipc
            .retype(us[level % us.len()], ty::CNODE, 1, CNODE, s, 1)?;
        if level > 0 {
            c.ipc
                .cnode_move(s, (0, 1), CNODE, (slots[(level + 1) % 2], DEPTH))?;
        }
    }
    Ok(slots[1])
}

static DONE: AtomicU64 = AtomicU64::new(0);
/// The slot the helper threads work on, and a second one.
static TARGET: AtomicU64 = AtomicU64::new(0);
static ASIDE: AtomicU64 = AtomicU64::new(0);

/// Deletes the slot `TARGET` names, then revokes `u`, then says so.
extern "C" fn delete_then_revoke(u: u64, buffer: u64) -> ! {
    let mut ipc = septum_test_tasks::ktest::thread_ipc(buffer);
    let _ = ipc.cnode_delete(CNODE, (TARGET.load(Relaxed), DEPTH));
    let r = ipc.cnode_revoke(CNODE, (u, DEPTH));
    DONE.store(if r.is_ok() { 1 } else { 2 }, Relaxed);
    septum_user::syscall::thread_exit()
}

/// Moves whatever is in `TARGET` to `ASIDE` and back until told to stop.
extern "C" fn mover(_: u64, buffer: u64) -> ! {
    let mut ipc = septum_test_tasks::ktest::thread_ipc(buffer);
    let (t, a) = (TARGET.load(Relaxed), ASIDE.load(Relaxed));
    while DONE.load(Relaxed) == 0 {
        let _ = ipc.cnode_move(CNODE, (a, DEPTH), CNODE, (t, DEPTH));
        let _ = ipc.cnode_move(CNODE, (t, DEPTH), CNODE, (a, DEPTH));
    }
    DONE.store(2, Relaxed);
    septum_user::syscall::thread_exit()
}

/// Wait (yielding the processor) until a helper thread has said it is done.
fn wait_done(value: u64) -> TestResult {
    for _ in 0..100_000 {
        if DONE.load(Relaxed) >= value {
            return Ok(());
        }
        septum_user::syscall::yield_now();
    }
    septum_test_tasks::fail!("the helper thread never finished")
}

/// O (from U1) holds the only capability to a large N (from U2), which
/// holds the only one to a large M (from U1); the root holds O's. Two
/// threads of one priority, sharing the processor: one deletes the slot
/// that drives the destruction and then revokes U2, while the other
/// revokes U1. Each revoke may meet the other's work half done; both must
/// come back whole.
fn concurrent_revokes(c: &mut Ctx) -> TestResult {
    let ep = c.endpoint()?;
    let (u1, u2, o) = nested_pair(c, ep, true)?;
    DONE.store(0, Relaxed);
    TARGET.store(o, Relaxed);
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 100)?;
    c.spawn("deleter", delete_then_revoke, u2, 100)?;
    let r = c.ipc.cnode_revoke(CNODE, (u1, DEPTH));
    let waited = wait_done(1);
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 255)?;
    waited?;
    r?;
    check_eq!(DONE.load(Relaxed), 1);
    check!(whole(c, u1, 20)?, "U1 not whole");
    check!(whole(c, u2, 20)?, "U2 not whole");
    check_eq!(c.identify(o)?.cap_type, cap::NULL);
    Ok(())
}

/// The root deletes its only capability to O (from U1, holding the only
/// one to a large N from U2) while another thread of its priority keeps
/// moving that slot's content back and forth: the zombie at the head of
/// the destruction moves under the delete. Whatever is left where it
/// moved to, one revoke of U1 leaves U1 whole, and one of U2 then U2.
fn moved_head(c: &mut Ctx) -> TestResult {
    let ep = c.endpoint()?;
    let (u1, u2, o) = nested_pair(c, ep, false)?;
    let aside = c.slot();
    DONE.store(0, Relaxed);
    TARGET.store(o, Relaxed);
    ASIDE.store(aside, Relaxed);
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 100)?;
    c.spawn("mover", mover, 0, 100)?;
    // The mover may have moved O's capability away already: delete
    // whichever slot holds it, twice over.
    let _ = c.ipc.cnode_delete(CNODE, (o, DEPTH));
    let _ = c.ipc.cnode_delete(CNODE, (aside, DEPTH));
    DONE.store(1, Relaxed);
    let waited = wait_done(2);
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 255)?;
    waited?;
    revoke_each_whole(c, u1, u2, 20)?;
    check_eq!(c.identify(ep)?.cap_type, cap::ENDPOINT);
    Ok(())
}
