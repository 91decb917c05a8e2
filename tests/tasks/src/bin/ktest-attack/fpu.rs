//! The FPU owner the kernel caches: x87, SSE and AVX state filled by one
//! thread must stay its own when it blocks or is preempted, must not show
//! up in a thread that starts fresh, and must not survive the thread's
//! TCB: a new TCB made later from the same memory starts with the initial
//! state, and a frame made from that memory reads as zeros.
//!
//! User code is built without SSE, so the compiler never touches these
//! registers; only the assembly here does, and declares what it writes.

use crate::common::{DONE, PRIO, UNSET, V0, V1, V2, V3, code, get, read, reset, set, settle};
use septum_test_tasks::ktest::{
    CNODE, Ctx, DEPTH, SELF_TCB, SELF_VSPACE, Test, TestResult, Thread, ty,
};
use septum_test_tasks::{check, check_eq, fail};
use septum_user::syscall::{signal, thread_exit, wait};

pub const TESTS: &[Test] = &[
    Test {
        name: "attack_fpu_state_kept_across_block_and_preemption",
        run: kept,
    },
    Test {
        name: "attack_fpu_state_not_inherited_by_tcb_at_same_address",
        run: reused_tcb,
    },
    Test {
        name: "attack_tcb_memory_reused_as_frame_reads_zero",
        run: reused_frame,
    },
    Test {
        name: "attack_fpu_state_back_in_its_initial_configuration_stays_so",
        run: back_to_init,
    },
    Test {
        name: "attack_fpu_state_kept_across_fast_path_ipc_and_null_call",
        run: across_fast_paths,
    },
    Test {
        name: "attack_fpu_state_kept_across_preemption_between_null_calls",
        run: null_call_preempted,
    },
];

/// 16 vector registers, 256 bits each (only the low 128 without AVX).
type Vecs = [[u64; 4]; 16];

fn avx() -> bool {
    let l1 = core::arch::x86_64::__cpuid(1);
    if l1.ecx & (1 << 27) == 0 || l1.ecx & (1 << 28) == 0 {
        return false;
    }
    let lo: u32;
    // SAFETY: XGETBV with ECX = 0 is allowed in user mode once OSXSAVE is
    // set (checked above) and only reads XCR0.
    unsafe {
        core::arch::asm!("xgetbv", in("ecx") 0, out("eax") lo, out("edx") _, options(nomem, nostack))
    };
    lo & 0b110 == 0b110
}

macro_rules! sixteen {
    ($insn:literal, $a:literal, $b:literal, $p:expr, $($clobber:tt)*) => {
        core::arch::asm!(
            concat!($insn, " ", $a, "0, ", $b, " [{p}]"),
            concat!($insn, " ", $a, "1, ", $b, " [{p} + 32]"),
            concat!($insn, " ", $a, "2, ", $b, " [{p} + 64]"),
            concat!($insn, " ", $a, "3, ", $b, " [{p} + 96]"),
            concat!($insn, " ", $a, "4, ", $b, " [{p} + 128]"),
            concat!($insn, " ", $a, "5, ", $b, " [{p} + 160]"),
            concat!($insn, " ", $a, "6, ", $b, " [{p} + 192]"),
            concat!($insn, " ", $a, "7, ", $b, " [{p} + 224]"),
            concat!($insn, " ", $a, "8, ", $b, " [{p} + 256]"),
            concat!($insn, " ", $a, "9, ", $b, " [{p} + 288]"),
            concat!($insn, " ", $a, "10, ", $b, " [{p} + 320]"),
            concat!($insn, " ", $a, "11, ", $b, " [{p} + 352]"),
            concat!($insn, " ", $a, "12, ", $b, " [{p} + 384]"),
            concat!($insn, " ", $a, "13, ", $b, " [{p} + 416]"),
            concat!($insn, " ", $a, "14, ", $b, " [{p} + 448]"),
            concat!($insn, " ", $a, "15, ", $b, " [{p} + 480]"),
            p = in(reg) $p,
            $($clobber)*
        )
    };
}

