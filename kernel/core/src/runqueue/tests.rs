use super::*;
use proptest::prelude::*;
use std::collections::VecDeque;
use std::string::ToString;
use std::vec;
use std::vec::Vec;

/// Threads named by their index, links kept in a vector.
#[derive(Clone, Debug)]
struct Threads(Vec<QueueLinks<usize>>);

impl Threads {
    fn new(n: usize) -> Self {
        Threads(vec![QueueLinks::unqueued(); n])
    }
}

impl ThreadLinks for Threads {
    type Id = usize;
    fn links(&self, id: usize) -> QueueLinks<usize> {
        self.0[id]
    }
    fn set_links(&mut self, id: usize, links: QueueLinks<usize>) {
        self.0[id] = links;
    }
}

/// The queue at `prio`, head first, by following `next` from the head.
fn contents(q: &RunQueue<usize>, t: &Threads, prio: u8) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = q.levels[usize::from(prio)].head;
    while let Some(id) = at {
        assert!(out.len() <= t.0.len(), "cycle at priority {prio}");
        out.push(id);
        at = t.links(id).next;
    }
    out
}

fn check(q: &RunQueue<usize>, t: &Threads) {
    if let Err(e) = check_invariants(q, t, 0..t.0.len()) {
        panic!("invariant broken: {e} ({e:?}) in {q:?}");
    }
}

fn drain(q: &mut RunQueue<usize>, t: &mut Threads) -> Vec<(usize, u8)> {
    let mut out = Vec::new();
    while let Some(x) = q.pop(t) {
        out.push(x);
        assert!(out.len() <= t.0.len(), "pop never ends");
    }
    check(q, t);
    out
}

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
const D: usize = 3;

#[test]
fn empty() {
    let mut t = Threads::new(4);
    let mut q = RunQueue::new();
    assert!(q.is_empty());
    assert_eq!(q.highest(), None);
    assert_eq!(q.peek(), None);
    assert_eq!(q.pop(&mut t), None);
    check(&q, &t);
    let d: RunQueue<usize> = RunQueue::default();
    assert!(d.is_empty());
    assert_eq!(QueueLinks::<usize>::default(), QueueLinks::unqueued());
    assert_eq!(std::format!("{q:?}"), "{}");
}

#[test]
fn push_back_links_and_flags() {
    let mut t = Threads::new(4);
    let mut q = RunQueue::new();
    q.push_back(&mut t, A, 7).unwrap();
    assert!(!q.is_empty());
    assert_eq!(
        t.links(A),
        QueueLinks {
            prev: None,
            next: None,
            queued: true
        }
    );
    q.push_back(&mut t, B, 7).unwrap();
    assert_eq!(t.links(A).next, Some(B));
    assert_eq!(t.links(B).prev, Some(A));
    assert_eq!(q.peek(), Some((A, 7)));
    assert_eq!(contents(&q, &t, 7), [A, B]);
    check(&q, &t);
    assert_eq!(std::format!("{q:?}"), "{7: (Some(0), Some(1))}");
}

#[test]
fn round_robin_within_a_priority() {
    let mut t = Threads::new(4);
    let mut q = RunQueue::new();
    for id in [A, B, C] {
        q.push_back(&mut t, id, 30).unwrap();
    }
    // A's slice runs out: it goes behind B and C.
    assert_eq!(q.pop(&mut t), Some((A, 30)));
    assert_eq!(t.links(A), QueueLinks::unqueued());
    q.push_back(&mut t, A, 30).unwrap();
    check(&q, &t);
    assert_eq!(drain(&mut q, &mut t), [(B, 30), (C, 30), (A, 30)]);
    assert!(q.is_empty());
}

#[test]
fn round_robin_full_cycle() {
    let mut t = Threads::new(4);
    let mut q = RunQueue::new();
    for id in [A, B, C] {
        q.push_back(&mut t, id, 30).unwrap();
    }
    let mut order = Vec::new();
    for _ in 0..7 {
        let (id, prio) = q.pop(&mut t).unwrap();
        order.push(id);
        q.push_back(&mut t, id, prio).unwrap();
        check(&q, &t);
    }
    assert_eq!(order, [A, B, C, A, B, C, A]);
}

