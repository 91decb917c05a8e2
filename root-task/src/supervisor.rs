//! The supervisor: after building the system the root task stays alive and
//! receives every domain's faults, logs them symbolized from the domain's
//! ELF, and applies the domain's restart policy.
//!
//! **Threads.** One thread per time partition (`sup-<partition>`), in the
//! root task's own address space, each receiving on a fault endpoint of
//! its own the faults of the domains of its partition (badge: the domain's
//! index and generation, [`system::fault_badge`]). Time is never lent
//! across partitions, so a partition's faults are handled in its own
//! window. [`make_threads`] is where each thread's partition is set once
//! the kernel has partitions.
//!
//! **State.** Everything the threads change (each domain's record, the
//! root task's slots, its scratch page) is one [`World`] behind one lock,
//! taken with a yield between attempts (never a spin that could hold a
//! window). A fault is logged and decided under the lock, the backoff is
//! waited without it, and the restart is done under it again, after
//! checking that nobody restarted the domain meanwhile: a group restart
//! started by another partition's thread, or a fault of a generation
//! already replaced, is then a no-op. So restarts are serialized; one in
//! progress can delay another partition's supervisor by one rebuild.
//!
//! **Restart.** Revoke the domain's pool (its thread, address space,
//! CNode, quota, reply objects and the channel objects it receives on all
//! go), empty its run of root slots, check that the whole pool is free
//! again and that no slot of the run holds anything, then build it again
//! with the boot code ([`system::populate`]) in the same slots with the
//! next generation, remint the channel ends (its own, and its clients'
//! ends of the channels it serves, into the clients' same slots:
//! [`system::mint_channels`]), check that the rebuild took exactly the
//! objects and slots of the boot, and start it. A `restart-group` takes
//! every domain of the group through the same steps together, whatever
//! partition each is in, from the thread of the partition that faulted;
//! `reboot` takes every domain (the kernel and the root task stay, and
//! regions keep their contents). `hold` takes the domain down the same way
//! and leaves it down: its memory returns to its pool, and its clients'
//! calls fail (their ends of its channels are gone) rather than wait.
//!
//! **Faults are received without a reply object**: the kernel leaves a
//! faulted thread stopped, and the supervisor never resumes one; it
//! rebuilds or holds it.
//!
//! **Backoff** is waited on the TSC (the kernel's calibration is in the
//! boot-info page): the thread drops to priority 0 and yields until the
//! deadline, so the wait takes only time nothing else in its partition
//! wants. The wait is a minimum: a domain of the same partition that never
//! blocks delays the restart as long as it runs.
//!
//! Nothing a fault message says can panic this code: an unknown badge,
//! kind or vector, a domain of another partition, missing words or an
//! address outside every function are logged as such.

// A failure is a sentence, as in `system.rs`: formatted once, on paths
// that run at boot or per restart.
#![allow(clippy::result_large_err)]

use crate::clock;
use crate::system::{
    self, Builder, CNODE, Context, DEPTH, MAX_PARTITIONS, PAGE, Result, SELF_VSPACE, World,
};
use septum_kcore::bootimage::BootImage;
use septum_sysdesc::image::{Domain, System, Then};
use septum_sysdesc::policy::Decision;
use septum_user::abi::fault as fk;
use septum_user::abi::object::object_type as ty;
use septum_user::ipc::{Ipc, Message};
use septum_user::println;

/// Where the supervisor threads' stacks and IPC buffers are mapped in the
/// root task (PML4 slot 194), one stride per thread.
const SUP_BASE: u64 = 0x0000_6100_0000_0000;
const SUP_STRIDE: u64 = 32 * PAGE;
const STACK_PAGES: u64 = 16;
/// The supervisor threads' priority (the root task's own).
const SUP_PRIORITY: u64 = 255;
/// Bytes of the root task's own pool one thread takes: its stack, IPC
/// buffer, thread and page tables, with room to spare.
pub const THREAD_BYTES: u64 = (STACK_PAGES + 4) * PAGE;

