//! Untyped memory arithmetic: where retype puts new kernel objects.
//!
//! An untyped capability covers `2^size_bits` bytes of physical memory at a
//! naturally aligned address. Objects are carved out of it from a watermark
//! upward (seL4's scheme): each retype puts its objects at the first address
//! at or above the watermark that is aligned to the object size, then raises
//! the watermark past them. Memory below the watermark may be in use; memory
//! above it is free. The watermark only rises until every object made from
//! the untyped has been destroyed (a revoke), when [`Untyped::reset`] frees
//! the whole range again. There is no per-object bookkeeping, so the state
//! is one number.
//!
//! Retype is split into [`Untyped::plan_retype`], which checks the request and
//! computes addresses without changing anything, and [`Untyped::commit`]. The
//! kernel plans, does the work that may be preempted (clearing memory,
//! filling slots), and commits; if it was preempted it simply plans again
//! when the call restarts.
//!
//! Every function here takes any input, including an [`Untyped`] whose public
//! fields were set by hand, without panicking: bad values come back as an
//! [`Error`] naming them, and all arithmetic is checked.

use core::fmt;
use septum_abi::object::object_type;

/// Smallest untyped: one page.
pub const MIN_UNTYPED_BITS: u32 = 12;
/// Largest untyped: 128 TiB, half of the 48-bit virtual space and far beyond
/// any RAM the kernel is meant for; keeping sizes well below 2^64 keeps all
/// offset arithmetic far from overflow.
pub const MAX_UNTYPED_BITS: u32 = 47;
/// Most objects one retype may make, so that the preemptible work of a single
/// call (clearing memory, filling destination slots) has a known bound.
pub const MAX_RETYPE_COUNT: u64 = 256;
/// Smallest object: 16 bytes (an endpoint). Anything smaller could not hold
/// even two words of state.
pub const MIN_OBJECT_BITS: u32 = 4;

/// An untyped capability's memory and watermark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Untyped {
    /// Physical address of the first byte; a multiple of `2^size_bits`.
    pub base: u64,
    /// log2 of the size in bytes, [`MIN_UNTYPED_BITS`]`..=`[`MAX_UNTYPED_BITS`].
    pub size_bits: u32,
    /// Offset from `base` of the first free byte; at most the size.
    pub free_offset: u64,
    /// Device memory (MMIO): only frames and smaller untypeds may be made
    /// from it, never kernel objects; see [`ObjectType::fits_device_memory`].
    pub is_device: bool,
}

/// Where the objects of one retype go, computed by [`Untyped::plan_retype`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retype {
    /// Physical address of the first object.
    pub first: u64,
    /// log2 of each object's size in bytes.
    pub obj_bits: u32,
    /// Number of objects, laid out back to back from `first`.
    pub count: u64,
    /// The untyped's watermark once the plan is committed.
    pub new_free_offset: u64,
}

impl Retype {
    /// Physical address of object `i`, or `None` when `i` is not below
    /// `count`.
    pub fn object(&self, i: u64) -> Option<u64> {
        if i >= self.count {
            return None;
        }
        let offset = i.checked_mul(1u64.checked_shl(self.obj_bits)?)?;
        self.first.checked_add(offset)
    }
}

/// The kinds of kernel object retype can make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectType {
    /// A smaller untyped range.
    Untyped,
    /// A table of capability slots.
    CNode,
    /// A thread.
    Tcb,
    /// Synchronous IPC rendezvous.
    Endpoint,
    /// Asynchronous signal word.
    Notification,
    /// The one-shot right to answer a call.
    Reply,
    /// One 4 KiB page-table page of any level: PML4, PDPT, PD or PT.
    PageTable,
    /// A 4 KiB frame.
    Frame4K,
    /// A 2 MiB frame.
    Frame2M,
}

