//! The IOAPICs: where device interrupt lines (global system interrupts,
//! GSIs) are routed to vectors of the local APIC.
//!
//! [`init`] maps each IOAPIC the platform names (uncached, NX, global, in
//! the kernel's slot 266), checks that it answers (its version register
//! does not read as all ones, which is what an empty bus gives), and masks
//! every pin. From then on a pin changes only through [`program`] and
//! [`set_low`], called by `irq` for the lines handed out as capabilities.
//! A redirection entry is two 32-bit registers; the kernel keeps the low
//! one (vector, trigger, polarity, mask) cached in `irq`, so masking and
//! unmasking a line is two uncached writes and no read.

use super::acpi::{IoApicInfo, MAX_IOAPICS};
use super::layout::IOAPIC_BASE;
use super::paging::{self, PTE_GLOBAL, PTE_NX, PTE_WRITE};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const PTE_PWT: u64 = 1 << 3;
const PTE_PCD: u64 = 1 << 4;
const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
const REG_VERSION: u32 = 1;
const REG_REDIR: u32 = 0x10;

/// Redirection entry, low word: masked.
pub const MASKED: u32 = 1 << 16;
/// Level-triggered (clear: edge).
pub const LEVEL: u32 = 1 << 15;
/// Active low (clear: active high).
pub const ACTIVE_LOW: u32 = 1 << 13;

/// The mapped IOAPICs: kernel address of the registers (0: none), first
/// GSI, number of pins.
static VA: [AtomicU64; MAX_IOAPICS] = [const { AtomicU64::new(0) }; MAX_IOAPICS];
static GSI_BASE: [AtomicU32; MAX_IOAPICS] = [const { AtomicU32::new(0) }; MAX_IOAPICS];
static PINS: [AtomicU32; MAX_IOAPICS] = [const { AtomicU32::new(0) }; MAX_IOAPICS];

/// One pin of one IOAPIC: its register window and index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pin {
    va: u64,
    index: u32,
}

fn write_reg(va: u64, reg: u32, value: u32) {
    // SAFETY: `va` is an IOAPIC's register page that `init` mapped
    // uncached; IOREGSEL selects a register and IOWIN writes it. The
    // kernel is single-threaded with interrupts off, so the select-then-
    // write pair is never interleaved.
    unsafe {
        core::ptr::write_volatile((va + IOREGSEL) as *mut u32, reg);
        core::ptr::write_volatile((va + IOWIN) as *mut u32, value);
    }
}

fn read_reg(va: u64, reg: u32) -> u32 {
    // SAFETY: as in `write_reg`; reading a register has no side effect.
    unsafe {
        core::ptr::write_volatile((va + IOREGSEL) as *mut u32, reg);
        core::ptr::read_volatile((va + IOWIN) as *const u32)
    }
}

/// Map and check the IOAPICs in `list`, masking all their pins. Returns
/// how many answered; each one that does not is logged and left out.
pub fn init(list: &[IoApicInfo], pml4: u64, alloc: &mut dyn FnMut() -> Option<u64>) -> usize {
    let mut n = 0;
    for io in list.iter().take(MAX_IOAPICS) {
        if io.phys >= 1 << 40 {
            crate::warn!(
                "ioapic {}: address {:#x} is implausible; not used",
                io.id,
                io.phys
            );
            continue;
        }
        let va = IOAPIC_BASE + n as u64 * 4096;
        let flags = PTE_WRITE | PTE_GLOBAL | PTE_NX | PTE_PCD | PTE_PWT;
        if let Err(e) = paging::map(pml4, va, io.phys & !0xfff, flags, false, alloc) {
            crate::warn!(
                "ioapic {}: cannot map its registers ({e:?}); not used",
                io.id
            );
            continue;
        }
        let va = va + (io.phys & 0xfff);
        let version = read_reg(va, REG_VERSION);
        if version == u32::MAX {
            crate::warn!(
                "ioapic {} at {:#x}: nothing answers there; not used",
                io.id,
                io.phys
            );
            paging::unmap_kernel_page(pml4, va & !0xfff);
            continue;
        }
        crate::mem::reserve_mmio(io.phys);
        let pins = ((version >> 16) & 0xff) + 1;
        for pin in 0..pins {
            write_reg(va, REG_REDIR + 2 * pin, MASKED);
            write_reg(va, REG_REDIR + 2 * pin + 1, 0);
        }
        VA[n].store(va, Ordering::Relaxed);
        GSI_BASE[n].store(io.gsi_base, Ordering::Relaxed);
        PINS[n].store(pins, Ordering::Relaxed);
        crate::info!(
            "ioapic {}: at {:#x}, GSIs {}..={}, all masked",
            io.id,
            io.phys,
            io.gsi_base,
            io.gsi_base + pins - 1
        );
        n += 1;
    }
    n
}

/// The pin that carries `gsi`, if an IOAPIC has it.
pub fn pin_of(gsi: u32) -> Option<Pin> {
    (0..MAX_IOAPICS).find_map(|i| {
        let va = VA[i].load(Ordering::Relaxed);
        let base = GSI_BASE[i].load(Ordering::Relaxed);
        let pins = PINS[i].load(Ordering::Relaxed);
        (va != 0 && gsi >= base && gsi - base < pins).then_some(Pin {
            va,
            index: gsi - base,
        })
    })
}

/// Program `pin` completely: delivered to the local APIC `dest` with the
/// low word `low` (vector, trigger, polarity, mask).
pub fn program(pin: Pin, dest: u8, low: u32) {
    write_reg(pin.va, REG_REDIR + 2 * pin.index, MASKED);
    write_reg(pin.va, REG_REDIR + 2 * pin.index + 1, u32::from(dest) << 24);
    write_reg(pin.va, REG_REDIR + 2 * pin.index, low);
}

/// Write `pin`'s low word (masking or unmasking it).
#[inline]
pub fn set_low(pin: Pin, low: u32) {
    write_reg(pin.va, REG_REDIR + 2 * pin.index, low);
}
