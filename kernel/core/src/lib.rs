//! Hardware-free kernel logic, built for the machine and for the host.
//!
//! Everything here is pure computation over byte slices and numbers, so the
//! host's `cargo test` covers it without QEMU (the split Hubris makes between
//! `kern` and `kerncore`). The kernel crate adds only the hardware around it.
//! This crate never touches memory it was not handed and never panics on bad
//! input: malformed data comes back as an error that names what was wrong.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod asid;
pub mod bootimage;
pub mod cap;
pub mod cdt;
pub mod console;
pub mod cspace;
pub mod elf;
pub mod faultlog;
pub mod physmem;
pub mod runqueue;
pub mod untyped;
