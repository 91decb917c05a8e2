//! The compiled description: the boot image's `system` entry, which the
//! root task reads to build the system.
//!
//! It needs no allocator to read. The payload is `postcard`; every list is a
//! [`Table`], a count and the bytes of its items, decoded one item at a time
//! when iterated, so reading the description costs a few words of stack
//! however large it is. Strings are borrowed from the image.
//!
//! [`System::decode`] is the checked decoder: it verifies the header and
//! checksum, decodes every item of every table, and checks everything the
//! root task relies on (every index names something that exists, every
//! address is page-aligned user memory, no two mappings of a domain
//! overlap, windows fit the major frame in order, slots are in range). It
//! never panics; a refusal says what is wrong. After it succeeds, iterating
//! any table yields exactly its items.
//!
//! Layout, little-endian:
//!
//! ```text
//! 0   magic        [u8; 8]  b"SEPTSYS\0"
//! 8   format       u32      FORMAT_VERSION
//! 12  payload_len  u32      bytes after the header
//! 16  checksum     u64      FNV-1a 64 of the payload
//! 24  payload      postcard encoding of System
//! ```

use crate::layout;
use core::fmt;
use core::marker::PhantomData;
use serde::{Deserialize, Serialize};

/// The first eight bytes of a compiled description.
pub const MAGIC: [u8; 8] = *b"SEPTSYS\0";
/// The version of this layout.
pub const FORMAT_VERSION: u32 = 1;
/// The header's size.
pub const HEADER_SIZE: usize = 24;
/// The description schema this code reads (the TOML file's `schema`).
pub const SCHEMA: u32 = 1;
/// The boot-image entry name the build tool gives the compiled description.
pub const ENTRY_NAME: &str = "system";

// ---------------------------------------------------------------------------
// Items with no borrowed data: the same types in the image and in the host's
// model.

/// Capability rights (the kernel's read, write, grant and grant-reply).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rights {
    pub read: bool,
    pub write: bool,
    pub grant: bool,
    pub grant_reply: bool,
}

impl Rights {
    /// No rights: for objects whose capabilities carry none (CNode, TCB, …).
    pub const NONE: Rights = Rights {
        read: false,
        write: false,
        grant: false,
        grant_reply: false,
    };
    /// Read only: receive on an endpoint, wait on a notification.
    pub const READ: Rights = Rights {
        read: true,
        ..Rights::NONE
    };
    /// Read and write (an IPC buffer frame).
    pub const READ_WRITE: Rights = Rights {
        read: true,
        write: true,
        ..Rights::NONE
    };
    /// Write only: signal a notification.
    pub const WRITE: Rights = Rights {
        write: true,
        ..Rights::NONE
    };

    /// The kernel's rights word (`septum_abi::object::rights`).
    pub const fn bits(self) -> u64 {
        use septum_abi::object::rights;
        (if self.read { rights::READ } else { 0 })
            | (if self.write { rights::WRITE } else { 0 })
            | (if self.grant { rights::GRANT } else { 0 })
            | (if self.grant_reply {
                rights::GRANT_REPLY
            } else {
                0
            })
    }
}

impl fmt::Display for Rights {
    /// `r`, `w`, `g`, `G` (grant-reply) or `-` for each right in turn.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (on, c) in [
            (self.read, 'r'),
            (self.write, 'w'),
            (self.grant, 'g'),
            (self.grant_reply, 'G'),
        ] {
            fmt::Write::write_char(f, if on { c } else { '-' })?;
        }
        Ok(())
    }
}

/// What a capability slot of a domain holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Object {
    /// The domain's own CNode.
    CNode,
    /// Its own thread.
    Tcb,
    /// Its own address space.
    VSpace,
    /// Its IPC buffer frame.
    IpcBuffer,
    /// An end of endpoint channel `channel`; the rights say which end.
    Endpoint { channel: u16 },
    /// An end of notification channel `channel`.
    Notification { channel: u16 },
    /// The notification the domain's IRQs signal.
    IrqNotification,
    /// The handler of IRQ `line`; the capability's badge is the bit the
    /// line sets in the IRQ notification.
    IrqHandler { line: u8 },
    /// I/O ports `first..=last`.
    IoPort { first: u16, last: u16 },
    /// A reply object, for answering calls.
    Reply,
    /// Untyped memory of 2^`size_bits` bytes, part of the domain's quota.
    Untyped { size_bits: u8 },
    /// The right to give address spaces the ids `first..first + count`
    /// (a pool issued from the root task's, `asids` in the description):
    /// what a guest kernel needs to make its processes' address spaces.
    /// The compiler gives each domain a range no other domain's overlaps.
    AsidPool { first: u16, count: u16 },
    /// What a vmm builds guest `guest`'s kernel from (its CNode, thread,
    /// address space, kernel and stack): an untyped the root task sizes at
    /// boot. Revoking it, and the guest's memory, takes the guest down.
    GuestBuild { guest: u16 },
    /// One piece of guest `guest`'s quota (a vmm's), 2^`size_bits` bytes:
    /// the vmm gives the guest an untyped of the same size made from it.
    GuestMemory { guest: u16, size_bits: u8 },
}

