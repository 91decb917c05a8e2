//! On-target suite, review group: cases written while reviewing issue 7
//! ("close isolation holes") as an attacker would. Each case asserts an
//! invariant the kernel documents (docs/kernel.md) and fails on a kernel
//! that breaks it. Booted as the root task by the `kernel-review` scenario.
#![no_std]
#![no_main]

mod common;
mod console;
mod held;
mod release;
mod reset;

septum_user::entry!(main);

fn main() {
    septum_test_tasks::ktest::run_all(&[held::TESTS, reset::TESTS, release::TESTS, console::TESTS]);
}
