//! What the supervisor does when a domain faults: the restart policy of
//! the description (`restart = { max, within, backoff, then }`) as a small
//! state machine, kept apart from the root task so the host tests it.
//!
//! The rules, per domain:
//!
//! - Restarts are counted in a window of `within` that opens at the first
//!   restart after the previous window closed (a fixed window, not a
//!   sliding one: it needs two words, not a history of `max` times). A
//!   fault when the window already holds `max` restarts applies `then`
//!   instead; `max = 0` (the default policy) applies it at once.
//! - The first restart of a window waits `backoff`'s minimum; each further
//!   one in the same window waits twice the previous wait, up to the
//!   maximum. A new window starts again from the minimum.
//! - Applying `then` closes the window: if the domain is restarted again
//!   later (its group restarted it, or the system did), it has its whole
//!   budget again. `then` waits the backoff's maximum first, so a domain
//!   that always crashes makes its group restart at most once per
//!   `within` + that wait.
//!
//! Times are nanoseconds of a monotonic clock the caller reads (the root
//! task converts the TSC with the kernel's calibration). Nothing here can
//! overflow or panic, whatever the policy and the clock say.

use crate::image::{Restart, Then};

/// What to do about one fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Restart the domain after waiting this long, as restart number
    /// `count` of the current window.
    Restart { wait_ns: u64, count: u32 },
    /// The restarts ran out: apply the policy's `then` after waiting this long.
    Then { then: Then, wait_ns: u64 },
}

/// One domain's restart history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tracker {
    /// When the current window opened; `None` when no window is open.
    window_start: Option<u64>,
    /// Restarts in the current window.
    count: u32,
    /// The wait before the next restart of this window.
    next_wait: u64,
}

impl Tracker {
    /// A domain that has not faulted yet.
    pub const fn new() -> Self {
        Tracker {
            window_start: None,
            count: 0,
            next_wait: 0,
        }
    }

    /// Restarts counted in the current window.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The domain faulted at `now`: decide, and record the decision.
    pub fn on_fault(&mut self, policy: &Restart, now: u64) -> Decision {
        let open = match self.window_start {
            Some(start) => now.saturating_sub(start) <= policy.within_ns,
            None => false,
        };
        if !open {
            self.window_start = Some(now);
            self.count = 0;
            self.next_wait = policy.backoff_min_ns;
        }
        if self.count >= policy.max {
            *self = Tracker::new();
            return Decision::Then {
                then: policy.then,
                wait_ns: policy.backoff_max_ns,
            };
        }
        self.count += 1;
        let wait_ns = self
            .next_wait
            .min(policy.backoff_max_ns.max(policy.backoff_min_ns));
        self.next_wait = wait_ns
            .saturating_mul(2)
            .min(policy.backoff_max_ns.max(policy.backoff_min_ns));
        Decision::Restart {
            wait_ns,
            count: self.count,
        }
    }
}

/// Nanoseconds in `ticks` of a clock running at `hz` (0 `hz`: taken as
/// 1 GHz, so an uncalibrated clock still gives an order of magnitude).
pub fn ticks_to_ns(ticks: u64, hz: u64) -> u64 {
    let hz = if hz == 0 { 1_000_000_000 } else { hz };
    (u128::from(ticks) * 1_000_000_000 / u128::from(hz)).min(u128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    const MS: u64 = 1_000_000;

    fn policy(max: u32, within: u64, min: u64, max_wait: u64, then: Then) -> Restart {
        Restart {
            max,
            within_ns: within,
            backoff_min_ns: min,
            backoff_max_ns: max_wait,
            then,
        }
    }

    #[test]
    fn restarts_back_off_then_run_out() {
        let p = policy(3, 1000 * MS, 10 * MS, 25 * MS, Then::Hold);
        let mut t = Tracker::new();
        let waits: Vec<_> = (0..4).map(|i| t.on_fault(&p, i * MS)).collect();
        assert_eq!(
            waits,
            [
                Decision::Restart {
                    wait_ns: 10 * MS,
                    count: 1
                },
                Decision::Restart {
                    wait_ns: 20 * MS,
                    count: 2
                },
                Decision::Restart {
                    wait_ns: 25 * MS,
                    count: 3
                },
                Decision::Then {
                    then: Then::Hold,
                    wait_ns: 25 * MS
                },
            ]
        );
    }

    #[test]
    fn a_new_window_restores_the_budget_and_the_backoff() {
        let p = policy(2, 100 * MS, MS, 8 * MS, Then::Reboot);
        let mut t = Tracker::new();
        assert_eq!(
            t.on_fault(&p, 0),
            Decision::Restart {
                wait_ns: MS,
                count: 1
            }
        );
        assert_eq!(
            t.on_fault(&p, 50 * MS),
            Decision::Restart {
                wait_ns: 2 * MS,
                count: 2
            }
        );
        // 101 ms after the window opened: a new one.
        assert_eq!(
            t.on_fault(&p, 101 * MS),
            Decision::Restart {
                wait_ns: MS,
                count: 1
            }
        );
        assert_eq!(
            t.on_fault(&p, 102 * MS),
            Decision::Restart {
                wait_ns: 2 * MS,
                count: 2
            }
        );
        assert_eq!(
            t.on_fault(&p, 103 * MS),
            Decision::Then {
                then: Then::Reboot,
                wait_ns: 8 * MS
            }
        );
        // Applying `then` closed the window.
        assert_eq!(
            t.on_fault(&p, 104 * MS),
            Decision::Restart {
                wait_ns: MS,
                count: 1
            }
        );
    }

    #[test]
    fn never_restarted_applies_then_at_once() {
        let mut t = Tracker::new();
        assert_eq!(
            t.on_fault(&Restart::NEVER, 5),
            Decision::Then {
                then: Then::Hold,
                wait_ns: 0
            }
        );
    }

    #[test]
    fn extreme_policies_and_clocks_do_not_overflow() {
        let p = policy(u32::MAX, u64::MAX, u64::MAX, u64::MAX, Then::RestartGroup);
        let mut t = Tracker::new();
        for now in [u64::MAX, 0, u64::MAX / 2] {
            let _ = t.on_fault(&p, now);
        }
        // A minimum above the maximum (refused by the checker) still waits
        // no more than the minimum.
        let odd = policy(5, MS, 10 * MS, MS, Then::Hold);
        assert_eq!(
            Tracker::new().on_fault(&odd, 0),
            Decision::Restart {
                wait_ns: 10 * MS,
                count: 1
            }
        );
        assert_eq!(ticks_to_ns(u64::MAX, 1), u64::MAX);
        assert_eq!(ticks_to_ns(3_000, 3_000_000_000), 1_000);
        assert_eq!(ticks_to_ns(7, 0), 7);
    }
}