/// One capability a domain starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cap {
    /// Its slot (= capability pointer) in the domain's CNode.
    pub slot: u32,
    pub object: Object,
    pub rights: Rights,
    /// Endpoint and notification badge (0 = none); for an IRQ handler, the
    /// bit it sets in the IRQ notification.
    pub badge: u64,
}

/// How a page is mapped: always readable; writable or executable, never
/// both (the kernel keeps W^X for every mapping).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MapRights {
    Read,
    ReadWrite,
    ReadExecute,
}

impl MapRights {
    /// `r`, `rw` or `rx`, as the description spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            MapRights::Read => "r",
            MapRights::ReadWrite => "rw",
            MapRights::ReadExecute => "rx",
        }
    }
}

/// What a mapping shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mapped {
    /// Shared memory region `region`.
    Region { region: u16 },
    /// Device memory at physical address `phys`.
    Device { phys: u64 },
    /// Guest `guest`'s kernel, read-only, for its vmm: a page of launch
    /// facts (`GuestLaunch`), then the ELF from the next page. The root
    /// task maps as many pages as the ELF needs of this window.
    GuestKernel { guest: u16 },
}

/// A mapping the root task makes in a domain's address space, besides its
/// program, stack and IPC buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub vaddr: u64,
    pub size: u64,
    pub rights: MapRights,
    pub what: Mapped,
}

/// What the supervisor does when a domain's restarts run out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Then {
    /// Stop the domain and keep it stopped.
    Hold,
    /// Restart every domain of its group.
    RestartGroup,
    /// Restart the whole system.
    Reboot,
}

impl Then {
    /// The description's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Then::Hold => "hold",
            Then::RestartGroup => "restart-group",
            Then::Reboot => "reboot",
        }
    }
}

/// A domain's restart policy: restart it after a fault, at most `max` times
/// within `within_ns`, waiting `backoff_min_ns` before the first restart and
/// doubling up to `backoff_max_ns`; past that, `then`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restart {
    pub max: u32,
    pub within_ns: u64,
    pub backoff_min_ns: u64,
    pub backoff_max_ns: u64,
    pub then: Then,
}

impl Restart {
    /// Never restart: a fault stops the domain for good.
    pub const NEVER: Restart = Restart {
        max: 0,
        within_ns: 0,
        backoff_min_ns: 0,
        backoff_max_ns: 0,
        then: Then::Hold,
    };
}

/// The launch facts of a guest, on the first page of its
/// [`Mapped::GuestKernel`] window: the root task writes them from the
/// guest's record (and the length of its kernel's ELF, which starts on the
/// next page); its vmm reads them. The page is [`GUEST_LAUNCH_MAGIC`], the
/// payload's length (both little-endian words), then the payload in
/// postcard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestLaunch<'a> {
    pub name: &'a str,
    pub kernel: &'a str,
    pub elf_len: u64,
    pub memory: u64,
    pub priority: u8,
    pub stack_size: u64,
    pub asid_first: u16,
    pub asid_count: u16,
    pub cnode_radix: u8,
    pub restart: Restart,
    pub inject_fault_ns: u64,
    /// The vmm's own priority (it waits a backoff at the lowest).
    pub vmm_priority: u8,
}

/// The first word of a guest's launch page.
pub const GUEST_LAUNCH_MAGIC: u64 = u64::from_le_bytes(*b"SPTGUEST");

impl<'a> GuestLaunch<'a> {
    /// Write the launch page's bytes into `page`; how many, or `None` if
    /// they do not fit.
    pub fn write(&self, page: &mut [u8]) -> Option<usize> {
        let (head, body) = page.split_at_mut_checked(16)?;
        let n = postcard::to_slice(self, body).ok()?.len();
        head[..8].copy_from_slice(&GUEST_LAUNCH_MAGIC.to_le_bytes());
        head[8..].copy_from_slice(&(n as u64).to_le_bytes());
        Some(16 + n)
    }

