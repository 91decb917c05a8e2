//! Message passing: endpoints, reply objects, notifications, and faults
//! delivered as messages.
//!
//! Layouts (words at the object's physical address):
//! - Endpoint (16 B): `head | queue kind` (0 empty, 1 senders, 2 receivers,
//!   3 dying), `tail`.
//! - Notification (32 B): `word`, `head`, `tail`, `bound thread`.
//! - Reply (32 B): `caller` (the thread waiting for this reply, 0 if none),
//!   `server` (the receiver blocked in `Recv` with it, 0 if none; that
//!   thread's reply field names it back, see [`arm`]).
//!
//! A blocked sender's message stays in its own registers and IPC buffer
//! until a receiver comes; transfer copies it then. A message is gathered
//! into one array and scattered into the receiver, so thread messages and
//! kernel-made fault messages share one path. Every wait can be undone:
//! destroying an endpoint, notification or reply object releases whoever
//! waits on it with `PeerGone`, and destroying a thread takes it out of any
//! queue it is in.

use crate::arch::paging::{read_word, write_word};
use crate::object::Slot;
use crate::object::cnode;
use crate::object::tcb::{FAULT_ORDER, Reg, State, Tcb, flags};
use crate::sched;
use septum_abi::Error;
use septum_abi::fault;
use septum_abi::ipc::{MAX_WORDS, MessageInfo, NOTIFICATION_LABEL, REGISTER_WORDS, buffer};
use septum_kcore::cap::{Cap, CapType, Rights};

pub(crate) const Q_SENDERS: u64 = 1;
pub(crate) const Q_RECEIVERS: u64 = 2;
/// The object is being destroyed: its waiters are being released (a
/// preemptible loop), and nobody may join the queue meanwhile, or a
/// released thread could come straight back and the release never end.
/// Kept with an empty queue too, until the object is gone.
pub(crate) const Q_DYING: u64 = 3;
const MSG_REGS: [Reg; REGISTER_WORDS] = [Reg::Rdx, Reg::R10, Reg::R8, Reg::R9];

// ---- wait queues of threads, linked through the TCBs ----

/// A queue whose head word is at `head` (low two bits are the owner's) and
/// tail word at `tail`.
#[derive(Clone, Copy)]
pub(crate) struct Queue {
    head: u64,
    tail: u64,
}

impl Queue {
    pub(crate) fn first(self) -> Option<Tcb> {
        let h = read_word(self.head) & !3;
        (h != 0).then_some(Tcb(h))
    }

    pub(crate) fn tag(self) -> u64 {
        read_word(self.head) & 3
    }

    /// A tag other than [`Q_DYING`] is kept only with a thread at the
    /// head: an empty queue is idle (tag 0) or dying.
    fn set_head(self, t: u64, tag: u64) {
        let keep = if t != 0 || tag == Q_DYING { tag } else { 0 };
        write_word(self.head, t | keep);
    }

    /// Whether a receiver must not simply wait here: senders wait (a
    /// sender tag is only ever kept with a thread in the queue, see
    /// [`Queue::set_head`]) or the object is being destroyed. One bit of
    /// the head word, which both tags have and the others lack.
    #[inline(always)]
    pub(crate) fn senders_or_dying(self) -> bool {
        const _: () = assert!(Q_SENDERS & Q_DYING & 1 != 0 && Q_RECEIVERS & 1 == 0);
        read_word(self.head) & 1 != 0
    }

    /// The first of the receivers waiting here, if receivers wait (the
    /// receiver tag is only ever kept with a thread at the head).
    #[inline(always)]
    pub(crate) fn first_receiver(self) -> Option<Tcb> {
        let w = read_word(self.head);
        (w & 3 == Q_RECEIVERS).then_some(Tcb(w & !3))
    }

    /// Whether the object is being destroyed ([`Q_DYING`]).
    pub(crate) fn is_dying(self) -> bool {
        self.tag() == Q_DYING
    }

    /// Mark the object as being destroyed ([`Q_DYING`]).
    fn mark_dying(self) {
        write_word(self.head, (read_word(self.head) & !3) | Q_DYING);
    }

