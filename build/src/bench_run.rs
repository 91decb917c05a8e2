//! `cargo xtask bench`: boot the benchmark system once under `-icount`,
//! then the guest's system (`build/systems/guest.toml`, whose last program
//! is `linux-probe bench`) once, and turn their console reports into one
//! table and `target/bench/results.jsonl`.
//!
//! The rules for reading the report are in `bench.rs`; this only wires the
//! build, QEMU and the files together.

use crate::bench::{self, GUEST_REQUIRED, REQUIRED};
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

/// The guest's system, and the domain whose processes print its figures.
const GUEST_SYSTEM: &str = "build/systems/guest.toml";
const GUEST_DOMAIN: &str = "guest";

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
    let args = icount_args(kernel, &image);
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

    let mut report = bench::read_report(&run.console);
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
    let mut consoles = vec![(NAME, run.console)];
    match guest(ws, kernel) {
        Ok((guest, console)) => {
            problems.extend(bench::problems(&guest, &GUEST_REQUIRED));
            report.figures.extend(guest.figures);
            consoles.push((GUEST_NAME, console));
        }
        Err(e) => problems.push(e),
    }

    if !report.figures.is_empty() {
        println!();
        print!("{}", bench::table(&report.figures));
        println!();
    }
    if !problems.is_empty() {
        for (name, console) in &consoles {
            test_run::print_tail(ws, name, console);
        }
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

/// QEMU's arguments for booting `image` with `kernel` under `-icount`,
/// ending the run when nothing is left to run.
fn icount_args(kernel: &Path, image: &Path) -> Vec<std::ffi::OsString> {
    qemu::captured_args(&Boot {
        machine: Machine::Q35,
        kernel,
        image,
        append: "exit_on_idle",
        memory: DEFAULT_MEMORY,
        icount: true,
    })
}

/// Name of the guest run's image and console log.
const GUEST_NAME: &str = "bench-guest";

/// Boot the guest's system under `-icount` and read the figures its
/// processes print (`guest: bench: ...`, `linux-probe bench`); returns
/// them with the console.
fn guest(ws: &Workspace, kernel: &Path) -> Result<(bench::Report, String)> {
    let loaded = crate::description::load(ws, &ws.root.join(GUEST_SYSTEM))?;
    let packed = system::pack_system(ws, &loaded)?;
    if !packed.missing.is_empty() {
        return Err(format!(
            "{GUEST_SYSTEM} names programs that are not built: {}",
            packed.missing.join(", ")
        ));
    }
    let args = icount_args(kernel, &packed.image);
    print!("qemu {GUEST_NAME} ({GUEST_SYSTEM} under -icount, up to {TIMEOUT_SECS} s) ... ");
    let _ = std::io::stdout().flush();
    let run = qemu::run_captured_with_input(&args, Duration::from_secs(TIMEOUT_SECS), &[])
        .map_err(|e| format!("cannot start {}: {e}", qemu::QEMU))?;
    test_run::save_log(ws, GUEST_NAME, &args, &run)?;
    let log = ws.show(&ws.logs_dir().join(format!("{GUEST_NAME}.log")));
    let report = bench::read_report(&bench::domain_lines(&run.console, GUEST_DOMAIN));
    let ok = judge::check_exit(Verdict::Pass, run.outcome, &run.stderr);
    println!(
        "{} ({} figures; console in {log})",
        if ok.is_ok() { "ok" } else { "FAILED" },
        report.figures.len()
    );
    ok?;
    Ok((report, run.console))
}
