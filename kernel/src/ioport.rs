//! I/O-port capabilities and the TSS I/O permission bitmap.
//!
//! **Mechanism: one bitmap, per address space.** An `IoPort` capability
//! names a range of ports. Installed into an address space
//! (`IoPort.install`), it lets every thread of that space use the ports
//! with plain `in`/`out`; any other port faults (#GP, delivered as a fault
//! message like every exception). The CPU has one TSS and so one bitmap:
//! it holds all ones except the ranges installed in the address space
//! that runs now. When the scheduler switches address space (and only
//! then: threads of one space share their ports, like their memory), it
//! calls [`switch`], which closes the previous space's ranges and opens
//! the next one's: a byte write per 8 ports of each, nothing at all when
//! neither space has ports (one load and a compare). The bitmap is never
//! copied. Per-thread bitmaps would cost a check on every thread switch;
//! per-address-space matches what a driver is (a task).
//!
//! **Bookkeeping.** A fixed table of [`MAX_INSTALLS`] installations, each
//! (slot of the capability, PML4, range), is the kernel's only state; the
//! capability itself is unchanged. Deleting the capability (or revoking
//! what it was derived from) removes its installation and closes its
//! ports at once if its space is loaded, so the next `in` faults. Moving
//! the capability moves the record with it; destroying the address space
//! removes every installation in it. The table is boot-time and bounded,
//! and a range is installed in a space at most once (a copy of an
//! installed capability is refused there), so a domain takes at most one
//! entry per range and space it was granted; only the holder of
//! `IoPortControl`, which makes ranges, can fill it.

use crate::arch::cpu;
use crate::object::Slot;
use crate::object::cnode;
use core::sync::atomic::{AtomicU64, Ordering};
use septum_abi::Error;
use septum_kcore::cap::Cap;

/// Installations the kernel keeps.
pub const MAX_INSTALLS: usize = 32;

#[derive(Clone, Copy, Debug)]
struct Install {
    /// The capability's slot.
    slot: u64,
    pml4: u64,
    first: u16,
    last: u16,
}

/// The installations, packed: a switch looks at as many entries as there
/// are installations, not at the table's size.
type Table = heapless::Vec<Install, MAX_INSTALLS>;

static TABLE: spin::Mutex<Table> = spin::Mutex::new(heapless::Vec::new());
/// The PML4 whose ranges are open in the bitmap (0: none).
static OPEN_FOR: AtomicU64 = AtomicU64::new(0);
/// A filter over the PML4s with installations: bit `(pml4 >> 12) % 64` is
/// set for each. A clear bit proves a space has no ports, so a switch
/// between two spaces without ports costs two loads and a test.
static MAY_HAVE: AtomicU64 = AtomicU64::new(0);

fn filter_bit(pml4: u64) -> u64 {
    1 << ((pml4 >> 12) % 64)
}

/// Recompute [`MAY_HAVE`] after the table changed.
fn refilter(table: &Table) {
    let bits = table.iter().fold(0, |b, e| b | filter_bit(e.pml4));
    MAY_HAVE.store(bits, Ordering::Relaxed);
}

/// Open (or close) every range installed for `pml4`; whether it has any.
fn set_all(table: &Table, pml4: u64, open: bool) -> bool {
    let mut any = false;
    for e in table.iter().filter(|e| e.pml4 == pml4) {
        cpu::set_io_ports(e.first, e.last, open);
        any = true;
    }
    any
}

/// The address space `pml4` is about to run (the scheduler loads its CR3):
/// make the bitmap show its ports and no others.
#[inline]
pub fn switch(pml4: u64) {
    if let Some(open) = must_switch(pml4) {
        switch_slow(open, pml4);
    }
}

/// Whether the bitmap must change for `pml4` to run, and if so the space
/// whose ports are open now (0: none): the one test [`switch`] makes, for a
/// scheduler that goes on to [`switch_slow`] only when it says so.
#[inline(always)]
pub fn must_switch(pml4: u64) -> Option<u64> {
    // No installation anywhere (the common case: one load and a branch;
    // then nothing is open either, see `remove`).
    let may = MAY_HAVE.load(Ordering::Relaxed);
    if may == 0 {
        return None;
    }
    // This space's ports are open already, or it has none and none are open.
    let open = OPEN_FOR.load(Ordering::Relaxed);
    if open == pml4 || (open == 0 && may & filter_bit(pml4) == 0) {
        return None;
    }
    Some(open)
}

