//! A parser for the ELF executables the kernel loads: ELF64, little-endian,
//! x86_64, statically linked and not position-independent (`ET_EXEC`).
//!
//! [`Elf::parse`] checks everything a loader relies on before it hands out a
//! single segment, so that loading cannot fail halfway through:
//!
//! - the header is the one this kernel reads (class, byte order, version,
//!   type, machine, program-header entry size);
//! - the program-header table lies inside the file and has at most
//!   [`MAX_PROGRAM_HEADERS`] entries;
//! - no `PT_INTERP` or `PT_DYNAMIC` header asks for a dynamic loader;
//! - every `PT_LOAD` has its file bytes inside the file, no more file bytes
//!   than memory bytes, an end `vaddr + mem_size` that does not overflow, and
//!   is not both writable and executable; if it is not empty, its address
//!   range is canonical (48-bit) and on one side of the hole;
//! - no two non-empty `PT_LOAD`s share a 4 KiB page, since one page has one
//!   set of rights;
//! - a non-empty `PT_LOAD` exists and the entry point lies in an executable one.
//!
//! Empty `PT_LOAD`s (`p_memsz == 0`) are never mapped and
//! [`Elf::segments`] leaves them out.
//!
//! Whether the segments stay out of the kernel's reserved range is for the
//! loader to check (`septum_abi::layout::is_user_range`): this parser only
//! knows what an address can be, not who may map it.
//!
//! Nothing here panics, whatever the bytes.

use core::fmt;

use septum_abi::layout::is_canonical;

/// Most program headers an accepted file may have; the checks are quadratic
/// in this number and real executables have about ten.
pub const MAX_PROGRAM_HEADERS: usize = 64;

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const EV_CURRENT: u32 = 1;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;
const PAGE_SHIFT: u32 = 12;