/// A supervisor thread, made but not started.
pub struct Thread {
    tcb: u64,
    partition: usize,
    buffer: u64,
    stack_top: u64,
}

/// The boot image and description, read-only once the system is built.
struct Sys {
    image: BootImage<'static>,
    system: System<'static>,
}

static SYS: spin::Once<Sys> = spin::Once::new();
static WORLD: spin::Mutex<Option<World>> = spin::Mutex::new(None);
/// Each supervisor thread's TCB slot, by partition (to lower its own
/// priority while it waits a backoff).
static TCBS: spin::Once<heapless::Vec<u64, MAX_PARTITIONS>> = spin::Once::new();

/// Hand the built system to the supervisor (before any thread starts).
pub fn install(image: BootImage<'static>, system: System<'static>, world: World) {
    SYS.call_once(|| Sys { image, system });
    *WORLD.lock() = Some(world);
}

/// The world, locked; the caller yields while another thread holds it.
fn world() -> spin::MutexGuard<'static, Option<World>> {
    loop {
        if let Some(w) = WORLD.try_lock() {
            return w;
        }
        septum_user::syscall::yield_now();
    }
}

/// Make one supervisor thread per partition, from the root task's pool
/// `own`, in its own address space; not started.
pub fn make_threads(
    b: &mut Builder<'_>,
    own: u64,
    system: &System<'_>,
) -> Result<heapless::Vec<Thread, MAX_PARTITIONS>> {
    let mut threads = heapless::Vec::new();
    let mut tables = heapless::Vec::new();
    let mut tcbs = heapless::Vec::new();
    for (p, part) in system.partitions.iter().enumerate() {
        let base = SUP_BASE + p as u64 * SUP_STRIDE;
        let mut name: heapless::String<32> = heapless::String::new();
        let _ = name.push_str("sup-");
        for c in part.name.chars() {
            if name.push(c).is_err() {
                break;
            }
        }
        // base: the guard page, left unmapped; then the stack; a page
        // gap; then the IPC buffer.
        for i in 0..STACK_PAGES {
            let va = base + (1 + i) * PAGE;
            let frame = b.make(&name, own, ty::FRAME, 0, "a stack page")?;
            b.tables_for(&name, own, SELF_VSPACE, &mut tables, va)?;
            b.ipc
                .frame_map(frame, SELF_VSPACE, va, 1)
                .ctx(&name, "mapping a stack page")?;
        }
        let stack_top = base + (1 + STACK_PAGES) * PAGE;
        let buffer = stack_top + PAGE;
        let frame = b.make(&name, own, ty::FRAME, 0, "its IPC buffer")?;
        b.tables_for(&name, own, SELF_VSPACE, &mut tables, buffer)?;
        b.ipc
            .frame_map(frame, SELF_VSPACE, buffer, 1)
            .ctx(&name, "mapping its IPC buffer")?;
        let tcb = b.make(&name, own, ty::TCB, 0, "its thread")?;
        b.ipc
            .tcb_configure(tcb, CNODE, SELF_VSPACE, frame, buffer, 0)
            .ctx(&name, "configuring its thread")?;
        b.ipc
            .tcb_set_name(tcb, &name)
            .ctx(&name, "naming its thread")?;
        b.ipc
            .tcb_set_mcp(tcb, system::SELF_TCB, SUP_PRIORITY)
            .ctx(&name, "its maximum priority")?;
        b.ipc
            .tcb_set_priority(tcb, system::SELF_TCB, SUP_PRIORITY)
            .ctx(&name, "its priority")?;
        // Partition p's faults are handled in p's window.
        b.ipc
            .tcb_set_partition(tcb, system::SCHED, system::kernel_partition(p as u64))
            .ctx(&name, "its time partition")?;
        // Cannot fail: the build checked the partitions against
        // MAX_PARTITIONS.
        let _ = tcbs.push(tcb);
        let _ = threads.push(Thread {
            tcb,
            partition: p,
            buffer,
            stack_top,
        });
    }
    TCBS.call_once(|| tcbs);
    Ok(threads)
}

