//! Recurses without bound. The stack must run into the unmapped guard page
//! below it and the thread be stopped with a page fault there.
#![no_std]
#![no_main]

use septum_user::println;

septum_user::entry!(main);

// Endless on purpose: it ends in the guard page.
#[allow(unconditional_recursion)]
#[inline(never)]
fn deeper(n: u64) -> u64 {
    let frame = [n; 64];
    // black_box keeps the frame and the recursion from being optimised away.
    core::hint::black_box(&frame);
    deeper(n + 1) + core::hint::black_box(frame[3])
}

fn main() {
    println!("recursing into the guard page");
    let n = deeper(0);
    println!("FAILED, returned {n}");
}
