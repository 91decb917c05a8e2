//! Four-level page tables: building the kernel's address space, creating
//! user address spaces, mapping pages, and walking tables in software.
//!
//! Every page-table frame is reached through the direct map, never through
//! a recursive slot. Before [`init_kernel_space`] switches CR3 the "direct
//! map" is the boot mapping of the first 4 GiB at `KERNEL_OFFSET`; after it,
//! the real one at `PHYS_MAP_BASE`. The kernel image is mapped W^X (text RX,
//! rodata R, data RW+NX) with the kernel stack's guard page left unmapped;
//! the direct map is RW+NX. Kernel entries are global and never user-accessible.

use super::layout::{KERNEL_OFFSET, KERNEL_SLOTS, PHYS_MAP_BASE, PHYS_MAP_SIZE};
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::PhysAddr;
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::PhysFrame;

pub const PTE_PRESENT: u64 = 1;
pub const PTE_WRITE: u64 = 1 << 1;
pub const PTE_USER: u64 = 1 << 2;
pub const PTE_HUGE: u64 = 1 << 7;
pub const PTE_GLOBAL: u64 = 1 << 8;
pub const PTE_NX: u64 = 1 << 63;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

const PAGE: u64 = 4096;
const HUGE: u64 = 2 << 20;

/// Offset at which physical memory is visible to the kernel right now.
static PHYS_OFFSET: AtomicU64 = AtomicU64::new(KERNEL_OFFSET);
/// Bytes of physical memory visible through `PHYS_OFFSET`.
static PHYS_LIMIT: AtomicU64 = AtomicU64::new(4 << 30);

/// Kernel virtual address of physical address `pa`, if the kernel can see it.
pub fn phys_to_virt(pa: u64) -> Option<u64> {
    (pa < PHYS_LIMIT.load(Ordering::Relaxed)).then(|| PHYS_OFFSET.load(Ordering::Relaxed) + pa)
}

/// The kernel's view of `len` bytes of physical memory at `pa`.
///
/// The caller promises by the call that the range is RAM the kernel owns
/// (a boot module, a frame it allocated) and that nothing writes it while
/// the slice lives; `None` if the range is not in the direct map.
pub fn phys_slice(pa: u64, len: u64) -> Option<&'static [u8]> {
    let end = pa.checked_add(len)?;
    if end > PHYS_LIMIT.load(Ordering::Relaxed) {
        return None;
    }
    let va = phys_to_virt(pa)?;
    // SAFETY: the range lies inside the direct map (checked above), which
    // maps RAM readable; see the caller's promise for exclusivity.
    Some(unsafe { core::slice::from_raw_parts(va as *const u8, len as usize) })
}

/// Why a mapping was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// No frame for an intermediate table.
    OutOfMemory,
    /// Something is already mapped there.
    AlreadyMapped { va: u64 },
    /// Address not aligned for the page size.
    Misaligned { va: u64 },
}

fn table(pa: u64) -> *mut [u64; 512] {
    phys_to_virt(pa).expect("page tables live in the direct map") as *mut [u64; 512]
}

fn zero_frame(pa: u64) {
    // SAFETY: `pa` is a frame just allocated for the kernel's exclusive use,
    // inside the direct map; writing zeros to it disturbs nothing else.
    unsafe { core::ptr::write_bytes(table(pa), 0, 1) };
}

fn index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * level)) & 0x1ff) as usize
}

