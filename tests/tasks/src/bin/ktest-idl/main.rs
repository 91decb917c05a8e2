//! On-target suite, IDL group: a client and the reference `Echo` server
//! (`idl/echo.idl`, generated code in `septum-interfaces`) exercise every
//! argument kind, capability transfer, error results, every transport
//! status the runtime can return, replies kept pending and answered out of
//! order, and a server restart seen through its generation.
#![no_std]
#![no_main]

mod server;

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use septum_idl::{CallError, Client, InterfaceId, NoError, Region};
use septum_interfaces::echo::{EchoClient, EchoError, INTERFACE, Mode, Point, Rect, Widths};
use septum_test_tasks::check_eq;
use septum_test_tasks::ktest::{self, Ctx, SELF_TCB, Test, TestResult, cap, rights, ty};
use septum_user::abi::Error;

septum_user::entry!(main);

/// The root CNode (slot indices are capability pointers).
pub const CNODE: u64 = ktest::CNODE;

fn main() {
    ktest::run_all(&[TESTS]);
}

const TESTS: &[Test] = &[
    Test {
        name: "idl_every_argument_kind",
        run: every_kind,
    },
    Test {
        name: "idl_method_error_results",
        run: method_errors,
    },
    Test {
        name: "idl_capability_arguments_transferred",
        run: caps,
    },
    Test {
        name: "idl_bad_capability_refused",
        run: bad_caps,
    },
    Test {
        name: "idl_one_capability_for_two_arguments_refused",
        run: repeated_cap,
    },
    Test {
        name: "idl_replies_kept_and_answered_out_of_order",
        run: deferred,
    },
    Test {
        name: "idl_dropped_token_answers_dropped",
        run: dropped,
    },
    Test {
        name: "idl_unknown_method",
        run: unknown_method,
    },
    Test {
        name: "idl_version_mismatch",
        run: version_mismatch,
    },
    Test {
        name: "idl_wrong_interface",
        run: wrong_interface,
    },
    Test {
        name: "idl_malformed_request",
        run: malformed,
    },
    Test {
        name: "idl_server_restart_seen_and_reconnected",
        run: restart,
    },
];

/// A running server: its endpoint and the shared page it reads from.
struct Setup {
    ep: u64,
    shared: u64,
    server: u64,
}

fn start_server(c: &mut Ctx, generation: u64) -> Result<Setup, Error> {
    let ep = c.endpoint()?;
    for r in server::REPLIES.iter() {
        r.store(c.reply()?, Relaxed);
    }
    let recv = c.slots(3);
    let (_, shared) = c.mapped_frame()?;
    server::ENDPOINT.store(ep, Relaxed);
    server::RECV_FIRST.store(recv, Relaxed);
    server::GENERATION.store(generation, Relaxed);
    server::SHARED_AT.store(shared, Relaxed);
    let t = c.spawn("echo-server", server::main, 0, 200)?;
    Ok(Setup {
        ep,
        shared,
        server: t.tcb,
    })
}

fn s<const N: usize>(text: &str) -> heapless::String<N> {
    let mut out = heapless::String::new();
    let _ = out.push_str(text);
    out
}

