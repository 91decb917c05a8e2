//! Reading the file into [`raw::File`] while reporting every mistake.
//!
//! serde stops at the first error, so the document is parsed once into a
//! spanned tree, then deserialized again and again: each failure is
//! reported, the key or array element it points at is taken out of the
//! tree, and the next attempt goes on past it. Every attempt removes one
//! node, so this ends; what remains deserializes, and the checker works on
//! it. Removed keys are remembered, so the checker does not report a field
//! as missing when its value was already reported as wrong.

use crate::diag::{Diagnostic, Span, suggestion};
use crate::raw;
use serde::Deserialize;
use std::collections::HashSet;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue, ValueDeserializer};

/// Keys taken out of the tree, by the span of the table they were in.
#[derive(Debug, Default)]
pub struct Removed {
    keys: HashSet<(usize, usize, String)>,
    root: Span,
}

impl Removed {
    /// Whether `key` was taken out of the table at `table`.
    pub fn contains(&self, table: &Span, key: &str) -> bool {
        self.keys
            .contains(&(table.start, table.end, key.to_string()))
    }

    /// Whether top-level `key` was taken out.
    pub fn top(&self, key: &str) -> bool {
        self.contains(&self.root, key)
    }
}

/// Parse `text`; `None` if it is not TOML at all. Every problem found is
/// pushed to `diags`.
pub fn load(text: &str, diags: &mut Vec<Diagnostic>) -> Option<(raw::File, Removed)> {
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in errors {
            let span = e.span().unwrap_or(0..0);
            diags.push(
                Diagnostic::error(
                    format!("this is not valid TOML: {}", e.message()),
                    span,
                    "here",
                )
                .with_help("see docs/system-description.md for the format"),
            );
        }
        return None;
    }
    let root_span = root.span();
    let mut tree = root.into_inner();
    let mut removed = Removed {
        keys: HashSet::new(),
        root: root_span.clone(),
    };
    // Each round removes a node, so there are at most as many rounds as
    // nodes; the bound is only a second guard.
    for _ in 0..=count_nodes(&tree) {
        let value = Spanned::new(root_span.clone(), DeValue::Table(tree.clone()));
        match raw::File::deserialize(ValueDeserializer::from(value)) {
            Ok(file) => return Some((file, removed)),
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                diags.push(explain(e.message(), span.clone()));
                match find(&tree, &span) {
                    Some(path) => remove(&mut tree, &root_span, &path, &mut removed),
                    None => return None,
                }
            }
        }
    }
    None
}

fn count_nodes(t: &DeTable<'_>) -> usize {
    t.values().map(|v| 1 + count_value(v.get_ref())).sum()
}

fn count_value(v: &DeValue<'_>) -> usize {
    match v {
        DeValue::Table(t) => count_nodes(t),
        DeValue::Array(a) => a.iter().map(|v| 1 + count_value(v.get_ref())).sum(),
        _ => 0,
    }
}

/// One step from a table or array to what it holds.
#[derive(Clone, Copy, Debug)]
enum Step {
    Entry(usize),
    Element(usize),
}

/// How well a node matches an error's span: lower is better.
type Score = (u8, usize, std::cmp::Reverse<usize>);

/// The path to the node the error at `span` is about: the key or value
/// with exactly that span, else the smallest value containing it (deepest
/// first on ties).
fn find(root: &DeTable<'_>, span: &Span) -> Option<Vec<Step>> {
    let mut best: Option<(Score, Vec<Step>)> = None;
    let mut path = Vec::new();
    walk_table(root, span, &mut path, &mut best);
    best.map(|(_, p)| p)
}

fn consider(
    key: Option<&Span>,
    value: &Span,
    span: &Span,
    path: &[Step],
    best: &mut Option<(Score, Vec<Step>)>,
) {
    let score: Score = if key == Some(span) || value == span {
        (0, 0, std::cmp::Reverse(path.len()))
    } else if value.start <= span.start && span.end <= value.end && !span.is_empty() {
        (1, value.len(), std::cmp::Reverse(path.len()))
    } else {
        return;
    };
    if best.as_ref().is_none_or(|(b, _)| score < *b) {
        *best = Some((score, path.to_vec()));
    }
}

fn walk_table(
    t: &DeTable<'_>,
    span: &Span,
    path: &mut Vec<Step>,
    best: &mut Option<(Score, Vec<Step>)>,
) {
    for (i, (k, v)) in t.iter().enumerate() {
        path.push(Step::Entry(i));
        consider(Some(&k.span()), &v.span(), span, path, best);
        walk_value(v.get_ref(), span, path, best);
        path.pop();
    }
}

