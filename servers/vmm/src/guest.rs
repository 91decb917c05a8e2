//! Building a guest kernel from its memory, and taking it down: what the
//! root task's `system::populate` does for a domain, for the one guest
//! this vmm holds, with the capabilities the vmm was given.

use crate::mem;
use core::fmt;
use septum_kcore::elf::Elf;
use septum_sysdesc::image::GuestLaunch;
use septum_sysdesc::layout::{self, PAGE};
use septum_user::abi::Error;
use septum_user::abi::fault as regs;
use septum_user::abi::object::{cap_type, object_type as ty, rights};
use septum_user::ipc::Ipc;

/// The vmm's own CNode (guarded: a slot index is its pointer at depth 64),
/// thread and address space, as every domain's.
pub const CNODE: u64 = layout::SLOT_CNODE as u64;
pub const SELF_TCB: u64 = layout::SLOT_TCB as u64;
pub const SELF_VSPACE: u64 = layout::SLOT_VSPACE as u64;
pub const ASID_POOL: u64 = layout::SLOT_ASID_POOL as u64;
pub const GUEST_BUILD: u64 = layout::SLOT_GUEST_BUILD as u64;
pub const DEPTH: u64 = 64;
/// The vmm's scratch page, through which it fills the guest's frames
/// (a PML4 slot of its own: its tables are the vmm's alone).
const SCRATCH: u64 = 0x0000_6000_0000_0000;
/// Most channel ends a guest gets, and page tables its address space needs.
const MAX_ENDS: usize = 16;
const MAX_TABLES: usize = 64;

/// Why a step failed: what was being done, and the kernel's answer.
#[derive(Clone, Copy, Debug)]
pub struct Failed(pub &'static str, pub Error);

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0, self.1.name())
    }
}

trait Ctx<T> {
    fn ctx(self, what: &'static str) -> Result<T, Failed>;
}

impl<T> Ctx<T> for Result<T, Error> {
    fn ctx(self, what: &'static str) -> Result<T, Failed> {
        self.map_err(|e| Failed(what, e))
    }
}

/// What the vmm found in its CNode at start.
pub struct Held {
    /// Bits of what it builds the guest's kernel from (slot 8).
    pub build_bits: u64,
    /// The guest's quota: (slot, bits) of each piece, from slot 9.
    pub quota: heapless::Vec<(u64, u64), 64>,
    /// The channel ends it hands the guest, in slot order.
    pub ends: heapless::Vec<u64, MAX_ENDS>,
    /// Its own memory: untypeds after the grants.
    own: heapless::Vec<u64, 8>,
    /// The first slot nothing was granted in.
    pub first_free: u64,
    pub limit: u64,
}

impl Held {
    /// Look through the CNode: slot 6 must hold an ASID pool, slot 8 the
    /// guest's build memory and the slots after it the pieces of the
    /// guest's quota (as many and as large as `memory` splits into); then
    /// channel ends and the vmm's own untypeds.
    pub fn discover(ipc: &mut Ipc, memory: u64) -> Result<Held, Failed> {
        let me = ipc
            .cnode_identify(CNODE, (CNODE, DEPTH))
            .ctx("identifying its own CNode")?;
        let limit = 1u64 << me.extra.min(20);
        let pool = ipc
            .cnode_identify(CNODE, (ASID_POOL, DEPTH))
            .ctx("identifying slot 6")?;
        if pool.cap_type != cap_type::ASID_POOL {
            return Err(Failed(
                "slot 6 holds no ASID pool (is it the vmm of a guest?)",
                Error::WrongType,
            ));
        }
        let untyped = |ipc: &mut Ipc, slot: u64| {
            let id = ipc
                .cnode_identify(CNODE, (slot, DEPTH))
                .ctx("identifying the guest's memory")?;
            if id.cap_type != cap_type::UNTYPED {
                return Err(Failed(
                    "slots 8.. hold no guest memory (is it the vmm of a guest?)",
                    Error::WrongType,
                ));
            }
            Ok(id.extra)
        };
        let build_bits = untyped(ipc, GUEST_BUILD)?;
        let mut quota = heapless::Vec::new();
        let mut slot = GUEST_BUILD + 1;
        for bits in layout::untyped_pieces(memory) {
            if untyped(ipc, slot)? != u64::from(bits) || quota.push((slot, bits.into())).is_err() {
                return Err(Failed(
                    "the guest's quota is not what its launch page says",
                    Error::Range,
                ));
            }
            slot += 1;
        }
        let mut held = Held {
            build_bits,
            quota,
            ends: heapless::Vec::new(),
            own: heapless::Vec::new(),
            first_free: limit,
            limit,
        };
        while slot < limit {
            let id = ipc
                .cnode_identify(CNODE, (slot, DEPTH))
                .ctx("looking through its slots")?;
            let sender = id.rights & rights::WRITE != 0 && id.rights & rights::READ == 0;
            match id.cap_type {
                cap_type::NULL => break,
                // Kept in `ends` (the guest's devices) unless too many.
                cap_type::ENDPOINT | cap_type::NOTIFICATION
                    if sender && held.ends.push(slot).is_err() =>
                {
                    return Err(Failed("more channel ends than a guest gets", Error::Range));
                }
                cap_type::UNTYPED => {
                    let _ = held.own.push(slot);
                }
                _ => {}
            }
            slot += 1;
        }
        held.first_free = slot;
        Ok(held)
    }

