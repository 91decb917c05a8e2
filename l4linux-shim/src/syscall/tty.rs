//! The console as a terminal: reading and writing it through the line
//! discipline (`crate::tty`), the device's input as it arrives, and the
//! terminal ioctls.

use alloc::vec::Vec;

use super::Args;
use crate::Shim;
use crate::blocked::{IoWait, Waiting};
use crate::fd::{Fd, FdKind};
use crate::linux::errno::*;
use crate::linux::*;
use crate::process::Process;

impl Shim {
    /// Write what a process wrote to the terminal, through its output
    /// processing when the device is a real terminal (the debug console
    /// frames lines itself).
    pub fn tty_write(&mut self, bytes: &[u8]) {
        if self.console.has_input() {
            let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8);
            self.tty.output(bytes, &mut out);
            self.console.write(&mut self.sys.ipc, &out);
        } else {
            self.console.write(&mut self.sys.ipc, bytes);
        }
    }

    /// Take the input the device has through the line discipline: echo
    /// it and send the signals its keys ask for.
    pub fn console_input(&mut self) {
        let mut buf = [0u8; 512];
        loop {
            let n = self.console.input(&mut self.sys.ipc, &mut buf);
            if n == 0 {
                return;
            }
            let (mut echo, mut sigs) = (Vec::new(), Vec::new());
            let now = self.nanos();
            self.tty.receive(&buf[..n], now, &mut echo, &mut sigs);
            if !echo.is_empty() {
                self.console.write(&mut self.sys.ipc, &echo);
            }
            for sig in sigs {
                self.tty_signal(sig);
            }
        }
    }

    /// A signal key was typed: its signal goes to the foreground group.
    fn tty_signal(&mut self, sig: u64) {
        if self.tty.pgrp != 0 {
            self.signal_pgrp(self.tty.pgrp, sig as u32);
        }
    }

    /// A read of the terminal, if it can end now (`None`: it waits,
    /// until `deadline` if that is set).
    pub fn tty_try_read(
        &mut self,
        p: &mut Process,
        buf: u64,
        len: u64,
        since: u64,
        now: u64,
        deadline: &mut Option<u64>,
    ) -> Option<SysResult> {
        if !self.console.has_input() || len == 0 {
            // The debug console has no input: end-of-file.
            return Some(Ok(0));
        }
        if !self.tty.canonical() {
            let (vmin, vtime) = self.tty.vmin_vtime();
            let avail = self.tty.available();
            let want = vmin.min(len as usize);
            let ready = match (vmin, vtime) {
                (_, 0) => avail >= want,
                (0, t) => avail > 0 || now >= since.saturating_add(t),
                (_, t) => avail >= want || (avail > 0 && now >= self.tty.last_input + t),
            };
            *deadline = match (vmin, vtime) {
                (_, 0) => None,
                (0, t) => Some(since.saturating_add(t)),
                (_, t) if avail > 0 => Some(self.tty.last_input + t),
                _ => None,
            };
            if !ready {
                return None;
            }
        } else if !self.tty.readable(1) {
            return None;
        }
        let data = self.tty.take(len.min(4096) as usize);
        Some(self.copy_out(p, buf, &data).map(|()| data.len() as u64))
    }

    /// Linux's job control on the terminal (`tty_check_change`): a
    /// process of its session but not of its foreground group that reads
    /// it (`sig` SIGTTIN), changes its settings or writes it with TOSTOP
    /// (SIGTTOU) sends its whole group `sig` and waits for it; the call is
    /// made again once the group is continued (`Waiting::JobControl`).
    /// If the process blocks or ignores `sig`, a read is EIO and the rest
    /// go on; a group with no parent in another group of the session to
    /// continue it (orphaned) gets EIO. `None`: the call goes on; else its
    /// answer.
    pub fn tty_background(&mut self, p: &mut Process, sig: u32) -> Option<SysResult> {
        use crate::signal::{SIG_IGN, SIGTTIN, bit};
        let t = &self.tty;
        if t.sid == 0 || t.sid != p.sid || t.pgrp == 0 || t.pgrp == p.pgid {
            return None;
        }
        if p.sigmask & bit(sig) != 0 || p.action(sig).handler == SIG_IGN {
            return (sig == SIGTTIN).then_some(Err(EIO));
        }
        if self.group_orphaned(p.pgid, Some(crate::process::JobId::of(p)), 0) {
            return Some(Err(EIO));
        }
        self.signal_pgrp(p.pgid, sig);
        Some(self.block_io(p, IoWait::new(Waiting::JobControl, None)))
    }

    /// `read` of the terminal: blocks unless O_NONBLOCK.
    pub fn tty_read(&mut self, p: &mut Process, f: &Fd, buf: u64, len: u64) -> SysResult {
        if !Process::range_ok(buf, len) {
            return Err(EFAULT);
        }
        if let Some(r) = self.tty_background(p, crate::signal::SIGTTIN) {
            return r;
        }
        let now = self.nanos();
        let mut deadline = None;
        match self.tty_try_read(p, buf, len, now, now, &mut deadline) {
            Some(r) => r,
            None if f.flags() & O_NONBLOCK != 0 => Err(EAGAIN),
            None => {
                let w = Waiting::TtyRead {
                    buf,
                    len,
                    since: now,
                    file: f.clone(),
                };
                self.block_io(p, IoWait::new(w, deadline))
            }
        }
    }

    /// Whether a poll finds the terminal readable.
    pub fn tty_poll_in(&self) -> bool {
        if !self.console.has_input() {
            return true;
        }
        let (vmin, vtime) = self.tty.vmin_vtime();
        let min = if !self.tty.canonical() && vtime == 0 {
            vmin
        } else {
            1
        };
        self.tty.readable(min)
    }
}

