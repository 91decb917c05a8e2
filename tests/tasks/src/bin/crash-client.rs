//! Drives the supervisor's restart scenario: crashes its server 100 times
//! in a row, cycling through four kinds of fault, and after each crash
//! checks that its next call fails with `ServerRestarted` carrying exactly
//! the next generation, reconnects, and that the call after that
//! succeeds. After each round it signals the bystander, which checks that
//! nothing of it was disturbed.
//!
//! Its slots: 8 the `crash` endpoint (call, badge 1), 9 the `tick`
//! notification (signal, badge 1), 10 the `ack` notification (wait).
#![no_std]
#![no_main]

use septum_idl::CallError;
use septum_interfaces::crash::{CrashClient, How};
use septum_user::abi::Error;
use septum_user::println;

const CRASH: u64 = 8;
const TICK: u64 = 9;
/// The bystander's answer to each tick (wait end).
const ACK: u64 = 10;
const ROUNDS: u32 = 100;
/// Calls that may find the slot empty, if a restart were not finished
/// when this client runs again (it is, at the supervisor's priority).
const RETRIES: u32 = 1000;

septum_user::entry!(main);

fn main() {
    let mut ipc = septum_test_tasks::domain_ipc();
    let mut server = CrashClient::new(CRASH);
    let kinds = [
        How::PageFault,
        How::InvalidOpcode,
        How::DivideByZero,
        How::KernelWrite,
    ];
    let mut failures = 0u32;
    let mut fail = |what: core::fmt::Arguments<'_>| {
        failures += 1;
        if failures <= 5 {
            println!("round failed: {what}");
        }
    };
    match server.ping(&mut ipc, 41) {
        Ok(42) if server.generation() == Some(1) => {}
        other => fail(format_args!(
            "first ping: {other:?}, generation {:?}",
            server.generation()
        )),
    }
    for round in 0..ROUNDS {
        let how = kinds[round as usize % kinds.len()];
        let expected = round + 2;
        match server.crash(&mut ipc, how) {
            Err(CallError::Kernel(_)) => {}
            other => fail(format_args!(
                "round {round}: crash({how:?}) returned {other:?}"
            )),
        }
        let mut tries = 0;
        loop {
            match server.ping(&mut ipc, u64::from(round)) {
                Err(CallError::ServerRestarted { generation }) if generation == expected => {
                    server.reconnect(generation);
                    break;
                }
                Err(CallError::Kernel(Error::InvalidCapability)) if tries < RETRIES => {
                    tries += 1;
                    septum_user::syscall::yield_now();
                }
                other => {
                    fail(format_args!(
                        "round {round}: the call after the crash returned {other:?}, \
                         expected ServerRestarted {{ generation: {expected} }}"
                    ));
                    break;
                }
            }
        }
        match server.ping(&mut ipc, u64::from(round)) {
            Ok(v) if v == u64::from(round) + 1 => {}
            other => fail(format_args!(
                "round {round}: the call after reconnecting: {other:?}"
            )),
        }
        if round % 25 == 24 {
            println!(
                "{} crashes, each restarted with the next generation",
                round + 1
            );
        }
        if let Err(e) = septum_user::syscall::signal(TICK) {
            fail(format_args!(
                "round {round}: signalling the bystander: {}",
                e.name()
            ));
        }
        // One tick per round: the bystander runs in another partition, and
        // two ticks before it wakes would read as one.
        if let Err(e) = septum_user::syscall::wait(ACK) {
            fail(format_args!(
                "round {round}: waiting for the bystander: {}",
                e.name()
            ));
        }
    }
    if failures == 0 && server.generation() == Some(ROUNDS + 1) {
        println!("septum-test: restart_hundred_crashes ok");
    } else {
        println!(
            "septum-test: restart_hundred_crashes FAILED {failures} failed checks, \
             final generation {:?}",
            server.generation()
        );
    }
}
