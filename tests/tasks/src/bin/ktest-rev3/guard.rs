//! Minting a CNode capability with a nonzero badge word sets its guard
//! (`guard_bits | guard << 6`). A guard only changes how pointers resolve
//! through the CNode: the same slots, other names.

use crate::{debug_check, settle};
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use septum_test_tasks::ktest::{CNODE, Ctx, DEPTH, Test, TestResult, Thread, cap, rights, ty};
use septum_test_tasks::{check, check_eq};
use septum_user::abi::Error;
use septum_user::abi::syscall as nr;
use septum_user::syscall::{raw, thread_exit};

pub const TESTS: &[Test] = &[
    Test {
        name: "rev3_guard_mint_names_the_same_slots",
        run: mint_names_same_slots,
    },
    Test {
        name: "rev3_guard_that_does_not_fit_is_refused",
        run: guard_does_not_fit,
    },
    Test {
        name: "rev3_guarded_cnode_as_thread_cspace",
        run: guarded_cspace,
    },
    Test {
        name: "rev3_nested_guards_and_a_cycle",
        run: nested_guards,
    },
];

fn guard_word(bits: u64, guard: u64) -> u64 {
    bits | guard << 6
}

fn mint_names_same_slots(c: &mut Ctx) -> TestResult {
    let cn = c.make(ty::CNODE, 4)?;
    let g = c.slot();
    c.ipc.cnode_mint(
        CNODE,
        (g, DEPTH),
        CNODE,
        (cn, DEPTH),
        rights::ALL,
        guard_word(8, 0x2a),
    )?;
    let ep = c.endpoint()?;
    c.ipc
        .cnode_copy(g, (0x2a3, 12), CNODE, (ep, DEPTH), rights::ALL)?;
    check_eq!(c.ipc.cnode_identify(cn, (3, 4))?.cap_type, cap::ENDPOINT);
    check_eq!(
        c.ipc.cnode_identify(g, (0x2a3, 12))?.cap_type,
        cap::ENDPOINT
    );
    check_eq!(
        c.ipc.cnode_identify(g, (0x2b3, 12)).map(|i| i.cap_type),
        Err(Error::InvalidCapability)
    );
    check_eq!(
        c.ipc.cnode_identify(g, (3, 4)).map(|i| i.cap_type),
        Err(Error::InvalidCapability)
    );
    check_eq!(
        c.ipc
            .cnode_identify(g, (0x2a3 << 52, 64))
            .map(|i| i.cap_type),
        Err(Error::InvalidCapability)
    );
    // Another guard on the guarded capability: replaced, same slots.
    let g2 = c.slot();
    c.ipc.cnode_mint(
        CNODE,
        (g2, DEPTH),
        CNODE,
        (g, DEPTH),
        rights::ALL,
        guard_word(4, 0x3),
    )?;
    check_eq!(c.ipc.cnode_identify(g2, (0x33, 8))?.cap_type, cap::ENDPOINT);
    check_eq!(
        c.ipc.cnode_identify(g2, (0x2a3, 12)).map(|i| i.cap_type),
        Err(Error::InvalidCapability)
    );
    // A copy keeps the guard.
    let g3 = c.slot();
    c.ipc
        .cnode_copy(CNODE, (g3, DEPTH), CNODE, (g2, DEPTH), rights::ALL)?;
    check_eq!(c.ipc.cnode_identify(g3, (0x33, 8))?.cap_type, cap::ENDPOINT);
    // Delete and move through guarded names.
    let dst = c.slot();
    c.ipc.cnode_move(CNODE, (dst, DEPTH), g3, (0x33, 8))?;
    check_eq!(c.ipc.cnode_identify(cn, (3, 4))?.cap_type, cap::NULL);
    c.ipc.cnode_move(g, (0x2a5, 12), CNODE, (dst, DEPTH))?;
    check_eq!(c.ipc.cnode_identify(cn, (5, 4))?.cap_type, cap::ENDPOINT);
    c.ipc.cnode_delete(g2, (0x35, 8))?;
    check_eq!(c.ipc.cnode_identify(cn, (5, 4))?.cap_type, cap::NULL);
    // Retype straight into the guarded CNode: the offset is a slot index.
    c.ipc.retype(c.ut, ty::NOTIFICATION, 0, g2, 7, 1)?;
    check_eq!(
        c.ipc.cnode_identify(cn, (7, 4))?.cap_type,
        cap::NOTIFICATION
    );
    check_eq!(debug_check(), Ok(0));
    c.ipc.cnode_revoke(CNODE, (cn, DEPTH))?;
    check_eq!(c.identify(g)?.cap_type, cap::NULL);
    check_eq!(c.identify(g2)?.cap_type, cap::NULL);
    check_eq!(debug_check(), Ok(0));
    Ok(())
}

