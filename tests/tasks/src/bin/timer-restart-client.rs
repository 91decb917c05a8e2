//! A client of a timer server that restarts under it (scenario
//! `timer-restart`, `tests/systems/timer-restart.toml`): it reads the
//! clock, sleeps 300 ms, and is released with an error when the server
//! dies (the killer in the server's restart group faults meanwhile). Its
//! next call says `ServerRestarted` with generation 2; it reconnects, reads
//! the clock again, which must not be behind the first reading (the HPET's
//! counter runs on through the restart, and the new server does not reset
//! it), and sleeps until the same deadline, which the new server answers
//! from its interrupt: its device memory, IRQ line and ports came back.
//!
//! Its slots: 8 the `timer` endpoint (call).
#![no_std]
#![no_main]

use septum_idl::CallError;
use septum_interfaces::timer::TimerClient;
use septum_user::println;

const TIMER: u64 = 8;
const SLEEP_NS: u64 = 300_000_000;
/// Calls that may find the endpoint gone while the restart is under way.
const RETRIES: u32 = 1000;

septum_user::entry!(main);

fn main() {
    let mut ipc = septum_test_tasks::domain_ipc();
    let mut timer = TimerClient::new(TIMER);
    let fail = |why: core::fmt::Arguments<'_>| {
        println!("septum-test: timer_server_restart FAILED {why}");
    };
    let t1 = match timer.now(&mut ipc) {
        Ok(t) => t,
        Err(e) => return fail(format_args!("now() failed: {e:?}")),
    };
    let deadline = t1 + SLEEP_NS;
    match timer.sleep_until(&mut ipc, deadline) {
        Err(CallError::Kernel(e)) => {
            println!("the server died under my sleep: {}", e.name())
        }
        other => return fail(format_args!("the first sleep returned {other:?}")),
    }
    let mut restarted = None;
    let mut t2 = None;
    for _ in 0..RETRIES {
        match timer.now(&mut ipc) {
            Err(CallError::ServerRestarted { generation }) => {
                restarted = Some(generation);
                timer.reconnect(generation);
            }
            Ok(t) => {
                t2 = Some(t);
                break;
            }
            Err(_) => septum_user::syscall::yield_now(),
        }
    }
    let (Some(generation), Some(t2)) = (restarted, t2) else {
        return fail(format_args!(
            "no restart seen ({restarted:?}) or no clock ({t2:?})"
        ));
    };
    println!(
        "ServerRestarted, generation {generation}; reconnected; the clock reads {t2} ns (it read {t1} ns before)"
    );
    if t2 < t1 {
        return fail(format_args!("the clock went back across the restart"));
    }
    match timer.sleep_until(&mut ipc, deadline) {
        Ok(w) if w >= deadline => {
            println!(
                "slept until the same deadline on generation {generation}, answered {} us after it",
                (w - deadline) / 1000
            );
            println!("septum-test: timer_server_restart ok");
        }
        other => fail(format_args!(
            "the sleep after the restart returned {other:?}"
        )),
    }
}
