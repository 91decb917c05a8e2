//! Loading a task's ELF into a fresh address space: each segment with its
//! own rights, a stack with an unmapped guard page below it, an IPC buffer.

use crate::arch::paging::{self, MapError, PTE_NX, PTE_USER, PTE_WRITE};
use crate::mem::alloc_frame;
use core::fmt;
use septum_abi::layout::{USER_IPC_BUFFER, USER_STACK_SIZE, USER_STACK_TOP, is_user_range};
use septum_kcore::elf::{self, Elf};

const PAGE: u64 = 4096;

/// Why a task could not be loaded.
#[derive(Clone, Copy, Debug)]
pub enum LoadError {
    Elf(elf::Error),
    /// A segment lies (partly) outside user space.
    OutsideUserSpace {
        index: usize,
        vaddr: u64,
        size: u64,
    },
    OutOfMemory,
    Map(MapError),
    /// More pages than the caller can keep track of.
    TooLarge,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Elf(e) => write!(f, "bad ELF: {e}"),
            LoadError::OutsideUserSpace { index, vaddr, size } => write!(
                f,
                "segment {index} at [{vaddr:#x}, +{size:#x}) is outside user space"
            ),
            LoadError::OutOfMemory => write!(f, "out of memory"),
            LoadError::Map(e) => write!(f, "mapping failed: {e:?}"),
            LoadError::TooLarge => write!(f, "image has too many pages"),
        }
    }
}

impl From<MapError> for LoadError {
    fn from(e: MapError) -> Self {
        match e {
            MapError::OutOfMemory => LoadError::OutOfMemory,
            e => LoadError::Map(e),
        }
    }
}

/// A loaded task, ready to get a thread.
pub struct Loaded {
    pub pml4: u64,
    pub entry: u64,
    /// Physical address of the IPC-buffer frame.
    pub ipc_buffer: u64,
}

fn new_data_frame() -> Result<u64, LoadError> {
    let pa = alloc_frame().ok_or(LoadError::OutOfMemory)?;
    paging::clear_frame(pa);
    Ok(pa)
}

/// Build an address space for `image` (an ELF executable). `on_page` is
/// told of every image page loaded (virtual, physical), in order.
pub fn load(
    image: &[u8],
    kernel_pml4: u64,
    on_page: &mut dyn FnMut(u64, u64) -> Result<(), LoadError>,
) -> Result<Loaded, LoadError> {
    let elf = Elf::parse(image).map_err(LoadError::Elf)?;
    let alloc = &mut alloc_frame;
    let pml4 = paging::new_address_space(kernel_pml4, alloc)?;
    for seg in elf.segments() {
        if !is_user_range(seg.vaddr, seg.mem_size) {
            return Err(LoadError::OutsideUserSpace {
                index: seg.index,
                vaddr: seg.vaddr,
                size: seg.mem_size,
            });
        }
        let mut flags = PTE_USER;
        if seg.perms.write {
            flags |= PTE_WRITE;
        }
        if !seg.perms.execute {
            flags |= PTE_NX;
        }
        for page in seg.pages() {
            let frame = new_data_frame()?;
            if !page.data.is_empty() {
                paging::write_frame(frame, page.offset, page.data);
            }
            paging::map(pml4, page.vaddr, frame, flags, false, alloc)?;
            on_page(page.vaddr, frame)?;
        }
    }
    let data = PTE_USER | PTE_WRITE | PTE_NX;
    let mut page = USER_STACK_TOP - USER_STACK_SIZE;
    while page < USER_STACK_TOP {
        paging::map(pml4, page, new_data_frame()?, data, false, alloc)?;
        page += PAGE;
    }
    let ipc_buffer = new_data_frame()?;
    paging::map(pml4, USER_IPC_BUFFER, ipc_buffer, data, false, alloc)?;
    Ok(Loaded {
        pml4,
        entry: elf.entry(),
        ipc_buffer,
    })
}
