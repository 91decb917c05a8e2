//! Reading QEMU's instruction trace and cutting it into samples.
//!
//! `-singlestep -d exec,nochain` makes QEMU translate one guest instruction
//! per block and log every block it runs, so the log has one line per
//! executed instruction (QEMU 7.2):
//!
//! ```text
//! Trace 0: 0x7fe0ac800400 [0000000000000000/ffff8080001144aa/18c0c2b0/ff020201] symbol
//! ```
//!
//! The bracket holds the block's CS base, its guest PC (the CS base
//! included), its flags and its compile flags; only the PC matters here.
//! A block is logged before it runs, and two messages say that the block
//! just logged did not run after all; it runs later and is logged again:
//!
//! ```text
//! cpu_io_recompile: rewound execution of TB to 00000000000ea643
//! Stopped execution of TB chain before 0x7f6bcc030e80 [ffff8080001085ba] symbol
//! ```
//!
//! The first comes under `-icount` when an instruction that does I/O was
//! not the last of its block; the second when the block was not entered
//! because the CPU had to stop first (its `-icount` budget ran out, an
//! interrupt is due). Either cancels the logged block before it, so every
//! instruction counts once, as it does for `-icount`.
//!
//! The benchmark task brackets each sample with two `rdtsc`s; in a profile
//! build it executes no other `rdtsc` (see `tests/tasks/src/bin/bench.rs`),
//! so the user `rdtsc`s of the run alternate: start of a sample, end of it,
//! start of the next. A sample is the instructions from its starting
//! `rdtsc` up to, not including, its ending one: as many as the difference
//! of the two readings, in whichever thread or address space each runs.

/// One line of QEMU's log that matters here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A block (one instruction) at this guest PC was about to run.
    Exec(u64),
    /// The block at this PC logged just before did not run after all.
    NotRun(u64),
}

/// The event a log line reports, if any. QEMU's other messages are `None`.
pub fn parse_line(line: &str) -> Option<Event> {
    if let Some(rest) = line.strip_prefix("Trace ") {
        let inside = rest.split_once('[')?.1.split_once(']')?.0;
        let mut fields = inside.split('/');
        let _cs_base = fields.next()?;
        let pc = u64::from_str_radix(fields.next()?, 16).ok()?;
        return Some(Event::Exec(pc));
    }
    let hex = if let Some(rest) = line.strip_prefix("cpu_io_recompile: rewound execution of TB to ")
    {
        rest.trim()
    } else {
        let rest = line.strip_prefix("Stopped execution of TB chain before ")?;
        rest.split_once('[')?.1.split_once(']')?.0
    };
    let hex = hex.strip_prefix("0x").unwrap_or(hex);
    u64::from_str_radix(hex, 16).ok().map(Event::NotRun)
}

/// Cuts the stream of executed instructions into samples: fed every log
/// event in order, it keeps the PCs of each complete sample and counts the
/// rest. `is_rdtsc` says whether the instruction at a PC is a user `rdtsc`
/// of the benchmark task.
pub struct Cutter<F: Fn(u64) -> bool> {
    is_rdtsc: F,
    /// The last logged instruction, counted once the next line shows it
    /// did run.
    pending: Option<u64>,
    /// The sample being collected, from its starting `rdtsc`.
    open: Option<Vec<u64>>,
    samples: Vec<Vec<u64>>,
    executed: u64,
}

/// What a whole trace held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cut {
    /// Every complete sample's PCs, in order; each starts with its `rdtsc`.
    pub samples: Vec<Vec<u64>>,
    /// Instructions executed in all (inside the traced ranges).
    pub executed: u64,
    /// Whether the trace ended inside a sample (it was cut short).
    pub unfinished: bool,
}

impl<F: Fn(u64) -> bool> Cutter<F> {
    /// A cutter with nothing seen yet.
    pub fn new(is_rdtsc: F) -> Self {
        Cutter {
            is_rdtsc,
            pending: None,
            open: None,
            samples: Vec::new(),
            executed: 0,
        }
    }

    /// Take the next event of the log.
    pub fn feed(&mut self, event: Event) {
        match event {
            Event::Exec(pc) => {
                if let Some(done) = self.pending.replace(pc) {
                    self.count(done);
                }
            }
            Event::NotRun(pc) => {
                if self.pending == Some(pc) {
                    self.pending = None;
                }
            }
        }
    }

    fn count(&mut self, pc: u64) {
        self.executed += 1;
        if (self.is_rdtsc)(pc) {
            match self.open.take() {
                Some(sample) => self.samples.push(sample),
                None => self.open = Some(vec![pc]),
            }
        } else if let Some(sample) = &mut self.open {
            sample.push(pc);
        }
    }

    /// The samples, once the log has ended.
    pub fn finish(mut self) -> Cut {
        if let Some(pc) = self.pending.take() {
            self.count(pc);
        }
        Cut {
            samples: self.samples,
            executed: self.executed,
            unfinished: self.open.is_some(),
        }
    }
}

/// Fewest, median and most of some counts, the median as the benchmark
/// task takes it (the element at `n / 2` once sorted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spread {
    /// Fewest.
    pub min: u64,
    /// Median.
    pub median: u64,
    /// Most.
    pub max: u64,
}

