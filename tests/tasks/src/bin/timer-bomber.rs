//! The bomber of the timer scenario (`tests/systems/timer.toml`): it waits
//! until the judge says every sleeper has its orders (the sleepers, of
//! higher priority, are then all asleep on the timer server before this
//! runs again), then faults. Its policy restarts its group, so the victim,
//! in the same group, is torn down while it sleeps. Restarted, it stops.
//!
//! Its slots: 8 the `sleep_test` endpoint (call).
#![no_std]
#![no_main]

use septum_interfaces::sleep_test::SleepTestClient;
use septum_user::println;

const JUDGE: u64 = 8;

septum_user::entry!(main);

fn main() {
    let generation = septum_user::start_arg();
    if generation > 1 {
        return println!("restarted as generation {generation}: the victim is gone; stopping");
    }
    let mut ipc = septum_test_tasks::domain_ipc();
    if let Err(e) = SleepTestClient::new(JUDGE).doom(&mut ipc) {
        println!("doom failed: {e:?}");
    }
    println!("every sleeper is asleep; dying, and taking the victim along");
    // SAFETY: not sound on purpose: the read must fault (the first 4 MiB
    // are never mapped), and the kernel stops this thread before the value
    // could be used; the supervisor then restarts the group.
    let v = unsafe { core::ptr::read_volatile(0x1000 as *const u64) };
    println!("read {v:#x} from an unmapped page: it should have faulted");
}
