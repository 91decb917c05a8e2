//! The on-target test framework: runs every registered test case as the
//! root task and prints one `septum-test: <name> ok`,
//! `septum-test: <name> FAILED <reason>` or `septum-test: <name> skipped
//! <reason>` line per case. A case skips (with [`skip!`]) only when the
//! machine cannot meet its precondition, never to hide a failure.
//!
//! Each case gets a fresh 4 MiB untyped (a child of one large untyped), a
//! window of empty slots in the root CNode and a window of scratch virtual
//! addresses. Afterwards the framework revokes and deletes the child
//! untyped — which destroys every object the case made, stops its threads
//! and unmaps its frames — and deletes whatever is left in its slots. So
//! every case also exercises teardown, and a case that leaves the kernel in
//! a bad state shows up in the cases after it.

use core::fmt::Write;
use septum_user::abi::Error;
use septum_user::abi::bootinfo::{self as bi, BootInfo};
use septum_user::ipc::{Ipc, Message};

/// The root CNode: a capability pointer is a slot index, resolved 64 bits deep.
pub const CNODE: u64 = bi::SLOT_CNODE;
/// Depth that names a root-CNode slot by its index.
pub const DEPTH: u64 = 64;
/// The root task's own thread, address space and ASID pool.
pub const SELF_TCB: u64 = bi::SLOT_TCB;
pub const SELF_VSPACE: u64 = bi::SLOT_VSPACE;
pub const ASID_POOL: u64 = bi::SLOT_ASID_POOL;

/// Object type codes (`ty`), capability type codes as identify reports them
/// (`cap`), and rights bits: the ABI's own.
pub use septum_user::abi::object::{cap_type as cap, object_type as ty, rights};

/// A case did not pass: it failed, or it skipped because the machine
/// cannot meet its precondition; the reason is in [`reason`]. Kept small, so
/// every case's `Result` stays cheap: cases run one at a time on the root
/// thread, so one buffer holds the reason of the case that just stopped.
#[derive(Debug)]
pub struct Fail {
    skipped: bool,
}

static REASON: spin::Mutex<heapless::String<160>> = spin::Mutex::new(heapless::String::new());

impl Fail {
    /// Record `args` as the failing case's reason.
    pub fn new(args: core::fmt::Arguments<'_>) -> Fail {
        record(args);
        Fail { skipped: false }
    }

    /// Record `args` as the reason the case cannot run on this machine.
    pub fn skip(args: core::fmt::Arguments<'_>) -> Fail {
        record(args);
        Fail { skipped: true }
    }
}

fn record(args: core::fmt::Arguments<'_>) {
    let mut r = REASON.lock();
    r.clear();
    let _ = r.write_fmt(args);
}

/// The reason the last failing or skipped case gave.
pub fn reason() -> heapless::String<160> {
    REASON.lock().clone()
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::new(format_args!("unexpected error: {}", e.name()))
    }
}

/// Result of a case.
pub type TestResult = Result<(), Fail>;

/// Fail the case with a formatted reason.
#[macro_export]
macro_rules! fail {
    ($($t:tt)*) => {{
        return Err($crate::ktest::Fail::new(format_args!($($t)*)));
    }};
}

/// Stop the case as skipped, with a formatted reason: the machine cannot
/// meet its precondition (too little memory, a missing CPU feature). The
/// harness counts it apart from passed and failed cases.
#[macro_export]
macro_rules! skip {
    ($($t:tt)*) => {{
        return Err($crate::ktest::Fail::skip(format_args!($($t)*)));
    }};
}

/// Fail unless `cond`.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($t:tt)*) => {
        if !$cond {
            $crate::fail!($($t)*);
        }
    };
}

/// Fail unless the two are equal.
#[macro_export]
macro_rules! check_eq {
    ($a:expr, $b:expr) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            $crate::fail!("{} = {:?}, expected {:?}", stringify!($a), a, b);
        }
    }};
}

/// One test case.
pub struct Test {
    pub name: &'static str,
    pub run: fn(&mut Ctx) -> TestResult,
}

/// Slots each case may use.
const WINDOW: u64 = 256;
/// Where each case's scratch pages go (PML4 slot 0, PDPT entry 256: 1 GiB in).
const SCRATCH_BASE: u64 = 0x40_0000_0000;
/// Scratch pages per case.
const SCRATCH_PAGES: u64 = 256;
/// Stacks for threads the cases start.
const STACKS: usize = 16;
const STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct Stacks([[u8; STACK_SIZE]; STACKS]);
static mut THREAD_STACKS: Stacks = Stacks([[0; STACK_SIZE]; STACKS]);

