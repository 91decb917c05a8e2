//! A driver domain for the `system-driver` scenario (description
//! `tests/systems/uart-probe.toml`): it is granted COM1's ports
//! 0x3f8..=0x3ff and IRQ 4, and checks, printing one line each, that the
//! port works, that its interrupt arrives on its IRQ notification and waits
//! for its acknowledgement, that it holds no way to any other line, and
//! finally that the port just past its range faults (the kernel stops it
//! and reports the fault; a supervisor will hear of it).
//!
//! Its slots are the ones `cargo xtask describe tests/systems/uart-probe.toml`
//! shows: 5 the IRQ notification (wait only), 8 the IRQ 4 handler, 9 the
//! I/O-port capability.
#![no_std]
#![no_main]

use septum_user::abi::layout::USER_IPC_BUFFER;
use septum_user::ipc::Ipc;
use septum_user::port::{inb, outb};
use septum_user::println;
use septum_user::syscall::{poll, wait};

septum_user::entry!(main);

const IPC_BUFFER_FRAME: u64 = 4;
const IRQ_NOTIFICATION: u64 = 5;
const IRQ4: u64 = 8;
const PORTS: u64 = 9;
const IER: u16 = 0x3f9;
const IIR: u16 = 0x3fa;
const MCR: u16 = 0x3fc;
const SCRATCH: u16 = 0x3ff;

fn raise_thre() {
    outb(IER, 0);
    let _ = inb(IIR);
    outb(MCR, 0x08);
    outb(IER, 0x02);
}

fn main() {
    // SAFETY: the root task registered this thread's IPC buffer here, and
    // this is the only `Ipc` made for it.
    let mut ipc = unsafe { Ipc::new(USER_IPC_BUFFER) };
    outb(SCRATCH, 0xa5);
    println!("port {SCRATCH:#x} works: scratch reads {:#x}", inb(SCRATCH));

    outb(IER, 0);
    raise_thre();
    match wait(IRQ_NOTIFICATION) {
        Ok(w) => println!("IRQ 4 arrived: notification word {w:#x}"),
        Err(e) => println!("waiting for IRQ 4 failed: {}", e.name()),
    }
    raise_thre();
    for i in 0..20_000u64 {
        core::hint::black_box(i);
    }
    println!(
        "before ack: notification word {:#x}",
        poll(IRQ_NOTIFICATION).unwrap_or(u64::MAX)
    );
    let acked = ipc.irq_handler_ack(IRQ4);
    let w = match poll(IRQ_NOTIFICATION) {
        Ok(0) => {
            raise_thre();
            wait(IRQ_NOTIFICATION)
        }
        other => other,
    };
    println!(
        "after ack ({acked:?}): notification word {:#x}",
        w.unwrap_or(u64::MAX)
    );
    outb(IER, 0);

    // No capability it holds can make another line's handler.
    for (what, cptr) in [
        ("its IPC-buffer frame", IPC_BUFFER_FRAME),
        ("its IRQ 4 handler", IRQ4),
        ("its I/O ports", PORTS),
        ("an empty slot", 20),
    ] {
        let r = ipc.irq_control_get(cptr, 3, 1, (30, 64));
        println!(
            "probe: IRQ 3 through {what}: {}",
            r.err().map_or("granted!", |e| e.name())
        );
    }
    println!("reading port 0x400, just past the range");
    let v = inb(0x400);
    println!("port 0x400 read {v:#x}: it should have faulted");
}