    /// Read a launch page, checked: `None` if it is not one.
    pub fn read(page: &'a [u8]) -> Option<Self> {
        let word = |at: usize| -> Option<u64> {
            Some(u64::from_le_bytes(page.get(at..at + 8)?.try_into().ok()?))
        };
        if word(0)? != GUEST_LAUNCH_MAGIC {
            return None;
        }
        let n = usize::try_from(word(8)?).ok()?;
        let body = page.get(16..16usize.checked_add(n)?)?;
        postcard::from_bytes(body).ok()
    }
}

/// One window of the cyclic schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub partition: u16,
    /// Offset from the start of the major frame.
    pub start_ns: u64,
    pub length_ns: u64,
}

/// Endpoint or notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChannelKind {
    /// Synchronous calls: senders `Call`, the server receives and replies.
    Endpoint,
    /// Signals: senders `Signal`, the receiver `Wait`s.
    Notification,
}

impl ChannelKind {
    /// The description's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Endpoint => "endpoint",
            ChannelKind::Notification => "notification",
        }
    }
}

/// The sending end of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    pub domain: u16,
    pub badge: u64,
    /// Whether capabilities may travel with its calls.
    pub grant: bool,
}

/// I/O ports `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

/// Physical memory `[phys, phys + size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhysRange {
    pub phys: u64,
    pub size: u64,
}

// ---------------------------------------------------------------------------
// Tables.

/// A list in the image: `count` items, postcard-encoded back to back,
/// decoded when iterated.
pub struct Table<'a, T> {
    count: u32,
    bytes: &'a [u8],
    _item: PhantomData<fn() -> T>,
}

impl<T> Clone for Table<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Table<'_, T> {}

impl<T> fmt::Debug for Table<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Table({} items, {} bytes)", self.count, self.bytes.len())
    }
}

impl<'a, T> Table<'a, T> {
    /// A table of `count` items encoded in `bytes` (the encoder's side).
    pub fn from_raw(count: u32, bytes: &'a [u8]) -> Self {
        Table {
            count,
            bytes,
            _item: PhantomData,
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether it has no items.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl<'a, T: Deserialize<'a>> Table<'a, T> {
    /// The items in order. In a table [`System::decode`] accepted this
    /// yields exactly [`Table::len`] items.
    pub fn iter(&self) -> TableIter<'a, T> {
        TableIter {
            rest: self.bytes,
            left: self.count,
            _item: PhantomData,
        }
    }

    /// Item `index`.
    pub fn get(&self, index: usize) -> Option<T> {
        self.iter().nth(index)
    }

    /// Decode every item, checking each with `check`; refuse a table whose
    /// bytes are not exactly `count` items.
    fn check_each(
        &self,
        table: &'static str,
        mut check: impl FnMut(usize, T) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        let mut rest = self.bytes;
        for index in 0..self.count as usize {
            let (item, tail) = postcard::take_from_bytes::<T>(rest)
                .map_err(|_| DecodeError::Malformed { table, index })?;
            rest = tail;
            check(index, item)?;
        }
        if rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes { table })
        }
    }
}

/// Iterator over a [`Table`].
pub struct TableIter<'a, T> {
    rest: &'a [u8],
    left: u32,
    _item: PhantomData<fn() -> T>,
}

impl<'a, T: Deserialize<'a>> Iterator for TableIter<'a, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match postcard::take_from_bytes::<T>(self.rest) {
            Ok((item, rest)) => {
                self.rest = rest;
                Some(item)
            }
            // Only reachable for a table nobody checked.
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }
}

impl<T> Serialize for Table<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&self.count)?;
        t.serialize_element(&RawBytes(self.bytes))?;
        t.end()
    }
}

impl<'de: 'a, 'a, T> Deserialize<'de> for Table<'a, T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a, T>(PhantomData<fn(&'a ()) -> T>);
        impl<'de: 'a, 'a, T> serde::de::Visitor<'de> for V<'a, T> {
            type Value = Table<'a, T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count and the bytes of its items")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                use serde::de::Error;
                let count: u32 = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(0, &self))?;
                let RawBytes(bytes) = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(1, &self))?;
                Ok(Table::from_raw(count, bytes))
            }
        }
        d.deserialize_tuple(2, V(PhantomData))
    }
}

