//! Address spaces as capabilities: PML4s with address-space ids, page
//! tables mapped into them, frames mapped with rights.
//!
//! A PML4 must be given an ASID (from an `AsidPool` capability) before
//! anything is mapped into it. Frame and page-table capabilities record
//! (ASID, address) of their one mapping; the kernel reaches the PML4 only
//! through the ASID table it owns (and each PML4 records its own ASID in
//! ignored bits of a kernel-slot entry). Destroying a PML4 clears its ASID entry,
//! so a capability that outlives it can never lead the kernel into freed
//! memory; an unmap also checks that the entry still points at the object.
//! The kernel's slots 257–271 are never touched by user mappings.

use crate::arch::paging::{self, PTE_NX, PTE_PRESENT, PTE_USER, PTE_WRITE, read_word, write_word};
use crate::object::Slot;
use crate::object::cnode::KResult;
use core::sync::atomic::{AtomicU64, Ordering};
use septum_abi::Error;
use septum_abi::layout::{is_user_range, is_user_span};
use septum_kcore::cap::{Cap, CapType, Mapping, Rights};

/// Entries in the ASID table (ASID 0 means "none").
pub const ASIDS: usize = 4096;
const PTE_HUGE: u64 = 1 << 7;
const PTE_PWT: u64 = 1 << 3;
const PTE_PCD: u64 = 1 << 4;
const ADDR: u64 = 0x000f_ffff_ffff_f000;

/// PML4 (physical address) by ASID; 0 for none. One CPU, and the kernel
/// runs with interrupts off: the entries need no lock, only atomic words
/// (every map and unmap reads one, so a lock here was pure cost).
static ASID_TABLE: [AtomicU64; ASIDS] = [const { AtomicU64::new(0) }; ASIDS];

/// One bit per ASID, set while it is taken: finding a free one in a pool
/// looks at 64 words, not 4,096 entries.
static ASID_USED: [AtomicU64; ASIDS / 64] = [const { AtomicU64::new(0) }; ASIDS / 64];

/// The PML4 entry that records the ASID a PML4 holds: the last of the
/// kernel's slots, present in every PML4 and never reachable by a user
/// mapping. Every slot outside the kernel's may be mapped by the task
/// (the upper half too: slot 511 holds a Linux kernel's text), so no
/// entry there can carry kernel data: until a review found it, the ASID
/// sat in slot 511's non-present entry, where a page table mapped at
/// `0xffff_ff80_0000_0000` erased it. The ASID goes in bits the CPU
/// ignores in a present PML4 entry: ASID bits 0–10 in entry bits 52–62,
/// bit 11 in entry bit 9. Destroying a PML4 finds its ASID in one read
/// instead of a scan of the table.
const ASID_TAG_SLOT: u64 = *crate::arch::layout::KERNEL_SLOTS.end() as u64;
/// Entry bits that hold ASID bits 0–10, and the one for ASID bit 11.
const TAG_LOW_SHIFT: u64 = 52;
const TAG_HIGH_BIT: u64 = 1 << 9;
const TAG_MASK: u64 = (0x7ff << TAG_LOW_SHIFT) | TAG_HIGH_BIT;
const _: () = assert!(ASIDS <= 1 << 12);

/// The ASID recorded in PML4 `pml4` (0: none).
fn asid_tag(pml4: u64) -> u64 {
    let e = read_word(pml4 + ASID_TAG_SLOT * 8);
    ((e >> TAG_LOW_SHIFT) & 0x7ff) | u64::from(e & TAG_HIGH_BIT != 0) << 11
}

fn set_asid_tag(pml4: u64, asid: u64) {
    // The rest of the entry (the kernel's table for the slot) is kept.
    let at = pml4 + ASID_TAG_SLOT * 8;
    let e = read_word(at) & !TAG_MASK;
    let high = if asid & (1 << 11) != 0 {
        TAG_HIGH_BIT
    } else {
        0
    };
    write_word(at, e | (asid & 0x7ff) << TAG_LOW_SHIFT | high);
}

