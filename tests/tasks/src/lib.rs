//! Shared bits of the test tasks: each binary in `src/bin/` is booted as
//! the root task of one scenario in `tests/scenarios/`, does one thing the
//! kernel must refuse or survive, and prints what it is about to do so the
//! console shows the order of events.
#![no_std]
