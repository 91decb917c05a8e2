//! `cargo xtask test`: host tests, the build, then every scenario in QEMU,
//! closing with one `N passed, N failed, N skipped` line.

use crate::host_tests::{self, Counts};
use crate::judge::{self, Outcome};
use crate::qemu::{self, Boot};
use crate::scenario::{self, Scenario};
use crate::system;
use crate::tools::{self, Result, Workspace};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// Console lines shown when a scenario fails.
const TAIL_LINES: usize = 40;

/// Host crates whose unit tests run first (and that `lint` checks for the host).
pub const HOST_PACKAGES: [&str; 10] = [
    "septum-abi",
    "septum-kcore",
    "septum-build",
    "septum-sysdesc",
    "septum-idl",
    "septum-idlgen",
    "septum-interfaces",
    "septum-serial",
    "septum-timer",
    "septum-task-link",
];

/// Run the tests; `filter` keeps only scenarios whose name contains it (and
/// skips the host tests). Returns the totals.
pub fn test(ws: &Workspace, filter: Option<&str>) -> Result<Counts> {
    tools::ensure_toolchain(ws, false)?;
    tools::ensure_qemu()?;
    // The new-server check runs in a full run, and when the filter names it.
    let check_scaffold = filter.is_none_or(|f| crate::scaffold::CHECK.contains(f));
    let scenarios = match load_scenarios(ws, filter) {
        Err(_) if check_scaffold => Vec::new(),
        other => other?,
    };

    let mut total = Counts::default();
    if filter.is_none() {
        total += host_tests(ws)?;
    }

    let built = match system::build(ws) {
        Ok(built) => Some(built),
        Err(e) => {
            println!("build ... FAILED: {e}");
            total.failed += 1;
            None
        }
    };

    for (name, parsed) in &scenarios {
        print!("qemu {name} ... ");
        let _ = std::io::stdout().flush();
        let result = match (parsed, &built) {
            (Err(e), _) => ScenarioResult::failed(e.clone()),
            (Ok(_), None) => ScenarioResult::failed("not run, the build failed".into()),
            (Ok(s), Some(built)) => run_scenario(ws, name, s, &built.kernel),
        };
        match &result.problems[..] {
            [] => println!("ok"),
            problems => println!("FAILED: {}", problems.join("; ")),
        }
        if !result.problems.is_empty() && result.ran {
            print_tail(ws, name, &result.console);
        }
        for failure in &result.cases.failures {
            println!("    on-target test {failure}");
        }
        for skipped in &result.cases.skipped {
            println!("    on-target test {skipped}");
        }
        for forged in &result.cases.ignored {
            println!(
                "    ignored verdict line, not written by a task this scenario boots: {forged}"
            );
        }
        if result.problems.is_empty() {
            total.passed += 1;
        } else {
            total.failed += 1;
        }
        total.passed += result.cases.passed;
        total.failed += result.cases.failed();
        total.skipped += result.cases.skipped.len();
    }
    if check_scaffold {
        print!(
            "tool {} (scaffold a server in a copy of the workspace, boot it there) ... ",
            crate::scaffold::CHECK
        );
        let _ = std::io::stdout().flush();
        let problems = match &built {
            None => vec!["not run, the build failed".to_string()],
            Some(_) => crate::scaffold::check_in_copy(ws).unwrap_or_else(|e| vec![e]),
        };
        if problems.is_empty() {
            println!("ok");
            total.passed += 1;
        } else {
            println!(
                "FAILED: {} (all it printed: {})",
                problems.join("; "),
                ws.show(
                    &ws.logs_dir()
                        .join(format!("{}.log", crate::scaffold::CHECK))
                )
            );
            total.failed += 1;
        }
    }
    Ok(total)
}

/// Every scenario file, sorted by name, parsed (or the parse error).
fn load_scenarios(
    ws: &Workspace,
    filter: Option<&str>,
) -> Result<Vec<(String, std::result::Result<Scenario, String>)>> {
    let dir = ws.scenarios_dir();
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", ws.show(&dir)))?;
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list {}: {e}", ws.show(&dir)))?
            .path();
        if path.extension().is_some_and(|x| x == "toml")
            && let Some(stem) = path.file_stem()
        {
            files.push((stem.to_string_lossy().into_owned(), path));
        }
    }
    files.sort();
    let all: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    if let Some(f) = filter {
        files.retain(|(name, _)| name.contains(f));
        if files.is_empty() {
            return Err(format!(
                "no scenario name contains {f:?}; the scenarios are: {}",
                all.join(", ")
            ));
        }
    }
    Ok(files
        .into_iter()
        .map(|(name, path)| {
            let shown = ws.show(&path);
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {shown}: {e}"))
                .and_then(|text| scenario::parse(&shown, &text));
            (name, parsed)
        })
        .collect())
}

