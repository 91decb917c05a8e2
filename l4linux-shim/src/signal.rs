//! Signals: posting, default actions, handlers and the x86_64 signal
//! frame, and how a blocked call is interrupted (`docs/guest.md`,
//! "Signals").
//!
//! A signal is posted to a process ([`Shim::send_signal`], kill, a fault,
//! SIGPIPE, SIGCHLD): it becomes pending, and is delivered as soon as the
//! process is somewhere the shim can change its registers:
//!
//! - the process whose fault is being answered: the answer itself carries
//!   the handler's registers (`RESUME_WITH_REGS`) instead of the result;
//! - a process blocked in a call (its reply object kept): the call is given
//!   up ([`Shim::unblock`]) and answered with the handler's registers, the
//!   interrupted call's result in the frame being -EINTR or a restart;
//! - a process running (preempted in user mode, never inside a fault: the
//!   shim outranks every process, so a process that faults is received at
//!   once): its thread is suspended, its registers read and rewritten, and
//!   it is resumed.
//!
//! A signal whose action is to terminate ends the process wherever it is:
//! its thread is suspended at once, and it is taken apart once no call is
//! being answered ([`Shim::reap`]).

use alloc::vec::Vec;
use bytemuck::{Pod, Zeroable};
use septum_user::abi::fault as fk;
use septum_user::ipc::Message;
use septum_user::println;

use crate::Shim;
use crate::linux::SysResult;
use crate::linux::errno::*;
use crate::process::Process;

// The console's line discipline sends these (^C, ^\\, a hang-up).
#[allow(dead_code)]
pub const SIGHUP: u32 = 1;
#[allow(dead_code)]
pub const SIGINT: u32 = 2;
#[allow(dead_code)]
pub const SIGQUIT: u32 = 3;
pub const SIGILL: u32 = 4;
pub const SIGTRAP: u32 = 5;
pub const SIGBUS: u32 = 7;
pub const SIGFPE: u32 = 8;
pub const SIGKILL: u32 = 9;
pub const SIGSEGV: u32 = 11;
pub const SIGPIPE: u32 = 13;
pub const SIGCHLD: u32 = 17;
pub const SIGCONT: u32 = 18;
pub const SIGSTOP: u32 = 19;
pub const SIGTSTP: u32 = 20;
pub const SIGTTIN: u32 = 21;
pub const SIGTTOU: u32 = 22;
pub const SIGURG: u32 = 23;
pub const SIGWINCH: u32 = 28;
/// Signals are 1..=64.
pub const NSIG: u32 = 64;

/// `sa_handler` values that are no function.
pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

pub const SA_NOCLDSTOP: u64 = 1;
pub const SA_NOCLDWAIT: u64 = 2;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
/// (SA_SIGINFO changes nothing on x86_64: the frame always carries the
/// siginfo and ucontext, and RSI, RDX point at them.)
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;

/// `si_code` values.
pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_TKILL: i32 = -6;
pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;
pub const CLD_DUMPED: i32 = 3;
pub const CLD_STOPPED: i32 = 5;
pub const CLD_CONTINUED: i32 = 6;

/// The bit of `sig` in a signal set.
pub const fn bit(sig: u32) -> u64 {
    1 << (sig - 1)
}

/// What no mask can block.
pub const UNBLOCKABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);

/// `struct sigaction` as the x86_64 kernel takes it (`rt_sigaction`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}
const _: () = assert!(core::mem::size_of::<SigAction>() == 32);

/// `siginfo_t`: 128 bytes; what the union holds depends on the signal
/// (`si_pid`/`si_uid` at 16 and 20 for kill and SIGCHLD, `si_status` at
/// 24; `si_addr` at 16 for faults).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct SigInfo {
    pub signo: i32,
    pub errno: i32,
    pub code: i32,
    pub pad: i32,
    pub fields: [u64; 14],
}
const _: () = assert!(core::mem::size_of::<SigInfo>() == 128);

impl SigInfo {
    /// From a process (`kill`: SI_USER; `tkill`: SI_TKILL), or from the
    /// kernel (`pid` 0: SI_KERNEL).
    pub fn from(sig: u32, code: i32, pid: u64) -> Self {
        let mut i = SigInfo::zeroed();
        i.signo = sig as i32;
        i.code = code;
        i.fields[0] = pid & 0xffff_ffff; // si_pid; si_uid 0 (root)
        i
    }

    /// SIGCHLD's information for child `pid` with wait status `status`
    /// (what waitid reports too): CLD_EXITED and the exit code, CLD_KILLED
    /// (CLD_DUMPED) and the signal, CLD_STOPPED and the stop signal, or
    /// CLD_CONTINUED.
    pub fn child(pid: u64, status: u32) -> Self {
        let (code, st) = if status == crate::process::CONTINUED_STATUS {
            (CLD_CONTINUED, SIGCONT)
        } else if status & 0xff == 0x7f {
            (CLD_STOPPED, status >> 8 & 0xff)
        } else if status & 0x7f == 0 {
            (CLD_EXITED, status >> 8 & 0xff)
        } else if status & 0x80 != 0 {
            (CLD_DUMPED, status & 0x7f)
        } else {
            (CLD_KILLED, status & 0x7f)
        };
        let mut i = SigInfo::from(SIGCHLD, code, pid);
        i.fields[1] = u64::from(st);
        i
    }

