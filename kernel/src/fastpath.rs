//! The IPC fast path: `Call` and `ReplyRecv` with register-only messages
//! (at most four words, no capabilities) when the partner is already
//! waiting.
//!
//! It does the same as the general path — the same checks, the same
//! queue, reply and state changes — but reads capabilities straight from
//! their stored words, resolves the pointer in one step when the caller's
//! capability space is a single CNode covering all 64 bits (as the root
//! task's is), copies the four message registers, and switches directly to
//! the partner without touching the run queue. It is allowed to do that
//! only if the partner's priority is at least that of every runnable
//! thread, so the switch is exactly what the scheduler would choose. In
//! every other case it declines and the general path runs.

use crate::arch::paging::{read_word, write_word};
use crate::ipc::{self, Q_RECEIVERS};
use crate::object::Slot;
use crate::object::tcb::{Reg, State, Tcb, flags};
use crate::sched;
use septum_abi::fault;
use septum_abi::layout::is_canonical;
use septum_abi::object::rights;
use septum_kcore::cap::{CapType, RIGHTS_SHIFT};

/// Rights bits as stored in capability word 0.
const READ: u64 = rights::READ << RIGHTS_SHIFT;
const WRITE: u64 = rights::WRITE << RIGHTS_SHIFT;
const GRANT: u64 = rights::GRANT << RIGHTS_SHIFT;
const GRANT_REPLY: u64 = rights::GRANT_REPLY << RIGHTS_SHIFT;

fn object(w0: u64) -> u64 {
    (w0 >> 12) << 4
}

/// Copy the four message registers and set the receiver's results.
#[inline(always)]
fn transfer(from: Tcb, to: Tcb, info: u64, badge: u64) {
    for r in [Reg::Rdx, Reg::R10, Reg::R8, Reg::R9] {
        to.set_reg(r, from.reg(r));
    }
    to.set_reg(Reg::Rax, 0);
    to.set_reg(Reg::Rsi, info);
    to.set_reg(Reg::Rdi, badge);
}

/// A register-only message info (no capabilities, at most four words, no
/// reserved bits), or `None`.
#[inline(always)]
fn register_only(info: u64) -> Option<u64> {
    // The notification label is the kernel's (the general path refuses
    // it). It is the largest label, so the infos that carry it are those
    // from its first one up: one compare, no shift.
    const KERNEL_LABEL_INFO: u64 = septum_abi::ipc::NOTIFICATION_LABEL << 12;
    const _: () = assert!(septum_abi::ipc::NOTIFICATION_LABEL == u64::MAX >> 12);
    if info & 0xfff > 4 {
        return None;
    }
    (info < KERNEL_LABEL_INFO).then_some(info)
}

/// Try the fast paths for the running thread's `Call`: IPC through an
/// endpoint to a waiting receiver (which leaves the kernel into the
/// receiver and never returns), or else an invocation whose capability the
/// one-step lookup found: its slot. `None`: the general path (another
/// shape of capability space, no such capability, or IPC the fast path
/// declines).
///
/// Inline, so an invocation is turned away from the IPC fast path before
/// its register saves.
#[inline(always)]
pub fn try_call(t: Tcb) -> Option<Slot> {
    let slot = t.flat_space_cached()?.slot(t.reg(Reg::Rdi))?;
    let w0 = read_word(slot.0);
    if w0 & 0x1f != CapType::Endpoint as u64 {
        // An empty slot names nothing: the general path's error.
        return (!slot.is_empty()).then_some(slot);
    }
    let info = register_only(t.reg(Reg::Rsi))?;
    if w0 & WRITE == 0 || w0 & (GRANT | GRANT_REPLY) == 0 {
        return None;
    }
    call(t, info, w0, read_word(slot.0 + 8));
    None
}

/// A yield to the next thread at the same priority, straight from the
/// queue, leaving the kernel into it; a yield with nobody to yield to
/// returns, for the general path. Out of line, so its queue work does not
/// widen the entry's frame for the IPC paths.
#[inline(never)]
pub fn yield_to_next(t: Tcb) {
    if let Some(next) = sched::yield_to_next(t) {
        t.set_reg(Reg::Rax, 0);
        sched::switch_to(next);
    }
}

/// `caller` calls the endpoint capability whose stored words are `w0` and
/// `badge` (checked by [`try_call`]: an endpoint it may call through),
/// and the kernel leaves into the receiver; returns if the fast path
/// declines.
#[inline(never)]
fn call(caller: Tcb, info: u64, w0: u64, badge: u64) {
    if let Some(server) = deliver_call(caller, info, w0, badge) {
        sched::switch_to(server);
    }
}

#[inline(always)]
fn deliver_call(caller: Tcb, info: u64, w0: u64, badge: u64) -> Option<Tcb> {
    let q = ipc::ep_queue(object(w0));
    let server = q.first_receiver()?;
    let reply = server.reply();
    if reply == 0 || read_word(reply) != 0 || !sched::may_switch_to(server) {
        return None;
    }
    q.remove_first(server, Q_RECEIVERS);
    ipc::disarm_from(server, reply);
    transfer(caller, server, info, badge);
    write_word(reply, caller.0);
    caller.set_state(State::BlockedReply);
    caller.set_blocked_on(reply);
    server.set_state(State::Runnable);
    Some(server)
}

