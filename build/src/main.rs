//! `cargo xtask`: Septum's host build tool.
//!
//! Builds the kernel and tasks for the machine target, checks that the kernel
//! ELF is bootable, packs the boot image, boots it in QEMU, and runs the host
//! tests and the scenario tests with one closing `N passed, N failed,
//! N skipped` line, and boots the benchmark task to report instruction
//! counts.
//! It installs what it needs first (the pinned target; QEMU when run as root).
//! Logic that decides anything (scenario files, verdicts, ELF checks, image
//! corruption, test counting) lives in modules of its own with unit tests;
//! the modules that start processes only wire them together.
#![forbid(unsafe_code)]

mod bench;
mod bench_run;
mod host_tests;
mod image;
mod judge;
mod kernel_check;
mod profile;
mod qemu;
mod scenario;
mod system;
mod test_run;
mod tools;

use scenario::Machine;
use std::process::ExitCode;
use tools::{Result, Workspace};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  build                       build everything (release), check the kernel ELF,
                              pack target/septum/default.img
  run [--machine M] [-- W..]  build, then boot in QEMU on this terminal;
                              M is q35 (default), pc or microvm; words W are
                              added to the kernel command line
  test [FILTER]               host unit tests, build, every scenario in
                              tests/scenarios; with FILTER only the scenarios
                              whose name contains it (no host tests)
  bench                       build, boot the benchmark task under -icount,
                              print its instruction counts and write
                              target/bench/results.jsonl
  bench --profile ID          trace one figure's measurement instruction by
                              instruction under QEMU; print its instructions
                              per function, kernel and user, in the order they
                              run and by cost; write target/bench/ID.trace
  lint                        rustfmt check and clippy (-D warnings), host and machine
  help                        this text";

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
enum Cmd {
    Build,
    Run {
        machine: Machine,
        words: Vec<String>,
    },
    Test {
        filter: Option<String>,
    },
    Bench,
    /// `bench --profile ID`
    Profile {
        id: String,
    },
    Lint,
    Help,
}

