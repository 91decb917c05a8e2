//! The server proper: finding its capabilities, choosing its clock, and
//! the `Timer` methods.

use crate::hw::{self, Hpet, reg};
use septum_idl::{NoError, ReplyToken, ServerCtx, reply_pool};
use septum_interfaces::timer::{TimerError, TimerServer, serve};
use septum_timer::clock::{self, Extend32, Monotonic};
use septum_timer::sleepers::{Refused, Sleepers};
use septum_user::abi::layout::USER_IPC_BUFFER;
use septum_user::abi::object::{cap_type, rights};
use septum_user::ipc::Ipc;
use septum_user::println;

septum_user::entry!(main);

/// Where the description maps the HPET's register page (physical
/// 0xfed00000 on every PC): the first address for device memory.
pub const HPET_VA: u64 = 0x4000_0000;
/// The HPET's physical address, for the log.
const HPET_PHYS: u64 = 0xfed0_0000;
/// The domain's CNode, thread, and IRQ notification (fixed slots).
const CNODE: u64 = 1;
const TCB: u64 = 2;
const IRQ_NOTIFICATION: u64 = 5;
const DEPTH: u64 = 64;
/// Where channel ends start, and how far the scan looks.
const FIRST_GRANT: u64 = 8;
const SCAN_END: u64 = 256;
/// Sleepers one client (one badge) may have at once.
const PER_CLIENT: usize = 4;
/// Most sleepers: the most reply objects the IDL runtime's pool keeps.
const MAX_SLEEPERS: usize = reply_pool::CAPACITY;
/// Clients that may have an alarm (`alarm_notification`).
const MAX_ALARMS: usize = 8;

/// A client's alarm: its badge, the slot its notification was moved to,
/// and the deadline it is armed for.
#[derive(Clone, Copy)]
struct Alarm {
    badge: u64,
    slot: u64,
    deadline: Option<u64>,
}

type Token = ReplyToken<u64, TimerError>;

/// Where time comes from, and the comparator that wakes the server.
enum Source {
    Hpet {
        regs: Hpet,
        period_fs: u64,
        /// A 32-bit main counter, made 64 bits wide.
        narrow: Option<Extend32>,
    },
    /// The TSC for the clock (counted from the machine's reset, not the
    /// server's start, so a restarted server's clock goes on), the PIT's
    /// channel 0 for wakeups.
    Pit { tsc_hz: u64 },
    /// Nothing that can interrupt: the TSC (taken as 1 GHz) for the clock,
    /// and sleeps are refused.
    None,
}

impl Source {
    /// The HPET, if the page at `HPET_VA` answers as one; it is enabled in
    /// legacy-replacement mode (comparator 0 raises IRQ 0) and its counter,
    /// if already running (a restarted server), is left as it is.
    fn hpet() -> Option<Source> {
        // SAFETY: the description maps the HPET's page here, read-write and
        // uncached, for this server alone (docs/drivers.md).
        let regs = unsafe { Hpet::new(HPET_VA) };
        let id = regs.read(reg::CAP_ID);
        let period_fs = id >> 32;
        if id == 0 || id == u64::MAX || period_fs == 0 || period_fs > 100_000_000 {
            return None;
        }
        if id & reg::CAP_LEGACY == 0 {
            println!("the HPET cannot route comparator 0 to IRQ 0 (no legacy replacement)");
            return None;
        }
        regs.write(reg::T0_CONFIG, 0);
        let config = regs.read(reg::CONFIG);
        regs.write(
            reg::CONFIG,
            config | reg::CONFIG_ENABLE | reg::CONFIG_LEGACY,
        );
        let narrow = (id & reg::CAP_COUNT_64 == 0).then(Extend32::new);
        println!(
            "HPET at {HPET_PHYS:#x}: {} comparators, {}-bit counter, {} fs per tick ({} kHz)",
            ((id >> 8) & 0x1f) + 1,
            if narrow.is_some() { 32 } else { 64 },
            period_fs,
            1_000_000_000_000 / period_fs,
        );
        Some(Source::Hpet {
            regs,
            period_fs,
            narrow,
        })
    }

