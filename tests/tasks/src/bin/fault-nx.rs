//! Jumps into its own writable data, which the loader maps non-executable.
//! The kernel must stop the thread with an instruction-fetch page fault.
#![no_std]
#![no_main]

use septum_user::println;

septum_user::entry!(main);

/// A `ret` instruction placed in writable (hence NX) memory.
static mut CODE: [u8; 16] = [0xc3; 16];

fn main() {
    let target = &raw const CODE as u64;
    println!("calling into data at {target:#x}");
    // SAFETY: not sound on purpose: the fetch from an NX page must fault
    // before the `ret` there executes.
    unsafe { core::arch::asm!("call {0}", in(reg) target, clobber_abi("C")) };
    println!("FAILED, executed code from a data page");
}
