//! x86 port I/O from user mode: `in` and `out` on the ports an installed
//! `IoPort` capability opened to the task's address space. A port that is
//! not open faults (#GP, vector 13, error code 0) and the thread's fault
//! handler hears of it; nothing else can go wrong, so these are safe.

/// Read a byte from `port`.
#[inline]
pub fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: `in` touches no memory; from ring 3 it either reads the
    // port (opened by the kernel's I/O bitmap) or raises #GP, which the
    // kernel turns into a fault message.
    unsafe {
        core::arch::asm!("in al, dx", out("al") v, in("dx") port, options(nomem, nostack, preserves_flags))
    };
    v
}

/// Write a byte to `port`.
#[inline]
pub fn outb(port: u16, value: u8) {
    // SAFETY: as for `inb`: a port write or a fault, no memory touched.
    unsafe {
        core::arch::asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    };
}
