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
    // A waiting zombie stays where its waker and its own object expect it
    // (no capability reaches it; this is only a second line).
    if matches!(cap, Cap::Zombie { waker, .. } if waker != 0) {
        return Err(Error::IllegalOperation);
    }
    cdt::move_node(&mut Tree, src, dst).map_err(tree_err)?;
    dst.set_cap(&cap);
    src.set_cap(&Cap::Null);
    fix_references(&cap, src, dst);
    relink(dst);
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
/// inside that is itself the last one to a CNode or TCB is *swapped* into
/// the slot being worked on, so the nested object is destroyed there
/// first, while the outer zombie **waits** inside its own object and is
/// woken afterwards through the nested zombie's `resume`. The zombies of
/// one destruction form a **chain**: its **head**, the one working zombie,
/// then the waiting ones in the order they are woken.
///
/// The invariant that lets any delete or revoke finish any chain: every
/// waiting zombie names its **waker** (the slot of the zombie whose
/// `resume` names it), so from any waiting zombie the head is found by
/// following wakers; every move of a zombie with a waiter updates that
/// waiter's `waker` ([`relink`]). Deleting a waiting zombie therefore
/// drives its chain from the head, and a revoke that meets one finishes
/// the chain, whatever untyped the head's object came from: a revoke
/// returns `Ok` only when nothing made from its untyped is left. A chain
/// holds at most [`MAX_WAITING`] waiting zombies, which bounds that walk;
/// a nested object beyond it is **set aside**: its zombie goes into its
/// own first slot, a head of its own that nothing waits on, finished by
/// the next delete or revoke that meets it. Cycles need no special case:
/// every step removes a capability, shrinks a zombie or sets one aside.
/// All progress is in the capabilities, so a preempted call restarts where
/// it stopped.
pub fn delete(slot: Slot) -> KResult<()> {
    let slot = match slot.cap() {
        Cap::Zombie { waker, .. } if waker != 0 => head_of(slot)?,
        _ => slot,
    };
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
            // `top` only ever holds a working zombie (a woken one is made
            // working before the loop goes on with it).
            Cap::Zombie { waker, .. } if waker != 0 => {
                return Err(Error::IllegalOperation.into());
            }
            z @ Cap::Zombie {
                object,
                tcb,
                radix,
                count,
                resume,
                ..
            } => {
                let (index, inner) = match last_occupied(object, tcb, count, top) {
                    Scan::Preempted(at) => {
                        // Slots from `at` up are empty: keep that progress.
                        top.set_cap(&with_count(z, at));
                        return Err(Fail::Restart);
                    }
                    Scan::Empty => {
                        // Nothing left inside: the object is gone, and its
                        // last capability leaves the tree. The zombie that
                        // waited for it goes on.
                        cdt::remove(&mut Tree, top).map_err(tree_err)?;
                        top.set_cap(&Cap::Null);
                        let Some(next) = wake(resume, top) else {
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
                            relink(slot);
                        } else {
                            top = next;
                        }
                        continue;
                    }
                    Scan::Found(index, inner) => (index, inner),
                };
                // Slots above `index` are empty now.
                top.set_cap(&with_count(z, index + 1));
                if needs_zombie(inner) {
                    nest(top, inner)?;
                } else {
                    // The zombie above already keeps the progress.
                    delete_one(inner)?;
                }
            }
            cap @ (Cap::CNode { .. } | Cap::Tcb { .. }) if is_final(top) => {
                top.set_cap(&begin_destruction(&cap, 0, 0));
            }
            _ => delete_one(top)?,
        }
    }
}

/// Most zombies one chain keeps waiting: the walk from a waiting zombie to
/// its head ([`head_of`]) reads at most this many slots (some 6,000
/// instructions), so it needs no preemption point.
pub const MAX_WAITING: u32 = 256;

/// The working zombie `z` with `count` slots left to look at.
fn with_count(z: Cap, count: u64) -> Cap {
    match z {
        Cap::Zombie {
            object,
            tcb,
            radix,
            resume,
            behind,
            ..
        } => Cap::Zombie {
            object,
            tcb,
            radix,
            count,
            resume,
            waker: 0,
            behind,
        },
        other => other,
    }
}

