//! Issue 7's own fixes, attacked directly: these hold on the reviewed
//! kernel, and had no on-target case of their own (the change added none;
//! docs/kernel.md names an attack group that is not in the tree).

use crate::common::{CNT, P, let_others_run, set_arg};
use core::sync::atomic::Ordering;
use septum_test_tasks::ktest::{
    CNODE, Ctx, DEPTH, SELF_VSPACE, Test, TestResult, rights, thread_ipc, ty,
};
use septum_test_tasks::{check, check_eq};
use septum_user::abi::Error;
use septum_user::ipc::Message;
use septum_user::syscall::thread_exit;

pub const TESTS: &[Test] = &[
    crate::case!("held_ipc_buffer_needs_read_and_write", buffer_rights),
    crate::case!("held_frame_address_needs_read", frame_address_right),
    crate::case!("held_no_writable_executable_mapping", no_wx),
    crate::case!("held_top_page_below_the_hole_unmappable", top_page),
    crate::case!("held_thread_names_are_plain", names),
    crate::case!(
        "held_null_fs_selector_does_not_leak_to_next_thread",
        fs_cache
    ),
];

/// A copy of frame `f` with only `r` rights, in a fresh slot.
fn with_rights(c: &mut Ctx, f: u64, r: u64) -> Result<u64, Error> {
    let s = c.slot();
    c.ipc.cnode_copy(CNODE, (s, DEPTH), CNODE, (f, DEPTH), r)?;
    Ok(s)
}

fn buffer_rights(c: &mut Ctx) -> TestResult {
    let tcb = c.make(ty::TCB, 0)?;
    let f = c.make(ty::FRAME, 0)?;
    let va = c.page_addr();
    for r in [rights::READ, rights::WRITE, 0] {
        let weak = with_rights(c, f, r)?;
        check_eq!(
            c.ipc.tcb_configure(tcb, CNODE, SELF_VSPACE, weak, va, 0),
            Err(Error::MissingRight)
        );
    }
    let rw = with_rights(c, f, rights::READ | rights::WRITE)?;
    c.ipc.tcb_configure(tcb, CNODE, SELF_VSPACE, rw, va, 0)?;
    Ok(())
}

fn frame_address_right(c: &mut Ctx) -> TestResult {
    let f = c.make(ty::FRAME, 0)?;
    let w = with_rights(c, f, rights::WRITE)?;
    check_eq!(c.ipc.frame_address(w), Err(Error::MissingRight));
    let r = with_rights(c, f, rights::READ)?;
    check_eq!(c.ipc.frame_address(r), c.ipc.frame_address(f));
    Ok(())
}

fn no_wx(c: &mut Ctx) -> TestResult {
    let f = c.make(ty::FRAME, 0)?;
    let va = c.page_addr();
    check_eq!(c.ipc.frame_map(f, SELF_VSPACE, va, 3), Err(Error::Range));
    let big = c.make(ty::FRAME_2M, 0)?;
    check_eq!(
        c.ipc.frame_map(big, SELF_VSPACE, 0x7f00_0000_0000, 3),
        Err(Error::Range)
    );
    c.ipc.frame_map(f, SELF_VSPACE, va, 2)?;
    Ok(())
}

