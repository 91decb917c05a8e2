//! Interrupts after the entry code: the local APIC timer's tick, and device
//! lines delivered to notifications through IRQ-handler capabilities.
//!
//! **Lines.** A line is what a driver names: 0–15 are the ISA IRQs (on the
//! GSI an ACPI interrupt source override gives, with its polarity and
//! trigger mode; identity, edge, active high otherwise), 16 and up are the
//! GSIs of the same number (PCI: level, active low). A line exists if an
//! IOAPIC pin carries it and no other line's override took its GSI. Line
//! `l` arrives on vector [`FIRST_VECTOR`]` + l`.
//!
//! **Capabilities.** `IrqControl.get(line)` makes the one `IrqHandler` of a
//! line (a line already handed out is refused until every capability to
//! its handler is gone). A handler is bound to a notification
//! (`set_notification`: the notification capability's badge, 1 if none,
//! is what each interrupt ORs in) and the line is unmasked.
//!
//! **Masked until acknowledged.** When the line fires, the kernel masks
//! its IOAPIC pin, signals the notification, and ends the interrupt at the
//! local APIC. The line stays masked until the driver calls `ack`, after
//! it has quieted its device, so a level-triggered line cannot storm and
//! an edge-triggered one is delivered at most once per acknowledgement.
//! Clearing the binding, or deleting the handler's last capability, or
//! destroying the notification, masks the line.
//!
//! **Spurious and unbound interrupts** (vector 0xff; a line with no
//! notification, which can only be a race with a mask) are counted and the
//! first of each kind is logged.
//!
//! The tick only charges the running thread's time slice; it never wakes a
//! blocked thread (the kernel has no timeouts). So with nothing runnable
//! and no line bound, the system has done all it will do; with a line
//! bound, only a device can wake anything (see [`idle_expired`]).

use crate::arch::apic;
use crate::arch::ioapic::{self, ACTIVE_LOW, LEVEL, MASKED, Pin};
use crate::object::Slot;
use crate::object::cnode;
use core::sync::atomic::{AtomicU64, Ordering};
use septum_abi::Error;
use septum_kcore::cap::{Cap, Rights};

/// Lines the kernel can hand out (0..MAX_LINES).
pub const MAX_LINES: usize = 64;
/// Vector of line 0.
pub const FIRST_VECTOR: u64 = 0x30;
const _: () = assert!(FIRST_VECTOR + MAX_LINES as u64 <= apic::SPURIOUS_VECTOR);
const _: () = assert!(FIRST_VECTOR > apic::TIMER_VECTOR);

/// Timer ticks with nothing runnable and no device interrupt, after which
/// a test run (`exit_on_idle`) with lines bound counts as finished: 50
/// ticks, half a second of the machine's time.
pub const IDLE_GRACE_TICKS: u64 = 50;

#[derive(Clone, Copy, Debug)]
struct Line {
    /// The IOAPIC pin, if the line exists.
    pin: Option<Pin>,
    /// The redirection entry's low word as last written (mask bit included).
    low: u32,
    /// An `IrqHandler` capability to it exists.
    issued: bool,
    /// Bound notification (physical address; 0: none) and the bits it gets.
    ntfn: u64,
    badge: u64,
    /// Fired and masked; waits for the driver's `ack`.
    pending_ack: bool,
    /// The GSI it arrives on (for the boot log).
    gsi: u32,
}

const NO_LINE: Line = Line {
    pin: None,
    low: MASKED,
    issued: false,
    ntfn: 0,
    badge: 0,
    pending_ack: false,
    gsi: 0,
};

/// One CPU, interrupts off in the kernel: the lock is never contended; it
/// only makes the table's mutation explicit.
static LINES: spin::Mutex<[Line; MAX_LINES]> = spin::Mutex::new([NO_LINE; MAX_LINES]);
/// Lines bound to a notification (what may still wake a thread).
static BOUND: AtomicU64 = AtomicU64::new(0);
static SPURIOUS: AtomicU64 = AtomicU64::new(0);
static UNBOUND: AtomicU64 = AtomicU64::new(0);
/// Ticks taken while idle since the last device interrupt or running thread.
static IDLE_TICKS: AtomicU64 = AtomicU64::new(0);

