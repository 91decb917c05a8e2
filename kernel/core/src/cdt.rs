//! The capability derivation tree: which capability was made from which, so
//! that revoking a capability finds and removes everything derived from it.
//!
//! The tree is stored as links inside the capability slots themselves (no
//! heap, no separate table): a forest is held in doubly linked lists in
//! depth-first order. Each node records its `depth` (one more than its
//! parent's when it was made) and a `parent_depth` (its parent's depth when
//! it was made, or lower after deletions; `None` for a root). The
//! descendants of a node `X` are exactly the nodes that follow `X` in the
//! list while their `parent_depth` is at least `X`'s depth: a *run*.
//!
//! Why two numbers rather than one: with depths alone, deleting a node
//! whose children must move up a level means lowering the depth of every
//! descendant, which costs as much as the subtree is large and cannot stop
//! half way (a half-lowered subtree has the wrong shape). With a parent
//! depth per node, deleting is O(1): the deleted node's successor takes the
//! smaller of its own and the deleted node's parent depth, which keeps it —
//! and so everything after it — in exactly the runs it was in before. Depths
//! are never lowered, so a node's depth counts every generation it was
//! derived through, deleted ones included; [`MAX_DEPTH`] bounds that.
//!
//! Every operation is O(1) (inserting a child or a sibling, moving a
//! capability between slots, deleting one) except revoke, which runs as a
//! loop of bounded steps that can stop at any preemption point and resume
//! with the same call, because all of its progress is in the list itself.
//!
//! Slots are reached through [`SlotStore`], so the kernel can keep them in
//! CNodes in physical memory while tests keep them in a `Vec`.
//!
//! Guarantees, for a store that satisfies [`check_invariants`] (which every
//! operation here preserves): every operation either succeeds or returns an
//! [`Error`] having changed nothing; nothing panics; and every walk ends,
//! since lists have no cycles. The links are kernel state that only this
//! module writes, so the operations trust them rather than re-checking on
//! every step; `check_invariants` is there to verify them in debug builds and
//! under the fuzzer.

use core::fmt;

/// Where slots live.
///
/// `Id` names a slot: the kernel uses the slot's address, tests an index.
/// `links` of a slot that was never touched must return [`Links::EMPTY`].
pub trait SlotStore {
    /// The name of a slot.
    type Id: Copy + Eq + fmt::Debug;
    /// The tree links stored in slot `id`.
    fn links(&self, id: Self::Id) -> Links<Self::Id>;
    /// Overwrite the tree links stored in slot `id`.
    fn set_links(&mut self, id: Self::Id, links: Links<Self::Id>);
}

/// The part of a slot that belongs to the derivation tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Links<Id> {
    /// The node before this one in depth-first order.
    pub prev: Option<Id>,
    /// The node after this one in depth-first order.
    pub next: Option<Id>,
    /// How many generations of derivation lie above this node, deleted
    /// ones included (a root made by [`insert_root`] has depth 0).
    pub depth: u32,
    /// The depth of the node it was derived from, or less once deletions
    /// moved it up; `None` for a node with no parent. Always below `depth`,
    /// and never above the predecessor's depth.
    pub parent_depth: Option<u32>,
    /// Whether the slot holds a node of the tree. A slot outside the tree has
    /// [`Links::EMPTY`].
    pub in_tree: bool,
}

impl<Id> Links<Id> {
    /// The links of a slot that is not in the tree.
    pub const EMPTY: Self = Links {
        prev: None,
        next: None,
        depth: 0,
        parent_depth: None,
        in_tree: false,
    };

    /// Whether these are the links of a node in the run of descendants of
    /// a node at `depth` (given that every node between them is too).
    pub fn is_below(&self, depth: u32) -> bool {
        self.in_tree && self.parent_depth.is_some_and(|p| p >= depth)
    }
}

