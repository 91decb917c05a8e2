//! Physical memory bookkeeping for boot: which RAM is free, and how to cut it
//! into the power-of-two blocks the root task receives as untyped memory.
//!
//! [`FreeMemory`] is a fixed table (no heap exists yet at boot) of at most
//! [`MAX_REGIONS`] free ranges. After every call, successful or not, the
//! ranges are page-aligned, non-empty, sorted, pairwise disjoint and never
//! adjacent (adjacent ranges are merged), so `regions()` is the unique
//! shortest description of the free set. A call that would need more than
//! [`MAX_REGIONS`] ranges fails and changes nothing. Nothing here panics.
//!
//! The top page of the 64-bit space, `[2^64 - 4096, 2^64)`, cannot be named
//! with an exclusive `u64` end and is never free; no x86_64 machine has RAM
//! there (physical addresses have at most 52 bits).

use core::fmt;

/// Size of a frame, the unit of all bookkeeping here.
pub const PAGE_SIZE: u64 = 4096;
/// Most disjoint free ranges the table holds. Firmware maps have a few dozen
/// entries, and each reservation splits at most one range in two.
pub const MAX_REGIONS: usize = 128;

const PAGE_MASK: u64 = PAGE_SIZE - 1;
const PAGE_BITS: u32 = PAGE_SIZE.trailing_zeros();

/// A range of physical memory `[start, end)`.
///
/// Every region [`FreeMemory`] hands out is page-aligned and non-empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl Region {
    /// Number of bytes (zero for an inverted range).
    pub const fn size(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// Why the free set could not be changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Recording the change to `[start, end)` would need more than
    /// [`MAX_REGIONS`] free ranges; the free set is unchanged.
    TooManyRegions { start: u64, end: u64 },
    /// `reserve` was given an end below its start.
    InvertedRange { start: u64, end: u64 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::TooManyRegions { start, end } => write!(
                f,
                "recording [{start:#x}, {end:#x}) would need more than {MAX_REGIONS} free regions; \
                 the free-memory table is unchanged"
            ),
            Error::InvertedRange { start, end } => {
                write!(f, "range end {end:#x} is below its start {start:#x}")
            }
        }
    }
}

/// The free physical memory, as a bounded sorted list of ranges.
#[derive(Clone, Debug)]
pub struct FreeMemory {
    regions: [Region; MAX_REGIONS],
    /// Number of live entries at the front of `regions`; at most `MAX_REGIONS`.
    len: usize,
}

impl Default for FreeMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl FreeMemory {
    /// An empty free set.
    pub const fn new() -> Self {
        FreeMemory {
            regions: [Region { start: 0, end: 0 }; MAX_REGIONS],
            len: 0,
        }
    }

    /// Add usable RAM `[start, start + len)` from the firmware's map.
    ///
    /// The range is rounded inward to page boundaries, since a partial page
    /// cannot be handed out; what is left of less than a page is ignored. A
    /// range running past `u64::MAX` is cut there. Overlapping or adjacent
    /// free ranges merge, so a firmware map listing one range twice is harmless.
    pub fn add_usable(&mut self, start: u64, len: u64) -> Result<(), Error> {
        let end = start.saturating_add(len) & !PAGE_MASK;
        let Some(start) = start.checked_next_multiple_of(PAGE_SIZE) else {
            return Ok(());
        };
        if start >= end {
            return Ok(());
        }
        let live = self.regions();
        // Regions that overlap or touch [start, end) form one run, first..last.
        let first = live.partition_point(|r| r.end < start);
        let last = live.partition_point(|r| r.start <= end);
        let merged = match (
            live.get(first),
            last.checked_sub(1).and_then(|l| live.get(l)),
        ) {
            (Some(a), Some(b)) if first < last => Region {
                start: a.start.min(start),
                end: b.end.max(end),
            },
            _ => Region { start, end },
        };
        self.splice(
            first,
            last.max(first),
            &[merged],
            Error::TooManyRegions { start, end },
        )
    }

    /// Take `[start, end)`, rounded outward to whole pages, out of the free
    /// set: memory the kernel, the boot image or firmware tables occupy.
    ///
    /// Parts that are not free are skipped, so reserving twice is harmless.
    /// An empty range reserves nothing; an inverted one is refused with
    /// [`Error::InvertedRange`], since it means the caller mixed up its bounds.
    /// Reserving from the middle of a free range splits it, which fails with
    /// [`Error::TooManyRegions`] (leaving the set unchanged) when the table is full.
    pub fn reserve(&mut self, start: u64, end: u64) -> Result<(), Error> {
        if end < start {
            return Err(Error::InvertedRange { start, end });
        }
        if start == end {
            // Rounding outward would turn nothing into a page.
            return Ok(());
        }
        let error = Error::TooManyRegions { start, end };
        let start = start & !PAGE_MASK;
        // Rounding up past the top leaves u64::MAX: no free region ends above
        // the last page boundary, so it covers everything up there just as well.
        let end = end.checked_next_multiple_of(PAGE_SIZE).unwrap_or(u64::MAX);
        if start >= end {
            return Ok(());
        }
        let live = self.regions();
        // Regions that overlap [start, end) form one run, first..last.
        let first = live.partition_point(|r| r.end <= start);
        let last = live.partition_point(|r| r.start < end);
        let (Some(a), Some(b)) = (
            live.get(first),
            last.checked_sub(1).and_then(|l| live.get(l)),
        ) else {
            return Ok(());
        };
        if first >= last {
            return Ok(());
        }
        let left = Region {
            start: a.start,
            end: start,
        };
        let right = Region {
            start: end,
            end: b.end,
        };
        let pieces = [left, right];
        let kept: &[Region] = match (a.start < start, end < b.end) {
            (true, true) => &pieces,
            (true, false) => &pieces[..1],
            (false, true) => &pieces[1..],
            (false, false) => &[],
        };
        self.splice(first, last, kept, error)
    }

