//! `linux-probe` is a static ET_EXEC at 4 MiB, `linux-probe-pie` the
//! target's default static-PIE (ET_DYN, relocating itself at start), so
//! the guest's loader is tried with both kinds.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg-bin=linux-probe=--no-pie");
        println!("cargo:rustc-link-arg-bin=linux-probe=--image-base=0x400000");
    }
}
