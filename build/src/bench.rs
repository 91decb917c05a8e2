//! Reading the benchmark task's console report, and writing it out.
//!
//! The `bench` task's root thread prints one line per figure, then a
//! closing line; the kernel starts each with the thread's name, `bench: `,
//! so on the console they read:
//!
//! ```text
//! bench: <id> <min> <median> <max>
//! bench: error <text>
//! bench: done
//! ```
//!
//! `<id>` is `[a-z0-9._]+`; the numbers are decimal `u64` instruction counts
//! (under `-icount shift=0` the guest TSC advances once per instruction).
//! Lines that do not start with `bench: ` are not part of the report and are
//! ignored. A line that does must have exactly one of these shapes: a
//! malformed one is a problem, never skipped, so a slip in the task cannot
//! quietly drop a figure. A report is good only if it ends with `bench: done`,
//! has no `error` line, no problem, and every required figure.

use std::fmt::Write as _;

/// The marker that starts every report line.
pub const MARKER: &str = "bench: ";

/// The unit of most figures.
pub const UNIT: &str = "instructions";

/// The unit of figure `id`: instructions, except for the counts of
/// events (an id ending in `irqs_per_…`, such as
/// `serial.rx_irqs_per_64k`, counts interrupts).
pub fn unit_of(id: &str) -> &'static str {
    if id.contains("_irqs_per_") {
        "interrupts"
    } else {
        UNIT
    }
}

/// Figures a complete run must report: the kernel paths whose cost matters.
pub const REQUIRED: [&str; 19] = [
    "syscall.null",
    "ipc.roundtrip.inter_as.0w",
    "ipc.roundtrip.inter_as.4w",
    "ipc.roundtrip.intra_as.0w",
    "notify.signal_wait",
    "fault.roundtrip",
    "fault.syscall_roundtrip",
    "vspace.map_page",
    "sched.yield",
    "serial.rx_per_byte",
    "serial.rx_irqs_per_64k",
    "irq.to_driver",
    "ioport.inter_as.0w",
    "ipc.roundtrip.inter_as.0w.tasks2",
    "ipc.roundtrip.inter_as.0w.tasks16",
    "ipc.roundtrip.inter_as.0w.tasks256",
    "untyped.retype_32mib",
    "partition.switch",
    "partition.jitter_under_spin",
];

/// Figures the guest's run must report (`linux-probe bench`, printed by a
/// process of the `guest` domain, so its lines read `guest: bench: ...`).
pub const GUEST_REQUIRED: [&str; 4] = [
    "guest.getpid",
    "guest.page_fault",
    "guest.pipe_byte_roundtrip",
    "guest.fork_exec_wait",
];

/// The lines of `console` that domain `domain` wrote, without the
/// `<domain>: ` the kernel starts them with: its processes' report lines
/// become report lines of their own.
pub fn domain_lines(console: &str, domain: &str) -> String {
    let prefix = format!("{domain}: ");
    console
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .fold(String::new(), |mut out, l| {
            out.push_str(l);
            out.push('\n');
            out
        })
}

/// One measured figure, in instructions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figure {
    /// What was measured (`[a-z0-9._]+`).
    pub id: String,
    /// Fewest instructions of any sample.
    pub min: u64,
    /// Median over the samples.
    pub median: u64,
    /// Most instructions of any sample.
    pub max: u64,
}

/// One report line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// `bench: <id> <min> <median> <max>`
    Figure(Figure),
    /// `bench: error <text>`: the task could not measure something.
    Error(String),
    /// `bench: done`
    Done,
}

/// Parse one console line. `None` if it is not a report line; `Some(Err)`
/// if it starts with the marker but has none of the report shapes.
pub fn parse_line(line: &str) -> Option<Result<Line, String>> {
    // The serial console may end lines with "\r\n".
    let rest = line.strip_prefix(MARKER)?.trim_end();
    Some(parse_rest(rest))
}

