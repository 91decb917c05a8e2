//! The timer server's logic, apart from its hardware so the host tests it:
//! turning counter readings into a clock that never goes backwards
//! ([`clock`]), and the queue of sleepers ordered by deadline
//! ([`sleepers`]). The server itself (`src/bin/timer.rs`) adds the HPET,
//! the PIT and the TSC, and the IDL loop.
//!
//! Nothing here can panic or overflow, whatever the hardware reads.
#![no_std]
#![forbid(unsafe_code)]

pub mod clock;
pub mod sleepers;
