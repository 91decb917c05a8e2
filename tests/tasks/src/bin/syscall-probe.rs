//! Calls the kernel with bad arguments and checks each error code, then
//! makes a Linux system call, which must stop the thread (no fault handler
//! exists yet). Prints one `septum-test:` line per check.
#![no_std]
#![no_main]

use septum_user::abi::{Error, layout, syscall as nr};
use septum_user::println;
use septum_user::syscall::raw2;

septum_user::entry!(main);

fn check(name: &str, got: u64, want: Result<u64, Error>) {
    let got = Error::from_rax(got);
    if got == want {
        println!("septum-test: {name} ok");
    } else {
        println!("septum-test: {name} FAILED got {got:?}, want {want:?}");
    }
}

fn main() {
    let write = |ptr: u64, len: u64| raw2(nr::DEBUG_WRITE, ptr, len);
    check(
        "debug_write_kernel_pointer",
        write(layout::KERNEL_SPACE_START, 8),
        Err(Error::InvalidAddress),
    );
    check(
        "debug_write_noncanonical",
        write(0x8000_0000_0000, 8),
        Err(Error::InvalidAddress),
    );
    check(
        "debug_write_wraps",
        write(u64::MAX - 3, 8),
        Err(Error::InvalidAddress),
    );
    check(
        "debug_write_unmapped",
        write(0x1000, 8),
        Err(Error::InvalidAddress),
    );
    check(
        "debug_write_too_long",
        write(0x40_0000, 1 << 20),
        Err(Error::Range),
    );
    let hello = b"direct write\n";
    check(
        "debug_write_ok",
        write(hello.as_ptr() as u64, hello.len() as u64),
        Ok(hello.len() as u64),
    );
    // Zero bytes (the null call, which the entry sends its own way) are
    // still checked like any write.
    check(
        "debug_write_empty_kernel_pointer",
        write(layout::KERNEL_SPACE_START, 0),
        Err(Error::InvalidAddress),
    );
    check(
        "debug_write_empty_noncanonical",
        write(0x8000_0000_0000, 0),
        Err(Error::InvalidAddress),
    );
    check("debug_write_empty", write(0x1000, 0), Ok(0));
    check(
        "unknown_septum_call",
        raw2(nr::BASE + 0x7f, 0, 0),
        Err(Error::UnknownSyscall),
    );
    // Between DebugWrite and Call, and just below Septum's range: the
    // entry's range test for DebugWrite must send these on.
    check(
        "unknown_septum_call_low",
        raw2(nr::BASE + 3, 0, 0),
        Err(Error::UnknownSyscall),
    );
    println!("making Linux system call 60 (exit)");
    // Not a Septum call: with no fault handler the kernel stops this thread.
    raw2(60, 0, 0);
    println!("septum-test: linux_syscall_stops FAILED returned");
}