/// `cargo test` of the host crates, its output streamed through and counted.
fn host_tests(ws: &Workspace) -> Result<Counts> {
    let mut cargo = ws.cargo();
    cargo.arg("test");
    for p in HOST_PACKAGES {
        cargo.args(["-p", p]);
    }
    cargo
        .arg("--no-fail-fast")
        .arg("--target-dir")
        .arg(ws.target_dir());
    cargo.stdout(Stdio::piped());
    let shown = tools::show_command(&cargo);
    let mut child = cargo
        .spawn()
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    let mut output = String::new();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).split(b'\n') {
            let line = line.map_err(|e| format!("reading the output of `{shown}`: {e}"))?;
            let line = String::from_utf8_lossy(&line);
            println!("{line}");
            output.push_str(&line);
            output.push('\n');
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for `{shown}`: {e}"))?;
    let counts = host_tests::tally(&output, status.success());
    if !status.success() {
        println!("host tests ... FAILED: `{shown}` ended with {status}");
    }
    Ok(counts)
}

struct ScenarioResult {
    /// Why the scenario failed; empty if it passed.
    problems: Vec<String>,
    /// Whether QEMU ran.
    ran: bool,
    /// The console output, if QEMU ran.
    console: String,
    /// The on-target test cases it reported.
    cases: judge::Cases,
}

impl ScenarioResult {
    fn failed(problem: String) -> Self {
        ScenarioResult {
            problems: vec![problem],
            ran: false,
            console: String::new(),
            cases: Default::default(),
        }
    }
}

fn run_scenario(ws: &Workspace, name: &str, s: &Scenario, kernel: &Path) -> ScenarioResult {
    // A booted description's domains are tasks the scenario boots too: the
    // root task names each one's thread after the domain, and its
    // supervisor threads `sup-<partition>`; a vmm names its guest's
    // kernel thread after the guest.
    let mut writers: Vec<String> = std::iter::once(s.root.clone())
        .chain(s.tasks.iter().cloned())
        .collect();
    if let Some(file) = &s.system
        && let Ok(loaded) = crate::description::load(ws, &ws.root.join(file))
    {
        writers.extend(loaded.system.domains.iter().map(|d| d.name.clone()));
        writers.extend(loaded.system.guests.iter().map(|g| g.name.clone()));
    }
    let trusted = judge::trusted_prefixes(writers.iter().map(String::as_str));
    // The shim with the scenario's files, until this run is over.
    let _guest_files = match &s.guest_files {
        Some(dir) => match system::shim_with_guest_files(ws, &ws.root.join(dir)) {
            Ok(g) => Some(g),
            Err(e) => {
                let mut r = ScenarioResult::failed(e);
                r.cases = judge::count_cases("", &trusted, s.tests);
                return r;
            }
        },
        None => None,
    };
    let image = match system::pack_scenario(ws, name, s) {
        Ok(image) => image,
        Err(e) => {
            let mut r = ScenarioResult::failed(e);
            r.cases = judge::count_cases("", &trusted, s.tests);
            return r;
        }
    };
    let boot = scenario_boot(s, kernel, &image);
    let mut problems = Vec::new();
    let started = match &s.gdb {
        None => {
            let args = qemu::captured_args(&boot);
            let input: Vec<qemu::Typing> = s
                .input
                .iter()
                .map(|i| qemu::Typing {
                    after: i.after.clone(),
                    bytes: i.bytes(),
                })
                .collect();
            qemu::run_captured_with_input(&args, Duration::from_secs(s.timeout_secs), &input)
                .map(|run| (args, run))
                .map_err(|e| format!("cannot start {}: {e}", qemu::QEMU))
        }
        Some(commands) => under_gdb(ws, name, s, &boot, commands).map(|(run, found)| {
            problems.extend(found);
            (run.args, run.qemu)
        }),
    };
    let (args, run) = match started {
        Ok(r) => r,
        Err(e) => {
            let mut r = ScenarioResult::failed(e);
            r.cases = judge::count_cases("", &trusted, s.tests);
            return r;
        }
    };
    if let Err(e) = judge::check_exit(s.verdict, run.outcome, &run.stderr) {
        problems.push(e);
    }
    problems.extend(judge::check_console(&run.console, &s.expect, &s.reject));
    let cases = judge::count_cases(&run.console, &trusted, s.tests);
    if let Err(e) = save_log(ws, name, &args, &run) {
        problems.push(e);
    }
    ScenarioResult {
        problems,
        ran: true,
        console: run.console,
        cases,
    }
}