macro_rules! sixteen_store {
    ($insn:literal, $b:literal, $a:literal, $p:expr) => {
        core::arch::asm!(
            concat!($insn, " ", $b, " [{p}], ", $a, "0"),
            concat!($insn, " ", $b, " [{p} + 32], ", $a, "1"),
            concat!($insn, " ", $b, " [{p} + 64], ", $a, "2"),
            concat!($insn, " ", $b, " [{p} + 96], ", $a, "3"),
            concat!($insn, " ", $b, " [{p} + 128], ", $a, "4"),
            concat!($insn, " ", $b, " [{p} + 160], ", $a, "5"),
            concat!($insn, " ", $b, " [{p} + 192], ", $a, "6"),
            concat!($insn, " ", $b, " [{p} + 224], ", $a, "7"),
            concat!($insn, " ", $b, " [{p} + 256], ", $a, "8"),
            concat!($insn, " ", $b, " [{p} + 288], ", $a, "9"),
            concat!($insn, " ", $b, " [{p} + 320], ", $a, "10"),
            concat!($insn, " ", $b, " [{p} + 352], ", $a, "11"),
            concat!($insn, " ", $b, " [{p} + 384], ", $a, "12"),
            concat!($insn, " ", $b, " [{p} + 416], ", $a, "13"),
            concat!($insn, " ", $b, " [{p} + 448], ", $a, "14"),
            concat!($insn, " ", $b, " [{p} + 480], ", $a, "15"),
            p = in(reg) $p,
            options(nostack),
        )
    };
}

fn load_vecs(v: &Vecs, avx: bool) {
    let p = v.as_ptr();
    // SAFETY: loads from the 512-byte array into the vector registers,
    // all of which are declared as clobbered; nothing the compiler keeps
    // lives in them (no SSE in generated code).
    unsafe {
        if avx {
            sixteen!("vmovdqu", "ymm", "ymmword ptr", p,
                out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
                out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
                out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
                out("ymm12") _, out("ymm13") _, out("ymm14") _, out("ymm15") _,
                options(nostack));
        } else {
            sixteen!("movdqu", "xmm", "xmmword ptr", p,
                out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
                out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
                out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
                out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
                options(nostack));
        }
    }
}

fn store_vecs(avx: bool) -> Vecs {
    let mut v: Vecs = [[0; 4]; 16];
    let p = v.as_mut_ptr();
    // SAFETY: stores the vector registers into the local 512-byte array.
    unsafe {
        if avx {
            sixteen_store!("vmovdqu", "ymmword ptr", "ymm", p);
        } else {
            sixteen_store!("movdqu", "xmmword ptr", "xmm", p);
        }
    }
    v
}

#[repr(C, align(64))]
struct Fx([u8; 512]);

/// What a thread's FPU holds: the FXSAVE image (control and status words,
/// tags, MXCSR, x87 registers, XMM registers) and the full vector
/// registers.
struct Snap {
    fx: Fx,
    vecs: Vecs,
}

fn snapshot(avx: bool) -> Snap {
    let mut fx = Fx([0; 512]);
    // SAFETY: FXSAVE writes 512 bytes into the 16-byte aligned local and
    // changes no register.
    unsafe { core::arch::asm!("fxsave64 [{0}]", in(reg) fx.0.as_mut_ptr(), options(nostack)) };
    Snap {
        fx,
        vecs: store_vecs(avx),
    }
}

impl Snap {
    fn u16_at(&self, o: usize) -> u64 {
        u64::from(u16::from_le_bytes([self.fx.0[o], self.fx.0[o + 1]]))
    }
    fn fcw(&self) -> u64 {
        self.u16_at(0)
    }
    fn fsw(&self) -> u64 {
        self.u16_at(2)
    }
    fn ftw(&self) -> u64 {
        u64::from(self.fx.0[4])
    }
    fn mxcsr(&self) -> u64 {
        self.u16_at(24) | self.u16_at(26) << 16
    }
    fn x87(&self) -> &[u8] {
        &self.fx.0[32..160]
    }

    /// Which parts differ from `o` (bits: 1 vectors, 2 x87 registers,
    /// 4 FCW, 8 FSW, 16 tags, 32 MXCSR).
    fn diff(&self, o: &Snap) -> u64 {
        let x87 = (0..8).any(|i| self.x87()[i * 16..i * 16 + 10] != o.x87()[i * 16..i * 16 + 10]);
        u64::from(self.vecs != o.vecs)
            | u64::from(x87) << 1
            | u64::from(self.fcw() != o.fcw()) << 2
            | u64::from(self.fsw() != o.fsw()) << 3
            | u64::from(self.ftw() != o.ftw()) << 4
            | u64::from(self.mxcsr() != o.mxcsr()) << 5
    }

