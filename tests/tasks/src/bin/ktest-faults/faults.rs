//! Faults as messages: page faults, CPU exceptions and foreign system calls
//! arrive at the thread's fault endpoint with its registers; the handler's
//! reply resumes it, possibly with new registers, which the kernel checks.

use crate::common::{
    AFTER, DONE, FAULT_AT, Handler, PRIO, V0, V1, V2, add, expect, fault_thread, flags, get,
    handler, inside, next_fault, no_fault, pf, reset, resume, resume_regs, set, settle, word_ptr,
};
use septum_test_tasks::ktest::{CNODE, Ctx, DEPTH, SELF_VSPACE, Test, TestResult, rights, ty};
use septum_test_tasks::{check, check_eq, fail};
use septum_user::abi::Error;
use septum_user::abi::fault::{self, Kind};
use septum_user::abi::syscall as nr;
use septum_user::syscall::{raw, thread_exit};

pub const TESTS: &[Test] = &[
    Test {
        name: "fault_page_fault_write_then_map_and_resume",
        run: pf_write,
    },
    Test {
        name: "fault_page_fault_read_sees_mapped_data",
        run: pf_read,
    },
    Test {
        name: "fault_write_to_read_only_mapping",
        run: ro_write,
    },
    Test {
        name: "fault_fetch_from_nx_page",
        run: nx_fetch,
    },
    Test {
        name: "fault_ud2_invalid_opcode",
        run: ud2,
    },
    Test {
        name: "fault_hlt_general_protection",
        run: hlt,
    },
    Test {
        name: "fault_cli_general_protection",
        run: cli,
    },
    Test {
        name: "fault_with_direction_flag_set_to_waiting_handler",
        run: df_waiting,
    },
    Test {
        name: "fault_with_direction_flag_set_queued",
        run: df_queued,
    },
    Test {
        name: "fault_int3_breakpoint",
        run: int3,
    },
    Test {
        name: "fault_divide_error",
        run: divide,
    },
    Test {
        name: "fault_unknown_syscall_answered_by_handler",
        run: unknown_syscall,
    },
    Test {
        name: "fault_syscall_fault_mode",
        run: syscall_mode,
    },
    Test {
        name: "fault_reply_noncanonical_rip_refused",
        run: bad_rip,
    },
    Test {
        name: "fault_reply_noncanonical_fs_gs_base_refused",
        run: bad_bases,
    },
    Test {
        name: "fault_without_endpoint_stops_thread",
        run: no_endpoint,
    },
    Test {
        name: "fault_reply_rflags_forced",
        run: rflags,
    },
    Test {
        name: "fault_reply_trap_flag_single_steps",
        run: single_step,
    },
    Test {
        name: "fault_reply_sets_fs_gs_base",
        run: reply_tls,
    },
    Test {
        name: "fault_badges_tell_threads_apart",
        run: badges,
    },
    Test {
        name: "fault_delivered_to_waiting_handler",
        run: waiting_handler,
    },
    Test {
        name: "fault_resume_without_fix_faults_again",
        run: refault,
    },
    Test {
        name: "fault_reply_object_deleted_thread_stays_stopped",
        run: reply_deleted,
    },
    Test {
        name: "fault_handler_without_reply_object",
        run: no_reply_object,
    },
];

const MAGIC: u64 = 0xfeed_f00d_5eb7_0001;

/// Writes `MAGIC` to `addr`, then sets `DONE`.
extern "C" fn pf_writer(addr: u64, _buffer: u64) -> ! {
    // SAFETY: `addr` is a scratch page of the root's address space that the
    // root maps read-write when the fault arrives; nothing else uses it.
    unsafe { (addr as *mut u64).write_volatile(MAGIC) };
    set(DONE, 1);
    thread_exit()
}

/// Reads `addr` into `V0`, then sets `DONE`.
extern "C" fn pf_reader(addr: u64, _buffer: u64) -> ! {
    // SAFETY: as in `pf_writer`; only read.
    let v = unsafe { (addr as *const u64).read_volatile() };
    set(V0, v);
    set(DONE, 1);
    thread_exit()
}

