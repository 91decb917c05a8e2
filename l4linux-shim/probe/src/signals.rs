//! `linux-probe signals`: signals as a Linux program sees them. Handlers
//! are installed with raw `rt_sigaction` (SA_RESTORER, the restorer
//! below making the `rt_sigreturn` call), and each case checks what the
//! guest kernel delivered: the handler's arguments, its frame, the mask
//! while it runs, what `rt_sigreturn` gives back (every general register,
//! RFLAGS' DF, XMM0–15), default actions as wait statuses, and the errnos.

use super::{Case, EFAULT, EINVAL, EPERM, ESRCH, KERNEL, NONCANON, exit, sys};
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};

const EINTR: i64 = 4;
const ENOMEM: i64 = 12;

const SIGUSR1: u64 = 10;
const SIGSEGV: u64 = 11;
const SIGUSR2: u64 = 12;
const SIGPIPE: u64 = 13;
const SIGTERM: u64 = 15;
const SIGCHLD: u64 = 17;

const SA_SIGINFO: u64 = 4;
const SA_RESTORER: u64 = 0x0400_0000;
const SA_ONSTACK: u64 = 0x0800_0000;
const SA_RESTART: u64 = 0x1000_0000;
const SA_NODEFER: u64 = 0x4000_0000;
const SA_RESETHAND: u64 = 0x8000_0000;

const SYS_READ: u64 = 0;
const SYS_WRITE: u64 = 1;
const SYS_CLOSE: u64 = 3;
const SYS_RT_SIGACTION: u64 = 13;
const SYS_RT_SIGPROCMASK: u64 = 14;
const SYS_PIPE2: u64 = 293;
const SYS_GETPID: u64 = 39;
const SYS_FORK: u64 = 57;
const SYS_EXIT: u64 = 60;
const SYS_WAIT4: u64 = 61;
const SYS_KILL: u64 = 62;
const SYS_GETPPID: u64 = 110;
const SYS_RT_SIGPENDING: u64 = 127;
const SYS_RT_SIGSUSPEND: u64 = 130;
const SYS_SIGALTSTACK: u64 = 131;
const SYS_TKILL: u64 = 200;
const SYS_TGKILL: u64 = 234;
const SYS_MMAP: u64 = 9;
const SYS_SETPGID: u64 = 109;
const SYS_GETPGRP: u64 = 111;
const SYS_SETSID: u64 = 112;
const SYS_GETPGID: u64 = 121;
const SYS_GETSID: u64 = 124;
const SYS_WAITID: u64 = 247;
const SIGCONT: u64 = 18;
const SIGSTOP: u64 = 19;
const SIGTSTP: u64 = 20;
const SA_NOCLDSTOP: u64 = 1;
const WNOHANG: u64 = 1;
const WUNTRACED: u64 = 2;
const WEXITED: u64 = 4;
const WCONTINUED: u64 = 8;
const P_PID: u64 = 1;
const ECHILD: i64 = 10;

/// Offsets in the frame Linux builds: `ucontext` (`uc_stack` at 16,
/// `uc_mcontext` at 40, `uc_sigmask` at 296) and `sigcontext`.
const UC_MCONTEXT: usize = 40;
const UC_SIGMASK: usize = 296;
const SC_RAX: usize = 104;
const SC_RIP: usize = 128;
const SC_ERR: usize = 152;
const SC_TRAPNO: usize = 160;
const SC_CR2: usize = 176;
const SC_FPSTATE: usize = 184;
/// XMM0 in the FXSAVE area.
const FX_XMM0: usize = 160;

