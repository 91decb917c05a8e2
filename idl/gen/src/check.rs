//! The checker: names, references, capability arguments and message sizes.
//!
//! After `check` succeeds the generated code is guaranteed to compile: every
//! name is a valid, non-clashing Rust identifier, every type exists, structs
//! are finite and every message fits the payload capacity.

use crate::size;
use crate::{Error, Field, Interface, Pos, Type, TypeBody};
use std::collections::HashMap;

const KEYWORDS: [&str; 51] = [
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield",
];

/// Type names the generated code uses unqualified.
const RESERVED_TYPES: [&str; 6] = ["Result", "Ok", "Err", "Option", "Some", "None"];

/// Local names of the generated client, trait and dispatch code.
const RESERVED_ARGS: [&str; 9] = [
    "ipc", "ctx", "reply", "server", "endpoint", "req", "token", "args", "caps",
];

/// Methods the generated client has besides the interface's.
const RESERVED_METHODS: [&str; 4] = ["new", "reconnect", "generation", "endpoint"];

/// Most capabilities one message transfers.
const MAX_CAP_ARGS: usize = 3;

pub(crate) fn is_upper_camel(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_uppercase()) && s.chars().all(|c| c.is_ascii_alphanumeric())
}

pub(crate) fn is_snake(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !s.contains("__")
        && !s.ends_with('_')
}

/// `EchoServer` → `echo_server`, `move_to` stays.
pub(crate) fn to_snake(s: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if !out.is_empty() && !out.ends_with('_') && (prev_lower || (prev_upper && next_lower))
            {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c == '-' {
            out.push('_');
        } else {
            out.push(c);
        }
    }
    out
}

