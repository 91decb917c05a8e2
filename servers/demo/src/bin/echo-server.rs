//! The demo's Echo server (`idl/echo.idl`): answers every method through
//! the IDL runtime's server loop, on the endpoint its description grants.
//!
//! Its slots (`cargo xtask describe`): 8 the `echo` endpoint it serves, 9
//! its reply object, 10 its memory quota, 11.. free (capability arguments
//! arrive in 11–13).
#![no_std]
#![no_main]

use septum_idl::{CapArg, NoError, ReplyToken, ServerCtx, kind};
use septum_interfaces::echo::{EchoError, EchoServer, Mode, Point, Rect, Widths, serve};
use septum_interfaces::echo_semantics as semantics;
use septum_user::println;

const ENDPOINT: u64 = 8;
const REPLY: u64 = 9;
const RECV_FIRST: u64 = 11;

septum_user::entry!(main);

struct Echo {
    at: Point,
}

impl EchoServer for Echo {
    // Kept out of line so a debugger can break on it by name
    // (`break-in server echo_server::{impl#0}::echo`, docs/debugging.md).
    #[inline(never)]
    fn echo(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        text: heapless::String<64>,
        mode: Mode,
        reply: ReplyToken<heapless::String<64>, EchoError>,
    ) {
        println!("echo({:?}, {:?})", text.as_str(), mode);
        match semantics::echo(&text, mode) {
            Ok(out) => reply.ok(ctx.ipc, out),
            Err(e) => reply.err(ctx.ipc, e),
        }
    }

    fn add(&mut self, ctx: &mut ServerCtx<'_>, a: u32, b: u32, reply: ReplyToken<u64, NoError>) {
        println!("add({a}, {b})");
        reply.ok(ctx.ipc, u64::from(a) + u64::from(b));
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
        _r: septum_idl::Region,
        reply: ReplyToken<heapless::Vec<u8, 32>, EchoError>,
    ) {
        // This server shares no memory with its callers.
        reply.err(ctx.ipc, EchoError::OutOfRange)
    }

    fn signal(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        n: CapArg<kind::Notification>,
        _bits: u64,
        reply: ReplyToken<(), NoError>,
    ) {
        let _ = septum_user::syscall::signal(n.cptr);
        reply.ok(ctx.ipc, ());
    }

    fn transfer(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        _e: CapArg<kind::Endpoint>,
        _f: CapArg<kind::Frame>,
        _t: CapArg<kind::Tcb>,
        tag: u8,
        reply: ReplyToken<u8, NoError>,
    ) {
        reply.ok(ctx.ipc, tag);
    }
}

fn main() {
    let mut ipc = septum_demo::ipc();
    septum_idl::reply_pool::init(&[REPLY]);
    println!("serving Echo on slot {ENDPOINT}");
    let mut ctx = ServerCtx {
        ipc: &mut ipc,
        generation: 1,
        recv_cnode: septum_demo::SLOT_CNODE,
        recv_first: RECV_FIRST,
    };
    serve(
        &mut Echo {
            at: Point { x: 0, y: 0 },
        },
        &mut ctx,
        ENDPOINT,
    )
}
