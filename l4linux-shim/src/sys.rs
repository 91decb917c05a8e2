//! What the shim holds of Septum: its capability slots, its memory quota,
//! its ASID pool, and the page tables of its own address space. Every
//! kernel object the shim makes goes through here.
//!
//! The shim finds its capabilities by asking the kernel (`CNode
//! identify`) rather than trusting constants: slots 1–4 and 6 are fixed
//! by the system description's layout, the untypeds of its quota follow
//! the granted capabilities from slot 8, and the first empty slot after
//! them starts the slots it may use.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use septum_user::abi::Error;
use septum_user::abi::object::{cap_type, object_type as ty, rights};
use septum_user::ipc::Ipc;

/// The shim's own CNode, thread, address space and ASID pool.
pub const CNODE: u64 = 1;
pub const SELF_TCB: u64 = 2;
pub const SELF_VSPACE: u64 = 3;
pub const ASID_POOL: u64 = 6;
/// Depth at which a slot index is its capability pointer.
pub const DEPTH: u64 = 64;
/// First slot after the fixed ones.
const FIRST_GRANT: u64 = 8;
/// Slots in a run ([`Sys::run`]): how many frames one retype makes.
pub const RUN: u64 = 16;

pub struct Sys {
    pub ipc: Ipc,
    next_slot: u64,
    limit: u64,
    free_slots: Vec<u64>,
    /// Untypeds the shim makes its own objects from.
    own: [u64; 8],
    own_count: usize,
    /// The untyped each process's memory is carved from (its largest).
    pub procs: u64,
    /// Bits of the process untyped.
    pub procs_bits: u64,
    /// The process memory cut in chunks ([`Sys::make_chunks`]), and
    /// those no process holds (`crate::mem`).
    pub chunks: Vec<u64>,
    pub free_chunks: Vec<u64>,
    /// Bits of each chunk.
    pub chunk_bits: u64,
    /// Runs of [`RUN`] consecutive slots given back, for reuse.
    free_runs: Vec<u64>,
    /// Page tables made in the shim's own address space: (level, index).
    tables: BTreeSet<(u8, u64)>,
    /// The endpoints the description granted (channels the shim calls:
    /// its devices' servers, `crate::dev`).
    endpoints: [u64; 4],
    endpoint_count: usize,
}