#[test]
fn rotate_is_a_yield_to_the_head() {
    let mut t = Threads::new(4);
    let mut q = RunQueue::new();
    // Nobody at the priority: nothing changes.
    assert_eq!(q.rotate(&mut t, 0, 7), Ok(None));
    assert!(q.is_empty() && !t.links(0).queued);
    // The head alone: the yielder takes its place.
    q.push_back(&mut t, 1, 7).unwrap();
    assert_eq!(q.rotate(&mut t, 0, 7), Ok(Some(1)));
    assert_eq!(contents(&q, &t, 7), vec![0]);
    check(&q, &t);
    // Three queued: the head leaves, the yielder goes last.
    q.push_back(&mut t, 2, 7).unwrap();
    q.push_back(&mut t, 3, 7).unwrap();
    assert_eq!(q.rotate(&mut t, 1, 7), Ok(Some(0)));
    assert_eq!(contents(&q, &t, 7), vec![2, 3, 1]);
    assert_eq!(q.highest(), Some(7));
    check(&q, &t);
    // A queued yielder is refused and nothing changes.
    assert_eq!(q.rotate(&mut t, 3, 7), Err(Error::AlreadyQueued));
    assert_eq!(contents(&q, &t, 7), vec![2, 3, 1]);
    check(&q, &t);
}

#[test]
fn push_front_goes_first() {
    let mut t = Threads::new(4);
    let mut q = RunQueue::new();
    q.push_front(&mut t, A, 5).unwrap();
    assert_eq!(contents(&q, &t, 5), [A]);
    q.push_back(&mut t, B, 5).unwrap();
    q.push_front(&mut t, C, 5).unwrap();
    assert_eq!(contents(&q, &t, 5), [C, A, B]);
    assert_eq!(t.links(C).prev, None);
    assert_eq!(t.links(A).prev, Some(C));
    check(&q, &t);
    assert_eq!(drain(&mut q, &mut t), [(C, 5), (A, 5), (B, 5)]);
}

#[test]
fn preempted_thread_keeps_its_turn() {
    let mut t = Threads::new(4);
    let mut q = RunQueue::new();
    for id in [A, B, C] {
        q.push_back(&mut t, id, 10).unwrap();
    }
    // A runs, then D at a higher priority wakes and preempts it.
    assert_eq!(q.pop(&mut t), Some((A, 10)));
    q.push_back(&mut t, D, 200).unwrap();
    q.push_front(&mut t, A, 10).unwrap();
    check(&q, &t);
    assert_eq!(drain(&mut q, &mut t), [(D, 200), (A, 10), (B, 10), (C, 10)]);
}

#[test]
fn pushing_a_queued_thread_is_refused() {
    let mut t = Threads::new(4);
    let mut q = RunQueue::new();
    q.push_back(&mut t, A, 3).unwrap();
    q.push_back(&mut t, B, 3).unwrap();
    let (before_q, before_t) = (q.clone(), t.clone());
    for prio in [3, 4, 0, 255] {
        for id in [A, B] {
            assert_eq!(q.push_back(&mut t, id, prio), Err(Error::AlreadyQueued));
            assert_eq!(q.push_front(&mut t, id, prio), Err(Error::AlreadyQueued));
        }
    }
    assert_eq!(t.0, before_t.0);
    assert_eq!(q.levels, before_q.levels);
    assert_eq!((q.words, q.summary), (before_q.words, before_q.summary));
    check(&q, &t);
}

#[test]
fn removing_an_unqueued_thread_is_refused() {
    let mut t = Threads::new(4);
    let mut q = RunQueue::new();
    assert_eq!(q.remove(&mut t, A, 0), Err(Error::NotQueued));
    q.push_back(&mut t, A, 9).unwrap();
    assert_eq!(q.remove(&mut t, B, 9), Err(Error::NotQueued));
    q.remove(&mut t, A, 9).unwrap();
    assert_eq!(q.remove(&mut t, A, 9), Err(Error::NotQueued));
    assert!(q.is_empty());
    check(&q, &t);
}

#[test]
fn remove_from_anywhere() {
    for victim in [A, B, C] {
        let mut t = Threads::new(4);
        let mut q = RunQueue::new();
        for id in [A, B, C] {
            q.push_back(&mut t, id, 77).unwrap();
        }
        q.remove(&mut t, victim, 77).unwrap();
        assert_eq!(t.links(victim), QueueLinks::unqueued());
        check(&q, &t);
        let rest: Vec<usize> = [A, B, C].into_iter().filter(|&x| x != victim).collect();
        assert_eq!(contents(&q, &t, 77), rest);
        q.push_back(&mut t, victim, 77).unwrap();
        let mut expected = rest.clone();
        expected.push(victim);
        assert_eq!(contents(&q, &t, 77), expected);
        check(&q, &t);
    }
}

