//! Priorities, MCP bounds, round-robin and yield.

use crate::common::{
    ARG, arg, bump, cnt, code, expect_log, let_others_run, record, res, set_res, set_root_prio,
};
use septum_test_tasks::ktest::{CNODE, Ctx, SELF_TCB, Test, TestResult, thread_ipc, ty};
use septum_test_tasks::{check, check_eq};
use septum_user::abi::{Error, syscall as nr};
use septum_user::syscall::{raw, signal, thread_exit, wait, yield_now};

pub const TESTS: &[Test] = &[
    case!("prio_higher_runs_to_completion_first", higher_first),
    case!("prio_raised_while_both_wait", raised_while_waiting),
    case!("prio_changed_while_queued", changed_while_queued),
    case!("prio_above_authority_mcp_is_range", above_mcp),
    case!("mcp_above_authority_mcp_is_range", mcp_above_mcp),
    case!("prio_lowered_mcp_grants_no_more", lowered_mcp),
    case!("rr_three_threads_interleave", round_robin),
    case!("yield_alone_returns", yield_alone),
    case!("yield_does_not_run_lower_priority", yield_not_lower),
];

/// `arg` = letter | repetitions << 8: record the letter and yield, that
/// many times, then exit.
pub extern "C" fn recorder(arg: u64, _buf: u64) -> ! {
    let (id, n) = (arg as u8, (arg >> 8) & 0xff);
    for _ in 0..n {
        record(id);
        yield_now();
    }
    thread_exit()
}

/// The argument for [`recorder`].
pub fn rec(id: u8, n: u64) -> u64 {
    u64::from(id) | n << 8
}

/// `arg` = letter | notification << 8: wait on it, record, exit.
pub extern "C" fn waiter(arg: u64, _buf: u64) -> ! {
    let _ = wait(arg >> 8);
    record(arg as u8);
    thread_exit()
}

fn higher_first(c: &mut Ctx) -> TestResult {
    // The lower one is made runnable first, so it is not queue order that
    // puts the higher one ahead.
    c.spawn("ks-low", recorder, rec(b'L', 5), 30)?;
    c.spawn("ks-high", recorder, rec(b'H', 5), 60)?;
    expect_log("")?;
    let_others_run(c)?;
    // The higher one yields between records, with nobody of its priority
    // around: it keeps the CPU until it is done.
    expect_log("HHHHHLLLLL")
}

fn raised_while_waiting(c: &mut Ctx) -> TestResult {
    let (na, nb) = (c.notification()?, c.notification()?);
    let a = c.spawn("ks-a", waiter, u64::from(b'A') | na << 8, 20)?;
    c.spawn("ks-b", waiter, u64::from(b'B') | nb << 8, 30)?;
    let_others_run(c)?;
    expect_log("")?;
    // Both wait; A goes above B, then both are woken (B first).
    c.ipc.tcb_set_priority(a.tcb, SELF_TCB, 40)?;
    signal(nb)?;
    signal(na)?;
    let_others_run(c)?;
    expect_log("AB")
}

fn changed_while_queued(c: &mut Ctx) -> TestResult {
    let a = c.spawn("ks-a", recorder, rec(b'A', 2), 30)?;
    let b = c.spawn("ks-b", recorder, rec(b'B', 2), 40)?;
    c.spawn("ks-c", recorder, rec(b'C', 2), 35)?;
    // Both in the run queue, never run: A moves up past B, B down past C.
    c.ipc.tcb_set_priority(a.tcb, SELF_TCB, 50)?;
    c.ipc.tcb_set_priority(b.tcb, SELF_TCB, 20)?;
    let_others_run(c)?;
    expect_log("AACCBB")
}

fn above_mcp(c: &mut Ctx) -> TestResult {
    let auth = c.make(ty::TCB, 0)?;
    c.ipc.tcb_set_mcp(auth, SELF_TCB, 50)?;
    let x = c.configured_thread("ks-x", 10, 0)?;
    check_eq!(c.ipc.tcb_set_priority(x.tcb, auth, 51), Err(Error::Range));
    check_eq!(c.ipc.tcb_set_priority(x.tcb, auth, 255), Err(Error::Range));
    check_eq!(
        c.ipc.tcb_set_priority(x.tcb, SELF_TCB, 256),
        Err(Error::Range)
    );
    // A fresh TCB has MCP 0: it authorises priority 0 and nothing more.
    let fresh = c.make(ty::TCB, 0)?;
    check_eq!(c.ipc.tcb_set_priority(x.tcb, fresh, 1), Err(Error::Range));
    check_eq!(c.ipc.tcb_set_priority(fresh, fresh, 0), Ok(()));
    // The authority must be a TCB.
    let n = c.notification()?;
    check_eq!(c.ipc.tcb_set_priority(x.tcb, n, 1), Err(Error::WrongType));
    // Up to the bound works, and the refusals left x where it was (10):
    // at 50 it runs before a thread of 45.
    check_eq!(c.ipc.tcb_set_priority(x.tcb, auth, 50), Ok(()));
    c.spawn("ks-y", recorder, rec(b'Y', 1), 45)?;
    c.start(x, recorder, rec(b'X', 1))?;
    let_others_run(c)?;
    expect_log("XY")
}

