//! The benchmark task, booted as the root task by `cargo xtask bench`
//! under `-icount shift=0`, where `rdtsc` counts executed instructions.
//! Each figure is measured [`RUNS`] times and printed as
//! `<id> <min> <median> <max>`; the line `done` ends the run. The kernel
//! starts every line of this root thread with its name, so the console
//! shows `bench: <id> ...`, the report protocol of `build/src/bench.rs`.
//!
//! IPC figures use raw system calls, so they count the kernel's work and
//! the two `syscall`s, not a user library's message copying. Round trips
//! are measured on the client side (call until reply); `notify.signal_wait`
//! is one way (signal until the higher-priority waiter runs);
//! `sched.yield` is a yield to the other thread and back (two yields).
//!
//! `cargo xtask bench --profile <id>` builds this task with
//! `SEPTUM_BENCH_PROFILE=<id>` ([`PROFILE`]). The task then takes
//! [`PROFILE_RUNS`] samples of every figure, so the trace of the profiled
//! one stays short; calls [`septum_bench_profile_start`] just before that
//! figure's measurement starts and [`septum_bench_profile_end`] when it is
//! reported, where the profiler starts and stops QEMU's instruction trace;
//! and stops after that figure's group. The groups before it run as usual, so the
//! kernel's state (which threads are ready, for one) is the one a full
//! run measures the figure in. A normal build has none of this: the marks
//! and the early stop are decided at compile time.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use septum_test_tasks::ktest::{self, CNODE, Ctx, SELF_TCB, SELF_VSPACE, ty};
use septum_user::abi::{Error, fault, syscall as nr};
use septum_user::println;
use septum_user::syscall::{info, raw, signal, thread_exit, wait, yield_now};

septum_user::entry!(main);

/// One figure's measurement.
type Figure = fn(&mut Ctx) -> Result<(), Error>;

/// The one figure to profile, when built for `cargo xtask bench --profile`.
const PROFILE: Option<&str> = option_env!("SEPTUM_BENCH_PROFILE");

/// Samples per figure in a profile build: a steady state in the middle,
/// a short trace. (Fewer, 21 say, and LLVM unrolls the sample loops, so
/// the measured code would no longer be the normal build's.)
const PROFILE_RUNS: usize = 101;

/// Samples per figure.
const RUNS: usize = match PROFILE {
    None => 1001,
    Some(_) => PROFILE_RUNS,
};

/// Set once the profiled figure has been reported: the run can stop.
static PROFILED: AtomicBool = AtomicBool::new(false);

