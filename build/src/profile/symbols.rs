//! Naming guest PCs from the ELF files they were loaded from: the function
//! from the symbol table (read with `object`), the source line and the
//! innermost inlined function from the DWARF line and debug information
//! (read with `addr2line`). The release profile keeps `debug = 1`, so the
//! machine binaries carry line tables and inlining records.

use addr2line::gimli;
use object::elf::PF_X;
use object::{Object, ObjectSection, ObjectSegment, SegmentFlags};
use std::borrow::Cow;
use std::path::Path;
use std::rc::Rc;

type Dwarf = addr2line::Context<gimli::EndianRcSlice<gimli::RunTimeEndian>>;

/// A function of the symbol table.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Function {
    address: u64,
    size: u64,
    /// Demangled, without the hash.
    name: String,
}

/// An executable segment: where it is loaded and its bytes.
#[derive(Clone, Debug)]
struct Segment {
    address: u64,
    size: u64,
    bytes: Vec<u8>,
}

/// One ELF file, ready for lookups.
pub struct Binary {
    segments: Vec<Segment>,
    /// Sorted by address.
    functions: Vec<Function>,
    dwarf: Option<Dwarf>,
}

/// Where a PC's source is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The source file, shortened by [`short_path`].
    pub file: String,
    /// Its line, 0 if unknown.
    pub line: u32,
    /// The innermost function the compiler inlined at this PC, if the PC
    /// belongs to an inlined call.
    pub inlined: Option<String>,
}

