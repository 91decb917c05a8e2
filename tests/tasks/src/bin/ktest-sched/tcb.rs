//! Thread control: suspend and resume, exit, registers, configure, names,
//! and the TCB invocation's error paths.

use crate::common::{
    arg, bump, cnt, code, expect_log, let_others_run, record, res, set_arg, set_res, share,
};
use crate::prio::{rec, recorder};
use septum_test_tasks::ktest::{
    CNODE, Ctx, SELF_TCB, SELF_VSPACE, Test, TestResult, thread_ipc, ty,
};
use septum_test_tasks::{check, check_eq};
use septum_user::abi::layout::KERNEL_SPACE_START;
use septum_user::abi::{Error, fault, invocation as inv};
use septum_user::syscall::{poll, signal, thread_exit, wait, yield_now};

pub const TESTS: &[Test] = &[
    case!("tcb_suspend_stops_resume_restarts", suspend_resume),
    case!("tcb_suspend_blocked_thread_leaves_queue", suspend_blocked),
    case!("tcb_suspend_self_then_resume", suspend_self),
    case!("tcb_resume_unconfigured_is_illegal", resume_unconfigured),
    case!("tcb_exit_is_final", exit_is_final),
    case!("tcb_registers_redirect_suspended_thread", redirect),
    case!("tcb_registers_round_trip", round_trip),
    case!("tcb_write_registers_self_is_illegal", write_self),
    case!("tcb_write_registers_noncanonical", write_noncanonical),
    case!("tcb_write_registers_too_few_words", write_too_few),
    case!("tcb_set_name", set_name),
    case!("tcb_configure_wrong_types", configure_wrong_types),
    case!("tcb_configure_buffer_checks", configure_buffer),
    case!("tcb_unknown_method_and_missing_args", unknown_method),
];

/// A thread entry point's address, for RIP.
fn entry_addr(f: extern "C" fn(u64, u64) -> !) -> u64 {
    f as usize as u64
}

/// The priority the cases' threads share with the root.
const P: u64 = 50;

/// Count in `CNT[arg]` and yield, forever.
pub extern "C" fn counter(arg: u64, _buf: u64) -> ! {
    loop {
        bump(arg as usize);
        yield_now();
    }
}

fn suspend_resume(c: &mut Ctx) -> TestResult {
    let t = c.spawn("ks-counter", counter, 0, P)?;
    share(c, P, 20)?;
    let ran = cnt(0);
    check!(ran >= 10, "counter advanced only {ran} in 20 turns");
    c.ipc.tcb_suspend(t.tcb)?;
    let stopped = cnt(0);
    share(c, P, 20)?;
    let_others_run(c)?;
    check_eq!(cnt(0), stopped);
    c.ipc.tcb_resume(t.tcb)?;
    share(c, P, 20)?;
    let again = cnt(0);
    check!(
        again >= stopped + 10,
        "resumed counter went from {stopped} only to {again}"
    );
    Ok(())
}

/// Wait on `ARG[0]`; then count in `CNT[0]` and exit.
extern "C" fn wait_then_count(_arg: u64, _buf: u64) -> ! {
    let _ = wait(arg(0));
    bump(0);
    thread_exit()
}

fn suspend_blocked(c: &mut Ctx) -> TestResult {
    let n = c.notification()?;
    set_arg(0, n);
    let t = c.spawn("ks-waiter", wait_then_count, 0, P)?;
    let_others_run(c)?;
    c.ipc.tcb_suspend(t.tcb)?;
    // Nobody waits any more: the signal stays in the word.
    signal(n)?;
    let_others_run(c)?;
    check_eq!(cnt(0), 0);
    check_eq!(poll(n), Ok(1));
    Ok(())
}

/// Record 'a', suspend itself (`ARG[0]`, result in `RES[0]`), record 'b'.
extern "C" fn self_suspender(_arg: u64, buf: u64) -> ! {
    let mut ipc = thread_ipc(buf);
    record(b'a');
    let r = ipc.tcb_suspend(arg(0));
    set_res(0, code(r));
    record(b'b');
    thread_exit()
}

fn suspend_self(c: &mut Ctx) -> TestResult {
    let t = c.configured_thread("ks-self-suspend", P, 0)?;
    set_arg(0, t.tcb);
    c.start(t, self_suspender, 0)?;
    let_others_run(c)?;
    expect_log("a")?;
    c.ipc.tcb_resume(t.tcb)?;
    let_others_run(c)?;
    expect_log("ab")?;
    // Its suspend call completed normally when it was resumed.
    check_eq!(res(0), 0);
    Ok(())
}

