//! The kernel's debug console: COM1 (16550) polled, 115200 8N1.
//!
//! Only the kernel log and the debug-console system call write here. The
//! interrupt-driven, multi-client console is a user-level server (planned);
//! the kernel keeps nothing of the device but these few port writes.

use x86_64::instructions::port::Port;

const COM1: u16 = 0x3f8;

/// Program the UART. Safe to call more than once.
pub fn init() {
    let regs = [
        (1, 0x00), // no interrupts
        (3, 0x80), // DLAB on
        (0, 0x01), // divisor 1: 115200 baud
        (1, 0x00),
        (3, 0x03), // 8N1, DLAB off
        (2, 0xc7), // FIFO on, cleared
        (4, 0x03), // DTR, RTS
    ];
    for (off, val) in regs {
        // SAFETY: COM1's registers are owned by the kernel; writing them has
        // no effect on memory.
        unsafe { Port::<u8>::new(COM1 + off).write(val) };
    }
}

/// Write one byte, waiting for the transmitter. Gives up after a bounded
/// wait so a missing UART cannot hang the kernel.
pub fn write_byte(b: u8) {
    for _ in 0..100_000 {
        // SAFETY: reading the line-status register has no side effects.
        let lsr = unsafe { Port::<u8>::new(COM1 + 5).read() };
        if lsr & 0x20 != 0 {
            break;
        }
    }
    // SAFETY: the transmit register of COM1 is owned by the kernel.
    unsafe { Port::<u8>::new(COM1).write(b) };
}

/// Write bytes, turning `\n` into `\r\n`.
pub fn write_bytes(bytes: &[u8]) {
    for &b in bytes {
        if b == b'\n' {
            write_byte(b'\r');
        }
        write_byte(b);
    }
}
