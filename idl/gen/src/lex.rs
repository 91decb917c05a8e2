//! The lexer: definition text to tokens with 1-based positions.
//!
//! `//` comments are skipped; `///` comments are kept as documentation of
//! the token that follows them.

use crate::{Error, Pos};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    Ident(String),
    /// A number and its text as written (for messages).
    Int(u64, String),
    Punct(&'static str),
    Eof,
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: Pos,
    /// `///` lines directly before the token.
    pub docs: Vec<String>,
}

impl Tok {
    /// How a message names the token.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Int(_, text) => format!("'{text}'"),
            Tok::Punct(p) => format!("'{p}'"),
            Tok::Eof => "the end of the file".to_string(),
        }
    }
}

const PUNCTS: [&str; 12] = ["{", "}", "(", ")", "<", ">", ",", ";", ":", "=", "+", "!"];

pub(crate) fn lex(file: &str, src: &str) -> Result<Vec<Token>, Error> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut docs = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1u32, 1u32);
    let err = |line, col, what: String, fix: &str| Error::new(file, Pos { line, col }, what, fix);
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos { line, col };
        if c == '\n' {
            i += 1;
            line += 1;
            col = 1;
            continue;
        }
        if c == ' ' || c == '\t' || c == '\r' {
            i += 1;
            col += 1;
            continue;
        }
        if c == '/' {
            if chars.get(i + 1) != Some(&'/') {
                return Err(err(
                    line,
                    col,
                    "unexpected '/'".into(),
                    "comments start with '//'",
                ));
            }
            let start = i;
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            col += (i - start) as u32;
            if let Some(doc) = text.strip_prefix("///")
                && !doc.starts_with('/')
            {
                docs.push(doc.strip_prefix(' ').unwrap_or(doc).trim_end().to_string());
            }
            continue;
        }
        let start = i;
        let tok = if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            Tok::Ident(chars[start..i].iter().collect())
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let digits = text.replace('_', "");
            let value = match digits.strip_prefix("0x") {
                Some(hex) if !hex.is_empty() => u64::from_str_radix(hex, 16),
                Some(_) => {
                    return Err(err(
                        line,
                        col,
                        format!("'{text}' has no digits"),
                        "write a hexadecimal number like 0x0101",
                    ));
                }
                None => digits.parse::<u64>(),
            };
            match value {
                Ok(v) => Tok::Int(v, text),
                Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => {
                    return Err(err(
                        line,
                        col,
                        format!("number '{text}' does not fit in 64 bits"),
                        "use a smaller value",
                    ));
                }
                Err(_) => {
                    return Err(err(
                        line,
                        col,
                        format!("invalid number '{text}'"),
                        "write a decimal number or a hexadecimal one starting with 0x",
                    ));
                }
            }
        } else if c == '-' {
            if chars.get(i + 1) != Some(&'>') {
                return Err(err(
                    line,
                    col,
                    "unexpected '-'".into(),
                    "numbers cannot be negative; did you mean '->'?",
                ));
            }
            i += 2;
            Tok::Punct("->")
        } else if let Some(p) = PUNCTS.iter().find(|p| p.starts_with(c)) {
            i += 1;
            Tok::Punct(p)
        } else {
            return Err(err(
                line,
                col,
                format!("unexpected character '{}'", c.escape_debug()),
                "definitions use ASCII names, numbers and the punctuation { } ( ) < > , ; : = + ! ->",
            ));
        };
        col += (i - start) as u32;
        out.push(Token {
            tok,
            pos,
            docs: std::mem::take(&mut docs),
        });
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: Pos { line, col },
        docs,
    });
    Ok(out)
}
