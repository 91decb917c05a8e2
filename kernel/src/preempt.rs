//! Preemption points of long kernel operations.
//!
//! The kernel runs with interrupts off, so a timer tick that falls due
//! during a long operation (revoke, CNode destruction) waits in the local
//! APIC. Such operations ask [`pending`] every few steps and, when it says
//! so, stop and are restarted after the interrupt has been taken.

/// Whether the operation in progress should stop and be restarted so a
/// pending interrupt can be taken: the timer's bit in the APIC's interrupt
/// request register is set. One uncached register read.
pub fn pending() -> bool {
    crate::arch::apic::timer_pending()
}
