//! Signal calls (`crate::signal` holds delivery and the frame) and
//! process groups and sessions.

use super::Args;
use crate::Shim;
use crate::linux::SysResult;
use crate::linux::errno::*;
use crate::process::Process;
use crate::signal::*;
use bytemuck::Zeroable;
use septum_user::abi::fault as fk;

/// A signal number as Linux's `int sig` reads it: 0..=64, else EINVAL.
fn signo(v: u64) -> Result<u32, i64> {
    let s = v as i32;
    if (0..=NSIG as i32).contains(&s) {
        Ok(s as u32)
    } else {
        Err(EINVAL)
    }
}

impl Shim {
    /// Send `info` from `p` to each of `pids` (`p` itself included if it
    /// is one): ESRCH if there are none; a bad signal number is EINVAL
    /// once a target exists (Linux checks the target first).
    fn send_to(
        &mut self,
        p: &mut Process,
        pids: &[u64],
        sig: Result<u32, i64>,
        code: i32,
    ) -> SysResult {
        if pids.is_empty() {
            return Err(ESRCH);
        }
        let sig = sig?;
        if sig == 0 {
            return Ok(0);
        }
        let info = SigInfo::from(sig, code, p.pid);
        for &pid in pids {
            if pid == p.pid {
                self.on_post(p, sig);
                p.queue(info);
            } else {
                self.post(pid, info);
            }
        }
        Ok(0)
    }
}

/// kill(pid, sig): a process (pid > 0), the caller's group (0), every
/// process but 1 and the caller (-1), group -pid (< -1). Every process
/// runs as root, so none is refused.
pub fn kill(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let pid = i64::from(a[0] as i32);
    let sig = signo(a[1]);
    let me = p.pid;
    let pids = match pid {
        0 => {
            let g = p.pgid;
            let mut v = s.pids_where(|q| q.pgid == g);
            v.push(me);
            v
        }
        -1 => s.pids_where(|q| q.pid != 1),
        _ if pid < -1 => {
            let g = pid.unsigned_abs();
            let mut v = s.pids_where(|q| q.pgid == g);
            if p.pgid == g {
                v.push(me);
            }
            v
        }
        _ if pid as u64 == me => alloc::vec![me],
        _ => s.pids_where(|q| q.pid == pid as u64),
    };
    s.send_to(p, &pids, sig, SI_USER)
}

/// tkill(tid, sig): a thread; every process has one, its tid its pid.
pub fn tkill(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let tid = i64::from(a[0] as i32);
    if tid <= 0 {
        return Err(EINVAL);
    }
    let pids = if tid as u64 == p.pid {
        alloc::vec![p.pid]
    } else {
        s.pids_where(|q| q.pid == tid as u64)
    };
    s.send_to(p, &pids, signo(a[1]), SI_TKILL)
}

/// tgkill(tgid, tid, sig): thread `tid` of process `tgid`.
pub fn tgkill(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let (tgid, tid) = (i64::from(a[0] as i32), i64::from(a[1] as i32));
    if tgid <= 0 || tid <= 0 {
        return Err(EINVAL);
    }
    if tgid != tid {
        return Err(ESRCH);
    }
    tkill(s, p, &[a[1], a[2], 0, 0, 0, 0])
}

pub fn rt_sigaction(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let (act, oact, size) = (a[1], a[2], a[3]);
    if size != 8 {
        return Err(EINVAL);
    }
    // Linux's order: the new action is read (EFAULT), the signal checked
    // (EINVAL), the action set, and only then the old one written.
    let new: Option<SigAction> = if act != 0 { Some(s.get(p, act)?) } else { None };
    let sig = a[0] as i32;
    if !(1..=NSIG as i32).contains(&sig)
        || (new.is_some() && (sig as u32 == SIGKILL || sig as u32 == SIGSTOP))
    {
        return Err(EINVAL);
    }
    let sig = sig as u32;
    let old = p.action(sig);
    if let Some(mut n) = new {
        n.mask &= !UNBLOCKABLE;
        p.sigactions[(sig - 1) as usize] = n;
        // A pending signal whose action now ignores it is discarded,
        // blocked or not.
        let ignored = n.handler == SIG_IGN
            || (n.handler == SIG_DFL
                && matches!(default_action(sig), Default::Ignore | Default::Continue));
        if ignored && p.pending & bit(sig) != 0 {
            p.dequeue(sig);
        }
    }
    if oact != 0 {
        s.put(p, oact, &old)?;
    }
    Ok(0)
}

const SIG_BLOCK: u64 = 0;
const SIG_UNBLOCK: u64 = 1;
const SIG_SETMASK: u64 = 2;

