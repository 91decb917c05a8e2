//! The system-call layer: decode, check, dispatch, and apply the result in
//! one place.
//!
//! Every handler returns `KResult`: `Ok` (registers already set), an
//! error code for the caller's `rax`, or `Restart` — the call was
//! preempted and runs again from its `syscall` instruction when the thread
//! next runs (RIP moves back two bytes; RAX gets the number back; the other
//! argument registers were never changed).

use crate::ipc::{self, SendKind};
use crate::object::cnode::{self, Fail, KResult};
use crate::object::tcb::{Reg, State, Tcb, flags};
use crate::sched;
use septum_abi::ipc::MessageInfo;
use septum_abi::layout::is_user_range;
use septum_abi::{Error, fault, syscall as nr};
use septum_kcore::cap::Cap;

/// A `syscall` from the running thread. The fast paths come first, in a
/// small frame; the general path has its own (its register saves and its
/// 0xb8-byte stack frame are paid only by the calls that take it).
#[inline(always)]
pub fn syscall() -> ! {
    let t = sched::running();
    if t.has_flag(flags::SYSCALL_FAULTS) {
        crate::trap::after_fault(crate::trap::fault(t, fault::Kind::Syscall, 0));
    }
    let number = t.reg(Reg::Rax);
    // Compared in turn, the IPC calls first. Three equality tests here and
    // the rest in `others`: LLVM turns four equality tests of one value
    // into a jump table, which costs every call more than these compares.
    // LLVM orders the tests by their value unless told which are less
    // likely: `cold_path` puts `DebugWrite` after the IPC calls.
    if number == nr::CALL {
        if let Some(slot) = crate::fastpath::try_call(t) {
            invoke(t, slot)
        }
    } else if number == nr::REPLY_RECV {
        crate::fastpath::reply_recv(t)
    } else if number == nr::DEBUG_WRITE {
        core::hint::cold_path();
        write(t)
    } else {
        core::hint::cold_path();
        others(t, number)
    }
    general()
}

/// The calls [`syscall`] does not test for: a `Yield` to a thread of the
/// same priority takes its fast path; anything else (and a yield with
/// nobody to yield to) the general path.
#[inline(never)]
fn others(t: Tcb, number: u64) -> ! {
    if number == nr::YIELD {
        crate::fastpath::yield_to_next(t)
    }
    general()
}

/// `DebugWrite`, without the general dispatch and its frame: the same
/// checks ([`debug_write`]) as `dispatch` makes for it. One of zero bytes
/// (the null call) changes nothing the scheduler decides by, so the
/// thread goes on (`sched::go_on_in`); one with bytes is [`write_bytes`].
#[inline(never)]
fn write(t: Tcb) -> ! {
    let ptr = t.reg(Reg::Rdi);
    if t.reg(Reg::Rsi) != 0 {
        write_bytes(t)
    }
    // `debug_write`'s checks for zero bytes, in its order: the range, then
    // the address space (when cached: otherwise the general path decodes
    // it), which `go_on_in` then need not look up again.
    if !is_user_range(ptr, 0) {
        ipc::fail(t, Error::InvalidAddress);
        sched::go_on(t)
    }
    let Some(pml4) = t.pml4_cached() else {
        general()
    };
    t.set_reg(Reg::Rax, 0);
    sched::go_on_in(t, pml4)
}

/// A `DebugWrite` with bytes to print, out of line (its frame is the
/// printing's).
#[inline(never)]
fn write_bytes(t: Tcb) -> ! {
    t.set_reg(Reg::Rax, 0);
    let r = debug_write(t, t.reg(Reg::Rdi), t.reg(Reg::Rsi)).map(|n| t.set_reg(Reg::Rax, n));
    finish(t, nr::DEBUG_WRITE, r.map_err(Fail::from))
}

/// The general path. It reads the thread and the number again rather than
/// being handed them: a fast path that declines has changed neither, and
/// so the entry keeps nothing across its calls (no register saves).
#[inline(never)]
fn general() -> ! {
    let t = sched::running();
    let number = t.reg(Reg::Rax);
    finish(t, number, dispatch(t, number))
}

/// An invocation (a `Call` on a kernel object's capability), whose slot
/// the entry's one-step lookup already found: straight to the object,
/// without the general dispatch and a second lookup. The same steps as
/// `dispatch` takes for it.
#[inline(never)]
fn invoke(t: Tcb, slot: crate::object::Slot) -> ! {
    t.set_reg(Reg::Rax, 0);
    let cap = slot.cap();
    let r = info(t)
        .map_err(Fail::from)
        .and_then(|info| crate::invoke::invoke(t, slot, &cap, info));
    finish(t, nr::CALL, r)
}

/// Apply a call's outcome, in one place for every path that dispatches:
/// an error code, or a restart from the `syscall` instruction; then
/// choose who runs.
#[inline(always)]
fn finish(t: Tcb, number: u64, r: KResult<()>) -> ! {
    match r {
        Ok(()) => {}
        Err(Fail::Err(e)) => ipc::fail(t, e),
        // A call that destroyed its own caller has nobody to restart.
        Err(Fail::Restart) if t.state() == State::Dead => {}
        Err(Fail::Restart) => {
            t.set_reg(Reg::Rax, number);
            t.set_reg(Reg::Rip, t.reg(Reg::Rip).wrapping_sub(2));
            t.set_flag(flags::FULL_RESTORE, true);
            sched::yield_current();
        }
    }
    sched::schedule()
}

fn info(t: Tcb) -> Result<MessageInfo, Error> {
    MessageInfo::decode(t.reg(Reg::Rsi)).map_err(|_| Error::Range)
}

fn lookup(t: Tcb, cptr: u64) -> Result<crate::object::Slot, Error> {
    cnode::lookup_cap(t, cptr)
}