/// The deepest a node may lie; deriving further is refused with
/// [`Error::TooDeep`].
///
/// The bound keeps every depth-driven loop short and every depth small:
/// [`revoke_step`] descends at most this many levels to find a leaf, so each
/// step of a revoke costs a bounded number of slot reads however large the
/// tree is, and a depth and a parent depth fit in the eight spare bits each
/// of a slot's two link words has. Depths count deleted generations too (a
/// copy of a copy whose original was deleted is still two levels down), so
/// the bound is generous; no real system derives capabilities anywhere near
/// 255 times in a chain.
pub const MAX_DEPTH: u32 = 255;

/// Why a tree operation was refused. Nothing was changed.
///
/// Operations name an existing node first and a slot to be filled second;
/// [`Error::NotInTree`] always refers to the first and
/// [`Error::AlreadyInTree`] to the second, and when both apply the first wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The existing node the operation starts from (parent, sibling, the node
    /// to remove or move) is not in the tree.
    NotInTree,
    /// The slot the operation would fill already holds a node of the tree.
    AlreadyInTree,
    /// The new node would lie at `depth`, deeper than [`MAX_DEPTH`].
    TooDeep { depth: u32 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::NotInTree => f.write_str(
                "the existing slot named by the operation is not in the derivation tree",
            ),
            Error::AlreadyInTree => {
                f.write_str("the destination slot already holds a node of the derivation tree")
            }
            Error::TooDeep { depth } => write!(
                f,
                "the new node would lie at derivation depth {depth}, deeper than the limit {MAX_DEPTH}"
            ),
        }
    }
}

/// A way in which the links in a store are inconsistent, found by
/// [`check_invariants`]. `slot` names where it was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvariantError<Id> {
    /// A slot outside the tree has links or a depth.
    StrayLinks { slot: Id },
    /// The slot's predecessor is outside the tree or does not point back.
    BrokenPrev { slot: Id },
    /// The slot's successor is outside the tree or does not point back.
    BrokenNext { slot: Id },
    /// The slot's parent depth is above its predecessor's depth, so its
    /// parent would be missing.
    ParentJump {
        slot: Id,
        parent_depth: u32,
        prev_depth: u32,
    },
    /// The slot's parent depth is not below its own depth.
    ParentNotAbove {
        slot: Id,
        depth: u32,
        parent_depth: u32,
    },
    /// The slot starts a list but has a parent depth.
    HeadNotRoot { slot: Id, parent_depth: u32 },
    /// The slot lies deeper than [`MAX_DEPTH`].
    TooDeep { slot: Id, depth: u32 },
    /// Walking forward from the list head `slot` took more steps than there
    /// are tree slots among those checked: a cycle, or tree slots missing
    /// from the slots given.
    Cycle { slot: Id },
    /// The lists reach `reached` slots while `in_tree` slots say they are in
    /// the tree: some lie on a cycle, or the slots given were incomplete or
    /// named one twice.
    Unreachable { in_tree: usize, reached: usize },
}

impl<Id: fmt::Debug> fmt::Display for InvariantError<Id> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvariantError::StrayLinks { slot } => {
                write!(
                    f,
                    "slot {slot:?} is not in the tree but has links or a depth"
                )
            }
            InvariantError::BrokenPrev { slot } => write!(
                f,
                "the predecessor of slot {slot:?} is not in the tree or does not link back"
            ),
            InvariantError::BrokenNext { slot } => write!(
                f,
                "the successor of slot {slot:?} is not in the tree or does not link back"
            ),
            InvariantError::ParentJump {
                slot,
                parent_depth,
                prev_depth,
            } => write!(
                f,
                "slot {slot:?} has parent depth {parent_depth} but follows a node at depth \
                 {prev_depth}: its parent is missing"
            ),
            InvariantError::ParentNotAbove {
                slot,
                depth,
                parent_depth,
            } => write!(
                f,
                "slot {slot:?} at depth {depth} has parent depth {parent_depth}, not above it"
            ),
            InvariantError::HeadNotRoot { slot, parent_depth } => write!(
                f,
                "slot {slot:?} starts a list but has parent depth {parent_depth}"
            ),
            InvariantError::TooDeep { slot, depth } => {
                write!(
                    f,
                    "slot {slot:?} has depth {depth}, beyond the limit {MAX_DEPTH}"
                )
            }
            InvariantError::Cycle { slot } => {
                write!(
                    f,
                    "the list starting at slot {slot:?} is longer than the tree: \
                 a cycle, or tree slots missing from the check"
                )
            }
            InvariantError::Unreachable { in_tree, reached } => write!(
                f,
                "{in_tree} slots are in the tree but the lists reach {reached}: \
                 a cycle, or the slots checked were not each tree slot once"
            ),
        }
    }
}

