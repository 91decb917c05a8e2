//! The guest's root filesystem: Debian's busybox-static, fetched at a
//! pinned version and checked against its sha256, the guest's own test
//! programs, `/etc` and the `/dev` nodes, packed as a cpio (newc) archive
//! that the shim's build embeds (`SEPTUM_GUEST_CPIO`).
//!
//! The cpio writer and the file list are plain functions with unit tests;
//! fetching and extracting run `apt-get download` (no root needed; a
//! direct download from deb.debian.org when apt does not know the
//! package) and `dpkg-deb -x`.

use crate::tools::{self, Result, Workspace};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The pinned package: Debian 12's busybox-static.
pub const BUSYBOX_PACKAGE: &str = "busybox-static";
pub const BUSYBOX_VERSION: &str = "1:1.35.0-4+deb12u1+b1";
/// The file apt-get download writes (the epoch's colon escaped).
pub const BUSYBOX_DEB: &str = "busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb";
/// Where the same file lies on a Debian mirror.
pub const BUSYBOX_URL: &str = "https://deb.debian.org/debian/pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb";
pub const BUSYBOX_SHA256: &str = "3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744";

/// The guest's test programs (machine binaries of `l4linux-shim/probe`),
/// installed in `/bin`.
pub const PROGRAMS: [&str; 2] = ["linux-probe", "linux-probe-pie"];

/// The applets linked when the pinned busybox cannot be run on the build
/// machine to list its own (`busybox --list-full`): the ones the
/// scenarios and a shell session use, each where Debian installs it.
const FALLBACK_APPLETS: [&str; 40] = [
    "bin/sh",
    "bin/ash",
    "bin/echo",
    "bin/cat",
    "bin/ls",
    "bin/uname",
    "bin/true",
    "bin/false",
    "bin/grep",
    "bin/cp",
    "bin/mv",
    "bin/rm",
    "bin/mkdir",
    "bin/rmdir",
    "bin/ln",
    "bin/sed",
    "bin/ps",
    "bin/kill",
    "bin/sleep",
    "bin/touch",
    "bin/chmod",
    "bin/readlink",
    "bin/pwd",
    "bin/vi",
    "bin/df",
    "bin/stat",
    "usr/bin/wc",
    "usr/bin/find",
    "usr/bin/sort",
    "usr/bin/head",
    "usr/bin/tail",
    "usr/bin/free",
    "usr/bin/uptime",
    "usr/bin/test",
    "usr/bin/[",
    "usr/bin/cmp",
    "usr/bin/printf",
    "usr/bin/env",
    "usr/bin/id",
    "sbin/init",
];

/// What init runs, one program a line (`/etc/septum-init`): on the debug
/// console the plain lines, one after another; on a terminal (the serial
/// console) the `tty:` lines, each a session with the console as its
/// controlling terminal.
pub const INIT: &str = "\
tty:/bin/sh
/bin/linux-probe
/bin/linux-probe-pie
/bin/busybox echo hello from busybox on Septum
/bin/busybox cat /etc/passwd
/bin/busybox ls /
/bin/busybox uname -a
/bin/ls /dev
/bin/linux-probe segv
/bin/true
/bin/sh -c \"echo sh runs a builtin; exit 3\"
/bin/sh -c \"exec /bin/echo exec works\"
/bin/sh -c \"cat /etc/hostname\"
/bin/sh -c \"ls /etc; echo sh forked ls and waited for it\"
/bin/sh -c \"/bin/false; echo false gave $?\"
/bin/sh -c \"echo one two | cat\"
/bin/sh -c \"cat /etc/passwd | grep root\"
/bin/sh -c \"ls /bin | wc -l\"
/bin/sh -c \"cat /bin/busybox | wc -c\"
/bin/sh -c \"echo to stderr through dup2 >&2\"
/bin/linux-probe cloexec
/bin/linux-probe processes
/bin/sh -c \"i=0; while [ $i -lt 200 ]; do /bin/true; i=$((i+1)); done; echo $i fork/exec/exit/wait cycles\"
/bin/linux-probe bench
/bin/linux-probe signals
/bin/sh -c \"trap 'echo got USR1' USR1; kill -USR1 $$; echo after trap\"
/bin/sh -c \"/bin/busybox yes | /bin/grep -c x & kill $!; wait $!; echo killed job gave $?\"
/bin/sh -c \"while :; do :; done & kill $!; wait $!; echo busy loop gave $?\"
/bin/sh -c \"/bin/busybox yes | /bin/grep -c x & kill -STOP $!; kill -CONT $!; kill $!; wait $!; echo stopped and continued job gave $?\"
/bin/sh -c \"/bin/busybox yes | /bin/busybox head -n 2\"
/bin/linux-probe fs
";