/// Close the ranges of `open` (the space [`must_switch`] found open), then
/// open `pml4`'s (two passes: their ranges may overlap; the second only if
/// the filter does not rule out that `pml4` has any).
#[inline(never)]
pub fn switch_slow(open: u64, pml4: u64) {
    let table = TABLE.lock();
    if open != 0 {
        set_all(&table, open, false);
    }
    // Read under the lock, which every change of the table holds.
    let has =
        MAY_HAVE.load(Ordering::Relaxed) & filter_bit(pml4) != 0 && set_all(&table, pml4, true);
    OPEN_FOR.store(if has { pml4 } else { 0 }, Ordering::Relaxed);
}

/// `IoPortControl.issue`: a capability to ports `first..=last` in the empty
/// slot `dst`, derived from the control capability in `control`.
pub fn issue(control: Slot, first: u64, last: u64, dst: Slot) -> Result<(), Error> {
    let (Ok(first), Ok(last)) = (u16::try_from(first), u16::try_from(last)) else {
        return Err(Error::Range);
    };
    if first > last {
        return Err(Error::Range);
    }
    cnode::insert(dst, &Cap::IoPort { first, last }, Some(control))
}

/// `IoPort.install`: open the ports of the capability in `slot` to the
/// address space in `vspace` (a PML4 with an ASID).
pub fn install(slot: Slot, vspace: Slot) -> Result<(), Error> {
    let Cap::IoPort { first, last } = slot.cap() else {
        return Err(Error::WrongType);
    };
    let pml4 = match vspace.cap() {
        Cap::PageTable {
            object,
            level: 4,
            mapping: Some(_),
        } => object,
        Cap::PageTable { level: 4, .. } => return Err(Error::IllegalOperation),
        _ => return Err(Error::WrongType),
    };
    let mut table = TABLE.lock();
    // One entry per capability, and one per (space, range): the table is
    // shared by every domain, and copies of one capability installed in
    // one space would otherwise let its holder fill it. What a domain can
    // take is then bounded by the ranges and spaces it was granted.
    if table
        .iter()
        .any(|e| e.slot == slot.0 || (e.pml4 == pml4 && e.first == first && e.last == last))
    {
        return Err(Error::IllegalOperation);
    }
    table
        .push(Install {
            slot: slot.0,
            pml4,
            first,
            last,
        })
        .map_err(|_| Error::NotEnoughMemory)?;
    refilter(&table);
    if OPEN_FOR.load(Ordering::Relaxed) == pml4 {
        cpu::set_io_ports(first, last, true);
    }
    drop(table);
    // The caller's own space may be the one: it may use the ports at once.
    if crate::arch::paging::current_root() == pml4 {
        switch(pml4);
    }
    Ok(())
}

/// Remove the installations `which` selects, closing their ports if their
/// space is open (and reopening what its other entries still grant, since
/// ranges may overlap).
fn remove(which: impl Fn(&Install) -> bool) -> bool {
    let mut table = TABLE.lock();
    let open = OPEN_FOR.load(Ordering::Relaxed);
    let mut found = false;
    let mut reopen = false;
    let mut i = 0;
    while i < table.len() {
        let e = table[i];
        if which(&e) {
            if e.pml4 == open {
                cpu::set_io_ports(e.first, e.last, false);
                reopen = true;
            }
            table.swap_remove(i);
            found = true;
        } else {
            i += 1;
        }
    }
    refilter(&table);
    if reopen && !set_all(&table, open, true) {
        OPEN_FOR.store(0, Ordering::Relaxed);
    }
    found
}

/// `IoPort.uninstall`: close the capability's ports where it is installed.
pub fn uninstall(slot: Slot) -> Result<(), Error> {
    if remove(|e| e.slot == slot.0) {
        Ok(())
    } else {
        Err(Error::IllegalOperation)
    }
}

/// Whether the capability in `slot` is installed somewhere.
pub fn is_installed(slot: Slot) -> bool {
    TABLE.lock().iter().any(|e| e.slot == slot.0)
}

/// Before any capability is deleted: an installed I/O-port capability
/// closes its ports.
#[inline]
pub fn before_delete(slot: Slot) {
    if MAY_HAVE.load(Ordering::Relaxed) != 0 && matches!(slot.cap(), Cap::IoPort { .. }) {
        remove(|e| e.slot == slot.0);
    }
}

/// A capability moved from `from` to `to`: its installation follows it.
pub fn moved(from: Slot, to: Slot) {
    for e in TABLE.lock().iter_mut().filter(|e| e.slot == from.0) {
        e.slot = to.0;
    }
}

/// The address space `pml4` is destroyed: nothing stays installed in it
/// (a new PML4 at the same address must not inherit its ports).
pub fn vspace_destroyed(pml4: u64) {
    if MAY_HAVE.load(Ordering::Relaxed) & filter_bit(pml4) != 0 {
        remove(|e| e.pml4 == pml4);
    }
}
