//! On-target suite, time partitions. Booted as the root task by the
//! `kernel-part` scenario under `-icount shift=0`, where the TSC counts
//! instructions: where a thread runs in its frame is exact, not timed.
//!
//! The root thread stays in partition 0 (it has the first window of each
//! schedule the cases set) and gives partition 0 all time again at the end
//! of each case (`partition::finish`).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use septum_test_tasks::ktest::{CNODE, Ctx, DEPTH, SELF_TCB, Test, TestResult, rights};
use septum_test_tasks::partition::{self as part, SCHED};
use septum_test_tasks::{check, check_eq};
use septum_user::abi::Error;
use septum_user::abi::invocation as inv;
use septum_user::abi::sched::{MAX_PARTITIONS, MAX_WINDOWS};
use septum_user::println;

septum_user::entry!(main);

fn main() {
    septum_test_tasks::ktest::run_all(&[TESTS]);
}

const TESTS: &[Test] = &[
    Test {
        name: "part_schedule_needs_its_capability",
        run: needs_capability,
    },
    Test {
        name: "part_bad_schedules_refused",
        run: bad_schedules,
    },
    Test {
        name: "part_windows_hold_under_attack",
        run: windows_hold,
    },
    Test {
        name: "part_jitter_cnode_of_spaces",
        run: jitter_cnode_of_spaces,
    },
    Test {
        name: "part_jitter_nested_revoke",
        run: jitter_nested_revoke,
    },
    Test {
        name: "part_wakeups_and_tcb_ops_across_partitions",
        run: wakeups_across,
    },
    Test {
        name: "part_call_waits_for_the_receivers_window",
        run: call_across,
    },
    Test {
        name: "part_no_window_no_time",
        run: no_window,
    },
    Test {
        name: "part_yield_stays_in_the_window",
        run: yield_in_window,
    },
];

/// How far B's first instruction in a window may move when A attacks.
/// The kernel takes a window's end `SLACK_NS` early and waits for the
/// exact end (`docs/kernel.md`, "Time partitions"), so what is left is
/// where B's own loop was caught and a few instructions of the switch
/// that depend on A's state (some 20 here). Without the slack this was
/// the longest non-preemptible kernel stretch, some 5,500 instructions.
const JITTER_BOUND: u64 = 64;

fn needs_capability(c: &mut Ctx) -> TestResult {
    let t = c.configured_thread("part-victim", 100, 0)?;
    // Not the schedule's capability: the thread's own, an empty slot.
    let r = c.ipc.tcb_set_partition(t.tcb, SELF_TCB, 1);
    check_eq!(r, Err(Error::WrongType));
    let empty = c.slot();
    let r = c.ipc.tcb_set_partition(t.tcb, empty, 1);
    check!(r.is_err(), "an empty slot as authority: {r:?}");
    // A copy works, and once deleted it is gone.
    let copy = c.slot();
    c.ipc
        .cnode_copy(CNODE, (copy, DEPTH), CNODE, (SCHED, DEPTH), rights::ALL)?;
    check_eq!(c.identify(copy)?.cap_type, ty_sched());
    c.ipc.tcb_set_partition(t.tcb, copy, 3)?;
    c.ipc.cnode_delete(CNODE, (copy, DEPTH))?;
    let r = c.ipc.tcb_set_partition(t.tcb, copy, 1);
    check!(r.is_err(), "a deleted copy as authority: {r:?}");
    // Partitions are 0..MAX_PARTITIONS.
    let r = c.ipc.tcb_set_partition(t.tcb, SCHED, MAX_PARTITIONS);
    check_eq!(r, Err(Error::Range));
    let r = c.ipc.tcb_set_partition(t.tcb, SCHED, u64::MAX);
    check_eq!(r, Err(Error::Range));
    // The schedule is set only through its capability.
    let words = [part::FRAME_NS, 1, 0, 0, part::FRAME_NS];
    let r = c.call(SELF_TCB, inv::SCHED_CONFIGURE, &words).map(|_| ());
    check_eq!(r, Err(Error::IllegalOperation));
    let r = c.call(SCHED, inv::TCB_SET_PRIORITY, &words).map(|_| ());
    check_eq!(r, Err(Error::IllegalOperation));
    Ok(())
}

