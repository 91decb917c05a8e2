//! On-target suite, third review (CNode guards, lazily read invocation
//! arguments): cases written attacking the changes since 6d17285 from
//! user space. Booted as the root task by the `kernel-rev3` scenario
//! (with `debug_checks`).
#![no_std]
#![no_main]

mod args;
mod guard;

septum_user::entry!(main);

fn main() {
    septum_test_tasks::ktest::run_all(&[guard::TESTS, args::TESTS]);
}

/// Let every other thread run until none is runnable: the root drops to
/// priority 1 and comes back at 255.
pub fn settle(c: &mut septum_test_tasks::ktest::Ctx) -> Result<(), septum_user::abi::Error> {
    use septum_test_tasks::ktest::SELF_TCB;
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 1)?;
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 255)
}

/// The kernel's invariant check (`DebugCheck`; the scenario turns on
/// `debug_checks`).
pub fn debug_check() -> Result<u64, septum_user::abi::Error> {
    use septum_user::abi::syscall as nr;
    septum_user::syscall::status(&septum_user::syscall::raw(nr::DEBUG_CHECK, 0, 0, [0; 4], 0))
}