/// What a case works with.
pub struct Ctx {
    pub ipc: Ipc,
    pub info: &'static BootInfo,
    /// The case's own untyped memory.
    pub ut: u64,
    next_slot: u64,
    slot_end: u64,
    next_page: u64,
    next_stack: usize,
}

/// A thread a case started.
#[derive(Clone, Copy, Debug)]
pub struct Thread {
    pub tcb: u64,
    /// Its IPC buffer's address.
    pub buffer: u64,
}

impl Ctx {
    /// A fresh empty slot of this case.
    pub fn slot(&mut self) -> u64 {
        let s = self.next_slot;
        if s < self.slot_end {
            self.next_slot += 1;
        }
        s
    }

    /// `count` consecutive empty slots; returns the first.
    pub fn slots(&mut self, count: u64) -> u64 {
        let s = self.next_slot;
        self.next_slot = (self.next_slot + count).min(self.slot_end);
        s
    }

    /// One new object of type `t` (size `bits`) from the case's untyped.
    pub fn make(&mut self, t: u64, bits: u64) -> Result<u64, Error> {
        let s = self.slot();
        self.ipc.retype(self.ut, t, bits, CNODE, s, 1)?;
        Ok(s)
    }

    pub fn endpoint(&mut self) -> Result<u64, Error> {
        self.make(ty::ENDPOINT, 0)
    }

    pub fn notification(&mut self) -> Result<u64, Error> {
        self.make(ty::NOTIFICATION, 0)
    }

    pub fn reply(&mut self) -> Result<u64, Error> {
        self.make(ty::REPLY, 0)
    }

    /// A fresh scratch page address (not mapped).
    pub fn page_addr(&mut self) -> u64 {
        let va = SCRATCH_BASE + self.next_page * 4096;
        self.next_page = (self.next_page + 1).min(SCRATCH_PAGES - 1);
        va
    }

    /// A new 4 KiB frame mapped read-write in the root address space.
    pub fn mapped_frame(&mut self) -> Result<(u64, u64), Error> {
        let f = self.make(ty::FRAME, 0)?;
        let va = self.page_addr();
        self.ipc.frame_map(f, SELF_VSPACE, va, 1)?;
        Ok((f, va))
    }

    /// Start a thread in the root address space and capability space at
    /// `entry(arg)` with priority `prio` (its IPC buffer address arrives in
    /// `rsi`, as the second argument).
    pub fn spawn(
        &mut self,
        name: &str,
        entry: extern "C" fn(u64, u64) -> !,
        arg: u64,
        prio: u64,
    ) -> Result<Thread, Error> {
        let t = self.configured_thread(name, prio, 0)?;
        self.start(t, entry, arg)?;
        Ok(t)
    }

    /// A thread configured but not started (`fault_ep`: 0 for none).
    pub fn configured_thread(
        &mut self,
        name: &str,
        prio: u64,
        fault_ep: u64,
    ) -> Result<Thread, Error> {
        let tcb = self.make(ty::TCB, 0)?;
        let (frame, buffer) = self.mapped_frame()?;
        self.ipc
            .tcb_configure(tcb, CNODE, SELF_VSPACE, frame, buffer, fault_ep)?;
        self.ipc.tcb_set_name(tcb, name)?;
        self.ipc.tcb_set_priority(tcb, SELF_TCB, prio)?;
        Ok(Thread { tcb, buffer })
    }

    /// Set a configured thread's registers to run `entry(arg, buffer)` on
    /// a fresh stack, and resume it.
    pub fn start(
        &mut self,
        t: Thread,
        entry: extern "C" fn(u64, u64) -> !,
        arg: u64,
    ) -> Result<(), Error> {
        let i = self.next_stack % STACKS;
        self.next_stack += 1;
        // The stacks are only ever used by threads the cases start; the
        // framework hands each out once per case.
        let top = (&raw const THREAD_STACKS) as u64 + ((i + 1) * STACK_SIZE) as u64;
        let mut regs = [0u64; 18];
        regs[septum_user::abi::fault::W_RIP] = entry as *const () as u64;
        regs[septum_user::abi::fault::W_RSP] = top - 8;
        regs[septum_user::abi::fault::W_RDI] = arg;
        regs[septum_user::abi::fault::W_RSI] = t.buffer;
        regs[septum_user::abi::fault::W_RFLAGS] = 0x202;
        self.ipc.tcb_write_registers(t.tcb, &regs)?;
        self.ipc.tcb_resume(t.tcb)
    }

