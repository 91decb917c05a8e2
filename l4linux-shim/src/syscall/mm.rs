//! Memory: brk, mmap (anonymous, and private file mappings), munmap,
//! mprotect, madvise. Areas are recorded here; pages are made when first
//! touched (`Process::fault`).

use super::Args;
use crate::Shim;
use crate::fd::FdKind;
use crate::linux::errno::*;
use crate::linux::*;
use crate::process::{Backing, MMAP_TOP, PAGE_U64, Process, USER_TOP, Vma};

/// How far the heap may grow (Linux bounds it by RLIMIT_DATA; the
/// process's untyped bounds it first).
const BRK_MAX: u64 = 1 << 30;
/// Lowest address `mmap` picks by itself.
const MMAP_BOTTOM: u64 = 0x1000_0000;

fn page_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE_U64 - 1).map(|v| v & !(PAGE_U64 - 1))
}

pub fn brk(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let want = a[0];
    if want < p.brk_start || want > p.brk_start + BRK_MAX {
        return Ok(p.brk);
    }
    let (Some(old_end), Some(new_end)) = (page_up(p.brk), page_up(want)) else {
        return Ok(p.brk);
    };
    if new_end > old_end {
        if p.overlaps(old_end, new_end) {
            return Ok(p.brk);
        }
        p.remove_range(p.brk_start, old_end);
        if p.add_vma(Vma {
            start: p.brk_start,
            end: new_end,
            prot: PROT_READ | PROT_WRITE,
            backing: Backing::Anon,
        })
        .is_err()
        {
            return Ok(p.brk);
        }
    } else if new_end < old_end {
        p.drop_pages(&mut s.sys, new_end, old_end);
        p.remove_range(new_end, old_end);
    }
    p.brk = want;
    Ok(want)
}

pub fn mmap(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let (addr, len, prot, flags, fd, off) = (a[0], a[1], a[2], a[3], a[4], a[5]);
    if len == 0 || off % PAGE_U64 != 0 || prot & !7 != 0 {
        return Err(EINVAL);
    }
    if !matches!(flags & 3, 1..=3) {
        return Err(EINVAL);
    }
    let len = page_up(len).filter(|&l| l <= USER_TOP).ok_or(ENOMEM)?;
    // A file's bytes: the archive's back the area as they are touched; a
    // file written at run time is copied in once the area is made (`fill`).
    let mut fill = None;
    let backing = if flags & MAP_ANONYMOUS != 0 {
        Backing::Anon
    } else {
        let f = p.fds.get(fd as usize).cloned().flatten().ok_or(EBADF)?;
        let FdKind::File { node } = f.kind() else {
            return Err(ENODEV);
        };
        if flags & 3 != MAP_PRIVATE && prot & PROT_WRITE != 0 {
            // A shared writable mapping: mappings are private copies.
            return Err(EACCES);
        }
        if f.flags() & O_ACCMODE == O_WRONLY {
            return Err(EACCES);
        }
        if !matches!(s.fs.node(node).kind, crate::fs::Kind::File(_)) {
            return Err(ENODEV);
        }
        match s.fs.packed(node) {
            Some(data) => Backing::File {
                data: &data[(off as usize).min(data.len())..],
                vaddr: 0,
            },
            None => {
                fill = Some((node, off));
                Backing::Anon
            }
        }
    };
    let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
    let start = if fixed {
        if addr % PAGE_U64 != 0 {
            return Err(EINVAL);
        }
        let end = addr
            .checked_add(len)
            .filter(|&e| e <= USER_TOP)
            .ok_or(ENOMEM)?;
        if p.overlaps(addr, end) {
            if !p.fits_after(addr, end, false) {
                return Err(ENOMEM);
            }
            if flags & MAP_FIXED_NOREPLACE != 0 {
                return Err(EEXIST);
            }
            p.drop_pages(&mut s.sys, addr, end);
            p.remove_range(addr, end);
        }
        addr
    } else {
        let hint = addr & !(PAGE_U64 - 1);
        if hint >= MMAP_BOTTOM
            && hint.checked_add(len).is_some_and(|e| e <= MMAP_TOP)
            && !p.overlaps(hint, hint + len)
        {
            hint
        } else {
            find_free(p, len).ok_or(ENOMEM)?
        }
    };
    let backing = match backing {
        Backing::File { data, .. } => Backing::File { data, vaddr: start },
        b => b,
    };
    p.add_vma(Vma {
        start,
        end: start + len,
        prot,
        backing,
    })?;
    if let Some((node, off)) = fill {
        let n = s.fs.size(node).saturating_sub(off).min(len);
        if let Err(e) = s.fill(p, node, off, start, n) {
            p.drop_pages(&mut s.sys, start, start + len);
            p.remove_range(start, start + len);
            return Err(e);
        }
    }
    Ok(start)
}

/// The highest free range of `len` bytes below the last one given.
fn find_free(p: &mut Process, len: u64) -> Option<u64> {
    let mut top = p.mmap_next;
    loop {
        let start = top.checked_sub(len)?;
        if start < MMAP_BOTTOM {
            return None;
        }
        match p
            .vmas
            .iter()
            .filter(|v| v.start < top && start < v.end)
            .map(|v| v.start)
            .min()
        {
            None => {
                p.mmap_next = start;
                return Some(start);
            }
            Some(below) => top = below,
        }
    }
}

pub fn munmap(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let (addr, len) = (a[0], a[1]);
    if addr % PAGE_U64 != 0 || len == 0 {
        return Err(EINVAL);
    }
    let end = page_up(len)
        .and_then(|l| addr.checked_add(l))
        .filter(|&e| e <= USER_TOP)
        .ok_or(EINVAL)?;
    if !p.fits_after(addr, end, false) {
        return Err(ENOMEM);
    }
    p.drop_pages(&mut s.sys, addr, end);
    p.remove_range(addr, end);
    Ok(0)
}

pub fn mprotect(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let (addr, len, prot) = (a[0], a[1], a[2]);
    // PROT_GROWSDOWN and PROT_GROWSUP are accepted and ignored.
    if addr % PAGE_U64 != 0 || prot & !(7 | 0x0100_0000 | 0x0200_0000) != 0 {
        return Err(EINVAL);
    }
    let end = page_up(len)
        .and_then(|l| addr.checked_add(l))
        .ok_or(ENOMEM)?;
    if end > USER_TOP {
        return Err(ENOMEM);
    }
    // Every page of the range must be mapped.
    let mut at = addr;
    while at < end {
        let v = p.vma(at).ok_or(ENOMEM)?;
        at = v.end;
    }
    if !p.fits_after(addr, end, true) {
        return Err(ENOMEM);
    }
    p.protect_range(addr, end, prot & 7);
    p.reprotect(&mut s.sys, addr, end)?;
    Ok(0)
}

pub fn madvise(_: &mut Shim, _: &mut Process, a: &Args) -> SysResult {
    if !a[0].is_multiple_of(PAGE_U64) {
        return Err(EINVAL);
    }
    Ok(0)
}
