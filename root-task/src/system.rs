//! Building the system the compiled description names.
//!
//! Order: a pool of the root task's own (page tables of its scratch page,
//! the shared regions' frames); then for each domain, from a pool of
//! untyped memory of its own — so no domain's objects come out of another's
//! memory — its quota, CNode, thread, address space (program, stack with an
//! unmapped guard page, IPC buffer, regions) and reply objects; then every
//! channel's object, made from its receiver's pool, with each end minted
//! into the slot the table names; then every thread is started.
//!
//! The root task keeps, per domain, the pool (revoking it reclaims
//! everything the domain is made of), its CNode, its thread and the run of
//! its own slots that the domain's objects occupy: what the supervisor
//! (`supervisor.rs`) needs to build the domain again, exactly as at boot,
//! with [`populate`] and [`mint_channels`]. It follows the tables and never
//! recomputes a layout.

// A failure is a sentence, formatted once when the build stops; its size
// costs nothing on a path that runs once.
#![allow(clippy::result_large_err)]

use crate::mem;
use crate::supervisor;
use core::fmt::{self, Write};
use septum_kcore::bootimage::{BootImage, EntryKind};
use septum_kcore::elf::Elf;
use septum_sysdesc::image::{ChannelKind, Domain, MapRights, Mapped, Object, System};
use septum_sysdesc::layout;
use septum_sysdesc::policy::Tracker;
use septum_user::abi::Error as KErr;
use septum_user::abi::bootinfo as bi;
use septum_user::abi::fault as regs;
use septum_user::abi::object::{object_type as ty, rights};
use septum_user::ipc::Ipc;

/// The root CNode: a slot index is its capability pointer at depth 64.
pub const CNODE: u64 = bi::SLOT_CNODE;
pub const DEPTH: u64 = 64;
pub const SELF_TCB: u64 = bi::SLOT_TCB;
pub const SELF_VSPACE: u64 = bi::SLOT_VSPACE;
pub const PAGE: u64 = 4096;
/// The root task's scratch page, through which it fills domains' frames
/// (PML4 slot 192, far from everything the kernel maps for it).
const SCRATCH: u64 = 0x0000_6000_0000_0000;
/// Most domains one description may have here (the root's bookkeeping).
pub const MAX_DOMAINS: usize = 32;
/// Most time partitions (one supervisor thread each).
pub const MAX_PARTITIONS: usize = 16;
/// Page tables one domain's address space may need.
const MAX_TABLES: usize = 48;

/// Why the system could not be built: a sentence.
pub struct Failure(pub heapless::String<200>);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn failure(args: fmt::Arguments<'_>) -> Failure {
    let mut s = heapless::String::new();
    let _ = s.write_fmt(args);
    Failure(s)
}

macro_rules! bail {
    ($($t:tt)*) => { return Err(failure(format_args!($($t)*))) };
}

pub type Result<T> = core::result::Result<T, Failure>;

/// Attach what was being done to a kernel error.
pub trait Context<T> {
    fn ctx(self, who: &str, what: &str) -> Result<T>;
}

impl<T> Context<T> for core::result::Result<T, KErr> {
    fn ctx(self, who: &str, what: &str) -> Result<T> {
        self.map_err(|e| failure(format_args!("{who}: {what}: {}", e.name())))
    }
}

/// Page tables made in one address space: (level, index at that level).
type Tables = heapless::Vec<(u8, u64), MAX_TABLES>;

/// What the root task keeps of a domain.
pub struct Dom {
    /// Its pool of untyped memory, of 2^`pool_bits` bytes.
    pub pool: u64,
    pub pool_bits: u64,
    /// Its CNode, unguarded (retype targets) and guarded (what the domain
    /// sees, and where its channel ends are minted).
    pub cnode: u64,
    pub guarded: u64,
    pub tcb: u64,
    /// The root slots its objects occupy: `first_slot..end_slot`. A
    /// rebuild takes exactly this run again.
    pub first_slot: u64,
    pub end_slot: u64,
    /// What building it took at boot: objects retyped from its pool and
    /// root slots occupied. Every restart must take exactly as much.
    pub objects: u32,
    pub slots_used: u32,
    /// 1 at boot, one more at every restart: the badge of its fault
    /// endpoint carries it, and its server loop answers with it.
    pub generation: u32,
    /// Stopped for good: its policy said `hold`.
    pub held: bool,
    /// A vmm's guest quota, a pool per piece beside its own.
    pub guest_pools: GuestPools,
    pub tracker: Tracker,
}

/// A vmm's guest quota: for each `GuestMemory` piece, in table order, a
/// pool of exactly its size `(slot, bits)`, which the root task keeps and
/// the vmm gets an untyped of the same size from. Apart from the vmm's
/// own pool, because a pool is a power of two: the guest's quota in it
/// would double the pool. A restart of the vmm revokes these too.
pub type GuestPools = heapless::Vec<(u64, u64), 8>;

/// Everything the root task keeps of the built system; the supervisor's
/// threads share it behind one lock (`supervisor::world`).
pub struct World {
    pub doms: heapless::Vec<Dom, MAX_DOMAINS>,
    /// Each region's first frame slot (a run of slots per region).
    pub region_first: heapless::Vec<u64, 64>,
    /// Channel `i`'s object lives in root slot `chan_first + i`.
    pub chan_first: u64,
    /// The scratch slot through which frames are filled.
    pub scratch_slot: u64,
    /// Partition `p`'s fault endpoint (root slot).
    pub fault_eps: heapless::Vec<u64, MAX_PARTITIONS>,
    /// Device memory the description maps, carved into frames at boot.
    pub device: DeviceFrames,
}

/// Most device-memory mappings one description may have here.
pub const MAX_DEVICE_MAPS: usize = 16;