    /// A fault at `addr`.
    pub fn fault(sig: u32, code: i32, addr: u64) -> Self {
        let mut i = SigInfo::zeroed();
        i.signo = sig as i32;
        i.code = code;
        i.fields[0] = addr;
        i
    }
}

/// `stack_t` (sigaltstack).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct StackT {
    pub sp: u64,
    pub flags: u32,
    pub pad: u32,
    pub size: u64,
}
const _: () = assert!(core::mem::size_of::<StackT>() == 24);

pub const SS_ONSTACK: u32 = 1;
pub const SS_DISABLE: u32 = 2;
pub const SS_AUTODISARM: u32 = 1 << 31;
pub const MINSIGSTKSZ: u64 = 2048;

/// A signal frame that cannot be built or used (the process is then
/// killed with SIGSEGV), or FPU state the kernel refused.
#[derive(Clone, Copy, Debug)]
pub struct BadFrame;

/// What a signal does when its action is SIG_DFL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Default {
    Terminate,
    Ignore,
    Stop,
    Continue,
}

pub fn default_action(sig: u32) -> Default {
    match sig {
        SIGCHLD | SIGURG | SIGWINCH => Default::Ignore,
        SIGCONT => Default::Continue,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => Default::Stop,
        _ => Default::Terminate,
    }
}

/// Signal names for the shim's log lines.
pub fn name(sig: u32) -> &'static str {
    const N: [&str; 32] = [
        "0",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    N.get(sig as usize).copied().unwrap_or("a real-time signal")
}

/// How a blocked call ends when a handler is to run (Linux's
/// `-ERESTARTSYS` and `-ERESTARTNOHAND`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Restarted if the handler has SA_RESTART, else EINTR (wait4, pipe
    /// and console reads and writes).
    IfSaRestart,
    /// EINTR whatever the flags (pause, rt_sigsuspend, nanosleep).
    Never,
}

impl Process {
    /// The action for `sig`.
    pub fn action(&self, sig: u32) -> SigAction {
        self.sigactions[(sig - 1) as usize]
    }

    /// Whether `sig` would be dropped at once: ignored and not blocked.
    pub fn ignores(&self, sig: u32) -> bool {
        let a = self.action(sig);
        let ignored = a.handler == SIG_IGN
            || (a.handler == SIG_DFL
                && matches!(default_action(sig), Default::Ignore | Default::Continue));
        ignored && self.sigmask & bit(sig) == 0
    }

    /// Make `info`'s signal pending (one of each: a second of the same
    /// kind while one is pending is merged into it, real-time ones too).
    pub fn queue(&mut self, info: SigInfo) {
        let sig = info.signo as u32;
        if !(1..=NSIG).contains(&sig) || self.exit.is_some() || self.ignores(sig) {
            return;
        }
        if self.pending & bit(sig) == 0 {
            self.pending |= bit(sig);
            self.siginfo.push(info);
        }
    }

    /// The next signal to act on: SIGKILL first, then the lowest pending
    /// one not blocked.
    pub fn deliverable(&self) -> Option<u32> {
        let ready = self.pending & !(self.sigmask & !UNBLOCKABLE);
        if ready == 0 {
            None
        } else if ready & bit(SIGKILL) != 0 {
            Some(SIGKILL)
        } else {
            Some(ready.trailing_zeros() + 1)
        }
    }

    /// Take `sig` off the pending set, with its information.
    pub fn dequeue(&mut self, sig: u32) -> SigInfo {
        self.pending &= !bit(sig);
        match self.siginfo.iter().position(|i| i.signo as u32 == sig) {
            Some(at) => self.siginfo.remove(at),
            None => SigInfo::from(sig, SI_KERNEL, 0),
        }
    }

    /// Drop the pending signals that `sig`'s new action ignores.
    pub fn discard_ignored(&mut self) {
        for sig in 1..=NSIG {
            if self.pending & bit(sig) != 0 && self.ignores(sig) {
                self.dequeue(sig);
            }
        }
    }

    /// Whether it waits in a call that a signal could interrupt.
    pub fn is_blocked(&self) -> bool {
        self.waiting.is_some()
            || self.pipe_wait.is_some()
            || self.sig_wait.is_some()
            || self.io_wait.is_some()
    }
}

/// What happens to a process for its next deliverable signal.
enum Plan {
    /// Nothing deliverable (or only ignored ones, now dropped).
    Nothing,
    /// The process ends, killed by this signal.
    Die(u32),
    /// Run the handler for this signal.
    Handle(u32, SigInfo),
    /// Stop the process (a stop signal's default action).
    Stop(u32),
}

impl Shim {
    /// Post signal `sig` to process `pid` as the shim itself does (a
    /// console's ^C, a timer): pending, and delivered now if it can be.
    /// Returns false if there is no such process. Other code calls this.
    pub fn send_signal(&mut self, pid: u64, sig: u32) -> bool {
        self.post(pid, SigInfo::from(sig, SI_KERNEL, 0))
    }

