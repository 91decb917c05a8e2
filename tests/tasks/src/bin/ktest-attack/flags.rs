//! The direction and alignment-check flags are the user's to set; the
//! kernel must never run with them (its copies would run backwards, SMAP
//! would be off) and must give them back unchanged where it restores the
//! whole context. Set before a system call that makes the kernel copy a
//! long message, before faults of three kinds, and across a preemption.

use crate::common::{
    AT2, DONE, PRIO, UNSET, V0, V1, V2, V3, expect, fault_thread, flags, get, handler, next_fault,
    no_fault, reset, resume_regs, set, settle, word_ptr,
};
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use septum_test_tasks::ktest::{Ctx, Test, TestResult, thread_ipc};
use septum_test_tasks::{check, check_eq, fail};
use septum_user::abi::fault::{self, Kind};
use septum_user::abi::invocation as inv;
use septum_user::abi::ipc::{MAX_WORDS, REGISTER_WORDS, buffer};
use septum_user::abi::syscall as nr;
use septum_user::syscall::{info, thread_exit};

pub const TESTS: &[Test] = &[
    Test {
        name: "attack_df_ac_set_across_copying_syscalls",
        run: syscalls,
    },
    Test {
        name: "attack_df_ac_set_at_faults",
        run: faults,
    },
    Test {
        name: "attack_df_ac_set_across_preemption",
        run: preemption,
    },
    Test {
        name: "attack_trap_flag_set_across_syscall",
        run: trap_flag,
    },
];

const DF_AC: u64 = flags::DF | flags::AC;

fn word(i: usize) -> u64 {
    0xdfac_0000_0000_0000 | (i as u64) << 16 | 0xd1
}

/// What the receiver got: label, length, then the words.
static RX: [AtomicU64; MAX_WORDS + 2] = [const { AtomicU64::new(UNSET) }; MAX_WORDS + 2];

extern "C" fn receiver(ep: u64, buffer: u64) -> ! {
    let mut ipc = thread_ipc(buffer);
    if let Ok(r) = ipc.recv(ep, 0) {
        RX[0].store(r.msg.label, SeqCst);
        RX[1].store(r.msg.len as u64, SeqCst);
        for (i, w) in r.msg.words().iter().enumerate() {
            RX[2 + i].store(*w, SeqCst);
        }
    }
    thread_exit()
}

/// The registers the root gives the target thread of TCB_READ_REGISTERS.
fn target_reg(i: usize) -> u64 {
    0x7e57_0000_0000_0000 | (i as u64) << 8
}

/// Sends a 68-word message on `ep` and then reads the registers of the
/// thread in `V0`, both with DF and AC set. Stores: the send's status in
/// V1, the read's in V2, RFLAGS after each in V3/`AT2`, the 20 words read
/// in `READ`.
static READ: [AtomicU64; 20] = [const { AtomicU64::new(UNSET) }; 20];

extern "C" fn df_sender(ep: u64, buf: u64) -> ! {
    for i in REGISTER_WORDS..MAX_WORDS {
        // SAFETY: `buf` is this thread's IPC buffer, a page it owns.
        unsafe {
            ((buf + 8 * (buffer::MESSAGE + i - REGISTER_WORDS) as u64) as *mut u64)
                .write_volatile(word(i))
        };
    }
    let target = get(V0);
    let (send, read, f1, f2): (u64, u64, u64, u64);
    let regs: [u64; 4];
    // SAFETY: sets DF and AC, makes two system calls (the kernel changes
    // only the registers declared), reads RFLAGS after each, and clears
    // both flags again before any compiled code runs.
    unsafe {
        let (m0, m1, m2, m3): (u64, u64, u64, u64);
        core::arch::asm!(
            "pushfq",
            "or qword ptr [rsp], {df_ac}",
            "popfq",
            "syscall",
            "mov {send}, rax",
            "pushfq",
            "pop {f1}",
            "mov eax, {call}",
            "mov rdi, {target}",
            "mov rsi, {read_info}",
            "syscall",
            "pushfq",
            "pop {f2}",
            "push 0x202",
            "popfq",
            df_ac = const DF_AC,
            call = const nr::CALL,
            read_info = const (inv::TCB_READ_REGISTERS << 12),
            target = in(reg) target,
            send = out(reg) send,
            f1 = out(reg) f1,
            f2 = out(reg) f2,
            inlateout("rax") nr::SEND => read,
            inlateout("rdi") ep => _,
            inlateout("rsi") info(0x77, MAX_WORDS) => _,
            inlateout("rdx") word(0) => m0,
            inlateout("r10") word(1) => m1,
            inlateout("r8") word(2) => m2,
            inlateout("r9") word(3) => m3,
            // Early clobbers: no input may sit in them across the first call.
            out("rcx") _,
            out("r11") _,
        );
        regs = [m0, m1, m2, m3];
    }
    set(V1, send);
    set(V2, read);
    set(V3, f1);
    set(AT2, f2);
    for (i, r) in regs.iter().enumerate() {
        READ[i].store(*r, SeqCst);
    }
    for (i, r) in READ.iter().enumerate().skip(REGISTER_WORDS) {
        // SAFETY: as above; the kernel wrote words 4.. of the reply there.
        let w = unsafe {
            ((buf + 8 * (buffer::MESSAGE + i - REGISTER_WORDS) as u64) as *const u64)
                .read_volatile()
        };
        r.store(w, SeqCst);
    }
    set(DONE, 1);
    thread_exit()
}

