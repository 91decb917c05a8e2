//! CPU setup: feature detection, control registers, GDT and TSS, per-CPU
//! data reached through GS, and the `syscall` MSRs.
//!
//! After [`init`], the CPU runs with NX, write protection in ring 0, SMEP
//! and SMAP where the CPU has them, UMIP where it has it, CR4.FSGSBASE and
//! CR4.TSD clear (user `rdtsc` works, user `wrfsbase` does not), and
//! `syscall` entering [`super::trap`]'s entry with TF, IF, DF, AC and NT
//! cleared.

use core::cell::UnsafeCell;
use core::mem::size_of;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::VirtAddr;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags, GsBase, KernelGsBase, Msr};
use x86_64::structures::tss::TaskStateSegment;

/// Kernel code selector.
pub const KERNEL_CS: u16 = 0x08;
/// Kernel stack selector.
pub const KERNEL_SS: u16 = 0x10;
/// User stack selector (RPL 3). `sysret` derives it as STAR[63:48] + 8.
pub const USER_SS: u16 = 0x18 | 3;
/// User 64-bit code selector (RPL 3). `sysret` derives it as STAR[63:48] + 16.
pub const USER_CS: u16 = 0x20 | 3;
const TSS_SEL: u16 = 0x28;

/// IST slots (1-based as the IDT counts them).
pub const IST_DOUBLE_FAULT: u16 = 1;
/// IST slot for NMIs.
pub const IST_NMI: u16 = 2;
/// IST slot for machine checks.
pub const IST_MACHINE_CHECK: u16 = 3;
const IST_STACK_SIZE: usize = 16 * 1024;

/// What the CPU offers, from CPUID.
#[derive(Clone, Copy, Debug, Default)]
pub struct Features {
    pub smep: bool,
    pub smap: bool,
    pub umip: bool,
    pub xsave: bool,
    pub fsgsbase: bool,
    pub pcid: bool,
    pub tsc_deadline: bool,
}

fn cpuid(leaf: u32, sub: u32) -> core::arch::x86_64::CpuidResult {
    // SAFETY: CPUID exists on every x86_64 CPU and only reads.
    #[allow(unused_unsafe)]
    unsafe {
        core::arch::x86_64::__cpuid_count(leaf, sub)
    }
}

/// Read the CPU's features.
pub fn detect() -> Features {
    let max = cpuid(0, 0).eax;
    let l1 = cpuid(1, 0);
    let l7 = if max >= 7 { cpuid(7, 0) } else { cpuid(0, 0) };
    let has7 = max >= 7;
    Features {
        smep: has7 && l7.ebx & (1 << 7) != 0,
        smap: has7 && l7.ebx & (1 << 20) != 0,
        umip: has7 && l7.ecx & (1 << 2) != 0,
        fsgsbase: has7 && l7.ebx & 1 != 0,
        xsave: l1.ecx & (1 << 26) != 0,
        pcid: l1.ecx & (1 << 17) != 0,
        tsc_deadline: l1.ecx & (1 << 24) != 0,
    }
}

/// Data every CPU reaches through its GS base while in the kernel. The
/// entry code in `trap` reads these fields by offset; keep them in step.
#[repr(C, align(64))]
pub struct PerCpu {
    /// 0: this structure's own address.
    self_ptr: u64,
    /// 8: top of this CPU's kernel stack.
    kernel_rsp: u64,
    /// 16: scratch for the user RSP during `syscall` entry.
    user_rsp: u64,
}

/// Offsets of [`PerCpu`] fields, for the entry code.
pub const PERCPU_KERNEL_RSP: usize = 8;
/// See [`PERCPU_KERNEL_RSP`].
pub const PERCPU_USER_RSP: usize = 16;
/// TSS.RSP0 (the end of the running thread's saved context), from the
/// GS base (the [`PerCpu`] block, which lies after the TSS in
/// [`CpuTables`]): the `syscall` entry reads it there, so the one word
/// the CPU uses for interrupts is the one word the kernel keeps.
pub const PERCPU_TSS_RSP0: i64 = (core::mem::offset_of!(CpuTables, tss) + 4) as i64
    - core::mem::offset_of!(CpuTables, percpu) as i64;
