//! A window onto memory a client and server both map, for bulk data that
//! does not fit in a message: requests carry [`Region`]s of it.
//!
//! Guarantees: a region is handed out as a slice only if it lies wholly
//! inside the window (`offset + len <= size`, computed without overflow);
//! otherwise the answer is `WireError::Malformed`. Every other use is the
//! caller's promise given once, to [`Shared::new`]. This is the crate's
//! only `unsafe`.
//!
//! The peer task may write the same memory at any time; the protocol on
//! top (who owns a region when) is what keeps the two from racing, and a
//! server must treat the bytes it reads as untrusted input like any other.
#![allow(unsafe_code)]

use crate::{Region, WireError};

/// Bulk data: a window onto the shared memory a client and server agreed on.
pub struct Shared {
    base: *mut u8,
    size: usize,
}

impl core::fmt::Debug for Shared {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Shared")
            .field("base", &self.base)
            .field("size", &self.size)
            .finish()
    }
}

impl Shared {
    /// The window of `size` bytes at address `base`.
    ///
    /// # Safety
    /// `base..base + size` must be mapped readable and writable in this
    /// task for as long as the value exists (and not wrap around the
    /// address space), and in this task be used only through this value.
    pub unsafe fn new(base: u64, size: usize) -> Self {
        Shared {
            base: core::ptr::with_exposed_provenance_mut(base as usize),
            size,
        }
    }

    /// The window's size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The byte range `r` names, if it lies inside the window.
    fn range(&self, r: Region) -> Result<(usize, usize), WireError> {
        let offset = usize::try_from(r.offset).map_err(|_| WireError::Malformed)?;
        let len = usize::try_from(r.len).map_err(|_| WireError::Malformed)?;
        let end = offset.checked_add(len).ok_or(WireError::Malformed)?;
        if end > self.size {
            return Err(WireError::Malformed);
        }
        Ok((offset, len))
    }

    /// The bytes of region `r`.
    pub fn get(&self, r: Region) -> Result<&[u8], WireError> {
        let (offset, len) = self.range(r)?;
        if len == 0 {
            return Ok(&[]);
        }
        // SAFETY: `offset + len <= size` (checked in `range`), and `new`'s
        // caller promised `base..base + size` is mapped, does not wrap and
        // is reached only through `self`; `&self` keeps `get_mut` from
        // handing out an overlapping mutable slice meanwhile.
        unsafe { Ok(core::slice::from_raw_parts(self.base.add(offset), len)) }
    }

    /// The bytes of region `r`, writable.
    pub fn get_mut(&mut self, r: Region) -> Result<&mut [u8], WireError> {
        let (offset, len) = self.range(r)?;
        if len == 0 {
            return Ok(&mut []);
        }
        // SAFETY: as in `get`; `&mut self` makes this the only slice of
        // the window alive.
        unsafe { Ok(core::slice::from_raw_parts_mut(self.base.add(offset), len)) }
    }
}