fn ty_sched() -> u64 {
    septum_user::abi::object::cap_type::SCHED_CONTROL
}

/// (partition, start, length) in nanoseconds.
type Window = (u64, u64, u64);

fn bad_schedules(c: &mut Ctx) -> TestResult {
    let f = part::FRAME_NS;
    let cases: [(&str, u64, &[Window]); 8] = [
        ("no windows", f, &[]),
        ("a partition past the last", f, &[(MAX_PARTITIONS, 0, f)]),
        (
            "overlapping windows",
            f,
            &[(0, 0, f / 2), (1, f / 4, f / 2)],
        ),
        ("out of order", f, &[(1, f / 2, f / 4), (0, 0, f / 4)]),
        ("past the frame", f, &[(0, 0, f / 2), (1, f / 2, f)]),
        ("too short a window", f, &[(0, 0, 10_000)]),
        ("too short a frame", 10_000, &[(0, 0, 10_000)]),
        ("a length that wraps", f, &[(0, 1, u64::MAX)]),
    ];
    for (what, frame, windows) in cases {
        let r = c.ipc.sched_configure(SCHED, frame, windows).map(|_| ());
        check_eq!((what, r), (what, Err(Error::Range)));
    }
    let many = [(0, 0, 50_000); MAX_WINDOWS as usize + 1];
    let r = c.ipc.sched_configure(SCHED, f, &many).map(|_| ());
    check_eq!(r, Err(Error::Range));
    // A message shorter than its window count says.
    let r = c
        .call(SCHED, inv::SCHED_CONFIGURE, &[f, 2, 0, 0, f / 2])
        .map(|_| ());
    check_eq!(r, Err(Error::Range));
    // Refused schedules changed nothing: this thread (partition 0) still
    // has all the time, so a thread it starts in partition 0 runs.
    let t = c.configured_thread("part-still", 100, 0)?;
    COUNTER.store(0, Relaxed);
    c.start(t, count_forever, 0)?;
    // Round-robin with it at its priority for a turn.
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 100)?;
    septum_user::syscall::yield_now();
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 255)?;
    check!(
        COUNTER.load(Relaxed) > 0,
        "the partition-0 thread never ran"
    );
    Ok(())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_forever(_: u64, _: u64) -> ! {
    loop {
        COUNTER.fetch_add(1, Relaxed);
        septum_user::syscall::yield_now();
    }
}

/// Window starts noted in each phase.
const PHASE: usize = 12;

fn windows_hold(c: &mut Ctx) -> TestResult {
    windows_hold_under(c, part::STORM_MIX)
}

/// A's storm is one `CNODE_DELETE` of a CNode holding 64 address spaces
/// with ASIDs: B's window must start within the bound all the same.
fn jitter_cnode_of_spaces(c: &mut Ctx) -> TestResult {
    windows_hold_under(c, part::STORM_CNODE_OF_SPACES)
}

/// A's storm revokes 32 CNodes full of capability copies: B's window must
/// start within the bound all the same.
fn jitter_nested_revoke(c: &mut Ctx) -> TestResult {
    windows_hold_under(c, part::STORM_NESTED_REVOKE)
}