const TCGETS: u64 = 0x5401;
const TCSETS: u64 = 0x5402;
const TCSETSW: u64 = 0x5403;
const TCSETSF: u64 = 0x5404;
const TCSBRK: u64 = 0x5409;
const TCXONC: u64 = 0x540a;
const TCFLSH: u64 = 0x540b;
/// ENOTTY unless the console is `p`'s controlling terminal (the
/// process-group and session ioctls need that, as Linux's do).
fn controlling(s: &Shim, p: &Process) -> Result<(), i64> {
    if s.tty.sid != 0 && s.tty.sid == p.sid {
        Ok(())
    } else {
        Err(ENOTTY)
    }
}

const TIOCSCTTY: u64 = 0x540e;
const TIOCGPGRP: u64 = 0x540f;
const TIOCSPGRP: u64 = 0x5410;
const TIOCOUTQ: u64 = 0x5411;
const TIOCGWINSZ: u64 = 0x5413;
const TIOCSWINSZ: u64 = 0x5414;
const FIONREAD: u64 = 0x541b;
const TIOCNOTTY: u64 = 0x5422;
const TIOCGSID: u64 = 0x5429;
const FIONBIO: u64 = 0x5421;

pub fn ioctl(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let f = super::fs::fd_of(p, a[0])?;
    let arg = a[2];
    if a[1] == FIONBIO {
        // Any descriptor: O_NONBLOCK on or off.
        let on: i32 = s.get(p, arg)?;
        let mut file = f.file.borrow_mut();
        if on != 0 {
            file.flags |= O_NONBLOCK;
        } else {
            file.flags &= !O_NONBLOCK;
        }
        return Ok(0);
    }
    if !matches!(f.kind(), FdKind::Console) {
        return Err(ENOTTY);
    }
    if f.hung_up() {
        // As Linux's `hung_up_tty_ioctl`.
        return Err(if a[1] == TIOCSPGRP { ENOTTY } else { EIO });
    }
    // Those that change the terminal, from a background group: SIGTTOU.
    if matches!(a[1], TCSETS | TCSETSW | TCSETSF | TCSBRK | TCXONC | TCFLSH)
        && let Some(r) = s.tty_background(p, crate::signal::SIGTTOU)
    {
        return r;
    }
    match a[1] {
        TCGETS => {
            let t = s.tty.termios;
            s.put(p, arg, &t)?;
            Ok(0)
        }
        TCSETS | TCSETSW | TCSETSF => {
            let t: Termios = s.get(p, arg)?;
            if a[1] == TCSETSF {
                s.tty.flush_input();
            }
            s.tty.set(t);
            Ok(0)
        }
        // tcdrain and tcsendbreak: output is never held back.
        TCSBRK => Ok(0),
        TCXONC => match arg {
            0..=3 => Ok(0),
            _ => Err(EINVAL),
        },
        TCFLSH => match arg {
            0 | 2 => {
                s.tty.flush_input();
                Ok(0)
            }
            1 => Ok(0),
            _ => Err(EINVAL),
        },
        TIOCGWINSZ => {
            let w = s.tty.winsize;
            s.put(p, arg, &w)?;
            Ok(0)
        }
        TIOCSWINSZ => {
            s.tty.winsize = s.get(p, arg)?;
            Ok(0)
        }
        TIOCGPGRP => {
            controlling(s, p)?;
            let pgrp = s.tty.pgrp;
            s.put(p, arg, &(pgrp as u32))?;
            Ok(0)
        }
        TIOCSPGRP => {
            controlling(s, p)?;
            match s.tty_background(p, crate::signal::SIGTTOU) {
                Some(Err(EIO)) => return Err(ENOTTY),
                Some(r) => return r,
                None => {}
            }
            let pgrp: i32 = s.get(p, arg)?;
            if pgrp < 0 {
                return Err(EINVAL);
            }
            // A group of the caller's session (the caller is out of the
            // table while its call is handled).
            let pgrp = pgrp as u64;
            let members = s.pids_where(|q| q.pgid == pgrp);
            let sids: Vec<u64> = s
                .procs
                .iter()
                .flatten()
                .filter(|q| members.contains(&q.pid))
                .map(|q| q.sid)
                .collect();
            if p.pgid != pgrp && sids.is_empty() {
                return Err(ESRCH);
            }
            if sids.iter().any(|&x| x != p.sid) {
                return Err(EPERM);
            }
            s.tty.pgrp = pgrp;
            Ok(0)
        }
        TIOCSCTTY => {
            if s.tty.sid == p.sid && s.tty.sid != 0 {
                return Ok(0);
            }
            // Only a session leader, and only a terminal no live session
            // holds (root may take it with arg 1, as Linux lets it).
            if p.sid != p.pid {
                return Err(EPERM);
            }
            let held = s.tty.sid != 0 && !s.pids_where(|q| q.sid == s.tty.sid).is_empty();
            if held && arg != 1 {
                return Err(EPERM);
            }
            s.tty.sid = p.sid;
            s.tty.pgrp = p.pgid;
            Ok(0)
        }
        TIOCNOTTY => {
            controlling(s, p)?;
            // The session leader gives the terminal up: its foreground
            // group gets SIGHUP and SIGCONT.
            s.hang_up(crate::process::JobId::of(p), false);
            Ok(0)
        }
        TIOCGSID => {
            controlling(s, p)?;
            let sid = s.tty.sid;
            s.put(p, arg, &(sid as u32))?;
            Ok(0)
        }
        FIONREAD => {
            let n = s.tty.available();
            s.put(p, arg, &(n as u32))?;
            Ok(0)
        }
        TIOCOUTQ => {
            s.put(p, arg, &0u32)?;
            Ok(0)
        }
        _ => Err(ENOTTY),
    }
}
