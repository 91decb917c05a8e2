//! The Linux system-call table: one entry per x86_64 number with its
//! name (from [`names`]), its handler and how well it is supported, as
//! gVisor keeps it. An unknown or unimplemented call returns ENOSYS and
//! is logged once, by number and name; `docs/guest.md`'s table of
//! supported calls is this table. Handlers live one family per file.

mod fs;
mod info;
mod mm;
pub mod names;
mod path;
mod poll;
mod process;
mod signal;
mod tty;

use crate::Shim;
use crate::linux::{SysResult, errno::ENOSYS};
use crate::process::Process;

/// A call's arguments: rdi, rsi, rdx, r10, r8, r9.
pub type Args = [u64; 6];
pub type Handler = fn(&mut Shim, &mut Process, &Args) -> SysResult;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not implemented: ENOSYS, logged once.
    Missing,
    /// Implemented as Linux does it, for what the guest has.
    Full,
    /// Implemented in part; the note says what is missing.
    Partial(&'static str),
    /// Answered with ENOSYS on purpose (glibc and musl carry on without
    /// it), still logged once.
    Tolerated(&'static str),
}

#[derive(Clone, Copy)]
pub struct Entry {
    pub handler: Option<Handler>,
    pub status: Status,
}

const MISSING: Entry = Entry {
    handler: None,
    status: Status::Missing,
};

const fn full(h: Handler) -> Entry {
    Entry {
        handler: Some(h),
        status: Status::Full,
    }
}

const fn partial(h: Handler, note: &'static str) -> Entry {
    Entry {
        handler: Some(h),
        status: Status::Partial(note),
    }
}

const fn tolerated(note: &'static str) -> Entry {
    Entry {
        handler: None,
        status: Status::Tolerated(note),
    }
}

/// Every call, by number.
pub static TABLE: [Entry; names::COUNT] = table();

const fn table() -> [Entry; names::COUNT] {
    let mut t = [MISSING; names::COUNT];
    t[0] = full(fs::read);
    t[1] = full(fs::write);
    t[2] = partial(fs::open, "no O_TMPFILE");
    t[3] = full(fs::close);
    t[4] = full(fs::stat);
    t[5] = full(fs::fstat);
    t[6] = full(fs::lstat);
    t[8] = full(fs::lseek);
    t[9] = partial(mm::mmap, "file mappings are private copies");
    t[10] = full(mm::mprotect);
    t[11] = full(mm::munmap);
    t[12] = full(mm::brk);
    t[13] = partial(
        signal::rt_sigaction,
        "SA_RESTORER required (as on Linux); real-time signals do not queue",
    );
    t[14] = full(signal::rt_sigprocmask);
    t[15] = partial(
        signal::rt_sigreturn,
        "FPU state in FXSAVE format (x87, SSE); AVX upper halves are not saved",
    );
    t[7] = full(poll::poll);
    t[16] = partial(
        tty::ioctl,
        "the console's: TCGETS, TCSETS*, TCFLSH, TCXONC, TCSBRK, TIOC[GS]PGRP, TIOC[GS]WINSZ, TIOCSCTTY, TIOCGSID, FIONREAD; FIONBIO on any descriptor",
    );
    t[17] = full(fs::pread64);
    t[18] = full(fs::pwrite64);
    t[19] = full(fs::readv);
    t[20] = full(fs::writev);
    t[21] = full(fs::access);
    t[22] = full(fs::pipe);
    t[23] = full(poll::select);
    t[28] = partial(
        mm::madvise,
        "DONTNEED drops the pages; other advice is ignored",
    );
    t[32] = full(fs::dup);
    t[34] = full(signal::pause);
    t[33] = full(fs::dup2);
    t[35] = full(poll::nanosleep);
    t[39] = full(process::getpid);
    t[40] = full(fs::sendfile);
    t[56] = partial(
        process::clone,
        "processes only (no CLONE_THREAD); CLONE_VM with CLONE_VFORK copies",
    );
    t[57] = full(process::fork);
    t[58] = partial(process::fork, "a copy, as fork: the parent does not wait");
    t[59] = partial(process::execve, "static ELF and #! scripts; no set-user-ID");
    t[60] = full(process::exit);
    t[62] = full(signal::kill);
    t[61] = partial(process::wait4, "no rusage figures (zeroes)");
    t[63] = full(info::uname);
    t[72] = partial(
        fs::fcntl,
        "F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD(_CLOEXEC)",
    );
    t[74] = full(path::fsync);
    t[75] = full(path::fsync);
    t[76] = full(path::truncate);
    t[77] = full(path::ftruncate);
    t[79] = full(fs::getcwd);
    t[80] = full(fs::chdir);
    t[81] = full(fs::fchdir);
    t[82] = full(path::rename);
    t[83] = full(path::mkdir);
    t[84] = full(path::rmdir);
    t[85] = full(fs::creat);
    t[86] = full(path::link);
    t[87] = full(path::unlink);
    t[88] = full(path::symlink);
    t[89] = full(fs::readlink);
    t[90] = full(path::chmod);
    t[91] = partial(path::fchmod, "files and directories only");
    t[92] = partial(path::chown, "accepted; every file stays root's");
    t[93] = partial(path::fchown, "accepted; every file stays root's");
    t[94] = partial(path::lchown, "accepted; every file stays root's");
    t[95] = full(process::umask);
    t[96] = full(info::gettimeofday);
    t[99] = full(info::sysinfo);
    t[102] = full(process::getuid);
    t[104] = full(process::getuid);
    t[107] = full(process::getuid);
    t[108] = full(process::getuid);
    t[109] = full(signal::setpgid);
    t[110] = full(process::getppid);
    t[111] = full(signal::getpgrp);
    t[112] = full(signal::setsid);
    t[115] = full(info::getgroups);
    t[121] = full(signal::getpgid);
    t[124] = full(signal::getsid);
    t[127] = full(signal::rt_sigpending);
    t[130] = full(signal::rt_sigsuspend);
    t[131] = full(signal::sigaltstack);
    t[132] = full(path::utime);
    t[137] = full(path::statfs);
    t[138] = full(path::fstatfs);
    t[157] = partial(
        process::prctl,
        "PR_SET_NAME, PR_GET_NAME, PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER",
    );
    t[158] = full(process::arch_prctl);
    t[162] = full(path::sync);
    t[186] = full(process::getpid);
    t[200] = full(signal::tkill);
    t[201] = full(info::time);
    t[217] = full(fs::getdents64);
    t[218] = full(process::set_tid_address);
    t[228] = full(info::clock_gettime);
    t[230] = partial(
        poll::clock_nanosleep,
        "CLOCK_PROCESS_CPUTIME_ID sleeps as CLOCK_MONOTONIC",
    );
    t[231] = full(process::exit);
    t[234] = full(signal::tgkill);
    t[235] = full(path::utimes);
    t[247] = partial(process::waitid, "no P_PIDFD; rusage zeroes");
    t[257] = partial(fs::openat, "no O_TMPFILE");
    t[258] = full(path::mkdirat);
    t[260] = partial(path::fchownat, "accepted; every file stays root's");
    t[261] = full(path::futimesat);
    t[262] = full(fs::newfstatat);
    t[263] = full(path::unlinkat);
    t[264] = full(path::renameat);
    t[265] = full(path::linkat);
    t[266] = full(path::symlinkat);
    t[267] = full(fs::readlinkat);
    t[268] = full(path::fchmodat);
    t[269] = full(fs::faccessat);
    t[270] = full(poll::pselect6);
    t[271] = full(poll::ppoll);
    t[273] = tolerated("no robust futexes (one thread per process)");
    t[280] = full(path::utimensat);
    t[292] = full(fs::dup3);
    t[293] = partial(fs::pipe2, "no O_DIRECT");
    t[295] = full(fs::preadv);
    t[296] = full(fs::pwritev);
    t[302] = partial(
        process::prlimit64,
        "RLIMIT_NOFILE enforced; the other limits are kept and reported, not enforced",
    );
    t[306] = full(path::syncfs);
    t[316] = partial(
        path::renameat2,
        "RENAME_NOREPLACE; no RENAME_EXCHANGE or RENAME_WHITEOUT",
    );
    t[318] = partial(
        info::getrandom,
        "a TSC-seeded generator, not a cryptographic one",
    );
    t[326] = full(fs::copy_file_range);
    t[332] = full(fs::statx);
    t[334] = tolerated("no restartable sequences");
    t[439] = full(fs::faccessat2);
    t
}

/// Whether call `nr` needs all 18 registers of the caller (fork and
/// clone start the child with them; rt_sigreturn and sigaltstack need
/// the stack pointer and flags).
pub fn needs_registers(nr: u64) -> bool {
    matches!(nr, 15 | 56..=58 | 131)
}

pub use info::EPOCH_AT_BOOT;
pub use process::wait_result;

/// The name of call `nr` for logs ("?" if Linux assigns none).
pub fn name(nr: u64) -> &'static str {
    match names::NAMES.get(nr as usize) {
        Some(n) if !n.is_empty() => n,
        _ => "?",
    }
}