    /// Post `sig` to every process of group `pgid`; false if it has none.
    pub fn signal_pgrp(&mut self, pgid: u64, sig: u32) -> bool {
        let mut pids = self.pids_where(|p| p.pgid == pgid);
        if let Some(b) = self.busy_id
            && b.pgid == pgid
        {
            pids.push(b.pid);
        }
        let any = !pids.is_empty();
        for pid in pids {
            self.post(pid, SigInfo::from(sig, SI_KERNEL, 0));
        }
        any
    }

    /// The pids of the live processes in the table (not the one being
    /// answered, which is out of it) for which `f` holds.
    pub fn pids_where(&self, f: impl Fn(&Process) -> bool) -> Vec<u64> {
        self.procs
            .iter()
            .flatten()
            .filter(|p| p.exit.is_none() && f(p))
            .map(|p| p.pid)
            .collect()
    }

    /// The process group of process `pid` in the table (0: none).
    pub fn pgid_of(&self, pid: u64) -> u64 {
        self.procs
            .iter()
            .flatten()
            .find(|p| p.pid == pid)
            .map_or(0, |p| p.pgid)
    }

    /// Post `info` to `pid`. The process whose call is being answered is
    /// out of the table: its signals wait in `busy_signals` until the call
    /// is done (`Shim::settle` delivers them with the answer).
    pub fn post(&mut self, pid: u64, info: SigInfo) -> bool {
        let sig = info.signo as u32;
        if self.busy_id.is_some_and(|b| b.pid == pid) {
            if sig != 0 {
                self.busy_signals.push(info);
            }
            return true;
        }
        let Some(at) = self
            .procs
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.pid == pid && p.exit.is_none()))
        else {
            return false;
        };
        if sig == 0 {
            return true;
        }
        let Some(mut p) = self.procs[at].take() else {
            return false;
        };
        self.on_post(&mut p, sig);
        p.queue(info);
        self.kick(&mut p);
        self.procs[at] = Some(p);
        if self.busy.is_none() {
            self.reap();
        }
        true
    }

    /// What a signal does as it is posted, before it is pending: SIGCONT
    /// continues a stopped process (even if it is blocked or ignored) and
    /// drops pending stop signals; a stop signal drops a pending SIGCONT.
    pub fn on_post(&mut self, p: &mut Process, sig: u32) {
        const STOPS: u64 = bit(SIGSTOP) | bit(SIGTSTP) | bit(SIGTTIN) | bit(SIGTTOU);
        if sig == SIGCONT {
            for s in [SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU] {
                if p.pending & bit(s) != 0 {
                    p.dequeue(s);
                }
            }
            if p.stopped.take().is_some() {
                let _ = self.sys.ipc.tcb_resume(p.tcb);
                self.child_event(p, crate::process::CONTINUED_STATUS);
            }
        } else if bit(sig) & STOPS != 0 && p.pending & bit(SIGCONT) != 0 {
            p.dequeue(SIGCONT);
        }
    }

    /// Tell `p`'s parent, once no call is being answered (`Shim::reap`),
    /// that `p` stopped or continued.
    fn child_event(&mut self, p: &Process, status: u32) {
        self.child_events.push((p.ppid, p.pid, status));
    }

    /// `p` stops with `sig`: its thread is suspended (the caller has
    /// answered or given up its call first) and its parent told.
    pub fn stop_now(&mut self, p: &mut Process, sig: u32) {
        println!("[shim] pid {} ({}): stopped by {}", p.pid, p.exe, name(sig));
        let _ = self.sys.ipc.tcb_suspend(p.tcb);
        p.stopped = Some(sig);
        self.child_event(p, (sig << 8) | 0x7f);
    }

    /// If `parent` waits for a child that can now be reported (or for
    /// none left: ECHILD), answer its wait.
    pub fn wake_waiter(&mut self, parent: &mut Process) {
        let Some(w) = parent.waiting else {
            return;
        };
        let group_of = |c: u64| self.pgid_of(c);
        let r = match parent.reap(&w, &group_of) {
            Some((child, st)) => crate::syscall::wait_result(self, parent, &w, child, st),
            None if !parent.has_child(&w, &group_of) => Err(ECHILD),
            None => return,
        };
        parent.waiting = None;
        self.answer_blocked(parent, w.reply, r);
    }

    /// What to do for `p`'s next signal: pending signals that are ignored
    /// by the time they come up are dropped on the way.
    fn plan(&mut self, p: &mut Process) -> Plan {
        while let Some(sig) = p.deliverable() {
            let info = p.dequeue(sig);
            let a = p.action(sig);
            match a.handler {
                SIG_IGN if sig != SIGKILL => continue,
                SIG_DFL => match default_action(sig) {
                    Default::Terminate => return Plan::Die(sig),
                    // A terminal's stop signals to an orphaned group
                    // are dropped: no one is left to continue it.
                    Default::Stop if self.stop_discarded(p, sig) => continue,
                    Default::Stop => return Plan::Stop(sig),
                    // SIGCONT did its work as it was posted (`Shim::post`).
                    Default::Ignore | Default::Continue => continue,
                },
                _ if sig == SIGKILL => return Plan::Die(sig),
                _ => return Plan::Handle(sig, info),
            }
        }
        Plan::Nothing
    }

    /// `p` (taken out of the table, not the one being answered) has a
    /// signal posted: act on it now wherever `p` is.
    pub fn kick(&mut self, p: &mut Process) {
        if p.exit.is_some() || p.deliverable().is_none() {
            return;
        }
        if p.stopped.is_some() && p.pending & bit(SIGKILL) == 0 {
            // Stopped: signals wait for SIGCONT, but SIGKILL.
            return;
        }
        match self.plan(p) {
            Plan::Nothing => {}
            Plan::Die(sig) => self.kill_now(p, sig),
            Plan::Stop(sig) => {
                if p.stopped.is_some() {
                    return;
                }
                if let Some((reply, _)) = self.unblock(p) {
                    // Its call is made again once it continues (Linux
                    // restarts it: no handler ran).
                    if let Some(m) = p.saved_mask.take() {
                        p.sigmask = m;
                    }
                    match self.sys.ipc.tcb_read_registers(p.tcb) {
                        Ok(regs) => {
                            let mut r = [0u64; 18];
                            r.copy_from_slice(&regs[..18]);
                            interrupted(&mut r, Restart::IfSaRestart, SA_RESTART);
                            let m = Message::new(fk::RESUME_WITH_REGS, &r);
                            let _ = self.sys.ipc.reply(reply, &m);
                        }
                        Err(_) => {
                            let m = Message::new(fk::RESUME_SYSCALL_RESULT, &[(-EINTR) as u64]);
                            let _ = self.sys.ipc.reply(reply, &m);
                        }
                    }
                    self.spare_replies.push(reply);
                }
                self.stop_now(p, sig);
            }
            Plan::Handle(sig, info) => {
                if p.is_blocked() {
                    let Some((reply, restart)) = self.unblock(p) else {
                        return;
                    };
                    let regs = match self.sys.ipc.tcb_read_registers(p.tcb) {
                        Ok(r) => r,
                        Err(_) => {
                            // Cannot happen for a thread stopped in its
                            // fault; answer EINTR rather than lose it.
                            let m = Message::new(fk::RESUME_SYSCALL_RESULT, &[(-EINTR) as u64]);
                            let _ = self.sys.ipc.reply(reply, &m);
                            self.spare_replies.push(reply);
                            return;
                        }
                    };
                    let mut r = [0u64; 18];
                    r.copy_from_slice(&regs[..18]);
                    interrupted(&mut r, restart, p.action(sig).flags);
                    self.handle_and_answer(p, sig, info, r, reply);
                    self.spare_replies.push(reply);
                } else {
                    // Running: stop it, rewrite its registers, go on.
                    let ipc = &mut self.sys.ipc;
                    if ipc.tcb_suspend(p.tcb).is_err() {
                        return;
                    }
                    let regs = match ipc.tcb_read_registers(p.tcb) {
                        Ok(r) => r,
                        Err(_) => {
                            let _ = ipc.tcb_resume(p.tcb);
                            return;
                        }
                    };
                    let mut r = [0u64; 18];
                    r.copy_from_slice(&regs[..18]);
                    match self.setup_frame(p, sig, &info, &mut r, None) {
                        Ok(()) => {
                            let ipc = &mut self.sys.ipc;
                            if ipc.tcb_write_registers(p.tcb, &r).is_err() {
                                self.kill_now(p, SIGSEGV);
                                return;
                            }
                            let _ = ipc.tcb_resume(p.tcb);
                        }
                        Err(BadFrame) => self.kill_now(p, SIGSEGV),
                    }
                }
            }
        }
    }

    /// Build `sig`'s frame over registers `r` and answer the kept call
    /// `reply` of `p` with the handler's registers (or kill `p` if the
    /// frame cannot be written).
    fn handle_and_answer(
        &mut self,
        p: &mut Process,
        sig: u32,
        info: SigInfo,
        mut r: [u64; 18],
        reply: u64,
    ) {
        match self.setup_frame(p, sig, &info, &mut r, None) {
            Ok(()) => {
                let m = Message::new(fk::RESUME_WITH_REGS, &r);
                if let Err(e) = self.sys.ipc.reply(reply, &m) {
                    println!(
                        "[shim] resuming pid {} in a handler failed: {}",
                        p.pid,
                        e.name()
                    );
                }
            }
            Err(BadFrame) => self.kill_now(p, SIGSEGV),
        }
    }

    /// `p` is killed by `sig`: its thread stops now, its blocked call is
    /// dropped, and it is taken apart by [`Shim::reap`] (or by `settle`
    /// if it is the one being answered).
    pub fn kill_now(&mut self, p: &mut Process, sig: u32) {
        if p.exit.is_some() {
            return;
        }
        println!("[shim] pid {} ({}): killed by {}", p.pid, p.exe, name(sig));
        p.exit = Some(128 + u64::from(sig));
        p.wait_status = sig;
        let _ = self.sys.ipc.tcb_suspend(p.tcb);
        if let Some((reply, _)) = self.unblock(p) {
            self.spare_replies.push(reply);
        }
        self.dying = true;
    }

    /// Take apart the processes killed, and tell parents of the children
    /// stopped or continued, while another's call was answered.
    pub fn reap(&mut self) {
        while self.dying || !self.child_events.is_empty() {
            self.dying = false;
            for at in 0..self.procs.len() {
                if self.procs[at].as_ref().is_some_and(|p| p.exit.is_some())
                    && let Some(p) = self.procs[at].take()
                {
                    self.finish(p);
                }
            }
            for (ppid, pid, status) in core::mem::take(&mut self.child_events) {
                let Some((at, mut parent)) = self.take(ppid) else {
                    continue;
                };
                parent.changes.retain(|&(c, _)| c != pid);
                parent.changes.push((pid, status));
                if parent.action(SIGCHLD).flags & SA_NOCLDSTOP == 0 {
                    parent.queue(SigInfo::child(pid, status));
                }
                self.wake_waiter(&mut parent);
                if parent.exit.is_none() && parent.deliverable().is_some() {
                    self.kick(&mut parent);
                }
                self.procs[at] = Some(parent);
            }
        }
    }

    /// `p` is blocked in a call: give the call up. Returns the reply object
    /// the call is bound to and how the call ends if a handler runs.
    ///
    /// **How a blocked call is interrupted**: every call that blocks keeps
    /// its reply object in a field of the process and adds an arm here;
    /// [`Process::is_blocked`] names the same fields.
    pub fn unblock(&mut self, p: &mut Process) -> Option<(u64, Restart)> {
        if let Some(w) = p.waiting.take() {
            return Some((w.reply, Restart::IfSaRestart));
        }
        if let Some(w) = p.pipe_wait.take() {
            self.pipe_blocked -= 1;
            return Some((w.reply, Restart::IfSaRestart));
        }
        if let Some(reply) = p.sig_wait.take() {
            return Some((reply, Restart::Never));
        }
        if let Some(w) = p.io_wait.take() {
            return Some(self.unblock_io(p, w));
        }
        None
    }

    /// Answer `p`'s blocked call (kept `reply`) with `result`, running a
    /// handler on the way if a signal is deliverable. Every blocked call is
    /// answered through here; the reply object becomes spare.
    pub fn answer_blocked(&mut self, p: &mut Process, reply: u64, result: SysResult) {
        let rax = match result {
            Ok(v) => v,
            Err(e) => (-e) as u64,
        };
        let mut done = false;
        let mut stop = None;
        if p.deliverable().is_some() && p.stopped.is_none() {
            match self.plan(p) {
                Plan::Nothing => {}
                Plan::Die(sig) => {
                    self.kill_now(p, sig);
                    done = true;
                }
                Plan::Handle(sig, info) => {
                    if let Ok(regs) = self.sys.ipc.tcb_read_registers(p.tcb) {
                        let mut r = [0u64; 18];
                        r.copy_from_slice(&regs[..18]);
                        r[fk::W_RAX] = rax;
                        self.handle_and_answer(p, sig, info, r, reply);
                        done = true;
                    }
                }
                Plan::Stop(sig) => stop = Some(sig),
            }
        }
        if !done {
            let m = Message::new(fk::RESUME_SYSCALL_RESULT, &[rax]);
            if let Err(e) = self.sys.ipc.reply(reply, &m) {
                println!("[shim] answering pid {}'s call failed: {}", p.pid, e.name());
            }
        }
        if let Some(sig) = stop {
            // Answered first: it stops after its call, as on Linux.
            self.stop_now(p, sig);
        }
        self.spare_replies.push(reply);
    }

    /// The process being answered has its answer ready (`answer`, or the
    /// registers of `regs_override`): if a signal is deliverable, run its
    /// handler instead. Returns the registers to resume with, if they are
    /// not just the answer.
    pub fn signal_on_answer(
        &mut self,
        p: &mut Process,
        answer: &septum_user::ipc::Short,
        regs_override: Option<[u64; 18]>,
    ) -> Option<[u64; 18]> {
        if p.deliverable().is_none() {
            return regs_override;
        }
        match self.plan(p) {
            Plan::Nothing => regs_override,
            Plan::Die(sig) => {
                self.kill_now(p, sig);
                None
            }
            Plan::Stop(sig) => {
                // `settle` answers the call, then stops it.
                p.stop_after_answer = Some(sig);
                regs_override
            }
            Plan::Handle(sig, info) => {
                let mut r = match regs_override {
                    Some(r) => r,
                    None => {
                        let Ok(regs) = self.sys.ipc.tcb_read_registers(p.tcb) else {
                            return None;
                        };
                        let mut r = [0u64; 18];
                        r.copy_from_slice(&regs[..18]);
                        if answer.label == fk::RESUME_SYSCALL_RESULT {
                            r[fk::W_RAX] = answer.words[0];
                        }
                        r
                    }
                };
                match self.setup_frame(p, sig, &info, &mut r, None) {
                    Ok(()) => Some(r),
                    Err(BadFrame) => {
                        self.kill_now(p, SIGSEGV);
                        None
                    }
                }
            }
        }
    }

    /// A fault `p` cannot go on from (a page fault no area allows, an
    /// exception): `sig` goes to its handler, if it has one that is not
    /// blocked; otherwise it is killed (as Linux's forced signals are).
    /// Returns the registers to resume with in the handler.
    pub fn fault_signal(
        &mut self,
        p: &mut Process,
        sig: u32,
        info: SigInfo,
        fault: (u64, u64, u64),
    ) -> Option<[u64; 18]> {
        let a = p.action(sig);
        let caught = a.handler != SIG_DFL && a.handler != SIG_IGN && p.sigmask & bit(sig) == 0;
        if caught && let Ok(regs) = self.sys.ipc.tcb_read_registers(p.tcb) {
            let mut r = [0u64; 18];
            r.copy_from_slice(&regs[..18]);
            if self.setup_frame(p, sig, &info, &mut r, Some(fault)).is_ok() {
                return Some(r);
            }
        }
        p.exit = Some(128 + u64::from(sig));
        p.wait_status = sig;
        None
    }
}