/// Whether slot `id` holds a node of the tree.
pub fn is_in_tree<S: SlotStore>(store: &S, id: S::Id) -> bool {
    store.links(id).in_tree
}

/// Make `id` the root of a new tree of its own (an untyped capability created
/// at boot). O(1).
pub fn insert_root<S: SlotStore>(store: &mut S, id: S::Id) -> Result<(), Error> {
    if is_in_tree(store, id) {
        return Err(Error::AlreadyInTree);
    }
    store.set_links(
        id,
        Links {
            prev: None,
            next: None,
            depth: 0,
            parent_depth: None,
            in_tree: true,
        },
    );
    Ok(())
}

/// Make `child` the first child of `parent`: it goes right after `parent`,
/// one level deeper, so it sits before (and does not adopt) any children
/// `parent` already has. O(1).
pub fn insert_child<S: SlotStore>(store: &mut S, parent: S::Id, child: S::Id) -> Result<(), Error> {
    let parent_links = tree_links(store, parent)?;
    if is_in_tree(store, child) {
        return Err(Error::AlreadyInTree);
    }
    let depth = parent_links
        .depth
        .checked_add(1)
        .filter(|&d| d <= MAX_DEPTH)
        .ok_or(Error::TooDeep {
            depth: parent_links.depth.saturating_add(1),
        })?;
    link(
        store,
        Some(parent),
        child,
        parent_links.next,
        depth,
        Some(parent_links.depth),
    );
    Ok(())
}

/// Make `new` a sibling of `existing`: same depth and parent, linked
/// immediately before `existing`. O(1).
///
/// Going before rather than after keeps this O(1): the nodes right after
/// `existing` are its own descendants, which `new` must not adopt, whereas
/// the node right before it is its parent or a node at least as deep whose
/// subtree `new` closes. Capabilities to one object made this way stay
/// contiguous in the list.
pub fn insert_sibling<S: SlotStore>(
    store: &mut S,
    existing: S::Id,
    new: S::Id,
) -> Result<(), Error> {
    let links = tree_links(store, existing)?;
    if is_in_tree(store, new) {
        return Err(Error::AlreadyInTree);
    }
    link(
        store,
        links.prev,
        new,
        Some(existing),
        links.depth,
        links.parent_depth,
    );
    Ok(())
}

/// Take `id` out of the tree (deleting one capability). Its descendants move
/// up one level, so its children become children of its parent (or roots).
///
/// O(1), however many descendants `id` has: only its successor's parent
/// depth changes (see the module notes).
pub fn remove<S: SlotStore>(store: &mut S, id: S::Id) -> Result<(), Error> {
    let links = tree_links(store, id)?;
    unlink(store, id, links);
    Ok(())
}

/// Put `to` in `from`'s exact place in the tree (same neighbours, same depth,
/// same descendants) and take `from` out: moving a capability between slots.
/// O(1).
pub fn move_node<S: SlotStore>(store: &mut S, from: S::Id, to: S::Id) -> Result<(), Error> {
    let links = tree_links(store, from)?;
    if is_in_tree(store, to) {
        return Err(Error::AlreadyInTree);
    }
    store.set_links(from, Links::EMPTY);
    link(
        store,
        links.prev,
        to,
        links.next,
        links.depth,
        links.parent_depth,
    );
    Ok(())
}

