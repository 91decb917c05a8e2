//! The root task: the first and most trusted user task.
//!
//! It receives every capability the kernel hands out at boot — its own
//! CNode, thread and address space, the IRQ, I/O-port and ASID authorities,
//! and all free memory as untyped capabilities — described by the
//! boot-info page. Today it reports what it got and exits; with the
//! system-description issue it will build every protection domain, channel
//! and grant the description names, and then supervise them.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use septum_user::println;

septum_user::entry!(main);

fn main() {
    println!("hello from ring 3");
    let info = septum_user::ipc::boot_info();
    if info.magic != septum_user::abi::bootinfo::MAGIC {
        println!("the boot-info page is missing or damaged");
        return;
    }
    println!(
        "{} untyped capabilities ({} MiB) in slots {}.., {} pages of my own image, first free slot {}",
        info.untypeds().len(),
        info.untyped_bytes() >> 20,
        info.untyped_first,
        info.image_frames_count,
        info.first_free_slot
    );
}
