//! Invocations: methods of kernel objects, called with `Call` on their
//! capabilities. Arguments are the message words; a missing one is a
//! `Range` error, a wrong capability `WrongType`, a missing right
//! `MissingRight`. The reply is delivered to the caller like any message.
//!
//! Arguments are read where they lie (message registers, then the IPC
//! buffer, resolved once) and results written straight into the caller:
//! no 68-word message is assembled, zeroed or copied on the way.

use crate::arch::fpu;
use crate::ipc;
use crate::object::cnode::{self, Fail, KResult};
use crate::object::tcb::{self, State, Tcb, flags};
use crate::object::{Slot, untyped};
use crate::{sched, vspace};
use septum_abi::invocation as inv;
use septum_abi::ipc::MessageInfo;
use septum_abi::layout::{is_canonical, is_user_range};
use septum_abi::{Error, fault};
use septum_kcore::cap::{Cap, Rights};

/// The invocation's argument words, read on demand.
struct Args {
    t: Tcb,
    len: usize,
    /// The caller's IPC buffer, if the message reaches beyond the registers.
    buf: Option<u64>,
}

impl Args {
    fn new(t: Tcb, info: MessageInfo) -> Self {
        let len = info.words();
        Args {
            t,
            len,
            buf: ipc::buffer_for(t, len),
        }
    }

    fn get(&self, i: usize) -> Result<u64, Error> {
        if i >= self.len {
            return Err(Error::Range);
        }
        Ok(ipc::message_word(self.t, self.buf, i))
    }
}

/// Deliver the method's results (label 0) to the caller.
fn done(t: Tcb, words: &[u64]) -> KResult<()> {
    ipc::deliver_words(t, 0, words, 0, 0);
    Ok(())
}

/// Invoke the kernel object `cap` (in `slot`) for thread `t`.
pub fn invoke(t: Tcb, slot: Slot, cap: &Cap, info: MessageInfo) -> KResult<()> {
    let a = Args::new(t, info);
    let label = info.label();
    match *cap {
        Cap::CNode { .. } => cnode_method(t, cap, label, &a),
        Cap::Untyped { .. } => {
            if label != inv::UNTYPED_RETYPE {
                return Err(Error::IllegalOperation.into());
            }
            let dest = lookup(t, a.get(2)?)?.cap();
            untyped::retype(slot, a.get(0)?, a.get(1)?, &dest, a.get(3)?, a.get(4)?)?;
            done(t, &[])
        }
        Cap::Tcb { object } => tcb_method(t, slot, Tcb(object), label, &a),
        Cap::PageTable { .. } => match label {
            inv::PAGE_TABLE_MAP => {
                let vs = lookup(t, a.get(0)?)?;
                vspace::map_table(slot, vs, a.get(1)?)?;
                done(t, &[])
            }
            inv::PAGE_TABLE_UNMAP => {
                vspace::unmap(slot)?;
                done(t, &[])
            }
            _ => Err(Error::IllegalOperation.into()),
        },
        Cap::Frame { object, .. } => match label {
            inv::FRAME_MAP => {
                let vs = lookup(t, a.get(0)?)?;
                vspace::map_frame(slot, cap, vs, a.get(1)?, a.get(2)?)?;
                done(t, &[])
            }
            inv::FRAME_UNMAP => {
                vspace::unmap(slot)?;
                done(t, &[])
            }
            // Where a frame lies in physical memory is for those who may
            // read it (a driver programming DMA), not for a bare name.
            inv::FRAME_ADDRESS => {
                if !cap.rights().contains(Rights::READ) {
                    return Err(Error::MissingRight.into());
                }
                done(t, &[object])
            }
            _ => Err(Error::IllegalOperation.into()),
        },
        Cap::AsidPool { .. } => match label {
            inv::ASID_ASSIGN => {
                let vs = lookup(t, a.get(0)?)?;
                done(t, &[vspace::assign_asid(cap, vs)?])
            }
            inv::ASID_POOL_ISSUE => {
                let dst = cnode::lookup_slot(&lookup(t, a.get(2)?)?.cap(), a.get(3)?, a.get(4)?)?;
                vspace::issue_pool(slot, a.get(0)?, a.get(1)?, dst)?;
                done(t, &[])
            }
            _ => Err(Error::IllegalOperation.into()),
        },
        Cap::SchedControl => {
            if label != inv::SCHED_CONFIGURE {
                return Err(Error::IllegalOperation.into());
            }
            sched_configure(t, &a)
        }
        Cap::Reply { .. } | Cap::Endpoint { .. } | Cap::Notification { .. } => {
            Err(Error::WrongType.into())
        }
        Cap::IrqControl | Cap::IrqHandler { .. } | Cap::IoPortControl | Cap::IoPort { .. } => {
            device_method(t, slot, cap, label, &a)
        }
        _ => Err(Error::IllegalOperation.into()),
    }
}