/// Bytes encoded as postcard bytes (a length and the bytes), borrowed when decoded.
struct RawBytes<'a>(&'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl<'de> Deserialize<'de> for RawBytes<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawBytes<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("borrowed bytes")
            }
            fn visit_borrowed_bytes<E: serde::de::Error>(
                self,
                v: &'de [u8],
            ) -> Result<Self::Value, E> {
                Ok(RawBytes(v))
            }
        }
        d.deserialize_bytes(V)
    }
}

// ---------------------------------------------------------------------------
// The description.

/// A compiled system description.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct System<'a> {
    /// The description schema it was compiled from ([`SCHEMA`]).
    pub schema: u32,
    /// The machine memory it was checked against, in bytes.
    pub machine_memory: u64,
    /// Length of the cyclic schedule's major frame.
    pub major_frame_ns: u64,
    #[serde(borrow)]
    pub partitions: Table<'a, Partition<'a>>,
    /// In time order, none overlapping, all inside the major frame.
    pub windows: Table<'a, Window>,
    #[serde(borrow)]
    pub domains: Table<'a, Domain<'a>>,
    #[serde(borrow)]
    pub channels: Table<'a, Channel<'a>>,
    #[serde(borrow)]
    pub regions: Table<'a, Region<'a>>,
    #[serde(borrow)]
    pub guests: Table<'a, Guest<'a>>,
}

/// A time partition.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Partition<'a> {
    pub name: &'a str,
    #[serde(borrow)]
    pub description: Option<&'a str>,
}

/// A protection domain: one program in its own address space and
/// capability space, with one thread.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Domain<'a> {
    pub name: &'a str,
    #[serde(borrow)]
    pub description: Option<&'a str>,
    /// The boot-image entry holding its ELF.
    pub program: &'a str,
    pub partition: u16,
    pub priority: u8,
    pub max_priority: u8,
    /// Domains of one group restart together (`Then::RestartGroup`).
    #[serde(borrow)]
    pub group: Option<&'a str>,
    pub restart: Restart,
    /// One past the top of the stack; an unmapped guard page lies below it.
    pub stack_top: u64,
    pub stack_size: u64,
    /// Where the IPC buffer page is mapped.
    pub ipc_buffer: u64,
    /// Its memory quota, handed over as the untyped capabilities in `caps`.
    pub memory: u64,
    /// Its CNode has 2^cnode_radix slots.
    pub cnode_radix: u8,
    /// Slots from here on are the domain's own.
    pub first_free_slot: u32,
    /// Every capability it starts with, by ascending slot.
    #[serde(borrow)]
    pub caps: Table<'a, Cap>,
    /// Its regions and device memory, by ascending address.
    #[serde(borrow)]
    pub maps: Table<'a, Mapping>,
}

/// The interface an endpoint channel carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceRef<'a> {
    pub name: &'a str,
    pub ordinal: u16,
    pub version: u16,
}

/// A channel: an endpoint or notification joining domains.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Channel<'a> {
    pub name: &'a str,
    #[serde(borrow)]
    pub description: Option<&'a str>,
    pub kind: ChannelKind,
    #[serde(borrow)]
    pub interface: Option<InterfaceRef<'a>>,
    /// The receiving domain: the server of an endpoint, the waiter of a
    /// notification.
    pub server: u16,
    #[serde(borrow)]
    pub senders: Table<'a, Sender>,
    /// A caller may have a higher priority than the server.
    pub allow_priority_inversion: bool,
}

/// A shared memory region.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Region<'a> {
    pub name: &'a str,
    #[serde(borrow)]
    pub description: Option<&'a str>,
    pub size: u64,
}

/// A guest kernel its vmm builds, gives memory and devices, and restarts
/// when it faults (`servers/vmm`, `docs/vmm.md`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Guest<'a> {
    pub name: &'a str,
    #[serde(borrow)]
    pub description: Option<&'a str>,
    /// The domain that runs it: it holds [`Object::GuestMemory`] and
    /// [`Mapped::GuestKernel`] for it.
    pub vmm: u16,
    /// Its vmm's partition (a guest's thread is made by its vmm, in the
    /// vmm's windows).
    pub partition: u16,
    /// The quota its kernel gets (its untypeds, largest first).
    pub memory: u64,
    /// The boot-image entry of its kernel.
    pub kernel: &'a str,
    /// Its kernel thread's priority (and maximum priority).
    pub priority: u8,
    pub stack_size: u64,
    /// The ids of the ASID pool it gets, a sub-range of its vmm's pool
    /// (whose first id is `asid_first - 1`: the kernel's own address space).
    pub asid_first: u16,
    pub asid_count: u16,
    /// Its CNode's radix: its grants and the free slots it asked for.
    pub cnode_radix: u8,
    /// What its vmm does when its kernel faults.
    pub restart: Restart,
    /// A test hook (`test_inject_fault`): nonzero, its vmm injects a fault
    /// into the guest's kernel this long after starting generation 1.
    pub inject_fault_ns: u64,
    #[serde(borrow)]
    pub irqs: Table<'a, u8>,
    #[serde(borrow)]
    pub io_ports: Table<'a, PortRange>,
    #[serde(borrow)]
    pub device_memory: Table<'a, PhysRange>,
}

