//! The scheduler's ready queue: 256 fixed priorities, round-robin within a
//! priority, and constant-time choice of the highest priority that has a
//! runnable thread.
//!
//! Threads live in kernel memory and there is no heap, so the queue is
//! intrusive: each thread carries its own [`QueueLinks`], reached through a
//! [`ThreadLinks`] store that the kernel implements over its thread objects.
//! [`RunQueue`] itself holds only a head and a tail per priority and a
//! two-level bitmap of the non-empty priorities.
//!
//! Guarantees, as long as the store's links are changed only through this
//! module:
//!
//! - every operation takes constant time: no loop depends on how many threads
//!   are queued, and [`RunQueue::highest`] is two `leading_zeros`;
//! - a thread is in at most one queue, and its `queued` flag says whether it
//!   is in one; pushing a queued thread or removing an unqueued one is refused
//!   with an [`Error`] and changes nothing, and so is removing a thread at the
//!   wrong priority whenever that priority would have to be updated;
//! - nothing here panics or loops forever, whatever the arguments or the
//!   links in the store: corrupted links give wrong answers, not a crash.
//!   (Whether the store itself accepts every id it is handed is its business.)
//!
//! [`check_invariants`] verifies the whole structure against the store, for
//! debug builds and tests.

use core::fmt;

/// Number of priorities: every `u8` is one, 0 the lowest and 255 the highest.
pub const PRIORITIES: usize = 256;

/// Bits in a bitmap word.
const WORD_BITS: usize = u64::BITS as usize;
/// Bitmap words, one summary bit each.
const WORDS: usize = PRIORITIES / WORD_BITS;
// The summary is a u8.
const _: () = assert!(WORDS <= u8::BITS as usize);
const _: () = assert!(WORDS.is_power_of_two());

/// A thread's place in a run queue, stored in the thread itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLinks<Id> {
    /// The thread before this one at the same priority; `None` at the head.
    pub prev: Option<Id>,
    /// The thread after this one at the same priority; `None` at the tail.
    pub next: Option<Id>,
    /// Whether the thread is in a queue. A thread alone in its queue has no
    /// neighbours, so the links by themselves cannot tell.
    pub queued: bool,
}

impl<Id> QueueLinks<Id> {
    /// The links of a thread in no queue.
    pub const fn unqueued() -> Self {
        QueueLinks {
            prev: None,
            next: None,
            queued: false,
        }
    }
}

impl<Id> Default for QueueLinks<Id> {
    fn default() -> Self {
        Self::unqueued()
    }
}

/// Where the threads keep their [`QueueLinks`].
///
/// The kernel implements this over its thread objects; tests over an array.
/// Every `id` the queue passes in is one the caller pushed, or a neighbour
/// read from the links, so a store whose links are only changed by
/// [`RunQueue`] is only asked about threads it holds.
pub trait ThreadLinks {
    /// Names a thread: an index, a handle, a pointer wrapped in a safe type.
    type Id: Copy + Eq + fmt::Debug;
    /// The links of thread `id`.
    fn links(&self, id: Self::Id) -> QueueLinks<Self::Id>;
    /// Replace the links of thread `id`.
    fn set_links(&mut self, id: Self::Id, links: QueueLinks<Self::Id>);
}

/// Why a run-queue operation was refused. A refused operation changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The thread is already in a queue (this one at some priority).
    AlreadyQueued,
    /// The thread is in no queue.
    NotQueued,
    /// The thread is queued, but is not the head or tail of the queue at
    /// `prio` although its links say it is at one end of its queue.
    WrongPriority {
        /// The priority the caller named.
        prio: u8,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::AlreadyQueued => f.write_str("thread is already in the run queue"),
            Error::NotQueued => f.write_str("thread is not in the run queue"),
            Error::WrongPriority { prio } => {
                write!(f, "thread is queued, but not at priority {prio}")
            }
        }
    }
}

/// One priority's queue: both ends are `None` together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Level<Id> {
    head: Option<Id>,
    tail: Option<Id>,
}

