//! Capabilities: what a slot holds, how it is stored, and how it may be
//! derived.
//!
//! A capability is stored as two words ([`RawCap`]) inside a 32-byte slot
//! (the other two words hold the derivation-tree links, see [`crate::cdt`]).
//! [`RawCap::decode`] accepts only words [`Cap::encode`] can produce, so a
//! corrupted slot is noticed rather than trusted.
//!
//! Stored form, word 0: bits 0–4 type, 5–8 rights, 9–11 zero, 12–63 the
//! object's physical address shifted right by 4 (objects are at least
//! 16-byte aligned and below 2^56). Word 1 is type-specific (see each
//! variant). Mapped frames and page tables record the address-space id
//! (ASID) and virtual page they are mapped at; the ASID indirection through
//! a kernel-owned table means a capability that outlives its address space
//! can never lead the kernel to walk freed memory as page tables.

use bitflags::bitflags;
use core::fmt;
use septum_abi::object::{cap_type, rights};

bitflags! {
    /// What a capability allows beyond naming its object.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Rights: u8 {
        /// Receive (endpoints), wait (notifications), read (frames).
        const READ = rights::READ as u8;
        /// Send (endpoints), signal (notifications), write (frames).
        const WRITE = rights::WRITE as u8;
        /// Transfer capabilities through an endpoint.
        const GRANT = rights::GRANT as u8;
        /// Transfer the reply right of a `Call`.
        const GRANT_REPLY = rights::GRANT_REPLY as u8;
    }
}

/// Where a capability's rights bits sit in its stored word 0 (above the
/// five bits of its type code).
pub const RIGHTS_SHIFT: u32 = 5;

/// The kinds of capability, with their stored codes (the ABI's, which
/// identify reports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CapType {
    Null = cap_type::NULL as u8,
    Untyped = cap_type::UNTYPED as u8,
    CNode = cap_type::CNODE as u8,
    Tcb = cap_type::TCB as u8,
    Endpoint = cap_type::ENDPOINT as u8,
    Notification = cap_type::NOTIFICATION as u8,
    Reply = cap_type::REPLY as u8,
    PageTable = cap_type::PAGE_TABLE as u8,
    Frame = cap_type::FRAME as u8,
    AsidPool = cap_type::ASID_POOL as u8,
    IrqControl = cap_type::IRQ_CONTROL as u8,
    IrqHandler = cap_type::IRQ_HANDLER as u8,
    IoPortControl = cap_type::IO_PORT_CONTROL as u8,
    IoPort = cap_type::IO_PORT as u8,
    Zombie = cap_type::ZOMBIE as u8,
    SchedControl = cap_type::SCHED_CONTROL as u8,
}

impl CapType {
    const ALL: [CapType; 16] = [
        CapType::Null,
        CapType::Untyped,
        CapType::CNode,
        CapType::Tcb,
        CapType::Endpoint,
        CapType::Notification,
        CapType::Reply,
        CapType::PageTable,
        CapType::Frame,
        CapType::AsidPool,
        CapType::IrqControl,
        CapType::IrqHandler,
        CapType::IoPortControl,
        CapType::IoPort,
        CapType::Zombie,
        CapType::SchedControl,
    ];

    /// Decode a stored type code.
    pub fn from_code(code: u8) -> Option<CapType> {
        Self::ALL.get(code as usize).copied()
    }
}

/// Where a frame or page table is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The address space, by its entry in the kernel's ASID table.
    pub asid: u16,
    /// Virtual address of the mapping (page aligned, canonical).
    pub vaddr: u64,
}

