//! The hardware layer. Only x86_64 for now; the rest of the kernel calls it
//! through these re-exports.

pub mod x86_64;

pub use self::x86_64::{
    acpi, apic, cpu, exit_qemu, fpu, halt_forever, ioapic, layout, mask_legacy_pic, paging, pvh,
    serial, trap,
};
