//! A sleeper that measures how late its wakeups are (scenario
//! `timer-partitions`, `tests/systems/timer-partitions.toml`): twenty times
//! it reads the clock and sleeps until 1 to 20 ms later, and reports, by
//! the server's own clock, how long after each deadline the server
//! answered. Run in the timer server's partition it shows the interrupt
//! path; run in another, the wait for the server's window (the wait for
//! its own window, after the answer, comes on top and is not in these
//! figures). It asserts only that no sleep ends early.
//!
//! Its slots: 8 the `timer` endpoint (call).
#![no_std]
#![no_main]

use septum_interfaces::timer::TimerClient;
use septum_user::println;

const TIMER: u64 = 8;
const SLEEPS: u64 = 20;
const MS: u64 = 1_000_000;

septum_user::entry!(main);

fn main() {
    let mut ipc = septum_test_tasks::domain_ipc();
    let mut timer = TimerClient::new(TIMER);
    let (mut early, mut min, mut max, mut sum) = (0u64, u64::MAX, 0u64, 0u64);
    for k in 1..=SLEEPS {
        let Ok(t) = timer.now(&mut ipc) else {
            return println!("septum-test: timer_sleeps_never_early FAILED now() failed");
        };
        let deadline = t + k * MS;
        let woke = match timer.sleep_until(&mut ipc, deadline) {
            Ok(w) => w,
            Err(e) => {
                return println!("septum-test: timer_sleeps_never_early FAILED sleep {k}: {e:?}");
            }
        };
        if woke < deadline {
            early += 1;
        }
        let late = woke.saturating_sub(deadline);
        min = min.min(late);
        max = max.max(late);
        sum += late;
    }
    println!(
        "{SLEEPS} sleeps of 1 to 20 ms: {early} early; answered {} to {} us after the deadline, {} us on average",
        min / 1000,
        max / 1000,
        sum / SLEEPS / 1000
    );
    if early == 0 {
        println!("septum-test: timer_sleeps_never_early ok");
    } else {
        println!("septum-test: timer_sleeps_never_early FAILED {early} sleeps ended early");
    }
}