    pub(crate) fn push(self, t: Tcb, tag: u64) {
        let tail = read_word(self.tail);
        write_word(t.0 + crate::object::tcb::IPC_PREV, tail);
        write_word(t.0 + crate::object::tcb::IPC_NEXT, 0);
        if tail == 0 {
            // A thread at the head keeps the tag (`set_head` with a
            // thread, written out: `t` is never 0).
            write_word(self.head, t.0 | tag);
        } else {
            write_word(tail + crate::object::tcb::IPC_NEXT, t.0);
        }
        write_word(self.tail, t.0);
    }

    /// Take out `t`, the thread at the head of this queue, whose tag the
    /// caller read as `tag` ([`Queue::first_receiver`] gives both):
    /// [`Queue::remove`] without the cases a head cannot be in.
    #[inline(always)]
    pub(crate) fn remove_first(self, t: Tcb, tag: u64) {
        debug_assert_eq!(read_word(t.0 + crate::object::tcb::IPC_PREV), 0);
        let next = read_word(t.0 + crate::object::tcb::IPC_NEXT);
        self.set_head(next, tag);
        if next == 0 {
            write_word(self.tail, 0);
        } else {
            write_word(next + crate::object::tcb::IPC_PREV, 0);
        }
        write_word(t.0 + crate::object::tcb::IPC_NEXT, 0);
    }

    pub(crate) fn remove(self, t: Tcb) {
        let prev = read_word(t.0 + crate::object::tcb::IPC_PREV);
        let next = read_word(t.0 + crate::object::tcb::IPC_NEXT);
        let tag = self.tag();
        if prev == 0 {
            self.set_head(next, tag);
        } else {
            write_word(prev + crate::object::tcb::IPC_NEXT, next);
        }
        if next == 0 {
            write_word(self.tail, prev);
        } else {
            write_word(next + crate::object::tcb::IPC_PREV, prev);
        }
        write_word(t.0 + crate::object::tcb::IPC_PREV, 0);
        write_word(t.0 + crate::object::tcb::IPC_NEXT, 0);
    }
}

pub(crate) fn ep_queue(ep: u64) -> Queue {
    Queue {
        head: ep,
        tail: ep + 8,
    }
}

fn ntfn_queue(n: u64) -> Queue {
    Queue {
        head: n + 8,
        tail: n + 16,
    }
}

// ---- the IPC buffer ----

/// What a frame capability must allow to serve as an IPC buffer: the
/// kernel reads sent words from it and writes received words into it.
pub const BUFFER_RIGHTS: Rights = Rights::READ.union(Rights::WRITE);

/// Physical address of `t`'s IPC buffer, if it has one. `TCB_CONFIGURE`
/// accepts only a 4 KiB frame with [`BUFFER_RIGHTS`]; checked again here,
/// where the memory is used, so no other way into the slot can widen them.
///
/// Read from the stored words (the slot is the kernel's own, filled only by
/// `TCB_CONFIGURE`), as every message pays for it.
fn buffer_pa(t: Tcb) -> Option<u64> {
    let raw = t.ipc_buffer_slot().raw();
    (raw.kind() == Some(CapType::Frame)
        && !raw.is_huge_frame()
        && raw.rights().contains(BUFFER_RIGHTS))
    .then(|| raw.object())
}

/// `t`'s IPC buffer when a message of `len` words reaches into it; `None`
/// for a register-only message, which never looks it up (the buffer is
/// resolved once per message, not once per word).
pub fn buffer_for(t: Tcb, len: usize) -> Option<u64> {
    if len > REGISTER_WORDS {
        buffer_pa(t)
    } else {
        None
    }
}

/// Physical address of message word `i` (4 or more) in the buffer at `b`.
fn message_word_pa(b: u64, i: usize) -> u64 {
    b + (buffer::MESSAGE + i - REGISTER_WORDS) as u64 * 8
}

fn buffer_word(t: Tcb, i: usize) -> u64 {
    buffer_pa(t).map_or(0, |b| read_word(b + i as u64 * 8))
}

// ---- messages ----

/// A message on its way: label, words, and the capabilities it carries.
pub struct Message {
    pub label: u64,
    pub len: usize,
    pub words: [u64; MAX_WORDS],
}

impl Message {
    pub fn new(label: u64) -> Self {
        Message {
            label,
            len: 0,
            words: [0; MAX_WORDS],
        }
    }
}

