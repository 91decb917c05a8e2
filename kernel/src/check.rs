//! The kernel's invariant check: the `DebugCheck` system call.
//!
//! Test runs boot with `debug_checks` on the command line and call it
//! between batches of work (the fuzzer does, after every batch of random
//! calls). Without the option the call fails with `IllegalOperation`, so
//! the same kernel binary is shipped and tested; the check costs nothing
//! unless it is switched on and called.
//!
//! What is checked, starting from every slot of the root task's root CNode
//! and following what is found:
//!
//! - **Derivation tree.** Every slot decodes; an empty slot has no links; a
//!   full one is in the tree, its `prev`/`next` point at slots that point
//!   back, it is at most [`MAX_DEPTH`] deep, its parent depth lies below
//!   its own depth and at or above no more than its predecessor's depth,
//!   and a node without predecessor has no parent depth. Each
//!   list is walked from its head (every node must hold a capability, the
//!   caps to one object form one contiguous run, which is what
//!   `object::is_final` relies on); from every other slot the walk back to
//!   its head must end (no cycles).
//! - **Untyped accounting.** An untyped's watermark is at most its size,
//!   and every object named by a capability in its subtree lies inside
//!   `[base, base + watermark)`.
//! - **TCBs** (there are no reference counts in this design; a thread's
//!   references are its four capability slots): the cspace slot holds a
//!   CNode or nothing, the vspace slot a PML4, the IPC-buffer slot a 4 KiB
//!   frame, the fault slot an endpoint.
//! - **Run queue.** `septum_kcore::runqueue`'s own structural check over
//!   every TCB found; a queued thread is runnable, and a runnable thread is
//!   queued or running.
//!
//! CNodes found in slots, in TCB slots or on derivation lists are checked
//! too, up to [`MAX_CNODES`] of them and [`MAX_SLOTS`] slots; link walks
//! are bounded by [`MAX_STEPS`]. Reaching a bound is not a failure (the
//! rest simply goes unchecked), except that the run-queue check needs every
//! TCB and is skipped if more than [`MAX_TCBS`] were found.
//!
//! Every address read is first checked to be a 32-byte aligned slot inside
//! the direct map, so corrupted links are reported, never followed into a
//! fault.

use crate::arch::paging::phys_to_virt;
use crate::object::tcb::{Reg, State, Tcb};
use crate::object::{SLOT_SIZE, Slot, Tree};
use crate::sched;
use core::sync::atomic::{AtomicU64, Ordering};
use septum_abi::Error;
use septum_kcore::cap::{Cap, CapType};
use septum_kcore::cdt::{Links, MAX_DEPTH, SlotStore};

/// Most CNodes examined in one check.
pub const MAX_CNODES: usize = 64;
/// Most CNode and TCB slots examined in one check.
pub const MAX_SLOTS: u64 = 100_000;
/// Most TCBs tracked; the run-queue check needs them all.
pub const MAX_TCBS: usize = 512;
/// Most link steps (list walks, untyped subtrees) in one check.
pub const MAX_STEPS: u64 = 16_000_000;
/// Longest list a walk follows before calling it a cycle.
const MAX_LIST: u64 = 1 << 20;
/// Problems logged in detail per check (all are counted).
const MAX_LOGGED: u64 = 16;
/// Entries of the table of objects seen on the list being walked.
const SEEN: usize = 2048;

/// The root task's root CNode (object address) and its radix.
static ROOT_CNODE: AtomicU64 = AtomicU64::new(0);
static ROOT_RADIX: AtomicU64 = AtomicU64::new(0);

/// Record the root task's root CNode, where every check starts (boot).
pub fn set_root_cnode(object: u64, radix: u8) {
    ROOT_CNODE.store(object, Ordering::Relaxed);
    ROOT_RADIX.store(radix.into(), Ordering::Relaxed);
}

