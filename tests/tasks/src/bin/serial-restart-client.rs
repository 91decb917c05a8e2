//! The restart scenario's client (`serial-restart`): owns the input and
//! reads the harness's paste line by line until its driver dies
//! mid-transfer. The call in progress then fails with a kernel error, the
//! next one with `ServerRestarted` carrying generation 2; it reconnects,
//! owns the input again and reads on until the line `after restart`,
//! which it answers on the serial port in capitals: the restarted driver
//! serves again, input and output.
//!
//! Its slots: 8 the `serial` endpoint (call, badge 1).
#![no_std]
#![no_main]

use septum_idl::CallError;
use septum_interfaces::serial::SerialClient;
use septum_user::println;

const SERIAL: u64 = 8;

septum_user::entry!(main);

/// What a failed call means here.
enum Failure {
    Restarted(u32),
    Kernel(septum_user::abi::Error),
    Other,
}

fn failure<E: core::fmt::Debug>(e: CallError<E>) -> Failure {
    match e {
        CallError::ServerRestarted { generation } => Failure::Restarted(generation),
        CallError::Kernel(k) => Failure::Kernel(k),
        other => {
            println!("unexpected: {other:?}");
            Failure::Other
        }
    }
}

fn main() {
    let mut ipc = septum_test_tasks::domain_ipc();
    let mut serial = SerialClient::new(SERIAL);
    if serial.acquire_input(&mut ipc).is_err() {
        println!("septum-test: serial_serves_after_restart FAILED acquire_input");
        return;
    }
    println!("ready: reading lines");
    let (mut lines_before, mut failed_call, mut restarted) = (0u32, None, None);
    let mut tries = 0u32;
    loop {
        tries += 1;
        if tries > 100_000 {
            println!("septum-test: serial_serves_after_restart FAILED the driver never came back");
            return;
        }
        match serial.read_line(&mut ipc).map_err(failure) {
            Ok(input) if restarted.is_none() => {
                lines_before += 1;
                let _ = input;
            }
            Ok(input) => {
                if &input.data[..] == b"after restart\n" {
                    break;
                }
            }
            Err(Failure::Restarted(generation)) => {
                println!(
                    "driver restarted: generation {generation}, after {lines_before} lines; the call in progress failed with {failed_call:?}"
                );
                serial.reconnect(generation);
                restarted = Some(generation);
                if serial.acquire_input(&mut ipc).is_err() {
                    println!("septum-test: serial_serves_after_restart FAILED acquire_input again");
                    return;
                }
            }
            Err(Failure::Kernel(e)) => {
                failed_call.get_or_insert(e);
                septum_user::syscall::yield_now();
            }
            Err(Failure::Other) => {
                println!("septum-test: serial_serves_after_restart FAILED");
                return;
            }
        }
    }
    let answer = heapless::Vec::from_slice(b"=> AFTER RESTART\n").unwrap_or_default();
    match serial.write(&mut ipc, &answer) {
        Ok(_) if restarted == Some(2) && failed_call.is_some() => {
            println!("septum-test: serial_serves_after_restart ok")
        }
        other => println!(
            "septum-test: serial_serves_after_restart FAILED write {:?}, restarted {restarted:?}, failed call {failed_call:?}",
            other.is_ok()
        ),
    }
}