fn mcp_above_mcp(c: &mut Ctx) -> TestResult {
    let auth = c.make(ty::TCB, 0)?;
    c.ipc.tcb_set_mcp(auth, SELF_TCB, 50)?;
    let x = c.make(ty::TCB, 0)?;
    let y = c.make(ty::TCB, 0)?;
    check_eq!(c.ipc.tcb_set_mcp(x, auth, 51), Err(Error::Range));
    check_eq!(c.ipc.tcb_set_mcp(x, SELF_TCB, 256), Err(Error::Range));
    // x still has MCP 0 after the refusals.
    check_eq!(c.ipc.tcb_set_priority(y, x, 1), Err(Error::Range));
    check_eq!(c.ipc.tcb_set_mcp(x, auth, 50), Ok(()));
    // Now x authorises up to 50, for priorities and MCPs alike.
    check_eq!(c.ipc.tcb_set_priority(y, x, 50), Ok(()));
    check_eq!(c.ipc.tcb_set_priority(y, x, 51), Err(Error::Range));
    check_eq!(c.ipc.tcb_set_mcp(y, x, 50), Ok(()));
    check_eq!(c.ipc.tcb_set_mcp(y, x, 51), Err(Error::Range));
    Ok(())
}

/// Uses its own TCB (`ARG[0]`, MCP 10) as authority over a TCB it makes
/// from the case's untyped (`ARG[1]`) into slot `ARG[2]`; results in
/// `RES[0..7]`; signals `ARG[3]`.
extern "C" fn low_mcp_worker(_arg: u64, buf: u64) -> ! {
    let mut ipc = thread_ipc(buf);
    let (me, ut, dst, done) = (arg(0), arg(1), arg(2), arg(3));
    set_res(0, code(ipc.retype(ut, ty::TCB, 0, CNODE, dst, 1)));
    set_res(1, code(ipc.tcb_set_priority(dst, me, 255)));
    set_res(2, code(ipc.tcb_set_mcp(dst, me, 11)));
    set_res(3, code(ipc.tcb_set_priority(me, me, 11)));
    set_res(4, code(ipc.tcb_set_mcp(me, me, 200)));
    set_res(5, code(ipc.tcb_set_priority(dst, me, 10)));
    set_res(6, code(ipc.tcb_set_mcp(dst, me, 10)));
    let _ = signal(done);
    thread_exit()
}

fn lowered_mcp(c: &mut Ctx) -> TestResult {
    let done = c.notification()?;
    let dst = c.slot();
    let w = c.configured_thread("ks-low-mcp", 10, 0)?;
    c.ipc.tcb_set_mcp(w.tcb, SELF_TCB, 10)?;
    for (i, v) in [w.tcb, c.ut, dst, done].into_iter().enumerate() {
        ARG[i].store(v, core::sync::atomic::Ordering::SeqCst);
    }
    c.start(w, low_mcp_worker, 0)?;
    let_others_run(c)?;
    check_eq!(res(0), 0);
    let range = Error::Range as u64;
    // It holds memory and makes a TCB, but cannot give it (or itself)
    // more than its own MCP of 10.
    check_eq!(res(1), range);
    check_eq!(res(2), range);
    check_eq!(res(3), range);
    check_eq!(res(4), range);
    check_eq!(res(5), 0);
    check_eq!(res(6), 0);
    check_eq!(
        c.identify(dst)?.cap_type,
        septum_test_tasks::ktest::cap::TCB
    );
    Ok(())
}

fn round_robin(c: &mut Ctx) -> TestResult {
    c.spawn("ks-a", recorder, rec(b'A', 5), 50)?;
    c.spawn("ks-b", recorder, rec(b'B', 5), 50)?;
    c.spawn("ks-c", recorder, rec(b'C', 5), 50)?;
    let_others_run(c)?;
    expect_log("ABCABCABCABCABC")
}

fn yield_alone(c: &mut Ctx) -> TestResult {
    // Alone at 255, and then alone in the whole system at priority 1.
    for i in 0..100 {
        let r = raw(nr::YIELD, 0, 0, [0; 4], 0);
        check!(r.rax == 0, "yield {i} at 255 returned {:#x}", r.rax);
    }
    set_root_prio(c, 1)?;
    let mut bad = None;
    for i in 0..100 {
        let r = raw(nr::YIELD, 0, 0, [0; 4], 0);
        if r.rax != 0 && bad.is_none() {
            bad = Some((i, r.rax));
        }
    }
    set_root_prio(c, 255)?;
    if let Some((i, rax)) = bad {
        septum_test_tasks::fail!("yield {i} at priority 1 returned {rax:#x}");
    }
    Ok(())
}

/// Count once in `CNT[arg]`, then exit.
extern "C" fn count_once(arg: u64, _buf: u64) -> ! {
    bump(arg as usize);
    thread_exit()
}

fn yield_not_lower(c: &mut Ctx) -> TestResult {
    c.spawn("ks-254", count_once, 0, 254)?;
    for _ in 0..200 {
        yield_now();
    }
    check_eq!(cnt(0), 0);
    // It was runnable all along: it runs as soon as the root blocks lower.
    let_others_run(c)?;
    check_eq!(cnt(0), 1);
    Ok(())
}