/// A configured, never started thread with known registers and bases.
fn target(c: &mut Ctx) -> Result<u64, septum_user::abi::Error> {
    let t = c.configured_thread("ka-regs-target", PRIO, 0)?;
    let mut regs = [0u64; 20];
    for (i, r) in regs.iter_mut().enumerate() {
        *r = target_reg(i);
    }
    regs[fault::W_RIP] = 0x1000;
    regs[fault::W_RSP] = 0x2000;
    regs[fault::W_RFLAGS] = 0x202;
    regs[18] = 0x3000;
    regs[19] = 0x4000;
    c.ipc.tcb_write_registers(t.tcb, &regs)?;
    Ok(t.tcb)
}

fn expected_target_regs() -> [u64; 20] {
    let mut regs = [0u64; 20];
    for (i, r) in regs.iter_mut().enumerate() {
        *r = target_reg(i);
    }
    regs[fault::W_RIP] = 0x1000;
    regs[fault::W_RSP] = 0x2000;
    regs[fault::W_RFLAGS] = 0x202;
    regs[18] = 0x3000;
    regs[19] = 0x4000;
    regs
}

fn syscalls(c: &mut Ctx) -> TestResult {
    reset();
    for r in RX.iter().chain(READ.iter()) {
        r.store(UNSET, SeqCst);
    }
    let ep = c.endpoint()?;
    set(V0, target(c)?);
    c.spawn("ka-df-recv", receiver, ep, PRIO + 1)?;
    c.spawn("ka-df-send", df_sender, ep, PRIO)?;
    settle(c)?;
    check_eq!(get(DONE), 1);
    check_eq!((get(V1), get(V2)), (0, 0));
    check_eq!(RX[0].load(SeqCst), 0x77);
    check_eq!(RX[1].load(SeqCst), MAX_WORDS as u64);
    for i in 0..MAX_WORDS {
        let got = RX[2 + i].load(SeqCst);
        check!(
            got == word(i),
            "word {} of a message sent with DF and AC set arrived as {:#x}",
            i,
            got
        );
    }
    let want = expected_target_regs();
    for (i, w) in want.iter().enumerate() {
        let got = READ[i].load(SeqCst);
        check!(
            got == *w,
            "word {} of TCB_READ_REGISTERS with DF and AC set: {:#x}, expected {:#x}",
            i,
            got,
            w
        );
    }
    let kept = |f: u64| {
        if f & DF_AC == DF_AC {
            "kept"
        } else {
            "not kept"
        }
    };
    septum_user::println!(
        "ktest: DF and AC after a system call: {} (send), {} (invocation)",
        kept(get(V3)),
        kept(get(AT2))
    );
    Ok(())
}

/// Three probes, each with DF and AC set: `ud2`, a read of the unmapped
/// address in `addr`, `int3`. The handler resumes each at its label 3 with
/// both flags clear. Stores RFLAGS at the end in V0.
extern "C" fn fault_probes(addr: u64, _buffer: u64) -> ! {
    // SAFETY: in all three the flags are set just before the instruction
    // under test, whose fault the root answers by resuming at label 3 with
    // DF and AC clear; label addresses go into shared words; every
    // register written is declared.
    unsafe {
        marked_asm!(["pushfq", "or qword ptr [rsp], {f}", "popfq", "2:", "ud2", "3:", "4:"] f = const DF_AC);
        marked_asm!(["pushfq", "or qword ptr [rsp], {f}", "popfq", "2:", "mov {v}, qword ptr [{a}]", "3:", "4:"]
            f = const DF_AC, a = in(reg) addr, v = out(reg) _);
        marked_asm!(["pushfq", "or qword ptr [rsp], {f}", "popfq", "2:", "int3", "3:", "4:"] f = const DF_AC);
    }
    let fl: u64;
    // SAFETY: reads RFLAGS through the stack.
    unsafe { core::arch::asm!("pushfq", "pop {0}", out(reg) fl) };
    set(V0, fl);
    set(DONE, 1);
    thread_exit()
}

fn faults(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let addr = c.page_addr();
    fault_thread(c, &h, "ka-df-faults", fault_probes, addr)?;
    for (kind, vector, what) in [
        (Kind::Exception, 6, "ud2"),
        (Kind::PageFault, 14, "read of an unmapped page"),
        (Kind::Exception, 3, "int3"),
    ] {
        let f = next_fault(c, &h)?;
        expect(&f, kind, vector)?;
        check!(
            f.rflags() & DF_AC == DF_AC,
            "{}: the thread's DF/AC are missing from the fault message (rflags {:#x})",
            what,
            f.rflags()
        );
        if kind == Kind::PageFault {
            check_eq!(f.addr(), addr);
        }
        let mut r = f.regs();
        r[fault::W_RIP] = get(crate::common::AT2);
        r[fault::W_RFLAGS] &= !DF_AC;
        resume_regs(c, &h, &r)?;
    }
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    check_eq!(get(V0) & DF_AC, 0);
    Ok(())
}