    /// Bytes of all the guest is made of.
    pub fn bytes(&self) -> u64 {
        self.quota
            .iter()
            .fold(1u64 << self.build_bits, |sum, &(_, bits)| sum + (1 << bits))
    }
}

/// The vmm's own objects, made once: its fault endpoint, the scratch
/// page's tables, the guest kernel's one-id ASID pool.
pub struct Own {
    pub fault_ep: u64,
    pub kernel_asids: u64,
    /// The guest's slots start here: a run the vmm never uses otherwise.
    pub run: u64,
}

impl Own {
    pub fn make(ipc: &mut Ipc, held: &Held, launch: &GuestLaunch<'_>) -> Result<Own, Failed> {
        let mut next = held.first_free;
        let mut take = |what: &'static str| {
            let s = next;
            next += 1;
            if s >= held.limit {
                return Err(Failed(what, Error::NotEnoughMemory));
            }
            Ok(s)
        };
        let make = |ipc: &mut Ipc, t: u64, bits: u64, into: u64, what: &'static str| {
            let mut last = Error::NotEnoughMemory;
            for &ut in &held.own {
                match ipc.retype(ut, t, bits, CNODE, into, 1) {
                    Ok(()) => return Ok(()),
                    Err(e) => last = e,
                }
            }
            Err(Failed(what, last))
        };
        let fault_ep = take("a slot for its fault endpoint")?;
        make(
            ipc,
            ty::ENDPOINT,
            0,
            fault_ep,
            "its fault endpoint (give the vmm `memory`)",
        )?;
        for level in [3u64, 2, 1] {
            let pt = take("a slot for a scratch page table")?;
            make(ipc, ty::PAGE_TABLE, level, pt, "a scratch page table")?;
            ipc.page_table_map(pt, SELF_VSPACE, SCRATCH)
                .ctx("mapping a scratch page table")?;
        }
        let kernel_asids = take("a slot for the kernel's ASID")?;
        let kernel_id = u64::from(launch.asid_first).saturating_sub(1);
        ipc.asid_pool_issue(ASID_POOL, kernel_id, 1, CNODE, (kernel_asids, DEPTH))
            .ctx("the guest kernel's address-space id")?;
        Ok(Own {
            fault_ep,
            kernel_asids,
            run: next,
        })
    }
}

/// One build of the guest: what it took and where its thread is.
pub struct Built {
    pub tcb: u64,
    pub objects: u32,
    /// One past the last slot of the run it used.
    pub end: u64,
}

/// Makes the guest's objects from its memory into the run of slots.
struct Builder<'a> {
    ipc: &'a mut Ipc,
    next: u64,
    limit: u64,
    scratch: u64,
    objects: u32,
}

impl Builder<'_> {
    fn slot(&mut self) -> Result<u64, Failed> {
        if self.next >= self.limit {
            return Err(Failed(
                "the vmm's CNode is full (give the vmm more `slots`)",
                Error::NotEnoughMemory,
            ));
        }
        self.next += 1;
        Ok(self.next - 1)
    }

    fn make(&mut self, t: u64, bits: u64, what: &'static str) -> Result<u64, Failed> {
        let s = self.slot()?;
        self.ipc
            .retype(GUEST_BUILD, t, bits, CNODE, s, 1)
            .ctx(what)?;
        self.objects += 1;
        Ok(s)
    }

    fn tables_for(
        &mut self,
        vspace: u64,
        tables: &mut heapless::Vec<(u8, u64), MAX_TABLES>,
        va: u64,
    ) -> Result<(), Failed> {
        for level in [3u8, 2, 1] {
            let key = (level, va >> (12 + 9 * u32::from(level)));
            if tables.contains(&key) {
                continue;
            }
            let pt = self.make(ty::PAGE_TABLE, level.into(), "a page table")?;
            self.ipc
                .page_table_map(pt, vspace, va)
                .ctx("mapping a page table")?;
            if tables.push(key).is_err() {
                return Err(Failed(
                    "the guest's address space needs too many page tables",
                    Error::Range,
                ));
            }
        }
        Ok(())
    }

    /// Write `data` at `offset` into `frame` through the scratch page.
    fn fill(&mut self, frame: u64, offset: usize, data: &[u8]) -> Result<(), Failed> {
        let s = self.scratch;
        self.ipc
            .cnode_copy(CNODE, (s, DEPTH), CNODE, (frame, DEPTH), rights::ALL)
            .ctx("copying a frame to fill")?;
        self.ipc
            .frame_map(s, SELF_VSPACE, SCRATCH, 1)
            .ctx("mapping the scratch page")?;
        mem::write_scratch(SCRATCH, offset, data);
        self.ipc.frame_unmap(s).ctx("unmapping the scratch page")?;
        self.ipc
            .cnode_delete(CNODE, (s, DEPTH))
            .ctx("deleting the scratch copy")
    }
}