/// The registers `r` of a process blocked in a system call, changed to
/// what the interrupted call leaves in its frame: -EINTR, or the call made
/// again (RIP back over the 2-byte `syscall`, RAX the number, which the
/// registers still hold: the call was never answered).
fn interrupted(r: &mut [u64; 18], restart: Restart, flags: u64) {
    if restart == Restart::IfSaRestart && flags & SA_RESTART != 0 {
        r[fk::W_RIP] = r[fk::W_RIP].wrapping_sub(2);
    } else {
        r[fk::W_RAX] = (-EINTR) as u64;
    }
}

// ---- the x86_64 signal frame (Linux's `struct rt_sigframe`) ----

/// `struct sigcontext` (x86_64, `asm/sigcontext.h`): 256 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct SigContext {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub eflags: u64,
    pub cs: u16,
    pub gs: u16,
    pub fs: u16,
    pub ss: u16,
    pub err: u64,
    pub trapno: u64,
    pub oldmask: u64,
    pub cr2: u64,
    pub fpstate: u64,
    pub reserved: [u64; 8],
}
const _: () = assert!(core::mem::size_of::<SigContext>() == 256);
const _: () = assert!(core::mem::offset_of!(SigContext, err) == 152);

/// `struct ucontext` (`asm-generic/ucontext.h`): 304 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct UContext {
    pub flags: u64,
    pub link: u64,
    pub stack: StackT,
    pub mcontext: SigContext,
    pub sigmask: u64,
}
const _: () = assert!(core::mem::size_of::<UContext>() == 304);

