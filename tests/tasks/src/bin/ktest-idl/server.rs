//! The reference `Echo` server the IDL cases call: a plain implementation
//! of every method, plus two behaviours only a test wants — it keeps some
//! `add` requests pending and answers them in reverse order, and it drops
//! the token of `add(0xd0d0, _)` unanswered.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use septum_idl::{CapArg, NoError, ReplyToken, ServerCtx, Shared, kind};
use septum_interfaces::echo::{EchoError, EchoServer, Mode, Point, Rect, Widths, serve};
use septum_interfaces::echo_semantics as semantics;
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
        match semantics::echo(&text, mode) {
            Ok(out) => reply.ok(ctx.ipc, out),
            Err(e) => reply.err(ctx.ipc, e),
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
        reply.ok(ctx.ipc, semantics::sum(a, b, c, d, e, f, g, h));
    }

    fn increment(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        w: Widths,
        reply: ReplyToken<Widths, NoError>,
    ) {
        reply.ok(ctx.ipc, semantics::increment(w));
    }

    fn invert(&mut self, ctx: &mut ServerCtx<'_>, b: bool, reply: ReplyToken<bool, NoError>) {
        reply.ok(ctx.ipc, !b);
    }

    fn next_mode(&mut self, ctx: &mut ServerCtx<'_>, m: Mode, reply: ReplyToken<Mode, NoError>) {
        reply.ok(ctx.ipc, semantics::next_mode(m));
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
        match semantics::area(r) {
            Ok(a) => reply.ok(ctx.ipc, a),
            Err(e) => reply.err(ctx.ipc, e),
        }
    }

    fn checksum(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        data: heapless::Vec<u8, 256>,
        reply: ReplyToken<u32, NoError>,
    ) {
        reply.ok(ctx.ipc, semantics::checksum(&data));
    }

    fn reverse(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        data: heapless::Vec<u8, 64>,
        reply: ReplyToken<heapless::Vec<u8, 32>, EchoError>,
    ) {
        match semantics::reverse(&data) {
            Ok(out) => reply.ok(ctx.ipc, out),
            Err(e) => reply.err(ctx.ipc, e),
        }
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