fn resume_unconfigured(c: &mut Ctx) -> TestResult {
    let x = c.make(ty::TCB, 0)?;
    check_eq!(c.ipc.tcb_resume(x), Err(Error::IllegalOperation));
    // Registers alone do not make it runnable either.
    let mut regs = [0u64; 18];
    regs[fault::W_RIP] = entry_addr(recorder);
    regs[fault::W_RFLAGS] = 0x202;
    c.ipc.tcb_write_registers(x, &regs)?;
    check_eq!(c.ipc.tcb_resume(x), Err(Error::IllegalOperation));
    let_others_run(c)?;
    expect_log("")
}

/// Record 'a', exit; 'z' would mean it ran past its exit.
extern "C" fn exiter(_arg: u64, _buf: u64) -> ! {
    record(b'a');
    septum_user::syscall::raw(septum_user::abi::syscall::THREAD_EXIT, 0, 0, [0; 4], 0);
    record(b'z');
    thread_exit()
}

fn exit_is_final(c: &mut Ctx) -> TestResult {
    let t = c.spawn("ks-exiter", exiter, 0, P)?;
    let_others_run(c)?;
    expect_log("a")?;
    check_eq!(c.ipc.tcb_resume(t.tcb), Err(Error::IllegalOperation));
    // Suspending an exited thread must not make it resumable.
    let _ = c.ipc.tcb_suspend(t.tcb);
    check_eq!(c.ipc.tcb_resume(t.tcb), Err(Error::IllegalOperation));
    let_others_run(c)?;
    expect_log("a")
}

/// Report `arg` in `RES[0]`, then count in `CNT[1]` and yield, forever.
extern "C" fn redirected(arg: u64, _buf: u64) -> ! {
    set_res(0, arg);
    loop {
        bump(1);
        yield_now();
    }
}

fn redirect(c: &mut Ctx) -> TestResult {
    let t = c.spawn("ks-redirect", counter, 0, P)?;
    share(c, P, 10)?;
    c.ipc.tcb_suspend(t.tcb)?;
    let stopped = cnt(0);
    check!(stopped > 0, "the counter never ran");
    let regs = c.ipc.tcb_read_registers(t.tcb)?;
    let (rip, rsp) = (regs[fault::W_RIP], regs[fault::W_RSP]);
    check!(
        rip != 0 && rip < 1 << 47,
        "suspended thread's RIP {rip:#x} is not user code"
    );
    check!(
        rsp != 0 && rsp < 1 << 47,
        "suspended thread's RSP {rsp:#x} is not a user stack"
    );
    check!(
        regs[fault::W_RFLAGS] & 0x200 != 0,
        "RFLAGS {:#x} without IF",
        regs[fault::W_RFLAGS]
    );
    let mut new = [0u64; 18];
    new.copy_from_slice(&regs[..18]);
    new[fault::W_RIP] = entry_addr(redirected);
    new[fault::W_RDI] = 0x5eed_cafe;
    // As after a call: 8 below a 16-byte boundary, under what it used.
    new[fault::W_RSP] = (rsp & !0xf) - 0x108;
    c.ipc.tcb_write_registers(t.tcb, &new)?;
    let back = c.ipc.tcb_read_registers(t.tcb)?;
    check_eq!(back[fault::W_RIP], entry_addr(redirected));
    check_eq!(back[fault::W_RDI], 0x5eed_cafe);
    c.ipc.tcb_resume(t.tcb)?;
    share(c, P, 10)?;
    check_eq!(res(0), 0x5eed_cafe);
    check!(cnt(1) >= 5, "redirected code counted only {}", cnt(1));
    check_eq!(cnt(0), stopped);
    Ok(())
}

fn round_trip(c: &mut Ctx) -> TestResult {
    let t = c.configured_thread("ks-regs", P, 0)?;
    let mut regs = [0u64; 20];
    for (i, r) in regs.iter_mut().enumerate() {
        *r = 0x0101_0101_0000 * (i as u64 + 1) + i as u64;
    }
    regs[fault::W_RIP] = entry_addr(recorder);
    regs[fault::W_RSP] = 0x7000_0000_0ff8;
    regs[fault::W_RFLAGS] = 0x202;
    regs[fault::W_FS_BASE] = 0x1234_5000;
    regs[fault::W_GS_BASE] = 0x6789_a000;
    c.ipc.tcb_write_registers(t.tcb, &regs)?;
    let back = c.ipc.tcb_read_registers(t.tcb)?;
    for i in 0..20 {
        check!(
            back[i] == regs[i],
            "word {i}: wrote {:#x}, read {:#x}",
            regs[i],
            back[i]
        );
    }
    // 18 words leave FS and GS base as they were.
    let mut short = [0u64; 18];
    short.copy_from_slice(&regs[..18]);
    short[fault::W_RAX] = 0xaaaa;
    c.ipc.tcb_write_registers(t.tcb, &short)?;
    let back = c.ipc.tcb_read_registers(t.tcb)?;
    check_eq!(back[fault::W_RAX], 0xaaaa);
    check_eq!(back[fault::W_FS_BASE], 0x1234_5000);
    check_eq!(back[fault::W_GS_BASE], 0x6789_a000);
    Ok(())
}

