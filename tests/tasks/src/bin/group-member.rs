//! A domain of the supervisor's group-policy scenarios: it says which
//! generation it runs as and ends. Whether a fault elsewhere restarted it
//! is the generation it prints the second time, or that it prints only
//! once.
#![no_std]
#![no_main]

use septum_user::println;

septum_user::entry!(main);

fn main() {
    let generation = septum_user::start_arg();
    println!("running as generation {generation}");
    // A rebuilt member counts for the scenario, in whatever order the
    // partitions' windows run the domains.
    if generation == 2 {
        println!("septum-test: member_rebuilt_as_generation_2 ok");
    }
}