/// Exchange the places of two nodes in the tree: `a` takes `b`'s position
/// (its neighbours and depth) and `b` takes `a`'s. The kernel swaps the
/// capabilities with them, so each capability keeps its own place and
/// descendants; what changes is which slot holds it. O(1).
pub fn swap<S: SlotStore>(store: &mut S, a: S::Id, b: S::Id) -> Result<(), Error> {
    let la = tree_links(store, a)?;
    let lb = tree_links(store, b)?;
    if a == b {
        return Ok(());
    }
    // Where each node's neighbours point after the exchange: a reference to
    // the other node (adjacent nodes) becomes a reference to itself.
    let other =
        |x: Option<S::Id>, me: S::Id, them: S::Id| if x == Some(me) { Some(them) } else { x };
    let new_a = Links {
        prev: other(lb.prev, a, b),
        next: other(lb.next, a, b),
        ..lb
    };
    let new_b = Links {
        prev: other(la.prev, b, a),
        next: other(la.next, b, a),
        ..la
    };
    // Outside neighbours now point at the other node.
    let repoint = |store: &mut S, n: Option<S::Id>, from: S::Id, to: S::Id, is_prev: bool| {
        if let Some(n) = n
            && n != a
            && n != b
        {
            let mut l = store.links(n);
            if is_prev {
                // `n` is before `from`: its `next` pointed at `from`.
                if l.next == Some(from) {
                    l.next = Some(to);
                }
            } else if l.prev == Some(from) {
                l.prev = Some(to);
            }
            store.set_links(n, l);
        }
    };
    repoint(store, la.prev, a, b, true);
    repoint(store, la.next, a, b, false);
    repoint(store, lb.prev, b, a, true);
    repoint(store, lb.next, b, a, false);
    store.set_links(a, new_a);
    store.set_links(b, new_b);
    Ok(())
}

/// The first descendant of `id` in depth-first order (its first child), or
/// `None` if it has none or is not in the tree. O(1).
pub fn first_descendant<S: SlotStore>(store: &S, id: S::Id) -> Option<S::Id> {
    let links = store.links(id);
    if !links.in_tree {
        return None;
    }
    let next = links.next?;
    store.links(next).is_below(links.depth).then_some(next)
}

/// Whether `id` is in the tree and has at least one descendant. O(1).
pub fn has_descendants<S: SlotStore>(store: &S, id: S::Id) -> bool {
    first_descendant(store, id).is_some()
}

/// Whether `id` lies in the subtree below `ancestor` (a node is not its own
/// descendant). O(number of nodes between the two in the list).
pub fn is_descendant<S: SlotStore>(store: &S, ancestor: S::Id, id: S::Id) -> bool {
    let top = store.links(ancestor);
    let mut links = store.links(id);
    if !top.in_tree || !links.in_tree {
        return false;
    }
    // `id` is below `ancestor` exactly when `ancestor` comes before it and
    // every node from there up to `id` is in its run.
    loop {
        if !links.is_below(top.depth) {
            return false;
        }
        let Some(prev) = links.prev else {
            return false;
        };
        if prev == ancestor {
            return true;
        }
        links = store.links(prev);
    }
}

/// The parent of `id`: the nearest earlier node whose run of descendants
/// reaches it. `None` for a root or a slot outside the tree.
///
/// O(size of the list before `id`) in the worst case, so this is for tests
/// and debugging; kernel paths never need a node's parent.
pub fn parent<S: SlotStore>(store: &S, id: S::Id) -> Option<S::Id> {
    let links = store.links(id);
    if !links.in_tree {
        return None;
    }
    // The lowest parent depth from the candidate's successor up to `id`:
    // the candidate's run reaches `id` exactly when its depth is at most that.
    let mut floor = links.parent_depth?;
    let mut at = links.prev;
    while let Some(candidate) = at {
        let candidate_links = store.links(candidate);
        if candidate_links.depth <= floor {
            return Some(candidate);
        }
        floor = floor.min(candidate_links.parent_depth?);
        at = candidate_links.prev;
    }
    None
}