/// Map one page (4 KiB, or 2 MiB when `huge`) at `va` to `pa` with `flags`
/// in the address space rooted at `pml4`, creating intermediate tables from
/// `alloc`. Intermediate entries are permissive (writable, executable, and
/// user-accessible when `flags` has `PTE_USER`); the leaf decides.
pub fn map(
    pml4: u64,
    va: u64,
    pa: u64,
    flags: u64,
    huge: bool,
    alloc: &mut dyn FnMut() -> Option<u64>,
) -> Result<(), MapError> {
    let size = if huge { HUGE } else { PAGE };
    if !va.is_multiple_of(size) || !pa.is_multiple_of(size) {
        return Err(MapError::Misaligned { va });
    }
    let leaf_level = if huge { 1 } else { 0 };
    let mut tab = pml4;
    for level in (leaf_level + 1..=3).rev() {
        let slot = index(va, level);
        // SAFETY: `tab` is a page-table frame of this address space, in the
        // direct map; the kernel runs single-threaded with interrupts off.
        let entry = unsafe { &mut (*table(tab))[slot] };
        if *entry & PTE_PRESENT == 0 {
            let next = alloc().ok_or(MapError::OutOfMemory)?;
            zero_frame(next);
            *entry = next | PTE_PRESENT | PTE_WRITE | (flags & PTE_USER);
        } else if *entry & PTE_HUGE != 0 {
            return Err(MapError::AlreadyMapped { va });
        }
        tab = *entry & ADDR_MASK;
    }
    // SAFETY: as above.
    let leaf = unsafe { &mut (*table(tab))[index(va, leaf_level)] };
    if *leaf & PTE_PRESENT != 0 {
        return Err(MapError::AlreadyMapped { va });
    }
    *leaf = pa | flags | PTE_PRESENT | if huge { PTE_HUGE } else { 0 };
    Ok(())
}

/// Remove the 4 KiB mapping at `va` in the kernel's own slots (a page
/// [`map`] made there), if there is one, and flush it from the TLB.
pub fn unmap_kernel_page(pml4: u64, va: u64) {
    let mut tab = pml4;
    for level in (1..=3).rev() {
        // SAFETY: page-table frames are in the direct map; read only.
        let entry = unsafe { (*table(tab))[index(va, level)] };
        if entry & PTE_PRESENT == 0 || entry & PTE_HUGE != 0 {
            return;
        }
        tab = entry & ADDR_MASK;
    }
    // SAFETY: a page-table frame of the kernel's, in the direct map; the
    // kernel runs single-threaded with interrupts off.
    unsafe { (*table(tab))[index(va, 0)] = 0 };
    x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(va));
}

/// Walk the tables of `pml4` for `va`: the physical address it maps to and
/// the effective rights (`PTE_WRITE`/`PTE_USER` only if every level grants
/// them, `PTE_NX` if any level sets it).
pub fn translate(pml4: u64, va: u64) -> Option<(u64, u64)> {
    let mut tab = pml4;
    let mut rights = PTE_WRITE | PTE_USER;
    let mut nx = 0;
    for level in (0..=3).rev() {
        // SAFETY: page-table frames are in the direct map; read only.
        let entry = unsafe { (*table(tab))[index(va, level)] };
        if entry & PTE_PRESENT == 0 {
            return None;
        }
        rights &= entry;
        nx |= entry & PTE_NX;
        if level == 0 || entry & PTE_HUGE != 0 {
            let page = (1u64 << (12 + 9 * level)) - 1;
            let pa = (entry & ADDR_MASK & !page) | (va & page);
            return Some((pa, rights | nx | PTE_PRESENT));
        }
        tab = entry & ADDR_MASK;
    }
    None
}

unsafe extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __kernel_end: u8;
    static __kernel_stack_guard: u8;
}