/// The `DebugCheck` system call from `t`: run the check, put the counts in
/// `t`'s registers, and fail with `Range` if anything is broken.
pub fn debug_check(t: Tcb) -> Result<(), Error> {
    if !crate::boot_options().debug_checks {
        return Err(Error::IllegalOperation);
    }
    let mut c = CHECKER.lock();
    c.reset();
    c.run();
    t.set_reg(Reg::Rdi, c.slots);
    t.set_reg(Reg::Rsi, c.lists);
    t.set_reg(Reg::Rdx, c.n_cnodes as u64);
    t.set_reg(Reg::R10, c.n_tcbs as u64);
    t.set_reg(Reg::R8, c.untypeds);
    t.set_reg(Reg::R9, c.problems);
    if c.truncated {
        crate::debug!(
            "check: bounds reached ({} slots, {} CNodes, {} TCBs, {} steps); the rest unchecked",
            c.slots,
            c.n_cnodes,
            c.n_tcbs,
            c.steps
        );
    }
    if c.problems > 0 {
        crate::error!(
            "check: {} problem(s) in {} slots, {} lists, {} CNodes, {} TCBs, {} untypeds",
            c.problems,
            c.slots,
            c.lists,
            c.n_cnodes,
            c.n_tcbs,
            c.untypeds
        );
        return Err(Error::Range);
    }
    Ok(())
}

static CHECKER: spin::Mutex<Checker> = spin::Mutex::new(Checker::new());

/// The state of one check; kept in a static, being too large for the
/// kernel stack.
struct Checker {
    cnodes: [(u64, u8); MAX_CNODES],
    n_cnodes: usize,
    tcbs: [u64; MAX_TCBS],
    n_tcbs: usize,
    /// Objects (`address | type`) seen on the list being walked, tagged with
    /// the walk's generation so nothing needs clearing between walks.
    seen: [(u64, u64); SEEN],
    generation: u64,
    slots: u64,
    steps: u64,
    lists: u64,
    untypeds: u64,
    problems: u64,
    truncated: bool,
    tcbs_overflowed: bool,
    /// A cycle was reported: stop walking back to heads (each walk would
    /// go round it up to the bound).
    cycle_found: bool,
}

/// Where a slot was found, for reports.
#[derive(Clone, Copy)]
enum Place {
    CNode(u64, u64),
    TcbSlot(u64, usize),
}

impl core::fmt::Display for Place {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Place::CNode(cnode, i) => write!(f, "CNode {cnode:#x} slot {i}"),
            Place::TcbSlot(tcb, i) => {
                let what = ["cspace", "vspace", "IPC buffer", "fault endpoint"];
                write!(f, "TCB {tcb:#x} {} slot", what.get(i).unwrap_or(&"?"))
            }
        }
    }
}

/// Whether `addr` can be read as a slot: 32-byte aligned, not 0, inside
/// the direct map.
fn slot_readable(addr: u64) -> bool {
    addr != 0
        && addr.is_multiple_of(SLOT_SIZE)
        && addr
            .checked_add(SLOT_SIZE - 1)
            .and_then(phys_to_virt)
            .is_some()
}

/// The memory `[start, end)` an object capability names.
fn object_range(cap: &Cap) -> Option<(u64, u64)> {
    let (start, bits) = match *cap {
        Cap::Untyped {
            base, size_bits, ..
        } => (base, u32::from(size_bits)),
        Cap::CNode { object, radix, .. } => (object, u32::from(radix) + 5),
        Cap::Tcb { object } => (object, crate::object::tcb::TCB_BITS),
        Cap::Endpoint { object, .. } => (object, 4),
        Cap::Notification { object, .. } | Cap::Reply { object } => (object, 5),
        Cap::PageTable { object, .. } => (object, 12),
        Cap::Frame { object, huge, .. } => (object, if huge { 21 } else { 12 }),
        _ => return None,
    };
    let size = 1u64.checked_shl(bits)?;
    Some((start, start.checked_add(size)?))
}

/// The key of a capability's object for the contiguity check: address and
/// type. Untypeds are left out: a child untyped carved at its parent's
/// base has the parent's address, and nothing is finalised for an untyped,
/// so `is_final` does not matter for them.
fn object_key(cap: &Cap) -> Option<u64> {
    if matches!(cap, Cap::Untyped { .. }) {
        return None;
    }
    // Objects are at least 16-byte aligned: the type fits below.
    cap.object().map(|o| o | cap.cap_type() as u64)
}

macro_rules! problem {
    ($c:expr, $($t:tt)*) => {{
        $c.problems += 1;
        if $c.problems <= MAX_LOGGED {
            crate::error!("check: {}", format_args!($($t)*));
        }
    }};
}

impl Checker {
    const fn new() -> Self {
        Checker {
            cnodes: [(0, 0); MAX_CNODES],
            n_cnodes: 0,
            tcbs: [0; MAX_TCBS],
            n_tcbs: 0,
            seen: [(0, 0); SEEN],
            generation: 0,
            slots: 0,
            steps: 0,
            lists: 0,
            untypeds: 0,
            problems: 0,
            truncated: false,
            tcbs_overflowed: false,
            cycle_found: false,
        }
    }

