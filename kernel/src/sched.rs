//! Choosing and switching threads.
//!
//! Fixed priorities 0–255 with round-robin inside a priority
//! (`septum_kcore::runqueue`, O(1) selection), one run queue per time
//! partition: only the queue of the partition whose window it is
//! ([`current_partition`], kept by `partition`) is ever chosen from. The
//! running thread is not in a queue; it goes back when it yields, is
//! preempted, its window ends, or something of higher priority wakes while
//! it runs. With nothing runnable in the window the CPU idles with
//! interrupts on until one makes a thread runnable or the window ends.

use crate::arch::{cpu, fpu, paging, trap};
use crate::object::tcb::{self, State, Tcb, flags};
use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use septum_kcore::runqueue::{QueueLinks, RunQueue, ThreadLinks};

/// Run queues: one per partition, and one for the gaps between windows,
/// which stays empty (no thread is in partition [`NO_PARTITION`]). A
/// power of two, so that a partition number masked by `PARTITIONS - 1`
/// indexes the array without a bounds check.
const PARTITIONS: usize = 16;
/// [`current_partition`] in a gap between windows: no thread's partition.
pub const NO_PARTITION: u8 = (PARTITIONS - 1) as u8;
const _: () = assert!(septum_abi::sched::MAX_PARTITIONS as usize == PARTITIONS - 1);

/// The run queue of partition `p`.
fn queue_of(p: u8) -> usize {
    usize::from(p) & (PARTITIONS - 1)
}

/// Timer ticks in a time slice.
pub const SLICE_TICKS: u64 = 5;

/// Run-queue links kept in TCBs.
struct Links;

impl ThreadLinks for Links {
    type Id = u64;

    fn links(&self, id: u64) -> QueueLinks<u64> {
        let (p, n) = (
            paging::read_word(id + tcb::RQ_PREV),
            paging::read_word(id + tcb::RQ_NEXT),
        );
        let addr = |w: u64| {
            let a = w & !1;
            (a != 0).then_some(a)
        };
        QueueLinks {
            prev: addr(p),
            next: addr(n),
            queued: n & 1 != 0,
        }
    }

    fn set_links(&mut self, id: u64, l: QueueLinks<u64>) {
        paging::write_word(id + tcb::RQ_PREV, l.prev.unwrap_or(0));
        paging::write_word(id + tcb::RQ_NEXT, l.next.unwrap_or(0) | u64::from(l.queued));
    }
}

static QUEUES: spin::Mutex<[RunQueue<u64>; PARTITIONS]> =
    spin::Mutex::new([const { RunQueue::new() }; PARTITIONS]);

type Queues = [RunQueue<u64>; PARTITIONS];

/// Lock the run queues. One compare-exchange when the lock is free (on
/// one CPU with interrupts off it always is); `spin`'s `lock` spends two
/// more on the way into its retry loop.
#[inline(always)]
fn lock_queues() -> spin::MutexGuard<'static, Queues> {
    match QUEUES.try_lock() {
        Some(q) => q,
        None => lock_queues_contended(),
    }
}

#[cold]
#[inline(never)]
fn lock_queues_contended() -> spin::MutexGuard<'static, Queues> {
    QUEUES.lock()
}

/// The partition whose window it is; 0 (which owns all time) until a
/// schedule is set.
static PARTITION: AtomicU8 = AtomicU8::new(0);
/// The running thread (physical address of its TCB; 0 while idle).
static CURRENT: AtomicU64 = AtomicU64::new(0);
/// The running thread.
pub fn current() -> Option<Tcb> {
    match CURRENT.load(Ordering::Relaxed) {
        0 => None,
        pa => Some(Tcb(pa)),
    }
}

/// The thread that entered the kernel by `syscall`: the running one.
/// Every return to user mode is [`enter`], which makes its thread
/// `CURRENT` first, and nothing clears `CURRENT` without choosing who
/// runs next, so a thread in user mode is always `CURRENT` (no test for
/// "none": the system-call entry's first load).
#[inline(always)]
pub fn running() -> Tcb {
    let t = CURRENT.load(Ordering::Relaxed);
    debug_assert_ne!(t, 0, "system calls come from threads");
    Tcb(t)
}

/// The partition whose window it is ([`NO_PARTITION`] in a gap).
pub fn current_partition() -> u8 {
    PARTITION.load(Ordering::Relaxed)
}

