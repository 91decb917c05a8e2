//! IDL runtime (being written; see `idl/CONTRACT.md`).
#![no_std]
