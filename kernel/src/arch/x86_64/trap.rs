//! Entry into the kernel (exceptions, interrupts, `syscall`) and the way back.
//!
//! Like seL4, the kernel keeps one stack per CPU and saves a user thread's
//! registers straight into its thread object: TSS.RSP0 points just past the running thread's [`UserContext`], so
//! the CPU's own push of SS..RIP and the stubs' pushes of the general
//! registers fill it in place. Only then does the entry code switch to the
//! kernel stack and call Rust, which never returns there: it leaves through
//! [`resume_sysret`] or [`resume_iret`].
//!
//! The kernel runs with interrupts disabled; it is never preempted. Faults
//! taken in ring 0 are kernel bugs and end in a panic that names them.

use super::cpu::{self, PERCPU_KERNEL_RSP, PERCPU_TSS_RSP0, PERCPU_USER_RSP};
use core::mem::{offset_of, size_of};
use x86_64::VirtAddr;
use x86_64::structures::idt::InterruptDescriptorTable;

/// A user thread's registers as the entry code saves them.
///
/// 16-byte aligned with a size that is a multiple of 16, so its end is
/// 16-byte aligned: in 64-bit mode the CPU aligns RSP0 down to 16 before it
/// pushes the interrupt frame, and the frame must land exactly at the end.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default)]
pub struct UserContext {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Vector of the exception/interrupt, or [`SYSCALL_VECTOR`].
    pub vector: u64,
    /// The CPU's error code, or 0.
    pub error: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// `vector` value of a context saved by `syscall`.
pub const SYSCALL_VECTOR: u64 = 0x100;

const RFLAGS_IF: u64 = 1 << 9;
const RFLAGS_FIXED: u64 = 1 << 1;
/// IOPL (12–13), NT (14), RF (16), VM (17): never returned to user mode.
const RFLAGS_FORBIDDEN: u64 = (3 << 12) | (1 << 14) | (1 << 16) | (1 << 17);

impl UserContext {
    /// A fresh context that starts at `rip` with stack `rsp`.
    pub fn new(rip: u64, rsp: u64) -> Self {
        UserContext {
            rip,
            rsp,
            cs: u64::from(cpu::USER_CS),
            ss: u64::from(cpu::USER_SS),
            rflags: RFLAGS_IF | RFLAGS_FIXED,
            ..Default::default()
        }
    }

    /// The context as its 22 words, in memory order.
    pub fn to_words(self) -> [u64; 22] {
        [
            self.r15,
            self.r14,
            self.r13,
            self.r12,
            self.r11,
            self.r10,
            self.r9,
            self.r8,
            self.rbp,
            self.rdi,
            self.rsi,
            self.rdx,
            self.rcx,
            self.rbx,
            self.rax,
            self.vector,
            self.error,
            self.rip,
            self.cs,
            self.rflags,
            self.rsp,
            self.ss,
        ]
    }

    /// Force the invariants every return to user mode relies on: user
    /// selectors, IF set, IOPL/NT/RF/VM clear.
    pub fn sanitize(&mut self) {
        self.cs = u64::from(cpu::USER_CS);
        self.ss = u64::from(cpu::USER_SS);
        self.rflags = Self::user_rflags(self.rflags);
    }