const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

/// One entry of the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Dir {
        path: String,
        mode: u32,
    },
    File {
        path: String,
        mode: u32,
        data: Vec<u8>,
    },
    Symlink {
        path: String,
        target: String,
    },
    CharDev {
        path: String,
        major: u32,
        minor: u32,
    },
}

/// Write `entries` as a cpio newc archive (what Linux's initramfs reads).
pub fn cpio(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut put = |ino: u32, mode: u32, rdev: (u32, u32), name: &str, data: &[u8]| {
        let namesize = name.len() + 1;
        let fields = [
            ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            namesize as u32,
            0,
        ];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(data);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    };
    for (i, e) in entries.iter().enumerate() {
        let ino = i as u32 + 1;
        match e {
            Entry::Dir { path, mode } => put(ino, 0o040000 | mode, (0, 0), path, &[]),
            Entry::File { path, mode, data } => put(ino, 0o100000 | mode, (0, 0), path, data),
            Entry::Symlink { path, target } => put(ino, 0o120777, (0, 0), path, target.as_bytes()),
            Entry::CharDev { path, major, minor } => {
                put(ino, 0o020666, (*major, *minor), path, &[])
            }
        }
    }
    put(0, 0, (0, 0), "TRAILER!!!", &[]);
    out
}

/// The root filesystem's entries, given busybox (if it could be had) and
/// its applets (paths such as `usr/bin/sort`, each linked to it), the
/// test programs, the C tests (`crate::guest_c`: their files, and the
/// lines init runs after [`INIT`]'s) and the files `--guest-files` adds
/// (last, so they may replace any of the others).
pub fn entries(
    busybox: Option<(Vec<u8>, Vec<String>)>,
    programs: Vec<(String, Vec<u8>)>,
    c: crate::guest_c::CTests,
    extra: Vec<Entry>,
) -> Vec<Entry> {
    let dir = |p: &str| Entry::Dir {
        path: p.into(),
        mode: 0o755,
    };
    let file = |p: &str, mode: u32, data: &[u8]| Entry::File {
        path: p.into(),
        mode,
        data: data.to_vec(),
    };
    let mut e = vec![
        dir("bin"),
        dir("sbin"),
        dir("usr"),
        dir("usr/bin"),
        dir("usr/sbin"),
        dir("dev"),
        dir("etc"),
        // Anyone may make files in /tmp; only their owner remove them.
        Entry::Dir {
            path: "tmp".into(),
            mode: 0o1777,
        },
        Entry::Dir {
            path: "root".into(),
            mode: 0o700,
        },
    ];
    if let Some((b, applets)) = busybox {
        e.push(Entry::File {
            path: "bin/busybox".into(),
            mode: 0o755,
            data: b,
        });
        for a in applets {
            e.push(Entry::Symlink {
                path: a,
                target: "/bin/busybox".into(),
            });
        }
    }
    for (name, data) in programs {
        e.push(Entry::File {
            path: format!("bin/{name}"),
            mode: 0o755,
            data,
        });
    }
    e.push(file("etc/passwd", 0o644, PASSWD.as_bytes()));
    e.push(file("etc/group", 0o644, GROUP.as_bytes()));
    e.push(file("etc/hostname", 0o644, b"septum\n"));
    let init = format!("{INIT}{}", c.init);
    e.push(file("etc/septum-init", 0o644, init.as_bytes()));
    e.extend(c.entries);
    for (name, major, minor) in [
        ("console", 5, 1),
        ("tty", 5, 0),
        ("null", 1, 3),
        ("zero", 1, 5),
    ] {
        e.push(Entry::CharDev {
            path: format!("dev/{name}"),
            major,
            minor,
        });
    }
    e.extend(extra);
    e
}