/// The ready threads, by priority. See the [module docs](self).
#[derive(Clone)]
pub struct RunQueue<Id> {
    levels: [Level<Id>; PRIORITIES],
    /// Bit `p % 64` of word `p / 64` is set iff priority `p` is non-empty.
    words: [u64; WORDS],
    /// Bit `w` is set iff `words[w]` is non-zero; the upper four bits stay clear.
    summary: u8,
}

impl<Id: Copy + Eq> Default for RunQueue<Id> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Id: fmt::Debug> fmt::Debug for RunQueue<Id> {
    /// Only the non-empty priorities: 256 mostly empty slots hide the content.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (prio, level) in self.levels.iter().enumerate() {
            if level.head.is_some() || level.tail.is_some() {
                map.entry(&prio, &(&level.head, &level.tail));
            }
        }
        map.finish()
    }
}

impl<Id: Copy + Eq> RunQueue<Id> {
    /// A queue with no threads.
    pub const fn new() -> Self {
        RunQueue {
            levels: [const {
                Level {
                    head: None,
                    tail: None,
                }
            }; PRIORITIES],
            words: [0; WORDS],
            summary: 0,
        }
    }

    /// Append `id` at the tail of priority `prio`: a thread whose time slice
    /// ran out, or one that just became runnable, waits for every thread
    /// already ready at its priority.
    ///
    /// [`Error::AlreadyQueued`] if `id` is in a queue.
    pub fn push_back<S: ThreadLinks<Id = Id>>(
        &mut self,
        store: &mut S,
        id: Id,
        prio: u8,
    ) -> Result<(), Error> {
        if store.links(id).queued {
            return Err(Error::AlreadyQueued);
        }
        let level = self.level_mut(prio);
        let old_tail = level.tail;
        level.tail = Some(id);
        match old_tail {
            Some(tail) => update(store, tail, |l| l.next = Some(id)),
            None => {
                level.head = Some(id);
                self.mark(prio);
            }
        }
        store.set_links(
            id,
            QueueLinks {
                prev: old_tail,
                next: None,
                queued: true,
            },
        );
        Ok(())
    }

    /// Insert `id` at the head of priority `prio`: a thread preempted before
    /// its time slice ended keeps its turn.
    ///
    /// [`Error::AlreadyQueued`] if `id` is in a queue.
    pub fn push_front<S: ThreadLinks<Id = Id>>(
        &mut self,
        store: &mut S,
        id: Id,
        prio: u8,
    ) -> Result<(), Error> {
        if store.links(id).queued {
            return Err(Error::AlreadyQueued);
        }
        let level = self.level_mut(prio);
        let old_head = level.head;
        level.head = Some(id);
        match old_head {
            Some(head) => update(store, head, |l| l.prev = Some(id)),
            None => {
                level.tail = Some(id);
                self.mark(prio);
            }
        }
        store.set_links(
            id,
            QueueLinks {
                prev: None,
                next: old_head,
                queued: true,
            },
        );
        Ok(())
    }

    /// Unlink `id` from priority `prio`, wherever it is in that queue: the
    /// thread blocked, was suspended or destroyed, or changes priority.
    ///
    /// `prio` must be the priority `id` was queued at (the kernel keeps it in
    /// the thread). It is only needed when `id` is at either end of its queue,
    /// and only checked then: [`Error::WrongPriority`] if `id` is not that end
    /// of `prio`'s queue. A thread in the middle is unlinked correctly
    /// whatever `prio` says. [`Error::NotQueued`] if `id` is in no queue.
    #[inline]
    pub fn remove<S: ThreadLinks<Id = Id>>(
        &mut self,
        store: &mut S,
        id: Id,
        prio: u8,
    ) -> Result<(), Error> {
        let links = store.links(id);
        if !links.queued {
            return Err(Error::NotQueued);
        }
        let level = self.level_mut(prio);
        // An end of the queue is recorded here as well as in the neighbours;
        // check both ends before changing anything, so a refusal leaves all as it was.
        if (links.prev.is_none() && level.head != Some(id))
            || (links.next.is_none() && level.tail != Some(id))
        {
            return Err(Error::WrongPriority { prio });
        }
        match links.prev {
            Some(prev) => update(store, prev, |l| l.next = links.next),
            None => level.head = links.next,
        }
        match links.next {
            Some(next) => update(store, next, |l| l.prev = links.prev),
            None => level.tail = links.prev,
        }
        if level.head.is_none() {
            self.unmark(prio);
        }
        store.set_links(id, QueueLinks::unqueued());
        Ok(())
    }

