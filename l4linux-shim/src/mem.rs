//! A process's memory, and what it is accounted against.
//!
//! The shim's process memory (the largest untyped of its quota) is cut
//! at start into **chunks** of [`CHUNK_BITS`] (256 KiB), kept for good
//! ([`crate::sys::Sys::make_chunks`]). A process takes chunks as it
//! grows, up to [`MAX_CHUNKS`]; every object of the process (its CNode,
//! PML4, thread, page tables and frames) is made from its own chunks,
//! so a process that reaches its limit, or finds the pool empty, gets
//! ENOMEM (or SIGSEGV, for a page fault) and never another's memory.
//! Its exit revokes each of its chunks and gives them back to the pool.
//!
//! Why chunks kept for good rather than an untyped made per process:
//! an untyped's watermark is reset only when nothing made from it is
//! left. An untyped made for a process from the pool, and deleted at
//! its exit, would give its memory back to the pool only when every
//! process made from the pool is gone, which for a shell is never; a
//! chunk that is revoked has nothing made from it left, so its next
//! retype finds it whole. Small chunks, taken as needed, rather than
//! one large slab per process, let a process be as large as its limit
//! while sixteen or more small ones live at once.
//!
//! **Frames are made ahead**, [`RUN`] per retype into a run of
//! consecutive slots, so a first touch costs one `FRAME_MAP` and a
//! sixteenth of a retype. A frame is zero when it is made (the kernel
//! keeps memory above an untyped's watermark zero). A frame that
//! `munmap` (or a shrinking `brk`) takes out of the process is kept on
//! the process's list of unused frames, zeroed through the arena when it
//! is used again: the memory cannot go back to a chunk before the
//! process exits, so it is reused instead.

use alloc::vec::Vec;
use septum_user::abi::Error;
use septum_user::abi::object::object_type as ty;

use crate::arena::Arena;
use crate::linux::errno::ENOMEM;
use crate::sys::{CNODE, DEPTH, RUN, Sys};

/// Each chunk: 256 KiB.
pub const CHUNK_BITS: u64 = 18;
/// Most chunks one process may hold: 16 MiB.
pub const MAX_CHUNKS: usize = 64;

/// A frame for a new page.
pub struct Frame {
    pub slot: u64,
    /// Its copy mapped in the arena, or 0 if it has none yet.
    pub copy: u64,
    /// Used before (after a `munmap`): it must be zeroed.
    pub dirty: bool,
}

/// What a process's memory is made from, and every slot it occupies.
#[derive(Default)]
pub struct Memory {
    /// The chunks it holds; objects are made from the last one.
    chunks: Vec<u64>,
    /// Single slots of its objects (CNode, PML4, thread, page tables,
    /// arena copies of frames).
    slots: Vec<u64>,
    /// Runs of [`RUN`] slots holding its frames.
    runs: Vec<u64>,
    /// Frames made ahead, not yet given a page.
    ahead: Vec<u64>,
    /// Frames taken out of the process (`munmap`), with their arena
    /// copies (0: none), to reuse.
    unused: Vec<(u64, u64)>,
}

impl Memory {
    /// How many chunks it holds.
    pub fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Take one more chunk from the pool: ENOMEM at the limit or when
    /// the pool is empty.
    fn grow(&mut self, sys: &mut Sys) -> Result<u64, i64> {
        if self.chunks.len() >= MAX_CHUNKS {
            return Err(ENOMEM);
        }
        let c = sys.free_chunks.pop().ok_or(ENOMEM)?;
        self.chunks.push(c);
        Ok(c)
    }

    /// The chunk objects are made from now, taking the first if need be.
    fn current(&mut self, sys: &mut Sys) -> Result<u64, i64> {
        match self.chunks.last() {
            Some(&c) => Ok(c),
            None => self.grow(sys),
        }
    }

    /// One object of type `t`, in a slot recorded as the process's.
    pub fn make(&mut self, sys: &mut Sys, t: u64, bits: u64) -> Result<u64, i64> {
        let c = self.current(sys)?;
        let s = match sys.make_from(c, t, bits) {
            Ok(s) => s,
            Err(Error::NotEnoughMemory) => {
                let c = self.grow(sys)?;
                sys.make_from(c, t, bits).map_err(|_| ENOMEM)?
            }
            Err(_) => return Err(ENOMEM),
        };
        self.slots.push(s);
        Ok(s)
    }

    /// Record `s` (a copy of one of its frames) as the process's slot.
    pub fn own(&mut self, s: u64) {
        self.slots.push(s);
    }

    /// A frame for a new page: an unused one (dirty), or one made ahead.
    pub fn frame(&mut self, sys: &mut Sys) -> Result<Frame, i64> {
        if let Some((slot, copy)) = self.unused.pop() {
            return Ok(Frame {
                slot,
                copy,
                dirty: true,
            });
        }
        if self.ahead.is_empty() {
            self.make_frames(sys)?;
        }
        let slot = self.ahead.pop().ok_or(ENOMEM)?;
        Ok(Frame {
            slot,
            copy: 0,
            dirty: false,
        })
    }

    /// `frame` (and its arena copy, 0 if none) is no longer mapped in the
    /// process: keep it for the next page.
    pub fn unused(&mut self, frame: u64, copy: u64) {
        self.unused.push((frame, copy));
    }

    /// Make frames ahead: [`RUN`] of them in one retype, fewer at the end
    /// of a chunk, the next chunk's when this one is full.
    fn make_frames(&mut self, sys: &mut Sys) -> Result<(), i64> {
        let base = sys.run().map_err(|_| ENOMEM)?;
        let r = self.retype_frames(sys, base);
        match r {
            Ok(n) => {
                self.runs.push(base);
                self.ahead.extend((0..n).rev().map(|i| base + i));
                Ok(())
            }
            Err(e) => {
                sys.release_run(base);
                Err(e)
            }
        }
    }

    fn retype_frames(&mut self, sys: &mut Sys, base: u64) -> Result<u64, i64> {
        let c = self.current(sys)?;
        for n in [RUN, RUN / 4, 1] {
            match sys.ipc.retype(c, ty::FRAME, 0, CNODE, base, n) {
                Ok(()) => return Ok(n),
                Err(Error::NotEnoughMemory) => {}
                Err(_) => return Err(ENOMEM),
            }
        }
        let c = self.grow(sys)?;
        sys.ipc
            .retype(c, ty::FRAME, 0, CNODE, base, RUN)
            .map_err(|_| ENOMEM)?;
        Ok(RUN)
    }

    /// Give everything back: revoke each chunk (every object made from it
    /// goes, frames with their arena copies), free the slots and return
    /// the chunks to the pool. The caller has stopped the thread and
    /// told the arena that the process's pages are gone.
    pub fn release(&mut self, sys: &mut Sys, arena: &mut Arena) {
        for &(f, _) in &self.unused {
            arena.unmapped(f);
        }
        for &c in &self.chunks {
            let _ = sys.ipc.cnode_revoke(CNODE, (c, DEPTH));
        }
        for &s in &self.slots {
            sys.release(s);
        }
        for &r in &self.runs {
            sys.release_run(r);
        }
        // With nothing made from them left, their next retype finds
        // them whole (the kernel resets them).
        sys.free_chunks.extend(self.chunks.drain(..).rev());
        *self = Memory::default();
    }
}
