//! Building the root task: the one thing the kernel creates by itself.
//!
//! The root task gets a CNode of 2^12 slots whose guard makes a slot index
//! its capability pointer, its own TCB, address space, IPC-buffer frame,
//! the IRQ, I/O-port and ASID authorities, and every byte of RAM the kernel
//! did not use for boot, as untyped capabilities. After this the kernel
//! allocates nothing: the free list is handed over and emptied. A read-only
//! boot-info page says which slots hold what (`septum_abi::bootinfo`).

use crate::arch::paging::{self, PTE_NX, PTE_USER, write_word};
use crate::loader;
use crate::mem;
use crate::object::cnode;
use crate::object::tcb::{Reg, Tcb};
use crate::object::{SLOT_SIZE, Slot};
use septum_abi::bootinfo as bi;
use septum_abi::layout::{USER_IPC_BUFFER, USER_STACK_TOP};
use septum_kcore::cap::{Cap, Mapping, Rights};
use septum_kcore::physmem;

const ROOT_ASID: u16 = 1;
/// Offset of `BootInfo::untyped` in the page.
const UNTYPED_DESC: u64 = core::mem::offset_of!(bi::BootInfo, untyped) as u64;
const ROOT_PRIORITY: u8 = 255;

/// Why the root task could not be built.
#[derive(Debug)]
pub enum Error {
    Load(loader::LoadError),
    OutOfMemory(&'static str),
    Cap(septum_abi::Error),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Load(e) => write!(f, "{e}"),
            Error::OutOfMemory(what) => write!(f, "out of memory for its {what}"),
            Error::Cap(e) => write!(f, "capability setup failed: {}", e.name()),
        }
    }
}

fn take(what: &'static str, frames: u64, align: u64) -> Result<u64, Error> {
    let pa = mem::FREE
        .lock()
        .alloc(frames, align)
        .ok_or(Error::OutOfMemory(what))?;
    paging::zero_phys(pa, frames * 4096);
    Ok(pa)
}

