//! A domain of the `supervisor-panic` scenario: its first generation
//! panics; the supervisor must see the panic as a fault and restart it.
#![no_std]
#![no_main]

use septum_user::println;

septum_user::entry!(main);

fn main() {
    let generation = septum_user::start_arg();
    if generation == 1 {
        panic!("on purpose, in generation 1");
    }
    println!("back as generation {generation} after its panic");
    println!("septum-test: panic_is_a_fault ok");
}
