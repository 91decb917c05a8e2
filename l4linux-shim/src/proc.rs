//! `/proc`: what busybox's `ps`, `free`, `uptime` and friends read, made
//! from the shim's own state when a file is opened.
//!
//! `/proc` is a directory of the RAM filesystem whose files are
//! [`ProcFile`] inodes: opening one makes its text then (a snapshot, as
//! a reader of Linux's `/proc` sees one `read` at a time). The numbered
//! directories follow the processes: [`Shim::refresh_proc`] adds and
//! removes them before a path that may name `/proc` is followed, or
//! `/proc` is listed. `/proc/self` is a link whose target is the caller's
//! pid; each `/proc/<pid>/exe` a link to its program.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::Shim;
use crate::fs::{Dir, Kind};
use crate::linux::{S_IFDIR, S_IFLNK, S_IFREG};
use crate::process::Process;

/// A file of `/proc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcFile {
    Meminfo,
    Uptime,
    Loadavg,
    Stat,
    Version,
    Mounts,
    Filesystems,
    /// `/proc/self`: a link to the caller's pid.
    SelfLink,
    /// A file of `/proc/<pid>`.
    Pid(u64, PidFile),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidFile {
    Stat,
    Status,
    Cmdline,
    Comm,
    Statm,
}

const TOP: [(&str, ProcFile); 7] = [
    ("meminfo", ProcFile::Meminfo),
    ("uptime", ProcFile::Uptime),
    ("loadavg", ProcFile::Loadavg),
    ("stat", ProcFile::Stat),
    ("version", ProcFile::Version),
    ("mounts", ProcFile::Mounts),
    ("filesystems", ProcFile::Filesystems),
];

const PER_PID: [(&str, PidFile); 5] = [
    ("stat", PidFile::Stat),
    ("status", PidFile::Status),
    ("cmdline", PidFile::Cmdline),
    ("comm", PidFile::Comm),
    ("statm", PidFile::Statm),
];

/// Linux's clock ticks per second (`AT_CLKTCK`, `USER_HZ`).
const HZ: u64 = 100;

impl Shim {
    /// Make `/proc` and its fixed files (at start).
    pub fn init_proc(&mut self) {
        let dir = match self.fs.child(0, b"proc") {
            Some(d) if self.fs.is_dir(d) => d,
            _ => match self
                .fs
                .create(0, b"proc", S_IFDIR | 0o555, Kind::Dir(Dir::default()))
            {
                Ok(d) => d,
                Err(_) => return,
            },
        };
        self.proc_dir = Some(dir);
        for (name, f) in TOP {
            let _ = self
                .fs
                .create(dir, name.as_bytes(), S_IFREG | 0o444, Kind::Proc(f));
        }
        let _ = self.fs.create(
            dir,
            b"self",
            S_IFLNK | 0o777,
            Kind::Proc(ProcFile::SelfLink),
        );
    }

    /// Whether `node` is `/proc` or lies under it.
    pub fn in_proc(&self, node: usize) -> bool {
        self.proc_dir.is_some_and(|d| self.fs.is_under(node, d))
    }