/// A decoded capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    /// An empty slot.
    Null,
    /// 2^size_bits bytes of physical memory at `base`; objects are carved
    /// from `free_offset` upward. Word 1: size_bits (6), is_device (1),
    /// free_offset (bits 8–55).
    Untyped {
        base: u64,
        size_bits: u8,
        is_device: bool,
        free_offset: u64,
    },
    /// A table of 2^radix slots. Resolution first matches `guard_bits`
    /// bits of the pointer against `guard`. Word 1: radix (5), guard_bits
    /// (6), guard (bits 11–63).
    CNode {
        object: u64,
        radix: u8,
        guard_bits: u8,
        guard: u64,
    },
    /// A thread.
    Tcb { object: u64 },
    /// A rendezvous point; word 1 is the badge (0 = unbadged).
    Endpoint {
        object: u64,
        rights: Rights,
        badge: u64,
    },
    /// A signal word; word 1 is the badge (0 = unbadged).
    Notification {
        object: u64,
        rights: Rights,
        badge: u64,
    },
    /// The right to answer one `Call`.
    Reply { object: u64 },
    /// One page-table level (1 = PT … 4 = PML4, i.e. an address space).
    /// Word 1: level (2, stored minus one), mapped (1), ASID (16), virtual
    /// page number (36). For a PML4, `mapped` is its own ASID assignment.
    PageTable {
        object: u64,
        level: u8,
        mapping: Option<Mapping>,
    },
    /// A 4 KiB or 2 MiB frame. Word 1 as for page tables, with the size in
    /// place of the level.
    Frame {
        object: u64,
        rights: Rights,
        huge: bool,
        mapping: Option<Mapping>,
    },
    /// The right to assign ASIDs `first..first+count` to address spaces.
    /// Word 1: first (16), count (17).
    AsidPool { first: u16, count: u32 },
    /// The right to create IRQ handlers.
    IrqControl,
    /// One interrupt line. Word 1: the IRQ number.
    IrqHandler { irq: u8 },
    /// The right to create I/O-port capabilities.
    IoPortControl,
    /// The I/O ports `first..=last`. Word 1: first (16), last (16).
    IoPort { first: u16, last: u16 },
    /// The right to set the time-partition schedule and to put threads in
    /// partitions.
    SchedControl,
    /// A CNode or TCB being destroyed: the last capability to it, turned
    /// into a record of the work left. The first `count` slots may still
    /// hold capabilities; they are deleted from the end. A TCB has 4 slots,
    /// a CNode 2^radix. `resume` is the slot (0: none) of the zombie that
    /// waits for this one to finish; `behind` counts the zombies waiting
    /// in that chain. A zombie with a `waker` (not 0) is itself parked in
    /// one of its own object's slots, waiting for the zombie in slot
    /// `waker` (whose `resume` names it); such a zombie records neither
    /// `object` nor `count` (both 0): its slot's address gives them.
    /// Word 0: type, `tcb` (bit 5), radix (bits 6–10), waiting (bit 11),
    /// `resume >> 4` (bits 12–63); word 1: `waker`, or the object's
    /// address OR `count` (the object is aligned to its size, which exceeds
    /// its slot count), in bits 0–41, and `behind` in bits 42–63.
    Zombie {
        object: u64,
        tcb: bool,
        radix: u8,
        count: u64,
        resume: u64,
        waker: u64,
        behind: u32,
    },
}

/// The stored form of a capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RawCap {
    pub w0: u64,
    pub w1: u64,
}

/// Why two words are not a capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    UnknownType { code: u8 },
    ReservedBits { w0: u64, w1: u64 },
    BadField { field: &'static str, value: u64 },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::UnknownType { code } => write!(f, "unknown capability type {code}"),
            DecodeError::ReservedBits { w0, w1 } => {
                write!(f, "reserved bits set in capability words {w0:#x} {w1:#x}")
            }
            DecodeError::BadField { field, value } => {
                write!(
                    f,
                    "capability field {field} has impossible value {value:#x}"
                )
            }
        }
    }
}

/// Why a capability cannot be derived as asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeriveError {
    /// This kind of capability is never copied (untyped, reply, page
    /// tables below the PML4, null): it may only be moved.
    NotCopyable(CapType),
    /// The capability already has a badge; a badge is set once.
    AlreadyBadged,
    /// A badge was asked for a kind that has none.
    NoBadge(CapType),
    /// A CNode guard that does not fit: radix plus guard bits above 64, or
    /// a guard value wider than its bits (or than the encoding's 53).
    BadGuard,
}

impl fmt::Display for DeriveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DeriveError::NotCopyable(t) => write!(f, "{t:?} capabilities cannot be copied"),
            DeriveError::AlreadyBadged => write!(f, "the capability already has a badge"),
            DeriveError::NoBadge(t) => write!(f, "{t:?} capabilities carry no badge"),
            DeriveError::BadGuard => write!(f, "the CNode guard does not fit"),
        }
    }
}

