//! The boot image: the one module the boot loader hands the kernel.
//!
//! `cargo xtask` packs it; the kernel checks it before trusting a byte of it.
//! It holds the root task's ELF, every other task's ELF and (later) the compiled
//! system description. Layout, all little-endian:
//!
//! ```text
//! header, 64 bytes
//!   0  magic        [u8; 8]  b"SEPTUMBI"
//!   8  version      u32      FORMAT_VERSION
//!  12  header_size  u32      64
//!  16  entry_size   u32      64
//!  20  entry_count  u32      at most MAX_ENTRIES
//!  24  total_size   u64      bytes covered by the checksum; the module may be longer
//!  32  checksum     u64      FNV-1a 64 of bytes [0, total_size) with this field read as zero
//!  40  reserved     [u8; 24] zero
//! entry_count entries, 64 bytes each
//!   0  kind         u32      EntryKind
//!   4  flags        u32      zero
//!   8  offset       u64      from the image start; a multiple of PAYLOAD_ALIGN
//!  16  size         u64
//!  24  name         [u8; 40] UTF-8, NUL-padded, not empty
//! payloads, each starting on a PAYLOAD_ALIGN boundary
//! ```
//!
//! Exactly one entry is the root task. Payloads lie inside `total_size`, after
//! the entry table, and do not overlap.

use core::fmt;

/// The first eight bytes of every boot image.
pub const MAGIC: [u8; 8] = *b"SEPTUMBI";
/// The format version this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the header in bytes.
pub const HEADER_SIZE: usize = 64;
/// Size of one entry in bytes.
pub const ENTRY_SIZE: usize = 64;
/// Length of an entry's name field.
pub const NAME_LEN: usize = 40;
/// Most entries an image may have.
pub const MAX_ENTRIES: usize = 256;
/// Payload alignment: one page, so the kernel can map payload pages directly.
pub const PAYLOAD_ALIGN: usize = 4096;

const CHECKSUM_AT: usize = 32;

/// What an entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// The ELF of the first user task, which builds the rest of the system.
    RootTask,
    /// The ELF of another task, started by the root task.
    Task,
    /// The compiled system description.
    SystemDescription,
}

impl EntryKind {
    /// The on-image code.
    pub const fn code(self) -> u32 {
        match self {
            EntryKind::RootTask => 1,
            EntryKind::Task => 2,
            EntryKind::SystemDescription => 3,
        }
    }

    /// Decode an on-image code.
    pub const fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(EntryKind::RootTask),
            2 => Some(EntryKind::Task),
            3 => Some(EntryKind::SystemDescription),
            _ => None,
        }
    }
}

