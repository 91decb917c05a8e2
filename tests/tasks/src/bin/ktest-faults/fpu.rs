//! Each thread's FPU/SSE/AVX state and TLS bases: kept apart across
//! switches, initialised to the standard values, readable and writable
//! through the TCB (with the kernel-owned parts refused), and FS/GS bases
//! checked and visible to the thread.
//!
//! User code is built without SSE, so the compiler never touches the
//! vector registers; only the inline assembly here does, and each block
//! declares the ones it writes.

use crate::common::{DONE, PRIO, V0, V1, V2, V3, V4, get, reset, set, settle};
use septum_test_tasks::ktest::{Ctx, SELF_TCB, Test, TestResult};
use septum_test_tasks::{check, check_eq, skip};
use septum_user::abi::Error;
use septum_user::syscall::{thread_exit, wait, yield_now};

pub const TESTS: &[Test] = &[
    Test {
        name: "fpu_xmm_and_control_words_kept_apart",
        run: kept_apart,
    },
    Test {
        name: "fpu_avx_ymm_kept_apart",
        run: ymm_kept_apart,
    },
    Test {
        name: "fpu_new_thread_initial_state",
        run: initial_in_thread,
    },
    Test {
        name: "fpu_initial_state_via_tcb_read",
        run: initial_via_tcb,
    },
    Test {
        name: "fpu_tcb_write_xmm_seen_by_thread",
        run: write_xmm,
    },
    Test {
        name: "fpu_tcb_read_write_blocked_thread",
        run: blocked_thread,
    },
    Test {
        name: "fpu_tcb_read_write_own_state",
        run: own_state,
    },
    Test {
        name: "fpu_tcb_write_header_refused",
        run: header_refused,
    },
    Test {
        name: "fpu_tcb_write_mxcsr_reserved_bits_cleared",
        run: mxcsr_sanitized,
    },
    Test {
        name: "tls_noncanonical_base_refused",
        run: tls_noncanonical,
    },
    Test {
        name: "tls_fs_gs_base_visible_to_thread",
        run: tls_visible,
    },
];

/// Word offsets in the FPU area (FXSAVE layout).
const W_MXCSR: u64 = 3;
const W_XMM0: u64 = 20;
const W_XMM15: u64 = 50;
const W_HEADER: u64 = 64;

fn set_xmm0_15(lo0: u64, hi0: u64, lo15: u64) {
    // SAFETY: only vector registers change, and they are declared; the
    // compiler never keeps anything in them (no SSE in generated code).
    unsafe {
        core::arch::asm!(
            "movq xmm0, {a}",
            "movq xmm1, {b}",
            "punpcklqdq xmm0, xmm1",
            "movq xmm15, {c}",
            a = in(reg) lo0,
            b = in(reg) hi0,
            c = in(reg) lo15,
            out("xmm0") _,
            out("xmm1") _,
            out("xmm15") _,
        );
    }
}

/// (xmm0 low, xmm0 high, xmm15 low).
fn xmm0_15() -> (u64, u64, u64) {
    let (a, b, c);
    // SAFETY: reads vector registers; xmm1 is scratch and declared.
    unsafe {
        core::arch::asm!(
            "movq {a}, xmm0",
            "pshufd xmm1, xmm0, 0xee",
            "movq {b}, xmm1",
            "movq {c}, xmm15",
            a = out(reg) a,
            b = out(reg) b,
            c = out(reg) c,
            out("xmm1") _,
        );
    }
    (a, b, c)
}

/// (FCW, MXCSR).
fn control_words() -> (u64, u64) {
    let mut fcw: u16 = 0;
    let mut mxcsr: u32 = 0;
    // SAFETY: the stores go to the two locals.
    unsafe {
        core::arch::asm!(
            "fnstcw word ptr [{f}]",
            "stmxcsr dword ptr [{m}]",
            f = in(reg) &raw mut fcw,
            m = in(reg) &raw mut mxcsr,
        );
    }
    (u64::from(fcw), u64::from(mxcsr))
}