/// Slots a zombie's object has: 4 for a TCB, 2^radix for a CNode.
pub fn zombie_slots(tcb: bool, radix: u8) -> u64 {
    if tcb { 4 } else { 1 << (radix & 0x1f) }
}

/// The low bits of a zombie object's address that hold its count: a TCB
/// is 2 KiB aligned, a CNode aligned to its size (32 bytes a slot).
fn zombie_mask(tcb: bool, radix: u8) -> u64 {
    let bits = if tcb { 11 } else { u32::from(radix & 0x1f) + 5 };
    (1u64 << bits) - 1
}

/// Bits of a physical address a zombie's second word keeps (its object's
/// or its waker's): the kernel maps no memory at or above 2^42.
pub const ZOMBIE_ADDR_BITS: u32 = 42;
const ZOMBIE_ADDR_MASK: u64 = (1 << ZOMBIE_ADDR_BITS) - 1;

/// Largest physical address (exclusive) an object may have.
pub const MAX_PHYS: u64 = 1 << 56;
const VPN_BITS: u32 = 36;

fn obj_field(w0: u64) -> u64 {
    (w0 >> 12) << 4
}

fn mapping_bits(m: Option<Mapping>) -> u64 {
    match m {
        None => 0,
        Some(m) => 1 | (u64::from(m.asid) << 1) | (((m.vaddr >> 12) & ((1 << VPN_BITS) - 1)) << 17),
    }
}

fn mapping_of(w: u64) -> Option<Mapping> {
    if w & 1 == 0 {
        return None;
    }
    let vpn = (w >> 17) & ((1 << VPN_BITS) - 1);
    // Sign-extend the 48-bit address from its page number.
    let vaddr = (((vpn << 12) << 16) as i64 >> 16) as u64;
    Some(Mapping {
        asid: ((w >> 1) & 0xffff) as u16,
        vaddr,
    })
}

impl Cap {
    /// The capability's type.
    pub fn cap_type(&self) -> CapType {
        match self {
            Cap::Null => CapType::Null,
            Cap::Untyped { .. } => CapType::Untyped,
            Cap::CNode { .. } => CapType::CNode,
            Cap::Tcb { .. } => CapType::Tcb,
            Cap::Endpoint { .. } => CapType::Endpoint,
            Cap::Notification { .. } => CapType::Notification,
            Cap::Reply { .. } => CapType::Reply,
            Cap::PageTable { .. } => CapType::PageTable,
            Cap::Frame { .. } => CapType::Frame,
            Cap::AsidPool { .. } => CapType::AsidPool,
            Cap::IrqControl => CapType::IrqControl,
            Cap::IrqHandler { .. } => CapType::IrqHandler,
            Cap::IoPortControl => CapType::IoPortControl,
            Cap::IoPort { .. } => CapType::IoPort,
            Cap::SchedControl => CapType::SchedControl,
            Cap::Zombie { .. } => CapType::Zombie,
        }
    }

    /// The rights it carries. Kinds without rights of their own have all of
    /// them: what they allow is decided by their type alone.
    pub fn rights(&self) -> Rights {
        match *self {
            Cap::Endpoint { rights, .. }
            | Cap::Notification { rights, .. }
            | Cap::Frame { rights, .. } => rights,
            _ => Rights::all(),
        }
    }

    /// The kernel object it names (its physical address), if any.
    pub fn object(&self) -> Option<u64> {
        match *self {
            Cap::Untyped { base, .. } => Some(base),
            Cap::CNode { object, .. }
            | Cap::Tcb { object }
            | Cap::Endpoint { object, .. }
            | Cap::Notification { object, .. }
            | Cap::Reply { object }
            | Cap::PageTable { object, .. }
            | Cap::Frame { object, .. }
            | Cap::Zombie {
                object, waker: 0, ..
            } => Some(object),
            // A waiting zombie does not record its object (its slot lies in it).
            _ => None,
        }
    }

    /// The badge of an endpoint or notification capability (0 = none).
    pub fn badge(&self) -> u64 {
        match *self {
            Cap::Endpoint { badge, .. } | Cap::Notification { badge, .. } => badge,
            _ => 0,
        }
    }

