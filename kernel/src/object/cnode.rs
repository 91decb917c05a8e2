//! Capability operations on slots: insert, copy/mint, move, delete, revoke,
//! and the destruction of objects whose last capability goes.
//!
//! Every operation either succeeds or fails with a typed error. Deletion is
//! where objects die: when the last capability to an object is deleted, the
//! object is finalised first (a thread is stopped and unlinked from every
//! queue, an endpoint or notification releases its waiters with `PeerGone`,
//! a CNode or TCB deletes the capabilities it holds). Long operations check
//! for a pending interrupt between steps and ask the system-call layer to
//! restart them ([`Fail::Restart`]); all their progress is in the objects,
//! so the restarted call continues where it stopped.

use super::tcb::{State, Tcb};
use super::{CSpace, SLOT_SIZE, Slot, Tree, is_final};
use septum_abi::Error;
use septum_kcore::cap::{Cap, Rights};
use septum_kcore::{cdt, cspace};

/// How an operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fail {
    /// An error for the caller.
    Err(Error),
    /// Preempted: run the same system call again later.
    Restart,
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Err(e)
    }
}

/// Result of a kernel operation.
pub type KResult<T> = Result<T, Fail>;

/// How deep finalising may nest (a CNode holding the last capability to
/// another non-empty CNode, …) before the kernel refuses with `TooDeep`.
const MAX_NESTING: u32 = 8;

/// A CNode, as its capability describes it.
#[derive(Clone, Copy, Debug)]
pub struct CNodeRef {
    pub object: u64,
    pub radix: u8,
}

impl CNodeRef {
    /// The CNode a capability names, if it is one.
    pub fn from_cap(cap: &Cap) -> Option<CNodeRef> {
        match *cap {
            Cap::CNode { object, radix, .. } => Some(CNodeRef { object, radix }),
            _ => None,
        }
    }

    /// Number of slots.
    pub fn slots(&self) -> u64 {
        1 << self.radix
    }

    /// Slot `index`, if it exists.
    pub fn slot(&self, index: u64) -> Option<Slot> {
        (index < self.slots()).then(|| Slot(self.object + index * SLOT_SIZE))
    }
}

/// Resolve `cptr` (all 64 bits) in the capability space rooted at `root`:
/// the slot of the capability an invocation or IPC names.
/// An empty slot names no capability: `InvalidCapability` too.
pub fn lookup_cap(root: Slot, cptr: u64) -> Result<Slot, Error> {
    let found =
        cspace::resolve(&CSpace, &root.raw(), cptr, 64).map_err(|_| Error::InvalidCapability)?;
    if found.slot.is_empty() {
        return Err(Error::InvalidCapability);
    }
    Ok(found.slot)
}

/// Resolve a slot exactly `depth` bits deep below the CNode capability
/// `cnode` (an invocation's target): where a capability is to be written,
/// or which one is to be deleted.
pub fn lookup_slot(cnode: &Cap, index: u64, depth: u64) -> Result<Slot, Error> {
    let depth = u32::try_from(depth).map_err(|_| Error::Range)?;
    if !matches!(cnode, Cap::CNode { .. }) {
        return Err(Error::WrongType);
    }
    let found = cspace::resolve(&CSpace, &cnode.encode(), index, depth).map_err(|e| match e {
        cspace::LookupError::BadDepth { .. } => Error::Range,
        _ => Error::InvalidCapability,
    })?;
    if found.bits_left != 0 {
        return Err(Error::InvalidCapability);
    }
    Ok(found.slot)
}

fn tree_err(e: cdt::Error) -> Error {
    match e {
        cdt::Error::TooDeep { .. } => Error::TooDeep,
        cdt::Error::AlreadyInTree => Error::SlotOccupied,
        cdt::Error::NotInTree => Error::InvalidCapability,
    }
}

/// Put a new capability into the empty slot `dst`: a root of the tree
/// (boot-time untyped) or a child of `parent`.
pub fn insert(dst: Slot, cap: &Cap, parent: Option<Slot>) -> Result<(), Error> {
    if !dst.is_empty() {
        return Err(Error::SlotOccupied);
    }
    match parent {
        None => cdt::insert_root(&mut Tree, dst),
        Some(p) => cdt::insert_child(&mut Tree, p, dst),
    }
    .map_err(tree_err)?;
    dst.set_cap(cap);
    Ok(())
}

/// Copy (or mint, with fewer rights and/or a badge) `src` into empty `dst`.
pub fn copy(src: Slot, dst: Slot, rights: Rights, badge: Option<u64>) -> Result<(), Error> {
    let cap = src.cap();
    if matches!(cap, Cap::Null) {
        return Err(Error::InvalidCapability);
    }
    let derived = cap.derive(rights, badge).map_err(|e| match e {
        septum_kcore::cap::DeriveError::NotCopyable(_) => Error::IllegalOperation,
        _ => Error::IllegalOperation,
    })?;
    insert(dst, &derived, Some(src))
}

