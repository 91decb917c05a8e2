//! `cargo xtask bench --profile ID`: where the instructions of one
//! benchmark figure go, function by function, kernel and user.
//!
//! 1. Build with `SEPTUM_BENCH_PROFILE=ID` ([`ENV`]): the benchmark task
//!    then measures only that figure, a hundred-odd times, and executes no
//!    other `rdtsc` (see `tests/tasks/src/bin/bench.rs`).
//! 2. Boot it as `cargo xtask bench` does, under `-icount`, but stopped
//!    (`-S`) with QEMU's GDB stub on a Unix socket. Over it ([`gdb`]) set
//!    a breakpoint on the task's `septum_bench_profile_start`, which the
//!    task calls just before the figure's measurement; there switch QEMU's
//!    instruction trace on through its monitor (`singlestep on`, `log
//!    exec,nochain`: one instruction per block, every block logged as it
//!    runs), and off again at `septum_bench_profile_end`, called when the
//!    task reports the figure. `-dfilter` limits the trace to the code of
//!    the kernel and the task.
//!    Boot, the APIC calibration, clearing memory and the figures before
//!    (some 30 million instructions) run untraced.
//! 3. Stream the trace once ([`trace`]): the user `rdtsc`s alternate start
//!    and end of a sample, whatever thread or address space each runs in.
//!    Keep every sample's PCs, check that their counts have the spread the
//!    task printed, and pick a median sample from the middle of the run.
//! 4. Name its instructions from the kernel ELF and the task's ELF
//!    ([`symbols`]) and print them ([`report`]): the functions in the order
//!    they ran, a table by cost with the total, how the total compares with
//!    the figure; write one line per instruction to
//!    `target/bench/<ID>.trace`.

mod gdb;
mod report;
pub mod symbols;
mod trace;

use crate::bench::{self, REQUIRED};
use crate::bench_run::BENCH_ROOT;
use crate::judge;
use crate::qemu::{self, Boot};
use crate::scenario::{DEFAULT_MEMORY, Machine, Verdict};
use crate::system;
use crate::test_run;
use crate::tools::{Result, Workspace};
use report::Side;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};
use symbols::Binary;

/// The build-time variable that makes the benchmark task measure one
/// figure only (read with `option_env!` by the task).
pub const ENV: &str = "SEPTUM_BENCH_PROFILE";

/// Name of the image and of the console log.
const NAME: &str = "bench-profile";

/// The whole run, traced part included.
const TIMEOUT_SECS: u64 = 600;

/// How long QEMU may take to open its GDB socket.
const CONNECT_SECS: u64 = 30;

/// Width of the printed order of functions.
const WIDTH: usize = 100;

/// `rdtsc`.
const RDTSC: [u8; 2] = [0x0f, 0x31];

/// The functions the benchmark task calls where the trace starts and ends.
const MARKS: [&str; 2] = ["septum_bench_profile_start", "septum_bench_profile_end"];

