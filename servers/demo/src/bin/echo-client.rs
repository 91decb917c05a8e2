//! The demo's first client: calls the Echo server, prints each answer,
//! posts the answers in the mailbox region and signals the mailbox
//! reader. Then it probes a slot it was not given.
//!
//! Its slots (`cargo xtask describe`): 8 the `echo` endpoint (call, badge
//! 1), 9 the `mail` notification (signal, badge 1), 10 its quota, 11.. free.
#![no_std]
#![no_main]

use septum_interfaces::echo::{EchoClient, Mode};
use septum_user::println;

const ECHO: u64 = 8;
const MAIL: u64 = 9;
/// A slot of its CNode the description leaves empty.
const NOT_GRANTED: u64 = 20;

septum_user::entry!(main);

fn main() {
    let mut ipc = septum_demo::ipc();
    let mut echo = EchoClient::new(ECHO);
    let mut text = heapless::String::<64>::new();
    let _ = text.push_str("hello, septum");
    let mut posted = 0usize;
    for mode in [Mode::Plain, Mode::Shout, Mode::Reverse] {
        match echo.echo(&mut ipc, &text, mode) {
            Ok(answer) => {
                println!("echo {mode:?} -> {:?}", answer.as_str());
                septum_demo::mailbox_write(4 + posted, answer.as_bytes());
                septum_demo::mailbox_write(4 + posted + answer.len(), b"\n");
                posted += answer.len() + 1;
            }
            Err(e) => println!("echo {mode:?} failed: {e:?}"),
        }
    }
    match echo.add(&mut ipc, 40, 2) {
        Ok(sum) => println!("add(40, 2) -> {sum}"),
        Err(e) => println!("add failed: {e:?}"),
    }
    // Least authority: a slot the description did not fill names nothing.
    // Probed before the reader is signalled: the reader runs in the other
    // partition, so what this prints after the signal may come before or
    // after the reader's lines, as the windows fall.
    match septum_user::syscall::signal(NOT_GRANTED) {
        Ok(()) => println!("probe: slot {NOT_GRANTED} unexpectedly worked"),
        Err(e) => println!("probe: slot {NOT_GRANTED} was not granted: {}", e.name()),
    }
    septum_demo::mailbox_write(0, &(posted as u32).to_le_bytes());
    match septum_user::syscall::signal(MAIL) {
        Ok(()) => println!("posted {posted} bytes in the mailbox and signalled the reader"),
        Err(e) => println!("signalling the reader failed: {}", e.name()),
    }
}
