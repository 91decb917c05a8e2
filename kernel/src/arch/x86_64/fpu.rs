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
/// Kernel address of the FPU area of the thread whose state the FPU now
/// holds ([`area`]; 0: none). The area, not the thread: the switch then
/// computes one address (the new owner's) for both its compare and its
/// `xrstor`, and saves the old state where the word points.
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

/// The kernel address of the FPU area of the thread (TCB) at `owner`: an
/// object in the direct map (trusted as every object access is, see
/// `paging::object_va`), 64-byte aligned inside its 2 KiB-aligned TCB.
/// Never 0.
#[inline(always)]
fn area(owner: u64) -> u64 {
    let v = super::paging::object_va(owner + AREA_OFFSET);
    debug_assert!(v.is_multiple_of(64), "FPU area misaligned");
    v
}

/// Make the FPU hold the state of the thread `owner` (its area
/// [`AREA_OFFSET`] bytes in), saving the previous owner's first.
#[inline(always)]
pub fn switch_to(owner: u64) {
    let new = area(owner);
    let old = OWNER.load(Ordering::Relaxed);
    if old == new {
        return;
    }
    let mask = XCR0.load(Ordering::Relaxed);
    // Components 0-2 at most (`cpu::init`): the upper half is 0.
    let (lo, hi) = (mask as u32, 0u32);
    if mask != 0 {
        // SAFETY: both areas are 64-byte aligned, 1 KiB, in the direct map,
        // inside TCBs owned by the kernel (`OWNER` only ever holds an
        // `area` or 0); XCR0 enables exactly `mask`'s components, whose
        // state fits the area (checked in `init`).
        unsafe {
            if old != 0 {
                // Both in one block: EDX:EAX loaded once.
                core::arch::asm!(
                    "xsave64 [{0}]",
                    "xrstor64 [{1}]",
                    in(reg) old,
                    in(reg) new,
                    in("eax") lo,
                    in("edx") hi
                );
            } else {
                core::arch::asm!("xrstor64 [{0}]", in(reg) new, in("eax") lo, in("edx") hi);
            }
        }
    } else {
        // SAFETY: as above, with FXSAVE's 512-byte, 16-byte aligned area.
        unsafe {
            if old != 0 {
                core::arch::asm!("fxsave64 [{0}]", in(reg) old);
            }
            core::arch::asm!("fxrstor64 [{0}]", in(reg) new);
        }
    }
    OWNER.store(new, Ordering::Relaxed);
}

/// Whether the FPU holds the state of the thread `owner` (for checks).
pub fn owned_by(owner: u64) -> bool {
    OWNER.load(Ordering::Relaxed) == area(owner)
}

/// Write the FPU's live state back to the area of `owner` if it is the
/// owner, so the area can be read (a TCB invocation reading another
/// thread's FPU state) or is about to be freed. Afterwards the FPU has no
/// owner.
pub fn flush(owner: u64) {
    let a = area(owner);
    if OWNER.load(Ordering::Relaxed) != a {
        return;
    }
    let mask = XCR0.load(Ordering::Relaxed);
    // SAFETY: as in `switch_to`.
    unsafe {
        if mask != 0 {
            core::arch::asm!("xsave64 [{0}]", in(reg) a, in("eax") mask as u32, in("edx") (mask >> 32) as u32);
        } else {
            core::arch::asm!("fxsave64 [{0}]", in(reg) a);
        }
    }
    OWNER.store(0, Ordering::Relaxed);
}

/// A new thread is made at `owner`: if the FPU still holds the state of a
/// thread that lived there before, drop it without saving, so the new one
/// is loaded from its own area.
pub fn forget(owner: u64) {
    if OWNER.load(Ordering::Relaxed) == area(owner) {
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
