//! What the kernel caches about address spaces: the loaded CR3 (a new
//! PML4 at a destroyed one's physical address must not inherit its
//! translations) and ASIDs (a freed ASID handed to a new PML4 must not
//! let capabilities that still remember the old space touch the new one).

use crate::common::{
    MINI_CODE, MINI_DATA, MINI_DATA2, Mini, bare_thread, blob, code_frame, expect, handler,
    mini_space, mini_space_in, no_fault, pf, read, resume, shared_frame, start_at, write,
};
use core::sync::atomic::{AtomicU16, AtomicU64, Ordering::Relaxed};
use septum_test_tasks::ktest::{
    ASID_POOL, CNODE, Ctx, DEPTH, SELF_VSPACE, Test, TestResult, cap, rights, ty,
};
use septum_test_tasks::{check, check_eq, fail};
use septum_user::abi::fault::{self, Kind};
use septum_user::abi::invocation as inv;
use septum_user::abi::syscall as nr;
use septum_user::syscall::info;

pub const TESTS: &[Test] = &[
    Test {
        name: "attack_pml4_at_reused_address_has_no_stale_translation",
        run: reused_pml4,
    },
    Test {
        name: "attack_asid_reuse_stale_caps_touch_nothing",
        run: reused_asid,
    },
    Test {
        name: "attack_asid_tag_survives_a_table_in_pml4_slot_511",
        run: tag_slot_511,
    },
    Test {
        name: "attack_asid_freed_with_a_table_in_pml4_slot_511",
        run: freed_with_slot_511,
    },
    Test {
        name: "attack_asid_pool_exhausted_then_freed_at_its_edges",
        run: asids_exhausted,
    },
];

const OLD: u64 = 0x01d0_01d0_01d0_01d0;
const NEW: u64 = 0x0e30_0e30_0e30_0e30;

/// Reads `[rbx]` into `[r13]`, then makes the call set up in rax, rdi,
/// rsi, rdx, r10; if it ever runs on, stores 1 at `[r13 + 8]` and exits.
#[unsafe(naked)]
unsafe extern "C" fn read_store_call() -> ! {
    core::arch::naked_asm!(
        "mov rax, qword ptr [rbx]",
        "mov qword ptr [r13], rax",
        "mov eax, {call}",
        "syscall",
        "mov qword ptr [r13 + 8], 1",
        "mov eax, {exit}",
        "syscall",
        "ud2",
        call = const nr::CALL,
        exit = const nr::THREAD_EXIT,
    )
}

/// Reads `[rbx]` into `[r13]` and exits.
#[unsafe(naked)]
unsafe extern "C" fn read_store_exit() -> ! {
    core::arch::naked_asm!(
        "mov rax, qword ptr [rbx]",
        "mov qword ptr [r13], rax",
        "mov eax, {exit}",
        "syscall",
        "ud2",
        exit = const nr::THREAD_EXIT,
    )
}

/// A frame holding `value`, mapped read-only at `va` of `vspace` (the
/// root wrote it through a mapping of its own that is gone again).
fn data_frame(
    c: &mut Ctx,
    vspace: u64,
    va: u64,
    value: u64,
) -> Result<u64, septum_user::abi::Error> {
    let f = c.make(ty::FRAME, 0)?;
    let scratch = c.page_addr();
    c.ipc.frame_map(f, SELF_VSPACE, scratch, 1)?;
    write(scratch, value);
    c.ipc.frame_unmap(f)?;
    c.ipc.frame_map(f, vspace, va, 0)?;
    Ok(f)
}

