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
/// Run the kernel's invariant checks (derivation tree, untyped accounting,
/// TCB slots, run queue). Only when the kernel was booted with
/// `debug_checks`; otherwise `IllegalOperation`. Returns 0, or `Range` if
/// something is broken (the kernel log says what). Either way `rdi` = slots
/// checked, `rsi` = derivation lists walked, `rdx` = CNodes, `r10` = TCBs,
/// `r8` = untyped capabilities, `r9` = problems found.
pub const DEBUG_CHECK: u64 = BASE + 2;

/// Call: send on an endpoint, then wait for the reply (kernel-core issue).
pub const CALL: u64 = BASE + 0x10;
/// ReplyRecv: answer through the reply object in r12, then receive.
pub const REPLY_RECV: u64 = BASE + 0x11;
/// Send: blocking send.
pub const SEND: u64 = BASE + 0x12;
/// NBSend: send only if a receiver waits.
pub const NB_SEND: u64 = BASE + 0x13;
/// Recv: blocking receive, binding callers to the reply object in r12.
pub const RECV: u64 = BASE + 0x14;
/// NBRecv: receive only if a sender waits.
pub const NB_RECV: u64 = BASE + 0x15;
/// Reply: answer through a reply object.
pub const REPLY: u64 = BASE + 0x16;
/// Signal: OR the capability's badge into a notification.
pub const SIGNAL: u64 = BASE + 0x18;
/// Wait: block until a notification's word is non-zero, take it.
pub const WAIT: u64 = BASE + 0x19;
/// Poll: take a notification's word without blocking.
pub const POLL: u64 = BASE + 0x1a;
/// Yield: go to the back of the caller's priority queue.
pub const YIELD: u64 = BASE + 0x1b;

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
        let all = [
            DEBUG_WRITE,
            THREAD_EXIT,
            DEBUG_CHECK,
            CALL,
            REPLY_RECV,
            SEND,
            NB_SEND,
            RECV,
            NB_RECV,
            REPLY,
            SIGNAL,
            WAIT,
            POLL,
            YIELD,
        ];
        for (i, nr) in all.into_iter().enumerate() {
            assert!(!all[..i].contains(&nr), "{nr:#x} used twice");
            assert!(nr >= 1024, "{nr} collides with guest numbers 0-1023");
            assert!(nr & (1 << 30) == 0, "{nr} collides with Linux x32 numbers");
            assert!(is_septum(nr));
        }
        assert!(!is_septum(0) && !is_septum(1023) && !is_septum(60));
    }
}