/// The spread of `counts`; `None` if there are none.
pub fn spread(counts: &[u64]) -> Option<Spread> {
    let mut sorted = counts.to_vec();
    sorted.sort_unstable();
    Some(Spread {
        min: *sorted.first()?,
        median: sorted[sorted.len() / 2],
        max: *sorted.last()?,
    })
}

/// The sample to show: one whose count is the median, the one nearest the
/// middle of the run (in steady state, away from the first runs' cold
/// paths). `None` if there are no samples.
pub fn pick(counts: &[u64]) -> Option<usize> {
    let median = spread(counts)?.median;
    let middle = counts.len() / 2;
    counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == median)
        .map(|(i, _)| i)
        .min_by_key(|i| i.abs_diff(middle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_lines() {
        assert_eq!(
            parse_line(
                "Trace 0: 0x7fe0ac800400 [0000000000000000/ffff8080001144aa/18c0c2b0/ff020201] sym"
            ),
            Some(Event::Exec(0xffff_8080_0011_44aa))
        );
        assert_eq!(
            parse_line(
                "Trace 0: 0x7fd404000100 [00000000ffff0000/00000000fffffff0/00000040/ff020201] "
            ),
            Some(Event::Exec(0xffff_fff0))
        );
        assert_eq!(
            parse_line("cpu_io_recompile: rewound execution of TB to 00000000000ea643"),
            Some(Event::NotRun(0xea643))
        );
        assert_eq!(
            parse_line(
                "Stopped execution of TB chain before 0x7f6bcc030e80 [ffff8080001085ba] \
                 _ZN13septum_kernel6object5cnode10lookup_cap17haea61a48f769b4fcE"
            ),
            Some(Event::NotRun(0xffff_8080_0010_85ba))
        );
        for other in [
            "",
            "Linking TBs 0x1 [0000000000400000] index 0 -> 0x2 [0000000000400010]",
            "Trace 0: 0x7fe0 [broken",
            "Trace 0: 0x7fe0 [0000000000000000/zz/0/0]",
            "qemu-system-x86_64: terminating on signal 15",
        ] {
            assert_eq!(parse_line(other), None, "{other:?}");
        }
    }

    const RDTSC: [u64; 2] = [0x10, 0x20];

    fn cut(events: &[Event]) -> Cut {
        let mut c = Cutter::new(|pc| RDTSC.contains(&pc));
        for e in events {
            c.feed(*e);
        }
        c.finish()
    }

    fn exec(pcs: &[u64]) -> Vec<Event> {
        pcs.iter().map(|pc| Event::Exec(*pc)).collect()
    }

    #[test]
    fn samples_run_from_rdtsc_to_rdtsc() {
        // Setup, sample [0x10, 1, 2], gap, sample [0x20, 3] ending at the
        // rdtsc at 0x10, then an unfinished one.
        let c = cut(&exec(&[
            7, 8, 0x10, 1, 2, 0x20, 5, 6, 0x20, 3, 0x10, 9, 0x20, 4,
        ]));
        assert_eq!(c.samples, vec![vec![0x10, 1, 2], vec![0x20, 3]]);
        assert_eq!(c.executed, 14);
        assert!(c.unfinished);

        let c = cut(&exec(&[0x10, 1, 0x10]));
        assert_eq!(c.samples, vec![vec![0x10, 1]]);
        assert!(!c.unfinished);
    }

    #[test]
    fn an_instruction_that_did_not_run_counts_once() {
        let mut events = exec(&[0x10, 1, 2]);
        events.push(Event::NotRun(2));
        events.extend(exec(&[2, 3, 0x20]));
        let c = cut(&events);
        assert_eq!(c.samples, vec![vec![0x10, 1, 2, 3]]);
        assert_eq!(c.executed, 5);

        // Cancelling an instruction that is not the last one logged changes
        // nothing; a cancelled rdtsc neither starts nor ends a sample.
        let mut events = exec(&[0x10, 1]);
        events.push(Event::NotRun(7));
        events.extend(exec(&[0x20]));
        events.push(Event::NotRun(0x20));
        events.extend(exec(&[5, 0x20]));
        assert_eq!(cut(&events).samples, vec![vec![0x10, 1, 5]]);
    }

    #[test]
    fn the_last_line_counts() {
        let c = cut(&exec(&[0x10, 1, 0x20]));
        assert_eq!(c.samples.len(), 1);
        assert_eq!(c.executed, 3);
        assert_eq!(cut(&[]), Cut::default());
    }

    #[test]
    fn spread_and_pick() {
        assert_eq!(spread(&[]), None);
        assert_eq!(pick(&[]), None);
        assert_eq!(
            spread(&[5, 1, 9, 7]),
            Some(Spread {
                min: 1,
                median: 7,
                max: 9
            })
        );
        // Median 4: samples 0 and 4 have it; 4 is nearer the middle (3).
        assert_eq!(pick(&[4, 9, 8, 3, 4, 2, 5]), Some(4));
        // Ties go to the earlier one.
        assert_eq!(pick(&[4, 4, 0, 4, 4]), Some(1));
        assert_eq!(pick(&[678]), Some(0));
    }
}
