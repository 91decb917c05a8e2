//! Kills the timer server (scenario `timer-restart`,
//! `tests/systems/timer-restart.toml`): it is in the server's restart
//! group at a priority below the client, so it runs only once the client
//! sleeps on the server; then it faults, and its policy restarts the
//! group, the server with it. Restarted, it stops.
#![no_std]
#![no_main]

use septum_user::println;

septum_user::entry!(main);

fn main() {
    let generation = septum_user::start_arg();
    if generation > 1 {
        return println!("restarted as generation {generation}; stopping");
    }
    println!("the client sleeps; faulting, so the timer server's group restarts");
    // SAFETY: not sound on purpose: the read must fault (the first 4 MiB
    // are never mapped), and the kernel stops this thread before the value
    // could be used; the supervisor then restarts the group.
    let v = unsafe { core::ptr::read_volatile(0x1000 as *const u64) };
    println!("read {v:#x} from an unmapped page: it should have faulted");
}
