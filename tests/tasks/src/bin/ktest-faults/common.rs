//! What the cases of this group share: scratch words the test threads
//! report through, a way to let every other thread run until it stops, and
//! the fault handler's side of fault messages.

use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use septum_test_tasks::ktest::{Ctx, Fail, SELF_TCB, Thread};
use septum_test_tasks::{check_eq, fail};
use septum_user::abi::Error;
use septum_user::abi::fault;
use septum_user::ipc::Message;

/// Priority of the threads the cases start (below the root's 255).
pub const PRIO: u64 = 100;

/// Words the test threads and the root share; cleared before each case
/// that uses them.
static WORDS: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
/// Address of the instruction under test (stored by the thread).
pub const FAULT_AT: usize = 0;
/// Address just past it (stored by the thread).
pub const AFTER: usize = 1;
/// Set by a thread when it got past its fault.
pub const DONE: usize = 2;
/// Free for a case's own use.
pub const V0: usize = 3;
pub const V1: usize = 4;
pub const V2: usize = 5;
pub const V3: usize = 6;
pub const V4: usize = 7;

pub fn reset() {
    for w in &WORDS {
        w.store(0, SeqCst);
    }
}

pub fn get(i: usize) -> u64 {
    WORDS[i].load(SeqCst)
}

pub fn set(i: usize, v: u64) {
    WORDS[i].store(v, SeqCst);
}

pub fn add(i: usize, v: u64) {
    WORDS[i].fetch_add(v, SeqCst);
}

/// The address of a shared word, for inline assembly to store into.
pub fn word_ptr(i: usize) -> *mut u64 {
    WORDS[i].as_ptr()
}

/// Let every other thread run until none is runnable: the root drops
/// below them all and comes back when they have blocked, stopped or
/// exited. (The root must never block with nothing else runnable: the
/// test run would end there.)
pub fn settle(c: &mut Ctx) -> Result<(), Error> {
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 1)?;
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 255)
}

/// A fault endpoint and the reply object the root answers faults with.
#[derive(Clone, Copy)]
pub struct Handler {
    pub ep: u64,
    pub reply: u64,
}

pub fn handler(c: &mut Ctx) -> Result<Handler, Error> {
    Ok(Handler {
        ep: c.endpoint()?,
        reply: c.reply()?,
    })
}

/// A thread whose faults go to `h`, started at `entry(arg)`.
pub fn fault_thread(
    c: &mut Ctx,
    h: &Handler,
    name: &str,
    entry: extern "C" fn(u64, u64) -> !,
    arg: u64,
) -> Result<Thread, Error> {
    let t = c.configured_thread(name, PRIO, h.ep)?;
    c.start(t, entry, arg)?;
    Ok(t)
}

/// A received fault message.
pub struct Fault {
    pub kind: u64,
    pub badge: u64,
    pub w: [u64; fault::WORDS],
}

impl Fault {
    /// The 18 registers, for a `RESUME_WITH_REGS` reply.
    pub fn regs(&self) -> [u64; 18] {
        let mut r = [0; 18];
        r.copy_from_slice(&self.w[..18]);
        r
    }
}

fn to_fault(m: &Message, badge: u64) -> Result<Fault, Fail> {
    if m.len != fault::WORDS {
        fail!(
            "fault message has {} words, expected {}",
            m.len,
            fault::WORDS
        );
    }
    let mut w = [0; fault::WORDS];
    w.copy_from_slice(&m.words[..fault::WORDS]);
    Ok(Fault {
        kind: m.label,
        badge,
        w,
    })
}

/// Let the threads run, then take the fault that must be waiting.
pub fn next_fault(c: &mut Ctx, h: &Handler) -> Result<Fault, Fail> {
    settle(c)?;
    match c.ipc.nb_recv(h.ep, h.reply) {
        Ok(r) => to_fault(&r.msg, r.badge),
        Err(Error::WouldBlock) => fail!("no fault arrived"),
        Err(e) => Err(e.into()),
    }
}

/// Wait (blocked in Recv) for a fault; the root must know one will come.
pub fn wait_fault(c: &mut Ctx, h: &Handler, reply: u64) -> Result<Fault, Fail> {
    let r = c.ipc.recv(h.ep, reply)?;
    to_fault(&r.msg, r.badge)
}

