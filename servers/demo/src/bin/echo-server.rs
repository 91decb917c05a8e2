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
use septum_user::println;

const ENDPOINT: u64 = 8;
const REPLY: u64 = 9;
const RECV_FIRST: u64 = 11;

septum_user::entry!(main);

struct Echo {
    at: Point,
}

impl EchoServer for Echo {
    fn echo(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        text: heapless::String<64>,
        mode: Mode,
        reply: ReplyToken<heapless::String<64>, EchoError>,
    ) {
        println!("echo({:?}, {:?})", text.as_str(), mode);
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