/// Load the root task `name` from `elf` and make it runnable.
/// `image` is the boot image's physical address and length: it is mapped
/// read-only in the root task, which loads the other tasks from it.
pub fn create_root_task(
    name: &str,
    elf: &[u8],
    rsdp: u64,
    image: (u64, u64),
) -> Result<Tcb, Error> {
    let radix = bi::ROOT_CNODE_RADIX;
    let cnode_bytes = (1u64 << radix) * SLOT_SIZE;
    let cn = take("CNode", cnode_bytes / 4096, cnode_bytes)?;
    let tcb = Tcb(take("TCB", 1, 4096)?);
    tcb.init();
    // Capabilities to its own image, so it can share code with address
    // spaces it builds; inserted as the loader goes.
    let image_first = bi::SLOT_FIRST_UNTYPED + bi::MAX_UNTYPED as u64;
    let mut image_count = 0u64;
    let mut on_page = |va: u64, pa: u64| {
        let i = image_first + image_count;
        if i >= 1 << radix {
            return Err(loader::LoadError::TooLarge);
        }
        let mapping = Some(Mapping {
            asid: ROOT_ASID,
            vaddr: va,
        });
        let cap = Cap::Frame {
            object: pa,
            rights: Rights::all(),
            huge: false,
            mapping,
        };
        cnode::insert(Slot(cn + i * SLOT_SIZE), &cap, None)
            .map_err(|_| loader::LoadError::TooLarge)?;
        image_count += 1;
        Ok(())
    };
    let loaded = loader::load(elf, crate::kernel_pml4(), &mut on_page).map_err(Error::Load)?;
    let info = take("boot-info page", 1, 4096)?;
    paging::map(
        loaded.pml4,
        bi::BOOT_INFO_ADDR,
        info,
        PTE_USER | PTE_NX,
        false,
        &mut mem::alloc_frame,
    )
    .map_err(|_| Error::OutOfMemory("boot-info mapping"))?;
    // The whole boot image, read-only: the root task loads every other
    // task and reads the system description from it. Its memory was
    // reserved at boot and never becomes untyped, so nothing can reuse it.
    let (image_pa, image_len) = image;
    let first_page = image_pa & !0xfff;
    let end = image_pa.saturating_add(image_len).saturating_add(0xfff) & !0xfff;
    let mut pa = first_page;
    while pa < end {
        paging::map(
            loaded.pml4,
            bi::BOOT_IMAGE_ADDR + (pa - first_page),
            pa,
            PTE_USER | PTE_NX,
            false,
            &mut mem::alloc_frame,
        )
        .map_err(|_| Error::OutOfMemory("boot-image mapping"))?;
        pa += 4096;
    }

    crate::check::set_root_cnode(cn, radix as u8);
    let slot = |i: u64| Slot(cn + i * SLOT_SIZE);
    let put = |i: u64, cap: Cap| cnode::insert(slot(i), &cap, None).map_err(Error::Cap);
    let guard_bits = 64 - radix as u8;
    put(
        bi::SLOT_CNODE,
        Cap::CNode {
            object: cn,
            radix: radix as u8,
            guard_bits,
            guard: 0,
        },
    )?;
    put(bi::SLOT_TCB, Cap::Tcb { object: tcb.0 })?;
    let mapping = Some(Mapping {
        asid: ROOT_ASID,
        vaddr: 0,
    });
    put(
        bi::SLOT_VSPACE,
        Cap::PageTable {
            object: loaded.pml4,
            level: 4,
            mapping,
        },
    )?;
    crate::vspace::register_boot(ROOT_ASID, loaded.pml4);
    put(bi::SLOT_IRQ_CONTROL, Cap::IrqControl)?;
    put(bi::SLOT_IO_PORT_CONTROL, Cap::IoPortControl)?;
    put(bi::SLOT_SCHED_CONTROL, Cap::SchedControl)?;
    put(
        bi::SLOT_ASID_POOL,
        Cap::AsidPool {
            first: 1,
            count: crate::vspace::ASIDS as u32 - 1,
        },
    )?;
    let ipc_mapping = Some(Mapping {
        asid: ROOT_ASID,
        vaddr: USER_IPC_BUFFER,
    });
    put(
        bi::SLOT_IPC_BUFFER,
        Cap::Frame {
            object: loaded.ipc_buffer,
            rights: Rights::all(),
            huge: false,
            mapping: ipc_mapping,
        },
    )?;
    for (from, to) in [
        (bi::SLOT_CNODE, tcb.cspace_slot()),
        (bi::SLOT_VSPACE, tcb.vspace_slot()),
        (bi::SLOT_IPC_BUFFER, tcb.ipc_buffer_slot()),
    ] {
        cnode::copy(slot(from), to, Rights::all(), None).map_err(Error::Cap)?;
    }

    // Everything left is the root task's, as untyped memory.
    let mut free = mem::FREE.lock();
    let mut count = 0u64;
    let mut dropped = 0u64;
    for region in free.regions() {
        for (base, bits) in physmem::aligned_blocks(region.start, region.end, 47) {
            if count as usize >= bi::MAX_UNTYPED {
                dropped += 1 << bits;
                continue;
            }
            let i = bi::SLOT_FIRST_UNTYPED + count;
            // What the memory holds is unknown (the loader, the boot
            // image): the watermark starts at the top, so the first use
            // clears it (see `object::untyped`).
            let cap = Cap::Untyped {
                base,
                size_bits: bits as u8,
                is_device: false,
                free_offset: 1 << bits,
            };
            cnode::insert(slot(i), &cap, None).map_err(Error::Cap)?;
            let d = UNTYPED_DESC + count * 24;
            write_word(info + d, base);
            write_word(info + d + 8, bits.into());
            write_word(info + d + 16, 0);
            count += 1;
        }
    }
    *free = physmem::FreeMemory::new();
    drop(free);
    // Device memory, as device untypeds: frames only, never cleared, and
    // mapped uncached (`vspace::map_frame`).
    let mut device = 0u64;
    let mut result = Ok(());
    crate::mem::device_ranges(|start, end| {
        for (base, bits) in physmem::aligned_blocks(start, end, 47) {
            if count as usize >= bi::MAX_UNTYPED || result.is_err() {
                dropped += 1 << bits;
                continue;
            }
            let cap = Cap::Untyped {
                base,
                size_bits: bits as u8,
                is_device: true,
                free_offset: 0,
            };
            let i = bi::SLOT_FIRST_UNTYPED + count;
            if let Err(e) = cnode::insert(slot(i), &cap, None) {
                result = Err(Error::Cap(e));
                return;
            }
            let d = UNTYPED_DESC + count * 24;
            write_word(info + d, base);
            write_word(info + d + 8, bits.into());
            write_word(info + d + 16, 1);
            count += 1;
            device += 1;
        }
    });
    result?;
    if dropped > 0 {
        crate::warn!(
            "boot: {} KiB of memory not described (more than {} untyped blocks)",
            dropped >> 10,
            bi::MAX_UNTYPED
        );
    }
    write_word(info, bi::MAGIC);
    const _: () = assert!(core::mem::offset_of!(bi::BootInfo, image_frames_count) == 56);
    write_word(info + 8, radix.into());
    write_word(info + 16, bi::SLOT_FIRST_UNTYPED);
    write_word(info + 24, count);
    write_word(info + 32, image_first + image_count);
    write_word(info + 40, rsdp);
    write_word(info + 48, image_first);
    write_word(info + 56, image_count);
    write_word(
        info + core::mem::offset_of!(bi::BootInfo, boot_image_addr) as u64,
        bi::BOOT_IMAGE_ADDR + (image_pa - first_page),
    );
    write_word(
        info + core::mem::offset_of!(bi::BootInfo, boot_image_len) as u64,
        image_len,
    );
    write_word(
        info + core::mem::offset_of!(bi::BootInfo, tsc_hz) as u64,
        crate::arch::apic::tsc_hz(),
    );

    tcb.set_name(name.as_bytes());
    tcb.set_mcp(ROOT_PRIORITY);
    tcb.set_priority(ROOT_PRIORITY);
    tcb.set_ipc_buffer(USER_IPC_BUFFER);
    tcb.set_reg(Reg::Rip, loaded.entry);
    tcb.set_reg(Reg::Rsp, USER_STACK_TOP);
    tcb.set_reg(Reg::Rdi, USER_IPC_BUFFER);
    tcb.set_reg(Reg::Rsi, bi::BOOT_INFO_ADDR);
    tcb.set_flag(crate::object::tcb::flags::FULL_RESTORE, true);
    crate::sched::wake(tcb);
    crate::info!(
        "root task '{name}': {} untyped capabilities, {} MiB; {device} of device memory, {} MiB",
        count - device,
        (0..count - device)
            .map(|i| 1u64 << paging::read_word(info + UNTYPED_DESC + i * 24 + 8))
            .sum::<u64>()
            >> 20,
        (count - device..count)
            .map(|i| 1u64 << paging::read_word(info + UNTYPED_DESC + i * 24 + 8))
            .sum::<u64>()
            >> 20
    );
    Ok(tcb)
}