/// Set the line table up from the platform's overrides and the IOAPICs
/// `ioapic::init` mapped, programming every existing line masked with its
/// vector, trigger mode and polarity. Returns the number of lines.
pub fn init(overrides: &[Option<crate::arch::acpi::Override>; 16]) -> usize {
    let dest = apic::id();
    let mut lines = LINES.lock();
    // GSIs an ISA override moved another IRQ onto: no line of their own.
    let taken = |gsi: u32, isa: usize| {
        overrides
            .iter()
            .enumerate()
            .any(|(i, o)| i != isa && o.is_some_and(|o| o.gsi == gsi))
    };
    let mut count = 0;
    for (l, line) in lines.iter_mut().enumerate() {
        let (gsi, flags) = if l < 16 {
            match overrides[l] {
                Some(o) => (o.gsi, o.flags),
                None => (l as u32, 0),
            }
        } else {
            // PCI conventions: level-triggered, active low.
            (l as u32, 0b1111)
        };
        if taken(gsi, l) {
            continue;
        }
        let Some(pin) = ioapic::pin_of(gsi) else {
            continue;
        };
        // MPS INTI flags: polarity 0b11 = active low, trigger 0b11 = level;
        // 0b00 "conforms to the bus" is ISA's edge, active high.
        let mut low = MASKED | (FIRST_VECTOR as u32 + l as u32);
        if flags & 0b11 == 0b11 {
            low |= ACTIVE_LOW;
        }
        if (flags >> 2) & 0b11 == 0b11 {
            low |= LEVEL;
        }
        ioapic::program(pin, dest, low);
        *line = Line {
            pin: Some(pin),
            low,
            gsi,
            ..NO_LINE
        };
        count += 1;
    }
    count
}

/// A short description of the line table for the boot log: each ISA line
/// that does not arrive on its own GSI, and the number of lines.
pub fn describe(mut out: impl FnMut(usize, u32, bool, bool)) {
    let lines = LINES.lock();
    for (l, line) in lines.iter().enumerate() {
        if line.pin.is_some() {
            out(
                l,
                line.gsi,
                line.low & LEVEL != 0,
                line.low & ACTIVE_LOW != 0,
            );
        }
    }
}

/// Handle interrupt `vector`, taken in user mode or while idle. Returns
/// the thread a device interrupt woke, Runnable but not queued: the caller
/// switches to it or queues it ([`crate::sched::enqueue`]).
#[must_use]
pub fn handle(vector: u64) -> Option<crate::object::tcb::Tcb> {
    match vector {
        apic::TIMER_VECTOR => {
            if crate::sched::current().is_none() {
                IDLE_TICKS.fetch_add(1, Ordering::Relaxed);
            } else {
                IDLE_TICKS.store(0, Ordering::Relaxed);
            }
            if !crate::partition::timer() {
                apic::timer_interrupt();
                crate::sched::tick();
            }
        }
        v if (FIRST_VECTOR..FIRST_VECTOR + MAX_LINES as u64).contains(&v) => {
            return device((v - FIRST_VECTOR) as usize);
        }
        // A spurious interrupt is not in service: it must not be acknowledged.
        apic::SPURIOUS_VECTOR => {
            if SPURIOUS.fetch_add(1, Ordering::Relaxed) == 0 {
                crate::warn!("irq: spurious interrupt (counted; logged only once)");
            }
        }
        _ => {
            apic::end_of_interrupt();
            crate::warn!("unexpected interrupt vector {vector}");
        }
    }
    None
}

/// Line `l` fired: mask it until the driver acknowledges, end the
/// interrupt, and signal the bound notification; the thread that woke.
#[inline]
fn device(l: usize) -> Option<crate::object::tcb::Tcb> {
    IDLE_TICKS.store(0, Ordering::Relaxed);
    let (ntfn, badge) = {
        let mut lines = LINES.lock();
        let line = &mut lines[l];
        if let Some(pin) = line.pin {
            line.low |= MASKED;
            ioapic::set_low(pin, line.low);
        }
        if line.ntfn != 0 {
            line.pending_ack = true;
        }
        (line.ntfn, line.badge)
    };
    apic::end_of_interrupt();
    if ntfn == 0 {
        if UNBOUND.fetch_add(1, Ordering::Relaxed) == 0 {
            crate::warn!(
                "irq: line {l} fired with no notification bound (counted; logged only once)"
            );
        }
        return None;
    }
    crate::ipc::signal_word(ntfn, badge)
}