/// Reads `addr` into `V0`, then writes `MAGIC` there.
extern "C" fn pf_read_write(addr: u64, _buffer: u64) -> ! {
    // SAFETY: as in `pf_writer`.
    let v = unsafe { (addr as *const u64).read_volatile() };
    set(V0, v);
    // SAFETY: as in `pf_writer`.
    unsafe { (addr as *mut u64).write_volatile(MAGIC) };
    set(DONE, 1);
    thread_exit()
}

/// Calls the code at `addr`, then sets `DONE`.
extern "C" fn code_caller(addr: u64, _buffer: u64) -> ! {
    // SAFETY: the root places a `ret` at `addr` and makes the page
    // executable before the thread runs past the fault; the call follows
    // the C ABI, so every register it may change is declared.
    unsafe { core::arch::asm!("call {0}", in(reg) addr, clobber_abi("C")) };
    set(DONE, 1);
    thread_exit()
}

insn_thread!(ud2_thread, [], ["ud2"]);
insn_thread!(std_ud2_thread, ["std"], ["ud2"]);
insn_thread!(hlt_thread, [], ["hlt"]);
insn_thread!(cli_thread, [], ["cli"]);
insn_thread!(int3_thread, [], ["int3"]);
insn_thread!(
    div_thread,
    ["xor edx, edx", "mov eax, 7", "xor ecx, ecx"],
    ["div ecx"]
);

fn map_new(c: &mut Ctx, va: u64, attrs: u64) -> Result<u64, septum_user::abi::Error> {
    let f = c.make(ty::FRAME, 0)?;
    c.ipc.frame_map(f, SELF_VSPACE, va, attrs)?;
    Ok(f)
}

fn read(va: u64) -> u64 {
    // SAFETY: callers pass addresses the case has mapped readable in the
    // root's address space.
    unsafe { (va as *const u64).read_volatile() }
}

fn write(va: u64, v: u64) {
    // SAFETY: callers pass addresses the case has mapped writable.
    unsafe { (va as *mut u64).write_volatile(v) }
}

fn pf_write(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let va = c.page_addr();
    fault_thread(c, &h, "kf-pf-write", pf_writer, va)?;
    let f = next_fault(c, &h)?;
    expect(&f, Kind::PageFault, 14, pf::WRITE | pf::USER)?;
    check_eq!(f.w[fault::W_ADDR], va);
    check!(
        inside(f.w[fault::W_RIP], pf_writer, 0x100),
        "rip {:#x} outside pf_writer",
        f.w[fault::W_RIP]
    );
    check!(f.w[fault::W_RFLAGS] & flags::IF != 0, "IF clear in message");
    check_eq!(get(DONE), 0);
    map_new(c, va, 1)?;
    resume(c, &h)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    check_eq!(read(va), MAGIC);
    Ok(())
}

fn pf_read(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let va = c.page_addr();
    fault_thread(c, &h, "kf-pf-read", pf_reader, va)?;
    let f = next_fault(c, &h)?;
    expect(&f, Kind::PageFault, 14, pf::USER)?;
    check_eq!(f.w[fault::W_ADDR], va);
    check!(
        inside(f.w[fault::W_RIP], pf_reader, 0x100),
        "rip {:#x} outside pf_reader",
        f.w[fault::W_RIP]
    );
    map_new(c, va, 1)?;
    write(va, 0x1234_5678_9abc_def0);
    resume(c, &h)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    check_eq!(get(V0), 0x1234_5678_9abc_def0);
    Ok(())
}

fn ro_write(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let (va, alias) = (c.page_addr(), c.page_addr());
    let f = map_new(c, va, 0)?;
    let copy = c.slot();
    c.ipc
        .cnode_copy(CNODE, (copy, DEPTH), CNODE, (f, DEPTH), rights::ALL)?;
    c.ipc.frame_map(copy, SELF_VSPACE, alias, 1)?;
    write(alias, 77);
    check_eq!(read(va), 77);
    fault_thread(c, &h, "kf-ro-write", pf_read_write, va)?;
    let m = next_fault(c, &h)?;
    expect(&m, Kind::PageFault, 14, pf::PRESENT | pf::WRITE | pf::USER)?;
    check_eq!(m.w[fault::W_ADDR], va);
    check_eq!(get(V0), 77);
    check_eq!(read(alias), 77);
    // Make it writable and let the write happen.
    c.ipc.frame_unmap(f)?;
    c.ipc.frame_map(f, SELF_VSPACE, va, 1)?;
    resume(c, &h)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    check_eq!(read(alias), MAGIC);
    Ok(())
}

