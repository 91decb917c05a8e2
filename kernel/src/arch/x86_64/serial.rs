//! The kernel's log channel: QEMU's debug console, port 0xE9 (the Bochs
//! and QEMU convention: every byte written there is passed straight to the
//! host, with no device state to program or wait for).
//!
//! The kernel leaves the 16550 UART alone: it belongs to the user-level
//! serial driver, and two writers on one UART would fight. `cargo xtask`
//! gives the debug console and the UART one terminal, interleaved. On a
//! machine without a debug console the bytes go nowhere.

use x86_64::instructions::port::Port;

/// The debug console's port.
const DEBUGCON: u16 = 0xe9;

/// Write one byte.
pub fn write_byte(b: u8) {
    // SAFETY: port 0xE9 is the debug console, which has no state and
    // touches no memory; the kernel owns it.
    unsafe { Port::<u8>::new(DEBUGCON).write(b) };
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
