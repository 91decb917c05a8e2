//! ASID pools issued as sub-ranges (`ASID_POOL_ISSUE`): how the root task
//! gives a guest kernel the right to make address spaces for its
//! processes without giving it the whole id space.

use septum_test_tasks::check_eq;
use septum_test_tasks::ktest::{ASID_POOL, CNODE, Ctx, DEPTH, Test, TestResult, rights, ty};
use septum_user::abi::Error;
use septum_user::abi::object::cap_type;

pub const TESTS: &[Test] = &[
    Test {
        name: "asid_pool_issue_assigns_only_its_range",
        run: sub_range,
    },
    Test {
        name: "asid_pool_issue_refuses_ranges_outside_its_parent",
        run: refused,
    },
    Test {
        name: "asid_pool_issue_goes_with_its_parent",
        run: revoked,
    },
];

/// Ids at the top of the space, which no other case reaches (the suite's
/// cases take the lowest free ids).
const FIRST: u64 = 4080;
const COUNT: u64 = 8;

fn sub_range(c: &mut Ctx) -> TestResult {
    let pool = c.slot();
    c.ipc
        .asid_pool_issue(ASID_POOL, FIRST, COUNT, CNODE, (pool, DEPTH))?;
    check_eq!(c.identify(pool)?.cap_type, cap_type::ASID_POOL);
    let mut seen = [false; COUNT as usize];
    for _ in 0..COUNT {
        let p = c.make(ty::PAGE_TABLE, 4)?;
        let a = c.ipc.asid_assign(pool, p)?;
        if !(FIRST..FIRST + COUNT).contains(&a) || seen[(a - FIRST) as usize] {
            septum_test_tasks::fail!(
                "id {a} is outside {FIRST}..{} or given twice",
                FIRST + COUNT
            );
        }
        seen[(a - FIRST) as usize] = true;
    }
    // The range is used up; the parent still has ids elsewhere.
    let p = c.make(ty::PAGE_TABLE, 4)?;
    check_eq!(c.ipc.asid_assign(pool, p), Err(Error::NotEnoughMemory));
    let a = c.ipc.asid_assign(ASID_POOL, p)?;
    septum_test_tasks::check!(a < FIRST, "the parent gave {a}");
    // A sub-pool issues from its own range only.
    let sub = c.slot();
    c.ipc
        .asid_pool_issue(pool, FIRST + 2, 2, CNODE, (sub, DEPTH))?;
    check_eq!(c.identify(sub)?.cap_type, cap_type::ASID_POOL);
    c.ipc.cnode_revoke(CNODE, (pool, DEPTH))?;
    check_eq!(c.identify(sub)?.cap_type, cap_type::NULL);
    c.ipc.cnode_delete(CNODE, (pool, DEPTH))?;
    Ok(())
}

fn refused(c: &mut Ctx) -> TestResult {
    let pool = c.slot();
    c.ipc
        .asid_pool_issue(ASID_POOL, FIRST, COUNT, CNODE, (pool, DEPTH))?;
    let dst = c.slot();
    let issue = |c: &mut Ctx, first: u64, count: u64| {
        c.ipc
            .asid_pool_issue(pool, first, count, CNODE, (dst, DEPTH))
    };
    check_eq!(issue(c, FIRST, 0), Err(Error::Range));
    check_eq!(issue(c, FIRST - 1, 2), Err(Error::Range));
    check_eq!(issue(c, FIRST + COUNT - 1, 2), Err(Error::Range));
    check_eq!(issue(c, u64::MAX, 2), Err(Error::Range));
    check_eq!(issue(c, FIRST, u64::MAX), Err(Error::Range));
    check_eq!(
        c.ipc
            .asid_pool_issue(ASID_POOL, 4095, 2, CNODE, (dst, DEPTH)),
        Err(Error::Range)
    );
    // An occupied destination, and a capability of another type.
    check_eq!(
        c.ipc.asid_pool_issue(pool, FIRST, 1, CNODE, (pool, DEPTH)),
        Err(Error::SlotOccupied)
    );
    let f = c.make(ty::FRAME, 0)?;
    check_eq!(
        c.ipc.asid_pool_issue(f, FIRST, 1, CNODE, (dst, DEPTH)),
        Err(Error::IllegalOperation)
    );
    check_eq!(c.identify(dst)?.cap_type, cap_type::NULL);
    // The whole range is fine, and so is a copy of a pool.
    issue(c, FIRST, COUNT)?;
    let copy = c.slot();
    c.ipc
        .cnode_copy(CNODE, (copy, DEPTH), CNODE, (dst, DEPTH), rights::ALL)?;
    c.ipc.cnode_revoke(CNODE, (pool, DEPTH))?;
    check_eq!(c.identify(copy)?.cap_type, cap_type::NULL);
    c.ipc.cnode_delete(CNODE, (pool, DEPTH))?;
    Ok(())
}

/// Revoking the parent takes the issued pool; address spaces that got ids
/// from it keep them until they go, and the ids are free again after.
fn revoked(c: &mut Ctx) -> TestResult {
    let pool = c.slot();
    c.ipc
        .asid_pool_issue(ASID_POOL, FIRST, 1, CNODE, (pool, DEPTH))?;
    let p = c.make(ty::PAGE_TABLE, 4)?;
    check_eq!(c.ipc.asid_assign(pool, p), Ok(FIRST));
    c.ipc.cnode_delete(CNODE, (pool, DEPTH))?;
    check_eq!(c.identify(p)?.cap_type, cap_type::PAGE_TABLE);
    // A second pool over the same id finds it taken until the PML4 goes.
    c.ipc
        .asid_pool_issue(ASID_POOL, FIRST, 1, CNODE, (pool, DEPTH))?;
    let q = c.make(ty::PAGE_TABLE, 4)?;
    check_eq!(c.ipc.asid_assign(pool, q), Err(Error::NotEnoughMemory));
    c.ipc.cnode_delete(CNODE, (p, DEPTH))?;
    check_eq!(c.ipc.asid_assign(pool, q), Ok(FIRST));
    c.ipc.cnode_delete(CNODE, (pool, DEPTH))?;
    Ok(())
}
