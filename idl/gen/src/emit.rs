//! The code generator: a checked [`Interface`] to a Rust module.
//!
//! The output follows rustfmt's default layout (100 columns, its widths for
//! one-line calls and struct literals) so that the golden files read like
//! hand-written code.

use crate::check::to_camel;
use crate::{CapKind, Field, Interface, Method, Right, Type, TypeBody, TypeDecl};
use std::collections::HashMap;

const MAX_WIDTH: usize = 100;
/// rustfmt's `fn_call_width`.
const CALL_WIDTH: usize = 60;
/// rustfmt's `short_array_element_width_threshold`.
const SHORT_ITEM_WIDTH: usize = 10;
/// rustfmt's `struct_lit_width`.
const STRUCT_LIT_WIDTH: usize = 18;

struct Writer {
    out: String,
    indent: usize,
}

impl Writer {
    fn line(&mut self, s: &str) {
        if !s.is_empty() {
            self.out.push_str(&"    ".repeat(self.indent));
            self.out.push_str(s);
        }
        self.out.push('\n');
    }

    fn open(&mut self, s: &str) {
        self.line(s);
        self.indent += 1;
    }

    fn close(&mut self, s: &str) {
        self.indent -= 1;
        self.line(s);
    }

    fn docs(&mut self, docs: &[String]) {
        for d in docs {
            if d.is_empty() {
                self.line("///");
            } else {
                self.line(&format!("/// {d}"));
            }
        }
    }

    fn fits(&self, s: &str) -> bool {
        self.indent * 4 + s.len() <= MAX_WIDTH
    }

    /// `head(params) -> ret` + `end`, one parameter a line if too long;
    /// indents what follows if `end` opens a body.
    fn signature(&mut self, head: &str, params: &[String], ret: &str, end: &str) {
        let ret = if ret.is_empty() {
            String::new()
        } else {
            format!(" -> {ret}")
        };
        let one = format!("{head}({}){ret}{end}", params.join(", "));
        if self.fits(&one) {
            self.line(&one);
        } else {
            self.open(&format!("{head}("));
            for p in params {
                self.line(&format!("{p},"));
            }
            self.close(&format!("){ret}{end}"));
        }
        if end.ends_with('{') {
            self.indent += 1;
        }
    }

    /// `head(args)` + `end`, one argument a line if too long.
    fn call(&mut self, head: &str, args: &[String], end: &str) {
        let joined = args.join(", ");
        let one = format!("{head}({joined}){end}");
        if joined.len() <= CALL_WIDTH && self.fits(&one) {
            self.line(&one);
            return;
        }
        self.open(&format!("{head}("));
        // Like rustfmt, pack short simple arguments (names, field accesses
        // of at most 10 characters) into as few lines as fit.
        let simple = |a: &String| {
            a.len() <= SHORT_ITEM_WIDTH
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        };
        if args.iter().all(simple) {
            let mut line = String::new();
            for a in args {
                let next = if line.is_empty() {
                    format!("{a},")
                } else {
                    format!("{line} {a},")
                };
                if !line.is_empty() && !self.fits(&next) {
                    self.line(&line);
                    line = format!("{a},");
                } else {
                    line = next;
                }
            }
            self.line(&line);
        } else {
            for a in args {
                self.line(&format!("{a},"));
            }
        }
        self.close(&format!("){end}"));
    }

    /// `head Name { fields }` + `end`, one field a line if too long.
    fn struct_lit(&mut self, head: &str, name: &str, fields: &[String], end: &str) {
        if fields.is_empty() {
            self.line(&format!("{head}{name} {{}}{end}"));
            return;
        }
        let joined = fields.join(", ");
        let one = format!("{head}{name} {{ {joined} }}{end}");
        if joined.len() <= STRUCT_LIT_WIDTH && self.fits(&one) {
            self.line(&one);
            return;
        }
        self.open(&format!("{head}{name} {{"));
        for f in fields {
            self.line(&format!("{f},"));
        }
        self.close(&format!("}}{end}"));
    }
}

/// What the generator needs to know about declared types.
struct Types<'a> {
    decls: HashMap<&'a str, &'a TypeDecl>,
}

impl Types<'_> {
    fn is_copy(&self, ty: &Type) -> bool {
        match ty {
            Type::String(_) | Type::Bytes(_) => false,
            Type::Named(n) => match self.decls.get(n.as_str()).map(|d| &d.body) {
                Some(TypeBody::Struct(fields)) => fields.iter().all(|f| self.is_copy(&f.ty)),
                _ => true,
            },
            _ => true,
        }
    }
}

