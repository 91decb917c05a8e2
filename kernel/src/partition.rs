//! Static time partitions: a major frame repeated for ever, cut into
//! windows, each the time of one partition.
//!
//! Until a schedule is set, partition 0 owns all time and the APIC ticks
//! periodically, as it always has. `SCHED_CONFIGURE` sets a schedule: the
//! timer goes one-shot and is always armed for the earlier of the next
//! tick (time slices keep their 10 ms ticks) and the end of the current
//! window or gap. Every deadline is absolute — the frame's start plus an
//! offset — so rounding never accumulates: window `i` of frame `k` starts
//! at `epoch + k·frame + start_i` TSC cycles whatever happened before.
//!
//! When a window ends, the window's partition changes
//! (`sched::set_current_partition`) and the `schedule` that follows every
//! interrupt moves the running thread back into its partition's queue (it
//! keeps its place and the rest of its slice) and picks from the new
//! partition's queue, or idles. Nothing a thread does moves a window: the
//! interrupt is taken at the deadline in user mode, or at the next
//! preemption point of a kernel operation (`docs/kernel.md` bounds the
//! longest stretch between them).
//!
//! No time is lent across partitions: a `Call` into a thread of another
//! partition queues that thread in its own partition, and the caller waits
//! for the answer, which comes in the receiver's window.

use crate::arch::apic;
use crate::sched::{self, NO_PARTITION};
use septum_abi::Error;
use septum_abi::sched::{MAX_FRAME_NS, MAX_PARTITIONS, MAX_WINDOWS, MIN_WINDOW_NS};

/// One stretch of the frame: a window, or a gap (no partition).
#[derive(Clone, Copy, Debug)]
struct Segment {
    partition: u8,
    /// Start, in TSC cycles from the frame's start.
    start: u64,
}

/// Windows and the gaps between them.
const SEGMENTS: usize = 2 * MAX_WINDOWS as usize + 1;

#[derive(Debug)]
struct Schedule {
    segments: [Segment; SEGMENTS],
    count: usize,
    /// The major frame in TSC cycles.
    frame: u64,
    /// One tick in TSC cycles.
    tick: u64,
    /// TSC value at which the current frame started.
    frame_start: u64,
    /// Index of the current segment.
    at: usize,
    /// TSC value at which the current segment ends.
    end: u64,
    /// TSC value of the next tick.
    next_tick: u64,
    /// How long before a window's end its interrupt is taken
    /// ([`SLACK_NS`] in TSC cycles).
    slack: u64,
}

/// A window's end is taken this early, and the kernel waits for the exact
/// end before it switches: whatever the partition ending did (a long
/// kernel operation runs at most some 5,500 instructions between two
/// looks for a pending interrupt), the next one starts at the same
/// instruction offset of its window. The price: each window loses this
/// much at its end.
pub const SLACK_NS: u64 = 10_000;

impl Schedule {
    /// End of segment `i`, from the frame's start.
    fn end_of(&self, i: usize) -> u64 {
        if i + 1 < self.count {
            self.segments[i + 1].start
        } else {
            self.frame
        }
    }

    /// Move to the segment that contains `now`, one segment at a time (a
    /// kernel that fell behind skips whole windows rather than shifting
    /// the schedule).
    fn advance(&mut self, now: u64) {
        while self.end <= now {
            self.at += 1;
            if self.at == self.count {
                self.at = 0;
                self.frame_start += self.frame;
            }
            self.end = self.frame_start + self.end_of(self.at);
        }
    }

    fn arm(&self) {
        apic::arm_at(self.end.saturating_sub(self.slack).min(self.next_tick));
    }
}

static SCHEDULE: spin::Mutex<Option<Schedule>> = spin::Mutex::new(None);

/// What a schedule's first frame is: the TSC value it started at, the
/// frame in TSC cycles, and TSC cycles per second.
pub struct Started {
    pub epoch: u64,
    pub frame: u64,
    pub tsc_hz: u64,
}