fn nx_fetch(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let va = c.page_addr();
    let f = map_new(c, va, 1)?;
    write(va, 0xc3); // ret
    fault_thread(c, &h, "kf-nx", code_caller, va)?;
    let m = next_fault(c, &h)?;
    expect(&m, Kind::PageFault, 14, pf::PRESENT | pf::USER | pf::FETCH)?;
    check_eq!(m.w[fault::W_ADDR], va);
    check_eq!(m.w[fault::W_RIP], va);
    check_eq!(get(DONE), 0);
    // Executable (and read-only) now: the `ret` runs.
    c.ipc.frame_unmap(f)?;
    c.ipc.frame_map(f, SELF_VSPACE, va, 2)?;
    resume(c, &h)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    Ok(())
}

/// Run `entry` (an `insn_thread`), expect one exception with `vector` and
/// `error` at the instruction (or after it, for traps), skip it, and check
/// the thread went on.
fn exception(
    c: &mut Ctx,
    name: &str,
    entry: extern "C" fn(u64, u64) -> !,
    vector: u64,
    error: u64,
    trap: bool,
) -> TestResult {
    reset();
    let h = handler(c)?;
    fault_thread(c, &h, name, entry, 0)?;
    let f = next_fault(c, &h)?;
    expect(&f, Kind::Exception, vector, error)?;
    let (at, after) = (get(FAULT_AT), get(AFTER));
    check!(at != 0 && after > at, "thread did not record its addresses");
    check_eq!(f.w[fault::W_RIP], if trap { after } else { at });
    check_eq!(f.w[fault::W_ADDR], 0);
    check_eq!(get(DONE), 0);
    let mut r = f.regs();
    r[fault::W_RIP] = after;
    resume_regs(c, &h, &r)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    Ok(())
}

fn ud2(c: &mut Ctx) -> TestResult {
    exception(c, "kf-ud2", ud2_thread, 6, 0, false)
}

fn hlt(c: &mut Ctx) -> TestResult {
    exception(c, "kf-hlt", hlt_thread, 13, 0, false)
}

fn cli(c: &mut Ctx) -> TestResult {
    exception(c, "kf-cli", cli_thread, 13, 0, false)
}

/// `int3` from user mode: the breakpoint gate is reachable from ring 3
/// (see `arch::x86_64::trap::init_idt`), so it arrives as #BP — vector 3,
/// error 0, a trap with RIP just after the one-byte instruction — never as
/// a #GP naming the gate.
fn int3(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    fault_thread(c, &h, "kf-int3", int3_thread, 0)?;
    let f = next_fault(c, &h)?;
    check_eq!(Kind::from_label(f.kind), Some(Kind::Exception));
    let (at, after) = (get(FAULT_AT), get(AFTER));
    check_eq!(after, at + 1);
    check_eq!(f.w[fault::W_VECTOR], 3);
    check_eq!(f.w[fault::W_ERROR], 0);
    check_eq!(f.w[fault::W_RIP], after);
    let mut r = f.regs();
    r[fault::W_RIP] = after;
    resume_regs(c, &h, &r)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    Ok(())
}

fn divide(c: &mut Ctx) -> TestResult {
    exception(c, "kf-div", div_thread, 0, 0, false)
}

/// Issues Linux's `exit` (60) with known r13/r14; stores the result (rax)
/// in `V0` and r14 in `V1`.
extern "C" fn foreign_syscall(_arg: u64, _buffer: u64) -> ! {
    let (rax, r14): (u64, u64);
    // SAFETY: the number is not Septum's, so the kernel turns the call
    // into a fault message and the handler chooses the registers it
    // returns with; every register that may change is declared.
    unsafe {
        core::arch::asm!(
            "lea {t}, [rip + 3f]",
            "mov qword ptr [{after}], {t}",
            "mov eax, 60",
            "syscall",
            "3:",
            after = in(reg) word_ptr(AFTER),
            t = out(reg) _,
            out("rax") rax,
            in("r13") 0x1357_9bdf_u64,
            inout("r14") 0x1111_u64 => r14,
            out("rcx") _,
            out("r11") _,
        );
    }
    set(V0, rax);
    set(V1, r14);
    set(DONE, 1);
    thread_exit()
}

