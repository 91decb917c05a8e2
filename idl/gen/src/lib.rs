//! The IDL generator: parses interface definitions (`idl/*.idl`), checks
//! them, computes the worst-case size of every message and emits Rust client
//! stubs and server traits for the `septum-idl` runtime.
//!
//! The definition format and what is emitted are fixed by `idl/CONTRACT.md`.
//! Every mistake in a definition comes back as one [`Error`] that prints as
//! `<file>:<line>:<col>: <what is wrong>; <how to fix it>`. A definition that
//! [`parse`] accepts always yields code that compiles: names are checked
//! against Rust keywords and against the names the generator itself uses, and
//! no message can exceed the payload capacity.
#![forbid(unsafe_code)]

mod check;
mod emit;
mod lex;
mod parse;
mod size;

use std::fmt;
use std::path::{Path, PathBuf};

pub use size::PAYLOAD_CAPACITY;

/// A 1-based line and column in a definition file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

/// A mistake in a definition: where it is, what is wrong, how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub file: String,
    pub pos: Pos,
    pub what: String,
    pub fix: String,
}

impl Error {
    pub(crate) fn new(
        file: &str,
        pos: Pos,
        what: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Error {
            file: file.to_string(),
            pos,
            what: what.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}; {}",
            self.file, self.pos.line, self.pos.col, self.what, self.fix
        )
    }
}

impl std::error::Error for Error {}

/// A checked interface definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// The file name used in messages and in the generated header.
    pub file: String,
    pub name: String,
    pub pos: Pos,
    pub docs: Vec<String>,
    pub ordinal: u16,
    pub version: u16,
    pub types: Vec<TypeDecl>,
    pub methods: Vec<Method>,
}

/// A declared `enum`, `error` or `struct`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeDecl {
    pub name: String,
    pub pos: Pos,
    pub docs: Vec<String>,
    pub body: TypeBody,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeBody {
    Enum(Vec<Variant>),
    Error(Vec<Variant>),
    Struct(Vec<Field>),
}

/// An enum or error variant with its explicit value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    pub name: String,
    pub pos: Pos,
    pub docs: Vec<String>,
    pub value: u8,
}

/// A struct field or a method argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub pos: Pos,
    pub docs: Vec<String>,
    pub ty: Type,
    pub ty_pos: Pos,
}

/// Capability kinds, with the type codes `CNODE_IDENTIFY` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapKind {
    Untyped = 1,
    CNode = 2,
    Tcb = 3,
    Endpoint = 4,
    Notification = 5,
    Reply = 6,
    PageTable = 7,
    Frame = 8,
}

impl CapKind {
    pub const ALL: [CapKind; 8] = [
        CapKind::Endpoint,
        CapKind::Notification,
        CapKind::Frame,
        CapKind::Tcb,
        CapKind::CNode,
        CapKind::Reply,
        CapKind::Untyped,
        CapKind::PageTable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CapKind::Untyped => "Untyped",
            CapKind::CNode => "CNode",
            CapKind::Tcb => "Tcb",
            CapKind::Endpoint => "Endpoint",
            CapKind::Notification => "Notification",
            CapKind::Reply => "Reply",
            CapKind::PageTable => "PageTable",
            CapKind::Frame => "Frame",
        }
    }

    /// The rights a capability of this kind carries; the other kinds carry
    /// none of their own, so only `any` makes sense for them.
    pub fn rights(self) -> &'static [Right] {
        match self {
            CapKind::Endpoint => &[Right::Read, Right::Write, Right::Grant, Right::GrantReply],
            CapKind::Notification | CapKind::Frame => &[Right::Read, Right::Write],
            _ => &[],
        }
    }
}

/// Capability rights, with their bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Right {
    Read = 1,
    Write = 2,
    Grant = 4,
    GrantReply = 8,
}

impl Right {
    pub const ALL: [Right; 4] = [Right::Read, Right::Write, Right::Grant, Right::GrantReply];

    pub fn name(self) -> &'static str {
        match self {
            Right::Read => "read",
            Right::Write => "write",
            Right::Grant => "grant",
            Right::GrantReply => "grant_reply",
        }
    }
}

