//! What the kernel caches about address spaces: the loaded CR3 (a new
//! PML4 at a destroyed one's physical address must not inherit its
//! translations) and ASIDs (a freed ASID handed to a new PML4 must not
//! let capabilities that still remember the old space touch the new one).

use crate::common::{
    MINI_CODE, MINI_DATA, MINI_DATA2, Mini, bare_thread, blob, code_frame, expect, handler,
    mini_space, mini_space_in, no_fault, pf, read, resume, shared_frame, start_at, write,
};
use septum_test_tasks::ktest::{CNODE, Ctx, DEPTH, SELF_VSPACE, Test, TestResult, cap, ty};
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