    /// `id`, in no queue, gives way to the head of priority `prio`: the
    /// head is taken out and `id` appended at the tail, in one step (a yield
    /// to the next thread at the yielder's priority). The same as
    /// [`push_back`](Self::push_back) then removing the head, except that
    /// the priority stays non-empty throughout, so the bitmap and
    /// [`highest`](Self::highest) do not change.
    ///
    /// `Ok(None)`, changing nothing, if the priority is empty;
    /// [`Error::AlreadyQueued`] if `id` is in a queue.
    #[inline]
    pub fn rotate<S: ThreadLinks<Id = Id>>(
        &mut self,
        store: &mut S,
        id: Id,
        prio: u8,
    ) -> Result<Option<Id>, Error> {
        if store.links(id).queued {
            return Err(Error::AlreadyQueued);
        }
        let level = *self.level(prio);
        let (Some(head), Some(tail)) = (level.head, level.tail) else {
            return Ok(None);
        };
        let (new_head, id_prev) = match store.links(head).next {
            // The head was alone: `id` is now.
            None => (id, None),
            Some(next) => {
                update(store, next, |l| l.prev = None);
                update(store, tail, |l| l.next = Some(id));
                (next, Some(tail))
            }
        };
        store.set_links(head, QueueLinks::unqueued());
        store.set_links(
            id,
            QueueLinks {
                prev: id_prev,
                next: None,
                queued: true,
            },
        );
        *self.level_mut(prio) = Level {
            head: Some(new_head),
            tail: Some(id),
        };
        Ok(Some(head))
    }

    /// The highest priority with a ready thread, in constant time.
    #[inline]
    pub fn highest(&self) -> Option<u8> {
        if self.summary == 0 {
            return None;
        }
        // Only bits below `WORDS` are ever set in the summary; the mask
        // keeps even a corrupted one inside the bitmap (a wrong answer,
        // not a panic).
        let word_index = (u8::BITS - 1 - self.summary.leading_zeros()) as usize & (WORDS - 1);
        let word = self.words[word_index];
        // A summary bit over an empty word would be a bug here: "nothing
        // ready" rather than a panic.
        if word == 0 {
            return None;
        }
        let bit = (u64::BITS - 1 - word.leading_zeros()) as usize;
        // At most 3 · 64 + 63 = 255.
        Some((word_index * WORD_BITS + bit) as u8)
    }

    /// The thread that would run next and its priority, without removing it:
    /// the head of the highest non-empty priority.
    pub fn peek(&self) -> Option<(Id, u8)> {
        let prio = self.highest()?;
        Some((self.level(prio).head?, prio))
    }

    /// Remove and return the thread that runs next and its priority.
    ///
    /// `None` when no thread is ready (or, with a corrupted store, when the
    /// head cannot be unlinked; the queue is then left unchanged).
    #[inline]
    pub fn pop<S: ThreadLinks<Id = Id>>(&mut self, store: &mut S) -> Option<(Id, u8)> {
        let (id, prio) = self.peek()?;
        self.remove(store, id, prio).ok()?;
        Some((id, prio))
    }

    /// Whether no thread is ready.
    pub fn is_empty(&self) -> bool {
        self.summary == 0
    }

    fn level(&self, prio: u8) -> &Level<Id> {
        // A u8 is below PRIORITIES, so indexing cannot fail.
        &self.levels[usize::from(prio)]
    }

    fn level_mut(&mut self, prio: u8) -> &mut Level<Id> {
        &mut self.levels[usize::from(prio)]
    }

