//! Pipes: a bounded ring buffer in the shim per pipe. A read of an empty
//! pipe with a writer left, or a write to a full one with a reader left,
//! blocks: the shim keeps the call's reply object (`PipeWait`) and retries
//! it after every call it handles while one is blocked (`Shim::wake_pipes`);
//! a signal interrupts it (`Shim::unblock`).
//! How many ends are open is counted by the open files themselves
//! ([`end_opened`], [`end_closed`]): an open file of a pipe end counts
//! one from when it is made until its last descriptor goes (fork, dup and
//! execve copy descriptors, not open files, so they change no count), as
//! Linux's `pipe->readers` and `pipe->writers` count files. Before, the
//! ends were counted over every descriptor of every process, for each
//! blocked pipe call after each call the shim handled: processes holding
//! many descriptors (100 with 1,024 each) made every call cost the
//! square of them, and `hostile.c` never finished. A pipe no open file
//! names is dropped.

use alloc::collections::VecDeque;
use alloc::vec;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::Shim;
use crate::linux::errno::*;
use crate::linux::{O_NONBLOCK, SysResult};
use crate::process::{PipeWait, Process};
use crate::signal::{SI_USER, SIGPIPE, SigInfo};

/// A pipe's capacity (Linux's is 64 KiB; `PIPE_BUF` atomicity holds
/// below it, since a write that fits is never split).
pub const PIPE_SIZE: usize = 4096;
/// Most pipes alive at once, so a process cannot exhaust the shim's heap.
pub const MAX_PIPES: usize = 256;

/// Open files of each pipe's read end (0) and write end (1). The shim
/// has one thread; atomics make the static `Sync`.
static ENDS: [[AtomicUsize; 2]; MAX_PIPES] =
    [const { [const { AtomicUsize::new(0) }; 2] }; MAX_PIPES];

/// An open file of pipe `id`'s write end (`write`) or read end was made.
pub fn end_opened(id: usize, write: bool) {
    if let Some(e) = ENDS.get(id) {
        e[usize::from(write)].fetch_add(1, Relaxed);
    }
}

/// An open file of pipe `id`'s end was dropped (its last descriptor went).
pub fn end_closed(id: usize, write: bool) {
    if let Some(e) = ENDS.get(id) {
        e[usize::from(write)].fetch_sub(1, Relaxed);
    }
}

/// How many open files of pipe `id`'s read and write ends there are.
pub fn ends(id: usize) -> (usize, usize) {
    ENDS.get(id)
        .map_or((0, 0), |e| (e[0].load(Relaxed), e[1].load(Relaxed)))
}

#[derive(Default)]
pub struct Pipe {
    pub buf: VecDeque<u8>,
}

impl Shim {
    /// A new pipe's id, dropping those no open file names first.
    pub fn new_pipe(&mut self) -> Result<usize, i64> {
        for id in 0..self.pipes.len() {
            if self.pipes[id].is_some() && ends(id) == (0, 0) {
                self.pipes[id] = None;
            }
        }
        let id = match self.pipes.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.pipes.len() < MAX_PIPES => {
                self.pipes.push(None);
                self.pipes.len() - 1
            }
            None => return Err(ENFILE),
        };
        self.pipes[id] = Some(Pipe::default());
        Ok(id)
    }

    /// Try a read (`write` false) or write of pipe `id` for `p`: `None`
    /// if it must wait.
    pub fn pipe_io(&mut self, p: &mut Process, w: &PipeWait) -> Option<SysResult> {
        let (readers, writers) = ends(w.id);
        let Some(pipe) = self.pipes.get_mut(w.id).and_then(Option::as_mut) else {
            return Some(Err(EBADF));
        };
        if w.write {
            if readers == 0 {
                // SIGPIPE to the writer (which kills it unless it is
                // ignored or caught), and EPIPE.
                p.queue(SigInfo::from(SIGPIPE, SI_USER, p.pid));
                return Some(Err(EPIPE));
            }
            let room = PIPE_SIZE - pipe.buf.len();
            if w.len == 0 {
                return Some(Ok(0));
            }
            // A write of up to PIPE_SIZE bytes waits for room for all of it.
            let need = (w.len as usize).min(PIPE_SIZE);
            if room < need {
                return None;
            }
            let n = (w.len as usize).min(room);
            let mut tmp = vec![0u8; n];
            if let Err(e) = self.copy_in(p, w.buf, &mut tmp) {
                return Some(Err(e));
            }
            if let Some(Some(pipe)) = self.pipes.get_mut(w.id) {
                pipe.buf.extend(tmp);
            }
            Some(Ok(n as u64))
        } else {
            if pipe.buf.is_empty() {
                return if writers == 0 || w.len == 0 {
                    Some(Ok(0))
                } else {
                    None
                };
            }
            let n = (w.len as usize).min(pipe.buf.len());
            let tmp: alloc::vec::Vec<u8> = pipe.buf.iter().take(n).copied().collect();
            if let Err(e) = self.copy_out(p, w.buf, &tmp) {
                return Some(Err(e));
            }
            if let Some(Some(pipe)) = self.pipes.get_mut(w.id) {
                pipe.buf.drain(..n);
            }
            Some(Ok(n as u64))
        }
    }

    /// Put what fits of `data` in pipe `id` without blocking (sendfile
    /// into a pipe): the count, EAGAIN if full, EPIPE with no reader.
    pub fn pipe_push(&mut self, id: usize, data: &[u8]) -> Result<usize, i64> {
        let (readers, _) = ends(id);
        let Some(pipe) = self.pipes.get_mut(id).and_then(Option::as_mut) else {
            return Err(EBADF);
        };
        if readers == 0 {
            return Err(EPIPE);
        }
        let n = data.len().min(PIPE_SIZE - pipe.buf.len());
        if n == 0 {
            return Err(EAGAIN);
        }
        pipe.buf.extend(&data[..n]);
        Ok(n)
    }

    /// A read or write on pipe `id` by `p`, blocking unless `flags` has
    /// O_NONBLOCK.
    pub fn pipe_call(
        &mut self,
        p: &mut Process,
        id: usize,
        write: bool,
        flags: u64,
        buf: u64,
        len: u64,
    ) -> SysResult {
        let w = PipeWait {
            id,
            write,
            buf,
            len,
            reply: 0,
        };
        match self.pipe_io(p, &w) {
            Some(r) => r,
            None if flags & O_NONBLOCK != 0 => Err(EAGAIN),
            None => {
                p.pipe_wait = Some(w);
                p.blocks = true;
                self.pipe_blocked += 1;
                Ok(0)
            }
        }
    }

    /// Retry every blocked pipe call, answering those that can go on,
    /// until none can.
    pub fn wake_pipes(&mut self) {
        loop {
            let mut progress = false;
            for at in 0..self.procs.len() {
                let Some(w) = self.procs[at].as_ref().and_then(|p| p.pipe_wait) else {
                    continue;
                };
                let Some(mut p) = self.procs[at].take() else {
                    continue;
                };
                if let Some(r) = self.pipe_io(&mut p, &w) {
                    p.pipe_wait = None;
                    self.pipe_blocked -= 1;
                    progress = true;
                    self.answer_blocked(&mut p, w.reply, r);
                }
                self.procs[at] = Some(p);
            }
            if !progress {
                return;
            }
        }
    }
}
