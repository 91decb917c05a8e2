//! Every way back to user mode, with hostile register values: fault
//! replies and TCB_WRITE_REGISTERS with RFLAGS all ones (the thread must
//! run with IOPL 0 and NT, VM, RF clear), a non-canonical stack pointer
//! (set by a reply, a register write, or the thread itself before a
//! system call), an instruction pointer in the kernel's half, non-canonical
//! instruction pointers and segment bases (refused), and system calls that
//! are preempted and restarted.

use crate::common::{
    DONE, PRIO, UNSET, V0, V1, V2, V3, V4, V5, bare_thread, expect, flags, get, handler,
    next_fault, no_fault, reset, resume_regs, set, settle, start_at, word_ptr,
};
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use septum_test_tasks::ktest::{CNODE, Ctx, DEPTH, SELF_VSPACE, Test, TestResult, rights, ty};
use septum_test_tasks::{check, check_eq, fail};
use septum_user::abi::Error;
use septum_user::abi::fault::{self, Kind};
use septum_user::abi::invocation as inv;
use septum_user::abi::layout::KERNEL_SPACE_START;
use septum_user::abi::syscall as nr;
use septum_user::syscall::{info, thread_exit, yield_now};

pub const TESTS: &[Test] = &[
    Test {
        name: "attack_rflags_all_ones_via_fault_reply",
        run: rflags_reply,
    },
    Test {
        name: "attack_rflags_all_ones_via_write_registers",
        run: rflags_write,
    },
    Test {
        name: "attack_noncanonical_rsp_faults_to_handler",
        run: bad_rsp,
    },
    Test {
        name: "attack_rip_in_kernel_half_faults_to_handler",
        run: kernel_rip,
    },
    Test {
        name: "attack_noncanonical_rip_and_bases_refused",
        run: refused,
    },
    Test {
        name: "attack_restarted_call_keeps_arguments_and_registers",
        run: restart,
    },
];

/// `ud2` at +0, `in al, dx` at +2; from +3 stores RFLAGS at `[rbx]`,
/// clears the flags and exits.
#[unsafe(naked)]
unsafe extern "C" fn iopl_probe() -> ! {
    core::arch::naked_asm!(
        "ud2",
        "in al, dx",
        "pushfq",
        "pop rax",
        "mov qword ptr [rbx], rax",
        "push 0x202",
        "popfq",
        "mov eax, {exit}",
        "syscall",
        "ud2",
        exit = const nr::THREAD_EXIT,
    )
}

fn addr_of(f: unsafe extern "C" fn() -> !) -> u64 {
    f as usize as u64
}

/// A thread of the root's spaces (no IPC buffer) with a stack of its own.
fn probe_thread(c: &mut Ctx, name: &str, fault_ep: u64) -> Result<(u64, u64), Error> {
    let t = bare_thread(c, name, SELF_VSPACE, fault_ep)?;
    let (_, stack) = c.mapped_frame()?;
    Ok((t, stack + 4096 - 16))
}

/// The thread was resumed at the `in` with RFLAGS all ones. It must fault
/// there with #GP (IOPL 0), carrying no IOPL, NT or VM; resumed after the
/// `in` (TF cleared), it must find IOPL and NT clear in its RFLAGS.
fn iopl_tail(c: &mut Ctx, h: &crate::common::Handler, how: &str) -> TestResult {
    let probe = addr_of(iopl_probe);
    let f = next_fault(c, h)?;
    if f.is(Kind::Exception, 1) {
        fail!(
            "RFLAGS all ones via {}: `in` ran (IOPL kept), then TF trapped: rflags {:#x}",
            how,
            f.rflags()
        );
    }
    expect(&f, Kind::Exception, 13)?;
    check_eq!(f.rip(), probe + 2);
    let fl = f.rflags();
    check!(
        fl & (flags::IOPL | flags::NT | flags::VM) == 0 && fl & flags::IF != 0,
        "RFLAGS all ones via {} ran as {:#x} (IOPL, NT or VM kept, or IF clear)",
        how,
        fl
    );
    septum_user::println!("ktest: RFLAGS all ones via {} ran as {:#x}", how, fl);
    let mut r = f.regs();
    r[fault::W_RIP] = probe + 3;
    r[fault::W_RFLAGS] = fl & !flags::TF;
    resume_regs(c, h, &r)?;
    no_fault(c, h)?;
    let seen = get(V0);
    check!(
        seen != UNSET && seen & (flags::IOPL | flags::NT) == 0,
        "the thread saw RFLAGS {:#x}",
        seen
    );
    Ok(())
}

