//! Capability-space operations: copy, mint, move, delete, identify,
//! lookups, and their error paths.

use septum_test_tasks::ktest::{CNODE, Ctx, DEPTH, SELF_TCB, Test, TestResult, cap, rights, ty};
use septum_test_tasks::{check, check_eq};
use septum_user::abi::Error;

pub const TESTS: &[Test] = &[
    Test {
        name: "cnode_copy_keeps_type_and_rights",
        run: copy,
    },
    Test {
        name: "cnode_mint_reduces_rights",
        run: mint_rights,
    },
    Test {
        name: "cnode_mint_sets_badge_once",
        run: mint_badge,
    },
    Test {
        name: "cnode_move_empties_source",
        run: move_cap,
    },
    Test {
        name: "cnode_delete_empties_slot",
        run: delete,
    },
    Test {
        name: "cnode_delete_empty_slot_is_fine",
        run: delete_empty,
    },
    Test {
        name: "cnode_identify_empty_and_fixed_slots",
        run: identify,
    },
    Test {
        name: "cnode_copy_untyped_refused",
        run: copy_untyped,
    },
    Test {
        name: "cnode_copy_into_occupied_refused",
        run: copy_occupied,
    },
    Test {
        name: "cnode_copy_from_empty_refused",
        run: copy_empty,
    },
    Test {
        name: "cnode_move_onto_itself_refused",
        run: move_self,
    },
    Test {
        name: "cnode_bad_depth_refused",
        run: bad_depth,
    },
    Test {
        name: "cnode_invalid_capability_pointer",
        run: invalid_cptr,
    },
    Test {
        name: "cnode_invocation_on_wrong_type",
        run: wrong_type,
    },
    Test {
        name: "cnode_unknown_method",
        run: unknown_method,
    },
    Test {
        name: "cnode_missing_arguments",
        run: missing_args,
    },
    Test {
        name: "cnode_two_level_lookup",
        run: two_level,
    },
];

fn copy(c: &mut Ctx) -> TestResult {
    let ep = c.endpoint()?;
    let d = c.slot();
    c.ipc
        .cnode_copy(CNODE, (d, DEPTH), CNODE, (ep, DEPTH), rights::ALL)?;
    let id = c.identify(d)?;
    check_eq!(id.cap_type, cap::ENDPOINT);
    check_eq!(id.rights, rights::ALL);
    check_eq!(c.identify(ep)?.cap_type, cap::ENDPOINT);
    Ok(())
}

fn mint_rights(c: &mut Ctx) -> TestResult {
    let ep = c.endpoint()?;
    let d = c.slot();
    c.ipc
        .cnode_mint(CNODE, (d, DEPTH), CNODE, (ep, DEPTH), rights::WRITE, 0)?;
    check_eq!(c.identify(d)?.rights, rights::WRITE);
    // A copy of the reduced capability cannot get the rights back.
    let e = c.slot();
    c.ipc
        .cnode_copy(CNODE, (e, DEPTH), CNODE, (d, DEPTH), rights::ALL)?;
    check_eq!(c.identify(e)?.rights, rights::WRITE);
    Ok(())
}

fn mint_badge(c: &mut Ctx) -> TestResult {
    let ep = c.endpoint()?;
    let d = c.slot();
    c.ipc
        .cnode_mint(CNODE, (d, DEPTH), CNODE, (ep, DEPTH), rights::ALL, 0x1234)?;
    check_eq!(c.identify(d)?.badge, 0x1234);
    let e = c.slot();
    check_eq!(
        c.ipc
            .cnode_mint(CNODE, (e, DEPTH), CNODE, (d, DEPTH), rights::ALL, 0x99),
        Err(Error::IllegalOperation)
    );
    check_eq!(c.identify(e)?.cap_type, cap::NULL);
    // Badges only exist on endpoints and notifications.
    let tcb = c.make(ty::TCB, 0)?;
    check_eq!(
        c.ipc
            .cnode_mint(CNODE, (e, DEPTH), CNODE, (tcb, DEPTH), rights::ALL, 5),
        Err(Error::IllegalOperation)
    );
    Ok(())
}

fn move_cap(c: &mut Ctx) -> TestResult {
    let n = c.notification()?;
    let d = c.slot();
    c.ipc.cnode_move(CNODE, (d, DEPTH), CNODE, (n, DEPTH))?;
    check_eq!(c.identify(n)?.cap_type, cap::NULL);
    check_eq!(c.identify(d)?.cap_type, cap::NOTIFICATION);
    Ok(())
}

fn delete(c: &mut Ctx) -> TestResult {
    let ep = c.endpoint()?;
    let d = c.slot();
    c.ipc
        .cnode_copy(CNODE, (d, DEPTH), CNODE, (ep, DEPTH), rights::ALL)?;
    c.ipc.cnode_delete(CNODE, (d, DEPTH))?;
    check_eq!(c.identify(d)?.cap_type, cap::NULL);
    check_eq!(c.identify(ep)?.cap_type, cap::ENDPOINT);
    Ok(())
}

fn delete_empty(c: &mut Ctx) -> TestResult {
    let s = c.slot();
    c.ipc.cnode_delete(CNODE, (s, DEPTH))?;
    Ok(())
}