/// Let the threads run, then make sure no fault is waiting.
pub fn no_fault(c: &mut Ctx, h: &Handler) -> Result<(), Fail> {
    settle(c)?;
    match c.ipc.nb_recv(h.ep, h.reply) {
        Err(Error::WouldBlock) => Ok(()),
        Ok(r) => fail!(
            "unexpected fault: kind {} addr {:#x} rip {:#x} vector {}",
            r.msg.label,
            r.msg.word(fault::W_ADDR),
            r.msg.word(fault::W_RIP),
            r.msg.word(fault::W_VECTOR)
        ),
        Err(e) => Err(e.into()),
    }
}

/// Answer the fault: resume unchanged.
pub fn resume(c: &mut Ctx, h: &Handler) -> Result<(), Error> {
    c.ipc.reply(h.reply, &Message::new(fault::RESUME, &[]))
}

/// Answer the fault: set the registers (18 or 20 words), then resume.
pub fn resume_regs(c: &mut Ctx, h: &Handler, regs: &[u64]) -> Result<(), Error> {
    c.ipc
        .reply(h.reply, &Message::new(fault::RESUME_WITH_REGS, regs))
}

/// Check a fault's kind, vector and error code.
pub fn expect(f: &Fault, kind: fault::Kind, vector: u64, error: u64) -> Result<(), Fail> {
    check_eq!(fault::Kind::from_label(f.kind), Some(kind));
    check_eq!(f.w[fault::W_VECTOR], vector);
    check_eq!(f.w[fault::W_ERROR], error);
    Ok(())
}

/// Whether `rip` lies in the first `len` bytes of the function `entry`.
pub fn inside(rip: u64, entry: extern "C" fn(u64, u64) -> !, len: u64) -> bool {
    let start = entry as usize as u64;
    rip >= start && rip < start + len
}

/// Page-fault error-code bits.
pub mod pf {
    pub const PRESENT: u64 = 1;
    pub const WRITE: u64 = 2;
    pub const USER: u64 = 4;
    pub const FETCH: u64 = 0x10;
}

/// RFLAGS bits.
pub mod flags {
    pub const CF: u64 = 1;
    pub const TF: u64 = 1 << 8;
    pub const IF: u64 = 1 << 9;
    pub const IOPL: u64 = 3 << 12;
    pub const NT: u64 = 1 << 14;
    pub const RF: u64 = 1 << 16;
    pub const VM: u64 = 1 << 17;
}

/// Inline assembly that stores the address of the instructions under test
/// `insn` in `FAULT_AT` and of what follows them in `AFTER`, then runs
/// `pre`, `insn` and `post`; the operands after the three lists are the
/// caller's. A handler resumes the thread at `AFTER`, so `post` runs after
/// the fault. Expands to `asm!`: the caller's `unsafe` block says why the
/// whole is sound.
macro_rules! marked_asm {
    ([$($pre:literal),*] [$($insn:literal),+] [$($post:literal),*] $($operands:tt)*) => {
        core::arch::asm!(
            "lea {t}, [rip + 2f]",
            "mov qword ptr [{at}], {t}",
            "lea {t}, [rip + 3f]",
            "mov qword ptr [{after}], {t}",
            $($pre,)*
            "2:",
            $($insn,)+
            "3:",
            $($post,)*
            at = in(reg) $crate::common::word_ptr($crate::common::FAULT_AT),
            after = in(reg) $crate::common::word_ptr($crate::common::AFTER),
            t = out(reg) _,
            $($operands)*
        )
    };
}

/// A thread that stores the addresses of its instruction under test
/// (`FAULT_AT`) and of what follows (`AFTER`), runs `pre` then the
/// instruction, and on getting past it sets `DONE` and exits.
macro_rules! insn_thread {
    ($name:ident, [$($pre:literal),*], [$($insn:literal),+]) => {
        extern "C" fn $name(_arg: u64, _buffer: u64) -> ! {
            // SAFETY: the code stores two of its own label addresses into
            // shared atomics (valid, aligned `u64`s) and then runs the
            // instruction under test, whose fault the root handles: it
            // resumes the thread at label 3 with the registers as they were.
            // Every register the code writes is declared.
            unsafe {
                marked_asm!(
                    [$($pre),*] [$($insn),+] []
                    out("rax") _,
                    out("rcx") _,
                    out("rdx") _,
                );
            }
            $crate::common::set($crate::common::DONE, 1);
            septum_user::syscall::thread_exit()
        }
    };
}
