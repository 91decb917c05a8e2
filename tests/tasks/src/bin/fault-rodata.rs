//! Writes to its own read-only data. The kernel must stop the thread with a
//! write page fault (protection violation) at that address.
#![no_std]
#![no_main]

use septum_user::println;

septum_user::entry!(main);

static CONSTANT: u64 = 0x5e97_0000;

fn main() {
    // Through black_box the address is just a number to the compiler.
    let target = core::hint::black_box(&CONSTANT as *const u64 as u64);
    println!("writing read-only data at {target:#x}");
    // SAFETY: not sound on purpose: the write must fault.
    unsafe { core::ptr::write_volatile(target as *mut u64, 1) };
    println!("FAILED, wrote to read-only memory");
}
