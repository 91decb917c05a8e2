//! Frames and mappings: FRAME_ADDRESS needs the read right; no mapping is
//! both writable and executable (the JIT path is write, unmap, map
//! executable); and nothing can be mapped in the last page below the
//! canonical hole, so no instruction can end at 0x8000_0000_0000 and hand
//! the kernel a non-canonical return address. Code that runs at the very
//! end of the last page that can be mapped faults with canonical
//! addresses and resumes.

use crate::common::{
    DONE, MINI_CODE, MINI_DATA, V0, blob, check_result, code_frame, expect, fault_thread, get,
    handler, mini_space, next_fault, no_fault, pf, read, reset, resume, resume_regs, set,
    shared_frame, start_at,
};
use septum_test_tasks::ktest::{CNODE, Ctx, SELF_VSPACE, Test, TestResult, rights, ty};
use septum_test_tasks::{check, check_eq, fail};
use septum_user::abi::Error;
use septum_user::abi::fault::{self, Kind};
use septum_user::abi::syscall as nr;
use septum_user::syscall::thread_exit;

pub const TESTS: &[Test] = &[
    Test {
        name: "attack_frame_address_needs_read_right",
        run: frame_address,
    },
    Test {
        name: "attack_wx_mapping_refused",
        run: wx_refused,
    },
    Test {
        name: "attack_jit_remap_runs_new_code_and_drops_write",
        run: jit_remap,
    },
    Test {
        name: "attack_top_page_of_lower_half_unmappable",
        run: top_page,
    },
    Test {
        name: "attack_top_page_as_ipc_buffer_refused",
        run: top_page_buffer,
    },
    Test {
        name: "attack_syscall_fault_at_end_of_last_page",
        run: syscall_at_end,
    },
    Test {
        name: "attack_yield_at_end_of_last_page",
        run: yield_at_end,
    },
    Test {
        name: "attack_int3_at_end_of_last_page",
        run: int3_at_end,
    },
];

fn frame_address(c: &mut Ctx) -> TestResult {
    let f = c.make(ty::FRAME, 0)?;
    let pa = c.ipc.frame_address(f)?;
    check!(pa != 0 && pa % 4096 == 0, "frame address {pa:#x}");
    let ro = crate::common::mint(c, f, rights::READ)?;
    check_eq!(c.ipc.frame_address(ro), Ok(pa));
    for (r, what) in [
        (0, "rightless"),
        (rights::WRITE, "write-only"),
        (rights::GRANT | rights::GRANT_REPLY, "grant-only"),
    ] {
        let weak = crate::common::mint(c, f, r)?;
        match c.ipc.frame_address(weak) {
            Err(Error::MissingRight) => {}
            Ok(a) => fail!(
                "FRAME_ADDRESS through a {} frame capability returned {:#x}, expected Err(MissingRight)",
                what,
                a
            ),
            Err(e) => fail!(
                "FRAME_ADDRESS through a {} frame capability: Err({:?}), expected Err(MissingRight)",
                what,
                e
            ),
        }
    }
    let big = c.make(ty::FRAME_2M, 0)?;
    let weak = crate::common::mint(c, big, 0)?;
    check_result(
        "FRAME_ADDRESS through a rightless 2 MiB frame capability",
        c.ipc.frame_address(weak),
        Err(Error::MissingRight),
    )?;
    Ok(())
}

/// (mapped, address) of a frame, from identify.
fn mapping(c: &mut Ctx, slot: u64) -> Result<(bool, u64), Error> {
    let id = c.identify(slot)?;
    Ok((id.mapped, id.vaddr))
}

