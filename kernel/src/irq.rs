//! Interrupts after the entry code: the timer tick and (later) device
//! lines delivered to notifications.

/// Handle interrupt `vector`, taken in user mode or while idle.
pub fn handle(vector: u64) {
    crate::warn!("unexpected interrupt vector {vector}");
}

/// Whether any interrupt could still wake a thread (a bound IRQ line or a
/// running timer). Until device interrupts are routed, none can.
pub fn any_source() -> bool {
    false
}