    /// Which parts differ from the state a new thread starts with.
    fn fresh_diff(&self) -> u64 {
        let vecs = self.vecs.iter().flatten().any(|&w| w != 0);
        let x87 = self.x87().iter().any(|&b| b != 0);
        u64::from(vecs)
            | u64::from(x87) << 1
            | u64::from(self.fcw() != 0x37f) << 2
            | u64::from(self.fsw() != 0) << 3
            | u64::from(self.ftw() != 0) << 4
            | u64::from(self.mxcsr() != 0x1f80) << 5
    }
}

fn parts(mask: u64) -> &'static str {
    match mask {
        0 => "nothing",
        1 => "vector registers",
        2 => "x87 registers",
        4 => "FCW",
        8 => "FSW",
        16 => "x87 tags",
        32 => "MXCSR",
        _ => "several parts (see mask)",
    }
}

/// Fill every part of the FPU state with values derived from `seed`.
fn fill(seed: u64, avx: bool) {
    let mut v: Vecs = [[0; 4]; 16];
    for (i, r) in v.iter_mut().enumerate() {
        for (k, w) in r.iter_mut().enumerate() {
            *w = seed.rotate_left((i * 4 + k) as u32) ^ (i * 4 + k) as u64;
        }
    }
    load_vecs(&v, avx);
    let fcw: u16 = if seed & 1 == 0 { 0x027f } else { 0x007f };
    let mxcsr: u32 = if seed & 1 == 0 { 0x9f80 } else { 0x7f80 };
    // SAFETY: pushes two constants on the x87 stack (which is empty or
    // the thread's own) and loads control words that mask every
    // exception, from locals.
    unsafe {
        core::arch::asm!(
            "fld1",
            "fldpi",
            "fldcw word ptr [{f}]",
            "ldmxcsr dword ptr [{m}]",
            f = in(reg) &raw const fcw,
            m = in(reg) &raw const mxcsr,
            options(nostack),
        );
    }
}

/// Thread A: fills its state, blocks on `ntfn`, and when woken compares
/// (mismatches to V0); sets V1.
extern "C" fn blocker(ntfn: u64, _buffer: u64) -> ! {
    let avx = avx();
    fill(0x1111_2222_3333_4444, avx);
    let before = snapshot(avx);
    let _ = wait(ntfn);
    let after = snapshot(avx);
    set(V0, after.diff(&before));
    set(V1, 1);
    thread_exit()
}

/// Thread B: checks it starts fresh (V2), fills its own state, wakes A,
/// spins until A has run (which takes a preemption), compares (V3). With
/// [`NULL_CALLS`] in its argument it spins on zero-byte `DebugWrite`s
/// (the null call's shortcut, which leaves without switching FPU state),
/// comparing after each.
extern "C" fn spinner(arg: u64, _buffer: u64) -> ! {
    use septum_user::abi::syscall as nr;
    let (ntfn, null_calls) = (arg & !NULL_CALLS, arg & NULL_CALLS != 0);
    let avx = avx();
    set(V2, snapshot(avx).fresh_diff());
    fill(0x5555_6666_7777_8889, avx);
    let before = snapshot(avx);
    let _ = signal(ntfn);
    let mut bad = 0;
    while get(V1) != 1 {
        if null_calls {
            let _ = septum_user::syscall::raw(nr::DEBUG_WRITE, 0x1000, 0, [0; 4], 0);
            bad |= snapshot(avx).diff(&before);
        } else {
            core::hint::spin_loop();
        }
    }
    set(V3, bad | snapshot(avx).diff(&before));
    set(DONE, 1);
    thread_exit()
}

/// [`spinner`]'s argument bit: spin on null calls.
const NULL_CALLS: u64 = 1 << 63;

fn kept(c: &mut Ctx) -> TestResult {
    preempted_pair(c, 0, "after being preempted")
}

/// [`kept`] with the spinning thread making null calls, between which it
/// is preempted.
fn null_call_preempted(c: &mut Ctx) -> TestResult {
    preempted_pair(c, NULL_CALLS, "preempted between null calls")
}

