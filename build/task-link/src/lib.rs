//! The one thing every task crate's build script does: link the crate's
//! programs with the task linker script `septum-user` publishes (a static
//! ELF at 4 MiB, W^X segments). Link arguments do not propagate from a
//! library, so each task crate passes them on from its own build script,
//! and this is where that is said once.

/// Link every program of the crate being built with the task linker
/// script, when it is built for the machine (`target_os = "none"`); a host
/// build (the crate's unit tests) links as usual.
///
/// For the build script of a crate that depends on `septum-user`: cargo
/// tells only those the script's path (`DEP_SEPTUM_USER_LINKER_SCRIPT`).
pub fn link_programs() {
    let script = std::env::var("DEP_SEPTUM_USER_LINKER_SCRIPT")
        .expect("septum-user publishes its linker script");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg-bins=-T{script}");
        println!("cargo:rustc-link-arg-bins=--no-pie");
    }
}
