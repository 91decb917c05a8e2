//! Reading a static ELF64 x86_64 executable (ET_EXEC, or ET_DYN for a
//! static-PIE) as Linux's `binfmt_elf` does for one without an
//! interpreter: its entry, its program headers and its `PT_LOAD`
//! segments. Every offset and size is checked against the file.

use alloc::vec::Vec;

use crate::linux::errno::ENOEXEC;

pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;
const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const PT_PHDR: u32 = 6;

#[derive(Clone, Copy, Debug)]
pub struct Load {
    pub vaddr: u64,
    pub memsz: u64,
    pub offset: u64,
    pub filesz: u64,
    /// `PF_X` 1, `PF_W` 2, `PF_R` 4.
    pub flags: u32,
}

#[derive(Debug)]
pub struct Elf {
    pub etype: u16,
    pub entry: u64,
    pub phnum: u64,
    /// The program headers' address as linked (`PT_PHDR`, or found in
    /// the load that covers them), before any load bias.
    pub phdr_vaddr: u64,
    pub loads: Vec<Load>,
}

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

/// `Err(ENOEXEC)` for anything that is not a static x86_64 ELF64 this
/// shim can load (a dynamically linked one included: it names an
/// interpreter the guest does not have yet). The file is `size` bytes,
/// read through `read` (which fills the buffer from that offset, or says
/// false): only the header and the program headers are read here.
pub fn parse(size: u64, read: &dyn Fn(u64, &mut [u8]) -> bool) -> Result<Elf, i64> {
    parse_opt(size, read).ok_or(ENOEXEC)
}

fn parse_opt(size: u64, read: &dyn Fn(u64, &mut [u8]) -> bool) -> Option<Elf> {
    let mut h = [0u8; 64];
    if size < h.len() as u64 || !read(0, &mut h) {
        return None;
    }
    let h = &h[..];
    if h[..4] != *b"\x7fELF" || h[4] != 2 || h[5] != 1 || u16_at(h, 18)? != 62 {
        return None;
    }
    let etype = u16_at(h, 16)?;
    if etype != ET_EXEC && etype != ET_DYN {
        return None;
    }
    let entry = u64_at(h, 24)?;
    let phoff = u64_at(h, 32)?;
    let phentsize = u16_at(h, 54)?;
    let phnum = u64::from(u16_at(h, 56)?);
    if phentsize != 56 || phnum == 0 || phnum > 128 {
        return None;
    }
    let mut ph = alloc::vec![0u8; phnum as usize * 56];
    if phoff.checked_add(ph.len() as u64)? > size || !read(phoff, &mut ph) {
        return None;
    }
    let d = &ph[..];
    let mut loads = Vec::new();
    let mut phdr_vaddr = None;
    for i in 0..phnum {
        let at = (i * 56) as usize;
        let kind = u32_at(d, at)?;
        let flags = u32_at(d, at + 4)?;
        let offset = u64_at(d, at + 8)?;
        let vaddr = u64_at(d, at + 16)?;
        let filesz = u64_at(d, at + 32)?;
        let memsz = u64_at(d, at + 40)?;
        match kind {
            PT_INTERP => return None,
            PT_PHDR => phdr_vaddr = Some(vaddr),
            PT_LOAD => {
                if filesz > memsz
                    || offset.checked_add(filesz)? > size
                    || vaddr.checked_add(memsz)? > crate::process::USER_TOP
                    || vaddr % 4096 != offset % 4096
                {
                    return None;
                }
                loads.push(Load {
                    vaddr,
                    memsz,
                    offset,
                    filesz,
                    flags,
                });
            }
            _ => {}
        }
    }
    if loads.is_empty() {
        return None;
    }
    // Without PT_PHDR, the headers are where the load covering their file
    // offset puts them (Linux does the same).
    let phdr_vaddr = match phdr_vaddr {
        Some(v) => v,
        None => loads
            .iter()
            .find(|l| l.offset <= phoff && phoff < l.offset + l.filesz)
            .map(|l| l.vaddr + (phoff - l.offset))?,
    };
    Some(Elf {
        etype,
        entry,
        phnum,
        phdr_vaddr,
        loads,
    })
}