fn unknown_syscall(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    fault_thread(c, &h, "kf-linux-call", foreign_syscall, 0)?;
    let f = next_fault(c, &h)?;
    check_eq!(Kind::from_label(f.kind), Some(Kind::UnknownSyscall));
    check_eq!(f.w[fault::W_RAX], 60);
    let after = get(AFTER);
    check_eq!(f.w[fault::W_RIP], after);
    // What the instruction itself put there.
    check_eq!(f.w[fault::W_RCX], after);
    check_eq!(f.w[fault::W_R11], f.w[fault::W_RFLAGS]);
    check_eq!(f.w[fault::W_R13], 0x1357_9bdf);
    check_eq!(f.w[fault::W_R14], 0x1111);
    check_eq!(get(DONE), 0);
    let mut r = f.regs();
    r[fault::W_RAX] = 1234;
    r[fault::W_R14] = 0x2222;
    resume_regs(c, &h, &r)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    check_eq!(get(V0), 1234);
    check_eq!(get(V1), 0x2222);
    Ok(())
}

/// Yields twice; stores the results in `V0` and `V2`, and `V1` = 1 between.
extern "C" fn two_yields(_arg: u64, _buffer: u64) -> ! {
    let r = raw(nr::YIELD, 0, 0, [0; 4], 0);
    set(V0, r.rax);
    set(V1, 1);
    let r = raw(nr::YIELD, 0, 0, [0; 4], 0);
    set(V2, r.rax);
    set(DONE, 1);
    thread_exit()
}

fn syscall_mode(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let t = c.configured_thread("kf-sysfault", PRIO, h.ep)?;
    c.ipc.tcb_set_syscall_faults(t.tcb, true)?;
    c.start(t, two_yields, 0)?;
    let f = next_fault(c, &h)?;
    check_eq!(Kind::from_label(f.kind), Some(Kind::Syscall));
    check_eq!(f.w[fault::W_RAX], nr::YIELD);
    check_eq!(f.w[fault::W_RCX], f.w[fault::W_RIP]);
    check!(
        inside(f.w[fault::W_RIP], two_yields, 0x100),
        "rip {:#x} outside the thread",
        f.w[fault::W_RIP]
    );
    check_eq!(get(V1), 0);
    // Answer with a result of our choosing and leave the mode: the second
    // yield is a real one.
    c.ipc.tcb_set_syscall_faults(t.tcb, false)?;
    let mut r = f.regs();
    r[fault::W_RAX] = 77;
    resume_regs(c, &h, &r)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    check_eq!(get(V0), 77);
    check_eq!(get(V2), 0);
    Ok(())
}

fn bad_rip(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let t = fault_thread(c, &h, "kf-bad-rip", ud2_thread, 0)?;
    let f = next_fault(c, &h)?;
    expect(&f, Kind::Exception, 6, 0)?;
    let mut r = f.regs();
    r[fault::W_RIP] = 0x8000_0000_0000_0000;
    r[fault::W_R15] = f.w[fault::W_R15] ^ 0x5a5a;
    let answered = resume_regs(c, &h, &r);
    settle(c)?;
    check_eq!(get(DONE), 0);
    // Nothing of the reply was applied; the thread did not run.
    let now = c.ipc.tcb_read_registers(t.tcb)?;
    check_eq!(now[fault::W_RIP], get(FAULT_AT));
    check_eq!(now[fault::W_R15], f.w[fault::W_R15]);
    no_fault(c, &h)?;
    // The handler is told: the reply was refused.
    check_eq!(answered.map(|_| ()), Err(Error::InvalidAddress));
    // It stays resumable by other means.
    let mut regs = [0; 18];
    regs.copy_from_slice(&now[..18]);
    regs[fault::W_RIP] = get(AFTER);
    c.ipc.tcb_write_registers(t.tcb, &regs)?;
    c.ipc.tcb_resume(t.tcb)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    Ok(())
}