/// The message `t` is sending: `info` from its `rsi`, words from its
/// registers and IPC buffer. Words the thread has no buffer for are zero.
pub fn gather(t: Tcb, info: MessageInfo) -> Message {
    let mut m = Message::new(info.label());
    m.len = info.words();
    let buf = buffer_for(t, m.len);
    for (i, w) in m.words.iter_mut().take(m.len).enumerate() {
        *w = message_word(t, buf, i);
    }
    m
}

/// Deliver `m` into `t`'s registers and IPC buffer: `rax` 0, `rsi` the
/// message info, `rdi` the badge. Words beyond the registers are dropped
/// if `t` has no IPC buffer (the info says how many arrived).
pub fn deliver(t: Tcb, m: &Message, badge: u64, caps: usize) {
    deliver_words(t, m.label, &m.words[..m.len], badge, caps);
}

/// [`deliver`] for a message given as its label and words.
pub fn deliver_words(t: Tcb, label: u64, words: &[u64], badge: u64, caps: usize) {
    let buf = buffer_for(t, words.len());
    let len = if buf.is_some() {
        words.len().min(MAX_WORDS)
    } else {
        words.len().min(REGISTER_WORDS)
    };
    for (i, &w) in words.iter().take(len).enumerate() {
        match MSG_REGS.get(i) {
            Some(&r) => t.set_reg(r, w),
            None => {
                if let Some(b) = buf {
                    write_word(message_word_pa(b, i), w);
                }
            }
        }
    }
    t.set_reg(Reg::Rax, 0);
    t.set_reg(Reg::Rsi, MessageInfo::new(label, len, caps).encode());
    t.set_reg(Reg::Rdi, badge);
}

/// Word `i` of the message `t` is sending: a register for words 0–3, else
/// from its buffer `buf` ([`buffer_for`]; 0 without one).
pub fn message_word(t: Tcb, buf: Option<u64>, i: usize) -> u64 {
    match MSG_REGS.get(i) {
        Some(&r) => t.reg(r),
        None => buf.map_or(0, |b| read_word(message_word_pa(b, i))),
    }
}

/// The label a receiver reads as "your bound notification fired" is the
/// kernel's alone: a task that could send it could make a server mistake a
/// call (whose reply object it now holds) for a signal.
fn user_label(info: MessageInfo) -> Result<(), Error> {
    if info.label() == NOTIFICATION_LABEL {
        return Err(Error::Range);
    }
    Ok(())
}

/// Set `t`'s system-call result to an error.
pub fn fail(t: Tcb, e: Error) {
    t.set_reg(Reg::Rax, e.to_rax());
}

/// Copy up to `count` capabilities named in `from`'s IPC buffer into the
/// receive slots `to` named in its own; returns how many arrived.
fn transfer_caps(from: Tcb, to: Tcb, count: usize) -> usize {
    let (Some(_), Some(_)) = (buffer_pa(from), buffer_pa(to)) else {
        return 0;
    };
    let recv_cnode = buffer_word(to, buffer::RECV_CNODE);
    if recv_cnode == 0 {
        return 0;
    }
    let Ok(cnode_slot) = cnode::lookup_cap(to, recv_cnode) else {
        return 0;
    };
    let Some(dest) = cnode::CNodeRef::from_cap(&cnode_slot.cap()) else {
        return 0;
    };
    let first = buffer_word(to, buffer::RECV_INDEX);
    let mut done = 0;
    for i in 0..count.min(3) {
        let cptr = buffer_word(from, buffer::SEND_CAPS + i);
        let Ok(src) = cnode::lookup_cap(from, cptr) else {
            break;
        };
        let Some(dst) = first.checked_add(i as u64).and_then(|x| dest.slot(x)) else {
            break;
        };
        if cnode::copy(src, dst, Rights::all(), None).is_err() {
            break;
        }
        done += 1;
    }
    done
}

// ---- endpoints ----

/// What a send is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SendKind {
    Send,
    NonBlocking,
    Call,
}

