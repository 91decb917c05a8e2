//! Time for the supervisor: the TSC, in nanoseconds by the kernel's
//! calibration (boot-info page, `tsc_hz`; taken as 1 GHz if the kernel
//! could not calibrate). Monotonic on one CPU; used for restart windows
//! and backoffs only, never for a test's verdict.
#![allow(unsafe_code)]

/// Nanoseconds since the TSC started.
pub fn now_ns() -> u64 {
    // SAFETY: RDTSC only reads the counter; the kernel leaves CR4.TSD
    // clear so user mode may (DESIGN.md).
    let ticks = unsafe { core::arch::x86_64::_rdtsc() };
    septum_sysdesc::policy::ticks_to_ns(ticks, septum_user::ipc::boot_info().tsc_hz)
}