// ---------------------------------------------------------------------------
// Checked decoding.

/// Why a compiled description was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than its header.
    TooShort { len: usize },
    /// The first eight bytes are not [`MAGIC`].
    BadMagic,
    /// A layout version this code does not read.
    UnsupportedFormat { found: u32 },
    /// A schema this code does not read.
    UnsupportedSchema { found: u32 },
    /// The header's payload length is not what follows it.
    LengthMismatch { declared: u32, actual: usize },
    /// The payload does not match its checksum.
    ChecksumMismatch { stored: u64, computed: u64 },
    /// An item (or the top-level record) does not decode.
    Malformed { table: &'static str, index: usize },
    /// Bytes are left after a table's last item or after the payload.
    TrailingBytes { table: &'static str },
    /// A table has more items than its indices can name.
    TooMany { table: &'static str, count: usize },
    /// An item decodes but breaks a rule the root task relies on.
    Invalid {
        table: &'static str,
        index: usize,
        problem: &'static str,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::TooShort { len } => write!(
                f,
                "compiled description is {len} bytes, shorter than its {HEADER_SIZE}-byte header"
            ),
            DecodeError::BadMagic => write!(f, "bad magic, expected \"SEPTSYS\""),
            DecodeError::UnsupportedFormat { found } => write!(
                f,
                "compiled description format {found}, this code reads format {FORMAT_VERSION}"
            ),
            DecodeError::UnsupportedSchema { found } => write!(
                f,
                "compiled from schema {found}, this code reads schema {SCHEMA}"
            ),
            DecodeError::LengthMismatch { declared, actual } => write!(
                f,
                "header says the payload is {declared} bytes, {actual} follow"
            ),
            DecodeError::ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch: header says {stored:#018x}, payload gives {computed:#018x}"
            ),
            DecodeError::Malformed { table, index } => {
                write!(f, "{table}[{index}] does not decode")
            }
            DecodeError::TrailingBytes { table } => {
                write!(f, "{table}: bytes left after the last item")
            }
            DecodeError::TooMany { table, count } => {
                write!(f, "{table}: {count} items, more than an index can name")
            }
            DecodeError::Invalid {
                table,
                index,
                problem,
            } => write!(f, "{table}[{index}]: {problem}"),
        }
    }
}