/// Why an ELF file was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The file is shorter than the 64-byte ELF header.
    TooShort { len: usize },
    /// The first four bytes are not `\x7fELF`.
    BadMagic { found: [u8; 4] },
    /// `EI_CLASS` is not `ELFCLASS64`.
    NotElf64 { class: u8 },
    /// `EI_DATA` is not `ELFDATA2LSB`.
    NotLittleEndian { data: u8 },
    /// `EI_VERSION` or `e_version` is not 1.
    BadVersion { ident: u8, version: u32 },
    /// `e_type` is not `ET_EXEC`.
    NotExecutable { e_type: u16 },
    /// `e_machine` is not `EM_X86_64`.
    WrongMachine { machine: u16 },
    /// `e_phentsize` is not 56.
    BadPhEntSize { size: u16 },
    /// More program headers than [`MAX_PROGRAM_HEADERS`].
    TooManyProgramHeaders { count: u16 },
    /// The program-header table does not lie inside the file.
    ProgramHeadersOutOfBounds { offset: u64, count: u16, len: usize },
    /// A `PT_INTERP` or `PT_DYNAMIC` header: the file wants a dynamic loader.
    Dynamic { index: usize, p_type: u32 },
    /// A `PT_LOAD` has more file bytes than memory bytes.
    FileSizeExceedsMemSize {
        index: usize,
        file_size: u64,
        mem_size: u64,
    },
    /// A `PT_LOAD`'s file bytes lie (partly) outside the file.
    SegmentOutsideFile {
        index: usize,
        offset: u64,
        file_size: u64,
        len: usize,
    },
    /// A `PT_LOAD`'s `vaddr + mem_size` overflows 64 bits.
    SegmentAddressOverflow {
        index: usize,
        vaddr: u64,
        mem_size: u64,
    },
    /// A `PT_LOAD`'s address range is not canonical or straddles the hole.
    NonCanonicalSegment {
        index: usize,
        vaddr: u64,
        mem_size: u64,
    },
    /// A `PT_LOAD` is both writable and executable.
    WritableAndExecutable { index: usize, vaddr: u64 },
    /// Two `PT_LOAD`s touch a common page.
    SegmentsOverlap {
        first: usize,
        second: usize,
        page: u64,
    },
    /// No `PT_LOAD` with a non-zero memory size.
    NoLoadSegment,
    /// The entry point is not inside an executable `PT_LOAD`.
    EntryNotExecutable { entry: u64 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::TooShort { len } => {
                write!(
                    f,
                    "ELF file is {len} bytes, shorter than the {EHDR_SIZE}-byte ELF header"
                )
            }
            Error::BadMagic { found } => {
                write!(
                    f,
                    "bad ELF magic {found:02x?}, expected [7f, 45, 4c, 46] (\"\\x7fELF\")"
                )
            }
            Error::NotElf64 { class } => {
                write!(
                    f,
                    "EI_CLASS is {class}, expected {ELFCLASS64} (ELFCLASS64): only 64-bit ELF is loaded"
                )
            }
            Error::NotLittleEndian { data } => write!(
                f,
                "EI_DATA is {data}, expected {ELFDATA2LSB} (ELFDATA2LSB): only little-endian ELF is loaded"
            ),
            Error::BadVersion { ident, version } => write!(
                f,
                "ELF version is {ident} in EI_VERSION and {version} in e_version, both must be {EV_CURRENT}"
            ),
            Error::NotExecutable { e_type } => {
                let what = match e_type {
                    0 => " (ET_NONE)",
                    1 => " (ET_REL, an object file)",
                    ET_DYN => " (ET_DYN, a position-independent executable or shared object)",
                    4 => " (ET_CORE, a core dump)",
                    _ => "",
                };
                write!(
                    f,
                    "e_type is {e_type}{what}, expected {ET_EXEC} (ET_EXEC): \
                     only statically linked, non-PIE executables are loaded"
                )
            }
            Error::WrongMachine { machine } => {
                write!(
                    f,
                    "e_machine is {machine}, expected {EM_X86_64} (EM_X86_64)"
                )
            }
            Error::BadPhEntSize { size } => {
                write!(
                    f,
                    "e_phentsize is {size}, expected {PHDR_SIZE} (an ELF64 program header)"
                )
            }
            Error::TooManyProgramHeaders { count } => {
                write!(
                    f,
                    "e_phnum is {count}, at most {MAX_PROGRAM_HEADERS} program headers are allowed"
                )
            }
            Error::ProgramHeadersOutOfBounds { offset, count, len } => write!(
                f,
                "program-header table at e_phoff {offset:#x} with {count} entries of {PHDR_SIZE} bytes \
                 runs past the end of the {len:#x}-byte file"
            ),
            Error::Dynamic { index, p_type } => {
                let what = if p_type == PT_INTERP {
                    "PT_INTERP"
                } else {
                    "PT_DYNAMIC"
                };
                write!(
                    f,
                    "program header {index} is {what}: dynamically linked executables are not supported"
                )
            }
            Error::FileSizeExceedsMemSize {
                index,
                file_size,
                mem_size,
            } => write!(
                f,
                "PT_LOAD program header {index}: p_filesz {file_size:#x} is larger than p_memsz {mem_size:#x}"
            ),
            Error::SegmentOutsideFile {
                index,
                offset,
                file_size,
                len,
            } => write!(
                f,
                "PT_LOAD program header {index}: file bytes [p_offset {offset:#x}, +p_filesz {file_size:#x}) \
                 lie outside the {len:#x}-byte file"
            ),
            Error::SegmentAddressOverflow {
                index,
                vaddr,
                mem_size,
            } => write!(
                f,
                "PT_LOAD program header {index}: p_vaddr {vaddr:#x} + p_memsz {mem_size:#x} overflows 64 bits"
            ),
            Error::NonCanonicalSegment {
                index,
                vaddr,
                mem_size,
            } => write!(
                f,
                "PT_LOAD program header {index}: [p_vaddr {vaddr:#x}, +p_memsz {mem_size:#x}) is not a \
                 canonical 48-bit range on one side of the address hole"
            ),
            Error::WritableAndExecutable { index, vaddr } => write!(
                f,
                "PT_LOAD program header {index} at p_vaddr {vaddr:#x} is both writable and executable (W^X)"
            ),
            Error::SegmentsOverlap {
                first,
                second,
                page,
            } => write!(
                f,
                "PT_LOAD program headers {first} and {second} both touch the 4 KiB page at {page:#x}, \
                 which cannot have two sets of rights"
            ),
            Error::NoLoadSegment => write!(f, "no PT_LOAD program header with a non-zero p_memsz"),
            Error::EntryNotExecutable { entry } => {
                write!(
                    f,
                    "entry point e_entry {entry:#x} is not inside an executable PT_LOAD segment"
                )
            }
        }
    }
}

