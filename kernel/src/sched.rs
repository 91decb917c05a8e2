//! Choosing and switching threads.
//!
//! Fixed priorities 0–255 with round-robin inside a priority
//! (`septum_kcore::runqueue`, O(1) selection). The running thread is not in
//! the queue; it goes back when it yields, is preempted, or something of
//! higher priority wakes while it runs. With nothing runnable the CPU idles
//! with interrupts on until one makes a thread runnable.

use crate::arch::{cpu, fpu, paging, trap};
use crate::object::tcb::{self, State, Tcb, flags};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use septum_kcore::runqueue::{QueueLinks, RunQueue, ThreadLinks};

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

static QUEUE: spin::Mutex<RunQueue<u64>> = spin::Mutex::new(RunQueue::new());
/// The running thread (physical address of its TCB; 0 while idle).
static CURRENT: AtomicU64 = AtomicU64::new(0);
/// The running thread.
pub fn current() -> Option<Tcb> {
    match CURRENT.load(Ordering::Relaxed) {
        0 => None,
        pa => Some(Tcb(pa)),
    }
}

/// Put `t` in the run queue (it must be Runnable and not running).
pub fn enqueue(t: Tcb) {
    if current() == Some(t) {
        return;
    }
    with_queue(|q| {
        let _ = q.push_back(&mut Links, t.0, t.priority());
    });
}

/// Take `t` out of the run queue if it is there.
pub fn dequeue(t: Tcb) {
    if Links.links(t.0).queued {
        with_queue(|q| {
            let _ = q.remove(&mut Links, t.0, t.priority());
        });
    }
}

/// Change the run queue, then publish its highest priority for the fast
/// path, which reads it without taking the lock.
fn with_queue<R>(f: impl FnOnce(&mut RunQueue<u64>) -> R) -> R {
    let mut q = QUEUE.lock();
    let r = f(&mut q);
    HIGHEST.store(
        q.highest().map_or(0, |p| u32::from(p) + 1),
        Ordering::Relaxed,
    );
    r
}

/// Highest priority in the run queue plus one (0: empty), kept by
/// `with_queue`.
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
/// one pass over the queue. `None` if nobody else is ready at `t`'s
/// priority, when the yield changes nothing. For the yield fast path.
pub fn yield_to_next(t: Tcb) -> Option<Tcb> {
    let h = HIGHEST.load(Ordering::Relaxed);
    if h == 0 || h - 1 < u32::from(t.priority()) {
        return None;
    }
    t.set_slice(SLICE_TICKS);
    with_queue(|q| {
        let _ = q.push_back(&mut Links, t.0, t.priority());
        q.pop(&mut Links).map(|(id, _)| Tcb(id))
    })
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
    let q = QUEUE.lock();
    septum_kcore::runqueue::check_invariants(&q, &Links, threads.iter().copied())
}

/// Whether thread `t` is flagged as queued in its run-queue links.
pub fn is_queued(t: Tcb) -> bool {
    Links.links(t.0).queued
}

/// Whether switching straight to `t` (the fast path) is what the scheduler
/// would choose: nothing runnable outranks it.
pub fn may_switch_to(t: Tcb) -> bool {
    // One CPU, interrupts off: the published value is the queue's state.
    let h = HIGHEST.load(Ordering::Relaxed);
    h == 0 || h - 1 <= u32::from(t.priority())
}

/// The running thread `cur` is preempted by `t`, which is runnable, not
/// queued, of higher priority, and outranks every queued thread: `cur`
/// goes to the front of its queue (it keeps the rest of its slice) and
/// the kernel leaves into `t`.
pub fn preempt_for(cur: Tcb, t: Tcb) -> ! {
    with_queue(|q| {
        let _ = q.push_front(&mut Links, cur.0, cur.priority());
    });
    run(t)
}

/// Leave the kernel into `t`, which the fast path made runnable and which
/// outranks every queued thread. The previous thread is blocked.
pub fn switch_to(t: Tcb) -> ! {
    run(t)
}

