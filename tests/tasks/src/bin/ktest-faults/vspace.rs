//! Address spaces: mapping frames and page tables, rights, refused
//! addresses, unmapping (no stale TLB entries) and teardown by delete and
//! revoke. What a thread sees is checked by touching memory; a touch that
//! must fault is done by a thread whose faults come to the root.

use crate::common::{
    AFTER, DONE, FAULT_AT, V0, expect, fault_thread, get, handler, next_fault, no_fault, pf, reset,
    resume, resume_regs, set,
};
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use septum_test_tasks::ktest::{
    ASID_POOL, CNODE, Ctx, DEPTH, SELF_VSPACE, Test, TestResult, cap, rights, thread_ipc, ty,
};
use septum_test_tasks::{check, check_eq};
use septum_user::abi::Error;
use septum_user::abi::fault::{self, Kind};
use septum_user::abi::invocation as inv;
use septum_user::abi::layout::{KERNEL_SPACE_END, KERNEL_SPACE_START};
use septum_user::syscall::thread_exit;

pub const TESTS: &[Test] = &[
    Test {
        name: "vspace_map_rw_and_alias",
        run: map_rw_alias,
    },
    Test {
        name: "vspace_read_only_mapping_refuses_writes",
        run: read_only,
    },
    Test {
        name: "vspace_unmap_then_touch_faults_at_once",
        run: unmap_then_touch,
    },
    Test {
        name: "vspace_map_kernel_range_refused",
        run: kernel_range,
    },
    Test {
        name: "vspace_map_noncanonical_refused",
        run: noncanonical,
    },
    Test {
        name: "vspace_map_misaligned_refused",
        run: misaligned,
    },
    Test {
        name: "vspace_map_same_cap_twice_refused",
        run: twice,
    },
    Test {
        name: "vspace_copy_at_occupied_address_refused",
        run: occupied,
    },
    Test {
        name: "vspace_writable_mapping_needs_write_right",
        run: write_right,
    },
    Test {
        name: "vspace_map_needs_asid",
        run: needs_asid,
    },
    Test {
        name: "vspace_map_needs_page_tables",
        run: needs_tables,
    },
    Test {
        name: "vspace_page_table_levels",
        run: table_levels,
    },
    Test {
        name: "vspace_page_table_unmap_then_touch_faults",
        run: table_unmap,
    },
    Test {
        name: "vspace_delete_mapped_frame_unmaps",
        run: delete_unmaps,
    },
    Test {
        name: "vspace_revoke_untyped_unmaps_all_copies",
        run: revoke_unmaps,
    },
    Test {
        name: "vspace_frame_address_aligned",
        run: frame_address,
    },
    Test {
        name: "vspace_2mib_frame_mapping",
        run: huge_frame,
    },
];

const MAGIC: u64 = 0x5eb7_0000_a11a_5ed0;
const RW: u64 = 1;
const RO: u64 = 0;

/// Addresses a touching thread reads, and what it read.
static ADDRS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
static VALS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

fn set_addrs(addrs: &[u64]) {
    for (i, a) in ADDRS.iter().enumerate() {
        a.store(addrs.get(i).copied().unwrap_or(0), SeqCst);
        VALS[i].store(u64::MAX, SeqCst);
    }
}

fn val(i: usize) -> u64 {
    VALS[i].load(SeqCst)
}

/// Reads the first `n` of `ADDRS` into `VALS`, then sets `DONE`.
extern "C" fn touch_list(n: u64, _buffer: u64) -> ! {
    for i in 0..(n as usize).min(ADDRS.len()) {
        let a = ADDRS[i].load(SeqCst);
        // SAFETY: the root names addresses of its own address space; a
        // read of an unmapped one faults to the root, which maps a frame.
        VALS[i].store(unsafe { (a as *const u64).read_volatile() }, SeqCst);
    }
    set(DONE, 1);
    thread_exit()
}

fn read(va: u64) -> u64 {
    // SAFETY: callers pass addresses the case has mapped readable.
    unsafe { (va as *const u64).read_volatile() }
}

fn write(va: u64, v: u64) {
    // SAFETY: callers pass addresses the case has mapped writable.
    unsafe { (va as *mut u64).write_volatile(v) }
}

