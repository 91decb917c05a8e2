//! Deciding whether a QEMU run passed: its exit, its console, its test lines.
//!
//! Pure functions over what a run left behind, kept apart from the code that
//! spawns QEMU so every rule is unit-tested. The rules, from `docs/testing.md`:
//! only the `isa-debug-exit` status of the expected verdict counts (a triple
//! fault under `-no-reboot` exits with status 0, a QEMU error with 1, so
//! neither can pass by accident); `expect` strings must appear in order;
//! `reject` strings must not appear; each `septum-test:` case counts once,
//! and only if a task the scenario boots wrote it (the kernel starts every
//! line a thread writes with the thread's name).

use crate::scenario::Verdict;
use septum_abi::qemu_exit::{FAIL, PASS, status};
use std::collections::BTreeMap;

/// How a QEMU process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It exited with this status.
    Exited(i32),
    /// A signal ended it.
    Signalled(i32),
    /// It was still running after this many seconds and was killed.
    TimedOut(u64),
}

impl Verdict {
    /// The `isa-debug-exit` value the kernel writes for this verdict.
    pub fn exit_value(self) -> u32 {
        match self {
            Verdict::Pass => PASS,
            Verdict::Fail => FAIL,
        }
    }

    /// QEMU's process status for this verdict.
    pub fn status(self) -> i32 {
        status(self.exit_value())
    }

    fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        }
    }
}

/// Check that a run ended with the expected verdict; the error says how it
/// ended instead. `stderr` is QEMU's own error output, quoted for status 1.
pub fn check_exit(expected: Verdict, outcome: Outcome, stderr: &str) -> Result<(), String> {
    let want = format!(
        "expected {} (status {})",
        expected.word(),
        expected.status()
    );
    let code = match outcome {
        Outcome::TimedOut(secs) => {
            return Err(format!(
                "timeout: QEMU was still running after {secs} s and was killed"
            ));
        }
        Outcome::Signalled(sig) => return Err(format!("QEMU was killed by signal {sig}; {want}")),
        Outcome::Exited(code) => code,
    };
    if code == expected.status() {
        return Ok(());
    }
    let how = match code {
        0 => "QEMU exited with status 0: the machine reset or triple-faulted (-no-reboot)".into(),
        1 => {
            let first = stderr.lines().map(str::trim).find(|l| !l.is_empty());
            match first {
                Some(line) => format!("QEMU exited with status 1, its own error: {line}"),
                None => "QEMU exited with status 1, its own error status".into(),
            }
        }
        c if c == status(PASS) => format!("the kernel reported pass (status {c})"),
        c if c == status(FAIL) => format!("the kernel reported fail (status {c})"),
        c if c > 1 && c % 2 == 1 => format!(
            "the kernel wrote {:#x} to isa-debug-exit (status {c}), neither pass nor fail",
            (c - 1) / 2
        ),
        c => format!("QEMU exited with status {c}"),
    };
    Err(format!("{how}; {want}"))
}

/// Check the console against `expect` (each in order, each searched after the
/// end of the previous match) and `reject` (none anywhere). Returns every
/// problem; for `expect` only the first missing string, since later ones
/// cannot be judged once the order is broken.
pub fn check_console(console: &str, expect: &[String], reject: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut from = 0;
    for (i, want) in expect.iter().enumerate() {
        match console[from..].find(want.as_str()) {
            Some(at) => from += at + want.len(),
            None if i > 0 && console.contains(want.as_str()) => {
                problems.push(format!(
                    "expected {want:?} after {:?}, but it appears only before it",
                    expect[i - 1]
                ));
                break;
            }
            None => {
                problems.push(format!("expected {want:?} is missing"));
                break;
            }
        }
    }
    for bad in reject {
        if let Some(line) = console.lines().find(|l| l.contains(bad.as_str())) {
            problems.push(format!("rejected {bad:?} appears: {:?}", line.trim_end()));
        }
    }
    problems
}

/// The marker that starts an on-target test report.
pub const TEST_MARKER: &str = "septum-test: ";