/// Build the guest as `generation` in the run of slots from `own.run`
/// (the first of which is the scratch slot), configured and not started.
pub fn build(
    ipc: &mut Ipc,
    held: &Held,
    own: &Own,
    launch: &GuestLaunch<'_>,
    elf: &Elf<'_>,
    generation: u32,
    tsc_hz: u64,
) -> Result<Built, Failed> {
    let mut b = Builder {
        ipc,
        next: own.run + 1,
        limit: held.limit,
        scratch: own.run,
        objects: 0,
    };
    let fault = b.slot()?;
    b.ipc
        .cnode_mint(
            CNODE,
            (fault, DEPTH),
            CNODE,
            (own.fault_ep, DEPTH),
            rights::WRITE | rights::GRANT_REPLY,
            u64::from(generation),
        )
        .ctx("the guest's fault endpoint")?;
    // Its quota: an untyped as large as each piece, made from it, so
    // revoking the piece takes back everything the guest made of it.
    let mut quota: heapless::Vec<u64, 64> = heapless::Vec::new();
    for &(piece, bits) in &held.quota {
        let s = b.slot()?;
        b.ipc
            .retype(piece, ty::UNTYPED, bits, CNODE, s, 1)
            .ctx("the guest's memory quota")?;
        b.objects += 1;
        let _ = quota.push(s);
    }
    let radix = u64::from(launch.cnode_radix);
    let cnode = b.make(ty::CNODE, radix, "the guest's CNode")?;
    let guarded = b.slot()?;
    b.ipc
        .cnode_mint(
            CNODE,
            (guarded, DEPTH),
            CNODE,
            (cnode, DEPTH),
            rights::ALL,
            64 - radix,
        )
        .ctx("guarding the guest's CNode")?;
    let tcb = b.make(ty::TCB, 0, "the guest's thread")?;
    let vspace = b.make(ty::PAGE_TABLE, 4, "the guest's address space")?;
    b.ipc
        .asid_assign(own.kernel_asids, vspace)
        .ctx("the guest's address-space id")?;
    let mut tables = heapless::Vec::new();

    // The kernel: each page with its segment's rights (W^X).
    let mut last_page = None;
    for seg in elf.segments() {
        if seg.vaddr < layout::PROGRAM_BASE
            || seg.vaddr.saturating_add(seg.mem_size) > layout::PROGRAM_END
            || (seg.perms.write && seg.perms.execute)
        {
            return Err(Failed(
                "the guest's kernel has a segment outside the program window, or writable and executable",
                Error::Range,
            ));
        }
        let attr = if seg.perms.write {
            1
        } else if seg.perms.execute {
            2
        } else {
            0
        };
        if last_page.is_some_and(|last| seg.first_page() <= last) {
            return Err(Failed(
                "the guest's kernel has segments sharing a page",
                Error::Range,
            ));
        }
        for page in seg.pages() {
            let frame = b.make(ty::FRAME, 0, "a page of the guest's kernel")?;
            if !page.data.is_empty() {
                b.fill(frame, page.offset, page.data)?;
            }
            b.tables_for(vspace, &mut tables, page.vaddr)?;
            b.ipc
                .frame_map(frame, vspace, page.vaddr, attr)
                .ctx("mapping a page of the guest's kernel")?;
        }
        last_page = Some(seg.last_page());
    }
    // The stack, with an unmapped guard page below, and the IPC buffer.
    let mut page = layout::stack_base(launch.stack_size);
    while page < layout::STACK_TOP {
        let frame = b.make(ty::FRAME, 0, "a page of the guest's stack")?;
        b.tables_for(vspace, &mut tables, page)?;
        b.ipc
            .frame_map(frame, vspace, page, 1)
            .ctx("mapping a page of the guest's stack")?;
        page += PAGE;
    }
    let buffer = b.make(ty::FRAME, 0, "the guest's IPC buffer")?;
    b.tables_for(vspace, &mut tables, layout::IPC_BUFFER)?;
    b.ipc
        .frame_map(buffer, vspace, layout::IPC_BUFFER, 1)
        .ctx("mapping the guest's IPC buffer")?;

    // Its capability space, laid out as a domain's: itself, its thread,
    // address space and IPC buffer, its ASID pool, then its devices (the
    // vmm's channel ends), then its quota.
    let g = guarded;
    let at = |s: u32| (u64::from(s), DEPTH);
    b.ipc
        .cnode_copy(
            g,
            at(layout::SLOT_CNODE),
            CNODE,
            (guarded, DEPTH),
            rights::ALL,
        )
        .ctx("the guest's CNode capability")?;
    b.ipc
        .cnode_copy(g, at(layout::SLOT_TCB), CNODE, (tcb, DEPTH), rights::ALL)
        .ctx("the guest's thread capability")?;
    b.ipc
        .cnode_copy(
            g,
            at(layout::SLOT_VSPACE),
            CNODE,
            (vspace, DEPTH),
            rights::ALL,
        )
        .ctx("the guest's address-space capability")?;
    b.ipc
        .cnode_copy(
            g,
            at(layout::SLOT_IPC_BUFFER),
            CNODE,
            (buffer, DEPTH),
            rights::READ | rights::WRITE,
        )
        .ctx("the guest's IPC-buffer capability")?;
    if launch.asid_count > 0 {
        b.ipc
            .asid_pool_issue(
                ASID_POOL,
                launch.asid_first.into(),
                launch.asid_count.into(),
                g,
                at(layout::SLOT_ASID_POOL),
            )
            .ctx("the guest's ASID pool")?;
    }
    let mut slot = u64::from(layout::SLOT_FIRST_GRANT);
    for &end in &held.ends {
        b.ipc
            .cnode_copy(g, (slot, DEPTH), CNODE, (end, DEPTH), rights::ALL)
            .ctx("one of the guest's devices")?;
        slot += 1;
    }
    for s in quota {
        b.ipc
            .cnode_move(g, (slot, DEPTH), CNODE, (s, DEPTH))
            .ctx("granting the guest its quota")?;
        slot += 1;
    }

    // Its thread: in the vmm's partition (a thread is made in its maker's),
    // priority within the vmm's own maximum.
    b.ipc
        .tcb_configure(tcb, guarded, vspace, buffer, layout::IPC_BUFFER, fault)
        .ctx("configuring the guest's thread")?;
    b.ipc
        .tcb_set_name(tcb, launch.name)
        .ctx("naming the guest's thread")?;
    b.ipc
        .tcb_set_mcp(tcb, SELF_TCB, launch.priority.into())
        .ctx("the guest's maximum priority")?;
    b.ipc
        .tcb_set_priority(tcb, SELF_TCB, launch.priority.into())
        .ctx("the guest's priority")?;
    let mut r = [0u64; 18];
    r[regs::W_RIP] = elf.entry();
    r[regs::W_RSP] = layout::STACK_TOP;
    r[regs::W_RDI] = layout::IPC_BUFFER;
    r[regs::W_RSI] = generation.into();
    r[regs::W_RDX] = tsc_hz;
    r[regs::W_RFLAGS] = 0x202;
    b.ipc
        .tcb_write_registers(tcb, &r)
        .ctx("the guest's registers")?;
    Ok(Built {
        tcb,
        objects: b.objects,
        end: b.next,
    })
}

