//! Recursive-descent parser: tokens to an (unchecked) [`Interface`].
//!
//! The parser checks what it can see locally (syntax, number ranges, bounds,
//! capability kinds and rights); names and references are left to `check`.

use crate::lex::{Tok, Token};
use crate::{
    CapKind, Error, Field, Interface, Method, Pos, Right, Type, TypeBody, TypeDecl, Variant,
};

/// Largest `string<N>` / `bytes<N>` bound.
pub(crate) const MAX_BOUND: u64 = 512;

struct Parser<'a> {
    file: &'a str,
    toks: &'a [Token],
    at: usize,
}

pub(crate) fn parse(file: &str, toks: &[Token]) -> Result<Interface, Error> {
    let mut p = Parser { file, toks, at: 0 };
    let iface = p.interface()?;
    let t = p.peek();
    if t.tok != Tok::Eof {
        return Err(p.err(
            t.pos,
            format!(
                "unexpected {} after the end of the interface",
                t.tok.describe()
            ),
            "put each interface in its own file and nothing after its closing '}'",
        ));
    }
    Ok(iface)
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &'a Token {
        &self.toks[self.at]
    }

    fn next(&mut self) -> &'a Token {
        let t = &self.toks[self.at];
        if t.tok != Tok::Eof {
            self.at += 1;
        }
        t
    }

    fn err(&self, pos: Pos, what: impl Into<String>, fix: impl Into<String>) -> Error {
        Error::new(self.file, pos, what, fix)
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek().tok, Tok::Punct(q) if q == p)
    }

    /// Takes `p` or reports what was found instead.
    fn punct(&mut self, p: &str, context: &str, fix: &str) -> Result<Pos, Error> {
        let t = self.peek();
        if self.is_punct(p) {
            self.next();
            return Ok(t.pos);
        }
        Err(self.err(
            t.pos,
            format!("expected '{p}' {context}, found {}", t.tok.describe()),
            fix,
        ))
    }

    fn ident(&mut self, what: &str, fix: &str) -> Result<(&'a Token, String), Error> {
        let t = self.next();
        match &t.tok {
            Tok::Ident(s) => Ok((t, s.clone())),
            other => Err(self.err(
                t.pos,
                format!("expected {what}, found {}", other.describe()),
                fix,
            )),
        }
    }

    fn int(&mut self, what: &str, fix: &str) -> Result<(Pos, u64, String), Error> {
        let t = self.next();
        match &t.tok {
            Tok::Int(v, text) => Ok((t.pos, *v, text.clone())),
            other => Err(self.err(
                t.pos,
                format!("expected {what}, found {}", other.describe()),
                fix,
            )),
        }
    }

    fn interface(&mut self) -> Result<Interface, Error> {
        let t = self.peek();
        if t.tok != Tok::Ident("interface".into()) {
            return Err(self.err(
                t.pos,
                format!("expected 'interface', found {}", t.tok.describe()),
                "a definition file holds one 'interface Name { ... }'",
            ));
        }
        self.next();
        let docs = t.docs.clone();
        let (name_tok, name) = self.ident("the interface name", "write 'interface Name {'")?;
        self.punct("{", "after the interface name", "write 'interface Name {'")?;
        let mut iface = Interface {
            file: self.file.to_string(),
            name,
            pos: name_tok.pos,
            docs,
            ordinal: 0,
            version: 0,
            types: Vec::new(),
            methods: Vec::new(),
        };
        let (mut ordinal, mut version) = (None, None);
        loop {
            let t = self.peek();
            let word = match &t.tok {
                Tok::Punct("}") => {
                    self.next();
                    break;
                }
                Tok::Ident(w) => w.as_str(),
                other => {
                    let what = if *other == Tok::Eof {
                        "the interface is not closed".to_string()
                    } else {
                        format!(
                            "expected 'ordinal', 'version', 'enum', 'error', 'struct', 'method' or '}}', found {}",
                            other.describe()
                        )
                    };
                    return Err(self.err(t.pos, what, "end the interface with '}'"));
                }
            };
            match word {
                "ordinal" | "version" => {
                    self.next();
                    let slot = if word == "ordinal" {
                        &mut ordinal
                    } else {
                        &mut version
                    };
                    if slot.is_some() {
                        return Err(Error::new(
                            self.file,
                            t.pos,
                            format!("{word} given twice"),
                            format!("keep one '{word} = ...;'"),
                        ));
                    }
                    self.punct(
                        "=",
                        &format!("after '{word}'"),
                        &format!("write '{word} = <number>;'"),
                    )?;
                    let (pos, v, text) =
                        self.int("a number", &format!("write '{word} = <number>;'"))?;
                    if word == "ordinal" && v == 0 {
                        return Err(self.err(
                            pos,
                            "ordinal 0 is reserved",
                            "pick a value from 1 to 0xffff",
                        ));
                    }
                    if v > 0xffff {
                        return Err(self.err(
                            pos,
                            format!("{word} {text} does not fit in u16"),
                            format!(
                                "pick a value from {} to 0xffff",
                                u8::from(word == "ordinal")
                            ),
                        ));
                    }
                    *slot = Some(v as u16);
                    self.punct(";", &format!("after the {word}"), "end the line with ';'")?;
                }
                "enum" | "error" | "struct" => {
                    self.next();
                    let decl = self.type_decl(t)?;
                    iface.types.push(decl);
                }
                "method" => {
                    self.next();
                    let m = self.method(t, iface.methods.len())?;
                    iface.methods.push(m);
                }
                other => {
                    return Err(self.err(
                        t.pos,
                        format!("unknown item '{other}'"),
                        "an interface holds 'ordinal', 'version', 'enum', 'error', 'struct' and 'method' items",
                    ));
                }
            }
        }
        iface.ordinal = ordinal.ok_or_else(|| {
            self.err(
                iface.pos,
                format!("interface '{}' has no ordinal", iface.name),
                "add 'ordinal = <number>;' with a number from 1 to 0xffff",
            )
        })?;
        iface.version = version.ok_or_else(|| {
            self.err(
                iface.pos,
                format!("interface '{}' has no version", iface.name),
                "add 'version = 1;'",
            )
        })?;
        Ok(iface)
    }

    fn type_decl(&mut self, kw: &Token) -> Result<TypeDecl, Error> {
        let Tok::Ident(word) = &kw.tok else {
            unreachable!("type_decl is called on a keyword")
        };
        let (name_tok, name) = self.ident(
            &format!("a name after '{word}'"),
            &format!("write '{word} Name {{ ... }}'"),
        )?;
        self.punct(
            "{",
            &format!("after the {word} name"),
            &format!("write '{word} Name {{ ... }}'"),
        )?;
        let body = if word == "struct" {
            let fields = self.list("}", "a field", |p| {
                p.field("a field name", "write 'name: type'")
            })?;
            TypeBody::Struct(fields)
        } else {
            let variants = self.list("}", "a variant", |p| p.variant(word))?;
            if word == "enum" {
                TypeBody::Enum(variants)
            } else {
                TypeBody::Error(variants)
            }
        };
        Ok(TypeDecl {
            name,
            pos: name_tok.pos,
            docs: kw.docs.clone(),
            body,
        })
    }

    /// Items separated by ',' (a trailing one allowed) up to `close`.
    fn list<T>(
        &mut self,
        close: &str,
        what: &str,
        mut item: impl FnMut(&mut Self) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        let mut items = Vec::new();
        loop {
            if self.is_punct(close) {
                self.next();
                return Ok(items);
            }
            items.push(item(self)?);
            if self.is_punct(",") {
                self.next();
            } else if !self.is_punct(close) {
                let t = self.peek();
                return Err(self.err(
                    t.pos,
                    format!(
                        "expected ',' or '{close}' after {what}, found {}",
                        t.tok.describe()
                    ),
                    format!("separate items with ',' and end the list with '{close}'"),
                ));
            }
        }
    }

    fn variant(&mut self, word: &str) -> Result<Variant, Error> {
        let fix = "write 'Name = <value>'";
        let (t, name) = self.ident("a variant name", fix)?;
        self.punct(
            "=",
            "after the variant name",
            "give every variant an explicit value: 'Name = <value>'",
        )?;
        let (pos, value, text) = self.int("a value", fix)?;
        if word == "error" && value == 0 {
            return Err(self.err(pos, "error value 0 is reserved", "start error values at 1"));
        }
        if value > 255 {
            return Err(self.err(
                pos,
                format!("value {text} of '{name}' does not fit in u8"),
                format!("use a value from {} to 255", u8::from(word == "error")),
            ));
        }
        Ok(Variant {
            name,
            pos: t.pos,
            docs: t.docs.clone(),
            value: value as u8,
        })
    }

    fn field(&mut self, what: &str, fix: &str) -> Result<Field, Error> {
        let (t, name) = self.ident(what, fix)?;
        self.punct(":", &format!("after '{name}'"), "write 'name: type'")?;
        let ty_pos = self.peek().pos;
        let ty = self.ty()?;
        Ok(Field {
            name,
            pos: t.pos,
            docs: t.docs.clone(),
            ty,
            ty_pos,
        })
    }

    fn method(&mut self, kw: &Token, index: usize) -> Result<Method, Error> {
        let (name_tok, name) =
            self.ident("a method name", "write 'method name(args) -> result;'")?;
        self.punct(
            "(",
            "after the method name",
            "write 'method name(args) -> result;'",
        )?;
        let args = self.list(")", "an argument", |p| {
            p.field("an argument name", "write 'name: type'")
        })?;
        self.punct(
            "->",
            "after the arguments",
            "every method declares its result: '-> type' or '-> ()'",
        )?;
        let result_pos = self.peek().pos;
        let result = self.ty()?;
        let (mut error, mut error_pos) = (None, Pos::default());
        if self.is_punct("!") {
            self.next();
            let (t, e) = self.ident(
                "an error type after '!'",
                "write '! ErrorName' or leave out the '!'",
            )?;
            error = Some(e);
            error_pos = t.pos;
        }
        self.punct(";", "at the end of the method", "end the method with ';'")?;
        if index > usize::from(u16::MAX) {
            return Err(self.err(name_tok.pos, "too many methods", "split the interface"));
        }
        Ok(Method {
            name,
            pos: name_tok.pos,
            docs: kw.docs.clone(),
            id: index as u16,
            args,
            result,
            result_pos,
            error,
            error_pos,
            request_max: 0,
            reply_max: 0,
        })
    }

    fn ty(&mut self) -> Result<Type, Error> {
        let t = self.next();
        let word = match &t.tok {
            Tok::Ident(w) => w.as_str(),
            Tok::Punct("(") => {
                self.punct(")", "after '('", "the empty result is written '()'")?;
                return Ok(Type::Unit);
            }
            other => {
                return Err(self.err(
                    t.pos,
                    format!("expected a type, found {}", other.describe()),
                    "write a type such as u32, string<64> or a declared name",
                ));
            }
        };
        Ok(match word {
            "u8" => Type::U8,
            "u16" => Type::U16,
            "u32" => Type::U32,
            "u64" => Type::U64,
            "i8" => Type::I8,
            "i16" => Type::I16,
            "i32" => Type::I32,
            "i64" => Type::I64,
            "bool" => Type::Bool,
            "region" => Type::Region,
            "string" | "bytes" => {
                if !self.is_punct("<") {
                    return Err(self.err(
                        t.pos,
                        format!("'{word}' needs a bound"),
                        format!("write '{word}<N>' with N from 1 to {MAX_BOUND}"),
                    ));
                }
                self.next();
                let (pos, n, text) = self.int(
                    "a bound",
                    &format!("write '{word}<N>' with N from 1 to {MAX_BOUND}"),
                )?;
                if n == 0 || n > MAX_BOUND {
                    return Err(self.err(
                        pos,
                        format!("{word} bound {text} is out of range"),
                        format!(
                            "use a bound from 1 to {MAX_BOUND} (pass bigger data in a 'region')"
                        ),
                    ));
                }
                self.punct(">", "after the bound", &format!("write '{word}<N>'"))?;
                if word == "string" {
                    Type::String(n as u16)
                } else {
                    Type::Bytes(n as u16)
                }
            }
            "cap" => self.cap(t)?,
            name if self.is_punct("<") => {
                let generic = ["string", "bytes", "cap"];
                let fix = match crate::check::suggest(name, generic.into_iter()) {
                    Some("cap") => "did you mean 'cap<Kind, rights>'?".to_string(),
                    Some(s) => format!("did you mean '{s}<N>'?"),
                    None => {
                        "only string<N>, bytes<N> and cap<Kind, rights> take '<...>'".to_string()
                    }
                };
                return Err(self.err(t.pos, format!("unknown type '{name}'"), fix));
            }
            name => Type::Named(name.to_string()),
        })
    }

    fn cap(&mut self, t: &Token) -> Result<Type, Error> {
        let fix = "write 'cap<Kind, rights>', e.g. 'cap<Notification, write>'";
        if !self.is_punct("<") {
            return Err(self.err(t.pos, "'cap' needs a kind and rights", fix));
        }
        self.next();
        let (kt, kind_name) = self.ident("a capability kind", fix)?;
        let Some(kind) = CapKind::ALL.iter().copied().find(|k| k.name() == kind_name) else {
            let names: Vec<&str> = CapKind::ALL.iter().map(|k| k.name()).collect();
            let fix = match crate::check::suggest(&kind_name, names.iter().copied()) {
                Some(s) => format!("did you mean '{s}'?"),
                None => format!("use one of {}", names.join(", ")),
            };
            return Err(self.err(
                kt.pos,
                format!("unknown capability kind '{kind_name}'"),
                fix,
            ));
        };
        self.punct(",", "after the capability kind", fix)?;
        let mut bits = 0u8;
        let mut any = false;
        loop {
            let (rt, right) = self.ident(
                "a right",
                "write rights as 'read', 'write+grant', ... or 'any'",
            )?;
            if right == "any" {
                if bits != 0 || any || self.is_punct("+") {
                    return Err(self.err(
                        rt.pos,
                        "'any' cannot be combined with other rights",
                        "write either 'any' or the rights needed",
                    ));
                }
                any = true;
            } else {
                let Some(r) = Right::ALL.iter().copied().find(|r| r.name() == right) else {
                    let names = Right::ALL.iter().map(|r| r.name()).chain(["any"]);
                    let fix = match crate::check::suggest(&right, names) {
                        Some(s) => format!("did you mean '{s}'?"),
                        None => "use read, write, grant, grant_reply (joined with '+') or any"
                            .to_string(),
                    };
                    return Err(self.err(rt.pos, format!("unknown right '{right}'"), fix));
                };
                if any {
                    return Err(self.err(
                        rt.pos,
                        "'any' cannot be combined with other rights",
                        "write either 'any' or the rights needed",
                    ));
                }
                if bits & r as u8 != 0 {
                    return Err(self.err(
                        rt.pos,
                        format!("right '{right}' given twice"),
                        "name each right once",
                    ));
                }
                if !kind.rights().contains(&r) {
                    let fix = if kind.rights().is_empty() {
                        format!("write 'cap<{}, any>'", kind.name())
                    } else {
                        let names: Vec<&str> = kind.rights().iter().map(|r| r.name()).collect();
                        format!("use {} or any", names.join(", "))
                    };
                    let what = if kind.rights().is_empty() {
                        format!("{} capabilities carry no rights", kind.name())
                    } else {
                        format!("{} capabilities have no '{right}' right", kind.name())
                    };
                    return Err(self.err(rt.pos, what, fix));
                }
                bits |= r as u8;
            }
            if self.is_punct("+") {
                self.next();
            } else {
                break;
            }
        }
        self.punct(">", "after the rights", fix)?;
        Ok(Type::Cap(kind, bits))
    }
}
