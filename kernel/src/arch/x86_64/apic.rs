//! The local APIC in xAPIC (memory-mapped) mode: its timer, which drives
//! preemption, end-of-interrupt, and a cheap check for a pending tick.
//!
//! [`init`] maps the APIC's register page at `LAPIC_BASE` (uncached, NX,
//! global, so it shows in every address space), enables the APIC with
//! spurious vector 0xff and task priority 0, masks LINT0 and the error
//! entry, measures the APIC timer and the TSC against the legacy PIT over
//! one tick, and starts the tick: TSC-deadline mode where CPUID offers it,
//! periodic mode (divide by 16) otherwise. Local interrupts need no ACPI
//! tables; the MADT comes with the IOAPIC.
//!
//! Everything here runs on the one CPU with interrupts off, so the few
//! statics below are never accessed concurrently.

use super::layout::LAPIC_BASE;
use super::paging::{self, MapError, PTE_GLOBAL, PTE_NX, PTE_WRITE};
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use x86_64::instructions::port::Port;
use x86_64::registers::model_specific::Msr;

/// Vector of the timer interrupt.
pub const TIMER_VECTOR: u64 = 0x20;
/// Vector the APIC uses for spurious interrupts (never acknowledged).
pub const SPURIOUS_VECTOR: u64 = 0xff;
/// Length of one timer tick.
pub const TICK_MS: u64 = 10;

const IA32_APIC_BASE: u32 = 0x1b;
const IA32_TSC_DEADLINE: u32 = 0x6e0;
const BASE_X2APIC: u64 = 1 << 10;
const BASE_ENABLE: u64 = 1 << 11;
const BASE_ADDR: u64 = 0x000f_ffff_ffff_f000;

// Register offsets in the xAPIC page (Intel SDM vol. 3A, "Local APIC
// Register Address Map"). Each register is 32 bits at a 16-byte boundary.
const ID: usize = 0x20;
const TPR: usize = 0x80;
const EOI: usize = 0xb0;
const SVR: usize = 0xf0;
const IRR: usize = 0x200;
const LVT_TIMER: usize = 0x320;
const LVT_LINT0: usize = 0x350;
const LVT_ERROR: usize = 0x370;
const TIMER_INITIAL: usize = 0x380;
const TIMER_CURRENT: usize = 0x390;
const TIMER_DIVIDE: usize = 0x3e0;

const SVR_ENABLE: u32 = 1 << 8;
const LVT_MASKED: u32 = 1 << 16;
const LVT_PERIODIC: u32 = 0b01 << 17;
const LVT_TSC_DEADLINE: u32 = 0b10 << 17;
/// Divide configuration 0b0011: the timer counts at the APIC clock / 16.
const DIVIDE_BY_16: u32 = 0b0011;
/// Divide configuration 0b1011: the timer counts at the APIC clock.
const DIVIDE_BY_1: u32 = 0b1011;

/// Page-level write-through and cache-disable: with the default PAT this
/// makes the mapping uncached, as device registers must be.
const PTE_PWT: u64 = 1 << 3;
const PTE_PCD: u64 = 1 << 4;

/// The legacy PIT's input clock.
const PIT_HZ: u64 = 1_193_182;
const PIT_CHANNEL0: u16 = 0x40;
const PIT_COMMAND: u16 = 0x43;
/// PIT clocks in one tick (11 931 for 10 ms).
const PIT_PER_TICK: u16 = (PIT_HZ * TICK_MS / 1000) as u16;
/// Give up on the PIT after this many reads of its counter. A read costs a
/// few port accesses (about a microsecond on hardware, a few dozen
/// instructions under `-icount`, where time is instructions), and a tick
/// takes some ten thousand of them; the bound only matters when the PIT is
/// missing or stuck.
const MAX_PIT_READS: u32 = 4_000_000;
/// A PIT whose count has not moved after this many reads is not there.
const PIT_STALL_READS: u32 = 100_000;
/// Timer count per tick used when calibration fails: QEMU's APIC counts at
/// 1 GHz, so at divide-by-16 a 10 ms tick is 625 000 counts. On other
/// machines the guess only changes the tick's length.
const ASSUMED_PER_TICK: u32 = 625_000;

