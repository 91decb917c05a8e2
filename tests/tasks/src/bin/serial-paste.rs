//! The paste test's reader (scenario `serial-paste`, description
//! `tests/systems/serial.toml`): owns the serial input and reads, in raw
//! mode, the 64 KiB the harness pastes (`pattern = 65536`), then compares
//! what arrived with the pattern it computes itself (the same bytes as
//! `pattern_byte` in `build/src/scenario.rs`): length, FNV-1a checksum,
//! first differing byte, and the losses the driver reported.
//!
//! Its slots: 8 the `serial` endpoint (call, badge 1).
#![no_std]
#![no_main]

use septum_interfaces::serial::SerialClient;
use septum_user::println;

const SERIAL: u64 = 8;
const TOTAL: usize = 64 * 1024;

septum_user::entry!(main);

/// Byte `i` of the harness's paste pattern.
fn pattern_byte(i: usize) -> u8 {
    if i % 64 == 63 {
        b'\n'
    } else {
        b'!' + ((i * 7 + i / 64 * 13) % 94) as u8
    }
}

fn fnv1a(hash: u32, b: u8) -> u32 {
    (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
}

fn main() {
    let mut ipc = septum_test_tasks::domain_ipc();
    let mut serial = SerialClient::new(SERIAL);
    if let Err(e) = serial.acquire_input(&mut ipc) {
        println!("septum-test: serial_paste_complete FAILED acquire_input: {e:?}");
        return;
    }
    println!("ready for {TOTAL} bytes");
    let (mut got, mut hash, mut want_hash) = (0usize, 0x811c_9dc5u32, 0x811c_9dc5u32);
    let (mut dropped, mut calls, mut first_bad) = (0u64, 0u32, None);
    while got < TOTAL {
        let max = (TOTAL - got).min(512) as u16;
        let input = match serial.read(&mut ipc, max) {
            Ok(input) => input,
            Err(e) => {
                println!("septum-test: serial_paste_complete FAILED read after {got} bytes: {e:?}");
                return;
            }
        };
        calls += 1;
        dropped += u64::from(input.dropped);
        for &b in &input.data {
            if first_bad.is_none() && b != pattern_byte(got) {
                first_bad = Some((got, b));
            }
            hash = fnv1a(hash, b);
            want_hash = fnv1a(want_hash, pattern_byte(got));
            got += 1;
        }
    }
    println!(
        "received {got} bytes in {calls} reads: checksum {hash:#010x}, the pattern's {want_hash:#010x}; {dropped} reported lost"
    );
    match serial.stats(&mut ipc) {
        Ok(s) => println!(
            "driver: {} bytes in, {} receive interrupts, {} lost, throttled {} times",
            s.rx_bytes, s.rx_irqs, s.dropped, s.throttled
        ),
        Err(e) => println!("stats: {e:?}"),
    }
    match first_bad {
        None if hash == want_hash && dropped == 0 => {
            println!("septum-test: serial_paste_complete ok")
        }
        _ => println!(
            "septum-test: serial_paste_complete FAILED first difference {first_bad:?}, {dropped} lost"
        ),
    }
}