/// A blocks, B (`how`: [`spinner`]'s argument bits) wakes it and spins
/// until the timer lets A run: neither may see the other's state.
fn preempted_pair(c: &mut Ctx, how: u64, preempted: &str) -> TestResult {
    reset();
    let n = c.notification()?;
    c.spawn("ka-fpu-blocker", blocker, n, PRIO)?;
    c.spawn("ka-fpu-spinner", spinner, n | how, PRIO)?;
    settle(c)?;
    check_eq!(get(DONE), 1);
    check!(
        get(V2) == 0,
        "a new thread started with another's FPU state in its {} (mask {:#x})",
        parts(get(V2)),
        get(V2)
    );
    check!(
        get(V0) == 0,
        "after blocking, a thread's {} changed (mask {:#x})",
        parts(get(V0)),
        get(V0)
    );
    check!(
        get(V3) == 0,
        "{preempted}, a thread's {} changed (mask {:#x})",
        parts(get(V3)),
        get(V3)
    );
    if !avx() {
        septum_user::println!("ktest: no AVX on this CPU; only x87 and SSE state checked");
    }
    Ok(())
}

/// Fills its FPU state (so the FPU holds it: the thread is running), then
/// deletes the last capability to its own TCB. The call never returns; if
/// it does, its result goes to V0.
extern "C" fn fill_then_delete_self(slot: u64, buffer: u64) -> ! {
    fill(0x7a7a_7a7a_0bad_f00d, avx());
    let mut ipc = septum_test_tasks::ktest::thread_ipc(buffer);
    set(V0, code(ipc.cnode_delete(CNODE, (slot, DEPTH))));
    thread_exit()
}

/// Reports whether it started fresh (V2); sets DONE.
extern "C" fn fresh_reporter(_arg: u64, _buffer: u64) -> ! {
    set(V2, snapshot(avx()).fresh_diff());
    set(DONE, 1);
    thread_exit()
}

/// A TCB from the 4 KiB untyped `u` in a fresh slot, configured in the
/// root's spaces with its own buffer, started at `entry(arg)`.
fn tcb_from(
    c: &mut Ctx,
    u: u64,
    name: &str,
    entry: extern "C" fn(u64, u64) -> !,
    arg: Option<u64>,
) -> Result<u64, septum_user::abi::Error> {
    let s = c.slot();
    c.ipc.retype(u, ty::TCB, 0, CNODE, s, 1)?;
    let (frame, buffer) = c.mapped_frame()?;
    c.ipc
        .tcb_configure(s, CNODE, SELF_VSPACE, frame, buffer, 0)?;
    c.ipc.tcb_set_name(s, name)?;
    c.ipc.tcb_set_priority(s, SELF_TCB, PRIO)?;
    c.start(Thread { tcb: s, buffer }, entry, arg.unwrap_or(s))?;
    Ok(s)
}

/// A thread that owns the FPU (it is running) destroys its own TCB; a
/// TCB made afterwards at the same address (the untyped is 4 KiB, so its
/// first object always lands at its start) must start with the initial
/// FPU state, not with the live registers of the thread that died there.
fn reused_tcb(c: &mut Ctx) -> TestResult {
    reset();
    let u = c.make(ty::UNTYPED, 12)?;
    let first = tcb_from(c, u, "ka-fpu-dies", fill_then_delete_self, None)?;
    settle(c)?;
    check!(
        get(V0) == UNSET,
        "the thread's delete of its own TCB returned ({})",
        crate::common::name(get(V0))
    );
    check_eq!(
        c.identify(first)?.cap_type,
        septum_test_tasks::ktest::cap::NULL
    );
    c.ipc.cnode_revoke(CNODE, (u, DEPTH))?;
    tcb_from(c, u, "ka-fpu-reborn", fresh_reporter, Some(0))?;
    settle(c)?;
    check_eq!(get(DONE), 1);
    check!(
        get(V2) == 0,
        "a TCB made where a dead thread's TCB was started with its {} (mask {:#x})",
        parts(get(V2)),
        get(V2)
    );
    Ok(())
}

