//! Invocations read their arguments where they lie, on demand
//! (`invoke::Args`, `ipc::message_word`), and write results straight back
//! (`ipc::deliver_words`). A short message is `Range` with nothing done;
//! a long reply to a caller without an IPC buffer arrives as 4 words.

use crate::{debug_check, settle};
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use septum_test_tasks::ktest::{
    CNODE, Ctx, DEPTH, SELF_TCB, SELF_VSPACE, Test, TestResult, cap, rights, ty,
};
use septum_test_tasks::{check, check_eq};
use septum_user::abi::invocation as inv;
use septum_user::abi::syscall as nr;
use septum_user::abi::{Error, fault};
use septum_user::syscall::{info, raw, thread_exit};

pub const TESTS: &[Test] = &[
    Test {
        name: "rev3_short_invocations_are_range_and_change_nothing",
        run: short_invocations,
    },
    Test {
        name: "rev3_long_replies_without_ipc_buffer",
        run: no_buffer,
    },
];

fn short_invocations(c: &mut Ctx) -> TestResult {
    let ep = c.endpoint()?;
    let dst = c.slot();
    let full = [dst, DEPTH, CNODE, ep, DEPTH, rights::ALL, 5];
    for n in 0..7 {
        check_eq!(
            c.call(CNODE, inv::CNODE_MINT, &full[..n]).map(|m| m.len),
            Err(Error::Range)
        );
        check_eq!(c.identify(dst)?.cap_type, cap::NULL);
    }
    for n in 0..6 {
        check_eq!(
            c.call(CNODE, inv::CNODE_COPY, &full[..n]).map(|m| m.len),
            Err(Error::Range)
        );
        check_eq!(c.identify(dst)?.cap_type, cap::NULL);
    }
    let rt = [ty::ENDPOINT, 0, CNODE, dst, 1];
    for n in 0..5 {
        check_eq!(
            c.call(c.ut, inv::UNTYPED_RETYPE, &rt[..n]).map(|m| m.len),
            Err(Error::Range)
        );
        check_eq!(c.identify(dst)?.cap_type, cap::NULL);
    }
    // A thread keeps its configuration after a short TCB_CONFIGURE.
    let t = c.configured_thread("rev3-short", 50, 0)?;
    let (frame2, buf2) = c.mapped_frame()?;
    let cfg = [CNODE, SELF_VSPACE, frame2, buf2, 0];
    for n in 0..5 {
        check_eq!(
            c.call(t.tcb, inv::TCB_CONFIGURE, &cfg[..n]).map(|m| m.len),
            Err(Error::Range)
        );
    }
    check_eq!(c.identify(frame2)?.mapped, true);
    // Fewer than 18 register words: Range, registers unchanged.
    let before = c.ipc.tcb_read_registers(t.tcb)?;
    let regs = [0x1234u64; 17];
    check_eq!(
        c.call(t.tcb, inv::TCB_WRITE_REGISTERS, &regs)
            .map(|m| m.len),
        Err(Error::Range)
    );
    check_eq!(c.ipc.tcb_read_registers(t.tcb)?, before);
    // 19 words: RIP etc. and FS; GS stays.
    let mut regs19 = before;
    regs19[fault::W_FS_BASE] = 0x5000;
    c.call(t.tcb, inv::TCB_WRITE_REGISTERS, &regs19[..19])?;
    let after = c.ipc.tcb_read_registers(t.tcb)?;
    check_eq!(after[fault::W_FS_BASE], 0x5000);
    check_eq!(after[fault::W_GS_BASE], before[fault::W_GS_BASE]);
    // WRITE_FPU: no words at all is Range; only `from` writes nothing.
    check_eq!(
        c.call(t.tcb, inv::TCB_WRITE_FPU, &[]).map(|m| m.len),
        Err(Error::Range)
    );
    let fpu = c.ipc.tcb_read_fpu(t.tcb, 8)?;
    c.call(t.tcb, inv::TCB_WRITE_FPU, &[8])?;
    // Words 64.. are the XSAVE header, the kernel's: compare below it.
    let again = c.ipc.tcb_read_fpu(t.tcb, 8)?;
    check_eq!(&again.words()[..56], &fpu.words()[..56]);
    // Odd lengths: three words at 8.
    c.call(t.tcb, inv::TCB_WRITE_FPU, &[8, 11, 22, 33])?;
    let m = c.ipc.tcb_read_fpu(t.tcb, 8)?;
    check_eq!(&m.words()[..4], &[11, 22, 33, fpu.word(3)][..]);
    // A write reaching the header changes nothing.
    check_eq!(
        c.call(t.tcb, inv::TCB_WRITE_FPU, &[62, 1, 2, 3])
            .map(|m| m.len),
        Err(Error::Range)
    );
    check_eq!(c.ipc.tcb_read_fpu(t.tcb, 62)?.word(0), fpu.word(54));
    // SET_NAME with 1 and 3 words.
    c.call(
        t.tcb,
        inv::TCB_SET_NAME,
        &[u64::from_le_bytes(*b"ab-c\0\0\0\0")],
    )?;
    c.call(
        t.tcb,
        inv::TCB_SET_NAME,
        &[u64::from_le_bytes(*b"abcdefgh"), 0x41, 0],
    )?;
    // A length above 68: Range.
    let r = raw(nr::CALL, t.tcb, (inv::TCB_SET_NAME << 12) | 100, [0; 4], 0);
    check_eq!(Error::from_rax(r.rax), Err(Error::Range));
    check_eq!(debug_check(), Ok(0));
    Ok(())
}

