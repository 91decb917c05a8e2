//! Reading the results of `cargo test` from its output.
//!
//! Every test binary (unit tests, integration tests, doc tests) ends with one
//! `test result: ok. N passed; M failed; ...` line; the totals are their sums.
//! A run that failed without printing a failure (a compile error, a crashed
//! test binary) still counts as one failure, so it can never read as green.

/// Passed, failed and skipped counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed.
    pub failed: usize,
    /// On-target cases the machine could not run (`septum-test: <case>
    /// skipped <reason>`); host tests never count here.
    pub skipped: usize,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

impl std::fmt::Display for Counts {
    /// The summary line: `N passed, N failed, N skipped`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// Parse one `test result:` line; `None` for any other line.
pub fn parse_result_line(line: &str) -> Option<Counts> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let (_status, fields) = rest.split_once(". ")?;
    let mut passed = None;
    let mut failed = None;
    for field in fields.split(';') {
        let mut words = field.split_whitespace();
        let (Some(n), Some(what)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<usize>() else {
            continue;
        };
        match what {
            "passed" => passed = Some(n),
            "failed" => failed = Some(n),
            _ => {}
        }
    }
    Some(Counts {
        passed: passed?,
        failed: failed?,
        skipped: 0,
    })
}

/// Sum every `test result:` line in `output`; `success` is whether cargo
/// exited with status 0. A failed run that reported no failure counts one.
pub fn tally(output: &str, success: bool) -> Counts {
    let mut total = Counts::default();
    for counts in output.lines().filter_map(parse_result_line) {
        total += counts;
    }
    if !success && total.failed == 0 {
        total.failed = 1;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(passed: usize, failed: usize) -> Counts {
        Counts {
            passed,
            failed,
            skipped: 0,
        }
    }

    #[test]
    fn summary_line() {
        let mut total = counts(3, 1);
        total += Counts {
            passed: 2,
            failed: 0,
            skipped: 4,
        };
        assert_eq!(total.to_string(), "5 passed, 1 failed, 4 skipped");
        assert_eq!(
            Counts::default().to_string(),
            "0 passed, 0 failed, 0 skipped"
        );
    }

    #[test]
    fn result_lines() {
        assert_eq!(
            parse_result_line(
                "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s"
            ),
            Some(counts(12, 0))
        );
        assert_eq!(
            parse_result_line(
                "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.50s"
            ),
            Some(counts(3, 2))
        );
        assert_eq!(
            parse_result_line(
                "test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out"
            ),
            Some(Counts::default())
        );
        assert_eq!(parse_result_line("running 3 tests"), None);
        assert_eq!(parse_result_line("test foo::bar ... ok"), None);
        assert_eq!(parse_result_line("test result: ok."), None);
        assert_eq!(
            parse_result_line("test result: ok. many passed; 0 failed"),
            None
        );
    }

    #[test]
    fn sums_every_binary() {
        let out = "\
running 2 tests
test a ... ok
test b ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running unittests src/lib.rs
test result: FAILED. 4 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
   Doc-tests septum_abi
test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
";
        assert_eq!(tally(out, false), counts(7, 1));
        assert_eq!(tally(out, true), counts(7, 1));
    }

    #[test]
    fn silent_failure_counts_one() {
        assert_eq!(
            tally("error[E0425]: cannot find value", false),
            counts(0, 1)
        );
        let out = "test result: ok. 5 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n";
        assert_eq!(tally(out, false), counts(5, 1), "a later binary crashed");
        assert_eq!(tally("", true), Counts::default());
    }
}
