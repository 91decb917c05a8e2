//! Platform discovery: the ACPI tables that say where the interrupt
//! controllers are (MADT: local APIC, IOAPICs, ISA interrupt source
//! overrides) and whether there is an HPET.
//!
//! Firmware tables are input the kernel did not make, so they are read
//! defensively: every table is reached through a read-only, uncached
//! window ([`Window`], the `acpi` crate's `AcpiHandler`), the root table and
//! each table it lists must claim a plausible length before the crate maps
//! them whole (the crate checks signatures and checksums), and the MADT's
//! entries are walked here with every length checked. Whatever is missing
//! or broken is named in one log line and a fallback is taken
//! ([`discover`] says which); nothing in a table can panic the kernel.
//!
//! Runs once at boot, before the root task exists, with interrupts off.

use super::layout::ACPI_WINDOW;
use super::paging::{self, PTE_GLOBAL, PTE_NX};
use acpi::{AcpiHandler, AcpiTables, PhysicalMapping, madt::Madt};
use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

/// Pages the window can show at once (8 MiB).
const WINDOW_PAGES: u64 = 2048;
/// Longest table accepted (the MADT of a machine with thousands of CPUs is
/// well below this); a longer claim is taken as a broken table.
const MAX_TABLE: u64 = 1 << 20;
/// Longest root table accepted (4,000 table pointers).
const MAX_ROOT: u64 = 36 + 8 * 4000;
/// Page-level write-through and cache-disable (uncached with the default PAT).
const PTE_PWT: u64 = 1 << 3;
const PTE_PCD: u64 = 1 << 4;

/// Most IOAPICs kept.
pub const MAX_IOAPICS: usize = 8;
/// Where the legacy IOAPIC sits when no MADT says otherwise.
pub const LEGACY_IOAPIC: u64 = 0xfec0_0000;

/// One IOAPIC, as the MADT (or the fallback) names it.
#[derive(Clone, Copy, Debug)]
pub struct IoApicInfo {
    pub id: u8,
    pub phys: u64,
    /// First global system interrupt (GSI) of its pins.
    pub gsi_base: u32,
}

/// An ISA interrupt source override: ISA IRQ `irq` arrives on `gsi`.
#[derive(Clone, Copy, Debug)]
pub struct Override {
    pub gsi: u32,
    /// MPS INTI flags: polarity in bits 0–1, trigger mode in bits 2–3.
    pub flags: u16,
}

/// Where the interrupt controllers are.
#[derive(Debug)]
pub struct Platform {
    /// How this was found: `"ACPI"` or the fallback's name.
    pub source: &'static str,
    /// The MADT's local APIC address (the kernel uses the MSR's; a
    /// difference is logged).
    pub lapic: Option<u64>,
    pub ioapics: heapless::Vec<IoApicInfo, MAX_IOAPICS>,
    /// Overrides for ISA IRQs 0–15.
    pub overrides: [Option<Override>; 16],
    /// The HPET's register block, if the tables name one in memory space.
    pub hpet: Option<u64>,
}

impl Platform {
    fn new(source: &'static str) -> Self {
        Platform {
            source,
            lapic: None,
            ioapics: heapless::Vec::new(),
            overrides: [None; 16],
            hpet: None,
        }
    }

    /// The PC's legacy layout: one IOAPIC at 0xfec00000 whose first 16
    /// pins are the ISA IRQs, identity-mapped. What the kernel assumes
    /// without a usable MADT; `ioapic::init` then checks the chip answers.
    fn legacy(source: &'static str) -> Self {
        let mut p = Platform::new(source);
        let _ = p.ioapics.push(IoApicInfo {
            id: 0,
            phys: LEGACY_IOAPIC,
            gsi_base: 0,
        });
        p
    }
}