core::arch::global_asm!(
    // The restorer every handler here returns through: rt_sigreturn.
    ".globl probe_restorer",
    "probe_restorer:",
    "mov eax, 15",
    "syscall",
    "ud2",
    // A restorer that first clobbers every general register the handler's
    // own code would have kept (callee-saved ones included), so what the
    // program has after rt_sigreturn can only come from the frame.
    ".globl probe_restorer_clobber",
    "probe_restorer_clobber:",
    "mov rbx, -1",
    "mov rbp, -1",
    "mov rcx, -1",
    "mov rdx, -1",
    "mov rsi, -1",
    "mov rdi, -1",
    "mov r8, -1",
    "mov r9, -1",
    "mov r10, -1",
    "mov r11, -1",
    "mov r12, -1",
    "mov r13, -1",
    "mov r14, -1",
    "mov r15, -1",
    "pcmpeqd xmm0, xmm0",
    "pcmpeqd xmm1, xmm1",
    "pcmpeqd xmm7, xmm7",
    "pcmpeqd xmm15, xmm15",
    "mov eax, 15",
    "syscall",
    "ud2",
    // Load known values in every general register but RSP and in
    // XMM0-15, set DF, write to read-only memory (SIGSEGV: the handler
    // moves RIP past the store), then store what every register holds.
    ".globl probe_regs_test",
    "probe_regs_test:",
    "push rbx",
    "push rbp",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "movdqu xmm0, [rip + {xin} + 0]",
    "movdqu xmm1, [rip + {xin} + 16]",
    "movdqu xmm2, [rip + {xin} + 32]",
    "movdqu xmm3, [rip + {xin} + 48]",
    "movdqu xmm4, [rip + {xin} + 64]",
    "movdqu xmm5, [rip + {xin} + 80]",
    "movdqu xmm6, [rip + {xin} + 96]",
    "movdqu xmm7, [rip + {xin} + 112]",
    "movdqu xmm8, [rip + {xin} + 128]",
    "movdqu xmm9, [rip + {xin} + 144]",
    "movdqu xmm10, [rip + {xin} + 160]",
    "movdqu xmm11, [rip + {xin} + 176]",
    "movdqu xmm12, [rip + {xin} + 192]",
    "movdqu xmm13, [rip + {xin} + 208]",
    "movdqu xmm14, [rip + {xin} + 224]",
    "movdqu xmm15, [rip + {xin} + 240]",
    "mov rax, 0x1111111111111100",
    "mov rbx, 0x1111111111111101",
    "mov rcx, 0x1111111111111102",
    "mov rdx, 0x1111111111111103",
    "mov rsi, 0x1111111111111104",
    "mov rdi, 0x1111111111111105",
    "mov rbp, 0x1111111111111106",
    "mov r8, 0x1111111111111107",
    "mov r9, 0x1111111111111108",
    "mov r10, 0x1111111111111109",
    "mov r11, 0x111111111111110a",
    "mov r12, 0x111111111111110b",
    "mov r13, 0x111111111111110c",
    "mov r14, 0x111111111111110d",
    "mov r15, 0x111111111111110e",
    "std",
    ".globl probe_fault_at",
    "probe_fault_at:",
    "mov byte ptr [rip + {ro}], 1",
    ".globl probe_after_fault",
    "probe_after_fault:",
    "mov [rip + {gout} + 0], rax",
    "mov [rip + {gout} + 8], rbx",
    "mov [rip + {gout} + 16], rcx",
    "mov [rip + {gout} + 24], rdx",
    "mov [rip + {gout} + 32], rsi",
    "mov [rip + {gout} + 40], rdi",
    "mov [rip + {gout} + 48], rbp",
    "mov [rip + {gout} + 56], r8",
    "mov [rip + {gout} + 64], r9",
    "mov [rip + {gout} + 72], r10",
    "mov [rip + {gout} + 80], r11",
    "mov [rip + {gout} + 88], r12",
    "mov [rip + {gout} + 96], r13",
    "mov [rip + {gout} + 104], r14",
    "mov [rip + {gout} + 112], r15",
    "pushfq",
    "pop rax",
    "mov [rip + {gout} + 120], rax",
    "cld",
    "movdqu [rip + {xout} + 0], xmm0",
    "movdqu [rip + {xout} + 16], xmm1",
    "movdqu [rip + {xout} + 32], xmm2",
    "movdqu [rip + {xout} + 48], xmm3",
    "movdqu [rip + {xout} + 64], xmm4",
    "movdqu [rip + {xout} + 80], xmm5",
    "movdqu [rip + {xout} + 96], xmm6",
    "movdqu [rip + {xout} + 112], xmm7",
    "movdqu [rip + {xout} + 128], xmm8",
    "movdqu [rip + {xout} + 144], xmm9",
    "movdqu [rip + {xout} + 160], xmm10",
    "movdqu [rip + {xout} + 176], xmm11",
    "movdqu [rip + {xout} + 192], xmm12",
    "movdqu [rip + {xout} + 208], xmm13",
    "movdqu [rip + {xout} + 224], xmm14",
    "movdqu [rip + {xout} + 240], xmm15",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbp",
    "pop rbx",
    "ret",
    xin = sym XMM_IN,
    xout = sym XMM_OUT,
    gout = sym GPR_OUT,
    ro = sym READ_ONLY,
);

unsafe extern "C" {
    fn probe_restorer();
    fn probe_restorer_clobber();
    fn probe_regs_test();
    static probe_fault_at: u8;
    static probe_after_fault: u8;
}

/// What XMM0–15 are loaded with: byte `i` of the 256 is `i + 1` (mod 256).
static XMM_IN: [u8; 256] = {
    let mut b = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        b[i] = (i as u8).wrapping_add(1);
        i += 1;
    }
    b
};
static XMM_OUT: [AtomicU64; 32] = [const { AtomicU64::new(0) }; 32];
/// RAX..R15 in `probe_regs_test`'s order, then RFLAGS.
static GPR_OUT: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];
/// A byte in read-only memory: writing it is SIGSEGV.
static READ_ONLY: u8 = 0;

/// What the last handler saw.
static SIGNO: AtomicU64 = AtomicU64::new(0);
static CODE: AtomicU64 = AtomicU64::new(0);
static FROM_PID: AtomicU64 = AtomicU64::new(0);
static STATUS: AtomicU64 = AtomicU64::new(0);
static ADDR: AtomicU64 = AtomicU64::new(0);
static MASK: AtomicU64 = AtomicU64::new(0);
static UC_MASK: AtomicU64 = AtomicU64::new(0);
static COUNT: AtomicU64 = AtomicU64::new(0);
static STACK: AtomicU64 = AtomicU64::new(0);
static ALT_FLAGS: AtomicU64 = AtomicU64::new(0);
static ALT_SET: AtomicU64 = AtomicU64::new(0);
static FRAME_OK: AtomicU64 = AtomicU64::new(0);
/// A descriptor the handler writes a byte to each time it runs: `i` if
/// it interrupted the blocked read, `e` if it came before the read.
static TELL_FD: AtomicU64 = AtomicU64::new(0);
static RESTART_SEEN: AtomicU64 = AtomicU64::new(0);
static EINTR_SEEN: AtomicU64 = AtomicU64::new(0);

fn word(p: u64, off: usize) -> u64 {
    // SAFETY: `p` is the frame the kernel built on this stack; `off` is a
    // field offset inside it.
    unsafe { ((p as usize + off) as *const u64).read_unaligned() }
}

fn set_word(p: u64, off: usize, v: u64) {
    // SAFETY: as `word`: the frame is this process's own writable stack.
    unsafe { ((p as usize + off) as *mut u64).write_unaligned(v) }
}

fn current_mask() -> u64 {
    let mut m = 0u64;
    sys(SYS_RT_SIGPROCMASK, &[0, 0, &raw mut m as u64, 8]);
    m
}

/// The handler for most cases: records the arguments and the mask.
extern "C" fn record(sig: i32, info: *const u8, uc: *const u8) {
    let (info, uc) = (info as u64, uc as u64);
    SIGNO.store(sig as u64, SeqCst);
    CODE.store(word(info, 8) & 0xffff_ffff, SeqCst);
    FROM_PID.store(word(info, 16) & 0xffff_ffff, SeqCst);
    STATUS.store(word(info, 24) & 0xffff_ffff, SeqCst);
    ADDR.store(word(info, 16), SeqCst);
    MASK.store(current_mask(), SeqCst);
    UC_MASK.store(word(uc, UC_SIGMASK), SeqCst);
    let local = 0u8;
    STACK.store(&raw const local as u64, SeqCst);
    let mut ss = [0u64; 3];
    sys(SYS_SIGALTSTACK, &[0, ss.as_mut_ptr() as u64]);
    ALT_FLAGS.store(ss[1] & 0xffff_ffff, SeqCst);
    // Changing the alternate stack while on it: EPERM.
    let new = [ss[0], 0, ss[2]];
    ALT_SET.store(
        sys(SYS_SIGALTSTACK, &[new.as_ptr() as u64, 0]) as u64,
        SeqCst,
    );
    COUNT.fetch_add(1, SeqCst);
}