    fn reset(&mut self) {
        self.n_cnodes = 0;
        self.n_tcbs = 0;
        self.slots = 0;
        self.steps = 0;
        self.lists = 0;
        self.untypeds = 0;
        self.problems = 0;
        self.truncated = false;
        self.tcbs_overflowed = false;
        self.cycle_found = false;
    }

    fn run(&mut self) {
        let root = ROOT_CNODE.load(Ordering::Relaxed);
        let radix = ROOT_RADIX.load(Ordering::Relaxed) as u8;
        if root == 0 {
            problem!(self, "the root CNode is not known");
            return;
        }
        self.add_cnode(root, radix);
        let (mut next_cnode, mut next_tcb) = (0, 0);
        loop {
            if next_cnode < self.n_cnodes {
                let (object, radix) = self.cnodes[next_cnode];
                next_cnode += 1;
                for i in 0..1u64 << radix {
                    if !self.take_slot() {
                        break;
                    }
                    self.visit(Slot(object + i * SLOT_SIZE), Place::CNode(object, i));
                }
            } else if next_tcb < self.n_tcbs {
                let t = self.tcbs[next_tcb];
                next_tcb += 1;
                self.check_tcb(Tcb(t));
            } else {
                break;
            }
        }
        self.check_threads();
    }

    /// Count one slot against the bound; false once it is reached.
    fn take_slot(&mut self) -> bool {
        if self.slots >= MAX_SLOTS {
            self.truncated = true;
            return false;
        }
        self.slots += 1;
        true
    }

    /// Count one link step against the bound; false once it is reached.
    fn step(&mut self) -> bool {
        if self.steps >= MAX_STEPS {
            self.truncated = true;
            return false;
        }
        self.steps += 1;
        true
    }

    fn add_cnode(&mut self, object: u64, radix: u8) {
        if self.cnodes[..self.n_cnodes].iter().any(|c| c.0 == object) {
            return;
        }
        let bytes = 1u64.checked_shl(u32::from(radix) + 5).unwrap_or(0);
        if bytes == 0
            || !slot_readable(object)
            || object
                .checked_add(bytes - 1)
                .and_then(phys_to_virt)
                .is_none()
        {
            problem!(self, "CNode {object:#x} (radix {radix}) is not in memory");
            return;
        }
        if self.n_cnodes == MAX_CNODES {
            self.truncated = true;
            return;
        }
        self.cnodes[self.n_cnodes] = (object, radix);
        self.n_cnodes += 1;
    }

    fn add_tcb(&mut self, object: u64) {
        if self.tcbs[..self.n_tcbs].contains(&object) {
            return;
        }
        if !slot_readable(object) {
            problem!(self, "TCB {object:#x} is not in memory");
            return;
        }
        if self.n_tcbs == MAX_TCBS {
            self.truncated = true;
            self.tcbs_overflowed = true;
            return;
        }
        self.tcbs[self.n_tcbs] = object;
        self.n_tcbs += 1;
    }

    /// Note what a capability leads to: CNodes and TCBs to check later.
    fn follow(&mut self, cap: &Cap) {
        match *cap {
            Cap::CNode { object, radix, .. } => self.add_cnode(object, radix),
            Cap::Tcb { object } => self.add_tcb(object),
            _ => {}
        }
    }