/// QEMU options for a traced run: the trace goes to `log`, only for PCs in
/// `ranges` (each `(first, last)`); the machine starts stopped, waiting for
/// a GDB connection on the Unix socket `gdb`.
pub fn traced_args(log: &Path, ranges: &[(u64, u64)], gdb: &Path) -> Vec<OsString> {
    let filter = ranges
        .iter()
        .map(|(a, b)| format!("{a:#x}..{b:#x}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut socket = OsString::from("unix:");
    socket.push(gdb);
    socket.push(",server=on,wait=off");
    vec![
        "-D".into(),
        log.into(),
        "-dfilter".into(),
        filter.into(),
        "-S".into(),
        "-gdb".into(),
        socket,
    ]
}

/// Build, boot and trace the benchmark for figure `id`, then print and
/// write its profile.
pub fn profile(ws: &Workspace, id: &str) -> Result<()> {
    if !REQUIRED.contains(&id) {
        return Err(format!(
            "there is no figure {id:?} to profile; the figures are:\n  {}",
            REQUIRED.join("\n  ")
        ));
    }
    let built = system::build_with_env(ws, &[(ENV, id)])?;
    let task = ws.machine_bin_dir().join(BENCH_ROOT);
    println!(
        "kernel      {} (checks passed)\nbench task  {} (built with {ENV}={id})",
        ws.show(&built.kernel),
        ws.show(&task)
    );
    let kernel = Binary::read(&built.kernel)?;
    let user = Binary::read(&task)?;
    let image = system::pack_alone(ws, BENCH_ROOT, NAME, "the profiled benchmark")?;

    let dir = ws.bench_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", ws.show(&dir)))?;
    let log = dir.join(format!("{id}.qemu.log"));
    let boot = Boot {
        machine: Machine::Q35,
        kernel: &built.kernel,
        image: &image,
        append: "exit_on_idle",
        memory: DEFAULT_MEMORY,
        icount: true,
    };
    let mut args = qemu::captured_args(&boot);
    let mut ranges = kernel.code_ranges();
    ranges.extend(user.code_ranges());
    // Unix socket paths are short (about 100 bytes): not under target/.
    let socket = std::env::temp_dir().join(format!("septum-profile-{}.gdb", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    args.extend(traced_args(&log, &ranges, &socket));
    let marks = MARKS.map(|m| user.address_of(m));
    let [Some(start), Some(end)] = marks else {
        return Err(format!(
            "{} lacks {} or {}: was it built with {ENV}?",
            ws.show(&task),
            MARKS[0],
            MARKS[1]
        ));
    };
    print!(
        "qemu {NAME} (under -icount, traced from the figure's start, up to {TIMEOUT_SECS} s) ... "
    );
    let _ = std::io::stdout().flush();
    let (run, started) = std::thread::scope(|s| {
        let qemu = s.spawn(|| qemu::run_captured(&args, Duration::from_secs(TIMEOUT_SECS)));
        // The connection stays open until QEMU has ended.
        let started = trace_between(&socket, [start, end], || qemu.is_finished());
        (qemu.join(), started)
    });
    let _ = std::fs::remove_file(&socket);
    let run = run
        .map_err(|_| "the thread running QEMU panicked".to_string())?
        .map_err(|e| format!("cannot start {}: {e}", qemu::QEMU))?;
    test_run::save_log(ws, NAME, &args, &run)?;
    let console_log = ws.show(&ws.logs_dir().join(format!("{NAME}.log")));

    let result = judge_run(id, &run, started.err()).and_then(|figure| {
        println!("ok (console in {console_log})");
        let is_rdtsc = |pc| user.bytes(pc, RDTSC.len()) == Some(&RDTSC[..]);
        let cut = cut_trace(ws, &log, is_rdtsc)?;
        Ok((figure, cut))
    });
    // The raw trace is large and fully used by now; remove it either way.
    let _ = std::fs::remove_file(&log);
    let (figure, cut) = match result {
        Ok(r) => r,
        Err(e) => {
            println!("FAILED");
            test_run::print_tail(ws, NAME, &run.console);
            return Err(e);
        }
    };
    show(ws, id, &figure, &cut, &kernel, &user)
}

/// A connection to QEMU's GDB stub.
type Stub = gdb::Gdb<BufReader<UnixStream>, UnixStream>;

/// Connect to QEMU's GDB stub at `socket` and [`steer`] the run. `ended`
/// says whether QEMU has exited. The connection returned must stay open
/// until QEMU ends. On a failure after connecting, QEMU is told to quit.
fn trace_between(socket: &Path, marks: [u64; 2], ended: impl Fn() -> bool) -> Result<Stub> {
    let deadline = Instant::now() + Duration::from_secs(CONNECT_SECS);
    let stream = loop {
        match UnixStream::connect(socket) {
            Ok(s) => break s,
            Err(_) if ended() => {
                return Err("QEMU ended before its GDB stub could be reached".into());
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(format!(
                    "cannot reach QEMU's GDB stub at {} within {CONNECT_SECS} s: {e}",
                    socket.display()
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let input = stream
        .try_clone()
        .map(BufReader::new)
        .map_err(|e| format!("cannot use the GDB socket: {e}"))?;
    let mut gdb = gdb::Gdb::new(input, stream);
    match steer(&mut gdb, marks) {
        Ok(()) => Ok(gdb),
        Err(e) => {
            let _ = gdb.monitor("quit");
            Err(e)
        }
    }
}

/// Let the stopped machine run to the start mark (the first of `marks`),
/// trace from there to the end mark, then let the run finish untraced.
/// Each breakpoint is cleared before the machine goes on from it: while it
/// is stopped, QEMU's `-icount sleep=off` clock jumps to the next timer
/// deadline, and the timer interrupt taken on resuming would return to the
/// breakpoint and stop there again.
fn steer(gdb: &mut Stub, marks: [u64; 2]) -> Result<()> {
    let [start, end] = marks;
    let io = |e: std::io::Error| format!("talking to QEMU's GDB stub: {e}");
    let ended = |e: &std::io::Error| e.kind() == std::io::ErrorKind::UnexpectedEof;
    gdb.breakpoint(start, true).map_err(io)?;
    match gdb.cont() {
        Err(e) if ended(&e) => {
            return Err(format!(
                "the benchmark task never called {} (the run ended first)",
                MARKS[0]
            ));
        }
        other => other.map_err(io)?,
    };
    gdb.breakpoint(start, false).map_err(io)?;
    gdb.breakpoint(end, true).map_err(io)?;
    monitor(gdb, "singlestep on")?;
    monitor(gdb, "log exec,nochain")?;
    match gdb.cont() {
        // The run ended inside the trace; the trace ends with it.
        Err(e) if ended(&e) => return Ok(()),
        other => other.map_err(io)?,
    };
    monitor(gdb, "log none")?;
    monitor(gdb, "singlestep off")?;
    gdb.breakpoint(end, false).map_err(io)?;
    gdb.resume().map_err(io)
}

/// Run a command of QEMU's monitor that prints nothing when it works.
fn monitor(gdb: &mut Stub, command: &str) -> Result<()> {
    let printed = gdb
        .monitor(command)
        .map_err(|e| format!("talking to QEMU's GDB stub: {e}"))?;
    match printed.trim() {
        "" => Ok(()),
        said => Err(format!("QEMU's monitor answered `{command}` with: {said}")),
    }
}

/// The figure the run printed for `id`, or why the run failed (`trace`:
/// why the trace could not be started, if it could not).
fn judge_run(id: &str, run: &qemu::Captured, trace: Option<String>) -> Result<bench::Figure> {
    let report = bench::read_report(&run.console);
    let mut problems: Vec<String> = trace.into_iter().collect();
    if let Err(e) = judge::check_exit(Verdict::Pass, run.outcome, &run.stderr) {
        problems.push(e);
    }
    problems.extend(bench::problems(&report, &[id]));
    match report.figures.into_iter().find(|f| f.id == id) {
        Some(f) if problems.is_empty() => Ok(f),
        _ => Err(format!(
            "the profiled benchmark run failed:\n  - {}",
            problems.join("\n  - ")
        )),
    }
}

/// Read QEMU's log at `path` line by line (it can be hundreds of
/// megabytes) and cut it into samples.
fn cut_trace(ws: &Workspace, path: &Path, is_rdtsc: impl Fn(u64) -> bool) -> Result<trace::Cut> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("QEMU wrote no trace to {}: {e}", ws.show(path)))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut cutter = trace::Cutter::new(is_rdtsc);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("cannot read {}: {e}", ws.show(path)))?;
        if n == 0 {
            break;
        }
        if let Some(event) = std::str::from_utf8(&line).ok().and_then(trace::parse_line) {
            cutter.feed(event);
        }
    }
    Ok(cutter.finish())
}

/// Name one PC: which side, which function.
fn name_of(pc: u64, kernel: &Binary, user: &Binary) -> (Side, String) {
    let (side, function) = if kernel.has_code_at(pc) {
        (Side::Kernel, kernel.function(pc))
    } else if user.has_code_at(pc) {
        (Side::User, user.function(pc))
    } else {
        (Side::Unknown, None)
    };
    match function {
        Some(f) => (side, report::display_name(f).to_string()),
        None => (side, format!("{pc:#x}")),
    }
}

/// Print the profile of a median sample of `cut` and write its trace.
fn show(
    ws: &Workspace,
    id: &str,
    figure: &bench::Figure,
    cut: &trace::Cut,
    kernel: &Binary,
    user: &Binary,
) -> Result<()> {
    let counts: Vec<u64> = cut.samples.iter().map(|s| s.len() as u64).collect();
    let (Some(spread), Some(pick)) = (trace::spread(&counts), trace::pick(&counts)) else {
        return Err(format!(
            "the trace holds no sample of {id} ({} instructions traced, no pair of user rdtsc)",
            cut.executed
        ));
    };
    let sample = &cut.samples[pick];
    let mut names: HashMap<u64, (Side, String)> = HashMap::new();
    for pc in sample {
        names
            .entry(*pc)
            .or_insert_with(|| name_of(*pc, kernel, user));
    }
    let named = sample.iter().map(|pc| names[pc].clone());
    let runs = report::runs(named);
    let total = sample.len() as u64;
    let on = |side| {
        runs.iter()
            .filter(|((s, _), _)| *s == side)
            .map(|(_, n)| n)
            .sum::<u64>()
    };
    println!(
        "\n{id}: sample {} of {} ({} instructions traced), {total} instructions (kernel {}, \
         user {})",
        pick + 1,
        cut.samples.len(),
        cut.executed,
        on(Side::Kernel),
        on(Side::User)
    );
    println!("\nin the order they ran (instructions per function):");
    let order: Vec<(String, u64)> = runs.iter().map(|((_, f), n)| (f.clone(), *n)).collect();
    print!("{}", report::sequence(&order, WIDTH));
    println!("\nby cost:");
    print!("{}", report::table(&report::totals(&runs), total));
    println!();
    let (lines, agreed) = report::comparison(total, spread, cut.samples.len(), figure);
    for l in &lines {
        println!("{l}");
    }

    let path = ws.bench_dir().join(format!("{id}.trace"));
    let mut text = report::trace_header(id, pick, cut.samples.len(), sample.len());
    let mut sources = HashMap::new();
    for (i, pc) in sample.iter().enumerate() {
        let (side, function) = &names[pc];
        let source = sources.entry(*pc).or_insert_with(|| match side {
            Side::Kernel => kernel.source(*pc, &ws.root),
            Side::User => user.source(*pc, &ws.root),
            Side::Unknown => None,
        });
        text.push_str(&report::trace_line(
            i,
            *pc,
            *side,
            function,
            source.as_ref(),
        ));
    }
    system::write(ws, &path, text.as_bytes())?;
    println!(
        "annotated trace: {} ({} instructions)",
        ws.show(&path),
        sample.len()
    );
    if agreed {
        Ok(())
    } else {
        Err(format!(
            "the profile of {id} does not add up to its figure (see above)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_options() {
        let args = traced_args(
            Path::new("/t/x.log"),
            &[
                (0xffff_8080_0010_0000, 0xffff_8080_0011_a24d),
                (0x40_0000, 0x40_702e),
            ],
            Path::new("/tmp/s.gdb"),
        );
        assert_eq!(
            qemu::display(&args),
            "qemu-system-x86_64 -D /t/x.log \
             -dfilter 0xffff808000100000..0xffff80800011a24d,0x400000..0x40702e \
             -S -gdb unix:/tmp/s.gdb,server=on,wait=off"
        );
    }
}
