//! The fuzz thread's capability space: one CNode of 256 slots, all its
//! objects made from one untyped the root task holds, so that one revoke
//! of that untyped takes everything the fuzzer made or changed away and
//! the sandbox can be built afresh.
//!
//! The CNode has no guard, so a capability pointer names slot `i` with
//! `i` in its top 8 bits (`i << 56`); a slot holding a CNode continues the
//! lookup with the following bits. Slots:
//!
//! | slot | what |
//! |---|---|
//! | 0 | the sandbox CNode itself (for CNode methods) |
//! | 1–3 | the served endpoint: full rights; badged, write + grant-reply; read only |
//! | 4 | an endpoint nobody serves |
//! | 5–7 | a notification: full; badged, write only; read only |
//! | 8, 9 | reply objects |
//! | 10–13 | 4 KiB frames, unmapped |
//! | 14–17 | an address space of its own (PML4 with an ASID), a PDPT, a PD, a PT |
//! | 18 | a second CNode (16 slots) |
//! | 19 | 64 KiB of untyped memory |
//! | 20 | the victim thread: configured (cspace slot 18, vspace slot 14), never started |
//! | 21 | a copy of the ASID pool |
//! | 22 | frame 10, read only |
//! | 23, 24 | the sandbox CNode again |
//! | 25–255 | empty |
//!
//! The fuzz thread gets no capability to its own thread, its address space,
//! its IPC buffer, its fault endpoint or anything of the root task's, so it
//! cannot stop itself or disturb the root task. Every thread it can reach
//! has priority and MCP 0, below everything of the test.

use septum_test_tasks::ktest::{ASID_POOL, CNODE, Ctx, DEPTH, rights, ty};
use septum_user::abi::Error;

pub const RADIX: u64 = 8;
pub const SLOTS: u64 = 1 << RADIX;

pub const CNODE_SELF: u64 = 0;
pub const EP: u64 = 1;
pub const EP_BADGED: u64 = 2;
pub const EP_RECV_ONLY: u64 = 3;
pub const EP_UNSERVED: u64 = 4;
pub const NTFN: u64 = 5;
pub const NTFN_BADGED: u64 = 6;
pub const NTFN_WAIT_ONLY: u64 = 7;
pub const REPLY0: u64 = 8;
pub const REPLY1: u64 = 9;
pub const FRAME0: u64 = 10;
pub const PML4: u64 = 14;
pub const PDPT: u64 = 15;
pub const PD: u64 = 16;
pub const PT: u64 = 17;
pub const CNODE2: u64 = 18;
pub const UNTYPED: u64 = 19;
pub const VICTIM: u64 = 20;
pub const ASIDS: u64 = 21;
pub const FRAME_RO: u64 = 22;
/// More copies of the sandbox CNode: losing slot 0 would make every CNode
/// method fail until the next rebuild.
pub const CNODE_SPARE: [u64; 2] = [23, 24];
/// First empty slot.
pub const FIRST_FREE: u64 = 25;

/// Radix of the second CNode.
const CNODE2_RADIX: u64 = 4;
/// Size of the fuzzer's own untyped.
const UNTYPED_BITS: u64 = 16;
/// Size of the untyped everything in the sandbox comes from.
const SANDBOX_BITS: u64 = 18;
/// Root-CNode slots the sandbox uses while building.
const ROOT_SLOTS: u64 = 16;

/// The root task's handles on the sandbox.
pub struct Sandbox {
    /// The untyped everything is made from (root slot).
    pub untyped: u64,
    /// The sandbox CNode (root slot); the fuzz thread's cspace root.
    pub cnode: u64,
    /// First of the root slots used while building.
    first: u64,
    /// The served endpoint (root slot; lives outside the sandbox).
    served: u64,
}

impl Sandbox {
    /// Reserve the root slots and the untyped; `served` is the endpoint the
    /// echo thread answers.
    pub fn new(ctx: &mut Ctx, served: u64) -> Result<Sandbox, Error> {
        let untyped = ctx.make(ty::UNTYPED, SANDBOX_BITS)?;
        let first = ctx.slots(ROOT_SLOTS);
        Ok(Sandbox {
            untyped,
            cnode: first,
            first,
            served,
        })
    }

