//! The interactive console of the default system: a small shell that the
//! serial driver serves. It owns the input (`acquire_input`), asks for
//! cooked mode (the driver echoes what is typed and handles Backspace),
//! prompts, and answers each line:
//!
//! - `help`: the commands;
//! - `stats`: the driver's counters;
//! - `rev TEXT`: TEXT backwards;
//! - anything else: the line in capitals, after `=> `.
//!
//! When the driver restarts, the next call says so
//! (`ServerRestarted`): it takes the new generation, owns the input again
//! and goes on. Its slots (`cargo xtask describe`): 8 the `serial`
//! endpoint (call, badge 1).
#![no_std]
#![no_main]

use core::fmt::Write;
use septum_idl::CallError;
use septum_interfaces::serial::{SerialClient, SerialError};
use septum_user::println;

const SERIAL: u64 = 8;

septum_user::entry!(main);

type Line = heapless::String<512>;

/// Why the session with the driver must start again.
enum Lost {
    /// It restarted: take its new generation.
    Restarted(u32),
    /// It is not answering (held, or not back yet).
    Gone,
}

fn lost<E>(e: CallError<E>) -> Lost {
    match e {
        CallError::ServerRestarted { generation } => Lost::Restarted(generation),
        _ => Lost::Gone,
    }
}

fn write(
    serial: &mut SerialClient,
    ipc: &mut septum_user::ipc::Ipc,
    text: &str,
) -> Result<(), Lost> {
    for chunk in text.as_bytes().chunks(512) {
        let data = heapless::Vec::from_slice(chunk).unwrap_or_default();
        serial.write(ipc, &data).map_err(lost)?;
    }
    Ok(())
}

fn answer(
    line: &str,
    serial: &mut SerialClient,
    ipc: &mut septum_user::ipc::Ipc,
) -> Result<Line, Lost> {
    let mut out = Line::new();
    let line = line.trim();
    if line.is_empty() {
        return Ok(out);
    }
    if line == "help" {
        let _ = out
            .push_str("commands: help, stats, rev TEXT; any other line comes back in capitals\n");
    } else if line == "stats" {
        let s = serial.stats(ipc).map_err(lost)?;
        let _ = writeln!(
            out,
            "driver generation {}: {} bytes in ({} receive interrupts), {} out ({} transmit interrupts), {} lost, throttled {} times",
            s.generation, s.rx_bytes, s.rx_irqs, s.tx_bytes, s.tx_irqs, s.dropped, s.throttled
        );
    } else if let Some(text) = line.strip_prefix("rev ") {
        for c in text.chars().rev() {
            let _ = out.push(c);
        }
        let _ = out.push('\n');
    } else {
        let _ = out.push_str("=> ");
        for c in line.chars() {
            let _ = out.push(c.to_ascii_uppercase());
        }
        let _ = out.push('\n');
    }
    Ok(out)
}

fn session(serial: &mut SerialClient, ipc: &mut septum_user::ipc::Ipc) -> Result<(), Lost> {
    serial.acquire_input(ipc).map_err(lost)?;
    serial.set_cooked(ipc, true).map_err(lost)?;
    write(
        serial,
        ipc,
        "\nSeptum console, served by the user-level 16550 driver. Type `help`.\n",
    )?;
    println!("ready: the console owns the serial input");
    loop {
        write(serial, ipc, "septum> ")?;
        let input = match serial.read_line(ipc) {
            Ok(input) => input,
            Err(CallError::Method(SerialError::NotForeground)) => {
                serial.acquire_input(ipc).map_err(lost)?;
                continue;
            }
            Err(e) => return Err(lost(e)),
        };
        if input.dropped > 0 {
            let mut note = Line::new();
            let _ = writeln!(note, "({} losses before this line)", input.dropped);
            write(serial, ipc, &note)?;
        }
        let text = core::str::from_utf8(&input.data).unwrap_or("(not UTF-8)");
        let out = answer(text, serial, ipc)?;
        write(serial, ipc, &out)?;
    }
}

fn main() {
    let mut ipc = septum_demo::ipc();
    let mut serial = SerialClient::new(SERIAL);
    loop {
        match session(&mut serial, &mut ipc) {
            Ok(()) => {}
            Err(Lost::Restarted(generation)) => {
                println!("the serial driver restarted (generation {generation}); starting again");
                serial.reconnect(generation);
            }
            Err(Lost::Gone) => septum_user::syscall::yield_now(),
        }
    }
}
