//! `cargo xtask gdb`: boot a system stopped, with QEMU's GDB stub, and
//! debug it with gdb, the kernel's and every task's symbols loaded where
//! they run.
//!
//! The kernel is one ELF at its link addresses. Every task is a static ELF
//! linked at 4 MiB (`kernel/user/task.ld`), so `add-symbol-file` of a
//! program puts its symbols where it runs, no offsets needed. The programs
//! share those addresses, each in its own address space, and two things
//! follow. gdb cannot hold two objfiles at one address without mixing them
//! up (gdb 13 fails an internal assertion in `backtrace`), so it holds the
//! kernel's symbols and one program's, the one *in focus*; a stop in user
//! mode focuses the program that runs (`septum.py`). And a QEMU breakpoint
//! is a virtual address whatever address space runs: it stops in every
//! task that executes it. So each program gets a *fingerprint*: an address
//! in the code every task maps, and the word its program has there, which
//! no other program of the image has there. The GDB stub reads memory
//! through the current CR3, so reading that word tells which program runs;
//! `break-in DOMAIN LOCATION` stops only when it is DOMAIN's. Domains
//! running the same program share a fingerprint; `docs/debugging.md` shows
//! how to tell them apart by CR3.
//!
//! Two ways to run: interactively (the tool starts QEMU in a process group
//! of its own, so Ctrl-C in gdb stops the guest and not QEMU, then becomes
//! gdb), and in batch mode for scripts and tests ([`batch`]): gdb's output
//! and the console are captured, both under timeouts.

use crate::description::Loaded;
use crate::judge::Outcome;
use crate::profile::symbols::Binary;
use crate::qemu::{self, Boot};
use crate::system;
use crate::tools::{Result, Workspace};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The gdb binary.
pub const GDB: &str = "gdb";

/// Where every task's program is linked (`kernel/user/task.ld`).
pub const TASK_BASE: u64 = 0x40_0000;

/// How long QEMU may take to open its GDB socket.
const CONNECT_SECS: u64 = 30;

/// A program packed in the image, for gdb.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// Its boot-image name (the binary's name).
    pub name: String,
    /// The ELF file with its symbols.
    pub path: PathBuf,
    /// The fingerprint: an address every task maps, and this program's
    /// word there, which no other program packed has there.
    pub fingerprint: Option<(u64, u64)>,
}

/// What the setup script loads and defines.
#[derive(Clone, Debug)]
pub struct Session {
    /// What is debugged, for the script's header (`build/systems/default.toml`).
    pub shown: String,
    /// The kernel ELF.
    pub kernel: PathBuf,
    /// The root task's program first, then each domain's (once each).
    pub programs: Vec<Program>,
    /// Each domain's name and its program's name.
    pub domains: Vec<(String, String)>,
    /// Where the console is written (interactive runs), for `console`.
    pub console: Option<PathBuf>,
}

/// For each program's code (the executable segment at [`TASK_BASE`], as
/// `(address, bytes)`), its fingerprint: the first 8-aligned address, below
/// the end of the shortest program's code so that every task maps it, whose
/// 64-bit word in this program differs from the word there in every other.
/// `None` for a program with no such word (another program with the same
/// code, or no code at [`TASK_BASE`]).
pub fn fingerprints(code: &[Option<(u64, &[u8])>]) -> Vec<Option<(u64, u64)>> {
    let word = |c: &Option<(u64, &[u8])>, at: u64| -> Option<u64> {
        let (base, bytes) = (*c)?;
        let start = usize::try_from(at.checked_sub(base)?).ok()?;
        let b = bytes.get(start..start.checked_add(8)?)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    };
    // Every task maps [TASK_BASE, end): the shortest code starting there.
    let end = code
        .iter()
        .map(|c| match c {
            Some((base, bytes)) if *base == TASK_BASE => TASK_BASE + bytes.len() as u64,
            _ => TASK_BASE,
        })
        .min()
        .unwrap_or(TASK_BASE);
    (0..code.len())
        .map(|i| {
            (TASK_BASE..end.saturating_sub(7))
                .step_by(8)
                .find_map(|at| {
                    let mine = word(&code[i], at)?;
                    code.iter()
                        .enumerate()
                        .all(|(j, other)| j == i || word(other, at) != Some(mine))
                        .then_some((at, mine))
                })
        })
        .collect()
}