/// `struct rt_sigframe` (x86_64): the return address (`sa_restorer`),
/// the ucontext, the siginfo; the FPU state follows, 64-byte aligned.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct RtSigFrame {
    pub pretcode: u64,
    pub uc: UContext,
    pub info: SigInfo,
}
const _: () = assert!(core::mem::size_of::<RtSigFrame>() == 440);
const UC_OFFSET: u64 = core::mem::offset_of!(RtSigFrame, uc) as u64;
const INFO_OFFSET: u64 = core::mem::offset_of!(RtSigFrame, info) as u64;

/// The x86-64 ABI's red zone below the stack pointer, left alone.
const REDZONE: u64 = 128;
/// The FPU state in the frame: FXSAVE's 512-byte legacy area (x87, MXCSR,
/// XMM0–15), its software-reserved bytes zero, so no `FP_XSTATE_MAGIC1`:
/// the frame says "fxsave format" to whoever reads it.
pub const FP_SIZE: usize = 512;
const FP_WORDS: usize = FP_SIZE / 8;
/// Bytes 464..512 of the FXSAVE area: the software-reserved part.
const FP_SW_RESERVED: usize = 464;
/// `uc_flags`: the sigcontext's `ss` is meaningful, and restored strictly.
const UC_SIGCONTEXT_SS: u64 = 2;
const UC_STRICT_RESTORE_SS: u64 = 4;
/// The selectors Linux's user mode uses (`__USER_CS`, `__USER_DS`).
const USER_CS: u16 = 0x33;
const USER_DS: u16 = 0x2b;
/// RFLAGS bits a handler starts without: DF, TF, RF.
const HANDLER_CLEARS: u64 = 0x400 | 0x100 | 0x1_0000;
/// RFLAGS bits `rt_sigreturn` takes from the frame (Linux's `FIX_EFLAGS`:
/// CF, PF, AF, ZF, SF, TF, DF, OF, RF, AC); the kernel keeps IF set.
pub const FIX_EFLAGS: u64 =
    0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x1_0000 | 0x4_0000;