pub fn rt_sigprocmask(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let (how, set, oset, size) = (a[0], a[1], a[2], a[3]);
    if size != 8 {
        return Err(EINVAL);
    }
    let old = p.sigmask;
    if set != 0 {
        let v: u64 = s.get(p, set)?;
        let v = v & !UNBLOCKABLE;
        p.sigmask = match how {
            SIG_BLOCK => p.sigmask | v,
            SIG_UNBLOCK => p.sigmask & !v,
            SIG_SETMASK => v,
            _ => return Err(EINVAL),
        };
    }
    if oset != 0 {
        s.put(p, oset, &old)?;
    }
    Ok(0)
}

pub fn rt_sigpending(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let size = a[1];
    if size > 8 {
        return Err(EINVAL);
    }
    let set = (p.pending & p.sigmask).to_le_bytes();
    s.copy_out(p, a[0], &set[..size as usize])?;
    Ok(0)
}

/// rt_sigsuspend(mask, size): wait with `mask` until a handler runs
/// (then EINTR, the old mask back after the handler) or the process dies.
pub fn rt_sigsuspend(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    if a[1] != 8 {
        return Err(EINVAL);
    }
    let mask: u64 = s.get(p, a[0])?;
    p.saved_mask = Some(p.sigmask);
    p.sigmask = mask & !UNBLOCKABLE;
    pause(s, p, a)
}

/// pause: wait until a handler runs (EINTR) or the process dies. Blocks:
/// a signal posted meanwhile interrupts it (`Shim::unblock`), one already
/// pending does so as the call ends (`Shim::settle`).
pub fn pause(_: &mut Shim, p: &mut Process, _: &Args) -> SysResult {
    p.sig_wait = Some(0);
    p.blocks = true;
    Ok(0)
}

/// rt_sigreturn: the frame a handler returns through (its `ret` popped
/// `pretcode`, so RSP is 8 past the frame) gives back every register,
/// the mask, the FPU state and the alternate stack. A frame that cannot
/// be read kills the process with SIGSEGV, as on Linux.
pub fn rt_sigreturn(s: &mut Shim, p: &mut Process, _: &Args) -> SysResult {
    let frame = s.regs[fk::W_RSP].wrapping_sub(8);
    let uc: Result<UContext, i64> = frame
        .checked_add(core::mem::offset_of!(RtSigFrame, uc) as u64)
        .ok_or(EFAULT)
        .and_then(|at| s.get(p, at));
    let fpu = match &uc {
        Ok(uc) if uc.mcontext.fpstate != 0 => {
            let mut area = [0u8; FP_SIZE];
            s.copy_in(p, uc.mcontext.fpstate, &mut area)
                .map(|()| Some(area))
        }
        Ok(_) => Ok(None),
        Err(e) => Err(*e),
    };
    let (Ok(uc), Ok(fpu)) = (uc, fpu) else {
        return Err(bad_frame(s, p));
    };
    if fpu.is_some() && s.mxcsr_mask == 0 {
        // Learnt once: the CPU's mask is the same for every process.
        s.mxcsr_mask = s.read_fpu(p).map(|now| mxcsr_mask(&now)).unwrap_or(0);
    }
    if !frame_ok(&uc, fpu.as_ref(), s.mxcsr_mask) {
        return Err(bad_frame(s, p));
    }
    let mut r = [0u64; 18];
    r.copy_from_slice(&s.regs);
    from_sigcontext(&uc.mcontext, &mut r);
    if r[fk::W_RIP] >= crate::process::USER_TOP {
        // Linux would return there and fault: the same end.
        return Err(bad_frame(s, p));
    }
    let restored = match fpu {
        Some(area) => s.write_fpu(p, &area),
        // No FPU state in the frame: the FPU starts clean.
        None => s.reset_fpu(p),
    };
    if restored.is_err() {
        return Err(bad_frame(s, p));
    }
    p.sigmask = uc.sigmask & !UNBLOCKABLE;
    // The alternate stack as the frame has it; errors are ignored, as
    // Linux's restore_altstack does.
    let _ = set_altstack(p, &uc.stack, r[fk::W_RSP]);
    s.resume_regs = Some(r);
    Ok(r[fk::W_RAX])
}

/// A frame rt_sigreturn cannot use: SIGSEGV, which kills.
fn bad_frame(s: &mut Shim, p: &mut Process) -> i64 {
    s.kill_now(p, SIGSEGV);
    EFAULT
}

