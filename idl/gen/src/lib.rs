//! IDL generator (being written; see `idl/CONTRACT.md`).
#![forbid(unsafe_code)]
