//! Diagnostics: what is wrong, where (a byte span of the file), which other
//! place is involved, and what to change; rendered by `annotate-snippets`
//! the way rustc shows its errors, with `file:line:col` and the offending
//! text underlined.

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
use std::fmt;
use std::ops::Range;

/// A byte range of the description file.
pub type Span = Range<usize>;

/// How bad it is: errors refuse the description, warnings do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One finding about a description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// What is wrong, in one line.
    pub message: String,
    /// The offending text.
    pub span: Span,
    /// Said under the offending text.
    pub label: String,
    /// Other places involved, each with what it is ("first granted here").
    pub secondary: Vec<(Span, String)>,
    /// What to change.
    pub help: Option<String>,
    /// Facts that explain the message.
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(message: impl Into<String>, span: Span, label: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span,
            label: label.into(),
            secondary: Vec::new(),
            help: None,
            notes: Vec::new(),
        }
    }

    /// A warning at `span`.
    pub fn warning(message: impl Into<String>, span: Span, label: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message, span, label)
        }
    }

    /// Add another place that is involved.
    pub fn with_secondary(mut self, span: Span, label: impl Into<String>) -> Self {
        self.secondary.push((span, label.into()));
        self
    }

    /// Say what to change.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Add a fact that explains the message.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Whether it refuses the description.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The 1-based line and column of its span's start in `text`.
    pub fn line_col(&self, text: &str) -> (usize, usize) {
        line_col(text, self.span.start)
    }

    /// `path:line:col: error: message`, one line (for logs and tests).
    pub fn short(&self, path: &str, text: &str) -> String {
        let (line, col) = self.line_col(text);
        format!("{path}:{line}:{col}: {}: {}", self.severity, self.message)
    }
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Render `diags` about file `path` holding `text`, each followed by a blank
/// line; `color` adds terminal colours.
pub fn render(path: &str, text: &str, diags: &[Diagnostic], color: bool) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let clamp = |s: &Span| {
        let end = s.end.min(text.len());
        s.start.min(end)..end
    };
    let label = |l: &str| (!l.is_empty()).then(|| l.to_string());
    let mut out = String::new();
    for d in diags {
        let level = match d.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let mut snippet = Snippet::source(text).path(path).annotation(
            AnnotationKind::Primary
                .span(clamp(&d.span))
                .label(label(&d.label)),
        );
        for (span, text) in &d.secondary {
            snippet =
                snippet.annotation(AnnotationKind::Context.span(clamp(span)).label(label(text)));
        }
        let mut group = level.primary_title(d.message.as_str()).element(snippet);
        for note in &d.notes {
            group = group.element(Level::NOTE.message(note.as_str()));
        }
        if let Some(help) = &d.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        out.push_str(&renderer.render(&[group]));
        out.push_str("\n\n");
    }
    out
}

/// `N errors, M warnings` (or `no problems`).
pub fn summary(diags: &[Diagnostic]) -> String {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, 0) => "no problems".into(),
        (e, 0) => plural(e, "error"),
        (0, w) => plural(w, "warning"),
        (e, w) => format!("{}, {}", plural(e, "error"), plural(w, "warning")),
    }
}

/// The candidate closest to `word`, if one is close enough to be what was
/// meant.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let distance = strsim::damerau_levenshtein(&lower, &c.to_lowercase());
            (distance, c)
        })
        .filter(|&(distance, c)| {
            let longest = word.chars().count().max(c.chars().count());
            // Close, and not a different word of the same length.
            distance <= (longest / 3).max(1) && distance < longest
        })
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, c)| c)
}

/// `did you mean `x`?` for `word`, or a list of what there is.
pub fn suggestion(word: &str, what: &str, candidates: &[&str]) -> String {
    match did_you_mean(word, candidates.iter().copied()) {
        Some(c) => format!("did you mean `{c}`?"),
        None if candidates.is_empty() => format!("there are no {what}"),
        None => format!(
            "the {what} are: {}",
            candidates
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 9), (2, 3), "é is one column");
        assert_eq!(line_col(text, 999), (3, 1));
    }

    #[test]
    fn suggestions() {
        let fields = ["priority", "program", "partition"];
        assert_eq!(did_you_mean("prioity", fields), Some("priority"));
        assert_eq!(did_you_mean("Program", fields), Some("program"));
        assert_eq!(did_you_mean("colour", fields), None);
        assert_eq!(
            suggestion("x", "partitions", &["A", "B"]),
            "the partitions are: `A`, `B`"
        );
        assert_eq!(
            suggestion("x", "partitions", &[]),
            "there are no partitions"
        );
    }

    #[test]
    fn rendered_with_position_underline_and_help() {
        let text = "schema = 1\nirqs = [4]\nmore = [4]\n";
        let d = Diagnostic::error("IRQ 4 is granted twice", 30..31, "granted again here")
            .with_secondary(19..20, "IRQ 4 first granted here")
            .with_help("give each IRQ to one domain");
        let out = render("t.toml", text, &[d], false);
        assert!(out.contains("error: IRQ 4 is granted twice"), "{out}");
        assert!(out.contains("t.toml:3:9"), "{out}");
        assert!(out.contains("^ granted again here"), "{out}");
        assert!(out.contains("- IRQ 4 first granted here"), "{out}");
        assert!(out.contains("help: give each IRQ to one domain"), "{out}");
    }

    #[test]
    fn summaries() {
        let e = Diagnostic::error("e", 0..0, "");
        let w = Diagnostic::warning("w", 0..0, "");
        assert_eq!(summary(&[]), "no problems");
        assert_eq!(summary(std::slice::from_ref(&e)), "1 error");
        assert_eq!(
            summary(&[e.clone(), e.clone(), w.clone()]),
            "2 errors, 1 warning"
        );
        assert_eq!(summary(&[w.clone(), w]), "2 warnings");
    }
}