/// Why the ACPI tables were not used.
#[derive(Debug)]
pub enum Problem {
    /// The loader passed no RSDP and none is in the BIOS areas.
    NoRsdp,
    /// The RSDP or root table failed the crate's checks.
    Tables(acpi::AcpiError),
    /// A table claims an implausible length.
    Length { signature: [u8; 4], len: u64 },
    /// The tables are fine but there is no MADT.
    NoMadt,
    /// The MADT lists no IOAPIC.
    NoIoApic,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NoRsdp => {
                f.write_str("no RSDP (the loader passed none, the BIOS areas hold none)")
            }
            Problem::Tables(e) => write!(f, "the root tables are unusable ({e:?})"),
            Problem::Length {
                signature: [b'a', b'd', b'd', b'r'],
                len,
            } => write!(f, "a table pointer ({len:#x}) lies beyond 1 TiB"),
            Problem::Length { signature, len } => write!(
                f,
                "table {} claims {len} bytes",
                core::str::from_utf8(signature).unwrap_or("????")
            ),
            Problem::NoMadt => f.write_str("no MADT (APIC table)"),
            Problem::NoIoApic => f.write_str("the MADT lists no IOAPIC"),
        }
    }
}

/// The window's next free page, and how many mappings are live (when none
/// is, the window starts over).
static NEXT_PAGE: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicU64 = AtomicU64::new(0);

/// The `AcpiHandler`: shows physical ranges read-only and uncached in a
/// window of the kernel's own slots. Tables may lie anywhere (QEMU's RSDP
/// is in a reserved range the direct map does not cover), so the window
/// maps exactly the pages asked for.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pml4: u64,
    alloc: fn() -> Option<u64>,
}

impl AcpiHandler for Window {
    unsafe fn map_physical_region<T>(&self, pa: usize, size: usize) -> PhysicalMapping<Self, T> {
        let first = pa as u64 & !0xfff;
        let end = (pa as u64).saturating_add(size.max(1) as u64 + 0xfff) & !0xfff;
        let pages = (end - first) / 4096;
        if LIVE.load(Ordering::Relaxed) == 0 {
            NEXT_PAGE.store(0, Ordering::Relaxed);
        }
        let at = NEXT_PAGE.load(Ordering::Relaxed);
        // Every length reaching here was checked against MAX_TABLE (or is
        // the crate's fixed BIOS search area), and at most three mappings
        // live at once: the window cannot run out.
        assert!(at + pages <= WINDOW_PAGES, "ACPI window exhausted");
        let va = ACPI_WINDOW + at * 4096;
        for i in 0..pages {
            let flags = PTE_GLOBAL | PTE_NX | PTE_PCD | PTE_PWT;
            let mut alloc = || (self.alloc)();
            // The window's pages are unmapped when their mapping drops, and
            // the window only starts over with none live: never mapped twice.
            let r = paging::map(
                self.pml4,
                va + i * 4096,
                first + i * 4096,
                flags,
                false,
                &mut alloc,
            );
            assert!(r.is_ok(), "ACPI window: cannot map ({r:?})");
        }
        NEXT_PAGE.store(at + pages, Ordering::Relaxed);
        LIVE.fetch_add(1, Ordering::Relaxed);
        let virt = va + (pa as u64 - first);
        // SAFETY: the pages were just mapped readable at `virt`; the crate
        // only reads through the mapping while it lives.
        unsafe {
            PhysicalMapping::new(
                pa,
                NonNull::new(virt as *mut T).expect("window addresses are not null"),
                size,
                (pages * 4096) as usize,
                *self,
            )
        }
    }

