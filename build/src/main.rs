//! `cargo xtask`: Septum's host build tool.
//!
//! Builds the kernel and tasks for the machine target, checks that the kernel
//! ELF is bootable, checks the system description and packs the boot image,
//! boots it in QEMU, and runs the host tests and the scenario tests with one
//! closing `N passed, N failed, N skipped` line, boots the benchmark task to
//! report instruction counts, and describes a system (`describe`).
//! It installs what it needs first (the pinned target; QEMU when run as root).
//! Logic that decides anything (scenario files, verdicts, ELF checks, image
//! corruption, test counting) lives in modules of its own with unit tests;
//! the modules that start processes only wire them together.
#![forbid(unsafe_code)]

mod bench;
mod bench_run;
mod description;
mod gdb;
mod guest;
mod guest_c;
mod host_tests;
mod image;
mod judge;
mod kernel_check;
mod profile;
mod qemu;
mod scaffold;
mod scenario;
mod system;
mod test_run;
mod tools;

use clap::{Parser, Subcommand};
use description::{Format, Loaded};
use scenario::Machine;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tools::{Result, Workspace};

/// Septum's build tool: builds, checks and packs the system, boots it in
/// QEMU, and runs the tests and benchmarks.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    after_help = "Start with `cargo xtask run`; `cargo xtask test` runs everything CI runs."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A parsed command line.
#[derive(Debug, PartialEq, Eq, Subcommand)]
enum Command {
    /// Build everything (always release), check the kernel ELF, check the
    /// system description and pack its boot image (target/septum/<name>.img)
    Build {
        /// The system description to pack [default: build/systems/default.toml]
        #[arg(long, value_name = "FILE")]
        system: Option<PathBuf>,
        /// Add a host directory's files and programs to the guest's
        /// filesystem, merged at / (DIR/etc/motd becomes /etc/motd)
        #[arg(long, value_name = "DIR")]
        guest_files: Option<PathBuf>,
        /// Accepted for habit's sake: the build is always release
        #[arg(long, hide = true)]
        release: bool,
    },
    /// Build, then boot the system in QEMU on this terminal (Ctrl-A then X quits)
    #[command(after_help = "Words after `--` are added to the kernel command line, \
        e.g. `cargo xtask run -- exit_on_idle log=debug`.")]
    Run {
        /// The QEMU machine: q35, pc, microvm or microvm-noacpi
        #[arg(long, value_name = "M", default_value = "q35", value_parser = parse_machine)]
        machine: Machine,
        /// The system description to boot [default: build/systems/default.toml]
        #[arg(long, value_name = "FILE")]
        system: Option<PathBuf>,
        /// Add a host directory's files and programs to the guest's
        /// filesystem, merged at / (DIR/etc/motd becomes /etc/motd)
        #[arg(long, value_name = "DIR")]
        guest_files: Option<PathBuf>,
        /// Accepted for habit's sake: the build is always release
        #[arg(long, hide = true)]
        release: bool,
        /// Words added to the kernel command line
        #[arg(last = true, value_name = "WORDS")]
        words: Vec<String>,
    },
    /// Host unit tests, the build, and every scenario in tests/scenarios;
    /// ends with "N passed, N failed, N skipped"
    Test {
        /// Run only the scenarios whose name contains FILTER (and no host tests)
        #[arg(value_name = "FILTER")]
        filter: Option<String>,
    },
    /// Boot the benchmark task under -icount, print its instruction counts
    /// and write target/bench/results.jsonl
    Bench {
        /// Trace one figure's measurement instruction by instruction: its
        /// instructions per function, kernel and user, in the order they run
        /// and by cost; writes target/bench/ID.trace
        #[arg(long, value_name = "ID")]
        profile: Option<String>,
    },
    /// Build, boot the system stopped with QEMU's GDB stub, and start gdb
    /// with the kernel's and every task's symbols loaded where they run
    #[command(
        after_help = "In gdb, `domains` lists the domains and `break-in DOMAIN LOCATION` \
        stops at LOCATION only in that domain (every task is linked at 4 MiB); \
        `console` shows the console's last lines; `quit` ends QEMU too. \
        Words after `--` are added to the kernel command line. See docs/debugging.md."
    )]
    Gdb {
        /// The system description to boot [default: build/systems/default.toml]
        #[arg(long, value_name = "FILE")]
        system: Option<PathBuf>,
        /// The QEMU machine: q35, pc or microvm
        #[arg(long, value_name = "M", default_value = "q35", value_parser = parse_machine)]
        machine: Machine,
        /// gdb commands to run once connected, before the prompt
        #[arg(long, value_name = "FILE", conflicts_with = "batch")]
        commands: Option<PathBuf>,
        /// No terminal: run FILE's gdb commands once connected, print gdb's
        /// output, end QEMU, and exit with gdb's status
        #[arg(long, value_name = "FILE")]
        batch: Option<PathBuf>,
        /// With --batch: seconds before gdb and QEMU are killed
        #[arg(long, value_name = "SECS", default_value_t = 300, requires = "batch")]
        timeout: u64,
        /// Words added to the kernel command line
        #[arg(last = true, value_name = "WORDS")]
        words: Vec<String>,
    },
    /// Scaffold a new server: its interface, a crate servers/NAME with the
    /// server and a tiny client, the description entries and a scenario
    #[command(
        after_help = "`cargo xtask test server-NAME` then boots it and checks that it answers; \
        docs/writing-a-driver.md goes on from there."
    )]
    NewServer {
        /// The server's name: lowercase letters and digits in words joined by '-'
        #[arg(value_name = "NAME")]
        name: String,
        /// The description to add it to [default: build/systems/default.toml];
        /// a file that does not exist is made as a copy of the default
        #[arg(long, value_name = "FILE")]
        system: Option<PathBuf>,
    },
    /// rustfmt check and clippy (-D warnings) on the host and machine crates
    Lint,
    /// Check a system description and print what the system will be: each
    /// domain's capabilities and memory layout, the channels, the regions
    /// and the partition schedule
    Describe {
        /// The description [default: build/systems/default.toml]
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        /// Print a Graphviz graph instead (domains grouped by partition)
        #[arg(long, conflicts_with = "json")]
        dot: bool,
        /// Print the checked description as JSON, the data the boot image is made from
        #[arg(long)]
        json: bool,
    },
}