    /// Encode for storage. Fields beyond their stored width are cut; the
    /// kernel only builds capabilities from checked values.
    pub fn encode(&self) -> RawCap {
        let head = |t: CapType, rights: Rights, object: u64| {
            t as u64 | (u64::from(rights.bits()) << RIGHTS_SHIFT) | ((object >> 4) << 12)
        };
        let (w0, w1) = match *self {
            Cap::Null => (0, 0),
            Cap::Untyped {
                base,
                size_bits,
                is_device,
                free_offset,
            } => (
                head(CapType::Untyped, Rights::empty(), base),
                u64::from(size_bits & 0x3f)
                    | (u64::from(is_device) << 6)
                    | ((free_offset & ((1 << 48) - 1)) << 8),
            ),
            Cap::CNode {
                object,
                radix,
                guard_bits,
                guard,
            } => (
                head(CapType::CNode, Rights::empty(), object),
                u64::from(radix & 0x1f) | (u64::from(guard_bits & 0x3f) << 5) | (guard << 11),
            ),
            Cap::Tcb { object } => (head(CapType::Tcb, Rights::empty(), object), 0),
            Cap::Endpoint {
                object,
                rights,
                badge,
            } => (head(CapType::Endpoint, rights, object), badge),
            Cap::Notification {
                object,
                rights,
                badge,
            } => (head(CapType::Notification, rights, object), badge),
            Cap::Reply { object } => (head(CapType::Reply, Rights::empty(), object), 0),
            Cap::PageTable {
                object,
                level,
                mapping,
            } => (
                head(CapType::PageTable, Rights::empty(), object),
                (mapping_bits(mapping) << 2) | u64::from(level.wrapping_sub(1) & 3),
            ),
            Cap::Frame {
                object,
                rights,
                huge,
                mapping,
            } => (
                head(CapType::Frame, rights, object),
                (mapping_bits(mapping) << 2) | u64::from(huge),
            ),
            Cap::AsidPool { first, count } => (
                CapType::AsidPool as u64,
                u64::from(first) | (u64::from(count & 0x1_ffff) << 16),
            ),
            Cap::IrqControl => (CapType::IrqControl as u64, 0),
            Cap::IrqHandler { irq } => (CapType::IrqHandler as u64, u64::from(irq)),
            Cap::IoPortControl => (CapType::IoPortControl as u64, 0),
            Cap::IoPort { first, last } => (
                CapType::IoPort as u64,
                u64::from(first) | (u64::from(last) << 16),
            ),
            Cap::SchedControl => (CapType::SchedControl as u64, 0),
            Cap::Zombie {
                object,
                tcb,
                radix,
                count,
                resume,
                waker,
                behind,
            } => (
                CapType::Zombie as u64
                    | (u64::from(tcb) << 5)
                    | (u64::from(radix & 0x1f) << 6)
                    | (u64::from(waker != 0) << 11)
                    | ((resume >> 4) << 12),
                (if waker != 0 {
                    waker
                } else {
                    object | (count & zombie_mask(tcb, radix))
                }) & ZOMBIE_ADDR_MASK
                    | (u64::from(behind) << ZOMBIE_ADDR_BITS),
            ),
        };
        RawCap { w0, w1 }
    }