/// log2 of the bytes in one capability slot.
const SLOT_BITS: u32 = 5;
/// CNodes have 2^1 to 2^20 slots: a one-slot CNode could only translate
/// through its guard, and 2^20 slots (32 MiB) is more than any task needs.
const MIN_CNODE_RADIX: u64 = 1;
const MAX_CNODE_RADIX: u64 = 20;

impl ObjectType {
    const ALL: [ObjectType; 9] = [
        ObjectType::Untyped,
        ObjectType::CNode,
        ObjectType::Tcb,
        ObjectType::Endpoint,
        ObjectType::Notification,
        ObjectType::Reply,
        ObjectType::PageTable,
        ObjectType::Frame4K,
        ObjectType::Frame2M,
    ];

    /// The type with ABI code `code`, or `None`.
    pub fn from_code(code: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The stable ABI code of this type ([`object_type`]).
    pub fn code(self) -> u64 {
        match self {
            ObjectType::Untyped => object_type::UNTYPED,
            ObjectType::CNode => object_type::CNODE,
            ObjectType::Tcb => object_type::TCB,
            ObjectType::Endpoint => object_type::ENDPOINT,
            ObjectType::Notification => object_type::NOTIFICATION,
            ObjectType::Reply => object_type::REPLY,
            ObjectType::PageTable => object_type::PAGE_TABLE,
            ObjectType::Frame4K => object_type::FRAME,
            ObjectType::Frame2M => object_type::FRAME_2M,
        }
    }

    /// log2 of one object's size in bytes.
    ///
    /// `user_bits` is the caller's size argument: for `Untyped` the log2 of
    /// its size ([`MIN_UNTYPED_BITS`]`..=`[`MAX_UNTYPED_BITS`]), for `CNode`
    /// the log2 of its slot count (1..=20; a slot is 32 bytes). Other types
    /// have a fixed size and ignore it.
    pub fn size_bits(self, user_bits: u64) -> Result<u32, Error> {
        let bad = Error::BadUserBits {
            object: self,
            user_bits,
        };
        match self {
            ObjectType::Untyped => u32::try_from(user_bits)
                .ok()
                .filter(|b| (MIN_UNTYPED_BITS..=MAX_UNTYPED_BITS).contains(b))
                .ok_or(bad),
            ObjectType::CNode => {
                if (MIN_CNODE_RADIX..=MAX_CNODE_RADIX).contains(&user_bits) {
                    u32::try_from(user_bits)
                        .ok()
                        .and_then(|b| b.checked_add(SLOT_BITS))
                        .ok_or(bad)
                } else {
                    Err(bad)
                }
            }
            // Registers, the XSAVE area and scheduling state fit in 2 KiB.
            ObjectType::Tcb => Ok(11),
            ObjectType::Endpoint => Ok(4),
            ObjectType::Notification => Ok(5),
            ObjectType::Reply => Ok(5),
            ObjectType::PageTable => Ok(12),
            ObjectType::Frame4K => Ok(12),
            ObjectType::Frame2M => Ok(21),
        }
    }

    /// Whether objects of this type may be made from device untyped memory.
    ///
    /// Only untypeds and frames: device memory is not necessarily RAM and a
    /// device may change it, so the kernel must never keep its own state
    /// there.
    pub fn fits_device_memory(self) -> bool {
        matches!(
            self,
            ObjectType::Untyped | ObjectType::Frame4K | ObjectType::Frame2M
        )
    }

    /// The type's name as the ABI documents it.
    pub fn name(self) -> &'static str {
        match self {
            ObjectType::Untyped => "Untyped",
            ObjectType::CNode => "CNode",
            ObjectType::Tcb => "Tcb",
            ObjectType::Endpoint => "Endpoint",
            ObjectType::Notification => "Notification",
            ObjectType::Reply => "Reply",
            ObjectType::PageTable => "PageTable",
            ObjectType::Frame4K => "Frame4K",
            ObjectType::Frame2M => "Frame2M",
        }
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an untyped could not be made or retyped. Nothing was changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The untyped's size is outside 2^[`MIN_UNTYPED_BITS`] to
    /// 2^[`MAX_UNTYPED_BITS`] bytes.
    BadSizeBits { size_bits: u32 },
    /// The untyped's base is not a multiple of its size.
    Misaligned { base: u64, size_bits: u32 },
    /// The untyped's range would run past the top of the address space.
    EndOverflow { base: u64, size_bits: u32 },
    /// A retype asked for zero or more than [`MAX_RETYPE_COUNT`] objects.
    BadCount { count: u64 },
    /// Objects smaller than 2^[`MIN_OBJECT_BITS`] bytes are refused.
    ObjectTooSmall { obj_bits: u32 },
    /// An object would be larger than the whole untyped.
    ObjectTooBig { obj_bits: u32, size_bits: u32 },
    /// The objects need `needed` bytes above the watermark (alignment
    /// padding included) but only `left` are free.
    NoRoom { needed: u64, left: u64 },
    /// A plan that does not fit the untyped's free memory as it is now: made
    /// from another untyped, or before a later commit, or altered.
    StalePlan { first: u64, free_offset: u64 },
    /// The size argument for an object type is out of its range.
    BadUserBits { object: ObjectType, user_bits: u64 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::BadSizeBits { size_bits } => write!(
                f,
                "untyped size 2^{size_bits} bytes is outside 2^{MIN_UNTYPED_BITS}..=2^{MAX_UNTYPED_BITS}"
            ),
            Error::Misaligned { base, size_bits } => write!(
                f,
                "untyped base {base:#x} is not a multiple of its size 2^{size_bits}"
            ),
            Error::EndOverflow { base, size_bits } => write!(
                f,
                "untyped of 2^{size_bits} bytes at {base:#x} runs past the top of the address space"
            ),
            Error::BadCount { count } => write!(
                f,
                "retype of {count} objects: the count must be 1..={MAX_RETYPE_COUNT}"
            ),
            Error::ObjectTooSmall { obj_bits } => write!(
                f,
                "object size 2^{obj_bits} bytes is below the minimum 2^{MIN_OBJECT_BITS}"
            ),
            Error::ObjectTooBig {
                obj_bits,
                size_bits,
            } => write!(
                f,
                "object size 2^{obj_bits} bytes exceeds the untyped's 2^{size_bits}"
            ),
            Error::NoRoom { needed, left } => write!(
                f,
                "retype needs {needed:#x} bytes above the watermark (alignment included) \
                 but the untyped has {left:#x} left"
            ),
            Error::StalePlan { first, free_offset } => write!(
                f,
                "retype plan placing objects at {first:#x} does not fit the untyped's free \
                 memory above offset {free_offset:#x}"
            ),
            Error::BadUserBits { object, user_bits } => match object {
                ObjectType::Untyped => write!(
                    f,
                    "untyped size argument {user_bits} is outside \
                     {MIN_UNTYPED_BITS}..={MAX_UNTYPED_BITS}"
                ),
                ObjectType::CNode => write!(
                    f,
                    "CNode radix {user_bits} is outside {MIN_CNODE_RADIX}..={MAX_CNODE_RADIX}"
                ),
                _ => write!(f, "size argument {user_bits} is invalid for {object}"),
            },
        }
    }
}

