//! Preemption points of long kernel operations.

/// Whether the operation in progress should stop and be restarted so a
/// pending interrupt can be taken. Until the local APIC timer is running
/// nothing can be pending, and operations run to completion.
pub fn pending() -> bool {
    false
}
