//! The domain the supervisor's restart scenario must not disturb: it runs
//! in another partition, keeps a page of memory with a known pattern and a
//! count of the rounds it saw, and checks both each time the crash client
//! signals it after a round. Restarted, it would start from zero (and its
//! generation would not be 1); reached, its pattern would change.
//!
//! Its slots: 8 the `tick` notification (wait), 9 the `ack` notification
//! (signal).
#![no_std]
#![no_main]

use septum_user::println;

const TICK: u64 = 8;
/// Tells the driver a round was checked (signal end).
const ACK: u64 = 9;
const ROUNDS: u32 = 100;

septum_user::entry!(main);

fn pattern(i: usize) -> u64 {
    (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5e97
}

fn main() {
    let mut page = [0u64; 512];
    for (i, w) in page.iter_mut().enumerate() {
        *w = pattern(i);
    }
    let generation = septum_user::start_arg();
    println!("running, generation {generation}");
    let mut rounds = 0u32;
    let mut intact = true;
    while rounds < ROUNDS {
        match septum_user::syscall::wait(TICK) {
            Ok(_) => rounds += 1,
            Err(e) => {
                println!(
                    "septum-test: bystander_undisturbed FAILED waiting: {}",
                    e.name()
                );
                return;
            }
        }
        let page = core::hint::black_box(&mut page);
        intact &= page.iter().enumerate().all(|(i, &w)| w == pattern(i));
        // The verdict before the last answer: the driver prints its own
        // once it has the answer, and in another partition it could run
        // first if this window ended between the two (under load, it did).
        if rounds == ROUNDS {
            report(rounds, intact, generation);
        }
        if let Err(e) = septum_user::syscall::signal(ACK) {
            println!(
                "septum-test: bystander_undisturbed FAILED answering: {}",
                e.name()
            );
            return;
        }
    }
}

fn report(rounds: u32, intact: bool, generation: u64) {
    if intact && generation == 1 && septum_user::start_arg() == 1 {
        println!("{rounds} rounds, memory intact, never restarted");
        println!("septum-test: bystander_undisturbed ok");
    } else {
        println!(
            "septum-test: bystander_undisturbed FAILED memory intact {intact}, generation {generation}"
        );
    }
}