fn windows_hold_under(c: &mut Ctx, storm: u64) -> TestResult {
    part::STORM.store(storm, Relaxed);
    let s = part::setup(c)?;
    let start = part::configure(c)?;
    part::wait_for_b(c, PHASE);
    let quiet_end = part::B_COUNT.load(Relaxed);
    septum_user::syscall::signal(s.go)?;
    part::wait_for_b(c, quiet_end + PHASE);
    let end = part::B_COUNT.load(Relaxed).min(part::SAMPLES);
    part::finish(c, &s)?;

    let violations = part::VIOLATIONS.load(Relaxed);
    let first = part::FIRST_VIOLATION.load(Relaxed);
    check!(
        violations == 0,
        "{violations} TSC readings outside their window, the first by partition {} at offset {} of the frame",
        first >> 56,
        first & ((1 << 56) - 1)
    );
    check!(
        part::STORMS.load(Relaxed) > 0 && part::FAULTS.load(Relaxed) > 0,
        "the attack never ran ({} storms, {} faults)",
        part::STORMS.load(Relaxed),
        part::FAULTS.load(Relaxed)
    );
    // B ran in every frame: its window starts are one frame apart.
    for i in 1..end {
        let frame_of =
            |k: usize| part::B_FIRST[k].load(Relaxed).wrapping_sub(start.epoch) / start.frame;
        check_eq!(frame_of(i) - frame_of(i - 1), 1);
    }
    let mut quiet = [0u64; part::SAMPLES];
    let nq = part::b_offsets(0, quiet_end, &mut quiet);
    let mut attacked = [0u64; part::SAMPLES];
    let na = part::b_offsets(quiet_end, end, &mut attacked);
    check!(
        nq > 2 && na > 2,
        "too few windows: {nq} quiet, {na} attacked"
    );
    let (q_min, q_max) = (quiet[0], quiet[nq - 1]);
    let (a_min, a_max) = (attacked[0], attacked[na - 1]);
    println!(
        "B's first instruction, from its window's start: quiet A {q_min}..={q_max}, attacking A {a_min}..={a_max} instructions"
    );
    // With A quiet, B's first reading moves only with where in its own
    // loop the end of its last window caught it.
    let b_loop = part::B_LOOP.load(Relaxed);
    check!(
        q_max - q_min < b_loop,
        "with A spinning, B starts at offsets {q_min}..={q_max}, more apart than B's loop ({b_loop})"
    );
    check!(
        a_max - q_min <= JITTER_BOUND && a_min >= q_min,
        "with A attacking, B starts at {a_min}..={a_max}, quiet at {q_min}"
    );
    Ok(())
}

static SERVED: AtomicU64 = AtomicU64::new(0);
static ANSWERS: AtomicU64 = AtomicU64::new(0);
/// Calls and answers that happened outside the window they belong in.
static MISPLACED: AtomicU64 = AtomicU64::new(0);
const CALLS: u64 = 5;

extern "C" fn server(ep: u64, buffer: u64) -> ! {
    let mut ipc = septum_test_tasks::ktest::thread_ipc(buffer);
    let reply = SERVER_REPLY.load(Relaxed);
    let mut r = ipc.recv(ep, reply);
    while let Ok(got) = r {
        if !in_window(2) {
            MISPLACED.fetch_add(1, Relaxed);
        }
        SERVED.fetch_add(1, Relaxed);
        let answer = septum_user::ipc::Message::new(0, &[got.msg.word(0) * 2]);
        r = ipc.reply_recv(ep, reply, &answer);
    }
    loop {
        septum_user::syscall::yield_now();
    }
}

static SERVER_REPLY: AtomicU64 = AtomicU64::new(0);

extern "C" fn client(ep: u64, buffer: u64) -> ! {
    let mut ipc = septum_test_tasks::ktest::thread_ipc(buffer);
    for i in 1..=CALLS {
        let m = septum_user::ipc::Message::new(0, &[i]);
        if let Ok(r) = ipc.call(ep, &m) {
            if !in_window(1) {
                MISPLACED.fetch_add(1, Relaxed);
            }
            if r.msg.word(0) == 2 * i {
                ANSWERS.fetch_add(1, Relaxed);
            }
        }
    }
    loop {
        septum_user::syscall::yield_now();
    }
}

fn in_window(p: usize) -> bool {
    let o = part::offset(part::rdtsc());
    let w = [part::ROOT_WINDOW, part::A_WINDOW, part::B_WINDOW][p];
    let start = part::window_start(p);
    // Window lengths in cycles, as `publish` computed them.
    let len = part::window_start(p.min(1) + 1).saturating_sub(start);
    let _ = w;
    o >= start && (p == 2 || o < start + len)
}

