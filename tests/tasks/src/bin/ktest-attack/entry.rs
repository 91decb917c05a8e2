//! The `syscall` entry and its shortest ways out, with hostile user state:
//! the entry stores the registers by offset from TSS.RSP0 and never uses
//! the user's stack, so a stack pointer into the kernel's half, a
//! non-canonical one or one near zero must change nothing; every register
//! but the result and the two `syscall` clobbers (RCX, R11) comes back as
//! it was, through the zero-byte `DebugWrite` shortcut, its refusals, an
//! invocation refused at its lookup and a lone `Yield`; the direction flag
//! the thread set stays set. A zero-byte `DebugWrite` checks its pointer
//! exactly as a longer one does. And the FS/GS base instructions, which
//! would change a base behind the kernel's back, fault in user mode.

use crate::common::{
    AT, AT2, AT3, DONE, PRIO, V0, expect, get, handler, next_fault, reset, resume_regs, set,
    settle, write,
};
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use septum_test_tasks::ktest::{Ctx, Test, TestResult};
use septum_test_tasks::{check, check_eq, fail};
use septum_user::abi::{Error, fault, syscall as nr};
use septum_user::syscall::{raw, thread_exit};

pub const TESTS: &[Test] = &[
    Test {
        name: "attack_null_call_keeps_registers_under_a_hostile_stack",
        run: registers,
    },
    Test {
        name: "attack_null_call_checks_its_pointer",
        run: pointers,
    },
    Test {
        name: "attack_fsgsbase_instructions_fault_in_user_mode",
        run: fsgsbase,
    },
];

/// The call to make: number, RDI, RSI, and the stack pointer to make it
/// with (0: the thread's own).
static ARGS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
/// RSP, RBX and RBP of the compiled code, kept across the probe.
static SAVED: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];
/// What came back: RAX, RBX, RDX, RSI, RDI, RBP, R8, R9, R10, R12, R13,
/// R14, R15, RSP, RFLAGS.
static OUT: [AtomicU64; 15] = [const { AtomicU64::new(0) }; 15];

const NAMES: [&str; 15] = [
    "rax", "rbx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r12", "r13", "r14", "r15", "rsp",
    "rflags",
];
/// The patterns loaded into the registers that are not arguments.
const RBX: u64 = 0xb0b0_1111_0000_b0b0;
const RDX: u64 = 0xd0d0_2222_0000_d0d0;
const RBP: u64 = 0xbe0b_3333_0000_be0b;
const R8: u64 = 0x0808_4444_0000_0808;
const R9: u64 = 0x0909_5555_0000_0909;
const R10: u64 = 0x1010_6666_0000_1010;
const R12: u64 = 0x1212_7777_0000_1212;
const R13: u64 = 0x1313_8888_0000_1313;
const R14: u64 = 0x1414_9999_0000_1414;
const R15: u64 = 0x1515_aaaa_0000_1515;
const DF: u64 = 1 << 10;

