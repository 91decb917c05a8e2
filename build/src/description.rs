//! System descriptions in the build tool: read one, check it against the
//! workspace's interfaces and the machine QEMU boots, print what is wrong,
//! and `describe` it.
//!
//! The checking itself lives in `septum-sysdesc`; this module only finds
//! the files and decides where messages go.

use crate::scenario::DEFAULT_MEMORY;
use crate::tools::{Result, Workspace};
use septum_sysdesc::check::{self, Options};
use septum_sysdesc::{describe, diag, interfaces, model};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The description `build`, `run` and `describe` use unless told otherwise.
pub const DEFAULT_SYSTEM: &str = "build/systems/default.toml";

/// A checked description.
#[derive(Debug)]
pub struct Loaded {
    /// The file.
    pub path: PathBuf,
    /// How messages name it.
    pub shown: String,
    /// What it describes.
    pub system: model::System,
}

impl Loaded {
    /// The name its image and JSON get: the file's stem (`default`).
    pub fn name(&self) -> String {
        self.path
            .file_stem()
            .map_or_else(|| "system".into(), |s| s.to_string_lossy().into_owned())
    }
}

/// The file to use: `given`, or the default description.
pub fn path_or_default(ws: &Workspace, given: Option<&Path>) -> PathBuf {
    match given {
        None => ws.root.join(DEFAULT_SYSTEM),
        // A bare name (`--system two-guests`) is build/systems/NAME.toml.
        Some(p) if !p.exists() && p.extension().is_none() && p.components().count() == 1 => {
            ws.root.join("build/systems").join(p).with_extension("toml")
        }
        Some(p) => p.to_path_buf(),
    }
}

/// The machine memory QEMU boots with, in bytes, from `-m`'s `<n>M`/`<n>G`.
pub fn qemu_memory_bytes(m: &str) -> Option<u64> {
    let (n, shift) = match m.strip_suffix('M') {
        Some(n) => (n, 20),
        None => (m.strip_suffix('G')?, 30),
    };
    n.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// What the checker is told: every interface in `idl/`, and the machine
/// memory `cargo xtask run` gives QEMU.
pub fn options(ws: &Workspace) -> Result<Options> {
    Ok(Options {
        machine_memory: qemu_memory_bytes(DEFAULT_MEMORY).unwrap_or(check::DEFAULT_MACHINE_MEMORY),
        interfaces: interfaces::load(&ws.root.join("idl"))?,
    })
}

/// Read and check the description at `path`, printing its warnings and
/// errors on stderr; an error refuses it.
pub fn load(ws: &Workspace, path: &Path) -> Result<Loaded> {
    let shown = ws.show(path);
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the system description {shown}: {e}"))?;
    let report = check::check(&text, &options(ws)?);
    if !report.diagnostics.is_empty() {
        eprint!(
            "{}",
            report.render(&shown, &text, std::io::stderr().is_terminal())
        );
    }
    match report.system {
        Some(system) if !report.has_errors() => Ok(Loaded {
            path: path.to_path_buf(),
            shown,
            system,
        }),
        _ => Err(format!(
            "{shown}: {}; see docs/system-description.md",
            diag::summary(&report.diagnostics)
        )),
    }
}

/// What `describe` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// For a person.
    Text,
    /// A Graphviz graph.
    Dot,
    /// The checked model as JSON.
    Json,
}

/// What `describe` prints for `loaded`.
pub fn render(loaded: &Loaded, format: Format) -> String {
    match format {
        Format::Text => describe::text(&loaded.system, &loaded.shown),
        Format::Dot => describe::dot(&loaded.system),
        Format::Json => {
            let mut json = loaded.system.to_json();
            json.push('\n');
            json
        }
    }
}

/// `cargo xtask describe [FILE] [--dot | --json]`.
pub fn run(ws: &Workspace, file: Option<&Path>, format: Format) -> Result<ExitCode> {
    let loaded = load(ws, &path_or_default(ws, file))?;
    print!("{}", render(&loaded, format));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default() -> Loaded {
        let ws = Workspace::locate();
        load(&ws, &path_or_default(&ws, None)).expect("the default description checks")
    }

    #[test]
    fn checked_against_the_memory_qemu_boots_with() {
        assert_eq!(qemu_memory_bytes(DEFAULT_MEMORY), Some(256 << 20));
        assert_eq!(qemu_memory_bytes("1G"), Some(1 << 30));
        assert_eq!(qemu_memory_bytes("12"), None);
        assert_eq!(
            qemu_memory_bytes(DEFAULT_MEMORY),
            Some(check::DEFAULT_MACHINE_MEMORY)
        );
    }

    #[test]
    fn the_default_description_loads_and_names_its_image() {
        let loaded = default();
        assert_eq!(loaded.shown, DEFAULT_SYSTEM);
        assert_eq!(loaded.name(), "default");
        assert_eq!(loaded.system.domains.len(), 3);
    }

    #[test]
    fn every_format_describes_the_default() {
        let loaded = default();
        let text = render(&loaded, Format::Text);
        assert!(
            text.starts_with("system build/systems/default.toml (schema 1)"),
            "{text}"
        );
        let dot = render(&loaded, Format::Dot);
        assert!(dot.contains("subgraph \"cluster_A\""), "{dot}");
        let json = render(&loaded, Format::Json);
        assert_eq!(model::System::from_json(&json).unwrap(), loaded.system);
    }

    #[test]
    fn a_broken_description_is_refused_with_a_count() {
        let ws = Workspace::locate();
        let dir = std::env::temp_dir().join(format!("septum-desc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("broken.toml");
        std::fs::write(&path, "schema = 2\n[domains.a]\nprogram = 1\n").unwrap();
        let err = load(&ws, &path).unwrap_err();
        assert!(err.contains(" errors"), "{err}");
        assert!(err.contains("docs/system-description.md"), "{err}");
        let err = load(&ws, &dir.join("missing.toml")).unwrap_err();
        assert!(err.contains("cannot read the system description"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