fn frame(c: &mut Ctx) -> Result<u64, Error> {
    c.make(ty::FRAME, 0)
}

fn copy(c: &mut Ctx, src: u64, r: u64) -> Result<u64, Error> {
    let s = c.slot();
    c.ipc
        .cnode_mint(CNODE, (s, DEPTH), CNODE, (src, DEPTH), r, 0)?;
    Ok(s)
}

/// (mapped, address) of a frame or page table, from identify.
fn mapping(c: &mut Ctx, slot: u64) -> Result<(bool, u64), Error> {
    let m = c.call(CNODE, inv::CNODE_IDENTIFY, &[slot, DEPTH])?;
    Ok((m.word(4) != 0, m.word(5)))
}

fn map_rw_alias(c: &mut Ctx) -> TestResult {
    let (va, va2) = (c.page_addr(), c.page_addr());
    let f = frame(c)?;
    c.ipc.frame_map(f, SELF_VSPACE, va, RW)?;
    check_eq!(mapping(c, f)?, (true, va));
    check_eq!(read(va), 0);
    write(va, MAGIC);
    check_eq!(read(va), MAGIC);
    // A second capability maps the same memory elsewhere.
    let f2 = copy(c, f, rights::ALL)?;
    check_eq!(mapping(c, f2)?, (false, 0));
    c.ipc.frame_map(f2, SELF_VSPACE, va2, RW)?;
    check_eq!(read(va2), MAGIC);
    write(va2 + 8, 42);
    check_eq!(read(va + 8), 42);
    c.ipc.frame_unmap(f)?;
    check_eq!(mapping(c, f)?, (false, 0));
    check_eq!(read(va2), MAGIC);
    // Unmapping an unmapped frame is harmless.
    c.ipc.frame_unmap(f)?;
    Ok(())
}

/// Tries to write 0xbad to `addr` (skipped by the handler), then reads it into `V0`.
extern "C" fn write_then_read(addr: u64, _buffer: u64) -> ! {
    // SAFETY: the store targets a read-only page and faults; the root
    // resumes the thread at label 3. The label addresses go into shared
    // atomics; every register written is declared.
    unsafe {
        marked_asm!(
            [] ["mov qword ptr [{p}], {v}"] []
            p = in(reg) addr,
            v = in(reg) 0xbad_u64,
        );
    }
    // SAFETY: the page is mapped readable.
    set(V0, unsafe { (addr as *const u64).read_volatile() });
    set(DONE, 1);
    thread_exit()
}

fn read_only(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let (ro, rw) = (c.page_addr(), c.page_addr());
    let f = frame(c)?;
    let f2 = copy(c, f, rights::ALL)?;
    c.ipc.frame_map(f, SELF_VSPACE, ro, RO)?;
    c.ipc.frame_map(f2, SELF_VSPACE, rw, RW)?;
    write(rw, MAGIC);
    check_eq!(read(ro), MAGIC);
    fault_thread(c, &h, "kf-ro", write_then_read, ro)?;
    let m = next_fault(c, &h)?;
    expect(&m, Kind::PageFault, 14, pf::PRESENT | pf::WRITE | pf::USER)?;
    check_eq!(m.w[fault::W_ADDR], ro);
    check_eq!(m.w[fault::W_RIP], get(FAULT_AT));
    let mut r = m.regs();
    r[fault::W_RIP] = get(AFTER);
    resume_regs(c, &h, &r)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    check_eq!(get(V0), MAGIC);
    check_eq!(read(rw), MAGIC);
    Ok(())
}

/// Reads `ADDRS[0]` into `VALS[0]`, unmaps frame `frame` itself, reads
/// again into `VALS[1]`; the unmap's status goes to `VALS[2]`.
extern "C" fn unmap_self(frame: u64, buffer: u64) -> ! {
    let mut ipc = thread_ipc(buffer);
    let a = ADDRS[0].load(SeqCst);
    // SAFETY: mapped by the root before the thread starts.
    VALS[0].store(unsafe { (a as *const u64).read_volatile() }, SeqCst);
    let status = match ipc.frame_unmap(frame) {
        Ok(()) => 0,
        Err(e) => e as u64,
    };
    VALS[2].store(status, SeqCst);
    // SAFETY: unmapped now: the read faults and the root maps another frame.
    VALS[1].store(unsafe { (a as *const u64).read_volatile() }, SeqCst);
    set(DONE, 1);
    thread_exit()
}