/// A thread runs in a PML4 made from a 4 KiB untyped, reads a frame
/// (loading its translation), and destroys its own address space by
/// revoking that untyped. A new PML4 made from the untyped lies at the
/// same physical address; a thread there reading the same address, which
/// nothing maps in the new space, must fault — not read the old frame
/// through a translation left over from the old space.
fn reused_pml4(c: &mut Ctx) -> TestResult {
    let h = handler(c)?;
    let u = c.make(ty::UNTYPED, 12)?;
    let p1 = c.slot();
    c.ipc.retype(u, ty::PAGE_TABLE, 4, CNODE, p1, 1)?;
    let s1: Mini = mini_space_in(c, p1)?;
    code_frame(c, p1, MINI_CODE, 0, blob(read_store_call, 48))?;
    let (_, out1) = shared_frame(c, p1, MINI_DATA)?;
    data_frame(c, p1, MINI_DATA2, OLD)?;
    let t1 = bare_thread(c, "ka-old-space", p1, h.ep)?;
    start_at(
        c,
        t1,
        MINI_CODE,
        &[
            (fault::W_RBX, MINI_DATA2),
            (fault::W_R13, MINI_DATA),
            (fault::W_RDI, CNODE),
            (fault::W_RSI, info(inv::CNODE_REVOKE, 2)),
            (fault::W_RDX, u),
            (fault::W_R10, DEPTH),
        ],
    )?;
    no_fault(c, &h)?;
    check_eq!(read(out1), OLD);
    check_eq!(c.identify(p1)?.cap_type, cap::NULL);
    check!(
        read(out1 + 8) == 0,
        "the thread ran on after destroying its own address space"
    );
    let p2 = c.slot();
    c.ipc.retype(u, ty::PAGE_TABLE, 4, CNODE, p2, 1)?;
    let s2 = mini_space_in(c, p2)?;
    septum_user::println!(
        "ktest: old space had ASID {}, the new one at its address has ASID {}",
        s1.asid,
        s2.asid
    );
    code_frame(c, p2, MINI_CODE, 0, blob(read_store_exit, 32))?;
    let (_, out2) = shared_frame(c, p2, MINI_DATA)?;
    let t2 = bare_thread(c, "ka-new-space", p2, h.ep)?;
    start_at(
        c,
        t2,
        MINI_CODE,
        &[(fault::W_RBX, MINI_DATA2), (fault::W_R13, MINI_DATA)],
    )?;
    let m = match crate::common::poll_fault(c, &h)? {
        Some(m) => m,
        None => fail!(
            "a thread in the new PML4 read {:#x} at an address only the old one mapped",
            read(out2)
        ),
    };
    expect(&m, Kind::PageFault, 14)?;
    check_eq!(m.addr(), MINI_DATA2);
    check_eq!(m.w[fault::W_ERROR], pf::USER);
    data_frame(c, p2, MINI_DATA2, NEW)?;
    resume(c, &h)?;
    no_fault(c, &h)?;
    check_eq!(read(out2), NEW);
    Ok(())
}

/// An address space with a frame mapped is destroyed; its ASID goes to a
/// new one, which maps its own tables and a frame at the same address.
/// The old space's table and frame capabilities still name (ASID, address)
/// and can be unmapped — which must leave the new space's mappings alone.
fn reused_asid(c: &mut Ctx) -> TestResult {
    let h = handler(c)?;
    let s1 = mini_space(c)?;
    let f1 = data_frame(c, s1.vspace, MINI_DATA2, OLD)?;
    c.ipc.cnode_delete(CNODE, (s1.vspace, DEPTH))?;
    let s2 = mini_space(c)?;
    check!(
        s2.asid == s1.asid,
        "ASID {} not reused (new space got {}): nothing to attack",
        s1.asid,
        s2.asid
    );
    let f2 = data_frame(c, s2.vspace, MINI_DATA2, NEW)?;
    code_frame(c, s2.vspace, MINI_CODE, 0, blob(read_store_exit, 32))?;
    let (_, out) = shared_frame(c, s2.vspace, MINI_DATA)?;
    // Every stale capability of the old space, unmapped.
    check_eq!(c.identify(f1)?.mapped, true);
    c.ipc.frame_unmap(f1)?;
    for t in s1.tables.iter().rev() {
        c.ipc.page_table_unmap(*t)?;
    }
    for s in [f2, s2.tables[0], s2.tables[1], s2.tables[2]] {
        check!(
            c.identify(s)?.mapped,
            "slot {} of the new space unmapped",
            s
        );
    }
    let t = bare_thread(c, "ka-asid-reuse", s2.vspace, h.ep)?;
    start_at(
        c,
        t,
        MINI_CODE,
        &[(fault::W_RBX, MINI_DATA2), (fault::W_R13, MINI_DATA)],
    )?;
    no_fault(c, &h)?;
    check_eq!(read(out), NEW);
    // The old frame's capability is free again.
    c.ipc.frame_map(f1, s2.vspace, MINI_CODE + 0x3000, 0)?;
    Ok(())
}