const _: () = assert!(core::mem::offset_of!(PerCpu, kernel_rsp) == PERCPU_KERNEL_RSP);
const _: () = assert!(core::mem::offset_of!(PerCpu, user_rsp) == PERCPU_USER_RSP);

/// The boot CPU's tables. They live in writable memory because the CPU
/// itself writes them (`ltr` sets the TSS busy bit) and the kernel updates
/// TSS.RSP0 on every thread switch.
///
/// `repr(C)` because the TSS's I/O permission bitmap must follow it in
/// memory, inside the TSS segment's limit (`io_bitmap`).
#[repr(C)]
struct CpuTables {
    gdt: [u64; 7],
    tss: TaskStateSegment,
    /// The I/O permission bitmap: bit `p` clear lets ring 3 use port `p`.
    /// All ones but for the ports of the address space running now
    /// (`crate::ioport` opens and closes them on a switch of address
    /// space); the extra last byte must stay 0xff (SDM 3A, 20.5.2).
    io_bitmap: [u8; IO_BITMAP_BYTES + 1],
    percpu: PerCpu,
    ist: [[u8; IST_STACK_SIZE]; 3],
}

struct BootCpu(UnsafeCell<CpuTables>);

// SAFETY: one CPU, and the kernel runs with interrupts off, so there is
// never more than one accessor at a time.
unsafe impl Sync for BootCpu {}

/// Bytes of the I/O bitmap proper: one bit for each of the 65,536 ports.
const IO_BITMAP_BYTES: usize = 65536 / 8;

const _: () = assert!(
    core::mem::offset_of!(CpuTables, io_bitmap)
        == core::mem::offset_of!(CpuTables, tss) + size_of::<TaskStateSegment>()
);

static BOOT_CPU: BootCpu = BootCpu(UnsafeCell::new(CpuTables {
    gdt: [0; 7],
    tss: TaskStateSegment::new(),
    io_bitmap: [0xff; IO_BITMAP_BYTES + 1],
    percpu: PerCpu {
        self_ptr: 0,
        kernel_rsp: 0,
        user_rsp: 0,
    },
    ist: [[0; IST_STACK_SIZE]; 3],
}));

unsafe extern "C" {
    static __kernel_stack_top: u8;
}