/// `text` as a Python string literal.
fn py_str(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if (' '..='~').contains(&c) => out.push(c),
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// The helpers the setup script ends with (`break-in`, `focus`,
/// `domains`, `console`, the stop and quit hooks, the connection).
const HELPERS: &str = include_str!("septum.py");

/// The setup script gdb runs first, in Python: `SESSION` (what to load,
/// each program's fingerprint, the domains, the socket `socket` to
/// connect to), then [`HELPERS`].
pub fn setup_script(s: &Session, socket: &Path) -> String {
    let mut t = format!(
        "# Written by `cargo xtask gdb` for {}; each run writes it again.\nSESSION = {{\n",
        s.shown
    );
    let path = |p: &Path| py_str(&p.display().to_string());
    let _ = writeln!(t, "    \"kernel\": {},", path(&s.kernel));
    t.push_str("    \"programs\": [\n");
    for p in &s.programs {
        let fp = match p.fingerprint {
            Some((at, word)) => format!("({at:#x}, {word:#x})"),
            None => "None".into(),
        };
        let _ = writeln!(
            t,
            "        {{\"name\": {}, \"path\": {}, \"fingerprint\": {fp}}},",
            py_str(&p.name),
            path(&p.path)
        );
    }
    t.push_str("    ],\n    \"domains\": [\n");
    for (domain, program) in &s.domains {
        let _ = writeln!(
            t,
            "        {{\"name\": {}, \"program\": {}}},",
            py_str(domain),
            py_str(program)
        );
    }
    t.push_str("    ],\n");
    let console = s.console.as_deref().map_or("None".into(), path);
    let _ = writeln!(t, "    \"console\": {console},");
    let _ = writeln!(t, "    \"socket\": {},\n}}\n", path(socket));
    t.push_str(HELPERS);
    t
}

/// The session for a checked description: the kernel, the root task and
/// every domain's program, with their fingerprints. Every program must be
/// built.
pub fn session(ws: &Workspace, loaded: &Loaded, console: Option<PathBuf>) -> Result<Session> {
    let programs: Vec<String> = loaded
        .system
        .domains
        .iter()
        .map(|d| d.program.clone())
        .collect();
    let domains = loaded
        .system
        .domains
        .iter()
        .map(|d| (d.name.clone(), d.program.clone()))
        .collect();
    session_of(
        ws,
        &loaded.shown,
        system::DEFAULT_ROOT,
        &programs,
        domains,
        console,
    )
}

/// The session for an image of the root task `root` and `programs`
/// (repeats are loaded once), with `domains` (name, program); `shown`
/// names what is debugged.
pub fn session_of(
    ws: &Workspace,
    shown: &str,
    root: &str,
    programs: &[String],
    domains: Vec<(String, String)>,
    console: Option<PathBuf>,
) -> Result<Session> {
    let mut names: Vec<String> = vec![root.to_string()];
    for p in programs {
        if !names.contains(p) {
            names.push(p.clone());
        }
    }
    let binaries = names
        .iter()
        .map(|n| {
            let path = ws.machine_bin_dir().join(n);
            let bin = Binary::read(&path)
                .map_err(|e| format!("{e}; is '{n}' built (cargo xtask build)?"))?;
            Ok((path, bin))
        })
        .collect::<Result<Vec<_>>>()?;
    let code: Vec<Option<(u64, &[u8])>> = binaries
        .iter()
        .map(|(_, b)| b.segment_at(TASK_BASE))
        .collect();
    let prints = fingerprints(&code);
    Ok(Session {
        shown: shown.to_string(),
        kernel: ws.kernel(),
        programs: names
            .into_iter()
            .zip(binaries)
            .zip(prints)
            .map(|((name, (path, _)), fingerprint)| Program {
                name,
                path,
                fingerprint,
            })
            .collect(),
        domains,
        console,
    })
}

/// QEMU's options for a debugged boot: stopped before the first
/// instruction, the GDB stub on the Unix socket `socket`.
pub fn stub_args(socket: &Path) -> Vec<OsString> {
    let mut spec = OsString::from("unix:");
    spec.push(socket);
    spec.push(",server=on,wait=off");
    vec!["-S".into(), "-gdb".into(), spec]
}

/// A Unix socket path of our own (socket paths are short: not under target/).
fn socket_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("septum-gdb-{}-{tag}.sock", std::process::id()))
}