fn write_self(c: &mut Ctx) -> TestResult {
    let mut regs = c.ipc.tcb_read_registers(SELF_TCB)?;
    regs[fault::W_RAX] = 0x1234;
    check_eq!(
        c.ipc.tcb_write_registers(SELF_TCB, &regs),
        Err(Error::IllegalOperation)
    );
    // Through another capability to the same TCB too.
    let copy = c.slot();
    c.ipc.cnode_copy(
        CNODE,
        (copy, septum_test_tasks::ktest::DEPTH),
        CNODE,
        (SELF_TCB, septum_test_tasks::ktest::DEPTH),
        septum_test_tasks::ktest::rights::ALL,
    )?;
    check_eq!(
        c.ipc.tcb_write_registers(copy, &regs[..18]),
        Err(Error::IllegalOperation)
    );
    Ok(())
}

fn write_noncanonical(c: &mut Ctx) -> TestResult {
    let t = c.configured_thread("ks-regs", P, 0)?;
    let before = c.ipc.tcb_read_registers(t.tcb)?;
    let mut regs = [0u64; 20];
    regs[fault::W_RIP] = entry_addr(recorder);
    regs[fault::W_RFLAGS] = 0x202;
    regs[fault::W_RBX] = 0x77;
    for bad in [0x0000_8000_0000_0000, 0x8000_0000_0000_0000, u64::MAX >> 1] {
        let mut r = regs;
        r[fault::W_RIP] = bad;
        check_eq!(
            c.ipc.tcb_write_registers(t.tcb, &r[..18]),
            Err(Error::InvalidAddress)
        );
    }
    let mut r = regs;
    r[fault::W_FS_BASE] = 0x0000_8000_0000_0000;
    check_eq!(
        c.ipc.tcb_write_registers(t.tcb, &r),
        Err(Error::InvalidAddress)
    );
    let mut r = regs;
    r[fault::W_GS_BASE] = 0x1234_5678_9abc_def0;
    check_eq!(
        c.ipc.tcb_write_registers(t.tcb, &r),
        Err(Error::InvalidAddress)
    );
    // Nothing of the refused writes arrived.
    check_eq!(c.ipc.tcb_read_registers(t.tcb)?, before);
    Ok(())
}

fn write_too_few(c: &mut Ctx) -> TestResult {
    let t = c.configured_thread("ks-regs", P, 0)?;
    let before = c.ipc.tcb_read_registers(t.tcb)?;
    let mut regs = [0u64; 18];
    regs[fault::W_RIP] = entry_addr(recorder);
    regs[fault::W_RFLAGS] = 0x202;
    check_eq!(
        c.ipc.tcb_write_registers(t.tcb, &regs[..17]),
        Err(Error::Range)
    );
    check_eq!(c.ipc.tcb_write_registers(t.tcb, &[]), Err(Error::Range));
    check_eq!(
        c.ipc.tcb_write_registers(t.tcb, &regs[..1]),
        Err(Error::Range)
    );
    check_eq!(c.ipc.tcb_read_registers(t.tcb)?, before);
    check_eq!(c.ipc.tcb_write_registers(t.tcb, &regs), Ok(()));
    Ok(())
}

/// The name the kernel logs when the renamed thread exits (the scenario
/// expects it): the first 32 of 40 bytes.
const LONG_NAME: &[u8; 40] = b"ksched-renamed-thread-0123456789ABCDEFGH";

fn set_name(c: &mut Ctx) -> TestResult {
    let t = c.configured_thread("ks-unnamed", P, 0)?;
    // No words clears the name; more than 32 bytes are cut to 32.
    check_eq!(c.call(t.tcb, inv::TCB_SET_NAME, &[]).map(|_| ()), Ok(()));
    let mut w = [0u64; 5];
    for (i, b) in LONG_NAME.iter().enumerate() {
        w[i / 8] |= u64::from(*b) << (8 * (i % 8));
    }
    check_eq!(c.call(t.tcb, inv::TCB_SET_NAME, &w).map(|_| ()), Ok(()));
    // A name on something that is not a TCB is refused.
    let n = c.notification()?;
    check_eq!(c.ipc.tcb_set_name(n, "nope"), Err(Error::WrongType));
    c.start(t, recorder, rec(b'n', 1))?;
    let_others_run(c)?;
    expect_log("n")
}

