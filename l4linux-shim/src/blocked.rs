//! Calls that wait for the terminal or for time: a console read, poll and
//! select, and the sleeps. As `wait4` and pipe calls do, such a call is
//! not answered when it arrives: the process keeps the reply object of
//! its call ([`IoWait::reply`]) and the shim receives the next fault with
//! another. Every blocked call is tried again
//!
//! - after each call the shim handles (it may have written a pipe, closed
//!   a descriptor, changed the terminal's settings);
//! - when the serial driver signals input (`dev::INPUT_BIT`): the shim
//!   takes it through the line discipline first;
//! - when the timer's alarm fires (`dev::ALARM_BIT`).
//!
//! A call that can go on is answered then (`Shim::answer_blocked`, which
//! runs a signal handler on the way if one is due); a signal gives a
//! blocked call up through `Shim::unblock` (`Shim::unblock_io` here). The
//! alarm is kept armed for the earliest deadline of any blocked call; a
//! wakeup that comes early by the shim's clock (the timer's clock and the
//! TSC the shim reads are not the same) just arms it again, so no call
//! ever ends before its deadline.

use alloc::vec::Vec;
use septum_user::println;

use crate::Shim;
use crate::dev::{ALARM_BIT, INPUT_BIT};
use crate::linux::SysResult;
use crate::linux::{Pollfd, Timespec};
use crate::process::Process;
use crate::signal::Restart;

/// What a blocked call waits for.
#[derive(Clone, Debug)]
pub enum Waiting {
    /// `read` of the terminal: `buf`, `len`, when it started (VTIME),
    /// and the open file (a hang-up ends the read with end-of-file).
    TtyRead {
        buf: u64,
        len: u64,
        since: u64,
        file: crate::fd::Fd,
    },
    /// poll and ppoll: the descriptors copied in, and where they go back.
    Poll { fds: Vec<Pollfd>, at: u64 },
    /// select and pselect6: the three sets copied in (as 64-bit words),
    /// where they go back, and `nfds`.
    Select {
        nfds: usize,
        sets: [Option<(u64, Vec<u64>)>; 3],
    },
    /// nanosleep and clock_nanosleep; `rem` is where the time left goes
    /// if a signal ends it (0: nowhere).
    Sleep { rem: u64 },
    /// A call of a background process on its controlling terminal that
    /// sent its group SIGTTIN or SIGTTOU (`Shim::tty_background`): only
    /// that signal ends it, and the call is made again once the group is
    /// continued (Linux's -ERESTARTSYS).
    JobControl,
}

/// Where a poll or select call writes back the time it has left
/// (ppoll's and pselect6's timespec, select's timeval).
#[derive(Clone, Copy, Debug)]
pub enum Left {
    None,
    Timespec(u64),
    Timeval(u64),
}

#[derive(Clone, Debug)]
pub struct IoWait {
    pub what: Waiting,
    /// When it ends anyway (shim nanoseconds), if ever.
    pub deadline: Option<u64>,
    pub left: Left,
    /// The signal mask to put back when the call ends (ppoll and
    /// pselect6 wait with the one they were given).
    pub saved_mask: Option<u64>,
    /// The reply object its call is bound to.
    pub reply: u64,
}

impl IoWait {
    pub fn new(what: Waiting, deadline: Option<u64>) -> IoWait {
        IoWait {
            what,
            deadline,
            left: Left::None,
            saved_mask: None,
            reply: 0,
        }
    }
}

impl Shim {
    /// `p`'s call waits: keep it blocked on `w` (the answer comes from
    /// [`Shim::wake_io`]).
    pub fn block_io(&mut self, p: &mut Process, w: IoWait) -> SysResult {
        p.io_wait = Some(w);
        p.blocks = true;
        self.io_blocked += 1;
        Ok(0)
    }

    /// Try `w` again at `now`: its answer if it can end.
    fn retry(&mut self, p: &mut Process, w: &mut IoWait, now: u64) -> Option<SysResult> {
        let expired = w.deadline.is_some_and(|d| now >= d);
        let r = match &mut w.what {
            Waiting::TtyRead { file, .. } if file.hung_up() => Some(Ok(0)),
            Waiting::TtyRead {
                buf, len, since, ..
            } => {
                let (buf, len, since) = (*buf, *len, *since);
                let r = self.tty_try_read(p, buf, len, since, now, &mut w.deadline);
                // A VTIME that passed with nothing read ends with 0.
                r.or_else(|| w.deadline.is_some_and(|d| now >= d).then_some(Ok(0)))
            }
            Waiting::Poll { fds, at } => {
                let at = *at;
                let n = self.poll_scan(p, fds);
                if n > 0 || expired {
                    let fds = core::mem::take(fds);
                    Some(self.poll_done(p, at, &fds, n))
                } else {
                    None
                }
            }
            Waiting::Select { nfds, sets } => {
                let nfds = *nfds;
                match self.select_scan(p, nfds, sets) {
                    Err(e) => Some(Err(e)),
                    Ok((n, out)) if n > 0 || expired => Some(self.select_done(p, sets, out, n)),
                    Ok(_) => None,
                }
            }
            Waiting::Sleep { .. } => expired.then_some(Ok(0)),
            Waiting::JobControl => None,
        }?;
        self.left_back(p, w, now);
        Some(r)
    }