fn take_asid(asid: u64, pml4: u64) {
    ASID_TABLE[asid as usize].store(pml4, Ordering::Relaxed);
    ASID_USED[asid as usize / 64].fetch_or(1 << (asid % 64), Ordering::Relaxed);
    set_asid_tag(pml4, asid);
}

/// The lowest free ASID in `from..to` (cut to ASIDS).
fn free_asid(from: u64, to: u64) -> Option<u64> {
    septum_kcore::asid::lowest_free(
        ASID_USED.len(),
        |w| ASID_USED[w].load(Ordering::Relaxed),
        from,
        to,
    )
}

fn asid_entry(asid: usize) -> u64 {
    ASID_TABLE
        .get(asid)
        .map_or(0, |e| e.load(Ordering::Relaxed))
}

/// Mapping rights a caller asks for.
pub mod attr {
    /// Writable.
    pub const WRITE: u64 = 1;
    /// Executable.
    pub const EXECUTE: u64 = 2;
}

/// Prepare a PML4 for use (at its ASID assignment): share the kernel's
/// slots.
pub fn init_pml4(pa: u64) {
    let kernel = crate::kernel_pml4();
    for slot in crate::arch::layout::KERNEL_SLOTS {
        write_word(pa + slot as u64 * 8, read_word(kernel + slot as u64 * 8));
    }
}

/// The PML4 registered for `asid`.
pub fn pml4_of(asid: u16) -> Option<u64> {
    let pa = asid_entry(asid as usize);
    (pa != 0).then_some(pa)
}

/// Register the root task's address space under ASID 1 at boot.
pub fn register_boot(asid: u16, pml4: u64) {
    take_asid(asid.into(), pml4);
}

/// Give the PML4 in `vspace` an ASID from `pool`; returns it.
pub fn assign_asid(pool: &Cap, vspace: Slot) -> Result<u64, Error> {
    let Cap::AsidPool { first, count } = *pool else {
        return Err(Error::WrongType);
    };
    let Cap::PageTable {
        object,
        level: 4,
        mapping: None,
    } = vspace.cap()
    else {
        return match vspace.cap() {
            Cap::PageTable { level: 4, .. } => Err(Error::IllegalOperation),
            _ => Err(Error::WrongType),
        };
    };
    // A copy of the capability made before an assignment does not know
    // about it: the PML4 itself says, so one PML4 never holds two ASIDs.
    if asid_tag(object) != 0 {
        return Err(Error::IllegalOperation);
    }
    let end = (u64::from(first) + u64::from(count)).min(ASIDS as u64);
    let asid = free_asid(u64::from(first).max(1), end).ok_or(Error::NotEnoughMemory)?;
    // The kernel's slots go in now, not at retype: nothing uses a PML4
    // before it has an ASID, and a retype of many PML4s would otherwise
    // copy them all in one stretch with interrupts off.
    init_pml4(object);
    take_asid(asid, object);
    let mapping = Some(Mapping {
        asid: asid as u16,
        vaddr: 0,
    });
    vspace.set_cap(&Cap::PageTable {
        object,
        level: 4,
        mapping,
    });
    Ok(asid)
}

/// `AsidPool.issue`: a capability to ids `first..first + count`, a
/// sub-range of the pool in `pool`, derived from it into empty `dst`.
pub fn issue_pool(pool: Slot, first: u64, count: u64, dst: Slot) -> Result<(), Error> {
    let Cap::AsidPool {
        first: pf,
        count: pc,
    } = pool.cap()
    else {
        return Err(Error::WrongType);
    };
    let (pf, pc) = (u64::from(pf), u64::from(pc));
    let end = first.checked_add(count).ok_or(Error::Range)?;
    if count == 0 || first < pf || end > pf + pc || end > ASIDS as u64 {
        return Err(Error::Range);
    }
    let sub = Cap::AsidPool {
        first: first as u16,
        count: count as u32,
    };
    crate::object::cnode::insert(dst, &sub, Some(pool))
}

fn index(va: u64, level: u32) -> u64 {
    (va >> (12 + 9 * level)) & 0x1ff
}

