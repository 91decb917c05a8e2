//! A window onto memory a client and server both map, for bulk data that
//! does not fit in a message: requests carry [`Region`]s of it.
//!
//! Guarantees: a region is read or written only if it lies wholly inside
//! the window (`offset + len <= size`, computed without overflow);
//! otherwise the answer is `WireError::Malformed`. The peer task may write
//! the same memory at any time, so no Rust reference to it is ever handed
//! out: bytes are copied in and out with volatile accesses, and what a
//! server reads is a snapshot it can check and then use. The caller's one
//! promise is given to [`Shared::new`]. This is the crate's only `unsafe`.
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
    /// task for as long as the value exists, and in this task be used only
    /// through this value. (A window that would wrap around the address
    /// space is cut to an empty one.)
    pub unsafe fn new(base: u64, size: usize) -> Self {
        let size = if (base as usize).checked_add(size).is_some() {
            size
        } else {
            0
        };
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

    /// Copy region `r` into the start of `out`; returns how many bytes
    /// (all of `r`, which must fit `out`).
    pub fn read(&self, r: Region, out: &mut [u8]) -> Result<usize, WireError> {
        let (offset, len) = self.range(r)?;
        let dst = out.get_mut(..len).ok_or(WireError::TooLarge)?;
        for (i, d) in dst.iter_mut().enumerate() {
            // SAFETY: `offset + i < offset + len <= size` (checked in
            // `range`), and `new`'s caller promised the window is mapped and
            // does not wrap. Volatile: the peer may change it meanwhile.
            *d = unsafe { self.base.add(offset + i).read_volatile() };
        }
        Ok(len)
    }

    /// Copy `data` into region `r` (whose length must equal `data`'s).
    pub fn write(&mut self, r: Region, data: &[u8]) -> Result<(), WireError> {
        let (offset, len) = self.range(r)?;
        if len != data.len() {
            return Err(WireError::TooLarge);
        }
        for (i, &b) in data.iter().enumerate() {
            // SAFETY: as in `read`.
            unsafe { self.base.add(offset + i).write_volatile(b) };
        }
        Ok(())
    }
}