/// Put `t` in its partition's run queue (it must be Runnable and not
/// running).
pub fn enqueue(t: Tcb) {
    if current() == Some(t) {
        return;
    }
    with_queues(|q| {
        let _ = q[queue_of(t.partition())].push_back(&mut Links, t.0, t.priority());
    });
}

/// Take `t` out of the run queue if it is there.
pub fn dequeue(t: Tcb) {
    if Links.links(t.0).queued {
        with_queues(|q| {
            let _ = q[queue_of(t.partition())].remove(&mut Links, t.0, t.priority());
        });
    }
}

/// Move `t` to partition `p` (below `MAX_PARTITIONS`), in whatever queue it
/// is. A running thread moved out of the window's partition stops at the
/// next `schedule`.
pub fn set_partition(t: Tcb, p: u8) {
    debug_assert!(u64::from(p) < septum_abi::sched::MAX_PARTITIONS);
    let queued = Links.links(t.0).queued;
    dequeue(t);
    t.set_partition_word(p);
    if queued {
        enqueue(t);
    }
}

/// The window changed to partition `p` (or [`NO_PARTITION`]). The running
/// thread, if it is not `p`'s, is moved out by the `schedule` that follows.
pub fn set_current_partition(p: u8) {
    with_queues(|_| PARTITION.store(p, Ordering::Relaxed));
}

/// Whether any thread waits in the queue of a partition that has time in
/// the schedule (one that is not the window's may run in a later window;
/// one of a partition with no window never will).
pub fn anything_queued() -> bool {
    let timed = crate::partition::timed();
    QUEUES
        .lock()
        .iter()
        .enumerate()
        .any(|(p, q)| timed & (1 << p) != 0 && !q.is_empty())
}

/// Change the run queues, then publish the highest priority queued in the
/// window's partition for the fast paths, which read it without the lock.
fn with_queues<R>(f: impl FnOnce(&mut Queues) -> R) -> R {
    let mut q = lock_queues();
    let r = f(&mut q);
    let part = current_partition();
    let highest = q[queue_of(part)].highest();
    HIGHEST.store(highest.map_or(0, |p| u32::from(p) + 1), Ordering::Relaxed);
    let floor = u64::from(highest.unwrap_or(0));
    SWITCH_BASE.store((u64::from(part) << 8) | floor, Ordering::Relaxed);
    SWITCH_SPAN.store(256 - floor, Ordering::Relaxed);
    r
}

/// What [`may_switch_to`] compares a thread's `Tcb::sched_key`
/// (`partition << 8 | priority`) with, kept by `with_queues` with
/// `HIGHEST`: the window's partition and the lowest priority that nothing
/// queued there outranks (its highest queued one, or 0), as the key such a
/// thread would have, and the number of priorities from there to 255.
static SWITCH_BASE: AtomicU64 = AtomicU64::new(0);
static SWITCH_SPAN: AtomicU64 = AtomicU64::new(256);

/// Highest priority in the window's run queue plus one (0: empty, or a
/// gap), kept by `with_queues`.
static HIGHEST: AtomicU32 = AtomicU32::new(0);

/// Make a blocked or new thread runnable.
pub fn wake(t: Tcb) {
    t.set_state(State::Runnable);
    enqueue(t);
}

/// The running thread gives up the rest of its slice.
pub fn yield_current() {
    if let Some(t) = current() {
        CURRENT.store(0, Ordering::Relaxed);
        t.set_slice(SLICE_TICKS);
        if t.state() == State::Runnable {
            enqueue(t);
        }
    }
}

/// The running thread `t` yields, and another thread at its priority is
/// ready (nothing above it is: it would be running): `t` goes to the back
/// of its queue with a fresh slice and the head of the queue is taken, in
/// one step that leaves the queue's priorities as they were
/// (`RunQueue::rotate`), so `HIGHEST` stays right without `with_queue`.
/// `None` if nobody else is ready at exactly `t`'s priority: the general
/// path decides. For the yield fast path, inside whose frame it runs.
#[inline(always)]
pub fn yield_to_next(t: Tcb) -> Option<Tcb> {
    let prio = t.priority();
    // A thread only runs in its partition's window (`schedule` and
    // `may_switch_to` see to it), so `HIGHEST` is about `t`'s queue.
    debug_assert_eq!(t.partition(), current_partition());
    if HIGHEST.load(Ordering::Relaxed) != u32::from(prio) + 1 {
        return None;
    }
    t.set_slice(SLICE_TICKS);
    // A queue lock that is taken (never, on one CPU) sends the yield down
    // the general path, which waits for it.
    let next = QUEUES.try_lock()?[queue_of(t.partition())].rotate(&mut Links, t.0, prio);
    next.ok().flatten().map(Tcb)
}

