//! The driver's core: the UART's interrupts, the input and output
//! buffers, flow control and the line discipline. No IPC here: the server
//! (`server.rs`) calls in when an interrupt or a request arrives, and the
//! host tests drive it against a model of the chip.
//!
//! What it guarantees:
//! - **No input is lost by the driver.** Received bytes go to a bounded
//!   ring of [`RX_SIZE`] bytes. When it is full the driver stops taking
//!   bytes: it turns the receive interrupt off and drops RTS, so the
//!   chip's FIFO fills and the sender is held back (QEMU's UART stops
//!   reading its character device; a real line with RTS/CTS stops the
//!   peer). It takes bytes again once a read has emptied half the ring.
//! - **Losses the chip reports are counted, never silent.** Overrun,
//!   framing, parity and break errors are counted in `dropped` and
//!   returned with the next read ([`Input::dropped`]).
//! - **One interrupt drains the FIFO.** A receive interrupt (at 14 bytes,
//!   or the receive timeout for fewer) reads every byte the line status
//!   says is there; a transmitter-empty interrupt refills up to 16.
//! - **Multiplexed** ([`Console::set_mux`]), one terminal serves several
//!   clients: every line of a client's output starts with its number
//!   (`2| `), a client's output never continues another's line, and
//!   [`MUX_KEY`] then a digit gives the input to that client
//!   ([`Console::take_switch`]); what was typed before and not read yet is
//!   dropped, so input meant for one client never reaches another.

use crate::ring::Ring;
use crate::uart::{self, Cause, Regs, ier, lsr, reg};
use septum_interfaces::serial::Input;

/// The input ring's size.
pub const RX_SIZE: usize = 16 * 1024;
/// The output ring's size.
pub const TX_SIZE: usize = 4 * 1024;
/// The most one message carries (the interface's `bytes<512>`).
pub const CHUNK: usize = 512;

/// With the console multiplexed: this key (Ctrl-]) then a digit `n` gives
/// the input to client `n`; the key twice is the key itself. (Ctrl-A is
/// QEMU's own multiplexer's, and the shell's start of line.)
pub const MUX_KEY: u8 = 0x1d;

/// What a multiplexed console remembers between bytes.
#[derive(Clone, Copy, Debug, Default)]
struct Mux {
    /// The client whose output went out last.
    last: Option<u64>,
    /// The terminal's cursor is at the start of a line (after CR or LF).
    at_start: bool,
    /// [`MUX_KEY`] came, and the next byte says what it means.
    escape: bool,
    /// A switch of the input to this client, not yet taken.
    switch: Option<u8>,
}

/// The driver's counters (the interface's `Stats` without the generation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_irqs: u64,
    pub tx_irqs: u64,
    pub dropped: u64,
    pub throttled: u64,
    pub echo_skipped: u64,
}

/// One UART and its buffers.
pub struct Console<R: Regs> {
    regs: R,
    /// The interrupt-enable value last written.
    ier: u8,
    rx: Ring<RX_SIZE>,
    tx: Ring<TX_SIZE>,
    cooked: bool,
    throttled: bool,
    /// Losses not yet reported with a read.
    unreported: u32,
    /// Set when the console is multiplexed.
    mux: Option<Mux>,
    pub counters: Counters,
}

impl<R: Regs> Console<R> {
    /// Take over the UART behind `regs` (see [`uart::init`]); raw mode.
    pub fn new(mut regs: R) -> Self {
        uart::init(&mut regs);
        Console {
            regs,
            ier: ier::RX | ier::LINE,
            rx: Ring::new(),
            tx: Ring::new(),
            cooked: false,
            throttled: false,
            unreported: 0,
            mux: None,
            counters: Counters::default(),
        }
    }

    /// Multiplex the terminal between clients (see the module's notes).
    pub fn set_mux(&mut self) {
        self.mux = Some(Mux {
            at_start: true,
            ..Mux::default()
        });
    }

    /// The client the input was switched to since the last call, if any.
    pub fn take_switch(&mut self) -> Option<u8> {
        self.mux.as_mut().and_then(|m| m.switch.take())
    }

    /// Cooked: echo, Enter (CR) read as `\n`, Backspace (DEL or BS) erases
    /// the last byte of an unfinished line, `\n` written as `\r\n`.
    pub fn set_cooked(&mut self, cooked: bool) {
        self.cooked = cooked;
    }