    /// The PIT with the TSC, if the server holds the PIT's ports and the
    /// PIT's count moves.
    fn pit(ipc: &mut Ipc) -> Option<Source> {
        let ports = (FIRST_GRANT..SCAN_END).any(|s| {
            ipc.cnode_identify(CNODE, (s, DEPTH)).is_ok_and(|i| {
                i.cap_type == cap_type::IO_PORT
                    && i.extra & 0xffff <= 0x40
                    && (i.extra >> 16) & 0xffff >= 0x43
            })
        });
        if !ports {
            println!("no HPET, and no I/O-port capability for the PIT (0x40-0x43)");
            return None;
        }
        let Some(tsc_hz) = hw::calibrate_tsc() else {
            println!("no HPET, and the PIT's count does not move");
            return None;
        };
        println!(
            "no HPET: the TSC ({tsc_hz} Hz, measured against the PIT) and the PIT's channel 0"
        );
        Some(Source::Pit { tsc_hz })
    }

    /// The clock's raw reading in nanoseconds.
    fn read_ns(&mut self) -> u64 {
        match self {
            Source::Hpet {
                regs,
                period_fs,
                narrow,
            } => {
                let raw = regs.read(reg::MAIN_COUNTER);
                let ticks = match narrow {
                    Some(e) => e.extend(raw as u32),
                    None => raw,
                };
                clock::fs_ticks_to_ns(ticks, *period_fs)
            }
            Source::Pit { tsc_hz } => clock::hz_ticks_to_ns(hw::rdtsc(), *tsc_hz),
            Source::None => hw::rdtsc(),
        }
    }

    /// Program the comparator for `deadline` (clock nanoseconds), or stop
    /// it. `now` is the raw reading the caller just took.
    fn arm(&mut self, deadline: Option<u64>, now: u64) {
        match self {
            Source::Hpet {
                regs,
                period_fs,
                narrow,
            } => {
                // A 32-bit counter must be read at least once per wrap, so
                // its comparator is never more than half a wrap ahead.
                let deadline = match narrow {
                    Some(_) => {
                        let half_wrap = clock::fs_ticks_to_ns(1 << 31, *period_fs);
                        Some(
                            deadline
                                .unwrap_or(u64::MAX)
                                .min(now.saturating_add(half_wrap)),
                        )
                    }
                    None => deadline,
                };
                match deadline {
                    Some(d) => {
                        // The value first: enabling with a stale one
                        // behind the counter could fire at once.
                        let ticks = clock::ns_to_fs_ticks(d, *period_fs);
                        regs.write(reg::T0_COMPARATOR, ticks);
                        regs.write(reg::T0_CONFIG, reg::TN_INT_ENABLE);
                    }
                    None => regs.write(reg::T0_CONFIG, 0),
                }
            }
            Source::Pit { .. } => match deadline {
                Some(d) => {
                    let ticks = clock::ns_to_hz_ticks(d.saturating_sub(now), hw::PIT_HZ);
                    // At most 55 ms at once: a later deadline takes several.
                    hw::pit_one_shot(ticks.clamp(1, 0xffff) as u16);
                }
                None => hw::pit_stop(),
            },
            Source::None => {}
        }
    }

    /// The device's part of an interrupt: clear its status (needed in
    /// level mode only; harmless in edge mode).
    fn interrupted(&mut self) {
        if let Source::Hpet { regs, .. } = self {
            regs.write(reg::INT_STATUS, 1);
        }
    }
}

struct Timer {
    source: Source,
    clock: Monotonic,
    sleepers: Sleepers<Token, MAX_SLEEPERS>,
    irq_handlers: heapless::Vec<u64, 8>,
    /// Whether an interrupt has come yet (logged once).
    interrupted: bool,
    alarms: heapless::Vec<Alarm, MAX_ALARMS>,
    /// The slots alarms' notifications are kept in (the top of the CNode,
    /// below the three a capability is received in).
    alarm_slots: u64,
}

impl Timer {
    /// The clock now (never less than an earlier answer).
    fn now(&mut self) -> u64 {
        let raw = self.source.read_ns();
        self.clock.observe(raw)
    }