/// A timer tick: charge the running thread; at the end of its slice it
/// goes to the back of its queue.
pub fn tick() {
    if let Some(t) = current() {
        let left = t.slice().saturating_sub(1);
        t.set_slice(left);
        if left == 0 {
            yield_current();
        }
    }
}

/// Check the run queue's structure (`septum_kcore::runqueue::check_invariants`)
/// against `threads`, which must name every thread that may be queued
/// (TCB addresses, each once). For the kernel's debug check.
pub fn check_queue(threads: &[u64]) -> Result<(), septum_kcore::runqueue::InvariantError<u64>> {
    let queues = QUEUES.lock();
    for (p, q) in queues.iter().enumerate() {
        let mine = threads
            .iter()
            .copied()
            .filter(|&t| queue_of(Tcb(t).partition()) == p);
        septum_kcore::runqueue::check_invariants(q, &Links, mine)?;
    }
    Ok(())
}

/// Whether thread `t` is flagged as queued in its run-queue links.
pub fn is_queued(t: Tcb) -> bool {
    Links.links(t.0).queued
}

/// Whether switching straight to `t` (the fast path) is what the scheduler
/// would choose: it is the window's partition's, and nothing runnable
/// there outranks it.
///
/// One subtraction and one compare: with the window's partition `P` and
/// the floor `H` ([`SWITCH_BASE`] = `P << 8 | H`, [`SWITCH_SPAN`] =
/// `256 - H`), `key - base` (wrapping) is below the span exactly when the
/// key's partition is `P` and its priority at least `H`: a priority below
/// `H` or a lower partition wraps to a huge value, a higher partition
/// adds at least 256.
#[inline(always)]
pub fn may_switch_to(t: Tcb) -> bool {
    // One CPU, interrupts off: the published values are the queue's state.
    t.sched_key()
        .wrapping_sub(SWITCH_BASE.load(Ordering::Relaxed))
        < SWITCH_SPAN.load(Ordering::Relaxed)
}

/// The running thread `cur` is preempted by `t`, which is runnable, not
/// queued, of higher priority, and outranks every queued thread: `cur`
/// goes to the front of its queue (it keeps the rest of its slice) and
/// the kernel leaves into `t`.
pub fn preempt_for(cur: Tcb, t: Tcb) -> ! {
    with_queues(|q| {
        let _ = q[queue_of(cur.partition())].push_front(&mut Links, cur.0, cur.priority());
    });
    run(t)
}

/// Leave the kernel into `t`, which the fast path made runnable and which
/// outranks every queued thread. The previous thread is blocked.
///
/// [`run`] inline: the fast paths leave from their own frames, without a
/// call and `run`'s prologue.
#[inline(always)]
pub fn switch_to(t: Tcb) -> ! {
    run_here(t)
}

/// Pick the thread to run and leave the kernel into it. Never returns.
///
/// The running thread keeps the CPU unless it stopped being runnable or a
/// thread of higher priority is waiting. That common case is inline in
/// every caller (no queue, no frame); the rest is [`schedule_queues`].
#[inline(always)]
pub fn schedule() -> ! {
    let cur = running_runnable();
    if let Some(c) = cur
        && may_switch_to(c)
    {
        run(c);
    }
    schedule_queues(cur)
}

/// Leave into the running thread `t` after a call of its own that changed
/// nothing `schedule` decides by: not `t`'s state, not the queues, not the
/// window (the kernel runs with interrupts off, so no window ends
/// meanwhile). `t` is then runnable and not queued (a running thread
/// never is), and what is left to ask is `schedule`'s last question,
/// whether it may go on (`may_switch_to`); if not, `schedule` decides.
#[inline(always)]
pub fn go_on(t: Tcb) -> ! {
    debug_assert_eq!(running_runnable(), Some(t));
    if may_switch_to(t) {
        run(t)
    }
    schedule()
}