fn parse_args(args: &[String]) -> Result<Cmd> {
    let usage_err = |what: String| Err(format!("{what}\n\n{USAGE}"));
    let Some((cmd, rest)) = args.split_first() else {
        return usage_err("no command given".into());
    };
    match cmd.as_str() {
        "build" => match rest {
            [] => Ok(Cmd::Build),
            [r] if r == "--release" => Ok(Cmd::Build),
            [other, ..] => usage_err(format!(
                "`build` takes no argument {other:?} (it always builds release)"
            )),
        },
        "run" => {
            let mut machine = Machine::Q35;
            let mut words = Vec::new();
            let mut it = rest.iter();
            while let Some(arg) = it.next() {
                let value = if arg == "--machine" {
                    match it.next() {
                        Some(v) => Some(v.as_str()),
                        None => {
                            return usage_err(
                                "`--machine` needs a value: q35, pc or microvm".into(),
                            );
                        }
                    }
                } else {
                    arg.strip_prefix("--machine=")
                };
                if let Some(v) = value {
                    machine = match Machine::from_name(v) {
                        Some(m) => m,
                        None => {
                            return usage_err(format!(
                                "unknown machine {v:?}; use q35, pc or microvm"
                            ));
                        }
                    };
                } else if arg == "--" {
                    words.extend(it.by_ref().cloned());
                } else if arg == "--release" {
                } else {
                    return usage_err(format!(
                        "`run` does not take {arg:?}; put kernel command-line words after `--`"
                    ));
                }
            }
            Ok(Cmd::Run { machine, words })
        }
        "test" => match rest {
            [] => Ok(Cmd::Test { filter: None }),
            [f] if !f.starts_with('-') => Ok(Cmd::Test {
                filter: Some(f.clone()),
            }),
            _ => usage_err("`test` takes at most one argument, a scenario name filter".into()),
        },
        "bench" if rest.is_empty() => Ok(Cmd::Bench),
        "bench" => match rest {
            [p, id] if p == "--profile" && !id.starts_with('-') => {
                Ok(Cmd::Profile { id: id.clone() })
            }
            [p] if p.starts_with("--profile=") => Ok(Cmd::Profile {
                id: p["--profile=".len()..].to_string(),
            }),
            [p] if p == "--profile" => usage_err("`--profile` needs a figure id".into()),
            _ => usage_err("`bench` takes no arguments but `--profile ID`".into()),
        },
        "lint" if rest.is_empty() => Ok(Cmd::Lint),
        "lint" => usage_err("`lint` takes no arguments".into()),
        "help" | "--help" | "-h" => Ok(Cmd::Help),
        other => usage_err(format!("unknown command {other:?}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = parse_args(&args).and_then(|cmd| execute(&Workspace::locate(), cmd));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn execute(ws: &Workspace, cmd: Cmd) -> Result<ExitCode> {
    match cmd {
        Cmd::Help => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Build => {
            build_default(ws)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run { machine, words } => run(ws, machine, &words),
        Cmd::Test { filter } => {
            let total = test_run::test(ws, filter.as_deref())?;
            println!("{total}");
            Ok(if total.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::Bench => {
            tools::ensure_qemu()?;
            let (kernel, _) = build_default(ws)?;
            bench_run::bench(ws, &kernel)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Profile { id } => {
            tools::ensure_qemu()?;
            profile::profile(ws, &id)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Lint => lint(ws),
    }
}

/// Build, check and pack the default system; print where everything is.
fn build_default(ws: &Workspace) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let built = system::build(ws)?;
    let image = system::pack_default(ws)?;
    println!(
        "kernel      {} (PVH entry {:#x}, {} loadable segments, checks passed)",
        ws.show(&built.kernel),
        built.info.pvh_entry,
        built.info.loads
    );
    println!(
        "boot image  {} (root task: {})",
        ws.show(&image),
        system::DEFAULT_ROOT
    );
    Ok((built.kernel, image))
}

fn run(ws: &Workspace, machine: Machine, words: &[String]) -> Result<ExitCode> {
    tools::ensure_qemu()?;
    let (kernel, image) = build_default(ws)?;
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
    for p in system::MACHINE_PACKAGES
        .into_iter()
        .chain(["septum-idl", "septum-interfaces"])
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

    fn parse(args: &[&str]) -> Result<Cmd> {
        parse_args(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn commands() {
        assert_eq!(parse(&["build"]), Ok(Cmd::Build));
        assert_eq!(parse(&["build", "--release"]), Ok(Cmd::Build));
        assert_eq!(parse(&["lint"]), Ok(Cmd::Lint));
        assert_eq!(parse(&["bench"]), Ok(Cmd::Bench));
        for args in [
            &["bench", "--profile", "a.b"][..],
            &["bench", "--profile=a.b"],
        ] {
            assert_eq!(parse(args), Ok(Cmd::Profile { id: "a.b".into() }));
        }
        assert_eq!(parse(&["help"]), Ok(Cmd::Help));
        assert_eq!(parse(&["test"]), Ok(Cmd::Test { filter: None }));
        assert_eq!(
            parse(&["test", "fault"]),
            Ok(Cmd::Test {
                filter: Some("fault".into())
            })
        );
        assert_eq!(
            parse(&["run"]),
            Ok(Cmd::Run {
                machine: Machine::Q35,
                words: vec![]
            })
        );
        assert_eq!(
            parse(&["run", "--machine", "microvm", "--", "a=1", "--b"]),
            Ok(Cmd::Run {
                machine: Machine::Microvm,
                words: vec!["a=1".into(), "--b".into()]
            })
        );
        assert_eq!(
            parse(&["run", "--machine=pc"]),
            Ok(Cmd::Run {
                machine: Machine::Pc,
                words: vec![]
            })
        );
    }

    #[test]
    fn mistakes_are_explained() {
        for (args, needle) in [
            (&[][..], "no command"),
            (&["bulid"][..], "unknown command \"bulid\""),
            (&["build", "--debug"][..], "always builds release"),
            (&["run", "--machine"][..], "needs a value"),
            (
                &["run", "--machine", "isapc"][..],
                "unknown machine \"isapc\"",
            ),
            (&["run", "quiet"][..], "after `--`"),
            (&["test", "a", "b"][..], "at most one"),
            (&["lint", "x"][..], "no arguments"),
            (&["bench", "--release"][..], "no arguments"),
            (&["bench", "--profile"][..], "needs a figure id"),
            (&["bench", "--profile", "a", "b"][..], "no arguments"),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(needle), "{args:?}: {err}");
            assert!(err.contains("usage: cargo xtask"), "{err}");
        }
    }
}