/// Fills its FPU and general registers with patterns and blocks on
/// `ntfn` for good.
extern "C" fn fill_and_block(ntfn: u64, _buffer: u64) -> ! {
    fill(0x6666_6666_6666_6666, avx());
    // SAFETY: waits on the notification with patterns in r12-r15, which
    // the kernel preserves; every register it may change (status, badge,
    // message info and words, rcx and r11) is declared.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") septum_user::abi::syscall::WAIT => _,
            inlateout("rdi") ntfn => _,
            in("r12") 0x6666_1212_6666_1212u64,
            in("r13") 0x6666_1313_6666_1313u64,
            in("r14") 0x6666_1414_6666_1414u64,
            in("r15") 0x6666_1515_6666_1515u64,
            lateout("rcx") _,
            lateout("r11") _,
            lateout("rsi") _,
            lateout("rdx") _,
            lateout("r10") _,
            lateout("r8") _,
            lateout("r9") _,
            options(nostack),
        );
    }
    thread_exit()
}

/// A blocked thread's TCB (registers and FPU area full of patterns) is
/// destroyed; a frame made from the same memory must read as zeros.
fn reused_frame(c: &mut Ctx) -> TestResult {
    reset();
    let n = c.notification()?;
    let u = c.make(ty::UNTYPED, 12)?;
    tcb_from(c, u, "ka-tcb-mem", fill_and_block, Some(n))?;
    settle(c)?;
    c.ipc.cnode_revoke(CNODE, (u, DEPTH))?;
    let f = c.slot();
    c.ipc.retype(u, ty::FRAME, 0, CNODE, f, 1)?;
    let va = c.page_addr();
    c.ipc.frame_map(f, SELF_VSPACE, va, 0)?;
    if let Some(i) = (0..512).find(|&i| read(va + i * 8) != 0) {
        fail!(
            "a frame made from a destroyed TCB's memory holds {:#x} at byte {}",
            read(va + i * 8),
            i * 8
        );
    }
    Ok(())
}

/// How [`init_blocker`] puts its state back into its initial
/// configuration after filling it: `vzeroupper` (the AVX upper halves
/// only), or `xrstor` from an area whose header asks for every component
/// in its initial configuration.
const BY_VZEROUPPER: u64 = 1;
const BY_XRSTOR: u64 = 2;

/// An XSAVE area with an all-zero header: `xrstor` from it puts every
/// component it is asked for in its initial configuration (and loads
/// MXCSR, 0 here, from the legacy area).
#[repr(C, align(64))]
struct InitArea([u8; 1024]);
static INIT_AREA: InitArea = InitArea([0; 1024]);

fn osxsave() -> bool {
    core::arch::x86_64::__cpuid(1).ecx & (1 << 27) != 0
}

/// Thread A: fills its state, puts (part of) it back into its initial
/// configuration as `how` says, blocks on `ntfn`, and when woken compares
/// (mismatches to V0); sets V1. A kernel that skipped saving or restoring
/// state the processor reports as initial (XINUSE) would hand A what B
/// left in those registers.
extern "C" fn init_blocker(arg: u64, _buffer: u64) -> ! {
    let (ntfn, how) = (arg >> 8, arg & 0xff);
    let avx = avx();
    fill(0x0123_4567_89ab_cdef, avx);
    // SAFETY: `vzeroupper` only zeroes the upper halves of the vector
    // registers, which no compiled code uses (no SSE or AVX in it);
    // `xrstor` reads the 64-byte aligned static area (1 KiB, enough for
    // every component XCR0 can enable here) and only loads FPU/vector
    // state.
    unsafe {
        if how == BY_VZEROUPPER {
            core::arch::asm!("vzeroupper", options(nomem, nostack));
        } else {
            core::arch::asm!(
                "xrstor64 [{0}]",
                in(reg) INIT_AREA.0.as_ptr(),
                in("eax") u32::MAX,
                in("edx") u32::MAX,
                options(nostack),
            );
        }
    }
    let before = snapshot(avx);
    let _ = wait(ntfn);
    let after = snapshot(avx);
    set(V0, after.diff(&before));
    set(V1, 1);
    thread_exit()
}

