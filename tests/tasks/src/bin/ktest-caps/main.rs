//! On-target suite, capability group: retype and CNode operations. Booted
//! as the root task by the `kernel-caps` scenario; each case asserts what
//! it observed and prints one result line.
#![no_std]
#![no_main]

mod asid;
mod cnode;
mod destroy;
mod isolation;
mod retype;

septum_user::entry!(main);

fn main() {
    septum_test_tasks::ktest::run_all(&[
        retype::TESTS,
        cnode::TESTS,
        destroy::TESTS,
        isolation::TESTS,
        asid::TESTS,
    ]);
}
