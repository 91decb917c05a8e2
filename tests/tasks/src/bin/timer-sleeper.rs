//! A sleeper of the timer scenario (`tests/systems/timer.toml`): it asks
//! the judge for its deadline, sleeps on the timer server until then, and
//! reports when it woke. Twenty run the same program; the judge tells them
//! apart by their badges. The victim is one too: the judge tells it that
//! it will be killed while it sleeps (its restart group's bomber dies), and
//! when it comes back as a new generation, that it is reborn.
//!
//! Its slots: 8 the `timer` endpoint (call), 9 the `sleep_test` endpoint
//! (call).
#![no_std]
#![no_main]

use septum_interfaces::sleep_test::{Role, SleepTestClient};
use septum_interfaces::timer::TimerClient;
use septum_user::println;

const TIMER: u64 = 8;
const JUDGE: u64 = 9;

septum_user::entry!(main);

fn main() {
    let mut ipc = septum_test_tasks::domain_ipc();
    let mut judge = SleepTestClient::new(JUDGE);
    let mut timer = TimerClient::new(TIMER);
    let plan = match judge.plan(&mut ipc) {
        Ok(p) => p,
        Err(e) => return println!("cannot get a plan: {e:?}"),
    };
    if plan.role == Role::Reborn {
        let generation = septum_user::start_arg();
        return println!("restarted as generation {generation} after it was killed asleep");
    }
    if plan.role == Role::Victim {
        println!(
            "asleep until {} ns, to be killed before then",
            plan.deadline
        );
    }
    let called = timer.now(&mut ipc).unwrap_or(u64::MAX);
    match timer.sleep_until(&mut ipc, plan.deadline) {
        Ok(woke) => {
            if let Err(e) = judge.woke(&mut ipc, plan.deadline, called, woke) {
                println!("cannot report to the judge: {e:?}");
            }
        }
        Err(e) => println!("sleep_until({}) failed: {e:?}", plan.deadline),
    }
}