fn parse_rest(rest: &str) -> Result<Line, String> {
    if rest == "done" {
        return Ok(Line::Done);
    }
    if rest == "error" {
        return Ok(Line::Error(String::new()));
    }
    if let Some(text) = rest.strip_prefix("error ") {
        return Ok(Line::Error(text.trim().to_string()));
    }
    let fields: Vec<&str> = rest.split(' ').collect();
    let [id, min, median, max] = fields[..] else {
        return Err(format!(
            "expected `<id> <min> <median> <max>`, `error <text>` or `done` after {MARKER:?}, \
             separated by single spaces"
        ));
    };
    if !is_id(id) {
        return Err(format!(
            "id {id:?} must be one or more of a-z, 0-9, '.' and '_' (and not `done` or `error`)"
        ));
    }
    let number = |what: &str, s: &str| -> Result<u64, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{what} {s:?} of {id} is not a decimal number"));
        }
        s.parse()
            .map_err(|_| format!("{what} {s:?} of {id} does not fit in 64 bits"))
    };
    let figure = Figure {
        id: id.to_string(),
        min: number("min", min)?,
        median: number("median", median)?,
        max: number("max", max)?,
    };
    if !(figure.min <= figure.median && figure.median <= figure.max) {
        return Err(format!(
            "{id}: min {} <= median {} <= max {} does not hold",
            figure.min, figure.median, figure.max
        ));
    }
    Ok(Line::Figure(figure))
}

/// Whether `id` can name a figure.
fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id != "done"
        && id != "error"
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_')
}

/// Everything one run's console reported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Figures, in the order received; each id once.
    pub figures: Vec<Figure>,
    /// The text of every `bench: error` line.
    pub errors: Vec<String>,
    /// Report lines that broke the protocol, each quoting its line.
    pub malformed: Vec<String>,
    /// Whether `bench: done` arrived.
    pub done: bool,
}

/// Read every report line of `console`. A repeated id, a second `done` and
/// anything after `done` are protocol problems; the first figure of an id is
/// the one kept.
pub fn read_report(console: &str) -> Report {
    let mut report = Report::default();
    for (n, text) in console.lines().enumerate() {
        let Some(parsed) = parse_line(text) else {
            continue;
        };
        let quoted = format!("console line {}: {:?}", n + 1, text.trim_end());
        let line = match parsed {
            Ok(line) => line,
            Err(e) => {
                report.malformed.push(format!("{quoted}: {e}"));
                continue;
            }
        };
        if report.done {
            report
                .malformed
                .push(format!("{quoted}: comes after `bench: done`"));
            continue;
        }
        match line {
            Line::Done => report.done = true,
            Line::Error(text) => report.errors.push(text),
            Line::Figure(f) => {
                if report.figures.iter().any(|g| g.id == f.id) {
                    report
                        .malformed
                        .push(format!("{quoted}: {} is reported twice", f.id));
                } else {
                    report.figures.push(f);
                }
            }
        }
    }
    report
}

/// The ids of `required` that `figures` lacks, in `required`'s order.
pub fn missing<'a>(figures: &[Figure], required: &[&'a str]) -> Vec<&'a str> {
    required
        .iter()
        .copied()
        .filter(|id| !figures.iter().any(|f| f.id == *id))
        .collect()
}

/// Every reason the report is not a complete, successful run; empty if it is.
pub fn problems(report: &Report, required: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    for text in &report.errors {
        if text.is_empty() {
            problems.push("the bench task reported an error (no text)".to_string());
        } else {
            problems.push(format!("the bench task reported an error: {text}"));
        }
    }
    problems.extend(report.malformed.iter().cloned());
    if !report.done {
        problems.push("`bench: done` is missing: the bench task did not finish".to_string());
    }
    let missing = missing(&report.figures, required);
    if !missing.is_empty() {
        problems.push(format!("required figures missing: {}", missing.join(", ")));
    }
    problems
}