/// Access rights a segment asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perms {
    /// `PF_R`.
    pub read: bool,
    /// `PF_W`.
    pub write: bool,
    /// `PF_X`.
    pub execute: bool,
}

impl Perms {
    fn from_flags(flags: u32) -> Self {
        Perms {
            read: flags & PF_R != 0,
            write: flags & PF_W != 0,
            execute: flags & PF_X != 0,
        }
    }
}

/// One loadable segment of a checked file.
///
/// `data.len() <= mem_size`, `mem_size > 0`, and `vaddr + mem_size` does not
/// overflow; the bytes past `data` up to `mem_size` are zero-filled by the loader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Index of the program header this segment comes from.
    pub index: usize,
    /// First virtual address.
    pub vaddr: u64,
    /// Size in memory (`p_memsz`).
    pub mem_size: u64,
    /// The `p_filesz` bytes from the file.
    pub data: &'a [u8],
    /// Rights the segment's pages get.
    pub perms: Perms,
}

/// Bytes in one page: the unit in which segments are mapped.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;

/// One page a [`Segment`] touches, and the part of the file that falls
/// into it. A loader gives the page a zeroed frame, copies `data` to
/// `offset` in it and maps it at `vaddr` with the segment's rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentPage<'a> {
    /// The page's (page-aligned) address.
    pub vaddr: u64,
    /// Where in the page `data` starts.
    pub offset: usize,
    /// The file bytes that fall into the page; empty for a page of zero
    /// fill only (`.bss`).
    pub data: &'a [u8],
}

impl<'a> Segment<'a> {
    /// Page numbers (address >> 12) of the first and the last page the
    /// segment touches. `mem_size > 0` and the end does not overflow (parse
    /// checked both); the saturating arithmetic only keeps panics out.
    fn page_numbers(&self) -> (u64, u64) {
        let last = self.vaddr.saturating_add(self.mem_size.saturating_sub(1));
        (self.vaddr >> PAGE_SHIFT, last >> PAGE_SHIFT)
    }

    /// The address of the first page the segment touches.
    pub fn first_page(&self) -> u64 {
        self.page_numbers().0 << PAGE_SHIFT
    }

    /// The address of the last page the segment touches.
    pub fn last_page(&self) -> u64 {
        self.page_numbers().1 << PAGE_SHIFT
    }

    /// How many pages the segment touches.
    pub fn page_count(&self) -> u64 {
        let (first, last) = self.page_numbers();
        last - first + 1
    }

    /// Every page the segment touches, lowest first, each with its part of
    /// the file.
    pub fn pages(&self) -> impl Iterator<Item = SegmentPage<'a>> + use<'a> {
        let seg = *self;
        let (first, last) = self.page_numbers();
        let file_end = seg.vaddr.saturating_add(seg.data.len() as u64);
        (first..=last).map(move |n| {
            let vaddr = n << PAGE_SHIFT;
            let lo = vaddr.max(seg.vaddr);
            let hi = vaddr.saturating_add(PAGE_SIZE).min(file_end);
            let data = if lo < hi {
                let from = (lo - seg.vaddr) as usize;
                seg.data.get(from..(hi - seg.vaddr) as usize).unwrap_or(&[])
            } else {
                &[]
            };
            SegmentPage {
                vaddr,
                offset: (lo - vaddr) as usize,
                data,
            }
        })
    }
}