    /// A fresh untyped of 2^`bits` bytes of RAM, carved from whichever boot
    /// untyped still has room (not from the case's own).
    pub fn untyped_from_boot(&mut self, bits: u64) -> Result<u64, Error> {
        let info = self.info;
        let ut = self.slot();
        let made = info
            .untypeds()
            .iter()
            .enumerate()
            .filter(|(_, u)| u.is_device == 0 && u.size_bits >= bits)
            .any(|(i, _)| {
                let big = info.untyped_first + i as u64;
                self.ipc
                    .retype(big, ty::UNTYPED, bits, CNODE, ut, 1)
                    .is_ok()
            });
        if made {
            Ok(ut)
        } else {
            Err(Error::NotEnoughMemory)
        }
    }

    /// Identify a root-CNode slot.
    pub fn identify(&mut self, slot: u64) -> Result<septum_user::ipc::Identity, Error> {
        self.ipc.cnode_identify(CNODE, (slot, DEPTH))
    }

    /// Send `label`/`words` with Call on `cptr` and return the reply.
    pub fn call(&mut self, cptr: u64, label: u64, words: &[u64]) -> Result<Message, Error> {
        self.ipc
            .call(cptr, &Message::new(label, words))
            .map(|r| r.msg)
    }
}

/// The IPC buffer of a thread a case started (its second entry argument).
pub fn thread_ipc(buffer: u64) -> Ipc {
    // SAFETY: `Ctx::start` passes each thread its own registered buffer,
    // and each thread builds one `Ipc` from it.
    unsafe { Ipc::new(buffer) }
}

fn pick_untyped(info: &BootInfo, min_bits: u64, skip: Option<usize>) -> Option<usize> {
    info.untypeds()
        .iter()
        .enumerate()
        .filter(|(i, u)| Some(*i) != skip && u.is_device == 0 && u.size_bits >= min_bits)
        .max_by_key(|(_, u)| u.size_bits)
        .map(|(i, _)| i)
}

/// The machine cannot give the framework what every case needs: report
/// each case as skipped, so none reads as passed or as never run.
fn skip_all(groups: &[&[Test]], why: &str) {
    let mut skipped = 0;
    for t in groups.iter().flat_map(|g| g.iter()) {
        skipped += 1;
        septum_user::println!("septum-test: {} skipped {why}", t.name);
    }
    septum_user::println!("ktest: finished: 0 passed, 0 failed, {skipped} skipped");
}