    /// Record that `prio` is non-empty.
    fn mark(&mut self, prio: u8) {
        let (word, bit) = split(prio);
        // word < WORDS for every u8, so the lookup always succeeds.
        if let Some(w) = self.words.get_mut(word) {
            *w |= bit;
            self.summary |= 1 << word;
        }
    }

    /// Record that `prio` is empty.
    fn unmark(&mut self, prio: u8) {
        let (word, bit) = split(prio);
        if let Some(w) = self.words.get_mut(word) {
            *w &= !bit;
            if *w == 0 {
                self.summary &= !(1 << word);
            }
        }
    }
}

/// Bitmap word index and bit mask of `prio`.
fn split(prio: u8) -> (usize, u64) {
    let prio = usize::from(prio);
    (prio / WORD_BITS, 1 << (prio % WORD_BITS))
}

/// Read-modify-write one thread's links.
fn update<S: ThreadLinks>(store: &mut S, id: S::Id, change: impl FnOnce(&mut QueueLinks<S::Id>)) {
    let mut links = store.links(id);
    change(&mut links);
    store.set_links(id, links);
}

/// The first broken invariant [`check_invariants`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvariantError<Id> {
    /// The bitmap bit of `prio` disagrees with whether its queue has a head.
    Bitmap { prio: u8 },
    /// Summary bit `word` disagrees with whether bitmap word `word` is
    /// non-zero, or (with `word` 4 or more) is set although there is no such word.
    Summary { word: u8 },
    /// Exactly one of head and tail is set at `prio`.
    HalfEmpty { prio: u8 },
    /// The head of `prio` has a predecessor.
    HeadHasPrev { prio: u8, id: Id },
    /// The queue at `prio` ends (no `next`) at `id`, which is not its tail.
    TailMismatch { prio: u8, id: Id },
    /// `id` is in a queue but its `queued` flag is clear.
    NotFlagged { id: Id },
    /// `id` names `neighbour` as its next (or previous) thread, but
    /// `neighbour` does not name `id` back.
    Asymmetric { id: Id, neighbour: Id },
    /// `id` is not queued but still has a neighbour.
    StaleLinks { id: Id },
    /// `id` is flagged queued but is not reachable from any queue's head.
    Orphan { id: Id },
    /// The queues hold `in_queues` places but `all` has `flagged` queued
    /// threads: a thread is in two queues, or a queued thread is missing from `all`.
    Count { in_queues: usize, flagged: usize },
}

impl<Id: fmt::Debug> fmt::Display for InvariantError<Id> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvariantError::Bitmap { prio } => {
                write!(f, "bitmap bit of priority {prio} disagrees with its queue")
            }
            InvariantError::Summary { word } => {
                write!(f, "summary bit {word} disagrees with bitmap word {word}")
            }
            InvariantError::HalfEmpty { prio } => {
                write!(f, "priority {prio} has a head or a tail but not both")
            }
            InvariantError::HeadHasPrev { prio, id } => {
                write!(f, "head {id:?} of priority {prio} has a predecessor")
            }
            InvariantError::TailMismatch { prio, id } => {
                write!(
                    f,
                    "queue at priority {prio} ends at {id:?}, not at its tail"
                )
            }
            InvariantError::NotFlagged { id } => {
                write!(f, "thread {id:?} is in a queue but not flagged queued")
            }
            InvariantError::Asymmetric { id, neighbour } => {
                write!(
                    f,
                    "thread {id:?} links to {neighbour:?}, which does not link back"
                )
            }
            InvariantError::StaleLinks { id } => {
                write!(f, "unqueued thread {id:?} still has neighbours")
            }
            InvariantError::Orphan { id } => {
                write!(f, "thread {id:?} is flagged queued but in no queue")
            }
            InvariantError::Count { in_queues, flagged } => write!(
                f,
                "queues hold {in_queues} places but {flagged} threads are flagged queued"
            ),
        }
    }
}