/// The frames of each device-memory mapping: `(phys, first)`, the frame
/// of page `i` of the range that starts at `phys` in root slot `first + i`.
/// A physical range is granted once only (the checker refuses it twice),
/// so `phys` names the mapping. The root task keeps these frames for the
/// system's lifetime: a domain gets copies, which its teardown deletes.
pub type DeviceFrames = heapless::Vec<(u64, u64), MAX_DEVICE_MAPS>;

/// Free pieces of the device untypeds: `(slot, base, size_bits)`.
type Pieces = heapless::Vec<(u64, u64, u64), 128>;

/// Carve the frame of the device page at `phys` out of the device
/// untypeds into root slot `into`: halve the piece that holds it until one
/// page is left, keeping the other halves for later pages. Device untypeds
/// hold only frames and are never cleared, so this is the one way to reach
/// a device's registers, and only the root task holds them.
fn device_frame(b: &mut Builder<'_>, pieces: &mut Pieces, phys: u64, into: u64) -> Result<()> {
    let Some(at) = pieces
        .iter()
        .position(|&(_, base, bits)| base <= phys && phys - base < 1 << bits)
    else {
        bail!(
            "device memory at {phys:#x}: no device untyped covers it (RAM, firmware tables, \
             a page the kernel drives, or already given out)"
        );
    };
    let (mut cur, mut base, mut bits) = pieces.swap_remove(at);
    while bits > 12 {
        let two = b.slots(2)?;
        b.ipc
            .retype(cur, ty::UNTYPED, bits - 1, CNODE, two, 2)
            .ctx("device memory", "halving a device untyped")?;
        bits -= 1;
        let half = 1u64 << bits;
        let upper = phys >= base + half;
        let (keep, other, other_base) = if upper {
            (two + 1, two, base)
        } else {
            (two, two + 1, base + half)
        };
        if upper {
            base += half;
        }
        if pieces.push((other, other_base, bits)).is_err() {
            bail!("device memory at {phys:#x}: too many pieces of device untypeds to track");
        }
        cur = keep;
    }
    b.ipc
        .retype(cur, ty::FRAME, 0, CNODE, into, 1)
        .ctx("device memory", "a device frame")
}

/// Carve every device-memory mapping's frames (see [`DeviceFrames`]).
fn device_frames(b: &mut Builder<'_>, system: &System<'_>) -> Result<DeviceFrames> {
    let info = septum_user::ipc::boot_info();
    let mut pieces = Pieces::new();
    for (i, u) in info.untypeds().iter().enumerate() {
        if u.is_device != 0 {
            let _ = pieces.push((info.untyped_first + i as u64, u.base, u.size_bits));
        }
    }
    let mut frames = DeviceFrames::new();
    for d in system.domains.iter() {
        for m in d.maps.iter() {
            let Mapped::Device { phys } = m.what else {
                continue;
            };
            if m.rights == MapRights::ReadExecute {
                bail!("{}: device memory at {phys:#x} is never executable", d.name);
            }
            let pages = m.size / PAGE;
            let first = b.slots(pages)?;
            for i in 0..pages {
                device_frame(b, &mut pieces, phys + i * PAGE, first + i)?;
            }
            if frames.push((phys, first)).is_err() {
                bail!("more than {MAX_DEVICE_MAPS} device-memory mappings");
            }
        }
    }
    Ok(frames)
}

/// The badge of domain `index`'s fault endpoint in `generation`: the
/// supervisor tells which domain faulted, and drops a fault of a
/// generation it has already replaced.
pub fn fault_badge(index: usize, generation: u32) -> u64 {
    (u64::from(generation) << 8) | (index as u64 + 1)
}

/// The domain and generation a fault badge names, if it is one.
pub fn from_fault_badge(badge: u64) -> Option<(usize, u32)> {
    let index = (badge & 0xff).checked_sub(1)? as usize;
    let generation = u32::try_from(badge >> 8).ok()?;
    Some((index, generation))
}

/// The root slot of the ASID pool the root task gives its domains' own
/// address spaces ids from: a boot slot the kernel leaves empty (between
/// the fixed capabilities and the untypeds).
pub const OWN_ASID_POOL: u64 = 9;

/// Issue the root task's own ASID pool, ids `1..ASIDS - MAX_GRANTED_ASIDS`:
/// the ids the description may grant to domains (`asids`, from the top
/// down) are never in it, so no domain's id can be taken by the root
/// task, however many restarts it makes.
fn own_asid_pool(ipc: &mut Ipc) -> Result<()> {
    use septum_sysdesc::layout::{ASIDS, MAX_GRANTED_ASIDS};
    ipc.asid_pool_issue(
        bi::SLOT_ASID_POOL,
        1,
        u64::from(ASIDS - MAX_GRANTED_ASIDS - 1),
        CNODE,
        (OWN_ASID_POOL, DEPTH),
    )
    .ctx("root-task", "its own ASID pool")
}

pub struct Builder<'a> {
    pub ipc: &'a mut Ipc,
    pub next_slot: u64,
    /// The first slot this builder may not take.
    pub limit: u64,
    /// A slot for the scratch copy of a frame, emptied after each use.
    pub scratch_slot: u64,
    /// Objects retyped so far (the supervisor's account of a pool).
    pub objects: u32,
}

