//! Each thread's FPU/SSE/AVX state, saved in its TCB.
//!
//! With XSAVE the kernel saves the components enabled in XCR0 (x87, SSE,
//! and AVX where present) as long as they fit the TCB's 1 KiB area;
//! without it, FXSAVE's 512-byte legacy area. State is switched eagerly
//! but only when the CPU's current owner changes, so a thread that blocks
//! and is resumed without another FPU user in between costs nothing.
//! A new thread starts with FCW 0x37F, MXCSR 0x1F80, all registers zero.

use super::paging::write_word;
use core::sync::atomic::{AtomicU64, Ordering};

/// The components XSAVE saves and restores; 0 when the CPU has no XSAVE
/// and FXSAVE's legacy area is used instead. One word, so the switch reads
/// one value to choose both the mechanism and its mask.
static XCR0: AtomicU64 = AtomicU64::new(0);
/// Physical address of the thread (its TCB) whose state the FPU now holds
/// (0: none). The owner, not its area: the check every switch makes is
/// then a compare with the thread itself.
static OWNER: AtomicU64 = AtomicU64::new(0);

/// Bytes available for one thread's state.
pub const AREA_SIZE: u64 = 1024;
/// Where an owner's area lies in it (`object::tcb` lays its TCB out so).
pub const AREA_OFFSET: u64 = 0x400;

/// Choose the mechanism. `xcr0` is what `cpu::init` enabled (0 without XSAVE).
/// Returns the components saved.
pub fn init(xsave: bool, xcr0: u64) -> u64 {
    if !xsave {
        return 0b11;
    }
    // CPUID.(EAX=0DH,ECX=0):EBX = bytes needed for the components in XCR0.
    // SAFETY: CPUID only reads.
    #[allow(unused_unsafe)]
    let needed = unsafe { core::arch::x86_64::__cpuid_count(0xd, 0) }.ebx as u64;
    let mask = if needed <= AREA_SIZE { xcr0 } else { 0b11 };
    assert!(
        mask >> 32 == 0,
        "XSAVE components above 31 are never enabled"
    );
    XCR0.store(mask, Ordering::Relaxed);
    mask
}

/// Fill a new area at physical `pa` with the initial state.
pub fn init_area(pa: u64) {
    // FCW 0x37F at byte 0; MXCSR 0x1F80 at byte 24.
    write_word(pa, 0x037f);
    write_word(pa + 24, 0x1f80);
    // XSAVE header: XSTATE_BV = x87 | SSE, so both are loaded from the area
    // rather than reset (which would be the same except for clarity).
    write_word(pa + 512, 0b11);
}

/// The kernel address of a TCB's FPU area: an object in the direct map
/// (trusted as every object access is, see `paging::object_va`), 64-byte
/// aligned inside its 2 KiB-aligned TCB.
#[inline(always)]
fn va(pa: u64) -> *mut u8 {
    let v = super::paging::object_va(pa);
    debug_assert!(v.is_multiple_of(64), "FPU area misaligned");
    v as *mut u8
}

/// Make the FPU hold the state of the thread `owner` (its area
/// [`AREA_OFFSET`] bytes in), saving the previous owner's first.
#[inline(always)]
pub fn switch_to(owner: u64) {
    let old = OWNER.load(Ordering::Relaxed);
    if old == owner {
        return;
    }
    let pa = owner + AREA_OFFSET;
    let old_pa = old + AREA_OFFSET;
    let mask = XCR0.load(Ordering::Relaxed);
    // Components 0-2 at most (`cpu::init`): the upper half is 0.
    let (lo, hi) = (mask as u32, 0u32);
    if mask != 0 {
        // SAFETY: both areas are 64-byte aligned, 1 KiB, in the direct map,
        // inside TCBs owned by the kernel; XCR0 enables exactly `mask`'s
        // components, whose state fits the area (checked in `init`).
        unsafe {
            if old != 0 {
                core::arch::asm!("xsave64 [{0}]", in(reg) va(old_pa), in("eax") lo, in("edx") hi);
            }
            core::arch::asm!("xrstor64 [{0}]", in(reg) va(pa), in("eax") lo, in("edx") hi);
        }
    } else {
        // SAFETY: as above, with FXSAVE's 512-byte, 16-byte aligned area.
        unsafe {
            if old != 0 {
                core::arch::asm!("fxsave64 [{0}]", in(reg) va(old_pa));
            }
            core::arch::asm!("fxrstor64 [{0}]", in(reg) va(pa));
        }
    }
    OWNER.store(owner, Ordering::Relaxed);
}

/// Whether the FPU holds the state of the thread `owner` (for checks).
pub fn owned_by(owner: u64) -> bool {
    OWNER.load(Ordering::Relaxed) == owner
}

/// Write the FPU's live state back to the area of `owner` if it is the
/// owner, so the area can be read (a TCB invocation reading another
/// thread's FPU state) or is about to be freed. Afterwards the FPU has no
/// owner.
pub fn flush(owner: u64) {
    if OWNER.load(Ordering::Relaxed) != owner || owner == 0 {
        return;
    }
    let pa = owner + AREA_OFFSET;
    let mask = XCR0.load(Ordering::Relaxed);
    // SAFETY: as in `switch_to`.
    unsafe {
        if mask != 0 {
            core::arch::asm!("xsave64 [{0}]", in(reg) va(pa), in("eax") mask as u32, in("edx") (mask >> 32) as u32);
        } else {
            core::arch::asm!("fxsave64 [{0}]", in(reg) va(pa));
        }
    }
    OWNER.store(0, Ordering::Relaxed);
}

/// A new thread is made at `owner`: if the FPU still holds the state of a
/// thread that lived there before, drop it without saving, so the new one
/// is loaded from its own area.
pub fn forget(owner: u64) {
    if OWNER.load(Ordering::Relaxed) == owner {
        OWNER.store(0, Ordering::Relaxed);
    }
}

/// After the kernel wrote a thread's area: have every enabled component
/// loaded from it (XSTATE_BV = all enabled components).
pub fn mark_all_present(pa: u64) {
    let mask = XCR0.load(Ordering::Relaxed);
    if mask != 0 {
        write_word(pa + 512, mask);
    }
}