/// `sender` sends on the endpoint named by `cap` (its message in its
/// registers/buffer as `info` describes).
pub fn send(sender: Tcb, cap: &Cap, info: MessageInfo, kind: SendKind) -> Result<(), Error> {
    let Cap::Endpoint {
        object: ep,
        rights,
        badge,
    } = *cap
    else {
        return Err(Error::WrongType);
    };
    if !rights.contains(Rights::WRITE) {
        return Err(Error::MissingRight);
    }
    if kind == SendKind::Call && !rights.intersects(Rights::GRANT | Rights::GRANT_REPLY) {
        return Err(Error::MissingRight);
    }
    user_label(info)?;
    let grant = rights.contains(Rights::GRANT);
    let q = ep_queue(ep);
    if q.is_dying() {
        return Err(Error::PeerGone);
    }
    if q.tag() == Q_RECEIVERS
        && let Some(receiver) = q.first()
    {
        q.remove(receiver);
        let reply = disarm(receiver);
        let msg = gather(sender, info);
        let caps = if grant {
            transfer_caps(sender, receiver, info.caps())
        } else {
            0
        };
        deliver(receiver, &msg, badge, caps);
        if kind == SendKind::Call {
            bind_reply(reply, sender);
        }
        sched::wake(receiver);
        if kind != SendKind::Call {
            sender.set_reg(Reg::Rax, 0);
        }
        return Ok(());
    }
    if kind == SendKind::NonBlocking {
        return Err(Error::WouldBlock);
    }
    sender.set_state(State::BlockedSend);
    sender.set_blocked_on(ep);
    sender.set_badge(badge);
    sender.set_flag(flags::CALLING, kind == SendKind::Call);
    sender.set_flag(flags::GRANT, grant);
    q.push(sender, Q_SENDERS);
    Ok(())
}

/// The receiver of a `Call` received it with the reply object `reply`
/// (0: none): bind the caller to it and block the caller for the answer.
fn bind_reply(reply: u64, caller: Tcb) {
    if reply == 0 || read_word(reply) != 0 {
        if is_fault_pending(caller) {
            // Nobody can answer this fault: the thread stays stopped as it
            // faulted (resumable with TCB resume), rather than being woken
            // with an error in RAX to run the faulting instruction again.
            caller.set_state(State::Inactive);
        } else {
            // No (free) reply object: the caller can never get an answer.
            fail(caller, Error::PeerGone);
            sched::wake(caller);
        }
        return;
    }
    write_word(reply, caller.0);
    caller.set_state(State::BlockedReply);
    caller.set_blocked_on(reply);
}

/// `receiver` receives on the endpoint `cap`; `reply` is the reply object
/// (physical address, 0 for none) that callers will be bound to.
pub fn recv(receiver: Tcb, cap: &Cap, reply: u64, blocking: bool) -> Result<(), Error> {
    let (ep, rights) = match *cap {
        Cap::Endpoint { object, rights, .. } => (object, rights),
        Cap::Notification { .. } => return wait(receiver, cap, blocking),
        _ => return Err(Error::WrongType),
    };
    if !rights.contains(Rights::READ) {
        return Err(Error::MissingRight);
    }
    if reply != 0 && read_word(reply) != 0 {
        // Still bound to an unanswered caller.
        return Err(Error::IllegalOperation);
    }
    if ep_queue(ep).is_dying() {
        return Err(Error::PeerGone);
    }
    // A signal on the bound notification wins over waiting.
    let bound = receiver.bound_notification();
    if bound != 0 && read_word(bound) != 0 {
        let word = read_word(bound);
        write_word(bound, 0);
        deliver_words(receiver, NOTIFICATION_LABEL, &[], word, 0);
        return Ok(());
    }
    let q = ep_queue(ep);
    if q.tag() == Q_SENDERS
        && let Some(sender) = q.first()
    {
        q.remove(sender);
        take_from(sender, receiver, reply);
        return Ok(());
    }
    if !blocking {
        return Err(Error::WouldBlock);
    }
    arm(receiver, reply);
    receiver.set_state(State::BlockedRecv);
    receiver.set_blocked_on(ep);
    q.push(receiver, Q_RECEIVERS);
    Ok(())
}