impl Builder<'_> {
    pub fn slot(&mut self) -> Result<u64> {
        self.slots(1)
    }

    pub fn slots(&mut self, n: u64) -> Result<u64> {
        let s = self.next_slot;
        if s + n > self.limit {
            bail!("the root task's CNode is full (or a rebuild outgrew its run of slots)");
        }
        self.next_slot += n;
        Ok(s)
    }

    /// A fresh untyped of 2^`bits` bytes from the boot untypeds.
    pub fn pool(&mut self, who: &str, bits: u64) -> Result<u64> {
        let s = self.slot()?;
        let info = septum_user::ipc::boot_info();
        for (i, u) in info.untypeds().iter().enumerate() {
            if u.is_device != 0 || u.size_bits < bits {
                continue;
            }
            let ut = info.untyped_first + i as u64;
            match self.ipc.retype(ut, ty::UNTYPED, bits, CNODE, s, 1) {
                Ok(()) => return Ok(s),
                Err(KErr::NotEnoughMemory) => continue,
                Err(e) => bail!(
                    "{who}: a pool of {} KiB: {}",
                    (1u64 << bits) >> 10,
                    e.name()
                ),
            }
        }
        bail!(
            "{who}: no free untyped memory for a pool of {} KiB",
            (1u64 << bits) >> 10
        )
    }

    /// One object of type `t` from `pool` into a new root slot.
    pub fn make(&mut self, who: &str, pool: u64, t: u64, bits: u64, what: &str) -> Result<u64> {
        let s = self.slot()?;
        self.ipc.retype(pool, t, bits, CNODE, s, 1).ctx(who, what)?;
        self.objects += 1;
        Ok(s)
    }

    /// Make the page tables `va` needs in `vspace`, from `pool`.
    pub fn tables_for(
        &mut self,
        who: &str,
        pool: u64,
        vspace: u64,
        tables: &mut Tables,
        va: u64,
    ) -> Result<()> {
        for level in [3u8, 2, 1] {
            let key = (level, va >> (12 + 9 * u32::from(level)));
            if tables.contains(&key) {
                continue;
            }
            let pt = self.make(who, pool, ty::PAGE_TABLE, level.into(), "a page table")?;
            self.ipc
                .page_table_map(pt, vspace, va)
                .ctx(who, "mapping a page table")?;
            if tables.push(key).is_err() {
                bail!("{who}: its address space needs more than {MAX_TABLES} page tables");
            }
        }
        Ok(())
    }

    /// Write `data` at `offset` into `frame` through the scratch page.
    fn fill(&mut self, frame: u64, offset: usize, data: &[u8]) -> Result<()> {
        let s = self.scratch_slot;
        self.ipc
            .cnode_copy(CNODE, (s, DEPTH), CNODE, (frame, DEPTH), rights::ALL)
            .ctx("root task", "copying a frame to fill")?;
        self.ipc
            .frame_map(s, SELF_VSPACE, SCRATCH, 1)
            .ctx("root task", "mapping its scratch page")?;
        mem::write_scratch(SCRATCH, offset, data);
        self.ipc
            .frame_unmap(s)
            .ctx("root task", "unmapping its scratch page")?;
        self.ipc
            .cnode_delete(CNODE, (s, DEPTH))
            .ctx("root task", "deleting its scratch copy")
    }
}

fn attrs(r: MapRights) -> u64 {
    match r {
        MapRights::Read => 0,
        MapRights::ReadWrite => 1,
        MapRights::ReadExecute => 2,
    }
}

fn bits_for(bytes: u64) -> u64 {
    let mut bits = 12;
    while (1u64 << bits) < bytes {
        bits += 1;
    }
    bits
}

/// Build the system, make the supervisor's threads and start everything;
/// returns how many domains run. The built system is handed to the
/// supervisor (`supervisor::install`) before anything starts.
pub fn build(image: BootImage<'static>, system: System<'static>) -> Result<usize> {
    if system.domains.len() > MAX_DOMAINS {
        bail!(
            "{} domains, more than the {MAX_DOMAINS} this root task keeps track of",
            system.domains.len()
        );
    }
    if system.partitions.len() + 1 > septum_user::abi::sched::MAX_PARTITIONS as usize {
        bail!(
            "{} partitions, more than the kernel's {} less the root task's own",
            system.partitions.len(),
            septum_user::abi::sched::MAX_PARTITIONS
        );
    }
    if system.partitions.len() > MAX_PARTITIONS {
        bail!(
            "{} partitions, more than the {MAX_PARTITIONS} this root task supervises",
            system.partitions.len()
        );
    }
    let info = septum_user::ipc::boot_info();
    let mut ipc = root_ipc();
    let mut b = Builder {
        ipc: &mut ipc,
        next_slot: info.first_free_slot,
        limit: 1 << bi::ROOT_CNODE_RADIX,
        scratch_slot: 0,
        objects: 0,
    };
    b.scratch_slot = b.slot()?;
    own_asid_pool(b.ipc)?;

    // The root task's own pool: its scratch page's tables, the regions,
    // and the supervisor: a fault endpoint and a thread per partition.
    let region_bytes = system
        .regions
        .iter()
        .fold(0u64, |sum, r| sum.saturating_add(r.size));
    let sup_bytes = system.partitions.len() as u64 * supervisor::THREAD_BYTES;
    let own = b.pool(
        "root task",
        bits_for(region_bytes + sup_bytes + 16 * PAGE).max(16),
    )?;
    for level in [3u64, 2, 1] {
        let pt = b.make(
            "root task",
            own,
            ty::PAGE_TABLE,
            level,
            "a scratch page table",
        )?;
        b.ipc
            .page_table_map(pt, SELF_VSPACE, SCRATCH)
            .ctx("root task", "mapping a scratch page table")?;
    }
    // Each region's frames, in a run of slots per region.
    let mut region_first: heapless::Vec<u64, 64> = heapless::Vec::new();
    for r in system.regions.iter() {
        let pages = r.size / PAGE;
        let first = b.slots(pages)?;
        b.ipc
            .retype(own, ty::FRAME, 0, CNODE, first, pages)
            .ctx(r.name, "the region's frames")?;
        if region_first.push(first).is_err() {
            bail!("more than 64 regions");
        }
    }
    let mut fault_eps: heapless::Vec<u64, MAX_PARTITIONS> = heapless::Vec::new();
    for p in system.partitions.iter() {
        let ep = b.make(p.name, own, ty::ENDPOINT, 0, "its fault endpoint")?;
        // Cannot fail: checked against MAX_PARTITIONS above.
        let _ = fault_eps.push(ep);
    }
    let threads = supervisor::make_threads(&mut b, own, &system)?;
    let device = device_frames(&mut b, &system)?;

    let mut doms: heapless::Vec<Dom, MAX_DOMAINS> = heapless::Vec::new();
    for (index, d) in system.domains.iter().enumerate() {
        let (elf, bytes) = program(&image, &system, &d)?;
        let pool = b.pool(d.name, bits_for(bytes))?;
        let mut guest_pools = GuestPools::new();
        for cap in d.caps.iter() {
            if let Object::GuestMemory { size_bits, .. } = cap.object {
                let p = b.pool(d.name, size_bits.into())?;
                if guest_pools.push((p, size_bits.into())).is_err() {
                    bail!("{}: more than 8 pieces of guest memory", d.name);
                }
            }
        }
        let Some(&fault_ep) = fault_eps.get(usize::from(d.partition)) else {
            bail!("{}: its partition does not exist", d.name);
        };
        let first_slot = b.next_slot;
        b.objects = 0;
        let (cnode, guarded, tcb) = populate(
            &mut b,
            &image,
            &system,
            &d,
            &elf,
            index,
            pool,
            fault_ep,
            1,
            &region_first,
            &device,
            &guest_pools,
        )?;
        // Cannot fail: checked against MAX_DOMAINS above.
        let _ = doms.push(Dom {
            pool,
            pool_bits: bits_for(bytes),
            cnode,
            guarded,
            tcb,
            first_slot,
            end_slot: b.next_slot,
            objects: b.objects,
            slots_used: 0,
            generation: 1,
            held: false,
            guest_pools,
            tracker: Tracker::new(),
        });
    }

    let chan_first = b.slots(system.channels.len() as u64)?;
    let everyone = u64::MAX;
    let scratch_slot = b.scratch_slot;
    mint_channels(b.ipc, &system, &doms, chan_first, everyone)?;
    for dom in doms.iter_mut() {
        dom.slots_used = occupied(b.ipc, dom.first_slot, dom.end_slot);
    }
    let started = doms.len();
    let world = World {
        doms,
        region_first,
        chan_first,
        scratch_slot,
        fault_eps,
        device,
    };
    let tcbs: heapless::Vec<u64, MAX_DOMAINS> = world.doms.iter().map(|d| d.tcb).collect();
    supervisor::install(image, system, world);
    supervisor::start_threads(&mut ipc, &threads)?;
    for (d, tcb) in system.domains.iter().zip(tcbs) {
        ipc.tcb_resume(tcb).ctx(d.name, "starting its thread")?;
    }
    Ok(started)
}