fn bad_bases(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let t = fault_thread(c, &h, "kf-bad-base", ud2_thread, 0)?;
    for (fs, gs) in [(0x8000_0000_0000_0000, 0), (0, 0x0000_8000_0000_0000)] {
        let f = next_fault(c, &h)?;
        expect(&f, Kind::Exception, 6, 0)?;
        check_eq!(f.w[fault::W_RIP], get(FAULT_AT));
        let mut r = [0u64; 20];
        r[..18].copy_from_slice(&f.regs());
        r[fault::W_RIP] = get(AFTER);
        r[fault::W_FS_BASE] = fs;
        r[fault::W_GS_BASE] = gs;
        let answered = resume_regs(c, &h, &r);
        check_eq!(answered.map(|_| ()), Err(Error::InvalidAddress));
        settle(c)?;
        check_eq!(get(DONE), 0);
        let now = c.ipc.tcb_read_registers(t.tcb)?;
        check_eq!(now[fault::W_RIP], get(FAULT_AT));
        check_eq!((now[18], now[19]), (0, 0));
        // Run the faulting instruction again for the next round.
        c.ipc.tcb_resume(t.tcb)?;
    }
    // The third time, good bases: it goes on.
    let f = next_fault(c, &h)?;
    let mut r = [0u64; 20];
    r[..18].copy_from_slice(&f.regs());
    r[fault::W_RIP] = get(AFTER);
    resume_regs(c, &h, &r)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    Ok(())
}

/// Counts in `V0` before and after touching `addr`.
extern "C" fn count_and_touch(addr: u64, _buffer: u64) -> ! {
    add(V0, 1);
    // SAFETY: `addr` is an unmapped scratch page; the read faults.
    let _ = unsafe { (addr as *const u64).read_volatile() };
    add(V0, 1);
    thread_exit()
}

extern "C" fn bystander(_arg: u64, _buffer: u64) -> ! {
    set(V1, 1);
    thread_exit()
}

fn no_endpoint(c: &mut Ctx) -> TestResult {
    reset();
    let va = c.page_addr();
    let t = c.spawn("kf-no-handler", count_and_touch, va, PRIO)?;
    c.spawn("kf-bystander", bystander, 0, PRIO - 1)?;
    settle(c)?;
    check_eq!(get(V0), 1);
    check_eq!(get(V1), 1);
    let regs = c.ipc.tcb_read_registers(t.tcb)?;
    check!(
        inside(regs[fault::W_RIP], count_and_touch, 0x100),
        "stopped at rip {:#x}, outside the thread",
        regs[fault::W_RIP]
    );
    // Resumed without a fix, it faults again and stops again.
    c.ipc.tcb_resume(t.tcb)?;
    settle(c)?;
    check_eq!(get(V0), 1);
    Ok(())
}

/// ud2, then (resumed after it) stores its RFLAGS in `V0`.
extern "C" fn flags_thread(_arg: u64, _buffer: u64) -> ! {
    let fl: u64;
    // SAFETY: as in `insn_thread`: label addresses go into shared atomics,
    // ud2 faults and the handler resumes at label 3; pushfq/pop use the
    // thread's own stack.
    unsafe {
        marked_asm!([] ["ud2"] ["pushfq", "pop {f}"] f = out(reg) fl);
    }
    set(V0, fl);
    set(DONE, 1);
    thread_exit()
}

fn rflags(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    fault_thread(c, &h, "kf-rflags", flags_thread, 0)?;
    let f = next_fault(c, &h)?;
    expect(&f, Kind::Exception, 6, 0)?;
    let mut r = f.regs();
    r[fault::W_RIP] = get(AFTER);
    r[fault::W_RFLAGS] =
        (r[fault::W_RFLAGS] | flags::IOPL | flags::NT | flags::RF | flags::VM | flags::CF)
            & !flags::IF;
    resume_regs(c, &h, &r)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    let fl = get(V0);
    check!(fl & flags::IF != 0, "IF clear: rflags {fl:#x}");
    check!(
        fl & (flags::IOPL | flags::NT | flags::RF | flags::VM) == 0,
        "forbidden bits kept: rflags {fl:#x}"
    );
    check!(fl & flags::CF != 0, "CF (allowed) lost: rflags {fl:#x}");
    Ok(())
}

/// ud2; resumed after it, two nops.
extern "C" fn step_thread(_arg: u64, _buffer: u64) -> ! {
    // SAFETY: as in `flags_thread`.
    unsafe {
        marked_asm!([] ["ud2"] ["nop", "nop"]);
    }
    set(DONE, 1);
    thread_exit()
}