/// The FPU's state at reset, as a handler starts with it (Linux clears
/// the user FPU state for a handler): FCW 0x37f, MXCSR 0x1f80, all else 0.
fn fpu_init() -> [u64; FP_WORDS] {
    let mut w = [0u64; FP_WORDS];
    w[0] = 0x037f;
    w[3] = 0x1f80;
    w
}

/// Registers in fault order into a sigcontext, and back.
pub fn to_sigcontext(r: &[u64; 18]) -> SigContext {
    let mut c = SigContext::zeroed();
    c.r8 = r[fk::W_R8];
    c.r9 = r[fk::W_R9];
    c.r10 = r[fk::W_R10];
    c.r11 = r[fk::W_R11];
    c.r12 = r[fk::W_R12];
    c.r13 = r[fk::W_R13];
    c.r14 = r[fk::W_R14];
    c.r15 = r[fk::W_R15];
    c.rdi = r[fk::W_RDI];
    c.rsi = r[fk::W_RSI];
    c.rbp = r[fk::W_RBP];
    c.rbx = r[fk::W_RBX];
    c.rdx = r[fk::W_RDX];
    c.rax = r[fk::W_RAX];
    c.rcx = r[fk::W_RCX];
    c.rsp = r[fk::W_RSP];
    c.rip = r[fk::W_RIP];
    c.eflags = r[fk::W_RFLAGS];
    c.cs = USER_CS;
    c.ss = USER_DS;
    c
}

