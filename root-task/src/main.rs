//! The root task: the first and most trusted user task.
//!
//! It receives every capability the kernel hands out at boot — its own
//! CNode, thread and address space, the IRQ, I/O-port and ASID authorities,
//! all free memory as untyped capabilities, and the boot image mapped
//! read-only — described by the boot-info page. It decodes the compiled
//! system description (boot-image entry `system`) with the checked decoder
//! and builds exactly that system (`system.rs`), then starts its domains.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod clock;
mod mem;
mod supervisor;
mod system;

use septum_kcore::bootimage::{BootImage, EntryKind};
use septum_sysdesc::image::{ENTRY_NAME, System};
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
    let Some(bytes) = mem::boot_image(info) else {
        println!("the kernel did not map the boot image: no system to build");
        return;
    };
    // The kernel checked the image before it started us; check again
    // rather than trust the mapping blindly.
    let image = match BootImage::parse(bytes) {
        Ok(image) => image,
        Err(e) => {
            println!("the boot image is refused: {e}");
            return;
        }
    };
    let Some(entry) = image
        .entries()
        .find(|e| e.kind == EntryKind::SystemDescription && e.name == ENTRY_NAME)
    else {
        println!("no system description in the boot image: nothing to build");
        return;
    };
    let system = match System::decode(entry.data) {
        Ok(s) => s,
        Err(e) => {
            println!("the system description is refused: {e}");
            return;
        }
    };
    println!(
        "system description: {} domains, {} channels, {} regions",
        system.domains.len(),
        system.channels.len(),
        system.regions.len()
    );
    let partitions = system.partitions.len();
    match system::build(image, system) {
        Ok(started) => println!(
            "system built: {started} domains, supervised by {partitions} threads; \
             starting the schedule of {} windows",
            system.windows.len()
        ),
        Err(e) => {
            println!("cannot build the system: {e}");
            return;
        }
    }
    // The last thing this thread does: it has no window in the schedule.
    if let Err(e) = system::start_schedule(&system) {
        println!("cannot start the schedule: {e}");
    }
}
