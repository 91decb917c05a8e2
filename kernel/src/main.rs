//! The Septum microkernel.
//!
//! Boot order: console, the loader's start info, CPU tables and `syscall`,
//! physical memory, the kernel's own W^X address space, the boot image
//! (checked completely before use), the root task, and then the scheduler.
//! Anything wrong with what the loader handed over is reported with its
//! reason and ends the run with the fail code; nothing a user task does can
//! reach that path.
#![no_std]
#![no_main]

mod arch;
mod boot;
mod check;
mod fastpath;

mod idle;
mod invoke;
mod ioport;
mod ipc;
mod irq;
mod loader;
mod log;
mod mem;
mod object;
mod partition;
mod preempt;
mod sched;
mod syscall;
mod trap;
mod vspace;

use septum_abi::qemu_exit;
use septum_kcore::bootimage::BootImage;

/// Options from the kernel command line (`-append`).
#[derive(Clone, Copy, Debug, Default)]
pub struct BootOptions {
    /// End the QEMU run with the pass code once no thread can run (tests).
    pub exit_on_idle: bool,
    /// Allow the `DebugCheck` system call, which checks the kernel's
    /// invariants (`check`); off by default.
    pub debug_checks: bool,
    /// With `exit_on_idle` and IRQ lines bound: how many idle ticks with
    /// no device interrupt end the run (`idle_grace=N`; default
    /// `irq::IDLE_GRACE_TICKS`). A test whose system sleeps longer than
    /// that with nothing else to do (a guest's `sleep 1`) asks for more.
    pub idle_grace: Option<u64>,
}

static OPTIONS: spin::Once<BootOptions> = spin::Once::new();
static KERNEL_PML4: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Physical address of the kernel's PML4, the template of every address space.
pub fn kernel_pml4() -> u64 {
    KERNEL_PML4.load(core::sync::atomic::Ordering::Relaxed)
}

/// The options the kernel was booted with.
pub fn boot_options() -> BootOptions {
    OPTIONS.get().copied().unwrap_or_default()
}

fn parse_cmdline(cmdline: &str) -> BootOptions {
    let mut opts = BootOptions::default();
    for word in cmdline.split_ascii_whitespace() {
        match word.split_once('=') {
            None if word == "exit_on_idle" => opts.exit_on_idle = true,
            None if word == "debug_checks" => opts.debug_checks = true,
            Some(("idle_grace", n)) => match n.parse::<u64>() {
                Ok(n) if n > 0 => opts.idle_grace = Some(n),
                _ => warn!("command line: idle_grace needs a number of ticks, not '{n}'"),
            },
            Some(("log", level)) => match log::Level::parse(level) {
                Some(l) => log::set_level(l),
                None => warn!("command line: unknown log level '{level}' (error|warn|info|debug)"),
            },
            _ => warn!("command line: ignoring unknown option '{word}'"),
        }
    }
    opts
}

/// Report why the system cannot start and end the run with the fail code.
fn fatal(args: core::fmt::Arguments<'_>) -> ! {
    error!("{args}");
    error!("halting: the system cannot start");
    arch::exit_qemu(qemu_exit::FAIL)
}

