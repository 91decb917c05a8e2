//! The `Serial` interface (`idl/serial.idl`) over the driver's core: one
//! thread serves the clients and the UART. The IRQ notification is bound
//! to that thread, so an interrupt ends its receive like a request does
//! (`SerialServer::notified`); the kernel delivers a pending interrupt
//! before any waiting caller.
//!
//! Requests that cannot be answered yet (a read with no input, a write
//! the output ring cannot take) keep their reply tokens and are answered
//! in arrival order as interrupts bring input or free output space; the
//! pool of reply objects (the description's `replies`) bounds how many
//! wait. Input goes to the client that owns it (`acquire_input`), or, when
//! none does, to readers in arrival order.

use crate::console::{CHUNK, Console, Counters};
use crate::uart::Ports;
use heapless::Deque;
use septum_idl::{ReplyToken, ServerCtx};
use septum_interfaces::serial::{Input, SerialError, SerialServer, Stats, serve};
use septum_user::ipc::Ipc;

/// Readers, and writers, that may wait at once (each holds a reply object).
pub const WAITING: usize = 8;

/// Where the description put the driver's capabilities, and test hooks.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// The UART's base port (COM1: 0x3f8).
    pub base: u16,
    /// The `Serial` endpoint it serves.
    pub endpoint: u64,
    /// Its thread, to bind the IRQ notification to.
    pub tcb: u64,
    /// The notification its IRQ line signals.
    pub irq_notification: u64,
    /// The line's handler, to acknowledge interrupts.
    pub irq_handler: u64,
    /// The first of its reply objects, and how many follow.
    pub first_reply: u64,
    pub replies: u64,
    /// Called after every interrupt with the counters and generation: the
    /// crash test's driver dies from here halfway through a transfer.
    pub after_interrupt: Option<fn(&Counters, u32)>,
}

impl Config {
    /// COM1 in the slots the descriptions give the `serial` program
    /// (`cargo xtask describe` prints them): 2 its thread, 5 the IRQ
    /// notification, 8 the endpoint, 9 the IRQ 4 handler, 11.. eight reply
    /// objects; no test hook.
    pub const COM1: Config = Config {
        base: 0x3f8,
        endpoint: 8,
        tcb: 2,
        irq_notification: 5,
        irq_handler: 9,
        first_reply: 11,
        replies: 8,
        after_interrupt: None,
    };
}

enum Want {
    Bytes(u16),
    Line,
}

struct Reader {
    badge: u64,
    want: Want,
    token: ReplyToken<Input, SerialError>,
}

struct Writer {
    data: heapless::Vec<u8, CHUNK>,
    done: usize,
    token: ReplyToken<u32, SerialError>,
}

/// The server's state.
pub struct Serial {
    console: Console<Ports>,
    readers: Deque<Reader, WAITING>,
    writers: Deque<Writer, WAITING>,
    foreground: Option<u64>,
    generation: u32,
    config: Config,
}

impl Serial {
    /// Answer every waiting reader and writer that can be answered now, in
    /// arrival order (a reader that cannot be satisfied keeps those behind
    /// it waiting: input is handed out in order).
    fn progress(&mut self, ipc: &mut Ipc) {
        while let Some(w) = self.writers.front_mut() {
            w.done += self.console.write(&w.data[w.done..]);
            if w.done < w.data.len() {
                break;
            }
            if let Some(w) = self.writers.pop_front() {
                w.token.ok(ipc, w.data.len() as u32);
            }
        }
        while let Some(r) = self.readers.front() {
            let input = match r.want {
                Want::Bytes(max) => self.console.read(usize::from(max)),
                Want::Line => self.console.read_line(),
            };
            let Some(input) = input else { break };
            if let Some(r) = self.readers.pop_front() {
                r.token.ok(ipc, input);
            }
        }
    }

    fn may_read(&self, badge: u64) -> bool {
        self.foreground.is_none_or(|f| f == badge)
    }

    fn read(&mut self, ctx: &mut ServerCtx<'_>, want: Want, token: ReplyToken<Input, SerialError>) {
        let badge = septum_idl::caller_badge();
        if !self.may_read(badge) {
            return token.err(ctx.ipc, SerialError::NotForeground);
        }
        if let Err(r) = self.readers.push_back(Reader { badge, want, token }) {
            return r.token.err(ctx.ipc, SerialError::Busy);
        }
        self.progress(ctx.ipc);
    }
}