/// The figures as an aligned table with a header, numbers right-aligned, one
/// row per figure in the order given; every line ends with a newline.
pub fn table(figures: &[Figure]) -> String {
    let header = ["id", "min", "median", "max", "unit"];
    let rows: Vec<[String; 5]> = figures
        .iter()
        .map(|f| {
            [
                f.id.clone(),
                f.min.to_string(),
                f.median.to_string(),
                f.max.to_string(),
                unit_of(&f.id).to_string(),
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 5]| {
        let [id, min, median, max, unit] = cells;
        let _ = writeln!(
            out,
            "{id:<w0$}  {min:>w1$}  {median:>w2$}  {max:>w3$}  {unit}",
            w0 = width[0],
            w1 = width[1],
            w2 = width[2],
            w3 = width[3],
        );
    };
    line(header);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    out
}

/// One line of `results.jsonl` (without the newline):
/// `{"id": "...", "min": N, "median": N, "max": N, "unit": "instructions"}`
/// (or another unit, [`unit_of`]).
pub fn json_line(f: &Figure) -> String {
    format!(
        "{{\"id\": {}, \"min\": {}, \"median\": {}, \"max\": {}, \"unit\": {}}}",
        json_string(&f.id),
        f.min,
        f.median,
        f.max,
        json_string(unit_of(&f.id))
    )
}

/// `figures` as JSON lines, each ending with a newline.
pub fn jsonl(figures: &[Figure]) -> String {
    figures.iter().map(|f| json_line(f) + "\n").collect()
}

/// A JSON string literal. Parsed ids never need escaping; this keeps the
/// output valid JSON whatever a `Figure` holds.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupt_counts_say_so() {
        assert_eq!(unit_of("serial.rx_irqs_per_64k"), "interrupts");
        assert_eq!(unit_of("serial.rx_per_byte"), "instructions");
        assert_eq!(unit_of("irq.to_driver"), "instructions");
    }

    #[test]
    fn a_domains_report_lines_are_read_without_its_prefix() {
        let console = "guest: [shim] pid 3: /bin/linux-probe bench\r\n\
                       guest: bench: guest.getpid 900 905 910\r\n\
                       bench: forged.by.another 1 2 3\n\
                       client1: bench: guest.page_fault 1 2 3\n\
                       guest: bench: done\r\n";
        let report = read_report(&domain_lines(console, "guest"));
        assert_eq!(report.figures, vec![fig("guest.getpid", 900, 905, 910)]);
        assert!(report.done);
        assert_eq!(
            problems(&report, &GUEST_REQUIRED),
            vec![
                "required figures missing: guest.page_fault, guest.pipe_byte_roundtrip, \
                 guest.fork_exec_wait"
                    .to_string()
            ]
        );
    }

    fn fig(id: &str, min: u64, median: u64, max: u64) -> Figure {
        Figure {
            id: id.into(),
            min,
            median,
            max,
        }
    }

    fn all_required() -> String {
        REQUIRED
            .iter()
            .enumerate()
            .map(|(i, id)| format!("bench: {id} {i} {} {}\n", i + 1, i + 2))
            .collect()
    }

    #[test]
    fn good_lines() {
        assert_eq!(
            parse_line("bench: syscall.null 120 125 300"),
            Some(Ok(Line::Figure(fig("syscall.null", 120, 125, 300))))
        );
        assert_eq!(
            parse_line("bench: ipc.roundtrip.inter_as.0w.tasks256 1 1 1\r"),
            Some(Ok(Line::Figure(fig(
                "ipc.roundtrip.inter_as.0w.tasks256",
                1,
                1,
                1
            ))))
        );
        assert_eq!(
            parse_line(&format!("bench: a_b.9 0 007 {}", u64::MAX)),
            Some(Ok(Line::Figure(fig("a_b.9", 0, 7, u64::MAX))))
        );
        assert_eq!(parse_line("bench: done"), Some(Ok(Line::Done)));
        assert_eq!(parse_line("bench: done\r"), Some(Ok(Line::Done)));
    }

    #[test]
    fn other_lines_are_not_report_lines() {
        for line in [
            "",
            "[INFO]  Septum microkernel",
            "bench:",
            "bench:done",
            "benchmark: x 1 2 3",
            "Bench: x 1 2 3",
            "[0.1] bench: x 1 2 3",
            " bench: x 1 2 3",
        ] {
            assert_eq!(parse_line(line), None, "{line:?}");
        }
    }

    #[test]
    fn error_lines() {
        assert_eq!(
            parse_line("bench: error fault.roundtrip: no fault handler"),
            Some(Ok(Line::Error("fault.roundtrip: no fault handler".into())))
        );
        assert_eq!(
            parse_line("bench: error"),
            Some(Ok(Line::Error(String::new())))
        );
    }

    #[test]
    fn malformed_numbers() {
        for (line, needle) in [
            ("bench: x 1 2 -3", "max \"-3\" of x is not a decimal"),
            ("bench: x +1 2 3", "min \"+1\" of x is not a decimal"),
            ("bench: x 1 0x2 3", "median \"0x2\" of x is not a decimal"),
            ("bench: x 1 2.5 3", "not a decimal"),
            ("bench: x 1 2 3e2", "not a decimal"),
            (
                "bench: x 1 2 18446744073709551616",
                "does not fit in 64 bits",
            ),
            ("bench: x 3 2 1", "min 3 <= median 2 <= max 1 does not hold"),
            ("bench: x 1 2 3 4", "<id> <min> <median> <max>"),
            ("bench: x 1 2", "<id> <min> <median> <max>"),
            ("bench: x  1 2 3", "single spaces"),
            ("bench: x\t1 2 3", "single spaces"),
            ("bench: ", "<id> <min> <median> <max>"),
            ("bench: dome", "<id> <min> <median> <max>"),
        ] {
            match parse_line(line) {
                Some(Err(e)) => assert!(e.contains(needle), "{line:?}: {e}"),
                other => panic!("{line:?} parsed as {other:?}"),
            }
        }
    }

    #[test]
    fn bad_ids() {
        for id in ["Syscall.null", "ipc-roundtrip", "a/b", "ü", "done", "x:"] {
            let line = format!("bench: {id} 1 2 3");
            match parse_line(&line) {
                Some(Err(e)) => assert!(e.contains("must be one or more"), "{line:?}: {e}"),
                other => panic!("{line:?} parsed as {other:?}"),
            }
        }
        // "error" as the first word is always an error line.
        assert_eq!(
            parse_line("bench: error 1 2 3"),
            Some(Ok(Line::Error("1 2 3".into())))
        );
    }

    #[test]
    fn a_complete_report() {
        let console = format!("boot\n{}noise\nbench: done\r\nend\n", all_required());
        let r = read_report(&console);
        assert!(r.done);
        assert!(r.errors.is_empty() && r.malformed.is_empty(), "{r:?}");
        let ids: Vec<&str> = r.figures.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, REQUIRED, "kept in the order received");
        assert_eq!(r.figures[2], fig(REQUIRED[2], 2, 3, 4));
        assert!(problems(&r, &REQUIRED).is_empty());
    }

    #[test]
    fn free_text_after_the_marker_is_malformed() {
        let r = read_report("boot\nbench: starting 11 figures\nbench: done\n");
        assert!(r.done);
        assert_eq!(r.malformed.len(), 1, "{:?}", r.malformed);
        assert!(
            r.malformed[0].starts_with("console line 2: \"bench: starting 11 figures\": expected"),
            "{:?}",
            r.malformed
        );
    }

    #[test]
    fn duplicates_are_errors() {
        let r = read_report("bench: a 1 2 3\nbench: b 1 1 1\nbench: a 4 5 6\nbench: done\n");
        assert_eq!(r.figures, [fig("a", 1, 2, 3), fig("b", 1, 1, 1)]);
        assert_eq!(
            r.malformed,
            ["console line 3: \"bench: a 4 5 6\": a is reported twice"]
        );
        let p = problems(&r, &["a", "b"]);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("twice"), "{p:?}");
    }

    #[test]
    fn done_closes_the_report() {
        let r = read_report("bench: a 1 2 3\nbench: done\nbench: b 1 2 3\nbench: done\n");
        assert!(r.done);
        assert_eq!(r.figures, [fig("a", 1, 2, 3)]);
        assert_eq!(r.malformed.len(), 2, "{:?}", r.malformed);
        assert!(
            r.malformed
                .iter()
                .all(|m| m.contains("after `bench: done`"))
        );
    }

    #[test]
    fn errors_and_missing_done_fail() {
        let r = read_report("bench: a 1 2 3\nbench: error b: map failed\nbench: error\n");
        assert_eq!(r.errors, ["b: map failed", ""]);
        assert!(!r.done);
        let p = problems(&r, &["a"]);
        assert_eq!(
            p,
            [
                "the bench task reported an error: b: map failed",
                "the bench task reported an error (no text)",
                "`bench: done` is missing: the bench task did not finish",
            ]
        );
        let p = problems(&read_report("bench: a 1 x 3\nbench: done\n"), &["a"]);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("median \"x\" of a"), "{p:?}");
        assert!(p[1].contains("required figures missing: a"), "{p:?}");
    }

    #[test]
    fn required_ids() {
        let figures = [fig("sched.yield", 1, 2, 3), fig("extra", 1, 2, 3)];
        assert_eq!(
            missing(
                &figures,
                &["syscall.null", "sched.yield", "fault.roundtrip"]
            ),
            ["syscall.null", "fault.roundtrip"]
        );
        assert!(missing(&figures, &["sched.yield"]).is_empty());
        assert_eq!(missing(&[], &REQUIRED).len(), REQUIRED.len());

        let mut r = read_report(&format!("{}bench: done\n", all_required()));
        assert!(problems(&r, &REQUIRED).is_empty());
        r.figures.retain(|f| !f.id.ends_with("tasks16"));
        assert_eq!(
            problems(&r, &REQUIRED),
            ["required figures missing: ipc.roundtrip.inter_as.0w.tasks16"]
        );
        // Prefixes of required ids do not count for them.
        let r = read_report("bench: ipc.roundtrip.inter_as.0w 1 2 3\nbench: done\n");
        assert!(missing(&r.figures, &REQUIRED).contains(&"ipc.roundtrip.inter_as.0w.tasks2"));
    }

    #[test]
    fn required_ids_are_valid_and_distinct() {
        for (i, id) in REQUIRED.iter().enumerate() {
            assert!(is_id(id), "{id}");
            assert!(!REQUIRED[..i].contains(id), "{id} twice");
        }
    }

    #[test]
    fn json_lines() {
        assert_eq!(
            json_line(&fig("syscall.null", 120, 125, 300)),
            r#"{"id": "syscall.null", "min": 120, "median": 125, "max": 300, "unit": "instructions"}"#
        );
        assert_eq!(
            json_line(&fig("x", 0, u64::MAX, u64::MAX)),
            r#"{"id": "x", "min": 0, "median": 18446744073709551615, "max": 18446744073709551615, "unit": "instructions"}"#
        );
        assert_eq!(
            jsonl(&[fig("a", 1, 2, 3), fig("b", 4, 5, 6)]),
            "{\"id\": \"a\", \"min\": 1, \"median\": 2, \"max\": 3, \"unit\": \"instructions\"}\n\
             {\"id\": \"b\", \"min\": 4, \"median\": 5, \"max\": 6, \"unit\": \"instructions\"}\n"
        );
        assert_eq!(jsonl(&[]), "");
        assert_eq!(json_string("a\"b\\c\n\u{1}"), r#""a\"b\\c\n\u0001""#);
    }

    #[test]
    fn table_is_aligned() {
        let t = table(&[
            fig("syscall.null", 120, 125, 3000),
            fig("ipc.roundtrip.intra_as.0w", 9, 10, 11),
        ]);
        assert_eq!(
            t,
            "\
id                         min  median   max  unit
syscall.null               120     125  3000  instructions
ipc.roundtrip.intra_as.0w    9      10    11  instructions
"
        );
        assert_eq!(table(&[]), "id  min  median  max  unit\n");
    }
}