/// Install `ss` as `p`'s alternate stack (`sp`: the caller's stack
/// pointer), with sigaltstack's errnos.
fn set_altstack(p: &mut Process, ss: &StackT, sp: u64) -> Result<(), i64> {
    if p.on_altstack(sp) {
        return Err(EPERM);
    }
    let mode = ss.flags & !SS_AUTODISARM;
    if mode != SS_DISABLE && mode != SS_ONSTACK && mode != 0 {
        return Err(EINVAL);
    }
    // Linux changes, and checks, nothing more when asked for the stack
    // that is set (its flags kept as they were given).
    let set = &p.altstack;
    if set.sp == ss.sp && set.size == ss.size && set.flags == ss.flags {
        return Ok(());
    }
    if mode == SS_DISABLE {
        p.altstack = StackT {
            flags: ss.flags,
            ..StackT::zeroed()
        };
        return Ok(());
    }
    if ss.size < MINSIGSTKSZ {
        return Err(ENOMEM);
    }
    p.altstack = StackT {
        sp: ss.sp,
        flags: ss.flags,
        pad: 0,
        size: ss.size,
    };
    Ok(())
}

pub fn sigaltstack(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let sp = s.regs[fk::W_RSP];
    let new: Option<StackT> = if a[0] != 0 {
        Some(s.get(p, a[0])?)
    } else {
        None
    };
    let old = StackT {
        sp: p.altstack.sp,
        flags: p.altstack_flags(sp),
        pad: 0,
        size: p.altstack.size,
    };
    if let Some(ss) = new {
        set_altstack(p, &ss, sp)?;
    }
    if a[1] != 0 {
        s.put(p, a[1], &old)?;
    }
    Ok(0)
}

// ---- process groups and sessions ----

pub fn getpgrp(_: &mut Shim, p: &mut Process, _: &Args) -> SysResult {
    Ok(p.pgid)
}

/// The process `pid` names (0: the caller): its (pgid, sid), or ESRCH.
fn ids_of(s: &Shim, p: &Process, pid: u64) -> Result<(u64, u64), i64> {
    let pid = i64::from(pid as i32);
    if pid == 0 || pid as u64 == p.pid {
        return Ok((p.pgid, p.sid));
    }
    s.procs
        .iter()
        .flatten()
        .find(|q| q.exit.is_none() && pid > 0 && q.pid == pid as u64)
        .map(|q| (q.pgid, q.sid))
        .ok_or(ESRCH)
}

pub fn getpgid(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    ids_of(s, p, a[0]).map(|(g, _)| g)
}

pub fn getsid(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    ids_of(s, p, a[0]).map(|(_, sid)| sid)
}

/// setpgid(pid, pgid): the caller or a child of it, in its session and no
/// session leader, joins group `pgid` (0: its own pid), which must exist
/// in the caller's session unless it is that pid.
pub fn setpgid(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let (pid, pgid) = (i64::from(a[0] as i32), i64::from(a[1] as i32));
    // As Linux: a zero pid is the caller, a zero group the pid, and only
    // then is a negative group EINVAL (so setpgid(-1, 0) is EINVAL).
    let pid = if pid == 0 { p.pid as i64 } else { pid };
    let pgid = if pgid == 0 { pid } else { pgid };
    if pgid < 0 {
        return Err(EINVAL);
    }
    let pgid = pgid as u64;
    let target_sid = if pid as u64 == p.pid {
        p.sid
    } else {
        let child = s
            .procs
            .iter()
            .flatten()
            .find(|q| q.exit.is_none() && pid > 0 && q.pid == pid as u64 && q.ppid == p.pid)
            .ok_or(ESRCH)?;
        if child.sid != p.sid {
            return Err(EPERM);
        }
        child.sid
    };
    if target_sid == pid as u64 {
        // A session leader keeps its group.
        return Err(EPERM);
    }
    if pgid != pid as u64 {
        let sid = p.sid;
        let exists = (p.pgid == pgid)
            || s.procs
                .iter()
                .flatten()
                .any(|q| q.exit.is_none() && q.pgid == pgid && q.sid == sid);
        if !exists {
            return Err(EPERM);
        }
    }
    if pid as u64 == p.pid {
        p.pgid = pgid;
        s.busy_id = Some(crate::process::JobId::of(p));
    } else if let Some(c) = s.procs.iter_mut().flatten().find(|q| q.pid == pid as u64) {
        c.pgid = pgid;
    }
    Ok(0)
}

/// setsid: a new session and group led by the caller, unless it leads a
/// group already (EPERM).
pub fn setsid(s: &mut Shim, p: &mut Process, _: &Args) -> SysResult {
    let me = p.pid;
    if p.pgid == me || !s.pids_where(|q| q.pgid == me).is_empty() {
        return Err(EPERM);
    }
    p.sid = me;
    p.pgid = me;
    s.busy_id = Some(crate::process::JobId::of(p));
    Ok(me)
}