/// What went wrong while setting the shim up.
#[derive(Debug)]
pub struct SetupError(pub &'static str, pub Error);

impl Sys {
    pub fn discover(mut ipc: Ipc) -> Result<Sys, SetupError> {
        let me = ipc
            .cnode_identify(CNODE, (CNODE, DEPTH))
            .map_err(|e| SetupError("identifying its own CNode", e))?;
        let pool = ipc
            .cnode_identify(CNODE, (ASID_POOL, DEPTH))
            .map_err(|e| SetupError("identifying slot 6", e))?;
        if pool.cap_type != cap_type::ASID_POOL {
            return Err(SetupError(
                "slot 6 holds no ASID pool (give the domain `asids` in the description)",
                Error::WrongType,
            ));
        }
        let limit = 1u64 << me.extra.min(20);
        // No heap yet: the heap is made from what this finds.
        let mut untypeds = [(0u64, 0u64); 9];
        let mut found = 0;
        let mut endpoints = [0u64; 4];
        let mut endpoint_count = 0;
        let mut slot = FIRST_GRANT;
        while slot < limit {
            let id = ipc
                .cnode_identify(CNODE, (slot, DEPTH))
                .map_err(|e| SetupError("looking through its slots", e))?;
            if id.cap_type == cap_type::NULL {
                break;
            }
            if id.cap_type == cap_type::UNTYPED && found < untypeds.len() {
                untypeds[found] = (slot, id.extra);
                found += 1;
            }
            if id.cap_type == cap_type::ENDPOINT
                && id.rights & rights::WRITE != 0
                && endpoint_count < endpoints.len()
            {
                endpoints[endpoint_count] = slot;
                endpoint_count += 1;
            }
            slot += 1;
        }
        // The largest untyped for processes, the others for the shim.
        let untypeds = &mut untypeds[..found];
        untypeds.sort_unstable_by_key(|&(_, bits)| core::cmp::Reverse(bits));
        let Some(&(procs, procs_bits)) = untypeds.first() else {
            return Err(SetupError(
                "no memory quota (give the domain `memory`)",
                Error::NotEnoughMemory,
            ));
        };
        if untypeds.len() < 2 {
            return Err(SetupError(
                "one untyped only: the quota must be two powers of two (processes, and the shim's own)",
                Error::NotEnoughMemory,
            ));
        }
        let mut own = [0u64; 8];
        for (o, &(s, _)) in own.iter_mut().zip(&untypeds[1..]) {
            *o = s;
        }
        Ok(Sys {
            ipc,
            next_slot: slot,
            limit,
            free_slots: Vec::new(),
            own,
            own_count: found - 1,
            procs,
            procs_bits,
            chunks: Vec::new(),
            free_chunks: Vec::new(),
            chunk_bits: 0,
            free_runs: Vec::new(),
            tables: BTreeSet::new(),
            endpoints,
            endpoint_count,
        })
    }

    /// The endpoints granted to the shim, in slot order.
    pub fn endpoints(&self) -> &[u64] {
        &self.endpoints[..self.endpoint_count]
    }

    /// An empty slot of the shim's CNode.
    pub fn slot(&mut self) -> Result<u64, Error> {
        if let Some(s) = self.free_slots.pop() {
            return Ok(s);
        }
        if self.next_slot >= self.limit {
            return Err(Error::NotEnoughMemory);
        }
        self.next_slot += 1;
        Ok(self.next_slot - 1)
    }

    /// `s` is empty again.
    pub fn release(&mut self, s: u64) {
        self.free_slots.push(s);
    }

    /// [`RUN`] consecutive empty slots (for one retype of that many
    /// objects): the first of them.
    pub fn run(&mut self) -> Result<u64, Error> {
        if let Some(s) = self.free_runs.pop() {
            return Ok(s);
        }
        if self.next_slot + RUN > self.limit {
            return Err(Error::NotEnoughMemory);
        }
        self.next_slot += RUN;
        Ok(self.next_slot - RUN)
    }

    /// The run starting at `s` is empty again.
    pub fn release_run(&mut self, s: u64) {
        self.free_runs.push(s);
    }

    /// Slots in use, for the accounting line: those ever handed out less
    /// those given back.
    pub fn slots_in_use(&self) -> u64 {
        self.next_slot - self.free_slots.len() as u64 - RUN * self.free_runs.len() as u64
    }

    /// One object of type `t` from `ut` into a new slot.
    pub fn make_from(&mut self, ut: u64, t: u64, bits: u64) -> Result<u64, Error> {
        let s = self.slot()?;
        match self.ipc.retype(ut, t, bits, CNODE, s, 1) {
            Ok(()) => Ok(s),
            Err(e) => {
                self.release(s);
                Err(e)
            }
        }
    }

    /// One object of the shim's own, from whichever own untyped has room.
    pub fn make(&mut self, t: u64, bits: u64) -> Result<u64, Error> {
        let mut last = Error::NotEnoughMemory;
        for i in 0..self.own_count {
            match self.make_from(self.own[i], t, bits) {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Delete the capability in `s` and free the slot.
    pub fn delete(&mut self, s: u64) {
        let _ = self.ipc.cnode_delete(CNODE, (s, DEPTH));
        self.release(s);
    }

    /// Copy the capability in `s` (all its rights) into a new slot.
    pub fn copy(&mut self, s: u64) -> Result<u64, Error> {
        let c = self.slot()?;
        match self
            .ipc
            .cnode_copy(CNODE, (c, DEPTH), CNODE, (s, DEPTH), rights::ALL)
        {
            Ok(()) => Ok(c),
            Err(e) => {
                self.release(c);
                Err(e)
            }
        }
    }

    /// Make sure the page tables for `va` exist in the shim's own address
    /// space, from its own memory, down to `lowest` (1: a 4 KiB page's
    /// table, 2: a 2 MiB page's directory).
    pub fn own_tables(&mut self, va: u64, lowest: u8) -> Result<(), Error> {
        for level in (lowest..=3).rev() {
            let key = (level, va >> (12 + 9 * u64::from(level)));
            if self.tables.contains(&key) {
                continue;
            }
            let t = self.make(ty::PAGE_TABLE, u64::from(level))?;
            if self.ipc.page_table_map(t, SELF_VSPACE, va).is_err() {
                // The root task made this one (the program's, the stack's).
                self.delete(t);
            }
            self.tables.insert(key);
        }
        Ok(())
    }

    /// Map the heap: `HEAP_SIZE` bytes of 2 MiB frames at `HEAP_BASE`,
    /// before there is a heap (so nothing here may allocate: the tables
    /// it makes are not recorded, and `own_tables` finds them mapped).
    /// Returns the bytes mapped.
    pub fn map_heap(&mut self) -> Result<u64, Error> {
        use crate::heap::{HEAP_BASE, HEAP_SIZE};
        for level in [3u64, 2] {
            let t = self.make(ty::PAGE_TABLE, level)?;
            if self.ipc.page_table_map(t, SELF_VSPACE, HEAP_BASE).is_err() {
                // Already there (the root task's); the slot is left unused
                // rather than put on the free list, which needs the heap.
                let _ = self.ipc.cnode_delete(CNODE, (t, DEPTH));
            }
        }
        let mut mapped = 0;
        while mapped < HEAP_SIZE {
            let f = self.make(ty::FRAME_2M, 0)?;
            self.ipc.frame_map(f, SELF_VSPACE, HEAP_BASE + mapped, 1)?;
            mapped += 2 << 20;
        }
        Ok(mapped)
    }

    /// Cut the process memory into chunks of 2^`bits` bytes, kept for
    /// good: a process takes chunks as it grows, its exit revokes each,
    /// and each is whole again for the next (`crate::mem` says why
    /// chunks rather than an untyped per process).
    pub fn make_chunks(&mut self, bits: u64) -> Result<usize, Error> {
        let bits = bits.min(self.procs_bits);
        for _ in 0..1u64 << (self.procs_bits - bits) {
            let s = self.make_from(self.procs, ty::UNTYPED, bits)?;
            self.chunks.push(s);
        }
        self.chunk_bits = bits;
        self.free_chunks = self.chunks.iter().rev().copied().collect();
        Ok(self.chunks.len())
    }

    /// Make the page tables of the arena's whole range: a page for every
    /// slot of the shim's CNode (`crate::arena`).
    pub fn arena_tables(&mut self) -> Result<(), Error> {
        use crate::arena::{ARENA_BASE, PAGE};
        let end = ARENA_BASE + self.limit * PAGE as u64;
        let mut va = ARENA_BASE;
        while va < end {
            self.own_tables(va, 1)?;
            va += 2 << 20;
        }
        Ok(())
    }

    /// Map `frame` in the shim's own address space at `va`.
    pub fn map_own(&mut self, frame: u64, va: u64, attrs: u64, huge: bool) -> Result<(), Error> {
        self.own_tables(va, if huge { 2 } else { 1 })?;
        self.ipc.frame_map(frame, SELF_VSPACE, va, attrs)
    }
}
