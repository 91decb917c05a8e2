//! Kernel objects in physical memory.
//!
//! Every object a user asked for lives in memory retyped from untyped
//! memory, and the kernel reaches it only as words at physical addresses
//! (`arch::paging::read_word`/`write_word`): no Rust reference into object
//! memory is ever held, so nothing can alias, and the only `unsafe` is in
//! those two accessors. Each object type is a module with its layout and
//! operations; this module holds capability slots, which every object that
//! stores capabilities (CNodes, TCBs) shares.
//!
//! A slot is 32 bytes: the capability's two words, then the derivation-tree
//! links: `prev | depth << 56` and `next | in_tree | (parent depth + 1) << 56`
//! (0 there: no parent). Slot addresses are 32-byte aligned and below 2^56,
//! and physical address 0 is never a slot (the first MiB is reserved), so 0
//! means "none".

pub mod cnode;
pub mod tcb;
pub mod untyped;

use crate::arch::paging::{read_word, write_word};
use septum_kcore::cap::{Cap, CapType, RawCap};
use septum_kcore::{cdt, cspace};

/// Bytes in a slot.
pub const SLOT_SIZE: u64 = 32;

/// A capability slot, by physical address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(pub u64);

impl Slot {
    /// What the slot holds, as stored.
    pub fn raw(self) -> RawCap {
        RawCap {
            w0: read_word(self.0),
            w1: read_word(self.0 + 8),
        }
    }

    /// What the slot holds. A slot the kernel wrote always decodes; if it
    /// does not, the slot reads as empty rather than trusting it. Reserved
    /// bits are not checked here (every call pays for this); the invariant
    /// check decodes every slot fully.
    pub fn cap(self) -> Cap {
        self.raw().decode_trusted().unwrap_or(Cap::Null)
    }

    /// Store a capability (the tree links are not touched).
    pub fn set_cap(self, cap: &Cap) {
        let raw = cap.encode();
        write_word(self.0, raw.w0);
        write_word(self.0 + 8, raw.w1);
    }

    /// Store raw words (a capability moving between slots unchanged).
    pub fn set_raw(self, raw: RawCap) {
        write_word(self.0, raw.w0);
        write_word(self.0 + 8, raw.w1);
    }

    /// Whether the slot is empty (its stored type is `Null`, or it holds
    /// words of no known type, which [`Slot::cap`] reads as empty too).
    pub fn is_empty(self) -> bool {
        matches!(self.raw().kind(), None | Some(CapType::Null))
    }
}

/// The derivation tree over all slots in memory.
pub struct Tree;

const DEPTH_SHIFT: u32 = 56;

impl cdt::SlotStore for Tree {
    type Id = Slot;

    fn links(&self, id: Slot) -> cdt::Links<Slot> {
        let (p, n) = (read_word(id.0 + 16), read_word(id.0 + 24));
        let addr = |w: u64| {
            let a = w & ((1 << DEPTH_SHIFT) - 1) & !(SLOT_SIZE - 1);
            (a != 0).then_some(Slot(a))
        };
        let parent = (n >> DEPTH_SHIFT) as u32;
        cdt::Links {
            prev: addr(p),
            next: addr(n),
            depth: (p >> DEPTH_SHIFT) as u32,
            parent_depth: parent.checked_sub(1),
            in_tree: n & 1 != 0,
        }
    }

    fn set_links(&mut self, id: Slot, l: cdt::Links<Slot>) {
        // Depths are at most MAX_DEPTH (255), and a parent depth is below
        // its node's: both fit the eight bits above the address.
        let prev = l.prev.map_or(0, |s| s.0) | (u64::from(l.depth & 0xff) << DEPTH_SHIFT);
        let parent = l.parent_depth.map_or(0, |p| u64::from(p & 0xff) + 1);
        let next = l.next.map_or(0, |s| s.0) | u64::from(l.in_tree) | (parent << DEPTH_SHIFT);
        write_word(id.0 + 16, prev);
        write_word(id.0 + 24, next);
    }
}

/// Capability-space resolution over slots in memory.
pub struct CSpace;

impl cspace::Slots for CSpace {
    type Slot = Slot;

    fn slot(&self, object: u64, index: u64) -> Slot {
        Slot(object + index * SLOT_SIZE)
    }

    fn read(&self, slot: Slot) -> RawCap {
        slot.raw()
    }
}

/// Whether `slot` holds the last capability to its object: the caps to one
/// object form one contiguous run of the derivation list (a copy is always
/// a descendant of what it was copied from), so only the neighbours can
/// share it.
pub fn is_final(slot: Slot) -> bool {
    let cap = slot.cap();
    let Some(obj) = identity(&cap) else {
        return true;
    };
    let links = cdt::SlotStore::links(&Tree, slot);
    let same = |s: Option<Slot>| {
        s.is_some_and(|s| {
            let c = s.cap();
            c.cap_type() == cap.cap_type() && identity(&c) == Some(obj)
        })
    };
    !same(links.prev) && !same(links.next)
}

/// What makes two capabilities name the same thing: the object, or for
/// the kinds without one, the IRQ line or the I/O-port range.
fn identity(cap: &Cap) -> Option<u64> {
    match *cap {
        Cap::IrqHandler { irq } => Some(u64::from(irq)),
        Cap::IoPort { first, last } => Some(u64::from(first) | u64::from(last) << 16),
        _ => cap.object(),
    }
}