fn wx_refused(c: &mut Ctx) -> TestResult {
    let va = c.page_addr();
    let f = c.make(ty::FRAME, 0)?;
    check_result(
        "FRAME_MAP with WRITE|EXECUTE",
        c.ipc.frame_map(f, SELF_VSPACE, va, 3),
        Err(Error::Range),
    )?;
    check_eq!(mapping(c, f)?, (false, 0));
    // Either alone is fine.
    c.ipc.frame_map(f, SELF_VSPACE, va, 1)?;
    c.ipc.frame_unmap(f)?;
    c.ipc.frame_map(f, SELF_VSPACE, va, 2)?;
    c.ipc.frame_unmap(f)?;
    c.ipc.frame_map(f, SELF_VSPACE, va, 0)?;
    c.ipc.frame_unmap(f)?;
    // A 2 MiB frame is no different.
    let big = c.make(ty::FRAME_2M, 0)?;
    let big_va = (va & !0x3fff_ffff) + 0x2000_0000;
    check_result(
        "FRAME_MAP of a 2 MiB frame with WRITE|EXECUTE",
        c.ipc.frame_map(big, SELF_VSPACE, big_va, 3),
        Err(Error::Range),
    )?;
    check_eq!(mapping(c, big)?, (false, 0));
    c.ipc.frame_map(big, SELF_VSPACE, big_va, 2)?;
    Ok(())
}

/// Calls the code at `addr` and stores what it returned (eax) in `V0`;
/// then tries to write `addr` (the handler skips the write) and sets DONE.
extern "C" fn call_then_write(addr: u64, _buffer: u64) -> ! {
    let ret: u64;
    // SAFETY: the root placed `mov eax, imm32; ret` at `addr` and mapped
    // it executable; the call follows the C ABI (every register it may
    // change is declared).
    unsafe {
        core::arch::asm!("call {0}", in(reg) addr, lateout("rax") ret, clobber_abi("C"));
    }
    set(V0, ret);
    // SAFETY: the page is mapped read-only and executable: the store
    // faults and the root resumes the thread at label 3. Label addresses
    // go into shared words; every register written is declared.
    unsafe {
        marked_asm!(
            ["2:", "mov qword ptr [{p}], {v}", "3:", "4:"]
            p = in(reg) addr,
            v = in(reg) 0x5eb7_u64,
        );
    }
    set(DONE, 1);
    thread_exit()
}

/// The documented JIT path: write code through a writable mapping, unmap,
/// map the same frame executable at the same address. The code runs, and
/// the page is no longer writable — not even through a stale TLB entry
/// left by the root's writes (the thread runs in the same address space,
/// so CR3 is not reloaded between them).
fn jit_remap(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let va = c.page_addr();
    let f = c.make(ty::FRAME, 0)?;
    c.ipc.frame_map(f, SELF_VSPACE, va, 1)?;
    // mov eax, 0x5eb7c0de; ret
    let code: [u8; 6] = [0xb8, 0xde, 0xc0, 0xb7, 0x5e, 0xc3];
    for (i, &b) in code.iter().enumerate() {
        // SAFETY: `va` is the page just mapped writable.
        unsafe { ((va + i as u64) as *mut u8).write_volatile(b) };
    }
    check_eq!(read(va) & 0xffff_ffff_ffff, 0xc35e_b7c0_deb8);
    c.ipc.frame_unmap(f)?;
    c.ipc.frame_map(f, SELF_VSPACE, va, 2)?;
    fault_thread(c, &h, "ka-jit", call_then_write, va)?;
    let m = next_fault(c, &h)?;
    expect(&m, Kind::PageFault, 14)?;
    check_eq!(m.addr(), va);
    check_eq!(m.rip(), get(crate::common::AT));
    check_eq!(m.w[fault::W_ERROR], pf::PRESENT | pf::WRITE | pf::USER);
    check_eq!(get(V0), 0x5eb7_c0de);
    let mut r = m.regs();
    r[fault::W_RIP] = get(crate::common::AT2);
    resume_regs(c, &h, &r)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    check_eq!(read(va) & 0xffff_ffff_ffff, 0xc35e_b7c0_deb8);
    Ok(())
}

/// The last page below the canonical hole, and the one before it.
const TOP_PAGE: u64 = 0x7fff_ffff_f000;
const LAST_PAGE: u64 = 0x7fff_ffff_e000;
const TOP_2M: u64 = 0x7fff_ffe0_0000;