/// The register page is mapped and the APIC enabled.
static READY: AtomicBool = AtomicBool::new(false);
/// TSC cycles per tick in TSC-deadline mode; 0 in periodic mode.
static DEADLINE_PERIOD: AtomicU64 = AtomicU64::new(0);
/// The TSC value of the armed deadline.
static DEADLINE: AtomicU64 = AtomicU64::new(0);
/// TSC cycles per tick as measured (0: calibration failed).
static TSC_PER_TICK: AtomicU64 = AtomicU64::new(0);
/// APIC timer counts per tick at divide-by-16.
static APIC_PER_TICK: AtomicU64 = AtomicU64::new(0);
/// Set by [`one_shot_mode`]: every interrupt is armed by [`arm_at`].
static ONE_SHOT: AtomicBool = AtomicBool::new(false);
/// APIC counts per TSC cycle in one-shot mode, 32.32 fixed point.
static COUNTS_PER_CYCLE: AtomicU64 = AtomicU64::new(1 << 32);
/// The timer is in TSC-deadline mode.
static TSC_DEADLINE: AtomicBool = AtomicBool::new(false);

/// TSC cycles per second, as [`init`] measured them (0: not measured).
pub fn tsc_hz() -> u64 {
    TSC_PER_TICK.load(Ordering::Relaxed).saturating_mul(1000) / TICK_MS
}

/// How the timer raises its tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerMode {
    /// The APIC reloads its count after every tick.
    Periodic,
    /// Each tick arms an absolute TSC deadline for the next one.
    TscDeadline,
}

impl fmt::Display for TimerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimerMode::Periodic => "periodic",
            TimerMode::TscDeadline => "TSC-deadline",
        })
    }
}

/// The running timer, as [`init`] set it up.
#[derive(Clone, Copy, Debug)]
pub struct Timer {
    /// Physical address of the APIC's registers.
    pub phys_base: u64,
    /// APIC timer counts (at divide-by-16) in one tick.
    pub apic_per_tick: u32,
    /// TSC cycles in one tick (0 when calibration failed).
    pub tsc_per_tick: u64,
    /// Whether the counts were measured against the PIT; if not,
    /// `apic_per_tick` is a guess and the mode is periodic.
    pub calibrated: bool,
    pub mode: TimerMode,
}

/// Why the local APIC cannot be used.
#[derive(Clone, Copy, Debug)]
pub enum Error {
    /// CPUID reports no local APIC.
    NoApic,
    /// Its register page could not be mapped.
    Map(MapError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoApic => f.write_str("the CPU has no local APIC"),
            Error::Map(e) => write!(f, "cannot map the local APIC's registers: {e:?}"),
        }
    }
}

/// Read APIC register `reg`. Only called once [`init`] has mapped the page.
fn read(reg: usize) -> u32 {
    debug_assert!(reg < 0x400 && reg.is_multiple_of(16));
    // SAFETY: `init` mapped the APIC's register page at LAPIC_BASE before
    // any caller gets here; `reg` is one of the 16-byte aligned 32-bit
    // registers inside that page. Volatile: the device changes the values.
    unsafe { core::ptr::read_volatile((LAPIC_BASE as usize + reg) as *const u32) }
}

/// Write APIC register `reg`. Only called once [`init`] has mapped the page.
fn write(reg: usize, value: u32) {
    debug_assert!(reg < 0x400 && reg.is_multiple_of(16));
    // SAFETY: as in `read`; the registers written here (EOI, SVR, TPR, the
    // LVT and timer registers) only affect interrupt delivery to this CPU.
    unsafe { core::ptr::write_volatile((LAPIC_BASE as usize + reg) as *mut u32, value) }
}