/// An ELF executable that passed every check in the module documentation.
#[derive(Clone, Copy, Debug)]
pub struct Elf<'a> {
    bytes: &'a [u8],
    entry: u64,
    /// Program-header table offset; `phoff + phnum * 56 <= bytes.len()`.
    phoff: usize,
    phnum: usize,
}

/// The fields of a program header this parser uses.
#[derive(Clone, Copy)]
struct ProgramHeader {
    p_type: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    file_size: u64,
    mem_size: u64,
}

/// `W` bytes of `b` at `at`, or zeros when they are not there. Every caller
/// passes a constant offset inside a buffer whose length was checked, so the
/// zeros never appear; the fallback only keeps panicking code out of the kernel.
fn field<const W: usize>(b: &[u8], at: usize) -> [u8; W] {
    b.get(at..)
        .and_then(<[u8]>::first_chunk::<W>)
        .copied()
        .unwrap_or([0; W])
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(field(b, at))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(field(b, at))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(field(b, at))
}

impl ProgramHeader {
    fn read(b: &[u8]) -> Self {
        ProgramHeader {
            p_type: u32_at(b, 0),
            flags: u32_at(b, 4),
            offset: u64_at(b, 8),
            vaddr: u64_at(b, 16),
            file_size: u64_at(b, 32),
            mem_size: u64_at(b, 40),
        }
    }

    /// First and last page number the segment touches, `None` for an empty one.
    /// Only meaningful once the address range has been checked not to overflow.
    fn pages(&self) -> Option<(u64, u64)> {
        let last = self.vaddr.checked_add(self.mem_size.checked_sub(1)?)?;
        Some((self.vaddr >> PAGE_SHIFT, last >> PAGE_SHIFT))
    }

    fn is_load(&self) -> bool {
        self.p_type == PT_LOAD
    }
}

