//! Isolation holes an adversarial review found, kept closed: each case is
//! the sequence that used to break out, asserting it no longer does.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use septum_test_tasks::check_eq;
use septum_test_tasks::ktest::{
    ASID_POOL, CNODE, Ctx, DEPTH, SELF_TCB, SELF_VSPACE, Test, TestResult, rights, ty,
};
use septum_user::abi::{Error, fault};

pub const TESTS: &[Test] = &[
    Test {
        name: "isolation_thread_without_address_space_never_runs",
        run: no_space,
    },
    Test {
        name: "isolation_unmapped_page_table_maps_nothing",
        run: table_cleared,
    },
    Test {
        name: "isolation_asid_never_outlives_its_pml4",
        run: asid_freed,
    },
    Test {
        name: "isolation_notification_label_cannot_be_forged",
        run: forged_label,
    },
];

static FLAG: AtomicU64 = AtomicU64::new(0);

extern "C" fn intruder(_: u64, _: u64) -> ! {
    FLAG.store(0xdead, Relaxed);
    septum_user::syscall::thread_exit()
}

/// A thread resumed with an empty address space whose vspace capability is
/// then revoked away must not run at all — before the fix it ran in the
/// address space loaded last (here the root's) and wrote FLAG.
fn no_space(c: &mut Ctx) -> TestResult {
    FLAG.store(0, Relaxed);
    let p = c.make(ty::PAGE_TABLE, 4)?;
    let t = c.make(ty::TCB, 0)?;
    c.ipc.tcb_configure(t, CNODE, p, 0, 0, 0)?;
    c.ipc.tcb_set_priority(t, SELF_TCB, 100)?;
    // A real stack in the root's space: were the thread to run there, it
    // would get as far as writing FLAG.
    let (_, stack) = c.mapped_frame()?;
    let mut regs = [0u64; 18];
    regs[fault::W_RIP] = intruder as *const () as u64;
    regs[fault::W_RSP] = stack + 4096 - 8;
    regs[fault::W_RFLAGS] = 0x202;
    c.ipc.tcb_write_registers(t, &regs)?;
    c.ipc.tcb_resume(t)?;
    c.ipc.cnode_revoke(CNODE, (p, DEPTH))?;
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 1)?;
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 255)?;
    check_eq!(FLAG.load(Relaxed), 0);
    // It stays stopped: resuming it without a space is refused.
    check_eq!(c.ipc.tcb_resume(t), Err(Error::IllegalOperation));
    Ok(())
}

/// Unmapping a page table clears it: mapped elsewhere again, it maps
/// nothing, so the address where a frame was is free for another frame.
/// Before the fix the old frame stayed mapped there, beyond its
/// capability's reach, and its memory could be reused under the mapping.
fn table_cleared(c: &mut Ctx) -> TestResult {
    // Two 2 MiB regions inside the framework's scratch page directory.
    let (va1, va2) = (0x40_0020_0000u64, 0x40_0040_0000u64);
    let pt = c.make(ty::PAGE_TABLE, 1)?;
    c.ipc.page_table_map(pt, SELF_VSPACE, va1)?;
    let f = c.make(ty::FRAME, 0)?;
    c.ipc.frame_map(f, SELF_VSPACE, va1, 1)?;
    septum_test_tasks::ktest::poke(va1, 7);
    c.ipc.page_table_unmap(pt)?;
    c.ipc.page_table_map(pt, SELF_VSPACE, va2)?;
    // The old frame's entry is gone with the table's contents.
    let g = c.make(ty::FRAME, 0)?;
    c.ipc.frame_map(g, SELF_VSPACE, va2, 1)?;
    // And the old frame's capability can be unmapped and mapped anew.
    c.ipc.frame_unmap(f)?;
    c.ipc.frame_map(f, SELF_VSPACE, va2 + 4096, 1)?;
    Ok(())
}

/// A copy of a PML4 capability made before the PML4 got its ASID cannot get
/// it a second one, and when that copy is the last capability to go, the
/// ASID is free again (before the fix it stayed, pointing at freed memory).
fn asid_freed(c: &mut Ctx) -> TestResult {
    let p = c.make(ty::PAGE_TABLE, 4)?;
    let p0 = c.slot();
    c.ipc
        .cnode_copy(CNODE, (p0, DEPTH), CNODE, (p, DEPTH), rights::ALL)?;
    let a = c.ipc.asid_assign(ASID_POOL, p)?;
    check_eq!(
        c.ipc.asid_assign(ASID_POOL, p0),
        Err(Error::IllegalOperation)
    );
    c.ipc.cnode_delete(CNODE, (p, DEPTH))?;
    c.ipc.cnode_delete(CNODE, (p0, DEPTH))?;
    // The lowest free ASID is `a` again.
    let q = c.make(ty::PAGE_TABLE, 4)?;
    check_eq!(c.ipc.asid_assign(ASID_POOL, q), Ok(a));
    Ok(())
}

/// The label that says "your bound notification fired" is the kernel's: a
/// task sending it could make a server treat its call as a signal and lose
/// the reply object bound to it.
fn forged_label(c: &mut Ctx) -> TestResult {
    use septum_user::abi::ipc::NOTIFICATION_LABEL;
    use septum_user::ipc::Message;
    let ep = c.endpoint()?;
    let forged = Message::new(NOTIFICATION_LABEL, &[]);
    check_eq!(c.ipc.send(ep, &forged), Err(Error::Range));
    check_eq!(c.ipc.nb_send(ep, &forged), Err(Error::Range));
    check_eq!(c.ipc.call(ep, &forged).map(|_| ()), Err(Error::Range));
    // Any other label still goes (with nobody waiting: WouldBlock).
    let other = Message::new(NOTIFICATION_LABEL - 1, &[]);
    check_eq!(c.ipc.nb_send(ep, &other), Err(Error::WouldBlock));
    Ok(())
}