    /// `rflags` as a return to user mode may load it: IF set, IOPL, NT, RF
    /// and VM clear. The one definition of that rule; `sysretq` and
    /// `iretq` take the selectors from elsewhere (STAR; forced in
    /// `__resume_iret`).
    pub const fn user_rflags(rflags: u64) -> u64 {
        (rflags | RFLAGS_IF | RFLAGS_FIXED) & !RFLAGS_FORBIDDEN
    }
}

const _: () = assert!(size_of::<UserContext>() == 22 * 8);
const _: () = assert!(size_of::<UserContext>().is_multiple_of(16));
const CTX_RIP: usize = offset_of!(UserContext, rip);
const CTX_VECTOR: usize = offset_of!(UserContext, vector);
const CTX_CS_FROM_VECTOR: usize = offset_of!(UserContext, cs) - CTX_VECTOR;

/// Bytes between consecutive entry stubs.
const STUB_SIZE: u64 = 16;

core::arch::global_asm!(
    r#"
    .section .text.trap, "ax"
    /* The general registers in UserContext order (rax highest). */
    .macro SAVE_GPRS
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    .endm
    .macro RESTORE_GPRS
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    .endm

    .p2align 4
    .global __trap_stubs
__trap_stubs:
    .set vec, 0
    .rept 256
    .p2align 4
    /* Vectors 8, 10-14, 17, 21, 29, 30 push an error code; the rest get a 0. */
    .if (vec != 8) && ((vec < 10) || (vec > 14)) && (vec != 17) && (vec != 21) && (vec != 29) && (vec != 30)
    push $0
    .endif
    push $vec
    /* NMI, double fault and machine check arrive on IST stacks: their
       frame is not in the thread, so they never take the user path. */
    .if (vec == 2) || (vec == 8) || (vec == 18)
    jmp trap_ist
    .else
    jmp trap_common
    .endif
    .set vec, vec + 1
    .endr

trap_common:
    testb $3, {cs_off}(%rsp)
    jz trap_from_kernel
    swapgs
    SAVE_GPRS
    mov %gs:{kernel_rsp}, %rsp
    /* Interrupt and exception gates keep the user's DF, AC, TF and NT
       (only `syscall` clears them, through FMASK). The kernel's code
       assumes DF = 0 (its memcpy runs backwards otherwise) and AC = 0
       (SMAP), so all four go before any Rust runs. IF is already 0. */
    pushq $2
    popfq
    call {user_trap}
    ud2

trap_from_kernel:
    SAVE_GPRS
    cld
    mov %rsp, %rdi
    call {kernel_trap}
    RESTORE_GPRS
    add $16, %rsp
    iretq

trap_ist:
    testb $3, {cs_off}(%rsp)
    jz 1f
    swapgs
1:  pushq $2
    popfq
    SAVE_GPRS
    mov %rsp, %rdi
    call {ist_trap}
    RESTORE_GPRS
    add $16, %rsp
    /* Back to user mode: give the user its GS base again. */
    testb $3, 8(%rsp)
    jz 2f
    swapgs
2:  iretq

    .global __syscall_entry
__syscall_entry:
    /* Stores by offset from the context's end (TSS.RSP0), not pushes:
       the CS and SS words are not written (`sysretq` takes the selectors
       from STAR, and the `iretq` exit forces both), and RCX and R11 are
       stored twice, as themselves and as RIP and RFLAGS. */
    swapgs
    mov %rsp, %gs:{user_rsp}
    mov %gs:{tss_rsp0}, %rsp
    mov %rax, {rax}-{ctx}(%rsp)
    mov %rbx, {rbx}-{ctx}(%rsp)
    mov %rcx, {rcx}-{ctx}(%rsp)
    mov %rdx, {rdx}-{ctx}(%rsp)
    mov %rsi, {rsi}-{ctx}(%rsp)
    mov %rdi, {rdi}-{ctx}(%rsp)
    mov %rbp, {rbp}-{ctx}(%rsp)
    mov %r8, {r8}-{ctx}(%rsp)
    mov %r9, {r9}-{ctx}(%rsp)
    mov %r10, {r10}-{ctx}(%rsp)
    mov %r11, {r11}-{ctx}(%rsp)
    mov %r12, {r12}-{ctx}(%rsp)
    mov %r13, {r13}-{ctx}(%rsp)
    mov %r14, {r14}-{ctx}(%rsp)
    mov %r15, {r15}-{ctx}(%rsp)
    mov %rcx, {rip}-{ctx}(%rsp)
    mov %r11, {rflags}-{ctx}(%rsp)
    mov %gs:{user_rsp}, %rcx
    mov %rcx, {rsp}-{ctx}(%rsp)
    movq $0, {error}-{ctx}(%rsp)
    movq ${syscall_vector}, {vector}-{ctx}(%rsp)
    mov %gs:{kernel_rsp}, %rsp
    call {syscall}
    ud2

    .global __resume_iret
__resume_iret:
    /* RSP at the interrupt frame (RIP..SS) that iretq pops; the general
       registers by offset from the context, RDI, the base, last. */
    lea {rip}(%rdi), %rsp
    mov {r15}(%rdi), %r15
    mov {r14}(%rdi), %r14
    mov {r13}(%rdi), %r13
    mov {r12}(%rdi), %r12
    mov {r11}(%rdi), %r11
    mov {r10}(%rdi), %r10
    mov {r9}(%rdi), %r9
    mov {r8}(%rdi), %r8
    mov {rbp}(%rdi), %rbp
    mov {rsi}(%rdi), %rsi
    mov {rdx}(%rdi), %rdx
    mov {rcx}(%rdi), %rcx
    mov {rbx}(%rdi), %rbx
    mov {rax}(%rdi), %rax
    mov {rdi}(%rdi), %rdi
    /* Only `iretq` loads CS and SS from the context (`sysretq` takes
       them from STAR): forced to the user selectors here, where used. */
    movq ${user_cs}, 8(%rsp)
    movq ${user_ss}, 32(%rsp)
    swapgs
    iretq

    .global __resume_sysret
__resume_sysret:
    /* RCX and R11 arrive holding RIP and RFLAGS (sysretq's operands,
       checked and sanitized by the caller); their saved values are never
       loaded. The rest by offset from the context, not pops, so nothing
       skips over the vector, error and CS words. RDI, the base, goes
       last. */
    mov {r15}(%rdi), %r15
    mov {r14}(%rdi), %r14
    mov {r13}(%rdi), %r13
    mov {r12}(%rdi), %r12
    mov {r10}(%rdi), %r10
    mov {r9}(%rdi), %r9
    mov {r8}(%rdi), %r8
    mov {rbp}(%rdi), %rbp
    mov {rsi}(%rdi), %rsi
    mov {rdx}(%rdi), %rdx
    mov {rbx}(%rdi), %rbx
    mov {rax}(%rdi), %rax
    swapgs
    mov {rsp}(%rdi), %rsp
    mov {rdi}(%rdi), %rdi
    sysretq
    "#,
    cs_off = const 8 * 3,
    r15 = const offset_of!(UserContext, r15),
    r14 = const offset_of!(UserContext, r14),
    r13 = const offset_of!(UserContext, r13),
    r12 = const offset_of!(UserContext, r12),
    r11 = const offset_of!(UserContext, r11),
    r10 = const offset_of!(UserContext, r10),
    r9 = const offset_of!(UserContext, r9),
    r8 = const offset_of!(UserContext, r8),
    rbp = const offset_of!(UserContext, rbp),
    rdi = const offset_of!(UserContext, rdi),
    rsi = const offset_of!(UserContext, rsi),
    rdx = const offset_of!(UserContext, rdx),
    rcx = const offset_of!(UserContext, rcx),
    rbx = const offset_of!(UserContext, rbx),
    rax = const offset_of!(UserContext, rax),
    rip = const CTX_RIP,
    rflags = const offset_of!(UserContext, rflags),
    rsp = const offset_of!(UserContext, rsp),
    kernel_rsp = const PERCPU_KERNEL_RSP,
    tss_rsp0 = const PERCPU_TSS_RSP0,
    ctx = const size_of::<UserContext>(),
    error = const offset_of!(UserContext, error),
    vector = const CTX_VECTOR,
    user_rsp = const PERCPU_USER_RSP,
    user_ss = const cpu::USER_SS,
    user_cs = const cpu::USER_CS,
    syscall_vector = const SYSCALL_VECTOR,
    user_trap = sym user_trap_entry,
    kernel_trap = sym kernel_trap_entry,
    ist_trap = sym ist_trap_entry,
    syscall = sym syscall_entry,
    options(att_syntax)
);

const _: () = assert!(CTX_CS_FROM_VECTOR == 8 * 3);
const _: () = assert!(offset_of!(UserContext, cs) - CTX_RIP == 8);
const _: () = assert!(offset_of!(UserContext, ss) - CTX_RIP == 32);
const _: () = assert!(CTX_RIP == CTX_VECTOR + 16);

unsafe extern "C" {
    static __trap_stubs: u8;
    static __syscall_entry: u8;
    fn __resume_iret(ctx: *const UserContext) -> !;
    fn __resume_sysret(ctx: *const UserContext, rip: u64, rflags: u64) -> !;
}

/// Address of the `syscall` entry, for LSTAR.
pub fn syscall_entry_address() -> u64 {
    &raw const __syscall_entry as u64
}

static IDT: spin::Once<InterruptDescriptorTable> = spin::Once::new();

/// Build and load the IDT: every vector goes to its stub; double fault, NMI
/// and machine check get their own IST stacks. Only `int3` and `into` may
/// be raised from user mode; any other `int n` there is a #GP.
pub fn init_idt() {
    let stubs = &raw const __trap_stubs as u64;
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        let stub = |v: u64| VirtAddr::new(stubs + v * STUB_SIZE);
        // SAFETY: each address is the entry stub for exactly that vector,
        // which saves state as the trap path expects; the IST indices name
        // stacks set up in `cpu::init`.
        unsafe {
            idt.divide_error.set_handler_addr(stub(0));
            idt.debug.set_handler_addr(stub(1));
            idt.non_maskable_interrupt
                .set_handler_addr(stub(2))
                .set_stack_index(cpu::IST_NMI - 1);
            // `int3` and `into` are meant for user code (debuggers, a
            // guest's checks): their gates are reachable from ring 3, so
            // they arrive as #BP/#OF rather than #GP.
            idt.breakpoint
                .set_handler_addr(stub(3))
                .set_privilege_level(x86_64::PrivilegeLevel::Ring3);
            idt.overflow
                .set_handler_addr(stub(4))
                .set_privilege_level(x86_64::PrivilegeLevel::Ring3);

            idt.bound_range_exceeded.set_handler_addr(stub(5));
            idt.invalid_opcode.set_handler_addr(stub(6));
            idt.device_not_available.set_handler_addr(stub(7));
            idt.double_fault
                .set_handler_addr(stub(8))
                .set_stack_index(cpu::IST_DOUBLE_FAULT - 1);
            idt.invalid_tss.set_handler_addr(stub(10));
            idt.segment_not_present.set_handler_addr(stub(11));
            idt.stack_segment_fault.set_handler_addr(stub(12));
            idt.general_protection_fault.set_handler_addr(stub(13));
            idt.page_fault.set_handler_addr(stub(14));
            idt.x87_floating_point.set_handler_addr(stub(16));
            idt.alignment_check.set_handler_addr(stub(17));
            idt.machine_check
                .set_handler_addr(stub(18))
                .set_stack_index(cpu::IST_MACHINE_CHECK - 1);
            idt.simd_floating_point.set_handler_addr(stub(19));
            idt.virtualization.set_handler_addr(stub(20));
            idt.cp_protection_exception.set_handler_addr(stub(21));
            idt.hv_injection_exception.set_handler_addr(stub(28));
            idt.vmm_communication_exception.set_handler_addr(stub(29));
            idt.security_exception.set_handler_addr(stub(30));
            for v in 32..256u64 {
                idt[v as u8].set_handler_addr(stub(v));
            }
        }
        idt
    });
    idt.load();
}