/// The SIGSEGV handler of the register test: checks the frame (the fault's
/// address, error code and vector, XMM0 saved in the FPU state), then moves
/// RIP past the faulting store.
extern "C" fn on_segv(sig: i32, info: *const u8, uc: *const u8) {
    let (info, uc) = (info as u64, uc as u64);
    SIGNO.store(sig as u64, SeqCst);
    CODE.store(word(info, 8) & 0xffff_ffff, SeqCst);
    ADDR.store(word(info, 16), SeqCst);
    let mc = uc + UC_MCONTEXT as u64;
    let (at, after) = (
        &raw const probe_fault_at as u64,
        &raw const probe_after_fault as u64,
    );
    let fp = word(mc, SC_FPSTATE);
    let frame_ok = word(mc, SC_RIP) == at
        && word(mc, SC_CR2) == &raw const READ_ONLY as u64
        && word(mc, SC_TRAPNO) == 14
        && word(mc, SC_ERR) & 2 != 0
        && fp.is_multiple_of(64)
        && word(fp, FX_XMM0) == u64::from_le_bytes([1, 2, 3, 4, 5, 6, 7, 8])
        && word(mc, SC_RAX) == 0x1111_1111_1111_1100;
    FRAME_OK.store(frame_ok as u64, SeqCst);
    set_word(mc, SC_RIP, after);
    COUNT.fetch_add(1, SeqCst);
}

/// The handler of the blocked-read cases: notes whether the frame is that
/// of an interrupted `read` made again (RAX the call's number, RIP at the
/// `syscall` instruction) or one ended with EINTR, and says which on
/// `TELL_FD`.
extern "C" fn on_interrupt(_: i32, _: *const u8, uc: *const u8) {
    let mc = uc as u64 + UC_MCONTEXT as u64;
    let rip = word(mc, SC_RIP);
    let rax = word(mc, SC_RAX);
    // SAFETY: RIP points into this program's text.
    let at_syscall = unsafe { (rip as *const [u8; 2]).read_unaligned() } == [0x0f, 0x05];
    let restarted = rax == SYS_READ && at_syscall;
    let interrupted = rax as i64 == -EINTR;
    if restarted {
        RESTART_SEEN.store(1, SeqCst);
    }
    if interrupted {
        EINTR_SEEN.store(1, SeqCst);
    }
    let fd = TELL_FD.load(SeqCst);
    let what = if restarted || interrupted { c"i" } else { c"e" };
    sys(SYS_WRITE, &[fd, what.as_ptr() as u64, 1]);
    COUNT.fetch_add(1, SeqCst);
}

fn handler_addr(h: extern "C" fn(i32, *const u8, *const u8)) -> u64 {
    h as usize as u64
}

/// Install `handler` (or SIG_DFL 0 / SIG_IGN 1) for `sig`.
fn action(sig: u64, handler: u64, flags: u64, mask: u64) -> i64 {
    let restorer = probe_restorer as *const () as u64;
    let act = [handler, flags | SA_RESTORER, restorer, mask];
    sys(SYS_RT_SIGACTION, &[sig, act.as_ptr() as u64, 0, 8])
}

fn reset() {
    for a in [
        &SIGNO, &CODE, &FROM_PID, &STATUS, &ADDR, &MASK, &UC_MASK, &COUNT, &STACK, &ALT_FLAGS,
        &ALT_SET, &FRAME_OK,
    ] {
        a.store(0, SeqCst);
    }
}

fn bit(sig: u64) -> u64 {
    1 << (sig - 1)
}

fn getpid() -> u64 {
    sys(SYS_GETPID, &[]) as u64
}

/// Fork; the child runs `child` and exits with what it returns.
fn fork(child: impl FnOnce() -> u64) -> u64 {
    let pid = sys(SYS_FORK, &[]);
    if pid == 0 {
        let code = child();
        sys(SYS_EXIT, &[code]);
    }
    pid as u64
}

/// A child that pauses for good (until a signal ends it).
fn pausing_child() -> u64 {
    fork(|| {
        loop {
            sys(34, &[]);
        }
    })
}

/// wait4 for `pid` (again after EINTR): its status.
fn wait(pid: u64) -> i64 {
    let mut status = 0u32;
    loop {
        let r = sys(SYS_WAIT4, &[pid, &raw mut status as u64, 0, 0]);
        if r != -EINTR {
            return if r == pid as i64 { status as i64 } else { r };
        }
    }
}

pub fn run() -> ! {
    handlers_and_masks();
    registers_and_fault();
    default_actions_and_sigchld();
    blocked_calls();
    altstack_and_suspend();
    stop_and_continue();
    bad_frames();
    errnos_and_groups();
    exit(0)
}

