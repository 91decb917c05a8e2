//! Segment state a thread changes behind the kernel's back. Loading a null
//! selector into FS or GS (`xor eax, eax; mov fs, ax`) zeroes the segment's
//! base on Intel CPUs and in QEMU, without the kernel hearing of it. A
//! kernel that remembers the base it last wrote and skips writing the same
//! value again then runs the next thread with that base (the same number
//! in its own TCB) on a zeroed base. And the selectors themselves are
//! registers the kernel never switches: one thread's choice must not show
//! up in another's.

use crate::common::{
    AT2, DONE, MINI_CODE, PRIO, UNSET, V0, V1, V2, V3, V4, V5, V6, V7, bare_thread, blob,
    code_frame, get, handler, mini_space, poll_fault, reset, resume_regs, set, start_at, write,
};
use septum_test_tasks::ktest::{Ctx, Test, TestResult};
use septum_test_tasks::{check, check_eq, fail};
use septum_user::abi::fault::{self, Kind};
use septum_user::abi::syscall as nr;
use septum_user::syscall::{thread_exit, wait, yield_now};

pub const TESTS: &[Test] = &[
    Test {
        name: "attack_fs_null_selector_same_base_same_space",
        run: fs_same_space,
    },
    Test {
        name: "attack_gs_null_selector_same_base_same_space",
        run: gs_same_space,
    },
    Test {
        name: "attack_fs_null_selector_same_base_other_space",
        run: fs_other_space,
    },
    Test {
        name: "attack_gs_null_selector_same_base_other_space",
        run: gs_other_space,
    },
    Test {
        name: "attack_fs_gs_null_selector_own_view_reported",
        run: own_view,
    },
    Test {
        name: "attack_segment_selectors_do_not_leak_between_spaces",
        run: selectors,
    },
];

const FS: u64 = 0;
const GS: u64 = 1;
const TLS_WORD: u64 = 0x715_0000_5eb7_0715;
/// What a read of the segment that faulted is reported as.
const FAULTED: u64 = 0xfa17_fa17_fa17_fa17;

fn seg_name(seg: u64) -> &'static str {
    if seg == FS { "FS" } else { "GS" }
}

/// Loads a null selector into FS (`seg` 0) or GS, notes it in `V0`, exits.
extern "C" fn null_selector_then_exit(seg: u64, _buffer: u64) -> ! {
    // SAFETY: loading a null selector into FS or GS is allowed in 64-bit
    // mode and only changes this thread's segment state; the compiled code
    // never uses FS or GS.
    unsafe {
        if seg == FS {
            core::arch::asm!("xor eax, eax", "mov fs, ax", out("rax") _, options(nostack));
        } else {
            core::arch::asm!("xor eax, eax", "mov gs, ax", out("rax") _, options(nostack));
        }
    }
    set(V0, 1);
    thread_exit()
}

/// Reads the word at offset 0 of FS (`seg` 0) or GS. If that faults, the
/// handler resumes at label 3 with `FAULTED` in rax.
fn read_seg(seg: u64) -> u64 {
    let v: u64;
    // SAFETY: the thread's base points at a page the root mapped readable;
    // if the kernel lost the base the read faults, and the root resumes
    // the thread after it with a value of its choice in rax. Label
    // addresses go into shared words; every register written is declared.
    unsafe {
        if seg == FS {
            marked_asm!(["2:", "mov rax, qword ptr fs:[0]", "3:", "4:"] out("rax") v);
        } else {
            marked_asm!(["2:", "mov rax, qword ptr gs:[0]", "3:", "4:"] out("rax") v);
        }
    }
    v
}

/// Reads its TLS word into `V1`; sets DONE.
extern "C" fn tls_reader(seg: u64, _buffer: u64) -> ! {
    set(V1, read_seg(seg));
    set(DONE, 1);
    thread_exit()
}