/// Heap bytes the shim keeps for itself: below this, a call that may
/// take more of its heap gets ENOMEM rather than the shim failing an
/// allocation part way (which panics it). The per-resource bounds
/// (names, `/proc` texts, inodes, descriptors, pipes) each fit; together,
/// with enough processes, they need not.
pub const HEAP_RESERVE: usize = 1 << 20;

/// Whether call `nr` only gives back (or reads registers): it runs
/// however little heap is left, so processes can always free some.
fn only_frees(nr: u64) -> bool {
    matches!(
        nr,
        3 | 11 | 15 | 39 | 60 | 61 | 62 | 84 | 87 | 200 | 231 | 234 | 247 | 263
    )
}

impl Shim {
    /// Run system call `nr` of `p`.
    pub fn syscall(&mut self, p: &mut Process, nr: u64, args: &Args) -> SysResult {
        if crate::heap::free_bytes() < HEAP_RESERVE && !only_frees(nr) {
            return Err(crate::linux::errno::ENOMEM);
        }
        let entry = TABLE.get(nr as usize).copied().unwrap_or(MISSING);
        match entry.handler {
            Some(h) => h(self, p, args),
            None => {
                // Numbers past the table share one log line, so a process
                // cannot grow the set without bound.
                if self.enosys_logged.insert(nr.min(names::COUNT as u64)) {
                    // Three kinds, told apart so a scenario can refuse the
                    // first: a Linux call the shim lacks, one it leaves out
                    // on purpose, a number Linux does not assign.
                    let (what, shown) = match (entry.status, name(nr)) {
                        (Status::Tolerated(_), n) => ("ENOSYS (tolerated)", n),
                        (_, "?") => ("ENOSYS for a number Linux does not assign", "?"),
                        (_, n) => ("ENOSYS", n),
                    };
                    septum_user::println!(
                        "[shim] {what}: {shown} ({nr}), from pid {} ({})",
                        p.pid,
                        p.exe
                    );
                }
                Err(ENOSYS)
            }
        }
    }
}
