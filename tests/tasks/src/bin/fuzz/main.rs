//! The system-call fuzzer: a seeded stream of random system calls from a
//! thread whose whole world is a sandbox of capabilities, with the
//! kernel's invariant check (`DebugCheck`, kernel option `debug_checks`)
//! after every batch. Booted as the root task by the `kernel-fuzz`
//! scenario.
//!
//! Threads (all in the root task's address space, so they share code and
//! these statics):
//!
//! | thread | priority | what |
//! |---|---|---|
//! | root | 255 | builds everything, handles the fuzz thread's faults, checks, reports |
//! | echo | 200 | answers everything sent to the sandbox's served endpoint |
//! | fuzz | 100 | makes the random calls; its capability space is the sandbox |
//! | watchdog | 50 | runs only when the fuzz thread is blocked: unblocks it |
//!
//! Why nothing can stop the run:
//!
//! - Blocking calls (`Recv`, `Wait`, `Send` or `Call` on the endpoint
//!   nobody serves, `ReplyRecv`) are generated: when one blocks, nothing
//!   of higher priority is runnable (the root and the echo thread only wait
//!   for the fuzz thread), so the watchdog runs and suspends and resumes the
//!   fuzz thread, which cancels the wait; the call returns and the fuzz
//!   thread goes on. Strict priorities make this exact: the watchdog never
//!   runs while the fuzz thread can.
//! - A number outside Septum's range is a fault; the fuzz thread's fault
//!   endpoint (not in the sandbox) is the root task's, which counts it and
//!   resumes the thread past its `syscall`.
//! - `ThreadExit` is never generated. The fuzz thread holds no capability
//!   to itself, its address space, its IPC buffer or any thread of the
//!   test: every thread it can reach (the victim, threads it makes itself)
//!   has priority and MCP 0 and runs in an address space of its own.
//! - `DebugWrite` never names readable memory with a non-zero length.
//!
//! After each batch the fuzz thread executes a marker number
//! ([`calls::MARK_BATCH`]); the root task gets it as a fault, runs the
//! invariant check, every few batches tears the sandbox down (revoking its
//! untyped) and builds it again, and resumes the fuzz thread.
//!
//! The seed and the call count are constants; `SEPTUM_FUZZ_CALLS` and
//! `SEPTUM_FUZZ_SEED` in the environment of the build override them
//! (`SEPTUM_FUZZ_CALLS=1000000 cargo xtask test kernel-fuzz`, see
//! docs/testing.md).
#![no_std]
#![no_main]

mod calls;
mod sandbox;

use calls::{Class, MARK_BATCH, MARK_DONE, Rng};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use sandbox::Sandbox;
use septum_test_tasks::ktest::{self, CNODE, Ctx, DEPTH, SELF_VSPACE, rights, ty};
use septum_user::abi::ipc::buffer;
use septum_user::abi::{Error, fault, syscall as nr};
use septum_user::ipc::Message;
use septum_user::println;
use septum_user::syscall::raw;

septum_user::entry!(main);

/// Parse a decimal or `0x` hexadecimal number (underscores allowed) at
/// compile time.
const fn parse(s: &str) -> u64 {
    let b = s.as_bytes();
    let (radix, mut i) = if b.len() > 2 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X') {
        (16, 2)
    } else {
        (10, 0)
    };
    let mut v: u64 = 0;
    while i < b.len() {
        let d = match b[i] {
            c @ b'0'..=b'9' => (c - b'0') as u64,
            c @ b'a'..=b'f' if radix == 16 => (c - b'a' + 10) as u64,
            c @ b'A'..=b'F' if radix == 16 => (c - b'A' + 10) as u64,
            b'_' => {
                i += 1;
                continue;
            }
            _ => panic!("SEPTUM_FUZZ_CALLS and SEPTUM_FUZZ_SEED must be numbers"),
        };
        v = v * radix + d;
        i += 1;
    }
    v
}