fn walk_value(
    v: &DeValue<'_>,
    span: &Span,
    path: &mut Vec<Step>,
    best: &mut Option<(Score, Vec<Step>)>,
) {
    match v {
        DeValue::Table(t) => walk_table(t, span, path, best),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                path.push(Step::Element(i));
                consider(None, &item.span(), span, path, best);
                walk_value(item.get_ref(), span, path, best);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Take the node at `path` out of the tree, remembering a removed key.
fn remove(tree: &mut DeTable<'_>, root_span: &Span, path: &[Step], removed: &mut Removed) {
    let Some((last, init)) = path.split_last() else {
        return;
    };
    let mut table_span = root_span.clone();
    let mut here: Container<'_, '_> = Container::Table(tree);
    for step in init {
        let next = match (here, *step) {
            (Container::Table(t), Step::Entry(i)) => t.iter_mut().nth(i).map(|(_, v)| v),
            (Container::Array(a), Step::Element(i)) => a.get_mut(i),
            _ => None,
        };
        let Some(value) = next else { return };
        table_span = value.span();
        here = match value.get_mut() {
            DeValue::Table(t) => Container::Table(t),
            DeValue::Array(a) => Container::Array(a),
            _ => return,
        };
    }
    match (here, *last) {
        (Container::Table(t), Step::Entry(i)) => {
            let Some(key) = t.keys().nth(i).cloned() else {
                return;
            };
            removed
                .keys
                .insert((table_span.start, table_span.end, key.get_ref().to_string()));
            t.remove_entry(&key);
        }
        (Container::Array(a), Step::Element(i)) => {
            let mut kept = DeArray::new();
            for (n, item) in a.iter().enumerate() {
                if n != i {
                    kept.push(item.clone());
                }
            }
            *a = kept;
        }
        _ => {}
    }
}

enum Container<'t, 'i> {
    Table(&'t mut DeTable<'i>),
    Array(&'t mut DeArray<'i>),
}

/// Turn serde's message into a diagnostic with a suggestion where there is
/// one. serde's wording for unknown fields and variants ("unknown field
/// `x`, expected one of `a`, `b`") has been stable for years; a message in
/// any other form is shown as it is.
fn explain(message: &str, span: Span) -> Diagnostic {
    let quoted = |s: &str| -> Vec<String> {
        s.split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, w)| w.to_string())
            .collect()
    };
    for (prefix, what, title) in [
        ("unknown field `", "fields here", "unknown field"),
        ("unknown variant `", "values", "unknown value"),
    ] {
        if message.starts_with(prefix) {
            let words = quoted(message);
            if let Some((word, expected)) = words.split_first() {
                let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
                let label = if what == "values" {
                    "not one of the values this takes"
                } else {
                    "not a field of this table"
                };
                return Diagnostic::error(format!("{title} `{word}`"), span, label)
                    .with_help(suggestion(word, what, &expected));
            }
        }
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        // "invalid type: string \"x\", expected i64"
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return Diagnostic::error(
                format!("expected {}, found {}", plain_type(expected), found),
                span,
                format!("expected {}", plain_type(expected)),
            );
        }
    }
    if let Some(rest) = message.strip_prefix("invalid value: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return Diagnostic::error(
            format!("expected {}, found {}", plain_type(expected), found),
            span,
            format!("expected {}", plain_type(expected)),
        );
    }
    match message.split_once("; ") {
        Some((what, help)) => Diagnostic::error(what, span, "here").with_help(help),
        None => Diagnostic::error(message, span, "here"),
    }
}

/// serde's names of Rust types, as a description's author knows them.
fn plain_type(expected: &str) -> String {
    match expected {
        "i64" | "i32" | "u8" => "an integer".into(),
        "u64" => "a non-negative integer".into(),
        "a boolean" | "bool" => "true or false".into(),
        "a string" => "a string".into(),
        "a sequence" => "an array".into(),
        e if e.starts_with("struct ") => "a table".into(),
        e if e.starts_with("a table of named") => "a table".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::line_col;

    fn errors(text: &str) -> Vec<(String, (usize, usize))> {
        let mut diags = Vec::new();
        let _ = load(text, &mut diags);
        diags
            .iter()
            .map(|d| (d.message.clone(), line_col(text, d.span.start)))
            .collect()
    }

    #[test]
    fn every_unknown_field_is_reported() {
        let text = "schema = 1\nshema = 2\n[domains.a]\nprioity = 3\ncolour = 1\n[domains.b]\nrestart = { maxx = 1 }\n";
        let found = errors(text);
        assert_eq!(
            found,
            vec![
                ("unknown field `shema`".to_string(), (2, 1)),
                ("unknown field `prioity`".to_string(), (4, 1)),
                ("unknown field `colour`".to_string(), (5, 1)),
                ("unknown field `maxx`".to_string(), (7, 13)),
            ]
        );
    }

    #[test]
    fn type_errors_do_not_stop_the_rest() {
        let text = "schema = \"one\"\n[domains.a]\npriority = \"high\"\nirqs = [4, \"x\"]\nstack = \"16KB\"\n";
        let found = errors(text);
        assert_eq!(found.len(), 4, "{found:?}");
        assert_eq!(found[0].1, (1, 10));
        assert!(found[0].0.contains("expected an integer"), "{found:?}");
        assert_eq!(found[1].1, (3, 12));
        assert_eq!(found[2].1, (4, 12));
        assert_eq!(found[3].1, (5, 9));
        assert!(found[3].0.contains("unknown size unit `KB`"), "{found:?}");
    }

    #[test]
    fn syntax_errors_are_reported_with_their_place() {
        let found = errors("schema = 1\n[domains.a\n");
        assert!(!found.is_empty());
        assert!(
            found[0].0.starts_with("this is not valid TOML"),
            "{found:?}"
        );
        assert_eq!(found[0].1.0, 2);
    }

    #[test]
    fn removed_keys_are_remembered() {
        let text = "[domains.a]\npriority = \"high\"\n";
        let mut diags = Vec::new();
        let (file, removed) = load(text, &mut diags).unwrap();
        let (_, domain) = &file.domains.0[0];
        assert!(domain.get_ref().priority.is_none());
        assert!(removed.contains(&domain.span(), "priority"));
    }
}