/// Threads A and B get the same base for `seg`; A runs first, loads a
/// null selector and exits; B, scheduled straight after it, must read its
/// own TLS word through the segment. `a_space`: run A in a small address
/// space of its own instead of the root's (its base need not even be
/// mapped there: it never uses it).
fn same_base(c: &mut Ctx, seg: u64, a_space: bool) -> TestResult {
    reset();
    let h = handler(c)?;
    let (_, va) = c.mapped_frame()?;
    write(va, TLS_WORD);
    let bases = |v: u64| if seg == FS { (v, 0) } else { (0, v) };
    let a = if a_space {
        let s = mini_space(c)?;
        let code = if seg == FS {
            blob(null_fs_then_exit, 32)
        } else {
            blob(null_gs_then_exit, 32)
        };
        code_frame(c, s.vspace, MINI_CODE, 0, code)?;
        let t = bare_thread(c, "ka-tls-nuller", s.vspace, h.ep)?;
        let (fs, gs) = bases(va);
        c.ipc.tcb_set_tls(t, fs, gs)?;
        start_at(c, t, MINI_CODE, &[])?;
        t
    } else {
        let t = c.configured_thread("ka-tls-nuller", PRIO, h.ep)?;
        let (fs, gs) = bases(va);
        c.ipc.tcb_set_tls(t.tcb, fs, gs)?;
        c.start(t, null_selector_then_exit, seg)?;
        t.tcb
    };
    let b = c.configured_thread("ka-tls-reader", PRIO, h.ep)?;
    let (fs, gs) = bases(va);
    c.ipc.tcb_set_tls(b.tcb, fs, gs)?;
    c.start(b, tls_reader, seg)?;
    if let Some(f) = poll_fault(c, &h)? {
        fail!(
            "a thread with the same {} base loaded a null selector; the next one's read of {}:0: {}",
            seg_name(seg),
            if seg == FS { "%fs" } else { "%gs" },
            f
        );
    }
    if !a_space {
        check_eq!(get(V0), 1);
    }
    let regs = c.ipc.tcb_read_registers(a)?;
    check_eq!(regs[18 + seg as usize], va);
    check_eq!(get(DONE), 1);
    check!(
        get(V1) == TLS_WORD,
        "the next thread read {:#x} through {}:0, expected its own {:#x}",
        get(V1),
        seg_name(seg),
        TLS_WORD
    );
    Ok(())
}

/// Loads a null FS selector and exits, touching nothing else.
#[unsafe(naked)]
unsafe extern "C" fn null_fs_then_exit() -> ! {
    core::arch::naked_asm!(
        "xor eax, eax",
        "mov fs, ax",
        "mov eax, {exit}",
        "syscall",
        "ud2",
        exit = const nr::THREAD_EXIT,
    )
}

/// Loads a null GS selector and exits, touching nothing else.
#[unsafe(naked)]
unsafe extern "C" fn null_gs_then_exit() -> ! {
    core::arch::naked_asm!(
        "xor eax, eax",
        "mov gs, ax",
        "mov eax, {exit}",
        "syscall",
        "ud2",
        exit = const nr::THREAD_EXIT,
    )
}

fn fs_same_space(c: &mut Ctx) -> TestResult {
    same_base(c, FS, false)
}

fn gs_same_space(c: &mut Ctx) -> TestResult {
    same_base(c, GS, false)
}

fn fs_other_space(c: &mut Ctx) -> TestResult {
    same_base(c, FS, true)
}

fn gs_other_space(c: &mut Ctx) -> TestResult {
    same_base(c, GS, true)
}

/// For each of FS and GS: reads its TLS word, loads a null selector,
/// yields and reads again, blocks on `ntfn` and reads again. Results in
/// V0..V2 (FS) and V4..V6 (GS); DONE at the end.
extern "C" fn own_view_thread(ntfn: u64, _buffer: u64) -> ! {
    for (seg, base) in [(FS, V0), (GS, V4)] {
        set(base, read_seg(seg));
        // SAFETY: as in `null_selector_then_exit`.
        unsafe {
            if seg == FS {
                core::arch::asm!("xor eax, eax", "mov fs, ax", out("rax") _, options(nostack));
            } else {
                core::arch::asm!("xor eax, eax", "mov gs, ax", out("rax") _, options(nostack));
            }
        }
        yield_now();
        set(base + 1, read_seg(seg));
        let _ = wait(ntfn);
        set(base + 2, read_seg(seg));
    }
    set(DONE, 1);
    thread_exit()
}

fn describe(v: u64) -> &'static str {
    match v {
        TLS_WORD => "its TLS word",
        FAULTED => "a fault (base 0)",
        UNSET => "nothing (not reached)",
        _ => "another value",
    }
}