fn unmap_then_touch(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let va = c.page_addr();
    let f = frame(c)?;
    c.ipc.frame_map(f, SELF_VSPACE, va, RW)?;
    write(va, MAGIC);
    set_addrs(&[va]);
    fault_thread(c, &h, "kf-unmap-self", unmap_self, f)?;
    let m = next_fault(c, &h)?;
    expect(&m, Kind::PageFault, 14, pf::USER)?;
    check_eq!(m.w[fault::W_ADDR], va);
    check_eq!(val(0), MAGIC);
    check_eq!(val(2), 0);
    check_eq!(mapping(c, f)?, (false, 0));
    // Another frame there now: the thread must see it, not the old one.
    let g = frame(c)?;
    c.ipc.frame_map(g, SELF_VSPACE, va, RW)?;
    write(va, 0x600d);
    resume(c, &h)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    check_eq!(val(1), 0x600d);
    Ok(())
}

fn kernel_range(c: &mut Ctx) -> TestResult {
    let f = frame(c)?;
    for va in [
        KERNEL_SPACE_START,
        0xffff_8400_0000_0000,
        KERNEL_SPACE_END - 4096,
    ] {
        check!(
            c.ipc.frame_map(f, SELF_VSPACE, va, RW) == Err(Error::InvalidAddress),
            "frame map at {va:#x} not refused as invalid address"
        );
    }
    let pdpt = c.make(ty::PAGE_TABLE, 3)?;
    check_eq!(
        c.ipc.page_table_map(pdpt, SELF_VSPACE, KERNEL_SPACE_START),
        Err(Error::InvalidAddress)
    );
    check_eq!(
        c.ipc
            .page_table_map(pdpt, SELF_VSPACE, KERNEL_SPACE_END - (1 << 39)),
        Err(Error::InvalidAddress)
    );
    check_eq!(mapping(c, f)?, (false, 0));
    check_eq!(mapping(c, pdpt)?, (false, 0));
    // Just outside the kernel's slots the upper half is user space: the
    // address is fine, only the page tables are missing.
    check_eq!(
        c.ipc.frame_map(f, SELF_VSPACE, KERNEL_SPACE_END, RW),
        Err(Error::IllegalOperation)
    );
    check_eq!(
        c.ipc
            .frame_map(f, SELF_VSPACE, KERNEL_SPACE_START - 4096, RW),
        Err(Error::IllegalOperation)
    );
    Ok(())
}

fn noncanonical(c: &mut Ctx) -> TestResult {
    let f = frame(c)?;
    for va in [
        0x0000_8000_0000_0000,
        0x0001_0000_0000_0000,
        0x8000_0000_0000_0000,
        0xffff_0000_0000_0000,
        0xffff_7fff_ffff_f000,
    ] {
        check!(
            c.ipc.frame_map(f, SELF_VSPACE, va, RW) == Err(Error::InvalidAddress),
            "frame map at {va:#x} not refused as invalid address"
        );
    }
    let pt = c.make(ty::PAGE_TABLE, 1)?;
    check_eq!(
        c.ipc.page_table_map(pt, SELF_VSPACE, 0x0000_8000_0000_0000),
        Err(Error::InvalidAddress)
    );
    check_eq!(mapping(c, f)?, (false, 0));
    check_eq!(mapping(c, pt)?, (false, 0));
    Ok(())
}