    /// Check one slot and its links; walk its list if it is a head, or
    /// back to its head if not.
    fn visit(&mut self, slot: Slot, at: Place) -> Option<Cap> {
        let cap = match slot.raw().decode() {
            Ok(cap) => cap,
            Err(e) => {
                problem!(self, "{at} ({:#x}): {e}", slot.0);
                return None;
            }
        };
        let links = Tree.links(slot);
        if matches!(cap, Cap::Null) {
            if links != Links::EMPTY {
                problem!(self, "{at} ({:#x}) is empty but has tree links", slot.0);
            }
            return Some(cap);
        }
        self.follow(&cap);
        if !links.in_tree {
            problem!(
                self,
                "{at} ({:#x}) holds a {:?} capability but is not in the derivation tree",
                slot.0,
                cap.cap_type()
            );
            return Some(cap);
        }
        if links.depth > MAX_DEPTH {
            problem!(self, "{at} ({:#x}) has depth {}", slot.0, links.depth);
        }
        if let Some(p) = links.parent_depth
            && p >= links.depth
        {
            problem!(
                self,
                "{at} ({:#x}) at depth {} has parent depth {p}",
                slot.0,
                links.depth
            );
        }
        if let Some(next) = links.next {
            match self.links_of(next) {
                Some(n) if n.in_tree && n.prev == Some(slot) => {}
                _ => problem!(
                    self,
                    "{at} ({:#x}): its successor {:#x} does not link back",
                    slot.0,
                    next.0
                ),
            }
        }
        match links.prev {
            None if links.parent_depth.is_some() => problem!(
                self,
                "{at} ({:#x}) starts a list but has a parent depth",
                slot.0
            ),
            None => self.walk_list(slot),
            Some(prev) => match self.links_of(prev) {
                Some(p) if p.in_tree && p.next == Some(slot) => {
                    if links.parent_depth.is_some_and(|d| d > p.depth) {
                        problem!(
                            self,
                            "{at} ({:#x}) has parent depth {:?} after a node at depth {}",
                            slot.0,
                            links.parent_depth,
                            p.depth
                        );
                    }
                    self.walk_back(slot, at);
                }
                _ => problem!(
                    self,
                    "{at} ({:#x}): its predecessor {:#x} does not link back",
                    slot.0,
                    prev.0
                ),
            },
        }
        Some(cap)
    }

    /// The links of `slot`, or `None` (reported) if it cannot be a slot.
    fn links_of(&mut self, slot: Slot) -> Option<Links<Slot>> {
        if slot_readable(slot.0) {
            Some(Tree.links(slot))
        } else {
            problem!(
                self,
                "a tree link points at {:#x}, which is no slot",
                slot.0
            );
            None
        }
    }

    /// From a node with a predecessor, the walk back must reach a head.
    fn walk_back(&mut self, from: Slot, at: Place) {
        if self.cycle_found {
            return;
        }
        let mut node = from;
        let mut walked = 0u64;
        loop {
            let Some(links) = self.links_of(node) else {
                return;
            };
            let Some(prev) = links.prev else {
                return;
            };
            match self.links_of(prev) {
                Some(p) if p.in_tree && p.next == Some(node) => {}
                Some(_) => {
                    problem!(
                        self,
                        "walking back from {at}: {:#x} does not link forward to {:#x}",
                        prev.0,
                        node.0
                    );
                    return;
                }
                None => return,
            }
            walked += 1;
            if walked > MAX_LIST {
                problem!(
                    self,
                    "walking back from {at} ({:#x}) never reaches a list head: a cycle",
                    from.0
                );
                self.cycle_found = true;
                return;
            }
            if !self.step() {
                return;
            }
            node = prev;
        }
    }

    /// Walk the list starting at `head` (a node without predecessor or
    /// parent) to its end, checking every node.
    fn walk_list(&mut self, head: Slot) {
        self.lists += 1;
        self.generation += 1;
        let mut node = head;
        let mut prev: Option<(Slot, u32)> = None;
        let mut prev_key = None;
        let mut seen_full = false;
        for _ in 0..MAX_LIST {
            if !self.step() {
                return;
            }
            let links = Tree.links(node);
            if !links.in_tree {
                problem!(self, "list node {:#x} is not in the tree", node.0);
                return;
            }
            if links.prev != prev.map(|p| p.0) {
                problem!(
                    self,
                    "list node {:#x} does not link back to its predecessor",
                    node.0
                );
                return;
            }
            if let Some((_, prev_depth)) = prev
                && links.parent_depth.is_some_and(|d| d > prev_depth)
            {
                problem!(
                    self,
                    "list node {:#x} has parent depth {:?} after a node at depth {prev_depth}",
                    node.0,
                    links.parent_depth
                );
            }
            let cap = match node.raw().decode() {
                Ok(Cap::Null) => {
                    problem!(self, "list node {:#x} holds no capability", node.0);
                    return;
                }
                Ok(cap) => cap,
                Err(e) => {
                    problem!(self, "list node {:#x}: {e}", node.0);
                    return;
                }
            };
            self.follow(&cap);
            let key = object_key(&cap);
            if let Some(k) = key
                && key != prev_key
                && !seen_full
            {
                match self.remember(k) {
                    Some(true) => problem!(
                        self,
                        "list node {:#x}: the {:?} capabilities to object {:#x} are not contiguous",
                        node.0,
                        cap.cap_type(),
                        cap.object().unwrap_or(0)
                    ),
                    Some(false) => {}
                    None => seen_full = true,
                }
            }
            prev_key = key;
            if let Cap::Untyped { .. } = cap {
                self.check_untyped(node, &cap, links.depth);
            }
            let Some(next) = links.next else {
                return;
            };
            if !slot_readable(next.0) {
                problem!(
                    self,
                    "list node {:#x} links to {:#x}, which is no slot",
                    node.0,
                    next.0
                );
                return;
            }
            prev = Some((node, links.depth));
            node = next;
        }
        problem!(
            self,
            "the list from {:#x} is longer than {MAX_LIST}: a cycle",
            head.0
        );
    }