fn rdtsc() -> u64 {
    // SAFETY: RDTSC exists on every x86_64 CPU and only reads the counter.
    #[allow(unused_unsafe)]
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
}

fn set_deadline(tsc: u64) {
    DEADLINE.store(tsc, Ordering::Relaxed);
    // SAFETY: only reached in TSC-deadline mode, which `init` selects only
    // when CPUID reports the MSR; writing it arms the timer and nothing else.
    unsafe { Msr::new(IA32_TSC_DEADLINE).write(tsc) };
}

/// Find, map and enable the local APIC, calibrate its timer and start the
/// tick. Must run before the kernel hands its free memory away (`alloc`
/// supplies the page tables of the mapping) and with interrupts off.
pub fn init(
    kernel_pml4: u64,
    alloc: &mut dyn FnMut() -> Option<u64>,
    tsc_deadline: bool,
) -> Result<Timer, Error> {
    // SAFETY: CPUID exists on every x86_64 CPU and only reads.
    #[allow(unused_unsafe)]
    let leaf1 = unsafe { core::arch::x86_64::__cpuid(1) };
    if leaf1.edx & (1 << 9) == 0 {
        return Err(Error::NoApic);
    }
    let mut msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: IA32_APIC_BASE exists whenever CPUID reports an APIC. If a
    // loader left the APIC in x2APIC mode, the only architectural way back
    // to xAPIC is through the disabled state; the APIC is not in use yet,
    // so resetting it loses nothing. The result is xAPIC mode, enabled, at
    // the base the firmware chose.
    let base = unsafe {
        let mut value = msr.read();
        if value & BASE_X2APIC != 0 {
            msr.write(value & !(BASE_X2APIC | BASE_ENABLE));
            value &= !BASE_X2APIC;
        }
        msr.write(value | BASE_ENABLE);
        value & BASE_ADDR
    };
    let flags = PTE_WRITE | PTE_GLOBAL | PTE_NX | PTE_PCD | PTE_PWT;
    paging::map(kernel_pml4, LAPIC_BASE, base, flags, false, alloc).map_err(Error::Map)?;
    READY.store(true, Ordering::Relaxed);

    write(TPR, 0);
    // LINT0 is the legacy PICs' virtual-wire input: they are masked and
    // unused, and masking it also keeps out their spurious IRQ 7, which
    // would arrive on an exception vector (the PICs are not remapped).
    write(LVT_LINT0, LVT_MASKED);
    write(LVT_ERROR, LVT_MASKED);
    write(SVR, SVR_ENABLE | SPURIOUS_VECTOR as u32);

    let measured = calibrate();
    let (apic_per_tick, tsc_per_tick) = measured.unwrap_or((ASSUMED_PER_TICK, 0));
    TSC_PER_TICK.store(tsc_per_tick, Ordering::Relaxed);
    APIC_PER_TICK.store(apic_per_tick.into(), Ordering::Relaxed);
    let vector = TIMER_VECTOR as u32;
    let mode = if tsc_deadline && tsc_per_tick > 0 {
        write(LVT_TIMER, vector | LVT_TSC_DEADLINE);
        // The SDM asks for MFENCE between the MMIO write that selects
        // TSC-deadline mode and the first WRMSR to the deadline, or the
        // deadline may be dropped.
        // SAFETY: a fence has no effect beyond ordering memory accesses.
        unsafe { core::arch::asm!("mfence", options(nostack, preserves_flags)) };
        DEADLINE_PERIOD.store(tsc_per_tick, Ordering::Relaxed);
        TSC_DEADLINE.store(true, Ordering::Relaxed);
        set_deadline(rdtsc().wrapping_add(tsc_per_tick));
        TimerMode::TscDeadline
    } else {
        write(TIMER_DIVIDE, DIVIDE_BY_16);
        write(LVT_TIMER, vector | LVT_PERIODIC);
        write(TIMER_INITIAL, apic_per_tick);
        TimerMode::Periodic
    };
    Ok(Timer {
        phys_base: base,
        apic_per_tick,
        tsc_per_tick,
        calibrated: measured.is_some(),
        mode,
    })
}