fn every_kind(c: &mut Ctx) -> TestResult {
    let setup = start_server(c, 1)?;
    let mut e = EchoClient::new(setup.ep);
    let ipc = &mut c.ipc;
    check_eq!(e.echo(ipc, &s("Septum"), Mode::Plain), Ok(s("Septum")));
    check_eq!(e.echo(ipc, &s("Septum"), Mode::Shout), Ok(s("SEPTUM")));
    check_eq!(e.echo(ipc, &s("Septum"), Mode::Reverse), Ok(s("mutpeS")));
    check_eq!(e.add(ipc, u32::MAX, u32::MAX), Ok(2 * u64::from(u32::MAX)));
    check_eq!(e.sum(ipc, 1, 2, 3, 4, -5, -6, -7, -8), Ok(-16));
    check_eq!(
        e.sum(
            ipc,
            u8::MAX,
            u16::MAX,
            u32::MAX,
            0,
            i8::MIN,
            i16::MIN,
            i32::MIN,
            i64::MAX
        ),
        Ok((255i64 + 65535 + 4294967295 - 128 - 32768 - 2147483648).wrapping_add(i64::MAX))
    );
    let w = Widths {
        a: 255,
        b: 1,
        c: 2,
        d: u64::MAX,
        e: 127,
        f: -1,
        g: -2,
        h: i64::MAX,
    };
    let want = Widths {
        a: 0,
        b: 2,
        c: 3,
        d: 0,
        e: -128,
        f: 0,
        g: -1,
        h: i64::MIN,
    };
    check_eq!(e.increment(ipc, w), Ok(want));
    check_eq!(e.invert(ipc, true), Ok(false));
    check_eq!(e.invert(ipc, false), Ok(true));
    check_eq!(e.next_mode(ipc, Mode::Reverse), Ok(Mode::Plain));
    check_eq!(e.move_to(ipc, Point { x: -3, y: 9 }, false), Ok(()));
    check_eq!(e.position(ipc), Ok(Point { x: 0, y: 0 }));
    check_eq!(e.move_to(ipc, Point { x: -3, y: 9 }, true), Ok(()));
    check_eq!(e.position(ipc), Ok(Point { x: -3, y: 9 }));
    let r = Rect {
        origin: Point { x: 1, y: 1 },
        size: Point { x: 6, y: 7 },
        label: s("six by seven"),
    };
    check_eq!(e.area(ipc, &r), Ok(42));
    let mut data = heapless::Vec::<u8, 256>::new();
    for i in 0..256u32 {
        let _ = data.push(i as u8);
    }
    check_eq!(e.checksum(ipc, &data), Ok((0..256u32).sum::<u32>()));
    let fwd: heapless::Vec<u8, 64> = (1..=5u8).collect();
    let back: heapless::Vec<u8, 32> = (1..=5u8).rev().collect();
    check_eq!(e.reverse(ipc, &fwd), Ok(back));
    // Bulk data through the shared page.
    for i in 0..64u64 {
        septum_test_tasks::ktest::poke(setup.shared + i, i as u8 ^ 0x5a);
    }
    let got = e
        .read(ipc, Region { offset: 10, len: 8 })
        .map_err(|_| "read failed");
    let want: heapless::Vec<u8, 32> = (10..18u8).map(|i| i ^ 0x5a).collect();
    check_eq!(got, Ok(want));
    check_eq!(e.generation(), Some(1));
    Ok(())
}

fn method_errors(c: &mut Ctx) -> TestResult {
    let setup = start_server(c, 1)?;
    let mut e = EchoClient::new(setup.ep);
    let ipc = &mut c.ipc;
    check_eq!(
        e.echo(ipc, &s("forbidden"), Mode::Plain),
        Err(CallError::Method(EchoError::Forbidden))
    );
    let r = Rect {
        origin: Point { x: 0, y: 0 },
        size: Point { x: -1, y: 2 },
        label: s(""),
    };
    check_eq!(
        e.area(ipc, &r),
        Err(CallError::Method(EchoError::OutOfRange))
    );
    let long: heapless::Vec<u8, 64> = (0..40u8).collect();
    check_eq!(
        e.reverse(ipc, &long),
        Err(CallError::Method(EchoError::TooLong))
    );
    check_eq!(
        e.read(
            ipc,
            Region {
                offset: 4090,
                len: 8
            }
        ),
        Err(CallError::Method(EchoError::OutOfRange))
    );
    check_eq!(
        e.read(
            ipc,
            Region {
                offset: u32::MAX,
                len: u32::MAX
            }
        ),
        Err(CallError::Method(EchoError::OutOfRange))
    );
    // The server is still fine.
    check_eq!(e.add(ipc, 2, 3), Ok(5));
    Ok(())
}