    /// Bring `/proc`'s numbered directories in line with the processes
    /// (`p`, the caller, is out of the table).
    pub fn refresh_proc(&mut self, p: &Process) {
        let Some(dir) = self.proc_dir else {
            return;
        };
        let live: Vec<(u64, String)> = self
            .procs
            .iter()
            .flatten()
            .map(|q| (q.pid, q.exe.clone()))
            .chain(core::iter::once((p.pid, p.exe.clone())))
            .collect();
        let pids: BTreeSet<u64> = live.iter().map(|(pid, _)| *pid).collect();
        let listed: Vec<(Vec<u8>, usize)> = match &self.fs.node(dir).kind {
            Kind::Dir(d) => d
                .entries
                .values()
                .filter(|(n, _)| n.first().is_some_and(u8::is_ascii_digit))
                .cloned()
                .collect(),
            _ => return,
        };
        let mut removed = false;
        for (name, node) in &listed {
            let pid = core::str::from_utf8(name)
                .ok()
                .and_then(|s| s.parse::<u64>().ok());
            if pid.is_some_and(|pid| pids.contains(&pid)) {
                continue;
            }
            let children: Vec<Vec<u8>> = match &self.fs.node(*node).kind {
                Kind::Dir(d) => d.entries.values().map(|(n, _)| n.clone()).collect(),
                _ => Vec::new(),
            };
            for c in children {
                let _ = self.fs.remove(*node, &c, false);
            }
            let _ = self.fs.remove(dir, name, true);
            removed = true;
        }
        for (pid, exe) in live {
            let name = format!("{pid}");
            let d = match self.fs.child(dir, name.as_bytes()) {
                Some(d) => d,
                None => {
                    let Ok(d) = self.fs.create(
                        dir,
                        name.as_bytes(),
                        S_IFDIR | 0o555,
                        Kind::Dir(Dir::default()),
                    ) else {
                        continue;
                    };
                    for (n, f) in PER_PID {
                        let _ = self.fs.create(
                            d,
                            n.as_bytes(),
                            S_IFREG | 0o444,
                            Kind::Proc(ProcFile::Pid(pid, f)),
                        );
                    }
                    let _ = self
                        .fs
                        .create(d, b"exe", S_IFLNK | 0o777, Kind::Symlink(Vec::new()));
                    d
                }
            };
            // The program may have changed (execve keeps the pid).
            if let Some(l) = self.fs.child(d, b"exe") {
                self.fs.set_link(l, exe.into_bytes());
            }
        }
        if removed {
            self.fs_sweep(p);
        }
    }

    /// The text of `/proc` file `f`, read by `p`.
    pub fn proc_text(&self, f: ProcFile, p: &Process) -> Vec<u8> {
        let mut t = String::new();
        let secs = self.nanos() / 1_000_000_000;
        let centis = self.nanos() / 10_000_000 % 100;
        let m = self.memory();
        let nprocs = self.procs.iter().flatten().count() + 1;
        match f {
            ProcFile::Meminfo => {
                let kb = |b: u64| b >> 10;
                for (k, v) in [
                    ("MemTotal", kb(m.total)),
                    ("MemFree", kb(m.free)),
                    ("MemAvailable", kb(m.free)),
                    ("Buffers", 0),
                    ("Cached", kb(m.files)),
                    ("SwapCached", 0),
                    ("Active", kb(m.total - m.free - m.files)),
                    ("Inactive", kb(m.files)),
                    ("SwapTotal", 0),
                    ("SwapFree", 0),
                    ("Shmem", kb(m.files)),
                    ("SReclaimable", 0),
                ] {
                    let _ = writeln!(t, "{:<16}{:>8} kB", format!("{k}:"), v);
                }
            }
            ProcFile::Uptime => {
                let _ = writeln!(t, "{secs}.{centis:02} {secs}.{centis:02}");
            }
            ProcFile::Loadavg => {
                let _ = writeln!(t, "0.00 0.00 0.00 1/{nprocs} {}", self.next_pid - 1);
            }
            ProcFile::Stat => {
                let ticks = self.nanos() / (1_000_000_000 / HZ);
                let _ = writeln!(t, "cpu  0 0 0 {ticks} 0 0 0 0 0 0");
                let _ = writeln!(t, "cpu0 0 0 0 {ticks} 0 0 0 0 0 0");
                let _ = writeln!(t, "intr 0\nctxt 0");
                let _ = writeln!(t, "btime {}", crate::syscall::EPOCH_AT_BOOT);
                let _ = writeln!(t, "processes {}", self.next_pid - 1);
                let _ = writeln!(t, "procs_running 1\nprocs_blocked 0");
            }
            ProcFile::Version => {
                let _ = writeln!(
                    t,
                    "Linux version 6.1.0-septum (septum@septum) #1 Septum l4linux-shim"
                );
            }
            ProcFile::Mounts => {
                let _ = writeln!(t, "tmpfs / tmpfs rw,relatime 0 0");
                let _ = writeln!(t, "proc /proc proc rw,nosuid,nodev,noexec 0 0");
            }
            ProcFile::Filesystems => {
                let _ = writeln!(t, "nodev\ttmpfs\nnodev\tproc");
            }
            ProcFile::SelfLink => {
                let _ = write!(t, "{}", p.pid);
            }
            ProcFile::Pid(pid, which) => {
                let q = if pid == p.pid {
                    Some(p)
                } else {
                    self.procs
                        .iter()
                        .flatten()
                        .find(|q| q.pid == pid)
                        .map(|q| &**q)
                };
                let Some(q) = q else {
                    return Vec::new();
                };
                return pid_text(q, which, pid == p.pid);
            }
        }
        t.into_bytes()
    }