/// Make the call `ARGS` describes with patterns in every other register,
/// the direction flag set and the stack pointer `ARGS[3]`; store what came
/// back in `OUT`.
fn probe() {
    // SAFETY: the stack pointer, RBX and RBP are saved in statics (reached
    // RIP-relative, never through the stack) before they are changed and
    // restored from them before anything uses the stack again; DF is
    // cleared before the compiled code runs; every other register the
    // block changes is declared. The kernel reads no user memory for
    // these calls.
    unsafe {
        core::arch::asm!(
            "mov qword ptr [rip + {saved}], rsp",
            "mov qword ptr [rip + {saved} + 8], rbx",
            "mov qword ptr [rip + {saved} + 16], rbp",
            "mov rbx, {rbx}",
            "mov rbp, {rbp}",
            "mov rdx, {rdx}",
            "mov r8, {r8}",
            "mov r9, {r9}",
            "mov r10, {r10}",
            "mov r12, {r12}",
            "mov r13, {r13}",
            "mov r14, {r14}",
            "mov r15, {r15}",
            "mov rax, qword ptr [rip + {args}]",
            "mov rdi, qword ptr [rip + {args} + 8]",
            "mov rsi, qword ptr [rip + {args} + 16]",
            "cmp qword ptr [rip + {args} + 24], 0",
            "je 2f",
            "mov rsp, qword ptr [rip + {args} + 24]",
            "2:",
            "std",
            "syscall",
            "mov qword ptr [rip + {out}], rax",
            "mov qword ptr [rip + {out} + 8], rbx",
            "mov qword ptr [rip + {out} + 16], rdx",
            "mov qword ptr [rip + {out} + 24], rsi",
            "mov qword ptr [rip + {out} + 32], rdi",
            "mov qword ptr [rip + {out} + 40], rbp",
            "mov qword ptr [rip + {out} + 48], r8",
            "mov qword ptr [rip + {out} + 56], r9",
            "mov qword ptr [rip + {out} + 64], r10",
            "mov qword ptr [rip + {out} + 72], r12",
            "mov qword ptr [rip + {out} + 80], r13",
            "mov qword ptr [rip + {out} + 88], r14",
            "mov qword ptr [rip + {out} + 96], r15",
            "mov qword ptr [rip + {out} + 104], rsp",
            "mov rsp, qword ptr [rip + {saved}]",
            "mov rbx, qword ptr [rip + {saved} + 8]",
            "mov rbp, qword ptr [rip + {saved} + 16]",
            "pushfq",
            "pop rax",
            "cld",
            "mov qword ptr [rip + {out} + 112], rax",
            saved = sym SAVED,
            args = sym ARGS,
            out = sym OUT,
            rbx = const RBX,
            rbp = const RBP,
            rdx = const RDX,
            r8 = const R8,
            r9 = const R9,
            r10 = const R10,
            r12 = const R12,
            r13 = const R13,
            r14 = const R14,
            r15 = const R15,
            out("rax") _, out("rcx") _, out("rdx") _, out("rsi") _, out("rdi") _,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _, out("r12") _,
            out("r13") _, out("r14") _, out("r15") _,
        );
    }
}

/// Make the call and check every register: RAX must be `rax`, the rest as
/// they went in (RDI and RSI are the arguments), the stack pointer the one
/// the call was made with, DF still set.
fn check_call(what: &str, number: u64, rdi: u64, rsi: u64, rsp: u64, rax: u64) -> TestResult {
    for (a, v) in ARGS.iter().zip([number, rdi, rsi, rsp]) {
        a.store(v, SeqCst);
    }
    probe();
    let out: [u64; 15] = core::array::from_fn(|i| OUT[i].load(SeqCst));
    let want_rsp = if rsp == 0 { SAVED[0].load(SeqCst) } else { rsp };
    let want = [
        rax, RBX, RDX, rsi, rdi, RBP, R8, R9, R10, R12, R13, R14, R15, want_rsp,
    ];
    if let Some(i) = (0..want.len()).find(|&i| out[i] != want[i]) {
        fail!(
            "{what} with rsp {rsp:#x}: {} = {:#x}, expected {:#x}",
            NAMES[i],
            out[i],
            want[i]
        );
    }
    check!(
        out[14] & DF != 0,
        "{what} with rsp {rsp:#x}: the direction flag came back clear (rflags {:#x})",
        out[14]
    );
    Ok(())
}

fn registers(c: &mut Ctx) -> TestResult {
    let empty = c.slot();
    let bad_ptr = Error::InvalidAddress.to_rax();
    let hostile = [
        0,
        8,
        0x7fff_ffff_fff8,
        0x8000_0000_0000_0000,
        0xffff_8080_0000_0000,
        0xffff_87ff_ffff_fff0,
        u64::MAX,
    ];
    for rsp in hostile {
        check_call("zero-byte DebugWrite", nr::DEBUG_WRITE, 0x1000, 0, rsp, 0)?;
        check_call(
            "zero-byte DebugWrite of a kernel address",
            nr::DEBUG_WRITE,
            0xffff_8080_0000_0000,
            0,
            rsp,
            bad_ptr,
        )?;
        check_call(
            "Call on an empty slot",
            nr::CALL,
            empty,
            0,
            rsp,
            Error::InvalidCapability.to_rax(),
        )?;
        check_call("Yield with nobody to yield to", nr::YIELD, 0, 0, rsp, 0)?;
    }
    Ok(())
}