impl<'a> Elf<'a> {
    /// Check `bytes` completely and return a view of the executable.
    ///
    /// Every later accessor relies on these checks, so none of them can fail.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let Some(header) = bytes.first_chunk::<EHDR_SIZE>() else {
            return Err(Error::TooShort { len: bytes.len() });
        };
        let found = field::<4>(header, 0);
        if found != MAGIC {
            return Err(Error::BadMagic { found });
        }
        let [class, data, ident_version] = field::<3>(header, 4);
        if class != ELFCLASS64 {
            return Err(Error::NotElf64 { class });
        }
        if data != ELFDATA2LSB {
            return Err(Error::NotLittleEndian { data });
        }
        let version = u32_at(header, 20);
        if u32::from(ident_version) != EV_CURRENT || version != EV_CURRENT {
            return Err(Error::BadVersion {
                ident: ident_version,
                version,
            });
        }
        let e_type = u16_at(header, 16);
        if e_type != ET_EXEC {
            return Err(Error::NotExecutable { e_type });
        }
        let machine = u16_at(header, 18);
        if machine != EM_X86_64 {
            return Err(Error::WrongMachine { machine });
        }
        let size = u16_at(header, 54);
        if usize::from(size) != PHDR_SIZE {
            return Err(Error::BadPhEntSize { size });
        }
        let entry = u64_at(header, 24);
        let phoff_raw = u64_at(header, 32);
        let count = u16_at(header, 56);
        let phnum = usize::from(count);
        if phnum > MAX_PROGRAM_HEADERS {
            return Err(Error::TooManyProgramHeaders { count });
        }
        let out_of_bounds = Error::ProgramHeadersOutOfBounds {
            offset: phoff_raw,
            count,
            len: bytes.len(),
        };
        let phoff = usize::try_from(phoff_raw).map_err(|_| out_of_bounds)?;
        let table_end = phnum
            .checked_mul(PHDR_SIZE)
            .and_then(|size| size.checked_add(phoff))
            .ok_or(out_of_bounds)?;
        if table_end > bytes.len() {
            return Err(out_of_bounds);
        }

        let elf = Elf {
            bytes,
            entry,
            phoff,
            phnum,
        };
        let mut any_load = false;
        let mut entry_ok = false;
        for index in 0..phnum {
            let ph = elf.header(index);
            if ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC {
                return Err(Error::Dynamic {
                    index,
                    p_type: ph.p_type,
                });
            }
            if !ph.is_load() {
                continue;
            }
            check_load(index, &ph, bytes.len())?;
            let Some((first_page, last_page)) = ph.pages() else {
                continue;
            };
            // Earlier headers already passed check_load, so their page
            // numbers are sound to compare.
            for other in 0..index {
                let o = elf.header(other);
                if !o.is_load() {
                    continue;
                }
                let Some((o_first, o_last)) = o.pages() else {
                    continue;
                };
                if first_page <= o_last && o_first <= last_page {
                    let page = first_page.max(o_first) << PAGE_SHIFT;
                    return Err(Error::SegmentsOverlap {
                        first: other,
                        second: index,
                        page,
                    });
                }
            }
            any_load = true;
            let inside = entry >= ph.vaddr && entry - ph.vaddr < ph.mem_size;
            if inside && ph.flags & PF_X != 0 {
                entry_ok = true;
            }
        }
        if !any_load {
            return Err(Error::NoLoadSegment);
        }
        if !entry_ok {
            return Err(Error::EntryNotExecutable { entry });
        }
        Ok(elf)
    }

    /// Program header `index`; `index < phnum` always holds at the callers,
    /// so the table slice is always there.
    fn header(&self, index: usize) -> ProgramHeader {
        let at = index
            .checked_mul(PHDR_SIZE)
            .and_then(|o| o.checked_add(self.phoff));
        let raw = at.and_then(|at| self.bytes.get(at..)).unwrap_or(&[]);
        ProgramHeader::read(raw)
    }

    /// The entry point's virtual address (inside an executable segment).
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// The `PT_LOAD` segments with a non-zero memory size, in header order.
    pub fn segments(&self) -> impl Iterator<Item = Segment<'a>> + '_ {
        (0..self.phnum).filter_map(move |index| {
            let ph = self.header(index);
            if !ph.is_load() || ph.mem_size == 0 {
                return None;
            }
            // parse() checked this range against the file, so get() succeeds.
            let start = usize::try_from(ph.offset).ok()?;
            let end = start.checked_add(usize::try_from(ph.file_size).ok()?)?;
            Some(Segment {
                index,
                vaddr: ph.vaddr,
                mem_size: ph.mem_size,
                data: self.bytes.get(start..end)?,
                perms: Perms::from_flags(ph.flags),
            })
        })
    }
}

/// A function symbol found by [`Elf::symbol`]: the name as the file spells
/// it (mangled) and how far past its start the address lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Symbol<'a> {
    pub name: &'a str,
    pub offset: u64,
}

const SHDR_SIZE: usize = 64;
const SYM_SIZE: usize = 24;
const SHT_SYMTAB: u32 = 2;
const STT_FUNC: u8 = 2;
/// Longest symbol name [`Elf::symbol`] reads; a longer one is cut there.
pub const MAX_SYMBOL_NAME: usize = 512;

