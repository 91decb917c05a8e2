//! Where the kernel puts things in its reserved PML4 slots (257–271).
//!
//! | slots    | what                                                        |
//! |----------|-------------------------------------------------------------|
//! | 257      | kernel image at `KERNEL_OFFSET + physical address`, W^X      |
//! | 258–265  | direct map of physical RAM at `PHYS_MAP_BASE`, RW + NX       |
//! | 266      | local APIC registers at `LAPIC_BASE` (one page, uncached)    |
//! | 266      | IOAPIC registers from `IOAPIC_BASE` (a page each, uncached)  |
//! | 267      | `ACPI_WINDOW`: firmware tables, read-only, while booting     |
//! | 268–271  | otherwise free for later use (per-CPU areas on SMP)          |
//!
//! The entries for all fifteen slots are created at boot and copied into
//! every address space, so kernel mappings made later show up everywhere.
//! A task's copy of the slot-271 entry also carries its PML4's ASID, in
//! bits the CPU ignores (`vspace::ASID_TAG_SLOT`): mask entries with the
//! address bits before following them.

use septum_abi::layout::{KERNEL_PML4_FIRST, KERNEL_PML4_LAST, KERNEL_SPACE_START};

/// Link-time offset of the kernel image: virtual = physical + this.
pub const KERNEL_OFFSET: u64 = KERNEL_SPACE_START;
/// Base of the direct map of physical memory.
pub const PHYS_MAP_BASE: u64 = 0xffff_8100_0000_0000;
/// Bytes of physical address space the direct map can cover (slots 258–265).
pub const PHYS_MAP_SIZE: u64 = 8 << 39;
/// Where the local APIC's register page is mapped (uncached, RW + NX).
pub const LAPIC_BASE: u64 = 0xffff_8500_0000_0000;
/// Where the IOAPICs' register pages are mapped (uncached, RW + NX), one
/// page each, from 64 KiB above the local APIC's.
pub const IOAPIC_BASE: u64 = LAPIC_BASE + 0x1_0000;
/// The window through which boot reads the ACPI tables (read-only, NX,
/// uncached; `arch::acpi`). Empty once boot is done.
pub const ACPI_WINDOW: u64 = 0xffff_8580_0000_0000;
/// Size of the boot CPU's kernel stack.
pub const KERNEL_STACK_SIZE: usize = 64 * 1024;
/// PML4 slot range owned by the kernel, shared by every address space.
pub const KERNEL_SLOTS: core::ops::RangeInclusive<usize> = KERNEL_PML4_FIRST..=KERNEL_PML4_LAST;

const _: () = assert!((PHYS_MAP_BASE >> 39) & 0x1ff == 258);
const _: () = assert!(((PHYS_MAP_BASE + PHYS_MAP_SIZE - 1) >> 39) & 0x1ff == 265);
const _: () = assert!((LAPIC_BASE >> 39) & 0x1ff == 266);
const _: () = assert!((IOAPIC_BASE >> 39) & 0x1ff == 266);
const _: () = assert!((ACPI_WINDOW >> 39) & 0x1ff == 267);

unsafe extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
}

/// Physical start and end of the kernel image (from the linker script).
pub fn kernel_image() -> (u64, u64) {
    // Only the symbols' addresses are taken, never their contents.
    let (start, end) = (&raw const __kernel_start, &raw const __kernel_end);
    (start as u64 - KERNEL_OFFSET, end as u64 - KERNEL_OFFSET)
}