/// A type as written in a definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Type {
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    Bool,
    /// `string<N>`: UTF-8, at most N bytes.
    String(u16),
    /// `bytes<N>`: at most N bytes.
    Bytes(u16),
    Region,
    /// A declared enum, error or struct.
    Named(String),
    /// `cap<Kind, rights>`; rights as the `|` of their bits (0 for `any`).
    Cap(CapKind, u8),
    /// `()`, results only.
    Unit,
}

/// A method, numbered in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Method {
    pub name: String,
    pub pos: Pos,
    pub docs: Vec<String>,
    /// The wire method id.
    pub id: u16,
    pub args: Vec<Field>,
    pub result: Type,
    pub result_pos: Pos,
    /// The declared error type after `!`, if any.
    pub error: Option<String>,
    pub error_pos: Pos,
    /// Worst-case postcard size of the request payload.
    pub request_max: usize,
    /// Worst-case size of any reply payload (result, error or version).
    pub reply_max: usize,
}

/// Parses and checks one definition file (`file_name` is used in messages).
pub fn parse(file_name: &str, src: &str) -> Result<Interface, Error> {
    let tokens = lex::lex(file_name, src)?;
    let mut iface = parse::parse(file_name, &tokens)?;
    check::check(&mut iface)?;
    Ok(iface)
}

/// The Rust module for a checked interface.
pub fn generate(iface: &Interface) -> String {
    emit::emit(iface)
}

/// The interface name in snake_case: the module and file name of its code.
pub fn snake_name(name: &str) -> String {
    check::to_snake(name)
}

/// For build scripts: generates `<snake_name>.rs` in `out_dir` for every
/// `*.idl` in `idl_dir` (sorted by name), prints `cargo:rerun-if-changed`
/// lines, and returns the generated files. Errors are formatted as
/// `<file>:<line>:<col>: <what>; <fix>`, one a line.
pub fn build(idl_dir: &Path, out_dir: &Path) -> Result<Vec<PathBuf>, String> {
    println!("cargo:rerun-if-changed={}", idl_dir.display());
    let entries = std::fs::read_dir(idl_dir)
        .map_err(|e| format!("{}: cannot read the directory: {e}", idl_dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "idl"))
        .collect();
    files.sort();
    let mut errors = Vec::new();
    let mut outputs = Vec::new();
    let mut ordinals: Vec<(u16, String)> = Vec::new();
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let src = match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) => {
                errors.push(format!("{}: cannot read: {e}", path.display()));
                continue;
            }
        };
        let iface = match parse(&file_name, &src) {
            Ok(i) => i,
            Err(e) => {
                errors.push(e.to_string());
                continue;
            }
        };
        let snake = snake_name(&iface.name);
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        if stem.as_deref() != Some(snake.as_str()) {
            let e = Error::new(
                &file_name,
                iface.pos,
                format!("interface '{}' is in '{file_name}'", iface.name),
                format!(
                    "rename the file to '{snake}.idl' (one interface per file, named after it)"
                ),
            );
            errors.push(e.to_string());
            continue;
        }
        if let Some((_, other)) = ordinals.iter().find(|(o, _)| *o == iface.ordinal) {
            let e = Error::new(
                &file_name,
                iface.pos,
                format!(
                    "interface '{}' has ordinal {:#06x}, which '{other}' already uses",
                    iface.name, iface.ordinal
                ),
                "give every interface its own ordinal",
            );
            errors.push(e.to_string());
            continue;
        }
        ordinals.push((iface.ordinal, file_name.clone()));
        let out = out_dir.join(format!("{snake}.rs"));
        let code = generate(&iface);
        // Leave an unchanged file alone so that its users are not rebuilt.
        if std::fs::read_to_string(&out).ok().as_deref() != Some(code.as_str())
            && let Err(e) = std::fs::write(&out, code)
        {
            errors.push(format!("{}: cannot write: {e}", out.display()));
            continue;
        }
        outputs.push(out);
    }
    if errors.is_empty() {
        Ok(outputs)
    } else {
        Err(errors.join("\n"))
    }
}