/// The schedule-control capability the kernel gives the root task.
pub const SCHED: u64 = bi::SLOT_SCHED_CONTROL;

/// The kernel's partition for the description's partition `p`: the root
/// task's own building thread keeps partition 0, which gets no window.
pub fn kernel_partition(p: u64) -> u64 {
    p + 1
}

/// Set the description's schedule in the kernel. Every domain and
/// supervisor thread waits in a partition that has no time until then;
/// from then on the calling thread (partition 0, which gets no window)
/// runs no more.
pub fn start_schedule(system: &System<'_>) -> Result<()> {
    let mut ipc = root_ipc();
    let mut windows: heapless::Vec<
        (u64, u64, u64),
        { septum_user::abi::sched::MAX_WINDOWS as usize },
    > = heapless::Vec::new();
    for w in system.windows.iter() {
        let window = (
            kernel_partition(w.partition.into()),
            w.start_ns,
            w.length_ns,
        );
        if windows.push(window).is_err() {
            bail!(
                "the schedule has more than the {} windows the kernel keeps",
                septum_user::abi::sched::MAX_WINDOWS
            );
        }
    }
    ipc.sched_configure(SCHED, system.major_frame_ns, &windows)
        .ctx("the schedule", "setting its windows in the kernel")?;
    Ok(())
}

/// How many of the root slots `first..end` hold a capability.
pub fn occupied(ipc: &mut Ipc, first: u64, end: u64) -> u32 {
    (first..end)
        .filter(|&s| {
            ipc.cnode_identify(CNODE, (s, DEPTH))
                .is_ok_and(|i| i.cap_type != 0)
        })
        .count() as u32
}

/// Make the objects of the channels whose receiver is in `set` (a bit per
/// domain) from that receiver's pool, then mint every end that belongs to
/// a domain of `set` or to a channel whose object was just made, into the
/// slot the table names. A slot that holds something is emptied first:
/// the description gives that slot to the channel. At boot `set` is every
/// domain; after a restart, the domains rebuilt.
pub fn mint_channels(
    ipc: &mut Ipc,
    system: &System<'_>,
    doms: &[Dom],
    chan_first: u64,
    set: u64,
) -> Result<()> {
    let in_set = |d: usize| d < 64 && set & (1 << d) != 0;
    for (i, c) in system.channels.iter().enumerate() {
        let server = usize::from(c.server);
        let Some(to) = doms.get(server) else {
            bail!("channel `{}` names no receiving domain", c.name);
        };
        if !in_set(server) {
            continue;
        }
        let t = match c.kind {
            ChannelKind::Endpoint => ty::ENDPOINT,
            ChannelKind::Notification => ty::NOTIFICATION,
        };
        ipc.retype(to.pool, t, 0, CNODE, chan_first + i as u64, 1)
            .ctx(c.name, "the channel's object")?;
    }
    for (e, (d, dom)) in system.domains.iter().zip(doms.iter()).enumerate() {
        for cap in d.caps.iter() {
            let channel = match cap.object {
                Object::Endpoint { channel } | Object::Notification { channel } => channel,
                _ => continue,
            };
            let Some(c) = system.channels.get(usize::from(channel)) else {
                bail!("{}: a capability names no channel", d.name);
            };
            if !in_set(e) && !in_set(usize::from(c.server)) {
                continue;
            }
            let slot = (u64::from(cap.slot), DEPTH);
            // Empty (or already empty) before the mint; only a slot the
            // domain filled itself holds something here.
            let _ = ipc.cnode_delete(dom.guarded, slot);
            ipc.cnode_mint(
                dom.guarded,
                slot,
                CNODE,
                (chan_first + u64::from(channel), DEPTH),
                cap.rights.bits(),
                cap.badge,
            )
            .ctx(d.name, "a channel end")?;
        }
    }
    Ok(())
}

