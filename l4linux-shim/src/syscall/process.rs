//! The process's own state: exit, ids, thread-local storage, the
//! signal bookkeeping glibc does at start, limits and its name.

use super::Args;
use crate::Shim;
use crate::fd::MAX_FDS;
use crate::linux::errno::*;
use crate::linux::*;
use crate::process::{
    Process, RLIM_NLIMITS, RLIMIT_NOFILE, USER_TOP, WCONTINUED, WEXITED, WNOHANG, WNOWAIT,
    WSTOPPED, Waiting,
};
use crate::signal::SigInfo;
use alloc::vec::Vec;
use bytemuck::Zeroable;

pub fn exit(_: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    p.exit = Some(a[0] & 0xff);
    p.wait_status = ((a[0] & 0xff) << 8) as u32;
    Ok(0)
}

const CSIGNAL: u64 = 0xff;
const CLONE_VM: u64 = 0x100;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_SETTLS: u64 = 0x80000;
const CLONE_PARENT_SETTID: u64 = 0x100000;
const CLONE_CHILD_CLEARTID: u64 = 0x200000;
const CLONE_CHILD_SETTID: u64 = 0x1000000;
const SIGCHLD: u64 = 17;

/// fork and vfork: a copy of the process.
pub fn fork(s: &mut Shim, p: &mut Process, _: &Args) -> SysResult {
    s.fork(p, SIGCHLD, 0, 0, 0, 0)
}

/// clone(flags, stack, parent_tid, child_tid, tls) for a new process.
pub fn clone(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let flags = a[0];
    let allowed = CSIGNAL
        | CLONE_VM
        | CLONE_VFORK
        | CLONE_SETTLS
        | CLONE_PARENT_SETTID
        | CLONE_CHILD_CLEARTID
        | CLONE_CHILD_SETTID;
    // A shared address space without vfork is a thread: not yet.
    if flags & !allowed != 0 || (flags & CLONE_VM != 0 && flags & CLONE_VFORK == 0) {
        return Err(EINVAL);
    }
    s.fork(p, flags, a[1], a[2], a[3], a[4])
}

/// What a wait answers for child `child` with wait status `status`:
/// wait4 writes the status and a zeroed rusage and returns the pid;
/// waitid writes a siginfo (`SigInfo::child`) and returns 0.
pub fn wait_result(
    s: &mut Shim,
    p: &mut Process,
    w: &Waiting,
    child: u64,
    status: u32,
) -> SysResult {
    if w.waitid {
        if w.status != 0 {
            s.put(p, w.status, &SigInfo::child(child, status))?;
        }
    } else if w.status != 0 {
        s.put(p, w.status, &status)?;
    }
    if w.rusage != 0 {
        s.copy_out(p, w.rusage, &[0u8; 144])?;
    }
    Ok(if w.waitid { 0 } else { child })
}

/// A wait: answered now (a child to report, ECHILD, WNOHANG), or blocked
/// until a child exits, stops or continues (`Shim::wake_waiter`).
fn wait(s: &mut Shim, p: &mut Process, w: Waiting) -> SysResult {
    let group_of = |c: u64| s.pgid_of(c);
    let found = p.reap(&w, &group_of);
    let any = p.has_child(&w, &group_of);
    if let Some((child, st)) = found {
        return wait_result(s, p, &w, child, st);
    }
    if !any {
        return Err(ECHILD);
    }
    if w.options & WNOHANG != 0 {
        if w.waitid && w.status != 0 {
            // Nothing to report: Linux zeroes the siginfo.
            s.put(p, w.status, &SigInfo::zeroed())?;
        }
        return Ok(0);
    }
    p.waiting = Some(w);
    p.blocks = true;
    Ok(0)
}

/// __WNOTHREAD, __WALL, __WCLONE: accepted (there are no threads).
const WTHREAD_BITS: u64 = 0xe000_0000;