#[test]
fn removing_the_last_thread_empties_the_priority() {
    let mut t = Threads::new(4);
    let mut q = RunQueue::new();
    q.push_back(&mut t, A, 64).unwrap();
    q.push_back(&mut t, B, 65).unwrap();
    q.remove(&mut t, B, 65).unwrap();
    assert_eq!(q.highest(), Some(64));
    assert_eq!(q.levels[65].head, None);
    assert_eq!(q.levels[65].tail, None);
    check(&q, &t);
    q.remove(&mut t, A, 64).unwrap();
    assert!(q.is_empty());
    assert_eq!((q.words, q.summary), ([0; WORDS], 0));
    check(&q, &t);
}

#[test]
fn wrong_priority_at_an_end_is_refused() {
    let mut t = Threads::new(4);
    let mut q = RunQueue::new();
    q.push_back(&mut t, D, 1).unwrap();
    for id in [A, B, C] {
        q.push_back(&mut t, id, 2).unwrap();
    }
    let (before_q, before_t) = (q.clone(), t.clone());
    // Alone in its queue, head, tail: each is an end that would be updated.
    for (id, given) in [(D, 2), (D, 0), (A, 1), (A, 3), (C, 1), (C, 255)] {
        assert_eq!(
            q.remove(&mut t, id, given),
            Err(Error::WrongPriority { prio: given })
        );
        assert_eq!(t.0, before_t.0);
        assert_eq!(q.levels, before_q.levels);
        check(&q, &t);
    }
    // In the middle the priority is not needed, and B is unlinked correctly.
    q.remove(&mut t, B, 200).unwrap();
    check(&q, &t);
    assert_eq!(contents(&q, &t, 2), [A, C]);
}

#[test]
fn pop_takes_the_highest_priority_first() {
    let mut t = Threads::new(4);
    let mut q = RunQueue::new();
    q.push_back(&mut t, A, 0).unwrap();
    q.push_back(&mut t, B, 128).unwrap();
    q.push_back(&mut t, C, 255).unwrap();
    q.push_back(&mut t, D, 127).unwrap();
    assert_eq!(q.highest(), Some(255));
    assert_eq!(q.peek(), Some((C, 255)));
    check(&q, &t);
    assert_eq!(
        drain(&mut q, &mut t),
        [(C, 255), (B, 128), (D, 127), (A, 0)]
    );
}

#[test]
fn highest_for_every_single_priority() {
    let mut t = Threads::new(1);
    let mut q = RunQueue::new();
    for prio in 0..=u8::MAX {
        q.push_back(&mut t, A, prio).unwrap();
        assert_eq!(q.highest(), Some(prio));
        assert_eq!(q.peek(), Some((A, prio)));
        check(&q, &t);
        assert_eq!(q.pop(&mut t), Some((A, prio)));
        assert!(q.is_empty());
        assert_eq!(q.highest(), None);

        q.push_front(&mut t, A, prio).unwrap();
        assert_eq!(q.highest(), Some(prio));
        q.remove(&mut t, A, prio).unwrap();
        assert_eq!(q.highest(), None);
        assert_eq!((q.words, q.summary), ([0; WORDS], 0));
    }
}

#[test]
fn highest_for_every_pair_of_priorities() {
    let mut t = Threads::new(2);
    let mut q = RunQueue::new();
    for a in 0..=u8::MAX {
        for b in 0..=u8::MAX {
            q.push_back(&mut t, A, a).unwrap();
            q.push_back(&mut t, B, b).unwrap();
            assert_eq!(q.highest(), Some(a.max(b)), "{a} {b}");
            // Equal priorities are first come, first served.
            let first = if b > a { (B, b) } else { (A, a) };
            let second = if b > a { (A, a) } else { (B, b) };
            assert_eq!(q.peek(), Some(first));
            // Taking out the higher one exposes the lower one.
            q.remove(&mut t, first.0, first.1).unwrap();
            assert_eq!(q.highest(), Some(second.1), "{a} {b}");
            assert_eq!(q.pop(&mut t), Some(second));
            assert!(q.is_empty());
        }
    }
}