/// How many bytes of a thread's name the kernel keeps (`tcb::NAME_LEN` in
/// the kernel): a task's initial thread is named after its boot-image entry,
/// cut to this length.
pub const THREAD_NAME_LEN: usize = 32;

/// What one on-target test case reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaseResult {
    /// `septum-test: <case> ok`
    Ok,
    /// `septum-test: <case> FAILED <reason>`
    Failed(String),
    /// `septum-test: <case> skipped <reason>`: the machine cannot meet the
    /// case's precondition.
    Skipped(String),
}

/// One verdict line: the text before the marker, the case and its result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestLine<'a> {
    /// Everything before [`TEST_MARKER`]; the kernel's frame puts the
    /// writing thread's name and `": "` there.
    pub prefix: &'a str,
    /// The case's name (one word).
    pub case: &'a str,
    /// What it reported.
    pub result: CaseResult,
}

/// Parse one console line as an on-target test report, whoever wrote it.
/// Lines of any other shape after the marker are not reports.
pub fn parse_test_line(line: &str) -> Option<TestLine<'_>> {
    let at = line.find(TEST_MARKER)?;
    let rest = line[at + TEST_MARKER.len()..].trim();
    let (case, result) = rest.split_once(char::is_whitespace)?;
    let result = result.trim_start();
    if result == "ok" {
        return Some(TestLine {
            prefix: &line[..at],
            case,
            result: CaseResult::Ok,
        });
    }
    let with_reason = |word: &str| -> Option<String> {
        let reason = result.strip_prefix(word)?;
        if !reason.is_empty() && !reason.starts_with(char::is_whitespace) {
            return None;
        }
        Some(reason.trim().to_string())
    };
    let result = if let Some(reason) = with_reason("FAILED") {
        CaseResult::Failed(reason)
    } else {
        CaseResult::Skipped(with_reason("skipped")?)
    };
    Some(TestLine {
        prefix: &line[..at],
        case,
        result,
    })
}

/// The line prefixes whose verdicts count: `"<name>: "` for each task the
/// scenario boots, as the kernel names their initial threads.
pub fn trusted_prefixes<'a>(tasks: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    tasks
        .into_iter()
        .map(|t| format!("{}: ", t.get(..THREAD_NAME_LEN).unwrap_or(t)))
        .collect()
}

/// The on-target test cases of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cases {
    /// Distinct cases that passed.
    pub passed: usize,
    /// One line per skipped case, with its reason, ready to print.
    pub skipped: Vec<String>,
    /// One line per failed case (including registered cases that never
    /// reported), ready to print.
    pub failures: Vec<String>,
    /// Verdict lines that were not counted because no task the scenario
    /// boots wrote them (a forgery, or a thread of another name), each
    /// quoted with its line number.
    pub ignored: Vec<String>,
}

impl Cases {
    /// Number of failed cases.
    pub fn failed(&self) -> usize {
        self.failures.len()
    }
}

/// The stronger of two reports of one case: a failure beats a skip, and a
/// skip beats a pass.
fn rank(r: &CaseResult) -> u8 {
    match r {
        CaseResult::Ok => 0,
        CaseResult::Skipped(_) => 1,
        CaseResult::Failed(_) => 2,
    }
}