/// Build the kernel's final address space and switch to it. `ram` lists
/// the physical ranges to put in the direct map (RAM and ACPI tables).
/// Returns the physical address of the kernel PML4, the template every
/// user address space copies slots 257–271 from.
pub fn init_kernel_space(
    ram: &mut dyn Iterator<Item = (u64, u64)>,
    alloc: &mut dyn FnMut() -> Option<u64>,
) -> Result<u64, MapError> {
    let pml4 = alloc().ok_or(MapError::OutOfMemory)?;
    zero_frame(pml4);
    // Every kernel slot gets its PDPT now, so user address spaces can share
    // them by copying the PML4 entries once.
    for slot in KERNEL_SLOTS {
        let pdpt = alloc().ok_or(MapError::OutOfMemory)?;
        zero_frame(pdpt);
        // SAFETY: `pml4` was just allocated and zeroed; nothing else uses it.
        unsafe { (*table(pml4))[slot] = pdpt | PTE_PRESENT | PTE_WRITE };
    }

    // Linker-script symbols: only their addresses are taken.
    let (text, text_end, ro, ro_end, data, end, guard) = (
        &raw const __text_start as u64,
        &raw const __text_end as u64,
        &raw const __rodata_start as u64,
        &raw const __rodata_end as u64,
        &raw const __data_start as u64,
        &raw const __kernel_end as u64,
        &raw const __kernel_stack_guard as u64,
    );
    let image = [
        (text, text_end, PTE_GLOBAL),
        (ro, ro_end, PTE_GLOBAL | PTE_NX),
        (data & !(PAGE - 1), end, PTE_GLOBAL | PTE_NX | PTE_WRITE),
    ];
    for (start, stop, flags) in image {
        let mut va = start;
        while va < stop {
            if va != guard {
                map(pml4, va, va - KERNEL_OFFSET, flags, false, alloc)?;
            }
            va += PAGE;
        }
    }

    let mut limit = 0;
    for (start, end) in ram {
        let end = end.min(PHYS_MAP_SIZE);
        let mut pa = start & !(PAGE - 1);
        while pa < end {
            let huge = pa.is_multiple_of(HUGE) && pa + HUGE <= end;
            let flags = PTE_GLOBAL | PTE_NX | PTE_WRITE;
            match map(pml4, PHYS_MAP_BASE + pa, pa, flags, huge, alloc) {
                // Neighbouring firmware ranges may share a page.
                Ok(()) | Err(MapError::AlreadyMapped { .. }) => {}
                Err(e) => return Err(e),
            }
            pa += if huge { HUGE } else { PAGE };
        }
        limit = limit.max(end);
    }

    let frame = PhysFrame::containing_address(PhysAddr::new(pml4));
    // SAFETY: the new tables map the kernel image at the addresses it is
    // linked at (the running code, stack and data stay reachable) and all
    // RAM in the direct map; the boot mapping is no longer used after this.
    unsafe { Cr3::write(frame, Cr3Flags::empty()) };
    LOADED_ROOT.store(pml4, Ordering::Relaxed);
    PHYS_OFFSET.store(PHYS_MAP_BASE, Ordering::Relaxed);
    PHYS_LIMIT.store(limit, Ordering::Relaxed);
    Ok(pml4)
}

/// A new, empty user address space sharing the kernel's slots.
pub fn new_address_space(
    kernel_pml4: u64,
    alloc: &mut dyn FnMut() -> Option<u64>,
) -> Result<u64, MapError> {
    let pml4 = alloc().ok_or(MapError::OutOfMemory)?;
    zero_frame(pml4);
    for slot in KERNEL_SLOTS {
        // SAFETY: both are page-table frames in the direct map; `pml4` is new.
        unsafe { (*table(pml4))[slot] = (*table(kernel_pml4))[slot] };
    }
    Ok(pml4)
}

/// CR3's address bits (no PCID, no PWT/PCD: the flag bits stay 0).
const CR3_ADDRESS: u64 = 0x000f_ffff_ffff_f000;

/// The PML4 in CR3, as last written: the kernel writes CR3 only here and
/// in `switch_to`, so a load of this word answers what reading CR3 and
/// masking its flags would (two instructions fewer on every switch).
static LOADED_ROOT: AtomicU64 = AtomicU64::new(0);

/// The physical address of the loaded PML4.
#[inline(always)]
pub fn current_root() -> u64 {
    let root = LOADED_ROOT.load(Ordering::Relaxed);
    debug_assert_eq!(root, {
        let cr3: u64;
        // SAFETY: reading CR3 has no side effects.
        unsafe {
            core::arch::asm!("mov {}, cr3", out(reg) cr3, options(nomem, nostack, preserves_flags))
        };
        cr3 & CR3_ADDRESS
    });
    root
}

