//! Preemption: a wake-up of a higher-priority thread takes the CPU at
//! once (and of a lower or equal one does not); the local APIC timer ends
//! a spinning thread's time slice so others of its priority run, and never
//! hands the CPU to a lower priority.

use crate::common::{
    arg, bump, cnt, expect_log, let_others_run, record, res, set_arg, set_res, set_root_prio,
    spin_until,
};
use septum_test_tasks::ktest::{Ctx, Test, TestResult, thread_ipc};
use septum_test_tasks::{check, check_eq};
use septum_user::ipc::Message;
use septum_user::syscall::{signal, thread_exit, wait};

pub const TESTS: &[Test] = &[
    case!("wake_higher_preempts_immediately", wake_higher),
    case!("send_to_higher_receiver_preempts", send_higher),
    case!("wake_lower_does_not_preempt", wake_lower),
    case!("wake_equal_does_not_preempt", wake_equal),
    case!("timer_never_runs_lower_priority", timer_not_lower),
    case!("timer_preempts_spinning_thread", timer_spinner),
    case!("timer_preempts_for_blocked_root", timer_blocked_root),
];

/// Time-stamp cycles the root waits for the timer to act before it
/// gives up (some seconds at any plausible TSC rate; a slice is 50 ms).
const BUDGET: u64 = 8_000_000_000;

/// Wait on `ARG[0]`, record `arg` as a letter, exit.
extern "C" fn wake_recorder(arg_letter: u64, _buf: u64) -> ! {
    let _ = wait(arg(0));
    record(arg_letter as u8);
    thread_exit()
}

/// Record 'a', signal `ARG[0]`, record 'b', exit.
extern "C" fn signaller(_arg: u64, _buf: u64) -> ! {
    record(b'a');
    let _ = signal(arg(0));
    record(b'b');
    thread_exit()
}

fn wake_higher(c: &mut Ctx) -> TestResult {
    let n = c.notification()?;
    set_arg(0, n);
    c.spawn("ks-high", wake_recorder, u64::from(b'H'), 60)?;
    c.spawn("ks-low", signaller, 0, 40)?;
    // H runs first and waits; L signals and loses the CPU before its 'b'.
    let_others_run(c)?;
    expect_log("aHb")
}

/// Receive on `ARG[1]`, record 'H', exit.
extern "C" fn high_receiver(_arg: u64, buf: u64) -> ! {
    let mut ipc = thread_ipc(buf);
    let _ = ipc.recv(arg(1), 0);
    record(b'H');
    thread_exit()
}

/// Record 'a', send (non-blocking) on `ARG[1]` (result in `RES[0]`),
/// record 'b', exit.
extern "C" fn low_sender(_arg: u64, buf: u64) -> ! {
    let mut ipc = thread_ipc(buf);
    record(b'a');
    let r = ipc.nb_send(arg(1), &Message::new(0, &[1]));
    set_res(0, crate::common::code(r));
    record(b'b');
    thread_exit()
}

fn send_higher(c: &mut Ctx) -> TestResult {
    let ep = c.endpoint()?;
    set_arg(1, ep);
    c.spawn("ks-high", high_receiver, 0, 60)?;
    c.spawn("ks-low", low_sender, 0, 40)?;
    let_others_run(c)?;
    expect_log("aHb")?;
    check_eq!(res(0), 0);
    Ok(())
}

fn wake_lower(c: &mut Ctx) -> TestResult {
    let n = c.notification()?;
    set_arg(0, n);
    c.spawn("ks-low", wake_recorder, u64::from(b'L'), 40)?;
    // L waits first; only then does H exist.
    let_others_run(c)?;
    expect_log("")?;
    c.spawn("ks-high", signaller, 0, 60)?;
    let_others_run(c)?;
    expect_log("abL")
}

fn wake_equal(c: &mut Ctx) -> TestResult {
    let n = c.notification()?;
    set_arg(0, n);
    c.spawn("ks-waiter", wake_recorder, u64::from(b'W'), 50)?;
    let_others_run(c)?;
    expect_log("")?;
    // The woken thread goes to the back of its priority: the signaller
    // finishes first.
    c.spawn("ks-signaller", signaller, 0, 50)?;
    let_others_run(c)?;
    expect_log("abW")
}

/// Count in `CNT[arg]` forever, never yielding.
extern "C" fn spinner(arg: u64, _buf: u64) -> ! {
    loop {
        bump(arg as usize);
    }
}

fn timer_not_lower(c: &mut Ctx) -> TestResult {
    c.spawn("ks-spinner", spinner, 0, 50)?;
    // Dozens of ticks end the root's slices; each time the root, alone at
    // 255, goes on.
    let ran = spin_until(BUDGET / 8, || cnt(0) > 0);
    check!(!ran, "a priority-50 spinner ran while the root spun at 255");
    // It was runnable: at its priority it gets the CPU from the root.
    set_root_prio(c, 50)?;
    let ran = spin_until(BUDGET, || cnt(0) > 0);
    set_root_prio(c, 255)?;
    check!(
        ran,
        "the spinner never ran while the root spun at its priority (no timer preemption?)"
    );
    Ok(())
}

fn timer_spinner(c: &mut Ctx) -> TestResult {
    c.spawn("ks-spinner-a", spinner, 0, 50)?;
    c.spawn("ks-spinner-b", spinner, 1, 50)?;
    // The root spins at their priority too: only the timer moves the CPU
    // between the three.
    set_root_prio(c, 50)?;
    let both = spin_until(BUDGET, || cnt(0) > 0 && cnt(1) > 0);
    let (a1, b1) = (cnt(0), cnt(1));
    let again = both && spin_until(BUDGET, || cnt(0) > a1 && cnt(1) > b1);
    set_root_prio(c, 255)?;
    check!(
        both,
        "spinners at the root's priority got no turn: counts {a1}, {b1}"
    );
    check!(
        again,
        "spinners got no second turn: counts {a1} -> {}, {b1} -> {}",
        cnt(0),
        cnt(1)
    );
    Ok(())
}

/// Note what the spinner has counted when it first runs (`RES[0]`),
/// count to 100000 in `CNT[1]`, signal `ARG[0]`, exit.
extern "C" fn late_counter(_arg: u64, _buf: u64) -> ! {
    set_res(0, cnt(0));
    for _ in 0..100_000 {
        bump(1);
    }
    let _ = signal(arg(0));
    thread_exit()
}

fn timer_blocked_root(c: &mut Ctx) -> TestResult {
    let n = c.notification()?;
    set_arg(0, n);
    // The spinner is first in the queue and never yields; the counter
    // behind it can only run if the timer takes the CPU from the spinner.
    c.spawn("ks-spinner", spinner, 0, 50)?;
    c.spawn("ks-late", late_counter, 0, 50)?;
    wait(n)?;
    check!(
        res(0) > 0 && res(0) != crate::common::NONE,
        "the counter ran before the spinner ({})",
        res(0)
    );
    check_eq!(cnt(1), 100_000);
    Ok(())
}