#[test]
fn every_priority_at_once_drains_in_order() {
    let n = PRIORITIES;
    let mut t = Threads::new(n);
    let mut q = RunQueue::new();
    // Thread i at priority i, pushed in a scrambled order (167 is odd, so
    // i * 167 mod 256 visits every priority).
    for i in 0..n {
        let id = i * 167 % n;
        q.push_back(&mut t, id, u8::try_from(id).unwrap()).unwrap();
    }
    check(&q, &t);
    assert_eq!(q.summary, 0b1111);
    assert_eq!(q.words, [u64::MAX; WORDS]);
    let order = drain(&mut q, &mut t);
    let expected: Vec<(usize, u8)> = (0..=u8::MAX).rev().map(|p| (usize::from(p), p)).collect();
    assert_eq!(order, expected);
    assert_eq!((q.words, q.summary), ([0; WORDS], 0));
}

#[test]
fn word_boundaries() {
    let mut t = Threads::new(2);
    let mut q = RunQueue::new();
    for (lo, hi) in [(63, 64), (127, 128), (191, 192), (0, 255), (64, 127)] {
        q.push_back(&mut t, A, lo).unwrap();
        q.push_back(&mut t, B, hi).unwrap();
        check(&q, &t);
        assert_eq!(q.pop(&mut t), Some((B, hi)));
        assert_eq!(q.highest(), Some(lo));
        check(&q, &t);
        assert_eq!(q.pop(&mut t), Some((A, lo)));
        check(&q, &t);
    }
}

/// The shape the kernel will use: links embedded in thread objects and a
/// thread id that is not a plain index.
#[test]
fn links_embedded_in_thread_objects() {
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Tid(u16);
    struct Thread {
        prio: u8,
        sched: QueueLinks<Tid>,
    }
    struct Table([Thread; 3]);
    impl ThreadLinks for Table {
        type Id = Tid;
        fn links(&self, id: Tid) -> QueueLinks<Tid> {
            self.0[usize::from(id.0)].sched
        }
        fn set_links(&mut self, id: Tid, links: QueueLinks<Tid>) {
            self.0[usize::from(id.0)].sched = links;
        }
    }
    let mut table = Table([0, 9, 9].map(|prio| Thread {
        prio,
        sched: QueueLinks::unqueued(),
    }));
    static_queue_is_const();
    let mut q = RunQueue::new();
    for i in 0..3u16 {
        let prio = table.0[usize::from(i)].prio;
        q.push_back(&mut table, Tid(i), prio).unwrap();
    }
    assert_eq!(check_invariants(&q, &table, (0..3).map(Tid)), Ok(()));
    // Lowering thread 1's priority: remove at the old one, push at the new.
    let old = table.0[1].prio;
    q.remove(&mut table, Tid(1), old).unwrap();
    table.0[1].prio = 0;
    q.push_back(&mut table, Tid(1), 0).unwrap();
    assert_eq!(check_invariants(&q, &table, (0..3).map(Tid)), Ok(()));
    assert_eq!(q.pop(&mut table), Some((Tid(2), 9)));
    assert_eq!(q.pop(&mut table), Some((Tid(0), 0)));
    assert_eq!(q.pop(&mut table), Some((Tid(1), 0)));
    assert_eq!(q.pop(&mut table), None);
}

/// A run queue can be a `static` initialiser, as per-CPU data needs.
fn static_queue_is_const() {
    static Q: RunQueue<u32> = RunQueue::new();
    assert!(Q.is_empty());
}

#[test]
fn error_messages() {
    assert_eq!(
        Error::AlreadyQueued.to_string(),
        "thread is already in the run queue"
    );
    assert_eq!(
        Error::NotQueued.to_string(),
        "thread is not in the run queue"
    );
    assert_eq!(
        Error::WrongPriority { prio: 4 }.to_string(),
        "thread is queued, but not at priority 4"
    );
    let errors: [InvariantError<usize>; 10] = [
        InvariantError::Bitmap { prio: 1 },
        InvariantError::Summary { word: 2 },
        InvariantError::HalfEmpty { prio: 3 },
        InvariantError::HeadHasPrev { prio: 4, id: 5 },
        InvariantError::TailMismatch { prio: 6, id: 7 },
        InvariantError::NotFlagged { id: 8 },
        InvariantError::Asymmetric {
            id: 9,
            neighbour: 10,
        },
        InvariantError::StaleLinks { id: 11 },
        InvariantError::Orphan { id: 12 },
        InvariantError::Count {
            in_queues: 13,
            flagged: 14,
        },
    ];
    let texts: Vec<_> = errors.iter().map(ToString::to_string).collect();
    for (e, s) in errors.iter().zip(&texts) {
        assert!(!s.is_empty(), "{e:?}");
    }
    assert_eq!(texts[6], "thread 9 links to 10, which does not link back");
    assert_eq!(
        texts[9],
        "queues hold 13 places but 14 threads are flagged queued"
    );
}