/// Calls between invariant checks.
const BATCH: u64 = 1000;
/// Random calls in all (a multiple of [`BATCH`], rounded up).
const CALLS: u64 = match option_env!("SEPTUM_FUZZ_CALLS") {
    Some(s) => parse(s).div_ceil(BATCH) * BATCH,
    None => 100_000,
};
const SEED: u64 = match option_env!("SEPTUM_FUZZ_SEED") {
    Some(s) => parse(s),
    None => 0x5e97_f022_0000_0001,
};
/// Batches between sandbox rebuilds.
const REBUILD_EVERY: u64 = 2;

const PRIO_ECHO: u64 = 200;
const PRIO_FUZZ: u64 = 100;
const PRIO_WATCHDOG: u64 = 50;

/// Badges on the root task's control endpoint.
const BADGE_FAULT: u64 = 1;
const BADGE_WATCHDOG: u64 = 2;

// Shared between the threads (one address space, one CPU).
/// Calls made, by outcome: `rax` 0, each error code, anything else.
static OK: AtomicU64 = AtomicU64::new(0);
static ERRORS: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];
static OTHER: AtomicU64 = AtomicU64::new(0);
/// `Call`s by invocation label (0..=64): made, and answered with 0.
static LABEL_CALLS: [AtomicU64; 65] = [const { AtomicU64::new(0) }; 65];
static LABEL_OK: [AtomicU64; 65] = [const { AtomicU64::new(0) }; 65];
static CALLS_DONE: AtomicU64 = AtomicU64::new(0);
static FOREIGN: AtomicU64 = AtomicU64::new(0);
/// Results that contradict the kernel's documented behaviour.
static ODD: AtomicU64 = AtomicU64::new(0);
static ODD_FIRST: AtomicU64 = AtomicU64::new(0);
/// `DebugCheck`s the fuzz thread drew, and how many of them failed.
static FUZZ_CHECKS: AtomicU64 = AtomicU64::new(0);
static FUZZ_CHECKS_FAILED: AtomicU64 = AtomicU64::new(0);
/// Times the watchdog unblocked the fuzz thread.
static RESCUES: AtomicU64 = AtomicU64::new(0);
/// Messages the echo thread received.
static ECHOED: AtomicU64 = AtomicU64::new(0);
/// Root-CNode slots the helper threads use.
static SERVED_EP: AtomicU64 = AtomicU64::new(0);
static ECHO_REPLY: AtomicU64 = AtomicU64::new(0);
static FUZZ_TCB: AtomicU64 = AtomicU64::new(0);
static CONTROL: AtomicU64 = AtomicU64::new(0);

fn record(c: &calls::Call, rax: u64) {
    CALLS_DONE.fetch_add(1, Relaxed);
    let code = rax.wrapping_neg();
    if rax == 0 {
        OK.fetch_add(1, Relaxed);
    } else if (1..16).contains(&code) {
        ERRORS[code as usize].fetch_add(1, Relaxed);
    } else {
        OTHER.fetch_add(1, Relaxed);
    }
    let expected = match c.class {
        // The root task resumes a faulted call unchanged: `rax` holds the number.
        Class::Foreign => Some(c.number),
        Class::UnknownSeptum => Some(Error::UnknownSyscall.to_rax()),
        Class::Septum if c.number == nr::YIELD => Some(0),
        Class::Septum if c.number == nr::DEBUG_WRITE => {
            (rax != 0 && rax != Error::InvalidAddress.to_rax() && rax != Error::Range.to_rax())
                .then_some(0)
        }
        _ => None,
    };
    if c.class == Class::Foreign {
        FOREIGN.fetch_add(1, Relaxed);
    }
    let label = (c.rsi >> 12) as usize;
    if c.number == nr::CALL && label < LABEL_CALLS.len() && c.rsi & 0xe00 == 0 {
        LABEL_CALLS[label].fetch_add(1, Relaxed);
        if rax == 0 {
            LABEL_OK[label].fetch_add(1, Relaxed);
        }
    }
    if c.number == nr::DEBUG_CHECK {
        FUZZ_CHECKS.fetch_add(1, Relaxed);
        if rax == Error::Range.to_rax() {
            FUZZ_CHECKS_FAILED.fetch_add(1, Relaxed);
        }
    }
    if expected.is_some_and(|e| e != rax) && ODD.fetch_add(1, Relaxed) == 0 {
        ODD_FIRST.store(c.number, Relaxed);
    }
}