/// `receiver` blocks in `Recv` with the reply object `reply` (0: none).
/// The thread's reply field and the object's `server` word name each
/// other until it stops waiting ([`disarm`]) or the object is destroyed
/// ([`reply_destroyed`] clears the thread's field), so a waiting receiver
/// never holds a reply object that is gone.
#[inline(always)]
pub(crate) fn arm(receiver: Tcb, reply: u64) {
    if reply != 0 {
        arm_reply(receiver, reply);
    } else {
        disarm(receiver);
        receiver.set_reply(0);
    }
}

/// [`arm`] with a reply object (`reply` is not 0), for callers that know.
#[inline(always)]
pub(crate) fn arm_reply(receiver: Tcb, reply: u64) {
    debug_assert_ne!(reply, 0);
    disarm(receiver);
    // One waiting receiver per reply object: a previous one loses it.
    let other = read_word(reply + 8);
    if other != 0 {
        displace(Tcb(other), receiver, reply);
    }
    write_word(reply + 8, receiver.0);
    receiver.set_reply(reply);
}

/// [`arm`] found `other` named as the receiver waiting with `reply`: unless
/// that is `receiver` itself, or `other` no longer waits with it, it loses
/// it. Out of line and cold: the usual arm finds nobody.
#[cold]
#[inline(never)]
fn displace(other: Tcb, receiver: Tcb, reply: u64) {
    if other != receiver && other.reply() == reply {
        other.set_reply(0);
    }
}

/// `receiver` stops waiting in `Recv`: undo [`arm`]; returns the reply
/// object it waited with (0: none).
#[inline]
pub(crate) fn disarm(receiver: Tcb) -> u64 {
    let reply = receiver.reply();
    if reply != 0 {
        disarm_from(receiver, reply);
    }
    reply
}

/// [`disarm`] for a caller that has just read `receiver`'s reply object,
/// `reply` (not 0).
#[inline(always)]
pub(crate) fn disarm_from(receiver: Tcb, reply: u64) {
    if read_word(reply + 8) == receiver.0 {
        write_word(reply + 8, 0);
    }
    receiver.set_reply(0);
}

/// Complete a waiting sender's send (or fault) into `receiver`, which
/// receives with the reply object `reply`.
fn take_from(sender: Tcb, receiver: Tcb, reply: u64) {
    if is_fault_pending(sender) {
        deliver_fault(sender, receiver, sender.badge());
    } else {
        let info = MessageInfo::decode(sender.reg(Reg::Rsi)).unwrap_or(MessageInfo::new(0, 0, 0));
        let caps = if sender.has_flag(flags::GRANT) {
            transfer_caps(sender, receiver, info.caps())
        } else {
            0
        };
        deliver(receiver, &gather(sender, info), sender.badge(), caps);
    }
    if sender.has_flag(flags::CALLING) {
        sender.set_flag(flags::CALLING, false);
        bind_reply(reply, sender);
    } else {
        sender.set_reg(Reg::Rax, 0);
        sched::wake(sender);
    }
}

/// Answer the caller bound to the reply object `cap` with `replier`'s
/// message. A fault reply resumes the faulted thread as `fault` describes.
pub fn reply(replier: Tcb, cap: &Cap, info: MessageInfo) -> Result<(), Error> {
    let Cap::Reply { object } = *cap else {
        return Err(Error::WrongType);
    };
    let caller = read_word(object);
    if caller == 0 {
        return Err(Error::IllegalOperation);
    }
    let caller = Tcb(caller);
    user_label(info)?;
    write_word(object, 0);
    let msg = gather(replier, info);
    if is_fault_pending(caller) {
        resume_from_fault(caller, &msg)?;
    } else {
        deliver(caller, &msg, 0, 0);
        sched::wake(caller);
    }
    Ok(())
}

// ---- notifications ----

/// OR the capability's badge (1 if unbadged) into the notification.
/// Returns the thread the signal woke, if one waited on the notification
/// itself; it is Runnable but not yet queued: the caller queues it
/// ([`sched::enqueue`]) or switches straight to it.
pub fn signal(cap: &Cap) -> Result<Option<Tcb>, Error> {
    let Cap::Notification {
        object: n,
        rights,
        badge,
    } = *cap
    else {
        return Err(Error::WrongType);
    };
    if !rights.contains(Rights::WRITE) {
        return Err(Error::MissingRight);
    }
    Ok(signal_word(n, if badge == 0 { 1 } else { badge }))
}

