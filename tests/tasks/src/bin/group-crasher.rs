//! A domain of the supervisor's group-policy scenarios
//! (`tests/systems/restart-group.toml`, `reboot.toml`): in its first
//! generation it faults at once; rebuilt, it says so and ends. Its policy
//! allows no restart of its own, so the fault applies its `then`.
#![no_std]
#![no_main]

use septum_user::println;

septum_user::entry!(main);

fn main() {
    let generation = septum_user::start_arg();
    if generation == 1 {
        println!("generation 1: faulting");
        die();
    }
    println!("back as generation {generation}");
    if generation == 2 {
        println!("septum-test: crasher_rebuilt_as_generation_2 ok");
    }
}

#[inline(never)]
fn die() {
    // SAFETY: `ud2` raises #UD; the kernel stops this thread there and
    // the supervisor hears of it.
    unsafe { core::arch::asm!("ud2") };
    println!("FAILED: ud2 returned");
}
