//! Waiting for descriptors and for time: poll, ppoll, select, pselect6,
//! nanosleep and clock_nanosleep. A call that must wait blocks
//! (`crate::blocked`) until a descriptor is ready, its timeout passes or
//! a signal interrupts it; the time left is written back as Linux does
//! (ppoll, select, pselect6; nanosleep's `rem` when interrupted).
//!
//! Readiness, as Linux's `poll` methods say it: the terminal is readable
//! when a read would not wait (a line in canonical mode, VMIN bytes in
//! non-canonical mode without VTIME), and always writable; a pipe's read
//! end is readable with data, hung up (POLLHUP) with no writer left; its
//! write end writable with room, in error (POLLERR) with no reader left;
//! files, directories, /dev/null and /dev/zero are always ready.

use alloc::vec;
use alloc::vec::Vec;

use super::Args;
use crate::Shim;
use crate::blocked::{IoWait, Left, Waiting};
use crate::fd::{FdKind, MAX_FDS};
use crate::linux::errno::*;
use crate::linux::*;
use crate::process::Process;

const POLLIN: i16 = 0x1;
const POLLPRI: i16 = 0x2;
const POLLOUT: i16 = 0x4;
const POLLERR: i16 = 0x8;
const POLLHUP: i16 = 0x10;
const POLLNVAL: i16 = 0x20;
const POLLRDNORM: i16 = 0x40;
const POLLWRNORM: i16 = 0x100;
/// What select counts as readable, writable and exceptional.
const SELECT_IN: i16 = POLLIN | POLLRDNORM | POLLHUP | POLLERR;
const SELECT_OUT: i16 = POLLOUT | POLLWRNORM | POLLERR;
const SELECT_EX: i16 = POLLPRI;

const NSEC: u64 = 1_000_000_000;
const SIGKILL_STOP: u64 = (1 << 8) | (1 << 18);

impl Shim {
    /// What descriptor `fd` of `p` is ready for, as poll's `revents`
    /// before they are masked with the events asked for.
    fn ready(&self, p: &Process, fd: i32) -> i16 {
        let f = usize::try_from(fd)
            .ok()
            .and_then(|i| p.fds.get(i).cloned().flatten());
        let Some(f) = f else { return POLLNVAL };
        match f.kind() {
            // As Linux's `hung_up_tty_poll`.
            FdKind::Console if f.hung_up() => {
                POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDNORM | POLLWRNORM
            }
            FdKind::Console => {
                let mut m = POLLOUT | POLLWRNORM;
                if self.tty_poll_in() {
                    m |= POLLIN | POLLRDNORM;
                }
                m
            }
            FdKind::Pipe { id } => {
                let (readers, writers) = crate::pipe::ends(id);
                let held = self
                    .pipes
                    .get(id)
                    .and_then(Option::as_ref)
                    .map_or(0, |x| x.buf.len());
                let mut m = 0;
                if f.flags() & O_ACCMODE == O_WRONLY {
                    if held < crate::pipe::PIPE_SIZE {
                        m |= POLLOUT | POLLWRNORM;
                    }
                    if readers == 0 {
                        m |= POLLERR;
                    }
                } else {
                    if held > 0 {
                        m |= POLLIN | POLLRDNORM;
                    }
                    if writers == 0 {
                        m |= POLLHUP;
                    }
                }
                m
            }
            _ => POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM,
        }
    }

    /// Fill in `revents`; how many descriptors have some.
    pub fn poll_scan(&self, p: &Process, fds: &mut [Pollfd]) -> usize {
        let mut n = 0;
        for f in fds.iter_mut() {
            f.revents = if f.fd < 0 {
                0
            } else {
                self.ready(p, f.fd) & (f.events | POLLERR | POLLHUP | POLLNVAL)
            };
            n += usize::from(f.revents != 0);
        }
        n
    }

    /// poll's answer: the descriptors with their `revents` back at `at`.
    pub fn poll_done(&mut self, p: &mut Process, at: u64, fds: &[Pollfd], n: usize) -> SysResult {
        self.copy_out(p, at, bytemuck::cast_slice(fds))?;
        Ok(n as u64)
    }