/// `SCHED_CONFIGURE`: the frame, then (partition, start, length) per window.
fn sched_configure(t: Tcb, a: &Args) -> KResult<()> {
    use septum_abi::sched::MAX_WINDOWS;
    let frame = a.get(0)?;
    let n = a.get(1)?;
    if n == 0 || n > MAX_WINDOWS {
        return Err(Error::Range.into());
    }
    let mut windows = [(0, 0, 0); MAX_WINDOWS as usize];
    for (i, w) in windows.iter_mut().enumerate().take(n as usize) {
        *w = (a.get(2 + 3 * i)?, a.get(3 + 3 * i)?, a.get(4 + 3 * i)?);
    }
    let s = crate::partition::configure(frame, &windows[..n as usize])?;
    done(t, &[s.epoch, s.frame, s.tsc_hz])
}

/// Methods of the interrupt and I/O-port capabilities (`irq`, `ioport`).
fn device_method(t: Tcb, slot: Slot, cap: &Cap, label: u64, a: &Args) -> KResult<()> {
    // A destination slot named by (CNode cptr, index, depth).
    let dest = |cptr: u64, index: u64, depth: u64| -> Result<Slot, Error> {
        cnode::lookup_slot(&lookup(t, cptr)?.cap(), index, depth)
    };
    match (*cap, label) {
        (Cap::IrqControl, inv::IRQ_CONTROL_GET) => {
            let dst = dest(a.get(1)?, a.get(2)?, a.get(3)?)?;
            crate::irq::get(slot, a.get(0)?, dst)?;
        }
        (Cap::IrqHandler { irq }, inv::IRQ_HANDLER_ACK) => crate::irq::ack(irq)?,
        (Cap::IrqHandler { irq }, inv::IRQ_HANDLER_SET_NOTIFICATION) => {
            let ntfn = lookup(t, a.get(0)?)?.cap();
            crate::irq::set_notification(irq, &ntfn)?;
        }
        (Cap::IrqHandler { irq }, inv::IRQ_HANDLER_CLEAR) => crate::irq::clear(irq),
        (Cap::IoPortControl, inv::IO_PORT_CONTROL_ISSUE) => {
            let dst = dest(a.get(2)?, a.get(3)?, a.get(4)?)?;
            crate::ioport::issue(slot, a.get(0)?, a.get(1)?, dst)?;
        }
        (Cap::IoPort { .. }, inv::IO_PORT_INSTALL) => {
            crate::ioport::install(slot, lookup(t, a.get(0)?)?)?;
        }
        (Cap::IoPort { .. }, inv::IO_PORT_UNINSTALL) => crate::ioport::uninstall(slot)?,
        _ => return Err(Error::IllegalOperation.into()),
    }
    done(t, &[])
}

fn lookup(t: Tcb, cptr: u64) -> Result<Slot, Error> {
    cnode::lookup_cap(t, cptr)
}

