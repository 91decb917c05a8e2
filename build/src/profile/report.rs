//! What `cargo xtask bench --profile` prints and writes, from a sample
//! whose instructions are already named: the functions in the order they
//! ran, a table by cost, how the total compares with the figure, and the
//! lines of the annotated trace.

use super::symbols::Source;
use super::trace::Spread;
use crate::bench::Figure;
use std::fmt::Write as _;

/// Which binary an instruction belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The kernel ELF.
    Kernel,
    /// The benchmark task's ELF (every address space of the run).
    User,
    /// Neither file has code at the PC.
    Unknown,
}

impl Side {
    /// The word used in the table and the trace.
    pub fn name(self) -> &'static str {
        match self {
            Side::Kernel => "kernel",
            Side::User => "user",
            Side::Unknown => "?",
        }
    }
}

/// How a function is shown: the kernel's own functions without the crate
/// name (`ipc::recv`, not `septum_kernel::ipc::recv`); the table says which
/// side each is on.
pub fn display_name(function: &str) -> &str {
    function.strip_prefix("septum_kernel::").unwrap_or(function)
}

/// Consecutive equal items merged into one, with how many there were.
pub fn runs<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<(T, u64)> {
    let mut out: Vec<(T, u64)> = Vec::new();
    for item in items {
        match out.last_mut() {
            Some((last, n)) if *last == item => *n += 1,
            _ => out.push((item, 1)),
        }
    }
    out
}

/// The total per item, most first; equal totals in the order the items
/// first appear.
pub fn totals<T: PartialEq + Clone>(runs: &[(T, u64)]) -> Vec<(T, u64)> {
    let mut out: Vec<(T, u64)> = Vec::new();
    for (item, n) in runs {
        match out.iter_mut().find(|(t, _)| t == item) {
            Some((_, total)) => *total += n,
            None => out.push((item.clone(), *n)),
        }
    }
    // A stable sort keeps first appearance among equals.
    out.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    out
}

