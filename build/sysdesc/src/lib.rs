//! Septum's system description: one file that says which protection
//! domains exist, how they talk, what memory and devices each gets and when
//! each runs (`docs/system-description.md`).
//!
//! Without features this crate is `#![no_std]` and allocation-free: the
//! compiled form ([`image`]) that the root task decodes from the boot image,
//! and the layout rules ([`layout`]) it follows. The `host` feature adds
//! the build tool's side: the TOML reader that reports every mistake at
//! once ([`check`], [`diag`]), the checked model ([`model`]) and what
//! `cargo xtask describe` prints ([`describe`]).
#![cfg_attr(not(feature = "host"), no_std)]
#![forbid(unsafe_code)]

pub mod image;
pub mod layout;
pub mod policy;

#[cfg(feature = "host")]
pub mod check;
#[cfg(feature = "host")]
pub mod describe;
#[cfg(feature = "host")]
pub mod diag;
#[cfg(feature = "host")]
pub mod interfaces;
#[cfg(feature = "host")]
mod load;
#[cfg(feature = "host")]
pub mod model;
#[cfg(feature = "host")]
pub mod raw;
#[cfg(feature = "host")]
pub mod units;