/// Four threads in two queues: A, B, C at priority 100 and D at 200.
fn sample() -> (RunQueue<usize>, Threads) {
    let mut t = Threads::new(5);
    let mut q = RunQueue::new();
    for id in [A, B, C] {
        q.push_back(&mut t, id, 100).unwrap();
    }
    q.push_back(&mut t, D, 200).unwrap();
    check(&q, &t);
    (q, t)
}

fn broken(q: &RunQueue<usize>, t: &Threads) -> InvariantError<usize> {
    check_invariants(q, t, 0..t.0.len()).expect_err("corruption not detected")
}

#[test]
fn invariant_checker_catches_bitmap_damage() {
    let (mut q, t) = sample();
    q.words[1] &= !(1 << (100 - 64));
    assert_eq!(broken(&q, &t), InvariantError::Bitmap { prio: 100 });

    let (mut q, t) = sample();
    q.words[0] |= 1 << 5;
    assert_eq!(broken(&q, &t), InvariantError::Bitmap { prio: 5 });

    let (mut q, t) = sample();
    q.summary &= !(1 << 3);
    assert_eq!(broken(&q, &t), InvariantError::Summary { word: 3 });

    let (mut q, t) = sample();
    q.summary |= 1 << 6;
    assert_eq!(broken(&q, &t), InvariantError::Summary { word: 6 });

    let (mut q, t) = sample();
    q.levels[200].tail = None;
    assert_eq!(broken(&q, &t), InvariantError::HalfEmpty { prio: 200 });
}

#[test]
fn invariant_checker_catches_broken_links() {
    let (q, mut t) = sample();
    t.0[A].prev = Some(D);
    assert_eq!(
        broken(&q, &t),
        InvariantError::Asymmetric {
            id: D,
            neighbour: A
        }
    );

    // A head whose predecessor links back to it: the two queues run into
    // each other, so walking back from A finds a head, but not A's own.
    let (q, mut t) = sample();
    t.0[D].next = Some(A);
    t.0[A].prev = Some(D);
    assert_eq!(
        broken(&q, &t),
        InvariantError::HeadHasPrev { prio: 100, id: A }
    );

    let (mut q, t) = sample();
    q.levels[100].tail = Some(B);
    assert_eq!(
        broken(&q, &t),
        InvariantError::TailMismatch { prio: 100, id: C }
    );

    let (q, mut t) = sample();
    t.0[B].queued = false;
    assert_eq!(broken(&q, &t), InvariantError::StaleLinks { id: B });

    let (q, mut t) = sample();
    t.0[D].queued = false;
    assert_eq!(broken(&q, &t), InvariantError::NotFlagged { id: D });

    let (q, mut t) = sample();
    t.0[4].prev = Some(C);
    assert_eq!(broken(&q, &t), InvariantError::StaleLinks { id: 4 });

    // B's next skips C, whose prev still names B.
    let (q, mut t) = sample();
    t.0[B].next = None;
    assert_eq!(
        broken(&q, &t),
        InvariantError::Asymmetric {
            id: B,
            neighbour: C
        }
    );
}