/// A handler runs with the right arguments and mask; SA_NODEFER,
/// SA_RESETHAND, sa_mask, pending signals.
fn handlers_and_masks() {
    let mut c = Case::new();
    let me = getpid();
    let h = handler_addr(record);
    c.eq("install", action(SIGUSR1, h, SA_SIGINFO, bit(SIGUSR2)), 0);
    reset();
    c.eq("kill self", sys(SYS_KILL, &[me, SIGUSR1]), 0);
    c.eq("handler ran once", COUNT.load(SeqCst) as i64, 1);
    c.eq("signo", SIGNO.load(SeqCst) as i64, SIGUSR1 as i64);
    c.eq("si_code SI_USER", CODE.load(SeqCst) as i64, 0);
    c.eq("si_pid", FROM_PID.load(SeqCst) as i64, me as i64);
    c.eq(
        "mask in the handler: the signal and sa_mask",
        MASK.load(SeqCst) as i64,
        (bit(SIGUSR1) | bit(SIGUSR2)) as i64,
    );
    c.eq(
        "uc_sigmask: the mask before",
        UC_MASK.load(SeqCst) as i64,
        0,
    );
    c.eq("mask after", current_mask() as i64, 0);
    // tkill and tgkill: SI_TKILL.
    reset();
    c.eq("tkill", sys(SYS_TKILL, &[me, SIGUSR1]), 0);
    c.eq("tkill si_code", CODE.load(SeqCst) as i32 as i64, -6);
    reset();
    c.eq("tgkill", sys(SYS_TGKILL, &[me, me, SIGUSR1]), 0);
    c.eq("tgkill ran", COUNT.load(SeqCst) as i64, 1);
    // SA_NODEFER: the signal itself is not blocked in its handler.
    c.eq("install NODEFER", action(SIGUSR1, h, SA_NODEFER, 0), 0);
    reset();
    sys(SYS_KILL, &[me, SIGUSR1]);
    c.eq("NODEFER mask", MASK.load(SeqCst) as i64, 0);
    // SA_RESETHAND: once, then SIG_DFL again.
    c.eq("install RESETHAND", action(SIGUSR1, h, SA_RESETHAND, 0), 0);
    reset();
    sys(SYS_KILL, &[me, SIGUSR1]);
    c.eq("RESETHAND ran", COUNT.load(SeqCst) as i64, 1);
    let mut old = [9u64; 4];
    sys(SYS_RT_SIGACTION, &[SIGUSR1, 0, old.as_mut_ptr() as u64, 8]);
    c.eq("RESETHAND left SIG_DFL", old[0] as i64, 0);
    // Blocked: pending, then delivered as it is unblocked.
    c.eq("install again", action(SIGUSR2, h, 0, 0), 0);
    let set = bit(SIGUSR2);
    sys(SYS_RT_SIGPROCMASK, &[0, &raw const set as u64, 0, 8]);
    reset();
    sys(SYS_KILL, &[me, SIGUSR2]);
    c.eq("blocked: not run", COUNT.load(SeqCst) as i64, 0);
    let mut pending = 0u64;
    c.eq(
        "rt_sigpending",
        sys(SYS_RT_SIGPENDING, &[&raw mut pending as u64, 8]),
        0,
    );
    c.eq("pending", pending as i64, set as i64);
    sys(SYS_RT_SIGPROCMASK, &[1, &raw const set as u64, 0, 8]);
    c.eq("run once unblocked", COUNT.load(SeqCst) as i64, 1);
    c.eq(
        "and no longer pending",
        {
            sys(SYS_RT_SIGPENDING, &[&raw mut pending as u64, 8]);
            pending as i64
        },
        0,
    );
    // SIG_IGN drops a signal; ignoring a pending one discards it.
    c.eq("ignore", action(SIGUSR2, 1, 0, 0), 0);
    reset();
    sys(SYS_KILL, &[me, SIGUSR2]);
    c.eq("ignored", COUNT.load(SeqCst) as i64, 0);
    c.report("linux_signal_handler_mask_and_flags");
}

/// A SIGSEGV handler sees the fault; rt_sigreturn restores every register.
fn registers_and_fault() {
    let mut c = Case::new();
    let restorer = probe_restorer_clobber as *const () as u64;
    let act = [handler_addr(on_segv), SA_SIGINFO | SA_RESTORER, restorer, 0];
    c.eq(
        "install SIGSEGV",
        sys(SYS_RT_SIGACTION, &[SIGSEGV, act.as_ptr() as u64, 0, 8]),
        0,
    );
    reset();
    // SAFETY: `probe_regs_test` keeps the callee-saved registers and the
    // stack as the C ABI wants, and faults once into the handler above.
    unsafe { probe_regs_test() };
    c.eq("the handler ran once", COUNT.load(SeqCst) as i64, 1);
    c.eq("signo", SIGNO.load(SeqCst) as i64, SIGSEGV as i64);
    c.eq("si_code SEGV_ACCERR", CODE.load(SeqCst) as i64, 2);
    c.eq(
        "si_addr",
        ADDR.load(SeqCst) as i64,
        &raw const READ_ONLY as i64,
    );
    c.ok(
        "the frame: RIP, CR2, trap number, error code, RAX and XMM0",
        FRAME_OK.load(SeqCst) == 1,
    );
    for (i, g) in GPR_OUT.iter().take(15).enumerate() {
        c.eq(
            "a general register after rt_sigreturn",
            g.load(SeqCst) as i64,
            0x1111_1111_1111_1100 + i as i64,
        );
    }
    c.ok(
        "DF after rt_sigreturn",
        GPR_OUT[15].load(SeqCst) & 0x400 != 0,
    );
    for (i, x) in XMM_OUT.iter().enumerate() {
        let mut want = [0u8; 8];
        for (j, b) in want.iter_mut().enumerate() {
            *b = ((i * 8 + j) as u8).wrapping_add(1);
        }
        c.eq(
            "an XMM register after rt_sigreturn",
            x.load(SeqCst) as i64,
            u64::from_le_bytes(want) as i64,
        );
    }
    action(SIGSEGV, 0, 0, 0);
    c.report("linux_sigreturn_restores_registers_and_fpu");
}