/// Physical address of the entry for `va` at `level` (3 = PML4 … 0 = PT),
/// walking only tables that exist; `None` if one is missing or a huge page
/// is in the way.
fn entry(pml4: u64, va: u64, level: u32) -> Option<u64> {
    let mut table = pml4;
    for l in (level + 1..=3).rev() {
        let e = read_word(table + index(va, l) * 8);
        if e & PTE_PRESENT == 0 || e & PTE_HUGE != 0 {
            return None;
        }
        table = e & ADDR;
    }
    Some(table + index(va, level) * 8)
}

fn flush(pml4: u64, va: u64) {
    if paging::current_root() == pml4 {
        x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(va));
    }
}

/// The (ASID, PML4) of the address-space capability in `vspace`, read from
/// its stored words (every map pays for this).
fn vspace_of(vspace: Slot) -> Result<(u16, u64), Error> {
    let raw = vspace.raw();
    if raw.kind() != Some(CapType::PageTable) || raw.table_level() != 4 {
        return Err(Error::WrongType);
    }
    let m = raw.mapping().ok_or(Error::IllegalOperation)?;
    Ok((m.asid, pml4_of(m.asid).ok_or(Error::IllegalOperation)?))
}

/// Map the frame in `frame` into the address space `vspace` at `va`.
/// `cap` is what `frame` holds, already decoded by the caller.
pub fn map_frame(frame: Slot, cap: &Cap, vspace: Slot, va: u64, attrs: u64) -> Result<(), Error> {
    let Cap::Frame {
        object,
        rights,
        huge,
        mapping,
    } = *cap
    else {
        return Err(Error::WrongType);
    };
    if mapping.is_some() {
        return Err(Error::IllegalOperation);
    }
    // W^X holds for every mapping: a page is writable or executable,
    // never both. Code that writes its own code (a JIT, a guest kernel
    // loading a program) unmaps the page and maps it again executable.
    if attrs & !(attr::WRITE | attr::EXECUTE) != 0 || attrs == attr::WRITE | attr::EXECUTE {
        return Err(Error::Range);
    }
    if !rights.contains(Rights::READ)
        || (attrs & attr::WRITE != 0 && !rights.contains(Rights::WRITE))
    {
        return Err(Error::MissingRight);
    }
    let size = if huge { 2 << 20 } else { 4096 };
    if !va.is_multiple_of(size) {
        return Err(Error::Alignment);
    }
    if !is_user_range(va, size) {
        return Err(Error::InvalidAddress);
    }
    let (asid, pml4) = vspace_of(vspace)?;
    let level = if huge { 1 } else { 0 };
    let e = entry(pml4, va, level).ok_or(Error::IllegalOperation)?;
    if read_word(e) & PTE_PRESENT != 0 {
        return Err(Error::SlotOccupied);
    }
    let mut pte = object | PTE_PRESENT | PTE_USER;
    if attrs & attr::WRITE != 0 {
        pte |= PTE_WRITE;
    }
    if attrs & attr::EXECUTE == 0 {
        pte |= PTE_NX;
    }
    if huge {
        pte |= PTE_HUGE;
    }
    // Device memory (not RAM) is mapped uncached: page-level cache disable
    // and write-through select PAT entry 3, UC, under the default PAT.
    if !crate::mem::is_ram(object) {
        pte |= PTE_PCD | PTE_PWT;
    }
    write_word(e, pte);
    frame.set_cap(&Cap::Frame {
        object,
        rights,
        huge,
        mapping: Some(Mapping { asid, vaddr: va }),
    });
    Ok(())
}

