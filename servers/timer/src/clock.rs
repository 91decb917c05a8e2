//! From counter ticks to nanoseconds, and a clock that never goes back.
//!
//! The counters (the HPET's main counter, the TSC) only count up, but a
//! 32-bit HPET counter wraps, a conversion rounds, and a restarted TSC
//! calibration differs a little from the last: [`Monotonic`] keeps the
//! largest value it has answered and never answers less. [`Extend32`]
//! makes a 32-bit counter 64 bits wide, provided it is read at least once
//! per wrap (the server keeps its comparator at most half a wrap ahead).

/// Femtoseconds in a nanosecond (the HPET gives its period in fs).
pub const FS_PER_NS: u64 = 1_000_000;
/// Nanoseconds in a second.
pub const NS_PER_S: u64 = 1_000_000_000;

/// Nanoseconds in `ticks` of a counter whose tick is `period_fs`
/// femtoseconds (rounded down, saturating).
pub fn fs_ticks_to_ns(ticks: u64, period_fs: u64) -> u64 {
    let ns = u128::from(ticks) * u128::from(period_fs) / u128::from(FS_PER_NS);
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// Ticks of a `period_fs` counter that cover `ns` nanoseconds (rounded up,
/// so a deadline programmed from it is never early; saturating; a zero
/// period gives `u64::MAX`).
pub fn ns_to_fs_ticks(ns: u64, period_fs: u64) -> u64 {
    if period_fs == 0 {
        return u64::MAX;
    }
    let ticks = (u128::from(ns) * u128::from(FS_PER_NS)).div_ceil(u128::from(period_fs));
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// Nanoseconds in `ticks` of a counter running at `hz` (rounded down,
/// saturating; 0 Hz gives 0).
pub fn hz_ticks_to_ns(ticks: u64, hz: u64) -> u64 {
    if hz == 0 {
        return 0;
    }
    let ns = u128::from(ticks) * u128::from(NS_PER_S) / u128::from(hz);
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// Ticks of a counter running at `hz` that cover `ns` (rounded up,
/// saturating).
pub fn ns_to_hz_ticks(ns: u64, hz: u64) -> u64 {
    let ticks = (u128::from(ns) * u128::from(hz)).div_ceil(u128::from(NS_PER_S));
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// A clock that never answers less than it answered before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Monotonic {
    last: u64,
}

impl Monotonic {
    /// A clock that has answered nothing yet.
    pub const fn new() -> Self {
        Monotonic { last: 0 }
    }

    /// The clock for a reading of `ns`: the reading, or the last answer if
    /// the reading is behind it.
    pub fn observe(&mut self, ns: u64) -> u64 {
        self.last = self.last.max(ns);
        self.last
    }

    /// The last answer.
    pub fn last(&self) -> u64 {
        self.last
    }
}

/// A 32-bit counter made 64 bits wide by counting its wraps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extend32 {
    high: u64,
    last_low: u32,
}

impl Extend32 {
    pub const fn new() -> Self {
        Extend32 {
            high: 0,
            last_low: 0,
        }
    }

    /// The 64-bit count for a reading of the low 32 bits. A reading below
    /// the previous one means the counter wrapped once since.
    pub fn extend(&mut self, low: u32) -> u64 {
        if low < self.last_low {
            self.high = self.high.wrapping_add(1 << 32);
        }
        self.last_low = low;
        self.high | u64::from(low)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    /// QEMU's HPET: 10 ns per tick.
    const QEMU_FS: u64 = 10_000_000;
    /// A real chipset's HPET: 14.31818 MHz, 69.841279 ns per tick.
    const ICH_FS: u64 = 69_841_279;

    #[test]
    fn hpet_ticks_convert_both_ways_without_early_deadlines() {
        assert_eq!(fs_ticks_to_ns(100, QEMU_FS), 1000);
        assert_eq!(ns_to_fs_ticks(1000, QEMU_FS), 100);
        assert_eq!(ns_to_fs_ticks(1001, QEMU_FS), 101);
        for ns in [0u64, 1, 69, 70, 1_000_000, 123_456_789_012, 1 << 50] {
            let t = ns_to_fs_ticks(ns, ICH_FS);
            assert!(
                fs_ticks_to_ns(t, ICH_FS) >= ns,
                "{ns} ns: {t} ticks are early"
            );
            if t > 0 {
                assert!(
                    fs_ticks_to_ns(t - 1, ICH_FS) < ns,
                    "{ns} ns: {t} ticks are late"
                );
            }
        }
    }

    #[test]
    fn conversions_saturate_instead_of_overflowing() {
        assert_eq!(fs_ticks_to_ns(u64::MAX, u64::MAX), u64::MAX);
        assert_eq!(ns_to_fs_ticks(u64::MAX, 1), u64::MAX);
        assert_eq!(ns_to_fs_ticks(5, 0), u64::MAX);
        assert_eq!(hz_ticks_to_ns(u64::MAX, 1), u64::MAX);
        assert_eq!(hz_ticks_to_ns(5, 0), 0);
        assert_eq!(ns_to_hz_ticks(u64::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn tsc_ticks_convert_both_ways() {
        let hz = 2_596_061_000;
        assert_eq!(hz_ticks_to_ns(hz, hz), NS_PER_S);
        for ns in [1u64, 999, 1_000_000, 10_000_000_000] {
            let t = ns_to_hz_ticks(ns, hz);
            assert!(hz_ticks_to_ns(t, hz) >= ns);
        }
        assert_eq!(ns_to_hz_ticks(1_000_000, 1_193_182), 1194);
    }

    #[test]
    fn monotonic_never_answers_less() {
        let mut m = Monotonic::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut prev = 0;
        for _ in 0..100_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let now = m.observe(seed % 1_000_000);
            assert!(now >= prev);
            prev = now;
        }
        assert_eq!(m.last(), prev);
    }

    #[test]
    fn extend32_counts_wraps() {
        let mut e = Extend32::new();
        assert_eq!(e.extend(5), 5);
        assert_eq!(e.extend(0xffff_fff0), 0xffff_fff0);
        assert_eq!(e.extend(3), (1 << 32) | 3);
        assert_eq!(e.extend(3), (1 << 32) | 3);
        assert_eq!(e.extend(2), (2 << 32) | 2);
    }
}
