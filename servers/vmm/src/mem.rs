//! The places the vmm touches memory by address: the guest's kernel
//! window the root task maps read-only for it, and its scratch page,
//! through which it fills the guest's frames.
#![allow(unsafe_code)]

use septum_sysdesc::layout::{GUEST_KERNEL_BASE, GUEST_KERNEL_WINDOW, PAGE};

/// The guest's launch page.
pub fn launch_page() -> &'static [u8] {
    // SAFETY: the root task maps the launch page read-only at
    // GUEST_KERNEL_BASE before the vmm starts (the description gives every
    // vmm this mapping, `Mapped::GuestKernel`), for the vmm's lifetime;
    // nothing writes it.
    unsafe { core::slice::from_raw_parts(GUEST_KERNEL_BASE as *const u8, PAGE as usize) }
}

/// The guest's kernel ELF, `len` bytes after the launch page; `None` if
/// that is more than the window holds.
pub fn kernel_elf(len: u64) -> Option<&'static [u8]> {
    if len == 0 || len > GUEST_KERNEL_WINDOW - PAGE {
        return None;
    }
    // SAFETY: the root task maps `len` bytes of ELF (whole pages) from the
    // page after the launch page, read-only, for the vmm's lifetime; `len`
    // is what it wrote on the launch page, checked against the window.
    Some(unsafe {
        core::slice::from_raw_parts((GUEST_KERNEL_BASE + PAGE) as *const u8, len as usize)
    })
}

/// Copy `data` into the page mapped read-write at `page` + `offset`.
pub fn write_scratch(page: u64, offset: usize, data: &[u8]) {
    assert!(
        offset + data.len() <= PAGE as usize,
        "scratch write past its page"
    );
    // SAFETY: the caller has just mapped a frame read-write at `page` (the
    // vmm's scratch page, used for nothing else), and the write stays
    // within it (checked above); `data` is in other memory (the kernel
    // window, mapped read-only).
    unsafe {
        core::ptr::copy_nonoverlapping(
            data.as_ptr(),
            (page + offset as u64) as *mut u8,
            data.len(),
        );
    }
}

/// The TSC.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads the counter; the kernel leaves CR4.TSD
    // clear so user mode may (DESIGN.md).
    unsafe { core::arch::x86_64::_rdtsc() }
}