fn call_across(c: &mut Ctx) -> TestResult {
    part::reset();
    SERVED.store(0, Relaxed);
    ANSWERS.store(0, Relaxed);
    MISPLACED.store(0, Relaxed);
    let ep = c.endpoint()?;
    SERVER_REPLY.store(c.reply()?, Relaxed);
    let srv = c.configured_thread("part-b-server", 100, 0)?;
    c.ipc.tcb_set_partition(srv.tcb, SCHED, 2)?;
    c.start(srv, server, ep)?;
    let cli = c.configured_thread("part-a-client", 100, 0)?;
    c.ipc.tcb_set_partition(cli.tcb, SCHED, 1)?;
    c.start(cli, client, ep)?;
    let start = part::configure(c)?;
    let t0 = part::rdtsc();
    while ANSWERS.load(Relaxed) < CALLS && part::rdtsc() - t0 < 40 * start.frame {
        septum_user::syscall::yield_now();
    }
    for t in [srv, cli] {
        c.ipc.tcb_suspend(t.tcb)?;
    }
    part::unconfigure(c)?;
    check_eq!(ANSWERS.load(Relaxed), CALLS);
    check_eq!(SERVED.load(Relaxed), CALLS);
    check_eq!(MISPLACED.load(Relaxed), 0);
    // Each call waited for B's window and each answer for A's: no more
    // than one round trip per frame.
    let frames = (part::rdtsc() - t0) / start.frame;
    check!(frames >= CALLS, "{CALLS} calls in {frames} frames");
    Ok(())
}

fn no_window(c: &mut Ctx) -> TestResult {
    // A thread of A that faults with no handler stops; B goes on.
    let s = part::setup(c)?;
    c.ipc.tcb_suspend(s.spinner.tcb)?;
    let bad = c.configured_thread("part-a-crash", 100, 0)?;
    c.ipc.tcb_set_partition(bad.tcb, SCHED, 1)?;
    c.start(bad, crash, 0)?;
    // Partition 3 has no window in the schedule.
    COUNTER.store(0, Relaxed);
    // (Above B's spinner, so it runs once it is in B's partition.)
    let t = c.configured_thread("part-nowhere", 110, 0)?;
    c.ipc.tcb_set_partition(t.tcb, SCHED, 3)?;
    c.start(t, count_forever, 0)?;
    let start = part::configure(c)?;
    part::wait_for_b(c, 6);
    check_eq!(COUNTER.load(Relaxed), 0);
    // Moved into B's partition while queued, it runs in B's windows.
    c.ipc.tcb_set_partition(t.tcb, SCHED, 2)?;
    let t0 = part::rdtsc();
    while COUNTER.load(Relaxed) == 0 && part::rdtsc() - t0 < 10 * start.frame {
        septum_user::syscall::yield_now();
    }
    part::finish(c, &s)?;
    c.ipc.tcb_suspend(t.tcb)?;
    check!(
        COUNTER.load(Relaxed) > 0,
        "moved to partition 2, it never ran"
    );
    check_eq!(part::VIOLATIONS.load(Relaxed), 0);
    Ok(())
}

extern "C" fn crash(_: u64, _: u64) -> ! {
    // SAFETY: a deliberate #UD; the thread has no handler and stops.
    unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
    loop {
        septum_user::syscall::yield_now();
    }
}

// ---- wakeups across partitions, hostile TCB operations, self-moves ----