impl<'a> Elf<'a> {
    /// The function symbol of `.symtab` whose range holds `addr` (or, for a
    /// symbol without a size, the nearest one at or below it). `None` when
    /// the file has no symbol table or no function covers the address.
    ///
    /// The section headers are not part of what [`Elf::parse`] checks (a
    /// loader never needs them), so they are checked here, on every call:
    /// any table, entry or name that does not lie inside the file, or a
    /// name that is not UTF-8, is ignored rather than trusted. Linear in
    /// the number of symbols; nothing here panics.
    pub fn symbol(&self, addr: u64) -> Option<Symbol<'a>> {
        let b = self.bytes;
        let shoff = usize::try_from(u64_at(b, 40)).ok()?;
        if usize::from(u16_at(b, 58)) != SHDR_SIZE {
            return None;
        }
        let shnum = usize::from(u16_at(b, 60));
        let section = |i: usize| -> Option<&'a [u8]> {
            let at = i.checked_mul(SHDR_SIZE)?.checked_add(shoff)?;
            b.get(at..at.checked_add(SHDR_SIZE)?)
        };
        let contents = |sh: &[u8]| -> Option<&'a [u8]> {
            let off = usize::try_from(u64_at(sh, 24)).ok()?;
            let size = usize::try_from(u64_at(sh, 32)).ok()?;
            b.get(off..off.checked_add(size)?)
        };
        let symtab = (0..shnum)
            .filter_map(section)
            .find(|sh| u32_at(sh, 4) == SHT_SYMTAB)?;
        let syms = contents(symtab)?;
        let strtab = contents(section(usize::try_from(u32_at(symtab, 40)).ok()?)?)?;
        // (value, size, name offset) of the best match so far.
        let mut best: Option<(u64, u64, usize)> = None;
        for sym in syms.chunks_exact(SYM_SIZE) {
            let value = u64_at(sym, 8);
            let size = u64_at(sym, 16);
            if sym[4] & 0xf != STT_FUNC || value > addr || value == 0 {
                continue;
            }
            let inside = addr - value < size;
            let candidate = (value, size, u32_at(sym, 0) as usize);
            best = match best {
                // A symbol whose range holds the address beats one without.
                Some((v, s, _)) if addr - v < s && !inside => best,
                Some((v, s, _)) if (addr - v < s) == inside && v >= value => best,
                _ if size != 0 && !inside => best,
                _ => Some(candidate),
            };
        }
        let (value, _, name_at) = best?;
        let tail = strtab.get(name_at..)?;
        let tail = &tail[..tail.len().min(MAX_SYMBOL_NAME)];
        let len = tail.iter().position(|&c| c == 0).unwrap_or(tail.len());
        let name = core::str::from_utf8(&tail[..len]).ok()?;
        if name.is_empty() {
            return None;
        }
        Some(Symbol {
            name,
            offset: addr - value,
        })
    }
}

/// The checks on one `PT_LOAD` that need no other header.
fn check_load(index: usize, ph: &ProgramHeader, len: usize) -> Result<(), Error> {
    let (file_size, mem_size, vaddr) = (ph.file_size, ph.mem_size, ph.vaddr);
    if file_size > mem_size {
        return Err(Error::FileSizeExceedsMemSize {
            index,
            file_size,
            mem_size,
        });
    }
    let in_file = ph
        .offset
        .checked_add(file_size)
        .is_some_and(|end| end <= len as u64);
    if !in_file {
        return Err(Error::SegmentOutsideFile {
            index,
            offset: ph.offset,
            file_size,
            len,
        });
    }
    let Some(end) = vaddr.checked_add(mem_size) else {
        return Err(Error::SegmentAddressOverflow {
            index,
            vaddr,
            mem_size,
        });
    };
    if mem_size != 0 {
        let last = end - 1;
        if !is_canonical(vaddr) || !is_canonical(last) || (vaddr >> 47) != (last >> 47) {
            return Err(Error::NonCanonicalSegment {
                index,
                vaddr,
                mem_size,
            });
        }
    }
    if ph.flags & PF_W != 0 && ph.flags & PF_X != 0 {
        return Err(Error::WritableAndExecutable { index, vaddr });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