/// The top of the upper half: PML4 slot 511, where a Linux kernel's text
/// lives (0xffff_ffff_8000_0000). User memory by the ABI (only slots
/// 257–271 are the kernel's), and the slot the kernel once kept a PML4's
/// ASID in, in the non-present entry.
const SLOT_511: u64 = 0xffff_ff80_0000_0000;
const LINUX_TEXT: u64 = 0xffff_ffff_8000_0000;

/// A table in PML4 slot 511 is the task's own memory: it must neither
/// erase nor fake the record of the PML4's ASID. A copy of the PML4
/// capability made before the assignment knows nothing of it; once the
/// table is unmapped again, that copy must still not get a second ASID
/// for the same PML4 (whose first ASID would then outlive the PML4 in the
/// kernel's table). And slot 511 stays usable: a frame mapped at a Linux
/// kernel's text address is read there.
fn tag_slot_511(c: &mut Ctx) -> TestResult {
    let h = handler(c)?;
    let pml4 = c.make(ty::PAGE_TABLE, 4)?;
    let early = c.slot();
    c.ipc
        .cnode_copy(CNODE, (early, DEPTH), CNODE, (pml4, DEPTH), rights::ALL)?;
    let s = mini_space_in(c, pml4)?;
    let high = [
        c.make(ty::PAGE_TABLE, 3)?,
        c.make(ty::PAGE_TABLE, 2)?,
        c.make(ty::PAGE_TABLE, 1)?,
    ];
    c.ipc.page_table_map(high[0], pml4, SLOT_511)?;
    check_eq!(
        c.ipc.asid_assign(ASID_POOL, early),
        Err(septum_user::abi::Error::IllegalOperation)
    );
    c.ipc.page_table_map(high[1], pml4, LINUX_TEXT)?;
    c.ipc.page_table_map(high[2], pml4, LINUX_TEXT)?;
    data_frame(c, pml4, LINUX_TEXT, NEW)?;
    code_frame(c, pml4, MINI_CODE, 0, blob(read_store_exit, 32))?;
    let (_, out) = shared_frame(c, pml4, MINI_DATA)?;
    let t = bare_thread(c, "ka-slot-511", pml4, h.ep)?;
    start_at(
        c,
        t,
        MINI_CODE,
        &[(fault::W_RBX, LINUX_TEXT), (fault::W_R13, MINI_DATA)],
    )?;
    no_fault(c, &h)?;
    check_eq!(read(out), NEW);
    // The tables go again (the PDPT's entry in slot 511 is cleared).
    c.ipc.page_table_unmap(high[0])?;
    let second = c.ipc.asid_assign(ASID_POOL, early);
    check!(
        second == Err(septum_user::abi::Error::IllegalOperation),
        "a copy made before the assignment gave PML4 (ASID {}) a second ASID: {:?}",
        s.asid,
        second
    );
    Ok(())
}

/// An address space with a table in slot 511 is destroyed: its ASID must
/// be free again (the lowest free one, so the next space gets it), not
/// lost with the kernel's table still naming the freed PML4.
fn freed_with_slot_511(c: &mut Ctx) -> TestResult {
    let s1 = mini_space(c)?;
    let pdpt = c.make(ty::PAGE_TABLE, 3)?;
    c.ipc.page_table_map(pdpt, s1.vspace, SLOT_511)?;
    c.ipc.cnode_delete(CNODE, (s1.vspace, DEPTH))?;
    let s2 = mini_space(c)?;
    check!(
        s2.asid == s1.asid,
        "ASID {} of the destroyed space was not freed: the next space got {}",
        s1.asid,
        s2.asid
    );
    Ok(())
}