/// `--machine`'s value, refused with the names it takes.
fn parse_machine(name: &str) -> std::result::Result<Machine, String> {
    Machine::from_name(name)
        .ok_or_else(|| format!("unknown machine {name:?}; use q35, pc, microvm or microvm-noacpi"))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help goes to stdout with status 0, mistakes to stderr with 2.
        Err(e) => e.exit(),
    };
    match execute(&Workspace::locate(), cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn execute(ws: &Workspace, cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Build {
            system,
            guest_files,
            ..
        } => {
            build_system(ws, system.as_deref(), guest_files.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            machine,
            system,
            guest_files,
            words,
            ..
        } => run(
            ws,
            machine,
            system.as_deref(),
            guest_files.as_deref(),
            &words,
        ),
        Command::Test { filter } => {
            let total = test_run::test(ws, filter.as_deref())?;
            println!("{total}");
            Ok(if total.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Bench { profile: Some(id) } => {
            tools::ensure_qemu()?;
            profile::profile(ws, &id)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { profile: None } => {
            tools::ensure_qemu()?;
            let (kernel, _) = build_system(ws, None, None)?;
            bench_run::bench(ws, &kernel)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Gdb {
            system,
            machine,
            commands,
            batch,
            timeout,
            words,
        } => debug(
            ws,
            machine,
            system.as_deref(),
            commands,
            batch,
            timeout,
            &words,
        ),
        Command::NewServer { name, system } => {
            scaffold::new_server(ws, &name, system.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Lint => lint(ws),
        Command::Describe { file, dot, json } => {
            let format = match (dot, json) {
                (true, _) => Format::Dot,
                (_, true) => Format::Json,
                _ => Format::Text,
            };
            description::run(ws, file.as_deref(), format)
        }
    }
}

/// Check the description at `system` (or the default), build, check and
/// pack; print where everything is. Returns the kernel and the image.
fn build_system(
    ws: &Workspace,
    system: Option<&Path>,
    guest_files: Option<&Path>,
) -> Result<(PathBuf, PathBuf)> {
    // The description first: a mistake in it is found in a second, not
    // after the build.
    let loaded: Loaded = description::load(ws, &description::path_or_default(ws, system))?;
    let built = system::build_with_guest_files(ws, guest_files)?;
    let packed = system::pack_system(ws, &loaded)?;
    println!(
        "kernel      {} (PVH entry {:#x}, {} loadable segments, checks passed)",
        ws.show(&built.kernel),
        built.info.pvh_entry,
        built.info.loads
    );
    println!(
        "boot image  {} (root task: {})",
        ws.show(&packed.image),
        system::DEFAULT_ROOT
    );
    let s = &loaded.system;
    println!(
        "system      {}: {} domains, {} channels, {} partitions; {} bytes compiled, in entry '{}'; \
         checked description in {}",
        loaded.shown,
        s.domains.len(),
        s.channels.len(),
        s.partitions.len(),
        packed.description_bytes,
        septum_sysdesc::image::ENTRY_NAME,
        ws.show(&packed.json)
    );
    if !packed.programs.is_empty() {
        println!(
            "            programs packed: {}",
            packed.programs.join(", ")
        );
    }
    if !packed.missing.is_empty() {
        println!(
            "            not built, so not packed: {} (the root task will refuse to build the system)",
            packed.missing.join(", ")
        );
    }
    Ok((built.kernel, packed.image))
}

fn run(
    ws: &Workspace,
    machine: Machine,
    system: Option<&Path>,
    guest_files: Option<&Path>,
    words: &[String],
) -> Result<ExitCode> {
    tools::ensure_qemu()?;
    let (kernel, image) = build_system(ws, system, guest_files)?;
    let append = words.join(" ");
    let boot = qemu::Boot {
        machine,
        kernel: &kernel,
        image: &image,
        append: &append,
        memory: scenario::DEFAULT_MEMORY,
        icount: false,
    };
    let args = qemu::interactive_args(&boot);
    println!("Ctrl-A then X quits QEMU");
    let err = qemu::exec_interactive(&args);
    Err(format!("cannot start `{}`: {err}", qemu::display(&args)))
}

/// `cargo xtask gdb`: build, then debug the system in gdb, interactively
/// or (`batch`) with a script.
fn debug(
    ws: &Workspace,
    machine: Machine,
    system: Option<&Path>,
    commands: Option<PathBuf>,
    batch: Option<PathBuf>,
    timeout: u64,
    words: &[String],
) -> Result<ExitCode> {
    tools::ensure_qemu()?;
    tools::ensure_gdb()?;
    for file in commands.iter().chain(&batch) {
        if !file.is_file() {
            return Err(format!("no gdb command file at {}", file.display()));
        }
    }
    let (kernel, image) = build_system(ws, system, None)?;
    let loaded = description::load(ws, &description::path_or_default(ws, system))?;
    let name = format!("gdb-{}", loaded.name());
    let append = words.join(" ");
    let boot = qemu::Boot {
        machine,
        kernel: &kernel,
        image: &image,
        append: &append,
        memory: scenario::DEFAULT_MEMORY,
        icount: false,
    };
    let Some(file) = batch else {
        let console = ws.logs_dir().join(format!("{name}.log"));
        let session = gdb::session(ws, &loaded, Some(console))?;
        gdb::interactive(ws, &name, &boot, &session, commands.as_deref())?;
        return Ok(ExitCode::SUCCESS);
    };
    let session = gdb::session(ws, &loaded, None)?;
    let timeout = std::time::Duration::from_secs(timeout);
    let run = gdb::batch(ws, &name, &boot, &session, &file, timeout, false)?;
    print!("{}", run.gdb_output);
    test_run::save_log(ws, &name, &run.args, &run.qemu)?;
    println!(
        "(the console is in {})",
        ws.show(&ws.logs_dir().join(format!("{name}.log")))
    );
    match run.gdb_status {
        Some(0) => Ok(ExitCode::SUCCESS),
        Some(code) => Err(format!("gdb ended with status {code}")),
        None => Err(format!(
            "gdb was killed after the {} s timeout",
            timeout.as_secs()
        )),
    }
}

fn lint(ws: &Workspace) -> Result<ExitCode> {
    tools::ensure_toolchain(ws, true)?;
    let target_dir = ws.target_dir();
    let mut failed = Vec::new();

    let mut fmt = ws.cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    if !tools::status_of(&mut fmt)?.success() {
        failed.push("formatting (run `cargo fmt --all`)");
    }

    let mut host = ws.cargo();
    host.arg("clippy");
    for p in test_run::HOST_PACKAGES {
        host.args(["-p", p]);
    }
    host.args(["--all-targets", "--target-dir"])
        .arg(&target_dir)
        .args(["--", "-D", "warnings"]);
    if !tools::status_of(&mut host)?.success() {
        failed.push("clippy on the host crates");
    }

    let mut machine = ws.cargo();
    machine.args(["clippy", "--release", "--target", tools::MACHINE_TARGET]);
    // septum-sysdesc without features: the no_std part the root task will use.
    for p in system::machine_packages(ws)?
        .iter()
        .map(String::as_str)
        .chain(["septum-idl", "septum-interfaces", "septum-sysdesc"])
    {
        machine.args(["-p", p]);
    }
    machine
        .arg("--target-dir")
        .arg(&target_dir)
        .args(["--", "-D", "warnings"]);
    if !tools::status_of(&mut machine)?.success() {
        failed.push("clippy on the machine crates");
    }

    if failed.is_empty() {
        println!("lint: formatting and clippy are clean");
        Ok(ExitCode::SUCCESS)
    } else {
        Err(format!(
            "lint failed: {}; the messages are above",
            failed.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> std::result::Result<Command, String> {
        Cli::try_parse_from(std::iter::once("cargo xtask").chain(args.iter().copied()))
            .map(|c| c.command)
            .map_err(|e| e.to_string())
    }

    fn build(system: Option<&str>) -> Command {
        Command::Build {
            system: system.map(PathBuf::from),
            guest_files: None,
            release: false,
        }
    }

    fn run(machine: Machine, system: Option<&str>, words: &[&str]) -> Command {
        Command::Run {
            machine,
            system: system.map(PathBuf::from),
            guest_files: None,
            release: false,
            words: words.iter().map(|w| w.to_string()).collect(),
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_of_before_still_parses() {
        assert_eq!(parse(&["build"]), Ok(build(None)));
        assert_eq!(
            parse(&["build", "--release"]),
            Ok(Command::Build {
                system: None,
                guest_files: None,
                release: true
            })
        );
        let Ok(Command::Run { guest_files, .. }) = parse(&["run", "--guest-files", "extra"]) else {
            panic!("run --guest-files does not parse");
        };
        assert_eq!(guest_files, Some(PathBuf::from("extra")));
        assert_eq!(parse(&["lint"]), Ok(Command::Lint));
        assert_eq!(parse(&["bench"]), Ok(Command::Bench { profile: None }));
        assert_eq!(parse(&["test"]), Ok(Command::Test { filter: None }));
        assert_eq!(
            parse(&["test", "fault"]),
            Ok(Command::Test {
                filter: Some("fault".into())
            })
        );
        assert_eq!(parse(&["run"]), Ok(run(Machine::Q35, None, &[])));
        assert_eq!(
            parse(&["run", "--machine", "microvm", "--", "a=1", "--b"]),
            Ok(run(Machine::Microvm, None, &["a=1", "--b"]))
        );
        assert_eq!(
            parse(&["run", "--machine=pc"]),
            Ok(run(Machine::Pc, None, &[]))
        );
        let Ok(Command::Run { release, .. }) = parse(&["run", "--release"]) else {
            panic!("run --release")
        };
        assert!(release);
    }

    #[test]
    fn new_options() {
        assert_eq!(
            parse(&["build", "--system", "x.toml"]),
            Ok(build(Some("x.toml")))
        );
        assert_eq!(
            parse(&["run", "--system", "x.toml", "--", "exit_on_idle"]),
            Ok(run(Machine::Q35, Some("x.toml"), &["exit_on_idle"]))
        );
        assert_eq!(
            parse(&["bench", "--profile", "ipc.roundtrip"]),
            Ok(Command::Bench {
                profile: Some("ipc.roundtrip".into())
            })
        );
        assert_eq!(
            parse(&["describe"]),
            Ok(Command::Describe {
                file: None,
                dot: false,
                json: false
            })
        );
        assert_eq!(
            parse(&["describe", "a.toml", "--dot"]),
            Ok(Command::Describe {
                file: Some("a.toml".into()),
                dot: true,
                json: false
            })
        );
        assert_eq!(
            parse(&["describe", "--json"]),
            Ok(Command::Describe {
                file: None,
                dot: false,
                json: true
            })
        );
    }

    #[test]
    fn debugging_and_scaffolding() {
        assert_eq!(
            parse(&["gdb"]),
            Ok(Command::Gdb {
                system: None,
                machine: Machine::Q35,
                commands: None,
                batch: None,
                timeout: 300,
                words: vec![],
            })
        );
        assert_eq!(
            parse(&[
                "gdb",
                "--system",
                "s.toml",
                "--batch",
                "b.gdb",
                "--timeout",
                "60",
                "--",
                "exit_on_idle",
            ]),
            Ok(Command::Gdb {
                system: Some("s.toml".into()),
                machine: Machine::Q35,
                commands: None,
                batch: Some("b.gdb".into()),
                timeout: 60,
                words: vec!["exit_on_idle".into()],
            })
        );
        assert_eq!(
            parse(&["new-server", "rtc"]),
            Ok(Command::NewServer {
                name: "rtc".into(),
                system: None
            })
        );
        assert_eq!(
            parse(&["new-server", "rtc", "--system", "x.toml"]),
            Ok(Command::NewServer {
                name: "rtc".into(),
                system: Some("x.toml".into())
            })
        );
        for (args, needle) in [
            (
                &["gdb", "--commands", "a", "--batch", "b"][..],
                "cannot be used with",
            ),
            (&["gdb", "--timeout", "5"][..], "--batch <FILE>"),
            (&["new-server"][..], "<NAME>"),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn mistakes_are_explained() {
        for (args, needle) in [
            (&[][..], "Usage: cargo xtask <COMMAND>"),
            (&["bulid"][..], "unrecognized subcommand 'bulid'"),
            (&["bulid"][..], "a similar subcommand exists: 'build'"),
            (&["build", "--debug"][..], "unexpected argument '--debug'"),
            (
                &["run", "--machine"][..],
                "a value is required for '--machine <M>'",
            ),
            (
                &["run", "--machine", "isapc"][..],
                "unknown machine \"isapc\"; use q35, pc, microvm or microvm-noacpi",
            ),
            (&["run", "quiet"][..], "unexpected argument 'quiet'"),
            (&["test", "a", "b"][..], "unexpected argument 'b'"),
            (&["lint", "x"][..], "unexpected argument 'x'"),
            (
                &["bench", "--release"][..],
                "unexpected argument '--release'",
            ),
            (&["describe", "--dot", "--json"][..], "cannot be used with"),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn every_command_has_help() {
        let mut cli = Cli::command();
        let help = cli.render_help().to_string();
        for cmd in [
            "build",
            "run",
            "test",
            "bench",
            "gdb",
            "new-server",
            "lint",
            "describe",
            "help",
        ] {
            assert!(
                help.contains(&format!("  {cmd} ")),
                "{cmd} missing from\n{help}"
            );
        }
        let help_of = |cmd: &str| {
            let err = Cli::try_parse_from(["cargo xtask", cmd, "--help"]).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp, "{cmd}");
            err.to_string()
        };
        for cmd in ["build", "run", "test", "bench", "gdb", "lint", "describe"] {
            let text = help_of(cmd);
            assert!(
                text.contains(&format!("Usage: cargo xtask {cmd}")),
                "{text}"
            );
        }
        let run = help_of("run");
        for option in ["--machine <M>", "--system <FILE>", "[WORDS]..."] {
            assert!(run.contains(option), "{option} missing from\n{run}");
        }
        assert!(help_of("bench").contains("--profile <ID>"));
        assert!(help_of("describe").contains("--dot"));
    }
}