fn guard_does_not_fit(c: &mut Ctx) -> TestResult {
    let cn = c.make(ty::CNODE, 4)?;
    let cases = [
        guard_word(61, 0),       // 4 + 61 > 64
        guard_word(63, 0),       // 4 + 63 > 64
        guard_word(4, 0x1f),     // guard wider than its bits
        guard_word(60, 1 << 53), // wider than the encoding's 53 bits
        guard_word(0, 1),        // no bits, a value
    ];
    for w in cases {
        let d = c.slot();
        let r = c
            .ipc
            .cnode_mint(CNODE, (d, DEPTH), CNODE, (cn, DEPTH), rights::ALL, w);
        check!(r.is_err(), "mint with guard word {w:#x} was accepted");
        check_eq!(c.identify(d)?.cap_type, cap::NULL);
    }
    // Exactly 64 bits, the widest guard value: fits.
    let d = c.slot();
    c.ipc.cnode_mint(
        CNODE,
        (d, DEPTH),
        CNODE,
        (cn, DEPTH),
        rights::ALL,
        guard_word(60, (1 << 53) - 1),
    )?;
    let ep = c.endpoint()?;
    let idx = ((1u64 << 53) - 1) << 4 | 9;
    c.ipc
        .cnode_copy(d, (idx, 64), CNODE, (ep, DEPTH), rights::ALL)?;
    check_eq!(c.ipc.cnode_identify(cn, (9, 4))?.cap_type, cap::ENDPOINT);
    check_eq!(
        c.ipc.cnode_identify(d, (9, 64)).map(|i| i.cap_type),
        Err(Error::InvalidCapability)
    );
    // Depths 0 and 65 are Range, not a lookup.
    check_eq!(
        c.ipc.cnode_identify(d, (9, 0)).map(|i| i.cap_type),
        Err(Error::Range)
    );
    check_eq!(
        c.ipc.cnode_identify(d, (9, 65)).map(|i| i.cap_type),
        Err(Error::Range)
    );
    check_eq!(
        c.ipc.cnode_identify(d, (9, u64::MAX)).map(|i| i.cap_type),
        Err(Error::Range)
    );
    check_eq!(debug_check(), Ok(0));
    Ok(())
}

static GOOD: AtomicU64 = AtomicU64::new(0);
static BAD1: AtomicU64 = AtomicU64::new(0);
static BAD2: AtomicU64 = AtomicU64::new(0);
static RESULTS: [AtomicU64; 3] = [const { AtomicU64::new(u64::MAX) }; 3];

extern "C" fn signaller(_: u64, _: u64) -> ! {
    for (i, p) in [&GOOD, &BAD1, &BAD2].into_iter().enumerate() {
        let r = raw(nr::SIGNAL, p.load(SeqCst), 0, [0; 4], 0);
        RESULTS[i].store(r.rax, SeqCst);
    }
    thread_exit()
}

fn run_in_cspace(c: &mut Ctx, cspace: u64, name: &str, cptrs: [u64; 3]) -> TestResult {
    GOOD.store(cptrs[0], SeqCst);
    BAD1.store(cptrs[1], SeqCst);
    BAD2.store(cptrs[2], SeqCst);
    for r in &RESULTS {
        r.store(u64::MAX, SeqCst);
    }
    let tcb = c.make(ty::TCB, 0)?;
    let (frame, buffer) = c.mapped_frame()?;
    c.ipc.tcb_configure(
        tcb,
        cspace,
        septum_test_tasks::ktest::SELF_VSPACE,
        frame,
        buffer,
        0,
    )?;
    c.ipc.tcb_set_name(tcb, name)?;
    c.ipc
        .tcb_set_priority(tcb, septum_test_tasks::ktest::SELF_TCB, 100)?;
    c.start(Thread { tcb, buffer }, signaller, 0)?;
    settle(c)?;
    check_eq!(Error::from_rax(RESULTS[0].load(SeqCst)), Ok(0));
    check_eq!(
        Error::from_rax(RESULTS[1].load(SeqCst)),
        Err(Error::InvalidCapability)
    );
    check_eq!(
        Error::from_rax(RESULTS[2].load(SeqCst)),
        Err(Error::InvalidCapability)
    );
    Ok(())
}