/// The last descendant of `id` in depth-first order, or `None` if it has none
/// or is not in the tree. O(number of descendants of `id`).
pub fn last_descendant<S: SlotStore>(store: &S, id: S::Id) -> Option<S::Id> {
    let links = store.links(id);
    if !links.in_tree {
        return None;
    }
    let mut last = None;
    let mut at = links.next;
    while let Some(candidate) = at {
        let candidate_links = store.links(candidate);
        if !candidate_links.is_below(links.depth) {
            break;
        }
        last = Some(candidate);
        at = candidate_links.next;
    }
    last
}

/// One step of revoking `id`: unlink one descendant of `id` that has no
/// descendants of its own and return it, or return `None` when `id` has no
/// descendants left (or is not in the tree).
///
/// The caller destroys what the returned slot held (its links are already
/// [`Links::EMPTY`]). Revoke is `while let Some(leaf) = revoke_step(..)`,
/// and because all progress lives in the tree the loop can stop at any
/// preemption point and be restarted with the same call later.
///
/// Each step follows first children down from `id` to a leaf, so it reads at
/// most [`MAX_DEPTH`] + 5 slots' links and writes 3. A whole revoke thus
/// costs O(descendants × `MAX_DEPTH`) reads, in steps of bounded length.
pub fn revoke_step<S: SlotStore>(store: &mut S, id: S::Id) -> Option<S::Id> {
    let top = store.links(id);
    if !top.in_tree {
        return None;
    }
    let mut leaf = top.next?;
    let mut leaf_links = store.links(leaf);
    if !leaf_links.is_below(top.depth) {
        return None;
    }
    // In DFS order a node's first child is the next node when that is in
    // its run, so descending is walking forward; each step is at least one
    // level deeper and depths are at most MAX_DEPTH, which bounds the walk.
    for _ in 0..MAX_DEPTH {
        let Some(next) = leaf_links.next else {
            break;
        };
        let next_links = store.links(next);
        if !next_links.is_below(leaf_links.depth) {
            break;
        }
        leaf = next;
        leaf_links = next_links;
    }
    // `leaf` has no descendants in a sound tree; if depths were corrupted
    // beyond MAX_DEPTH, `unlink` still moves whatever follows up, so no
    // node is left orphaned in the list.
    unlink(store, leaf, leaf_links);
    Some(leaf)
}