/// The reply object named by `cptr` (0: none).
fn reply_arg(t: Tcb, cptr: u64) -> Result<u64, Error> {
    if cptr == 0 {
        return Ok(0);
    }
    ipc::reply_object(lookup(t, cptr)?)
}

#[inline(always)]
fn dispatch(t: Tcb, number: u64) -> KResult<()> {
    t.set_reg(Reg::Rax, 0);
    let cptr = t.reg(Reg::Rdi);
    match number {
        nr::DEBUG_WRITE => {
            let n = debug_write(t, t.reg(Reg::Rdi), t.reg(Reg::Rsi))?;
            t.set_reg(Reg::Rax, n);
        }
        nr::THREAD_EXIT => {
            crate::info!("task '{}' exited", t.name());
            ipc::cancel(t);
            t.set_state(State::Dead);
        }
        nr::YIELD => sched::yield_current(),
        nr::DEBUG_CHECK => crate::check::debug_check(t)?,
        nr::CALL => {
            let slot = lookup(t, cptr)?;
            match slot.cap() {
                cap @ Cap::Endpoint { .. } => ipc::send(t, &cap, info(t)?, SendKind::Call)?,
                cap => crate::invoke::invoke(t, slot, &cap, info(t)?)?,
            }
        }
        nr::SEND | nr::NB_SEND => {
            let cap = lookup(t, cptr)?.cap();
            match cap {
                Cap::Notification { .. } => signalled(t, ipc::signal(&cap)?),
                _ => {
                    let kind = if number == nr::SEND {
                        SendKind::Send
                    } else {
                        SendKind::NonBlocking
                    };
                    ipc::send(t, &cap, info(t)?, kind)?
                }
            }
        }
        nr::RECV | nr::NB_RECV => {
            let cap = lookup(t, cptr)?.cap();
            let reply = reply_arg(t, t.reg(Reg::R12))?;
            ipc::recv(t, &cap, reply, number == nr::RECV)?
        }
        nr::REPLY => {
            let cap = lookup(t, cptr)?.cap();
            ipc::reply(t, &cap, info(t)?)?
        }
        nr::REPLY_RECV => {
            let reply_cptr = t.reg(Reg::R12);
            let reply_slot = lookup(t, reply_cptr)?;
            let reply = ipc::reply_object(reply_slot)?;
            let ep = lookup(t, cptr)?.cap();
            let msg_info = info(t)?;
            // Answer first if somebody waits on this reply object.
            if crate::arch::paging::read_word(reply) != 0 {
                ipc::reply(t, &reply_slot.cap(), msg_info)?;
            }
            ipc::recv(t, &ep, reply, true)?
        }
        nr::SIGNAL => signalled(t, ipc::signal(&lookup(t, cptr)?.cap())?),
        nr::WAIT | nr::POLL => ipc::wait(t, &lookup(t, cptr)?.cap(), number == nr::WAIT)?,
        n if nr::is_septum(n) => return Err(Error::UnknownSyscall.into()),
        _ => {
            // A guest's system call: its handler decides.
            t.set_reg(Reg::Rax, number);
            if let Some(h) = crate::trap::fault(t, fault::Kind::UnknownSyscall, 0) {
                sched::wake(h);
            }
        }
    }
    Ok(())
}

/// A signal from `t` woke `waiter` (or nobody). A waiter of higher
/// priority than `t` that nothing runnable outranks runs at once: `t`
/// goes to the front of its queue (it was preempted) and the kernel
/// switches straight to the waiter, without queueing it first. Any other
/// waiter is queued.
fn signalled(t: Tcb, waiter: Option<Tcb>) {
    let Some(w) = waiter else { return };
    if w.priority() > t.priority() && sched::may_switch_to(w) {
        sched::preempt_for(t, w);
    }
    sched::enqueue(w);
}

/// Copy a task's bytes to the console, reading them through its page
/// tables: the kernel never dereferences a user pointer. Every page is
/// checked before anything is written, so a bad range prints nothing.
/// The console frames them (`log::thread_write`): each line starts with the
/// thread's name, and control bytes show as `?`. Returns the bytes accepted.
#[inline(always)]
fn debug_write(t: Tcb, ptr: u64, len: u64) -> Result<u64, Error> {
    if len > nr::DEBUG_WRITE_MAX as u64 {
        return Err(Error::Range);
    }
    if !is_user_range(ptr, len) {
        return Err(Error::InvalidAddress);
    }
    let pml4 = t.pml4().ok_or(Error::InvalidAddress)?;
    if len == 0 {
        return Ok(0);
    }
    print(t, pml4, ptr, len)
}

/// The bytes of a checked, non-empty [`debug_write`], out of line.
#[inline(never)]
fn print(t: Tcb, pml4: u64, ptr: u64, len: u64) -> Result<u64, Error> {
    use crate::arch::paging::{self, PTE_USER};
    let chunk = |done: u64| -> Result<&'static [u8], Error> {
        let va = ptr + done;
        let n = (4096 - (va & 0xfff)).min(len - done);
        let (pa, rights) = paging::translate(pml4, va).ok_or(Error::InvalidAddress)?;
        if rights & PTE_USER == 0 {
            return Err(Error::InvalidAddress);
        }
        paging::phys_slice(pa, n).ok_or(Error::InvalidAddress)
    };
    let mut done = 0;
    while done < len {
        done += chunk(done)?.len() as u64;
    }
    let mut done = 0;
    let mut result = Ok(len);
    crate::log::thread_write(t.0, &t.name(), || {
        if done == len {
            return None;
        }
        match chunk(done) {
            Ok(bytes) => {
                done += bytes.len() as u64;
                Some(bytes)
            }
            Err(e) => {
                result = Err(e);
                None
            }
        }
    });
    result
}