/// The Rust type of a value of `ty` (in an args struct a capability is its
/// `u8` index).
fn rust_type(ty: &Type) -> String {
    match ty {
        Type::U8 | Type::Cap(..) => "u8".into(),
        Type::U16 => "u16".into(),
        Type::U32 => "u32".into(),
        Type::U64 => "u64".into(),
        Type::I8 => "i8".into(),
        Type::I16 => "i16".into(),
        Type::I32 => "i32".into(),
        Type::I64 => "i64".into(),
        Type::Bool => "bool".into(),
        Type::String(n) => format!("heapless::String<{n}>"),
        Type::Bytes(n) => format!("heapless::Vec<u8, {n}>"),
        Type::Region => "septum_idl::Region".into(),
        Type::Named(n) => n.clone(),
        Type::Unit => "()".into(),
    }
}

fn kind_path(kind: CapKind) -> String {
    format!("septum_idl::kind::{}", kind.name())
}

fn rights_text(bits: u8) -> String {
    let names: Vec<&str> = Right::ALL
        .iter()
        .filter(|r| bits & **r as u8 != 0)
        .map(|r| r.name())
        .collect();
    if names.is_empty() {
        "any".into()
    } else {
        names.join("+")
    }
}

fn error_type(m: &Method) -> String {
    m.error
        .clone()
        .unwrap_or_else(|| "septum_idl::NoError".into())
}

fn args_struct(m: &Method) -> String {
    format!("{}Args", to_camel(&m.name))
}

fn const_prefix(m: &Method) -> String {
    m.name.to_ascii_uppercase()
}

pub(crate) fn emit(iface: &Interface) -> String {
    let types = Types {
        decls: iface.types.iter().map(|t| (t.name.as_str(), t)).collect(),
    };
    let mut w = Writer {
        out: String::new(),
        indent: 0,
    };
    w.line(&format!(
        "// Generated by septum-idlgen from {}. Do not edit.",
        iface.file
    ));
    if !iface.docs.is_empty() {
        w.line("//");
        for d in &iface.docs {
            w.line(format!("// {d}").trim_end());
        }
    }
    w.line("");
    w.line("use serde::{Deserialize, Serialize};");
    w.line("");
    w.line(&format!(
        "/// Identity of the `{}` interface: ordinal {:#06x}, version {}.",
        iface.name, iface.ordinal, iface.version
    ));
    w.struct_lit(
        "pub const INTERFACE: septum_idl::InterfaceId = ",
        "septum_idl::InterfaceId",
        &[
            format!("name: \"{}\"", iface.name),
            format!("ordinal: {:#06x}", iface.ordinal),
            format!("version: {}", iface.version),
        ],
        ";",
    );
    for t in &iface.types {
        w.line("");
        emit_type(&mut w, &types, t);
    }
    for m in &iface.methods {
        w.line("");
        emit_method_items(&mut w, m);
    }
    w.line("");
    emit_client(&mut w, iface, &types);
    w.line("");
    emit_server(&mut w, iface);
    w.line("");
    emit_test_hooks(&mut w, iface);
    w.out
}

fn emit_type(w: &mut Writer, types: &Types<'_>, t: &TypeDecl) {
    w.docs(&t.docs);
    match &t.body {
        TypeBody::Enum(vs) | TypeBody::Error(vs) => {
            w.line("#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]");
            w.line("#[repr(u8)]");
            w.open(&format!("pub enum {} {{", t.name));
            for v in vs {
                w.docs(&v.docs);
                w.line(&format!("{} = {},", v.name, v.value));
            }
            w.close("}");
        }
        TypeBody::Struct(fields) => {
            let copy = if types.is_copy(&Type::Named(t.name.clone())) {
                "Copy, "
            } else {
                ""
            };
            w.line(&format!(
                "#[derive(Clone, {copy}Debug, PartialEq, Eq, Serialize, Deserialize)]"
            ));
            emit_struct_def(w, &format!("pub struct {}", t.name), "pub ", fields);
        }
    }
}

fn emit_struct_def(w: &mut Writer, head: &str, vis: &str, fields: &[Field]) {
    if fields.is_empty() {
        w.line(&format!("{head} {{}}"));
        return;
    }
    w.open(&format!("{head} {{"));
    for f in fields {
        w.docs(&f.docs);
        w.line(&format!("{vis}{}: {},", f.name, rust_type(&f.ty)));
    }
    w.close("}");
}