    /// A capability derived from this one for copy (`rights` = all, no
    /// badge) or mint: rights are intersected, never widened; a badge may
    /// be set only on an unbadged endpoint or notification capability. A
    /// derived frame capability is unmapped: each mapping needs its own.
    ///
    /// Minting a CNode capability with a nonzero badge word sets its guard
    /// instead, as seL4 does: guard bits in bits 0–5, the guard value
    /// above (`guard_bits | guard << 6`). A guard only changes how
    /// pointers resolve through the CNode, never what it holds.
    pub fn derive(&self, rights: Rights, badge: Option<u64>) -> Result<Cap, DeriveError> {
        let t = self.cap_type();
        if let (Cap::CNode { object, radix, .. }, Some(word)) = (*self, badge)
            && word != 0
        {
            let guard_bits = (word & 0x3f) as u8;
            let guard = word >> 6;
            let fits = u32::from(radix) + u32::from(guard_bits) <= 64
                && guard >> guard_bits == 0
                && guard >> 53 == 0;
            if !fits {
                return Err(DeriveError::BadGuard);
            }
            return Ok(Cap::CNode {
                object,
                radix,
                guard_bits,
                guard,
            });
        }
        let new_badge = |old: u64| match badge {
            None | Some(0) => Ok(old),
            Some(_) if old != 0 => Err(DeriveError::AlreadyBadged),
            Some(b) => Ok(b),
        };
        if badge.is_some_and(|b| b != 0) && !matches!(t, CapType::Endpoint | CapType::Notification)
        {
            return Err(DeriveError::NoBadge(t));
        }
        Ok(match *self {
            // A PML4 names an address space: threads hold copies of it. Lower
            // levels are mapped at one place each and only move.
            Cap::PageTable { level: 4, .. } => *self,
            Cap::Null
            | Cap::Untyped { .. }
            | Cap::Reply { .. }
            | Cap::PageTable { .. }
            | Cap::Zombie { .. } => {
                return Err(DeriveError::NotCopyable(t));
            }
            Cap::Endpoint {
                object,
                rights: r,
                badge: b,
            } => Cap::Endpoint {
                object,
                rights: r & rights,
                badge: new_badge(b)?,
            },
            Cap::Notification {
                object,
                rights: r,
                badge: b,
            } => Cap::Notification {
                object,
                rights: r & rights,
                badge: new_badge(b)?,
            },
            Cap::Frame {
                object,
                rights: r,
                huge,
                ..
            } => Cap::Frame {
                object,
                rights: r & rights,
                huge,
                mapping: None,
            },
            other => other,
        })
    }
}

impl RawCap {
    /// The stored type, without decoding the rest. For hot paths reading
    /// slots only the kernel writes ([`RawCap::decode`] checks a whole
    /// capability against its encoding, which costs several times more).
    #[inline]
    pub fn kind(self) -> Option<CapType> {
        CapType::from_code((self.w0 & 0x1f) as u8)
    }

    /// The stored rights bits (see [`RawCap::kind`]).
    #[inline]
    pub fn rights(self) -> Rights {
        Rights::from_bits_truncate((self.w0 >> RIGHTS_SHIFT & 0xf) as u8)
    }

    /// The stored object address (see [`RawCap::kind`]).
    #[inline]
    pub fn object(self) -> u64 {
        obj_field(self.w0)
    }

    /// Where a frame or page-table capability is mapped (see
    /// [`RawCap::kind`]).
    #[inline]
    pub fn mapping(self) -> Option<Mapping> {
        mapping_of(self.w1 >> 2)
    }

    /// The level (1–4) of a page-table capability (see [`RawCap::kind`]).
    #[inline]
    pub fn table_level(self) -> u8 {
        (self.w1 & 3) as u8 + 1
    }

    /// Whether a frame capability names a 2 MiB frame (see [`RawCap::kind`]).
    #[inline]
    pub fn is_huge_frame(self) -> bool {
        self.w1 & 1 != 0
    }

    /// The empty slot.
    pub const NULL: RawCap = RawCap { w0: 0, w1: 0 };

    /// The type code, without checking the rest.
    pub fn cap_type(&self) -> Option<CapType> {
        CapType::from_code((self.w0 & 0x1f) as u8)
    }

    /// Decode, refusing anything [`Cap::encode`] cannot produce.
    pub fn decode(self) -> Result<Cap, DecodeError> {
        let cap = self.decode_fields()?;
        // Canonical form: whatever encode makes of it must be exactly these
        // words; this rejects every reserved or impossible bit at once.
        if cap.encode() != self {
            return Err(DecodeError::ReservedBits {
                w0: self.w0,
                w1: self.w1,
            });
        }
        Ok(cap)
    }

    /// [`RawCap::decode`] without the round trip through [`Cap::encode`]:
    /// every field is still checked for what makes it usable (a known type,
    /// an untyped's size, a CNode's radix and guard, an ASID range), but
    /// reserved bits are not. For slots only the kernel writes, on paths
    /// every call takes; the invariant check (`DebugCheck`) and the host
    /// tests use the full [`RawCap::decode`], so an encoding bug still shows.
    #[inline]
    pub fn decode_trusted(self) -> Result<Cap, DecodeError> {
        self.decode_fields()
    }