/// Start the supervisor threads made by [`make_threads`].
pub fn start_threads(ipc: &mut Ipc, threads: &[Thread]) -> Result<()> {
    for t in threads {
        let mut r = [0u64; 18];
        r[fk::W_RIP] = sup_entry as *const () as u64;
        // As after a `call`: RSP + 8 is 16-byte aligned at the entry.
        r[fk::W_RSP] = t.stack_top - 8;
        r[fk::W_RDI] = t.buffer;
        r[fk::W_RSI] = t.partition as u64;
        r[fk::W_RFLAGS] = 0x202;
        ipc.tcb_write_registers(t.tcb, &r)
            .ctx("supervisor", "its thread's registers")?;
        ipc.tcb_resume(t.tcb)
            .ctx("supervisor", "starting its thread")?;
    }
    Ok(())
}

/// A supervisor thread: receive the partition's faults for ever.
extern "C" fn sup_entry(buffer: u64, partition: u64) -> ! {
    let mut ipc = crate::mem::thread_ipc(buffer);
    let partition = partition as usize;
    let ep = world()
        .as_ref()
        .and_then(|w| w.fault_eps.get(partition).copied());
    let Some(ep) = ep else {
        println!("no fault endpoint for partition {partition}: stopping");
        septum_user::syscall::thread_exit()
    };
    loop {
        // No reply object: a faulted thread stays stopped (see above).
        match ipc.recv(ep, 0) {
            Ok(r) => handle(&mut ipc, partition, r.badge, &r.msg),
            Err(e) => {
                println!("receiving faults failed: {}", e.name());
                septum_user::syscall::yield_now();
            }
        }
    }
}

/// One fault message: log it, decide, wait, act.
fn handle(ipc: &mut Ipc, partition: usize, badge: u64, msg: &Message) {
    let Some(sys) = SYS.get() else {
        return;
    };
    let Some((index, generation)) = system::from_fault_badge(badge) else {
        println!("a message with badge {badge:#x} on the fault endpoint: no domain's; ignored");
        return;
    };
    let Some(d) = sys.system.domains.get(index) else {
        println!("a fault badged for domain {index}, which does not exist; ignored");
        return;
    };
    if usize::from(d.partition) != partition {
        println!(
            "{}: a fault on partition {partition}'s endpoint, but the domain is not in it; ignored",
            d.name
        );
        return;
    }
    log_fault(sys, &d, msg);
    let decision = {
        let mut guard = world();
        let Some(dom) = guard.as_mut().and_then(|w| w.doms.get_mut(index)) else {
            return;
        };
        if dom.generation != generation || dom.held {
            println!(
                "{}: that fault was of generation {generation}, which is gone; nothing to do",
                d.name
            );
            return;
        }
        dom.tracker.on_fault(&d.restart, clock::now_ns())
    };
    let (set, wait_ns, why) = match decision {
        Decision::Restart { wait_ns, count } => {
            let mut why: heapless::String<96> = heapless::String::new();
            let _ = core::fmt::write(
                &mut why,
                format_args!(
                    "restart {count} of at most {} within {} ms",
                    d.restart.max,
                    d.restart.within_ns / 1_000_000
                ),
            );
            (1u64 << index, wait_ns, why)
        }
        Decision::Then { then, wait_ns } => {
            let mut why: heapless::String<96> = heapless::String::new();
            let _ = core::fmt::write(
                &mut why,
                format_args!("its restarts ran out: then {}", then.as_str()),
            );
            println!("{}: {why}", d.name);
            match then {
                Then::Hold => {
                    hold(ipc, &d, index);
                    return;
                }
                Then::RestartGroup => (group_of(&sys.system, &d), wait_ns, why),
                Then::Reboot => (all(&sys.system), wait_ns, why),
            }
        }
    };
    wait(ipc, partition, wait_ns);
    let mut guard = world();
    let Some(w) = guard.as_mut() else {
        return;
    };
    if w.doms
        .get(index)
        .is_none_or(|dom| dom.generation != generation)
    {
        println!(
            "{}: restarted by another supervisor thread meanwhile; nothing to do",
            d.name
        );
        return;
    }
    restart(ipc, sys, w, set, &why);
}

