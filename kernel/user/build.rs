//! Publishes the task linker script's path to dependents as
//! `DEP_SEPTUM_USER_LINKER_SCRIPT`, so each task's build script can pass it on
//! with `septum_task_link::link_programs` (link arguments do not propagate
//! from a library by themselves).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:linker_script={dir}/task.ld");
    println!("cargo:rerun-if-changed=task.ld");
}
