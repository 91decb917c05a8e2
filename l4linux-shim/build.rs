//! Links the shim with the task linker script, and embeds its root
//! filesystem: the cpio (newc) archive `cargo xtask build` makes from
//! Debian's busybox-static and the guest's own files, named by
//! `SEPTUM_GUEST_CPIO`. Without it (a plain `cargo build`, `cargo xtask
//! lint`) the shim gets an empty archive and says so when it starts.
fn main() {
    septum_task_link::link_programs();
    println!("cargo:rerun-if-env-changed=SEPTUM_GUEST_CPIO");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dst = out.join("rootfs.cpio");
    match std::env::var("SEPTUM_GUEST_CPIO") {
        Ok(path) if !path.is_empty() => {
            println!("cargo:rerun-if-changed={path}");
            std::fs::copy(&path, &dst)
                .unwrap_or_else(|e| panic!("cannot read the guest's root filesystem {path}: {e}"));
        }
        _ => std::fs::write(&dst, b"").expect("OUT_DIR is writable"),
    }
}