/// Signal notification `n` with `bits` (interrupts will come this way
/// too). A woken waiter is left Runnable but unqueued and returned.
pub fn signal_word(n: u64, bits: u64) -> Option<Tcb> {
    let word = read_word(n) | bits;
    let q = ntfn_queue(n);
    if let Some(waiter) = q.first() {
        q.remove(waiter);
        write_word(n, 0);
        deliver_words(waiter, 0, &[], word, 0);
        waiter.set_state(State::Runnable);
        return Some(waiter);
    }
    let bound = read_word(n + 24);
    if bound != 0 && Tcb(bound).state() == State::BlockedRecv {
        // The bound thread waits on an endpoint: the signal ends that wait
        // (only the wait: the binding stays).
        let t = Tcb(bound);
        ep_queue(t.blocked_on()).remove(t);
        t.set_blocked_on(0);
        disarm(t);
        write_word(n, 0);
        deliver_words(t, NOTIFICATION_LABEL, &[], word, 0);
        sched::wake(t);
        return None;
    }
    write_word(n, word);
    None
}

/// Wait on (or poll) a notification.
pub fn wait(t: Tcb, cap: &Cap, blocking: bool) -> Result<(), Error> {
    let Cap::Notification {
        object: n, rights, ..
    } = *cap
    else {
        return Err(Error::WrongType);
    };
    if !rights.contains(Rights::READ) {
        return Err(Error::MissingRight);
    }
    if ntfn_queue(n).is_dying() {
        return Err(Error::PeerGone);
    }
    let word = read_word(n);
    if word != 0 || !blocking {
        write_word(n, 0);
        deliver_words(t, 0, &[], word, 0);
        return Ok(());
    }
    t.set_state(State::BlockedNotification);
    t.set_blocked_on(n);
    ntfn_queue(n).push(t, 0);
    Ok(())
}

/// Bind notification `cap` to thread `t` (at most one each way).
pub fn bind(t: Tcb, cap: &Cap) -> Result<(), Error> {
    let Cap::Notification {
        object: n, rights, ..
    } = *cap
    else {
        return Err(Error::WrongType);
    };
    if !rights.contains(Rights::READ) {
        return Err(Error::MissingRight);
    }
    if t.bound_notification() != 0 || read_word(n + 24) != 0 || ntfn_queue(n).is_dying() {
        return Err(Error::IllegalOperation);
    }
    t.set_bound_notification(n);
    write_word(n + 24, t.0);
    Ok(())
}

/// Undo [`bind`].
pub fn unbind(t: Tcb) -> Result<(), Error> {
    let n = t.bound_notification();
    if n == 0 {
        return Err(Error::IllegalOperation);
    }
    write_word(n + 24, 0);
    t.set_bound_notification(0);
    Ok(())
}

// ---- faults ----

/// Whether an endpoint capability with `rights` may carry faults: a fault
/// is a `Call` (its handler gets the right to answer and so to set the
/// thread's registers), so it needs what a `Call` needs, as in seL4.
pub fn is_fault_handler(rights: Rights) -> bool {
    rights.contains(Rights::WRITE) && rights.intersects(Rights::GRANT | Rights::GRANT_REPLY)
}

/// Whether `t` is stopped on a fault (its message is kernel-made).
pub(crate) fn is_fault_pending(t: Tcb) -> bool {
    t.reg(Reg::Vector) & FAULT_MARK != 0
}

const FAULT_MARK: u64 = 1 << 63;

/// What became of a fault.
pub enum Raised {
    /// No usable fault endpoint: the caller stops the thread and logs.
    NoHandler,
    /// Queued on the endpoint, or delivered to a handler that now waits in
    /// the run queue.
    Sent,
    /// Delivered to this handler, which nothing runnable outranks: switch
    /// straight to it (the fault fast path).
    SwitchTo(Tcb),
}