fn sha256_of(path: &Path) -> Result<String> {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run sha256sum: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .next()
        .map(str::to_string)
        .ok_or_else(|| format!("sha256sum gave nothing for {}", path.display()))
}

/// The pinned busybox-static .deb in the cache (`target/guest/`),
/// downloaded if missing, its sha256 checked.
fn fetch_deb(ws: &Workspace, cache: &Path) -> Result<PathBuf> {
    let deb = cache.join(BUSYBOX_DEB);
    if deb.is_file() && sha256_of(&deb)? == BUSYBOX_SHA256 {
        return Ok(deb);
    }
    std::fs::create_dir_all(cache).map_err(|e| format!("cannot create {}: {e}", ws.show(cache)))?;
    let _ = std::fs::remove_file(&deb);
    let spec = format!("{BUSYBOX_PACKAGE}={BUSYBOX_VERSION}");
    let apt = Command::new("apt-get")
        .args(["download", &spec])
        .current_dir(cache)
        .output();
    if !deb.is_file() {
        // apt does not know the package (another distribution, or no
        // bookworm sources): the same file from the mirror.
        let why = match &apt {
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
            Err(e) => e.to_string(),
        };
        println!(
            "septum-build: `apt-get download {spec}` did not fetch it ({why}); trying {BUSYBOX_URL}"
        );
        let _ = Command::new("curl")
            .args(["-fsSL", "-o"])
            .arg(&deb)
            .arg(BUSYBOX_URL)
            .status();
    }
    if !deb.is_file() {
        return Err(format!(
            "cannot fetch {spec}: neither `apt-get download {spec}` (in {}) nor `curl {BUSYBOX_URL}` \
             worked. Fix: on Debian 12 run `apt-get update` so apt knows the package, or put the \
             file there yourself (sha256 {BUSYBOX_SHA256})",
            ws.show(cache)
        ));
    }
    let got = sha256_of(&deb)?;
    if got != BUSYBOX_SHA256 {
        return Err(format!(
            "{} has sha256 {got}, not the pinned {BUSYBOX_SHA256}: delete it and build again; if it \
             comes back, the mirror serves another build of {spec}",
            ws.show(&deb)
        ));
    }
    Ok(deb)
}

/// The applets `busybox --list-full` prints (`bin/ls`, `usr/bin/[`, ...):
/// paths under a directory, none of them busybox itself, `..` or
/// absolute.
pub fn parse_applets(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| {
            l.contains('/')
                && !l.starts_with('/')
                && !l.ends_with('/')
                && *l != "bin/busybox"
                && !l.split('/').any(|c| c.is_empty() || c == "." || c == "..")
        })
        .map(str::to_string)
        .collect()
}

/// The applets of the extracted busybox at `bin`, from running it with
/// `--list-full` (a static x86_64 Linux program runs on the build
/// machine), or [`FALLBACK_APPLETS`] with a warning saying why.
fn applets(ws: &Workspace, bin: &Path) -> Vec<String> {
    let why = match Command::new(bin).arg("--list-full").output() {
        Ok(o) if o.status.success() => {
            let list = parse_applets(&String::from_utf8_lossy(&o.stdout));
            if !list.is_empty() {
                return list;
            }
            "it listed no applets".to_string()
        }
        Ok(o) => format!("it ended with {}", o.status),
        Err(e) => e.to_string(),
    };
    eprintln!(
        "septum-build: warning: cannot list busybox's applets with `{} --list-full` ({why}); \
         linking a fixed list of {} applets instead",
        ws.show(bin),
        FALLBACK_APPLETS.len()
    );
    FALLBACK_APPLETS.iter().map(|a| a.to_string()).collect()
}