/// Run scenario `s` under gdb with the command file `commands`; returns
/// the run and what is wrong with gdb's output (its `gdb_expect` and
/// `gdb_reject`; gdb killed at the timeout). gdb's output is saved in
/// `target/septum/logs/<name>.gdb.log`.
fn under_gdb(
    ws: &Workspace,
    name: &str,
    s: &Scenario,
    boot: &Boot<'_>,
    commands: &str,
) -> Result<(crate::gdb::BatchRun, Vec<String>)> {
    tools::ensure_gdb()?;
    let mut programs: Vec<String> = s.tasks.clone();
    let mut domains = Vec::new();
    if let Some(file) = &s.system {
        let loaded = crate::description::load(ws, &ws.root.join(file))?;
        for d in &loaded.system.domains {
            programs.push(d.program.clone());
            domains.push((d.name.clone(), d.program.clone()));
        }
    }
    let session = crate::gdb::session_of(ws, name, &s.root, &programs, domains, None)?;
    let timeout = Duration::from_secs(s.timeout_secs);
    let run = crate::gdb::batch(
        ws,
        name,
        boot,
        &session,
        &ws.root.join(commands),
        timeout,
        true,
    )?;
    let mut problems = Vec::new();
    if run.gdb_status.is_none() {
        problems.push(format!(
            "timeout: gdb was killed after {} s",
            s.timeout_secs
        ));
    }
    problems.extend(
        judge::check_console(&run.gdb_output, &s.gdb_expect, &s.gdb_reject)
            .into_iter()
            .map(|p| format!("gdb: {p} (gdb's output: target/septum/logs/{name}.gdb.log)")),
    );
    Ok((run, problems))
}

/// How scenario `s` boots `kernel` with `image`: its machine, command line
/// and memory, and `-icount` if it asks (the benchmark's code path).
fn scenario_boot<'a>(s: &'a Scenario, kernel: &'a Path, image: &'a Path) -> Boot<'a> {
    Boot {
        machine: s.machine,
        kernel,
        image,
        append: &s.append,
        memory: &s.memory,
        icount: s.icount,
    }
}

/// Save a captured run's console, QEMU's messages, the command line and
/// how QEMU ended to `target/septum/logs/<name>.log`.
pub fn save_log(
    ws: &Workspace,
    name: &str,
    args: &[std::ffi::OsString],
    run: &qemu::Captured,
) -> Result<()> {
    let dir = ws.logs_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", ws.show(&dir)))?;
    let path = dir.join(format!("{name}.log"));
    let mut log = run.console.clone();
    if !log.is_empty() && !log.ends_with('\n') {
        log.push('\n');
    }
    if !run.stderr.is_empty() {
        log.push_str("--- QEMU stderr ---\n");
        log.push_str(&run.stderr);
        if !run.stderr.ends_with('\n') {
            log.push('\n');
        }
    }
    let outcome = match run.outcome {
        Outcome::Exited(code) => format!("exited with status {code}"),
        Outcome::Signalled(sig) => format!("killed by signal {sig}"),
        Outcome::TimedOut(secs) => format!("killed after the {secs} s timeout"),
    };
    log.push_str(&format!(
        "--- septum-build ---\ncommand: {}\nQEMU {outcome}\n",
        qemu::display(args)
    ));
    std::fs::write(&path, log).map_err(|e| format!("cannot write {}: {e}", ws.show(&path)))
}

/// Print the last console lines of a run, pointing at its full log.
pub fn print_tail(ws: &Workspace, name: &str, console: &str) {
    let lines: Vec<&str> = console.lines().collect();
    let from = lines.len().saturating_sub(TAIL_LINES);
    let log = ws.show(&ws.logs_dir().join(format!("{name}.log")));
    if lines.is_empty() {
        println!("--- {name} printed nothing on its console (see {log}) ---");
        return;
    }
    println!(
        "--- last {} console lines of {name} (all of them in {log}) ---",
        lines.len() - from
    );
    for line in &lines[from..] {
        println!("{}", line.trim_end_matches('\r'));
    }
    println!("--- end of {name} ---");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_options_reach_the_command_line() {
        let text = "description = \"d\"\nverdict = \"pass\"\nmemory = \"64M\"\nicount = true\n";
        let s = scenario::parse("t.toml", text).unwrap();
        let (k, i) = (Path::new("/k"), Path::new("/i.img"));
        let line = qemu::display(&qemu::captured_args(&scenario_boot(&s, k, i)));
        assert!(line.contains(" -m 64M "), "{line}");
        assert!(
            line.ends_with(&format!(" -icount {}", qemu::ICOUNT)),
            "{line}"
        );

        let s = scenario::parse("t.toml", "description = \"d\"\nverdict = \"pass\"\n").unwrap();
        let line = qemu::display(&qemu::captured_args(&scenario_boot(&s, k, i)));
        assert!(line.contains(" -m 256M "), "{line}");
        assert!(!line.contains("-icount"), "{line}");
    }
}