impl Untyped {
    /// An untyped of `2^size_bits` bytes at `base`, all of it free.
    pub fn new(base: u64, size_bits: u32, is_device: bool) -> Result<Self, Error> {
        let untyped = Untyped {
            base,
            size_bits,
            free_offset: 0,
            is_device,
        };
        untyped.size()?;
        Ok(untyped)
    }

    /// Where `count` objects of `2^obj_bits` bytes each would go: back to
    /// back from the first multiple of their size at or above the watermark.
    /// Changes nothing; [`Untyped::commit`] applies the plan.
    pub fn plan_retype(&self, obj_bits: u32, count: u64) -> Result<Retype, Error> {
        let size = self.size()?;
        if count == 0 || count > MAX_RETYPE_COUNT {
            return Err(Error::BadCount { count });
        }
        if obj_bits < MIN_OBJECT_BITS {
            return Err(Error::ObjectTooSmall { obj_bits });
        }
        if obj_bits > self.size_bits {
            return Err(Error::ObjectTooBig {
                obj_bits,
                size_bits: self.size_bits,
            });
        }
        let left = size.saturating_sub(self.free_offset);
        // obj_bits <= size_bits <= 47 and count <= 2^8 keep these far below
        // 2^64; an overflow could only come from a corrupted watermark, and
        // then there is no room either.
        let no_room = Error::NoRoom {
            needed: u64::MAX,
            left,
        };
        let object_size = 1u64.checked_shl(obj_bits).ok_or(no_room)?;
        let start = self
            .free_offset
            .checked_next_multiple_of(object_size)
            .ok_or(no_room)?;
        let end = count
            .checked_mul(object_size)
            .and_then(|bytes| start.checked_add(bytes))
            .ok_or(no_room)?;
        if end > size {
            return Err(Error::NoRoom {
                needed: end.saturating_sub(self.free_offset),
                left,
            });
        }
        Ok(Retype {
            // start < end <= size and base + size fits (checked by size()).
            first: self.base.checked_add(start).ok_or(no_room)?,
            obj_bits,
            count,
            new_free_offset: end,
        })
    }

