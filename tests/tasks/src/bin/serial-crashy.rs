//! The serial driver of `servers/serial` with one change, for the
//! restart scenario (`serial-restart`, description
//! `tests/systems/serial-restart.toml`): in its first generation it dies
//! by a page fault once it has taken 8 KiB of input, halfway through the
//! harness's paste. Its later generations are the plain driver.
//!
//! Its slots are the `serial` program's (see `servers/serial/src/bin/serial.rs`).
#![no_std]
#![no_main]

use septum_serial::console::Counters;

septum_user::entry!(main);

/// Input taken before generation 1 dies.
const DIE_AFTER: u64 = 8 * 1024;

#[inline(never)]
fn die_mid_transfer(c: &Counters, generation: u32) {
    if generation == 1 && c.rx_bytes >= DIE_AFTER {
        septum_user::println!("dying after {} bytes of input", c.rx_bytes);
        // SAFETY: not sound on purpose: nothing is mapped at 0x1000, the
        // read faults and the kernel stops this thread before the value
        // could be used; the supervisor restarts the driver.
        let v = unsafe { core::ptr::read_volatile(0x1000 as *const u64) };
        septum_user::println!("FAILED: read {v:#x} from an unmapped address");
    }
}

fn main() {
    septum_serial::server::run(septum_serial::server::Config {
        after_interrupt: Some(die_mid_transfer),
        ..septum_serial::server::Config::COM1
    })
}