/// Whether `id` is the figure being profiled; constant, false in a normal
/// build.
const fn profiled(id: &str) -> bool {
    let Some(p) = PROFILE else {
        return false;
    };
    let (a, b) = (p.as_bytes(), id.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Where `cargo xtask bench --profile` starts the trace: called just
/// before the profiled figure's measurement starts. The `asm!` keeps the
/// call from being optimised away, and this function from being merged
/// with [`septum_bench_profile_end`].
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn septum_bench_profile_start() {
    // SAFETY: a `nop`.
    unsafe { core::arch::asm!("nop", options(nomem, nostack, preserves_flags)) };
}

/// Where `cargo xtask bench --profile` stops the trace: called when the
/// profiled figure is reported.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn septum_bench_profile_end() {
    // SAFETY: two `nop`s.
    unsafe { core::arch::asm!("nop", "nop", options(nomem, nostack, preserves_flags)) };
}

/// The profiled figure's measurement starts here.
fn profile_start(id: &str) {
    if profiled(id) {
        septum_bench_profile_start();
    }
}

/// The figure `id` has been measured (called again when it is reported).
fn profile_end(id: &str) {
    if profiled(id) {
        septum_bench_profile_end();
        PROFILED.store(true, Relaxed);
    }
}

static SAMPLES: [AtomicU64; RUNS] = [const { AtomicU64::new(0) }; RUNS];
static START: AtomicU64 = AtomicU64::new(0);
static COUNT: AtomicU64 = AtomicU64::new(0);

fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: `rdtsc` only reads the time-stamp counter (user mode may:
    // the kernel leaves CR4.TSD clear).
    unsafe { core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    u64::from(hi) << 32 | u64::from(lo)
}

fn report(id: &str, samples: &mut [u64]) {
    profile_end(id);
    samples.sort_unstable();
    let n = samples.len();
    println!("{id} {} {} {}", samples[0], samples[n / 2], samples[n - 1]);
}

fn report_shared(id: &str) {
    profile_end(id);
    let mut s = [0u64; RUNS];
    for (d, a) in s.iter_mut().zip(SAMPLES.iter()) {
        *d = a.load(Relaxed);
    }
    report(id, &mut s);
}

fn main() {
    let mut c = match ktest::session() {
        Ok(c) => c,
        Err(e) => {
            println!("error setup: {}", e.name());
            return;
        }
    };
    let figures: [(&str, Figure); 13] = [
        ("syscall.null", null_syscall),
        ("ipc.roundtrip.intra_as.0w", intra_as),
        ("ipc.roundtrip.inter_as", inter_as),
        ("notify.signal_wait", signal_wait),
        ("fault.roundtrip", fault_roundtrip),
        ("fault.syscall_roundtrip", fault_syscall_roundtrip),
        ("vspace.map_page", map_page),
        ("sched.yield", sched_yield),
        ("serial.rx", serial_rx),
        ("irq.to_driver", irq_to_driver),
        ("ipc.roundtrip.inter_as.0w.tasksN", with_tasks),
        ("untyped.retype_32mib", retype_32mib),
        // Last: it sets a schedule of time partitions.
        ("partition", partitions),
    ];
    for (id, f) in figures {
        if let Err(e) = f(&mut c) {
            println!("error {id}: {}", e.name());
        }
        if PROFILE.is_some() && PROFILED.load(Relaxed) {
            break;
        }
    }
    println!("done");
}

fn null_syscall(_: &mut Ctx) -> Result<(), Error> {
    let mut s = [0u64; RUNS];
    profile_start("syscall.null");
    for x in s.iter_mut() {
        let t0 = rdtsc();
        raw(nr::DEBUG_WRITE, 0, 0, [0; 4], 0);
        *x = rdtsc() - t0;
    }
    report("syscall.null", &mut s);
    Ok(())
}

/// Server: receive, then answer every call with an empty reply.
extern "C" fn echo_server(ep: u64, reply: u64) -> ! {
    raw(nr::RECV, ep, 0, [0; 4], reply);
    loop {
        raw(nr::REPLY_RECV, ep, info(0, 0), [0; 4], reply);
    }
}

fn round_trips(ep: u64, words: usize) -> [u64; RUNS] {
    let mut s = [0u64; RUNS];
    for x in s.iter_mut() {
        let t0 = rdtsc();
        raw(nr::CALL, ep, info(1, words), [1, 2, 3, 4], 0);
        *x = rdtsc() - t0;
    }
    s
}

fn intra_as(c: &mut Ctx) -> Result<(), Error> {
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    let t = c.spawn("echo", echo_server, ep, 255)?;
    set_second_arg(c, t.tcb, reply)?;
    profile_start("ipc.roundtrip.intra_as.0w");
    report("ipc.roundtrip.intra_as.0w", &mut round_trips(ep, 0));
    Ok(())
}

fn inter_as(c: &mut Ctx) -> Result<(), Error> {
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    let space = c.new_space()?;
    let t = c.spawn_in(&space, "echo-as", echo_server, ep, 255)?;
    // The server wants the reply object as its second argument.
    set_second_arg(c, t.tcb, reply)?;
    profile_start("ipc.roundtrip.inter_as.0w");
    report("ipc.roundtrip.inter_as.0w", &mut round_trips(ep, 0));
    profile_start("ipc.roundtrip.inter_as.4w");
    report("ipc.roundtrip.inter_as.4w", &mut round_trips(ep, 4));
    Ok(())
}

/// Threads start with (arg, IPC buffer) — for the echo server the second
/// argument must be the reply object: rewrite RSI before it first runs.
fn set_second_arg(c: &mut Ctx, tcb: u64, value: u64) -> Result<(), Error> {
    c.ipc.tcb_suspend(tcb)?;
    let r = c.ipc.tcb_read_registers(tcb)?;
    let mut regs = [0u64; 18];
    regs.copy_from_slice(&r[..18]);
    regs[fault::W_RSI] = value;
    c.ipc.tcb_write_registers(tcb, &regs)?;
    c.ipc.tcb_resume(tcb)
}

extern "C" fn waiter(n: u64, _: u64) -> ! {
    for x in SAMPLES.iter() {
        let _ = wait(n);
        x.store(rdtsc() - START.load(Relaxed), Relaxed);
    }
    thread_exit()
}

extern "C" fn signaller(n: u64, done: u64) -> ! {
    for _ in 0..RUNS {
        START.store(rdtsc(), Relaxed);
        let _ = signal(n);
    }
    let _ = signal(done);
    thread_exit()
}

fn signal_wait(c: &mut Ctx) -> Result<(), Error> {
    let n = c.notification()?;
    let done = c.notification()?;
    profile_start("notify.signal_wait");
    // The waiter outranks the signaller, so each signal runs it at once.
    c.spawn("waiter", waiter, n, 210)?;
    let s = c.spawn("signaller", signaller, n, 200)?;
    set_second_arg(c, s.tcb, done)?;
    wait(done)?;
    report_shared("notify.signal_wait");
    Ok(())
}

extern "C" fn faulter(done: u64, _: u64) -> ! {
    for x in SAMPLES.iter() {
        let t0 = rdtsc();
        // SAFETY: `ud2` raises #UD; the handler resumes us after it.
        unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
        x.store(rdtsc() - t0, Relaxed);
    }
    let _ = signal(done);
    thread_exit()
}

/// A thread in syscall-fault mode: each `syscall` (Linux's getpid, 39) is
/// a fault its handler answers with the result in RAX.
extern "C" fn guest_process(done: u64, _: u64) -> ! {
    for x in SAMPLES.iter() {
        let t0 = rdtsc();
        let r: u64;
        // SAFETY: in syscall-fault mode `syscall` is a fault message; the
        // handler answers with RAX and resumes after the instruction. RCX
        // and R11 are clobbered as by any `syscall`.
        unsafe {
            core::arch::asm!("syscall", inlateout("rax") 39u64 => r, lateout("rcx") _,
                lateout("r11") _, options(nostack));
        }
        x.store(rdtsc() - t0, Relaxed);
        if r != 4242 {
            x.store(u64::MAX, Relaxed);
        }
    }
    // Leave syscall-fault mode's reach: exiting is a syscall too, which the
    // handler answers by stopping us (see `handle_faults`).
    let _ = signal(done);
    thread_exit()
}

/// Answer `RUNS` faults on `ep` the short way, as a lean handler does:
/// ReplyRecv with one register word, made by `answer` from the fault
/// message (its words 4.. are in this thread's IPC buffer). Inlined with
/// its `answer`, so the handler's own instructions in the measured span
/// are what a real handler would spend.
#[inline(always)]
fn handle_faults(ep: u64, reply: u64, label: u64, answer: impl Fn() -> u64) -> Result<(), Error> {
    let r = raw(nr::RECV, ep, 0, [0; 4], reply);
    Error::from_rax(r.rax)?;
    let msg = info(label, 1);
    for _ in 1..RUNS {
        let r = raw(nr::REPLY_RECV, ep, msg, [answer(), 0, 0, 0], reply);
        if r.rax != 0 {
            return Error::from_rax(r.rax).map(|_| ());
        }
    }
    let r = raw(nr::REPLY, reply, msg, [answer(), 0, 0, 0], 0);
    Error::from_rax(r.rax).map(|_| ())
}

/// Word `i` of the fault message this (root) thread received.
fn fault_word(i: usize) -> u64 {
    let at = septum_user::abi::layout::USER_IPC_BUFFER + (i as u64 - 4) * 8;
    // SAFETY: the root thread's IPC buffer is mapped at this address for
    // the whole run; the kernel wrote the message there before we ran.
    unsafe { (at as *const u64).read_volatile() }
}

fn fault_roundtrip(c: &mut Ctx) -> Result<(), Error> {
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    let done = c.notification()?;
    profile_start("fault.roundtrip");
    let t = c.configured_thread("faulter", 200, ep)?;
    c.start(t, faulter, done)?;
    // Resume after the two bytes of `ud2`.
    handle_faults(ep, reply, fault::RESUME_AT, || fault_word(fault::W_RIP) + 2)?;
    wait(done)?;
    report_shared("fault.roundtrip");
    Ok(())
}

fn fault_syscall_roundtrip(c: &mut Ctx) -> Result<(), Error> {
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    let done = c.notification()?;
    profile_start("fault.syscall_roundtrip");
    let t = c.configured_thread("guest-proc", 200, ep)?;
    c.ipc.tcb_set_syscall_faults(t.tcb, true)?;
    c.start(t, guest_process, done)?;
    handle_faults(ep, reply, fault::RESUME_SYSCALL_RESULT, || 4242)?;
    // Its exit `syscall` is a fault too: take it, then stop the thread.
    c.ipc.recv(ep, reply)?;
    c.ipc.tcb_suspend(t.tcb)?;
    if SAMPLES.iter().any(|x| x.load(Relaxed) == u64::MAX) {
        return Err(Error::Range);
    }
    report_shared("fault.syscall_roundtrip");
    Ok(())
}

/// A retype of a 32 MiB object (a CNode of 2^20 slots) from clear memory.
/// Until issue 7 a retype cleared its objects' memory with no preemption
/// point (4.2 M instructions here); now memory above a watermark is always
/// clear (an untyped is cleared, preemptibly, when its next retype finds
/// nothing made from it), and a retype costs what its objects need. After
/// each run the untyped is revoked and cleared by an unmeasured retype of
/// one endpoint, itself revoked, so the measured retype finds 16 bytes to
/// clear.
fn retype_32mib(c: &mut Ctx) -> Result<(), Error> {
    let ut = c.untyped_from_boot(25)?;
    // A profile build takes one sample and ends the trace before the
    // revoke: clearing 32 MiB takes some hundred million instructions.
    let mut s = [0u64; if PROFILE.is_some() { 1 } else { 5 }];
    profile_start("untyped.retype_32mib");
    for x in s.iter_mut() {
        let dst = c.slot();
        let t0 = rdtsc();
        c.ipc.retype(ut, ty::CNODE, 20, CNODE, dst, 1)?;
        *x = rdtsc() - t0;
        profile_end("untyped.retype_32mib");
        c.ipc.cnode_revoke(CNODE, (ut, ktest::DEPTH))?;
        let ep = c.slot();
        c.ipc.retype(ut, ty::ENDPOINT, 0, CNODE, ep, 1)?;
        c.ipc.cnode_revoke(CNODE, (ut, ktest::DEPTH))?;
    }
    report("untyped.retype_32mib", &mut s);
    c.ipc.cnode_delete(CNODE, (ut, ktest::DEPTH))
}

/// Window starts measured in each phase of the partition figures.
const PART_WINDOWS: usize = 24;

/// The time-partition figures, from the experiment the on-target suite
/// runs too (`septum_test_tasks::partition`): partition B's thread notes
/// its first instruction in each of its windows while partition A first
/// spins, then storms the kernel with its longest operations, signals and
/// faults. `partition.switch` is B's first instruction's offset from its
/// window's start with A spinning: the timer interrupt at the end of A's
/// window, the switch, and B back in user mode (plus under one turn of
/// B's TSC loop, by where the window's end caught it). `partition.
/// jitter_under_spin` is how much later B starts when A attacks than when
/// it spins (the best quiet start subtracted).
fn partitions(c: &mut Ctx) -> Result<(), Error> {
    use septum_test_tasks::partition as part;
    c.ut = c.untyped_from_boot(22)?;
    let setup = part::setup(c)?;
    part::configure(c)?;
    part::wait_for_b(c, PART_WINDOWS);
    let quiet_end = part::B_COUNT.load(Relaxed);
    septum_user::syscall::signal(setup.go)?;
    part::wait_for_b(c, quiet_end + PART_WINDOWS);
    let end = part::B_COUNT.load(Relaxed).min(part::SAMPLES);
    part::finish(c, &setup)?;
    if part::VIOLATIONS.load(Relaxed) != 0 {
        return Err(Error::IllegalOperation);
    }
    let mut quiet = [0u64; part::SAMPLES];
    let nq = part::b_offsets(0, quiet_end, &mut quiet);
    let mut attacked = [0u64; part::SAMPLES];
    let na = part::b_offsets(quiet_end, end, &mut attacked);
    report("partition.switch", &mut quiet[..nq]);
    let best = quiet[0];
    for a in attacked[..na].iter_mut() {
        *a = a.saturating_sub(best);
    }
    report("partition.jitter_under_spin", &mut attacked[..na]);
    Ok(())
}

fn map_page(c: &mut Ctx) -> Result<(), Error> {
    use septum_user::abi::invocation as inv;
    let f = c.make(ty::FRAME, 0)?;
    let va = c.page_addr();
    let mut s = [0u64; RUNS];
    profile_start("vspace.map_page");
    for x in s.iter_mut() {
        let t0 = rdtsc();
        let r = raw(
            nr::CALL,
            f,
            info(inv::FRAME_MAP, 3),
            [SELF_VSPACE, va, 1, 0],
            0,
        );
        *x = rdtsc() - t0;
        Error::from_rax(r.rax)?;
        c.ipc.frame_unmap(f)?;
    }
    report("vspace.map_page", &mut s);
    Ok(())
}

extern "C" fn yielder_a(done: u64, _: u64) -> ! {
    for x in SAMPLES.iter() {
        let t0 = rdtsc();
        yield_now();
        x.store(rdtsc() - t0, Relaxed);
    }
    COUNT.store(1, Relaxed);
    let _ = signal(done);
    thread_exit()
}

extern "C" fn yielder_b(_: u64, _: u64) -> ! {
    while COUNT.load(Relaxed) == 0 {
        yield_now();
    }
    thread_exit()
}

fn sched_yield(c: &mut Ctx) -> Result<(), Error> {
    let done = c.notification()?;
    COUNT.store(0, Relaxed);
    profile_start("sched.yield");
    c.spawn("yield-a", yielder_a, done, 150)?;
    c.spawn("yield-b", yielder_b, 0, 150)?;
    wait(done)?;
    report_shared("sched.yield");
    Ok(())
}

/// The paste `cargo xtask bench` types once the spinner of
/// `serial.rx` says it is ready.
const PASTE: u64 = 64 * 1024;
/// The spinner's last `rdtsc`.
static SPIN_LAST: AtomicU64 = AtomicU64::new(0);
/// The spinner's last `rdtsc` before the interrupt the driver handled last.
static RX_GAP_START: AtomicU64 = AtomicU64::new(0);
/// Bytes the driver took in the interrupt it just handled (0: none): the
/// spinner's next gap is that interrupt's whole receive path.
static RX_PENDING: AtomicU64 = AtomicU64::new(0);
/// Set when the paste is in: the spinner stops, and signals.
static RX_DONE: AtomicBool = AtomicBool::new(false);
static RX_SAMPLES: [AtomicU64; RUNS] = [const { AtomicU64::new(0) }; RUNS];

/// The low-priority thread of `serial.rx`: says it is ready (the bench
/// harness pastes then), then reads the TSC in a loop. An interrupt and
/// everything it sets off runs in a gap between two of its readings; when
/// the driver has noted the bytes it took, the gap divided by them is one
/// sample (the driver notes where the gap began: the spinner's last
/// reading before it woke). It also keeps the machine from idling while it waits for the
/// paste (`exit_on_idle` would end the run).
extern "C" fn serial_spinner(done: u64, _: u64) -> ! {
    println!("ready for the paste");
    let mut n = 0usize;
    while !RX_DONE.load(Relaxed) {
        // Taken before the time: an interrupt between the two leaves the
        // bytes for the next round, whose time is after the gap too.
        let bytes = RX_PENDING.swap(0, Relaxed);
        let t = rdtsc();
        if bytes != 0 && n < RUNS {
            let gap = t.saturating_sub(RX_GAP_START.load(Relaxed));
            RX_SAMPLES[n].store(gap / bytes, Relaxed);
            n += 1;
        }
        SPIN_LAST.store(t, Relaxed);
    }
    COUNT.store(n as u64, Relaxed);
    let _ = signal(done);
    thread_exit()
}

/// `serial.rx_per_byte` and `serial.rx_irqs_per_64k`: the serial driver's
/// core (`septum_serial::console`, as `servers/serial` runs it) takes a
/// 64 KiB paste that `cargo xtask bench` types into COM1. This thread is
/// the driver: it waits on the IRQ 4 notification, services the UART
/// (drains the receive FIFO into the ring), acknowledges the line, copies
/// the input out as a client's read would, and waits again. A spinner
/// below it measures each interrupt's whole receive path: interrupt
/// entry, delivery, both switches, the driver's work and its two system
/// calls, per byte that interrupt brought. Profile builds skip it (the
/// harness pastes only for `cargo xtask bench`).
fn serial_rx(c: &mut Ctx) -> Result<(), Error> {
    use septum_serial::console::Console;
    use septum_serial::uart::Ports;
    const IRQ_CONTROL: u64 = septum_user::abi::bootinfo::SLOT_IRQ_CONTROL;
    const IO_PORT_CONTROL: u64 = septum_user::abi::bootinfo::SLOT_IO_PORT_CONTROL;
    static CONSOLE: spin::Mutex<Option<Console<Ports>>> = spin::Mutex::new(None);
    if PROFILE.is_some() {
        return Ok(());
    }
    let d = ktest::DEPTH;
    let ports = c.slot();
    c.ipc
        .io_port_issue(IO_PORT_CONTROL, 0x3f8, 0x3ff, CNODE, (ports, d))?;
    c.ipc.io_port_install(ports, SELF_VSPACE)?;
    let handler = c.slot();
    c.ipc.irq_control_get(IRQ_CONTROL, 4, CNODE, (handler, d))?;
    let n = c.notification()?;
    c.ipc.irq_handler_set_notification(handler, n)?;
    let mut console = CONSOLE.lock();
    let console = console.insert(Console::new(Ports(0x3f8)));
    let done = c.notification()?;
    c.spawn("serial-rx", serial_spinner, done, 254)?;
    let mut irqs = 0u64;
    while console.counters.rx_bytes < PASTE {
        wait(n)?;
        let gap_start = SPIN_LAST.load(Relaxed);
        let before = console.counters.rx_bytes;
        console.service();
        c.ipc.irq_handler_ack(handler)?;
        console.service();
        while console.read(512).is_some() {}
        irqs += 1;
        RX_GAP_START.store(gap_start, Relaxed);
        RX_PENDING.store(console.counters.rx_bytes - before, Relaxed);
    }
    RX_DONE.store(true, Relaxed);
    wait(done)?;
    let taken = COUNT.load(Relaxed) as usize;
    let mut s = [0u64; RUNS];
    for (d, a) in s.iter_mut().zip(RX_SAMPLES.iter()).take(taken) {
        *d = a.load(Relaxed);
    }
    if taken == 0 || console.counters.rx_bytes != PASTE || console.counters.dropped != 0 {
        println!(
            "error serial.rx: {} bytes in, {} lost, {taken} samples",
            console.counters.rx_bytes, console.counters.dropped
        );
    } else {
        report("serial.rx_per_byte", &mut s[..taken]);
        report("serial.rx_irqs_per_64k", &mut [irqs]);
    }
    c.ipc.irq_handler_clear(handler)?;
    c.ipc.cnode_delete(CNODE, (handler, d))?;
    c.ipc.io_port_uninstall(ports)?;
    c.ipc.cnode_delete(CNODE, (ports, d))
}

/// COM1's interrupt enable register, and the register whose read clears
/// its transmitter-empty interrupt.
const COM1_IER: u16 = 0x3f9;
const COM1_IIR: u16 = 0x3fa;

/// The driver of `irq.to_driver`: waits on its notification (`arg` low
/// 16 bits), stores `rdtsc` in the word at `shared` as its first act, then
/// quiets the UART and acknowledges the line (handler: `arg >> 16`).
extern "C" fn irq_driver(arg: u64, shared: u64) -> ! {
    let (n, handler) = (arg & 0xffff, arg >> 16);
    let ack = info(septum_user::abi::invocation::IRQ_HANDLER_ACK, 0);
    loop {
        let _ = wait(n);
        let t = rdtsc();
        // SAFETY: `shared` is a frame mapped read-write in this address
        // space (and the root's) for this figure alone.
        unsafe { (shared as *mut u64).write_volatile(t) };
        septum_user::port::outb(COM1_IER, 0);
        let _ = septum_user::port::inb(COM1_IIR);
        raw(nr::CALL, handler, ack, [0; 4], 0);
    }
}

/// An interrupt raised to the driver thread running in user mode: from
/// the `rdtsc` just before the `out` that makes the UART raise IRQ 4 (its
/// transmitter-empty interrupt, which QEMU's 16550 asserts as soon as it
/// is enabled with the holding register empty) to the driver's `rdtsc`
/// right after its `Wait` returns. The driver runs in an address space of
/// its own at priority 210; the root, which raises the interrupt, drops
/// to 100 meanwhile, so the interrupt preempts it. The span is the
/// raiser's `out` and the store after `rdtsc`, the interrupt entry,
/// masking the line and EOI, the signal, the switch of thread and address
/// space, and the driver's return from `Wait`.
fn irq_to_driver(c: &mut Ctx) -> Result<(), Error> {
    const IRQ_CONTROL: u64 = septum_user::abi::bootinfo::SLOT_IRQ_CONTROL;
    const IO_PORT_CONTROL: u64 = septum_user::abi::bootinfo::SLOT_IO_PORT_CONTROL;
    let d = ktest::DEPTH;
    let space = c.new_space()?;
    // The UART's ports, open in both address spaces.
    let (ports, ports2) = (c.slot(), c.slot());
    c.ipc
        .io_port_issue(IO_PORT_CONTROL, 0x3f8, 0x3ff, CNODE, (ports, d))?;
    c.ipc
        .cnode_copy(CNODE, (ports2, d), CNODE, (ports, d), ktest::rights::ALL)?;
    c.ipc.io_port_install(ports, SELF_VSPACE)?;
    c.ipc.io_port_install(ports2, space.vspace)?;
    septum_user::port::outb(COM1_IER, 0);
    // The line, delivered to a notification.
    let handler = c.slot();
    c.ipc.irq_control_get(IRQ_CONTROL, 4, CNODE, (handler, d))?;
    let n = c.notification()?;
    c.ipc.irq_handler_set_notification(handler, n)?;
    // A word both spaces see.
    let (f, shared) = c.frame_in(&space)?;
    let copy = c.slot();
    c.ipc
        .cnode_copy(CNODE, (copy, d), CNODE, (f, d), ktest::rights::ALL)?;
    c.ipc.frame_map(copy, SELF_VSPACE, shared, 1)?;
    let t = c.spawn_in(&space, "irq-driver", irq_driver, n | handler << 16, 210)?;
    set_second_arg(c, t.tcb, shared)?;
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 100)?;
    let mut s = [0u64; RUNS];
    profile_start("irq.to_driver");
    for x in s.iter_mut() {
        let t0 = rdtsc();
        septum_user::port::outb(COM1_IER, 0x02);
        // SAFETY: mapped read-write above; the driver wrote it.
        *x = unsafe { (shared as *const u64).read_volatile() }.wrapping_sub(t0);
    }
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 255)?;
    report("irq.to_driver", &mut s);
    c.ipc.irq_handler_clear(handler)?;
    // What a switch of address space costs when one side has ports open:
    // the inter-AS round trip again, the client (root) holding COM1's.
    c.ipc.io_port_uninstall(ports2)?;
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    let t = c.spawn_in(&space, "echo-io", echo_server, ep, 255)?;
    set_second_arg(c, t.tcb, reply)?;
    profile_start("ioport.inter_as.0w");
    report("ioport.inter_as.0w", &mut round_trips(ep, 0));
    c.ipc.io_port_uninstall(ports)
}