/// [`go_on`] for a thread whose address space the call just found:
/// `pml4` is `t.pml4()`, which nothing changed since, so [`run`]'s first
/// step is not made twice.
///
/// `t` is `CURRENT` (it made the call), and the FPU holds its state (every
/// return to user mode is [`enter`], which makes the thread the FPU's
/// owner, and a zero-byte `DebugWrite` touches no FPU state), so what
/// `enter` does for a thread that was not running (context end, FS/GS
/// bases, FPU owner) is not needed: [`enter_running`].
#[inline(always)]
pub fn go_on_in(t: Tcb, pml4: u64) -> ! {
    debug_assert_eq!(running_runnable(), Some(t));
    debug_assert_eq!(t.pml4(), Some(pml4));
    if may_switch_to(t) {
        if paging::current_root() != pml4 {
            run_in(t, pml4)
        }
        enter_running(t)
    }
    schedule()
}

/// The running thread, if it is runnable and not queued: the one
/// `schedule` keeps if nothing outranks it (`may_switch_to`). A running
/// thread that a direct switch already queued (it gave way, then the
/// thread it gave way to could not run) is the queue's to run, not the
/// running thread's: never both at once.
#[inline(always)]
fn running_runnable() -> Option<Tcb> {
    current().filter(|t| t.state() == State::Runnable && !is_queued(*t))
}

/// [`schedule`] past its common case: the queues decide. `cur` is
/// [`running_runnable`], which something queued outranks, or which is not
/// the window's.
#[inline(never)]
fn schedule_queues(mut cur: Option<Tcb>) -> ! {
    loop {
        let part = current_partition();
        let next = with_queues(|q| {
            if let Some(c) = cur {
                let mine = queue_of(c.partition());
                let outranked = q[mine].highest().is_some_and(|p| p > c.priority());
                if queue_of(part) == mine && !outranked {
                    return Some(c);
                }
                // Preempted (by a higher priority, or by the end of its
                // window): it keeps its place and the rest of its slice.
                let _ = q[mine].push_front(&mut Links, c.0, c.priority());
            }
            q[queue_of(part)].pop(&mut Links).map(|(id, _)| Tcb(id))
        });
        match next {
            Some(t) if t.pml4().is_none() => stop_without_space(t),
            Some(t) => run(t),
            None => {
                CURRENT.store(0, Ordering::Relaxed);
                crate::idle::wait_for_work();
            }
        }
        // Woken from idle, or the chosen thread could not run: again.
        cur = running_runnable();
        if let Some(c) = cur
            && may_switch_to(c)
        {
            run(c);
        }
    }
}

/// A thread whose address space was taken away (its vspace slot emptied
/// after it was resumed) must not run in whatever space is loaded: it
/// stops, and the supervisor can see why.
fn stop_without_space(t: Tcb) {
    crate::warn!("thread '{}' has no address space; stopped", t.name());
    t.set_state(State::Inactive);
    if current() == Some(t) {
        CURRENT.store(0, Ordering::Relaxed);
    }
}

/// Leave the kernel into `t`. Every exit to a thread comes here, so each
/// rule about the state a thread runs with is kept in one place. A switch
/// of address space loads CR3, clears the segment selectors if any is
/// loaded (no selector a thread loaded survives into another space;
/// threads of one space share everything anyway) and makes the I/O bitmap
/// show the new space's ports and no others; the last two, when needed,
/// out of line ([`run_clearing_selectors`], [`run_switching_ports`]).
/// Then [`enter`] (context end, FS/GS bases, FPU owner; RFLAGS, canonical
/// RIP, full restore), which all three end in. The usual paths make no
/// call before their jump to user mode, so they need no stack frame.
fn run(t: Tcb) -> ! {
    run_here(t)
}

/// [`run`]'s body, for the callers that take it inline ([`switch_to`]).
#[inline(always)]
fn run_here(t: Tcb) -> ! {
    let Some(pml4) = t.pml4_cached() else {
        run_uncached(t)
    };
    run_in(t, pml4)
}

/// [`run`] for a thread whose address space is not cached (its first run,
/// or its vspace slot changed): the slot is decoded, out of line, so that
/// `run` keeps nothing across a call.
#[cold]
#[inline(never)]
fn run_uncached(t: Tcb) -> ! {
    let Some(pml4) = t.pml4() else {
        // Reached from the fast path; `schedule` filters these itself, so
        // this recurses at most once.
        stop_and_schedule(t)
    };
    run_in(t, pml4)
}

/// [`run`] once `t`'s address space is known to be `pml4`.
#[inline(always)]
fn run_in(t: Tcb, pml4: u64) -> ! {
    if paging::current_root() != pml4 {
        if cpu::user_selectors_loaded() {
            run_clearing_selectors(t, pml4)
        }
        if let Some(open) = crate::ioport::must_switch(pml4) {
            run_switching_ports(t, pml4, open)
        }
        paging::switch_to(pml4);
    }
    enter(t)
}