/// Objects the cross-partition threads use, set before they start.
static X_NTFN: AtomicU64 = AtomicU64::new(0);
static X_BOUND_NTFN: AtomicU64 = AtomicU64::new(0);
static X_EP: AtomicU64 = AtomicU64::new(0);
static X_FAULT_EP: AtomicU64 = AtomicU64::new(0);
static X_REPLY: AtomicU64 = AtomicU64::new(0);
static X_REPLY2: AtomicU64 = AtomicU64::new(0);
static X_HANDLER_BUF: AtomicU64 = AtomicU64::new(0);
/// Rounds of A's signaller, and wakeups of each B thread.
static X_ROUNDS: AtomicU64 = AtomicU64::new(0);
static X_WAKES: AtomicU64 = AtomicU64::new(0);
static X_BOUND: AtomicU64 = AtomicU64::new(0);
static X_FAULTS: AtomicU64 = AtomicU64::new(0);
static X_YIELDS: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
/// The self-mover's TCB, and its TSC reading right after it moved.
static X_MOVER_TCB: AtomicU64 = AtomicU64::new(0);
static X_MOVED_AT: AtomicU64 = AtomicU64::new(0);

/// B, above everything of A: waits on the notification A signals.
extern "C" fn x_waiter(_: u64, _: u64) -> ! {
    loop {
        let _ = septum_user::syscall::wait(X_NTFN.load(Relaxed));
        part::check_window(2, part::rdtsc());
        X_WAKES.fetch_add(1, Relaxed);
    }
}

/// B: receives on an endpoint nobody sends to; A signals its bound
/// notification, which ends each receive.
extern "C" fn x_bound(_: u64, _: u64) -> ! {
    loop {
        let _ = septum_user::syscall::raw(
            septum_user::abi::syscall::RECV,
            X_EP.load(Relaxed),
            0,
            [0; 4],
            X_REPLY2.load(Relaxed),
        );
        part::check_window(2, part::rdtsc());
        X_BOUND.fetch_add(1, Relaxed);
    }
}

/// B: A's fault handler; answers with `ReplyRecv` and `RESUME_AT` (the
/// fault fast path's shape), which must not run A in B's window.
extern "C" fn x_handler(_: u64, _: u64) -> ! {
    use septum_user::abi::{fault, syscall as nr};
    use septum_user::syscall::{info, raw};
    let (ep, reply) = (X_FAULT_EP.load(Relaxed), X_REPLY.load(Relaxed));
    let mut r = raw(nr::RECV, ep, 0, [0; 4], reply);
    while r.rax == 0 {
        part::check_window(2, part::rdtsc());
        X_FAULTS.fetch_add(1, Relaxed);
        let at = X_HANDLER_BUF.load(Relaxed) + (fault::W_RIP as u64 - 4) * 8;
        // SAFETY: the handler's IPC buffer is mapped for the whole case,
        // and the kernel wrote the fault message there.
        let rip = unsafe { (at as *const u64).read_volatile() } + 2;
        r = raw(
            nr::REPLY_RECV,
            ep,
            info(fault::RESUME_AT, 1),
            [rip, 0, 0, 0],
            reply,
        );
    }
    loop {
        septum_user::syscall::yield_now();
    }
}

/// A: signals B's waiter (higher priority) and B's bound notification,
/// then faults to B's handler; after each it must still be in A's window.
extern "C" fn x_signaller(_: u64, _: u64) -> ! {
    loop {
        let _ = septum_user::syscall::signal(X_NTFN.load(Relaxed));
        part::check_window(1, part::rdtsc());
        let _ = septum_user::syscall::signal(X_BOUND_NTFN.load(Relaxed));
        part::check_window(1, part::rdtsc());
        // SAFETY: `ud2` raises #UD; B's handler resumes us after it.
        unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
        part::check_window(1, part::rdtsc());
        X_ROUNDS.fetch_add(1, Relaxed);
    }
}

/// A and B each: yield to a thread of the same priority (the yield fast
/// path), checking the window each turn.
extern "C" fn x_yielder(p: u64, _: u64) -> ! {
    loop {
        part::check_window(p as usize, part::rdtsc());
        X_YIELDS[p as usize - 1].fetch_add(1, Relaxed);
        septum_user::syscall::yield_now();
    }
}