fn configure_wrong_types(c: &mut Ctx) -> TestResult {
    let x = c.make(ty::TCB, 0)?;
    let n = c.notification()?;
    let ep = c.endpoint()?;
    let (frame, va) = c.mapped_frame()?;
    let pt = c.make(ty::PAGE_TABLE, 1)?;
    let empty = c.slot();
    let cases: [(&str, [u64; 5], Error); 8] = [
        (
            "cspace a notification",
            [n, SELF_VSPACE, frame, va, 0],
            Error::WrongType,
        ),
        (
            "cspace a TCB",
            [x, SELF_VSPACE, frame, va, 0],
            Error::WrongType,
        ),
        (
            "vspace a CNode",
            [CNODE, CNODE, frame, va, 0],
            Error::WrongType,
        ),
        (
            "vspace a page table",
            [CNODE, pt, frame, va, 0],
            Error::WrongType,
        ),
        (
            "buffer an endpoint",
            [CNODE, SELF_VSPACE, ep, va, 0],
            Error::WrongType,
        ),
        (
            "buffer a PML4",
            [CNODE, SELF_VSPACE, SELF_VSPACE, va, 0],
            Error::WrongType,
        ),
        (
            "fault ep a notification",
            [CNODE, SELF_VSPACE, frame, va, n],
            Error::WrongType,
        ),
        (
            "cspace empty",
            [empty, SELF_VSPACE, frame, va, 0],
            Error::InvalidCapability,
        ),
    ];
    for (what, a, e) in cases {
        let r = c.ipc.tcb_configure(x, a[0], a[1], a[2], a[3], a[4]);
        check!(r == Err(e), "configure with {what}: {r:?}, expected {e:?}");
    }
    // Other capability arguments naming an empty slot.
    check_eq!(
        c.ipc.tcb_set_priority(x, empty, 1),
        Err(Error::InvalidCapability)
    );
    check_eq!(
        c.ipc.tcb_set_mcp(x, empty, 1),
        Err(Error::InvalidCapability)
    );
    check_eq!(
        c.ipc.tcb_bind_notification(x, empty),
        Err(Error::InvalidCapability)
    );
    check_eq!(
        c.ipc.tcb_configure(x, CNODE, SELF_VSPACE, empty, va, 0),
        Err(Error::InvalidCapability)
    );
    // Nothing was configured by the refused calls.
    check_eq!(c.ipc.tcb_resume(x), Err(Error::IllegalOperation));
    Ok(())
}

fn configure_buffer(c: &mut Ctx) -> TestResult {
    let x = c.make(ty::TCB, 0)?;
    let (frame, va) = c.mapped_frame()?;
    let cases: [(&str, u64, Error); 4] = [
        ("misaligned", va + 8, Error::Alignment),
        ("half-page", va + 2048, Error::Alignment),
        ("in kernel space", KERNEL_SPACE_START, Error::InvalidAddress),
        (
            "non-canonical",
            0x0000_8000_0000_0000,
            Error::InvalidAddress,
        ),
    ];
    for (what, addr, e) in cases {
        let r = c.ipc.tcb_configure(x, CNODE, SELF_VSPACE, frame, addr, 0);
        check!(
            r == Err(e),
            "buffer {what} ({addr:#x}): {r:?}, expected {e:?}"
        );
    }
    check_eq!(c.ipc.tcb_resume(x), Err(Error::IllegalOperation));
    // The right address works, and the thread runs with that buffer.
    c.ipc.tcb_configure(x, CNODE, SELF_VSPACE, frame, va, 0)?;
    c.ipc.tcb_set_priority(x, SELF_TCB, P)?;
    let t = septum_test_tasks::ktest::Thread { tcb: x, buffer: va };
    c.start(t, recorder, rec(b'k', 1))?;
    let_others_run(c)?;
    expect_log("k")
}

fn unknown_method(c: &mut Ctx) -> TestResult {
    let t = c.configured_thread("ks-methods", P, 0)?;
    for label in [0, 1, 16, 31, 47, 63, 1000, u64::MAX >> 12] {
        let r = c.call(t.tcb, label, &[0, 0, 0, 0, 0]).map(|_| ());
        check!(
            r == Err(Error::IllegalOperation),
            "TCB method {label}: {r:?}"
        );
    }
    // Too few arguments (those given are valid).
    let few: [(u64, &[u64]); 5] = [
        (inv::TCB_CONFIGURE, &[CNODE, SELF_VSPACE, 0, 0]),
        (inv::TCB_SET_PRIORITY, &[SELF_TCB]),
        (inv::TCB_SET_MCP, &[SELF_TCB]),
        (inv::TCB_SET_TLS, &[0]),
        (inv::TCB_BIND_NOTIFICATION, &[]),
    ];
    for (label, args) in few {
        let n = args.len();
        let r = c.call(t.tcb, label, args).map(|_| ());
        check!(
            r == Err(Error::Range),
            "TCB method {label} with {n} words: {r:?}"
        );
    }
    Ok(())
}
