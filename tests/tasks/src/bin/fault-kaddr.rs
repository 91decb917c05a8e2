//! Reads the first byte of the kernel image from user mode. The kernel must
//! stop the thread with a page fault at exactly that address and go on.
#![no_std]
#![no_main]

use septum_user::println;

septum_user::entry!(main);

/// Start of the kernel image (PML4 slot 257, 1 MiB in).
const KERNEL_TEXT: u64 = 0xffff_8080_0010_0000;

fn main() {
    println!("reading kernel address {KERNEL_TEXT:#x}");
    // SAFETY: not sound on purpose: the read must fault; the kernel stops
    // this thread before the value could be used.
    let v = unsafe { core::ptr::read_volatile(KERNEL_TEXT as *const u8) };
    println!("FAILED, read {v:#x} from kernel memory");
}