/// Give a domain one of its device grants (`cap`) in its CNode `guarded`:
///
/// - the IRQ notification: made from its pool; the domain's copy may only
///   wait, the root keeps the full one (`irq_ntfn`) to bind handlers to;
/// - an IRQ handler: made with the root's `IrqControl`, bound to the IRQ
///   notification minted with the handler's badge (the line's bit), then
///   moved into the domain's slot. Its line stays masked until bound; each
///   interrupt masks it again until the domain acknowledges;
/// - an I/O-port range: issued with the root's `IoPortControl` into a slot
///   the root keeps (revoking it closes the ports: what a supervisor
///   needs), a copy installed in the domain's address space and moved into
///   its slot, so the domain uses the ports with plain `in`/`out`.
fn grant_device(
    b: &mut Builder<'_>,
    who: &str,
    pool: u64,
    guarded: u64,
    vspace: u64,
    cap: &septum_sysdesc::image::Cap,
    irq_ntfn: &mut Option<u64>,
) -> Result<()> {
    let slot = (u64::from(cap.slot), DEPTH);
    match cap.object {
        Object::IrqNotification => {
            let n = b.make(who, pool, ty::NOTIFICATION, 0, "its IRQ notification")?;
            b.ipc
                .cnode_copy(guarded, slot, CNODE, (n, DEPTH), cap.rights.bits())
                .ctx(who, "its IRQ notification")?;
            *irq_ntfn = Some(n);
        }
        Object::IrqHandler { line } => {
            let Some(n) = *irq_ntfn else {
                bail!("{who}: an IRQ handler but no IRQ notification");
            };
            let h = b.slot()?;
            b.ipc
                .irq_control_get(bi::SLOT_IRQ_CONTROL, line.into(), CNODE, (h, DEPTH))
                .ctx(who, "its IRQ line (does the machine have it?)")?;
            let minted = b.slot()?;
            b.ipc
                .cnode_mint(
                    CNODE,
                    (minted, DEPTH),
                    CNODE,
                    (n, DEPTH),
                    rights::WRITE,
                    cap.badge,
                )
                .ctx(who, "the IRQ notification's badge")?;
            b.ipc
                .irq_handler_set_notification(h, minted)
                .ctx(who, "binding its IRQ line")?;
            // The binding holds the notification; the minted copy is spent.
            b.ipc
                .cnode_delete(CNODE, (minted, DEPTH))
                .ctx(who, "the IRQ notification's badge")?;
            b.ipc
                .cnode_move(guarded, slot, CNODE, (h, DEPTH))
                .ctx(who, "its IRQ handler")?;
        }
        Object::IoPort { first, last } => {
            let parent = b.slot()?;
            b.ipc
                .io_port_issue(
                    bi::SLOT_IO_PORT_CONTROL,
                    first.into(),
                    last.into(),
                    CNODE,
                    (parent, DEPTH),
                )
                .ctx(who, "its I/O ports")?;
            let copy = b.slot()?;
            b.ipc
                .cnode_copy(CNODE, (copy, DEPTH), CNODE, (parent, DEPTH), rights::ALL)
                .ctx(who, "its I/O ports")?;
            b.ipc
                .io_port_install(copy, vspace)
                .ctx(who, "opening its I/O ports")?;
            b.ipc
                .cnode_move(guarded, slot, CNODE, (copy, DEPTH))
                .ctx(who, "its I/O-port capability")?;
        }
        _ => {}
    }
    Ok(())
}

/// The domain's program from the boot image, checked, and the bytes its
/// pool needs (for a vmm, with its guest's memory and kernel).
pub fn program<'a>(
    image: &BootImage<'a>,
    system: &System<'_>,
    d: &Domain<'_>,
) -> Result<(Elf<'a>, u64)> {
    let (elf, _) = checked_elf(image, d.name, d.program)?;
    let mut bytes = pool_bytes(d, &elf);
    for m in d.maps.iter() {
        if let Mapped::GuestKernel { guest } = m.what {
            // Its pages, and the CNode that keeps them (twice its size:
            // it is aligned to its size among the domain's pages).
            let pages = guest_kernel_pages(image, system, guest)?;
            bytes += pages * PAGE + 2 * window_cnode_bytes(pages);
        }
    }
    for cap in d.caps.iter() {
        // (Its guest's quota comes from pools of its own: [`GuestPools`].)
        if let Object::GuestBuild { guest } = cap.object {
            // An untyped of 2^n bytes is retyped at a multiple of 2^n: the
            // pool must hold it beside everything else, which itself loses
            // some bytes to its objects' alignment (an eighth, to spare).
            let build = 1u64 << guest_build_bits(image, system, guest)?;
            bytes = (bytes + bytes / 8).next_multiple_of(build) + build;
        }
    }
    Ok((elf, bytes))
}