    /// Record `key` as seen on this walk: `Some(true)` if it already was,
    /// `None` if the table is full.
    fn remember(&mut self, key: u64) -> Option<bool> {
        let g = self.generation;
        let mut i = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 53) as usize % SEEN;
        for _ in 0..SEEN {
            let (k, gen_) = self.seen[i];
            if gen_ != g {
                self.seen[i] = (key, g);
                return Some(false);
            }
            if k == key {
                return Some(true);
            }
            i = (i + 1) % SEEN;
        }
        None
    }

    /// The untyped at `slot`: watermark within its size, and everything in
    /// its subtree below the watermark.
    fn check_untyped(&mut self, slot: Slot, cap: &Cap, depth: u32) {
        let Cap::Untyped {
            base,
            size_bits,
            free_offset,
            ..
        } = *cap
        else {
            return;
        };
        self.untypeds += 1;
        let size = 1u64.checked_shl(size_bits.into()).unwrap_or(u64::MAX);
        if free_offset > size {
            problem!(
                self,
                "untyped {:#x} (base {base:#x}, 2^{size_bits}) has watermark {free_offset:#x} beyond its size",
                slot.0
            );
        }
        let top = base.saturating_add(free_offset);
        let mut node = Tree.links(slot).next;
        while let Some(n) = node {
            if !slot_readable(n.0) || !self.step() {
                return;
            }
            let links = Tree.links(n);
            if !links.is_below(depth) {
                return;
            }
            if let Ok(c) = n.raw().decode()
                && let Some((start, end)) = object_range(&c)
                && (start < base || end > top)
            {
                problem!(
                    self,
                    "untyped {:#x} (base {base:#x}, watermark {free_offset:#x}): descendant {:#x} names a {:?} at {start:#x}..{end:#x}, outside what was carved",
                    slot.0,
                    n.0,
                    c.cap_type()
                );
            }
            node = links.next;
        }
    }

    /// A TCB's four slots: the right types, and sound tree links.
    fn check_tcb(&mut self, t: Tcb) {
        for (i, slot) in t.slots().into_iter().enumerate() {
            if !self.take_slot() {
                return;
            }
            let at = Place::TcbSlot(t.0, i);
            let Some(cap) = self.visit(slot, at) else {
                continue;
            };
            let fits = match i {
                0 => matches!(cap, Cap::Null | Cap::CNode { .. }),
                1 => matches!(cap, Cap::Null | Cap::PageTable { level: 4, .. }),
                2 => matches!(cap, Cap::Null | Cap::Frame { huge: false, .. }),
                _ => matches!(cap, Cap::Null | Cap::Endpoint { .. }),
            };
            if !fits {
                problem!(self, "{at} holds a {:?} capability", cap.cap_type());
            }
        }
    }

    /// Run-queue structure and thread states, over every TCB found.
    fn check_threads(&mut self) {
        let current = sched::current();
        for i in 0..self.n_tcbs {
            let t = Tcb(self.tcbs[i]);
            let (queued, state) = (sched::is_queued(t), t.state());
            if queued && state != State::Runnable {
                problem!(
                    self,
                    "thread '{}' ({:#x}) is in the run queue but {state:?}",
                    t.name(),
                    t.0
                );
            }
            if !queued && state == State::Runnable && current != Some(t) {
                problem!(
                    self,
                    "thread '{}' ({:#x}) is runnable but neither queued nor running",
                    t.name(),
                    t.0
                );
            }
            if queued && current == Some(t) {
                problem!(
                    self,
                    "thread '{}' ({:#x}) is running and queued",
                    t.name(),
                    t.0
                );
            }
        }
        if self.tcbs_overflowed {
            return;
        }
        if let Err(e) = sched::check_queue(&self.tcbs[..self.n_tcbs]) {
            problem!(self, "run queue: {e}");
        }
    }
}

const _: () = assert!(
    CapType::Untyped as u64 <= 15
        && CapType::IoPort as u64 <= 15
        && CapType::SchedControl as u64 <= 15
);