fn top_page(c: &mut Ctx) -> TestResult {
    // Tables down to the last 2 MiB below the hole are allowed ...
    let pdpt = c.make(ty::PAGE_TABLE, 3)?;
    c.ipc
        .page_table_map(pdpt, SELF_VSPACE, 0x7fff_ffff_f000)
        .or_else(|e| {
            if e == Error::SlotOccupied {
                Ok(())
            } else {
                Err(e)
            }
        })?;
    let pd = c.make(ty::PAGE_TABLE, 2)?;
    c.ipc
        .page_table_map(pd, SELF_VSPACE, 0x7fff_ffff_f000)
        .or_else(|e| {
            if e == Error::SlotOccupied {
                Ok(())
            } else {
                Err(e)
            }
        })?;
    let pt = c.make(ty::PAGE_TABLE, 1)?;
    c.ipc
        .page_table_map(pt, SELF_VSPACE, 0x7fff_ffe0_0000)
        .or_else(|e| {
            if e == Error::SlotOccupied {
                Ok(())
            } else {
                Err(e)
            }
        })?;
    // ... but no frame, of any size or rights, over the top page.
    let f = c.make(ty::FRAME, 0)?;
    let tcb = c.make(ty::TCB, 0)?;
    for attrs in [0, 1, 2] {
        check_eq!(
            c.ipc.frame_map(f, SELF_VSPACE, 0x7fff_ffff_f000, attrs),
            Err(Error::InvalidAddress)
        );
    }
    let big = c.make(ty::FRAME_2M, 0)?;
    check_eq!(
        c.ipc.frame_map(big, SELF_VSPACE, 0x7fff_ffe0_0000, 2),
        Err(Error::InvalidAddress)
    );
    // Nor an IPC buffer.
    check_eq!(
        c.ipc
            .tcb_configure(tcb, CNODE, SELF_VSPACE, f, 0x7fff_ffff_f000, 0),
        Err(Error::InvalidAddress)
    );
    Ok(())
}

fn names(c: &mut Ctx) -> TestResult {
    let tcb = c.make(ty::TCB, 0)?;
    for bad in [
        "[INFO]  x",
        "a b",
        "tab\t",
        "nl\n",
        "esc\x1b[2J",
        "semi:colon",
    ] {
        check_eq!(c.ipc.tcb_set_name(tcb, bad), Err(Error::Range));
    }
    c.ipc.tcb_set_name(tcb, "ok.name_-1")?;
    Ok(())
}

/// Receive on `ARG[0]`, then read the word at FS:0 into `CNT[2]`.
extern "C" fn fs_reader(_arg: u64, buf: u64) -> ! {
    let mut ipc = thread_ipc(buf);
    let _ = ipc.recv(crate::common::arg(0), 0);
    let v: u64;
    // SAFETY: the root set this thread's FS base to a page it mapped and
    // filled; reading through FS touches nothing else.
    unsafe { core::arch::asm!("mov {0}, qword ptr fs:[0]", out(reg) v, options(nostack)) };
    CNT[2].store(v, Ordering::SeqCst);
    thread_exit()
}

/// Load a null selector into FS (its live base becomes 0), then send to
/// `ARG[0]`, which switches straight to the higher-priority reader.
extern "C" fn fs_nuller(_arg: u64, buf: u64) -> ! {
    let mut ipc = thread_ipc(buf);
    // SAFETY: loading the null selector into FS only changes this
    // thread's own FS base; nothing here uses FS afterwards.
    unsafe { core::arch::asm!("mov fs, {0:x}", in(reg) 0u16, options(nostack)) };
    let _ = ipc.send(crate::common::arg(0), &Message::new(0, &[]));
    thread_exit()
}

fn fs_cache(c: &mut Ctx) -> TestResult {
    const MARK: u64 = 0x5e97_0f5b_a5e0_0001;
    let (_, va) = c.mapped_frame()?;
    septum_test_tasks::ktest::poke(va, 0);
    // SAFETY: the page was just mapped read-write for this case.
    unsafe { (va as *mut u64).write_volatile(MARK) };
    let ep = c.endpoint()?;
    set_arg(0, ep);
    CNT[2].store(0, Ordering::SeqCst);
    let reader = c.configured_thread("kr-fs-reader", P + 1, 0)?;
    let nuller = c.configured_thread("kr-fs-nuller", P, 0)?;
    // Both threads have the same FS base: the cache must not take the
    // nuller's live base (0, after its null selector) for the reader's.
    c.ipc.tcb_set_tls(reader.tcb, va, 0)?;
    c.ipc.tcb_set_tls(nuller.tcb, va, 0)?;
    c.start(reader, fs_reader, 0)?;
    c.start(nuller, fs_nuller, 0)?;
    let_others_run(c)?;
    let got = CNT[2].load(Ordering::SeqCst);
    check!(
        got == MARK,
        "the reader read {got:#x} at FS:0, expected {MARK:#x}"
    );
    Ok(())
}