extern "C" fn blocked(n: u64, _: u64) -> ! {
    loop {
        let _ = wait(n);
    }
}

/// Stacks for the idle threads of the many-tasks figures.
#[repr(C, align(16))]
struct SmallStacks([[u8; 1024]; 256]);
static mut SMALL_STACKS: SmallStacks = SmallStacks([[0; 1024]; 256]);

fn with_tasks(c: &mut Ctx) -> Result<(), Error> {
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    let space = c.new_space()?;
    let t = c.spawn_in(&space, "echo-n", echo_server, ep, 255)?;
    set_second_arg(c, t.tcb, reply)?;
    let n = c.notification()?;
    let mut alive = 2;
    for target in [2, 16, 256] {
        while alive < target {
            // A thread with no IPC buffer, blocked on a notification.
            let tcb = c.make(ty::TCB, 0)?;
            c.ipc.tcb_configure(tcb, CNODE, SELF_VSPACE, 0, 0, 0)?;
            c.ipc.tcb_set_priority(tcb, SELF_TCB, 100)?;
            let i = alive - 2;
            let top = (&raw const SMALL_STACKS) as u64 + (i as u64 + 1) * 1024;
            let mut regs = [0u64; 18];
            regs[fault::W_RIP] = blocked as *const () as u64;
            regs[fault::W_RSP] = top - 8;
            regs[fault::W_RDI] = n;
            regs[fault::W_RFLAGS] = 0x202;
            c.ipc.tcb_write_registers(tcb, &regs)?;
            c.ipc.tcb_resume(tcb)?;
            alive += 1;
        }
        // Let the new threads run into their wait before measuring.
        c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 50)?;
        c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 255)?;
        let mut id = heapless::String::<48>::new();
        let _ = core::fmt::write(
            &mut id,
            format_args!("ipc.roundtrip.inter_as.0w.tasks{target}"),
        );
        profile_start(&id);
        report(&id, &mut round_trips(ep, 0));
    }
    Ok(())
}