fn misaligned(c: &mut Ctx) -> TestResult {
    let base = c.page_addr();
    let va = c.page_addr();
    let f = frame(c)?;
    for a in [va + 8, va + 0x800, va + 1, va + 0xfff] {
        check!(
            c.ipc.frame_map(f, SELF_VSPACE, a, RW) == Err(Error::Alignment),
            "frame map at {a:#x} not refused as misaligned"
        );
    }
    let big = c.make(ty::FRAME_2M, 0)?;
    check_eq!(
        c.ipc.frame_map(big, SELF_VSPACE, base + 4096, RW),
        Err(Error::Alignment)
    );
    check_eq!(
        c.ipc.frame_map(big, SELF_VSPACE, base + 0x10_0000, RW),
        Err(Error::Alignment)
    );
    check_eq!(mapping(c, f)?, (false, 0));
    check_eq!(mapping(c, big)?, (false, 0));
    // The same frame maps fine at the aligned address.
    c.ipc.frame_map(f, SELF_VSPACE, va, RW)?;
    check_eq!(mapping(c, f)?, (true, va));
    Ok(())
}

fn twice(c: &mut Ctx) -> TestResult {
    let (va, va2) = (c.page_addr(), c.page_addr());
    let f = frame(c)?;
    c.ipc.frame_map(f, SELF_VSPACE, va, RW)?;
    check_eq!(
        c.ipc.frame_map(f, SELF_VSPACE, va2, RW),
        Err(Error::IllegalOperation)
    );
    check_eq!(
        c.ipc.frame_map(f, SELF_VSPACE, va, RW),
        Err(Error::IllegalOperation)
    );
    check_eq!(mapping(c, f)?, (true, va));
    // Other malformed maps on a second frame.
    let g = frame(c)?;
    check_eq!(c.ipc.frame_map(g, SELF_VSPACE, va2, 4), Err(Error::Range));
    let ep = c.endpoint()?;
    check_eq!(c.ipc.frame_map(g, ep, va2, RW), Err(Error::WrongType));
    let pdpt = c.make(ty::PAGE_TABLE, 3)?;
    check_eq!(c.ipc.frame_map(g, pdpt, va2, RW), Err(Error::WrongType));
    check_eq!(mapping(c, g)?, (false, 0));
    // After an unmap the same capability maps again.
    c.ipc.frame_unmap(f)?;
    c.ipc.frame_map(f, SELF_VSPACE, va2, RW)?;
    check_eq!(mapping(c, f)?, (true, va2));
    write(va2, MAGIC);
    check_eq!(read(va2), MAGIC);
    Ok(())
}

fn occupied(c: &mut Ctx) -> TestResult {
    let (va, va2) = (c.page_addr(), c.page_addr());
    let f = frame(c)?;
    let f2 = copy(c, f, rights::ALL)?;
    let other = frame(c)?;
    c.ipc.frame_map(f, SELF_VSPACE, va, RW)?;
    write(va, MAGIC);
    check_eq!(
        c.ipc.frame_map(f2, SELF_VSPACE, va, RW),
        Err(Error::SlotOccupied)
    );
    check_eq!(
        c.ipc.frame_map(other, SELF_VSPACE, va, RW),
        Err(Error::SlotOccupied)
    );
    check_eq!(mapping(c, f2)?, (false, 0));
    check_eq!(mapping(c, other)?, (false, 0));
    // The first mapping is untouched.
    check_eq!(read(va), MAGIC);
    c.ipc.frame_map(f2, SELF_VSPACE, va2, RO)?;
    check_eq!(read(va2), MAGIC);
    Ok(())
}

fn write_right(c: &mut Ctx) -> TestResult {
    let (va, va2) = (c.page_addr(), c.page_addr());
    let f = frame(c)?;
    c.ipc.frame_map(f, SELF_VSPACE, va, RW)?;
    write(va, MAGIC);
    let ro = copy(c, f, rights::READ)?;
    check_eq!(c.identify(ro)?.rights, rights::READ);
    check_eq!(
        c.ipc.frame_map(ro, SELF_VSPACE, va2, RW),
        Err(Error::MissingRight)
    );
    check_eq!(mapping(c, ro)?, (false, 0));
    let wo = copy(c, f, rights::WRITE)?;
    check_eq!(
        c.ipc.frame_map(wo, SELF_VSPACE, va2, RO),
        Err(Error::MissingRight)
    );
    // Read-only is what the read right allows.
    c.ipc.frame_map(ro, SELF_VSPACE, va2, RO)?;
    check_eq!(read(va2), MAGIC);
    Ok(())
}