/// Return to user mode with every register of `ctx`, through `iretq`.
///
/// # Safety
/// `ctx` must be the context that `cpu::set_context_end` points past, and
/// the thread's address space must be the one loaded in CR3. Its RFLAGS
/// must have been sanitized ([`UserContext::user_rflags`]) and its RIP and
/// RSP be canonical; CS and SS are forced here.
///
/// A jump, not a call: nothing comes back, so the caller needs no stack
/// frame for it (its hot path then has no prologue at all).
#[inline(always)]
pub unsafe fn resume_iret(ctx: *const UserContext) -> ! {
    // SAFETY: the caller guarantees the context is complete and sanitized,
    // so `iretq` lands in ring 3 with IF set and user selectors. The stub
    // takes its context in RDI and never returns.
    unsafe { core::arch::asm!("jmp {f}", f = sym __resume_iret, in("rdi") ctx, options(noreturn)) }
}

/// Return to user mode through `sysretq` at `rip` with `rflags` (in RCX
/// and R11, which `sysretq` loads them from); RCX and R11 themselves are
/// lost, the other registers come from `ctx`.
///
/// # Safety
/// As for [`resume_iret`], except that `ctx`'s RIP and RFLAGS words are
/// not used: `rflags` must be sanitized ([`UserContext::user_rflags`]),
/// and `rip` canonical, since `sysretq` to a non-canonical RIP faults in
/// ring 0 on Intel CPUs with the user's stack pointer already loaded.
/// A jump, as [`resume_iret`].
#[inline(always)]
pub unsafe fn resume_sysret(ctx: *const UserContext, rip: u64, rflags: u64) -> ! {
    // SAFETY: as stated by the caller.
    unsafe {
        core::arch::asm!(
            "jmp {f}",
            f = sym __resume_sysret,
            in("rdi") ctx,
            in("rcx") rip,
            in("r11") rflags,
            options(noreturn)
        )
    }
}