fn caps(c: &mut Ctx) -> TestResult {
    let setup = start_server(c, 1)?;
    let mut e = EchoClient::new(setup.ep);
    let n = c.notification()?;
    let minted = c.slot();
    c.ipc
        .cnode_mint(CNODE, (minted, 64), CNODE, (n, 64), rights::ALL, 0x40)?;
    check_eq!(e.signal(&mut c.ipc, minted, 0x40), Ok(()));
    check_eq!(septum_user::syscall::poll(n), Ok(0x40));
    // Three capabilities of three kinds in one call.
    let ep2 = c.endpoint()?;
    let (frame, _) = c.mapped_frame()?;
    let tcb = c.make(ty::TCB, 0)?;
    check_eq!(e.transfer(&mut c.ipc, ep2, frame, tcb, 7), Ok(7));
    // The client keeps its own capabilities.
    check_eq!(c.identify(minted)?.cap_type, cap::NOTIFICATION);
    Ok(())
}

fn bad_caps(c: &mut Ctx) -> TestResult {
    let setup = start_server(c, 1)?;
    let mut e = EchoClient::new(setup.ep);
    // A capability of the wrong kind for `signal`.
    let ep2 = c.endpoint()?;
    check_eq!(e.signal(&mut c.ipc, ep2, 1), Err(CallError::BadCapability));
    // The right kind without the declared right (write).
    let n = c.notification()?;
    let weak = c.slot();
    c.ipc
        .cnode_mint(CNODE, (weak, 64), CNODE, (n, 64), rights::READ, 0)?;
    check_eq!(e.signal(&mut c.ipc, weak, 1), Err(CallError::BadCapability));
    check_eq!(septum_user::syscall::poll(n), Ok(0));
    check_eq!(e.add(&mut c.ipc, 1, 1), Ok(2));
    Ok(())
}

static DONE_ORDER: AtomicU64 = AtomicU64::new(0);
static RESULTS: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];

/// A client thread: `add(DEFER, which)`, then record when it was answered.
extern "C" fn deferred_client(which: u64, buffer: u64) -> ! {
    let mut ipc = ktest::thread_ipc(buffer);
    let mut e = EchoClient::new(server::ENDPOINT.load(Relaxed));
    let r = e.add(&mut ipc, server::DEFER, which as u32).unwrap_or(0);
    RESULTS[which as usize].store(r, Relaxed);
    // Record the order of answers: which first, shifted by the count so far.
    let n = DONE_ORDER.fetch_add(1 << 8, Relaxed) >> 8;
    DONE_ORDER.fetch_or(which << (4 * n), Relaxed);
    septum_user::syscall::thread_exit()
}

fn let_others_run(c: &mut Ctx) -> Result<(), Error> {
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 1)?;
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 255)
}

fn deferred(c: &mut Ctx) -> TestResult {
    let setup = start_server(c, 1)?;
    DONE_ORDER.store(0, Relaxed);
    RESULTS.iter().for_each(|r| r.store(0, Relaxed));
    // Two callers kept waiting by the server: first 0, then 1.
    c.spawn("client-0", deferred_client, 0, 150)?;
    let_others_run(c)?;
    c.spawn("client-1", deferred_client, 1, 150)?;
    let_others_run(c)?;
    check_eq!(RESULTS[0].load(Relaxed), 0);
    check_eq!(RESULTS[1].load(Relaxed), 0);
    let mut e = EchoClient::new(setup.ep);
    check_eq!(e.add(&mut c.ipc, server::RELEASE, 0), Ok(0));
    let_others_run(c)?;
    check_eq!(RESULTS[0].load(Relaxed), 1000);
    check_eq!(RESULTS[1].load(Relaxed), 1001);
    // Answered last first: client 1 finished first, then client 0.
    check_eq!(DONE_ORDER.load(Relaxed) & 0xff, 1);
    Ok(())
}

fn dropped(c: &mut Ctx) -> TestResult {
    let setup = start_server(c, 1)?;
    let mut e = EchoClient::new(setup.ep);
    check_eq!(e.add(&mut c.ipc, server::DROP, 0), Err(CallError::Dropped));
    check_eq!(e.add(&mut c.ipc, 40, 2), Ok(42));
    Ok(())
}

fn raw_client(ep: u64, ordinal: u16, version: u16) -> Client {
    Client::new(
        ep,
        InterfaceId {
            name: "Echo",
            ordinal,
            version,
        },
    )
}

