//! Shared bits of the test tasks. Each binary in `src/bin/` is booted as
//! the root task of one scenario in `tests/scenarios/`. The small ones do
//! one thing the kernel must refuse or survive; the `ktest-*` ones are the
//! kernel's on-target suite, one group of cases each, on the framework in
//! [`ktest`].
#![no_std]

pub mod ktest;
pub mod partition;