/// Freeze the PIT's channel-0 count in its output latch, to be read by
/// [`pit_read_latched`]: the latch marks the instant, the slow reads follow.
fn pit_latch() {
    // SAFETY: the PIT's command port; the latch command (channel 0, access
    // 00) only freezes the output latch until it is read.
    unsafe { Port::<u8>::new(PIT_COMMAND).write(0x00) }
}

/// The count [`pit_latch`] froze (low byte, then high byte).
fn pit_read_latched() -> u16 {
    let mut data = Port::<u8>::new(PIT_CHANNEL0);
    // SAFETY: reading channel 0's data port only returns the latched count.
    let (lo, hi) = unsafe { (data.read(), data.read()) };
    u16::from_le_bytes([lo, hi])
}

/// Measure the APIC timer (divide by 16) and the TSC over one tick of the
/// PIT: `(apic counts, TSC cycles)` per tick, or `None` without a PIT.
///
/// The PIT's channel 0 is polled rather than channel 2 gated through port
/// 0x61, because microvm has a PIT but no port 0x61 (the PC speaker's
/// gate), while the channel-0 count reads back on every machine with a
/// PIT. Mode 0 (interrupt on terminal count) counts down once from 0xffff
/// and then raises no further edges, so nothing keeps running afterwards;
/// its interrupt line is masked in any case.
fn calibrate() -> Option<(u32, u64)> {
    // SAFETY: programming channel 0 of the PIT: channel 0, low then high
    // byte, mode 0, binary; then the initial count. The PIT drives only the
    // masked IRQ 0 and is used by nothing else.
    unsafe {
        Port::<u8>::new(PIT_COMMAND).write(0b0011_0000);
        let mut data = Port::<u8>::new(PIT_CHANNEL0);
        data.write(0xff);
        data.write(0xff);
    }
    write(TIMER_DIVIDE, DIVIDE_BY_16);
    write(LVT_TIMER, LVT_MASKED | TIMER_VECTOR as u32);

    // Each sample takes the three clocks in the same order (APIC and TSC
    // next to the PIT latch), so the time the slow port reads take does
    // not count on one side only.
    write(TIMER_INITIAL, u32::MAX);
    let tsc_start = rdtsc();
    pit_latch();
    let start = pit_read_latched();
    let mut reads = 0u32;
    let (apic, tsc, elapsed) = loop {
        pit_latch();
        let apic_now = read(TIMER_CURRENT);
        let tsc_now = rdtsc();
        // Mode 0 counts down; the wrapping difference stays right across
        // the count's wrap, which lies far beyond one tick.
        let elapsed = start.wrapping_sub(pit_read_latched());
        if elapsed >= PIT_PER_TICK {
            break (
                u32::MAX - apic_now,
                tsc_now.wrapping_sub(tsc_start),
                elapsed,
            );
        }
        reads += 1;
        if reads > MAX_PIT_READS || (elapsed == 0 && reads > PIT_STALL_READS) {
            write(TIMER_INITIAL, 0);
            return None;
        }
    };
    write(TIMER_INITIAL, 0);

    // The last sample may have overshot the tick a little: scale to exactly one.
    let scale = |n: u64| n as u128 * u128::from(PIT_PER_TICK) / u128::from(elapsed);
    let apic = u32::try_from(scale(u64::from(apic))).ok()?;
    let tsc = u64::try_from(scale(tsc)).unwrap_or(0);
    (apic > 0).then_some((apic, tsc))
}

/// This CPU's local APIC id (where the IOAPICs send its interrupts).
pub fn id() -> u8 {
    if !READY.load(Ordering::Relaxed) {
        return 0;
    }
    (read(ID) >> 24) as u8
}