pub fn wait4(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let pid = a[0] as i32 as i64;
    if a[2] & !(WNOHANG | WSTOPPED | WCONTINUED | WTHREAD_BITS) != 0 {
        return Err(EINVAL);
    }
    // 0: the caller's group; < -1: group -pid.
    let group = match pid {
        0 => Some(p.pgid),
        _ if pid < -1 => Some(pid.unsigned_abs()),
        _ => None,
    };
    let w = Waiting {
        pid,
        group,
        status: a[1],
        rusage: a[3],
        options: a[2] | WEXITED,
        waitid: false,
        reply: 0,
    };
    wait(s, p, w)
}

const P_ALL: u64 = 0;
const P_PID: u64 = 1;
const P_PGID: u64 = 2;

/// waitid(idtype, id, infop, options, rusage). Linux writes the
/// siginfo whatever the answer (zeroes when no child is reported), so an
/// infop it cannot write makes even ECHILD or EINVAL an EFAULT.
pub fn waitid(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let r = waitid_checked(s, p, a);
    if r.is_err() && a[2] != 0 {
        s.put(p, a[2], &SigInfo::zeroed())?;
    }
    r
}

fn waitid_checked(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let (idtype, id, options) = (a[0], a[1] as i32 as i64, a[3]);
    let known = WNOHANG | WSTOPPED | WEXITED | WCONTINUED | WNOWAIT | WTHREAD_BITS;
    if options & !known != 0 || options & (WEXITED | WSTOPPED | WCONTINUED) == 0 {
        return Err(EINVAL);
    }
    let (pid, group) = match idtype {
        P_ALL => (-1, None),
        P_PID if id > 0 => (id, None),
        P_PGID if id == 0 => (-1, Some(p.pgid)),
        P_PGID if id > 0 => (-1, Some(id as u64)),
        _ => return Err(EINVAL),
    };
    let w = Waiting {
        pid,
        group,
        status: a[2],
        rusage: a[4],
        options,
        waitid: true,
        reply: 0,
    };
    wait(s, p, w)
}

pub fn getpid(_: &mut Shim, p: &mut Process, _: &Args) -> SysResult {
    Ok(p.pid)
}

pub fn getppid(_: &mut Shim, p: &mut Process, _: &Args) -> SysResult {
    Ok(p.ppid)
}

/// getuid, getgid, geteuid, getegid: every process runs as root.
pub fn getuid(_: &mut Shim, _: &mut Process, _: &Args) -> SysResult {
    Ok(0)
}

pub fn umask(_: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let old = p.umask;
    p.umask = a[0] & 0o777;
    Ok(old)
}

pub fn set_tid_address(_: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    p.tid_address = a[0];
    Ok(p.pid)
}

const ARCH_SET_GS: u64 = 0x1001;
const ARCH_SET_FS: u64 = 0x1002;
const ARCH_GET_FS: u64 = 0x1003;
const ARCH_GET_GS: u64 = 0x1004;

