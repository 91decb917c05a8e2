//! The paste test's second client (scenario `serial-paste`): writes
//! numbered lines to the serial port until the other client's 64 KiB
//! paste has come in (the driver's `stats` say how far it is), and checks
//! that each write was taken whole and that some went out while the paste
//! was arriving. It does not own the input, so it also checks that a read
//! is refused while the reader does.
//!
//! Its slots: 8 the `serial` endpoint (call, badge 2).
#![no_std]
#![no_main]

use core::fmt::Write;
use septum_idl::CallError;
use septum_interfaces::serial::{SerialClient, SerialError};
use septum_user::println;

const SERIAL: u64 = 8;
/// The paste's length, and the most lines it writes.
const PASTE: u64 = 64 * 1024;
const MAX_LINES: u32 = 20_000;

septum_user::entry!(main);

fn main() {
    let mut ipc = septum_test_tasks::domain_ipc();
    let mut serial = SerialClient::new(SERIAL);
    // Let the reader take the input first (it runs at a higher priority
    // and starts before this one gets the CPU).
    match serial.read(&mut ipc, 1) {
        Err(CallError::Method(SerialError::NotForeground)) => {
            println!("septum-test: serial_background_read_refused ok")
        }
        other => println!("septum-test: serial_background_read_refused FAILED {other:?}"),
    }
    let (mut written, mut during, mut i) = (0u32, 0u32, 0u32);
    loop {
        let received = match serial.stats(&mut ipc) {
            Ok(s) => s.rx_bytes,
            Err(e) => {
                println!("stats: {e:?}");
                break;
            }
        };
        if received >= PASTE || i == MAX_LINES {
            break;
        }
        i += 1;
        let mut line = heapless::String::<64>::new();
        let _ = writeln!(line, "writer: line {i}, {received} bytes of the paste in");
        let data = heapless::Vec::from_slice(line.as_bytes()).unwrap_or_default();
        match serial.write(&mut ipc, &data) {
            Ok(n) if n as usize == data.len() => {
                written += 1;
                if received > 0 {
                    during += 1;
                }
            }
            other => println!("write {i}: {other:?}"),
        }
    }
    println!("wrote {written} lines, {during} of them while the paste came in");
    if written == i && during > 0 {
        println!("septum-test: serial_writes_during_paste ok");
    } else {
        println!(
            "septum-test: serial_writes_during_paste FAILED {written} of {i} taken, {during} during the paste"
        );
    }
}