/// Why a boot image was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Shorter than a header.
    TooShort { len: usize },
    /// The first eight bytes are not [`MAGIC`].
    BadMagic { found: [u8; 8] },
    /// A version this kernel does not read.
    UnsupportedVersion { found: u32 },
    /// Header or entry size fields are not the ones this version defines.
    BadLayout { header_size: u32, entry_size: u32 },
    /// More entries than [`MAX_ENTRIES`].
    TooManyEntries { count: u32 },
    /// The header claims more bytes than the module has.
    Truncated { total_size: u64, len: usize },
    /// The entry table does not fit before `total_size`.
    TableOutOfBounds { count: u32 },
    /// The checksum does not match the contents.
    ChecksumMismatch { stored: u64, computed: u64 },
    /// A reserved field is not zero.
    ReservedNotZero,
    /// An entry's kind code is unknown.
    BadKind { index: usize, kind: u32 },
    /// An entry's flags are not zero.
    BadFlags { index: usize, flags: u32 },
    /// An entry's name is empty or not UTF-8.
    BadName { index: usize },
    /// An entry's payload starts off the [`PAYLOAD_ALIGN`] grid.
    Misaligned { index: usize, offset: u64 },
    /// An entry's payload lies (partly) outside the image or inside the table.
    PayloadOutOfBounds {
        index: usize,
        offset: u64,
        size: u64,
    },
    /// Two payloads overlap.
    Overlap { first: usize, second: usize },
    /// No entry is the root task.
    NoRootTask,
    /// More than one entry claims to be the root task.
    SecondRootTask { index: usize },
    /// While packing: the output buffer is too small.
    BufferTooSmall { needed: usize },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::TooShort { len } => {
                write!(
                    f,
                    "image is {len} bytes, shorter than its {HEADER_SIZE}-byte header"
                )
            }
            Error::BadMagic { found } => write!(f, "bad magic {found:02x?}, expected \"SEPTUMBI\""),
            Error::UnsupportedVersion { found } => {
                write!(
                    f,
                    "format version {found}, this kernel reads version {FORMAT_VERSION}"
                )
            }
            Error::BadLayout {
                header_size,
                entry_size,
            } => write!(
                f,
                "header size {header_size} / entry size {entry_size}, expected {HEADER_SIZE} / {ENTRY_SIZE}"
            ),
            Error::TooManyEntries { count } => {
                write!(f, "{count} entries, at most {MAX_ENTRIES} allowed")
            }
            Error::Truncated { total_size, len } => {
                write!(
                    f,
                    "header claims {total_size} bytes but the module has only {len}"
                )
            }
            Error::TableOutOfBounds { count } => {
                write!(f, "entry table of {count} entries runs past the image end")
            }
            Error::ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch: header says {stored:#018x}, contents give {computed:#018x}"
            ),
            Error::ReservedNotZero => write!(f, "reserved header bytes are not zero"),
            Error::BadKind { index, kind } => write!(f, "entry {index}: unknown kind {kind}"),
            Error::BadFlags { index, flags } => {
                write!(f, "entry {index}: flags {flags:#x}, expected 0")
            }
            Error::BadName { index } => write!(f, "entry {index}: name is empty or not UTF-8"),
            Error::Misaligned { index, offset } => write!(
                f,
                "entry {index}: payload offset {offset:#x} is not a multiple of {PAYLOAD_ALIGN:#x}"
            ),
            Error::PayloadOutOfBounds {
                index,
                offset,
                size,
            } => write!(
                f,
                "entry {index}: payload [{offset:#x}, +{size:#x}) lies outside the payload area"
            ),
            Error::Overlap { first, second } => {
                write!(f, "entries {first} and {second} have overlapping payloads")
            }
            Error::NoRootTask => write!(f, "no root-task entry"),
            Error::SecondRootTask { index } => {
                write!(f, "entry {index} is a second root-task entry")
            }
            Error::BufferTooSmall { needed } => {
                write!(f, "output buffer too small, {needed} bytes needed")
            }
        }
    }
}

/// FNV-1a, 64-bit: small, dependency-free, and catches the corruption a
/// checksum is for (a truncated copy, a flipped byte, a wrong file).
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The checksum of `image[..total_size]` with the checksum field read as zero.
fn checksum(image: &[u8]) -> u64 {
    let h = fnv1a(FNV_OFFSET, &image[..CHECKSUM_AT]);
    let h = fnv1a(h, &[0u8; 8]);
    fnv1a(h, &image[CHECKSUM_AT + 8..])
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

/// One checked entry of a boot image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// What the payload is.
    pub kind: EntryKind,
    /// The entry's name (a task's name in logs and fault reports).
    pub name: &'a str,
    /// Offset of the payload from the image start.
    pub offset: usize,
    /// The payload bytes.
    pub data: &'a [u8],
}

/// A boot image that passed every check.
#[derive(Clone, Copy, Debug)]
pub struct BootImage<'a> {
    bytes: &'a [u8],
    count: usize,
}