/// Byte offsets of MXCSR and MXCSR_MASK in the FXSAVE area.
const MXCSR_AT: usize = 24;
const MXCSR_MASK_AT: usize = 28;
/// The MXCSR bits every SSE CPU allows when FXSAVE reports no mask
/// (Intel SDM 11.6.6): all of the low 16 but DAZ.
const MXCSR_MASK_DEFAULT: u32 = 0xffbf;

fn le32(area: &[u8; FP_SIZE], at: usize) -> u32 {
    u32::from_le_bytes([area[at], area[at + 1], area[at + 2], area[at + 3]])
}

/// Whether a sigcontext and its FPU area may be loaded into the CPU as
/// `rt_sigreturn` restores them. Linux returns through `iret` with the
/// frame's code selector (and, with UC_STRICT_RESTORE_SS, its stack
/// selector) ORed with 3, and restores the FPU area with `fxrstor`: a
/// selector other than the 64-bit user ones, or MXCSR bits the CPU
/// reserves (`mask`: MXCSR_MASK of the process's own FXSAVE area),
/// fault there and the process gets SIGSEGV. The shim would resume with
/// its own selectors and the kernel would quietly clear the reserved
/// bits, so it refuses the frame, with the same end.
pub fn frame_ok(uc: &UContext, fpu: Option<&[u8; FP_SIZE]>, mask: u32) -> bool {
    let c = &uc.mcontext;
    if c.cs | 3 != USER_CS {
        return false;
    }
    if uc.flags & UC_STRICT_RESTORE_SS != 0 && c.ss | 3 != USER_DS {
        return false;
    }
    let mask = if mask == 0 { MXCSR_MASK_DEFAULT } else { mask };
    fpu.is_none_or(|area| le32(area, MXCSR_AT) & !mask == 0)
}

/// The MXCSR_MASK a process's CPU reports (0: none reported).
pub fn mxcsr_mask(area: &[u8; FP_SIZE]) -> u32 {
    le32(area, MXCSR_MASK_AT)
}

pub fn from_sigcontext(c: &SigContext, r: &mut [u64; 18]) {
    r[fk::W_R8] = c.r8;
    r[fk::W_R9] = c.r9;
    r[fk::W_R10] = c.r10;
    r[fk::W_R11] = c.r11;
    r[fk::W_R12] = c.r12;
    r[fk::W_R13] = c.r13;
    r[fk::W_R14] = c.r14;
    r[fk::W_R15] = c.r15;
    r[fk::W_RDI] = c.rdi;
    r[fk::W_RSI] = c.rsi;
    r[fk::W_RBP] = c.rbp;
    r[fk::W_RBX] = c.rbx;
    r[fk::W_RDX] = c.rdx;
    r[fk::W_RAX] = c.rax;
    r[fk::W_RCX] = c.rcx;
    r[fk::W_RSP] = c.rsp;
    r[fk::W_RIP] = c.rip;
    r[fk::W_RFLAGS] = (c.eflags & FIX_EFLAGS) | (r[fk::W_RFLAGS] & !FIX_EFLAGS);
}

impl Process {
    /// Whether `sp` lies on its alternate signal stack.
    pub fn on_altstack(&self, sp: u64) -> bool {
        let s = &self.altstack;
        // With SS_AUTODISARM the stack is given up as a handler starts on
        // it, so nothing counts as on it (as Linux's `on_sig_stack`).
        s.flags & SS_AUTODISARM == 0 && s.size != 0 && sp > s.sp && sp - s.sp <= s.size
    }

    /// `ss_flags` as `sigaltstack` reports them for stack pointer `sp`.
    pub fn altstack_flags(&self, sp: u64) -> u32 {
        if self.altstack.size == 0 {
            SS_DISABLE
        } else if self.on_altstack(sp) {
            SS_ONSTACK | (self.altstack.flags & SS_AUTODISARM)
        } else {
            self.altstack.flags & SS_AUTODISARM
        }
    }
}