    /// Apply a plan from [`Untyped::plan_retype`]: raise the watermark past
    /// its objects.
    ///
    /// The plan is checked against the untyped as it is now, so a plan made
    /// from another untyped, made before a later commit, or altered by hand is
    /// refused with [`Error::StalePlan`] whenever its objects would not lie
    /// wholly in free memory. The watermark never moves down.
    pub fn commit(&mut self, plan: &Retype) -> Result<(), Error> {
        let stale = Error::StalePlan {
            first: plan.first,
            free_offset: self.free_offset,
        };
        let size = self.size()?;
        let object_size = 1u64.checked_shl(plan.obj_bits).ok_or(stale)?;
        let start = plan.first.checked_sub(self.base).ok_or(stale)?;
        let end = plan
            .count
            .checked_mul(object_size)
            .and_then(|bytes| start.checked_add(bytes))
            .ok_or(stale)?;
        let fits = plan.count > 0
            && plan.obj_bits >= MIN_OBJECT_BITS
            && start >= self.free_offset
            && start.is_multiple_of(object_size)
            && end <= size
            && end == plan.new_free_offset;
        if !fits {
            return Err(stale);
        }
        self.free_offset = end;
        Ok(())
    }

    /// Free the whole range again. Only for when every object made from this
    /// untyped has been destroyed (its capability's descendants revoked).
    pub fn reset(&mut self) {
        self.free_offset = 0;
    }

    /// Bytes above the watermark (some may be lost to alignment later).
    pub fn free_bytes(&self) -> u64 {
        self.size()
            .map_or(0, |size| size.saturating_sub(self.free_offset))
    }

    /// The size in bytes, after checking `size_bits`, `base` and the end.
    fn size(&self) -> Result<u64, Error> {
        let Untyped {
            base, size_bits, ..
        } = *self;
        if !(MIN_UNTYPED_BITS..=MAX_UNTYPED_BITS).contains(&size_bits) {
            return Err(Error::BadSizeBits { size_bits });
        }
        let size = 1u64
            .checked_shl(size_bits)
            .ok_or(Error::BadSizeBits { size_bits })?;
        if !base.is_multiple_of(size) {
            return Err(Error::Misaligned { base, size_bits });
        }
        // An exclusive end of exactly 2^64 cannot be represented either.
        base.checked_add(size)
            .ok_or(Error::EndOverflow { base, size_bits })?;
        Ok(size)
    }
}

#[cfg(test)]
mod tests;