impl<'a> BootImage<'a> {
    /// Check `module` completely and return a view of it.
    ///
    /// Every later accessor relies on these checks, so none of them can fail.
    pub fn parse(module: &'a [u8]) -> Result<Self, Error> {
        if module.len() < HEADER_SIZE {
            return Err(Error::TooShort { len: module.len() });
        }
        let mut magic = [0u8; 8];
        magic.copy_from_slice(&module[..8]);
        if magic != MAGIC {
            return Err(Error::BadMagic { found: magic });
        }
        let version = u32_at(module, 8);
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion { found: version });
        }
        let (header_size, entry_size) = (u32_at(module, 12), u32_at(module, 16));
        if header_size as usize != HEADER_SIZE || entry_size as usize != ENTRY_SIZE {
            return Err(Error::BadLayout {
                header_size,
                entry_size,
            });
        }
        let count = u32_at(module, 20);
        if count as usize > MAX_ENTRIES {
            return Err(Error::TooManyEntries { count });
        }
        let total_size = u64_at(module, 24);
        if total_size > module.len() as u64 {
            return Err(Error::Truncated {
                total_size,
                len: module.len(),
            });
        }
        let bytes = &module[..total_size as usize];
        let table_end = HEADER_SIZE + count as usize * ENTRY_SIZE;
        if table_end > bytes.len() {
            return Err(Error::TableOutOfBounds { count });
        }
        let stored = u64_at(bytes, CHECKSUM_AT);
        let computed = checksum(bytes);
        if stored != computed {
            return Err(Error::ChecksumMismatch { stored, computed });
        }
        if bytes[40..HEADER_SIZE].iter().any(|&b| b != 0) {
            return Err(Error::ReservedNotZero);
        }
        let image = BootImage {
            bytes,
            count: count as usize,
        };
        let mut root = None;
        for index in 0..image.count {
            let e = image.raw_entry(index);
            let kind = u32_at(e, 0);
            let kind = EntryKind::from_code(kind).ok_or(Error::BadKind { index, kind })?;
            let flags = u32_at(e, 4);
            if flags != 0 {
                return Err(Error::BadFlags { index, flags });
            }
            name_of(e).ok_or(Error::BadName { index })?;
            let (offset, size) = (u64_at(e, 8), u64_at(e, 16));
            if offset % PAYLOAD_ALIGN as u64 != 0 {
                return Err(Error::Misaligned { index, offset });
            }
            let inside = offset >= table_end as u64
                && offset
                    .checked_add(size)
                    .is_some_and(|end| end <= total_size);
            if !inside {
                return Err(Error::PayloadOutOfBounds {
                    index,
                    offset,
                    size,
                });
            }
            for other in 0..index {
                let o = image.raw_entry(other);
                let (o_off, o_size) = (u64_at(o, 8), u64_at(o, 16));
                if size != 0 && o_size != 0 && offset < o_off + o_size && o_off < offset + size {
                    return Err(Error::Overlap {
                        first: other,
                        second: index,
                    });
                }
            }
            if kind == EntryKind::RootTask {
                if root.is_some() {
                    return Err(Error::SecondRootTask { index });
                }
                root = Some(index);
            }
        }
        if root.is_none() {
            return Err(Error::NoRootTask);
        }
        Ok(image)
    }

    fn raw_entry(&self, index: usize) -> &'a [u8] {
        let at = HEADER_SIZE + index * ENTRY_SIZE;
        &self.bytes[at..at + ENTRY_SIZE]
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the image has no entries (never true for a parsed image).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The image's checked length in bytes.
    pub fn total_size(&self) -> usize {
        self.bytes.len()
    }

    /// Entry `index`, or `None` past the end.
    pub fn entry(&self, index: usize) -> Option<Entry<'a>> {
        if index >= self.count {
            return None;
        }
        let e = self.raw_entry(index);
        let (offset, size) = (u64_at(e, 8) as usize, u64_at(e, 16) as usize);
        Some(Entry {
            kind: EntryKind::from_code(u32_at(e, 0))?,
            name: name_of(e)?,
            offset,
            data: &self.bytes[offset..offset + size],
        })
    }

    /// All entries in order.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'a>> + '_ {
        (0..self.count).filter_map(|i| self.entry(i))
    }

    /// The root task's entry (exactly one exists in a parsed image).
    pub fn root_task(&self) -> Option<Entry<'a>> {
        self.entries().find(|e| e.kind == EntryKind::RootTask)
    }

    /// The first entry named `name`.
    pub fn find(&self, name: &str) -> Option<Entry<'a>> {
        self.entries().find(|e| e.name == name)
    }
}