fn pointers(_c: &mut Ctx) -> TestResult {
    let bad = Err(Error::InvalidAddress);
    let cases: [(u64, Result<u64, Error>); 10] = [
        (0, Ok(0)),
        (1, Ok(0)),
        (0x7fff_ffff_f000, Ok(0)),
        (0x7fff_ffff_ffff, Ok(0)),
        (0x8000_0000_0000, bad),
        (0x8000_0000_0000_0000, bad),
        (0xffff_7fff_ffff_ffff, bad),
        (0xffff_8080_0000_0000, bad),
        (0xffff_87ff_ffff_ffff, bad),
        (0xffff_8800_0000_0000, Ok(0)),
    ];
    for (ptr, want) in cases {
        let r = raw(nr::DEBUG_WRITE, ptr, 0, [0; 4], 0);
        check!(
            Error::from_rax(r.rax) == want,
            "zero-byte DebugWrite at {ptr:#x}: {:?}, expected {want:?}",
            Error::from_rax(r.rax)
        );
        // A one-byte write is refused wherever the empty one is (and
        // where nothing is mapped).
        if want.is_err() {
            let r = raw(nr::DEBUG_WRITE, ptr, 1, [0; 4], 0);
            check_eq!(Error::from_rax(r.rax), bad);
        }
    }
    Ok(())
}

/// Words the FS/GS prober reads through FS.
const BASE_WORD: u64 = 0xba5e_0000_f5f5_0001;
const OTHER_WORD: u64 = 0xba5e_0000_f5f5_0002;

/// Tries `wrfsbase` with `other` (label 2), then `rdfsbase` (label 3),
/// then reads FS:0 into V0.
extern "C" fn fsgs_prober(other: u64, _buffer: u64) -> ! {
    let v: u64;
    // SAFETY: each instruction under test either faults (the root resumes
    // the thread at the next label) or changes only this thread's FS base
    // and RCX; FS:0 is a page the root mapped. Every register written is
    // declared.
    unsafe {
        marked_asm!([
            "2:", "wrfsbase {o}",
            "3:", "rdfsbase rcx",
            "4:", "mov rax, qword ptr fs:[0]"
        ] o = in(reg) other, out("rcx") _, out("rax") v);
    }
    set(V0, v);
    set(DONE, 1);
    thread_exit()
}

fn fsgsbase(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let (_, base) = c.mapped_frame()?;
    let (_, other) = c.mapped_frame()?;
    write(base, BASE_WORD);
    write(other, OTHER_WORD);
    let t = c.configured_thread("ka-fsgsbase", PRIO, h.ep)?;
    c.ipc.tcb_set_tls(t.tcb, base, 0)?;
    c.start(t, fsgs_prober, other)?;
    for (what, at, next) in [("wrfsbase", AT, AT2), ("rdfsbase", AT2, AT3)] {
        let f = next_fault(c, &h)?;
        expect(&f, fault::Kind::Exception, 6)?;
        check!(
            f.rip() == get(at),
            "{what}: #UD at {:#x}, expected at {:#x}",
            f.rip(),
            get(at)
        );
        let mut regs = f.regs();
        regs[fault::W_RIP] = get(next);
        resume_regs(c, &h, &regs)?;
    }
    settle(c)?;
    check_eq!(get(DONE), 1);
    check!(
        get(V0) == BASE_WORD,
        "after wrfsbase, FS:0 reads {:#x} (the base the TCB set: {BASE_WORD:#x})",
        get(V0)
    );
    Ok(())
}