/// Map the page table in `table` (level 1–3) into `vspace` covering `va`.
pub fn map_table(table: Slot, vspace: Slot, va: u64) -> Result<(), Error> {
    let Cap::PageTable {
        object,
        level,
        mapping,
    } = table.cap()
    else {
        return Err(Error::WrongType);
    };
    if level == 4 {
        return Err(Error::IllegalOperation);
    }
    if mapping.is_some() {
        return Err(Error::IllegalOperation);
    }
    // The region the new table covers must be user space (its top page
    // may be the unmappable one below the hole: tables are fine there).
    let span = 1u64 << (12 + 9 * u32::from(level));
    let base = va & !(span - 1);
    if !is_user_span(base, span) {
        return Err(Error::InvalidAddress);
    }
    let (asid, pml4) = vspace_of(vspace)?;
    let e = entry(pml4, base, u32::from(level)).ok_or(Error::IllegalOperation)?;
    if read_word(e) & PTE_PRESENT != 0 {
        return Err(Error::SlotOccupied);
    }
    write_word(e, object | PTE_PRESENT | PTE_WRITE | PTE_USER);
    table.set_cap(&Cap::PageTable {
        object,
        level,
        mapping: Some(Mapping { asid, vaddr: base }),
    });
    Ok(())
}

/// Undo the mapping `cap` records (frame or page table), if it is still in
/// place, and return the capability without it.
fn unmapped(cap: &Cap) -> Cap {
    match *cap {
        Cap::Frame {
            object,
            rights,
            huge,
            mapping: Some(m),
        } => {
            if let Some(pml4) = pml4_of(m.asid)
                && let Some(e) = entry(pml4, m.vaddr, if huge { 1 } else { 0 })
                && read_word(e) & PTE_PRESENT != 0
                && read_word(e) & ADDR == object
            {
                write_word(e, 0);
                flush(pml4, m.vaddr);
            }
            Cap::Frame {
                object,
                rights,
                huge,
                mapping: None,
            }
        }
        Cap::PageTable {
            object,
            level,
            mapping: Some(m),
        } if level < 4 => {
            if let Some(pml4) = pml4_of(m.asid)
                && let Some(e) = entry(pml4, m.vaddr, u32::from(level))
                && read_word(e) & PTE_PRESENT != 0
                && read_word(e) & ADDR == object
            {
                write_word(e, 0);
            }
            // The table's own entries go too, whether or not its parent was
            // still found (its address space may be gone): otherwise the
            // frames and tables below it stay reachable through it if it is
            // mapped again elsewhere, after their capabilities — which
            // remember only the old address — could no longer unmap them.
            paging::zero_phys(object, 4096);
            // A whole table went: flush everything.
            x86_64::instructions::tlb::flush_all();
            Cap::PageTable {
                object,
                level,
                mapping: None,
            }
        }
        other => other,
    }
}

/// Unmap the frame or page table in `slot`.
pub fn unmap(slot: Slot) -> Result<(), Error> {
    let cap = slot.cap();
    match cap {
        Cap::Frame { .. } | Cap::PageTable { level: 1..=3, .. } => {
            slot.set_cap(&unmapped(&cap));
            Ok(())
        }
        Cap::PageTable { .. } => Err(Error::IllegalOperation),
        _ => Err(Error::WrongType),
    }
}

/// Before any frame or page-table capability is deleted: undo its mapping.
pub fn before_delete(slot: Slot) {
    let cap = slot.cap();
    if matches!(
        cap,
        Cap::Frame {
            mapping: Some(_),
            ..
        } | Cap::PageTable {
            level: 1..=3,
            mapping: Some(_),
            ..
        }
    ) {
        slot.set_cap(&unmapped(&cap));
    }
}

/// The last capability to a frame or page table is going.
pub fn finalise(cap: &Cap) -> KResult<()> {
    if let Cap::PageTable {
        object,
        level: 4,
        mapping,
    } = *cap
    {
        // Clear the table by what it holds, not by what this capability
        // remembers: the last capability may be a copy made before the
        // PML4 got its ASID. No entry may outlive the PML4.
        let _ = mapping;
        crate::ioport::vspace_destroyed(object);
        let asid = asid_tag(object);
        if asid != 0 && asid_entry(asid as usize) == object {
            ASID_TABLE[asid as usize].store(0, Ordering::Relaxed);
            ASID_USED[asid as usize / 64].fetch_and(!(1 << (asid % 64)), Ordering::Relaxed);
        }
        // If it is the loaded address space, leave it for the kernel's own.
        if paging::current_root() == object {
            paging::switch_to(crate::kernel_pml4());
        }
    }
    Ok(())
}
