//! System-call numbers and register conventions.
//!
//! Septum's numbers lie outside 0–1023 so they never collide with the system
//! calls of a guest (Linux x86_64 uses 0–~460, its x32 ABI sets bit 30; Xen
//! hypercalls are below 64). A `syscall` whose number is not one of these is
//! not a Septum call: it becomes a fault message (from the kernel-core issue on).
//!
//! Registers: number in `rax`; arguments in `rdi, rsi, rdx, r10, r8, r9`;
//! result in `rax` (0 or a negated [`crate::Error`] code), further results in
//! `rdx` and following. `rcx` and `r11` are clobbered by the instruction itself.

/// First Septum system-call number.
pub const BASE: u64 = 0x5e00;

/// Write bytes to the kernel's debug console.
/// `rdi` = pointer, `rsi` = length (at most [`DEBUG_WRITE_MAX`]).
pub const DEBUG_WRITE: u64 = BASE;
/// Stop the calling thread for good. The kernel logs it; nothing else runs it again.
pub const THREAD_EXIT: u64 = BASE + 1;

/// Largest single debug-console write, in bytes.
pub const DEBUG_WRITE_MAX: usize = 4096;

/// Whether `nr` is in Septum's system-call range (known or not).
pub const fn is_septum(nr: u64) -> bool {
    nr >= BASE && nr < BASE + 0x100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_avoid_guest_ranges() {
        for nr in [DEBUG_WRITE, THREAD_EXIT] {
            assert!(nr >= 1024, "{nr} collides with guest numbers 0-1023");
            assert!(nr & (1 << 30) == 0, "{nr} collides with Linux x32 numbers");
            assert!(is_septum(nr));
        }
        assert!(!is_septum(0) && !is_septum(1023) && !is_septum(60));
    }
}