/// Default actions as wait statuses; SIGCHLD's handler; SIGPIPE.
fn default_actions_and_sigchld() {
    let mut c = Case::new();
    // SIGTERM kills a child blocked in pause.
    let child = pausing_child();
    c.eq("kill a child", sys(SYS_KILL, &[child, SIGTERM]), 0);
    c.eq("its status: the signal", wait(child), SIGTERM as i64);
    // SIGPIPE kills a writer to a pipe without a reader.
    let child = fork(|| {
        let mut fds = [0i32; 2];
        sys(SYS_PIPE2, &[fds.as_mut_ptr() as u64, 0]);
        sys(SYS_CLOSE, &[fds[0] as u64]);
        sys(SYS_WRITE, &[fds[1] as u64, c"x".as_ptr() as u64, 1]);
        1
    });
    c.eq("SIGPIPE kills the writer", wait(child), SIGPIPE as i64);
    // SIGCHLD's handler: the child's pid and exit status.
    c.eq(
        "install SIGCHLD",
        action(SIGCHLD, handler_addr(record), SA_SIGINFO, 0),
        0,
    );
    reset();
    let child = fork(|| 7);
    c.eq("the child's exit", wait(child), 7 << 8);
    c.eq("SIGCHLD ran once", COUNT.load(SeqCst) as i64, 1);
    c.eq("SIGCHLD signo", SIGNO.load(SeqCst) as i64, SIGCHLD as i64);
    c.eq("si_code CLD_EXITED", CODE.load(SeqCst) as i64, 1);
    c.eq("si_pid", FROM_PID.load(SeqCst) as i64, child as i64);
    c.eq("si_status", STATUS.load(SeqCst) as i64, 7);
    action(SIGCHLD, 0, 0, 0);
    // A signal from another process stops a busy loop that makes no call.
    c.eq(
        "install USR1",
        action(SIGUSR1, handler_addr(record), 0, 0),
        0,
    );
    reset();
    let me = getpid();
    let child = fork(|| {
        sys(SYS_KILL, &[sys(SYS_GETPPID, &[]) as u64, SIGUSR1]);
        0
    });
    while COUNT.load(SeqCst) == 0 {
        core::hint::spin_loop();
    }
    c.eq(
        "the busy loop's handler",
        SIGNO.load(SeqCst) as i64,
        SIGUSR1 as i64,
    );
    c.eq("from the child", FROM_PID.load(SeqCst) as i64, child as i64);
    c.ok("to me", me == getpid());
    c.eq("the child", wait(child), 0);
    c.report("linux_signal_default_actions_sigchld_sigpipe");
}

/// A blocked pipe read is interrupted: EINTR without SA_RESTART, made
/// again with it. A child sends the signal, waits for the handler's word
/// on a second pipe, and sends it again until the handler says it
/// interrupted the read (so the outcome does not depend on when the
/// child runs, and neither process spins).
fn blocked_calls() {
    let mut c = Case::new();
    for restart in [false, true] {
        let (mut data, mut tell) = ([0i32; 2], [0i32; 2]);
        sys(SYS_PIPE2, &[data.as_mut_ptr() as u64, 0]);
        sys(SYS_PIPE2, &[tell.as_mut_ptr() as u64, 0]);
        let flags = if restart { SA_RESTART } else { 0 };
        c.eq(
            "install",
            action(SIGUSR1, handler_addr(on_interrupt), flags, 0),
            0,
        );
        RESTART_SEEN.store(0, SeqCst);
        EINTR_SEEN.store(0, SeqCst);
        TELL_FD.store(tell[1] as u64, SeqCst);
        let parent = getpid();
        let child = fork(|| {
            let mut b = [0u8; 1];
            loop {
                sys(SYS_KILL, &[parent, SIGUSR1]);
                let n = sys(SYS_READ, &[tell[0] as u64, b.as_mut_ptr() as u64, 1]);
                if n != 1 || b[0] == b'i' {
                    break;
                }
            }
            if restart {
                sys(SYS_WRITE, &[data[1] as u64, c"d".as_ptr() as u64, 1]);
            }
            0
        });
        let mut got = [0u8; 4];
        let r = sys(SYS_READ, &[data[0] as u64, got.as_mut_ptr() as u64, 4]);
        action(SIGUSR1, 0, 0, 0);
        if restart {
            c.eq("SA_RESTART: the read made again gets the data", r, 1);
            c.eq("the byte", got[0] as i64, b'd' as i64);
            c.eq(
                "a frame made the read again",
                RESTART_SEEN.load(SeqCst) as i64,
                1,
            );
        } else {
            c.eq("no SA_RESTART: EINTR", r, -EINTR);
            c.eq("the frame held EINTR", EINTR_SEEN.load(SeqCst) as i64, 1);
        }
        c.eq("the child", wait(child), 0);
        for fd in [data[0], data[1], tell[0], tell[1]] {
            sys(SYS_CLOSE, &[fd as u64]);
        }
    }
    c.report("linux_signal_interrupts_blocked_pipe_read");
}

/// sigaltstack with SA_ONSTACK; rt_sigsuspend waking on a signal.
fn altstack_and_suspend() {
    let mut c = Case::new();
    let size = 16384u64;
    let stack = sys(SYS_MMAP, &[0, size, 3, 0x22, u64::MAX, 0]) as u64;
    let small = [stack, 0, 1024];
    c.eq(
        "sigaltstack too small",
        sys(SYS_SIGALTSTACK, &[small.as_ptr() as u64, 0]),
        -ENOMEM,
    );
    let bad = [stack, 7, size];
    c.eq(
        "sigaltstack bad flags",
        sys(SYS_SIGALTSTACK, &[bad.as_ptr() as u64, 0]),
        -EINVAL,
    );
    let ss = [stack, 0, size];
    c.eq(
        "sigaltstack",
        sys(SYS_SIGALTSTACK, &[ss.as_ptr() as u64, 0]),
        0,
    );
    let mut old = [0u64; 3];
    sys(SYS_SIGALTSTACK, &[0, old.as_mut_ptr() as u64]);
    c.ok(
        "sigaltstack reads back",
        old[0] == stack && old[1] & 0xffff_ffff == 0 && old[2] == size,
    );
    c.eq(
        "install ONSTACK",
        action(SIGUSR1, handler_addr(record), SA_ONSTACK, 0),
        0,
    );
    reset();
    sys(SYS_KILL, &[getpid(), SIGUSR1]);
    let sp = STACK.load(SeqCst);
    c.ok(
        "the handler ran on the alternate stack",
        sp > stack && sp < stack + size,
    );
    c.eq(
        "SS_ONSTACK in the handler",
        ALT_FLAGS.load(SeqCst) as i64,
        1,
    );
    c.eq(
        "changing it while on it",
        ALT_SET.load(SeqCst) as i64,
        -EPERM,
    );
    let off = [0u64, 2, 0];
    c.eq(
        "disable",
        sys(SYS_SIGALTSTACK, &[off.as_ptr() as u64, 0]),
        0,
    );
    // rt_sigsuspend: a blocked signal pending, then one from a child.
    c.eq(
        "install USR2",
        action(SIGUSR2, handler_addr(record), 0, 0),
        0,
    );
    let set = bit(SIGUSR2);
    sys(SYS_RT_SIGPROCMASK, &[0, &raw const set as u64, 0, 8]);
    reset();
    let parent = getpid();
    let child = fork(|| {
        sys(SYS_KILL, &[parent, SIGUSR2]);
        0
    });
    c.eq("the child", wait(child), 0);
    c.eq("blocked meanwhile", COUNT.load(SeqCst) as i64, 0);
    let none = 0u64;
    c.eq(
        "rt_sigsuspend",
        sys(SYS_RT_SIGSUSPEND, &[&raw const none as u64, 8]),
        -EINTR,
    );
    c.eq("its handler ran", COUNT.load(SeqCst) as i64, 1);
    c.eq(
        "with the suspend mask",
        MASK.load(SeqCst) as i64,
        set as i64,
    );
    c.eq("the mask is back", current_mask() as i64, set as i64);
    sys(SYS_RT_SIGPROCMASK, &[1, &raw const set as u64, 0, 8]);
    c.report("linux_sigaltstack_and_sigsuspend");
}