    /// What the shim's memory holds, in bytes: all of it (process memory
    /// and the file pool), what is free, and the file pool's pages in use.
    pub fn memory(&self) -> Memory {
        let chunk = 1u64 << self.sys.chunk_bits;
        let page = crate::fs::PAGE as u64;
        let pool = self.fs.pool_pages as u64 * page;
        let files = self.fs.pool_used as u64 * page;
        Memory {
            total: self.sys.chunks.len() as u64 * chunk + pool,
            free: self.sys.free_chunks.len() as u64 * chunk + pool - files,
            files,
        }
    }
}

/// [`Shim::memory`]'s figures.
pub struct Memory {
    pub total: u64,
    pub free: u64,
    pub files: u64,
}

/// The name `ps` shows for `q`: its `comm`, up to the first NUL.
fn comm(q: &Process) -> &str {
    let n = q.comm.iter().position(|&b| b == 0).unwrap_or(q.comm.len());
    core::str::from_utf8(&q.comm[..n]).unwrap_or("?")
}

fn pid_text(q: &Process, which: PidFile, running: bool) -> Vec<u8> {
    let mut t = String::new();
    let state = if running { 'R' } else { 'S' };
    let vsize: u64 = q.vmas.iter().map(|v| v.end - v.start).sum();
    let rss = q.pages.len() as u64;
    match which {
        PidFile::Stat => {
            let _ = write!(
                t,
                "{} ({}) {state} {} {} {} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 0 {vsize} {rss} \
                 18446744073709551615 0 0 0 0 0 0 {} 0 0 0 0 0 17 0 0 0 0 0 0 0 0 {} 0 0 0 0 0",
                q.pid,
                comm(q),
                q.ppid,
                q.pid,
                q.pid,
                q.sigmask,
                q.brk_start,
            );
            t.push('\n');
        }
        PidFile::Status => {
            let _ = write!(
                t,
                "Name:\t{}\nUmask:\t{:04o}\nState:\t{}\nTgid:\t{}\nNgid:\t0\nPid:\t{}\nPPid:\t{}\n\
                 TracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nFDSize:\t{}\nGroups:\t0\n\
                 VmSize:\t{:>8} kB\nVmRSS:\t{:>8} kB\nThreads:\t1\nSigBlk:\t{:016x}\n",
                comm(q),
                q.umask,
                if running {
                    "R (running)"
                } else {
                    "S (sleeping)"
                },
                q.pid,
                q.pid,
                q.ppid,
                q.fds.len().next_multiple_of(64),
                vsize >> 10,
                rss * 4,
                q.sigmask,
            );
        }
        PidFile::Cmdline => return q.cmdline.clone(),
        PidFile::Comm => {
            let _ = writeln!(t, "{}", comm(q));
        }
        PidFile::Statm => {
            let _ = writeln!(t, "{} {rss} 0 0 0 0 0", vsize / 4096);
        }
    }
    t.into_bytes()
}