fn rflags_reply(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let (t, stack) = probe_thread(c, "ka-rflags-reply", h.ep)?;
    let probe = addr_of(iopl_probe);
    start_at(
        c,
        t,
        probe,
        &[
            (fault::W_RBX, word_ptr(V0) as u64),
            (fault::W_RDX, 0x80),
            (fault::W_RSP, stack),
        ],
    )?;
    let f = next_fault(c, &h)?;
    expect(&f, Kind::Exception, 6)?;
    let mut r = f.regs();
    r[fault::W_RIP] = probe + 2;
    r[fault::W_RFLAGS] = u64::MAX;
    resume_regs(c, &h, &r)?;
    iopl_tail(c, &h, "a fault reply")
}

fn rflags_write(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let (t, stack) = probe_thread(c, "ka-rflags-write", h.ep)?;
    let mut regs = [0u64; 18];
    regs[fault::W_RBX] = word_ptr(V0) as u64;
    regs[fault::W_RDX] = 0x80;
    regs[fault::W_RSP] = stack;
    regs[fault::W_RIP] = addr_of(iopl_probe) + 2;
    regs[fault::W_RFLAGS] = u64::MAX;
    c.ipc.tcb_write_registers(t, &regs)?;
    c.ipc.tcb_resume(t)?;
    iopl_tail(c, &h, "TCB_WRITE_REGISTERS")
}

/// `ud2` at +0; from +2 pushes (the first use of the stack), pops,
/// stores 1 at `[rbx]` and exits.
#[unsafe(naked)]
unsafe extern "C" fn push_probe() -> ! {
    core::arch::naked_asm!(
        "ud2",
        "push rax",
        "pop rax",
        "mov qword ptr [rbx], 1",
        "mov eax, {exit}",
        "syscall",
        "ud2",
        exit = const nr::THREAD_EXIT,
    )
}

/// Loads its stack pointer from r12, yields, then pushes; from there as
/// `push_probe`.
#[unsafe(naked)]
unsafe extern "C" fn own_rsp_probe() -> ! {
    core::arch::naked_asm!(
        "mov rsp, r12",
        "mov eax, {yield_}",
        "syscall",
        "push rax",
        "pop rax",
        "mov qword ptr [rbx], 1",
        "mov eax, {exit}",
        "syscall",
        "ud2",
        yield_ = const nr::YIELD,
        exit = const nr::THREAD_EXIT,
    )
}

/// Take the fault of a thread whose stack pointer is `bad`: a stack fault
/// (or #GP) with that RSP; resumed with a good one, the push succeeds.
fn bad_rsp_tail(
    c: &mut Ctx,
    h: &crate::common::Handler,
    bad: u64,
    good: u64,
    how: &str,
) -> TestResult {
    let f = next_fault(c, h)?;
    check!(
        f.is(Kind::Exception, 12) || f.is(Kind::Exception, 13),
        "RSP {:#x} via {}: {}",
        bad,
        how,
        f
    );
    check_eq!(f.w[fault::W_RSP], bad);
    let mut r = f.regs();
    r[fault::W_RSP] = good;
    resume_regs(c, h, &r)?;
    no_fault(c, h)?;
    check!(
        get(V0) == 1,
        "RSP {:#x} via {}: the thread did not finish",
        bad,
        how
    );
    Ok(())
}