/// Sets DF and AC, spins until `V1` is written (which takes a preemption:
/// the writer has its priority), stores RFLAGS in V0, clears both.
extern "C" fn df_spinner(_arg: u64, _buffer: u64) -> ! {
    let fl: u64;
    // SAFETY: sets both flags, polls a shared word with plain loads (no
    // string instructions), reads RFLAGS and clears the flags before any
    // compiled code runs.
    unsafe {
        core::arch::asm!(
            "pushfq",
            "or qword ptr [rsp], {f}",
            "popfq",
            "2:",
            "cmp qword ptr [{w}], {unset}",
            "je 2b",
            "pushfq",
            "pop {fl}",
            "push 0x202",
            "popfq",
            f = const DF_AC,
            w = in(reg) word_ptr(V1),
            unset = in(reg) UNSET,
            fl = out(reg) fl,
        );
    }
    set(V0, fl);
    set(DONE, 1);
    thread_exit()
}

/// Runs only once the spinner was preempted: reads the target thread's
/// registers (a kernel copy into its IPC buffer), checks them (V2: the
/// number of wrong words), then writes V1.
extern "C" fn df_writer(target: u64, buffer: u64) -> ! {
    let mut ipc = thread_ipc(buffer);
    let bad = match ipc.tcb_read_registers(target) {
        Ok(r) => r
            .iter()
            .zip(expected_target_regs())
            .filter(|(a, b)| **a != *b)
            .count() as u64,
        Err(e) => 100 + e as u64,
    };
    set(V2, bad);
    set(V1, 1);
    thread_exit()
}

fn preemption(c: &mut Ctx) -> TestResult {
    reset();
    let t = target(c)?;
    c.spawn("ka-df-spin", df_spinner, 0, PRIO)?;
    c.spawn("ka-df-write", df_writer, t, PRIO)?;
    settle(c)?;
    check_eq!(get(DONE), 1);
    check_eq!(get(V2), 0);
    let fl = get(V0);
    if fl & DF_AC != DF_AC {
        fail!(
            "DF/AC set before a preemption were lost: rflags {:#x} after it",
            fl
        );
    }
    Ok(())
}

/// Sets TF itself, yields (a real system call, taken with TF set), then
/// stores the call's status at `[rbx]`, clears TF and exits.
#[unsafe(naked)]
unsafe extern "C" fn tf_probe() -> ! {
    core::arch::naked_asm!(
        "pushfq",
        "or qword ptr [rsp], {tf}",
        "popfq",
        "mov eax, {yield_}",
        "syscall",
        "nop",
        "mov qword ptr [rbx], rax",
        "push 0x202",
        "popfq",
        "mov eax, {exit}",
        "syscall",
        "ud2",
        tf = const flags::TF,
        yield_ = const nr::YIELD,
        exit = const nr::THREAD_EXIT,
    )
}

/// A `syscall` executed with the trap flag set: the kernel entry masks
/// TF, but the single-step trap the instruction owes must still come to
/// the thread's handler in user mode (never as a debug exception inside
/// the kernel), with the call done; cleared, the thread finishes.
fn trap_flag(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let code = crate::common::blob(tf_probe, 64);
    let entry = tf_probe as *const () as u64;
    let Some(at) = code.windows(2).position(|w| w == [0x0f, 0x05]) else {
        fail!("no syscall in the probe");
    };
    let after = entry + at as u64 + 2;
    let t = crate::common::bare_thread(
        c,
        "ka-tf-syscall",
        septum_test_tasks::ktest::SELF_VSPACE,
        h.ep,
    )?;
    let (_, stack) = c.mapped_frame()?;
    crate::common::start_at(
        c,
        t,
        entry,
        &[
            (fault::W_RBX, word_ptr(V0) as u64),
            (fault::W_RSP, stack + 4096 - 16),
        ],
    )?;
    let mut past = false;
    for _ in 0..8 {
        let f = next_fault(c, &h)?;
        expect(&f, Kind::Exception, 1)?;
        check!(
            f.rip() >= entry && f.rip() < entry + 64,
            "a single-step trap at rip {:#x}, outside the probe",
            f.rip()
        );
        let mut r = f.regs();
        if f.rip() >= after {
            past = true;
            check_eq!(r[fault::W_RAX], 0);
            r[fault::W_RFLAGS] &= !flags::TF;
        }
        resume_regs(c, &h, &r)?;
        if past {
            break;
        }
    }
    check!(past, "no single-step trap after the syscall");
    no_fault(c, &h)?;
    check_eq!(get(V0), 0);
    Ok(())
}