/// Stop a domain for good: take it down as for a restart (its memory
/// goes back to its pool, its clients' calls fail instead of waiting for
/// ever) and never build it again.
fn hold(ipc: &mut Ipc, d: &Domain<'_>, index: usize) {
    let mut guard = world();
    let Some(w) = guard.as_mut() else {
        return;
    };
    let freed = teardown(ipc, w, index);
    if let Some(dom) = w.doms.get_mut(index) {
        dom.held = true;
    }
    println!(
        "{}: held: taken down and kept down (everything it had returned: {freed})",
        d.name
    );
}

/// Every domain of `d`'s group (just `d` if it has none).
fn group_of(system: &System<'_>, d: &Domain<'_>) -> u64 {
    let mut set = 0;
    for (i, e) in system.domains.iter().enumerate() {
        if e.name == d.name || (d.group.is_some() && e.group == d.group) {
            set |= 1u64 << i;
        }
    }
    set
}

fn all(system: &System<'_>) -> u64 {
    let n = system.domains.len().min(64);
    if n == 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// Wait `ns` at the lowest priority, then take the supervisor's back.
fn wait(ipc: &mut Ipc, partition: usize, ns: u64) {
    if ns == 0 {
        return;
    }
    let me = TCBS.get().and_then(|t| t.get(partition).copied());
    if let Some(me) = me {
        let _ = ipc.tcb_set_priority(me, me, 0);
    }
    let deadline = clock::now_ns().saturating_add(ns);
    while clock::now_ns() < deadline {
        septum_user::syscall::yield_now();
    }
    if let Some(me) = me {
        let _ = ipc.tcb_set_priority(me, me, SUP_PRIORITY);
    }
}

/// Take the domains of `set` down and build them again, as at boot.
fn restart(ipc: &mut Ipc, sys: &Sys, w: &mut World, set: u64, why: &str) {
    let members = |w: &World| {
        (0..w.doms.len().min(64))
            .filter(|i| set & (1 << i) != 0)
            .collect::<heapless::Vec<usize, 64>>()
    };
    // Down, all of them, before any comes back: a group restarts together.
    let mut freed: heapless::Vec<bool, 64> = heapless::Vec::new();
    for i in members(w) {
        let _ = freed.push(teardown(ipc, w, i));
    }
    let mut failed = 0u64;
    let mut objects: heapless::Vec<u32, 64> = heapless::Vec::new();
    for i in members(w) {
        let Some(d) = sys.system.domains.get(i) else {
            let _ = objects.push(0);
            continue;
        };
        match rebuild(ipc, sys, w, i, &d) {
            Ok(n) => {
                let _ = objects.push(n);
            }
            Err(e) => {
                println!("{}: cannot rebuild it: {e}; it stays down", d.name);
                failed |= 1 << i;
                let _ = objects.push(0);
            }
        }
    }
    if let Err(e) = system::mint_channels(ipc, &sys.system, &w.doms, w.chan_first, set & !failed) {
        println!("cannot remint the channels of the restarted domains: {e}");
    }
    for (n, i) in members(w).into_iter().enumerate() {
        let (Some(d), Some(dom)) = (sys.system.domains.get(i), w.doms.get_mut(i)) else {
            continue;
        };
        if failed & (1 << i) != 0 {
            dom.held = true;
            continue;
        }
        let slots = system::occupied(ipc, dom.first_slot, dom.end_slot);
        let freed = freed.get(n).copied().unwrap_or(false);
        let made = objects.get(n).copied().unwrap_or(0);
        if freed && slots == dom.slots_used && made == dom.objects {
            println!(
                "{}: restarted as generation {} ({why}); its pool was empty after the revoke \
                 and it was rebuilt with {made} objects in {slots} slots, as at boot",
                d.name, dom.generation
            );
        } else {
            println!(
                "{}: ACCOUNTING MISMATCH after restart as generation {}: pool empty after \
                 revoke: {freed}, {made} objects (boot {}), {slots} slots (boot {})",
                d.name, dom.generation, dom.objects, dom.slots_used
            );
        }
        if let Err(e) = ipc.tcb_resume(dom.tcb) {
            println!("{}: cannot start it: {}", d.name, e.name());
        }
    }
}

/// Revoke domain `i`'s pool and empty its slots; whether everything it
/// had came back (the whole pool retypes as one untyped again, and no
/// slot of its run holds anything).
fn teardown(ipc: &mut Ipc, w: &mut World, i: usize) -> bool {
    let scratch = w.scratch_slot;
    let Some(dom) = w.doms.get_mut(i) else {
        return false;
    };
    let _ = ipc.tcb_suspend(dom.tcb);
    let mut revoked = ipc.cnode_revoke(CNODE, (dom.pool, DEPTH)).is_ok();
    for &(p, _) in &dom.guest_pools {
        revoked &= ipc.cnode_revoke(CNODE, (p, DEPTH)).is_ok();
    }
    for s in dom.first_slot..dom.end_slot {
        let _ = ipc.cnode_delete(CNODE, (s, DEPTH));
    }
    let empty = system::occupied(ipc, dom.first_slot, dom.end_slot) == 0;
    // Round until whole: one revoke each can leave an object of one pool
    // being destroyed for another's (`Ipc::revoke_whole`).
    let pools = core::iter::once((dom.pool, dom.pool_bits)).chain(dom.guest_pools.iter().copied());
    let whole = ipc.revoke_whole(CNODE, DEPTH, pools, scratch);
    dom.generation = dom.generation.wrapping_add(1).max(1);
    dom.held = false;
    revoked && empty && whole
}

/// Build domain `i` again in its pool and slots, with its new generation;
/// how many objects that took.
fn rebuild(ipc: &mut Ipc, sys: &Sys, w: &mut World, i: usize, d: &Domain<'_>) -> Result<u32> {
    let (elf, _) = system::program(&sys.image, &sys.system, d)?;
    let Some(&fault_ep) = w.fault_eps.get(usize::from(d.partition)) else {
        return Err(system::failure(format_args!("{}: no partition", d.name)));
    };
    let scratch_slot = w.scratch_slot;
    let World {
        doms,
        region_first,
        device,
        ..
    } = w;
    let Some(dom) = doms.get_mut(i) else {
        return Err(system::failure(format_args!("{}: no record", d.name)));
    };
    let guest_pools = dom.guest_pools.clone();
    let mut b = Builder {
        ipc,
        next_slot: dom.first_slot,
        limit: dom.end_slot,
        scratch_slot,
        objects: 0,
    };
    let (cnode, guarded, tcb) = system::populate(
        &mut b,
        &sys.image,
        &sys.system,
        d,
        &elf,
        i,
        dom.pool,
        fault_ep,
        dom.generation,
        region_first,
        device,
        &guest_pools,
    )?;
    let made = b.objects;
    dom.cnode = cnode;
    dom.guarded = guarded;
    dom.tcb = tcb;
    Ok(made)
}

/// The fault, as one line (`septum_kcore::faultlog`): `domain: kind at
/// rip (function+offset)`, and for a page fault the address and access.
fn log_fault(sys: &Sys, d: &Domain<'_>, msg: &Message) {
    let program = sys
        .image
        .entries()
        .find(|e| e.kind == septum_kcore::bootimage::EntryKind::Task && e.name == d.program);
    let elf = program.and_then(|p| septum_kcore::elf::Elf::parse(p.data).ok());
    let fault = septum_kcore::faultlog::Fault::from_words(msg.label, msg.words());
    let mut line: heapless::String<512> = heapless::String::new();
    let _ = septum_kcore::faultlog::describe(&mut line, d.name, &fault, elf.as_ref());
    println!("{line}");
}