fn bad_rsp(c: &mut Ctx) -> TestResult {
    let h = handler(c)?;
    let probe = addr_of(push_probe);
    // The push writes at RSP - 8: each of these leaves that non-canonical.
    for bad in [
        0x8000_0000_0000_0000u64,
        0x0000_8000_0000_0008,
        0xdead_beef_0000_0000,
    ] {
        // Through TCB_WRITE_REGISTERS.
        reset();
        let (t, stack) = probe_thread(c, "ka-rsp-write", h.ep)?;
        start_at(
            c,
            t,
            probe + 2,
            &[(fault::W_RBX, word_ptr(V0) as u64), (fault::W_RSP, bad)],
        )?;
        bad_rsp_tail(c, &h, bad, stack, "TCB_WRITE_REGISTERS")?;
        // Through a fault reply.
        reset();
        let (t, stack) = probe_thread(c, "ka-rsp-reply", h.ep)?;
        start_at(
            c,
            t,
            probe,
            &[(fault::W_RBX, word_ptr(V0) as u64), (fault::W_RSP, stack)],
        )?;
        let f = next_fault(c, &h)?;
        expect(&f, Kind::Exception, 6)?;
        let mut r = f.regs();
        r[fault::W_RIP] = probe + 2;
        r[fault::W_RSP] = bad;
        resume_regs(c, &h, &r)?;
        bad_rsp_tail(c, &h, bad, stack, "a fault reply")?;
        // Set by the thread itself before a system call.
        reset();
        let (t, stack) = probe_thread(c, "ka-rsp-own", h.ep)?;
        start_at(
            c,
            t,
            addr_of(own_rsp_probe),
            &[
                (fault::W_RBX, word_ptr(V0) as u64),
                (fault::W_R12, bad),
                (fault::W_RSP, stack),
            ],
        )?;
        bad_rsp_tail(c, &h, bad, stack, "the thread itself")?;
    }
    // A canonical stack pointer into the kernel's half: the push is an
    // ordinary user page fault on a supervisor page.
    reset();
    let kernel_stack = 0xffff_8100_0000_1000u64;
    let (t, stack) = probe_thread(c, "ka-rsp-kernel", h.ep)?;
    start_at(
        c,
        t,
        probe + 2,
        &[
            (fault::W_RBX, word_ptr(V0) as u64),
            (fault::W_RSP, kernel_stack),
        ],
    )?;
    let f = next_fault(c, &h)?;
    expect(&f, Kind::PageFault, 14)?;
    check_eq!(f.addr(), kernel_stack - 8);
    check_eq!(
        f.w[fault::W_ERROR],
        crate::common::pf::PRESENT | crate::common::pf::WRITE | crate::common::pf::USER
    );
    let mut r = f.regs();
    r[fault::W_RSP] = stack;
    resume_regs(c, &h, &r)?;
    no_fault(c, &h)?;
    check_eq!(get(V0), 1);
    Ok(())
}

/// Stores 1 at `[rbx]` and exits.
#[unsafe(naked)]
unsafe extern "C" fn mark_rbx_exit() -> ! {
    core::arch::naked_asm!(
        "mov qword ptr [rbx], 1",
        "mov eax, {exit}",
        "syscall",
        "ud2",
        exit = const nr::THREAD_EXIT,
    )
}

/// RIP set to addresses in the kernel's half (its image, the direct map,
/// the local APIC page, the first and last page of its slots) and just
/// outside them: each is an ordinary user page fault on the fetch, named
/// in the message; the kernel carries on and the thread resumes.
fn kernel_rip(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let (t, stack) = probe_thread(c, "ka-kernel-rip", h.ep)?;
    let targets = [
        KERNEL_SPACE_START + 0x10_0000,
        KERNEL_SPACE_START,
        0xffff_8100_0000_0000,
        0xffff_8500_0000_0000,
        septum_user::abi::layout::KERNEL_SPACE_END - 0x1000,
        0xffff_8000_0000_0000,
    ];
    start_at(
        c,
        t,
        targets[0],
        &[(fault::W_RBX, word_ptr(V0) as u64), (fault::W_RSP, stack)],
    )?;
    for (i, &rip) in targets.iter().enumerate() {
        let f = next_fault(c, &h)?;
        expect(&f, Kind::PageFault, 14)?;
        check!(
            f.addr() == rip && f.rip() == rip,
            "RIP {:#x}: page fault at rip {:#x}, addr {:#x}",
            rip,
            f.rip(),
            f.addr()
        );
        let e = f.w[fault::W_ERROR];
        check!(
            e & (crate::common::pf::USER | crate::common::pf::FETCH)
                == crate::common::pf::USER | crate::common::pf::FETCH,
            "RIP {:#x}: error code {:#x}",
            rip,
            e
        );
        let mut r = f.regs();
        r[fault::W_RIP] = targets
            .get(i + 1)
            .copied()
            .unwrap_or(addr_of(mark_rbx_exit));
        resume_regs(c, &h, &r)?;
    }
    no_fault(c, &h)?;
    check_eq!(get(V0), 1);
    Ok(())
}

const NONCANONICAL: [u64; 4] = [
    0x0000_8000_0000_0000,
    0x8000_0000_0000_0000,
    0xffff_7fff_ffff_ffff,
    0x0001_0000_0000_0000,
];