/// A: moves itself into B's partition while it runs; the first reading
/// after the call must already be in B's window.
extern "C" fn x_mover(_: u64, buffer: u64) -> ! {
    let mut ipc = septum_test_tasks::ktest::thread_ipc(buffer);
    part::check_window(1, part::rdtsc());
    let r = ipc.tcb_set_partition(X_MOVER_TCB.load(Relaxed), SCHED, 2);
    let t = part::rdtsc();
    X_MOVED_AT.store(if r.is_ok() { t } else { 1 }, Relaxed);
    loop {
        part::check_window(2, part::rdtsc());
        septum_user::syscall::yield_now();
    }
}

fn debug_check() -> Result<(), Error> {
    use septum_user::abi::syscall as nr;
    septum_user::syscall::status(&septum_user::syscall::raw(nr::DEBUG_CHECK, 0, 0, [0; 4], 0))
        .map(|_| ())
}

fn wakeups_across(c: &mut Ctx) -> TestResult {
    part::reset();
    for a in [&X_ROUNDS, &X_WAKES, &X_BOUND, &X_FAULTS, &X_MOVED_AT] {
        a.store(0, Relaxed);
    }
    for a in &X_YIELDS {
        a.store(0, Relaxed);
    }
    X_NTFN.store(c.notification()?, Relaxed);
    let nb = c.notification()?;
    X_BOUND_NTFN.store(nb, Relaxed);
    X_EP.store(c.endpoint()?, Relaxed);
    let fault_ep = c.endpoint()?;
    X_FAULT_EP.store(fault_ep, Relaxed);
    X_REPLY.store(c.reply()?, Relaxed);
    X_REPLY2.store(c.reply()?, Relaxed);
    let put = |c: &mut Ctx, t: septum_test_tasks::ktest::Thread, p: u64| {
        c.ipc.tcb_set_partition(t.tcb, SCHED, p)
    };
    let waiter = c.configured_thread("part-x-waiter", 200, 0)?;
    put(c, waiter, 2)?;
    c.start(waiter, x_waiter, 0)?;
    let bound = c.configured_thread("part-x-bound", 200, 0)?;
    put(c, bound, 2)?;
    c.ipc.tcb_bind_notification(bound.tcb, nb)?;
    c.start(bound, x_bound, 0)?;
    let handler = c.configured_thread("part-x-handler", 200, 0)?;
    put(c, handler, 2)?;
    X_HANDLER_BUF.store(handler.buffer, Relaxed);
    c.start(handler, x_handler, 0)?;
    let signaller = c.configured_thread("part-x-signaller", 100, fault_ep)?;
    put(c, signaller, 1)?;
    c.start(signaller, x_signaller, 0)?;
    let mut yielders = [signaller; 4];
    for (i, y) in yielders.iter_mut().enumerate() {
        let p = 1 + (i as u64 & 1);
        *y = c.configured_thread("part-x-yield", 50, 0)?;
        put(c, *y, p)?;
        c.start(*y, x_yielder, p)?;
    }
    let mover = c.configured_thread("part-x-mover", 50, 0)?;
    put(c, mover, 1)?;
    X_MOVER_TCB.store(mover.tcb, Relaxed);
    c.start(mover, x_mover, 0)?;

    let start = part::configure(c)?;
    let run_frames = |n: u64| {
        let t0 = part::rdtsc();
        while part::rdtsc() - t0 < n * start.frame {
            septum_user::syscall::yield_now();
        }
    };
    run_frames(8);
    // Hostile operations from partition 0 on threads queued or blocked in
    // A and B: priorities changed, threads suspended, resumed and moved.
    for round in 0..8u64 {
        let y = yielders[round as usize % 4];
        c.ipc.tcb_set_priority(y.tcb, SELF_TCB, 40 + round)?;
        c.ipc.tcb_set_partition(y.tcb, SCHED, 2 - (round & 1))?;
        c.ipc.tcb_suspend(y.tcb)?;
        c.ipc.tcb_resume(y.tcb)?;
        c.ipc.tcb_set_partition(y.tcb, SCHED, 1 + (round & 1))?;
        c.ipc.tcb_set_priority(y.tcb, SELF_TCB, 50)?;
        c.ipc
            .tcb_set_priority(signaller.tcb, SELF_TCB, 100 + (round & 1) * 100)?;
        c.ipc
            .tcb_set_priority(handler.tcb, SELF_TCB, 200 - (round & 1) * 150)?;
        check_eq!(debug_check(), Ok(()));
        run_frames(1);
    }
    c.ipc.tcb_set_priority(signaller.tcb, SELF_TCB, 100)?;
    c.ipc.tcb_set_priority(handler.tcb, SELF_TCB, 200)?;
    run_frames(4);
    for t in [waiter, bound, handler, signaller, mover]
        .iter()
        .chain(&yielders)
    {
        c.ipc.tcb_suspend(t.tcb)?;
    }
    part::unconfigure(c)?;
    check_eq!(debug_check(), Ok(()));
    let violations = part::VIOLATIONS.load(Relaxed);
    let first = part::FIRST_VIOLATION.load(Relaxed);
    check!(
        violations == 0,
        "{violations} TSC readings outside their window, the first by partition {} at offset {}",
        first >> 56,
        first & ((1 << 56) - 1)
    );
    let rounds = X_ROUNDS.load(Relaxed);
    check!(rounds >= 8, "A's signaller made {rounds} rounds");
    check!(
        X_WAKES.load(Relaxed) > 0 && X_BOUND.load(Relaxed) > 0 && X_FAULTS.load(Relaxed) >= rounds,
        "B woke {} / {} times, answered {} faults",
        X_WAKES.load(Relaxed),
        X_BOUND.load(Relaxed),
        X_FAULTS.load(Relaxed)
    );
    check!(
        X_YIELDS[0].load(Relaxed) > 0 && X_YIELDS[1].load(Relaxed) > 0,
        "yielders ran {:?} times",
        [X_YIELDS[0].load(Relaxed), X_YIELDS[1].load(Relaxed)]
    );
    let moved = X_MOVED_AT.load(Relaxed);
    check!(moved > 1, "the mover never moved ({moved})");
    let o = part::offset(moved);
    check!(
        o >= part::window_start(2),
        "after moving itself to B, the mover ran at offset {o}, before B's window"
    );
    Ok(())
}