/// The entries of host directory `dir` for `--guest-files`, merged at
/// `/`: its directories, regular files (with their permission bits, so a
/// program keeps its execute bit) and symbolic links, in name order.
/// A missing `dir`, or anything else in it, is an error naming the path.
pub fn guest_files(ws: &Workspace, dir: &Path) -> Result<Vec<Entry>> {
    let meta = std::fs::metadata(dir).map_err(|e| {
        format!(
            "--guest-files {}: {e}; give a directory whose files are added to the guest's \
             filesystem at / (DIR/etc/motd becomes /etc/motd)",
            ws.show(dir)
        )
    })?;
    if !meta.is_dir() {
        return Err(format!(
            "--guest-files {}: not a directory; give a directory whose files are added to the \
             guest's filesystem at /",
            ws.show(dir)
        ));
    }
    let mut out = Vec::new();
    walk_guest_files(ws, dir, "", &mut out)?;
    Ok(out)
}

fn walk_guest_files(ws: &Workspace, root: &Path, rel: &str, out: &mut Vec<Entry>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let here = root.join(rel);
    let read =
        std::fs::read_dir(&here).map_err(|e| format!("cannot read {}: {e}", ws.show(&here)))?;
    let mut names: Vec<String> = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", ws.show(&here)))?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|n| format!("{}: the name {n:?} is not UTF-8", ws.show(&here)))?;
        names.push(name);
    }
    names.sort();
    for name in names {
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let host = root.join(&path);
        let meta = std::fs::symlink_metadata(&host)
            .map_err(|e| format!("cannot read {}: {e}", ws.show(&host)))?;
        let mode = meta.permissions().mode() & 0o7777;
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = std::fs::read_link(&host)
                .map_err(|e| format!("cannot read the link {}: {e}", ws.show(&host)))?;
            out.push(Entry::Symlink {
                path,
                target: target.to_string_lossy().into_owned(),
            });
        } else if kind.is_dir() {
            out.push(Entry::Dir {
                path: path.clone(),
                mode,
            });
            walk_guest_files(ws, root, &path, out)?;
        } else if kind.is_file() {
            let data =
                std::fs::read(&host).map_err(|e| format!("cannot read {}: {e}", ws.show(&host)))?;
            out.push(Entry::File { path, mode, data });
        } else {
            return Err(format!(
                "--guest-files: {} is neither a file, a directory nor a symbolic link",
                ws.show(&host)
            ));
        }
    }
    Ok(())
}

/// busybox from the pinned .deb, extracted with `dpkg-deb -x`, and its
/// applets.
fn busybox(ws: &Workspace) -> Result<(Vec<u8>, Vec<String>)> {
    let cache = ws.target_dir().join("guest");
    let deb = fetch_deb(ws, &cache)?;
    let dir = cache.join("busybox-static");
    let bin = dir.join("bin/busybox");
    if !bin.is_file() {
        let mut cmd = Command::new("dpkg-deb");
        cmd.arg("-x").arg(&deb).arg(&dir);
        tools::run(&mut cmd).map_err(|e| {
            format!("{e}; extracting busybox needs dpkg-deb (Debian's `dpkg` package)")
        })?;
    }
    let data = std::fs::read(&bin).map_err(|e| format!("cannot read {}: {e}", ws.show(&bin)))?;
    Ok((data, applets(ws, &bin)))
}

