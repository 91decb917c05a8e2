//! The time-partition experiment, shared by the on-target suite
//! (`ktest-part`) and the benchmark (`partition.*` figures). Both run it
//! under `-icount`, where the TSC counts instructions, so what it measures
//! is exact and the same on every run.
//!
//! The root thread stays in partition 0 and sets a schedule of three
//! windows in a 1 ms frame: its own (0–0.1 ms), A's (partition 1,
//! 0.1–0.6 ms) and B's (partition 2, 0.6–1 ms). In A a thread spins; an
//! attacker thread waits to be told to storm the kernel with long
//! operations (a 2 MiB CNode made, revoked and its memory reset), signals
//! and faults (answered by a handler thread in A). In B a thread spins on
//! the TSC and notes the first instruction it runs in each window. Every
//! thread of A and B also checks each TSC value it reads against its own
//! window: a thread must never run outside it.

use crate::ktest::{CNODE, Ctx, DEPTH, Thread, thread_ipc, ty};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use septum_user::abi::bootinfo as bi;
use septum_user::abi::{Error, fault, syscall as nr};
use septum_user::ipc::{Message, ScheduleStart};
use septum_user::syscall::{info, raw, signal, wait};

/// The schedule-control capability the kernel gives the root task.
pub const SCHED: u64 = bi::SLOT_SCHED_CONTROL;
/// The major frame.
pub const FRAME_NS: u64 = 1_000_000;
/// (partition, start, length) in nanoseconds.
pub const ROOT_WINDOW: (u64, u64, u64) = (0, 0, 100_000);
pub const A_WINDOW: (u64, u64, u64) = (1, 100_000, 500_000);
pub const B_WINDOW: (u64, u64, u64) = (2, 600_000, 400_000);
/// A pause longer than this (in TSC cycles) between two reads of the TSC
/// is a window boundary, not an interrupt inside the window (a tick costs
/// a few thousand; the shortest time away is the 0.6 ms outside B's window).
const GAP: u64 = 50_000;
/// Window starts B notes, at most.
pub const SAMPLES: usize = 64;

/// The schedule as the kernel started it, in TSC cycles.
static EPOCH: AtomicU64 = AtomicU64::new(0);
static FRAME: AtomicU64 = AtomicU64::new(u64::MAX);
/// Per partition 0..3: window start and end offsets in the frame.
static WIN: [(AtomicU64, AtomicU64); 3] = [const { (AtomicU64::new(0), AtomicU64::new(0)) }; 3];

/// B's first TSC reading in each window, in order.
pub static B_FIRST: [AtomicU64; SAMPLES] = [const { AtomicU64::new(0) }; SAMPLES];
pub static B_COUNT: AtomicUsize = AtomicUsize::new(0);
/// TSC readings a thread of A or B took outside its window, and the first
/// such: partition << 56 | offset in the frame.
pub static VIOLATIONS: AtomicU64 = AtomicU64::new(0);
pub static FIRST_VIOLATION: AtomicU64 = AtomicU64::new(0);
/// Rounds of the attacker's storm, and faults its handler answered.
pub static STORMS: AtomicU64 = AtomicU64::new(0);
pub static FAULTS: AtomicU64 = AtomicU64::new(0);

/// Where a window-ordered experiment put its threads.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    pub spinner: Thread,
    pub attacker: Thread,
    pub handler: Thread,
    pub b: Thread,
    /// Signalled to start the storm.
    pub go: u64,
}

pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: `rdtsc` only reads the time-stamp counter (user mode may:
    // the kernel leaves CR4.TSD clear).
    unsafe { core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    u64::from(hi) << 32 | u64::from(lo)
}

/// `t`'s offset in its frame.
pub fn offset(t: u64) -> u64 {
    t.wrapping_sub(EPOCH.load(Relaxed)) % FRAME.load(Relaxed)
}

/// Start of partition `p`'s window, from the frame's start.
pub fn window_start(p: usize) -> u64 {
    WIN[p].0.load(Relaxed)
}

/// How late past its window a thread may still be seen running: the
/// one-shot APIC timer counts from the instruction that arms it, a few
/// after the kernel read the TSC to compute the count (the TSC-deadline
/// timer, where the CPU has one, is exact).
pub const TIMER_SLOP: u64 = 32;

/// Note `t` if it lies outside partition `p`'s window.
#[inline(always)]
pub fn check_window(p: usize, t: u64) {
    let o = offset(t);
    let (start, end) = (WIN[p].0.load(Relaxed), WIN[p].1.load(Relaxed));
    let frame = FRAME.load(Relaxed);
    // How far past the window's end (across the frame's end for the last).
    let late = (o + frame - end) % frame;
    if (o < start || o >= end) && late >= TIMER_SLOP && VIOLATIONS.fetch_add(1, Relaxed) == 0 {
        FIRST_VIOLATION.store((p as u64) << 56 | o, Relaxed);
    }
}

/// Reset the shared state for a new run.
pub fn reset() {
    B_COUNT.store(0, Relaxed);
    VIOLATIONS.store(0, Relaxed);
    FIRST_VIOLATION.store(0, Relaxed);
    STORMS.store(0, Relaxed);
    FAULTS.store(0, Relaxed);
    for s in &B_FIRST {
        s.store(0, Relaxed);
    }
}

/// Set the three-window schedule and publish it to the threads.
pub fn configure(c: &mut Ctx) -> Result<ScheduleStart, Error> {
    let s = c
        .ipc
        .sched_configure(SCHED, FRAME_NS, &[ROOT_WINDOW, A_WINDOW, B_WINDOW])?;
    publish(s);
    Ok(s)
}

/// Tell the threads what schedule the kernel started (before their
/// windows come: the caller runs in the first window).
pub fn publish(s: ScheduleStart) {
    let cycles = |ns: u64| (u128::from(ns) * u128::from(s.tsc_hz) / 1_000_000_000) as u64;
    EPOCH.store(s.epoch, Relaxed);
    FRAME.store(s.frame, Relaxed);
    for (i, w) in [ROOT_WINDOW, A_WINDOW, B_WINDOW].into_iter().enumerate() {
        WIN[i].0.store(cycles(w.1), Relaxed);
        WIN[i].1.store(cycles(w.1 + w.2), Relaxed);
    }
}

/// Give partition 0 all time again (the root thread's, and everything
/// left in partition 0).
pub fn unconfigure(c: &mut Ctx) -> Result<(), Error> {
    c.ipc
        .sched_configure(SCHED, FRAME_NS, &[(0, 0, FRAME_NS)])
        .map(|_| ())
}

extern "C" fn spinner(_: u64, _: u64) -> ! {
    loop {
        check_window(1, rdtsc());
    }
}

/// B's loop: as few instructions as can note a window's start, so where
/// in it the end of the last window caught B moves B's first reading by
/// less than [`B_LOOP`] (the loop's length, which B measures).
extern "C" fn b_thread(_: u64, _: u64) -> ! {
    let mut last = rdtsc();
    let mut step = u64::MAX;
    loop {
        let t = rdtsc();
        let d = t.wrapping_sub(last);
        if d > GAP {
            let k = B_COUNT.load(Relaxed);
            if k < SAMPLES {
                B_FIRST[k].store(t, Relaxed);
                B_COUNT.store(k + 1, Relaxed);
            }
            // Between two gaps B ran without a pause: its first and last
            // readings in a window stand for all of them.
            check_window(2, last);
            check_window(2, t);
            B_LOOP.store(step, Relaxed);
        } else if d < step {
            step = d;
        }
        last = t;
    }
}

/// Instructions in one turn of B's loop, as B measured them.
pub static B_LOOP: AtomicU64 = AtomicU64::new(0);

/// Slots the attacker works in, handed over in its argument: its untyped
/// (2 MiB), a slot for the CNode it makes, the notification it waits on
/// first and the one it signals.
#[derive(Clone, Copy)]
struct AttackSlots {
    ut: u64,
    cnode: u64,
    /// [`SPACES`] slots for address spaces.
    spaces: u64,
    go: u64,
    noise: u64,
}

/// Address spaces the attacker makes in a round.
const SPACES: u64 = 64;

static ATTACK: spin::Mutex<Option<AttackSlots>> = spin::Mutex::new(None);

extern "C" fn attacker(_: u64, buffer: u64) -> ! {
    let slots = ATTACK.lock().expect("set before the attacker starts");
    let mut ipc = thread_ipc(buffer);
    let _ = wait(slots.go);
    let mut round = 0u64;
    loop {
        // The longest kernel work a task can ask for: a 2 MiB CNode
        // (65,536 slots) made, destroyed by revoking its untyped, and
        // the memory reset by the next retype; or 64 address spaces with
        // ASIDs, whose destruction scans the ASID table each.
        let kind = STORM.load(Relaxed);
        if kind == STORM_CNODE_OF_SPACES {
            storm_cnode_of_spaces(&mut ipc, &slots);
        } else if kind == STORM_NESTED_REVOKE {
            storm_nested_revoke(&mut ipc, &slots);
        } else if round.is_multiple_of(2) {
            let _ = ipc.retype(slots.ut, ty::CNODE, 16, CNODE, slots.cnode, 1);
        } else {
            let _ = ipc.retype(slots.ut, ty::PAGE_TABLE, 4, CNODE, slots.spaces, SPACES);
            for s in slots.spaces..slots.spaces + SPACES {
                let _ = ipc.asid_assign(crate::ktest::ASID_POOL, s);
            }
        }
        round += 1;
        let _ = ipc.cnode_revoke(CNODE, (slots.ut, DEPTH));
        let _ = signal(slots.noise);
        // SAFETY: `ud2` raises #UD; the handler resumes us after it.
        unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
        check_window(1, rdtsc());
        STORMS.fetch_add(1, Relaxed);
    }
}

/// What the attacker's storm does: the default mix (a big CNode, or
/// address spaces revoked from their untyped), or one of the review's
/// shapes that hide long work inside a single capability's destruction.
pub static STORM: AtomicU64 = AtomicU64::new(STORM_MIX);
pub const STORM_MIX: u64 = 0;
/// [`SPACES`] address spaces with ASIDs moved into a CNode of their own,
/// whose last capability is then deleted: each destroyed PML4 scans the
/// ASID table, inside one `CNODE_DELETE`.
pub const STORM_CNODE_OF_SPACES: u64 = 1;
/// [`NESTED`] small CNodes, each full of capability copies, revoked from
/// their untyped: one revoke step destroys a whole CNode.
pub const STORM_NESTED_REVOKE: u64 = 2;

/// Radix of the CNode the spaces are moved into (it holds [`SPACES`]).
const SPACES_RADIX: u64 = 6;
const _: () = assert!(1 << SPACES_RADIX == SPACES);
/// CNodes of the nested revoke, and their radix (all slots filled).
const NESTED: u64 = 32;
const NESTED_RADIX: u64 = 5;

fn storm_cnode_of_spaces(ipc: &mut septum_user::ipc::Ipc, slots: &AttackSlots) {
    let _ = ipc.retype(slots.ut, ty::CNODE, SPACES_RADIX, CNODE, slots.cnode, 1);
    let _ = ipc.retype(slots.ut, ty::PAGE_TABLE, 4, CNODE, slots.spaces, SPACES);
    for i in 0..SPACES {
        let s = slots.spaces + i;
        let _ = ipc.asid_assign(crate::ktest::ASID_POOL, s);
        let _ = ipc.cnode_move(slots.cnode, (i, SPACES_RADIX), CNODE, (s, DEPTH));
    }
    let _ = ipc.cnode_delete(CNODE, (slots.cnode, DEPTH));
}

fn storm_nested_revoke(ipc: &mut septum_user::ipc::Ipc, slots: &AttackSlots) {
    let _ = ipc.retype(
        slots.ut,
        ty::CNODE,
        NESTED_RADIX,
        CNODE,
        slots.spaces,
        NESTED,
    );
    for n in slots.spaces..slots.spaces + NESTED {
        for i in 0..1 << NESTED_RADIX {
            let all = septum_user::abi::object::rights::ALL;
            let _ = ipc.cnode_copy(n, (i, NESTED_RADIX), CNODE, (slots.noise, DEPTH), all);
        }
    }
}

/// Answers the attacker's faults: resume after the `ud2`.
extern "C" fn handler(_: u64, _: u64) -> ! {
    let (ep, reply) = (HANDLER_EP.load(Relaxed), HANDLER_REPLY.load(Relaxed));
    let mut r = raw(nr::RECV, ep, 0, [0; 4], reply);
    while r.rax == 0 {
        check_window(1, rdtsc());
        FAULTS.fetch_add(1, Relaxed);
        let rip = fault_rip() + 2;
        r = raw(
            nr::REPLY_RECV,
            ep,
            info(fault::RESUME_AT, 1),
            [rip, 0, 0, 0],
            reply,
        );
    }
    loop {
        septum_user::syscall::yield_now();
    }
}

/// The handler's endpoint and reply object, set before it starts.
static HANDLER_EP: AtomicU64 = AtomicU64::new(0);
static HANDLER_REPLY: AtomicU64 = AtomicU64::new(0);

/// Buffer address of the handler thread, set before it starts.
static HANDLER_BUFFER: AtomicU64 = AtomicU64::new(0);

/// The RIP word of the fault message the handler received.
fn fault_rip() -> u64 {
    let at = HANDLER_BUFFER.load(Relaxed) + (fault::W_RIP as u64 - 4) * 8;
    // SAFETY: the handler's IPC buffer is mapped for the whole experiment
    // and the kernel wrote the fault message there before it ran.
    unsafe { (at as *const u64).read_volatile() }
}

/// Make the threads of A and B, in their partitions, started but not yet
/// run (their partitions have no time until [`configure`]).
pub fn setup(c: &mut Ctx) -> Result<Setup, Error> {
    reset();
    // The attacker's untyped comes first, so it is the case's first 2 MiB.
    let ut = c.slot();
    c.ipc.retype(c.ut, ty::UNTYPED, 21, CNODE, ut, 1)?;
    let go = c.notification()?;
    let noise = c.notification()?;
    *ATTACK.lock() = Some(AttackSlots {
        ut,
        cnode: c.slot(),
        spaces: c.slots(SPACES),
        go,
        noise,
    });
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    let put = |c: &mut Ctx, t: Thread, p: u64| c.ipc.tcb_set_partition(t.tcb, SCHED, p);

    let handler_t = c.configured_thread("part-a-handler", 120, 0)?;
    put(c, handler_t, 1)?;
    HANDLER_BUFFER.store(handler_t.buffer, Relaxed);
    HANDLER_EP.store(ep, Relaxed);
    HANDLER_REPLY.store(reply, Relaxed);
    c.start(handler_t, handler, 0)?;

    let attacker_t = c.configured_thread("part-a-attacker", 110, ep)?;
    put(c, attacker_t, 1)?;
    c.start(attacker_t, attacker, 0)?;

    let spinner_t = c.configured_thread("part-a-spin", 100, 0)?;
    put(c, spinner_t, 1)?;
    c.start(spinner_t, spinner, 0)?;

    let b = c.configured_thread("part-b", 100, 0)?;
    put(c, b, 2)?;
    c.start(b, b_thread, 0)?;
    Ok(Setup {
        spinner: spinner_t,
        attacker: attacker_t,
        handler: handler_t,
        b,
        go,
    })
}

/// Wait (in partition 0's windows) until B has noted `n` window starts.
pub fn wait_for_b(c: &mut Ctx, n: usize) {
    let _ = c;
    while B_COUNT.load(Relaxed) < n {
        septum_user::syscall::yield_now();
    }
}

/// Stop the experiment's threads and give partition 0 all time again.
pub fn finish(c: &mut Ctx, s: &Setup) -> Result<(), Error> {
    for t in [s.spinner, s.attacker, s.handler, s.b] {
        c.ipc.tcb_suspend(t.tcb)?;
    }
    unconfigure(c)
}

/// Offsets from B's window start of B's first instruction in windows
/// `from..to` (sorted).
pub fn b_offsets(from: usize, to: usize, out: &mut [u64]) -> usize {
    let start = window_start(2);
    let mut n = 0;
    for (o, s) in out.iter_mut().zip(&B_FIRST[from..to]) {
        *o = offset(s.load(Relaxed)).wrapping_sub(start);
        n += 1;
    }
    out[..n].sort_unstable();
    n
}

/// A message with label `label` and no words (for the cross-partition
/// call case).
pub fn empty(label: u64) -> Message {
    Message::new(label, &[])
}