fn set_control_words(fcw: u16, mxcsr: u32) {
    // SAFETY: loads the two control words from locals; the values used
    // here mask every exception, so nothing traps.
    unsafe {
        core::arch::asm!(
            "fldcw word ptr [{f}]",
            "ldmxcsr dword ptr [{m}]",
            f = in(reg) &raw const fcw,
            m = in(reg) &raw const mxcsr,
        );
    }
}

const ROUNDS: u64 = 40;

/// Thread `idx` (1 or 2): own xmm0/xmm15 values and control words, checked
/// after each of many yields. Mismatches go to V0/V2, rounds to V1/V3.
extern "C" fn keeper(idx: u64, _buffer: u64) -> ! {
    let v = 0x0101_0101_0101_0101 * idx;
    let (fcw, mxcsr) = if idx == 1 {
        (0x0f7f, 0x3f80)
    } else {
        (0x077f, 0x5f80)
    };
    set_xmm0_15(v, v << 4, !v);
    set_control_words(fcw as u16, mxcsr as u32);
    let (mut bad, mut rounds) = (0, 0);
    for _ in 0..ROUNDS {
        yield_now();
        if xmm0_15() != (v, v << 4, !v) || control_words() != (fcw, mxcsr) {
            bad += 1;
        }
        rounds += 1;
    }
    let base = if idx == 1 { V0 } else { V2 };
    set(base, bad);
    set(base + 1, rounds);
    thread_exit()
}

fn kept_apart(c: &mut Ctx) -> TestResult {
    reset();
    let mine = (0x7777_0000_1111_2222, 0x3333_4444_5555_6666, 0x0bad_cafe);
    set_xmm0_15(mine.0, mine.1, mine.2);
    c.spawn("kf-fpu-1", keeper, 1, PRIO)?;
    c.spawn("kf-fpu-2", keeper, 2, PRIO)?;
    settle(c)?;
    check_eq!((get(V1), get(V3)), (ROUNDS, ROUNDS));
    check_eq!((get(V0), get(V2)), (0, 0));
    check_eq!(xmm0_15(), mine);
    check_eq!(control_words(), (0x37f, 0x1f80));
    Ok(())
}

fn avx_usable() -> bool {
    let l1 = core::arch::x86_64::__cpuid(1);
    if l1.ecx & (1 << 27) == 0 || l1.ecx & (1 << 28) == 0 {
        return false;
    }
    let (lo, _hi): (u32, u32);
    // SAFETY: XGETBV with ECX = 0 is allowed in user mode once OSXSAVE is
    // set (checked above) and only reads XCR0.
    unsafe { core::arch::asm!("xgetbv", in("ecx") 0, out("eax") lo, out("edx") _hi) };
    lo & 0b110 == 0b110
}

/// Thread `idx`: a 256-bit pattern in ymm2, checked after each yield.
extern "C" fn ymm_keeper(idx: u64, _buffer: u64) -> ! {
    let want: [u64; 4] = core::array::from_fn(|i| (idx << 60) | (0x1234 * (i as u64 + 1)));
    // SAFETY: loads 32 bytes from a local array into ymm2 (declared).
    unsafe {
        core::arch::asm!(
            "vmovdqu ymm2, ymmword ptr [{p}]",
            p = in(reg) want.as_ptr(),
            out("ymm2") _,
        );
    }
    let mut bad = 0;
    for _ in 0..ROUNDS {
        yield_now();
        let mut got = [0u64; 4];
        // SAFETY: stores ymm2 into a local 32-byte array.
        unsafe {
            core::arch::asm!(
                "vmovdqu ymmword ptr [{p}], ymm2",
                p = in(reg) got.as_mut_ptr(),
            );
        }
        if got != want {
            bad += 1;
        }
    }
    set(if idx == 1 { V0 } else { V2 }, bad);
    set(if idx == 1 { V1 } else { V3 }, 1);
    thread_exit()
}