/// Check every run-queue invariant of `q` against `store`, where `all`
/// yields every thread the store holds, each once.
///
/// Verified: the bitmap and its summary agree with which queues are
/// non-empty; every queue runs from its head (no predecessor) to its tail (no
/// successor) with each `next` matched by a `prev` and each member flagged
/// queued; every thread flagged queued is in some queue and every unqueued one
/// has no neighbours; and no thread is in two places. Costs, for each queued
/// thread, a scan of the 256 heads and a walk back to its head: meant for
/// tests and debug builds, not the scheduler's fast path. Never panics, and
/// terminates on any finite store.
pub fn check_invariants<S: ThreadLinks>(
    q: &RunQueue<S::Id>,
    store: &S,
    all: impl Iterator<Item = S::Id>,
) -> Result<(), InvariantError<S::Id>> {
    check_bitmap(q)?;

    // Every flagged thread must lead back to a head. Walking back, each step
    // checks that the predecessor names us as its next; with that check the
    // only way to revisit a thread is to return to the start, so the walk
    // ends without needing a bound.
    let mut flagged: usize = 0;
    for id in all {
        let links = store.links(id);
        if !links.queued {
            if links.prev.is_some() || links.next.is_some() {
                return Err(InvariantError::StaleLinks { id });
            }
            continue;
        }
        flagged = flagged.saturating_add(1);
        let mut at = id;
        while let Some(prev) = store.links(at).prev {
            if store.links(prev).next != Some(at) {
                return Err(InvariantError::Asymmetric {
                    id: prev,
                    neighbour: at,
                });
            }
            if prev == id {
                return Err(InvariantError::Orphan { id });
            }
            at = prev;
        }
        if !q.levels.iter().any(|level| level.head == Some(at)) {
            return Err(InvariantError::Orphan { id });
        }
    }

    // Walk each queue forward. The predecessor check again rules out a
    // cycle (a head has no predecessor to come back through), and counting
    // places against `flagged` bounds the walk even if `all` is incomplete.
    let mut in_queues: usize = 0;
    for (prio, level) in (0..=u8::MAX).zip(q.levels.iter()) {
        let Some(head) = level.head else { continue };
        let mut at = head;
        let mut prev = None;
        loop {
            let links = store.links(at);
            if links.prev != prev {
                return Err(match prev {
                    None => InvariantError::HeadHasPrev { prio, id: at },
                    Some(p) => InvariantError::Asymmetric {
                        id: p,
                        neighbour: at,
                    },
                });
            }
            if !links.queued {
                return Err(InvariantError::NotFlagged { id: at });
            }
            in_queues = in_queues.saturating_add(1);
            if in_queues > flagged {
                return Err(InvariantError::Count { in_queues, flagged });
            }
            match links.next {
                Some(next) => {
                    prev = Some(at);
                    at = next;
                }
                None => break,
            }
        }
        if level.tail != Some(at) {
            return Err(InvariantError::TailMismatch { prio, id: at });
        }
    }
    // Every flagged thread is in a queue (first pass), each place holds a
    // flagged thread, and the counts agree: so each is in exactly one place.
    if in_queues != flagged {
        return Err(InvariantError::Count { in_queues, flagged });
    }
    Ok(())
}

/// The bitmap, its summary and the head/tail pairs agree.
fn check_bitmap<Id>(q: &RunQueue<Id>) -> Result<(), InvariantError<Id>> {
    for (prio, level) in (0..=u8::MAX).zip(q.levels.iter()) {
        if level.head.is_some() != level.tail.is_some() {
            return Err(InvariantError::HalfEmpty { prio });
        }
        let (word, bit) = split(prio);
        let marked = q.words.get(word).is_some_and(|w| w & bit != 0);
        if marked != level.head.is_some() {
            return Err(InvariantError::Bitmap { prio });
        }
    }
    for word in 0..u8::BITS {
        let summary_bit = q.summary & (1 << word) != 0;
        let nonzero = usize::try_from(word)
            .ok()
            .and_then(|w| q.words.get(w))
            .is_some_and(|&w| w != 0);
        if summary_bit != nonzero {
            return Err(InvariantError::Summary {
                word: u8::try_from(word).unwrap_or(u8::MAX),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