/// `move_to` → `MoveTo`, `mode` → `Mode`.
pub(crate) fn to_camel(s: &str) -> String {
    let mut out = String::new();
    let mut up = true;
    for c in s.chars() {
        if c == '_' || c == '-' {
            up = true;
        } else if up {
            out.push(c.to_ascii_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Edit distance counting a swap of neighbours as one edit (optimal
/// string alignment), case-insensitive.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// The closest of `candidates` to `word`, if close enough to be a typo.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.len() / 3).max(1);
    candidates
        .map(|c| (distance(word, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

struct Checker<'a> {
    file: &'a str,
}

impl Checker<'_> {
    fn err(&self, pos: Pos, what: impl Into<String>, fix: impl Into<String>) -> Error {
        Error::new(self.file, pos, what, fix)
    }

    fn type_name(&self, what: &str, name: &str, pos: Pos) -> Result<(), Error> {
        let reserved = what != "variant" && RESERVED_TYPES.contains(&name);
        if KEYWORDS.contains(&name) || reserved {
            return Err(self.err(
                pos,
                format!("{what} name '{name}' is reserved in Rust"),
                "pick another name",
            ));
        }
        if !is_upper_camel(name) {
            return Err(self.err(
                pos,
                format!("{what} name '{name}' is not UpperCamelCase"),
                format!("rename it to '{}'", to_camel(&to_snake(name))),
            ));
        }
        Ok(())
    }

    fn snake_name(&self, what: &str, name: &str, pos: Pos) -> Result<(), Error> {
        if KEYWORDS.contains(&name) {
            return Err(self.err(
                pos,
                format!("{what} name '{name}' is a Rust keyword"),
                "pick another name",
            ));
        }
        if !is_snake(name) {
            let mut fixed = to_snake(name).trim_matches('_').to_string();
            while fixed.contains("__") {
                fixed = fixed.replace("__", "_");
            }
            return Err(self.err(
                pos,
                format!("{what} name '{name}' is not snake_case"),
                format!("rename it to '{fixed}'"),
            ));
        }
        Ok(())
    }

    /// Records `name` in `seen`, or reports where it was first used.
    fn unique(
        &self,
        seen: &mut HashMap<String, Pos>,
        what: &str,
        name: &str,
        pos: Pos,
    ) -> Result<(), Error> {
        if let Some(first) = seen.get(name) {
            return Err(self.err(
                pos,
                format!("{what} '{name}' is already declared at line {}", first.line),
                "rename one of them",
            ));
        }
        seen.insert(name.to_string(), pos);
        Ok(())
    }

    /// Checks a field or argument type: known, and not a capability or `()`
    /// unless allowed.
    fn field_type(
        &self,
        types: &HashMap<&str, &TypeBody>,
        f: &Field,
        caps_allowed: bool,
    ) -> Result<(), Error> {
        match &f.ty {
            Type::Named(n) => self.known(types, n, f.ty_pos),
            Type::Unit => Err(self.err(
                f.ty_pos,
                format!("'{}' has type '()'", f.name),
                "'()' is only a method result; remove the argument or field",
            )),
            Type::Cap(..) if !caps_allowed => Err(self.err(
                f.ty_pos,
                format!("field '{}' is a capability", f.name),
                "capabilities travel only as method arguments; pass it as an argument",
            )),
            _ => Ok(()),
        }
    }

    fn known(&self, types: &HashMap<&str, &TypeBody>, name: &str, pos: Pos) -> Result<(), Error> {
        if types.contains_key(name) {
            return Ok(());
        }
        let builtins = [
            "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "bool", "string", "bytes",
            "region", "cap",
        ];
        let spelled = |s: &str| match s {
            "string" | "bytes" => format!("{s}<N>"),
            "cap" => "cap<Kind, rights>".to_string(),
            _ => s.to_string(),
        };
        let fix = match suggest(name, builtins.iter().copied().chain(types.keys().copied())) {
            Some(s) => format!("did you mean '{}'?", spelled(s)),
            None => {
                "declare it with 'struct', 'enum' or 'error', or use a built-in type".to_string()
            }
        };
        Err(self.err(pos, format!("unknown type '{name}'"), fix))
    }
}

pub(crate) fn check(iface: &mut Interface) -> Result<(), Error> {
    let c = Checker { file: &iface.file };
    c.type_name("interface", &iface.name, iface.pos)?;
    if iface.methods.is_empty() {
        return Err(c.err(
            iface.pos,
            format!("interface '{}' has no methods", iface.name),
            "add at least one 'method name(args) -> result;'",
        ));
    }

    // Type names, including the ones the generator adds.
    let mut type_names: HashMap<String, Pos> = HashMap::new();
    for t in &iface.types {
        c.type_name("type", &t.name, t.pos)?;
        c.unique(&mut type_names, "type", &t.name, t.pos)?;
    }
    let generated = [
        (format!("{}Client", iface.name), "client"),
        (format!("{}Server", iface.name), "server trait"),
    ];
    for t in &iface.types {
        if let Some((_, what)) = generated.iter().find(|(n, _)| *n == t.name) {
            return Err(c.err(
                t.pos,
                format!("type name '{}' is the name of the generated {what}", t.name),
                "rename the type",
            ));
        }
        for m in &iface.methods {
            if t.name == format!("{}Args", to_camel(&m.name)) {
                return Err(c.err(
                    t.pos,
                    format!(
                        "type name '{}' is the name of the generated arguments of method '{}'",
                        t.name, m.name
                    ),
                    "rename the type",
                ));
            }
        }
    }
    let types: HashMap<&str, &TypeBody> = iface
        .types
        .iter()
        .map(|t| (t.name.as_str(), &t.body))
        .collect();

    // Type bodies.
    for t in &iface.types {
        match &t.body {
            TypeBody::Enum(vs) | TypeBody::Error(vs) => {
                let what = if matches!(t.body, TypeBody::Enum(_)) {
                    "enum"
                } else {
                    "error"
                };
                if vs.is_empty() {
                    return Err(c.err(
                        t.pos,
                        format!("{what} '{}' has no variants", t.name),
                        "add at least one 'Name = <value>'",
                    ));
                }
                let mut names = HashMap::new();
                let mut values: HashMap<u8, &str> = HashMap::new();
                for v in vs {
                    c.type_name("variant", &v.name, v.pos)?;
                    c.unique(&mut names, "variant", &v.name, v.pos)?;
                    if let Some(other) = values.get(&v.value) {
                        return Err(c.err(
                            v.pos,
                            format!(
                                "value {} of '{}' is already used by '{other}'",
                                v.value, v.name
                            ),
                            "give each variant its own value",
                        ));
                    }
                    values.insert(v.value, &v.name);
                }
            }
            TypeBody::Struct(fields) => {
                let mut names = HashMap::new();
                for f in fields {
                    c.snake_name("field", &f.name, f.pos)?;
                    c.unique(&mut names, "field", &f.name, f.pos)?;
                    c.field_type(&types, f, false)?;
                }
            }
        }
    }
    check_cycles(&c, iface, &types)?;

    // Methods.
    let mut method_names = HashMap::new();
    let mut consts: HashMap<String, (String, Pos)> = HashMap::new();
    for m in &iface.methods {
        c.snake_name("method", &m.name, m.pos)?;
        if RESERVED_METHODS.contains(&m.name.as_str()) {
            return Err(c.err(
                m.pos,
                format!("method name '{}' is used by the generated client", m.name),
                "rename the method",
            ));
        }
        c.unique(&mut method_names, "method", &m.name, m.pos)?;
        let upper = m.name.to_ascii_uppercase();
        for k in [
            format!("METHOD_{upper}"),
            format!("{upper}_REQUEST_MAX"),
            format!("{upper}_REPLY_MAX"),
        ] {
            if let Some((other, _)) = consts.get(&k) {
                return Err(c.err(
                    m.pos,
                    format!(
                        "methods '{other}' and '{}' both generate the constant '{k}'",
                        m.name
                    ),
                    "rename one of them",
                ));
            }
            consts.insert(k, (m.name.clone(), m.pos));
        }
        let mut arg_names = HashMap::new();
        let mut caps = 0;
        for a in &m.args {
            c.snake_name("argument", &a.name, a.pos)?;
            if RESERVED_ARGS.contains(&a.name.as_str()) {
                return Err(c.err(
                    a.pos,
                    format!("argument name '{}' is used by the generated code", a.name),
                    "rename the argument",
                ));
            }
            c.unique(&mut arg_names, "argument", &a.name, a.pos)?;
            c.field_type(&types, a, true)?;
            if matches!(a.ty, Type::Cap(..)) {
                caps += 1;
                if caps > MAX_CAP_ARGS {
                    return Err(c.err(
                        a.ty_pos,
                        format!(
                            "method '{}' has more than {MAX_CAP_ARGS} capability arguments",
                            m.name
                        ),
                        "a message transfers at most 3 capabilities; split the method",
                    ));
                }
            }
        }
        match &m.result {
            Type::Named(n) => c.known(&types, n, m.result_pos)?,
            Type::Cap(..) => {
                return Err(c.err(
                    m.result_pos,
                    format!("method '{}' returns a capability", m.name),
                    "capabilities travel only as method arguments",
                ));
            }
            _ => {}
        }
        if let Some(e) = &m.error {
            match types.get(e.as_str()) {
                Some(TypeBody::Error(_)) => {}
                Some(_) => {
                    return Err(c.err(
                        m.error_pos,
                        format!("'{e}' after '!' is not an error type"),
                        format!("declare it with 'error {e} {{ ... }}'"),
                    ));
                }
                None => {
                    let errors = iface
                        .types
                        .iter()
                        .filter(|t| matches!(t.body, TypeBody::Error(_)))
                        .map(|t| t.name.as_str());
                    let fix = match suggest(e, errors) {
                        Some(s) => format!("did you mean '{s}'?"),
                        None => format!("declare it with 'error {e} {{ ... }}'"),
                    };
                    return Err(c.err(m.error_pos, format!("unknown error type '{e}'"), fix));
                }
            }
        }
    }

    // Sizes.
    let sizes: Vec<(usize, usize)> = iface
        .methods
        .iter()
        .map(|m| size::method_sizes(m, &types))
        .collect();
    for (m, (request, reply)) in iface.methods.iter_mut().zip(sizes) {
        if request > size::PAYLOAD_CAPACITY || reply > size::PAYLOAD_CAPACITY {
            return Err(c.err(
                m.pos,
                format!(
                    "method '{}' does not fit in a message: its request can take {request} bytes and its reply {reply} bytes, more than the {}-byte payload capacity",
                    m.name,
                    size::PAYLOAD_CAPACITY
                ),
                "lower the string/bytes bounds or pass bulk data as a 'region'",
            ));
        }
        m.request_max = request;
        m.reply_max = reply;
    }
    Ok(())
}

/// Structs may nest structs, but not themselves (their size would be infinite).
fn check_cycles(
    c: &Checker<'_>,
    iface: &Interface,
    types: &HashMap<&str, &TypeBody>,
) -> Result<(), Error> {
    fn visit<'a>(
        c: &Checker<'_>,
        types: &HashMap<&str, &'a TypeBody>,
        name: &'a str,
        path: &mut Vec<&'a str>,
        done: &mut Vec<&'a str>,
    ) -> Result<(), Error> {
        let Some(TypeBody::Struct(fields)) = types.get(name) else {
            return Ok(());
        };
        if done.contains(&name) {
            return Ok(());
        }
        path.push(name);
        for f in fields {
            if let Type::Named(n) = &f.ty {
                if let Some(start) = path.iter().position(|p| p == n) {
                    let mut cycle: Vec<&str> = path[start..].to_vec();
                    cycle.push(n);
                    return Err(c.err(
                        f.ty_pos,
                        format!("struct '{n}' contains itself ({})", cycle.join(" -> ")),
                        "structs cannot be recursive; remove the field or break the cycle",
                    ));
                }
                visit(c, types, n, path, done)?;
            }
        }
        path.pop();
        done.push(name);
        Ok(())
    }
    let mut done = Vec::new();
    for t in &iface.types {
        visit(c, types, &t.name, &mut Vec::new(), &mut done)?;
    }
    Ok(())
}