/// The fuzz thread: `batches` batches of random calls from `seed`.
extern "C" fn fuzz_thread(seed: u64, buffer_addr: u64) -> ! {
    let mut rng = Rng::new(seed);
    let buf = buffer_addr as *mut u64;
    let put = |i: usize, v: u64| {
        if i < buffer::WORDS {
            // SAFETY: `buffer_addr` is this thread's own IPC buffer, a
            // mapped page nothing else in this task uses; `i` is below
            // the 69 words the kernel defines. Volatile: the kernel writes
            // the page too.
            unsafe { buf.add(i).write_volatile(v) }
        }
    };
    for batch in 0..CALLS / BATCH {
        for _ in 0..BATCH {
            let c = rng.call();
            for (i, &w) in c.extra[..c.extra_len].iter().enumerate() {
                put(buffer::MESSAGE + i, w);
            }
            // Now and then: capabilities to send and where to receive them.
            if rng.chance(5) {
                for i in 0..3 {
                    put(buffer::SEND_CAPS + i, rng.cptr());
                }
                put(
                    buffer::RECV_CNODE,
                    if rng.chance(50) { 0 } else { rng.cptr() },
                );
                put(buffer::RECV_INDEX, rng.word());
            }
            let r = raw(c.number, c.rdi, c.rsi, c.mr, c.r12);
            record(&c, r.rax);
        }
        raw(MARK_BATCH, batch, CALLS_DONE.load(Relaxed), [0; 4], 0);
    }
    loop {
        raw(MARK_DONE, 0, 0, [0; 4], 0);
    }
}

/// The echo thread: answers every message on the served endpoint.
extern "C" fn echo_thread(_: u64, buffer_addr: u64) -> ! {
    let mut ipc = ktest::thread_ipc(buffer_addr);
    let (ep, reply) = (SERVED_EP.load(Relaxed), ECHO_REPLY.load(Relaxed));
    let mut answer = Message::new(0, &[]);
    loop {
        answer = match ipc.reply_recv(ep, reply, &answer) {
            Ok(r) => {
                ECHOED.fetch_add(1, Relaxed);
                Message::new(0, &[r.msg.label, r.msg.len as u64, r.badge])
            }
            Err(_) => Message::new(0, &[]),
        };
    }
}

/// The watchdog: whenever it runs, the fuzz thread is blocked (it has the
/// higher priority), so suspend and resume it, which ends the wait.
extern "C" fn watchdog_thread(_: u64, buffer_addr: u64) -> ! {
    let mut ipc = ktest::thread_ipc(buffer_addr);
    let fuzz = FUZZ_TCB.load(Relaxed);
    loop {
        RESCUES.fetch_add(1, Relaxed);
        let done = ipc.tcb_suspend(fuzz).and_then(|()| ipc.tcb_resume(fuzz));
        if let Err(e) = done {
            // The fuzz thread cannot be resumed: tell the root task.
            let m = Message::new(e as u64, &[]);
            let _ = ipc.send(CONTROL.load(Relaxed), &m);
            loop {
                septum_user::syscall::yield_now();
            }
        }
    }
}

/// Everything the root task keeps.
struct Fuzz {
    ctx: Ctx,
    sandbox: Sandbox,
    control: u64,
    control_reply: u64,
    fault_ep: u64,
    fuzz_tcb: u64,
    fuzz_frame: u64,
    fuzz_buffer: u64,
    helpers: [u64; 2],
}

/// What the run found.
#[derive(Default)]
struct Outcome {
    batches: u64,
    checks: u64,
    check_failed: Option<(u64, u64)>,
    rebuild_failed: Option<(u64, Error)>,
    faults: u64,
    other_faults: u64,
    stopped: Option<&'static str>,
    slots_checked: u64,
}