/// The thread that loaded the null selector: what it reads afterwards is
/// not fixed by the ABI (its TCB still holds the old base, the CPU does
/// not), so this only reports it — and checks that the kernel carried the
/// thread through every fault and wake-up to its end.
fn own_view(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let n = c.notification()?;
    let (_, va) = c.mapped_frame()?;
    write(va, TLS_WORD);
    let t = c.configured_thread("ka-tls-own", PRIO, h.ep)?;
    c.ipc.tcb_set_tls(t.tcb, va, va)?;
    c.start(t, own_view_thread, n)?;
    for _ in 0..8 {
        while let Some(f) = poll_fault(c, &h)? {
            if !f.is(Kind::PageFault, 14) || f.addr() != 0 {
                fail!("unexpected {}", f);
            }
            let mut r = f.regs();
            r[fault::W_RAX] = FAULTED;
            r[fault::W_RIP] = get(AT2);
            resume_regs(c, &h, &r)?;
        }
        if get(DONE) == 1 {
            break;
        }
        septum_user::syscall::signal(n)?;
    }
    check_eq!(get(DONE), 1);
    check_eq!((get(V0), get(V4)), (TLS_WORD, TLS_WORD));
    for (seg, base) in [(FS, V0), (GS, V4)] {
        septum_user::println!(
            "ktest: after loading a null {} selector the thread read through it: after a yield {}, after blocking {}",
            seg_name(seg),
            describe(get(base + 1)),
            describe(get(base + 2))
        );
    }
    Ok(())
}

/// Loads the user data selector into DS, ES, FS and GS, then exits.
#[unsafe(naked)]
unsafe extern "C" fn load_selectors_then_exit() -> ! {
    core::arch::naked_asm!(
        "mov eax, 0x1b",
        "mov ds, ax",
        "mov es, ax",
        "mov fs, ax",
        "mov gs, ax",
        "mov eax, {exit}",
        "syscall",
        "ud2",
        exit = const nr::THREAD_EXIT,
    )
}

/// Stores its DS, ES, FS and GS selectors at `V0 + 4 * arg`; sets DONE.
extern "C" fn selector_reader(arg: u64, _buffer: u64) -> ! {
    let (ds, es, fs, gs): (u64, u64, u64, u64);
    // SAFETY: reading segment selectors changes nothing.
    unsafe {
        core::arch::asm!(
            "mov {0:e}, ds",
            "mov {1:e}, es",
            "mov {2:e}, fs",
            "mov {3:e}, gs",
            out(reg) ds,
            out(reg) es,
            out(reg) fs,
            out(reg) gs,
            options(nomem, nostack),
        );
    }
    let base = V0 + 4 * arg as usize;
    for (i, v) in [ds, es, fs, gs].into_iter().enumerate() {
        set(base + i, v & 0xffff);
    }
    if arg == 1 {
        set(DONE, 1);
    }
    thread_exit()
}

/// A thread in another address space loads its own selectors and exits;
/// a thread of the root's space that runs next must find the selectors a
/// thread starts with (those an earlier thread found), not the other
/// space's. Selectors are 16 bits of state per register that the kernel
/// never switches: left alone they are a channel between spaces.
fn selectors(c: &mut Ctx) -> TestResult {
    reset();
    let h = handler(c)?;
    let before = c.configured_thread("ka-sel-first", PRIO, h.ep)?;
    c.start(before, selector_reader, 0)?;
    let s = mini_space(c)?;
    code_frame(
        c,
        s.vspace,
        MINI_CODE,
        0,
        blob(load_selectors_then_exit, 48),
    )?;
    let t = bare_thread(c, "ka-sel-loader", s.vspace, h.ep)?;
    start_at(c, t, MINI_CODE, &[])?;
    let after = c.configured_thread("ka-sel-after", PRIO, h.ep)?;
    c.start(after, selector_reader, 1)?;
    if let Some(f) = poll_fault(c, &h)? {
        fail!("unexpected {}", f);
    }
    check_eq!(get(DONE), 1);
    let first = [get(V0), get(V1), get(V2), get(V3)];
    let later = [get(V4), get(V5), get(V6), get(V7)];
    check!(
        first == later,
        "selectors ds/es/fs/gs {:#x}/{:#x}/{:#x}/{:#x} after another space loaded 0x1b; {:#x}/{:#x}/{:#x}/{:#x} before",
        later[0],
        later[1],
        later[2],
        later[3],
        first[0],
        first[1],
        first[2],
        first[3]
    );
    Ok(())
}