/// The fast path of `ReplyRecv`: a register-only answer to a caller that
/// waits on the reply object, then a receive on an endpoint where nobody
/// waits to send; the kernel leaves into the caller. Returns if the fast
/// path declines.
#[inline(never)]
pub fn reply_recv(server: Tcb) {
    if let Some(caller) = answer_and_wait(server) {
        sched::switch_to(caller);
    }
}

#[inline(always)]
fn answer_and_wait(server: Tcb) -> Option<Tcb> {
    let info = register_only(server.reg(Reg::Rsi))?;
    let space = server.flat_space_cached()?;
    let r0 = read_word(space.slot(server.reg(Reg::R12))?.0);
    if r0 & 0x1f != CapType::Reply as u64 {
        return None;
    }
    let reply = object(r0);
    let caller = read_word(reply);
    if caller == 0 {
        return None;
    }
    let caller = Tcb(caller);
    if caller.state() != State::BlockedReply {
        return None;
    }
    if ipc::is_fault_pending(caller) {
        // Out of line in the code's layout, not in the checks: the IPC
        // answer falls through.
        core::hint::cold_path();
        return answer_fault_and_wait(server, caller, info, space, reply);
    }
    let q = receive_end(server, space, caller)?;
    transfer(server, caller, info, 0);
    wait(server, caller, reply, q)
}

/// [`answer_and_wait`] for a caller stopped on a fault: answered here only
/// with one of the short resumes, whose few words are in registers;
/// anything else takes the general path.
#[inline(always)]
fn answer_fault_and_wait(
    server: Tcb,
    caller: Tcb,
    info: u64,
    space: crate::object::tcb::FlatSpace,
    reply: u64,
) -> Option<Tcb> {
    let word0 = (info & 0x7f > 0).then(|| server.reg(Reg::Rdx));
    let fault_rip = match (info >> 12, word0) {
        (fault::RESUME, _) | (fault::RESUME_SYSCALL_RESULT, Some(_)) => None,
        // A non-canonical RIP is refused by the general path.
        (fault::RESUME_AT, Some(rip)) if is_canonical(rip) => Some(rip),
        _ => return None,
    };
    let q = receive_end(server, space, caller)?;
    // The resume the general path's `resume_from_fault` makes, for these
    // labels: the one register set, the fault mark cleared, and every
    // register as it was. `sysret` gives exactly that only when RCX
    // already holds the RIP and R11 the (sanitized) RFLAGS it would load
    // them with: after a `syscall` fault resumed where it stopped, for a
    // thread that left no odd flag. Otherwise (an exception, whose entry
    // already asked for it, or a new RIP) `iretq`.
    if info >> 12 == fault::RESUME_SYSCALL_RESULT {
        caller.set_reg(Reg::Rax, server.reg(Reg::Rdx));
    }
    if let Some(rip) = fault_rip {
        caller.set_reg(Reg::Rip, rip);
    }
    caller.set_reg(Reg::Vector, caller.reg(Reg::Vector) & 0xffff);
    let rip = caller.sanitize_context();
    if caller.reg(Reg::Rcx) != rip || caller.reg(Reg::R11) != caller.reg(Reg::Rflags) {
        caller.set_flag(flags::FULL_RESTORE, true);
    }
    wait(server, caller, reply, q)
}

/// The receive half of the fast `ReplyRecv`'s checks: the endpoint `server`
/// names in RDI (in its flat space), which it may receive from, where no
/// sender waits and which is not dying; no notification pending on the
/// server's bound one; and `caller` is what the scheduler would run.
#[inline(always)]
fn receive_end(
    server: Tcb,
    space: crate::object::tcb::FlatSpace,
    caller: Tcb,
) -> Option<(ipc::Queue, u64)> {
    let e0 = read_word(space.slot(server.reg(Reg::Rdi))?.0);
    if e0 & 0x1f != CapType::Endpoint as u64 || e0 & READ == 0 {
        return None;
    }
    let q = ipc::ep_queue(object(e0));
    if q.senders_or_dying() {
        return None;
    }
    let bound = server.bound_notification();
    if (bound != 0 && read_word(bound) != 0) || !sched::may_switch_to(caller) {
        return None;
    }
    Some((q, object(e0)))
}

/// The state changes of the fast `ReplyRecv` once answered: the reply
/// object released, the caller runnable, the server waiting on `q` with
/// `reply` armed.
#[inline(always)]
fn wait(server: Tcb, caller: Tcb, reply: u64, (q, ep): (ipc::Queue, u64)) -> Option<Tcb> {
    write_word(reply, 0);
    caller.set_state(State::Runnable);
    caller.set_blocked_on(0);
    ipc::arm_reply(server, reply);

    server.set_state(State::BlockedRecv);
    server.set_blocked_on(ep);
    server.set_flag(flags::CALLING, false);
    q.push(server, Q_RECEIVERS);
    Some(caller)
}