fn emit_method_items(w: &mut Writer, m: &Method) {
    let k = const_prefix(m);
    w.line(&format!(
        "/// Method `{}`: its wire id and the largest request and reply payloads (bytes).",
        m.name
    ));
    w.line(&format!("pub const METHOD_{k}: u16 = {};", m.id));
    w.line(&format!(
        "pub const {k}_REQUEST_MAX: usize = {};",
        m.request_max
    ));
    w.line(&format!(
        "pub const {k}_REPLY_MAX: usize = {};",
        m.reply_max
    ));
    for (which, size) in [("REQUEST", m.request_max), ("REPLY", m.reply_max)] {
        if size == 0 {
            // Clippy sees that 0 <= anything; the check stays for uniformity.
            w.line("#[allow(clippy::absurd_extreme_comparisons)]");
        }
        w.call(
            "const _: () = assert!",
            &[format!("{k}_{which}_MAX <= septum_idl::PAYLOAD_CAPACITY")],
            ";",
        );
    }
    w.line("");
    w.line(&format!(
        "/// The request payload of `{}` (a capability is its index among the transferred ones).",
        m.name
    ));
    w.line("#[derive(Serialize, Deserialize)]");
    emit_struct_def(
        w,
        &format!("struct {}", args_struct(m)),
        "",
        &strip_docs(&m.args),
    );
}

fn strip_docs(fields: &[Field]) -> Vec<Field> {
    fields
        .iter()
        .map(|f| Field {
            docs: Vec::new(),
            ..f.clone()
        })
        .collect()
}

fn emit_client(w: &mut Writer, iface: &Interface, types: &Types<'_>) {
    let client = format!("{}Client", iface.name);
    w.line(&format!(
        "/// A client of {} `{}` server.",
        article(&iface.name),
        iface.name
    ));
    w.open(&format!("pub struct {client} {{"));
    w.line("inner: septum_idl::Client,");
    w.close("}");
    w.line("");
    w.open(&format!("impl {client} {{"));
    w.line("/// A client of the server behind `endpoint` (which needs the grant right");
    w.line("/// for methods with capability arguments).");
    w.open("pub const fn new(endpoint: u64) -> Self {");
    w.struct_lit(
        "",
        &client,
        &["inner: septum_idl::Client::new(endpoint, INTERFACE)".to_string()],
        "",
    );
    w.close("}");
    w.line("");
    w.line("/// Accepts a restarted server's generation (after `CallError::ServerRestarted`).");
    w.open("pub fn reconnect(&mut self, generation: u32) {");
    w.line("self.inner.reconnect(generation);");
    w.close("}");
    w.line("");
    w.line("/// The server's generation, once a reply has told it.");
    w.open("pub fn generation(&self) -> Option<u32> {");
    w.line("self.inner.generation()");
    w.close("}");
    w.line("");
    w.line("/// The server's endpoint.");
    w.open("pub fn endpoint(&self) -> u64 {");
    w.line("self.inner.endpoint()");
    w.close("}");
    for m in &iface.methods {
        w.line("");
        w.docs(&m.docs);
        let mut params = vec![
            "&mut self".to_string(),
            "ipc: &mut septum_user::ipc::Ipc".to_string(),
        ];
        let mut fields = Vec::new();
        let mut caps = Vec::new();
        for a in &m.args {
            match &a.ty {
                Type::Cap(..) => {
                    params.push(format!("{}: u64", a.name));
                    fields.push(format!("{}: {}", a.name, caps.len()));
                    caps.push(a.name.clone());
                }
                ty if types.is_copy(ty) => {
                    params.push(format!("{}: {}", a.name, rust_type(ty)));
                    fields.push(a.name.clone());
                }
                ty => {
                    params.push(format!("{}: &{}", a.name, rust_type(ty)));
                    fields.push(format!("{0}: {0}.clone()", a.name));
                }
            }
        }
        if params.len() > 7 {
            w.line("#[allow(clippy::too_many_arguments)]");
        }
        let ret = format!(
            "Result<{}, septum_idl::CallError<{}>>",
            rust_type(&m.result),
            error_type(m)
        );
        w.signature(&format!("pub fn {}", m.name), &params, &ret, " {");
        w.struct_lit("let args = ", &args_struct(m), &fields, ";");
        w.call(
            "self.inner.call",
            &[
                "ipc".to_string(),
                format!("METHOD_{}", const_prefix(m)),
                "&args".to_string(),
                format!("&[{}]", caps.join(", ")),
            ],
            "",
        );
        w.close("}");
    }
    w.close("}");
}