/// FNV-1a 64: catches a truncated copy or a flipped byte; integrity against
/// an attacker is not its job (whoever writes the boot image owns the system).
pub fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The header for `payload`.
pub fn header(payload: &[u8]) -> [u8; HEADER_SIZE] {
    let mut h = [0u8; HEADER_SIZE];
    h[..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[16..24].copy_from_slice(&checksum(payload).to_le_bytes());
    h
}

/// Rewrite the length and checksum of an image in place, so that a test
/// that damages the payload on purpose reaches the structural checks.
pub fn reseal(image: &mut [u8]) {
    if image.len() >= HEADER_SIZE {
        let payload_len = (image.len() - HEADER_SIZE) as u32;
        let sum = checksum(&image[HEADER_SIZE..]);
        image[12..16].copy_from_slice(&payload_len.to_le_bytes());
        image[16..24].copy_from_slice(&sum.to_le_bytes());
    }
}

fn invalid(table: &'static str, index: usize, problem: &'static str) -> DecodeError {
    DecodeError::Invalid {
        table,
        index,
        problem,
    }
}

fn require(
    ok: bool,
    table: &'static str,
    index: usize,
    problem: &'static str,
) -> Result<(), DecodeError> {
    if ok {
        Ok(())
    } else {
        Err(invalid(table, index, problem))
    }
}

fn page_aligned(v: u64) -> bool {
    v.is_multiple_of(layout::PAGE)
}

/// Whether `[a, a + a_len)` and `[b, b + b_len)` overlap (lengths non-zero,
/// ends not overflowing: the callers checked both).
fn overlaps(a: u64, a_len: u64, b: u64, b_len: u64) -> bool {
    a < b + b_len && b < a + a_len
}

fn count16(table: &'static str, len: usize) -> Result<(), DecodeError> {
    if len > usize::from(u16::MAX) {
        Err(DecodeError::TooMany { table, count: len })
    } else {
        Ok(())
    }
}

impl<'a> System<'a> {
    /// Check `image` completely and return a view of it; see the module
    /// documentation for what is checked.
    pub fn decode(image: &'a [u8]) -> Result<Self, DecodeError> {
        if image.len() < HEADER_SIZE {
            return Err(DecodeError::TooShort { len: image.len() });
        }
        if image[..8] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let format = u32_at(image, 8);
        if format != FORMAT_VERSION {
            return Err(DecodeError::UnsupportedFormat { found: format });
        }
        let payload = &image[HEADER_SIZE..];
        let declared = u32_at(image, 12);
        if declared as usize != payload.len() {
            return Err(DecodeError::LengthMismatch {
                declared,
                actual: payload.len(),
            });
        }
        let stored = u64_at(image, 16);
        let computed = checksum(payload);
        if stored != computed {
            return Err(DecodeError::ChecksumMismatch { stored, computed });
        }
        let (system, rest) = postcard::take_from_bytes::<System<'a>>(payload).map_err(|_| {
            DecodeError::Malformed {
                table: "system",
                index: 0,
            }
        })?;
        if !rest.is_empty() {
            return Err(DecodeError::TrailingBytes { table: "system" });
        }
        system.check()?;
        Ok(system)
    }

    /// Every rule the root task relies on.
    fn check(&self) -> Result<(), DecodeError> {
        if self.schema != SCHEMA {
            return Err(DecodeError::UnsupportedSchema { found: self.schema });
        }
        for (table, len) in [
            ("partitions", self.partitions.len()),
            ("domains", self.domains.len()),
            ("channels", self.channels.len()),
            ("regions", self.regions.len()),
        ] {
            count16(table, len)?;
        }
        let n_partitions = self.partitions.len();
        let n_domains = self.domains.len();
        require(
            self.major_frame_ns > 0,
            "system",
            0,
            "the major frame is empty",
        )?;

        self.partitions.check_each("partitions", |i, p| {
            check_name(p.name, "partitions", i)?;
            check_text(p.description, "partitions", i)
        })?;

        let mut time = 0u64;
        self.windows.check_each("windows", |i, w| {
            require(
                usize::from(w.partition) < n_partitions,
                "windows",
                i,
                "names a partition that does not exist",
            )?;
            require(w.length_ns > 0, "windows", i, "is empty")?;
            require(
                w.start_ns >= time,
                "windows",
                i,
                "starts before the previous window ends",
            )?;
            let end = w.start_ns.checked_add(w.length_ns);
            require(
                end.is_some_and(|e| e <= self.major_frame_ns),
                "windows",
                i,
                "ends after the major frame",
            )?;
            time = end.unwrap_or(u64::MAX);
            Ok(())
        })?;

        let regions = self.regions;
        self.regions.check_each("regions", |i, r| {
            check_name(r.name, "regions", i)?;
            check_text(r.description, "regions", i)?;
            require(
                r.size > 0 && page_aligned(r.size),
                "regions",
                i,
                "its size is not a whole number of pages",
            )
        })?;

        let channels = self.channels;
        self.channels.check_each("channels", |i, c| {
            check_name(c.name, "channels", i)?;
            check_text(c.description, "channels", i)?;
            require(
                usize::from(c.server) < n_domains,
                "channels",
                i,
                "its server is a domain that does not exist",
            )?;
            if let Some(iface) = c.interface {
                require(
                    layout::is_valid_name(iface.name),
                    "channels",
                    i,
                    "its interface name is not a valid name",
                )?;
                require(
                    c.kind == ChannelKind::Endpoint,
                    "channels",
                    i,
                    "a notification has no interface",
                )?;
            }
            c.senders.check_each("channel senders", |_, s| {
                require(
                    usize::from(s.domain) < n_domains,
                    "channels",
                    i,
                    "a sender is a domain that does not exist",
                )?;
                require(
                    s.domain != c.server,
                    "channels",
                    i,
                    "a domain sends to itself",
                )
            })
        })?;

        self.domains.check_each("domains", |i, d| {
            check_domain(i, &d, n_partitions, channels, regions, self.guests.len())
        })?;

        self.guests.check_each("guests", |i, g| {
            check_name(g.name, "guests", i)?;
            check_text(g.description, "guests", i)?;
            check_name(g.kernel, "guests", i)?;
            require(
                usize::from(g.vmm) < n_domains,
                "guests",
                i,
                "its vmm is a domain that does not exist",
            )?;
            require(
                usize::from(g.partition) < n_partitions,
                "guests",
                i,
                "names a partition that does not exist",
            )?;
            require(
                page_aligned(g.memory) && page_aligned(g.stack_size) && g.stack_size > 0,
                "guests",
                i,
                "its memory or stack is not a whole number of pages",
            )?;
            require(
                g.asid_first >= 2
                    && g.asid_count >= 1
                    && u32::from(g.asid_first) + u32::from(g.asid_count) <= layout::ASIDS
                    && (layout::MIN_CNODE_RADIX..=layout::MAX_CNODE_RADIX).contains(&g.cnode_radix),
                "guests",
                i,
                "its ASID range or CNode size is out of range",
            )?;
            g.irqs.check_each("guest irqs", |_, _| Ok(()))?;
            g.io_ports.check_each("guest io_ports", |_, p| {
                require(p.first <= p.last, "guests", i, "an I/O-port range is empty")
            })?;
            g.device_memory.check_each("guest device_memory", |_, r| {
                require(
                    r.size > 0
                        && page_aligned(r.phys)
                        && page_aligned(r.size)
                        && r.phys.checked_add(r.size).is_some(),
                    "guests",
                    i,
                    "a device memory range is not whole pages",
                )
            })
        })?;
        Ok(())
    }
}

