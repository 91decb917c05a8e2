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
    mov %rsi, {start_arg}(%rip)
    mov %rdx, {tsc_hz}(%rip)
    xor %ebp, %ebp
    and $-16, %rsp
    call __septum_task_main
    mov ${exit}, %eax
    syscall
    ud2
    "#,
    exit = const septum_abi::syscall::THREAD_EXIT,
    start_arg = sym START_ARG,
    tsc_hz = sym START_TSC_HZ,
    options(att_syntax)
);

/// What the task's starter put in `rsi` (`_start` keeps it here before
/// anything else runs).
#[cfg(target_os = "none")]
static START_ARG: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// What the task's starter put in `rdx`.
#[cfg(target_os = "none")]
static START_TSC_HZ: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The word the task's starter passed in `rdx`: for a domain the root
/// task builds, the TSC's frequency in Hz as the kernel measured it
/// (`BootInfo::tsc_hz`; 0 if unknown). 0 for the root task and on the host.
pub fn start_tsc_hz() -> u64 {
    #[cfg(target_os = "none")]
    {
        START_TSC_HZ.load(core::sync::atomic::Ordering::Relaxed)
    }
    #[cfg(not(target_os = "none"))]
    {
        0
    }
}

/// The word the task's starter passed in `rsi` when it started the first
/// thread: for a domain the supervisor builds, its generation (1 at boot,
/// one more at every restart; `docs/system-description.md`); for the root
/// task, the boot-info page's address. 0 on the host.
pub fn start_arg() -> u64 {
    #[cfg(target_os = "none")]
    {
        START_ARG.load(core::sync::atomic::Ordering::Relaxed)
    }
    #[cfg(not(target_os = "none"))]
    {
        0
    }
}

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
    match info.location() {
        Some(l) => println!(
            "task panicked at {}:{}: {}",
            l.file(),
            l.line(),
            info.message()
        ),
        None => println!("task panicked: {}", info.message()),
    }
    septum_task_panicked()
}

/// Where a panicking task stops: a `ud2` in this function, which its
/// supervisor receives as a fault (and names from the task's symbols, so
/// it can say "panicked"), so the domain's restart policy applies to a
/// panic as to any other fault. A thread with no fault handler is stopped
/// and logged by the kernel.
#[inline(never)]
#[unsafe(no_mangle)]
pub extern "C" fn septum_task_panicked() -> ! {
    // SAFETY: `ud2` raises #UD; the kernel never resumes a thread at an
    // invalid opcode on its own, and a handler that does resumes it here
    // again. It reads and writes nothing.
    unsafe { core::arch::asm!("ud2", options(noreturn, nomem, nostack)) }
}
