//! The reference `Echo` server the IDL cases call: a plain implementation
//! of every method, plus two behaviours only a test wants — it keeps some
//! `add` requests pending and answers them in reverse order, and it drops
//! the token of `add(0xd0d0, _)` unanswered.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use septum_idl::{CapArg, NoError, ReplyToken, ServerCtx, Shared, kind};
use septum_interfaces::echo::{EchoError, EchoServer, Mode, Point, Rect, Widths, serve};
use septum_user::syscall::signal;

/// Settings the spawning case writes before it starts the server thread.
pub static ENDPOINT: AtomicU64 = AtomicU64::new(0);
pub static RECV_FIRST: AtomicU64 = AtomicU64::new(0);
pub static GENERATION: AtomicU64 = AtomicU64::new(0);
pub static SHARED_AT: AtomicU64 = AtomicU64::new(0);
/// Reply objects for the pool (up to 4), 0 = unused.
pub static REPLIES: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// `add(DEFER, n)` is kept pending; `add(RELEASE, _)` answers every kept
/// request, last first, with `n + 1000`.
pub const DEFER: u32 = 0xdefe;
pub const RELEASE: u32 = 0x5e1e;
/// `add(DROP, _)` drops its token unanswered.
pub const DROP: u32 = 0xd0d0;

struct Echo {
    at: Point,
    shared: Shared,
    kept: heapless::Vec<(u32, ReplyToken<u64, NoError>), 4>,
}

impl EchoServer for Echo {
    fn echo(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        text: heapless::String<64>,
        mode: Mode,
        reply: ReplyToken<heapless::String<64>, EchoError>,
    ) {
        if text == "forbidden" {
            return reply.err(ctx.ipc, EchoError::Forbidden);
        }
        let mut out = heapless::String::<64>::new();
        let ok = match mode {
            Mode::Plain => out.push_str(&text).is_ok(),
            Mode::Shout => text
                .chars()
                .all(|c| out.push(c.to_ascii_uppercase()).is_ok()),
            Mode::Reverse => text.chars().rev().all(|c| out.push(c).is_ok()),
        };
        if ok {
            reply.ok(ctx.ipc, out)
        } else {
            reply.err(ctx.ipc, EchoError::TooLong)
        }
    }