#[test]
fn invariant_checker_catches_lost_and_doubled_threads() {
    // Flagged queued but in no queue.
    let (q, mut t) = sample();
    t.0[4].queued = true;
    assert_eq!(broken(&q, &t), InvariantError::Orphan { id: 4 });

    // A symmetric ring that no head leads into.
    let (q, mut t) = sample();
    let mut t2 = Threads::new(7);
    t2.0[..5].copy_from_slice(&t.0);
    t = t2;
    t.0[5] = QueueLinks {
        prev: Some(6),
        next: Some(6),
        queued: true,
    };
    t.0[6] = QueueLinks {
        prev: Some(5),
        next: Some(5),
        queued: true,
    };
    assert_eq!(broken(&q, &t), InvariantError::Orphan { id: 5 });
    // A one-thread ring.
    t.0[5] = QueueLinks {
        prev: Some(5),
        next: Some(5),
        queued: true,
    };
    t.0[6] = QueueLinks::unqueued();
    assert_eq!(broken(&q, &t), InvariantError::Orphan { id: 5 });

    // The same queue under two priorities.
    let (mut q, t) = sample();
    q.levels[3] = q.levels[100];
    q.words[0] |= 1 << 3;
    q.summary |= 1;
    assert_eq!(
        broken(&q, &t),
        InvariantError::Count {
            in_queues: 5,
            flagged: 4
        }
    );

    // `all` leaves out a queued thread.
    let (q, t) = sample();
    assert_eq!(
        check_invariants(&q, &t, [A, B, C].into_iter()),
        Err(InvariantError::Count {
            in_queues: 4,
            flagged: 3
        })
    );
}

#[derive(Clone, Copy, Debug)]
enum Op {
    PushBack(usize, u8),
    PushFront(usize, u8),
    /// `None` removes at the thread's own priority (or any, if unqueued).
    Remove(usize, Option<u8>),
    Pop,
    /// The thread yields to the head of the priority.
    Rotate(usize, u8),
}

const THREADS: usize = 48;

/// Mostly a few priorities, so queues get long and neighbour words collide.
fn arb_prio() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => prop::sample::select(vec![0u8, 1, 63, 64, 127, 128, 254, 255]),
        1 => any::<u8>(),
    ]
}

fn arb_op() -> impl Strategy<Value = Op> {
    let thread = 0..THREADS;
    prop_oneof![
        3 => (thread.clone(), arb_prio()).prop_map(|(t, p)| Op::PushBack(t, p)),
        2 => (thread.clone(), arb_prio()).prop_map(|(t, p)| Op::PushFront(t, p)),
        2 => (thread.clone(), prop::option::weighted(0.3, arb_prio()))
            .prop_map(|(t, p)| Op::Remove(t, p)),
        2 => Just(Op::Pop),
        2 => (thread.clone(), arb_prio()).prop_map(|(t, p)| Op::Rotate(t, p)),
    ]
}

/// The obvious implementation: a deque per priority.
struct Model {
    levels: Vec<VecDeque<usize>>,
    prio_of: [Option<u8>; THREADS],
}

impl Model {
    fn highest(&self) -> Option<u8> {
        (0..=u8::MAX)
            .rev()
            .find(|&p| !self.levels[usize::from(p)].is_empty())
    }

    fn apply(&mut self, op: Op) -> Result<Option<(usize, u8)>, Error> {
        match op {
            Op::PushBack(id, prio) | Op::PushFront(id, prio) => {
                if self.prio_of[id].is_some() {
                    return Err(Error::AlreadyQueued);
                }
                self.prio_of[id] = Some(prio);
                let level = &mut self.levels[usize::from(prio)];
                if matches!(op, Op::PushBack(..)) {
                    level.push_back(id);
                } else {
                    level.push_front(id);
                }
                Ok(None)
            }
            Op::Remove(id, given) => {
                let actual = self.prio_of[id].ok_or(Error::NotQueued)?;
                let level = &mut self.levels[usize::from(actual)];
                let pos = level.iter().position(|&x| x == id).unwrap();
                let prio = given.unwrap_or(actual);
                if prio != actual && (pos == 0 || pos + 1 == level.len()) {
                    return Err(Error::WrongPriority { prio });
                }
                level.remove(pos);
                self.prio_of[id] = None;
                Ok(None)
            }
            Op::Pop => {
                let Some(prio) = self.highest() else {
                    return Ok(None);
                };
                let id = self.levels[usize::from(prio)].pop_front().unwrap();
                self.prio_of[id] = None;
                Ok(Some((id, prio)))
            }
            Op::Rotate(id, prio) => {
                if self.prio_of[id].is_some() {
                    return Err(Error::AlreadyQueued);
                }
                let level = &mut self.levels[usize::from(prio)];
                let Some(head) = level.pop_front() else {
                    return Ok(None);
                };
                level.push_back(id);
                self.prio_of[head] = None;
                self.prio_of[id] = Some(prio);
                Ok(Some((head, prio)))
            }
        }
    }
}