/// Check that the links in `store` form well-formed depth-first lists.
///
/// `ids` must name every slot that is in the tree, each once (it may name
/// slots outside the tree too); it is walked twice. Checks: nodes outside the
/// tree have [`Links::EMPTY`]; `prev` and `next` point at tree nodes that
/// point back; a node is at most [`MAX_DEPTH`] deep, its parent depth is
/// below its depth and at most its predecessor's depth, and a list head has
/// no parent depth; and following the lists from their heads reaches every
/// tree node, without cycles.
/// O(slots named).
pub fn check_invariants<S, I>(store: &S, ids: I) -> Result<(), InvariantError<S::Id>>
where
    S: SlotStore,
    I: IntoIterator<Item = S::Id>,
    I::IntoIter: Clone,
{
    let ids = ids.into_iter();
    let mut in_tree: usize = 0;
    for slot in ids.clone() {
        let links = store.links(slot);
        if !links.in_tree {
            if links != Links::EMPTY {
                return Err(InvariantError::StrayLinks { slot });
            }
            continue;
        }
        in_tree = in_tree.saturating_add(1);
        if links.depth > MAX_DEPTH {
            return Err(InvariantError::TooDeep {
                slot,
                depth: links.depth,
            });
        }
        if let Some(parent_depth) = links.parent_depth
            && parent_depth >= links.depth
        {
            return Err(InvariantError::ParentNotAbove {
                slot,
                depth: links.depth,
                parent_depth,
            });
        }
        match (links.prev, links.parent_depth) {
            (Some(prev), parent_depth) => {
                let prev_links = store.links(prev);
                if !prev_links.in_tree || prev_links.next != Some(slot) {
                    return Err(InvariantError::BrokenPrev { slot });
                }
                if let Some(parent_depth) = parent_depth
                    && parent_depth > prev_links.depth
                {
                    return Err(InvariantError::ParentJump {
                        slot,
                        parent_depth,
                        prev_depth: prev_links.depth,
                    });
                }
            }
            (None, Some(parent_depth)) => {
                return Err(InvariantError::HeadNotRoot { slot, parent_depth });
            }
            (None, None) => {}
        }
        if let Some(next) = links.next {
            let next_links = store.links(next);
            if !next_links.in_tree || next_links.prev != Some(slot) {
                return Err(InvariantError::BrokenNext { slot });
            }
        }
    }
    // With every link symmetric, the tree nodes split into chains and cycles.
    // Walking the chains from their heads reaches every node exactly when
    // there are no cycles.
    let mut reached: usize = 0;
    for slot in ids {
        let links = store.links(slot);
        if !links.in_tree || links.prev.is_some() {
            continue;
        }
        let mut steps: usize = 1;
        let mut at = links.next;
        while let Some(node) = at {
            steps = steps.saturating_add(1);
            if steps > in_tree {
                return Err(InvariantError::Cycle { slot });
            }
            at = store.links(node).next;
        }
        reached = reached.saturating_add(steps);
    }
    if reached != in_tree {
        return Err(InvariantError::Unreachable { in_tree, reached });
    }
    Ok(())
}

/// The links of `id`, or [`Error::NotInTree`].
fn tree_links<S: SlotStore>(store: &S, id: S::Id) -> Result<Links<S::Id>, Error> {
    let links = store.links(id);
    if links.in_tree {
        Ok(links)
    } else {
        Err(Error::NotInTree)
    }
}

/// Put `id` between `prev` and `next` at `depth` under `parent_depth`.
fn link<S: SlotStore>(
    store: &mut S,
    prev: Option<S::Id>,
    id: S::Id,
    next: Option<S::Id>,
    depth: u32,
    parent_depth: Option<u32>,
) {
    store.set_links(
        id,
        Links {
            prev,
            next,
            depth,
            parent_depth,
            in_tree: true,
        },
    );
    if let Some(prev) = prev {
        let mut prev_links = store.links(prev);
        prev_links.next = Some(id);
        store.set_links(prev, prev_links);
    }
    if let Some(next) = next {
        let mut next_links = store.links(next);
        next_links.prev = Some(id);
        store.set_links(next, next_links);
    }
}

/// Take `id`, whose current links are `links`, out of its list; its
/// descendants move up one level.
///
/// Only the successor changes: it takes the smaller of its own parent depth
/// and `id`'s. A run that `id` ended (its parent depth was below the run's
/// node) now ends at the successor; a run that held both still holds it;
/// the successor's own run and every later node are untouched. So every
/// node keeps its ancestors but `id`, whatever the size of the subtree.
fn unlink<S: SlotStore>(store: &mut S, id: S::Id, links: Links<S::Id>) {
    if let Some(prev) = links.prev {
        let mut prev_links = store.links(prev);
        prev_links.next = links.next;
        store.set_links(prev, prev_links);
    }
    if let Some(next) = links.next {
        let mut next_links = store.links(next);
        next_links.prev = links.prev;
        // `None` (no parent) orders below every depth.
        next_links.parent_depth = next_links.parent_depth.min(links.parent_depth);
        store.set_links(next, next_links);
    }
    store.set_links(id, Links::EMPTY);
}

#[cfg(test)]
mod tests;