impl Binary {
    /// Read an ELF file's executable segments, symbols and debug
    /// information. A file without debug information still names
    /// functions; it only has no source lines.
    pub fn parse(data: &[u8]) -> Result<Binary, String> {
        let file =
            object::File::parse(data).map_err(|e| format!("not a readable ELF file: {e}"))?;
        let segments = file
            .segments()
            .filter(|s| {
                matches!(s.flags(), SegmentFlags::Elf { p_flags, .. } if p_flags.0 & PF_X.0 != 0)
            })
            .map(|s| {
                Ok(Segment {
                    address: s.address(),
                    size: s.size(),
                    bytes: s
                        .data()
                        .map_err(|e| format!("cannot read a segment: {e}"))?
                        .to_vec(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let mut functions: Vec<Function> = file
            .symbol_map()
            .symbols()
            .iter()
            .map(|s| Function {
                address: s.address(),
                size: s.size(),
                name: demangle(s.name()),
            })
            .collect();
        functions.sort_by_key(|f| f.address);
        Ok(Binary {
            segments,
            functions,
            dwarf: load_dwarf(&file),
        })
    }

    /// Read and parse the ELF file at `path`.
    pub fn read(path: &Path) -> Result<Binary, String> {
        let data =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Binary::parse(&data).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The address ranges of the executable segments, each as
    /// `(first, last)` (inclusive, as QEMU's `-dfilter` takes them).
    pub fn code_ranges(&self) -> Vec<(u64, u64)> {
        self.segments
            .iter()
            .filter(|s| s.size > 0)
            .map(|s| (s.address, s.address + (s.size - 1)))
            .collect()
    }

    /// Whether `pc` lies in an executable segment of this file.
    pub fn has_code_at(&self, pc: u64) -> bool {
        self.segments
            .iter()
            .any(|s| pc >= s.address && pc - s.address < s.size)
    }

    /// The executable segment holding `pc`: its address and bytes.
    pub fn segment_at(&self, pc: u64) -> Option<(u64, &[u8])> {
        self.segments
            .iter()
            .find(|s| pc >= s.address && pc - s.address < s.size)
            .map(|s| (s.address, &s.bytes[..]))
    }

    /// The `n` bytes of code at `pc`, if the file holds them all.
    pub fn bytes(&self, pc: u64, n: usize) -> Option<&[u8]> {
        let s = self
            .segments
            .iter()
            .find(|s| pc >= s.address && pc - s.address < s.size)?;
        let start = usize::try_from(pc - s.address).ok()?;
        s.bytes.get(start..start.checked_add(n)?)
    }

    /// The address of the function named `name` (demangled, without
    /// the hash), if the symbol table has it.
    pub fn address_of(&self, name: &str) -> Option<u64> {
        self.functions
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.address)
    }

    /// The function `pc` is in: the symbol at or below it whose size covers it.
    pub fn function(&self, pc: u64) -> Option<&str> {
        let i = self.functions.partition_point(|f| f.address <= pc);
        let f = &self.functions[i.checked_sub(1)?];
        (pc - f.address < f.size.max(1)).then_some(f.name.as_str())
    }

    /// The source line of `pc` and the inlined function it belongs to.
    pub fn source(&self, pc: u64, root: &Path) -> Option<Source> {
        let dwarf = self.dwarf.as_ref()?;
        let location = dwarf.find_location(pc).ok()??;
        let file = short_path(location.file?, root);
        let mut inlined = None;
        if let Ok(mut frames) = dwarf.find_frames(pc).skip_all_loads() {
            // The first frame is the innermost; an inlined call has more.
            let innermost = frames.next().ok().flatten();
            let caller = frames.next().ok().flatten();
            if let (Some(frame), Some(_)) = (innermost, caller) {
                inlined = frame
                    .function
                    .as_ref()
                    .and_then(|f| f.demangle().ok())
                    .map(|n| n.into_owned());
            }
        }
        Some(Source {
            file,
            line: location.line.unwrap_or(0),
            inlined,
        })
    }
}

fn load_dwarf(file: &object::File<'_>) -> Option<Dwarf> {
    let endian = if file.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<_, gimli::Error> {
        let data = file
            .section_by_name(id.name())
            .and_then(|s| s.uncompressed_data().ok())
            .unwrap_or(Cow::Borrowed(&[]));
        Ok(gimli::EndianRcSlice::new(Rc::from(&*data), endian))
    };
    let dwarf = gimli::Dwarf::load(load).ok()?;
    addr2line::Context::from_dwarf(dwarf).ok()
}

/// A symbol's name demangled, without the hash (`septum_kernel::ipc::recv`);
/// names that are not mangled (assembly labels) stay as they are.
pub fn demangle(name: &str) -> String {
    addr2line::demangle_auto(Cow::Borrowed(name), None).into_owned()
}

/// A source path as short as it stays clear: relative to the workspace
/// `root` for the project's own files, from `library/` for the standard
/// library (`/rustc/<hash>/library/...`), from the crate's directory for
/// crates.io sources (`.../registry/src/<index>/spin-0.10.0/...`).
pub fn short_path(file: &str, root: &Path) -> String {
    let path = Path::new(file);
    if let Ok(rel) = path.strip_prefix(root) {
        return rel.display().to_string();
    }
    if let Some(i) = file.find("/library/")
        && (file.starts_with("/rustc/") || file.contains("/rust/"))
    {
        return file[i + 1..].to_string();
    }
    if let Some((_, rest)) = file.split_once("/registry/src/")
        && let Some((_index, krate)) = rest.split_once('/')
    {
        return krate.to_string();
    }
    file.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_demangled_without_hash() {
        assert_eq!(
            demangle("_ZN13septum_kernel3ipc4recv17h0123456789abcdefE"),
            "septum_kernel::ipc::recv"
        );
        assert_eq!(demangle("__syscall_entry"), "__syscall_entry");
    }

    #[test]
    fn paths() {
        let root = Path::new("/work/septum");
        assert_eq!(
            short_path("/work/septum/kernel/src/ipc.rs", root),
            "kernel/src/ipc.rs"
        );
        assert_eq!(
            short_path("/rustc/0123abcd/library/core/src/ptr/mod.rs", root),
            "library/core/src/ptr/mod.rs"
        );
        assert_eq!(
            short_path(
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/spin-0.10.0/src/mutex.rs",
                root
            ),
            "spin-0.10.0/src/mutex.rs"
        );
        assert_eq!(short_path("/elsewhere/x.rs", root), "/elsewhere/x.rs");
    }

    /// This test binary is an ELF file with symbols and line tables (on
    /// Linux): find a function in it by name, then name its address back.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_real_elf_file() {
        let exe = std::env::current_exe().unwrap();
        let data = std::fs::read(&exe).unwrap();
        let bin = Binary::parse(&data).unwrap();
        let file = object::File::parse(&*data).unwrap();
        use object::ObjectSymbol;
        let sym = file
            .symbols()
            .find(|s| {
                s.name()
                    .is_ok_and(|n| demangle(n).ends_with("profile::symbols::short_path"))
            })
            .expect("short_path is in the symbol table");
        let pc = sym.address();
        assert!(bin.has_code_at(pc));
        assert!(bin.code_ranges().iter().any(|&(a, b)| a <= pc && pc <= b));
        assert!(
            bin.function(pc)
                .unwrap()
                .ends_with("profile::symbols::short_path")
        );
        assert!(bin.bytes(pc, 4).is_some());
        let name = bin.function(pc).unwrap().to_string();
        assert_eq!(bin.address_of(&name), Some(pc));
        assert_eq!(bin.address_of("no such function"), None);
        let src = bin
            .source(pc, Path::new(env!("CARGO_MANIFEST_DIR")))
            .unwrap();
        assert_eq!(src.file, "src/profile/symbols.rs");
        assert!(src.line > 0);
        assert_eq!(bin.function(0), None);
    }
}