    /// Write the time left back (ppoll, pselect6, select), Linux's way:
    /// nothing for a zero or no timeout, and a bad pointer is ignored.
    pub fn left_back(&mut self, p: &mut Process, w: &IoWait, now: u64) {
        let Some(d) = w.deadline else { return };
        let left = d.saturating_sub(now);
        let _ = match w.left {
            Left::None => Ok(()),
            Left::Timespec(at) => self.put(p, at, &timespec(left)),
            Left::Timeval(at) => {
                let tv = [
                    (left / 1_000_000_000) as i64,
                    (left % 1_000_000_000 / 1000) as i64,
                ];
                self.put(p, at, &tv)
            }
        };
    }

    /// Try every blocked call again; answer those that can end; keep the
    /// alarm armed for the earliest deadline left.
    pub fn wake_io(&mut self) {
        let now = self.nanos();
        let mut earliest: Option<u64> = None;
        for at in 0..self.procs.len() {
            let Some(mut w) = self.procs[at].as_mut().and_then(|p| p.io_wait.take()) else {
                continue;
            };
            let Some(mut p) = self.procs[at].take() else {
                continue;
            };
            match self.retry(&mut p, &mut w, now) {
                Some(r) => {
                    self.io_blocked -= 1;
                    if let Some(m) = w.saved_mask {
                        p.sigmask = m;
                    }
                    // A signal that is deliverable now runs its handler
                    // on the way (or ends the process).
                    self.answer_blocked(&mut p, w.reply, r);
                }
                None => {
                    if let Some(d) = w.deadline {
                        earliest = Some(earliest.map_or(d, |e| e.min(d)));
                    }
                    p.io_wait = Some(w);
                }
            }
            self.procs[at] = Some(p);
        }
        if let Some(d) = earliest {
            self.arm(d, now);
        }
    }

    /// Make sure the alarm fires by `deadline`.
    fn arm(&mut self, deadline: u64, now: u64) {
        let Some(alarm) = self.alarm.as_mut() else {
            if !self.no_timer_logged {
                self.no_timer_logged = true;
                println!("[shim] no timer server: a call that waits for time waits until woken");
            }
            return;
        };
        if alarm.armed.is_some_and(|a| a <= deadline && a > now) {
            return;
        }
        if alarm.set(&mut self.sys.ipc, deadline.saturating_sub(now).max(1)) {
            alarm.armed = Some(deadline);
        }
    }

    /// The shim's bound notification fired with `word`.
    pub fn notified(&mut self, word: u64) {
        if word & INPUT_BIT != 0 {
            self.console_input();
        }
        if word & ALARM_BIT != 0
            && let Some(a) = self.alarm.as_mut()
        {
            a.armed = None;
        }
        if self.io_blocked > 0 {
            self.wake_io();
        }
        if self.dying || !self.child_events.is_empty() {
            // A signal key, or an answer that delivered a signal, killed
            // or stopped a process: take it apart, tell its parent (no
            // call is being answered).
            self.reap();
        }
    }

    /// Give `p`'s blocked call up (a signal came, `Shim::unblock`): the
    /// sleeps write the time they had left, ppoll and pselect6 put the
    /// signal mask back. A read of the terminal is restarted if the
    /// handler has SA_RESTART, as Linux's; poll, select and the sleeps
    /// end with EINTR (Linux's ERESTARTNOHAND and restart block, which a
    /// handler turns into EINTR).
    pub fn unblock_io(&mut self, p: &mut Process, w: IoWait) -> (u64, Restart) {
        self.io_blocked -= 1;
        let now = self.nanos();
        if let Waiting::Sleep { rem } = w.what
            && rem != 0
        {
            let left = w.deadline.map_or(0, |d| d.saturating_sub(now));
            let _ = self.put(p, rem, &timespec(left));
        }
        self.left_back(p, &w, now);
        if let Some(m) = w.saved_mask {
            p.sigmask = m;
        }
        let restart = match w.what {
            Waiting::TtyRead { .. } | Waiting::JobControl => Restart::IfSaRestart,
            _ => Restart::Never,
        };
        (w.reply, restart)
    }
}

/// `ns` nanoseconds as a `timespec`.
pub fn timespec(ns: u64) -> Timespec {
    Timespec {
        tv_sec: (ns / 1_000_000_000) as i64,
        tv_nsec: (ns % 1_000_000_000) as i64,
    }
}
