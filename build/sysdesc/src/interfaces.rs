//! The interfaces a channel may name: every definition in `idl/*.idl`,
//! read with the IDL generator's own parser.

use crate::check::KnownInterface;
use std::path::Path;

/// Every interface defined in `idl_dir` (sorted by name), or why one could
/// not be read.
pub fn load(idl_dir: &Path) -> Result<Vec<KnownInterface>, String> {
    let entries = std::fs::read_dir(idl_dir)
        .map_err(|e| format!("cannot list {}: {e}", idl_dir.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list {}: {e}", idl_dir.display()))?
            .path();
        if path.extension().is_none_or(|x| x != "idl") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file = path
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        let iface = septum_idlgen::parse(&file, &text).map_err(|e| e.to_string())?;
        found.push(KnownInterface {
            name: iface.name,
            ordinal: iface.ordinal,
            version: iface.version,
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_workspace_interfaces() {
        let idl = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../idl");
        let found = load(&idl).unwrap();
        let echo = found
            .iter()
            .find(|i| i.name == "Echo")
            .expect("idl/echo.idl");
        assert_eq!((echo.ordinal, echo.version), (0x0101, 1));
    }
}
