//! The user-space runtime every Septum task links.
//!
//! It provides the entry point (`_start`, which calls the task's `main`
//! declared with [`entry!`] and exits the thread when it returns), the panic
//! handler (report, then stop), raw system calls, and `print!`/`println!`
//! on the kernel's debug console. This crate and the kernel's arch layer
//! are where Septum's `unsafe` lives; tasks built on it need none.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod console;
pub mod ipc;
pub mod port;
pub mod syscall;

pub use septum_abi as abi;

// The entry point and panic handler exist only on the machine; on the host
// (where the IDL runtime's tests build this crate) the host runtime has its own.
#[cfg(target_os = "none")]
core::arch::global_asm!(
    r#"
    .section .text._start, "ax"
    .global _start
_start:
    xor %ebp, %ebp
    and $-16, %rsp
    call __septum_task_main
    mov ${exit}, %eax
    syscall
    ud2
    "#,
    exit = const septum_abi::syscall::THREAD_EXIT,
    options(att_syntax)
);

/// Declare the task's main function: `septum_user::entry!(main);` with
/// `fn main()`. The kernel starts the task's first thread there.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        extern "C" fn __septum_task_main() {
            let main: fn() = $main;
            main()
        }
    };
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // The supervisor learns of it from the log for now; with the kernel-core
    // issue the thread's fault endpoint will be told.
    match info.location() {
        Some(l) => println!(
            "task panicked at {}:{}: {}",
            l.file(),
            l.line(),
            info.message()
        ),
        None => println!("task panicked: {}", info.message()),
    }
    syscall::thread_exit()
}
