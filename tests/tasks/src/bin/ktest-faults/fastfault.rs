//! The fault fast path: a fault whose handler already waits goes straight
//! to it, and a handler that answers with one of the short resumes
//! (`RESUME`, `RESUME_AT`, `RESUME_SYSCALL_RESULT`) in a `ReplyRecv` resumes
//! the thread without the general path. Each case answers one fault through
//! the fast path and the next through the general one (`Reply`, then
//! `Recv`), and checks both give the same result; and drives the fast path
//! into its refusals, where the general path must answer as it always did.

use crate::common::{PRIO, settle};
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use septum_test_tasks::ktest::{Ctx, Test, TestResult};
use septum_test_tasks::{check, check_eq};
use septum_user::abi::fault::{self, Kind};
use septum_user::abi::syscall as nr;
use septum_user::abi::{Error, ipc::REGISTER_WORDS};
use septum_user::syscall::{info, raw, thread_exit};

pub const TESTS: &[Test] = &[
    Test {
        name: "fastfault_resume_at_same_by_both_paths",
        run: resume_at,
    },
    Test {
        name: "fastfault_syscall_result_same_by_both_paths",
        run: syscall_result,
    },
    Test {
        name: "fastfault_noncanonical_resume_at_refused",
        run: noncanonical,
    },
    Test {
        name: "fastfault_long_reply_takes_the_general_path",
        run: long_reply,
    },
];

/// What the handler thread is told and what it saw.
static EP: AtomicU64 = AtomicU64::new(0);
static REPLY: AtomicU64 = AtomicU64::new(0);
/// The handler's plan: which answers, through which path.
static PLAN: AtomicU64 = AtomicU64::new(0);
/// Faults the handler received, and what it saw of each (kind, RIP, the
/// error its answer got).
static FAULTS: AtomicU64 = AtomicU64::new(0);
static KIND: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
static RIP: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
static ANSWER_ERR: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
/// What the faulting thread recorded after each resume.
static SEEN: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

const PLAN_RESUME_AT: u64 = 1;
const PLAN_SYSCALL_RESULT: u64 = 2;
const PLAN_NONCANONICAL: u64 = 3;
const PLAN_LONG_REPLY: u64 = 4;

fn reset() {
    FAULTS.store(0, SeqCst);
    for a in KIND.iter().chain(&RIP).chain(&ANSWER_ERR).chain(&SEEN) {
        a.store(0, SeqCst);
    }
}

/// Word `i` (4..) of the fault message in the handler's IPC buffer.
fn buffer_word(buffer: u64, i: usize) -> u64 {
    // SAFETY: `buffer` is this thread's own IPC buffer, mapped for it by
    // the framework; the kernel wrote the message there before it ran.
    unsafe { ((buffer + (i - REGISTER_WORDS) as u64 * 8) as *const u64).read_volatile() }
}

/// The handler: waits in `Recv`, answers the first fault with `ReplyRecv`
/// (the fast path's way) and the second with `Reply` then `Recv` (the
/// general path's), as the plan says; records what it saw; stops after two.
extern "C" fn handler(_: u64, buffer: u64) -> ! {
    let (ep, reply) = (EP.load(SeqCst), REPLY.load(SeqCst));
    let mut r = raw(nr::RECV, ep, 0, [0; 4], reply);
    for n in 0..2usize {
        FAULTS.fetch_add(1, SeqCst);
        let rip = buffer_word(buffer, fault::W_RIP);
        KIND[n].store(r.rsi >> 12, SeqCst);
        RIP[n].store(rip, SeqCst);
        let (label, words, w0) = match PLAN.load(SeqCst) {
            PLAN_RESUME_AT => (fault::RESUME_AT, 1, rip + 2),
            PLAN_SYSCALL_RESULT => (fault::RESUME_SYSCALL_RESULT, 1, 700 + n as u64),
            PLAN_NONCANONICAL => (fault::RESUME_AT, 1, 0x0000_8000_0000_0000),
            // 18 words: the general path's RESUME_WITH_REGS, registers
            // as they were but RIP past the `ud2`; needs the buffer.
            _ => (fault::RESUME_WITH_REGS, 18, 0),
        };
        if words == 18 {
            // Words 4..18 go through the buffer, as they arrived: only RIP
            // (word 15) changes; words 0..4 are the registers received.
            let at = (buffer + (fault::W_RIP - REGISTER_WORDS) as u64 * 8) as *mut u64;
            // SAFETY: this thread's own IPC buffer, as above.
            unsafe { at.write_volatile(rip + 2) };
        }
        let mr = if words == 18 { r.mr } else { [w0, 0, 0, 0] };
        if n == 0 {
            r = raw(nr::REPLY_RECV, ep, info(label, words), mr, reply);
            ANSWER_ERR[n].store(r.rax, SeqCst);
            if r.rax != 0 {
                // Refused: nothing more will come.
                break;
            }
        } else {
            let a = raw(nr::REPLY, reply, info(label, words), mr, 0);
            ANSWER_ERR[n].store(a.rax, SeqCst);
        }
    }
    thread_exit()
}