static TCB: AtomicU64 = AtomicU64::new(0);
static OUT: [AtomicU64; 8] = [const { AtomicU64::new(u64::MAX) }; 8];

extern "C" fn bufferless(_: u64, _: u64) -> ! {
    let t = TCB.load(SeqCst);
    let r = raw(nr::CALL, t, info(inv::TCB_READ_REGISTERS, 0), [0; 4], 0);
    OUT[0].store(r.rax, SeqCst);
    OUT[1].store(r.rsi, SeqCst);
    let r = raw(nr::CALL, t, info(inv::TCB_READ_FPU, 1), [0; 4], 0);
    OUT[2].store(r.rax, SeqCst);
    OUT[3].store(r.rsi, SeqCst);
    OUT[4].store(r.mr[0], SeqCst);
    // Six words, two of them beyond the registers, and no buffer to
    // hold them: they read as 0 (a depth of 0: Range), nothing copied.
    let r = raw(
        nr::CALL,
        CNODE,
        septum_user::abi::ipc::MessageInfo::new(inv::CNODE_COPY, 6, 0).encode(),
        [0, DEPTH, CNODE, 0],
        0,
    );
    OUT[5].store(r.rax, SeqCst);
    thread_exit()
}

fn no_buffer(c: &mut Ctx) -> TestResult {
    let tcb = c.make(ty::TCB, 0)?;
    c.ipc.tcb_configure(tcb, CNODE, SELF_VSPACE, 0, 0, 0)?;
    c.ipc.tcb_set_name(tcb, "rev3-nobuf")?;
    c.ipc.tcb_set_priority(tcb, SELF_TCB, 100)?;
    TCB.store(tcb, SeqCst);
    for o in &OUT {
        o.store(u64::MAX, SeqCst);
    }
    c.start(
        septum_test_tasks::ktest::Thread { tcb, buffer: 0 },
        bufferless,
        0,
    )?;
    settle(c)?;
    check_eq!(Error::from_rax(OUT[0].load(SeqCst)), Ok(0));
    let i = septum_user::abi::ipc::MessageInfo::decode(OUT[1].load(SeqCst));
    check!(i.is_ok(), "bad info");
    check_eq!(i.map(|i| i.words()).unwrap_or(99), 4);
    check_eq!(Error::from_rax(OUT[2].load(SeqCst)), Ok(0));
    let i = septum_user::abi::ipc::MessageInfo::decode(OUT[3].load(SeqCst));
    check_eq!(i.map(|i| i.words()).unwrap_or(99), 4);
    check_eq!(Error::from_rax(OUT[5].load(SeqCst)), Err(Error::Range));
    check_eq!(debug_check(), Ok(0));
    Ok(())
}