/// Pick the thread to run and leave the kernel into it. Never returns.
///
/// The running thread keeps the CPU unless it stopped being runnable or a
/// thread of higher priority is waiting.
pub fn schedule() -> ! {
    loop {
        // A running thread that a direct switch already queued (it gave
        // way, then the thread it gave way to could not run) is the
        // queue's to run, not the running thread's: never both at once.
        let cur = current().filter(|t| t.state() == State::Runnable && !is_queued(*t));
        // The common case needs no queue at all: the running thread goes
        // on when nothing queued outranks it.
        if let Some(c) = cur
            && may_switch_to(c)
        {
            run(c);
        }
        let next = with_queue(|q| match (cur, q.highest()) {
            (Some(c), Some(p)) if p > c.priority() => {
                let _ = q.push_front(&mut Links, c.0, c.priority());
                q.pop(&mut Links).map(|(id, _)| Tcb(id))
            }
            (Some(c), _) => Some(c),
            (None, _) => q.pop(&mut Links).map(|(id, _)| Tcb(id)),
        });
        match next {
            Some(t) if t.pml4().is_none() => stop_without_space(t),
            Some(t) => run(t),
            None => {
                CURRENT.store(0, Ordering::Relaxed);
                crate::idle::wait_for_work();
            }
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

fn run(t: Tcb) -> ! {
    let Some(pml4) = t.pml4() else {
        // Reached from the fast path; `schedule` filters these itself, so
        // this recurses at most once.
        stop_without_space(t);
        schedule()
    };
    let switching = current() != Some(t);
    let ctx_va = paging::object_va(t.0);
    if switching {
        if t.slice() == 0 {
            t.set_slice(SLICE_TICKS);
        }
        CURRENT.store(t.0, Ordering::Relaxed);
        // The thread going on keeps its context end: only `run` sets it,
        // and `CURRENT` names the thread it was last set for.
        cpu::set_context_end(ctx_va + tcb::CONTEXT_BYTES);
    }
    if x86_64::registers::control::Cr3::read_raw()
        .0
        .start_address()
        .as_u64()
        != pml4
    {
        // Another address space: it must not read the segment selectors
        // this one left (threads of one space share everything anyway).
        if cpu::user_selectors_loaded() {
            cpu::clear_user_selectors();
        }
        paging::switch_to(pml4);
        crate::ioport::switch(pml4);
    }
    if switching {
        // The same thread going on keeps what it has: the kernel changes a
        // running thread's bases only through `cpu::reload_tls`.
        cpu::set_tls(t.0, t.fs_base(), t.gs_base());
    }
    fpu::switch_to(t.0 + tcb::XSAVE);
    let rip = t.sanitize_context();
    if !septum_abi::layout::is_canonical(rip) {
        // Unreachable by construction: entries from user mode save
        // canonical RIPs (the page below the hole is never mapped) and
        // every RIP the kernel is handed is checked. Should one get here
        // anyway, it is the thread's fault, never a return that faults in
        // ring 0: a #GP as the CPU would give it, to its handler.
        t.set_reg(tcb::Reg::Vector, 13);
        t.set_reg(tcb::Reg::Error, 0);
        crate::trap::after_fault(crate::trap::fault(t, septum_abi::fault::Kind::Exception, 0))
    }
    let full = t.has_flag(flags::FULL_RESTORE);
    if full {
        t.set_flag(flags::FULL_RESTORE, false);
    }
    let ctx = ctx_va as *const trap::UserContext;
    // SAFETY: `ctx` is the TCB's saved context (in the direct map), which
    // the per-CPU context end now points past; the thread's address space is
    // loaded; the context was sanitized above and its RIP is canonical
    // (checked), which both `sysretq` and `iretq` need to stay in ring 3.
    unsafe {
        if full {
            trap::resume_iret(ctx)
        } else {
            trap::resume_sysret(ctx)
        }
    }
}
