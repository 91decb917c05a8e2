//! Memory: brk, mmap (anonymous, and private file mappings), munmap,
//! mprotect, madvise. Areas are recorded here; pages are made when first
//! touched (`Process::fault`).

use super::Args;
use super::fs::{fd_of, readable};
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

/// mmap, checking its arguments in Linux's order (`ksys_mmap_pgoff`,
/// `do_mmap`): the offset's alignment, the descriptor (unless
/// anonymous), the length, where it goes, then the mapping's type and
/// the file's access. Protection bits Linux does not know are ignored,
/// as it ignores them.
pub fn mmap(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let (addr, len, flags, off) = (a[0], a[1], a[3], a[5]);
    let prot = a[2] & (PROT_READ | PROT_WRITE | PROT_EXEC);
    if off % PAGE_U64 != 0 {
        return Err(EINVAL);
    }
    // Linux takes the descriptor as an unsigned int.
    let file = if flags & MAP_ANONYMOUS == 0 {
        Some(fd_of(p, u64::from(a[4] as u32))?)
    } else {
        None
    };
    if len == 0 {
        return Err(EINVAL);
    }
    let len = page_up(len).filter(|&l| l <= USER_TOP).ok_or(ENOMEM)?;
    let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
    let start = if fixed {
        let end = addr
            .checked_add(len)
            .filter(|&e| e <= USER_TOP)
            .ok_or(ENOMEM)?;
        if addr % PAGE_U64 != 0 {
            return Err(EINVAL);
        }
        if p.overlaps(addr, end) && flags & MAP_FIXED_NOREPLACE != 0 {
            return Err(EEXIST);
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
    // MAP_SHARED, MAP_PRIVATE or MAP_SHARED_VALIDATE.
    if !matches!(flags & 3, 1..=3) {
        return Err(EINVAL);
    }
    let mut fill = None;
    let backing = match file {
        None => Backing::Anon,
        Some(f) => {
            let shared = flags & 3 != MAP_PRIVATE;
            if shared && prot & PROT_WRITE != 0 {
                // A shared writable mapping (of a file not open for
                // writing, Linux's case; the shim has none of the others).
                return Err(EACCES);
            }
            if !readable(f.flags()) {
                return Err(EACCES);
            }
            let FdKind::File { node } = f.kind() else {
                return Err(ENODEV);
            };
            // The archive's bytes back the area as they are touched; a
            // file written at run time is copied in once the area is
            // made (`Shim::fill`): its pages may change or go meanwhile.
            match s.fs.packed(node) {
                Some(data) => Backing::File {
                    data: &data[off.min(data.len() as u64) as usize..],
                    vaddr: start,
                },
                None => {
                    fill = Some((node, off));
                    Backing::Filled
                }
            }
        }
    };
    if fixed && p.overlaps(start, start + len) {
        if !p.fits_after(start, start + len, false) {
            return Err(ENOMEM);
        }
        p.drop_pages(&mut s.sys, start, start + len);
        p.remove_range(start, start + len);
    }
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

/// Advice Linux 6.1 knows (`madvise_behavior_valid`, less the
/// memory-failure ones, which need CONFIG_MEMORY_FAILURE): NORMAL to
/// DONTNEED, then FREE to COLLAPSE.
fn known_advice(advice: u64) -> bool {
    matches!(advice, 0..=4 | 8..=25)
}

const MADV_DONTNEED: u64 = 4;
const MADV_REMOVE: u64 = 9;
const MADV_DONTNEED_LOCKED: u64 = 24;

/// madvise, as Linux checks it: the advice and the range first (EINVAL),
/// an empty range does nothing, then each area in the range takes the
/// advice and a hole in it makes the answer ENOMEM. DONTNEED drops the
/// pages (the next touch finds zeroes, or the file's bytes again; an
/// area copied from a file written at run time keeps them); REMOVE
/// needs a shared file mapping, which the shim has none of; the other
/// advice is a hint the shim does not need.
pub fn madvise(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let (start, len, advice) = (a[0], a[1], a[2] & 0xffff_ffff);
    if !known_advice(advice) || start % PAGE_U64 != 0 {
        return Err(EINVAL);
    }
    let end = page_up(len)
        .and_then(|l| start.checked_add(l))
        .ok_or(EINVAL)?;
    if end == start {
        return Ok(0);
    }
    let areas: alloc::vec::Vec<(u64, u64, Backing)> = p
        .vmas
        .iter()
        .filter(|v| v.start < end && start < v.end)
        .map(|v| (v.start.max(start), v.end.min(end), v.backing))
        .collect();
    if areas.is_empty() {
        return Err(ENOMEM);
    }
    if advice == MADV_REMOVE {
        return Err(EINVAL);
    }
    if matches!(advice, MADV_DONTNEED | MADV_DONTNEED_LOCKED) {
        for &(lo, hi, backing) in &areas {
            if !matches!(backing, Backing::Filled) {
                p.drop_pages(&mut s.sys, lo, hi);
            }
        }
    }
    // The areas are sorted and never overlap: the range is whole if they
    // meet end to end from `start` to `end`.
    let whole = areas.first().map(|r| r.0) == Some(start)
        && areas.last().map(|r| r.1) == Some(end)
        && areas.windows(2).all(|w| w[0].1 == w[1].0);
    if !whole {
        return Err(ENOMEM);
    }
    Ok(0)
}
