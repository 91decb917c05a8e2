//! Static time partitions: the limits of the schedule the kernel keeps.
//!
//! A schedule is a major frame repeated for ever, divided into windows,
//! each owned by one partition. A thread runs only during its partition's
//! windows; in a gap between windows nothing runs. Threads start in
//! partition 0, and until a schedule is set partition 0 owns all time, so a
//! system that never sets one runs by priority alone.

/// Partitions are numbered `0..MAX_PARTITIONS`.
pub const MAX_PARTITIONS: u64 = 15;
/// Most windows in one major frame.
pub const MAX_WINDOWS: u64 = 16;
/// Shortest window (and major frame) the kernel accepts, in nanoseconds:
/// shorter ones would be mostly switching.
pub const MIN_WINDOW_NS: u64 = 50_000;
/// Longest major frame, in nanoseconds (one minute).
pub const MAX_FRAME_NS: u64 = 60_000_000_000;
/// Words of a `SCHED_CONFIGURE` message for `n` windows.
pub const fn configure_words(n: u64) -> u64 {
    2 + 3 * n
}
