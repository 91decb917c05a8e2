//! The little of GDB's remote serial protocol the profiler needs to start
//! QEMU's trace at the first sample: set and clear breakpoints, continue
//! until one is hit, and pass commands to QEMU's monitor.
//!
//! A packet is `$<data>#<checksum>`, the checksum two hex digits of the sum
//! of the data bytes modulo 256. The receiver of a packet acknowledges it
//! with `+` (QEMU 7.2 has no no-ack mode); a `-` would ask for it again,
//! which over a local socket does not happen, so acknowledgements from the
//! stub are skipped unread.

use std::io::{self, BufRead, Write};

/// A connection to a GDB stub: what it says comes in on `input`, what
/// it is told goes out on `output`.
pub struct Gdb<R: BufRead, W: Write> {
    input: R,
    output: W,
}

/// `data` framed as a packet.
pub fn packet(data: &str) -> String {
    let sum = data.bytes().fold(0u8, |s, b| s.wrapping_add(b));
    format!("${data}#{sum:02x}")
}

fn protocol(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl<R: BufRead, W: Write> Gdb<R, W> {
    /// A connection over these streams.
    pub fn new(input: R, output: W) -> Self {
        Gdb { input, output }
    }

    fn send(&mut self, data: &str) -> io::Result<()> {
        self.output.write_all(packet(data).as_bytes())?;
        self.output.flush()
    }

    /// The next packet's data. Anything before its `$` (acknowledgements)
    /// is skipped; end of stream is `UnexpectedEof`.
    fn recv(&mut self) -> io::Result<String> {
        let mut skipped = Vec::new();
        if self.input.read_until(b'$', &mut skipped)? == 0 || skipped.last() != Some(&b'$') {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut data = Vec::new();
        self.input.read_until(b'#', &mut data)?;
        if data.pop() != Some(b'#') {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut sum = [0u8; 2];
        self.input.read_exact(&mut sum)?;
        let text = String::from_utf8(data).map_err(|_| protocol("a packet is not text".into()))?;
        let want = u8::from_str_radix(std::str::from_utf8(&sum).unwrap_or("??"), 16)
            .map_err(|_| protocol(format!("bad checksum in packet {text:?}")))?;
        if text.bytes().fold(0u8, |s, b| s.wrapping_add(b)) != want {
            return Err(protocol(format!("wrong checksum in packet {text:?}")));
        }
        self.output.write_all(b"+")?;
        self.output.flush()?;
        Ok(text)
    }

    fn expect_ok(&mut self, data: &str) -> io::Result<()> {
        self.send(data)?;
        match self.recv()? {
            r if r == "OK" => Ok(()),
            r => Err(protocol(format!(
                "the GDB stub answered {data:?} with {r:?}"
            ))),
        }
    }

    /// Set (`true`) or clear a breakpoint at a guest virtual address.
    pub fn breakpoint(&mut self, address: u64, set: bool) -> io::Result<()> {
        let z = if set { 'Z' } else { 'z' };
        self.expect_ok(&format!("{z}0,{address:x},1"))
    }

    /// Let the guest run until it stops (a breakpoint); returns the stop
    /// reply (`T05...`).
    pub fn cont(&mut self) -> io::Result<String> {
        self.send("c")?;
        self.recv()
    }

    /// Let the guest run and do not wait.
    pub fn resume(&mut self) -> io::Result<()> {
        self.send("c")
    }

    /// Run a command of QEMU's monitor; returns what it printed.
    pub fn monitor(&mut self, command: &str) -> io::Result<String> {
        let hex: String = command.bytes().map(|b| format!("{b:02x}")).collect();
        self.send(&format!("qRcmd,{hex}"))?;
        let mut printed = String::new();
        loop {
            let reply = self.recv()?;
            match reply.strip_prefix('O') {
                Some(out) if reply != "OK" => printed.push_str(&unhex(out)),
                _ if reply == "OK" => return Ok(printed),
                _ => {
                    return Err(protocol(format!(
                        "the GDB stub answered monitor command {command:?} with {reply:?}"
                    )));
                }
            }
        }
    }
}

/// Hex-encoded text back to text (what a stub's `O` packets carry).
fn unhex(hex: &str) -> String {
    let bytes: Vec<u8> = hex
        .as_bytes()
        .chunks(2)
        .filter_map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A session with a stub that answers with `replies`.
    fn session(replies: &str) -> Gdb<Cursor<Vec<u8>>, Vec<u8>> {
        Gdb::new(Cursor::new(replies.as_bytes().to_vec()), Vec::new())
    }

    fn sent(gdb: &Gdb<Cursor<Vec<u8>>, Vec<u8>>) -> String {
        String::from_utf8(gdb.output.clone()).unwrap()
    }

    #[test]
    fn packets_carry_their_checksum() {
        assert_eq!(packet("c"), "$c#63");
        assert_eq!(packet("OK"), "$OK#9a");
        assert_eq!(packet(""), "$#00");
    }

    #[test]
    fn a_session() {
        let replies = [
            "+".to_string() + &packet("OK"),
            packet("T05thread:01;"),
            packet("OK"),
            packet("O6869"),
            packet("OK"),
        ]
        .concat();
        let mut gdb = session(&replies);
        gdb.breakpoint(0x4008f0, true).unwrap();
        assert_eq!(gdb.cont().unwrap(), "T05thread:01;");
        gdb.breakpoint(0x4008f0, false).unwrap();
        assert_eq!(gdb.monitor("log exec").unwrap(), "hi");
        assert_eq!(
            sent(&gdb),
            [
                packet("Z0,4008f0,1"),
                "+".into(),
                packet("c"),
                "+".into(),
                packet("z0,4008f0,1"),
                "+".into(),
                packet("qRcmd,6c6f672065786563"),
                "++".into(),
            ]
            .concat()
        );
    }

    #[test]
    fn errors() {
        let mut gdb = session(&packet("E01"));
        let e = gdb.breakpoint(1, true).unwrap_err();
        assert!(e.to_string().contains("\"E01\""), "{e}");
        assert_eq!(gdb.cont().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);

        assert!(session("$OK#00").cont().is_err(), "a wrong checksum");
        assert!(session("$OK").cont().is_err(), "a cut packet");
        assert_eq!(unhex("4f4b0a"), "OK\n");
    }
}
