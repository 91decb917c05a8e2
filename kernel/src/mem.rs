//! Physical memory the kernel takes for its own boot-time structures (its
//! page tables, the root task's image, stack and IPC buffer).
//!
//! What is left after boot becomes the root task's untyped memory (the
//! kernel-core issue); from then on the kernel allocates nothing on its own.

use core::sync::atomic::{AtomicU64, Ordering};
use septum_kcore::physmem::FreeMemory;

/// Free physical memory, page-granular.
pub static FREE: spin::Mutex<FreeMemory> = spin::Mutex::new(FreeMemory::new());

/// One 4 KiB frame (contents undefined), or `None` when memory is exhausted.
pub fn alloc_frame() -> Option<u64> {
    FREE.lock().alloc_frame()
}

/// What the firmware's memory map says, kept for the kernel's later
/// questions: which frames are RAM (mapped cached) and which physical
/// ranges are device memory (handed to the root task as device untypeds,
/// mapped uncached). Set once at boot.
static MAP: spin::Once<heapless::Vec<(u64, u64, u32), 64>> = spin::Once::new();
/// Pages of device registers the kernel itself drives (local APIC,
/// IOAPICs): never part of a device untyped.
static KERNEL_MMIO: spin::Mutex<heapless::Vec<u64, 16>> = spin::Mutex::new(heapless::Vec::new());

/// The RAM ranges (start, end) of the map, largest first, for [`is_ram`]
/// (every frame mapping asks): a PC has two or three.
static RAM: [(AtomicU64, AtomicU64); 8] = [const { (AtomicU64::new(0), AtomicU64::new(0)) }; 8];

/// Keep the firmware memory map: (start, end, E820 type) per entry.
pub fn set_memory_map(entries: impl Iterator<Item = (u64, u64, u32)>) {
    let map = MAP.call_once(|| entries.collect());
    let mut ram: heapless::Vec<(u64, u64), 64> = map
        .iter()
        .filter(|e| e.2 == 1)
        .map(|e| (e.0, e.1))
        .collect();
    ram.sort_unstable_by_key(|&(s, e)| core::cmp::Reverse(e - s));
    if ram.len() > RAM.len() {
        crate::warn!(
            "memory map: more than {} RAM ranges; the smallest are mapped uncached",
            RAM.len()
        );
    }
    for (slot, &(s, e)) in RAM.iter().zip(ram.iter()) {
        slot.0.store(s, Ordering::Relaxed);
        slot.1.store(e, Ordering::Relaxed);
    }
}

/// The kernel drives the device registers in the page at `pa`.
pub fn reserve_mmio(pa: u64) {
    let _ = KERNEL_MMIO.lock().push(pa & !0xfff);
}

/// Whether the frame at `pa` is RAM (E820 type 1), as opposed to device
/// memory: what decides whether a mapping of it is cached.
#[inline]
pub fn is_ram(pa: u64) -> bool {
    RAM.iter()
        .any(|(s, e)| (s.load(Ordering::Relaxed)..e.load(Ordering::Relaxed)).contains(&pa))
}

/// Device memory: the physical ranges from 1 MiB to 4 GiB that the memory
/// map lists as nothing at all (on a PC, the PCI hole and the chipset's
/// registers: HPET, the IOAPICs' neighbours), minus the pages the kernel
/// drives itself. Ranges the map names (RAM, ACPI, reserved) are never
/// device memory: firmware keeps what it reserved. Calls `f(start, end)`
/// for each, in address order.
pub fn device_ranges(mut f: impl FnMut(u64, u64)) {
    const LOW: u64 = 1 << 20;
    const HIGH: u64 = 4 << 30;
    let Some(map) = MAP.get() else { return };
    let mut cuts: heapless::Vec<(u64, u64), 96> = heapless::Vec::new();
    for &(s, e, _) in map.iter() {
        let _ = cuts.push((s & !0xfff, (e + 0xfff) & !0xfff));
    }
    for &p in KERNEL_MMIO.lock().iter() {
        let _ = cuts.push((p, p + 4096));
    }
    cuts.sort_unstable();
    let mut at = LOW;
    for &(s, e) in cuts.iter() {
        if s > at && at < HIGH {
            f(at, s.min(HIGH));
        }
        at = at.max(e);
    }
    if at < HIGH {
        f(at, HIGH);
    }
}