    /// Answer every sleeper whose deadline has passed, then program the
    /// comparator for the earliest left. A deadline can pass while it is
    /// being programmed (a comparator set behind the counter might never
    /// fire), so the clock is read again after and the loop goes round.
    fn wake_and_arm(&mut self, ipc: &mut Ipc) {
        loop {
            let now = self.now();
            while let Some(s) = self.sleepers.pop_due(now) {
                // A caller that died meanwhile makes this reply fail; the
                // token returns its reply object to the pool either way.
                s.token.ok(ipc, now);
            }
            for a in self.alarms.iter_mut() {
                if a.deadline.is_some_and(|d| d <= now) {
                    a.deadline = None;
                    // A client that died leaves a notification nobody
                    // waits on: the signal is harmless.
                    let _ = septum_user::syscall::signal(a.slot);
                }
            }
            let alarm = self.alarms.iter().filter_map(|a| a.deadline).min();
            let earliest = match (self.sleepers.earliest(), alarm) {
                (Some(s), Some(a)) => Some(s.min(a)),
                (s, a) => s.or(a),
            };
            self.source.arm(earliest, now);
            match earliest {
                Some(d) if self.now() >= d => continue,
                _ => return,
            }
        }
    }

    fn sleep(&mut self, ipc: &mut Ipc, deadline: u64, reply: Token) {
        if matches!(self.source, Source::None) {
            return reply.err(ipc, TimerError::Unavailable);
        }
        let now = self.now();
        if deadline <= now {
            return reply.ok(ipc, now);
        }
        // One reply object must stay free to receive the next call with.
        if reply_pool::available() == 0 {
            return reply.err(ipc, TimerError::Busy);
        }
        let earliest = self.sleepers.earliest();
        match self
            .sleepers
            .insert(septum_idl::caller_badge(), deadline, reply)
        {
            Ok(()) => {}
            Err(Refused::ClientFull(t) | Refused::Full(t)) => {
                return t.err(ipc, TimerError::Busy);
            }
        }
        if earliest.is_none_or(|e| deadline < e) {
            self.wake_and_arm(ipc);
        }
    }
}

impl TimerServer for Timer {
    fn now(&mut self, ctx: &mut ServerCtx<'_>, reply: ReplyToken<u64, NoError>) {
        let now = Timer::now(self);
        reply.ok(ctx.ipc, now);
    }

    fn sleep_until(&mut self, ctx: &mut ServerCtx<'_>, deadline: u64, reply: Token) {
        self.sleep(ctx.ipc, deadline, reply);
    }

    fn sleep(&mut self, ctx: &mut ServerCtx<'_>, ns: u64, reply: Token) {
        let deadline = Timer::now(self).saturating_add(ns);
        Timer::sleep(self, ctx.ipc, deadline, reply);
    }

    fn alarm_notification(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        n: septum_idl::CapArg<septum_idl::kind::Notification>,
        reply: ReplyToken<(), TimerError>,
    ) {
        let badge = septum_idl::caller_badge();
        let at = match self.alarms.iter().position(|a| a.badge == badge) {
            Some(i) => i,
            None if self.alarms.len() < MAX_ALARMS => {
                let slot = self.alarm_slots + self.alarms.len() as u64;
                let _ = self.alarms.push(Alarm {
                    badge,
                    slot,
                    deadline: None,
                });
                self.alarms.len() - 1
            }
            None => return reply.err(ctx.ipc, TimerError::Busy),
        };
        let slot = self.alarms[at].slot;
        self.alarms[at].deadline = None;
        let _ = ctx.ipc.cnode_delete(CNODE, (slot, DEPTH));
        if ctx
            .ipc
            .cnode_move(CNODE, (slot, DEPTH), CNODE, (n.cptr, DEPTH))
            .is_err()
        {
            self.alarms.remove(at);
            return reply.status(septum_idl::Status::BadCapability);
        }
        reply.ok(ctx.ipc, ());
    }

    fn set_alarm(&mut self, ctx: &mut ServerCtx<'_>, ns: u64, reply: Token) {
        if matches!(self.source, Source::None) {
            return reply.err(ctx.ipc, TimerError::Unavailable);
        }
        let badge = septum_idl::caller_badge();
        let now = Timer::now(self);
        let Some(a) = self.alarms.iter_mut().find(|a| a.badge == badge) else {
            return reply.err(ctx.ipc, TimerError::NoAlarm);
        };
        a.deadline = (ns != u64::MAX).then(|| now.saturating_add(ns));
        reply.ok(ctx.ipc, now);
        self.wake_and_arm(ctx.ipc);
    }