fn ymm_kept_apart(c: &mut Ctx) -> TestResult {
    reset();
    if !avx_usable() {
        skip!("no AVX on this CPU (CPUID AVX or OSXSAVE clear, or XCR0 without YMM state)");
    }
    c.spawn("kf-ymm-1", ymm_keeper, 1, PRIO)?;
    c.spawn("kf-ymm-2", ymm_keeper, 2, PRIO)?;
    settle(c)?;
    check_eq!((get(V1), get(V3)), (1, 1));
    check_eq!((get(V0), get(V2)), (0, 0));
    Ok(())
}

/// Records FCW, MXCSR, xmm0 (low, high) and xmm15 low in V0..V4.
extern "C" fn fpu_reporter(_arg: u64, _buffer: u64) -> ! {
    let (fcw, mxcsr) = control_words();
    let (a, b, x15) = xmm0_15();
    set(V0, fcw);
    set(V1, mxcsr);
    set(V2, a);
    set(V3, b);
    set(V4, x15);
    set(DONE, 1);
    thread_exit()
}

fn initial_in_thread(c: &mut Ctx) -> TestResult {
    reset();
    // The root's own state is anything but the initial one...
    set_xmm0_15(0xdead, 0xbeef, 0xf00d);
    set_control_words(0x0c7f, 0x7f80);
    c.spawn("kf-fpu-new", fpu_reporter, 0, PRIO)?;
    settle(c)?;
    let own = (control_words(), xmm0_15());
    set_control_words(0x037f, 0x1f80);
    check_eq!(get(DONE), 1);
    // ...and none of it leaks into the new thread.
    check_eq!((get(V0), get(V1)), (0x37f, 0x1f80));
    check_eq!((get(V2), get(V3), get(V4)), (0, 0, 0));
    check_eq!(own, ((0x0c7f, 0x7f80), (0xdead, 0xbeef, 0xf00d)));
    Ok(())
}

fn initial_via_tcb(c: &mut Ctx) -> TestResult {
    let t = c.configured_thread("kf-fpu-read", PRIO, 0)?;
    let m = c.ipc.tcb_read_fpu(t.tcb, 0)?;
    check_eq!(m.len, 64);
    check_eq!(m.word(0) & 0xffff, 0x37f);
    check_eq!(m.word(W_MXCSR as usize) & 0xffff_ffff, 0x1f80);
    for i in W_XMM0 as usize..(W_XMM15 + 2) as usize {
        check!(m.word(i) == 0, "FPU word {i} = {:#x}", m.word(i));
    }
    // Reads are bounded by the 1 KiB area.
    check_eq!(c.ipc.tcb_read_fpu(t.tcb, 127)?.len, 1);
    check_eq!(
        c.ipc.tcb_read_fpu(t.tcb, 128).map(|m| m.len),
        Err(Error::Range)
    );
    Ok(())
}

fn write_xmm(c: &mut Ctx) -> TestResult {
    reset();
    let t = c.configured_thread("kf-fpu-write", PRIO, 0)?;
    c.ipc.tcb_write_fpu(
        t.tcb,
        W_XMM0,
        &[0x1122_3344_5566_7788, 0x99aa_bbcc_ddee_ff00],
    )?;
    c.ipc.tcb_write_fpu(t.tcb, W_XMM15, &[0x0f0f_0f0f])?;
    let m = c.ipc.tcb_read_fpu(t.tcb, W_XMM0)?;
    check_eq!(
        (m.word(0), m.word(1)),
        (0x1122_3344_5566_7788, 0x99aa_bbcc_ddee_ff00)
    );
    c.start(t, fpu_reporter, 0)?;
    settle(c)?;
    check_eq!(get(DONE), 1);
    check_eq!(
        (get(V2), get(V3), get(V4)),
        (0x1122_3344_5566_7788, 0x99aa_bbcc_ddee_ff00, 0x0f0f_0f0f)
    );
    // The rest of the state is still the initial one.
    check_eq!((get(V0), get(V1)), (0x37f, 0x1f80));
    Ok(())
}