/// Move the capability in `src` to empty `dst`, keeping its place in the tree.
pub fn move_cap(src: Slot, dst: Slot) -> Result<(), Error> {
    if src == dst {
        return Err(Error::IllegalOperation);
    }
    let cap = src.cap();
    if matches!(cap, Cap::Null) {
        return Err(Error::InvalidCapability);
    }
    if !dst.is_empty() {
        return Err(Error::SlotOccupied);
    }
    cdt::move_node(&mut Tree, src, dst).map_err(tree_err)?;
    dst.set_cap(&cap);
    src.set_cap(&Cap::Null);
    fix_references(&cap, src, dst);
    Ok(())
}

/// A thread's cspace root is looked up through its TCB slot on every call,
/// so nothing outside slots refers to a slot by address; a moved capability
/// needs no fixing today. (Kept as the one place to change if that ends.)
fn fix_references(_cap: &Cap, _from: Slot, _to: Slot) {}

/// Delete the capability in `slot`. If it was the last one to its object,
/// the object is finalised.
pub fn delete(slot: Slot) -> KResult<()> {
    delete_nested(slot, 0)
}

fn delete_nested(slot: Slot, nesting: u32) -> KResult<()> {
    let cap = slot.cap();
    if matches!(cap, Cap::Null) {
        // Unused or kernel-cleared: make sure nothing dangles.
        return Ok(());
    }
    // Each mapping belongs to one capability, final or not.
    crate::vspace::before_delete(slot);
    if is_final(slot) {
        finalise(&cap, slot, nesting)?;
    }
    // The capability may have been removed while finalising (a TCB or
    // CNode that held its own last capability).
    if slot.is_empty() {
        return Ok(());
    }
    cdt::remove(&mut Tree, slot).map_err(tree_err)?;
    slot.set_cap(&Cap::Null);
    Ok(())
}

/// Delete every capability derived from `slot`'s, one leaf at a time.
pub fn revoke(slot: Slot) -> KResult<()> {
    if slot.is_empty() {
        return Err(Fail::Err(Error::InvalidCapability));
    }
    let mut steps = 0u32;
    while let Some(leaf) = cdt::first_descendant(&Tree, slot) {
        // Find a leaf: a descendant with no descendants of its own.
        let mut leaf = leaf;
        for _ in 0..cdt::MAX_DEPTH {
            match cdt::first_descendant(&Tree, leaf) {
                Some(d) => leaf = d,
                None => break,
            }
        }
        delete(leaf)?;
        steps += 1;
        if steps.is_multiple_of(16) && crate::preempt::pending() {
            return Err(Fail::Restart);
        }
    }
    // An untyped whose children are all gone is free again.
    if let Cap::Untyped {
        base,
        size_bits,
        is_device,
        ..
    } = slot.cap()
    {
        slot.set_cap(&Cap::Untyped {
            base,
            size_bits,
            is_device,
            free_offset: 0,
        });
    }
    Ok(())
}

/// Finalise the object of `cap`, whose last capability is in `slot`.
fn finalise(cap: &Cap, slot: Slot, nesting: u32) -> KResult<()> {
    match *cap {
        Cap::CNode { object, radix, .. } => {
            if nesting >= MAX_NESTING {
                return Err(Fail::Err(Error::TooDeep));
            }
            for i in 0..(1u64 << radix) {
                let s = Slot(object + i * SLOT_SIZE);
                if s == slot {
                    continue;
                }
                delete_nested(s, nesting + 1)?;
                if i % 64 == 63 && crate::preempt::pending() {
                    return Err(Fail::Restart);
                }
            }
            // If the CNode held its own last capability, it goes with it.
            Ok(())
        }
        Cap::Tcb { object } => {
            if nesting >= MAX_NESTING {
                return Err(Fail::Err(Error::TooDeep));
            }
            let t = Tcb(object);
            crate::ipc::cancel(t);
            crate::sched::dequeue(t);
            t.set_state(State::Dead);
            crate::arch::fpu::flush(t.0 + super::tcb::XSAVE);
            for s in t.slots() {
                if s != slot {
                    delete_nested(s, nesting + 1)?;
                }
            }
            if crate::sched::current() == Some(t) {
                crate::sched::yield_current();
            }
            Ok(())
        }
        Cap::Endpoint { object, .. } => {
            crate::ipc::endpoint_destroyed(object);
            Ok(())
        }
        Cap::Notification { object, .. } => {
            crate::ipc::notification_destroyed(object);
            Ok(())
        }
        Cap::Reply { object } => {
            crate::ipc::reply_destroyed(object);
            Ok(())
        }
        Cap::Frame { .. } | Cap::PageTable { .. } => crate::vspace::finalise(cap),
        _ => Ok(()),
    }
}
