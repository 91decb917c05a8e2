//! The window through which the shim reads and writes its processes'
//! memory. Every frame the shim gives a process is also mapped, through a
//! copy of its capability, in the shim's own address space at
//! `ARENA_BASE + slot * 4096`, where `slot` is the process mapping's
//! capability slot: a page's place in the arena is a function of a slot
//! the shim owns, so two live pages never share one, and a slot is reused
//! only after its frame is gone.
//!
//! [`Arena`] keeps the set of mapped pages and is the only way to touch
//! them; every access is bounds-checked against the page. One of the
//! shim's two places with `unsafe` (with [`crate::heap`]).

use alloc::collections::BTreeSet;

/// Where the arena starts in the shim's address space.
pub const ARENA_BASE: u64 = 0x20_0000_0000;
pub const PAGE: usize = 4096;

/// The arena's mapped pages, by slot.
#[derive(Default)]
pub struct Arena {
    mapped: BTreeSet<u64>,
}

impl Arena {
    /// Where `slot`'s page lies in the shim's address space.
    pub fn address(slot: u64) -> u64 {
        ARENA_BASE + slot * PAGE as u64
    }

    /// The shim has just mapped `slot`'s page (readable and writable) at
    /// [`Arena::address`].
    pub fn mapped(&mut self, slot: u64) {
        self.mapped.insert(slot);
    }

    /// `slot`'s page is about to be unmapped (or its frame destroyed).
    pub fn unmapped(&mut self, slot: u64) {
        self.mapped.remove(&slot);
    }

    fn span(&self, slot: u64, offset: usize, len: usize) -> Option<*mut u8> {
        if !self.mapped.contains(&slot) || offset.checked_add(len)? > PAGE {
            return None;
        }
        Some((Self::address(slot) as usize + offset) as *mut u8)
    }

    /// Copy from `slot`'s page at `offset` into `out`; false if the page
    /// is not mapped or the span leaves it.
    pub fn read(&self, slot: u64, offset: usize, out: &mut [u8]) -> bool {
        let Some(p) = self.span(slot, offset, out.len()) else {
            return false;
        };
        // SAFETY: the page is mapped readable and writable at this address
        // for as long as it is in `mapped` (the shim removes it before
        // unmapping or destroying the frame); the span lies inside it; the
        // shim's own memory never overlaps the arena.
        unsafe { core::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) };
        true
    }

    /// Copy `data` into `slot`'s page at `offset`; false as for [`read`].
    ///
    /// [`read`]: Arena::read
    pub fn write(&mut self, slot: u64, offset: usize, data: &[u8]) -> bool {
        let Some(p) = self.span(slot, offset, data.len()) else {
            return false;
        };
        // SAFETY: as in `read`; the mapping is writable.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
        true
    }
}