fn reply_token(m: &Method) -> String {
    format!(
        "septum_idl::ReplyToken<{}, {}>",
        rust_type(&m.result),
        error_type(m)
    )
}

fn emit_server(w: &mut Writer, iface: &Interface) {
    let server = format!("{}Server", iface.name);
    w.line(&format!(
        "/// What {} `{}` server does: one method per interface method.",
        article(&iface.name),
        iface.name
    ));
    w.line("///");
    w.line("/// Each method gets its arguments by value and a token for the reply; it");
    w.line("/// answers at once or keeps the token to answer later.");
    w.open(&format!("pub trait {server} {{"));
    for (i, m) in iface.methods.iter().enumerate() {
        if i > 0 {
            w.line("");
        }
        w.docs(&m.docs);
        let mut params = vec![
            "&mut self".to_string(),
            "ctx: &mut septum_idl::ServerCtx<'_>".to_string(),
        ];
        for a in &m.args {
            let ty = match &a.ty {
                Type::Cap(kind, _) => format!("septum_idl::CapArg<{}>", kind_path(*kind)),
                ty => rust_type(ty),
            };
            params.push(format!("{}: {ty}", a.name));
        }
        params.push(format!("reply: {}", reply_token(m)));
        if params.len() > 7 {
            w.line("#[allow(clippy::too_many_arguments)]");
        }
        w.signature(&format!("fn {}", m.name), &params, "", ";");
    }
    w.line("");
    w.line("/// The notification bound to the server's thread fired with `word` (its");
    w.line("/// badges ORed together): an interrupt, or another task's signal. The");
    w.line("/// default ignores it.");
    w.open("fn notified(&mut self, ctx: &mut septum_idl::ServerCtx<'_>, word: u64) {");
    w.line("let _ = (ctx, word);");
    w.close("}");
    w.close("}");
    w.line("");
    w.line(&format!(
        "/// Serves `{}` requests on `endpoint` with `server`, forever.",
        iface.name
    ));
    w.line("///");
    w.line("/// Requests that cannot be decoded are answered with `Malformed`, unknown");
    w.line("/// methods with `UnknownMethod`, capability arguments of the wrong kind or");
    w.line("/// without the declared rights with `BadCapability`. A notification bound");
    w.line("/// to the server's thread goes to `notified`.");
    w.signature(
        &format!("pub fn serve<S: {server}>"),
        &[
            "server: &mut S".to_string(),
            "ctx: &mut septum_idl::ServerCtx<'_>".to_string(),
            "endpoint: u64".to_string(),
        ],
        "!",
        " {",
    );
    w.open("loop {");
    w.open("let (req, token) = match septum_idl::next_event(ctx, endpoint, &INTERFACE) {");
    w.line("septum_idl::Event::Request(req, token) => (req, token),");
    w.open("septum_idl::Event::Notified(word) => {");
    w.line("server.notified(ctx, word);");
    w.line("continue;");
    w.close("}");
    w.close("};");
    w.open("match req.method {");
    for m in &iface.methods {
        emit_dispatch(w, m);
    }
    w.line("_ => token.status(septum_idl::Status::UnknownMethod),");
    w.close("}");
    w.close("}");
    w.close("}");
}

