//! The demo's second client: waits on the `mail` notification, then prints
//! what the mailbox region holds. It maps the region read-only and holds
//! the notification's wait end only, and shows that signalling through it
//! is refused.
//!
//! Its slots (`cargo xtask describe`): 8 the `mail` notification (wait),
//! 9 its quota, 10.. free.
#![no_std]
#![no_main]

use septum_user::println;

const MAIL: u64 = 8;

septum_user::entry!(main);

fn main() {
    println!("waiting for mail");
    let word = match septum_user::syscall::wait(MAIL) {
        Ok(word) => word,
        Err(e) => {
            println!("waiting failed: {}", e.name());
            return;
        }
    };
    let mut len = [0u8; 4];
    septum_demo::mailbox_read(0, &mut len);
    let len = (u32::from_le_bytes(len) as usize).min(septum_demo::MAILBOX_SIZE - 4);
    println!("notified (word {word:#x}); the mailbox holds {len} bytes:");
    let mut buf = [0u8; 256];
    let n = septum_demo::mailbox_read(4, &mut buf[..len.min(256)]);
    for line in buf[..n].split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match core::str::from_utf8(line) {
            Ok(s) => println!("mailbox: {s}"),
            Err(_) => println!("mailbox: {line:?}"),
        }
    }
    match septum_user::syscall::signal(MAIL) {
        Ok(()) => println!("probe: signalling the mail notification unexpectedly worked"),
        Err(e) => println!(
            "probe: signalling through the wait end refused: {}",
            e.name()
        ),
    }
}