    /// Whether cooked.
    pub fn cooked(&self) -> bool {
        self.cooked
    }

    /// Whether input is held back because the ring is full.
    pub fn throttled(&self) -> bool {
        self.throttled
    }

    /// Bytes of input waiting to be read.
    pub fn pending_input(&self) -> usize {
        self.rx.len()
    }

    /// Handle every interrupt cause the UART reports, until it reports
    /// none (at most 64 rounds: a chip stuck asserting cannot hold the
    /// driver). Returns how many causes it handled.
    pub fn service(&mut self) -> usize {
        let mut handled = 0;
        while handled < 64 {
            match Cause::from_iir(self.regs.read(reg::IIR)) {
                Cause::None => break,
                Cause::LineStatus => {
                    let l = self.regs.read(reg::LSR);
                    self.note_errors(l);
                }
                Cause::RxData | Cause::RxTimeout => {
                    self.counters.rx_irqs += 1;
                    self.drain_rx();
                }
                Cause::TxEmpty => {
                    self.counters.tx_irqs += 1;
                    self.fill_tx();
                }
                Cause::ModemStatus => {
                    let _ = self.regs.read(reg::MSR);
                }
            }
            handled += 1;
        }
        handled
    }

    fn note_errors(&mut self, l: u8) {
        if l & lsr::ERRORS != 0 {
            self.counters.dropped += 1;
            self.unreported = self.unreported.saturating_add(1);
        }
    }

    /// Read every byte the receive FIFO holds, or until the ring is full.
    fn drain_rx(&mut self) {
        loop {
            let l = self.regs.read(reg::LSR);
            self.note_errors(l);
            if l & lsr::DATA_READY == 0 {
                break;
            }
            if self.rx.free() == 0 {
                self.throttle();
                break;
            }
            let b = self.regs.read(reg::DATA);
            self.counters.rx_bytes += 1;
            self.take(b);
        }
    }

    /// One received byte through the line discipline.
    fn take(&mut self, b: u8) {
        if let Some(m) = self.mux.as_mut() {
            if core::mem::take(&mut m.escape) {
                if b.is_ascii_digit() {
                    // Unread input was typed for the client that had it.
                    m.switch = Some(b - b'0');
                    while self.rx.pop().is_some() {}
                    return;
                }
            } else if b == MUX_KEY {
                m.escape = true;
                return;
            }
        }
        if !self.cooked {
            self.rx.push(b);
            return;
        }
        match b {
            0x7f | 0x08 => {
                if self.rx.last().is_some_and(|c| c != b'\n') {
                    self.rx.pop_back();
                    self.echo(b"\x08 \x08");
                }
            }
            b'\r' | b'\n' => {
                self.rx.push(b'\n');
                self.echo(b"\r\n");
            }
            _ => {
                self.rx.push(b);
                self.echo(&[b]);
            }
        }
    }

    fn echo(&mut self, bytes: &[u8]) {
        if self.tx.free() < bytes.len() {
            self.counters.echo_skipped += bytes.len() as u64;
            return;
        }
        for &b in bytes {
            self.tx.push(b);
        }
        self.kick_tx();
    }

    fn set_ier(&mut self, value: u8) {
        if value != self.ier {
            self.ier = value;
            self.regs.write(reg::IER, value);
        }
    }

    /// Stop taking input: no receive interrupt, RTS dropped.
    fn throttle(&mut self) {
        if !self.throttled {
            self.throttled = true;
            self.counters.throttled += 1;
            self.set_ier(self.ier & !ier::RX);
            self.regs.write(reg::MCR, uart::MCR_HOLD);
        }
    }

    /// Take input again once half the ring is free.
    fn unthrottle_if_room(&mut self) {
        if self.throttled && self.rx.free() >= RX_SIZE / 2 {
            self.throttled = false;
            self.regs.write(reg::MCR, uart::MCR_RUN);
            self.set_ier(self.ier | ier::RX);
        }
    }