fn guarded_cspace(c: &mut Ctx) -> TestResult {
    let n = c.notification()?;
    let cn = c.make(ty::CNODE, 4)?;
    c.ipc
        .cnode_copy(cn, (1, 4), CNODE, (n, DEPTH), rights::ALL)?;
    // Not flat: 8 guard bits and 4 index bits, the rest left over at the
    // notification.
    let g = c.slot();
    c.ipc.cnode_mint(
        CNODE,
        (g, DEPTH),
        CNODE,
        (cn, DEPTH),
        rights::ALL,
        guard_word(8, 0x5),
    )?;
    run_in_cspace(c, g, "rev3-guarded", [0x051 << 52, 1, 0x041 << 52])?;
    // Flat: 60 guard bits and 4 index bits (the one-step lookup).
    let f = c.slot();
    c.ipc.cnode_mint(
        CNODE,
        (f, DEPTH),
        CNODE,
        (cn, DEPTH),
        rights::ALL,
        guard_word(60, 0x7),
    )?;
    run_in_cspace(c, f, "rev3-flat", [0x71, 1, 0x171])?;
    // Two signals arrived, each setting bit 0.
    let r = raw(nr::POLL, n, 0, [0; 4], 0);
    check_eq!(Error::from_rax(r.rax), Ok(0));
    check_eq!(r.rdi, 1);
    check_eq!(debug_check(), Ok(0));
    Ok(())
}

fn nested_guards(c: &mut Ctx) -> TestResult {
    let a = c.make(ty::CNODE, 4)?;
    let b = c.make(ty::CNODE, 3)?;
    let ag = c.slot();
    c.ipc.cnode_mint(
        CNODE,
        (ag, DEPTH),
        CNODE,
        (a, DEPTH),
        rights::ALL,
        guard_word(4, 9),
    )?;
    c.ipc
        .cnode_mint(a, (2, 4), CNODE, (b, DEPTH), rights::ALL, guard_word(2, 1))?;
    let ep = c.endpoint()?;
    c.ipc
        .cnode_copy(b, (5, 3), CNODE, (ep, DEPTH), rights::ALL)?;
    let idx = 9 << 9 | 2 << 5 | 1 << 3 | 5;
    check_eq!(c.ipc.cnode_identify(ag, (idx, 13))?.cap_type, cap::ENDPOINT);
    check_eq!(
        c.ipc
            .cnode_identify(ag, (idx & !(1 << 3), 13))
            .map(|i| i.cap_type),
        Err(Error::InvalidCapability)
    );
    check_eq!(
        c.ipc.cnode_identify(ag, (idx >> 1, 12)).map(|i| i.cap_type),
        Err(Error::InvalidCapability)
    );
    // Stopping at the nested CNode's own slot.
    check_eq!(
        c.ipc.cnode_identify(ag, (9 << 4 | 2, 8))?.cap_type,
        cap::CNODE
    );
    // A guarded copy of A inside A, at slot 0: a cycle of 8-bit steps.
    c.ipc
        .cnode_mint(a, (0, 4), CNODE, (a, DEPTH), rights::ALL, guard_word(4, 9))?;
    check_eq!(
        c.ipc
            .cnode_identify(ag, (0x9090_9090_9090_9090, 64))?
            .cap_type,
        cap::CNODE
    );
    check_eq!(
        c.ipc.cnode_identify(ag, (u64::MAX, 64)).map(|i| i.cap_type),
        Err(Error::InvalidCapability)
    );
    // Deep through the cycle, then into B: 6 * 8 + 8 + 5 = 61 bits.
    let deep = 0x9090_9090_9090u64 << 13 | idx;
    check_eq!(
        c.ipc.cnode_identify(ag, (deep, 61))?.cap_type,
        cap::ENDPOINT
    );
    let dst = c.slot();
    c.ipc.cnode_move(CNODE, (dst, DEPTH), ag, (deep, 61))?;
    check_eq!(c.identify(dst)?.cap_type, cap::ENDPOINT);
    check_eq!(c.ipc.cnode_identify(b, (5, 3))?.cap_type, cap::NULL);
    check_eq!(debug_check(), Ok(0));
    // Delete everything naming A (the cycle included) and B.
    c.ipc.cnode_delete(CNODE, (ag, DEPTH))?;
    c.ipc.cnode_delete(CNODE, (a, DEPTH))?;
    c.ipc.cnode_delete(CNODE, (b, DEPTH))?;
    check_eq!(debug_check(), Ok(0));
    Ok(())
}
