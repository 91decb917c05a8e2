//! Retyping untyped memory into kernel objects.
//!
//! Objects are placed by `septum_kcore::untyped` (first aligned address at
//! or above the watermark), initialised, and their capabilities put into
//! consecutive empty slots of one CNode as children of the untyped
//! capability, so revoking the untyped finds and destroys them all.
//!
//! **Memory above a RAM untyped's watermark is always zero**, so a retype
//! clears nothing and costs O(objects made), never O(bytes). Memory is
//! cleared when an untyped with no children left is *reset* by its next
//! retype (never by the revoke that freed it, which may have destroyed
//! its own caller, whose TCB lies there): from the watermark down, a chunk at a time, lowering the watermark after each
//! chunk, so a reset that stops for a pending interrupt keeps its progress
//! and the invariant holds at every step. The untypeds made at boot start
//! with the watermark at their top (their content is unknown), so their
//! first use clears them the same way. Device memory is never cleared.

use super::cnode::{self, CNodeRef, Fail, KResult};
use super::tcb::Tcb;
use super::{Slot, Tree};
use crate::arch::paging;
use septum_abi::Error;
use septum_kcore::cap::{Cap, Rights};
use septum_kcore::cdt;
use septum_kcore::untyped::{self as ut, ObjectType, Untyped};

fn ut_err(e: ut::Error) -> Error {
    match e {
        ut::Error::NoRoom { .. } => Error::NotEnoughMemory,
        ut::Error::BadUserBits { .. } => Error::Range,
        _ => Error::Range,
    }
}

/// Most threads one retype makes (other objects: `MAX_RETYPE_COUNT`).
pub const MAX_RETYPE_TCBS: u64 = 32;

/// Bytes a reset clears between two looks for a pending interrupt (about
/// 4,000 instructions).
const RESET_CHUNK: u64 = 32 << 10;

/// Reset the untyped in `slot`, which must have no descendants left: clear
/// what lies below its watermark and bring the watermark to 0. Preemptible;
/// the restarted call goes on from the lowered watermark.
pub fn reset(slot: Slot) -> KResult<()> {
    loop {
        let Cap::Untyped {
            base,
            size_bits,
            is_device,
            free_offset,
        } = slot.cap()
        else {
            return Ok(());
        };
        if free_offset == 0 {
            return Ok(());
        }
        let low = if is_device {
            0
        } else {
            (free_offset - 1) & !(RESET_CHUNK - 1)
        };
        if !is_device {
            paging::zero_phys(base + low, free_offset - low);
        }
        slot.set_cap(&Cap::Untyped {
            base,
            size_bits,
            is_device,
            free_offset: low,
        });
        if low > 0 && crate::preempt::pending() {
            return Err(Fail::Restart);
        }
    }
}

/// The capability for a fresh object of type `t` at `addr`.
fn new_cap(t: ObjectType, addr: u64, user_bits: u64, device: bool) -> Cap {
    match t {
        ObjectType::Untyped => Cap::Untyped {
            base: addr,
            size_bits: user_bits as u8,
            is_device: device,
            free_offset: 0,
        },
        ObjectType::CNode => Cap::CNode {
            object: addr,
            radix: user_bits as u8,
            guard_bits: 0,
            guard: 0,
        },
        ObjectType::Tcb => Cap::Tcb { object: addr },
        ObjectType::Endpoint => Cap::Endpoint {
            object: addr,
            rights: Rights::all(),
            badge: 0,
        },
        ObjectType::Notification => Cap::Notification {
            object: addr,
            rights: Rights::all(),
            badge: 0,
        },
        ObjectType::Reply => Cap::Reply { object: addr },
        ObjectType::PageTable => Cap::PageTable {
            object: addr,
            level: user_bits as u8,
            mapping: None,
        },
        ObjectType::Frame4K => Cap::Frame {
            object: addr,
            rights: Rights::all(),
            huge: false,
            mapping: None,
        },
        ObjectType::Frame2M => Cap::Frame {
            object: addr,
            rights: Rights::all(),
            huge: true,
            mapping: None,
        },
    }
}

/// Retype part of the untyped in `ut_slot` into `count` objects of type
/// `type_code` (with `user_bits`: size of an untyped, radix of a CNode,
/// level of a page table), their capabilities going to slots
/// `offset..offset+count` of the CNode `dest`.
pub fn retype(
    ut_slot: Slot,
    type_code: u64,
    user_bits: u64,
    dest: &Cap,
    offset: u64,
    count: u64,
) -> KResult<()> {
    let Cap::Untyped { is_device, .. } = ut_slot.cap() else {
        return Err(Error::WrongType.into());
    };
    let t = ObjectType::from_code(type_code).ok_or(Error::Range)?;
    if t == ObjectType::PageTable && !(1..=4).contains(&user_bits) {
        return Err(Error::Range.into());
    }
    if is_device && !t.fits_device_memory() {
        return Err(Error::IllegalOperation.into());
    }
    let cnode = CNodeRef::from_cap(dest).ok_or(Error::WrongType)?;
    let end = offset.checked_add(count).ok_or(Error::Range)?;
    // Bounded before the slots are looked at, so the check below is too.
    // Objects are initialised with interrupts off: threads (their context
    // and FPU area) cost some hundred instructions each, so fewer of them
    // per call keep the call under the kernel's longest stretch.
    let max = if t == ObjectType::Tcb {
        MAX_RETYPE_TCBS
    } else {
        ut::MAX_RETYPE_COUNT
    };
    if count == 0 || count > max || end > cnode.slots() {
        return Err(Error::Range.into());
    }
    for i in offset..end {
        if !cnode.slot(i).ok_or(Error::Range)?.is_empty() {
            return Err(Error::SlotOccupied.into());
        }
    }
    let obj_bits = t.size_bits(user_bits).map_err(ut_err)?;
    // The objects' capabilities are children of the untyped's: refuse
    // before anything is initialised if it is too deep to have any.
    if cnode::derivation_depth(ut_slot) >= cdt::MAX_DEPTH {
        return Err(Error::TooDeep.into());
    }
    // Memory below the watermark is reusable only once nothing made from
    // it is left; then it is cleared (preemptibly) and reused. The caller
    // cannot lie in that memory: nothing made from it is left.
    if !cdt::has_descendants(&Tree, ut_slot) {
        reset(ut_slot)?;
    }
    let Cap::Untyped {
        base,
        size_bits,
        free_offset,
        ..
    } = ut_slot.cap()
    else {
        return Err(Error::WrongType.into());
    };
    let mut state = Untyped::new(base, size_bits.into(), is_device).map_err(ut_err)?;
    state.free_offset = free_offset;
    let plan = state.plan_retype(obj_bits, count).map_err(ut_err)?;
    // Everything at or above the watermark is already zero (see the
    // module notes): the objects need initialising, not clearing.
    for i in 0..count {
        let addr = plan.object(i).ok_or(Error::Range)?;
        if t == ObjectType::Tcb {
            // A thread starts in its maker's partition: a domain cannot
            // give itself time outside its windows by making threads
            // (moving one needs the schedule's capability).
            Tcb(addr).init();
            Tcb(addr).set_partition_word(crate::sched::current().map_or(0, |c| c.partition()));
        }
        let slot = cnode.slot(offset + i).ok_or(Error::Range)?;
        cnode::insert(slot, &new_cap(t, addr, user_bits, is_device), Some(ut_slot))?;
    }
    state.commit(&plan).map_err(ut_err)?;
    ut_slot.set_cap(&Cap::Untyped {
        base,
        size_bits,
        is_device,
        free_offset: state.free_offset,
    });
    Ok(())
}
