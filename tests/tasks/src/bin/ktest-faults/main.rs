//! On-target suite, fault group: faults delivered as messages and answered
//! by the root, address spaces (mapping, rights, unmapping, teardown), and
//! each thread's FPU/SSE/AVX and TLS state. Booted as the root task by the
//! `kernel-faults` scenario; each case asserts what it observed and prints
//! one result line.
#![no_std]
#![no_main]
// A failed case carries its reason inline (`ktest::Fail`, 168 bytes); the
// framework's cases all return it.

#[macro_use]
mod common;
mod fastfault;
mod faults;
mod fpu;
mod vspace;

septum_user::entry!(main);

fn main() {
    septum_test_tasks::ktest::run_all(&[
        faults::TESTS,
        fastfault::TESTS,
        vspace::TESTS,
        fpu::TESTS,
    ]);
}
