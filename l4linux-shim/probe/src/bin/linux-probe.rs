//! The guest's test program as a static ET_EXEC (see `probe.rs`).
#![no_std]
#![no_main]

#[path = "../probe.rs"]
mod probe;

core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {main}",
    "ud2",
    main = sym start,
);

extern "C" fn start(sp: *const u64) -> ! {
    probe::run(sp, false)
}