/// Two `ud2`s, recording after each; then exits.
extern "C" fn ud2_twice(_: u64, _: u64) -> ! {
    // SAFETY: `ud2` raises #UD; the handler resumes after it.
    unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
    SEEN[0].store(1, SeqCst);
    // SAFETY: as above.
    unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
    SEEN[1].store(1, SeqCst);
    thread_exit()
}

/// In syscall-fault mode: two `syscall`s, recording RAX and RCX after
/// each; a third is never answered.
extern "C" fn syscalls(_: u64, _: u64) -> ! {
    for seen in SEEN.iter().take(2) {
        let (rax, rcx): (u64, u64);
        // SAFETY: in syscall-fault mode the `syscall` is a fault; the
        // handler sets RAX and resumes after the instruction.
        unsafe {
            core::arch::asm!("syscall", inlateout("rax") 39u64 => rax, lateout("rcx") rcx,
                lateout("r11") _, options(nostack));
        }
        seen.store(rax, SeqCst);
        SEEN[3].store(rcx, SeqCst);
    }
    loop {
        // SAFETY: as above; nobody answers this one.
        unsafe {
            core::arch::asm!("syscall", inlateout("rax") 60u64 => _, lateout("rcx") _,
                lateout("r11") _, options(nostack));
        }
    }
}

/// Set up the handler (above the faulter) and the faulter, run them.
fn run(
    c: &mut Ctx,
    plan: u64,
    entry: extern "C" fn(u64, u64) -> !,
    syscall_faults: bool,
) -> Result<(), Error> {
    reset();
    PLAN.store(plan, SeqCst);
    let ep = c.endpoint()?;
    EP.store(ep, SeqCst);
    REPLY.store(c.reply()?, SeqCst);
    c.spawn("handler", handler, 0, PRIO + 10)?;
    let t = c.configured_thread("faulter", PRIO, ep)?;
    if syscall_faults {
        c.ipc.tcb_set_syscall_faults(t.tcb, true)?;
    }
    c.start(t, entry, 0)?;
    settle(c)
}

fn resume_at(c: &mut Ctx) -> TestResult {
    run(c, PLAN_RESUME_AT, ud2_twice, false)?;
    check_eq!(FAULTS.load(SeqCst), 2);
    for n in 0..2 {
        check_eq!(KIND[n].load(SeqCst), Kind::Exception as u64);
        check_eq!(ANSWER_ERR[n].load(SeqCst), 0);
        check!(SEEN[n].load(SeqCst) == 1, "not resumed after ud2 {n}");
    }
    check!(
        RIP[1].load(SeqCst) > RIP[0].load(SeqCst),
        "the second fault is the second ud2"
    );
    Ok(())
}

fn syscall_result(c: &mut Ctx) -> TestResult {
    run(c, PLAN_SYSCALL_RESULT, syscalls, true)?;
    // Two answered, the third taken and never answered (it stays a fault
    // the handler thread took with it).
    check_eq!(FAULTS.load(SeqCst), 2);
    check_eq!(KIND[0].load(SeqCst), Kind::Syscall as u64);
    check_eq!((SEEN[0].load(SeqCst), SEEN[1].load(SeqCst)), (700, 701));
    check_eq!(ANSWER_ERR[1].load(SeqCst), 0);
    // RCX holds the return address, as after any `syscall`: the RIP the
    // second fault reported.
    check_eq!(SEEN[3].load(SeqCst), RIP[1].load(SeqCst));
    Ok(())
}

fn noncanonical(c: &mut Ctx) -> TestResult {
    run(c, PLAN_NONCANONICAL, ud2_twice, false)?;
    check_eq!(FAULTS.load(SeqCst), 1);
    check_eq!(
        Error::from_rax(ANSWER_ERR[0].load(SeqCst)),
        Err(Error::InvalidAddress)
    );
    check!(
        SEEN[0].load(SeqCst) == 0,
        "the thread ran on after a refused reply"
    );
    Ok(())
}

fn long_reply(c: &mut Ctx) -> TestResult {
    run(c, PLAN_LONG_REPLY, ud2_twice, false)?;
    check_eq!(FAULTS.load(SeqCst), 2);
    for n in 0..2 {
        check_eq!(ANSWER_ERR[n].load(SeqCst), 0);
        check!(SEEN[n].load(SeqCst) == 1, "not resumed after ud2 {n}");
    }
    Ok(())
}