/// Non-canonical RIP, FS and GS bases are refused on every path that sets
/// them — fault reply (18 or 20 words), TCB_WRITE_REGISTERS, TCB_SET_TLS —
/// with InvalidAddress and nothing applied.
fn refused(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let (t, stack) = probe_thread(c, "ka-bad-rip", h.ep)?;
    let probe = addr_of(push_probe);
    start_at(
        c,
        t,
        probe,
        &[(fault::W_RBX, word_ptr(V0) as u64), (fault::W_RSP, stack)],
    )?;
    let base = |f: u64, g: u64| -> [u64; 20] {
        let mut r = [0u64; 20];
        r[fault::W_RIP] = probe + 2;
        r[fault::W_RSP] = stack;
        r[fault::W_RBX] = word_ptr(V0) as u64;
        r[fault::W_RFLAGS] = 0x202;
        r[fault::W_FS_BASE] = f;
        r[fault::W_GS_BASE] = g;
        r
    };
    let f = next_fault(c, &h)?;
    expect(&f, Kind::Exception, 6)?;
    for bad in NONCANONICAL {
        for what in ["RIP", "FS base", "GS base"] {
            let mut words = match what {
                "FS base" => base(bad, 0),
                "GS base" => base(0, bad),
                _ => base(0, 0),
            };
            if what == "RIP" {
                words[fault::W_RIP] = bad;
            }
            let n = if what == "RIP" { 18 } else { 20 };
            let got = resume_regs(c, &h, &words[..n]);
            check!(
                got == Err(Error::InvalidAddress),
                "fault reply with {} {:#x}: {:?}",
                what,
                bad,
                got
            );
            check!(
                c.ipc.tcb_write_registers(t, &words) == Err(Error::InvalidAddress),
                "TCB_WRITE_REGISTERS with {} {:#x} not refused",
                what,
                bad
            );
            let now = c.ipc.tcb_read_registers(t)?;
            check!(
                now[fault::W_RIP] == probe && now[18] == 0 && now[19] == 0,
                "after refusing {} {:#x} the thread has rip {:#x}, bases {:#x}/{:#x}",
                what,
                bad,
                now[fault::W_RIP],
                now[18],
                now[19]
            );
            // A refused reply leaves it stopped; it runs its ud2 again.
            c.ipc.tcb_resume(t)?;
            let again = next_fault(c, &h)?;
            expect(&again, Kind::Exception, 6)?;
            check_eq!(again.rip(), probe);
        }
        for (f, g) in [(bad, 0), (0, bad)] {
            check_eq!(c.ipc.tcb_set_tls(t, f, g), Err(Error::InvalidAddress));
        }
    }
    resume_regs(c, &h, &base(0, 0))?;
    no_fault(c, &h)?;
    check_eq!(get(V0), 1);
    Ok(())
}

/// What the restarted caller saves: rax, rbx, rbp, r12–r15 after its call.
static SAVED: [AtomicU64; 7] = [const { AtomicU64::new(UNSET) }; 7];
/// Where its `syscall` is.
static CALL_AT: AtomicU64 = AtomicU64::new(0);

const PAT: [u64; 6] = [
    0xb0b0_0000_0000_00bb,
    0xb0b0_0000_0000_00bd,
    0xb0b0_0000_0000_0012,
    0xb0b0_0000_0000_0013,
    0xb0b0_0000_0000_0014,
    0xb0b0_0000_0000_0015,
];

/// Revokes the capability in root slot `slot` with every callee-saved
/// register holding a pattern, and saves them all after the call.
extern "C" fn revoker(slot: u64, _buffer: u64) -> ! {
    // SAFETY: rbx and rbp cannot be operands, so they are saved on the
    // stack around the call and restored; the other registers the kernel
    // may change are declared; the stores go to statics through their
    // symbols.
    unsafe {
        core::arch::asm!(
            "push rbx",
            "push rbp",
            "mov rbx, {pb}",
            "mov rbp, {pp}",
            "lea rcx, [rip + 2f]",
            "mov qword ptr [rip + {at}], rcx",
            "2:",
            "syscall",
            "mov qword ptr [rip + {saved}], rax",
            "mov qword ptr [rip + {saved} + 8], rbx",
            "mov qword ptr [rip + {saved} + 16], rbp",
            "mov qword ptr [rip + {saved} + 24], r12",
            "mov qword ptr [rip + {saved} + 32], r13",
            "mov qword ptr [rip + {saved} + 40], r14",
            "mov qword ptr [rip + {saved} + 48], r15",
            "pop rbp",
            "pop rbx",
            pb = const PAT[0],
            pp = const PAT[1],
            at = sym CALL_AT,
            saved = sym SAVED,
            inlateout("rax") nr::CALL => _,
            inlateout("rdi") CNODE => _,
            inlateout("rsi") info(inv::CNODE_REVOKE, 2) => _,
            inlateout("rdx") slot => _,
            inlateout("r10") DEPTH => _,
            inlateout("r12") PAT[2] => _,
            inlateout("r13") PAT[3] => _,
            inlateout("r14") PAT[4] => _,
            inlateout("r15") PAT[5] => _,
            lateout("rcx") _,
            lateout("r11") _,
            lateout("r8") _,
            lateout("r9") _,
        );
    }
    set(DONE, 1);
    thread_exit()
}