/// Run every case; print a line per case and a summary.
pub fn run_all(groups: &[&[Test]]) {
    let info = septum_user::ipc::boot_info();
    // SAFETY: the root thread's IPC buffer is registered at this address by
    // the kernel, and this is the only `Ipc` the root thread makes for it.
    let ipc = unsafe { Ipc::new(septum_user::abi::layout::USER_IPC_BUFFER) };
    let Some(big) = pick_untyped(info, 23, None) else {
        return skip_all(groups, "no untyped of 8 MiB or more on this machine");
    };
    let Some(perm) = pick_untyped(info, 16, Some(big)) else {
        return skip_all(
            groups,
            "no second untyped of 64 KiB or more on this machine",
        );
    };
    let big_slot = info.untyped_first + big as u64;
    let perm_slot = info.untyped_first + perm as u64;
    let first = info.first_free_slot;
    let mut ctx = Ctx {
        ipc,
        info,
        ut: 0,
        next_slot: first,
        slot_end: first + 16,
        next_page: 0,
        next_stack: 0,
    };
    // Permanent page tables for the scratch region: a PD and a PT.
    let setup = (|| -> Result<(), Error> {
        let pd = ctx.slot();
        ctx.ipc.retype(perm_slot, ty::PAGE_TABLE, 2, CNODE, pd, 1)?;
        ctx.ipc.page_table_map(pd, SELF_VSPACE, SCRATCH_BASE)?;
        let pt = ctx.slot();
        ctx.ipc.retype(perm_slot, ty::PAGE_TABLE, 1, CNODE, pt, 1)?;
        ctx.ipc.page_table_map(pt, SELF_VSPACE, SCRATCH_BASE)?;
        Ok(())
    })();
    if let Err(e) = setup {
        septum_user::println!("ktest: setting up scratch page tables failed: {}", e.name());
        return;
    }
    let child = first + 16;
    let window = first + 32;
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for group in groups {
        for t in *group {
            ctx.next_slot = window;
            ctx.slot_end = window + WINDOW;
            ctx.next_page = 0;
            ctx.next_stack = 0;
            ctx.ut = child;
            // Named before it runs, so a case that hangs the system is
            // the last one the console shows.
            septum_user::println!("ktest: running {}", t.name);
            let result = match ctx.ipc.retype(big_slot, ty::UNTYPED, 22, CNODE, child, 1) {
                Ok(()) => (t.run)(&mut ctx),
                Err(e) => Err(Fail::from(e)),
            };
            match result {
                Ok(()) => {
                    passed += 1;
                    septum_user::println!("septum-test: {} ok", t.name);
                }
                Err(Fail { skipped: true }) => {
                    skipped += 1;
                    septum_user::println!("septum-test: {} skipped {}", t.name, reason());
                }
                Err(Fail { skipped: false }) => {
                    failed += 1;
                    septum_user::println!("septum-test: {} FAILED {}", t.name, reason());
                }
            }
            // Teardown: everything made from the case's untyped, then the
            // slots it used.
            let _ = ctx.ipc.cnode_revoke(CNODE, (child, DEPTH));
            let _ = ctx.ipc.cnode_delete(CNODE, (child, DEPTH));
            for s in window..ctx.next_slot.max(window + 1) {
                let _ = ctx.ipc.cnode_delete(CNODE, (s, DEPTH));
            }
        }
    }
    septum_user::println!("ktest: finished: {passed} passed, {failed} failed, {skipped} skipped");
}

/// An address space built by [`Ctx::new_space`]: the root task's image is
/// mapped in it at the same addresses (read-only and executable, so code
/// and constants work but statics cannot be written), with its own page
/// tables for the scratch region.
#[derive(Clone, Copy, Debug)]
pub struct Space {
    /// Its PML4 capability.
    pub vspace: u64,
}

impl Ctx {
    /// A new address space sharing the root task's code.
    pub fn new_space(&mut self) -> Result<Space, Error> {
        let vspace = self.make(ty::PAGE_TABLE, 4)?;
        self.space_in(vspace)
    }

    /// [`Ctx::new_space`] in the PML4 `vspace` (without an ASID yet).
    pub fn space_in(&mut self, vspace: u64) -> Result<Space, Error> {
        self.ipc.asid_assign(ASID_POOL, vspace)?;
        // One PDPT covers the first 512 GiB: the image (4 MiB up) and the
        // scratch region (1 GiB up) both.
        let pdpt = self.make(ty::PAGE_TABLE, 3)?;
        self.ipc.page_table_map(pdpt, vspace, 0)?;
        let pd = self.make(ty::PAGE_TABLE, 2)?;
        self.ipc.page_table_map(pd, vspace, 0)?;
        let mut tables = [u64::MAX; 8];
        let (first, count) = (self.info.image_frames_first, self.info.image_frames_count);
        for slot in first..first + count {
            let va = self.identify(slot)?.vaddr;
            let table = va >> 21;
            if !tables.contains(&table) {
                let free = tables
                    .iter()
                    .position(|&t| t == u64::MAX)
                    .ok_or(Error::Range)?;
                tables[free] = table;
                let pt = self.make(ty::PAGE_TABLE, 1)?;
                self.ipc.page_table_map(pt, vspace, va)?;
            }
            let copy = self.slot();
            self.ipc
                .cnode_copy(CNODE, (copy, DEPTH), CNODE, (slot, DEPTH), rights::ALL)?;
            self.ipc.frame_map(copy, vspace, va, 2)?;
        }
        let spd = self.make(ty::PAGE_TABLE, 2)?;
        self.ipc.page_table_map(spd, vspace, SCRATCH_BASE)?;
        let spt = self.make(ty::PAGE_TABLE, 1)?;
        self.ipc.page_table_map(spt, vspace, SCRATCH_BASE)?;
        Ok(Space { vspace })
    }