fn emit_dispatch(w: &mut Writer, m: &Method) {
    w.open(&format!("METHOD_{} => {{", const_prefix(m)));
    w.line(&format!(
        "let reply = token.cast::<{}, {}>();",
        rust_type(&m.result),
        error_type(m)
    ));
    let name = args_struct(m);
    let pattern = if m.args.is_empty() {
        format!("{name} {{}}")
    } else {
        "args".to_string()
    };
    w.open(&format!("let Ok({pattern}) = req.args::<{name}>() else {{"));
    w.line("reply.status(septum_idl::Status::Malformed);");
    w.line("continue;");
    w.close("};");
    let caps: Vec<&str> = m
        .args
        .iter()
        .filter(|a| matches!(a.ty, Type::Cap(..)))
        .map(|a| a.name.as_str())
        .collect();
    if caps.len() > 1 {
        // A hand-made request could name one transferred capability for
        // two arguments; the method is promised distinct ones.
        let mut pairs = Vec::new();
        for (i, x) in caps.iter().enumerate() {
            for y in &caps[i + 1..] {
                pairs.push(format!("args.{x} == args.{y}"));
            }
        }
        w.line("// Each capability argument names a different transferred capability.");
        w.open(&format!("if {} {{", pairs.join(" || ")));
        w.line("reply.status(septum_idl::Status::BadCapability);");
        w.line("continue;");
        w.close("}");
    }
    let mut call_args = vec!["ctx".to_string()];
    for a in &m.args {
        if let Type::Cap(kind, rights) = &a.ty {
            let rights_note = if *rights == 0 {
                ", any rights".to_string()
            } else {
                format!(" with rights {}", rights_text(*rights))
            };
            w.line(&format!(
                "// `{}`: {} {} capability (type code {}){rights_note}.",
                a.name,
                article(kind.name()),
                kind.name(),
                *kind as u8
            ));
            w.open(&format!(
                "let {} = match septum_idl::take_cap(ctx, &req, args.{}, {}, {:#06b}) {{",
                a.name, a.name, *kind as u8, rights
            ));
            w.line("Ok(cap) => cap,");
            w.open("Err(status) => {");
            w.line("reply.status(status);");
            w.line("continue;");
            w.close("}");
            w.close("};");
            call_args.push(a.name.clone());
        } else {
            call_args.push(format!("args.{}", a.name));
        }
    }
    call_args.push("reply".to_string());
    w.call(&format!("server.{}", m.name), &call_args, ";");
    w.close("}");
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    }
}

fn emit_test_hooks(w: &mut Writer, iface: &Interface) {
    w.line("/// Decodes the arguments of `method` from a request payload and drops them");
    w.line("/// (for tests of the generated decoders).");
    w.line("#[doc(hidden)]");
    w.signature(
        "pub fn __decode_request",
        &["method: u16".to_string(), "bytes: &[u8]".to_string()],
        "Result<(), septum_idl::WireError>",
        " {",
    );
    w.open("match method {");
    for m in &iface.methods {
        arm(
            w,
            &format!("METHOD_{}", const_prefix(m)),
            "",
            &format!("decode_and_drop::<{}>(bytes)", args_struct(m)),
        );
    }
    w.line("_ => Err(septum_idl::WireError::BadHeader),");
    w.close("}");
    w.close("}");
    w.line("");
    w.line("/// Decodes the reply payload of `method` with `status` (`Ok`: the result,");
    w.line("/// `MethodError`: the error) and drops it (for tests of the generated decoders).");
    w.line("#[doc(hidden)]");
    w.signature(
        "pub fn __decode_reply",
        &[
            "method: u16".to_string(),
            "status: septum_idl::Status".to_string(),
            "bytes: &[u8]".to_string(),
        ],
        "Result<(), septum_idl::WireError>",
        " {",
    );
    w.open("match (method, status) {");
    for m in &iface.methods {
        let id = format!("METHOD_{}", const_prefix(m));
        arm(
            w,
            &id,
            "septum_idl::Status::Ok",
            &format!("decode_and_drop::<{}>(bytes)", rust_type(&m.result)),
        );
        arm(
            w,
            &id,
            "septum_idl::Status::MethodError",
            &format!("decode_and_drop::<{}>(bytes)", error_type(m)),
        );
    }
    w.line("_ => Err(septum_idl::WireError::BadHeader),");
    w.close("}");
    w.close("}");
    w.line("");
    w.signature(
        "fn decode_and_drop<'a, T: Deserialize<'a>>",
        &["bytes: &'a [u8]".to_string()],
        "Result<(), septum_idl::WireError>",
        " {",
    );
    w.line("septum_idl::wire::decode::<T>(bytes).map(|_| ())");
    w.close("}");
}

/// A match arm on `(a, b)` (or on `a` if `b` is empty), in a block if it
/// does not fit on one line, with the pattern broken up if even that does
/// not fit.
fn arm(w: &mut Writer, a: &str, b: &str, expr: &str) {
    let pattern = if b.is_empty() {
        a.to_string()
    } else {
        format!("({a}, {b})")
    };
    let one = format!("{pattern} => {expr},");
    let open = format!("{pattern} => {{");
    if w.fits(&one) {
        w.line(&one);
    } else if w.fits(&open) || b.is_empty() {
        w.open(&open);
        w.line(expr);
        w.close("}");
    } else {
        w.open("(");
        w.line(&format!("{a},"));
        w.line(&format!("{b},"));
        w.close(&format!(") => {expr},"));
    }
}
