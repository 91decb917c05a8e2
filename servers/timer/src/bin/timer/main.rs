//! The timer server (`idl/timer.idl`): a monotonic nanosecond clock, and
//! sleeps for many clients at once, answered when their deadlines pass.
//!
//! **Clock.** The HPET's main counter, if the page its description maps
//! at [`HPET_VA`] answers (its period from the capabilities register);
//! otherwise the TSC, calibrated against the PIT. Either way every answer
//! goes through [`Monotonic`], so the clock never goes backwards.
//!
//! **Sleeps.** A sleep keeps the caller's reply token in a queue ordered by
//! deadline ([`Sleepers`]) and is answered when the deadline passes; one
//! comparator (HPET comparator 0, or the PIT's channel 0) is programmed
//! for the earliest deadline only. Its interrupt reaches this thread as the
//! bound IRQ notification (`notified`), in the same receive as the calls,
//! so one thread serves everyone and never blocks on a client. A client
//! that died while sleeping makes its answer fail, harmlessly; the others
//! are answered as before.
//!
//! **Capabilities** are found by type, so the server does not depend on
//! where a description puts them: the endpoint it serves (the first one it
//! may receive on), its IRQ handlers, an I/O-port capability for the PIT,
//! its reply objects. See `docs/drivers.md`, "The timer server".
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
mod hw;
#[cfg(target_os = "none")]
mod server;

/// The server runs only on the machine; on the host (where `cargo clippy
/// --all-targets` checks the crate) there is nothing to run.
#[cfg(not(target_os = "none"))]
fn main() {}