/// Entered from `arch::x86_64::boot` in long mode on the boot stack, with
/// the physical address of `hvm_start_info`.
extern "C" fn kernel_entry(start_info: u64) -> ! {
    use arch::{cpu, paging, pvh, trap};

    info!("Septum microkernel v{} (x86_64)", env!("CARGO_PKG_VERSION"));

    let boot = pvh::read_start_info(start_info)
        .unwrap_or_else(|e| fatal(format_args!("bad boot information: {e}")));
    OPTIONS.call_once(|| parse_cmdline(&boot.cmdline));
    debug!("command line: '{}'", boot.cmdline);
    debug!("acpi: rsdp at {:#x}", boot.rsdp);

    let features = cpu::detect();
    let xcr0 = cpu::init(&features, trap::syscall_entry_address());
    let saved = arch::fpu::init(features.xsave, xcr0);
    debug!("fpu: saving components {saved:#x}");
    trap::init_idt();
    arch::mask_legacy_pic();
    info!(
        "cpu: smep={} smap={} umip={} xsave={} fsgsbase={} pcid={} tsc-deadline={}",
        features.smep,
        features.smap,
        features.umip,
        features.xsave,
        features.fsgsbase,
        features.pcid,
        features.tsc_deadline
    );

    mem::set_memory_map(
        boot.memmap
            .iter()
            .map(|r| (r.start, r.start.saturating_add(r.len), r.kind)),
    );
    let (kstart, kend) = arch::layout::kernel_image();
    {
        let mut free = mem::FREE.lock();
        for r in boot.memmap.iter().filter(|r| r.kind == pvh::MemRange::RAM) {
            if let Err(e) = free.add_usable(r.start, r.len) {
                warn!("memory map: range {:#x}+{:#x} dropped: {e}", r.start, r.len);
            }
        }
        let mut reserve = |what: &str, start: u64, end: u64| {
            if let Err(e) = free.reserve(start, end) {
                fatal(format_args!(
                    "cannot reserve {what} [{start:#x}, {end:#x}): {e}"
                ));
            }
        };
        // Real-mode area, BIOS data and the loader's tables.
        reserve("low memory", 0, 0x10_0000);
        reserve("kernel image", kstart, kend);
        if let Some((pa, len)) = boot.module {
            reserve("boot image", pa, pa.saturating_add(len));
        }
        info!(
            "memory: {} MiB free in {} ranges; kernel at {kstart:#x}-{kend:#x}",
            free.free_bytes() >> 20,
            free.regions().len()
        );
    }

    let kernel_pml4 = {
        let mapped = [
            pvh::MemRange::RAM,
            pvh::MemRange::ACPI,
            pvh::MemRange::ACPI_NVS,
        ];
        let mut ram = boot
            .memmap
            .iter()
            .filter(|r| mapped.contains(&r.kind))
            .map(|r| (r.start, r.start.saturating_add(r.len)));
        paging::init_kernel_space(&mut ram, &mut mem::alloc_frame)
            .unwrap_or_else(|e| fatal(format_args!("cannot build kernel page tables: {e:?}")))
    };
    KERNEL_PML4.store(kernel_pml4, core::sync::atomic::Ordering::Relaxed);
    debug!("kernel address space ready (pml4 at {kernel_pml4:#x})");

    // The APIC's page tables come from the kernel's free memory, so this
    // runs before the root task receives what is left.
    let timer = arch::apic::init(kernel_pml4, &mut mem::alloc_frame, features.tsc_deadline);
    if let Ok(t) = &timer {
        mem::reserve_mmio(t.phys_base);
    }
    match timer {
        Ok(t) if t.calibrated => info!(
            "timer: local APIC at {:#x}, {} ticks per {} ms ({}; TSC {} cycles per tick)",
            t.phys_base,
            t.apic_per_tick,
            arch::apic::TICK_MS,
            t.mode,
            t.tsc_per_tick
        ),
        Ok(t) => warn!(
            "timer: local APIC at {:#x}; no PIT to calibrate against, assuming {} ticks per {} ms ({})",
            t.phys_base,
            t.apic_per_tick,
            arch::apic::TICK_MS,
            t.mode
        ),
        Err(e) => fatal(format_args!("timer: {e}")),
    }

    platform(boot.rsdp, kernel_pml4);

    let Some((module_pa, module_len)) = boot.module else {
        fatal(format_args!("no boot image: pass one to QEMU with -initrd"))
    };
    let module = paging::phys_slice(module_pa, module_len).unwrap_or_else(|| {
        fatal(format_args!(
            "boot image at {module_pa:#x}+{module_len:#x} is outside RAM"
        ))
    });
    let image = BootImage::parse(module)
        .unwrap_or_else(|e| fatal(format_args!("boot image rejected: {e}")));
    info!(
        "boot image: {} entries, {} bytes",
        image.len(),
        image.total_size()
    );
    for e in image.entries() {
        debug!("  {:?} '{}' {} bytes", e.kind, e.name, e.data.len());
    }

    let Some(root) = image.root_task() else {
        fatal(format_args!("boot image rejected: no root task"))
    };
    boot::create_root_task(root.name, root.data, boot.rsdp, (module_pa, module_len))
        .unwrap_or_else(|e| fatal(format_args!("root task '{}': {e}", root.name)));
    sched::schedule()
}

/// Find the interrupt controllers (ACPI, or the fallback it names), map
/// and mask the IOAPICs, and set the IRQ lines up. Runs before the root
/// task takes the free memory: the mappings' page tables come from it.
fn platform(rsdp: u64, kernel_pml4: u64) {
    use arch::{acpi, ioapic};
    let (p, problem) = acpi::discover(rsdp, kernel_pml4, mem::alloc_frame);
    match problem {
        None => info!(
            "acpi: MADT lists {} IOAPIC(s), {} ISA override(s); HPET {}",
            p.ioapics.len(),
            p.overrides.iter().flatten().count(),
            match p.hpet {
                Some(_) => "present",
                None => "absent",
            }
        ),
        Some(why) => warn!(
            "acpi: {why}; assuming the legacy IOAPIC at {:#x} with ISA IRQs on GSIs 0-15",
            acpi::LEGACY_IOAPIC
        ),
    }
    if let Some(h) = p.hpet {
        info!("acpi: HPET registers at {h:#x} (left to a user-level driver)");
    }
    let n = ioapic::init(&p.ioapics, kernel_pml4, &mut mem::alloc_frame);
    if n == 0 {
        warn!(
            "irq: no IOAPIC answers: no device interrupt can be delivered; IrqControl hands out no line"
        );
        return;
    }
    let lines = irq::init(&p.overrides);
    let mut moved: heapless::String<128> = heapless::String::new();
    irq::describe(|l, gsi, level, low| {
        if l < 16 && (gsi != l as u32 || level || low) {
            use core::fmt::Write;
            let _ = write!(moved, " {l}->{gsi}{}", if level { "(level)" } else { "" });
        }
    });
    info!(
        "irq: {lines} lines from {} ({} IOAPIC(s)); ISA lines moved:{}",
        p.source,
        n,
        if moved.is_empty() { " none" } else { &moved }
    );
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    x86_64::instructions::interrupts::disable();
    match info.location() {
        Some(l) => log::emergency(format_args!(
            "\nKERNEL PANIC at {}:{}: {}\n",
            l.file(),
            l.line(),
            info.message()
        )),
        None => log::emergency(format_args!("\nKERNEL PANIC: {}\n", info.message())),
    }
    arch::exit_qemu(qemu_exit::FAIL)
}
