//! The timer server's hardware: the HPET's registers (device memory the
//! description maps), the PIT's ports and the TSC. The only `unsafe` of
//! the server is here: MMIO reads and writes of the mapped HPET page, and
//! `rdtsc`.

use septum_user::port::{inb, outb};

/// The HPET's registers (IA-PC HPET specification 1.0a, section 2.3).
pub mod reg {
    /// General capabilities and ID: revision (bits 0-7), number of
    /// comparators less one (8-12), 64-bit counter (13), legacy
    /// replacement routing (15), period in femtoseconds (32-63).
    pub const CAP_ID: usize = 0x000;
    /// General configuration: enable (bit 0), legacy replacement (bit 1).
    pub const CONFIG: usize = 0x010;
    /// General interrupt status: bit n for comparator n (level mode).
    pub const INT_STATUS: usize = 0x020;
    pub const MAIN_COUNTER: usize = 0x0f0;
    /// Comparator 0's configuration and value.
    pub const T0_CONFIG: usize = 0x100;
    pub const T0_COMPARATOR: usize = 0x108;

    pub const CAP_COUNT_64: u64 = 1 << 13;
    pub const CAP_LEGACY: u64 = 1 << 15;
    pub const CONFIG_ENABLE: u64 = 1 << 0;
    pub const CONFIG_LEGACY: u64 = 1 << 1;
    /// Comparator configuration: interrupt enable (edge-triggered, one-shot
    /// when the other bits are clear).
    pub const TN_INT_ENABLE: u64 = 1 << 2;
}

/// The HPET's register page, mapped uncached at `base`.
#[derive(Clone, Copy, Debug)]
pub struct Hpet {
    base: u64,
}

impl Hpet {
    /// # Safety
    /// `base` must be a page mapped readable and writable for this task for
    /// its lifetime, holding device registers (or nothing) that only this
    /// value touches: reads and writes there have no effect on memory.
    pub unsafe fn new(base: u64) -> Self {
        Hpet { base }
    }

    pub fn read(&self, offset: usize) -> u64 {
        // SAFETY: `new`'s contract: the page is mapped for us, and offset is
        // one of `reg`'s, inside the page and 8-byte aligned.
        unsafe { ((self.base as usize + offset) as *const u64).read_volatile() }
    }

    pub fn write(&self, offset: usize, value: u64) {
        // SAFETY: as for `read`; a register write changes only the device.
        unsafe { ((self.base as usize + offset) as *mut u64).write_volatile(value) }
    }
}

/// The time-stamp counter (user mode may read it: CR4.TSD stays clear).
pub fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` reads a counter and touches no memory.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The PIT's input clock.
pub const PIT_HZ: u64 = 1_193_182;
const PIT_CH0: u16 = 0x40;
const PIT_CMD: u16 = 0x43;
/// Channel 0, low byte then high byte, mode 0 (interrupt on terminal count).
const PIT_CH0_MODE0: u8 = 0x30;

/// Start channel 0 counting down from `count` (1..=0xffff; 0 would mean
/// 65536); its output rises, raising IRQ 0, when it reaches zero.
pub fn pit_one_shot(count: u16) {
    outb(PIT_CMD, PIT_CH0_MODE0);
    outb(PIT_CH0, count as u8);
    outb(PIT_CH0, (count >> 8) as u8);
}

/// Stop channel 0: a mode word without a count holds it (no interrupt).
pub fn pit_stop() {
    outb(PIT_CMD, PIT_CH0_MODE0);
}

/// Channel 0's current count (latched, so both bytes belong together).
fn pit_count() -> u16 {
    outb(PIT_CMD, 0x00);
    let lo = inb(PIT_CH0);
    let hi = inb(PIT_CH0);
    u16::from(lo) | u16::from(hi) << 8
}

/// The TSC's frequency, measured against 10 ms of the PIT's channel 0,
/// polled (as the kernel does: microvm has no port 0x61 for channel 2).
/// `None` if the count does not move: no PIT. Every wait is bounded.
pub fn calibrate_tsc() -> Option<u64> {
    const SPAN: u16 = 11_932; // 10 ms of PIT ticks
    pit_one_shot(0xffff);
    // Start at a tick edge, so the span is whole ticks.
    let first = pit_count();
    let mut start = first;
    let mut moved = false;
    for _ in 0..1_000_000 {
        start = pit_count();
        if start != first {
            moved = true;
            break;
        }
    }
    if !moved {
        return None;
    }
    let t0 = rdtsc();
    for _ in 0..50_000_000u64 {
        let c = pit_count();
        let gone = start.wrapping_sub(c);
        if c > start || gone >= SPAN {
            let t1 = rdtsc();
            pit_stop();
            if c > start || gone == 0 {
                return None;
            }
            let hz = u128::from(t1 - t0) * u128::from(PIT_HZ) / u128::from(gone);
            return u64::try_from(hz).ok().filter(|&hz| hz > 0);
        }
    }
    pit_stop();
    None
}