    fn add(&mut self, ctx: &mut ServerCtx<'_>, a: u32, b: u32, reply: ReplyToken<u64, NoError>) {
        match a {
            DEFER => {
                if let Err((_, token)) = self.kept.push((b, reply)) {
                    // Full: answer at once rather than lose it.
                    token.ok(ctx.ipc, u64::MAX);
                }
            }
            RELEASE => {
                while let Some((n, token)) = self.kept.pop() {
                    token.ok(ctx.ipc, u64::from(n) + 1000);
                }
                reply.ok(ctx.ipc, 0);
            }
            DROP => drop(reply),
            _ => reply.ok(ctx.ipc, u64::from(a) + u64::from(b)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn sum(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        a: u8,
        b: u16,
        c: u32,
        d: u64,
        e: i8,
        f: i16,
        g: i32,
        h: i64,
        reply: ReplyToken<i64, NoError>,
    ) {
        let s = [
            i64::from(a),
            i64::from(b),
            i64::from(c),
            d as i64,
            i64::from(e),
            i64::from(f),
            i64::from(g),
            h,
        ]
        .into_iter()
        .fold(0i64, i64::wrapping_add);
        reply.ok(ctx.ipc, s);
    }

    fn increment(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        w: Widths,
        reply: ReplyToken<Widths, NoError>,
    ) {
        let w = Widths {
            a: w.a.wrapping_add(1),
            b: w.b.wrapping_add(1),
            c: w.c.wrapping_add(1),
            d: w.d.wrapping_add(1),
            e: w.e.wrapping_add(1),
            f: w.f.wrapping_add(1),
            g: w.g.wrapping_add(1),
            h: w.h.wrapping_add(1),
        };
        reply.ok(ctx.ipc, w);
    }

    fn invert(&mut self, ctx: &mut ServerCtx<'_>, b: bool, reply: ReplyToken<bool, NoError>) {
        reply.ok(ctx.ipc, !b);
    }

    fn next_mode(&mut self, ctx: &mut ServerCtx<'_>, m: Mode, reply: ReplyToken<Mode, NoError>) {
        let next = match m {
            Mode::Plain => Mode::Shout,
            Mode::Shout => Mode::Reverse,
            Mode::Reverse => Mode::Plain,
        };
        reply.ok(ctx.ipc, next);
    }

    fn move_to(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        p: Point,
        flag: bool,
        reply: ReplyToken<(), NoError>,
    ) {
        if flag {
            self.at = p;
        }
        reply.ok(ctx.ipc, ());
    }

    fn position(&mut self, ctx: &mut ServerCtx<'_>, reply: ReplyToken<Point, NoError>) {
        reply.ok(ctx.ipc, self.at);
    }

    fn area(&mut self, ctx: &mut ServerCtx<'_>, r: Rect, reply: ReplyToken<u64, EchoError>) {
        if r.size.x < 0 || r.size.y < 0 {
            return reply.err(ctx.ipc, EchoError::OutOfRange);
        }
        reply.ok(ctx.ipc, r.size.x as u64 * r.size.y as u64);
    }

    fn checksum(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        data: heapless::Vec<u8, 256>,
        reply: ReplyToken<u32, NoError>,
    ) {
        reply.ok(
            ctx.ipc,
            data.iter().fold(0u32, |s, &b| s.wrapping_add(u32::from(b))),
        );
    }

    fn reverse(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        data: heapless::Vec<u8, 64>,
        reply: ReplyToken<heapless::Vec<u8, 32>, EchoError>,
    ) {
        let mut out = heapless::Vec::new();
        for &b in data.iter().rev() {
            if out.push(b).is_err() {
                return reply.err(ctx.ipc, EchoError::TooLong);
            }
        }
        reply.ok(ctx.ipc, out);
    }

    fn read(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        r: septum_idl::Region,
        reply: ReplyToken<heapless::Vec<u8, 32>, EchoError>,
    ) {
        // Copied out of the shared page (the client may change it at any
        // time); `read` answers for at most 32 bytes.
        let want = septum_idl::Region {
            offset: r.offset,
            len: r.len.min(32),
        };
        let mut buf = [0u8; 32];
        match self.shared.read(want, &mut buf) {
            Ok(n) => {
                let mut out = heapless::Vec::new();
                let _ = out.extend_from_slice(&buf[..n]);
                reply.ok(ctx.ipc, out)
            }
            Err(_) => reply.err(ctx.ipc, EchoError::OutOfRange),
        }
    }

    fn signal(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        n: CapArg<kind::Notification>,
        bits: u64,
        reply: ReplyToken<(), NoError>,
    ) {
        // An unbadged notification capability ORs in 1; the client minted
        // its capability with `bits` as the badge, so signalling suffices.
        let _ = bits;
        let _ = signal(n.cptr);
        reply.ok(ctx.ipc, ());
    }

    fn transfer(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        e: CapArg<kind::Endpoint>,
        f: CapArg<kind::Frame>,
        t: CapArg<kind::Tcb>,
        tag: u8,
        reply: ReplyToken<u8, NoError>,
    ) {
        // The three arrived checked; prove they are really there.
        let kinds = [e.cptr, f.cptr, t.cptr].map(|s| {
            ctx.ipc
                .cnode_identify(crate::CNODE, (s, 64))
                .map_or(0, |i| i.cap_type)
        });
        reply.ok(ctx.ipc, if kinds == [4, 8, 3] { tag } else { 0 });
    }
}

/// The server thread: `arg` unused, `buffer` its IPC buffer.
pub extern "C" fn main(_: u64, buffer: u64) -> ! {
    let mut ipc = septum_test_tasks::ktest::thread_ipc(buffer);
    let replies: heapless::Vec<u64, 4> = REPLIES
        .iter()
        .map(|r| r.load(Relaxed))
        .filter(|&r| r != 0)
        .collect();
    septum_idl::reply_pool::init(&replies);
    // SAFETY: the case maps one page at SHARED_AT read-write for this
    // test and hands it to the server only through this value.
    let shared = unsafe { Shared::new(SHARED_AT.load(Relaxed), 4096) };
    let mut server = Echo {
        at: Point { x: 0, y: 0 },
        shared,
        kept: heapless::Vec::new(),
    };
    let mut ctx = ServerCtx {
        ipc: &mut ipc,
        generation: GENERATION.load(Relaxed) as u32,
        recv_cnode: crate::CNODE,
        recv_first: RECV_FIRST.load(Relaxed),
    };
    serve(&mut server, &mut ctx, ENDPOINT.load(Relaxed))
}