    fn unmap_physical_region<T>(region: &PhysicalMapping<Self, T>) {
        let va = region.virtual_start().as_ptr() as u64 & !0xfff;
        let pages = region.mapped_length() as u64 / 4096;
        for i in 0..pages {
            paging::unmap_kernel_page(region.handler().pml4, va + i * 4096);
        }
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Window {
    /// Copy `N` bytes at physical `pa` out through the window.
    fn read<const N: usize>(&self, pa: u64) -> [u8; N] {
        // SAFETY: `u8` arrays have no invalid values; the mapping covers N
        // bytes and is read before it drops.
        let m = unsafe { self.map_physical_region::<[u8; N]>(pa as usize, N) };
        // SAFETY: the mapping shows N readable bytes at its start.
        unsafe { core::ptr::read_volatile(m.virtual_start().as_ptr()) }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from(u32_at(b, at)) | (u64::from(u32_at(b, at + 4)) << 32)
}

/// Refuse tables whose headers claim implausible lengths before the crate
/// maps them whole: the root table and every table it points at.
/// Table addresses must lie below this (1 TiB): past it is no firmware
/// memory of a machine this kernel runs on, and a wild pointer must not
/// become a page-table entry with reserved bits set.
const MAX_TABLE_ADDR: u64 = 1 << 40;

fn check_lengths(w: &Window, rsdp: u64) -> Result<(), Problem> {
    if rsdp >= MAX_TABLE_ADDR {
        return Err(Problem::NoRsdp);
    }
    // SAFETY: any bytes are a valid `Rsdp` (integer fields); it is only
    // read, and checked before any address in it is used.
    let m = unsafe { w.map_physical_region::<acpi::rsdp::Rsdp>(rsdp as usize, 36) };
    m.validate().map_err(Problem::Tables)?;
    let (root, ptr_size) = if m.revision() >= 2 && m.xsdt_address() != 0 {
        (m.xsdt_address(), 8)
    } else {
        (u64::from(m.rsdt_address()), 4)
    };
    drop(m);
    let far = |addr: u64| Problem::Length {
        signature: *b"addr",
        len: addr,
    };
    if root >= MAX_TABLE_ADDR {
        return Err(far(root));
    }
    let h: [u8; 36] = w.read(root);
    let root_len = u64::from(u32_at(&h, 4));
    let sig = |h: &[u8; 36]| [h[0], h[1], h[2], h[3]];
    if !(36..=MAX_ROOT).contains(&root_len) {
        return Err(Problem::Length {
            signature: sig(&h),
            len: root_len,
        });
    }
    for i in 0..(root_len - 36) / ptr_size {
        let at = root + 36 + i * ptr_size;
        let table = if ptr_size == 8 {
            u64::from_le_bytes(w.read(at))
        } else {
            u64::from(u32::from_le_bytes(w.read(at)))
        };
        if table >= MAX_TABLE_ADDR {
            return Err(far(table));
        }
        let t: [u8; 36] = w.read(table);
        let len = u64::from(u32_at(&t, 4));
        if !(36..=MAX_TABLE).contains(&len) {
            return Err(Problem::Length {
                signature: sig(&t),
                len,
            });
        }
    }
    Ok(())
}

/// Find the interrupt controllers. `rsdp` is what the loader passed (0:
/// none, then the BIOS areas are searched). Returns what was found, or the
/// fallback with the reason it was taken:
///
/// - no RSDP at all (QEMU's `microvm` without `acpi=on`): no IOAPIC is
///   assumed unless the legacy one answers at 0xfec00000 (`ioapic::init`
///   probes it), so device interrupts work where the chip is there;
/// - tables present but broken, no MADT, or an MADT without an IOAPIC: the
///   legacy layout (one IOAPIC at 0xfec00000, ISA IRQs identity-mapped),
///   again only if the chip answers.
pub fn discover(rsdp: u64, pml4: u64, alloc: fn() -> Option<u64>) -> (Platform, Option<Problem>) {
    let w = Window { pml4, alloc };
    let rsdp = if rsdp != 0 {
        rsdp
    } else {
        // SAFETY: the search maps the EBDA and the BIOS area read-only and
        // validates what it finds (signature, checksums).
        match unsafe { acpi::rsdp::Rsdp::search_for_on_bios(w) } {
            Ok(m) => m.physical_start() as u64,
            Err(_) => return (Platform::legacy("legacy layout"), Some(Problem::NoRsdp)),
        }
    };
    if let Err(p) = check_lengths(&w, rsdp) {
        return (Platform::legacy("legacy layout"), Some(p));
    }
    // SAFETY: the handler maps whatever physical range is asked for
    // read-only; the crate validates signatures and checksums before it
    // trusts anything, and every length was bounded above.
    let tables = match unsafe { AcpiTables::from_rsdp(w, rsdp as usize) } {
        Ok(t) => t,
        Err(e) => return (Platform::legacy("legacy layout"), Some(Problem::Tables(e))),
    };
    let mut p = Platform::new("ACPI");
    p.hpet = hpet(&tables);
    let Ok(madt) = tables.find_table::<Madt>() else {
        let mut l = Platform::legacy("legacy layout");
        l.hpet = p.hpet;
        return (l, Some(Problem::NoMadt));
    };
    let base = madt.virtual_start().as_ptr() as *const u8;
    let len = madt.region_length();
    if len < 44 {
        return (Platform::legacy("legacy layout"), Some(Problem::NoMadt));
    }
    // SAFETY: the mapping shows the whole table (`region_length` bytes,
    // its header's length, which the crate checksummed).
    let bytes = unsafe { core::slice::from_raw_parts(base, len) };
    walk_madt(bytes, &mut p);
    drop(madt);
    if p.ioapics.is_empty() {
        let mut l = Platform::legacy("legacy layout");
        l.hpet = p.hpet;
        l.lapic = p.lapic;
        return (l, Some(Problem::NoIoApic));
    }
    (p, None)
}

/// The MADT's entries after its 44-byte head: type, length, body. An entry
/// shorter than its kind needs, or running past the table, ends the walk.
fn walk_madt(t: &[u8], p: &mut Platform) {
    p.lapic = Some(u64::from(u32_at(t, 36)));
    let mut at = 44;
    while at + 2 <= t.len() {
        let (kind, len) = (t[at], t[at + 1] as usize);
        if len < 2 || at + len > t.len() {
            crate::warn!("acpi: MADT entry at offset {at} is malformed; ignoring the rest");
            break;
        }
        let e = &t[at..at + len];
        match kind {
            // I/O APIC: id, reserved, address (u32), GSI base (u32).
            1 if len >= 12 => {
                let io = IoApicInfo {
                    id: e[2],
                    phys: u64::from(u32_at(e, 4)),
                    gsi_base: u32_at(e, 8),
                };
                if p.ioapics.push(io).is_err() {
                    crate::warn!("acpi: more than {MAX_IOAPICS} IOAPICs; ignoring the rest");
                }
            }
            // Interrupt source override: bus, source IRQ, GSI, flags.
            2 if len >= 10 => {
                let (bus, irq) = (e[2], e[3] as usize);
                if bus == 0 && irq < 16 {
                    p.overrides[irq] = Some(Override {
                        gsi: u32_at(e, 4),
                        flags: u16::from_le_bytes([e[8], e[9]]),
                    });
                }
            }
            // Local APIC address override.
            5 if len >= 12 => p.lapic = Some(u64_at(e, 4)),
            _ => {}
        }
        at += len;
    }
}

/// The HPET's register block, read from its table by hand: the crate's
/// `HpetInfo` asserts (panics) on an I/O-space address.
fn hpet(tables: &AcpiTables<Window>) -> Option<u64> {
    let t = tables.find_table::<acpi::hpet::HpetTable>().ok()?;
    let len = t.region_length();
    if len < 56 {
        return None;
    }
    let base = t.virtual_start().as_ptr() as *const u8;
    // SAFETY: the mapping shows at least 56 bytes (checked above).
    let b = unsafe { core::slice::from_raw_parts(base, 56) };
    // Generic address structure at 40: space id 0 is system memory.
    (b[40] == 0).then(|| u64_at(b, 44))
}