fn identify(c: &mut Ctx) -> TestResult {
    let s = c.slot();
    check_eq!(c.identify(s)?.cap_type, cap::NULL);
    check_eq!(c.identify(CNODE)?.cap_type, cap::CNODE);
    check_eq!(c.identify(CNODE)?.extra, 12);
    check_eq!(c.identify(SELF_TCB)?.cap_type, cap::TCB);
    let ut = c.info.untyped_first;
    check_eq!(c.identify(ut)?.cap_type, cap::UNTYPED);
    check_eq!(c.identify(ut)?.extra, c.info.untyped[0].size_bits);
    Ok(())
}

fn copy_untyped(c: &mut Ctx) -> TestResult {
    let d = c.slot();
    check_eq!(
        c.ipc
            .cnode_copy(CNODE, (d, DEPTH), CNODE, (c.ut, DEPTH), rights::ALL),
        Err(Error::IllegalOperation)
    );
    Ok(())
}

fn copy_occupied(c: &mut Ctx) -> TestResult {
    let a = c.endpoint()?;
    let b = c.notification()?;
    check_eq!(
        c.ipc
            .cnode_copy(CNODE, (b, DEPTH), CNODE, (a, DEPTH), rights::ALL),
        Err(Error::SlotOccupied)
    );
    check_eq!(c.identify(b)?.cap_type, cap::NOTIFICATION);
    Ok(())
}

fn copy_empty(c: &mut Ctx) -> TestResult {
    let (a, b) = (c.slot(), c.slot());
    check_eq!(
        c.ipc
            .cnode_copy(CNODE, (b, DEPTH), CNODE, (a, DEPTH), rights::ALL),
        Err(Error::InvalidCapability)
    );
    Ok(())
}

fn move_self(c: &mut Ctx) -> TestResult {
    let a = c.endpoint()?;
    check!(
        c.ipc
            .cnode_move(CNODE, (a, DEPTH), CNODE, (a, DEPTH))
            .is_err(),
        "moved onto itself"
    );
    check_eq!(c.identify(a)?.cap_type, cap::ENDPOINT);
    Ok(())
}

fn bad_depth(c: &mut Ctx) -> TestResult {
    let s = c.slot();
    check_eq!(c.ipc.cnode_delete(CNODE, (s, 0)), Err(Error::Range));
    check_eq!(c.ipc.cnode_delete(CNODE, (s, 65)), Err(Error::Range));
    // 12 bits cannot pass the root CNode's 52-bit guard.
    check_eq!(
        c.ipc.cnode_delete(CNODE, (s, 12)),
        Err(Error::InvalidCapability)
    );
    Ok(())
}

fn invalid_cptr(c: &mut Ctx) -> TestResult {
    // Beyond the root CNode's guard, and an empty slot.
    check_eq!(
        c.call(1 << 40, 0, &[]).map(|_| ()),
        Err(Error::InvalidCapability)
    );
    check_eq!(
        c.call(u64::MAX, 0, &[]).map(|_| ()),
        Err(Error::InvalidCapability)
    );
    let s = c.slot();
    check_eq!(c.call(s, 0, &[]).map(|_| ()), Err(Error::InvalidCapability));
    Ok(())
}

fn wrong_type(c: &mut Ctx) -> TestResult {
    // CNode methods on a notification capability.
    let n = c.notification()?;
    let s = c.slot();
    check_eq!(c.ipc.cnode_delete(n, (s, DEPTH)), Err(Error::WrongType));
    check_eq!(c.ipc.tcb_resume(n), Err(Error::WrongType));
    Ok(())
}

fn unknown_method(c: &mut Ctx) -> TestResult {
    for label in [0, 7, 100, u64::MAX >> 12] {
        check_eq!(
            c.call(CNODE, label, &[0, 64]).map(|_| ()),
            Err(Error::IllegalOperation)
        );
    }
    Ok(())
}

fn missing_args(c: &mut Ctx) -> TestResult {
    use septum_user::abi::invocation as inv;
    check_eq!(
        c.call(CNODE, inv::CNODE_COPY, &[1, 64, 1]).map(|_| ()),
        Err(Error::Range)
    );
    check_eq!(
        c.call(CNODE, inv::CNODE_DELETE, &[]).map(|_| ()),
        Err(Error::Range)
    );
    check_eq!(
        c.call(c.ut, inv::UNTYPED_RETYPE, &[4]).map(|_| ()),
        Err(Error::Range)
    );
    Ok(())
}

fn two_level(c: &mut Ctx) -> TestResult {
    // A CNode of 16 slots in root slot `sub`: pointer (sub << 4 | i) at
    // depth 64 names its slot i when the sub-CNode has no guard and the
    // root's guard leaves 52 - 4 bits for it... resolution goes through the
    // root (12 bits + 52 guard = 64), so a two-level pointer needs the
    // depth-limited form: (sub, then i) with depth 64 + 4 is impossible;
    // instead name it with depth 64 on the sub-CNode capability itself.
    let sub = c.make(ty::CNODE, 4)?;
    let ep = c.endpoint()?;
    c.ipc
        .cnode_copy(sub, (3, 4), CNODE, (ep, DEPTH), rights::ALL)?;
    let id = c.ipc.cnode_identify(sub, (3, 4))?;
    check_eq!(id.cap_type, cap::ENDPOINT);
    check_eq!(
        c.ipc.cnode_identify(sub, (16, 5)).map(|_| ()),
        Err(Error::InvalidCapability)
    );
    Ok(())
}