    /// Make every object and fill the sandbox CNode.
    pub fn build(&self, ctx: &mut Ctx) -> Result<(), Error> {
        let ut = self.untyped;
        let s = |i: u64| self.first + i;
        let (cn, cn2, ep, ntfn, reply, frame) = (s(0), s(1), s(2), s(3), s(4), s(6));
        let (pml4, pdpt, pd, pt, small, victim) = (s(10), s(11), s(12), s(13), s(14), s(15));
        let ipc = &mut ctx.ipc;
        ipc.retype(ut, ty::CNODE, RADIX, CNODE, cn, 1)?;
        ipc.retype(ut, ty::CNODE, CNODE2_RADIX, CNODE, cn2, 1)?;
        ipc.retype(ut, ty::ENDPOINT, 0, CNODE, ep, 1)?;
        ipc.retype(ut, ty::NOTIFICATION, 0, CNODE, ntfn, 1)?;
        ipc.retype(ut, ty::REPLY, 0, CNODE, reply, 2)?;
        ipc.retype(ut, ty::FRAME, 0, CNODE, frame, 4)?;
        ipc.retype(ut, ty::PAGE_TABLE, 4, CNODE, pml4, 1)?;
        ipc.asid_assign(ASID_POOL, pml4)?;
        ipc.retype(ut, ty::PAGE_TABLE, 3, CNODE, pdpt, 1)?;
        ipc.retype(ut, ty::PAGE_TABLE, 2, CNODE, pd, 1)?;
        ipc.retype(ut, ty::PAGE_TABLE, 1, CNODE, pt, 1)?;
        ipc.retype(ut, ty::UNTYPED, UNTYPED_BITS, CNODE, small, 1)?;
        ipc.retype(ut, ty::TCB, 0, CNODE, victim, 1)?;
        ipc.tcb_configure(victim, cn2, pml4, 0, 0, 0)?;
        ipc.tcb_set_name(victim, "fuzz-victim")?;

        let to = |i: u64| (i, RADIX);
        let from = |slot: u64| (slot, DEPTH);
        let all = rights::ALL;
        let (r, w, gr) = (rights::READ, rights::WRITE, rights::GRANT_REPLY);
        for i in [CNODE_SELF, CNODE_SPARE[0], CNODE_SPARE[1]] {
            ipc.cnode_copy(cn, to(i), CNODE, from(cn), all)?;
        }
        ipc.cnode_copy(cn, to(EP), CNODE, from(self.served), all)?;
        ipc.cnode_mint(cn, to(EP_BADGED), CNODE, from(self.served), w | gr, 0x55)?;
        ipc.cnode_mint(cn, to(EP_RECV_ONLY), CNODE, from(self.served), r, 0)?;
        ipc.cnode_copy(cn, to(EP_UNSERVED), CNODE, from(ep), all)?;
        ipc.cnode_copy(cn, to(NTFN), CNODE, from(ntfn), all)?;
        ipc.cnode_mint(cn, to(NTFN_BADGED), CNODE, from(ntfn), w, 0x10)?;
        ipc.cnode_mint(cn, to(NTFN_WAIT_ONLY), CNODE, from(ntfn), r, 0)?;
        ipc.cnode_move(cn, to(REPLY0), CNODE, from(reply))?;
        ipc.cnode_move(cn, to(REPLY1), CNODE, from(reply + 1))?;
        ipc.cnode_mint(cn, to(FRAME_RO), CNODE, from(frame), r, 0)?;
        for i in 0..4 {
            ipc.cnode_move(cn, to(FRAME0 + i), CNODE, from(frame + i))?;
        }
        ipc.cnode_copy(cn, to(PML4), CNODE, from(pml4), all)?;
        ipc.cnode_move(cn, to(PDPT), CNODE, from(pdpt))?;
        ipc.cnode_move(cn, to(PD), CNODE, from(pd))?;
        ipc.cnode_move(cn, to(PT), CNODE, from(pt))?;
        ipc.cnode_copy(cn, to(CNODE2), CNODE, from(cn2), all)?;
        ipc.cnode_move(cn, to(UNTYPED), CNODE, from(small))?;
        ipc.cnode_copy(cn, to(VICTIM), CNODE, from(victim), all)?;
        ipc.cnode_copy(cn, to(ASIDS), CNODE, from(ASID_POOL), all)?;
        Ok(())
    }

    /// Destroy everything made from the sandbox's untyped: the sandbox
    /// CNode and whatever it held, every object the fuzzer made, the victim
    /// thread, and the fuzz thread's capability-space root.
    pub fn tear_down(&self, ctx: &mut Ctx) -> Result<(), Error> {
        ctx.ipc.cnode_revoke(CNODE, (self.untyped, DEPTH))?;
        // The root slots are descendants of the untyped, so they are empty
        // now; make sure of it for the next build.
        for i in 0..ROOT_SLOTS {
            ctx.ipc.cnode_delete(CNODE, (self.first + i, DEPTH))?;
        }
        Ok(())
    }
}