/// Program `name` from the boot image, checked: a loadable ELF whose
/// segments lie in the program window and none both writable and
/// executable; and its bytes.
fn checked_elf<'a>(image: &BootImage<'a>, who: &str, name: &str) -> Result<(Elf<'a>, &'a [u8])> {
    let Some(program) = image
        .entries()
        .find(|e| e.kind == EntryKind::Task && e.name == name)
    else {
        bail!("{who}: the boot image has no program `{name}`");
    };
    let elf = match Elf::parse(program.data) {
        Ok(elf) => elf,
        Err(e) => bail!("{who}: program `{name}` is not a loadable ELF: {e}"),
    };
    for seg in elf.segments() {
        if seg.vaddr < layout::PROGRAM_BASE || seg.vaddr + seg.mem_size > layout::PROGRAM_END {
            bail!(
                "{who}: program `{name}` has a segment at {:#x} outside its window {:#x}..{:#x}",
                seg.vaddr,
                layout::PROGRAM_BASE,
                layout::PROGRAM_END
            );
        }
        if seg.perms.write && seg.perms.execute {
            bail!("{who}: program `{name}` has a writable and executable segment");
        }
    }
    Ok((elf, program.data))
}

/// Guest `g` of the description and its kernel, checked.
fn guest<'a, 's>(
    image: &BootImage<'a>,
    system: &System<'s>,
    g: u16,
) -> Result<(septum_sysdesc::image::Guest<'s>, Elf<'a>, &'a [u8])> {
    let Some(guest) = system.guests.get(usize::from(g)) else {
        bail!("a vmm names guest {g}, which does not exist");
    };
    let (elf, data) = checked_elf(image, guest.name, guest.kernel)?;
    Ok((guest, elf, data))
}

/// The size (log2) of the untyped a vmm builds guest `g`'s kernel from:
/// its CNode, thread and address space, every page of its kernel and
/// stack, its IPC buffer, and room for page tables and alignment (its
/// quota comes in pieces of its own). Every build of the guest (boot and
/// each restart) takes the same from it.
fn guest_build_bits(image: &BootImage<'_>, system: &System<'_>, g: u16) -> Result<u64> {
    let (guest, elf, _) = guest(image, system, g)?;
    let mut pages = guest.stack_size / PAGE + 4;
    pages += elf.segments().map(|seg| seg.page_count()).sum::<u64>();
    let cnode = (PAGE << guest.cnode_radix.min(20)) / 128;
    let tables = MAX_TABLES as u64 * PAGE;
    Ok(bits_for(cnode + tables + pages * PAGE))
}

/// Pages of guest `g`'s kernel window in its vmm: the launch page and
/// the ELF.
fn guest_kernel_pages(image: &BootImage<'_>, system: &System<'_>, g: u16) -> Result<u64> {
    let (_, _, data) = guest(image, system, g)?;
    Ok(1 + (data.len() as u64).div_ceil(PAGE))
}

/// The radix of the CNode that keeps a guest kernel window's `pages`
/// frames: a slot per page, rounded up to a power of two.
fn window_radix(pages: u64) -> u64 {
    bits_for(pages * PAGE) - 12
}

/// Bytes of that CNode (a slot is 32 bytes).
fn window_cnode_bytes(pages: u64) -> u64 {
    32 << window_radix(pages)
}

/// Fill and map guest `g`'s kernel window in its vmm's `vspace` at `m`:
/// the launch page, then the ELF, read-only, in frames from `pool`.
///
/// The frames are kept in a CNode of the window's own, not in root
/// slots: a guest kernel of 8 MiB is over 2,000 pages, half the root
/// task's CNode, and a second guest would not fit. Each frame is made in
/// one root slot, filled, mapped and moved into the window's CNode (a
/// frame capability carries its mapping, so the move keeps it). The
/// window takes two root slots whatever its size: its CNode and that
/// working slot, left empty.
#[allow(clippy::too_many_arguments)]
fn map_guest_kernel(
    b: &mut Builder<'_>,
    who: &str,
    image: &BootImage<'_>,
    system: &System<'_>,
    g: u16,
    pool: u64,
    vspace: u64,
    tables: &mut Tables,
    vaddr: u64,
    window: u64,
    vmm_priority: u8,
) -> Result<()> {
    use septum_sysdesc::image::GuestLaunch;
    let (guest, _, data) = guest(image, system, g)?;
    let pages = 1 + (data.len() as u64).div_ceil(PAGE);
    if pages * PAGE > window {
        bail!(
            "{who}: guest `{}`'s kernel is larger than its window of {} MiB",
            guest.name,
            window >> 20
        );
    }
    let launch = GuestLaunch {
        name: guest.name,
        kernel: guest.kernel,
        elf_len: data.len() as u64,
        memory: guest.memory,
        priority: guest.priority,
        stack_size: guest.stack_size,
        asid_first: guest.asid_first,
        asid_count: guest.asid_count,
        cnode_radix: guest.cnode_radix,
        restart: guest.restart,
        inject_fault_ns: guest.inject_fault_ns,
        vmm_priority,
    };
    let mut page = [0u8; 512];
    let Some(n) = launch.write(&mut page) else {
        bail!("{who}: guest `{}`'s launch page does not fit", guest.name);
    };
    let radix = window_radix(pages);
    let frames = b.make(who, pool, ty::CNODE, radix, "its guest's kernel window")?;
    let frame = b.slot()?;
    for i in 0..pages {
        b.ipc
            .retype(pool, ty::FRAME, 0, CNODE, frame, 1)
            .ctx(who, "a page of its guest's kernel")?;
        b.objects += 1;
        if i == 0 {
            b.fill(frame, 0, &page[..n])?;
        } else {
            let start = ((i - 1) * PAGE) as usize;
            let end = (start + PAGE as usize).min(data.len());
            b.fill(frame, 0, &data[start..end])?;
        }
        let va = vaddr + i * PAGE;
        b.tables_for(who, pool, vspace, tables, va)?;
        b.ipc
            .frame_map(frame, vspace, va, attrs(MapRights::Read))
            .ctx(who, "mapping its guest's kernel")?;
        b.ipc
            .cnode_move(frames, (i, radix), CNODE, (frame, DEPTH))
            .ctx(who, "keeping a page of its guest's kernel")?;
    }
    Ok(())
}