/// A fresh PML4 (and, if `asid`, its ASID).
fn new_vspace(c: &mut Ctx, asid: bool) -> Result<u64, Error> {
    let pml4 = c.make(ty::PAGE_TABLE, 4)?;
    if asid {
        c.ipc.asid_assign(ASID_POOL, pml4)?;
    }
    Ok(pml4)
}

const ELSEWHERE: u64 = 0x12_3456_7000;

fn needs_asid(c: &mut Ctx) -> TestResult {
    let pml4 = new_vspace(c, false)?;
    let f = frame(c)?;
    let pdpt = c.make(ty::PAGE_TABLE, 3)?;
    check_eq!(
        c.ipc.frame_map(f, pml4, ELSEWHERE, RW),
        Err(Error::IllegalOperation)
    );
    check_eq!(
        c.ipc.page_table_map(pdpt, pml4, ELSEWHERE),
        Err(Error::IllegalOperation)
    );
    check_eq!(c.ipc.asid_assign(ASID_POOL, pdpt), Err(Error::WrongType));
    let asid = c.ipc.asid_assign(ASID_POOL, pml4)?;
    check!(asid >= 2, "ASID {asid}: 0 is none and 1 is the root's");
    check_eq!(
        c.ipc.asid_assign(ASID_POOL, pml4),
        Err(Error::IllegalOperation)
    );
    // A second address space gets a different one.
    let other = new_vspace(c, false)?;
    let asid2 = c.ipc.asid_assign(ASID_POOL, other)?;
    check!(
        asid2 != asid && asid2 >= 2,
        "second ASID {asid2} (first {asid})"
    );
    c.ipc.page_table_map(pdpt, pml4, ELSEWHERE)?;
    check_eq!(mapping(c, pdpt)?, (true, 0));
    Ok(())
}

fn needs_tables(c: &mut Ctx) -> TestResult {
    let pml4 = new_vspace(c, true)?;
    let f = frame(c)?;
    let pdpt = c.make(ty::PAGE_TABLE, 3)?;
    let pd = c.make(ty::PAGE_TABLE, 2)?;
    let pt = c.make(ty::PAGE_TABLE, 1)?;
    // Last: it takes the upper half of the case's 4 MiB.
    let big = c.make(ty::FRAME_2M, 0)?;
    let big_va = (ELSEWHERE & !0x1f_ffff) + 0x20_0000;
    check_eq!(
        c.ipc.frame_map(f, pml4, ELSEWHERE, RW),
        Err(Error::IllegalOperation)
    );
    c.ipc.page_table_map(pdpt, pml4, ELSEWHERE)?;
    check_eq!(
        c.ipc.frame_map(f, pml4, ELSEWHERE, RW),
        Err(Error::IllegalOperation)
    );
    check_eq!(
        c.ipc.frame_map(big, pml4, big_va, RW),
        Err(Error::IllegalOperation)
    );
    c.ipc.page_table_map(pd, pml4, ELSEWHERE)?;
    check_eq!(
        c.ipc.frame_map(f, pml4, ELSEWHERE, RW),
        Err(Error::IllegalOperation)
    );
    // A 2 MiB frame needs no page table.
    c.ipc.frame_map(big, pml4, big_va, RW)?;
    check_eq!(mapping(c, big)?, (true, big_va));
    c.ipc.page_table_map(pt, pml4, ELSEWHERE)?;
    c.ipc.frame_map(f, pml4, ELSEWHERE, RW)?;
    check_eq!(mapping(c, f)?, (true, ELSEWHERE));
    Ok(())
}