fn unknown_method(c: &mut Ctx) -> TestResult {
    let setup = start_server(c, 1)?;
    let mut raw = raw_client(setup.ep, INTERFACE.ordinal, INTERFACE.version);
    let r: Result<u64, CallError<NoError>> = raw.call(&mut c.ipc, 99, &(), &[]);
    check_eq!(r, Err(CallError::UnknownMethod));
    Ok(())
}

fn version_mismatch(c: &mut Ctx) -> TestResult {
    let setup = start_server(c, 1)?;
    let mut raw = raw_client(setup.ep, INTERFACE.ordinal, INTERFACE.version + 1);
    let r: Result<u64, CallError<NoError>> = raw.call(&mut c.ipc, 1, &(1u32, 2u32), &[]);
    check_eq!(
        r,
        Err(CallError::VersionMismatch {
            server: INTERFACE.version
        })
    );
    Ok(())
}

fn wrong_interface(c: &mut Ctx) -> TestResult {
    let setup = start_server(c, 1)?;
    let mut raw = raw_client(setup.ep, 0x0202, 1);
    let r: Result<u64, CallError<NoError>> = raw.call(&mut c.ipc, 1, &(1u32, 2u32), &[]);
    check_eq!(r, Err(CallError::WrongInterface));
    Ok(())
}

fn malformed(c: &mut Ctx) -> TestResult {
    let setup = start_server(c, 1)?;
    let mut raw = raw_client(setup.ep, INTERFACE.ordinal, INTERFACE.version);
    // `add` takes two u32s: a u64 too large for them does not decode, and
    // neither do trailing bytes.
    let r: Result<u64, CallError<NoError>> = raw.call(&mut c.ipc, 1, &(u64::MAX, 7u32), &[]);
    check_eq!(r, Err(CallError::Malformed));
    let r: Result<u64, CallError<NoError>> = raw.call(&mut c.ipc, 1, &(1u32, 2u32, 3u32), &[]);
    check_eq!(r, Err(CallError::Malformed));
    let mut e = EchoClient::new(setup.ep);
    check_eq!(e.add(&mut c.ipc, 1, 2), Ok(3));
    Ok(())
}

fn restart(c: &mut Ctx) -> TestResult {
    let setup = start_server(c, 1)?;
    let mut e = EchoClient::new(setup.ep);
    check_eq!(e.add(&mut c.ipc, 1, 1), Ok(2));
    check_eq!(e.generation(), Some(1));
    // The supervisor stops the server and starts a new one on the same
    // endpoint with the next generation.
    c.ipc.tcb_suspend(setup.server)?;
    for r in server::REPLIES.iter() {
        r.store(c.reply()?, Relaxed);
    }
    server::GENERATION.store(2, Relaxed);
    c.spawn("echo-server-2", server::main, 0, 200)?;
    check_eq!(
        e.add(&mut c.ipc, 1, 1),
        Err(CallError::ServerRestarted { generation: 2 })
    );
    e.reconnect(2);
    check_eq!(e.add(&mut c.ipc, 20, 1), Ok(21));
    check_eq!(e.generation(), Some(2));
    Ok(())
}

/// A hand-made request naming transferred capability 0 for all three
/// capability arguments of `transfer`: the generated loop refuses it, so a
/// method never gets one capability where it was promised distinct ones.
fn repeated_cap(c: &mut Ctx) -> TestResult {
    let setup = start_server(c, 1)?;
    let ep2 = c.endpoint()?;
    let (frame, _) = c.mapped_frame()?;
    let tcb = c.make(ty::TCB, 0)?;
    let mut raw = raw_client(setup.ep, INTERFACE.ordinal, INTERFACE.version);
    let method = septum_interfaces::echo::METHOD_TRANSFER;
    let caps = [ep2, frame, tcb];
    let r: Result<u8, CallError<NoError>> =
        raw.call(&mut c.ipc, method, &(0u8, 0u8, 0u8, 7u8), &caps);
    check_eq!(r, Err(CallError::BadCapability));
    // Distinct indices are fine.
    let r: Result<u8, CallError<NoError>> =
        raw.call(&mut c.ipc, method, &(0u8, 1u8, 2u8, 7u8), &caps);
    check_eq!(r, Ok(7));
    Ok(())
}