/// Which slot of the big CNode holds the PML4 with each ASID (0: none).
static SLOT_OF: [AtomicU16; 4096] = [const { AtomicU16::new(0) }; 4096];
/// ASIDs seen, a bit each.
static SEEN: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];

/// Every ASID the pool has: each assignment is in 1..=4095 and new, the
/// pool ends with `NotEnoughMemory` and ASID 4095 among those given;
/// freeing one in the middle, the last (4095) and the lowest given makes
/// exactly that one the next assigned.
fn asids_exhausted(c: &mut Ctx) -> TestResult {
    use septum_user::abi::Error;
    for w in &SEEN {
        w.store(0, Relaxed);
    }
    for s in &SLOT_OF {
        s.store(0, Relaxed);
    }
    // 4,096 PML4s (16 MiB) in a CNode of 4,096 slots.
    let ut = match c.untyped_from_boot(24) {
        Ok(u) => u,
        Err(Error::NotEnoughMemory) => {
            septum_test_tasks::skip!("no 16 MiB of untyped memory for 4,096 PML4s")
        }
        Err(e) => return Err(e.into()),
    };
    let big = c.make(ty::CNODE, 12)?;
    for first in (0..4096).step_by(256) {
        c.ipc.retype(ut, ty::PAGE_TABLE, 4, big, first, 256)?;
    }
    let at = c.slot();
    // Assign through a root slot: move in, assign, move back.
    let assign = |c: &mut Ctx, i: u64| -> Result<u64, Error> {
        c.ipc.cnode_move(CNODE, (at, DEPTH), big, (i, 12))?;
        let r = c.ipc.asid_assign(ASID_POOL, at);
        c.ipc.cnode_move(big, (i, 12), CNODE, (at, DEPTH))?;
        r
    };
    let (mut given, mut lowest, mut highest) = (0u64, u64::MAX, 0u64);
    let mut next = 0;
    let end = loop {
        if next == 4095 {
            fail!("4,095 PML4s got ASIDs and the pool is not empty");
        }
        match assign(c, next) {
            Ok(a) => {
                check!((1..4096).contains(&a), "ASID {a} assigned");
                let (w, b) = (a as usize / 64, a % 64);
                check!(
                    SEEN[w].fetch_or(1 << b, Relaxed) & (1 << b) == 0,
                    "ASID {a} assigned twice"
                );
                SLOT_OF[a as usize].store(next as u16, Relaxed);
                given += 1;
                lowest = lowest.min(a);
                highest = highest.max(a);
                next += 1;
            }
            Err(e) => break e,
        }
    };
    check_eq!(end, Error::NotEnoughMemory);
    check!(given >= 4000, "only {given} ASIDs before the pool ran out");
    check_eq!(highest, 4095);
    // Free one in the middle, the last and the lowest: each is exactly
    // what the next PML4 gets, and the pool is empty again after it.
    let mid = 2048;
    check!(
        SEEN[mid / 64].load(Relaxed) & (1 << (mid % 64)) != 0,
        "ASID {mid} was not among those given"
    );
    for freed in [mid as u64, 4095, lowest] {
        let slot = u64::from(SLOT_OF[freed as usize].load(Relaxed));
        c.ipc.cnode_delete(big, (slot, 12))?;
        let p = c.make(ty::PAGE_TABLE, 4)?;
        let got = c.ipc.asid_assign(ASID_POOL, p)?;
        check!(
            got == freed,
            "freed ASID {freed}, the next assignment got {got}"
        );
        let q = c.make(ty::PAGE_TABLE, 4)?;
        check_eq!(c.ipc.asid_assign(ASID_POOL, q), Err(Error::NotEnoughMemory));
        c.ipc.cnode_delete(CNODE, (q, DEPTH))?;
    }
    c.ipc.cnode_revoke(CNODE, (ut, DEPTH))?;
    Ok(())
}
