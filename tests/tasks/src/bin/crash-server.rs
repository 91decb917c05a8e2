//! A server that crashes on command (interface `Crash`, `idl/crash.idl`),
//! for the supervisor's restart scenario: each way of dying is a function
//! of its own, so the supervisor's log names it from this program's
//! symbols. It answers pings with its generation in every reply header
//! (the one the supervisor started it with).
//!
//! Its slots (`cargo xtask describe tests/systems/restart.toml`): 8 the
//! `crash` endpoint it serves, 9 its reply object.
#![no_std]
#![no_main]

use septum_idl::{NoError, ReplyToken, ServerCtx};
use septum_interfaces::crash::{CrashServer, How, serve};
use septum_user::println;

const ENDPOINT: u64 = 8;
const REPLY: u64 = 9;

/// An address no domain maps (below the program window).
const UNMAPPED: u64 = 0x1000;
/// An address in the kernel's half (PML4 slot 257).
const KERNEL: u64 = 0xffff_8080_0010_0000;

septum_user::entry!(main);

#[inline(never)]
fn die_by_page_fault() {
    // SAFETY: not sound on purpose: the read must fault, and the kernel
    // stops this thread before the value could be used.
    let v = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
    println!("FAILED: read {v:#x} from an unmapped address");
}

#[inline(never)]
fn die_by_invalid_opcode() {
    // SAFETY: `ud2` raises #UD; the kernel stops this thread there.
    unsafe { core::arch::asm!("ud2") };
    println!("FAILED: ud2 returned");
}

#[inline(never)]
fn die_by_divide_error(divisor: u64) {
    let q: u64;
    // SAFETY: `div` by zero raises #DE; the kernel stops this thread
    // there. (Rust's `/` would check and panic instead of faulting.)
    unsafe {
        core::arch::asm!("div {d}", d = in(reg) divisor, inout("rax") 1u64 => q,
            inout("rdx") 0u64 => _);
    }
    println!("FAILED: divided by {divisor}, got {q}");
}

#[inline(never)]
fn die_by_kernel_write() {
    // SAFETY: not sound on purpose: a user-mode write to the kernel's half
    // must fault, and the kernel stops this thread.
    unsafe { core::ptr::write_volatile(KERNEL as *mut u64, 0x5eb7) };
    println!("FAILED: wrote to kernel memory");
}

struct Crasher;

impl CrashServer for Crasher {
    fn crash(&mut self, _ctx: &mut ServerCtx<'_>, how: How, reply: ReplyToken<(), NoError>) {
        match how {
            How::PageFault => die_by_page_fault(),
            How::InvalidOpcode => die_by_invalid_opcode(),
            How::DivideByZero => die_by_divide_error(core::hint::black_box(0)),
            How::KernelWrite => die_by_kernel_write(),
        }
        // Only reached if the crash did not happen: the client sees `Dropped`.
        drop(reply);
    }

    fn ping(&mut self, ctx: &mut ServerCtx<'_>, x: u64, reply: ReplyToken<u64, NoError>) {
        reply.ok(ctx.ipc, x.wrapping_add(1));
    }
}

fn main() {
    let mut ipc = septum_test_tasks::domain_ipc();
    septum_idl::reply_pool::init(&[REPLY]);
    let generation = septum_user::start_arg() as u32;
    if generation == 1 {
        println!("serving Crash on slot {ENDPOINT}, generation {generation}");
    }
    let mut ctx = ServerCtx {
        ipc: &mut ipc,
        generation,
        recv_cnode: 0,
        recv_first: 0,
    };
    serve(&mut Crasher, &mut ctx, ENDPOINT)
}