fn cnode_method(t: Tcb, cap: &Cap, label: u64, a: &Args) -> KResult<()> {
    let target = || cnode::lookup_slot(cap, a.get(0)?, a.get(1)?);
    let source = || {
        let src_cnode = lookup(t, a.get(2)?)?.cap();
        cnode::lookup_slot(&src_cnode, a.get(3)?, a.get(4)?)
    };
    match label {
        inv::CNODE_COPY | inv::CNODE_MINT => {
            let rights = Rights::from_bits_truncate(a.get(5)? as u8);
            let badge = if label == inv::CNODE_MINT {
                Some(a.get(6)?)
            } else {
                None
            };
            cnode::copy(source()?, target()?, rights, badge)?;
            done(t, &[])
        }
        inv::CNODE_MOVE => {
            cnode::move_cap(source()?, target()?)?;
            done(t, &[])
        }
        inv::CNODE_DELETE => {
            cnode::delete(target()?)?;
            done(t, &[])
        }
        inv::CNODE_REVOKE => {
            cnode::revoke(target()?)?;
            done(t, &[])
        }
        inv::CNODE_IDENTIFY => {
            let c = target()?.cap();
            let (extra, mapping) = match c {
                Cap::Untyped { size_bits, .. } => (u64::from(size_bits), None),
                Cap::CNode { radix, .. } => (u64::from(radix), None),
                Cap::PageTable { level, mapping, .. } => (u64::from(level), mapping),
                Cap::Frame { huge, mapping, .. } => (u64::from(huge), mapping),
                Cap::IrqHandler { irq } => (u64::from(irq), None),
                Cap::IoPort { first, last } => (u64::from(first) | u64::from(last) << 16, None),
                _ => (0, None),
            };
            // An I/O-port capability reports whether it is installed as
            // "mapped" (address 0).
            let mapping = match c {
                Cap::IoPort { .. } if crate::ioport::is_installed(target()?) => {
                    Some(septum_kcore::cap::Mapping { asid: 0, vaddr: 0 })
                }
                _ => mapping,
            };
            done(
                t,
                &[
                    c.cap_type() as u64,
                    u64::from(c.rights().bits()),
                    c.badge(),
                    extra,
                    u64::from(mapping.is_some()),
                    mapping.map_or(0, |m| m.vaddr),
                ],
            )
        }
        _ => Err(Error::IllegalOperation.into()),
    }
}