fn tss_descriptor(base: u64) -> (u64, u64) {
    // The TSS and the I/O bitmap after it, its last 0xff byte included.
    let limit = (size_of::<TaskStateSegment>() + IO_BITMAP_BYTES + 1 - 1) as u64;
    let low = (limit & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | (0x89 << 40) // present, 64-bit TSS (available)
        | (((limit >> 16) & 0xf) << 48)
        | (((base >> 24) & 0xff) << 56);
    (low, base >> 32)
}

/// Set up control registers, GDT, TSS, per-CPU data and `syscall`.
/// Runs once on the boot CPU before anything else uses those.
pub fn init(f: &Features, syscall_entry: u64) -> u64 {
    let tables = BOOT_CPU.0.get();
    // SAFETY: called once at boot, before interrupts or user code exist, so
    // nothing else holds a reference into the tables.
    let t = unsafe { &mut *tables };
    // A linker-script symbol: only its address is taken.
    let kstack_top = &raw const __kernel_stack_top as u64;

    t.gdt[1] = 0x00af_9a00_0000_ffff; // kernel code, 64-bit
    t.gdt[2] = 0x00cf_9200_0000_ffff; // kernel data
    t.gdt[3] = 0x00cf_f200_0000_ffff; // user data, DPL 3
    t.gdt[4] = 0x00af_fa00_0000_ffff; // user code, 64-bit, DPL 3
    let (lo, hi) = tss_descriptor(&t.tss as *const _ as u64);
    t.gdt[5] = lo;
    t.gdt[6] = hi;
    for (i, stack) in t.ist.iter().enumerate() {
        let top = stack.as_ptr() as u64 + IST_STACK_SIZE as u64;
        t.tss.interrupt_stack_table[i] = VirtAddr::new(top & !0xf);
    }
    t.tss.privilege_stack_table[0] = VirtAddr::new(kstack_top);
    t.tss.iomap_base = size_of::<TaskStateSegment>() as u16;
    t.percpu.self_ptr = &t.percpu as *const _ as u64;
    t.percpu.kernel_rsp = kstack_top;

    let gdtr = x86_64::structures::DescriptorTablePointer {
        limit: (size_of::<[u64; 7]>() - 1) as u16,
        base: VirtAddr::new(t.gdt.as_ptr() as u64),
    };
    // SAFETY: the GDT above is static, correctly encoded, and keeps the
    // selectors the running code uses (0x08/0x10) meaning the same thing.
    // Reloading CS uses a far return to the next instruction; DS/ES/FS/GS
    // become null (allowed in long mode), before GS_BASE is written below.
    unsafe {
        x86_64::instructions::tables::lgdt(&gdtr);
        core::arch::asm!(
            "push {cs}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ss, {ss:x}",
            "mov ds, {null:x}",
            "mov es, {null:x}",
            "mov fs, {null:x}",
            "mov gs, {null:x}",
            "ltr {tss:x}",
            cs = in(reg) u64::from(KERNEL_CS),
            ss = in(reg) KERNEL_SS,
            null = in(reg) 0u16,
            tss = in(reg) TSS_SEL,
            tmp = out(reg) _,
        );
    }

    let mut cr0 = Cr0::read();
    cr0.insert(Cr0Flags::WRITE_PROTECT | Cr0Flags::NUMERIC_ERROR | Cr0Flags::MONITOR_COPROCESSOR);
    cr0.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
    cr0.remove(Cr0Flags::CACHE_DISABLE | Cr0Flags::NOT_WRITE_THROUGH);
    // SAFETY: these bits only tighten protection (WP) or select standard
    // FPU error reporting; paging and protected mode stay on.
    unsafe { Cr0::write(cr0) };

    let mut cr4 = Cr4::read();
    cr4.insert(
        Cr4Flags::PHYSICAL_ADDRESS_EXTENSION
            | Cr4Flags::PAGE_GLOBAL
            | Cr4Flags::OSFXSR
            | Cr4Flags::OSXMMEXCPT_ENABLE,
    );
    cr4.remove(Cr4Flags::FSGSBASE | Cr4Flags::TIMESTAMP_DISABLE);
    cr4.set(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION, f.smep);
    cr4.set(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION, f.smap);
    cr4.set(Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION, f.umip);
    cr4.set(Cr4Flags::OSXSAVE, f.xsave);
    // SAFETY: each feature set here was reported by CPUID; the kernel never
    // touches user memory directly (it reads it through the direct map), so
    // SMAP cannot trip it, and it runs no code from user pages (SMEP).
    unsafe { Cr4::write(cr4) };
    let mut xcr0 = 0;
    if f.xsave {
        let supported = cpuid(0xd, 0).eax as u64;
        // x87 | SSE | AVX where available; x87 is mandatory.
        xcr0 = 1 | (supported & 0b110);
        // SAFETY: OSXSAVE is on and only CPUID-reported components are enabled.
        unsafe {
            core::arch::asm!("xsetbv", in("ecx") 0u32, in("eax") xcr0 as u32, in("edx") (xcr0 >> 32) as u32)
        };
    }

    // SAFETY: SCE enables `syscall`, whose MSRs are set right below, before
    // any user code runs; NXE is already on (boot code set it).
    unsafe {
        Efer::update(|e| {
            e.insert(EferFlags::SYSTEM_CALL_EXTENSIONS | EferFlags::NO_EXECUTE_ENABLE)
        });
    }
    const STAR: u32 = 0xc000_0081;
    const LSTAR: u32 = 0xc000_0082;
    const FMASK: u32 = 0xc000_0084;
    // TF, IF, DF, AC, NT.
    const FMASK_BITS: u64 = (1 << 8) | (1 << 9) | (1 << 10) | (1 << 18) | (1 << 14);
    // SAFETY: STAR's selectors match the GDT above (kernel 0x08/0x10; user
    // base 0x10 so sysret loads SS=0x1b, CS=0x23); LSTAR is the entry stub;
    // GS_BASE points at this CPU's PerCpu, KERNEL_GS_BASE holds the user GS
    // base (0) until the first `swapgs` into user mode.
    unsafe {
        Msr::new(STAR).write((0x10u64 << 48) | (u64::from(KERNEL_CS) << 32));
        Msr::new(LSTAR).write(syscall_entry);
        Msr::new(FMASK).write(FMASK_BITS);
        GsBase::write(VirtAddr::new(t.percpu.self_ptr));
        KernelGsBase::write(VirtAddr::new(0));
    }
    xcr0
}

/// Load the FS and GS bases of the thread `owner` (its TCB address): FS
/// directly, GS into KERNEL_GS_BASE, which `swapgs` makes the user's GS
/// base on the way out.
///
/// A thread can change its live bases without the kernel: loading any
/// selector into FS or GS reloads the base from the descriptor, and a null
/// selector clears it. Every descriptor a user may load has base 0 (there
/// is no LDT, CR4.FSGSBASE is off), so a live base is either what the
/// kernel last wrote or 0. Hence an MSR is left alone only when that is
/// certain to be right: the new value is 0 and so was the last one
/// written, or the same thread goes on with the same value (whatever it
/// did to its base, it did to itself). Should user mode ever get
/// `wrfsbase`, this cache must go.
#[inline]
pub fn set_tls(owner: u64, fs: u64, gs: u64) {
    // Most threads have neither base: with both MSRs known to hold 0,
    // nothing is to be written and whose they were does not matter.
    if fs | gs | LOADED_ANY.load(Ordering::Relaxed) == 0 {
        return;
    }
    let same = LOADED_FOR.load(Ordering::Relaxed) == owner;
    // The caller checked both are canonical; `VirtAddr` would refuse
    // otherwise. The kernel's own GS base is untouched.
    if fs != LOADED_FS.load(Ordering::Relaxed) || (fs != 0 && !same) {
        x86_64::registers::model_specific::FsBase::write(VirtAddr::new_truncate(fs));
        note_loaded_fs(fs);
    }
    if gs != LOADED_GS.load(Ordering::Relaxed) || (gs != 0 && !same) {
        KernelGsBase::write(VirtAddr::new_truncate(gs));
        note_loaded_gs(gs);
    }
    if !same {
        LOADED_FOR.store(owner, Ordering::Relaxed);
    }
}

/// `LOADED_FS | LOADED_GS`: 0 when both MSRs are known to hold 0.
#[inline(always)]
pub fn loaded_any() -> u64 {
    LOADED_ANY.load(Ordering::Relaxed)
}

/// Write the running thread's bases now, whatever is cached: it asked for
/// them itself, and may have changed its live bases since they were last
/// written.
pub fn reload_tls(owner: u64, fs: u64, gs: u64) {
    forget_tls(owner);
    note_loaded_fs(UNKNOWN_BASE);
    note_loaded_gs(UNKNOWN_BASE);
    set_tls(owner, fs, gs);
}

/// Whether DS, ES, FS or GS holds anything but the null selector. The
/// kernel never loads them (64-bit code ignores DS and ES; it reaches its
/// per-CPU data through the GS base), so what they hold is what the last
/// thread in user mode loaded.
#[inline(always)]
pub fn user_selectors_loaded() -> bool {
    let (ds, es, fs, gs): (u16, u16, u16, u16);
    // SAFETY: reading segment registers has no side effects.
    unsafe {
        core::arch::asm!(
            "mov {0:x}, ds",
            "mov {1:x}, es",
            "mov {2:x}, fs",
            "mov {3:x}, gs",
            out(reg) ds,
            out(reg) es,
            out(reg) fs,
            out(reg) gs,
            options(nomem, nostack, preserves_flags)
        );
    }
    ds | es | fs | gs != 0
}

/// Load the null selector into DS, ES, FS and GS, so that no selector a
/// thread loaded can be read by a thread of another address space (a
/// channel no capability allows). `sysret` and `iretq` set only CS and SS.
///
/// On Intel, loading a null selector into FS or GS clears that base: the
/// kernel's own GS base (GS_BASE while in the kernel) is written back at
/// once, and the FS base is marked unknown so [`set_tls`] writes the next
/// thread's. KERNEL_GS_BASE, which holds the user GS base, is untouched.
#[cold]
pub fn clear_user_selectors() {
    let tables = BOOT_CPU.0.get();
    // SAFETY: one CPU with interrupts off in the kernel; reading a field
    // through the raw pointer makes no reference.
    let percpu = unsafe { (*tables).percpu.self_ptr };
    // SAFETY: null selectors are always loadable into DS/ES/FS/GS in
    // 64-bit mode; the kernel does not use DS, ES or FS, and its GS base is
    // restored right after, before anything reads per-CPU data (interrupts
    // are off; the NMI path does not use GS from ring 0).
    unsafe {
        core::arch::asm!(
            "mov ds, {0:x}",
            "mov es, {0:x}",
            "mov fs, {0:x}",
            "mov gs, {0:x}",
            in(reg) 0u16,
            options(nomem, nostack, preserves_flags)
        );
        GsBase::write(VirtAddr::new(percpu));
    }
    note_loaded_fs(UNKNOWN_BASE);
}

/// A value no canonical base has: what `LOADED_FS` holds when the live FS
/// base is not known.
const UNKNOWN_BASE: u64 = 0x8000_0000_0000_0000;

/// A new thread object is made at `owner`: whatever an earlier thread at
/// that address left in FS/GS is not this one's.
pub fn forget_tls(owner: u64) {
    if LOADED_FOR.load(Ordering::Relaxed) == owner {
        LOADED_FOR.store(0, Ordering::Relaxed);
    }
}

/// The thread (TCB address; 0: none) whose bases FS_BASE and
/// KERNEL_GS_BASE were last loaded with, and the values written.
static LOADED_FOR: AtomicU64 = AtomicU64::new(0);
static LOADED_FS: AtomicU64 = AtomicU64::new(0);
static LOADED_GS: AtomicU64 = AtomicU64::new(0);
/// `LOADED_FS | LOADED_GS`, so that the test every switch makes ("both
/// known to be 0") reads one word. Written only with them, by the two
/// functions below, which are the only writers of either.
static LOADED_ANY: AtomicU64 = AtomicU64::new(0);

fn note_loaded_fs(v: u64) {
    LOADED_FS.store(v, Ordering::Relaxed);
    LOADED_ANY.store(v | LOADED_GS.load(Ordering::Relaxed), Ordering::Relaxed);
}

fn note_loaded_gs(v: u64) {
    LOADED_GS.store(v, Ordering::Relaxed);
    LOADED_ANY.store(LOADED_FS.load(Ordering::Relaxed) | v, Ordering::Relaxed);
}

/// Make `context_end` the place where the CPU saves the running thread's
/// state on its next entry from user mode (interrupt, exception or syscall:
/// the `syscall` entry reads TSS.RSP0 too, [`PERCPU_TSS_RSP0`]).
/// `context_end` is a kernel (direct-map) address, so canonical.
#[inline(always)]
pub fn set_context_end(context_end: u64) {
    let tables = BOOT_CPU.0.get();
    // SAFETY: one CPU with interrupts off in the kernel: nothing else is
    // using the tables. Raw-pointer field writes create no references that
    // could alias the CPU's own accesses. `VirtAddr` is a transparent `u64`,
    // and the address is canonical (above), which is all it guarantees.
    unsafe {
        (&raw mut (*tables).tss.privilege_stack_table[0])
            .cast::<u64>()
            .write(context_end);
    }
}

const _: () = assert!(size_of::<VirtAddr>() == size_of::<u64>());
/// Let ring 3 use the ports `first..=last` (`open`), or no longer. Only the
/// bitmap changes: it is read by the CPU on every `in`/`out` from ring 3,
/// so the change holds from the next user instruction on. Costs one byte
/// write per 8 ports.
pub fn set_io_ports(first: u16, last: u16, open: bool) {
    let tables = BOOT_CPU.0.get();
    // SAFETY: one CPU with interrupts off in the kernel: nothing else uses
    // the tables; the raw pointer makes no reference the CPU could alias.
    let bitmap = unsafe { &raw mut (*tables).io_bitmap };
    let (first, last) = (usize::from(first), usize::from(last));
    let mut p = first;
    while p <= last {
        let byte = p / 8;
        // Whole bytes where the range covers them, bit by bit at its ends.
        let mask: u8 = if p % 8 == 0 && p + 7 <= last {
            0xff
        } else {
            1 << (p % 8)
        };
        // SAFETY: `byte` < 8192, inside the bitmap (the extra byte is
        // never touched); see above for exclusivity.
        unsafe {
            let b = &mut (*bitmap)[byte];
            *b = if open { *b & !mask } else { *b | mask };
        }
        p += if mask == 0xff { 8 } else { 1 };
    }
}