    /// Which descriptors of the three sets are ready: the count and the
    /// sets to write back; EBADF for a descriptor in a set that is not
    /// open.
    pub fn select_scan(
        &self,
        p: &Process,
        nfds: usize,
        sets: &[Option<(u64, Vec<u64>)>; 3],
    ) -> Result<(usize, [Vec<u64>; 3]), i64> {
        let words = nfds.div_ceil(64);
        let mut out = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
        let mut n = 0;
        for fd in 0..nfds {
            let (w, bit) = (fd / 64, 1u64 << (fd % 64));
            let asked: [bool; 3] =
                core::array::from_fn(|i| sets[i].as_ref().is_some_and(|(_, s)| s[w] & bit != 0));
            if !asked.iter().any(|&a| a) {
                continue;
            }
            let r = self.ready(p, fd as i32);
            if r & POLLNVAL != 0 {
                return Err(EBADF);
            }
            for (i, mask) in [SELECT_IN, SELECT_OUT, SELECT_EX].into_iter().enumerate() {
                if asked[i] && r & mask != 0 {
                    out[i][w] |= bit;
                    n += 1;
                }
            }
        }
        Ok((n, out))
    }

    /// select's answer: the ready sets written back over the ones given.
    pub fn select_done(
        &mut self,
        p: &mut Process,
        sets: &[Option<(u64, Vec<u64>)>; 3],
        out: [Vec<u64>; 3],
        n: usize,
    ) -> SysResult {
        for (set, ready) in sets.iter().zip(out) {
            if let Some((at, _)) = set {
                self.copy_out(p, *at, bytemuck::cast_slice(&ready))?;
            }
        }
        Ok(n as u64)
    }

    /// A poll or select that found nothing ready: block it, with
    /// `mask` as the signal mask while it waits (ppoll, pselect6).
    fn wait_or_answer(
        &mut self,
        p: &mut Process,
        mut w: IoWait,
        zero: bool,
        mask: Option<u64>,
    ) -> SysResult {
        if zero {
            // Nothing ready and no time to wait: the empty answer now.
            w.deadline = Some(0);
            return match w.what {
                Waiting::Poll { fds, at } => self.poll_done(p, at, &fds, 0),
                Waiting::Select { nfds, sets } => {
                    let (_, out) = self.select_scan(p, nfds, &sets)?;
                    self.select_done(p, &sets, out, 0)
                }
                _ => Ok(0),
            };
        }
        if let Some(m) = mask {
            w.saved_mask = Some(p.sigmask);
            p.sigmask = m & !SIGKILL_STOP;
        }
        self.block_io(p, w)
    }
}

/// A timeout in nanoseconds from a `timespec` at `at`: EFAULT, or EINVAL
/// if it is not a valid one (negative, or 10^9 nanoseconds or more).
fn timespec_arg(s: &mut Shim, p: &mut Process, at: u64) -> Result<u64, i64> {
    let t: Timespec = s.get(p, at)?;
    if t.tv_sec < 0 || !(0..NSEC as i64).contains(&t.tv_nsec) {
        return Err(EINVAL);
    }
    Ok((t.tv_sec as u64)
        .saturating_mul(NSEC)
        .saturating_add(t.tv_nsec as u64))
}

/// A signal mask argument of `size` bytes at `at` (none if `at` is 0).
fn sigmask_arg(s: &mut Shim, p: &mut Process, at: u64, size: u64) -> Result<Option<u64>, i64> {
    if at == 0 {
        return Ok(None);
    }
    if size != 8 {
        return Err(EINVAL);
    }
    s.get(p, at).map(Some)
}

fn do_poll(
    s: &mut Shim,
    p: &mut Process,
    at: u64,
    nfds: u64,
    timeout: Option<u64>,
    left: Left,
    mask: Option<u64>,
) -> SysResult {
    if nfds > p.fd_limit() as u64 {
        return Err(EINVAL);
    }
    let mut fds = vec![Pollfd::default(); nfds as usize];
    s.copy_in(p, at, bytemuck::cast_slice_mut(&mut fds))?;
    let now = s.nanos();
    let n = s.poll_scan(p, &mut fds);
    let mut w = IoWait::new(
        Waiting::Poll {
            fds: Vec::new(),
            at,
        },
        timeout.map(|t| now.saturating_add(t)),
    );
    w.left = left;
    if n > 0 {
        if timeout.is_some_and(|t| t > 0) {
            s.left_back(p, &w, now);
        }
        return s.poll_done(p, at, &fds, n);
    }
    w.what = Waiting::Poll { fds, at };
    s.wait_or_answer(p, w, timeout == Some(0), mask)
}

pub fn poll(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let ms = a[2] as i32;
    let timeout = (ms >= 0).then(|| ms as u64 * 1_000_000);
    do_poll(s, p, a[0], a[1], timeout, Left::None, None)
}

pub fn ppoll(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let timeout = match a[2] {
        0 => None,
        at => Some(timespec_arg(s, p, at)?),
    };
    let mask = sigmask_arg(s, p, a[3], a[4])?;
    let left = if a[2] == 0 {
        Left::None
    } else {
        Left::Timespec(a[2])
    };
    do_poll(s, p, a[0], a[1], timeout, left, mask)
}

