//! Generates the code of every interface in `idl/*.idl` into `OUT_DIR`, and
//! checks that `src/lib.rs` includes each of them.

use std::path::PathBuf;

fn main() {
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let idl = manifest
        .parent()
        .expect("idl/interfaces has a parent")
        .to_path_buf();
    let files = septum_idlgen::build(&idl, &out).unwrap_or_else(|e| fail(&e));

    let lib = manifest.join("src/lib.rs");
    println!("cargo:rerun-if-changed={}", lib.display());
    let lib_src =
        std::fs::read_to_string(&lib).unwrap_or_else(|e| fail(&format!("{}: {e}", lib.display())));
    let missing: Vec<String> = files
        .iter()
        .filter_map(|f| f.file_stem().and_then(|s| s.to_str()))
        .filter(|m| !lib_src.contains(&include_line(m)))
        .map(|m| {
            format!(
                "src/lib.rs: no module for idl/{m}.idl; add `pub mod {m} {{ {} }}`",
                include_line(m)
            )
        })
        .collect();
    if !missing.is_empty() {
        fail(&missing.join("\n"));
    }
}

fn include_line(module: &str) -> String {
    format!("include!(concat!(env!(\"OUT_DIR\"), \"/{module}.rs\"));")
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(1);
}