fn check_name(name: &str, table: &'static str, index: usize) -> Result<(), DecodeError> {
    require(
        layout::is_valid_name(name),
        table,
        index,
        "a name is empty, too long or has characters outside [A-Za-z0-9._-]",
    )
}

fn check_text(text: Option<&str>, table: &'static str, index: usize) -> Result<(), DecodeError> {
    require(
        text.is_none_or(|t| t.len() <= 4096),
        table,
        index,
        "its description is longer than 4096 bytes",
    )
}

fn check_domain(
    i: usize,
    d: &Domain<'_>,
    n_partitions: usize,
    channels: Table<'_, Channel<'_>>,
    regions: Table<'_, Region<'_>>,
    n_guests: usize,
) -> Result<(), DecodeError> {
    const T: &str = "domains";
    check_name(d.name, T, i)?;
    check_name(d.program, T, i)?;
    check_text(d.description, T, i)?;
    if let Some(group) = d.group {
        check_name(group, T, i)?;
    }
    require(
        usize::from(d.partition) < n_partitions,
        T,
        i,
        "names a partition that does not exist",
    )?;
    require(
        d.priority <= d.max_priority,
        T,
        i,
        "its priority is above its maximum priority",
    )?;
    require(
        d.restart.backoff_min_ns <= d.restart.backoff_max_ns,
        T,
        i,
        "its restart backoff ends below where it starts",
    )?;
    require(
        page_aligned(d.memory),
        T,
        i,
        "its memory quota is not a whole number of pages",
    )?;

    // The fixed parts of the address space.
    require(
        d.stack_size > 0
            && page_aligned(d.stack_size)
            && page_aligned(d.stack_top)
            && d.stack_top >= d.stack_size + layout::PAGE
            && septum_abi::layout::is_user_range(
                d.stack_top - d.stack_size - layout::PAGE,
                d.stack_size + layout::PAGE,
            )
            && d.stack_top - d.stack_size - layout::PAGE >= layout::PROGRAM_END,
        T,
        i,
        "its stack is not whole pages of user memory above the program window",
    )?;
    require(
        page_aligned(d.ipc_buffer)
            && septum_abi::layout::is_user_range(d.ipc_buffer, layout::PAGE)
            && d.ipc_buffer >= layout::PROGRAM_END,
        T,
        i,
        "its IPC buffer is not a page of user memory above the program window",
    )?;
    let stack = (
        d.stack_top - d.stack_size - layout::PAGE,
        d.stack_size + layout::PAGE,
    );
    require(
        !overlaps(stack.0, stack.1, d.ipc_buffer, layout::PAGE),
        T,
        i,
        "its IPC buffer overlaps its stack",
    )?;

    // Capabilities.
    require(
        (layout::MIN_CNODE_RADIX..=layout::MAX_CNODE_RADIX).contains(&d.cnode_radix),
        T,
        i,
        "its CNode radix is out of range",
    )?;
    require(
        d.first_free_slot >= layout::SLOT_FIRST_GRANT
            && u64::from(d.first_free_slot) <= 1u64 << d.cnode_radix,
        T,
        i,
        "its first free slot lies outside its CNode",
    )?;
    let mut last_slot = None;
    let mut untyped = 0u64;
    d.caps.check_each("domain capabilities", |_, cap| {
        require(
            cap.slot != layout::SLOT_NULL && last_slot.is_none_or(|l| cap.slot > l),
            T,
            i,
            "its capability slots are not ascending",
        )?;
        last_slot = Some(cap.slot);
        require(
            cap.slot < d.first_free_slot,
            T,
            i,
            "a capability lies in the free slots",
        )?;
        match cap.object {
            Object::Endpoint { channel } | Object::Notification { channel } => {
                let kind = match cap.object {
                    Object::Endpoint { .. } => ChannelKind::Endpoint,
                    _ => ChannelKind::Notification,
                };
                let c = channels.get(usize::from(channel));
                require(
                    c.is_some_and(|c| c.kind == kind),
                    T,
                    i,
                    "a capability names a channel that does not exist or is of another kind",
                )?;
            }
            Object::IoPort { first, last } => {
                require(first <= last, T, i, "an I/O-port range is empty")?;
            }
            Object::AsidPool { first, count } => {
                require(
                    first >= 1
                        && count >= 1
                        && u32::from(first) + u32::from(count) <= layout::ASIDS
                        && cap.slot == layout::SLOT_ASID_POOL,
                    T,
                    i,
                    "an ASID pool's range is empty, outside 1..4096, or not in its slot",
                )?;
            }
            Object::Untyped { size_bits } => {
                require(
                    (12..=47).contains(&size_bits),
                    T,
                    i,
                    "an untyped size is out of range",
                )?;
                untyped += 1u64 << size_bits;
            }
            Object::GuestBuild { guest } => {
                require(
                    usize::from(guest) < n_guests,
                    T,
                    i,
                    "guest memory names a guest that does not exist",
                )?;
            }
            Object::GuestMemory { guest, size_bits } => {
                require(
                    usize::from(guest) < n_guests && (12..=47).contains(&size_bits),
                    T,
                    i,
                    "guest memory names a guest that does not exist, or its size is out of range",
                )?;
            }
            Object::CNode
            | Object::Tcb
            | Object::VSpace
            | Object::IpcBuffer
            | Object::IrqNotification
            | Object::IrqHandler { .. }
            | Object::Reply => {}
        }
        Ok(())
    })?;
    require(
        untyped == d.memory,
        T,
        i,
        "its untyped capabilities do not add up to its memory quota",
    )?;

    // Mappings: whole pages of user memory, above the program window,
    // ascending, clear of each other, the stack and the IPC buffer.
    let mut end = layout::PROGRAM_END;
    d.maps.check_each("domain mappings", |_, m| {
        require(
            m.size > 0
                && page_aligned(m.vaddr)
                && page_aligned(m.size)
                && septum_abi::layout::is_user_range(m.vaddr, m.size),
            T,
            i,
            "a mapping is not whole pages of user memory",
        )?;
        require(
            m.vaddr >= end,
            T,
            i,
            "its mappings overlap, are out of order or reach into the program window",
        )?;
        end = m.vaddr + m.size;
        require(
            !overlaps(m.vaddr, m.size, stack.0, stack.1)
                && !overlaps(m.vaddr, m.size, d.ipc_buffer, layout::PAGE),
            T,
            i,
            "a mapping overlaps its stack or IPC buffer",
        )?;
        match m.what {
            Mapped::Region { region } => require(
                regions
                    .get(usize::from(region))
                    .is_some_and(|r| r.size == m.size),
                T,
                i,
                "a mapping names a region that does not exist or has another size",
            ),
            Mapped::Device { phys } => require(
                page_aligned(phys) && phys.checked_add(m.size).is_some(),
                T,
                i,
                "a device mapping's physical address is not whole pages",
            ),
            Mapped::GuestKernel { guest } => require(
                usize::from(guest) < n_guests && m.rights == MapRights::Read,
                T,
                i,
                "a guest kernel mapping names no guest or is not read-only",
            ),
        }
    })?;
    Ok(())
}
