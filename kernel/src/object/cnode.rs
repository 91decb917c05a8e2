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
use septum_kcore::cap::{Cap, CapType, Rights};
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

/// Resolve `cptr` (all 64 bits) in the capability space of thread `t`:
/// the slot of the capability an invocation or IPC names.
/// An empty slot names no capability: `InvalidCapability` too.
#[inline]
pub fn lookup_cap(t: Tcb, cptr: u64) -> Result<Slot, Error> {
    let slot = match t.flat_space() {
        Some(space) => space.slot(cptr).ok_or(Error::InvalidCapability)?,
        None => resolve_cap(t.cspace_slot(), cptr)?,
    };
    if slot.is_empty() {
        return Err(Error::InvalidCapability);
    }
    Ok(slot)
}

/// [`lookup_cap`] for capability spaces of any other shape, out of line.
#[inline(never)]
fn resolve_cap(root: Slot, cptr: u64) -> Result<Slot, Error> {
    cspace::resolve(&CSpace, &root.raw(), cptr, 64)
        .map(|found| found.slot)
        .map_err(|_| Error::InvalidCapability)
}

/// The common capability-space shape: a single CNode whose guard and
/// radix use all 64 bits of a pointer (the root task's, and every
/// domain's), as `(radix, guard, CNode address)`; `None` if `root` is
/// not of that shape (the general resolution applies). Threads resolve
/// through it in one step, cached: `Tcb::flat_space`.
pub fn flat_shape(root: Slot) -> Option<(u64, u64, u64)> {
    let raw = root.raw();
    if raw.kind() != Some(CapType::CNode) {
        return None;
    }
    let radix = raw.w1 & 0x1f;
    let guard_bits = (raw.w1 >> 5) & 0x3f;
    if radix == 0 || radix + guard_bits != 64 {
        return None;
    }
    Some((radix, raw.w1 >> 11, raw.object()))
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
/// so nothing outside slots refers to a slot by address, but for installed
/// I/O-port capabilities, whose installation records their slot.
fn fix_references(cap: &Cap, from: Slot, to: Slot) {
    if matches!(cap, Cap::IoPort { .. }) {
        crate::ioport::moved(from, to);
    }
}

/// Delete the capability in `slot`. If it was the last one to its object,
/// the object is destroyed.
///
/// Objects that hold capabilities (CNodes, TCBs) are destroyed without
/// recursion. Their last capability becomes a **zombie** in place — still
/// in the derivation tree, recording how many slots are left to clear —
/// and the loop deletes their capabilities from the end. A capability
/// inside that is itself the last one to a CNode or TCB (or a zombie) is
/// *swapped* into the slot being worked on, so the nested object is
/// destroyed there first, while the outer zombie **waits** inside its own
/// object and resumes afterwards through the nested zombie's `resume`.
///
/// One rule keeps that pointer valid: a waiting zombie is touched only
/// through the `resume` of the zombie that parked it. Deleting it directly
/// does nothing, and a revoke steps past it (its untyped cannot be reset
/// while it is there), so its slot can be neither freed nor reused while
/// something points at it. Cycles need no special case: every step
/// removes a capability or shrinks a zombie. All progress is in the
/// capabilities, so a preempted call restarts where it stopped.
pub fn delete(slot: Slot) -> KResult<()> {
    if matches!(slot.cap(), Cap::Zombie { waiting: true, .. }) {
        return Ok(());
    }
    let mut top = slot;
    // Steps since the last look for a pending interrupt (or since the call
    // began), a look every `DELETE_CHUNK`. Every step is bounded: destroying an
    // address space, once a 4,096-entry scan of the ASID table, reads its
    // ASID from the PML4 (`vspace::finalise`).
    let mut work = 0u32;
    loop {
        if work >= DELETE_CHUNK {
            work = 0;
            if crate::preempt::pending() {
                return Err(Fail::Restart);
            }
        }
        work += 1;
        match top.cap() {
            Cap::Null => return Ok(()),
            Cap::Zombie {
                object,
                tcb,
                radix,
                count,
                resume,
                waiting: _,
            } => {
                let found = last_occupied(object, tcb, count, top);
                let (index, inner) = match found {
                    Scan::Preempted(at) => {
                        // Slots from `at` up are empty: keep that progress.
                        let z = Cap::Zombie {
                            object,
                            tcb,
                            radix,
                            count: at,
                            resume,
                            waiting: false,
                        };
                        top.set_cap(&z);
                        return Err(Fail::Restart);
                    }
                    Scan::Empty => {
                        // Nothing left inside: the object is gone, and its
                        // last capability leaves the tree. The zombie that
                        // waited for it goes on (and only ever from here).
                        cdt::remove(&mut Tree, top).map_err(tree_err)?;
                        top.set_cap(&Cap::Null);
                        let Some(next) = waiting_zombie(resume) else {
                            return Ok(());
                        };
                        // Carry on in the caller's own slot where that is
                        // safe (it does not lie in the object that just
                        // went), so that a restart of this call finds the
                        // work there instead of an empty slot.
                        let gone = object..object + object_bytes(tcb, radix);
                        if top == slot && !gone.contains(&slot.0) {
                            cdt::move_node(&mut Tree, next, slot).map_err(tree_err)?;
                            slot.set_raw(next.raw());
                            next.set_cap(&Cap::Null);
                        } else {
                            top = next;
                        }
                        continue;
                    }
                    Scan::Found(index, inner) => (index, inner),
                };
                // Slots above `index` are empty now.
                let z = Cap::Zombie {
                    object,
                    tcb,
                    radix,
                    count: index + 1,
                    resume,
                    waiting: false,
                };
                top.set_cap(&z);
                if needs_zombie(inner) {
                    // The nested object goes first, in `top`; this zombie
                    // waits at `inner`, inside its own object.
                    let nested = inner.cap();
                    swap(top, inner)?;
                    inner.set_cap(&Cap::Zombie {
                        object,
                        tcb,
                        radix,
                        count: index + 1,
                        resume,
                        waiting: true,
                    });
                    top.set_cap(&wait_for(nested, inner));
                } else {
                    // The zombie above already keeps the progress.
                    delete_one(inner)?;
                }
            }
            cap @ (Cap::CNode { .. } | Cap::Tcb { .. }) if is_final(top) => {
                top.set_cap(&begin_destruction(&cap, 0));
            }
            _ => delete_one(top)?,
        }
    }
}

/// The waiting zombie at `resume`, made the working one (0 or anything
/// else there: none — a resume pointer is only ever followed to the
/// waiting zombie it was made for).
fn waiting_zombie(resume: u64) -> Option<Slot> {
    if resume == 0 {
        return None;
    }
    let at = Slot(resume);
    match at.cap() {
        Cap::Zombie {
            object,
            tcb,
            radix,
            count,
            resume,
            waiting: true,
        } => {
            at.set_cap(&Cap::Zombie {
                object,
                tcb,
                radix,
                count,
                resume,
                waiting: false,
            });
            Some(at)
        }
        _ => None,
    }
}

/// `nested` (now being destroyed first) must wake the zombie parked at
/// `waiter` when it is done: the zombie it becomes records that. If it is
/// already a zombie with waiters of its own, `waiter` goes after them.
fn wait_for(nested: Cap, waiter: Slot) -> Cap {
    match nested {
        Cap::Zombie {
            resume: 0,
            object,
            tcb,
            radix,
            count,
            ..
        } => Cap::Zombie {
            object,
            tcb,
            radix,
            count,
            resume: waiter.0,
            waiting: false,
        },
        Cap::Zombie { resume, .. } => {
            // Walk its waiters (each one a waiting zombie) to the last one.
            // A chain longer than this, or a link that is not a waiting
            // zombie, leaves `waiter` parked: safe, finished by nothing but
            // never freed either (its untyped cannot be reset).
            let mut at = Slot(resume);
            for _ in 0..65536 {
                match at.cap() {
                    Cap::Zombie {
                        resume: 0,
                        object,
                        tcb,
                        radix,
                        count,
                        waiting: true,
                    } => {
                        let z = Cap::Zombie {
                            object,
                            tcb,
                            radix,
                            count,
                            resume: waiter.0,
                            waiting: true,
                        };
                        at.set_cap(&z);
                        break;
                    }
                    Cap::Zombie {
                        resume: next,
                        waiting: true,
                        ..
                    } if next != 0 => at = Slot(next),
                    _ => break,
                }
            }
            nested
        }
        other => begin_destruction(&other, waiter.0),
    }
}

/// Delete one capability whose object, if this was its last capability,
/// holds nothing that needs a zombie.
fn delete_one(slot: Slot) -> KResult<()> {
    let cap = slot.cap();
    if matches!(cap, Cap::Null) {
        return Ok(());
    }
    // Each mapping belongs to one capability, final or not.
    crate::vspace::before_delete(slot);
    crate::ioport::before_delete(slot);
    if is_final(slot) {
        finalise(&cap)?;
    }
    cdt::remove(&mut Tree, slot).map_err(tree_err)?;
    slot.set_cap(&Cap::Null);
    Ok(())
}

/// Bytes of a CNode or TCB object.
fn object_bytes(tcb: bool, radix: u8) -> u64 {
    if tcb {
        1 << super::tcb::TCB_BITS
    } else {
        SLOT_SIZE << radix
    }
}

/// The slots of a CNode or TCB (TCB: its four capability slots).
fn object_slot(object: u64, tcb: bool, index: u64) -> Slot {
    if tcb {
        Tcb(object).slots()[(index & 3) as usize]
    } else {
        Slot(object + index * SLOT_SIZE)
    }
}

/// What a scan of a zombie's slots found.
enum Scan {
    /// The last occupied slot (its index).
    Found(u64, Slot),
    /// Nothing left.
    Empty,
    /// Preempted: slots from this index up are empty.
    Preempted(u64),
}

/// Deletes (in a destruction or a revoke) between two looks for a pending
/// interrupt: each costs a few hundred instructions, so a chunk stays
/// under some 6,000.
const DELETE_CHUNK: u32 = 8;

/// Slots a zombie's scan looks at between two looks for a pending
/// interrupt (about 4,000 instructions).
const SCAN_CHUNK: u64 = 256;

/// The last occupied slot among the first `count` of the object, other
/// than `skip` (where its own zombie may sit). Stops for a pending
/// interrupt, saying how far it got, so no scan is ever repeated.
fn last_occupied(object: u64, tcb: bool, count: u64, skip: Slot) -> Scan {
    let mut i = count;
    while i > 0 {
        if i.is_multiple_of(SCAN_CHUNK) && i < count && crate::preempt::pending() {
            return Scan::Preempted(i);
        }
        i -= 1;
        let s = object_slot(object, tcb, i);
        if s != skip && !s.is_empty() {
            return Scan::Found(i, s);
        }
    }
    Scan::Empty
}

/// Whether deleting the capability in `slot` needs a zombie of its own: it
/// is one, or it is the last capability to a CNode or TCB (whose slots the
/// zombie's preemptible scan then clears — no unbounded look here).
fn needs_zombie(slot: Slot) -> bool {
    match slot.cap() {
        Cap::Zombie { .. } => true,
        Cap::CNode { .. } | Cap::Tcb { .. } => is_final(slot),
        _ => false,
    }
}

/// The last capability to a CNode or TCB is going: stop the thread (it
/// never runs again) and return the zombie that replaces the capability,
/// waking the zombie at `resume` (0: none) when done.
fn begin_destruction(cap: &Cap, resume: u64) -> Cap {
    match *cap {
        Cap::Tcb { object } => {
            deactivate(Tcb(object));
            Cap::Zombie {
                object,
                tcb: true,
                radix: 0,
                count: 4,
                resume,
                waiting: false,
            }
        }
        Cap::CNode { object, radix, .. } => Cap::Zombie {
            object,
            tcb: false,
            radix,
            count: 1 << radix,
            resume,
            waiting: false,
        },
        other => other,
    }
}

/// Take a dying thread out of everything: queues, waits, the FPU.
fn deactivate(t: Tcb) {
    crate::ipc::cancel(t);
    crate::sched::dequeue(t);
    t.set_state(State::Dead);
    crate::arch::fpu::flush(t.0);
    if crate::sched::current() == Some(t) {
        crate::sched::yield_current();
    }
}

/// Exchange two slots: their capabilities and their places in the tree.
fn swap(a: Slot, b: Slot) -> KResult<()> {
    cdt::swap(&mut Tree, a, b).map_err(tree_err)?;
    let (ca, cb) = (a.raw(), b.raw());
    a.set_raw(cb);
    b.set_raw(ca);
    Ok(())
}

/// How many generations of derivation lie above the capability in `slot`
/// (see `septum_kcore::cdt`); a child of it would be one deeper.
pub fn derivation_depth(slot: Slot) -> u32 {
    cdt::SlotStore::links(&Tree, slot).depth
}

/// Delete every capability derived from `slot`'s.
///
/// Walks the derivation subtree in list order, deleting each capability
/// (children of a deleted one move up and are met later). Waiting zombies
/// are stepped past: only the zombie that parked them may finish them (see
/// [`delete`]); while one remains, an untyped keeps its watermark, so the
/// memory under it cannot be reused.
pub fn revoke(slot: Slot) -> KResult<()> {
    if slot.is_empty() {
        return Err(Fail::Err(Error::InvalidCapability));
    }
    let depth = cdt::SlotStore::links(&Tree, slot).depth;
    // Everything between `slot` and `cursor` is a waiting zombie.
    let mut cursor = slot;
    let mut steps = 0u32;
    // Deletes since the last look for a pending interrupt.
    let mut work = 0u32;
    loop {
        let at = cdt::SlotStore::links(&Tree, cursor);
        if !at.in_tree {
            if cursor == slot {
                // The revoked capability itself went with what was made
                // from it (it sat in a CNode made from it): done.
                return Ok(());
            }
            // The zombie we stood on finished meanwhile: start again.
            cursor = slot;
            continue;
        }
        let Some(next) = at.next else { break };
        if !cdt::SlotStore::links(&Tree, next).is_below(depth) {
            break;
        }
        if matches!(next.cap(), Cap::Zombie { waiting: true, .. }) {
            cursor = next;
            steps += 1;
            if steps.is_multiple_of(256) && crate::preempt::pending() {
                return Err(Fail::Restart);
            }
            continue;
        }
        delete(next)?;
        work += 1;
        if work >= DELETE_CHUNK {
            work = 0;
            if crate::preempt::pending() {
                return Err(Fail::Restart);
            }
        }
    }
    // An untyped whose children are all gone is free again; its next
    // retype clears it (`untyped::reset`). Not here: the revoke may have
    // destroyed its own caller, whose TCB lies in that memory, and a
    // preempted clear would be restarted by writing into it.
    Ok(())
}

/// The last capability to `cap`'s object is going, and the object holds
/// no capabilities that need deleting first: undo what refers to it.
fn finalise(cap: &Cap) -> KResult<()> {
    match *cap {
        // An empty TCB that never became a zombie still must stop.
        Cap::Tcb { object } => {
            deactivate(Tcb(object));
            Ok(())
        }
        Cap::Endpoint { object, .. } => {
            if crate::ipc::endpoint_destroyed(object) {
                Ok(())
            } else {
                Err(Fail::Restart)
            }
        }
        Cap::Notification { object, .. } => {
            if crate::ipc::notification_destroyed(object) {
                crate::irq::notification_destroyed(object);
                Ok(())
            } else {
                Err(Fail::Restart)
            }
        }
        Cap::Reply { object } => {
            crate::ipc::reply_destroyed(object);
            Ok(())
        }
        Cap::Frame { .. } | Cap::PageTable { .. } => crate::vspace::finalise(cap),
        Cap::IrqHandler { irq } => {
            crate::irq::handler_destroyed(irq);
            Ok(())
        }
        _ => Ok(()),
    }
}
