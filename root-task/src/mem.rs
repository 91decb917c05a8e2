//! The places the root task touches memory by address: the boot image the
//! kernel maps read-only for it, the scratch page through which it fills
//! the frames of the domains it loads, and its supervisor threads' IPC
//! buffers.
#![allow(unsafe_code)]

use septum_user::abi::bootinfo::BootInfo;

/// The boot image, as the boot-info page says the kernel mapped it.
pub fn boot_image(info: &BootInfo) -> Option<&'static [u8]> {
    if info.boot_image_addr == 0 || info.boot_image_len == 0 {
        return None;
    }
    let start = septum_user::abi::bootinfo::BOOT_IMAGE_ADDR;
    // The kernel maps the image from BOOT_IMAGE_ADDR; refuse anything the
    // page could say that points elsewhere.
    if info.boot_image_addr < start || info.boot_image_addr >= start + 4096 {
        return None;
    }
    // SAFETY: the kernel maps the whole boot image read-only at this
    // address for the root task's lifetime and never changes it (its
    // memory is reserved and never becomes untyped); the range was checked
    // to start where the kernel maps it.
    Some(unsafe {
        core::slice::from_raw_parts(
            info.boot_image_addr as *const u8,
            info.boot_image_len as usize,
        )
    })
}

/// Copy `data` into the page mapped read-write at `page` + `offset`.
pub fn write_scratch(page: u64, offset: usize, data: &[u8]) {
    assert!(offset + data.len() <= 4096, "scratch write past its page");
    for (i, &b) in data.iter().enumerate() {
        // SAFETY: the caller has just mapped a frame read-write at `page`
        // (the root task's scratch page, used for nothing else), and the
        // write stays within it (checked above).
        unsafe { ((page + (offset + i) as u64) as *mut u8).write_volatile(b) }
    }
}

/// The IPC buffer of a supervisor thread, at `addr`.
pub fn thread_ipc(addr: u64) -> septum_user::ipc::Ipc {
    // SAFETY: `supervisor::make_threads` maps a page at `addr` for this
    // thread alone and registers it as the thread's IPC buffer; the thread
    // makes one `Ipc` for it, at its entry.
    unsafe { septum_user::ipc::Ipc::new(addr) }
}
