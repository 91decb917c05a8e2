//! The clock reader of the timer scenario (`tests/systems/timer.toml`):
//! at the lowest priority it reads the timer server's clock over and over
//! for a second of that clock, while the server wakes the sleepers and
//! takes their interrupts, and checks that no reading is less than the one
//! before. Every [`BURST`] readings it sleeps a millisecond (a sleeper of
//! its own among the others): a reader that never blocked would keep the
//! supervisor, which waits its restart backoffs at priority 0, from
//! restarting the victim's group.
//!
//! Its slots: 8 the `timer` endpoint (call).
#![no_std]
#![no_main]

use septum_interfaces::timer::TimerClient;
use septum_user::println;

const TIMER: u64 = 8;
const SPAN_NS: u64 = 1_000_000_000;
const MIN_READS: u64 = 1_000;
const BURST: u64 = 100;
const NAP_NS: u64 = 1_000_000;

septum_user::entry!(main);

fn main() {
    let mut ipc = septum_test_tasks::domain_ipc();
    let mut timer = TimerClient::new(TIMER);
    let Ok(first) = timer.now(&mut ipc) else {
        return println!("septum-test: timer_clock_never_goes_backwards FAILED now() failed");
    };
    let (mut last, mut reads, mut back, mut equal) = (first, 1u64, 0u64, 0u64);
    while last < first.saturating_add(SPAN_NS) {
        let Ok(t) = timer.now(&mut ipc) else {
            return println!(
                "septum-test: timer_clock_never_goes_backwards FAILED now() failed after {reads} reads"
            );
        };
        reads += 1;
        if t < last {
            back += 1;
            if back <= 3 {
                println!("the clock went back from {last} to {t} ns");
            }
        }
        if t == last {
            equal += 1;
        }
        last = last.max(t);
        if reads % BURST == 0 {
            match timer.sleep(&mut ipc, NAP_NS) {
                Ok(w) if w < t.saturating_add(NAP_NS) => {
                    back += 1;
                    println!("sleep(1 ms) from {t} ns ended early, at {w} ns");
                }
                Ok(w) => last = last.max(w),
                Err(e) => println!("sleep(1 ms) failed: {e:?}"),
            }
        }
    }
    println!(
        "{reads} readings over {} ms: {back} went back, {equal} repeated the one before",
        (last - first) / 1_000_000
    );
    if back == 0 && reads >= MIN_READS {
        println!("septum-test: timer_clock_never_goes_backwards ok");
    } else {
        println!(
            "septum-test: timer_clock_never_goes_backwards FAILED {back} readings went back, {reads} reads"
        );
    }
}
