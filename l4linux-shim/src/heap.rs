//! The shim's heap: a global allocator over memory the shim maps for
//! itself at start ([`HEAP_BASE`], [`HEAP_SIZE`]), with power-of-two
//! size classes and a free list per class. The shim has one thread, so
//! the lists need no lock; atomics make the statics `Sync`.
//!
//! One of the shim's two places with `unsafe` (the other is
//! [`crate::arena`]): handing out raw memory is what an allocator is.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Where the heap is mapped in the shim's own address space.
pub const HEAP_BASE: u64 = 0x10_0000_0000;
/// Its size: six 2 MiB frames (4 MiB of it for the file pool,
/// `FILE_POOL_PAGES`).
pub const HEAP_SIZE: u64 = 12 << 20;
/// Smallest block: 16 bytes (class 0); class `c` holds blocks of `16 << c`.
const CLASSES: usize = 20;

struct Heap {
    next: AtomicUsize,
    end: AtomicUsize,
    free: [AtomicUsize; CLASSES],
}

#[global_allocator]
static HEAP: Heap = Heap {
    next: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    free: [const { AtomicUsize::new(0) }; CLASSES],
};

/// Give the allocator the mapped range `[HEAP_BASE, HEAP_BASE + size)`.
/// Until then every allocation fails (returns null).
pub fn init(size: u64) {
    HEAP.next.store(HEAP_BASE as usize, Relaxed);
    HEAP.end.store((HEAP_BASE + size) as usize, Relaxed);
}

fn class_of(layout: Layout) -> Option<usize> {
    let size = layout
        .size()
        .max(layout.align())
        .max(16)
        .checked_next_power_of_two()?;
    let c = (size.trailing_zeros() - 4) as usize;
    (c < CLASSES).then_some(c)
}

// SAFETY: blocks are carved from the mapped heap range only, each class's
// blocks are aligned to their size (the bump pointer is aligned up to it),
// a block is on a free list only after `dealloc` gave it back, and the
// shim has a single thread, so no two callers race for one block.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(c) = class_of(layout) else {
            return core::ptr::null_mut();
        };
        let head = self.free[c].load(Relaxed);
        if head != 0 {
            // SAFETY: `head` is a freed block of this class, at least 16
            // bytes and 16-aligned; its first word is the next free block.
            let next = unsafe { (head as *const usize).read() };
            self.free[c].store(next, Relaxed);
            return head as *mut u8;
        }
        let size = 16usize << c;
        let start = self.next.load(Relaxed).next_multiple_of(size);
        let Some(end) = start.checked_add(size) else {
            return core::ptr::null_mut();
        };
        if end > self.end.load(Relaxed) {
            return core::ptr::null_mut();
        }
        self.next.store(end, Relaxed);
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(c) = class_of(layout) else { return };
        // SAFETY: `ptr` is a block of class `c` the caller no longer uses
        // (GlobalAlloc's contract), big and aligned enough for a word.
        unsafe { (ptr as *mut usize).write(self.free[c].load(Relaxed)) };
        self.free[c].store(ptr as usize, Relaxed);
    }
}