/// wait4 with `options` for `pid`: (its return, the status).
fn wait_opts(pid: u64, options: u64) -> [i64; 2] {
    let mut status = 0u32;
    let r = sys(SYS_WAIT4, &[pid, &raw mut status as u64, options, 0]);
    [r, status as i64]
}

/// waitid(P_PID, pid, ..., options): (its return, si_signo, si_code,
/// si_pid, si_status).
fn waitid(pid: u64, options: u64) -> [i64; 5] {
    let mut info = [0u32; 32];
    let r = sys(
        SYS_WAITID,
        &[P_PID, pid, info.as_mut_ptr() as u64, options, 0],
    );
    [
        r,
        info[0] as i64,
        info[2] as i64,
        info[4] as i64,
        info[6] as i64,
    ]
}

/// `c.eq` for each of several values.
fn eqs<const N: usize>(c: &mut Case, what: &'static str, got: [i64; N], want: [i64; N]) {
    for (g, w) in got.into_iter().zip(want) {
        c.eq(what, g, w);
    }
}

/// SIGSTOP/SIGTSTP stop a child in a group of its own (wait4's WUNTRACED, waitid's WSTOPPED and
/// SIGCHLD's CLD_STOPPED report it), SIGCONT continues it (WCONTINUED,
/// CLD_CONTINUED); a pipe read it was blocked in is made again; a signal
/// that kills waits while it is stopped, SIGKILL does not.
fn stop_and_continue() {
    let mut c = Case::new();
    let mut data = [0i32; 2];
    sys(SYS_PIPE2, &[data.as_mut_ptr() as u64, 0]);
    c.eq(
        "SIGCHLD handler",
        action(SIGCHLD, handler_addr(record), SA_SIGINFO, 0),
        0,
    );
    let child = fork(|| {
        let mut b = [0u8; 1];
        let r = sys(SYS_READ, &[data[0] as u64, b.as_mut_ptr() as u64, 1]);
        if r == 1 { b[0] as u64 } else { 100 }
    });
    // A group of its own in this session: its parent here, in another
    // group, keeps the group from being orphaned, which would drop SIGTSTP.
    c.eq("own group", sys(SYS_SETPGID, &[child, child]), 0);
    reset();
    c.eq("SIGSTOP", sys(SYS_KILL, &[child, SIGSTOP]), 0);
    eqs(
        &mut c,
        "WUNTRACED",
        wait_opts(child, WUNTRACED),
        [child as i64, (19 << 8) | 0x7f],
    );
    c.eq("SIGCHLD CLD_STOPPED", CODE.load(SeqCst) as i64, 5);
    c.eq("SIGCHLD si_status", STATUS.load(SeqCst) as i64, 19);
    c.eq("reported once", wait_opts(child, WUNTRACED | WNOHANG)[0], 0);
    c.eq("SIGCONT", sys(SYS_KILL, &[child, SIGCONT]), 0);
    eqs(
        &mut c,
        "WCONTINUED",
        wait_opts(child, WCONTINUED),
        [child as i64, 0xffff],
    );
    c.eq("SIGCHLD CLD_CONTINUED", CODE.load(SeqCst) as i64, 6);
    // SA_NOCLDSTOP: no SIGCHLD for stops.
    action(SIGCHLD, handler_addr(record), SA_SIGINFO | SA_NOCLDSTOP, 0);
    reset();
    c.eq("SIGTSTP", sys(SYS_KILL, &[child, SIGTSTP]), 0);
    eqs(
        &mut c,
        "waitid WSTOPPED",
        waitid(child, 2),
        [0, SIGCHLD as i64, 5, child as i64, SIGTSTP as i64],
    );
    c.eq("no SIGCHLD with SA_NOCLDSTOP", COUNT.load(SeqCst) as i64, 0);
    sys(SYS_KILL, &[child, SIGCONT]);
    eqs(
        &mut c,
        "waitid WCONTINUED",
        waitid(child, WCONTINUED),
        [0, SIGCHLD as i64, 6, child as i64, SIGCONT as i64],
    );
    sys(SYS_WRITE, &[data[1] as u64, c"z".as_ptr() as u64, 1]);
    c.eq(
        "its read made again got the byte",
        wait(child),
        (b'z' as i64) << 8,
    );
    action(SIGCHLD, 0, 0, 0);
    // A kill waits while stopped; SIGCONT lets it act.
    let child = pausing_child();
    sys(SYS_KILL, &[child, SIGSTOP]);
    c.eq("stopped", wait_opts(child, WUNTRACED)[1], (19 << 8) | 0x7f);
    sys(SYS_KILL, &[child, SIGTERM]);
    c.eq(
        "SIGTERM waits while stopped",
        wait_opts(child, WNOHANG)[0],
        0,
    );
    eqs(
        &mut c,
        "waitid WNOHANG: nothing",
        waitid(child, WEXITED | WNOHANG),
        [0, 0, 0, 0, 0],
    );
    sys(SYS_KILL, &[child, SIGCONT]);
    c.eq("then it acts", wait(child), SIGTERM as i64);
    let child = pausing_child();
    sys(SYS_KILL, &[child, SIGSTOP]);
    wait_opts(child, WUNTRACED);
    sys(SYS_KILL, &[child, 9]);
    eqs(
        &mut c,
        "SIGKILL kills a stopped child",
        waitid(child, WEXITED),
        [0, SIGCHLD as i64, 2, child as i64, 9],
    );
    // A process that stops itself goes on after its kill once continued.
    let child = fork(|| {
        if sys(SYS_KILL, &[getpid(), SIGSTOP]) != 0 {
            return 1;
        }
        5
    });
    c.eq(
        "stopped itself",
        wait_opts(child, WUNTRACED)[1],
        (19 << 8) | 0x7f,
    );
    sys(SYS_KILL, &[child, SIGCONT]);
    c.eq("and went on", wait(child), 5 << 8);
    // waitid's errnos.
    let mut info = [0u32; 32];
    let ip = info.as_mut_ptr() as u64;
    c.eq(
        "waitid no options",
        sys(SYS_WAITID, &[0, 0, ip, 0, 0]),
        -EINVAL,
    );
    c.eq(
        "waitid bad idtype",
        sys(SYS_WAITID, &[7, 0, ip, WEXITED, 0]),
        -EINVAL,
    );
    c.eq(
        "waitid P_PID 0",
        sys(SYS_WAITID, &[P_PID, 0, ip, WEXITED, 0]),
        -EINVAL,
    );
    c.eq(
        "waitid no child",
        sys(SYS_WAITID, &[0, 0, ip, WEXITED, 0]),
        -ECHILD,
    );
    sys(SYS_CLOSE, &[data[0] as u64]);
    sys(SYS_CLOSE, &[data[1] as u64]);
    c.report("linux_stop_continue_and_waitid");
}

