//! Job control when processes go: the terminal's hang-up when its
//! session's leader exits or gives it up, orphans handed to a reaper,
//! and the orphaned process group rule (`docs/guest.md`, "Job control").
//!
//! A process group is *orphaned* when no member has a parent in another
//! group of the same session: no shell is left that could continue it.
//! As on Linux (POSIX's rule), a group that a process's exit orphans and
//! that has a stopped member gets SIGHUP then SIGCONT, so it neither
//! stays stopped for ever nor runs on unaware; and the stop signals a
//! terminal sends (SIGTSTP, SIGTTIN, SIGTTOU) are discarded by a member
//! of an orphaned group instead of stopping it.

use alloc::vec::Vec;

use crate::Shim;
use crate::fd::FdKind;
use crate::process::{JobId, Process};
use crate::signal::{self, SIGCONT, SIGHUP, SigInfo};

impl Shim {
    /// The live processes as job control sees them: those in the table
    /// and the one whose call is being answered (out of it), plus
    /// `extra` (a process taken out of the table), without `gone`.
    fn job_ids(&self, extra: Option<JobId>, gone: u64) -> Vec<JobId> {
        let mut all: Vec<JobId> = self
            .procs
            .iter()
            .flatten()
            .filter(|q| q.exit.is_none())
            .map(|q| JobId::of(q))
            .collect();
        for j in [self.busy_id, extra].into_iter().flatten() {
            if !all.iter().any(|q| q.pid == j.pid) {
                all.push(j);
            }
        }
        all.retain(|q| q.pid != gone);
        all
    }

    /// Whether process group `pgid` is orphaned (a group with no member
    /// left is), counting `extra`, a process out of the table, among the
    /// live ones, and `gone`, one that is exiting, not.
    pub fn group_orphaned(&self, pgid: u64, extra: Option<JobId>, gone: u64) -> bool {
        let all = self.job_ids(extra, gone);
        !all.iter().filter(|m| m.pgid == pgid).any(|m| {
            all.iter()
                .any(|q| q.pid == m.ppid && q.pgid != pgid && q.sid == m.sid)
        })
    }

    /// Whether stop signal `sig` (not SIGSTOP) is discarded by `p` (out
    /// of the table), whose group is orphaned.
    pub fn stop_discarded(&self, p: &Process, sig: u32) -> bool {
        sig != signal::SIGSTOP && self.group_orphaned(p.pgid, Some(JobId::of(p)), 0)
    }

    /// Whether a member of group `pgid` is stopped or about to stop.
    fn group_stopped(&self, pgid: u64) -> bool {
        self.procs.iter().flatten().any(|q| {
            q.pgid == pgid
                && q.exit.is_none()
                && (q.stopped.is_some() || q.stop_after_answer.is_some())
        })
    }

    /// The session leader `leader` gives its controlling terminal up
    /// (its exit, or TIOCNOTTY when `exiting` is false): the terminal has
    /// no session or foreground group any more, and that group gets
    /// SIGHUP (and SIGCONT for TIOCNOTTY), as Linux's `disassociate_ctty`
    /// does for a terminal that is not a pseudo-terminal. Nothing if
    /// `leader` leads no session or the terminal is not its session's.
    pub fn hang_up(&mut self, leader: JobId, exiting: bool) {
        if leader.pid != leader.sid || self.tty.sid != leader.sid {
            return;
        }
        let fg = self.tty.pgrp;
        self.tty.sid = 0;
        self.tty.pgrp = 0;
        if exiting {
            self.hang_up_files();
        }
        if fg != 0 {
            self.signal_pgrp(fg, SIGHUP);
            if !exiting {
                self.signal_pgrp(fg, SIGCONT);
            }
        }
    }

    /// Every open file of the terminal is hung up (`OpenFile::hung_up`),
    /// whoever holds it, and reads blocked on one end with end-of-file,
    /// as Linux's `tty_vhangup` does; the terminal itself serves the
    /// next session's new descriptors.
    fn hang_up_files(&mut self) {
        for q in self.procs.iter().flatten() {
            for f in q.fds.iter().flatten() {
                if matches!(f.kind(), FdKind::Console) {
                    f.file.borrow_mut().hung_up = true;
                }
            }
        }
        if self.io_blocked > 0 {
            self.wake_io();
        }
    }

    /// Who takes the children of an exiting process whose parent is
    /// `ppid`: the nearest live ancestor that asked for it with
    /// `PR_SET_CHILD_SUBREAPER`, else init, which is the shim itself (0:
    /// the children are taken apart, unreported, when they exit).
    fn reaper(&self, mut ppid: u64) -> u64 {
        // Each step goes to a lower pid (a parent is older than its
        // child), so the walk ends; the bound is for a table gone wrong.
        for _ in 0..self.procs.len() {
            let Some(q) = self.procs.iter().flatten().find(|q| q.pid == ppid) else {
                return 0;
            };
            if q.subreaper && q.exit.is_none() {
                return q.pid;
            }
            ppid = q.ppid;
        }
        0
    }

    /// Give the children of `p`, which has exited and is out of the
    /// table, to their reaper: the live ones, those that exited and wait
    /// to be reported (the reaper gets SIGCHLD for each, as a parent
    /// does), and the stops and continues not reported yet.
    pub fn reparent(&mut self, p: &mut Process) {
        let reaper = self.reaper(p.ppid);
        let children = core::mem::take(&mut p.children);
        for q in self.procs.iter_mut().flatten() {
            if children.contains(&q.pid) {
                q.ppid = reaper;
            }
        }
        for e in self.child_events.iter_mut() {
            if e.0 == p.pid {
                e.0 = reaper;
            }
        }
        let Some((at, mut r)) = self.take(reaper) else {
            return;
        };
        r.children.extend(children);
        r.changes.append(&mut p.changes);
        let chld = r.action(signal::SIGCHLD);
        if chld.handler != signal::SIG_IGN && chld.flags & signal::SA_NOCLDWAIT == 0 {
            for &(pid, status, pgid) in &p.zombies {
                r.zombies.push((pid, status, pgid));
                r.queue(SigInfo::child(pid, status));
            }
        }
        self.wake_waiter(&mut r);
        if r.exit.is_none() && r.deliverable().is_some() {
            self.kick(&mut r);
        }
        self.procs[at] = Some(r);
    }

    /// After `gone`'s exit (its parent had `parent`'s job identity, if it
    /// had a parent; `children` were its children): each group the exit
    /// orphans, the exiting process's own or a child's of the same
    /// session, gets SIGHUP then SIGCONT if a member is stopped (Linux's
    /// `kill_orphaned_pgrp`).
    pub fn hang_up_orphans(&mut self, gone: JobId, parent: Option<JobId>, children: &[u64]) {
        let mut groups = Vec::new();
        if let Some(q) = parent
            && q.pgid != gone.pgid
            && q.sid == gone.sid
        {
            groups.push(gone.pgid);
        }
        for q in self.procs.iter().flatten() {
            if children.contains(&q.pid)
                && q.pgid != gone.pgid
                && q.sid == gone.sid
                && !groups.contains(&q.pgid)
            {
                groups.push(q.pgid);
            }
        }
        for g in groups {
            if self.group_stopped(g) && self.group_orphaned(g, None, gone.pid) {
                self.signal_pgrp(g, SIGHUP);
                self.signal_pgrp(g, SIGCONT);
            }
        }
    }
}