/// `t` faulted (registers saved in its TCB; `kind`, `addr` describe it).
/// Send the fault to its fault endpoint as a `Call`.
pub fn raise_fault(t: Tcb, kind: fault::Kind, addr: u64) -> Raised {
    // The stored words of the thread's own fault slot, which only
    // `TCB_CONFIGURE` fills: every fault pays for this lookup.
    let raw = t.fault_ep_slot().raw();
    if raw.kind() != Some(CapType::Endpoint) || !is_fault_handler(raw.rights()) {
        return Raised::NoHandler;
    }
    let (ep, badge) = (raw.object(), raw.w1);
    // Until it is delivered, the fault lives in the TCB: the vector word
    // carries the mark and kind (the entry code rewrites it on the next
    // kernel entry), the fault-address word the address.
    let q = ep_queue(ep);
    if q.is_dying() {
        // As if it had none: the handler's endpoint is going away.
        return Raised::NoHandler;
    }
    let vector = t.reg(Reg::Vector) & 0xffff;
    t.set_reg(Reg::Vector, FAULT_MARK | ((kind as u64) << 16) | vector);
    t.set_fault_addr(addr);
    if q.tag() == Q_RECEIVERS
        && let Some(receiver) = q.first()
    {
        q.remove(receiver);
        let reply = disarm(receiver);
        deliver_fault(t, receiver, badge);
        bind_reply(reply, t);
        if sched::may_switch_to(receiver) {
            receiver.set_state(State::Runnable);
            return Raised::SwitchTo(receiver);
        }
        sched::wake(receiver);
        return Raised::Sent;
    }
    t.set_state(State::BlockedSend);
    t.set_blocked_on(ep);
    t.set_badge(badge);
    t.set_flag(flags::CALLING, true);
    t.set_flag(flags::GRANT, false);
    q.push(t, Q_SENDERS);
    Raised::Sent
}

/// Deliver `t`'s pending fault into `to` as its message: straight from
/// `t`'s saved registers into `to`'s message registers and IPC buffer (the
/// buffer resolved once), with no message assembled in between. Without
/// a buffer only the four register words arrive (the info says so).
fn deliver_fault(t: Tcb, to: Tcb, badge: u64) {
    let kind = (t.reg(Reg::Vector) >> 16) & 0xff;
    for (i, &r) in MSG_REGS.iter().enumerate() {
        to.set_reg(r, t.reg(FAULT_ORDER[i]));
    }
    let len = match buffer_pa(to) {
        Some(b) => {
            let at = |i: usize| message_word_pa(b, i);
            for (i, &r) in FAULT_ORDER.iter().enumerate().skip(REGISTER_WORDS) {
                write_word(at(i), t.reg(r));
            }
            write_word(at(fault::W_ADDR), t.fault_addr());
            write_word(at(fault::W_ERROR), t.reg(Reg::Error));
            write_word(at(fault::W_VECTOR), t.reg(Reg::Vector) & 0xffff);
            fault::WORDS
        }
        None => REGISTER_WORDS,
    };
    to.set_reg(Reg::Rax, 0);
    to.set_reg(Reg::Rsi, MessageInfo::new(kind, len, 0).encode());
    to.set_reg(Reg::Rdi, badge);
}

/// The handler answered `t`'s fault with `m`.
/// Refused (`InvalidAddress`, the thread stays stopped) if the reply sets a
/// non-canonical RIP, FS or GS base.
fn resume_from_fault(t: Tcb, m: &Message) -> Result<(), Error> {
    let vector = t.reg(Reg::Vector) & 0xffff;
    let word0 = m.words.first().copied().filter(|_| m.len > 0);
    if m.label == fault::RESUME_SYSCALL_RESULT
        && let Some(v) = word0
    {
        t.set_reg(Reg::Rax, v);
    }
    if m.label == fault::RESUME_AT
        && let Some(rip) = word0
    {
        if !septum_abi::layout::is_canonical(rip) {
            crate::warn!(
                "fault reply for '{}' refused: non-canonical RIP; thread stays stopped",
                t.name()
            );
            t.set_state(State::Inactive);
            return Err(Error::InvalidAddress);
        }
        t.set_reg(Reg::Rip, rip);
    }
    if m.label == fault::RESUME_WITH_REGS {
        let w = |i: usize| m.words.get(i).copied().filter(|_| i < m.len);
        // Reply word i sets FAULT_ORDER[i].
        let regs = FAULT_ORDER.into_iter().enumerate();
        let rip_ok = w(fault::W_RIP).is_none_or(septum_abi::layout::is_canonical);
        let fs = w(fault::W_FS_BASE);
        let gs = w(fault::W_GS_BASE);
        let bases_ok = fs.is_none_or(septum_abi::layout::is_canonical)
            && gs.is_none_or(septum_abi::layout::is_canonical);
        if !rip_ok || !bases_ok {
            crate::warn!(
                "fault reply for '{}' refused: non-canonical RIP or FS/GS base; thread stays stopped",
                t.name()
            );
            t.set_state(State::Inactive);
            return Err(Error::InvalidAddress);
        }
        for (i, r) in regs {
            if let Some(v) = w(i) {
                t.set_reg(r, v);
            }
        }
        // Each base the reply gives is applied; a 19-word reply sets FS only.
        if fs.is_some() || gs.is_some() {
            t.set_tls(fs.unwrap_or(t.fs_base()), gs.unwrap_or(t.gs_base()));
        }
    }
    t.set_reg(Reg::Vector, vector);
    t.set_flag(flags::FULL_RESTORE, true);
    sched::wake(t);
    Ok(())
}

