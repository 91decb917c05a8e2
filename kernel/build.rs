//! Links the kernel with its own script: PVH note segment, sections at
//! 0xffff_8080_0010_0000 loaded at physical 1 MiB, and `--no-pie` so the
//! target's position-independent code becomes an ET_EXEC with no dynamic
//! relocations (`cargo xtask build` checks that).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
        println!("cargo:rustc-link-arg-bins=--no-pie");
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    }
    println!("cargo:rerun-if-changed=linker.ld");
}