fn name_of(entry: &[u8]) -> Option<&str> {
    let field = &entry[24..24 + NAME_LEN];
    let len = field.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
    // The padding must be all zeros: "ab\0cd" is not a name.
    if field[len..].iter().any(|&b| b != 0) {
        return None;
    }
    let name = core::str::from_utf8(&field[..len]).ok()?;
    (!name.is_empty()).then_some(name)
}

/// One payload to pack.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// What the payload is.
    pub kind: EntryKind,
    /// Its name: 1 to [`NAME_LEN`] bytes, no NUL.
    pub name: &'a str,
    /// The payload.
    pub data: &'a [u8],
}

fn align_up(v: usize) -> usize {
    v.div_ceil(PAYLOAD_ALIGN) * PAYLOAD_ALIGN
}

/// The size [`pack`] needs for `inputs`.
pub fn packed_size(inputs: &[Input<'_>]) -> usize {
    let table_end = HEADER_SIZE + inputs.len() * ENTRY_SIZE;
    inputs
        .iter()
        .fold(align_up(table_end), |at, i| align_up(at) + i.data.len())
}

/// Pack `inputs` into `out`, returning the image's length.
///
/// The result always passes [`BootImage::parse`] or this returns the error
/// parsing would have reported (bad name, no or two root tasks, too many entries).
pub fn pack(inputs: &[Input<'_>], out: &mut [u8]) -> Result<usize, Error> {
    if inputs.len() > MAX_ENTRIES {
        return Err(Error::TooManyEntries {
            count: inputs.len() as u32,
        });
    }
    let needed = packed_size(inputs);
    if out.len() < needed {
        return Err(Error::BufferTooSmall { needed });
    }
    let out = &mut out[..needed];
    out.fill(0);
    out[..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    out[12..16].copy_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
    out[16..20].copy_from_slice(&(ENTRY_SIZE as u32).to_le_bytes());
    out[20..24].copy_from_slice(&(inputs.len() as u32).to_le_bytes());
    out[24..32].copy_from_slice(&(needed as u64).to_le_bytes());
    let mut at = align_up(HEADER_SIZE + inputs.len() * ENTRY_SIZE);
    for (index, input) in inputs.iter().enumerate() {
        let name = input.name.as_bytes();
        if name.is_empty() || name.len() > NAME_LEN || name.contains(&0) {
            return Err(Error::BadName { index });
        }
        at = align_up(at);
        let e = HEADER_SIZE + index * ENTRY_SIZE;
        out[e..e + 4].copy_from_slice(&input.kind.code().to_le_bytes());
        out[e + 8..e + 16].copy_from_slice(&(at as u64).to_le_bytes());
        out[e + 16..e + 24].copy_from_slice(&(input.data.len() as u64).to_le_bytes());
        out[e + 24..e + 24 + name.len()].copy_from_slice(name);
        out[at..at + input.data.len()].copy_from_slice(input.data);
        at += input.data.len();
    }
    let sum = checksum(out);
    out[CHECKSUM_AT..CHECKSUM_AT + 8].copy_from_slice(&sum.to_le_bytes());
    BootImage::parse(out)?;
    Ok(needed)
}

/// Recompute and store the checksum of an image in place (for tests that
/// corrupt one field on purpose and want only that field to be wrong).
pub fn reseal(image: &mut [u8]) {
    if image.len() >= HEADER_SIZE {
        let total = (u64_at(image, 24) as usize).min(image.len());
        let sum = checksum(&image[..total.max(HEADER_SIZE)]);
        image[CHECKSUM_AT..CHECKSUM_AT + 8].copy_from_slice(&sum.to_le_bytes());
    }
}

#[cfg(test)]
mod tests;
