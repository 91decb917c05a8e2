//! Every interface defined in `idl/*.idl`, generated at build time by
//! `septum-idlgen`: per interface its types, method ids and worst-case
//! message sizes, a typed client (`<Name>Client`), a server trait
//! (`<Name>Server`) and the loop that dispatches requests to it (`serve`).
//!
//! The build fails with `<file>:<line>:<col>: <what>; <fix>` for a mistake in
//! a definition, and if a definition has no module here.
#![no_std]
#![forbid(unsafe_code)]

/// The reference interface (`idl/echo.idl`): one method per argument kind.
pub mod echo {
    include!(concat!(env!("OUT_DIR"), "/echo.rs"));
}