/// Take the guest down: stop its thread, revoke its memory (what its
/// kernel was built from and every piece of its quota), empty its run of
/// slots. Whether everything came back: each untyped retypes whole again,
/// and no slot of the run holds anything. The revokes go round until the
/// untypeds are whole (`Ipc::revoke_whole`): one revoke each can return
/// with an object of one piece still being destroyed for another's, when
/// the kernel preempted it at the wrong moment.
pub fn teardown(ipc: &mut Ipc, held: &Held, own: &Own, built: &Built) -> bool {
    let _ = ipc.tcb_suspend(built.tcb);
    let pieces = core::iter::once((GUEST_BUILD, held.build_bits)).chain(held.quota.iter().copied());
    let mut revoked = true;
    for (slot, _) in pieces.clone() {
        revoked &= ipc.cnode_revoke(CNODE, (slot, DEPTH)).is_ok();
    }
    for s in own.run..built.end {
        let _ = ipc.cnode_delete(CNODE, (s, DEPTH));
    }
    let empty = occupied(ipc, own.run, built.end) == 0;
    let whole = ipc.revoke_whole(CNODE, DEPTH, pieces, own.run);
    revoked && empty && whole
}

/// How many slots of `first..end` hold a capability.
pub fn occupied(ipc: &mut Ipc, first: u64, end: u64) -> u32 {
    (first..end)
        .filter(|&s| {
            ipc.cnode_identify(CNODE, (s, DEPTH))
                .is_ok_and(|i| i.cap_type != cap_type::NULL)
        })
        .count() as u32
}