/// Whether any interrupt could still wake a blocked thread: a line bound
/// to a notification. Timer ticks do not count (see the module note).
pub fn any_source() -> bool {
    BOUND.load(Ordering::Relaxed) != 0
}

/// With lines bound, whether the machine has been idle for
/// [`IDLE_GRACE_TICKS`] ticks with no device interrupt: what
/// `exit_on_idle` takes as "done" when a driver waits for a device that
/// stays quiet.
pub fn idle_expired() -> bool {
    IDLE_TICKS.load(Ordering::Relaxed) >= idle_grace()
}

/// The idle ticks that end a test run: the command line's `idle_grace`,
/// else [`IDLE_GRACE_TICKS`].
pub fn idle_grace() -> u64 {
    crate::boot_options().idle_grace.unwrap_or(IDLE_GRACE_TICKS)
}

fn set_masked(line: &mut Line, masked: bool) {
    if let Some(pin) = line.pin {
        line.low = if masked {
            line.low | MASKED
        } else {
            line.low & !MASKED
        };
        ioapic::set_low(pin, line.low);
    }
}

fn unbind(line: &mut Line) {
    if line.ntfn != 0 {
        BOUND.fetch_sub(1, Ordering::Relaxed);
    }
    line.ntfn = 0;
    line.badge = 0;
    line.pending_ack = false;
    set_masked(line, true);
}

/// `IrqControl.get`: make the handler of `line` in the empty slot `dst`,
/// derived from the `IrqControl` capability in `control`.
pub fn get(control: Slot, line: u64, dst: Slot) -> Result<(), Error> {
    let l = usize::try_from(line)
        .ok()
        .filter(|&l| l < MAX_LINES)
        .ok_or(Error::Range)?;
    let mut lines = LINES.lock();
    if lines[l].pin.is_none() {
        return Err(Error::Range);
    }
    if lines[l].issued {
        return Err(Error::IllegalOperation);
    }
    cnode::insert(dst, &Cap::IrqHandler { irq: l as u8 }, Some(control))?;
    lines[l].issued = true;
    Ok(())
}

/// `IrqHandler.set_notification`: deliver line `l` to the notification
/// `ntfn` (a capability with the signal right), and unmask it unless an
/// interrupt still waits for its `ack`.
pub fn set_notification(l: u8, ntfn: &Cap) -> Result<(), Error> {
    let Cap::Notification { object, rights, .. } = *ntfn else {
        return Err(Error::WrongType);
    };
    if !rights.contains(Rights::WRITE) {
        return Err(Error::MissingRight);
    }
    let badge = match ntfn.badge() {
        0 => 1,
        b => b,
    };
    let mut lines = LINES.lock();
    let line = &mut lines[usize::from(l) % MAX_LINES];
    if line.ntfn == 0 {
        BOUND.fetch_add(1, Ordering::Relaxed);
    }
    line.ntfn = object;
    line.badge = badge;
    if !line.pending_ack {
        set_masked(line, false);
    }
    Ok(())
}

/// `IrqHandler.ack`: the driver has dealt with the interrupt; unmask.
pub fn ack(l: u8) -> Result<(), Error> {
    let mut lines = LINES.lock();
    let line = &mut lines[usize::from(l) % MAX_LINES];
    if line.ntfn == 0 {
        return Err(Error::IllegalOperation);
    }
    line.pending_ack = false;
    set_masked(line, false);
    Ok(())
}

/// `IrqHandler.clear`: unbind the notification and mask the line.
pub fn clear(l: u8) {
    unbind(&mut LINES.lock()[usize::from(l) % MAX_LINES]);
}

/// The last capability to line `l`'s handler is gone: unbind, mask, and
/// let `IrqControl.get` hand the line out again.
pub fn handler_destroyed(l: u8) {
    let mut lines = LINES.lock();
    let line = &mut lines[usize::from(l) % MAX_LINES];
    unbind(line);
    line.issued = false;
}

/// The notification at `n` is being destroyed: every line bound to it is
/// unbound and masked.
pub fn notification_destroyed(n: u64) {
    if BOUND.load(Ordering::Relaxed) == 0 {
        return;
    }
    for line in LINES.lock().iter_mut() {
        if line.ntfn == n {
            unbind(line);
        }
    }
}