    /// Refill the transmit FIFO if the holding register is empty; keep the
    /// transmitter-empty interrupt on exactly while output waits.
    fn fill_tx(&mut self) {
        if self.regs.read(reg::LSR) & lsr::THR_EMPTY != 0 {
            for _ in 0..uart::TX_FIFO {
                let Some(b) = self.tx.pop() else { break };
                self.regs.write(reg::DATA, b);
                self.counters.tx_bytes += 1;
            }
        }
        let want = if self.tx.is_empty() {
            self.ier & !ier::TX
        } else {
            self.ier | ier::TX
        };
        self.set_ier(want);
    }

    /// Start output that was just queued, if the transmitter is idle.
    fn kick_tx(&mut self) {
        if self.ier & ier::TX == 0 {
            self.fill_tx();
        }
    }

    /// Queue as much of `data` as fits for output (cooked: `\n` as
    /// `\r\n`, never split); returns how many bytes of `data` it took.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let mut taken = 0;
        for &b in data {
            let crlf = self.cooked && b == b'\n';
            if self.tx.free() < if crlf { 2 } else { 1 } {
                break;
            }
            if crlf {
                self.tx.push(b'\r');
            }
            self.tx.push(b);
            taken += 1;
        }
        if taken > 0 {
            self.kick_tx();
        }
        taken
    }

    /// [`Console::write`] for `client`: multiplexed, each of its lines
    /// starts with its number, and its output starts on a line of its own
    /// if another client's line is unfinished. Returns how many bytes of
    /// `data` it took (what it adds is never split from them).
    pub fn write_from(&mut self, client: u64, data: &[u8]) -> usize {
        let Some(mut m) = self.mux else {
            return self.write(data);
        };
        let prefix = client_prefix(client);
        let prefix = prefix.as_bytes();
        let mut taken = 0;
        for &b in data {
            let apart = m.last != Some(client) && !m.at_start;
            let starts = (apart || m.at_start) && b != b'\r' && b != b'\n';
            let room = 2 + usize::from(apart) * 2 + usize::from(starts) * prefix.len();
            if self.tx.free() < room {
                break;
            }
            if apart {
                self.push_raw(b"\r\n");
            }
            if starts {
                self.push_raw(prefix);
            }
            if self.cooked && b == b'\n' {
                self.tx.push(b'\r');
            }
            self.tx.push(b);
            m.last = Some(client);
            m.at_start = matches!(b, b'\r' | b'\n');
            taken += 1;
        }
        self.mux = Some(m);
        if taken > 0 {
            self.kick_tx();
        }
        taken
    }

    /// Queue `bytes` as they are (room checked by the caller).
    fn push_raw(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.tx.push(b);
        }
    }

    /// Up to `max` bytes of input (at most [`CHUNK`]), if there is any.
    pub fn read(&mut self, max: usize) -> Option<Input> {
        if self.rx.is_empty() || max == 0 {
            return None;
        }
        Some(self.take_input(max.min(CHUNK).min(self.rx.len()), false))
    }

    /// Up to `max` bytes of the input there is now (at most [`CHUNK`]),
    /// possibly none; losses are reported as by [`Console::read`].
    pub fn read_now(&mut self, max: usize) -> Input {
        self.take_input(max.min(CHUNK).min(self.rx.len()), false)
    }

    /// A whole line with its `\n`, or the first [`CHUNK`] bytes of a
    /// longer one (`partial`), if there is one.
    pub fn read_line(&mut self) -> Option<Input> {
        match self.rx.find(b'\n', CHUNK) {
            Some(n) => Some(self.take_input(n, false)),
            None if self.rx.len() >= CHUNK => Some(self.take_input(CHUNK, true)),
            None => None,
        }
    }

    fn take_input(&mut self, n: usize, partial: bool) -> Input {
        let mut data = heapless::Vec::new();
        for _ in 0..n {
            if let Some(b) = self.rx.pop() {
                // Cannot fail: n <= CHUNK, the vector's capacity.
                let _ = data.push(b);
            }
        }
        let dropped = core::mem::take(&mut self.unreported);
        self.unthrottle_if_room();
        Input {
            data,
            dropped,
            partial,
        }
    }
}