/// Replace the capability in TCB slot `dst` by a copy of `src` (or clear it).
fn tcb_method(t: Tcb, invoked: Slot, target: Tcb, label: u64, a: &Args) -> KResult<()> {
    // A capability argument naming an empty slot is `InvalidCapability`
    // (as the error table says), not a capability of the wrong type.
    let lookup = |t: Tcb, cptr: u64| -> Result<Slot, Error> {
        let s = lookup(t, cptr)?;
        if s.is_empty() {
            return Err(Error::InvalidCapability);
        }
        Ok(s)
    };
    match label {
        inv::TCB_CONFIGURE => {
            let cspace = lookup(t, a.get(0)?)?;
            let vspace = lookup(t, a.get(1)?)?;
            let (buf_cptr, buf_va, fault_cptr) = (a.get(2)?, a.get(3)?, a.get(4)?);
            if !matches!(cspace.cap(), Cap::CNode { .. }) {
                return Err(Error::WrongType.into());
            }
            if !matches!(vspace.cap(), Cap::PageTable { level: 4, .. }) {
                return Err(Error::WrongType.into());
            }
            let buffer = match buf_cptr {
                0 => None,
                c => {
                    let s = lookup(t, c)?;
                    let Cap::Frame {
                        huge: false,
                        rights,
                        object,
                        ..
                    } = s.cap()
                    else {
                        return Err(Error::WrongType.into());
                    };
                    // The kernel reads what the thread sends from the buffer
                    // and writes what it receives into it: both rights.
                    if !rights.contains(ipc::BUFFER_RIGHTS) {
                        return Err(Error::MissingRight.into());
                    }
                    // Through its direct map, which holds only RAM: a device
                    // frame there would be a page fault in the kernel (and
                    // would be device registers, not memory). As in seL4.
                    if !crate::mem::is_ram(object) {
                        return Err(Error::IllegalOperation.into());
                    }
                    if !buf_va.is_multiple_of(4096) {
                        return Err(Error::Alignment.into());
                    }
                    if !is_user_range(buf_va, 4096) {
                        return Err(Error::InvalidAddress.into());
                    }
                    Some(s)
                }
            };
            let fault_ep = match fault_cptr {
                0 => None,
                c => {
                    let s = lookup(t, c)?;
                    let Cap::Endpoint { rights, .. } = s.cap() else {
                        return Err(Error::WrongType.into());
                    };
                    if !ipc::is_fault_handler(rights) {
                        return Err(Error::MissingRight.into());
                    }
                    Some(s)
                }
            };
            // Each copy below is a child of its source: refuse now a source
            // too deep to have one, before the thread's slots are emptied.
            for s in [Some(cspace), Some(vspace), buffer, fault_ep]
                .into_iter()
                .flatten()
            {
                if cnode::derivation_depth(s) >= septum_kcore::cdt::MAX_DEPTH {
                    return Err(Error::TooDeep.into());
                }
            }
            // Let go of what the thread held first. That can destroy the
            // thread itself (its capability space may have held its only
            // capability), so check it survived before giving it anything.
            for s in target.slots() {
                cnode::delete(s)?;
            }
            let alive = invoked.cap() == (Cap::Tcb { object: target.0 });
            if !alive || target.state() == State::Dead {
                return Err(Error::IllegalOperation.into());
            }
            let wanted = [Some(cspace), Some(vspace), buffer, fault_ep];
            for (dst, src) in target.slots().into_iter().zip(wanted) {
                if let Some(src) = src {
                    // A source that the deletions took away is now empty,
                    // and the copy says so (InvalidCapability).
                    cnode::copy(src, dst, Rights::all(), None)?;
                }
            }
            target.set_ipc_buffer(if buffer.is_some() { buf_va } else { 0 });
            // Decode the new capability space now (`Tcb::flat_space`
            // caches it), so that the thread's first `Call` or `ReplyRecv`
            // can take the fast path as its later ones do.
            let _ = target.flat_space();
            done(t, &[])
        }
        inv::TCB_SET_PRIORITY | inv::TCB_SET_MCP => {
            let Cap::Tcb { object } = lookup(t, a.get(0)?)?.cap() else {
                return Err(Error::WrongType.into());
            };
            let value = a.get(1)?;
            if value > u64::from(Tcb(object).mcp()) {
                return Err(Error::Range.into());
            }
            if label == inv::TCB_SET_MCP {
                target.set_mcp(value as u8);
            } else {
                sched::dequeue(target);
                target.set_priority(value as u8);
                if target.state() == State::Runnable {
                    sched::enqueue(target);
                }
            }
            done(t, &[])
        }
        inv::TCB_SET_PARTITION => {
            if !matches!(lookup(t, a.get(0)?)?.cap(), Cap::SchedControl) {
                return Err(Error::WrongType.into());
            }
            let p = a.get(1)?;
            if p >= septum_abi::sched::MAX_PARTITIONS {
                return Err(Error::Range.into());
            }
            sched::set_partition(target, p as u8);
            done(t, &[])
        }
        inv::TCB_READ_REGISTERS => {
            let mut regs = [0u64; tcb::FAULT_ORDER.len() + 2];
            for (w, r) in regs.iter_mut().zip(tcb::FAULT_ORDER) {
                *w = target.reg(r);
            }
            regs[fault::W_FS_BASE] = target.fs_base();
            regs[fault::W_GS_BASE] = target.gs_base();
            done(t, &regs)
        }
        inv::TCB_WRITE_REGISTERS => {
            if target == t {
                return Err(Error::IllegalOperation.into());
            }
            let n = a.len;
            if n < tcb::FAULT_ORDER.len() {
                return Err(Error::Range.into());
            }
            let rip = a.get(fault::W_RIP)?;
            // Words 18 and 19, where given, are the FS and GS bases.
            let fs = a.get(fault::W_FS_BASE).unwrap_or(target.fs_base());
            let gs = a.get(fault::W_GS_BASE).unwrap_or(target.gs_base());
            if !is_canonical(rip) || !is_canonical(fs) || !is_canonical(gs) {
                return Err(Error::InvalidAddress.into());
            }
            for (i, r) in tcb::FAULT_ORDER.into_iter().enumerate() {
                target.set_reg(r, a.get(i)?);
            }
            target.set_tls(fs, gs);
            target.set_flag(flags::FULL_RESTORE, true);
            done(t, &[])
        }
        inv::TCB_RESUME => {
            if target.pml4().is_none() || !matches!(target.cspace_slot().cap(), Cap::CNode { .. }) {
                return Err(Error::IllegalOperation.into());
            }
            match target.state() {
                State::Inactive => {
                    target.set_flag(flags::FULL_RESTORE, true);
                    target.set_flag(flags::STARTED, true);
                    sched::wake(target);
                }
                State::Dead => return Err(Error::IllegalOperation.into()),
                _ => {}
            }
            done(t, &[])
        }
        inv::TCB_SUSPEND => {
            // An exited thread is stopped for good: making it Inactive
            // would let a resume run it past its exit.
            if target.state() == State::Dead {
                return done(t, &[]);
            }
            ipc::cancel(target);
            sched::dequeue(target);
            target.set_state(State::Inactive);
            done(t, &[])
        }
        inv::TCB_SET_TLS => {
            let (fs, gs) = (a.get(0)?, a.get(1)?);
            if !is_canonical(fs) || !is_canonical(gs) {
                return Err(Error::InvalidAddress.into());
            }
            target.set_tls(fs, gs);
            if target == t {
                crate::arch::cpu::reload_tls(t.0, fs, gs);
            }
            done(t, &[])
        }
        inv::TCB_BIND_NOTIFICATION => {
            let cap = lookup(t, a.get(0)?)?.cap();
            ipc::bind(target, &cap)?;
            done(t, &[])
        }
        inv::TCB_UNBIND_NOTIFICATION => {
            ipc::unbind(target)?;
            done(t, &[])
        }
        inv::TCB_SET_SYSCALL_FAULTS => {
            target.set_flag(flags::SYSCALL_FAULTS, a.get(0)? != 0);
            done(t, &[])
        }
        inv::TCB_READ_FPU => {
            let from = a.get(0)?;
            let area_words = tcb::XSAVE_SIZE / 8;
            if from >= area_words {
                return Err(Error::Range.into());
            }
            fpu::flush(target.0);
            let mut words = [0u64; 64];
            let n = (area_words - from).min(64) as usize;
            for (i, w) in words.iter_mut().take(n).enumerate() {
                *w = crate::arch::paging::read_word(target.0 + tcb::XSAVE + (from + i as u64) * 8);
            }
            done(t, &words[..n])
        }
        inv::TCB_WRITE_FPU => {
            let from = a.get(0)?;
            let count = a.len.saturating_sub(1) as u64;
            // Our own state may be live in the FPU: flush makes the area current.
            fpu::flush(target.0);
            for i in 0..count {
                let w = from.checked_add(i).ok_or(Error::Range)?;
                // Words 64..72 are the XSAVE header, which the kernel owns.
                if (64..72).contains(&w) || w >= tcb::XSAVE_SIZE / 8 {
                    return Err(Error::Range.into());
                }
            }
            for i in 0..count {
                let w = from + i;
                let mut v = a.get(1 + i as usize)?;
                if w == 3 {
                    // MXCSR (low half of word 3): reserved bits would make
                    // the kernel's restore fault; keep them clear.
                    v = (v & !0xffff_ffff) | (v & 0xffbf);
                }
                crate::arch::paging::write_word(target.0 + tcb::XSAVE + w * 8, v);
            }
            fpu::mark_all_present(target.0 + tcb::XSAVE);
            done(t, &[])
        }
        inv::TCB_SET_NAME => {
            let mut bytes = [0u8; 32];
            for i in 0..a.len.min(4) {
                bytes[i * 8..i * 8 + 8].copy_from_slice(&a.get(i)?.to_le_bytes());
            }
            // Names frame the thread's console lines and the kernel's
            // reports. They are given by whoever makes the thread, before
            // it first runs, and fixed from then on: a thread holding its
            // own TCB capability cannot rename itself after another (the
            // task it belongs to, whose lines the test harness trusts).
            if target.has_flag(flags::STARTED) {
                return Err(Error::IllegalOperation.into());
            }
            // Letters, digits, '.', '_' and '-' only, so no name can pass
            // for a kernel log tag or another line's framing.
            let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            if !bytes[..len].iter().all(|&b| tcb::is_name_byte(b)) {
                return Err(Error::Range.into());
            }
            target.set_name(&bytes);
            done(t, &[])
        }
        _ => Err(Fail::Err(Error::IllegalOperation)),
    }
}