    /// A frame mapped read-write at a fresh scratch address of `space`
    /// (the same address stays unused in the root's space).
    pub fn frame_in(&mut self, space: &Space) -> Result<(u64, u64), Error> {
        let f = self.make(ty::FRAME, 0)?;
        let va = self.page_addr();
        self.ipc.frame_map(f, space.vspace, va, 1)?;
        Ok((f, va))
    }

    /// Start a thread in `space` (root capability space) at `entry(arg,
    /// ipc_buffer)` with a 16 KiB stack of its own.
    pub fn spawn_in(
        &mut self,
        space: &Space,
        name: &str,
        entry: extern "C" fn(u64, u64) -> !,
        arg: u64,
        prio: u64,
    ) -> Result<Thread, Error> {
        self.spawn_in_with_fault_ep(space, name, entry, arg, prio, 0)
    }

    /// [`Ctx::spawn_in`] with faults going to `fault_ep` (0: none).
    pub fn spawn_in_with_fault_ep(
        &mut self,
        space: &Space,
        name: &str,
        entry: extern "C" fn(u64, u64) -> !,
        arg: u64,
        prio: u64,
        fault_ep: u64,
    ) -> Result<Thread, Error> {
        let tcb = self.make(ty::TCB, 0)?;
        let (frame, buffer) = self.frame_in(space)?;
        let mut top = 0;
        for _ in 0..4 {
            top = self.frame_in(space)?.1 + 4096;
        }
        self.ipc
            .tcb_configure(tcb, CNODE, space.vspace, frame, buffer, fault_ep)?;
        self.ipc.tcb_set_name(tcb, name)?;
        self.ipc.tcb_set_priority(tcb, SELF_TCB, prio)?;
        let mut regs = [0u64; 18];
        regs[septum_user::abi::fault::W_RIP] = entry as *const () as u64;
        regs[septum_user::abi::fault::W_RSP] = top - 8;
        regs[septum_user::abi::fault::W_RDI] = arg;
        regs[septum_user::abi::fault::W_RSI] = buffer;
        regs[septum_user::abi::fault::W_RFLAGS] = 0x202;
        self.ipc.tcb_write_registers(tcb, &regs)?;
        self.ipc.tcb_resume(tcb)?;
        Ok(Thread { tcb, buffer })
    }
}

/// A context outside the case runner, for tasks that use the building
/// blocks without running cases (the benchmark): its untyped is a fresh
/// 4 MiB child like a case's, and nothing is torn down.
pub fn session() -> Result<Ctx, Error> {
    let info = septum_user::ipc::boot_info();
    // SAFETY: as in `run_all`: the root thread's registered buffer, one `Ipc`.
    let ipc = unsafe { Ipc::new(septum_user::abi::layout::USER_IPC_BUFFER) };
    let big = pick_untyped(info, 23, None).ok_or(Error::NotEnoughMemory)?;
    let perm = pick_untyped(info, 16, Some(big)).ok_or(Error::NotEnoughMemory)?;
    let first = info.first_free_slot;
    let mut ctx = Ctx {
        ipc,
        info,
        ut: 0,
        next_slot: first,
        slot_end: first + 3000,
        next_page: 0,
        next_stack: 0,
    };
    let perm_slot = info.untyped_first + perm as u64;
    let pd = ctx.slot();
    ctx.ipc.retype(perm_slot, ty::PAGE_TABLE, 2, CNODE, pd, 1)?;
    ctx.ipc.page_table_map(pd, SELF_VSPACE, SCRATCH_BASE)?;
    let pt = ctx.slot();
    ctx.ipc.retype(perm_slot, ty::PAGE_TABLE, 1, CNODE, pt, 1)?;
    ctx.ipc.page_table_map(pt, SELF_VSPACE, SCRATCH_BASE)?;
    let child = ctx.slot();
    ctx.ipc.retype(
        info.untyped_first + big as u64,
        ty::UNTYPED,
        22,
        CNODE,
        child,
        1,
    )?;
    ctx.ut = child;
    Ok(ctx)
}

/// Write one byte at `addr` in the root address space (a page a case
/// mapped read-write).
pub fn poke(addr: u64, value: u8) {
    // SAFETY: cases only poke pages they mapped read-write for themselves
    // (`Ctx::mapped_frame`), which nothing else in the task uses.
    unsafe { (addr as *mut u8).write_volatile(value) }
}