/// The head of the chain the waiting zombie in `w` belongs to: the working
/// zombie its wakers lead to. Each step checks that the waker's `resume`
/// names the zombie it came from, so only links the kernel made are
/// followed; a chain is at most [`MAX_WAITING`] long.
fn head_of(w: Slot) -> KResult<Slot> {
    let mut at = w;
    for _ in 0..=MAX_WAITING {
        let Cap::Zombie { waker, .. } = at.cap() else {
            break;
        };
        if waker == 0 {
            return Ok(at);
        }
        match Slot(waker).cap() {
            Cap::Zombie { resume, .. } if resume == at.0 => at = Slot(waker),
            _ => break,
        }
    }
    // Not reachable while the invariant holds (see `delete`).
    Err(Error::IllegalOperation.into())
}

/// The zombie at `resume` that waited for the one in `done` (which just
/// finished), made working (0, or anything there that `done` does not
/// wake: none). A waiting zombie lies in its own object, at the last slot
/// it has left to clear: its object and count follow from its address.
fn wake(resume: u64, done: Slot) -> Option<Slot> {
    if resume == 0 {
        return None;
    }
    let at = Slot(resume);
    let (tcb, radix, resume, waker, behind) = waiting_in(at)?;
    if waker != done.0 {
        return None;
    }
    let object = at.0 & !(object_bytes(tcb, radix) - 1);
    let index = if tcb {
        (0..4).find(|&i| object_slot(object, true, i) == at)?
    } else {
        (at.0 - object) / SLOT_SIZE
    };
    at.set_cap(&Cap::Zombie {
        object,
        tcb,
        radix,
        count: index + 1,
        resume,
        waker: 0,
        behind,
    });
    Some(at)
}

/// The working zombie in `top` found `inner`, in its object, holding a
/// zombie or the last capability to a CNode or TCB: destroy that nested
/// object first, in `top`, with `top`'s zombie waiting at `inner`; or, if
/// the chain is full or `inner` holds a zombie with a chain of its own,
/// set it aside ([`set_aside`]).
fn nest(top: Slot, inner: Slot) -> KResult<()> {
    let Cap::Zombie {
        tcb,
        radix,
        resume,
        behind,
        ..
    } = top.cap()
    else {
        return Err(Error::IllegalOperation.into());
    };
    let nested = inner.cap();
    if !matches!(nested, Cap::CNode { .. } | Cap::Tcb { .. }) || behind >= MAX_WAITING {
        return set_aside(top, inner);
    }
    exchange(top, inner)?;
    inner.set_cap(&waiting(tcb, radix, resume, top.0, behind));
    top.set_cap(&begin_destruction(&nested, inner.0, behind + 1));
    Ok(())
}

/// Make the nested object in `inner` (a zombie, or the last capability to
/// a CNode or TCB) a head of its own, in its object's first slot, whose
/// content comes to `inner` instead; the loop goes on clearing `top`'s
/// object. If that first slot is `top` itself, the two trade places: the
/// nested object is destroyed in `top` and `top`'s zombie waits for
/// nothing, a head of its own inside its own object. Either way the zombie
/// set aside is finished by whatever next deletes or revokes it (the
/// untyped it came from reaches it).
fn set_aside(top: Slot, inner: Slot) -> KResult<()> {
    let (z, object, tcb) = match inner.cap() {
        z @ Cap::Zombie {
            object,
            tcb,
            waker: 0,
            ..
        } => (z, object, tcb),
        cap @ Cap::CNode { object, .. } => (begin_destruction(&cap, 0, 0), object, false),
        cap @ Cap::Tcb { object } => (begin_destruction(&cap, 0, 0), object, true),
        _ => return Err(Error::IllegalOperation.into()),
    };
    let home = object_slot(object, tcb, 0);
    if let Cap::Zombie {
        object: outer,
        tcb: outer_tcb,
        radix,
        ..
    } = top.cap()
        && (outer..outer + object_bytes(outer_tcb, radix)).contains(&home.0)
        && home != top
    {
        // Not reachable: no capability to an object lies in the object of
        // its last one's zombie.
        return Err(Error::IllegalOperation.into());
    }
    if home == top {
        exchange(top, inner)?;
        top.set_cap(&z);
        relink(top);
    } else {
        exchange(inner, home)?;
        home.set_cap(&z);
        relink(home);
    }
    Ok(())
}