#[allow(clippy::too_many_arguments)]
fn do_select(
    s: &mut Shim,
    p: &mut Process,
    nfds: u64,
    ptrs: [u64; 3],
    timeout: Option<u64>,
    left: Left,
    mask: Option<u64>,
) -> SysResult {
    let nfds = nfds as i32;
    if nfds < 0 {
        return Err(EINVAL);
    }
    // As Linux, bits past the descriptor table's size (at least 64) are
    // not looked at.
    let table = p.fds.len().max(64).next_power_of_two().min(MAX_FDS);
    let nfds = (nfds as usize).min(table);
    let words = nfds.div_ceil(64);
    let mut sets: [Option<(u64, Vec<u64>)>; 3] = [None, None, None];
    for (set, at) in sets.iter_mut().zip(ptrs) {
        if at != 0 {
            let mut v = vec![0u64; words];
            s.copy_in(p, at, bytemuck::cast_slice_mut(&mut v))?;
            // Bits past nfds in the last word are not asked for.
            if !nfds.is_multiple_of(64)
                && let Some(last) = v.last_mut()
            {
                *last &= (1u64 << (nfds % 64)) - 1;
            }
            *set = Some((at, v));
        }
    }
    let now = s.nanos();
    let (n, out) = s.select_scan(p, nfds, &sets)?;
    let mut w = IoWait::new(
        Waiting::Select {
            nfds,
            sets: [None, None, None],
        },
        timeout.map(|t| now.saturating_add(t)),
    );
    w.left = left;
    if n > 0 {
        if timeout.is_some_and(|t| t > 0) {
            s.left_back(p, &w, now);
        }
        return s.select_done(p, &sets, out, n);
    }
    w.what = Waiting::Select { nfds, sets };
    s.wait_or_answer(p, w, timeout == Some(0), mask)
}

pub fn select(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let timeout = match a[4] {
        0 => None,
        at => {
            let tv: [i64; 2] = s.get(p, at)?;
            if tv[0] < 0 || tv[1] < 0 {
                return Err(EINVAL);
            }
            // Microseconds past a second carry into the seconds.
            Some(
                (tv[0] as u64)
                    .saturating_mul(NSEC)
                    .saturating_add((tv[1] as u64).saturating_mul(1000)),
            )
        }
    };
    let left = if a[4] == 0 {
        Left::None
    } else {
        Left::Timeval(a[4])
    };
    do_select(s, p, a[0], [a[1], a[2], a[3]], timeout, left, None)
}

pub fn pselect6(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let timeout = match a[4] {
        0 => None,
        at => Some(timespec_arg(s, p, at)?),
    };
    // The sixth argument points to { const sigset_t *ss; size_t ss_len; }.
    let mask = match a[5] {
        0 => None,
        at => {
            let [ss, len]: [u64; 2] = s.get(p, at)?;
            sigmask_arg(s, p, ss, len)?
        }
    };
    let left = if a[4] == 0 {
        Left::None
    } else {
        Left::Timespec(a[4])
    };
    do_select(s, p, a[0], [a[1], a[2], a[3]], timeout, left, mask)
}

/// Sleep until `deadline` (shim nanoseconds); `rem` gets the time left
/// if a signal ends it.
fn sleep_until(s: &mut Shim, p: &mut Process, deadline: u64, rem: u64) -> SysResult {
    if s.nanos() >= deadline {
        return Ok(0);
    }
    s.block_io(p, IoWait::new(Waiting::Sleep { rem }, Some(deadline)))
}

pub fn nanosleep(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let ns = timespec_arg(s, p, a[0])?;
    let deadline = s.nanos().saturating_add(ns);
    sleep_until(s, p, deadline, a[1])
}

const TIMER_ABSTIME: u64 = 1;

pub fn clock_nanosleep(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let (clock, flags, req, rem) = (a[0] as i32, a[1], a[2], a[3]);
    // Which clocks Linux can sleep on: the CPU-time clock of a thread,
    // and the raw and coarse ones, have no sleep (EOPNOTSUPP; glibc's
    // wrapper turns the first into EINVAL itself).
    let realtime = match clock {
        0 | 8 | 11 => true,
        1 | 2 | 7 | 9 => false,
        3..=6 => return Err(EOPNOTSUPP),
        _ => return Err(EINVAL),
    };
    let ns = timespec_arg(s, p, req)?;
    let now = s.nanos();
    if flags & TIMER_ABSTIME != 0 {
        // An absolute time of that clock, as the shim's clock.
        let at = if realtime {
            ns.saturating_sub(super::info::EPOCH_AT_BOOT * NSEC)
        } else {
            ns
        };
        sleep_until(s, p, at, 0)
    } else {
        sleep_until(s, p, now.saturating_add(ns), rem)
    }
}