/// The FS base goes to the kernel through the thread's TCB
/// (`TCB_SET_TLS`), as Linux writes the MSR.
pub fn arch_prctl(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    match a[0] {
        ARCH_SET_FS | ARCH_SET_GS => {
            if a[1] >= USER_TOP {
                return Err(EPERM);
            }
            let (fs, gs) = if a[0] == ARCH_SET_FS {
                (a[1], p.gs_base)
            } else {
                (p.fs_base, a[1])
            };
            s.sys.ipc.tcb_set_tls(p.tcb, fs, gs).map_err(|_| EPERM)?;
            (p.fs_base, p.gs_base) = (fs, gs);
            Ok(0)
        }
        ARCH_GET_FS | ARCH_GET_GS => {
            let v = if a[0] == ARCH_GET_FS {
                p.fs_base
            } else {
                p.gs_base
            };
            s.put(p, a[1], &v)?;
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

/// prlimit64 in Linux's order: the new limits are read (EFAULT), the
/// process found (only the caller: ESRCH for another), the resource
/// checked (EINVAL), then the new limits (EINVAL for a soft limit above
/// the hard one; EPERM for more descriptors than the shim holds, as
/// Linux refuses more than its `fs.nr_open`); the old limits are
/// reported as they were and the new ones kept. RLIMIT_NOFILE is
/// enforced (`Process::fd_limit`); the others are kept and reported.
pub fn prlimit64(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let (pid, resource, new, old) = (a[0], a[1] as u32 as usize, a[2], a[3]);
    let new: Option<Rlimit> = if new != 0 { Some(s.get(p, new)?) } else { None };
    if pid != 0 && pid != p.pid {
        return Err(ESRCH);
    }
    if resource >= RLIM_NLIMITS {
        return Err(EINVAL);
    }
    if let Some(r) = new {
        if r.cur > r.max {
            return Err(EINVAL);
        }
        if resource == RLIMIT_NOFILE && r.max > MAX_FDS as u64 {
            return Err(EPERM);
        }
    }
    let was = p.rlimits[resource];
    if let Some(r) = new {
        p.rlimits[resource] = r;
    }
    if old != 0 {
        s.put(p, old, &was)?;
    }
    Ok(0)
}

const PR_SET_NAME: u64 = 15;
const PR_GET_NAME: u64 = 16;
const PR_SET_CHILD_SUBREAPER: u64 = 36;
const PR_GET_CHILD_SUBREAPER: u64 = 37;

pub fn prctl(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    match a[0] {
        PR_SET_NAME => {
            let mut name = [0u8; 16];
            // Up to 16 bytes, stopping at a NUL or the first unreadable page.
            for (i, b) in name.iter_mut().enumerate().take(15) {
                let mut c = [0u8; 1];
                s.copy_in(p, a[1].checked_add(i as u64).ok_or(EFAULT)?, &mut c)?;
                if c[0] == 0 {
                    break;
                }
                *b = c[0];
            }
            p.comm = name;
            Ok(0)
        }
        PR_GET_NAME => {
            let name = p.comm;
            s.copy_out(p, a[1], &name)?;
            Ok(0)
        }
        PR_SET_CHILD_SUBREAPER => {
            p.subreaper = a[1] != 0;
            Ok(0)
        }
        PR_GET_CHILD_SUBREAPER => {
            s.put(p, a[1], &(p.subreaper as i32))?;
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

/// Most argument and environment strings together, and their bytes
/// (Linux bounds them by a quarter of the stack limit: 2 MiB).
const MAX_ARGS: usize = 4096;
const MAX_ARG_BYTES: usize = 256 << 10;
const E2BIG: i64 = 7;

/// The pointers of the NULL-terminated array at `at` (NULL itself:
/// none), as Linux counts them before it reads any string.
fn pointers(s: &mut Shim, p: &mut Process, at: u64) -> Result<Vec<u64>, i64> {
    let mut out = Vec::new();
    if at == 0 {
        return Ok(out);
    }
    loop {
        let ptr: u64 = s.get(p, at.checked_add(out.len() as u64 * 8).ok_or(EFAULT)?)?;
        if ptr == 0 {
            return Ok(out);
        }
        if out.len() >= MAX_ARGS {
            return Err(E2BIG);
        }
        out.push(ptr);
    }
}

/// The strings at `ptrs`, their bytes counted in `total`.
fn strings(
    s: &mut Shim,
    p: &mut Process,
    ptrs: &[u64],
    total: &mut usize,
) -> Result<Vec<Vec<u8>>, i64> {
    let mut out = Vec::with_capacity(ptrs.len());
    for &ptr in ptrs {
        let arg = s
            .cstr(p, ptr, MAX_ARG_BYTES)
            .map_err(|e| if e == ENAMETOOLONG { E2BIG } else { e })?;
        *total += arg.len() + 1;
        if *total > MAX_ARG_BYTES {
            return Err(E2BIG);
        }
        out.push(arg);
    }
    Ok(out)
}

/// execve in Linux's order: the path is read and the file opened (its
/// lookup and permission errors) before the argument and environment
/// arrays are counted, then their strings are copied (environment
/// first), and only then is the file's format looked at.
pub fn execve(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let path = s.cstr(p, a[0], crate::fs::PATH_MAX - 1)?;
    s.exec_file(p.cwd, &path)?;
    let argv_ptrs = pointers(s, p, a[1])?;
    let envp_ptrs = pointers(s, p, a[2])?;
    let mut total = 0;
    let envp = strings(s, p, &envp_ptrs, &mut total)?;
    let argv = strings(s, p, &argv_ptrs, &mut total)?;
    s.exec(p, &path, &argv, &envp)?;
    Ok(0)
}