fn top_page(c: &mut Ctx) -> TestResult {
    let pml4 = c.make(ty::PAGE_TABLE, 4)?;
    c.ipc
        .asid_assign(septum_test_tasks::ktest::ASID_POOL, pml4)?;
    let pdpt = c.make(ty::PAGE_TABLE, 3)?;
    let pd = c.make(ty::PAGE_TABLE, 2)?;
    let pt = c.make(ty::PAGE_TABLE, 1)?;
    let frames = [
        c.make(ty::FRAME, 0)?,
        c.make(ty::FRAME, 0)?,
        c.make(ty::FRAME, 0)?,
    ];
    // Last: it takes the upper half of the case's memory.
    let big = c.make(ty::FRAME_2M, 0)?;
    check_result(
        "PAGE_TABLE_MAP of a PDPT covering the top page",
        c.ipc.page_table_map(pdpt, pml4, TOP_PAGE),
        Ok(()),
    )?;
    check_result(
        "PAGE_TABLE_MAP of a PD covering the top page",
        c.ipc.page_table_map(pd, pml4, TOP_PAGE),
        Ok(()),
    )?;
    // The 2 MiB page that would hold the top page.
    check_result(
        "FRAME_MAP of a 2 MiB frame at 0x7fff_ffe0_0000",
        c.ipc.frame_map(big, pml4, TOP_2M, 0),
        Err(Error::InvalidAddress),
    )?;
    check_eq!(mapping(c, big)?, (false, 0));
    check_result(
        "PAGE_TABLE_MAP of a PT covering the top page",
        c.ipc.page_table_map(pt, pml4, TOP_PAGE),
        Ok(()),
    )?;
    for (attrs, what) in [(0, "read-only"), (1, "writable"), (2, "executable")] {
        let got = c.ipc.frame_map(frames[0], pml4, TOP_PAGE, attrs);
        if got != Err(Error::InvalidAddress) {
            fail!(
                "FRAME_MAP of a 4 KiB frame at 0x7fff_ffff_f000 ({}): {:?}, expected Err(InvalidAddress)",
                what,
                got
            );
        }
    }
    check_eq!(mapping(c, frames[0])?, (false, 0));
    // The page before it is an ordinary page.
    check_result(
        "FRAME_MAP at 0x7fff_ffff_e000",
        c.ipc.frame_map(frames[1], pml4, LAST_PAGE, 2),
        Ok(()),
    )?;
    check_eq!(mapping(c, frames[1])?, (true, LAST_PAGE));
    check_result(
        "FRAME_MAP at 0x7fff_ffff_d000",
        c.ipc.frame_map(frames[2], pml4, LAST_PAGE - 0x1000, 1),
        Ok(()),
    )?;
    Ok(())
}

fn top_page_buffer(c: &mut Ctx) -> TestResult {
    let t = c.make(ty::TCB, 0)?;
    let f = c.make(ty::FRAME, 0)?;
    check_result(
        "TCB_CONFIGURE with the IPC buffer at 0x7fff_ffff_f000",
        c.ipc.tcb_configure(t, CNODE, SELF_VSPACE, f, TOP_PAGE, 0),
        Err(Error::InvalidAddress),
    )?;
    // Refused before anything changed: the thread still has no spaces.
    check_result(
        "TCB_RESUME after the refused TCB_CONFIGURE",
        c.ipc.tcb_resume(t),
        Err(Error::IllegalOperation),
    )?;
    check_result(
        "TCB_CONFIGURE with the IPC buffer at 0x7fff_ffff_e000",
        c.ipc.tcb_configure(t, CNODE, SELF_VSPACE, f, LAST_PAGE, 0),
        Ok(()),
    )?;
    Ok(())
}

