//! Physical memory the kernel takes for its own boot-time structures (its
//! page tables, the root task's image, stack and IPC buffer).
//!
//! What is left after boot becomes the root task's untyped memory (the
//! kernel-core issue); from then on the kernel allocates nothing on its own.

use septum_kcore::physmem::FreeMemory;

/// Free physical memory, page-granular.
pub static FREE: spin::Mutex<FreeMemory> = spin::Mutex::new(FreeMemory::new());

/// One 4 KiB frame (contents undefined), or `None` when memory is exhausted.
pub fn alloc_frame() -> Option<u64> {
    FREE.lock().alloc_frame()
}
