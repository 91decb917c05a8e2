//! Generated interfaces (being written; see `idl/CONTRACT.md`).
#![no_std]
#![forbid(unsafe_code)]