fn back_to_init(c: &mut Ctx) -> TestResult {
    if !osxsave() {
        septum_user::println!("ktest: no XSAVE on this CPU; nothing to check");
        return Ok(());
    }
    let ways: &[u64] = if avx() {
        &[BY_VZEROUPPER, BY_XRSTOR]
    } else {
        &[BY_XRSTOR]
    };
    for &how in ways {
        reset();
        let n = c.notification()?;
        c.spawn("ka-fpu-init", init_blocker, n << 8 | how, PRIO)?;
        c.spawn("ka-fpu-spinner", spinner, n, PRIO)?;
        settle(c)?;
        check_eq!(get(DONE), 1);
        check!(
            get(V0) == 0,
            "state put back to its initial configuration (way {how}) came back with its {} changed (mask {:#x})",
            parts(get(V0)),
            get(V0)
        );
        check!(
            get(V3) == 0,
            "after being preempted, a thread's {} changed (mask {:#x})",
            parts(get(V3)),
            get(V3)
        );
    }
    Ok(())
}

/// Rounds of Call and answer in [`across_fast_paths`].
const ROUNDS: u64 = 4;

/// `ep << 16 | reply`: the server. It must start fresh (V2) although the
/// caller's state was live when the fast path switched to it; it fills
/// its own state after the first request, and each later request must
/// find it unchanged (mismatches OR-ed into V3). Answers register-only,
/// with `ReplyRecv`.
extern "C" fn fpu_server(arg: u64, _buffer: u64) -> ! {
    use septum_user::abi::syscall as nr;
    use septum_user::syscall::{info, raw};
    let (ep, reply) = (arg >> 16, arg & 0xffff);
    let avx = avx();
    let mut r = raw(nr::RECV, ep, 0, [0; 4], reply);
    set(V2, snapshot(avx).fresh_diff());
    fill(0x0f0f_1e1e_2d2d_3c3c, avx);
    let mine = snapshot(avx);
    let mut bad = 0;
    while r.rax == 0 {
        r = raw(nr::REPLY_RECV, ep, info(0x51, 0), [0; 4], reply);
        bad |= snapshot(avx).diff(&mine);
        set(V3, bad);
    }
    thread_exit()
}

/// `ep`: fills its state, then calls the server `ROUNDS` times (both
/// directions register-only: the fast path) and makes a zero-byte
/// `DebugWrite` (the null call's shortcut) after each; each time its state
/// must be what it left (mismatches OR-ed into V0). Sets DONE.
extern "C" fn fpu_caller(ep: u64, _buffer: u64) -> ! {
    use septum_user::abi::syscall as nr;
    use septum_user::syscall::{info, raw};
    let avx = avx();
    // A refused call first: it fills the capability-space cache, so the
    // calls that follow take the fast path.
    let _ = raw(nr::CALL, u64::MAX, info(0x50, 0), [0; 4], 0);
    fill(0x7e7e_6d6d_5c5c_4b4b, avx);
    let mine = snapshot(avx);
    let mut bad = 0;
    for _ in 0..ROUNDS {
        let r = raw(nr::CALL, ep, info(0x50, 0), [0; 4], 0);
        if r.rax != 0 {
            set(V1, r.rax);
        }
        bad |= snapshot(avx).diff(&mine);
        let _ = raw(nr::DEBUG_WRITE, 0x1000, 0, [0; 4], 0);
        bad |= snapshot(avx).diff(&mine);
    }
    set(V0, bad);
    set(DONE, 1);
    thread_exit()
}

/// Two threads pass control to each other only through the IPC fast path
/// (and the caller also through the zero-byte `DebugWrite`), each with its
/// own FPU, SSE and AVX values: neither may see the other's, and the
/// server, which had not touched its FPU when the first request switched
/// to it, must start from the initial state.
fn across_fast_paths(c: &mut Ctx) -> TestResult {
    reset();
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    c.spawn("ka-fpu-server", fpu_server, ep << 16 | reply, PRIO + 10)?;
    settle(c)?;
    c.spawn("ka-fpu-caller", fpu_caller, ep, PRIO)?;
    settle(c)?;
    check_eq!(get(DONE), 1);
    check!(get(V1) == UNSET, "a call failed: {:#x}", get(V1));
    check!(
        get(V2) == 0,
        "a server switched to by the fast path started with another's {} (mask {:#x})",
        parts(get(V2)),
        get(V2)
    );
    check!(
        get(V0) == 0,
        "across fast-path calls and null calls, the caller's {} changed (mask {:#x})",
        parts(get(V0)),
        get(V0)
    );
    check!(
        get(V3) == 0,
        "across fast-path answers, the server's {} changed (mask {:#x})",
        parts(get(V3)),
        get(V3)
    );
    Ok(())
}