/// [`run`] for a thread without an address space.
#[cold]
#[inline(never)]
fn stop_and_schedule(t: Tcb) -> ! {
    stop_without_space(t);
    schedule()
}

/// [`run`] into the address space `pml4`, with a selector loaded.
#[inline(never)]
fn run_clearing_selectors(t: Tcb, pml4: u64) -> ! {
    cpu::clear_user_selectors();
    paging::switch_to(pml4);
    crate::ioport::switch(pml4);
    enter(t)
}

/// [`run`] into the address space `pml4`, no selector loaded, when the I/O
/// bitmap must change (`open`: what `ioport::must_switch` found open).
#[inline(never)]
fn run_switching_ports(t: Tcb, pml4: u64, open: u64) -> ! {
    paging::switch_to(pml4);
    crate::ioport::switch_slow(open, pml4);
    enter(t)
}

/// The rest of [`run`], once `t`'s address space is loaded.
#[inline(always)]
fn enter(t: Tcb) -> ! {
    if CURRENT.load(Ordering::Relaxed) != t.0 {
        // Its slice is never 0 here: a thread starts with a full one
        // (`Tcb::init`), and one that used it up got a new one then.
        CURRENT.store(t.0, Ordering::Relaxed);
        // The thread going on keeps its context end: only `run` sets it,
        // and `CURRENT` names the thread it was last set for.
        cpu::set_context_end(paging::object_va(t.0) + tcb::CONTEXT_BYTES);
        // The same thread going on keeps what it has: the kernel changes a
        // running thread's bases only through `cpu::reload_tls`. (After
        // the selectors were cleared in `run_clearing_selectors`: that marks the
        // FS base unknown, so it is written here.)
        // Most threads have neither base: with both MSRs known to hold 0
        // (`cpu::loaded_any`), nothing is to be written (`set_tls` makes
        // the same test, on the two words).
        if t.tls_any() | cpu::loaded_any() != 0 {
            cpu::set_tls(t.0, t.fs_base(), t.gs_base());
        }
    }
    fpu::switch_to(t.0);
    enter_running(t)
}

/// The rest of [`enter`], once `t` is `CURRENT` with its context end, FS
/// and GS bases and FPU state: the thread-state rules every return to user
/// mode keeps (RFLAGS, canonical RIP, restore kind), and the jump.
#[inline(always)]
fn enter_running(t: Tcb) -> ! {
    debug_assert_eq!(CURRENT.load(Ordering::Relaxed), t.0);
    debug_assert!(fpu::owned_by(t.0));
    let rip = t.reg(tcb::Reg::Rip);
    if !septum_abi::layout::is_canonical(rip) {
        noncanonical_rip(t)
    }
    let rflags = trap::UserContext::user_rflags(t.reg(tcb::Reg::Rflags));
    let ctx = paging::object_va(t.0) as *const trap::UserContext;
    if t.has_flag(flags::FULL_RESTORE) {
        t.set_flag(flags::FULL_RESTORE, false);
        t.set_reg(tcb::Reg::Rflags, rflags);
        // SAFETY: `ctx` is the TCB's saved context (in the direct map),
        // which TSS.RSP0 now points past; the thread's address space is
        // loaded; its RFLAGS were sanitized just above and its RIP is
        // canonical (checked), which `iretq` needs to stay in ring 3.
        unsafe { trap::resume_iret(ctx) }
    }
    // SAFETY: as for `resume_iret`, with the sanitized RFLAGS and the
    // checked RIP handed over in registers (`sysretq`'s operands), not
    // stored: the context's RFLAGS word is rewritten by the thread's next
    // entry before anything reads it.
    unsafe { trap::resume_sysret(ctx, rip, rflags) }
}

/// Unreachable by construction: entries from user mode save canonical
/// RIPs (the page below the hole is never mapped) and every RIP the kernel
/// is handed is checked. Should one get to [`enter`] anyway, it is the
/// thread's fault, never a return that faults in ring 0: a #GP as the CPU
/// would give it, to its handler.
#[cold]
#[inline(never)]
fn noncanonical_rip(t: Tcb) -> ! {
    t.sanitize_context();
    t.set_reg(tcb::Reg::Vector, 13);
    t.set_reg(tcb::Reg::Error, 0);
    crate::trap::after_fault(crate::trap::fault(t, septum_abi::fault::Kind::Exception, 0))
}
