//! The boot-info page: what the kernel hands the root task besides its
//! capabilities.
//!
//! The kernel maps one read-only page at [`BOOT_INFO_ADDR`] and passes its
//! address in `rsi`. The root task's capability space is one CNode of
//! 2^[`ROOT_CNODE_RADIX`] slots, with a guard that makes a slot's index its
//! capability pointer (depth 64). The fixed slots are the constants below;
//! untyped memory capabilities follow from [`BootInfo::untyped_first`].

/// Where the boot-info page is mapped in the root task.
pub const BOOT_INFO_ADDR: u64 = 0x0000_7fff_ffff_c000;
/// Where the kernel maps the whole boot image, read-only and not
/// executable, in the root task ([`BootInfo::boot_image_addr`] says where
/// its first byte is: the image need not start on a page boundary).
pub const BOOT_IMAGE_ADDR: u64 = 0x0000_7f00_0000_0000;
/// `BootInfo::magic`.
pub const MAGIC: u64 = 0x5345_5054_424f_4f54; // "SEPTBOOT"
/// Radix of the root CNode.
pub const ROOT_CNODE_RADIX: u32 = 12;

/// The root task's own CNode.
pub const SLOT_CNODE: u64 = 1;
/// The root task's thread.
pub const SLOT_TCB: u64 = 2;
/// The root task's address space (its PML4).
pub const SLOT_VSPACE: u64 = 3;
/// The right to create IRQ handlers.
pub const SLOT_IRQ_CONTROL: u64 = 4;
/// The right to create I/O-port capabilities.
pub const SLOT_IO_PORT_CONTROL: u64 = 5;
/// The right to assign address-space ids.
pub const SLOT_ASID_POOL: u64 = 6;
/// The root thread's IPC-buffer frame.
pub const SLOT_IPC_BUFFER: u64 = 7;
/// The right to set the time-partition schedule ([`crate::sched`]).
pub const SLOT_SCHED_CONTROL: u64 = 8;
/// First slot the kernel leaves to the root task's own use after untypeds.
pub const SLOT_FIRST_UNTYPED: u64 = 16;

/// Most untyped capabilities described.
pub const MAX_UNTYPED: usize = 150;

/// One untyped capability given to the root task.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UntypedDesc {
    /// Physical address.
    pub base: u64,
    /// log2 of its size in bytes.
    pub size_bits: u64,
    /// 1 if it covers device memory (never cleared, never for kernel objects).
    pub is_device: u64,
}

/// The page's contents. Only `u64` fields: any bit pattern is a valid value,
/// so reading it from the mapped page is sound whatever the kernel wrote.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BootInfo {
    pub magic: u64,
    /// Radix of the root CNode ([`ROOT_CNODE_RADIX`]).
    pub root_cnode_radix: u64,
    /// Slot of the first untyped capability.
    pub untyped_first: u64,
    /// Number of untyped capabilities, at most [`MAX_UNTYPED`].
    pub untyped_count: u64,
    /// First slot not used by the kernel's gifts.
    pub first_free_slot: u64,
    /// Physical address of the ACPI RSDP (0 if none).
    pub rsdp: u64,
    /// Slot of the first capability to a frame of the root task's own
    /// image (mapped where the task sees it; `CNode` identify tells where).
    pub image_frames_first: u64,
    /// Number of image-frame capabilities, in address order.
    pub image_frames_count: u64,
    /// The untyped capabilities, in slot order.
    pub untyped: [UntypedDesc; MAX_UNTYPED],
    /// Where the boot image's first byte is mapped (read-only) in the root
    /// task, at or just above [`BOOT_IMAGE_ADDR`]; 0 if it is not mapped.
    pub boot_image_addr: u64,
    /// The boot image's length in bytes.
    pub boot_image_len: u64,
    /// TSC cycles per second, as the kernel measured them against the PIT
    /// when it calibrated its timer; 0 if it could not. With it a task
    /// turns `rdtsc` deltas into time (the supervisor's restart backoff).
    pub tsc_hz: u64,
}

const _: () = assert!(core::mem::size_of::<BootInfo>() <= 4096);

impl BootInfo {
    /// The described untyped capabilities (bounded by the array).
    pub fn untypeds(&self) -> &[UntypedDesc] {
        let n = (self.untyped_count as usize).min(MAX_UNTYPED);
        &self.untyped[..n]
    }

    /// Total bytes of untyped memory described (saturating).
    pub fn untyped_bytes(&self) -> u64 {
        self.untypeds()
            .iter()
            .filter(|u| u.is_device == 0)
            .fold(0u64, |sum, u| {
                sum.saturating_add(1u64.checked_shl(u.size_bits as u32).unwrap_or(0))
            })
    }
}
