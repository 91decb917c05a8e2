//! The guest's C tests: small static programs (`tests/guest-c/*.c`) built
//! with `musl-gcc -static -O2`, run once on the host's Linux to record
//! what they print, and packed into the guest's root filesystem with that
//! record: `/opt/c/NAME` and `/opt/c/NAME.expected`. For each, the
//! guest's init runs a line that runs the program in `/tmp`, appends its
//! exit status, and compares the output with the host's line for line
//! (busybox `cmp`; on a difference `diff` shows it), printing the
//! on-target case `septum-test: c_NAME ok` or `FAILED`. Without
//! `musl-gcc` every case reports `skipped` with the reason, so the
//! harness counts them as skipped, never as passed.

use crate::guest::Entry;
use crate::tools::{Result, Workspace};
use std::path::Path;
use std::process::Command;

/// Where the sources are, from the workspace root.
pub const SOURCES: &str = "tests/guest-c";
/// Where the programs and their expected output lie in the guest.
pub const GUEST_DIR: &str = "opt/c";
/// The compiler, from Debian's `musl-tools`.
pub const CC: &str = "musl-gcc";

/// The C tests' files for the root filesystem and their init lines.
#[derive(Debug, Default)]
pub struct CTests {
    pub entries: Vec<Entry>,
    pub init: String,
}

/// The tests' names: each `*.c` of `dir`, sorted, without `.c`.
pub fn names(dir: &Path) -> Result<Vec<String>> {
    let read = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut names: Vec<String> = read
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".c").map(str::to_string)
        })
        .collect();
    names.sort();
    Ok(names)
}

/// The init line that runs test `name` on the guest and compares its
/// output (with `exit N` appended, as [`expected`] appends it on the host)
/// with the host's; or, with `skipped`, reports the case skipped. The
/// shim logs each command line it starts, and the scenarios reject
/// `FAILED` anywhere: the shell joins `FAIL''ED`, so only a failure
/// prints the word.
pub fn init_line(name: &str, skipped: Option<&str>) -> String {
    let dir = GUEST_DIR;
    if let Some(why) = skipped {
        return format!("/bin/busybox echo septum-test: c_{name} skipped {why}\n");
    }
    format!(
        "/bin/sh -c \"cd /tmp && /{dir}/{name} > c-{name}.out; echo exit $? >> c-{name}.out; \
         if /bin/busybox cmp -s /{dir}/{name}.expected c-{name}.out; \
         then echo septum-test: c_{name} ok; \
         else /bin/busybox diff /{dir}/{name}.expected c-{name}.out; \
         echo septum-test: c_{name} FAIL''ED its output differs from the host Linux one; fi; \
         /bin/busybox rm c-{name}.out\"\n"
    )
}

/// What a run printed, as the guest's line records it: its standard
/// output, then `exit N` (or `killed by signal N`).
pub fn expected(stdout: &[u8], status: std::process::ExitStatus) -> Vec<u8> {
    use std::os::unix::process::ExitStatusExt;
    let mut out = stdout.to_vec();
    match (status.code(), status.signal()) {
        (Some(c), _) => out.extend_from_slice(format!("exit {c}\n").as_bytes()),
        (None, Some(s)) => out.extend_from_slice(format!("exit {}\n", 128 + s).as_bytes()),
        (None, None) => out.extend_from_slice(b"exit ?\n"),
    }
    out
}

/// Whether `musl-gcc` runs.
fn have_cc() -> bool {
    Command::new(CC)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Build every test with `musl-gcc`, run each on the host in a fresh
/// directory, and return the files and init lines for the guest. Without
/// `musl-gcc` the init lines report each case skipped, and the build says
/// so; a test that does not compile stops the build.
pub fn build(ws: &Workspace) -> Result<CTests> {
    let src = ws.root.join(SOURCES);
    let names = names(&src)?;
    let mut c = CTests::default();
    if !have_cc() {
        let why =
            "musl-gcc is not installed (Debian: apt-get install musl-tools; .ci/run installs it)";
        eprintln!("septum-build: warning: the guest's C tests are skipped: {why}");
        for n in &names {
            c.init.push_str(&init_line(n, Some(why)));
        }
        return Ok(c);
    }
    let out = ws.target_dir().join("guest").join("c");
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", ws.show(&out)))?;
    c.entries.push(Entry::Dir {
        path: "opt".into(),
        mode: 0o755,
    });
    c.entries.push(Entry::Dir {
        path: GUEST_DIR.into(),
        mode: 0o755,
    });
    for n in &names {
        let bin = out.join(n);
        let mut cc = Command::new(CC);
        cc.args(["-static", "-O2", "-Wall", "-o"])
            .arg(&bin)
            .arg(src.join(format!("{n}.c")));
        crate::tools::run(&mut cc)?;
        // A fresh working directory for each run: the tests make and
        // remove files in theirs, as they do in the guest's /tmp.
        let cwd = out.join(format!("run-{n}"));
        let _ = std::fs::remove_dir_all(&cwd);
        std::fs::create_dir_all(&cwd)
            .map_err(|e| format!("cannot create {}: {e}", ws.show(&cwd)))?;
        let run = Command::new(&bin)
            .current_dir(&cwd)
            .env_clear()
            .output()
            .map_err(|e| format!("cannot run {} on the host: {e}", ws.show(&bin)))?;
        let want = expected(&run.stdout, run.status);
        crate::system::write(ws, &out.join(format!("{n}.expected")), &want)?;
        let data =
            std::fs::read(&bin).map_err(|e| format!("cannot read {}: {e}", ws.show(&bin)))?;
        c.entries.push(Entry::File {
            path: format!("{GUEST_DIR}/{n}"),
            mode: 0o755,
            data,
        });
        c.entries.push(Entry::File {
            path: format!("{GUEST_DIR}/{n}.expected"),
            mode: 0o644,
            data: want,
        });
        c.init.push_str(&init_line(n, None));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn the_tests_are_the_c_files() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(SOURCES);
        let n = names(&dir).unwrap();
        assert!(n.len() >= 4, "{n:?}");
        assert!(
            n.iter().all(|n| !n.contains('.') && !n.contains(' ')),
            "{n:?}"
        );
    }

    #[test]
    fn a_line_compares_or_reports_skipped() {
        let l = init_line("files", None);
        assert!(l.starts_with("/bin/sh -c \"cd /tmp && /opt/c/files > c-files.out;"));
        assert!(l.contains("cmp -s /opt/c/files.expected c-files.out"));
        assert!(l.contains("then echo septum-test: c_files ok;"));
        assert!(l.contains("echo septum-test: c_files FAIL''ED"));
        assert!(
            !l.contains("FAILED"),
            "the logged command line must not read as a failure"
        );
        assert!(l.ends_with("\"\n"));
        assert_eq!(l.matches('"').count(), 2, "one quoted argument");
        let s = init_line("files", Some("no musl-gcc"));
        assert_eq!(
            s,
            "/bin/busybox echo septum-test: c_files skipped no musl-gcc\n"
        );
    }

    #[test]
    fn the_record_ends_with_the_exit_status() {
        let ok = std::process::ExitStatus::from_raw(0);
        assert_eq!(expected(b"a\nb\n", ok), b"a\nb\nexit 0\n");
        let three = std::process::ExitStatus::from_raw(3 << 8);
        assert_eq!(expected(b"", three), b"exit 3\n");
        let segv = std::process::ExitStatus::from_raw(11);
        assert_eq!(expected(b"x\n", segv), b"x\nexit 139\n");
    }
}