/// Times each yielder ran: two of A at one priority, one of B at the same.
static YIELDS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

/// The yield fast path rotates the window's run queue only: two threads
/// of A at one priority take turns in A's windows, and a thread of B at
/// the same priority never runs in them (nor they in B's), although the
/// priority the fast path compares is the same for all three.
fn yield_in_window(c: &mut Ctx) -> TestResult {
    part::reset();
    for y in &YIELDS {
        y.store(0, Relaxed);
    }
    let mut threads = [None; 3];
    for (i, (name, p)) in [
        ("part-a-yield1", 1),
        ("part-a-yield2", 1),
        ("part-b-yield", 2),
    ]
    .into_iter()
    .enumerate()
    {
        let t = c.configured_thread(name, 100, 0)?;
        c.ipc.tcb_set_partition(t.tcb, SCHED, p)?;
        c.start(t, yielder, i as u64)?;
        threads[i] = Some(t);
    }
    let start = part::configure(c)?;
    let t0 = part::rdtsc();
    while part::rdtsc() - t0 < 6 * start.frame {
        septum_user::syscall::yield_now();
    }
    for t in threads.into_iter().flatten() {
        c.ipc.tcb_suspend(t.tcb)?;
    }
    part::unconfigure(c)?;
    let counts = [0, 1, 2].map(|i| YIELDS[i].load(Relaxed));
    check!(
        counts.iter().all(|&n| n > 100),
        "each yielder should have run many times: {counts:?}"
    );
    check_eq!(part::VIOLATIONS.load(Relaxed), 0);
    Ok(())
}

extern "C" fn yielder(i: u64, _: u64) -> ! {
    let p = if i < 2 { 1 } else { 2 };
    loop {
        part::check_window(p, part::rdtsc());
        YIELDS[i as usize].fetch_add(1, Relaxed);
        septum_user::syscall::yield_now();
    }
}
