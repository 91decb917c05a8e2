//! Interrupts after the entry code: the local APIC timer's tick and (later)
//! device lines delivered to notifications.
//!
//! The tick only charges the running thread's time slice; it never wakes a
//! blocked thread, because the kernel has no timeouts (sleeping is the
//! timer server's business, through device interrupts once they are
//! routed). So the timer is not a wake-up source, and [`any_source`] stays
//! false until IRQ lines can be bound to notifications.

use crate::arch::apic;

/// Handle interrupt `vector`, taken in user mode or while idle.
pub fn handle(vector: u64) {
    match vector {
        apic::TIMER_VECTOR => {
            if crate::partition::active() {
                apic::end_of_interrupt();
                crate::partition::timer();
            } else {
                apic::timer_interrupt();
                crate::sched::tick();
            }
        }
        // A spurious interrupt is not in service: it must not be acknowledged.
        apic::SPURIOUS_VECTOR => {}
        _ => {
            apic::end_of_interrupt();
            crate::warn!("unexpected interrupt vector {vector}");
        }
    }
}

/// Whether any interrupt could still wake a blocked thread: a bound IRQ
/// line. Timer ticks do not count (see the module note), so with nothing
/// runnable and no IRQ line routed the system has done all it will do
/// (`exit_on_idle` relies on that).
pub fn any_source() -> bool {
    false
}