/// Sets xmm0 = 0xabcd, waits on notification `ntfn`, then reports.
extern "C" fn set_wait_report(ntfn: u64, _buffer: u64) -> ! {
    set_xmm0_15(0xabcd, 0xef01, 0x2345);
    let _ = wait(ntfn);
    let (a, b, x15) = xmm0_15();
    set(V2, a);
    set(V3, b);
    set(V4, x15);
    set(DONE, 1);
    thread_exit()
}

fn blocked_thread(c: &mut Ctx) -> TestResult {
    reset();
    let n = c.notification()?;
    let t = c.spawn("kf-fpu-live", set_wait_report, n, PRIO)?;
    settle(c)?;
    check_eq!(get(DONE), 0);
    // Its registers as it left them, though the root ran since.
    let m = c.ipc.tcb_read_fpu(t.tcb, W_XMM0)?;
    check_eq!((m.word(0), m.word(1)), (0xabcd, 0xef01));
    check_eq!(m.word((W_XMM15 - W_XMM0) as usize), 0x2345);
    c.ipc.tcb_write_fpu(t.tcb, W_XMM0, &[0x5151, 0x5252])?;
    septum_user::syscall::signal(n)?;
    settle(c)?;
    check_eq!(get(DONE), 1);
    check_eq!((get(V2), get(V3), get(V4)), (0x5151, 0x5252, 0x2345));
    Ok(())
}

fn own_state(c: &mut Ctx) -> TestResult {
    set_xmm0_15(0x0123_4567, 0x89ab_cdef, 0x7e57);
    // Reading its own state sees the live registers.
    let m = c.ipc.tcb_read_fpu(SELF_TCB, W_XMM0)?;
    check_eq!((m.word(0), m.word(1)), (0x0123_4567, 0x89ab_cdef));
    check_eq!(m.word((W_XMM15 - W_XMM0) as usize), 0x7e57);
    // Writing it changes the live registers.
    c.ipc.tcb_write_fpu(SELF_TCB, W_XMM0, &[0xfeed, 0xface])?;
    check_eq!(xmm0_15(), (0xfeed, 0xface, 0x7e57));
    check_eq!(control_words(), (0x37f, 0x1f80));
    Ok(())
}

fn header_refused(c: &mut Ctx) -> TestResult {
    let t = c.configured_thread("kf-fpu-header", PRIO, 0)?;
    let before = c.ipc.tcb_read_fpu(t.tcb, 56)?;
    for (from, n) in [(64, 1), (71, 1), (60, 8), (63, 2), (56, 16), (127, 2)] {
        let words = [0x5555_5555_5555_5555u64; 16];
        check!(
            c.ipc.tcb_write_fpu(t.tcb, from, &words[..n]) == Err(Error::Range),
            "write of {n} words from {from} not refused"
        );
    }
    check_eq!(
        c.ipc.tcb_write_fpu(t.tcb, u64::MAX, &[1]),
        Err(Error::Range)
    );
    // Nothing was written, not even the words before the header.
    let after = c.ipc.tcb_read_fpu(t.tcb, 56)?;
    check!(
        before.words() == after.words(),
        "FPU area changed by refused writes"
    );
    check_eq!(after.word((W_HEADER - 56) as usize) & 3, 3);
    // Just outside the header is writable (the AVX area follows it).
    c.ipc.tcb_write_fpu(t.tcb, 63, &[0x63])?;
    c.ipc.tcb_write_fpu(t.tcb, 72, &[0x72])?;
    let m = c.ipc.tcb_read_fpu(t.tcb, 63)?;
    check_eq!((m.word(0), m.word(9)), (0x63, 0x72));
    Ok(())
}

