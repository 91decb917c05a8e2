//! `cargo xtask bench`: boot the benchmark system once under `-icount` and
//! turn its console report into a table and `target/bench/results.jsonl`.
//!
//! The rules for reading the report are in `bench.rs`; this only wires the
//! build, QEMU and the files together.

use crate::bench::{self, REQUIRED};
use crate::judge;
use crate::qemu::{self, Boot};
use crate::scenario::{DEFAULT_MEMORY, Machine, Verdict};
use crate::system;
use crate::test_run;
use crate::tools::{Result, Workspace};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// The benchmark task binary, packed as the only (root) task.
pub const BENCH_ROOT: &str = "bench";

/// What the benchmark's `serial.rx` spinner prints when it waits for the paste.
const SERIAL_READY: &str = "serial-rx: ready for the paste";

/// Name of the image and of the console log.
const NAME: &str = "bench";

/// The whole run, every figure included, must finish within this.
const TIMEOUT_SECS: u64 = 600;

/// Pack and boot the benchmark system with the built `kernel`, print its
/// figures and, if the run is complete, write `results.jsonl`.
pub fn bench(ws: &Workspace, kernel: &Path) -> Result<()> {
    let results = ws.bench_dir().join("results.jsonl");
    // A failed run must not leave an older run's results looking current.
    match std::fs::remove_file(&results) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("cannot remove {}: {e}", ws.show(&results)));
        }
        _ => {}
    }

    let image = system::pack_alone(ws, BENCH_ROOT, NAME, "the benchmark system")?;
    let boot = Boot {
        machine: Machine::Q35,
        kernel,
        image: &image,
        append: "exit_on_idle",
        memory: DEFAULT_MEMORY,
        icount: true,
    };
    let args = qemu::captured_args(&boot);
    print!("qemu {NAME} (under -icount, up to {TIMEOUT_SECS} s) ... ");
    let _ = std::io::stdout().flush();
    // `serial.rx_*` measure a paste into COM1: typed once the benchmark's
    // spinner thread says it is ready (tests/tasks/src/bin/bench.rs).
    let paste = [qemu::Typing {
        after: SERIAL_READY.into(),
        bytes: crate::scenario::pattern(64 * 1024),
    }];
    let run = qemu::run_captured_with_input(&args, Duration::from_secs(TIMEOUT_SECS), &paste)
        .map_err(|e| format!("cannot start {}: {e}", qemu::QEMU))?;
    let log = ws.show(&ws.logs_dir().join(format!("{NAME}.log")));
    test_run::save_log(ws, NAME, &args, &run)?;

    let report = bench::read_report(&run.console);
    let mut problems = Vec::new();
    if let Err(e) = judge::check_exit(Verdict::Pass, run.outcome, &run.stderr) {
        problems.push(e);
    }
    problems.extend(bench::problems(&report, &REQUIRED));
    println!(
        "{} ({} figures; console in {log})",
        if problems.is_empty() { "ok" } else { "FAILED" },
        report.figures.len()
    );

    if !report.figures.is_empty() {
        println!();
        print!("{}", bench::table(&report.figures));
        println!();
    }
    if !problems.is_empty() {
        test_run::print_tail(ws, NAME, &run.console);
        return Err(format!(
            "the benchmark run failed ({} not written):\n  - {}",
            ws.show(&results),
            problems.join("\n  - ")
        ));
    }
    system::write(ws, &results, bench::jsonl(&report.figures).as_bytes())?;
    println!(
        "{} figures written to {}",
        report.figures.len(),
        ws.show(&results)
    );
    Ok(())
}