fn single_step(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    fault_thread(c, &h, "kf-step", step_thread, 0)?;
    let f = next_fault(c, &h)?;
    expect(&f, Kind::Exception, 6, 0)?;
    let mut r = f.regs();
    r[fault::W_RIP] = get(AFTER);
    r[fault::W_RFLAGS] |= flags::TF;
    resume_regs(c, &h, &r)?;
    // One instruction (the first nop), then a debug trap.
    let d = next_fault(c, &h)?;
    expect(&d, Kind::Exception, 1, 0)?;
    check_eq!(d.w[fault::W_RIP], get(AFTER) + 1);
    check!(
        d.w[fault::W_RFLAGS] & flags::TF != 0,
        "TF not in the message"
    );
    check_eq!(get(DONE), 0);
    let mut r = d.regs();
    r[fault::W_RFLAGS] &= !flags::TF;
    resume_regs(c, &h, &r)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    Ok(())
}

/// ud2; resumed after it, reads fs:[0] into `V0` and gs:[0] into `V1`.
extern "C" fn tls_after_fault(_arg: u64, _buffer: u64) -> ! {
    let (fs, gs): (u64, u64);
    // SAFETY: as in `flags_thread`; the handler sets FS and GS bases that
    // point at a mapped page of the root's address space before the reads.
    unsafe {
        marked_asm!(
            [] ["ud2"] ["mov {fs}, qword ptr fs:[0]", "mov {gs}, qword ptr gs:[0]"]
            fs = out(reg) fs,
            gs = out(reg) gs,
        );
    }
    set(V0, fs);
    set(V1, gs);
    set(DONE, 1);
    thread_exit()
}

fn reply_tls(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let (_, va) = c.mapped_frame()?;
    write(va, 0x0f5_ba5e);
    write(va + 8, 0x065_ba5e);
    let t = fault_thread(c, &h, "kf-reply-tls", tls_after_fault, 0)?;
    let f = next_fault(c, &h)?;
    expect(&f, Kind::Exception, 6, 0)?;
    let mut r = [0u64; 20];
    r[..18].copy_from_slice(&f.regs());
    r[fault::W_RIP] = get(AFTER);
    r[fault::W_FS_BASE] = va;
    r[fault::W_GS_BASE] = va + 8;
    resume_regs(c, &h, &r)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    check_eq!(get(V0), 0x0f5_ba5e);
    check_eq!(get(V1), 0x065_ba5e);
    let regs = c.ipc.tcb_read_registers(t.tcb)?;
    check_eq!((regs[18], regs[19]), (va, va + 8));
    Ok(())
}

fn badges(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let mut threads = [(0u64, 0u64); 2];
    for (i, badge) in [0x11u64, 0x22].into_iter().enumerate() {
        let minted = c.slot();
        c.ipc.cnode_mint(
            CNODE,
            (minted, DEPTH),
            CNODE,
            (h.ep, DEPTH),
            rights::ALL,
            badge,
        )?;
        let va = c.page_addr();
        let t = c.configured_thread(
            if i == 0 { "kf-badge-a" } else { "kf-badge-b" },
            PRIO,
            minted,
        )?;
        c.start(t, pf_writer, va)?;
        threads[i] = (badge, va);
    }
    let mut seen = [false; 2];
    for _ in 0..2 {
        let f = next_fault(c, &h)?;
        expect(&f, Kind::PageFault, 14, pf::WRITE | pf::USER)?;
        let Some(i) = threads.iter().position(|&(b, _)| b == f.badge) else {
            fail!("fault with unknown badge {:#x}", f.badge);
        };
        check!(!seen[i], "badge {:#x} twice", f.badge);
        seen[i] = true;
        check_eq!(f.w[fault::W_ADDR], threads[i].1);
        map_new(c, threads[i].1, 1)?;
        resume(c, &h)?;
    }
    no_fault(c, &h)?;
    for (_, va) in threads {
        check_eq!(read(va), MAGIC);
    }
    Ok(())
}