fn table_levels(c: &mut Ctx) -> TestResult {
    let pml4 = new_vspace(c, true)?;
    let pdpt = c.make(ty::PAGE_TABLE, 3)?;
    let pdpt2 = c.make(ty::PAGE_TABLE, 3)?;
    let pd = c.make(ty::PAGE_TABLE, 2)?;
    let pt = c.make(ty::PAGE_TABLE, 1)?;
    // From the top down only.
    check_eq!(
        c.ipc.page_table_map(pt, pml4, ELSEWHERE),
        Err(Error::IllegalOperation)
    );
    check_eq!(
        c.ipc.page_table_map(pd, pml4, ELSEWHERE),
        Err(Error::IllegalOperation)
    );
    c.ipc.page_table_map(pdpt, pml4, ELSEWHERE)?;
    check_eq!(
        c.ipc.page_table_map(pdpt, pml4, 1 << 39),
        Err(Error::IllegalOperation)
    );
    check_eq!(
        c.ipc.page_table_map(pdpt2, pml4, ELSEWHERE + 0x1000),
        Err(Error::SlotOccupied)
    );
    c.ipc.page_table_map(pd, pml4, ELSEWHERE)?;
    c.ipc.page_table_map(pt, pml4, ELSEWHERE)?;
    // Each records the base of the range it covers.
    check_eq!(mapping(c, pdpt)?, (true, ELSEWHERE & !((1 << 39) - 1)));
    check_eq!(mapping(c, pd)?, (true, ELSEWHERE & !((1 << 30) - 1)));
    check_eq!(mapping(c, pt)?, (true, ELSEWHERE & !((1 << 21) - 1)));
    check_eq!(c.identify(pd)?.extra, 2);
    // A PML4 is never mapped or unmapped as a table.
    let other = new_vspace(c, true)?;
    check_eq!(
        c.ipc.page_table_map(other, pml4, ELSEWHERE),
        Err(Error::IllegalOperation)
    );
    check_eq!(c.ipc.page_table_unmap(pml4), Err(Error::IllegalOperation));
    // Unmapped, a table maps again (elsewhere too).
    c.ipc.page_table_unmap(pt)?;
    check_eq!(mapping(c, pt)?, (false, 0));
    c.ipc.page_table_map(pt, pml4, ELSEWHERE + (1 << 21))?;
    check_eq!(
        mapping(c, pt)?,
        (true, (ELSEWHERE & !((1 << 21) - 1)) + (1 << 21))
    );
    check_eq!(c.identify(pdpt2)?.cap_type, cap::PAGE_TABLE);
    Ok(())
}

fn table_unmap(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    // A region of the framework's page directory that has no table yet.
    let region = c.page_addr() + 0x40_0000;
    let pt = c.make(ty::PAGE_TABLE, 1)?;
    c.ipc.page_table_map(pt, SELF_VSPACE, region)?;
    let va = region + 0x3000;
    let f = frame(c)?;
    c.ipc.frame_map(f, SELF_VSPACE, va, RW)?;
    write(va, MAGIC);
    check_eq!(read(va), MAGIC);
    c.ipc.page_table_unmap(pt)?;
    check_eq!(mapping(c, pt)?, (false, 0));
    set_addrs(&[va]);
    fault_thread(c, &h, "kf-pt-unmap", touch_list, 1)?;
    let m = next_fault(c, &h)?;
    expect(&m, Kind::PageFault, 14, pf::USER)?;
    check_eq!(m.w[fault::W_ADDR], va);
    // A new table and frame there: the thread reads the new frame.
    let pt2 = c.make(ty::PAGE_TABLE, 1)?;
    c.ipc.page_table_map(pt2, SELF_VSPACE, region)?;
    let g = frame(c)?;
    c.ipc.frame_map(g, SELF_VSPACE, va, RW)?;
    resume(c, &h)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    check_eq!(val(0), 0);
    Ok(())
}

fn delete_unmaps(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let va = c.page_addr();
    let f = frame(c)?;
    let f2 = copy(c, f, rights::ALL)?;
    c.ipc.frame_map(f2, SELF_VSPACE, va, RW)?;
    write(va, MAGIC);
    c.ipc.cnode_delete(CNODE, (f2, DEPTH))?;
    set_addrs(&[va]);
    fault_thread(c, &h, "kf-deleted", touch_list, 1)?;
    let m = next_fault(c, &h)?;
    expect(&m, Kind::PageFault, 14, pf::USER)?;
    check_eq!(m.w[fault::W_ADDR], va);
    // The frame itself lives on (another capability holds it), data intact.
    c.ipc.frame_map(f, SELF_VSPACE, va, RO)?;
    resume(c, &h)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    check_eq!(val(0), MAGIC);
    Ok(())
}

