//! Reading `hvm_start_info`, the PVH loader's description of the machine.
//!
//! Everything is copied out into [`BootInfo`] right after entry, while the
//! boot mapping still shows the first 4 GiB, so nothing later depends on
//! where the loader put its tables. A structure that is missing, has the
//! wrong magic or points outside that window is refused with a reason.

use super::paging::phys_slice;
use heapless::Vec;

const MAGIC: u32 = 0x336e_c578;
/// Most firmware memory-map entries kept; QEMU gives fewer than 10.
pub const MAX_MEMMAP: usize = 64;
/// Longest kernel command line kept.
pub const MAX_CMDLINE: usize = 256;

/// A firmware memory-map (E820) entry.
#[derive(Clone, Copy, Debug)]
pub struct MemRange {
    pub start: u64,
    pub len: u64,
    /// 1 RAM, 2 reserved, 3 ACPI reclaimable, 4 ACPI NVS, 5 bad.
    pub kind: u32,
}

impl MemRange {
    /// Usable RAM.
    pub const RAM: u32 = 1;
    /// ACPI tables, to be read by the kernel later.
    pub const ACPI: u32 = 3;
    /// ACPI non-volatile storage.
    pub const ACPI_NVS: u32 = 4;
}

/// What the kernel keeps from the loader.
#[derive(Debug)]
pub struct BootInfo {
    pub memmap: Vec<MemRange, MAX_MEMMAP>,
    pub cmdline: heapless::String<MAX_CMDLINE>,
    /// The boot image module: physical start and length.
    pub module: Option<(u64, u64)>,
    pub rsdp: u64,
}

/// Why the loader's information was refused.
#[derive(Clone, Copy, Debug)]
pub enum Error {
    Unreadable { what: &'static str, addr: u64 },
    BadMagic { found: u32 },
    NoMemoryMap { version: u32 },
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Error::Unreadable { what, addr } => {
                write!(f, "{what} at {addr:#x} lies outside the first 4 GiB")
            }
            Error::BadMagic { found } => {
                write!(f, "hvm_start_info magic is {found:#x}, expected {MAGIC:#x}")
            }
            Error::NoMemoryMap { version } => {
                write!(
                    f,
                    "hvm_start_info version {version} carries no memory map (need 1)"
                )
            }
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from(u32_at(b, at)) | (u64::from(u32_at(b, at + 4)) << 32)
}

fn read(what: &'static str, addr: u64, len: u64) -> Result<&'static [u8], Error> {
    phys_slice(addr, len).ok_or(Error::Unreadable { what, addr })
}

/// Copy out what the kernel needs from the `hvm_start_info` at `pa`.
pub fn read_start_info(pa: u64) -> Result<BootInfo, Error> {
    let si = read("hvm_start_info", pa, 56)?;
    let magic = u32_at(si, 0);
    if magic != MAGIC {
        return Err(Error::BadMagic { found: magic });
    }
    let version = u32_at(si, 4);
    if version < 1 {
        return Err(Error::NoMemoryMap { version });
    }
    let nr_modules = u32_at(si, 12);
    let (modlist, cmdline_pa, rsdp) = (u64_at(si, 16), u64_at(si, 24), u64_at(si, 32));
    let (memmap_pa, memmap_n) = (u64_at(si, 40), u32_at(si, 48));

    let mut info = BootInfo {
        memmap: Vec::new(),
        cmdline: heapless::String::new(),
        module: None,
        rsdp,
    };
    let n = (memmap_n as usize).min(MAX_MEMMAP);
    let table = read("memory map", memmap_pa, n as u64 * 24)?;
    for e in table.chunks_exact(24) {
        let range = MemRange {
            start: u64_at(e, 0),
            len: u64_at(e, 8),
            kind: u32_at(e, 16),
        };
        // Cannot fail: at most MAX_MEMMAP chunks.
        let _ = info.memmap.push(range);
    }
    if cmdline_pa != 0 {
        let bytes = read("command line", cmdline_pa, MAX_CMDLINE as u64)
            .or_else(|_| read("command line", cmdline_pa, 1))?;
        for &b in bytes.iter().take_while(|&&b| b != 0) {
            if info
                .cmdline
                .push(if b.is_ascii() { b as char } else { '?' })
                .is_err()
            {
                break;
            }
        }
    }
    if nr_modules > 0 {
        let m = read("module list", modlist, 32)?;
        info.module = Some((u64_at(m, 0), u64_at(m, 8)));
    }
    Ok(info)
}