pub fn root_ipc() -> Ipc {
    #[allow(unsafe_code)]
    // SAFETY: the kernel registers the root thread's IPC buffer at this
    // address, and the root thread holds one `Ipc` for it at a time
    // (`build`'s is dropped before `start_schedule` makes its own).
    unsafe {
        Ipc::new(septum_user::abi::layout::USER_IPC_BUFFER)
    }
}

/// Bytes a domain's pool needs: its quota, CNode, thread and every page
/// and page table of its address space, with room for alignment.
fn pool_bytes(d: &Domain<'_>, elf: &Elf<'_>) -> u64 {
    let mut pages = d.stack_size / PAGE + 1;
    pages += elf.segments().map(|seg| seg.page_count()).sum::<u64>();
    let objects = d.caps.len() as u64 * 64; // replies, channel objects
    let tables = (MAX_TABLES as u64 / 2) * PAGE;
    d.memory + (PAGE << d.cnode_radix.min(20)) / 128 + 2 * PAGE + objects + tables + pages * PAGE
}

/// Make domain `index`'s objects from its (empty) `pool`, in root slots
/// from `b.next_slot` on: its fault endpoint's badged copy (for
/// `generation`), quota, CNode, thread, address space and capability
/// space, exactly as the table says, and its thread configured but not
/// started. Channel ends are [`mint_channels`]'s. Returns the CNode (plain
/// and guarded) and the thread. Boot and every restart run this same code,
/// so a restarted domain is the domain that booted.
#[allow(clippy::too_many_arguments)]
pub fn populate(
    b: &mut Builder<'_>,
    image: &BootImage<'_>,
    system: &System<'_>,
    d: &Domain<'_>,
    elf: &Elf<'_>,
    index: usize,
    pool: u64,
    fault_ep: u64,
    generation: u32,
    region_first: &[u64],
    device: &[(u64, u64)],
    guest_pools: &[(u64, u64)],
) -> Result<(u64, u64, u64)> {
    let who = d.name;
    let fault = b.slot()?;
    b.ipc
        .cnode_mint(
            CNODE,
            (fault, DEPTH),
            CNODE,
            (fault_ep, DEPTH),
            rights::WRITE | rights::GRANT_REPLY,
            fault_badge(index, generation),
        )
        .ctx(who, "its fault endpoint")?;

    // The quota first, largest piece first, so the pool packs without gaps.
    // A vmm's guest build memory is one more piece; its guest's quota
    // comes from pools of its own (`GuestPools`), an untyped of each.
    let mut pieces: heapless::Vec<(u64, u32, u64), 64> = heapless::Vec::new();
    let mut guest_pools = guest_pools.iter();
    for cap in d.caps.iter() {
        let (bits, from) = match cap.object {
            Object::Untyped { size_bits } => (u64::from(size_bits), pool),
            Object::GuestBuild { guest } => (guest_build_bits(image, system, guest)?, pool),
            Object::GuestMemory { size_bits, .. } => match guest_pools.next() {
                Some(&(p, _)) => (u64::from(size_bits), p),
                None => bail!("{who}: a piece of guest memory has no pool"),
            },
            _ => continue,
        };
        if pieces.push((bits, cap.slot, from)).is_err() {
            bail!("{who}: more than 64 untyped pieces");
        }
    }
    pieces.sort_unstable_by_key(|&(bits, _, _)| core::cmp::Reverse(bits));
    let mut quota: heapless::Vec<(u64, u32), 64> = heapless::Vec::new();
    for (bits, slot, from) in pieces {
        let s = b.make(who, from, ty::UNTYPED, bits, "its memory quota")?;
        // Cannot fail: as many as `pieces`.
        let _ = quota.push((s, slot));
    }
    let cnode = b.make(who, pool, ty::CNODE, d.cnode_radix.into(), "its CNode")?;
    // The guard makes a slot's index its capability pointer at depth 64.
    let guarded = b.slot()?;
    let guard_bits = 64 - u64::from(d.cnode_radix);
    b.ipc
        .cnode_mint(
            CNODE,
            (guarded, DEPTH),
            CNODE,
            (cnode, DEPTH),
            rights::ALL,
            guard_bits,
        )
        .ctx(who, "guarding its CNode")?;
    for (s, slot) in quota {
        b.ipc
            .cnode_move(guarded, (slot.into(), DEPTH), CNODE, (s, DEPTH))
            .ctx(who, "granting its memory quota")?;
    }
    let tcb = b.make(who, pool, ty::TCB, 0, "its thread")?;
    let vspace = b.make(who, pool, ty::PAGE_TABLE, 4, "its address space")?;
    b.ipc
        .asid_assign(OWN_ASID_POOL, vspace)
        .ctx(who, "an address-space id")?;
    let mut tables = Tables::new();

    // The program: each page with its segment's rights (W^X).
    let mut last_page = None;
    for seg in elf.segments() {
        let attr = if seg.perms.write {
            1
        } else if seg.perms.execute {
            2
        } else {
            0
        };
        if last_page.is_some_and(|last| seg.first_page() <= last) {
            bail!("{who}: program `{}` has segments sharing a page", d.program);
        }
        for page in seg.pages() {
            let frame = b.make(who, pool, ty::FRAME, 0, "a program page")?;
            if !page.data.is_empty() {
                b.fill(frame, page.offset, page.data)?;
            }
            b.tables_for(who, pool, vspace, &mut tables, page.vaddr)?;
            b.ipc
                .frame_map(frame, vspace, page.vaddr, attr)
                .ctx(who, "mapping a program page")?;
        }
        last_page = Some(seg.last_page());
    }
    // The stack; the page below it stays unmapped (the guard).
    let mut page = layout::stack_base(d.stack_size);
    while page < d.stack_top {
        let frame = b.make(who, pool, ty::FRAME, 0, "a stack page")?;
        b.tables_for(who, pool, vspace, &mut tables, page)?;
        b.ipc
            .frame_map(frame, vspace, page, 1)
            .ctx(who, "mapping a stack page")?;
        page += PAGE;
    }
    let buffer = b.make(who, pool, ty::FRAME, 0, "its IPC buffer")?;
    b.tables_for(who, pool, vspace, &mut tables, d.ipc_buffer)?;
    b.ipc
        .frame_map(buffer, vspace, d.ipc_buffer, 1)
        .ctx(who, "mapping its IPC buffer")?;
    // Regions and device memory, where the table says: copies of the
    // root's frames (a device frame that is not RAM is mapped uncached by
    // the kernel).
    for m in d.maps.iter() {
        if let Mapped::GuestKernel { guest } = m.what {
            map_guest_kernel(
                b,
                who,
                image,
                system,
                guest,
                pool,
                vspace,
                &mut tables,
                m.vaddr,
                m.size,
                d.priority,
            )?;
            continue;
        }
        let (first, what) = match m.what {
            Mapped::Region { region } => match region_first.get(usize::from(region)) {
                Some(&first) => (first, "a region page"),
                None => bail!("{who}: a mapping names no region"),
            },
            Mapped::Device { phys } => match device.iter().find(|&&(p, _)| p == phys) {
                Some(&(_, first)) => (first, "a device page"),
                None => bail!("{who}: device memory at {phys:#x} was not carved"),
            },
            Mapped::GuestKernel { .. } => continue,
        };
        for i in 0..m.size / PAGE {
            let copy = b.slot()?;
            b.ipc
                .cnode_copy(CNODE, (copy, DEPTH), CNODE, (first + i, DEPTH), rights::ALL)
                .ctx(who, what)?;
            let va = m.vaddr + i * PAGE;
            b.tables_for(who, pool, vspace, &mut tables, va)?;
            b.ipc
                .frame_map(copy, vspace, va, attrs(m.rights))
                .ctx(who, what)?;
        }
    }

    // Its capability space, as the table says.
    let mut irq_ntfn = None;
    for cap in d.caps.iter() {
        let slot = (u64::from(cap.slot), DEPTH);
        match cap.object {
            Object::CNode => b
                .ipc
                .cnode_copy(guarded, slot, CNODE, (guarded, DEPTH), rights::ALL)
                .ctx(who, "its CNode capability")?,
            Object::Tcb => b
                .ipc
                .cnode_copy(guarded, slot, CNODE, (tcb, DEPTH), rights::ALL)
                .ctx(who, "its thread capability")?,
            Object::VSpace => b
                .ipc
                .cnode_copy(guarded, slot, CNODE, (vspace, DEPTH), rights::ALL)
                .ctx(who, "its address-space capability")?,
            Object::IpcBuffer => b
                .ipc
                .cnode_copy(guarded, slot, CNODE, (buffer, DEPTH), cap.rights.bits())
                .ctx(who, "its IPC-buffer capability")?,
            Object::Reply => b
                .ipc
                .retype(pool, ty::REPLY, 0, cnode, cap.slot.into(), 1)
                .ctx(who, "a reply object")?,
            // Ids of its own, derived from the kernel's whole pool (never
            // from the root's own range), so a restart's revoke of the
            // domain takes them back with its CNode.
            Object::AsidPool { first, count } => b
                .ipc
                .asid_pool_issue(
                    bi::SLOT_ASID_POOL,
                    first.into(),
                    count.into(),
                    guarded,
                    slot,
                )
                .ctx(who, "its ASID pool")?,
            // Made with the quota above; channel ends come with the channels.
            Object::Untyped { .. }
            | Object::GuestBuild { .. }
            | Object::GuestMemory { .. }
            | Object::Endpoint { .. }
            | Object::Notification { .. } => {}
            Object::IrqNotification | Object::IrqHandler { .. } | Object::IoPort { .. } => {
                grant_device(b, who, pool, guarded, vspace, &cap, &mut irq_ntfn)?
            }
        }
    }

    // Its thread: priority bounded by the root's own, then the entry.
    b.ipc
        .tcb_configure(tcb, guarded, vspace, buffer, d.ipc_buffer, fault)
        .ctx(who, "configuring its thread")?;
    b.ipc.tcb_set_name(tcb, who).ctx(who, "naming its thread")?;
    b.ipc
        .tcb_set_mcp(tcb, SELF_TCB, d.max_priority.into())
        .ctx(who, "its maximum priority")?;
    b.ipc
        .tcb_set_priority(tcb, SELF_TCB, d.priority.into())
        .ctx(who, "its priority")?;
    b.ipc
        .tcb_set_partition(tcb, SCHED, kernel_partition(d.partition.into()))
        .ctx(who, "its time partition")?;
    let mut r = [0u64; 18];
    r[regs::W_RIP] = elf.entry();
    r[regs::W_RSP] = d.stack_top;
    r[regs::W_RDI] = d.ipc_buffer;
    // The domain's generation, which `septum_user::start_arg` reads.
    r[regs::W_RSI] = generation.into();
    // The TSC's frequency, which `septum_user::start_tsc_hz` reads: a
    // domain has no boot-info page, and a guest kernel needs a clock.
    r[regs::W_RDX] = septum_user::ipc::boot_info().tsc_hz;
    r[regs::W_RFLAGS] = 0x202;
    b.ipc
        .tcb_write_registers(tcb, &r)
        .ctx(who, "its registers")?;
    if generation == 1 {
        septum_user::println!(
            "domain {who}: program `{}`, priority {} (max {}), {} KiB quota, CNode of {} slots",
            d.program,
            d.priority,
            d.max_priority,
            d.memory >> 10,
            1u32 << d.cnode_radix
        );
    }
    Ok((cnode, guarded, tcb))
}