/// Runs whenever the revoker is preempted: counts (V1); the first time it
/// finds the revoker stopped on its `syscall`, it suspends it, checks the
/// call's arguments are all still in place (V2: 1 if so, 2 if not; V3:
/// the rip it found), and resumes it.
extern "C" fn watcher(revoker: u64, buffer: u64) -> ! {
    let mut ipc = septum_test_tasks::ktest::thread_ipc(buffer);
    set(V1, 0);
    while get(DONE) != 1 {
        set(V1, get(V1) + 1);
        if get(V2) == UNSET && ipc.tcb_suspend(revoker).is_ok() {
            if let Ok(r) = ipc.tcb_read_registers(revoker) {
                set(V3, r[fault::W_RIP]);
                if r[fault::W_RIP] == CALL_AT.load(SeqCst) {
                    let intact = r[fault::W_RAX] == nr::CALL
                        && r[fault::W_RDI] == CNODE
                        && r[fault::W_RSI] == info(inv::CNODE_REVOKE, 2)
                        && r[fault::W_RDX] == get(V4)
                        && r[fault::W_R10] == DEPTH
                        && r[fault::W_R12] == PAT[2]
                        && r[fault::W_R15] == PAT[5];
                    set(V2, if intact { 1 } else { 2 });
                    set(V5, r[fault::W_RAX]);
                }
            }
            let _ = ipc.tcb_resume(revoker);
        }
        yield_now();
    }
    thread_exit()
}

/// A call long enough to be preempted (revoking 16,383 copies of an
/// endpoint) is restarted from its `syscall` each time: every argument
/// register must still hold the call's arguments while it waits (checked
/// by a thread that suspends and resumes it there), it must finish with
/// the whole revoke done, and every callee-saved register must come back
/// as it was.
fn restart(c: &mut Ctx) -> TestResult {
    const RADIX: u64 = 14;
    reset();
    for s in &SAVED {
        s.store(UNSET, SeqCst);
    }
    CALL_AT.store(0, SeqCst);
    let ep = c.endpoint()?;
    let cn = c.make(ty::CNODE, RADIX)?;
    for i in 1..(1u64 << RADIX) {
        c.ipc
            .cnode_copy(cn, (i, RADIX), CNODE, (ep, DEPTH), rights::ALL)?;
    }
    set(V4, ep);
    let t = c.configured_thread("ka-revoker", PRIO, 0)?;
    let w = c.configured_thread("ka-watcher", PRIO, 0)?;
    c.start(t, revoker, ep)?;
    c.start(w, watcher, t.tcb)?;
    settle(c)?;
    check_eq!(get(DONE), 1);
    let saved: [u64; 7] = core::array::from_fn(|i| SAVED[i].load(SeqCst));
    check!(saved[0] == 0, "the revoke returned {:#x}", saved[0]);
    check!(
        saved[1..] == PAT,
        "callee-saved registers after a restarted call: {:#x}/{:#x}/{:#x}/{:#x}/{:#x}/{:#x}",
        saved[1],
        saved[2],
        saved[3],
        saved[4],
        saved[5],
        saved[6]
    );
    check!(
        get(V2) != 2,
        "a preempted call waiting to restart had rax {:#x} and lost some of its arguments",
        get(V5)
    );
    for i in (1..(1u64 << RADIX)).step_by(509).chain([(1 << RADIX) - 1]) {
        let id = c.ipc.cnode_identify(cn, (i, RADIX))?;
        check!(id.cap_type == 0, "copy {} survived the revoke", i);
    }
    check_eq!(
        c.identify(ep)?.cap_type,
        septum_test_tasks::ktest::cap::ENDPOINT
    );
    septum_user::println!(
        "ktest: the revoke was preempted {} times; restart state {}",
        get(V1),
        match get(V2) {
            1 => "seen and intact",
            UNSET => "not seen (no preemption inside the call)",
            _ => "broken",
        }
    );
    Ok(())
}
