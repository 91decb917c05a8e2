//! The 16550's registers, and how the driver programs them.
//!
//! The registers are reached through [`Regs`], so the driver's logic runs
//! against the real ports ([`Ports`]: plain `in`/`out`, which the kernel
//! allows only on the ports the description grants) or against a model of
//! the chip in the host tests.

/// Register offsets from the UART's base port.
pub mod reg {
    /// Receive buffer (read) / transmit holding (write); divisor low with DLAB.
    pub const DATA: u16 = 0;
    /// Interrupt enable; divisor high with DLAB.
    pub const IER: u16 = 1;
    /// Interrupt identification (read) / FIFO control (write).
    pub const IIR: u16 = 2;
    /// FIFO control (write).
    pub const FCR: u16 = 2;
    /// Line control.
    pub const LCR: u16 = 3;
    /// Modem control.
    pub const MCR: u16 = 4;
    /// Line status.
    pub const LSR: u16 = 5;
    /// Modem status.
    pub const MSR: u16 = 6;
}

/// Interrupt enable bits.
pub mod ier {
    /// Received data available (and the FIFO's receive timeout).
    pub const RX: u8 = 0x01;
    /// Transmit holding register empty.
    pub const TX: u8 = 0x02;
    /// Receiver line status (overrun, parity, framing, break).
    pub const LINE: u8 = 0x04;
}

/// Line status bits.
pub mod lsr {
    pub const DATA_READY: u8 = 0x01;
    pub const OVERRUN: u8 = 0x02;
    pub const PARITY: u8 = 0x04;
    pub const FRAMING: u8 = 0x08;
    pub const BREAK: u8 = 0x10;
    pub const THR_EMPTY: u8 = 0x20;
    /// Bits that say a byte was lost or damaged.
    pub const ERRORS: u8 = OVERRUN | PARITY | FRAMING | BREAK;
}

/// The interrupt the IIR reports (bits 1–3; bit 0 set means none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    None,
    LineStatus,
    RxData,
    RxTimeout,
    TxEmpty,
    ModemStatus,
}

impl Cause {
    /// Decode an IIR value.
    pub fn from_iir(iir: u8) -> Cause {
        if iir & 1 != 0 {
            return Cause::None;
        }
        match iir & 0x0e {
            0x06 => Cause::LineStatus,
            0x04 => Cause::RxData,
            0x0c => Cause::RxTimeout,
            0x02 => Cause::TxEmpty,
            _ => Cause::ModemStatus,
        }
    }
}

/// The modem-control value while the driver accepts input: DTR, RTS (the
/// peer may send) and OUT2 (on a PC, the UART's interrupt reaches the
/// interrupt controller only with OUT2 set).
pub const MCR_RUN: u8 = 0x01 | 0x02 | 0x08;
/// RTS dropped: flow control asks the peer to stop sending.
pub const MCR_HOLD: u8 = 0x01 | 0x08;
/// FIFO control: enable the FIFOs, clear the transmit one, receive
/// trigger level 14. The receive FIFO is not cleared: after a restart the
/// bytes a dead driver left there are still input nobody has taken.
/// (Turning the FIFOs on from off clears both, on the chip and in QEMU.)
pub const FCR_INIT: u8 = 0x01 | 0x04 | 0xc0;
/// The receive trigger level [`FCR_INIT`] sets.
pub const RX_TRIGGER: usize = 14;
/// Bytes the transmit FIFO takes after a transmitter-empty interrupt.
pub const TX_FIFO: usize = 16;

/// Access to a UART's registers.
pub trait Regs {
    fn read(&mut self, reg: u16) -> u8;
    fn write(&mut self, reg: u16, value: u8);
}

/// The UART at an I/O-port base (COM1: 0x3f8).
#[derive(Clone, Copy, Debug)]
pub struct Ports(pub u16);

impl Regs for Ports {
    fn read(&mut self, reg: u16) -> u8 {
        septum_user::port::inb(self.0 + reg)
    }
    fn write(&mut self, reg: u16, value: u8) {
        septum_user::port::outb(self.0 + reg, value);
    }
}

/// Program the UART from whatever state it is in (a previous driver may
/// have died halfway through anything): 115200 baud, 8 data bits, no
/// parity, one stop bit; FIFOs on, receive trigger at 14
/// bytes; receive and line-status interrupts on; stale status read away.
pub fn init(r: &mut impl Regs) {
    r.write(reg::IER, 0);
    r.write(reg::LCR, 0x80);
    r.write(reg::DATA, 1);
    r.write(reg::IER, 0);
    r.write(reg::LCR, 0x03);
    r.write(reg::FCR, FCR_INIT);
    r.write(reg::MCR, MCR_RUN);
    let _ = r.read(reg::LSR);
    let _ = r.read(reg::MSR);
    let _ = r.read(reg::IIR);
    r.write(reg::IER, ier::RX | ier::LINE);
}