/// Signal end of interrupt for the one being handled.
pub fn end_of_interrupt() {
    if READY.load(Ordering::Relaxed) {
        write(EOI, 0);
    }
}

/// The timer interrupt arrived: acknowledge it and, in TSC-deadline mode,
/// arm the next deadline one period after the last (or one period from now
/// if the kernel fell behind by more than a tick).
pub fn timer_interrupt() {
    end_of_interrupt();
    let period = DEADLINE_PERIOD.load(Ordering::Relaxed);
    if period != 0 {
        let now = rdtsc();
        let mut next = DEADLINE.load(Ordering::Relaxed).wrapping_add(period);
        if next <= now {
            next = now.wrapping_add(period);
        }
        set_deadline(next);
    }
}

/// TSC cycles in one tick as the kernel measured them; 0 if it could not.
pub fn tsc_per_tick() -> u64 {
    TSC_PER_TICK.load(Ordering::Relaxed)
}

/// The time stamp counter.
pub fn now() -> u64 {
    rdtsc()
}

/// Stop the periodic tick: from now on the timer raises one interrupt at
/// each deadline [`arm_at`] sets (the time partitions' schedule keeps its
/// own ticks). Needs a measured TSC ([`tsc_per_tick`] non-zero).
pub fn one_shot_mode() {
    if ONE_SHOT.swap(true, Ordering::Relaxed) || !READY.load(Ordering::Relaxed) {
        return;
    }
    DEADLINE_PERIOD.store(0, Ordering::Relaxed);
    if !TSC_DEADLINE.load(Ordering::Relaxed) {
        // Periodic mode: stop the count, then one-shot at the full APIC
        // clock, so a deadline converts to counts with the least rounding.
        write(TIMER_INITIAL, 0);
        write(LVT_TIMER, TIMER_VECTOR as u32);
        write(TIMER_DIVIDE, DIVIDE_BY_1);
        // APIC counts (at divide-by-1) per TSC cycle, as 32.32 fixed point.
        let apic = u128::from(APIC_PER_TICK.load(Ordering::Relaxed)) * 16;
        let tsc = u128::from(TSC_PER_TICK.load(Ordering::Relaxed).max(1));
        let per_cycle = u64::try_from((apic << 32) / tsc).unwrap_or(u64::MAX);
        COUNTS_PER_CYCLE.store(per_cycle, Ordering::Relaxed);
    }
}

/// Raise the timer interrupt once the TSC reaches `deadline` (at once if it
/// has). In TSC-deadline mode that is exact; otherwise the APIC counts
/// down the equivalent number of its own cycles, rounded up, so the
/// interrupt never comes early by more than the two clocks' drift.
pub fn arm_at(deadline: u64) {
    if !TSC_DEADLINE.load(Ordering::Relaxed) {
        // Few instructions between reading the TSC and starting the count:
        // each one makes the interrupt that much later.
        let per_cycle = u128::from(COUNTS_PER_CYCLE.load(Ordering::Relaxed));
        let delta = u128::from(deadline.saturating_sub(rdtsc()));
        let counts = ((delta * per_cycle) >> 32) + 1;
        write(TIMER_INITIAL, u32::try_from(counts).unwrap_or(u32::MAX));
    } else {
        DEADLINE.store(deadline, Ordering::Relaxed);
        set_deadline(deadline.max(1));
    }
}

/// Whether the timer interrupt is waiting to be taken (its IRR bit): what
/// the kernel's preemption points look at while interrupts are off. One
/// uncached read; false before the APIC is set up.
pub fn timer_pending() -> bool {
    if !READY.load(Ordering::Relaxed) {
        return false;
    }
    let v = TIMER_VECTOR as usize;
    read(IRR + 0x10 * (v / 32)) & (1 << (v % 32)) != 0
}
