//! The authority behind a fault handler and behind register writes: a
//! fault is delivered like a `Call`, and its handler gets the right to set
//! the thread's registers, so a fault endpoint needs what a `Call` needs;
//! register writes apply every base word they carry, never half of them.

use crate::common::bare_thread;
use septum_test_tasks::check_eq;
use septum_test_tasks::ktest::{CNODE, Ctx, DEPTH, SELF_VSPACE, Test, TestResult, rights, ty};
use septum_user::abi::Error;
use septum_user::abi::fault;

pub const TESTS: &[Test] = &[
    Test {
        name: "attack_fault_endpoint_needs_call_rights",
        run: fault_endpoint_rights,
    },
    Test {
        name: "attack_write_registers_applies_a_lone_fs_base",
        run: lone_fs_base,
    },
];

/// A thread may not get a fault endpoint its holder could not `Call`
/// through: write alone, or grant without write, is refused with
/// `MissingRight` and leaves the thread without one; write with grant or
/// grant-reply is accepted.
fn fault_endpoint_rights(c: &mut Ctx) -> TestResult {
    let ep = c.endpoint()?;
    let t = bare_thread(c, "victim", SELF_VSPACE, 0)?;
    let cases = [
        (rights::WRITE, Err(Error::MissingRight)),
        (rights::READ | rights::GRANT, Err(Error::MissingRight)),
        (rights::READ | rights::WRITE, Err(Error::MissingRight)),
        (rights::WRITE | rights::GRANT_REPLY, Ok(())),
        (rights::WRITE | rights::GRANT, Ok(())),
    ];
    for (r, want) in cases {
        let copy = c.slot();
        c.ipc
            .cnode_mint(CNODE, (copy, DEPTH), CNODE, (ep, DEPTH), r, 0)?;
        let got = c.ipc.tcb_configure(t, CNODE, SELF_VSPACE, 0, 0, copy);
        check_eq!((r, got), (r, want));
    }
    Ok(())
}

/// TCB_WRITE_REGISTERS with 19 words carries an FS base and no GS base:
/// the FS base is applied (until issue 7 it was dropped without a word)
/// and the GS base kept; with 20 both are.
fn lone_fs_base(c: &mut Ctx) -> TestResult {
    let t = c.make(ty::TCB, 0)?;
    c.ipc.tcb_configure(t, CNODE, SELF_VSPACE, 0, 0, 0)?;
    c.ipc.tcb_set_tls(t, 0x1000, 0x2000)?;
    let mut regs = [0u64; 20];
    regs[fault::W_RIP] = 0x40_0000;
    regs[fault::W_FS_BASE] = 0x3000;
    c.ipc.tcb_write_registers(t, &regs[..19])?;
    let got = c.ipc.tcb_read_registers(t)?;
    check_eq!(
        (got[fault::W_FS_BASE], got[fault::W_GS_BASE]),
        (0x3000, 0x2000)
    );
    regs[fault::W_GS_BASE] = 0x4000;
    c.ipc.tcb_write_registers(t, &regs)?;
    let got = c.ipc.tcb_read_registers(t)?;
    check_eq!(
        (got[fault::W_FS_BASE], got[fault::W_GS_BASE]),
        (0x3000, 0x4000)
    );
    Ok(())
}
