//! What the scheduling cases share: an order log and counters in static
//! atomics (written by the threads a case starts, read by the root), ways
//! for the root (priority 255) to let lower threads run, and the guard that
//! puts the root back at 255 after every case.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use septum_test_tasks::ktest::{Ctx, SELF_TCB, TestResult};
use septum_user::abi::Error;
use septum_user::syscall::yield_now;

/// The root's own priority (and MCP): what every case must leave it at.
pub const ROOT_PRIO: u64 = 255;
/// Where the root drops to so that every thread a case started can run.
pub const FLOOR: u64 = 1;
/// "Not written yet" in a result word.
pub const NONE: u64 = u64::MAX;

/// Entries the order log keeps.
pub const LOG_CAP: usize = 64;
static LOG: [AtomicU64; LOG_CAP] = [const { AtomicU64::new(0) }; LOG_CAP];
static LOG_LEN: AtomicUsize = AtomicUsize::new(0);
/// Counters threads advance.
pub static CNT: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
/// Results threads report (error codes, words they received).
pub static RES: [AtomicU64; 8] = [const { AtomicU64::new(NONE) }; 8];
/// Arguments the root hands its threads (capability pointers).
pub static ARG: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// Clear the log, counters, results and arguments.
pub fn reset() {
    LOG_LEN.store(0, Ordering::SeqCst);
    for e in &LOG {
        e.store(0, Ordering::SeqCst);
    }
    for c in &CNT {
        c.store(0, Ordering::SeqCst);
    }
    for r in &RES {
        r.store(NONE, Ordering::SeqCst);
    }
    for a in &ARG {
        a.store(0, Ordering::SeqCst);
    }
}

/// Append the event `id` (an ASCII letter) to the order log.
pub fn record(id: u8) {
    let i = LOG_LEN.fetch_add(1, Ordering::SeqCst);
    if i < LOG_CAP {
        LOG[i].store(u64::from(id), Ordering::SeqCst);
    }
}

/// The order log as a string of letters.
pub fn log() -> heapless::String<LOG_CAP> {
    let n = LOG_LEN.load(Ordering::SeqCst).min(LOG_CAP);
    let mut s = heapless::String::new();
    for e in &LOG[..n] {
        let _ = s.push(e.load(Ordering::SeqCst) as u8 as char);
    }
    s
}

/// Fail unless the order log is exactly `expected`.
pub fn expect_log(expected: &str) -> TestResult {
    let got = log();
    septum_test_tasks::check!(
        got.as_str() == expected,
        "order log {:?}, expected {:?}",
        got.as_str(),
        expected
    );
    Ok(())
}

pub fn cnt(i: usize) -> u64 {
    CNT[i].load(Ordering::SeqCst)
}

pub fn bump(i: usize) -> u64 {
    CNT[i].fetch_add(1, Ordering::SeqCst) + 1
}

pub fn res(i: usize) -> u64 {
    RES[i].load(Ordering::SeqCst)
}

pub fn set_res(i: usize, v: u64) {
    RES[i].store(v, Ordering::SeqCst)
}

pub fn arg(i: usize) -> u64 {
    ARG[i].load(Ordering::SeqCst)
}

pub fn set_arg(i: usize, v: u64) {
    ARG[i].store(v, Ordering::SeqCst)
}

/// A call's outcome as one word: 0 for success, the error code otherwise.
pub fn code<T>(r: Result<T, Error>) -> u64 {
    match r {
        Ok(_) => 0,
        Err(e) => e as u64,
    }
}

/// Set the root's own priority (its MCP is 255, so any value is allowed).
pub fn set_root_prio(c: &mut Ctx, prio: u64) -> Result<(), Error> {
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, prio)
}

/// Let every thread above [`FLOOR`] run until all of them are blocked or
/// gone: the root drops below them (the call returns only when nothing
/// above the floor is runnable) and comes back to 255.
pub fn let_others_run(c: &mut Ctx) -> Result<(), Error> {
    set_root_prio(c, FLOOR)?;
    set_root_prio(c, ROOT_PRIO)
}

/// Run at `prio` and yield `n` times, so threads of that priority that
/// yield in a loop take turns with the root; then back to 255.
pub fn share(c: &mut Ctx, prio: u64, n: u32) -> Result<(), Error> {
    set_root_prio(c, prio)?;
    for _ in 0..n {
        yield_now();
    }
    set_root_prio(c, ROOT_PRIO)
}

/// The time-stamp counter.
pub fn tsc() -> u64 {
    // SAFETY: `rdtsc` only reads the time-stamp counter; it touches no
    // memory and no register but rax/rdx, which the intrinsic declares.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Spin until `cond` holds or `cycles` time-stamp cycles have passed;
/// whether it held.
pub fn spin_until(cycles: u64, cond: impl Fn() -> bool) -> bool {
    let start = tsc();
    loop {
        if cond() {
            return true;
        }
        if tsc().wrapping_sub(start) > cycles {
            return cond();
        }
        core::hint::spin_loop();
    }
}

/// Run a case with fresh shared state, and put the root back at priority
/// 255 afterwards whatever the case did (later cases rely on it).
pub fn guarded(c: &mut Ctx, case: fn(&mut Ctx) -> TestResult) -> TestResult {
    reset();
    let r = case(c);
    let back = set_root_prio(c, ROOT_PRIO);
    r?;
    back.map_err(Into::into)
}