fn apply(q: &mut RunQueue<usize>, t: &mut Threads, op: Op) -> Result<Option<(usize, u8)>, Error> {
    match op {
        Op::PushBack(id, prio) => q.push_back(t, id, prio).map(|()| None),
        Op::PushFront(id, prio) => q.push_front(t, id, prio).map(|()| None),
        Op::Remove(id, given) => {
            // Unqueued threads have no priority; any will do to get NotQueued.
            let prio = given.or_else(|| q_prio(q, t, id)).unwrap_or(0);
            q.remove(t, id, prio).map(|()| None)
        }
        Op::Pop => Ok(q.pop(t)),
        Op::Rotate(id, prio) => q.rotate(t, id, prio).map(|h| h.map(|h| (h, prio))),
    }
}

/// The priority `id` is queued at, found the slow way.
fn q_prio(q: &RunQueue<usize>, t: &Threads, id: usize) -> Option<u8> {
    (0..=u8::MAX).find(|&p| contents(q, t, p).contains(&id))
}

fn run_against_model(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut t = Threads::new(THREADS);
    let mut q = RunQueue::new();
    let mut model = Model {
        levels: vec![VecDeque::new(); PRIORITIES],
        prio_of: [None; THREADS],
    };
    for (step, &op) in ops.iter().enumerate() {
        let got = apply(&mut q, &mut t, op);
        let want = model.apply(op);
        prop_assert_eq!(got, want, "step {} {:?}", step, op);
        prop_assert_eq!(
            check_invariants(&q, &t, 0..THREADS),
            Ok(()),
            "step {}",
            step
        );
        prop_assert_eq!(q.highest(), model.highest(), "step {}", step);
        prop_assert_eq!(q.is_empty(), model.highest().is_none());
        let want_peek = model
            .highest()
            .map(|p| (model.levels[usize::from(p)][0], p));
        prop_assert_eq!(q.peek(), want_peek, "step {}", step);
        for prio in 0..=u8::MAX {
            let level = &model.levels[usize::from(prio)];
            prop_assert!(
                contents(&q, &t, prio).iter().eq(level.iter()),
                "step {} priority {}",
                step,
                prio
            );
        }
        for id in 0..THREADS {
            prop_assert_eq!(t.links(id).queued, model.prio_of[id].is_some());
        }
    }
    // Draining gives every remaining thread, highest priority first, each
    // priority in queue order.
    let want: Vec<(usize, u8)> = (0..=u8::MAX)
        .rev()
        .flat_map(|p| model.levels[usize::from(p)].iter().map(move |&id| (id, p)))
        .collect();
    prop_assert_eq!(drain(&mut q, &mut t), want);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_ops_match_the_model(ops in prop::collection::vec(arb_op(), 0..250)) {
        run_against_model(&ops)?;
    }
}

/// A store holding arbitrary links, as memory corruption might leave it.
fn arb_garbage(n: usize) -> impl Strategy<Value = Threads> {
    let id = prop::option::of(0..n);
    prop::collection::vec((id.clone(), id, any::<bool>()), n).prop_map(|v| {
        Threads(
            v.into_iter()
                .map(|(prev, next, queued)| QueueLinks { prev, next, queued })
                .collect(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the links say, nothing panics or hangs; the checker
    /// accepts garbage only if it happens to be a well-formed queue.
    #[test]
    fn garbage_links_never_panic(
        mut t in arb_garbage(6),
        ops in prop::collection::vec(
            prop_oneof![
                (0..6usize, 0..4u8).prop_map(|(i, p)| Op::PushBack(i, p)),
                (0..6usize, 0..4u8).prop_map(|(i, p)| Op::PushFront(i, p)),
                (0..6usize, 0..4u8).prop_map(|(i, p)| Op::Remove(i, Some(p))),
                Just(Op::Pop),
                (0..6usize, 0..4u8).prop_map(|(i, p)| Op::Rotate(i, p)),
            ],
            0..30,
        ),
    ) {
        let mut q = RunQueue::new();
        let _ = check_invariants(&q, &t, 0..6);
        for op in ops {
            let _ = apply(&mut q, &mut t, op);
            let _ = q.highest();
            let _ = q.peek();
            let _ = check_invariants(&q, &t, 0..6);
        }
    }
}