fn revoke_unmaps(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let vas = [c.page_addr(), c.page_addr(), c.page_addr()];
    let u = c.make(ty::UNTYPED, 16)?;
    let f = c.slot();
    c.ipc.retype(u, ty::FRAME, 0, CNODE, f, 1)?;
    let caps = [f, copy(c, f, rights::ALL)?, copy(c, f, rights::ALL)?];
    for (&s, &va) in caps.iter().zip(&vas) {
        c.ipc.frame_map(s, SELF_VSPACE, va, RW)?;
    }
    write(vas[0], MAGIC);
    check_eq!(read(vas[2]), MAGIC);
    c.ipc.cnode_revoke(CNODE, (u, DEPTH))?;
    for s in caps {
        check_eq!(c.identify(s)?.cap_type, cap::NULL);
    }
    set_addrs(&vas);
    fault_thread(c, &h, "kf-revoked", touch_list, 3)?;
    for va in vas {
        let m = next_fault(c, &h)?;
        expect(&m, Kind::PageFault, 14, pf::USER)?;
        check_eq!(m.w[fault::W_ADDR], va);
        let g = frame(c)?;
        c.ipc.frame_map(g, SELF_VSPACE, va, RW)?;
        resume(c, &h)?;
    }
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    check_eq!((val(0), val(1), val(2)), (0, 0, 0));
    Ok(())
}

fn frame_address(c: &mut Ctx) -> TestResult {
    let f = frame(c)?;
    let g = frame(c)?;
    let (a, b) = (c.ipc.frame_address(f)?, c.ipc.frame_address(g)?);
    check!(a != 0 && a % 4096 == 0, "frame address {a:#x}");
    check!(b != 0 && b % 4096 == 0, "frame address {b:#x}");
    check!(a != b, "two frames at {a:#x}");
    let f2 = copy(c, f, rights::READ)?;
    check_eq!(c.ipc.frame_address(f2)?, a);
    let pt = c.make(ty::PAGE_TABLE, 1)?;
    let big = c.make(ty::FRAME_2M, 0)?;
    let p = c.ipc.frame_address(big)?;
    check!(p != 0 && p % (2 << 20) == 0, "2 MiB frame address {p:#x}");
    check!(
        a + 4096 <= p || a >= p + (2 << 20),
        "frames overlap: {a:#x} in {p:#x}"
    );
    check_eq!(
        c.call(pt, inv::FRAME_ADDRESS, &[]).map(|_| ()),
        Err(Error::IllegalOperation)
    );
    Ok(())
}

fn huge_frame(c: &mut Ctx) -> TestResult {
    let base = c.page_addr();
    let va = base + 0x2000_0000;
    let big = c.make(ty::FRAME_2M, 0)?;
    check_eq!(c.identify(big)?.extra, 1);
    // Where the framework's page table is, the entry is taken.
    check_eq!(
        c.ipc.frame_map(big, SELF_VSPACE, base, RW),
        Err(Error::SlotOccupied)
    );
    c.ipc.frame_map(big, SELF_VSPACE, va, RW)?;
    check_eq!(mapping(c, big)?, (true, va));
    let last = va + (2 << 20) - 8;
    check_eq!((read(va), read(last)), (0, 0));
    write(va, MAGIC);
    write(last, !MAGIC);
    write(va + 0x10_0000, 7);
    check_eq!(
        (read(va), read(last), read(va + 0x10_0000)),
        (MAGIC, !MAGIC, 7)
    );
    // No 4 KiB page inside a 2 MiB one.
    let f = frame(c)?;
    check_eq!(
        c.ipc.frame_map(f, SELF_VSPACE, va + 0x1000, RW),
        Err(Error::IllegalOperation)
    );
    // The same memory through a second, read-only mapping... of a copy
    // at the next 2 MiB.
    let copy2 = copy(c, big, rights::READ)?;
    c.ipc.frame_map(copy2, SELF_VSPACE, va + (2 << 20), RO)?;
    check_eq!(read(va + (2 << 20) + (2 << 20) - 8), !MAGIC);
    c.ipc.frame_unmap(big)?;
    check_eq!(mapping(c, big)?, (false, 0));
    Ok(())
}