    fn notified(&mut self, ctx: &mut ServerCtx<'_>, word: u64) {
        if !self.interrupted {
            self.interrupted = true;
            println!("first interrupt (notification word {word:#x}): wakeups are interrupt-driven");
        }
        self.source.interrupted();
        for &h in &self.irq_handlers {
            // Unmask the line for the next deadline.
            let _ = ctx.ipc.irq_handler_ack(h);
        }
        self.wake_and_arm(ctx.ipc);
    }
}

/// What the server found in its capability space.
struct Grants {
    endpoint: Option<u64>,
    irq_handlers: heapless::Vec<u64, 8>,
    replies: heapless::Vec<u64, MAX_SLEEPERS>,
}

fn scan(ipc: &mut Ipc) -> Grants {
    let mut g = Grants {
        endpoint: None,
        irq_handlers: heapless::Vec::new(),
        replies: heapless::Vec::new(),
    };
    for s in FIRST_GRANT..SCAN_END {
        let Ok(i) = ipc.cnode_identify(CNODE, (s, DEPTH)) else {
            break;
        };
        match i.cap_type {
            cap_type::ENDPOINT if i.rights & rights::READ != 0 && g.endpoint.is_none() => {
                g.endpoint = Some(s)
            }
            cap_type::IRQ_HANDLER => {
                let _ = g.irq_handlers.push(s);
            }
            cap_type::REPLY => {
                let _ = g.replies.push(s);
            }
            _ => {}
        }
    }
    g
}

fn main() {
    // SAFETY: the root task registered this thread's IPC buffer here, and
    // this is the only `Ipc` made for it.
    let mut ipc = unsafe { Ipc::new(USER_IPC_BUFFER) };
    let generation = septum_user::start_arg() as u32;
    let grants = scan(&mut ipc);
    let Some(endpoint) = grants.endpoint else {
        println!("no endpoint to serve: nothing to do");
        return;
    };
    let source = match Source::hpet().or_else(|| Source::pit(&mut ipc)) {
        Some(s) => s,
        None => {
            println!("no timer hardware: serving the clock (TSC) only; sleeps are refused");
            Source::None
        }
    };
    if !grants.irq_handlers.is_empty() {
        if let Err(e) = ipc.tcb_bind_notification(TCB, IRQ_NOTIFICATION) {
            println!("cannot bind the IRQ notification: {}", e.name());
        }
        for &h in &grants.irq_handlers {
            // An interrupt left from before (a restart) is taken now.
            let _ = ipc.irq_handler_ack(h);
        }
    }
    // The top of the CNode is free (the description's layout puts every
    // granted capability at the bottom): three slots to receive a
    // capability in, and one per alarm below them.
    let radix = ipc
        .cnode_identify(CNODE, (CNODE, DEPTH))
        .map_or(8, |i| i.extra.min(16));
    let recv_first = (1u64 << radix) - septum_user::abi::ipc::MAX_CAPS as u64;
    let mut timer = Timer {
        source,
        clock: Monotonic::new(),
        sleepers: Sleepers::new(PER_CLIENT),
        irq_handlers: grants.irq_handlers,
        interrupted: false,
        alarms: heapless::Vec::new(),
        alarm_slots: recv_first - MAX_ALARMS as u64,
    };
    reply_pool::init(&grants.replies);
    // Nobody sleeps yet, but a 32-bit counter's comparator must run from
    // the start, half a wrap ahead, so that no wrap goes unseen.
    timer.wake_and_arm(&mut ipc);
    println!(
        "serving Timer on slot {endpoint}, generation {generation}, {} reply objects, clock at {} ns",
        grants.replies.len(),
        timer.now()
    );
    let mut ctx = ServerCtx {
        ipc: &mut ipc,
        generation,
        recv_cnode: CNODE,
        recv_first,
    };
    serve(&mut timer, &mut ctx, endpoint)
}
