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

/// The driver's own CNode, and the depth at which a slot index is its
/// capability pointer.
const CNODE: u64 = 1;
const DEPTH: u64 = 64;

/// Readers, and writers, that may wait at once (each holds a reply object).
pub const WAITING: usize = 8;
/// Clients whose input notification the driver keeps (`notify_input`).
pub const WATCHERS: usize = 4;

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
    /// One terminal for several clients (`serial-mux`): each line of a
    /// client's output starts with its badge, and the input goes to the
    /// client the user picks with [`crate::console::MUX_KEY`] and its
    /// badge's digit, not to the last that asked (`acquire_input` takes
    /// it only while nobody has it).
    pub mux: bool,
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
        mux: false,
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
    badge: u64,
    data: heapless::Vec<u8, CHUNK>,
    done: usize,
    token: ReplyToken<u32, SerialError>,
}

/// A client that asked to be signalled when input arrives
/// (`notify_input`): its badge and the slot its notification was moved to.
#[derive(Clone, Copy)]
struct Watcher {
    badge: u64,
    slot: u64,
}

/// The server's state.
pub struct Serial {
    console: Console<Ports>,
    readers: Deque<Reader, WAITING>,
    writers: Deque<Writer, WAITING>,
    foreground: Option<u64>,
    generation: u32,
    config: Config,
    watchers: heapless::Vec<Watcher, WATCHERS>,
    /// Where a received capability lands, and the slots the watchers'
    /// notifications are kept in: the top of the driver's CNode, which
    /// the description leaves free.
    recv_slot: u64,
    watcher_slots: u64,
    /// `rx_bytes` when the watchers were last signalled.
    signalled_at: u64,
}

impl Serial {
    /// Answer every waiting reader and writer that can be answered now, in
    /// arrival order (a reader that cannot be satisfied keeps those behind
    /// it waiting: input is handed out in order).
    fn progress(&mut self, ipc: &mut Ipc) {
        while let Some(w) = self.writers.front_mut() {
            w.done += self.console.write_from(w.badge, &w.data[w.done..]);
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

    /// Signal every watcher that may read, if input came since the last
    /// time (a signal is a wakeup, not a count: the client reads with
    /// `try_read` until it gets nothing).
    fn signal_watchers(&mut self) {
        let rx = self.console.counters.rx_bytes;
        if rx == self.signalled_at || self.console.pending_input() == 0 {
            return;
        }
        self.signalled_at = rx;
        for w in &self.watchers {
            if self.foreground.is_none_or(|f| f == w.badge) {
                let _ = septum_user::syscall::signal(w.slot);
            }
        }
    }

    /// Give the input to `badge`: readers of other clients are answered,
    /// they may not read now.
    fn give_input(&mut self, ipc: &mut Ipc, badge: u64) {
        self.foreground = Some(badge);
        for _ in 0..self.readers.len() {
            if let Some(r) = self.readers.pop_front() {
                if r.badge == badge {
                    // Cannot fail: one was just taken out.
                    let _ = self.readers.push_back(r);
                } else {
                    r.token.err(ipc, SerialError::NotForeground);
                }
            }
        }
    }

    /// The user typed the mux key and `n`: the input is client `n`'s, if
    /// such a client has asked for input (or to be told of it).
    fn switch_input(&mut self, ipc: &mut Ipc, n: u8) {
        let badge = u64::from(n);
        let known = self.foreground == Some(badge)
            || self.watchers.iter().any(|w| w.badge == badge)
            || self.readers.iter().any(|r| r.badge == badge);
        if !known {
            septum_user::println!("input: no client {n}; it stays with the client it was with");
            return;
        }
        self.give_input(ipc, badge);
        septum_user::println!("input to client {n}");
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
            badge: septum_idl::caller_badge(),
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
        // Multiplexed, the user moves the input, not the clients.
        if !self.config.mux || self.foreground.is_none() {
            self.give_input(ctx.ipc, badge);
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

    fn try_read(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        max: u16,
        reply: ReplyToken<Input, SerialError>,
    ) {
        if !self.may_read(septum_idl::caller_badge()) {
            return reply.err(ctx.ipc, SerialError::NotForeground);
        }
        // Readers that wait came first: they are served before this one.
        self.progress(ctx.ipc);
        let input = self.console.read_now(usize::from(max));
        reply.ok(ctx.ipc, input);
    }

    fn notify_input(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        n: septum_idl::CapArg<septum_idl::kind::Notification>,
        reply: ReplyToken<(), SerialError>,
    ) {
        let badge = septum_idl::caller_badge();
        let at = match self.watchers.iter().position(|w| w.badge == badge) {
            Some(i) => i,
            None if self.watchers.len() < WATCHERS => {
                let i = self.watchers.len();
                let _ = self.watchers.push(Watcher {
                    badge,
                    slot: self.watcher_slots + i as u64,
                });
                i
            }
            None => return reply.err(ctx.ipc, SerialError::Busy),
        };
        let slot = self.watchers[at].slot;
        let _ = ctx.ipc.cnode_delete(CNODE, (slot, DEPTH));
        if ctx
            .ipc
            .cnode_move(CNODE, (slot, DEPTH), CNODE, (n.cptr, DEPTH))
            .is_err()
        {
            self.watchers.remove(at);
            return reply.status(septum_idl::Status::BadCapability);
        }
        reply.ok(ctx.ipc, ());
        // Input that is already waiting is news to this client.
        if self.console.pending_input() > 0 && self.may_read(badge) {
            let _ = septum_user::syscall::signal(slot);
        }
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
        if let Some(n) = self.console.take_switch() {
            self.switch_input(ctx.ipc, n);
        }
        self.progress(ctx.ipc);
        self.signal_watchers();
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
    // The top of the CNode is free (the description's layout puts every
    // granted capability at the bottom): one slot to receive a
    // capability in (three: as many as a message carries), and one per
    // watcher.
    let radix = ipc
        .cnode_identify(CNODE, (CNODE, DEPTH))
        .map_or(8, |i| i.extra.min(16));
    let top = 1u64 << radix;
    let recv_slot = top - septum_user::abi::ipc::MAX_CAPS as u64;
    let mut serial = Serial {
        console: Console::new(Ports(config.base)),
        readers: Deque::new(),
        writers: Deque::new(),
        foreground: None,
        generation,
        config,
        watchers: heapless::Vec::new(),
        recv_slot,
        watcher_slots: recv_slot - WATCHERS as u64,
        signalled_at: 0,
    };
    if config.mux {
        serial.console.set_mux();
    }
    // Input that came before this driver (or its previous generation) took
    // over is in the FIFO already; the interrupt for it may be gone.
    serial.console.service();
    septum_user::println!(
        "generation {generation}: serving the 16550 at {:#x}{}",
        config.base,
        if config.mux {
            " to several clients (Ctrl-] then a client's number gives it the input)"
        } else {
            ""
        }
    );
    let mut ctx = ServerCtx {
        ipc: &mut ipc,
        generation,
        recv_cnode: CNODE,
        recv_first: serial.recv_slot,
    };
    serve(&mut serial, &mut ctx, config.endpoint)
}