/// Nanoseconds to TSC cycles at `tsc_per_tick` cycles per tick.
fn cycles(ns: u64, tsc_per_tick: u64) -> u64 {
    let per_ns = u128::from(tsc_per_tick);
    let tick_ns = u128::from(apic::TICK_MS) * 1_000_000;
    (u128::from(ns) * per_ns / tick_ns) as u64
}

/// Replace the schedule with `windows` — (partition, start, length) in
/// nanoseconds, in order of start, not overlapping — over a major frame of
/// `frame_ns`. The first frame starts now.
pub fn configure(frame_ns: u64, windows: &[(u64, u64, u64)]) -> Result<Started, Error> {
    if windows.is_empty() || windows.len() > MAX_WINDOWS as usize {
        return Err(Error::Range);
    }
    if !(MIN_WINDOW_NS..=MAX_FRAME_NS).contains(&frame_ns) {
        return Err(Error::Range);
    }
    let tsc_per_tick = apic::tsc_per_tick();
    if tsc_per_tick == 0 {
        // Without a measured clock a window's length would be a guess.
        return Err(Error::IllegalOperation);
    }
    let gap = |start: u64| Segment {
        partition: NO_PARTITION,
        start: cycles(start, tsc_per_tick),
    };
    let mut segments = [gap(0); SEGMENTS];
    let mut count = 0;
    let mut push = |s: Segment| {
        segments[count] = s;
        count += 1;
    };
    let mut free_from = 0;
    for &(partition, start, length) in windows {
        let end = start.checked_add(length).ok_or(Error::Range)?;
        if partition >= MAX_PARTITIONS
            || length < MIN_WINDOW_NS
            || start < free_from
            || end > frame_ns
        {
            return Err(Error::Range);
        }
        if start > free_from {
            push(gap(free_from));
        }
        push(Segment {
            partition: partition as u8,
            start: cycles(start, tsc_per_tick),
        });
        free_from = end;
    }
    if free_from < frame_ns {
        push(gap(free_from));
    }
    let frame = cycles(frame_ns, tsc_per_tick);
    let epoch = apic::now();
    let mut s = Schedule {
        segments,
        count,
        frame,
        tick: tsc_per_tick,
        frame_start: epoch,
        at: 0,
        end: 0,
        next_tick: epoch + tsc_per_tick,
        slack: cycles(SLACK_NS, tsc_per_tick),
    };
    s.end = epoch + s.end_of(0);
    apic::one_shot_mode();
    sched::set_current_partition(s.segments[0].partition);
    s.arm();
    *SCHEDULE.lock() = Some(s);
    Ok(Started {
        epoch,
        frame,
        tsc_hz: cycles(1_000_000_000, tsc_per_tick),
    })
}

/// The partitions that have time, a bit each: those with a window in the
/// schedule, or partition 0 alone while none is set.
pub fn timed() -> u32 {
    match SCHEDULE.lock().as_ref() {
        None => 1,
        Some(s) => s.segments[..s.count]
            .iter()
            .filter(|seg| seg.partition != NO_PARTITION)
            .fold(0, |m, seg| m | 1 << seg.partition),
    }
}

/// The timer interrupt under a schedule: end it at the APIC, then a tick
/// for the running thread's slice, the end of a window, or both; then the
/// next deadline. Returns false, having done nothing, without a schedule
/// (the periodic tick and its end of interrupt are the caller's).
pub fn timer() -> bool {
    let mut guard = SCHEDULE.lock();
    let Some(s) = guard.as_mut() else {
        return false;
    };
    apic::end_of_interrupt();
    let now = apic::now();
    let tick = now >= s.next_tick;
    if tick {
        s.next_tick += s.tick;
        if s.next_tick <= now {
            s.next_tick = now + s.tick;
        }
    }
    let switch = now + s.slack >= s.end;
    if switch {
        // Early, by design: wait for the exact end, so the next window's
        // start does not depend on how late this interrupt was taken.
        while apic::now() < s.end {
            core::hint::spin_loop();
        }
        s.advance(apic::now());
    }
    let partition = s.segments[s.at].partition;
    s.arm();
    drop(guard);
    if switch {
        sched::set_current_partition(partition);
    }
    if tick {
        sched::tick();
    }
    true
}