/// Build the test programs, then write the guest's root filesystem to
/// `target/guest/rootfs.cpio` and return its path; `extra` is a
/// `--guest-files` directory merged at `/`. Without busybox (no network,
/// no apt) the archive still holds the rest, and the reason is printed:
/// the guest then says which program it could not run.
pub fn rootfs(ws: &Workspace, extra: Option<&Path>) -> Result<PathBuf> {
    // The directory first: a wrong name is found before the build.
    let extra = match extra {
        Some(dir) => guest_files(ws, dir)?,
        None => Vec::new(),
    };
    let mut cargo = ws.cargo();
    cargo.args([
        "build",
        "--release",
        "--target",
        tools::MACHINE_TARGET,
        "-p",
        "septum-linux-probe",
    ]);
    cargo.arg("--target-dir").arg(ws.target_dir());
    tools::run(&mut cargo)?;
    let busybox = match busybox(ws) {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("septum-build: warning: the guest gets no busybox: {e}");
            None
        }
    };
    let mut programs = Vec::new();
    for p in PROGRAMS {
        let path = ws.machine_bin_dir().join(p);
        let data =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", ws.show(&path)))?;
        programs.push((p.to_string(), data));
    }
    let c = crate::guest_c::build(ws)?;
    let archive = cpio(&entries(busybox, programs, c, extra));
    let out = ws.target_dir().join("guest").join("rootfs.cpio");
    // Rewrite only when it changed, so the shim is not rebuilt for nothing.
    if std::fs::read(&out).ok().as_deref() != Some(&archive[..]) {
        crate::system::write(ws, &out, &archive)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_entries_are_newc_and_aligned() {
        let a = cpio(&[
            Entry::Dir {
                path: "bin".into(),
                mode: 0o755,
            },
            Entry::File {
                path: "bin/x".into(),
                mode: 0o755,
                data: b"abcde".to_vec(),
            },
            Entry::CharDev {
                path: "dev/null".into(),
                major: 1,
                minor: 3,
            },
        ]);
        assert_eq!(&a[..6], b"070701");
        assert_eq!(a.len() % 4, 0);
        // The second header starts on a 4-byte boundary after "bin\0".
        let second = (110 + 4usize).next_multiple_of(4);
        assert_eq!(&a[second..second + 6], b"070701");
        let mode = u32::from_str_radix(
            std::str::from_utf8(&a[second + 14..second + 22]).unwrap(),
            16,
        )
        .unwrap();
        assert_eq!(mode, 0o100755);
        assert!(a.windows(10).any(|w| w == b"TRAILER!!!"));
    }

    #[test]
    fn the_root_filesystem_has_what_init_runs() {
        let e = entries(
            Some((
                vec![0x7f],
                FALLBACK_APPLETS.iter().map(|a| a.to_string()).collect(),
            )),
            PROGRAMS.iter().map(|p| (p.to_string(), vec![1])).collect(),
            crate::guest_c::CTests::default(),
            Vec::new(),
        );
        let has = |p: &str| {
            e.iter().any(|x| match x {
                Entry::Dir { path, .. }
                | Entry::File { path, .. }
                | Entry::Symlink { path, .. }
                | Entry::CharDev { path, .. } => path == p,
            })
        };
        for p in [
            "bin/busybox",
            "bin/ls",
            "bin/linux-probe",
            "etc/passwd",
            "etc/septum-init",
            "dev/console",
            "dev/null",
        ] {
            assert!(has(p), "{p}");
        }
        for line in INIT.lines() {
            let line = line.strip_prefix("tty:").unwrap_or(line);
            let prog = line.split(' ').next().unwrap().trim_start_matches('/');
            assert!(has(prog), "init runs {prog}, which is not packed");
        }
    }

    #[test]
    fn applets_are_listed_paths_without_busybox_itself() {
        let got =
            parse_applets("bin/ls\nlinuxrc\nusr/bin/[\nbin/busybox\n/abs/x\nusr/../x\nsbin/init\n");
        assert_eq!(got, ["bin/ls", "usr/bin/[", "sbin/init"]);
    }

    #[test]
    fn tmp_is_sticky_and_guest_files_come_last() {
        let extra = vec![Entry::File {
            path: "etc/septum-init".into(),
            mode: 0o644,
            data: b"/bin/true\n".to_vec(),
        }];
        let e = entries(
            None,
            Vec::new(),
            crate::guest_c::CTests::default(),
            extra.clone(),
        );
        assert!(e.contains(&Entry::Dir {
            path: "tmp".into(),
            mode: 0o1777
        }));
        assert_eq!(
            e.last(),
            extra.last(),
            "a guest file must come after what it replaces"
        );
    }

    #[test]
    fn guest_files_keep_modes_and_links_and_a_missing_dir_is_named() {
        use std::os::unix::fs::PermissionsExt;
        let ws = Workspace::locate();
        let dir = std::env::temp_dir().join(format!("septum-guest-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("usr/local/bin")).unwrap();
        std::fs::set_permissions(
            dir.join("usr/local"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(dir.join("usr/local/bin/tool"), b"#!x").unwrap();
        std::fs::set_permissions(
            dir.join("usr/local/bin/tool"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(dir.join("notes"), b"hi").unwrap();
        std::fs::set_permissions(dir.join("notes"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        std::os::unix::fs::symlink("usr/local/bin/tool", dir.join("tool")).unwrap();
        let got = guest_files(&ws, &dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(got.contains(&Entry::File {
            path: "usr/local/bin/tool".into(),
            mode: 0o755,
            data: b"#!x".to_vec()
        }));
        assert!(got.contains(&Entry::File {
            path: "notes".into(),
            mode: 0o640,
            data: b"hi".to_vec()
        }));
        assert!(got.contains(&Entry::Symlink {
            path: "tool".into(),
            target: "usr/local/bin/tool".into()
        }));
        assert!(got.contains(&Entry::Dir {
            path: "usr/local".into(),
            mode: 0o755
        }));
        let err = guest_files(&ws, &dir).unwrap_err();
        assert!(
            err.contains("--guest-files") && err.contains("septum-guest-files"),
            "{err}"
        );
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    /// The shim's system-call table as `docs/guest.md` shows it, read from
    /// its source (`l4linux-shim/src/syscall/mod.rs` and `names.rs`): one row
    /// per call with a handler or a tolerated ENOSYS, in number order.
    fn syscall_table_rows(table_src: &str, names_src: &str) -> Vec<String> {
        let names: Vec<&str> = names_src
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with('"') && l.ends_with("\","))
            .map(|l| &l[1..l.len() - 2])
            .collect();
        let body = table_src
            .split_once("let mut t = [MISSING; names::COUNT];")
            .and_then(|(_, rest)| rest.split_once("\n    t\n}"))
            .map_or("", |(body, _)| body);
        let mut rows = Vec::new();
        for stmt in body.split(";\n") {
            let stmt = stmt.trim();
            let Some(rest) = stmt.strip_prefix("t[") else {
                continue;
            };
            let Some((nr, rest)) = rest.split_once(']') else {
                continue;
            };
            let Ok(nr) = nr.parse::<usize>() else {
                continue;
            };
            let kind = rest
                .trim_start_matches([' ', '='])
                .split('(')
                .next()
                .unwrap_or("");
            let note = match (rest.find('"'), rest.rfind('"')) {
                (Some(a), Some(b)) if b > a => &rest[a + 1..b],
                _ => "",
            };
            let status = match kind {
                "full" => "supported",
                "partial" => "partial",
                "tolerated" => "ENOSYS, tolerated",
                _ => continue,
            };
            let name = names.get(nr).copied().unwrap_or("?");
            rows.push(format!("| {nr} | `{name}` | {status} | {note} |"));
        }
        rows
    }

    /// `docs/guest.md`'s table of supported calls is the shim's table:
    /// this fails when they differ and prints the rows to paste (or run
    /// the test with `SEPTUM_BLESS=1` to rewrite the table in place).
    #[test]
    fn docs_syscall_table_is_the_shims() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let read = |p: &str| std::fs::read_to_string(root.join(p)).expect(p);
        let rows = syscall_table_rows(
            &read("l4linux-shim/src/syscall/mod.rs"),
            &read("l4linux-shim/src/syscall/names.rs"),
        );
        assert!(rows.len() > 40, "the table parsed to {} rows", rows.len());
        assert!(
            rows.contains(&"| 1 | `write` | supported |  |".to_string()),
            "{rows:#?}"
        );
        let doc = read("docs/guest.md");
        let (start, end) = (
            "<!-- syscall-table:start -->\n",
            "<!-- syscall-table:end -->",
        );
        let (head, rest) = doc.split_once(start).expect("the table's start marker");
        let (_, tail) = rest.split_once(end).expect("the table's end marker");
        let want = format!(
            "| nr | name | status | what is missing |\n|---|---|---|---|\n{}\n",
            rows.join("\n")
        );
        if !doc.contains(&format!("{start}{want}{end}")) {
            if std::env::var_os("SEPTUM_BLESS").is_some() {
                std::fs::write(
                    root.join("docs/guest.md"),
                    format!("{head}{start}{want}{end}{tail}"),
                )
                .expect("write docs/guest.md");
            } else {
                panic!(
                    "docs/guest.md's system-call table differs from the shim's; it should read:\n{want}"
                );
            }
        }
    }
}