/// Stores 1 at `[rdi]` and exits. Copied to the start of a code page.
#[unsafe(naked)]
unsafe extern "C" fn mark_and_exit() -> ! {
    core::arch::naked_asm!(
        "mov qword ptr [rdi], 1",
        "mov eax, {exit}",
        "syscall",
        "ud2",
        exit = const nr::THREAD_EXIT,
    )
}

/// How a thread gets to the end of the last page.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// `syscall` in syscall-fault mode: a Syscall fault after it.
    SyscallFault,
    /// A real `Yield`: the kernel returns to the address after it.
    Yield,
    /// `int3`: a breakpoint trap after it.
    Int3,
}

/// A thread in a small space runs the last instruction of the page at
/// 0x7fff_ffff_e000 (`syscall` in its last two bytes, or `int3` in its
/// last byte). What follows is 0x7fff_ffff_f000: canonical, and never
/// mapped. The handler sees that address (never a non-canonical one), the
/// fetch from it faults as an ordinary page fault, and the thread resumed
/// elsewhere finishes.
fn at_end(c: &mut Ctx, end: End) -> TestResult {
    reset();
    let h = handler(c)?;
    let s = mini_space(c)?;
    for (level, addr) in [(3, LAST_PAGE), (2, LAST_PAGE), (1, LAST_PAGE)] {
        let t = c.make(ty::PAGE_TABLE, level)?;
        c.ipc.page_table_map(t, s.vspace, addr)?;
    }
    let (insn, at): (&[u8], u64) = match end {
        End::SyscallFault | End::Yield => (&[0x0f, 0x05], 0xffe),
        End::Int3 => (&[0xcc], 0xfff),
    };
    code_frame(c, s.vspace, LAST_PAGE, at as usize, insn)?;
    code_frame(c, s.vspace, MINI_CODE, 0, blob(mark_and_exit, 32))?;
    let (_, data) = shared_frame(c, s.vspace, MINI_DATA)?;
    let t = crate::common::bare_thread(c, "ka-last-page", s.vspace, h.ep)?;
    if end == End::SyscallFault {
        c.ipc.tcb_set_syscall_faults(t, true)?;
    }
    let rip = LAST_PAGE + at;
    start_at(c, t, rip, &[(fault::W_RAX, nr::YIELD)])?;
    if end != End::Yield {
        let m = next_fault(c, &h)?;
        match end {
            End::SyscallFault => {
                check_eq!(Kind::from_label(m.kind), Some(Kind::Syscall));
                check_eq!(m.w[fault::W_RAX], nr::YIELD);
                check_eq!(m.w[fault::W_RCX], TOP_PAGE);
            }
            _ => expect(&m, Kind::Exception, 3)?,
        }
        check!(
            m.rip() == TOP_PAGE,
            "after the last instruction of 0x7fff_ffff_e000 the handler saw rip {:#x}",
            m.rip()
        );
        if end == End::SyscallFault {
            c.ipc.tcb_set_syscall_faults(t, false)?;
        }
        // Resumed as it is: it fetches from the next page.
        resume(c, &h)?;
    }
    let m = next_fault(c, &h)?;
    expect(&m, Kind::PageFault, 14)?;
    check_eq!(m.addr(), TOP_PAGE);
    check_eq!(m.rip(), TOP_PAGE);
    check_eq!(m.w[fault::W_ERROR], pf::USER | pf::FETCH);
    if end == End::Yield {
        check_eq!(m.w[fault::W_RAX], 0);
    }
    let mut r = m.regs();
    r[fault::W_RIP] = MINI_CODE;
    r[fault::W_RDI] = MINI_DATA;
    resume_regs(c, &h, &r)?;
    no_fault(c, &h)?;
    check_eq!(read(data), 1);
    Ok(())
}

fn syscall_at_end(c: &mut Ctx) -> TestResult {
    at_end(c, End::SyscallFault)
}

fn yield_at_end(c: &mut Ctx) -> TestResult {
    at_end(c, End::Yield)
}

fn int3_at_end(c: &mut Ctx) -> TestResult {
    at_end(c, End::Int3)
}