    fn decode_fields(self) -> Result<Cap, DecodeError> {
        let RawCap { w0, w1 } = self;
        let code = (w0 & 0x1f) as u8;
        let t = CapType::from_code(code).ok_or(DecodeError::UnknownType { code })?;
        let rights = Rights::from_bits((w0 >> RIGHTS_SHIFT & 0xf) as u8).unwrap_or(Rights::empty());
        let object = obj_field(w0);
        let cap = match t {
            CapType::Null => Cap::Null,
            CapType::Untyped => Cap::Untyped {
                base: object,
                size_bits: (w1 & 0x3f) as u8,
                is_device: w1 & 0x40 != 0,
                free_offset: (w1 >> 8) & ((1 << 48) - 1),
            },
            CapType::CNode => Cap::CNode {
                object,
                radix: (w1 & 0x1f) as u8,
                guard_bits: (w1 >> 5 & 0x3f) as u8,
                guard: w1 >> 11,
            },
            CapType::Tcb => Cap::Tcb { object },
            CapType::Endpoint => Cap::Endpoint {
                object,
                rights,
                badge: w1,
            },
            CapType::Notification => Cap::Notification {
                object,
                rights,
                badge: w1,
            },
            CapType::Reply => Cap::Reply { object },
            CapType::PageTable => Cap::PageTable {
                object,
                level: (w1 & 3) as u8 + 1,
                mapping: mapping_of(w1 >> 2),
            },
            CapType::Frame => Cap::Frame {
                object,
                rights,
                huge: w1 & 1 != 0,
                mapping: mapping_of(w1 >> 2),
            },
            CapType::AsidPool => Cap::AsidPool {
                first: (w1 & 0xffff) as u16,
                count: (w1 >> 16 & 0x1_ffff) as u32,
            },
            CapType::IrqControl => Cap::IrqControl,
            CapType::IrqHandler => Cap::IrqHandler {
                irq: (w1 & 0xff) as u8,
            },
            CapType::IoPortControl => Cap::IoPortControl,
            CapType::IoPort => Cap::IoPort {
                first: (w1 & 0xffff) as u16,
                last: (w1 >> 16 & 0xffff) as u16,
            },
            CapType::SchedControl => Cap::SchedControl,
            CapType::Zombie => {
                let (tcb, radix) = (w0 & (1 << 5) != 0, ((w0 >> 6) & 0x1f) as u8);
                let mask = zombie_mask(tcb, radix);
                let low = w1 & ZOMBIE_ADDR_MASK;
                let waiting = w0 & (1 << 11) != 0;
                Cap::Zombie {
                    object: if waiting { 0 } else { low & !mask },
                    tcb,
                    radix,
                    count: if waiting { 0 } else { low & mask },
                    resume: obj_field(w0),
                    waker: if waiting { low } else { 0 },
                    behind: (w1 >> ZOMBIE_ADDR_BITS) as u32,
                }
            }
        };
        match cap {
            Cap::Untyped { size_bits, .. } if !(12..=47).contains(&size_bits) => {
                Err(DecodeError::BadField {
                    field: "untyped size_bits",
                    value: size_bits.into(),
                })
            }
            Cap::CNode {
                radix, guard_bits, ..
            } if radix == 0 || radix + guard_bits > 64 => Err(DecodeError::BadField {
                field: "cnode radix",
                value: radix.into(),
            }),
            Cap::AsidPool { first, count } if u32::from(first) + count > 1 << 16 => {
                Err(DecodeError::BadField {
                    field: "asid pool range",
                    value: count.into(),
                })
            }
            Cap::Zombie {
                tcb, radix, count, ..
            } if count > zombie_slots(tcb, radix) => Err(DecodeError::BadField {
                field: "zombie count",
                value: count,
            }),
            Cap::Zombie {
                tcb: false,
                radix: 0,
                ..
            }
            | Cap::Zombie {
                tcb: true,
                radix: 1..,
                ..
            } => Err(DecodeError::BadField {
                field: "zombie radix",
                value: 0,
            }),
            Cap::IoPort { first, last } if first > last => Err(DecodeError::BadField {
                field: "io port range",
                value: first.into(),
            }),
            _ => Ok(cap),
        }
    }
}

#[cfg(test)]
mod tests;