/// `name count → name count → ...`, wrapped before `width` columns; each
/// line starts with two spaces and every line but the last ends with `→`.
pub fn sequence(runs: &[(String, u64)], width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for (i, (name, n)) in runs.iter().enumerate() {
        let item = format!("{name} {n}");
        let arrow = if i + 1 < runs.len() { " →" } else { "" };
        let columns = |s: &str| s.chars().count();
        if !line.is_empty() && 2 + columns(&line) + 1 + columns(&item) + columns(arrow) > width {
            let _ = writeln!(out, "  {line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&item);
        line.push_str(arrow);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// The cost table: one row per function, most expensive first, then the
/// total. Every line ends with a newline.
pub fn table(rows: &[((Side, String), u64)], total: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "  instructions       %  where   function");
    for ((side, name), n) in rows {
        let pct = if total == 0 {
            0.0
        } else {
            *n as f64 * 100.0 / total as f64
        };
        let _ = writeln!(out, "  {n:>12}  {pct:>6.1}  {:<6}  {name}", side.name());
    }
    let _ = writeln!(out, "  {total:>12}   100.0          total");
    out
}

/// How the sample's total compares with the figure the task printed in
/// the same run. Returns the lines to print and whether everything agreed:
/// the sample has the median's count, and the samples cut from the trace
/// have the spread the task measured with `rdtsc`.
pub fn comparison(
    total: u64,
    trace: Spread,
    samples: usize,
    figure: &Figure,
) -> (Vec<String>, bool) {
    let (min, median, max) = (figure.min, figure.median, figure.max);
    let same = total == median;
    let mut lines = vec![format!(
        "total {total} instructions {} the figure's median: this run measured {} {min} {median} \
         {max} (min median max) over {samples} samples{}",
        if same { "=" } else { "!=" },
        figure.id,
        if same {
            String::new()
        } else {
            format!("; the sample is {} from the median", signed(total, median))
        }
    )];
    let agree = trace.min == min && trace.median == median && trace.max == max;
    lines.push(if agree {
        "every sample cut from the trace has as many instructions as its rdtsc pair counted \
         (the same min, median and max)"
            .to_string()
    } else {
        format!(
            "MISMATCH: the samples cut from the trace have min {} median {} max {}, not what \
             the task measured: the trace and the rdtsc readings disagree",
            trace.min, trace.median, trace.max
        )
    });
    (lines, same && agree)
}

/// `a - b` with its sign (`+3`, `-12`).
fn signed(a: u64, b: u64) -> String {
    if a >= b {
        format!("+{}", a - b)
    } else {
        format!("-{}", b - a)
    }
}

/// The first line of the annotated trace file.
pub fn trace_header(id: &str, sample: usize, samples: usize, total: usize) -> String {
    format!(
        "# {id}: sample {} of {samples}, {total} instructions from its starting rdtsc up to its \
         ending one\n# index  pc                  where   function  source (innermost inlined function)\n",
        sample + 1
    )
}

/// One line of the annotated trace: the instruction's index in the sample,
/// its PC, side, function, and source line when known.
pub fn trace_line(
    index: usize,
    pc: u64,
    side: Side,
    function: &str,
    source: Option<&Source>,
) -> String {
    let mut line = format!("{index:>7}  {pc:#018x}  {:<6}  {function}", side.name());
    if let Some(s) = source {
        let _ = write!(line, "  {}:{}", s.file, s.line);
        if let Some(inlined) = &s.inlined {
            let _ = write!(line, " ({inlined})");
        }
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_runs_merge() {
        assert_eq!(
            runs(["a", "a", "b", "a", "c", "c", "c"]),
            vec![("a", 2), ("b", 1), ("a", 1), ("c", 3)]
        );
        assert_eq!(runs(Vec::<u8>::new()), vec![]);
    }

    #[test]
    fn totals_most_first() {
        let r = runs(["a", "a", "b", "a", "c", "c", "c", "d"]);
        assert_eq!(totals(&r), vec![("a", 3), ("c", 3), ("b", 1), ("d", 1)]);
    }

    #[test]
    fn sequence_wraps() {
        let r: Vec<(String, u64)> = [("entry", 28), ("try_fast", 120), ("exit", 9)]
            .iter()
            .map(|(n, c)| (n.to_string(), *c))
            .collect();
        assert_eq!(sequence(&r, 80), "  entry 28 → try_fast 120 → exit 9\n");
        assert_eq!(sequence(&r, 30), "  entry 28 → try_fast 120 →\n  exit 9\n");
        assert_eq!(sequence(&[], 80), "");
    }

    #[test]
    fn the_table() {
        let rows = vec![
            ((Side::Kernel, "fastpath::try_fast".to_string()), 3),
            ((Side::User, "bench::round_trips".to_string()), 1),
        ];
        assert_eq!(
            table(&rows, 4),
            "  instructions       %  where   function\n\
             \x20            3    75.0  kernel  fastpath::try_fast\n\
             \x20            1    25.0  user    bench::round_trips\n\
             \x20            4   100.0          total\n"
        );
    }

    fn fig(min: u64, median: u64, max: u64) -> Figure {
        Figure {
            id: "x.y".into(),
            min,
            median,
            max,
        }
    }

    #[test]
    fn comparisons() {
        let s = |min, median, max| Spread { min, median, max };
        let (lines, ok) = comparison(678, s(678, 678, 700), 101, &fig(678, 678, 700));
        assert!(ok);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with(
            "total 678 instructions = the figure's median: this run measured x.y 678 678 700"
        ));

        let (lines, ok) = comparison(675, s(675, 678, 700), 101, &fig(675, 678, 700));
        assert!(!ok);
        assert!(lines[0].contains("!= the figure") && lines[0].contains("-3 from the median"));

        let (lines, ok) = comparison(678, s(678, 678, 679), 101, &fig(678, 678, 700));
        assert!(!ok);
        assert!(lines[1].starts_with("MISMATCH"));
    }

    #[test]
    fn trace_lines() {
        let src = Source {
            file: "kernel/src/ipc.rs".into(),
            line: 42,
            inlined: Some("septum_kernel::ipc::copy".into()),
        };
        assert_eq!(
            trace_line(
                7,
                0xffff_8080_0010_0000,
                Side::Kernel,
                "ipc::recv",
                Some(&src)
            ),
            "      7  0xffff808000100000  kernel  ipc::recv  kernel/src/ipc.rs:42 (septum_kernel::ipc::copy)\n"
        );
        assert_eq!(
            trace_line(0, 0x400000, Side::User, "bench::f", None),
            "      0  0x0000000000400000  user    bench::f\n"
        );
        assert_eq!(display_name("septum_kernel::ipc::recv"), "ipc::recv");
        assert_eq!(display_name("bench::f"), "bench::f");
    }
}