/// A fault taken with the direction flag set (`std; ud2`). Exception entry
/// keeps the user's RFLAGS, and the kernel's own copies would run
/// backwards over its stack if it kept DF too: this used to panic the
/// kernel on the way to a waiting handler. The handler sees DF set in the
/// fault message (the thread's flags are its own) and resumes the thread.
fn df_at_fault(c: &mut Ctx, handler_waits: bool) -> TestResult {
    reset();
    let h = handler(c)?;
    fault_thread(c, &h, "kf-std-ud2", std_ud2_thread, 0)?;
    let f = if handler_waits {
        crate::common::wait_fault(c, &h, h.reply)?
    } else {
        next_fault(c, &h)?
    };
    expect(&f, Kind::Exception, 6, 0)?;
    check!(
        f.w[fault::W_RFLAGS] & (1 << 10) != 0,
        "the thread's DF was lost"
    );
    let mut r = f.regs();
    r[fault::W_RIP] = get(AFTER);
    // Back into Rust code, which needs DF clear.
    r[fault::W_RFLAGS] &= !(1 << 10);
    resume_regs(c, &h, &r)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    Ok(())
}

fn df_waiting(c: &mut Ctx) -> TestResult {
    df_at_fault(c, true)
}

fn df_queued(c: &mut Ctx) -> TestResult {
    df_at_fault(c, false)
}

fn waiting_handler(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let va = c.page_addr();
    fault_thread(c, &h, "kf-to-waiter", pf_writer, va)?;
    // The root blocks first; the fault goes straight to it.
    let f = crate::common::wait_fault(c, &h, h.reply)?;
    expect(&f, Kind::PageFault, 14, pf::WRITE | pf::USER)?;
    check_eq!(f.w[fault::W_ADDR], va);
    map_new(c, va, 1)?;
    resume(c, &h)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    check_eq!(read(va), MAGIC);
    Ok(())
}

fn refault(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let va = c.page_addr();
    fault_thread(c, &h, "kf-refault", pf_writer, va)?;
    let first = next_fault(c, &h)?;
    resume(c, &h)?;
    let second = next_fault(c, &h)?;
    check_eq!(second.kind, first.kind);
    check_eq!(second.w[fault::W_ADDR], va);
    check_eq!(second.w[fault::W_RIP], first.w[fault::W_RIP]);
    check_eq!(second.w[fault::W_ERROR], first.w[fault::W_ERROR]);
    check_eq!(second.w[fault::W_RSP], first.w[fault::W_RSP]);
    check_eq!(get(DONE), 0);
    map_new(c, va, 1)?;
    resume(c, &h)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    Ok(())
}

fn reply_deleted(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let va = c.page_addr();
    let t = fault_thread(c, &h, "kf-orphan", pf_writer, va)?;
    let f = next_fault(c, &h)?;
    c.ipc.cnode_delete(CNODE, (h.reply, DEPTH))?;
    let h2 = Handler {
        ep: h.ep,
        reply: c.reply()?,
    };
    no_fault(c, &h2)?;
    check_eq!(get(DONE), 0);
    let regs = c.ipc.tcb_read_registers(t.tcb)?;
    check_eq!(regs[fault::W_RIP], f.w[fault::W_RIP]);
    check_eq!(regs[fault::W_RAX], f.w[fault::W_RAX]);
    // Stopped, not dead: fixed and resumed, it finishes.
    map_new(c, va, 1)?;
    c.ipc.tcb_resume(t.tcb)?;
    no_fault(c, &h2)?;
    check_eq!(get(DONE), 1);
    check_eq!(read(va), MAGIC);
    Ok(())
}

fn no_reply_object(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let va = c.page_addr();
    let t = fault_thread(c, &h, "kf-no-reply", pf_writer, va)?;
    // Waiting without a reply object: the message arrives, but nobody can
    // answer it, so the thread must stay stopped as it was.
    let f = crate::common::wait_fault(c, &h, 0)?;
    expect(&f, Kind::PageFault, 14, pf::WRITE | pf::USER)?;
    check_eq!(f.w[fault::W_ADDR], va);
    no_fault(c, &h)?;
    check_eq!(get(DONE), 0);
    let regs = c.ipc.tcb_read_registers(t.tcb)?;
    check_eq!(regs[fault::W_RAX], f.w[fault::W_RAX]);
    check_eq!(regs[fault::W_RIP], f.w[fault::W_RIP]);
    map_new(c, va, 1)?;
    c.ipc.tcb_resume(t.tcb)?;
    no_fault(c, &h)?;
    check_eq!(get(DONE), 1);
    Ok(())
}