/// A handler that gives its frame a non-canonical RIP.
extern "C" fn bad_rip(_: i32, _: *const u8, uc: *const u8) {
    set_word(uc as u64 + UC_MCONTEXT as u64, SC_RIP, NONCANON);
}

/// Frames a process cannot return through end it with SIGSEGV (and the
/// guest kernel goes on): rt_sigreturn with no frame under RSP, a handler
/// without SA_RESTORER, a frame whose RIP is not canonical, and a fault
/// while SIGSEGV is blocked, which a handler cannot catch.
fn bad_frames() {
    let mut c = Case::new();
    let child = fork(|| {
        // SAFETY: deliberately not: RSP points at nothing, and
        // rt_sigreturn must end this process with SIGSEGV.
        unsafe {
            core::arch::asm!(
                "mov rsp, 16",
                "mov eax, 15",
                "syscall",
                "ud2",
                options(noreturn)
            )
        }
    });
    c.eq("rt_sigreturn without a frame", wait(child), SIGSEGV as i64);
    let child = fork(|| {
        let act = [handler_addr(record), 0, 0, 0];
        sys(SYS_RT_SIGACTION, &[SIGUSR1, act.as_ptr() as u64, 0, 8]);
        sys(SYS_KILL, &[getpid(), SIGUSR1]);
        1
    });
    c.eq("a handler without SA_RESTORER", wait(child), SIGSEGV as i64);
    let child = fork(|| {
        action(SIGUSR1, handler_addr(bad_rip), 0, 0);
        sys(SYS_KILL, &[getpid(), SIGUSR1]);
        1
    });
    c.eq(
        "a frame with a non-canonical RIP",
        wait(child),
        SIGSEGV as i64,
    );
    let child = fork(|| {
        action(SIGSEGV, handler_addr(record), 0, 0);
        let set = bit(SIGSEGV);
        sys(SYS_RT_SIGPROCMASK, &[0, &raw const set as u64, 0, 8]);
        // SAFETY: deliberately not: the store faults, and with SIGSEGV
        // blocked the process must die of it.
        unsafe { core::ptr::null_mut::<u64>().write_volatile(1) };
        1
    });
    c.eq("a fault with SIGSEGV blocked", wait(child), SIGSEGV as i64);
    c.report("linux_bad_signal_frames_kill_with_sigsegv");
}