/// `client`'s line prefix, `N| `.
fn client_prefix(client: u64) -> heapless::String<24> {
    use core::fmt::Write;
    let mut s = heapless::String::new();
    // Cannot fail: 20 digits and two bytes fit.
    let _ = write!(s, "{client}| ");
    s
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::VecDeque;
    use std::vec::Vec;

    /// A 16550 as QEMU models it, enough for the driver: a 16-byte
    /// receive FIFO fed from `source` whenever it has room (the character
    /// device is never read past that, so nothing is lost on the way in),
    /// instant transmission, the interrupt causes by priority.
    #[derive(Default)]
    struct Chip {
        source: VecDeque<u8>,
        fifo: VecDeque<u8>,
        ier: u8,
        mcr: u8,
        lcr: u8,
        thr_pending: bool,
        errors: u8,
        out: Vec<u8>,
    }

    impl Chip {
        fn feed(&mut self) {
            while self.fifo.len() < 16 {
                let Some(b) = self.source.pop_front() else {
                    break;
                };
                self.fifo.push_back(b);
            }
        }
    }

    impl Regs for &mut Chip {
        fn read(&mut self, r: u16) -> u8 {
            self.feed();
            match r {
                reg::DATA => self.fifo.pop_front().unwrap_or(0),
                reg::IIR => {
                    if self.ier & ier::LINE != 0 && self.errors != 0 {
                        0x06
                    } else if self.ier & ier::RX != 0 && !self.fifo.is_empty() {
                        if self.fifo.len() >= 14 { 0x04 } else { 0x0c }
                    } else if self.ier & ier::TX != 0 && self.thr_pending {
                        self.thr_pending = false;
                        0x02
                    } else {
                        0x01
                    }
                }
                reg::LSR => {
                    let e = core::mem::take(&mut self.errors);
                    e | lsr::THR_EMPTY | u8::from(!self.fifo.is_empty())
                }
                _ => 0,
            }
        }
        fn write(&mut self, r: u16, v: u8) {
            match r {
                // With DLAB set these are the divisor latch.
                _ if self.lcr & 0x80 != 0 && r <= reg::IER => {}
                reg::DATA => {
                    self.out.push(v);
                    self.thr_pending = true;
                }
                reg::LCR => self.lcr = v,
                reg::IER => {
                    if v & ier::TX != 0 && self.ier & ier::TX == 0 {
                        self.thr_pending = true;
                    }
                    self.ier = v;
                }
                reg::MCR => self.mcr = v,
                _ => {}
            }
        }
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| {
                if i % 64 == 63 {
                    b'\n'
                } else {
                    b' ' + (i * 7 % 90) as u8
                }
            })
            .collect()
    }

    #[test]
    fn a_paste_larger_than_the_ring_arrives_whole_when_the_reader_is_slow() {
        let mut chip = Chip::default();
        let sent = pattern(64 * 1024);
        chip.source.extend(&sent);
        let mut c = Console::new(&mut chip);
        let mut got = Vec::new();
        let mut rounds = 0;
        while got.len() < sent.len() {
            c.service();
            // The reader comes by only every 50th interrupt.
            rounds += 1;
            if rounds % 50 == 0 {
                while let Some(input) = c.read(CHUNK) {
                    assert_eq!(input.dropped, 0);
                    got.extend_from_slice(&input.data);
                }
            }
            assert!(rounds < 1_000_000, "stuck at {} bytes", got.len());
        }
        assert_eq!(got, sent, "every byte, in order");
        assert!(
            c.counters.throttled > 0,
            "the ring filled and input was held back"
        );
        assert_eq!(c.counters.dropped, 0);
        assert_eq!(c.counters.rx_bytes, sent.len() as u64);
        assert!(!c.throttled());
    }

    #[test]
    fn lines_echo_erase_and_crlf_when_cooked() {
        let mut chip = Chip::default();
        chip.source.extend(b"hex\x7flo\rrest");
        let mut c = Console::new(&mut chip);
        c.set_cooked(true);
        c.service();
        let line = c.read_line().unwrap();
        assert_eq!(&line.data[..], b"helo\n");
        assert!(!line.partial);
        assert!(c.read_line().is_none(), "`rest` is no line yet");
        assert_eq!(c.write(b"ok\n"), 3);
        c.service();
        assert_eq!(&c.regs.out[..], b"hex\x08 \x08lo\r\nrestok\r\n");
    }

    #[test]
    fn raw_mode_is_byte_for_byte_and_long_lines_come_in_chunks() {
        let mut chip = Chip::default();
        chip.source.extend(std::iter::repeat_n(b'\r', 600));
        let mut c = Console::new(&mut chip);
        for _ in 0..100 {
            c.service();
        }
        let first = c.read_line().unwrap();
        assert!(first.partial);
        assert_eq!(first.data.len(), CHUNK);
        assert!(first.data.iter().all(|&b| b == b'\r'));
        assert!(c.read_line().is_none());
        assert_eq!(c.read(1000).unwrap().data.len(), 88);
        assert_eq!(c.write(b"a\nb"), 3);
        c.service();
        assert_eq!(&c.regs.out[..], b"a\nb", "no echo, no CR added");
    }

    #[test]
    fn a_loss_the_chip_reports_is_counted_and_reported_once() {
        let mut chip = Chip {
            errors: lsr::OVERRUN,
            ..Chip::default()
        };
        let mut c = Console::new(&mut chip);
        c.regs.source.extend(b"c");
        c.service();
        assert_eq!(
            c.read(10).unwrap().dropped,
            0,
            "start-up read the stale error away"
        );
        c.regs.errors = lsr::FRAMING;
        c.regs.source.extend(b"d");
        c.service();
        let input = c.read(10).unwrap();
        assert_eq!(&input.data[..], b"d");
        assert_eq!(input.dropped, 1);
        assert_eq!(c.counters.dropped, 1);
        c.regs.source.extend(b"e");
        c.service();
        assert_eq!(c.read(10).unwrap().dropped, 0, "reported once");
    }

    #[test]
    fn read_now_never_waits_and_takes_what_is_there() {
        let mut chip = Chip::default();
        let mut c = Console::new(&mut chip);
        let none = c.read_now(CHUNK);
        assert!(none.data.is_empty(), "no input: an empty answer, at once");
        c.regs.errors = lsr::OVERRUN;
        c.regs.source.extend(b"abc");
        c.service();
        let some = c.read_now(2);
        assert_eq!(&some.data[..], b"ab");
        assert_eq!(some.dropped, 1, "the loss comes with the first read");
        let rest = c.read_now(1000);
        assert_eq!(&rest.data[..], b"c");
        assert_eq!(rest.dropped, 0);
        assert_eq!(c.pending_input(), 0);
    }

    #[test]
    fn multiplexed_output_is_prefixed_per_line_and_never_joins_another_clients_line() {
        let mut chip = Chip::default();
        let mut c = Console::new(&mut chip);
        c.set_mux();
        assert_eq!(c.write_from(1, b"one\r\n/ # "), 9);
        assert_eq!(c.write_from(12, b"two\n"), 4);
        assert_eq!(c.write_from(1, b"x\r/ # x\r\n\r\nend"), 14);
        c.service();
        assert_eq!(
            c.regs.out,
            b"1| one\r\n1| / # \r\n12| two\n1| x\r1| / # x\r\n\r\n1| end"
        );
    }

    #[test]
    fn the_mux_key_switches_input_and_drops_what_the_last_client_left() {
        let mut chip = Chip::default();
        chip.source.extend(b"for-one\x1d2for-two\x1d\x1dx\x1dy");
        let mut c = Console::new(&mut chip);
        c.set_mux();
        c.service();
        assert_eq!(c.take_switch(), Some(2));
        assert_eq!(c.take_switch(), None, "taken once");
        let got = c.read_now(CHUNK);
        assert_eq!(
            &got.data[..],
            b"for-two\x1dxy",
            "the key twice is the key; before another byte it is nothing"
        );
        let mut plain = Chip::default();
        plain.source.extend(b"a\x1d2");
        let mut c = Console::new(&mut plain);
        c.service();
        assert_eq!(c.take_switch(), None);
        assert_eq!(
            &c.read_now(CHUNK).data[..],
            b"a\x1d2",
            "not multiplexed: plain bytes"
        );
        assert_eq!(c.write_from(1, b"x\n"), 2);
        c.service();
        assert_eq!(c.regs.out, b"x\n");
    }

    #[test]
    fn output_larger_than_the_ring_is_taken_in_parts() {
        let mut chip = Chip::default();
        let mut c = Console::new(&mut chip);
        let data = pattern(TX_SIZE + 100);
        let mut sent = 0;
        while sent < data.len() {
            sent += c.write(&data[sent..]);
            c.service();
        }
        for _ in 0..1000 {
            c.service();
        }
        assert_eq!(c.regs.out, data);
    }
}
