//! Links the vmm with the task linker script from `septum-user`.
fn main() {
    let script = std::env::var("DEP_SEPTUM_USER_LINKER_SCRIPT")
        .expect("septum-user publishes its linker script");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg-bins=-T{script}");
        println!("cargo:rustc-link-arg-bins=--no-pie");
    }
}
