//! On-target suite, scheduling group: priorities and MCP bounds,
//! round-robin, preemption (by wake-ups and by the timer), TCB control
//! (suspend, resume, registers, configure, names) and revoke/delete of
//! threads, CNodes and large derivation trees. Booted as the root task by
//! the `kernel-sched` scenario; each case asserts what it observed (order
//! of events, counters, registers, error codes) and prints one result line.
#![no_std]
#![no_main]
// Every case returns the framework's `TestResult`, whose failure carries
// its message inline (no allocator here to box it).

/// A `Test` whose case runs under `common::guarded` (fresh shared state;
/// the root back at priority 255 afterwards).
macro_rules! case {
    ($name:literal, $f:path) => {
        septum_test_tasks::ktest::Test {
            name: $name,
            run: |c| crate::common::guarded(c, $f),
        }
    };
}

mod common;
mod preempt;
mod prio;
mod revoke;
mod tcb;

septum_user::entry!(main);

fn main() {
    // The timer cases come last: without preemption a spinning thread
    // would keep the CPU, and they are the ones that could stall.
    septum_test_tasks::ktest::run_all(&[prio::TESTS, tcb::TESTS, revoke::TESTS, preempt::TESTS]);
}