impl Shim {
    /// The thread's FPU state, FXSAVE's legacy area (words 0..64 of its
    /// FPU area, whichever of XSAVE or FXSAVE the kernel uses).
    pub fn read_fpu(&mut self, p: &Process) -> Result<[u8; FP_SIZE], BadFrame> {
        let m = self.sys.ipc.tcb_read_fpu(p.tcb, 0).map_err(|_| BadFrame)?;
        let mut out = [0u8; FP_SIZE];
        for (i, chunk) in out.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&m.word(i).to_le_bytes());
        }
        Ok(out)
    }

    /// Set the thread's FPU state from an FXSAVE-format area.
    pub fn write_fpu(&mut self, p: &Process, area: &[u8; FP_SIZE]) -> Result<(), BadFrame> {
        let mut w = [0u64; FP_WORDS];
        for (i, chunk) in area.chunks_exact(8).enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            w[i] = u64::from_le_bytes(b);
        }
        self.sys
            .ipc
            .tcb_write_fpu(p.tcb, 0, &w)
            .map_err(|_| BadFrame)
    }

    /// Reset the thread's FPU state (x87, MXCSR, XMM0–15) to the reset
    /// values.
    pub fn reset_fpu(&mut self, p: &Process) -> Result<(), BadFrame> {
        self.sys
            .ipc
            .tcb_write_fpu(p.tcb, 0, &fpu_init())
            .map_err(|_| BadFrame)
    }

    /// Build the frame for `sig` on `p`'s stack (or its alternate stack)
    /// over the registers `r` it would have resumed with, and change `r`
    /// to the handler's start; apply the handler's mask, SA_RESETHAND and
    /// a clean FPU. `fault` is (error code, vector, CR2) for a fault's
    /// signal. Err: the frame cannot be built (no SA_RESTORER, which
    /// x86_64 requires; a stack that cannot take it): the caller kills
    /// `p` with SIGSEGV, as Linux does.
    pub fn setup_frame(
        &mut self,
        p: &mut Process,
        sig: u32,
        info: &SigInfo,
        r: &mut [u64; 18],
        fault: Option<(u64, u64, u64)>,
    ) -> Result<(), BadFrame> {
        let a = p.action(sig);
        if a.flags & SA_RESTORER == 0 || a.handler >= crate::process::USER_TOP {
            return Err(BadFrame);
        }
        let sp0 = r[fk::W_RSP];
        let mut sp = sp0.wrapping_sub(REDZONE);
        let mut entering = false;
        if a.flags & SA_ONSTACK != 0 && p.altstack.size != 0 && !p.on_altstack(sp0) {
            sp = p.altstack.sp.wrapping_add(p.altstack.size);
            entering = true;
        }
        let fp = sp.wrapping_sub(FP_SIZE as u64) & !63;
        let frame =
            (fp.wrapping_sub(core::mem::size_of::<RtSigFrame>() as u64) & !15).wrapping_sub(8);
        if (entering || p.on_altstack(sp0)) && frame < p.altstack.sp {
            // The frame would run off the alternate stack.
            return Err(BadFrame);
        }
        let mut area = self.read_fpu(p)?;
        area[FP_SW_RESERVED..].fill(0);
        self.copy_out(p, fp, &area).map_err(|_| BadFrame)?;
        let saved_mask = p.saved_mask.unwrap_or(p.sigmask);
        let mut mc = to_sigcontext(r);
        if let Some((err, trapno, cr2)) = fault {
            (mc.err, mc.trapno, mc.cr2) = (err, trapno, cr2);
        }
        mc.oldmask = saved_mask;
        mc.fpstate = fp;
        let f = RtSigFrame {
            pretcode: a.restorer,
            uc: UContext {
                flags: UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS,
                link: 0,
                stack: StackT {
                    sp: p.altstack.sp,
                    flags: p.altstack_flags(sp0),
                    pad: 0,
                    size: p.altstack.size,
                },
                mcontext: mc,
                sigmask: saved_mask,
            },
            info: *info,
        };
        self.put(p, frame, &f).map_err(|_| BadFrame)?;
        // Delivered: the handler's mask, its one shot, its stack, its FPU.
        p.saved_mask = None;
        let defer = if a.flags & SA_NODEFER != 0 {
            0
        } else {
            bit(sig)
        };
        p.sigmask = (p.sigmask | a.mask | defer) & !UNBLOCKABLE;
        if a.flags & SA_RESETHAND != 0 {
            p.sigactions[(sig - 1) as usize].handler = SIG_DFL;
        }
        if entering && p.altstack.flags & SS_AUTODISARM != 0 {
            p.altstack = StackT {
                flags: SS_DISABLE,
                ..StackT::default()
            };
        }
        let _ = self.reset_fpu(p);
        r[fk::W_RDI] = u64::from(sig);
        r[fk::W_RSI] = frame + INFO_OFFSET;
        r[fk::W_RDX] = frame + UC_OFFSET;
        r[fk::W_RAX] = 0;
        r[fk::W_RSP] = frame;
        r[fk::W_RIP] = a.handler;
        r[fk::W_RFLAGS] &= !HANDLER_CLEARS;
        Ok(())
    }
}