/// Count the distinct cases reported in `console` by lines that start with
/// one of `trusted` (see [`trusted_prefixes`]) directly followed by the
/// marker; verdict lines with any other prefix are listed as ignored. A
/// case reported more than once counts once: as failed if any report
/// failed, else as skipped if any report skipped. Skipped cases count as
/// reported: if fewer than `declared` distinct cases reported, each missing
/// one counts as failed.
pub fn count_cases(console: &str, trusted: &[String], declared: usize) -> Cases {
    let mut seen: BTreeMap<&str, CaseResult> = BTreeMap::new();
    let mut order = Vec::new();
    let mut cases = Cases::default();
    for (n, line) in console.lines().enumerate() {
        let Some(report) = parse_test_line(line) else {
            continue;
        };
        if !trusted.iter().any(|t| t == report.prefix) {
            cases
                .ignored
                .push(format!("console line {}: {:?}", n + 1, line.trim_end()));
            continue;
        }
        match seen.get(report.case) {
            None => {
                order.push(report.case);
                seen.insert(report.case, report.result);
            }
            Some(old) if rank(old) < rank(&report.result) => {
                seen.insert(report.case, report.result);
            }
            Some(_) => {}
        }
    }
    let with = |case: &str, word: &str, reason: &str| {
        if reason.is_empty() {
            format!("{case} {word}")
        } else {
            format!("{case} {word} {reason}")
        }
    };
    for case in &order {
        match &seen[case] {
            CaseResult::Ok => cases.passed += 1,
            CaseResult::Skipped(reason) => cases.skipped.push(with(case, "skipped", reason)),
            CaseResult::Failed(reason) => cases.failures.push(with(case, "FAILED", reason)),
        }
    }
    let missing = declared.saturating_sub(order.len());
    for n in 0..missing {
        cases.failures.push(format!(
            "registered case {} of {declared} never reported (only {} distinct cases did)",
            order.len() + n + 1,
            order.len()
        ));
    }
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn exit_statuses() {
        use Outcome::*;
        assert_eq!(status(PASS), 33);
        assert_eq!(status(FAIL), 65);
        assert!(check_exit(Verdict::Pass, Exited(33), "").is_ok());
        assert!(check_exit(Verdict::Fail, Exited(65), "").is_ok());

        let cases: &[(Verdict, Outcome, &str, &str)] = &[
            (
                Verdict::Pass,
                Exited(65),
                "",
                "the kernel reported fail (status 65); expected pass",
            ),
            (
                Verdict::Fail,
                Exited(33),
                "",
                "the kernel reported pass (status 33); expected fail",
            ),
            (
                Verdict::Pass,
                Exited(0),
                "",
                "status 0: the machine reset or triple-faulted",
            ),
            (Verdict::Fail, Exited(0), "", "status 0"),
            (
                Verdict::Pass,
                Exited(1),
                "\nqemu: could not load kernel\nmore\n",
                "status 1, its own error: qemu: could not load kernel",
            ),
            (
                Verdict::Pass,
                Exited(1),
                "",
                "status 1, its own error status",
            ),
            (
                Verdict::Pass,
                Exited(3),
                "",
                "wrote 0x1 to isa-debug-exit (status 3)",
            ),
            (Verdict::Pass, Exited(2), "", "QEMU exited with status 2"),
            (Verdict::Pass, Exited(-1), "", "QEMU exited with status -1"),
            (Verdict::Pass, Signalled(9), "", "killed by signal 9"),
            (
                Verdict::Pass,
                TimedOut(20),
                "",
                "timeout: QEMU was still running after 20 s",
            ),
            (Verdict::Fail, TimedOut(5), "", "timeout"),
        ];
        for &(verdict, outcome, stderr, needle) in cases {
            let err = check_exit(verdict, outcome, stderr).unwrap_err();
            assert!(err.contains(needle), "{verdict:?} {outcome:?}: {err}");
        }
        let err = check_exit(Verdict::Pass, Exited(65), "").unwrap_err();
        assert!(err.ends_with("expected pass (status 33)"), "{err}");
        let err = check_exit(Verdict::Pass, TimedOut(1), "").unwrap_err();
        assert!(err.starts_with("timeout"), "{err}");
    }

    #[test]
    fn expect_in_order() {
        let console = "Septum microkernel\nroot-task: hello\nno runnable threads\n";
        assert!(
            check_console(console, &strings(&["Septum", "hello", "no runnable"]), &[]).is_empty()
        );
        assert!(check_console(console, &[], &[]).is_empty());

        let p = check_console(console, &strings(&["hello", "Septum"]), &[]);
        assert_eq!(
            p,
            ["expected \"Septum\" after \"hello\", but it appears only before it"]
        );

        let p = check_console(console, &strings(&["Septum", "bye", "also missing"]), &[]);
        assert_eq!(
            p,
            ["expected \"bye\" is missing"],
            "only the first missing one is named"
        );
    }

    #[test]
    fn expect_matches_do_not_overlap() {
        // Each match starts after the previous one ends, so a string expected
        // twice must appear twice.
        assert!(check_console("abc", &strings(&["abc", "abc"]), &[]).len() == 1);
        assert!(check_console("abcabc", &strings(&["abc", "abc"]), &[]).is_empty());
        assert!(check_console("ab", &strings(&["a", "ab"]), &[]).len() == 1);
    }

    #[test]
    fn reject_anywhere() {
        let console = "boot\nPANIC at foo.rs:1: oops\nend\n";
        let p = check_console(console, &strings(&["end"]), &strings(&["PANIC", "absent"]));
        assert_eq!(
            p,
            ["rejected \"PANIC\" appears: \"PANIC at foo.rs:1: oops\""]
        );
        let p = check_console(console, &strings(&["missing"]), &strings(&["PANIC"]));
        assert_eq!(
            p.len(),
            2,
            "both the missing expect and the reject are reported: {p:?}"
        );
    }

    fn line(prefix: &str, case: &str, result: CaseResult) -> Option<TestLine<'static>> {
        // Leaked so the expected values can borrow like the parsed ones.
        let prefix: &'static str = Box::leak(prefix.to_string().into_boxed_str());
        let case: &'static str = Box::leak(case.to_string().into_boxed_str());
        Some(TestLine {
            prefix,
            case,
            result,
        })
    }

    fn trusted(tasks: &[&str]) -> Vec<String> {
        trusted_prefixes(tasks.iter().copied())
    }

    #[test]
    fn test_line_shapes() {
        assert_eq!(
            parse_test_line("septum-test: ipc_call ok"),
            line("", "ipc_call", CaseResult::Ok)
        );
        assert_eq!(
            parse_test_line("t: septum-test: a ok\r"),
            line("t: ", "a", CaseResult::Ok)
        );
        assert_eq!(
            parse_test_line("ktest-caps: septum-test: cap_copy FAILED rights not reduced"),
            line(
                "ktest-caps: ",
                "cap_copy",
                CaseResult::Failed("rights not reduced".into())
            )
        );
        assert_eq!(
            parse_test_line("septum-test: x FAILED"),
            line("", "x", CaseResult::Failed(String::new()))
        );
        assert_eq!(parse_test_line("septum-test: x FAILEDy"), None);
        assert_eq!(parse_test_line("septum-test: x okay"), None);
        assert_eq!(parse_test_line("septum-test: running 5 cases"), None);
        assert_eq!(parse_test_line("septum-test: lonely"), None);
        assert_eq!(parse_test_line("test x ok"), None);
    }

    #[test]
    fn skipped_lines() {
        assert_eq!(
            parse_test_line("ktest-caps: septum-test: retype_big skipped no untyped of 64 MiB\r"),
            line(
                "ktest-caps: ",
                "retype_big",
                CaseResult::Skipped("no untyped of 64 MiB".into())
            )
        );
        assert_eq!(
            parse_test_line("t: septum-test: x skipped"),
            line("t: ", "x", CaseResult::Skipped(String::new()))
        );
        assert_eq!(
            parse_test_line("t: septum-test: x skipped\t tabbed  "),
            line("t: ", "x", CaseResult::Skipped("tabbed".into()))
        );
        assert_eq!(parse_test_line("t: septum-test: x skippedy"), None);
        assert_eq!(parse_test_line("t: septum-test: x Skipped why"), None);
        assert_eq!(parse_test_line("t: septum-test: x SKIPPED why"), None);
    }

    #[test]
    fn trusted_prefixes_are_thread_names() {
        assert_eq!(
            trusted(&["ktest-caps", "helper_2"]),
            ["ktest-caps: ", "helper_2: "]
        );
        let long = "a".repeat(40);
        assert_eq!(
            trusted(&[&long]),
            [format!("{}: ", "a".repeat(THREAD_NAME_LEN))],
            "the kernel keeps 32 bytes of a thread's name"
        );
    }

    #[test]
    fn counting_cases() {
        let console = "\
t: septum-test: a ok
noise
t: septum-test: b FAILED wrong badge
t: septum-test: c ok
t: septum-test: d skipped no AVX
";
        let t = trusted(&["t"]);
        let c = count_cases(console, &t, 0);
        assert_eq!(c.passed, 2);
        assert_eq!(c.failures, ["b FAILED wrong badge"]);
        assert_eq!(c.skipped, ["d skipped no AVX"]);
        assert!(c.ignored.is_empty());

        let c = count_cases(console, &t, 4);
        assert_eq!(
            (c.passed, c.failed(), c.skipped.len()),
            (2, 1, 1),
            "exactly as many as declared: a skipped case reported"
        );

        let c = count_cases(console, &t, 6);
        assert_eq!(
            (c.passed, c.failed()),
            (2, 3),
            "two registered cases never reported"
        );
        assert!(c.failures[1].contains("never reported"), "{:?}", c.failures);

        let c = count_cases(console, &t, 1);
        assert_eq!(
            (c.passed, c.failed()),
            (2, 1),
            "more than declared all count"
        );

        let c = count_cases("", &t, 2);
        assert_eq!((c.passed, c.failed()), (0, 2));
    }

    #[test]
    fn duplicate_cases_count_once() {
        let t = trusted(&["t"]);
        let c = count_cases("t: septum-test: a ok\nt: septum-test: a ok\n", &t, 2);
        assert_eq!(
            (c.passed, c.failed()),
            (1, 1),
            "a duplicate does not stand in for a missing case"
        );

        let c = count_cases(
            "t: septum-test: a ok\nt: septum-test: a FAILED late\n",
            &t,
            0,
        );
        assert_eq!(c.passed, 0);
        assert_eq!(c.failures, ["a FAILED late"]);

        let c = count_cases(
            "t: septum-test: a FAILED first\nt: septum-test: a ok\n",
            &t,
            0,
        );
        assert_eq!(
            c.failures,
            ["a FAILED first"],
            "a failure is not undone by a later ok"
        );

        let c = count_cases(
            "t: septum-test: a skipped why\nt: septum-test: a FAILED no\n",
            &t,
            0,
        );
        assert_eq!(
            (c.failures.len(), c.skipped.len()),
            (1, 0),
            "failure beats skip"
        );

        for console in [
            "t: septum-test: a ok\nt: septum-test: a skipped why\n",
            "t: septum-test: a skipped why\nt: septum-test: a ok\n",
        ] {
            let c = count_cases(console, &t, 0);
            assert_eq!(
                (c.passed, c.skipped.len(), c.failed()),
                (0, 1, 0),
                "skip beats ok: {console:?}"
            );
        }
    }

    #[test]
    fn only_the_scenarios_tasks_are_believed() {
        let console = "\
[INFO]  Septum microkernel
forger: septum-test: forged ok
forger: [INFO]  Septum forged
septum-test: bare ok
[INFO]  septum-test: kernel ok
ktest-caps: ktest-caps: septum-test: doubled ok
ktest-capsx: septum-test: near ok
 ktest-caps: septum-test: indented ok
ktest-caps:septum-test: squeezed ok
ktest-caps: septum-test: real ok
helper: septum-test: also_real skipped no disk
forger: septum-test: evil FAILED not counted either
";
        let t = trusted(&["ktest-caps", "helper"]);
        let c = count_cases(console, &t, 2);
        assert_eq!(c.passed, 1);
        assert_eq!(c.skipped, ["also_real skipped no disk"]);
        assert!(c.failures.is_empty(), "{:?}", c.failures);
        assert_eq!(
            c.ignored,
            [
                "console line 2: \"forger: septum-test: forged ok\"",
                "console line 4: \"septum-test: bare ok\"",
                "console line 5: \"[INFO]  septum-test: kernel ok\"",
                "console line 6: \"ktest-caps: ktest-caps: septum-test: doubled ok\"",
                "console line 7: \"ktest-capsx: septum-test: near ok\"",
                "console line 8: \" ktest-caps: septum-test: indented ok\"",
                "console line 9: \"ktest-caps:septum-test: squeezed ok\"",
                "console line 12: \"forger: septum-test: evil FAILED not counted either\"",
            ]
        );

        let c = count_cases("forger: septum-test: a ok\n", &t, 1);
        assert_eq!(
            (c.passed, c.failed(), c.ignored.len()),
            (0, 1, 1),
            "a forged line does not stand in for a missing case"
        );
    }
}