/// Make `pml4` the current address space. `pml4` is a PML4 (a page table
/// object: page-aligned, in RAM below 2^52), so CR3's flag bits are 0.
#[inline(always)]
pub fn switch_to(pml4: u64) {
    debug_assert_eq!(
        pml4 & !CR3_ADDRESS,
        0,
        "PML4 {pml4:#x} is no page-table object"
    );
    // SAFETY: every address space made by `new_address_space` maps the
    // kernel identically, so the running kernel code is unaffected.
    unsafe { core::arch::asm!("mov cr3, {}", in(reg) pml4, options(nostack, preserves_flags)) };
    LOADED_ROOT.store(pml4, Ordering::Relaxed);
}

/// Copy `dst.len()` bytes into the frame at physical `pa`, `offset` bytes in.
pub fn write_frame(pa: u64, offset: usize, src: &[u8]) {
    let va = phys_to_virt(pa).expect("frames live in the direct map");
    assert!(offset + src.len() <= PAGE as usize);
    // SAFETY: the frame is the kernel's, in the direct map, and the range is
    // inside it (asserted); `src` is kernel memory that cannot overlap it.
    unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), (va as *mut u8).add(offset), src.len()) };
}

/// Zero the frame at physical `pa`.
pub fn clear_frame(pa: u64) {
    zero_frame(pa);
}

/// The kernel address of physical `pa`, which must be in the direct map and
/// `align`-aligned. Object memory always is: objects come from untyped
/// capabilities the kernel made from RAM. A violation is a kernel bug.
///
/// Object addresses come only from capabilities and links the kernel made
/// itself from RAM in the direct map, so release builds trust that
/// invariant here (this is the kernel's hottest code: every object field
/// access); debug builds check it. Objects exist only after the direct map
/// does, so the address is the constant direct-map base plus `pa`.
#[inline(always)]
fn object_addr(pa: u64, align: u64) -> *mut u64 {
    debug_assert!(
        pa.is_multiple_of(align) && pa < PHYS_LIMIT.load(Ordering::Relaxed),
        "object address {pa:#x} misaligned or outside the direct map"
    );
    debug_assert_eq!(PHYS_OFFSET.load(Ordering::Relaxed), PHYS_MAP_BASE);
    (PHYS_MAP_BASE + pa) as *mut u64
}

/// The kernel address of the kernel object at physical `pa` (see
/// `object_addr`: the direct map, trusted in release builds).
#[inline(always)]
pub fn object_va(pa: u64) -> u64 {
    object_addr(pa, 8) as u64
}

/// Read the word at physical `pa` (kernel object memory).
#[inline(always)]
pub fn read_word(pa: u64) -> u64 {
    // SAFETY: the word is mapped and aligned: object addresses come from
    // kernel-made capabilities in the direct map (see `object_addr`). The

    // kernel is single-threaded with interrupts off, and no reference into
    // object memory is ever held, so this read races with nothing.
    unsafe { object_addr(pa, 8).read() }
}

/// Write the word at physical `pa` (kernel object memory).
#[inline(always)]
pub fn write_word(pa: u64, value: u64) {
    // SAFETY: as for `read_word`; object memory is only ever written through
    // these accessors, and never mapped into user space while it holds an object.
    unsafe { object_addr(pa, 8).write(value) }
}

/// Zero `len` bytes of physical memory at `pa` (both 8-byte aligned):
/// fresh objects, cleared frames.
pub fn zero_phys(pa: u64, len: u64) {
    if len == 0 {
        return;
    }
    let end = pa.checked_add(len).expect("zeroed range wraps");
    assert!(
        end <= PHYS_LIMIT.load(Ordering::Relaxed),
        "zeroed range outside the direct map"
    );
    let va = object_addr(pa, 8);
    // SAFETY: the whole range lies in the direct map (checked above) and is
    // memory the caller owns (an untyped range being retyped, a frame).
    unsafe { core::ptr::write_bytes(va as *mut u8, 0, len as usize) };
}