// ---- undoing waits ----

/// Take `t` out of whatever it waits in.
pub fn cancel(t: Tcb) {
    match t.state() {
        State::BlockedSend | State::BlockedRecv => ep_queue(t.blocked_on()).remove(t),
        State::BlockedNotification => ntfn_queue(t.blocked_on()).remove(t),
        State::BlockedReply => {
            let r = t.blocked_on();
            if r != 0 && read_word(r) == t.0 {
                write_word(r, 0);
            }
        }
        _ => {}
    }
    disarm(t);
    if t.bound_notification() != 0 {
        let _ = unbind(t);
    }
    t.set_blocked_on(0);
}

/// Release every thread waiting in `q`. Returns false if it stopped for a
/// pending interrupt with threads left: a queue is as long as the caller
/// made it (one thread per 2 KiB of its memory), so the release is
/// preemptible. The object stays whole and its last capability stays in
/// place, so the delete that called this runs again and goes on.
#[must_use]
fn release_all(q: Queue) -> bool {
    let mut released = 0u32;
    while let Some(t) = q.first() {
        released += 1;
        if released.is_multiple_of(32) && crate::preempt::pending() {
            return false;
        }
        q.remove(t);
        disarm(t);
        t.set_blocked_on(0);
        t.set_flag(flags::CALLING, false);
        if is_fault_pending(t) {
            // Nobody will answer this fault: the thread stays stopped as it
            // faulted, resumable by its supervisor, instead of running on
            // with an error in RAX it never asked for.
            t.set_state(State::Inactive);
        } else {
            fail(t, Error::PeerGone);
            sched::wake(t);
        }
    }
    true
}

/// The endpoint at `ep` is being destroyed. False: preempted, call again.
#[must_use]
pub fn endpoint_destroyed(ep: u64) -> bool {
    let q = ep_queue(ep);
    q.mark_dying();
    release_all(q)
}

/// The notification at `n` is being destroyed. False: preempted, call
/// again.
#[must_use]
pub fn notification_destroyed(n: u64) -> bool {
    let q = ntfn_queue(n);
    q.mark_dying();
    if !release_all(q) {
        return false;
    }
    let bound = read_word(n + 24);
    if bound != 0 {
        write_word(n + 24, 0);
        Tcb(bound).set_bound_notification(0);
    }
    true
}

/// The reply object at `r` is being destroyed: its caller gets `PeerGone`.
pub fn reply_destroyed(r: u64) {
    // A receiver waiting with it will have none to bind a caller to.
    let server = read_word(r + 8);
    if server != 0 {
        write_word(r + 8, 0);
        if Tcb(server).reply() == r {
            Tcb(server).set_reply(0);
        }
    }
    let caller = read_word(r);
    if caller != 0 {
        let t = Tcb(caller);
        write_word(r, 0);
        if is_fault_pending(t) {
            // Nobody will answer the fault: the thread stays stopped.
            t.set_state(State::Inactive);
        } else {
            fail(t, Error::PeerGone);
            sched::wake(t);
        }
    }
}

/// Slot helper for callers that hold a reply capability pointer.
pub fn reply_object(slot: Slot) -> Result<u64, Error> {
    match slot.cap() {
        Cap::Reply { object } => Ok(object),
        _ => Err(Error::WrongType),
    }
}