// The entry code has saved the context in place, inside the running
// thread; the handlers reach it through the thread, so the assembly passes
// no pointer.
extern "C" fn user_trap_entry() -> ! {
    crate::trap::user_trap()
}

extern "C" fn syscall_entry() -> ! {
    crate::syscall::syscall()
}

/// A register frame saved by a trap taken in ring 0 (same layout as
/// [`UserContext`], but on the kernel stack).
pub type KernelFrame = UserContext;

/// NMI, double fault or machine check, from either mode. An NMI has no
/// source in this system: it is counted and ignored (taking a lock here
/// could deadlock against the code it interrupted). The other two are
/// fatal.
extern "C" fn ist_trap_entry(frame: *const KernelFrame) {
    // SAFETY: the entry code pushed a complete frame at `frame`.
    let f = unsafe { &*frame };
    if f.vector == 2 {
        NMIS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        return;
    }
    panic!(
        "{} at rip={:#x}, cs={:#x}, error={:#x}",
        if f.vector == 8 {
            "double fault"
        } else {
            "machine check"
        },
        f.rip,
        f.cs,
        f.error
    )
}

/// NMIs seen (no NMI source exists yet; kept for diagnosis).
static NMIS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

extern "C" fn kernel_trap_entry(frame: *const KernelFrame) {
    // SAFETY: the entry code pushed a complete frame at `frame`.
    crate::trap::kernel_trap(unsafe { &*frame })
}

/// Read CR2, the faulting address of the last page fault.
pub fn cr2() -> u64 {
    x86_64::registers::control::Cr2::read_raw()
}