    /// Take `count` contiguous frames starting on a multiple of `align` out of
    /// the free set and return their physical address.
    ///
    /// `align` must be a power of two of at least [`PAGE_SIZE`]. The lowest
    /// suitable address wins, so early boot allocations are predictable.
    /// `None` when `count` is zero, `align` is unusable, or no free range has
    /// room (a candidate in the middle of a range, which would split it, is
    /// passed over while the table is full).
    pub fn alloc(&mut self, count: u64, align: u64) -> Option<u64> {
        if count == 0 || !align.is_power_of_two() || align < PAGE_SIZE {
            return None;
        }
        let size = count.checked_mul(PAGE_SIZE)?;
        for index in 0..self.len {
            let region = *self.regions.get(index)?;
            // Later regions lie higher, so once rounding up or adding the size
            // overflows it overflows for all of them.
            let at = region.start.checked_next_multiple_of(align)?;
            let end = at.checked_add(size)?;
            if end <= region.end && self.reserve(at, end).is_ok() {
                return Some(at);
            }
        }
        None
    }

    /// Take one frame out of the free set: `alloc(1, PAGE_SIZE)`.
    pub fn alloc_frame(&mut self) -> Option<u64> {
        self.alloc(1, PAGE_SIZE)
    }

    /// The free ranges, sorted, disjoint, non-adjacent, page-aligned, non-empty.
    pub fn regions(&self) -> &[Region] {
        self.regions.get(..self.len).unwrap_or(&[])
    }

    /// Total free bytes.
    pub fn free_bytes(&self) -> u64 {
        // Disjoint ranges below 2^64 cannot add up past it; saturating keeps
        // that argument out of the panic path.
        self.regions()
            .iter()
            .map(Region::size)
            .fold(0, u64::saturating_add)
    }

    /// Replace live entries `from..to` with `with`, or return `error` and
    /// change nothing when the result would not fit.
    fn splice(
        &mut self,
        from: usize,
        to: usize,
        with: &[Region],
        error: Error,
    ) -> Result<(), Error> {
        let len = self.len;
        let new_len = len
            .checked_sub(to.saturating_sub(from))
            .and_then(|l| l.checked_add(with.len()))
            .filter(|&l| l <= MAX_REGIONS && from <= to && to <= len)
            .ok_or(error)?;
        let insert_end = from.checked_add(with.len()).ok_or(error)?;
        // Bounds: to <= len <= MAX_REGIONS and insert_end + (len - to) == new_len <= MAX_REGIONS.
        self.regions.copy_within(to..len, insert_end);
        if let Some(slots) = self.regions.get_mut(from..insert_end) {
            slots.copy_from_slice(with);
        }
        self.len = new_len;
        Ok(())
    }
}

/// Split `[start, end)` into the fewest naturally aligned power-of-two blocks,
/// in address order: the untyped memory the kernel hands the root task.
///
/// Each item is `(address, size_bits)`: a block of `2^size_bits` bytes at an
/// address that is a multiple of its size, with `size_bits` between the page
/// size's 12 and `max_bits`. `start` is rounded up and `end` down to pages.
/// `max_bits` is raised to 12 if below (a page is the smallest block) and
/// capped at 63 (the largest power of two a `u64` holds).
pub fn aligned_blocks(start: u64, end: u64, max_bits: u32) -> impl Iterator<Item = (u64, u32)> {
    let at = start
        .checked_next_multiple_of(PAGE_SIZE)
        .unwrap_or(u64::MAX);
    AlignedBlocks {
        at,
        end: end & !PAGE_MASK,
        max_bits: max_bits.clamp(PAGE_BITS, 63),
    }
}

struct AlignedBlocks {
    at: u64,
    end: u64,
    max_bits: u32,
}

impl Iterator for AlignedBlocks {
    type Item = (u64, u32);

    fn next(&mut self) -> Option<(u64, u32)> {
        let room = self.end.checked_sub(self.at).filter(|&r| r > 0)?;
        // Taking the largest block that is aligned at `at` and fits is optimal:
        // any block here must be aligned at `at` too, and a smaller one leaves
        // a remainder that needs at least as many blocks.
        let align_bits = self.at.trailing_zeros();
        let room_bits = u64::BITS - 1 - room.leading_zeros();
        let bits = align_bits.min(room_bits).min(self.max_bits);
        let block = self.at;
        self.at = self.at.checked_add(1u64.checked_shl(bits)?)?;
        Some((block, bits))
    }
}

#[cfg(test)]
mod tests;
