//! What the CPU does when no thread can run.

/// Wait for an interrupt that may make a thread runnable. In a test run
/// (`exit_on_idle`) with nothing left that could wake a thread, end the run
/// with the pass code: the system has done all it will do. Timer ticks do
/// not count as such a source (they wake nobody, see `irq`); when one ends
/// the halt, the scheduler finds nothing to run and comes back here. The
/// end of a window does: a thread queued in another partition runs in
/// that partition's window.
///
/// With IRQ lines bound, a device may still wake a thread, so the run
/// goes on; under `exit_on_idle` it ends once the machine has been idle
/// with no device interrupt for `irq::idle_grace()` ticks (a driver
/// waiting for a device that stays quiet), and says so.
pub fn wait_for_work() {
    let queued = crate::sched::anything_queued();
    if crate::irq::any_source()
        && !queued
        && crate::boot_options().exit_on_idle
        && crate::irq::idle_expired()
    {
        crate::info!(
            "no runnable threads; IRQ lines are bound but no device interrupt came for {} ticks",
            crate::irq::idle_grace()
        );
        end_run();
    }
    if !crate::irq::any_source() && !queued {
        crate::info!("no runnable threads");
        if crate::boot_options().exit_on_idle {
            end_run();
        }
        crate::arch::halt_forever();
    }
    x86_64::instructions::interrupts::enable_and_hlt();
    x86_64::instructions::interrupts::disable();
}

/// End a test run (`exit_on_idle`) with the pass code.
fn end_run() -> ! {
    crate::info!("exit_on_idle: ending the run");
    crate::arch::exit_qemu(septum_abi::qemu_exit::PASS)
}