fn main() {
    println!(
        "seed {SEED:#x}, {CALLS} calls in batches of {BATCH}, sandbox rebuilt every {REBUILD_EVERY} batches"
    );
    let mut fuzz = match setup() {
        Ok(f) => f,
        Err(e) => {
            println!("septum-test: fuzz_setup FAILED {}", e.name());
            return;
        }
    };
    println!("septum-test: fuzz_setup ok");
    let start = rdtsc();
    let out = drive(&mut fuzz);
    let cycles = rdtsc().wrapping_sub(start);
    report(&mut fuzz, &out, cycles);
}

fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` only reads the time-stamp counter (allowed in user
    // mode unless CR4.TSD is set, which Septum does not set).
    unsafe { core::arch::x86_64::_rdtsc() }
}

fn setup() -> Result<Fuzz, Error> {
    let mut ctx = ktest::session()?;
    let control = ctx.endpoint()?;
    let control_reply = ctx.reply()?;
    let fault_ep = ctx.slot();
    ctx.ipc.cnode_mint(
        CNODE,
        (fault_ep, DEPTH),
        CNODE,
        (control, DEPTH),
        rights::ALL,
        BADGE_FAULT,
    )?;
    let watchdog_ep = ctx.slot();
    ctx.ipc.cnode_mint(
        CNODE,
        (watchdog_ep, DEPTH),
        CNODE,
        (control, DEPTH),
        rights::WRITE,
        BADGE_WATCHDOG,
    )?;
    let served = ctx.endpoint()?;
    let echo_reply = ctx.reply()?;
    SERVED_EP.store(served, Relaxed);
    ECHO_REPLY.store(echo_reply, Relaxed);
    CONTROL.store(watchdog_ep, Relaxed);

    let sandbox = Sandbox::new(&mut ctx, served)?;
    sandbox.build(&mut ctx)?;

    // The fuzz thread: sandbox capability space, the root's address space
    // (its code and these statics), its own IPC buffer, faults to us.
    let fuzz_tcb = ctx.make(ty::TCB, 0)?;
    let (fuzz_frame, fuzz_buffer) = ctx.mapped_frame()?;
    ctx.ipc.tcb_configure(
        fuzz_tcb,
        sandbox.cnode,
        SELF_VSPACE,
        fuzz_frame,
        fuzz_buffer,
        fault_ep,
    )?;
    // Not "fuzz": only the root thread carries the task's name, which is
    // what the harness trusts a verdict line from.
    ctx.ipc.tcb_set_name(fuzz_tcb, "fuzz-calls")?;
    ctx.ipc
        .tcb_set_priority(fuzz_tcb, ktest::SELF_TCB, PRIO_FUZZ)?;
    FUZZ_TCB.store(fuzz_tcb, Relaxed);

    let echo = ctx.spawn("fuzz-echo", echo_thread, 0, PRIO_ECHO)?;
    let watchdog = ctx.spawn("fuzz-watchdog", watchdog_thread, 0, PRIO_WATCHDOG)?;
    let fuzz = ktest::Thread {
        tcb: fuzz_tcb,
        buffer: fuzz_buffer,
    };
    ctx.start(fuzz, fuzz_thread, SEED)?;
    Ok(Fuzz {
        ctx,
        sandbox,
        control,
        control_reply,
        fault_ep,
        fuzz_tcb,
        fuzz_frame,
        fuzz_buffer,
        helpers: [echo.tcb, watchdog.tcb],
    })
}

/// The kernel's invariant check: `Ok(slots checked)` or `Err(problems)`.
fn debug_check() -> Result<u64, u64> {
    let r = raw(nr::DEBUG_CHECK, 0, 0, [0; 4], 0);
    match r.rax {
        0 => Ok(r.rdi),
        rax if rax == Error::Range.to_rax() => Err(r.mr[3]),
        // Not enabled, or not known: the scenario must boot with `debug_checks`.
        _ => Err(u64::MAX),
    }
}

/// Serve the fuzz thread's faults until it is done or something breaks.
fn drive(f: &mut Fuzz) -> Outcome {
    let mut out = Outcome::default();
    let mut answer = false;
    loop {
        let resume = Message::new(fault::RESUME, &[]);
        if answer {
            let _ = f.ctx.ipc.reply(f.control_reply, &resume);
        }
        let got = match f.ctx.ipc.recv(f.control, f.control_reply) {
            Ok(got) => got,
            Err(e) => {
                println!("receiving on the control endpoint failed: {}", e.name());
                out.stopped = Some("the control endpoint failed");
                return out;
            }
        };
        if got.badge == BADGE_WATCHDOG {
            let e = Error::ALL
                .into_iter()
                .find(|e| *e as u64 == got.msg.label)
                .map_or("?", |e| e.name());
            println!("the watchdog cannot resume the fuzz thread: {e}");
            out.stopped = Some("the fuzz thread stopped for good");
            return out;
        }
        let kind = fault::Kind::from_label(got.msg.label);
        let rax = got.msg.word(fault::W_RAX);
        if kind != Some(fault::Kind::UnknownSyscall) {
            // The fuzz thread never touches bad memory itself.
            out.other_faults += 1;
            println!(
                "unexpected fault {:?} at rip {:#x}, address {:#x}",
                kind,
                got.msg.word(fault::W_RIP),
                got.msg.word(fault::W_ADDR)
            );
            out.stopped = Some("the fuzz thread faulted");
            return out;
        }
        match rax {
            MARK_DONE => return out,
            MARK_BATCH => {
                out.batches += 1;
                let batch = got.msg.word(fault::W_RDI);
                if !check(&mut out, batch) {
                    return out;
                }
                if out.batches.is_multiple_of(REBUILD_EVERY)
                    && let Err(e) = rebuild(f)
                {
                    println!(
                        "rebuilding the sandbox after batch {batch} failed: {}",
                        e.name()
                    );
                    out.rebuild_failed = Some((batch, e));
                    return out;
                }
                if out.batches.is_multiple_of(10) {
                    println!(
                        "{} calls, {} checks passed, {} faults, {} rescues, {} echoed",
                        CALLS_DONE.load(Relaxed),
                        out.checks,
                        out.faults,
                        RESCUES.load(Relaxed),
                        ECHOED.load(Relaxed)
                    );
                }
            }
            _ => out.faults += 1,
        }
        answer = true;
    }
}

/// Run the kernel's check after `batch`; false if it failed.
fn check(out: &mut Outcome, batch: u64) -> bool {
    match debug_check() {
        Ok(slots) => {
            out.checks += 1;
            out.slots_checked = slots;
            true
        }
        Err(problems) => {
            println!(
                "the invariant check failed after batch {batch} (seed {SEED:#x}): {problems} problem(s), see the kernel log above"
            );
            out.check_failed = Some((batch, problems));
            false
        }
    }
}

/// Tear the sandbox down and build it again; the fuzz thread (waiting for
/// our answer to its marker) gets the new one as its capability space.
fn rebuild(f: &mut Fuzz) -> Result<(), Error> {
    f.sandbox.tear_down(&mut f.ctx)?;
    if let Err(problems) = debug_check() {
        println!(
            "the invariant check failed after tearing the sandbox down: {problems} problem(s)"
        );
        return Err(Error::IllegalOperation);
    }
    f.sandbox.build(&mut f.ctx)?;
    f.ctx.ipc.tcb_configure(
        f.fuzz_tcb,
        f.sandbox.cnode,
        SELF_VSPACE,
        f.fuzz_frame,
        f.fuzz_buffer,
        f.fault_ep,
    )
}

fn report(f: &mut Fuzz, out: &Outcome, cycles: u64) {
    // Stop every thread of the test, then take the sandbox away.
    let _ = f.ctx.ipc.tcb_suspend(f.fuzz_tcb);
    for t in f.helpers {
        let _ = f.ctx.ipc.tcb_suspend(t);
    }
    let teardown = f.sandbox.tear_down(&mut f.ctx);
    let final_check = debug_check();

    let calls = CALLS_DONE.load(Relaxed);
    println!(
        "finished: {calls} calls ({} ok, {} other results), {} batches, {} checks, {} faults, {} rescues, {} messages echoed",
        OK.load(Relaxed),
        OTHER.load(Relaxed),
        out.batches,
        out.checks,
        out.faults,
        RESCUES.load(Relaxed),
        ECHOED.load(Relaxed)
    );
    for e in Error::ALL {
        let n = ERRORS[e as usize].load(Relaxed);
        if n > 0 {
            println!("  {n:>7} {}", e.name());
        }
    }
    // Which invocations got through: label calls/succeeded.
    let mut line: heapless::String<120> = heapless::String::new();
    for (label, n) in LABEL_CALLS.iter().enumerate() {
        let n = n.load(Relaxed);
        if n == 0 {
            continue;
        }
        let ok = LABEL_OK[label].load(Relaxed);
        let _ = core::fmt::Write::write_fmt(&mut line, format_args!(" {label}:{ok}/{n}"));
        if line.len() > 90 {
            println!("labels ok/made{line}");
            line.clear();
        }
    }
    if !line.is_empty() {
        println!("labels ok/made{line}");
    }
    println!(
        "{} DebugChecks drawn by the fuzz thread ({} failed); last check covered {} slots; {} TSC cycles ({} per call)",
        FUZZ_CHECKS.load(Relaxed),
        FUZZ_CHECKS_FAILED.load(Relaxed),
        out.slots_checked,
        cycles,
        cycles / calls.max(1)
    );

    // Every call made; every foreign number came back as exactly one
    // fault; every result the kernel documents was that result.
    let (foreign, odd) = (FOREIGN.load(Relaxed), ODD.load(Relaxed));
    match out.stopped {
        Some(why) => println!("septum-test: fuzz_calls FAILED after {calls} calls: {why}"),
        None if calls != CALLS => {
            println!("septum-test: fuzz_calls FAILED {calls} of {CALLS} calls made")
        }
        None if out.faults != foreign => println!(
            "septum-test: fuzz_calls FAILED {foreign} foreign numbers but {} faults",
            out.faults
        ),
        None if odd > 0 => println!(
            "septum-test: fuzz_calls FAILED {odd} results contradict the documentation (first: number {:#x})",
            ODD_FIRST.load(Relaxed)
        ),
        None => println!("septum-test: fuzz_calls ok"),
    }
    let fuzz_failed = FUZZ_CHECKS_FAILED.load(Relaxed);
    match (out.check_failed, out.rebuild_failed) {
        (Some((batch, problems)), _) => println!(
            "septum-test: fuzz_invariants FAILED after batch {batch} (seed {SEED:#x}): {problems} problem(s)"
        ),
        (None, Some((batch, e))) => println!(
            "septum-test: fuzz_invariants FAILED rebuilding the sandbox after batch {batch}: {}",
            e.name()
        ),
        _ if fuzz_failed > 0 => println!(
            "septum-test: fuzz_invariants FAILED {fuzz_failed} checks drawn by the fuzz thread failed"
        ),
        _ if out.checks == 0 => println!("septum-test: fuzz_invariants FAILED no check ran"),
        _ => println!("septum-test: fuzz_invariants ok"),
    }
    match (teardown, final_check) {
        (Err(e), _) => println!(
            "septum-test: fuzz_teardown FAILED revoking the sandbox: {}",
            e.name()
        ),
        (Ok(()), Err(problems)) => println!(
            "septum-test: fuzz_teardown FAILED the check after the teardown: {problems} problem(s)"
        ),
        (Ok(()), Ok(_)) => println!("septum-test: fuzz_teardown ok"),
    }
    // Everything else the test made goes with the session's untyped.
    let _ = f.ctx.ipc.cnode_revoke(CNODE, (f.ctx.ut, DEPTH));
    println!("done");
}