impl SerialServer for Serial {
    fn write(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        data: heapless::Vec<u8, 512>,
        reply: ReplyToken<u32, SerialError>,
    ) {
        let w = Writer {
            data,
            done: 0,
            token: reply,
        };
        if let Err(w) = self.writers.push_back(w) {
            return w.token.err(ctx.ipc, SerialError::Busy);
        }
        self.progress(ctx.ipc);
    }

    fn read(&mut self, ctx: &mut ServerCtx<'_>, max: u16, reply: ReplyToken<Input, SerialError>) {
        Serial::read(self, ctx, Want::Bytes(max.max(1)), reply);
    }

    fn read_line(&mut self, ctx: &mut ServerCtx<'_>, reply: ReplyToken<Input, SerialError>) {
        Serial::read(self, ctx, Want::Line, reply);
    }

    fn acquire_input(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        reply: ReplyToken<(), septum_idl::NoError>,
    ) {
        let badge = septum_idl::caller_badge();
        self.foreground = Some(badge);
        // Readers other than the new owner are answered: they may not read now.
        for _ in 0..self.readers.len() {
            if let Some(r) = self.readers.pop_front() {
                if r.badge == badge {
                    // Cannot fail: one was just taken out.
                    let _ = self.readers.push_back(r);
                } else {
                    r.token.err(ctx.ipc, SerialError::NotForeground);
                }
            }
        }
        reply.ok(ctx.ipc, ());
        self.progress(ctx.ipc);
    }

    fn release_input(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        reply: ReplyToken<(), septum_idl::NoError>,
    ) {
        if self.foreground == Some(septum_idl::caller_badge()) {
            self.foreground = None;
        }
        reply.ok(ctx.ipc, ());
    }

    fn set_cooked(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        cooked: bool,
        reply: ReplyToken<(), septum_idl::NoError>,
    ) {
        self.console.set_cooked(cooked);
        reply.ok(ctx.ipc, ());
    }

    fn stats(&mut self, ctx: &mut ServerCtx<'_>, reply: ReplyToken<Stats, septum_idl::NoError>) {
        let c = self.console.counters;
        reply.ok(
            ctx.ipc,
            Stats {
                rx_bytes: c.rx_bytes,
                tx_bytes: c.tx_bytes,
                rx_irqs: c.rx_irqs,
                tx_irqs: c.tx_irqs,
                dropped: c.dropped,
                throttled: c.throttled,
                echo_skipped: c.echo_skipped,
                generation: self.generation,
            },
        );
    }

    fn notified(&mut self, ctx: &mut ServerCtx<'_>, _word: u64) {
        self.console.service();
        // The line stays masked until this ack; what the UART raised
        // meanwhile is handled right after it, as an edge that came while
        // masked may not be delivered again (docs/drivers.md).
        let _ = ctx.ipc.irq_handler_ack(self.config.irq_handler);
        self.console.service();
        if let Some(hook) = self.config.after_interrupt {
            hook(&self.console.counters, self.generation);
        }
        self.progress(ctx.ipc);
    }
}

/// Take over the UART and serve it forever.
pub fn run(config: Config) -> ! {
    let mut ipc = crate::ipc();
    let generation = septum_user::start_arg() as u32;
    let replies = config.first_reply..config.first_reply + config.replies.min(64);
    let mut pool = [0u64; 64];
    for (slot, cptr) in pool.iter_mut().zip(replies) {
        *slot = cptr;
    }
    septum_idl::reply_pool::init(&pool[..config.replies.min(64) as usize]);
    if let Err(e) = ipc.tcb_bind_notification(config.tcb, config.irq_notification) {
        septum_user::println!("cannot bind the IRQ notification: {}", e.name());
    }
    let mut serial = Serial {
        console: Console::new(Ports(config.base)),
        readers: Deque::new(),
        writers: Deque::new(),
        foreground: None,
        generation,
        config,
    };
    // Input that came before this driver (or its previous generation) took
    // over is in the FIFO already; the interrupt for it may be gone.
    serial.console.service();
    septum_user::println!(
        "generation {generation}: serving the 16550 at {:#x}",
        config.base
    );
    let mut ctx = ServerCtx {
        ipc: &mut ipc,
        generation,
        recv_cnode: 0,
        recv_first: 0,
    };
    serve(&mut serial, &mut ctx, config.endpoint)
}