/// Wait until QEMU has made `socket`, or has ended.
fn wait_for_socket(socket: &Path, qemu: &mut Child) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(CONNECT_SECS);
    while !socket.exists() {
        if let Ok(Some(status)) = qemu.try_wait() {
            return Err(format!("QEMU ended ({status}) before opening its GDB stub"));
        }
        if Instant::now() >= deadline {
            let _ = qemu.kill();
            let _ = qemu.wait();
            return Err(format!(
                "QEMU did not open its GDB stub at {} within {CONNECT_SECS} s",
                socket.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// What a batch run left behind.
#[derive(Debug)]
pub struct BatchRun {
    /// QEMU's console, messages and end.
    pub qemu: qemu::Captured,
    /// Everything gdb printed, standard output and errors in the order written.
    pub gdb_output: String,
    /// gdb's exit status; `None` if it was killed at the timeout.
    pub gdb_status: Option<i32>,
    /// QEMU's command line.
    pub args: Vec<OsString>,
}

/// Boot `boot` stopped, run gdb without a terminal (the setup script for
/// `session`, then the commands in `commands`), and capture both. QEMU is
/// given until `timeout` (from the start) to end by itself once gdb is
/// done if `wait_for_qemu`, else it is ended at once. `name` names the
/// script and gdb's log under `target/septum/`.
pub fn batch(
    ws: &Workspace,
    name: &str,
    boot: &Boot<'_>,
    session: &Session,
    commands: &Path,
    timeout: Duration,
    wait_for_qemu: bool,
) -> Result<BatchRun> {
    let start = Instant::now();
    let socket = socket_path(name);
    let _ = std::fs::remove_file(&socket);
    let mut args = qemu::captured_args(boot);
    args.extend(stub_args(&socket));
    let mut child = Command::new(qemu::QEMU)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", qemu::QEMU))?;
    let console = qemu::drain(child.stdout.take().expect("stdout was piped"));
    let stderr = qemu::drain(child.stderr.take().expect("stderr was piped"));
    let gdb = wait_for_socket(&socket, &mut child).and_then(|()| {
        let script = ws.out_dir().join("gdb").join(format!("{name}.py"));
        system::write(ws, &script, setup_script(session, &socket).as_bytes())?;
        let log = ws.logs_dir().join(format!("{name}.gdb.log"));
        system::write(ws, &log, b"")?;
        let out = File::create(&log).map_err(|e| format!("cannot write {}: {e}", ws.show(&log)))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("cannot write {}: {e}", ws.show(&log)))?;
        let mut gdb = Command::new(GDB)
            .args(["-nx", "-batch", "-x"])
            .arg(&script)
            .arg("-x")
            .arg(commands)
            .current_dir(&ws.root)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {GDB}: {e}"))?;
        let status = qemu::wait_with_timeout(&mut gdb, timeout.saturating_sub(start.elapsed()))
            .map_err(|e| format!("waiting for {GDB}: {e}"))?;
        let output = std::fs::read_to_string(&log).unwrap_or_default();
        Ok((status, output))
    });
    let outcome = match &gdb {
        Ok((Outcome::Exited(_), _)) if wait_for_qemu => {
            qemu::wait_with_timeout(&mut child, timeout.saturating_sub(start.elapsed()))
        }
        _ => {
            let _ = child.kill();
            child.wait().map(|s| match s.code() {
                Some(code) => Outcome::Exited(code),
                None => Outcome::Signalled(-1),
            })
        }
    }
    .map_err(|e| format!("waiting for {}: {e}", qemu::QEMU))?;
    let _ = std::fs::remove_file(&socket);
    let (status, gdb_output) = gdb?;
    let join = |h: std::thread::JoinHandle<Vec<u8>>| {
        String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()
    };
    Ok(BatchRun {
        qemu: qemu::Captured {
            console: join(console),
            stderr: join(stderr),
            outcome,
        },
        gdb_output,
        gdb_status: match status {
            Outcome::Exited(code) => Some(code),
            _ => None,
        },
        args,
    })
}

/// `cargo xtask gdb` without `--batch`: start QEMU stopped, in a process
/// group of its own (Ctrl-C in gdb must interrupt the guest, not kill
/// QEMU), its console in `target/septum/logs/gdb-<name>.log`, then become
/// gdb. Returns only on failure.
pub fn interactive(
    ws: &Workspace,
    name: &str,
    boot: &Boot<'_>,
    session: &Session,
    commands: Option<&Path>,
) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let socket = socket_path(name);
    let _ = std::fs::remove_file(&socket);
    let mut args = qemu::captured_args(boot);
    args.extend(stub_args(&socket));
    let console = session
        .console
        .clone()
        .unwrap_or_else(|| ws.logs_dir().join(format!("gdb-{name}.log")));
    system::write(ws, &console, b"")?;
    let out =
        File::create(&console).map_err(|e| format!("cannot write {}: {e}", ws.show(&console)))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("cannot write {}: {e}", ws.show(&console)))?;
    let mut child = Command::new(qemu::QEMU)
        .args(&args)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", qemu::QEMU))?;
    wait_for_socket(&socket, &mut child)?;
    let script = ws.out_dir().join("gdb").join(format!("{name}.py"));
    system::write(ws, &script, setup_script(session, &socket).as_bytes())?;
    println!(
        "QEMU (pid {}) waits, stopped, for gdb; the console goes to {} (`console` in gdb shows its end)\n\
         gdb setup: {}\n\
         `domains` lists the domains; `break-in DOMAIN LOCATION` stops in one of them; `quit` ends QEMU too",
        child.id(),
        ws.show(&console),
        ws.show(&script)
    );
    // gdb's `quit` ends QEMU (the hook in septum.py), but a gdb that dies
    // (its terminal closed) would leave it running: a watcher ends QEMU
    // once this process, gdb after the exec below, is gone.
    let watch = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill {qemu} 2>/dev/null",
        me = std::process::id(),
        qemu = child.id()
    );
    if let Err(e) = Command::new("sh")
        .args(["-c", &watch])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        eprintln!(
            "warning: no watcher for QEMU ({e}): end it yourself if gdb dies (pid {})",
            child.id()
        );
    }
    let mut gdb = Command::new(GDB);
    gdb.arg("-q").arg("-x").arg(&script).current_dir(&ws.root);
    if let Some(c) = commands {
        gdb.arg("-x").arg(c);
    }
    let err = gdb.exec();
    let _ = child.kill();
    Err(format!("cannot start {GDB}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_programs_apart() {
        // Same first word (the shared entry), different later words.
        let a: Vec<u8> = [1u64, 2, 3, 4]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        let b: Vec<u8> = [1u64, 2, 9, 4, 5]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        let c: Vec<u8> = [1u64, 7, 3].iter().flat_map(|w| w.to_le_bytes()).collect();
        let code = [
            Some((TASK_BASE, &a[..])),
            Some((TASK_BASE, &b[..])),
            Some((TASK_BASE, &c[..])),
        ];
        assert_eq!(
            fingerprints(&code),
            vec![
                // a's words at +8 and +16 are b's and c's.
                None,
                Some((TASK_BASE + 16, 9)),
                Some((TASK_BASE + 8, 7)),
            ]
        );
        // Only below the shortest program's end: c ends at +24.
        let d: Vec<u8> = [1u64, 2, 3, 8]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        assert_eq!(
            fingerprints(&[Some((TASK_BASE, &a[..])), Some((TASK_BASE, &d[..]))]),
            vec![Some((TASK_BASE + 24, 4)), Some((TASK_BASE + 24, 8))]
        );
        assert_eq!(
            fingerprints(&[Some((TASK_BASE, &a[..])), Some((TASK_BASE, &c[..]))]),
            vec![Some((TASK_BASE + 8, 2)), Some((TASK_BASE + 8, 7))]
        );
        // A program identical to another has none; nor one without code there.
        assert_eq!(
            fingerprints(&[Some((TASK_BASE, &a[..])), Some((TASK_BASE, &a[..])), None]),
            vec![None, None, None]
        );
        // Alone, the first word is enough.
        assert_eq!(
            fingerprints(&[Some((TASK_BASE, &a[..]))]),
            vec![Some((TASK_BASE, 1))]
        );
    }

    #[test]
    fn python_strings() {
        assert_eq!(py_str("/a b/c"), "\"/a b/c\"");
        assert_eq!(py_str("q\"\\"), "\"q\\\"\\\\\"");
        assert_eq!(py_str("é\n"), "\"\\U000000e9\\U0000000a\"");
    }

    #[test]
    fn the_setup_script() {
        let s = Session {
            shown: "build/systems/default.toml".into(),
            kernel: "/t/septum-kernel".into(),
            programs: vec![
                Program {
                    name: "root-task".into(),
                    path: "/t/root-task".into(),
                    fingerprint: Some((0x400008, 0x1234)),
                },
                Program {
                    name: "echo-server".into(),
                    path: "/t/echo-server".into(),
                    fingerprint: Some((0x400010, 0xffff_0000_0000_0001)),
                },
                Program {
                    name: "twin".into(),
                    path: "/t/twin".into(),
                    fingerprint: None,
                },
            ],
            domains: vec![
                ("server".into(), "echo-server".into()),
                ("my-twin".into(), "twin".into()),
            ],
            console: Some("/t/logs/gdb-default.log".into()),
        };
        let script = setup_script(&s, Path::new("/tmp/s.sock"));
        let want = r#"SESSION = {
    "kernel": "/t/septum-kernel",
    "programs": [
        {"name": "root-task", "path": "/t/root-task", "fingerprint": (0x400008, 0x1234)},
        {"name": "echo-server", "path": "/t/echo-server", "fingerprint": (0x400010, 0xffff000000000001)},
        {"name": "twin", "path": "/t/twin", "fingerprint": None},
    ],
    "domains": [
        {"name": "server", "program": "echo-server"},
        {"name": "my-twin", "program": "twin"},
    ],
    "console": "/t/logs/gdb-default.log",
    "socket": "/tmp/s.sock",
}
"#;
        assert!(script.contains(want), "{script}");
        assert!(script.ends_with(HELPERS), "{script}");
    }

    #[test]
    fn stub_options() {
        assert_eq!(
            qemu::display(&stub_args(Path::new("/tmp/x.sock"))),
            "qemu-system-x86_64 -S -gdb unix:/tmp/x.sock,server=on,wait=off"
        );
    }
}
