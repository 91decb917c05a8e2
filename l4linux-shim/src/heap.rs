//! The shim's heap: a global allocator over memory the shim maps for
//! itself at start ([`HEAP_BASE`], [`HEAP_SIZE`]), a buddy allocator:
//! power-of-two blocks (32 bytes to 8 MiB), each aligned to its size
//! from the heap's start, a free list per size, and a freed block merged
//! with its buddy (the block it was split from the same parent with)
//! whenever that is free too. Memory a process made the shim use in one
//! size (names, descriptors, file pages) is whole again for any size once
//! it is given back: before, each size kept its blocks for ever, so a
//! process that churned through one size left the others none, and the
//! shim's next allocation failed (a panic: the guest restarted).
//!
//! A free block holds its list's links and its size; a bitmap at the
//! heap's start (one bit per 32-byte granule) says where a free block
//! starts, so a buddy is found free in constant time. The shim has one
//! thread, so the lists need no lock; atomics make the statics `Sync`.
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
/// Smallest block (class 0); class `c` holds blocks of `GRAIN << c`. A
/// free block keeps three words: next, previous, class.
const GRAIN: usize = 32;
const CLASSES: usize = 19;
/// The bitmap's room at the heap's start: a bit per granule of 12 MiB
/// is 48 KiB.
const BITMAP: usize = 64 << 10;

struct Heap {
    end: AtomicUsize,
    free_bytes: AtomicUsize,
    free: [AtomicUsize; CLASSES],
}

#[global_allocator]
static HEAP: Heap = Heap {
    end: AtomicUsize::new(0),
    free_bytes: AtomicUsize::new(0),
    free: [const { AtomicUsize::new(0) }; CLASSES],
};

const BASE: usize = HEAP_BASE as usize;

/// Give the allocator the mapped range `[HEAP_BASE, HEAP_BASE + size)`.
/// Until then every allocation fails (returns null).
pub fn init(size: u64) {
    let size = (size as usize).min(GRAIN * 8 * BITMAP);
    if size <= BITMAP {
        return;
    }
    // SAFETY: the range is mapped, writable and the allocator's alone;
    // nothing was allocated from it yet.
    unsafe { core::ptr::write_bytes(BASE as *mut u8, 0, BITMAP) };
    HEAP.end.store(BASE + size, Relaxed);
    // Cut the rest into the largest blocks that are aligned to their size.
    let mut off = BITMAP;
    while off + GRAIN <= size {
        let mut c = CLASSES - 1;
        while (!off.is_multiple_of(GRAIN << c) || off + (GRAIN << c) > size) && c > 0 {
            c -= 1;
        }
        HEAP.push(BASE + off, c);
        off += GRAIN << c;
    }
}

/// Bytes free in the heap (in blocks of any size).
pub fn free_bytes() -> usize {
    HEAP.free_bytes.load(Relaxed)
}

fn class_of(layout: Layout) -> Option<usize> {
    let size = layout
        .size()
        .max(layout.align())
        .max(GRAIN)
        .checked_next_power_of_two()?;
    let c = (size.trailing_zeros() - GRAIN.trailing_zeros()) as usize;
    (c < CLASSES).then_some(c)
}

impl Heap {
    fn bit(&self, block: usize) -> (*mut u8, u8) {
        let g = (block - BASE) / GRAIN;
        ((BASE + g / 8) as *mut u8, 1 << (g % 8))
    }

    /// Whether a free block of class `c` starts at `block`.
    fn is_free(&self, block: usize, c: usize) -> bool {
        if block < BASE + BITMAP || block + (GRAIN << c) > self.end.load(Relaxed) {
            return false;
        }
        let (byte, mask) = self.bit(block);
        // SAFETY: the bitmap lies at the heap's start, mapped and the
        // allocator's own; a set bit marks a free block, whose third word
        // is its class.
        unsafe { *byte & mask != 0 && (block as *const usize).add(2).read() == c }
    }

    fn push(&self, block: usize, c: usize) {
        let head = self.free[c].load(Relaxed);
        let (byte, mask) = self.bit(block);
        // SAFETY: `block` is a free block of class `c` (at least 32 bytes,
        // aligned to them) that nothing else uses; `head` is the list's
        // first free block or 0; the bitmap is the allocator's.
        unsafe {
            let w = block as *mut usize;
            w.write(head);
            w.add(1).write(0);
            w.add(2).write(c);
            if head != 0 {
                (head as *mut usize).add(1).write(block);
            }
            *byte |= mask;
        }
        self.free[c].store(block, Relaxed);
        self.free_bytes.fetch_add(GRAIN << c, Relaxed);
    }

    /// Take the free block `block` of class `c` off its list.
    fn unlink(&self, block: usize, c: usize) {
        let (byte, mask) = self.bit(block);
        // SAFETY: `block` is on list `c` (its bit is set), so its links
        // name blocks of that list or 0.
        unsafe {
            let w = block as *mut usize;
            let (next, prev) = (w.read(), w.add(1).read());
            if prev == 0 {
                self.free[c].store(next, Relaxed);
            } else {
                (prev as *mut usize).write(next);
            }
            if next != 0 {
                (next as *mut usize).add(1).write(prev);
            }
            *byte &= !mask;
        }
        self.free_bytes.fetch_sub(GRAIN << c, Relaxed);
    }
}

// SAFETY: blocks are carved from the mapped heap range only, past the
// bitmap; a block of class `c` is `GRAIN << c` bytes aligned to that from
// the heap's start, so splitting and merging buddies keep them disjoint;
// a block is on a free list only after `dealloc` gave it back, and the
// shim has a single thread, so no two callers race for one block.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(c) = class_of(layout) else {
            return core::ptr::null_mut();
        };
        let Some(mut k) = (c..CLASSES).find(|&k| self.free[k].load(Relaxed) != 0) else {
            return core::ptr::null_mut();
        };
        let block = self.free[k].load(Relaxed);
        self.unlink(block, k);
        // Split down to the size asked for; the upper halves stay free.
        while k > c {
            k -= 1;
            self.push(block + (GRAIN << k), k);
        }
        block as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(mut c) = class_of(layout) else {
            return;
        };
        let mut block = ptr as usize;
        while c + 1 < CLASSES {
            let buddy = BASE + ((block - BASE) ^ (GRAIN << c));
            if !self.is_free(buddy, c) {
                break;
            }
            self.unlink(buddy, c);
            block = block.min(buddy);
            c += 1;
        }
        self.push(block, c);
    }
}