fn mxcsr_sanitized(c: &mut Ctx) -> TestResult {
    reset();
    let t = c.configured_thread("kf-mxcsr", PRIO, 0)?;
    c.ipc.tcb_write_fpu(t.tcb, W_MXCSR, &[u64::MAX])?;
    let mx = c.ipc.tcb_read_fpu(t.tcb, W_MXCSR)?.word(0) & 0xffff_ffff;
    check!(mx & !0xffff == 0, "reserved MXCSR bits kept: {mx:#x}");
    // The thread starts (the kernel's restore did not fault) and sees it.
    c.start(t, fpu_reporter, 0)?;
    settle(c)?;
    check_eq!(get(DONE), 1);
    check_eq!(get(V1), mx);
    check_eq!(get(V1) & 0x1f80, 0x1f80);
    Ok(())
}

fn tls_noncanonical(c: &mut Ctx) -> TestResult {
    let t = c.configured_thread("kf-tls-bad", PRIO, 0)?;
    for (fs, gs) in [
        (0x8000_0000_0000_0000, 0),
        (0, 0x0000_8000_0000_0000),
        (0x0001_0000_0000_0000, 0x1000),
    ] {
        check!(
            c.ipc.tcb_set_tls(t.tcb, fs, gs) == Err(Error::InvalidAddress),
            "bases {fs:#x}/{gs:#x} not refused"
        );
    }
    let regs = c.ipc.tcb_read_registers(t.tcb)?;
    check_eq!((regs[18], regs[19]), (0, 0));
    // Through a register write too.
    let mut w = [0u64; 20];
    w[..18].copy_from_slice(&regs[..18]);
    w[18] = 0xffff_0000_0000_0000;
    check_eq!(
        c.ipc.tcb_write_registers(t.tcb, &w),
        Err(Error::InvalidAddress)
    );
    // Canonical ones are taken, upper half included.
    c.ipc
        .tcb_set_tls(t.tcb, 0x7fff_0000_1000, 0xffff_ffff_ffff_f000)?;
    let regs = c.ipc.tcb_read_registers(t.tcb)?;
    check_eq!(
        (regs[18], regs[19]),
        (0x7fff_0000_1000, 0xffff_ffff_ffff_f000)
    );
    Ok(())
}

/// Reads fs:[0] and gs:[0] into V0/V1, yields, reads them again into V2/V3.
extern "C" fn tls_reader(_arg: u64, _buffer: u64) -> ! {
    let read = || {
        let (f, g): (u64, u64);
        // SAFETY: the root set FS and GS bases to a mapped page.
        unsafe {
            core::arch::asm!(
                "mov {f}, qword ptr fs:[0]",
                "mov {g}, qword ptr gs:[0]",
                f = out(reg) f,
                g = out(reg) g,
            );
        }
        (f, g)
    };
    let (f, g) = read();
    set(V0, f);
    set(V1, g);
    yield_now();
    let (f, g) = read();
    set(V2, f);
    set(V3, g);
    set(DONE, 1);
    thread_exit()
}

fn tls_visible(c: &mut Ctx) -> TestResult {
    reset();
    let (_, va) = c.mapped_frame()?;
    let fs_word = 0x0f5_0f5_0f5;
    let gs_word = 0x065_065_065;
    // SAFETY: `mapped_frame` mapped the page read-write.
    unsafe {
        (va as *mut u64).write_volatile(fs_word);
        ((va + 0x800) as *mut u64).write_volatile(gs_word);
    }
    let t = c.configured_thread("kf-tls", PRIO, 0)?;
    c.ipc.tcb_set_tls(t.tcb, va, va + 0x800)?;
    let regs = c.ipc.tcb_read_registers(t.tcb)?;
    check_eq!((regs[18], regs[19]), (va, va + 0x800));
    c.start(t, tls_reader, 0)?;
    settle(c)?;
    check_eq!(get(DONE), 1);
    check_eq!((get(V0), get(V1)), (fs_word, gs_word));
    check_eq!((get(V2), get(V3)), (fs_word, gs_word));
    Ok(())
}
