//! Everything that touches the x86_64 hardware directly. Nearly all of the
//! kernel's `unsafe` code is here, each block with the reason it is sound.

pub mod acpi;
pub mod apic;
pub mod boot;
pub mod cpu;
pub mod fpu;
pub mod ioapic;
pub mod layout;
pub mod paging;
pub mod pvh;
pub mod serial;
pub mod trap;

use x86_64::instructions::port::Port;

/// End the QEMU run with `value` through `isa-debug-exit` (see
/// `septum_abi::qemu_exit`). On a machine without the device the write does
/// nothing and the CPU halts for good instead.
pub fn exit_qemu(value: u32) -> ! {
    // SAFETY: writing the debug-exit port only ends the emulator; on real
    // hardware the port is unused.
    unsafe { Port::<u32>::new(septum_abi::qemu_exit::PORT).write(value) };
    halt_forever()
}

/// Stop this CPU with interrupts off.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// Mask both legacy PICs, so no stray ISA interrupt reaches the kernel
/// before the IOAPIC is set up (kernel-core issue).
pub fn mask_legacy_pic() {
    // SAFETY: writing the PICs' data ports only masks their lines.
    unsafe {
        Port::<u8>::new(0x21).write(0xff);
        Port::<u8>::new(0xa1).write(0xff);
    }
}