/// kill's and the signal calls' errnos; process groups and sessions.
fn errnos_and_groups() {
    let mut c = Case::new();
    let me = getpid();
    c.eq("kill signal 65", sys(SYS_KILL, &[me, 65]), -EINVAL);
    c.eq("kill signal -1", sys(SYS_KILL, &[me, u64::MAX]), -EINVAL);
    c.eq("kill no such pid", sys(SYS_KILL, &[99999, SIGTERM]), -ESRCH);
    c.eq("kill 0 no such pid", sys(SYS_KILL, &[99999, 0]), -ESRCH);
    c.eq("kill 0 myself", sys(SYS_KILL, &[me, 0]), 0);
    c.eq("kill 0 my group", sys(SYS_KILL, &[0, 0]), 0);
    c.eq(
        "kill no such group",
        sys(SYS_KILL, &[(-99999i64) as u64, 0]),
        -ESRCH,
    );
    c.eq("tkill 0", sys(SYS_TKILL, &[0, SIGUSR1]), -EINVAL);
    c.eq("tgkill 0", sys(SYS_TGKILL, &[0, me, 0]), -EINVAL);
    c.eq(
        "tgkill other thread",
        sys(SYS_TGKILL, &[me, me + 1, 0]),
        -ESRCH,
    );
    let b = [0u64; 4];
    let bp = b.as_ptr() as u64;
    c.eq(
        "rt_sigaction act kernel",
        sys(SYS_RT_SIGACTION, &[SIGUSR1, KERNEL, 0, 8]),
        -EFAULT,
    );
    c.eq(
        "rt_sigaction oact kernel",
        sys(SYS_RT_SIGACTION, &[SIGUSR1, 0, KERNEL, 8]),
        -EFAULT,
    );
    c.eq(
        "rt_sigaction oact null page",
        sys(SYS_RT_SIGACTION, &[SIGUSR1, 0, 8, 8]),
        -EFAULT,
    );
    c.eq(
        "rt_sigaction signal 0",
        sys(SYS_RT_SIGACTION, &[0, 0, 0, 8]),
        -EINVAL,
    );
    c.eq(
        "rt_sigaction signal 65",
        sys(SYS_RT_SIGACTION, &[65, 0, 0, 8]),
        -EINVAL,
    );
    c.eq(
        "rt_sigaction SIGSTOP",
        sys(SYS_RT_SIGACTION, &[19, bp, 0, 8]),
        -EINVAL,
    );
    c.eq(
        "rt_sigprocmask set kernel",
        sys(SYS_RT_SIGPROCMASK, &[0, KERNEL, 0, 8]),
        -EFAULT,
    );
    c.eq(
        "rt_sigprocmask oset kernel",
        sys(SYS_RT_SIGPROCMASK, &[0, 0, KERNEL, 8]),
        -EFAULT,
    );
    c.eq(
        "rt_sigpending kernel",
        sys(SYS_RT_SIGPENDING, &[KERNEL, 8]),
        -EFAULT,
    );
    c.eq(
        "rt_sigpending size",
        sys(SYS_RT_SIGPENDING, &[bp, 9]),
        -EINVAL,
    );
    c.eq(
        "rt_sigsuspend kernel",
        sys(SYS_RT_SIGSUSPEND, &[KERNEL, 8]),
        -EFAULT,
    );
    c.eq(
        "rt_sigsuspend size",
        sys(SYS_RT_SIGSUSPEND, &[bp, 4]),
        -EINVAL,
    );
    c.eq(
        "sigaltstack kernel",
        sys(SYS_SIGALTSTACK, &[KERNEL, 0]),
        -EFAULT,
    );
    c.eq(
        "sigaltstack old kernel",
        sys(SYS_SIGALTSTACK, &[0, KERNEL]),
        -EFAULT,
    );
    // Groups and sessions: the first process leads both.
    c.eq("getpgrp", sys(SYS_GETPGRP, &[]), me as i64);
    c.eq("getpgid(0)", sys(SYS_GETPGID, &[0]), me as i64);
    c.eq("getsid(0)", sys(SYS_GETSID, &[0]), me as i64);
    c.eq("getpgid no such pid", sys(SYS_GETPGID, &[99999]), -ESRCH);
    c.eq("getsid no such pid", sys(SYS_GETSID, &[99999]), -ESRCH);
    c.eq("setsid as a group leader", sys(SYS_SETSID, &[]), -EPERM);
    c.eq(
        "setpgid negative",
        sys(SYS_SETPGID, &[0, u64::MAX]),
        -EINVAL,
    );
    c.eq("setpgid no such pid", sys(SYS_SETPGID, &[99999, 0]), -ESRCH);
    c.eq("setpgid session leader", sys(SYS_SETPGID, &[0, 0]), -EPERM);
    // A child: inherits the group; its parent moves it to a group of its
    // own; joining a group that does not exist is EPERM. The child checks
    // setsid (a new session and group) and reports by exit status.
    let mut fds = [0i32; 2];
    sys(SYS_PIPE2, &[fds.as_mut_ptr() as u64, 0]);
    let child = fork(|| {
        let mut b = [0u8; 1];
        sys(SYS_READ, &[fds[0] as u64, b.as_mut_ptr() as u64, 1]);
        let mine = getpid();
        if sys(SYS_GETPGRP, &[]) != mine as i64 {
            return 2;
        }
        if sys(SYS_SETSID, &[]) != -EPERM {
            return 3;
        }
        0
    });
    c.eq("the child's group", sys(SYS_GETPGID, &[child]), me as i64);
    c.eq("the child's session", sys(SYS_GETSID, &[child]), me as i64);
    c.eq(
        "setpgid(child, child)",
        sys(SYS_SETPGID, &[child, child]),
        0,
    );
    c.eq("its new group", sys(SYS_GETPGID, &[child]), child as i64);
    c.eq(
        "setpgid to no group",
        sys(SYS_SETPGID, &[child, 99999]),
        -EPERM,
    );
    c.eq(
        "signal the child's group (0)",
        sys(SYS_KILL, &[(-(child as i64)) as u64, 0]),
        0,
    );
    let g = (-(child as i64)) as u64;
    c.eq(
        "wait4 for my group: the child left it",
        sys(SYS_WAIT4, &[0, 0, WNOHANG, 0]),
        -ECHILD,
    );
    c.eq(
        "wait4 for its group: running",
        sys(SYS_WAIT4, &[g, 0, WNOHANG, 0]),
        0,
    );
    let mut info = [0u32; 32];
    let ip = info.as_mut_ptr() as u64;
    c.eq(
        "waitid P_PGID of my group",
        sys(SYS_WAITID, &[2, 0, ip, WEXITED | WNOHANG, 0]),
        -ECHILD,
    );
    c.eq(
        "waitid P_PGID of its group: running",
        sys(SYS_WAITID, &[2, child, ip, WEXITED | WNOHANG, 0]),
        0,
    );
    sys(SYS_WRITE, &[fds[1] as u64, c"g".as_ptr() as u64, 1]);
    let mut status = 1u32;
    c.eq(
        "wait4 for its group",
        sys(SYS_WAIT4, &[g, &raw mut status as u64, 0, 0]),
        child as i64,
    );
    c.eq("the child saw its group", status as i64, 0);
    let child = fork(|| {
        let mine = getpid();
        if sys(SYS_SETSID, &[]) != mine as i64 {
            return 2;
        }
        if sys(SYS_GETSID, &[0]) != mine as i64 || sys(SYS_GETPGRP, &[]) != mine as i64 {
            return 3;
        }
        if sys(SYS_SETPGID, &[0, 0]) != -EPERM {
            return 4;
        }
        0
    });
    c.eq("setsid in a child", wait(child), 0);
    sys(SYS_CLOSE, &[fds[0] as u64]);
    sys(SYS_CLOSE, &[fds[1] as u64]);
    c.report("linux_kill_errnos_and_process_groups");
}