/// If `slot` holds a working zombie that a zombie waits for, tell the
/// waiting one where it is now.
fn relink(slot: Slot) {
    let Cap::Zombie {
        waker: 0, resume, ..
    } = slot.cap()
    else {
        return;
    };
    if resume == 0 {
        return;
    }
    let at = Slot(resume);
    if let Some((tcb, radix, resume, _, behind)) = waiting_in(at) {
        at.set_cap(&waiting(tcb, radix, resume, slot.0, behind));
    }
}

/// The waiting zombie in `slot`, if it holds one: (tcb, radix, resume,
/// waker, behind).
fn waiting_in(slot: Slot) -> Option<(bool, u8, u64, u64, u32)> {
    match slot.cap() {
        Cap::Zombie {
            tcb,
            radix,
            resume,
            waker,
            behind,
            ..
        } if waker != 0 => Some((tcb, radix, resume, waker, behind)),
        _ => None,
    }
}

/// A waiting zombie, woken by the zombie in slot `waker`.
fn waiting(tcb: bool, radix: u8, resume: u64, waker: u64, behind: u32) -> Cap {
    Cap::Zombie {
        object: 0,
        tcb,
        radix,
        count: 0,
        resume,
        waker,
        behind,
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
/// waking the zombie at `resume` (0: none; `behind` zombies wait in that
/// chain) when done.
fn begin_destruction(cap: &Cap, resume: u64, behind: u32) -> Cap {
    match *cap {
        Cap::Tcb { object } => {
            deactivate(Tcb(object));
            Cap::Zombie {
                object,
                tcb: true,
                radix: 0,
                count: 4,
                resume,
                waker: 0,
                behind,
            }
        }
        Cap::CNode { object, radix, .. } => Cap::Zombie {
            object,
            tcb: false,
            radix,
            count: 1 << radix,
            resume,
            waker: 0,
            behind,
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

/// Exchange two slots (either may be empty): their capabilities and their
/// places in the tree, and what refers to them. At most one of them holds an I/O-port
/// capability (the other holds a CNode, TCB or zombie capability).
fn exchange(a: Slot, b: Slot) -> KResult<()> {
    // An empty slot is in no tree: the other one's place moves to it.
    match (a.is_empty(), b.is_empty()) {
        (false, false) => cdt::swap(&mut Tree, a, b),
        (false, true) => cdt::move_node(&mut Tree, a, b),
        (true, false) => cdt::move_node(&mut Tree, b, a),
        (true, true) => return Ok(()),
    }
    .map_err(tree_err)?;
    let (ca, cb) = (a.raw(), b.raw());
    a.set_raw(cb);
    b.set_raw(ca);
    fix_references(&a.cap(), b, a);
    fix_references(&b.cap(), a, b);
    relink(a);
    relink(b);
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
/// (children of a deleted one move up and are met later). A waiting zombie
/// is deleted like anything else: its chain is driven from its head (see
/// [`delete`]), wherever that lies, so when this returns `Ok` nothing made
/// from the capability is left; an untyped is whole again.
pub fn revoke(slot: Slot) -> KResult<()> {
    if slot.is_empty() {
        return Err(Fail::Err(Error::InvalidCapability));
    }
    let depth = cdt::SlotStore::links(&Tree, slot).depth;
    // Deletes since the last look for a pending interrupt.
    let mut work = 0u32;
    loop {
        let at = cdt::SlotStore::links(&Tree, slot);
        if !at.in_tree {
            // The revoked capability itself went with what was made from
            // it (it sat in a CNode made from it): done.
            return Ok(());
        }
        let Some(next) = at.next else { break };
        if !cdt::SlotStore::links(&Tree, next).is_below(depth) {
            break;
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
