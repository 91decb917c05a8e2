//! The pieces of a server loop: receive and check a request, answer it
//! exactly once, and accept the capabilities it carried.
//!
//! Guarantees:
//! - [`next_request`] only returns requests with the IDL label, a
//!   consistent header, and this interface's ordinal and version; it
//!   answers every other message itself (`Malformed`, `WrongInterface`,
//!   `VersionMismatch` with the server's version) and keeps receiving.
//! - Every request is answered once: a [`ReplyToken`] answers when used,
//!   or with `Status::Dropped` when dropped unused, and then returns its
//!   reply object to [`crate::reply_pool`]. Nothing here panics.
//! - Capabilities that arrived with a request live in the three receive
//!   slots only until the next [`next_request`]: it deletes whatever the
//!   previous request left there (a server that wants to keep one must
//!   move it elsewhere while handling the request), so a transfer never
//!   fails for want of an empty slot.
//! - [`take_cap`] hands out a capability only after the kernel confirmed
//!   its type and that its rights contain the required ones.
//! - The loop runs over `ReplyRecv`: an answer given while its request is
//!   being handled is kept and sent by the next [`next_request`] together
//!   with the receive, on the same reply object (one system call, and the
//!   kernel's fast path for short answers). An answer given later — from a
//!   kept token — is sent at once with `Reply`.

use crate::wire::{self, RequestHeader};
use crate::{InterfaceId, PAYLOAD_CAPACITY, Status, WireError, reply_pool};
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU64, Ordering};
use septum_abi::Error;
use septum_abi::ipc::{MAX_CAPS, NOTIFICATION_LABEL};
use septum_user::ipc::{Identity, Ipc, Message};

/// Depth that names a slot of a CNode covering all 64 bits (the root task's
/// shape, and what [`ServerCtx::recv_cnode`] must have).
const DEPTH: u64 = 64;

/// What a server loop needs.
pub struct ServerCtx<'a> {
    pub ipc: &'a mut Ipc,
    /// This server instance's generation (the supervisor gives a new one on
    /// every restart).
    pub generation: u32,
    /// CNode and first slot where capability arguments arrive (3
    /// consecutive slots), reached with depth 64 from the server's root
    /// CNode (as the root task's are). Anything in these slots is deleted
    /// by [`next_request`].
    pub recv_cnode: u64,
    pub recv_first: u64,
}

/// A request the loop received and checked against the interface.
#[derive(Clone, Debug)]
pub struct Request {
    /// The method number (not checked against the interface: the generated
    /// dispatch answers `UnknownMethod`).
    pub method: u16,
    /// The badge of the capability the caller used.
    pub badge: u64,
    /// How many capabilities arrived (in the receive slots, in order).
    pub caps: usize,
    len: u16,
    payload: [u8; PAYLOAD_CAPACITY],
}

impl Request {
    /// Check a received message against `iface`: the status to reject it
    /// with, or the request. Pure; [`next_request`] uses it.
    pub fn from_message(badge: u64, msg: &Message, iface: &InterfaceId) -> Result<Self, Status> {
        let header = wire::decode_request_header(msg).map_err(|_| Status::Malformed)?;
        let RequestHeader {
            ordinal,
            version,
            method,
            len,
        } = header;
        if ordinal != iface.ordinal {
            return Err(Status::WrongInterface);
        }
        if version != iface.version {
            return Err(Status::VersionMismatch);
        }
        let mut payload = [0u8; PAYLOAD_CAPACITY];
        wire::payload(msg, len, &mut payload).map_err(|_| Status::Malformed)?;
        Ok(Request {
            method,
            badge,
            caps: msg.caps.min(MAX_CAPS),
            len,
            payload,
        })
    }

    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        self.payload.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Decode the arguments (the whole payload must be one `T`).
    pub fn args<'a, T: serde::Deserialize<'a>>(&'a self) -> Result<T, WireError> {
        wire::decode(self.payload())
    }
}

/// How many receive slots may hold a capability left from the previous
/// request, per receive area (CNode, first slot). An area not recorded
/// (before its first receive, or when the table is full) counts as all
/// three, so the record only ever saves work, never skips a needed delete.
struct RecvArea {
    cnode: u64,
    first: u64,
    occupied: usize,
}

static RECV_AREAS: spin::Mutex<heapless::Vec<RecvArea, 16>> =
    spin::Mutex::new(heapless::Vec::new());

fn occupied(cnode: u64, first: u64) -> usize {
    RECV_AREAS
        .lock()
        .iter()
        .find(|a| a.cnode == cnode && a.first == first)
        .map_or(MAX_CAPS, |a| a.occupied)
}

fn set_occupied(cnode: u64, first: u64, n: usize) {
    let mut areas = RECV_AREAS.lock();
    match areas
        .iter_mut()
        .find(|a| a.cnode == cnode && a.first == first)
    {
        Some(a) => a.occupied = n,
        None => {
            // A full table leaves the area unrecorded, which is safe.
            let _ = areas.push(RecvArea {
                cnode,
                first,
                occupied: n,
            });
        }
    }
}

/// Delete what the previous request may have left in the receive slots.
fn clear_recv_slots(ctx: &mut ServerCtx<'_>) {
    if ctx.recv_cnode == 0 {
        // The server accepts no capabilities: nothing can have arrived.
        return;
    }
    let n = occupied(ctx.recv_cnode, ctx.recv_first);
    for i in 0..n.min(MAX_CAPS) as u64 {
        if let Some(slot) = ctx.recv_first.checked_add(i) {
            // An empty slot (moved away by the server) is fine.
            let _ = ctx.ipc.cnode_delete(ctx.recv_cnode, (slot, DEPTH));
        }
    }
    set_occupied(ctx.recv_cnode, ctx.recv_first, 0);
}

/// Answer a request the loop refuses, with `status` (and the server's
/// version as the payload of `VersionMismatch`).
fn refuse(ipc: &mut Ipc, reply: u64, status: Status, generation: u32, version: u16) {
    let mut msg = Message::new(0, &[]);
    let encoded = if status == Status::VersionMismatch {
        wire::encode_reply(status, generation, Some(&version), &mut msg)
    } else {
        wire::encode_reply::<()>(status, generation, None, &mut msg)
    };
    if encoded.is_ok() {
        // The caller may be gone already; nothing to do then.
        let _ = ipc.reply(reply, &msg);
    }
}

/// Receive the next request for `iface` on `endpoint`.
///
/// Before each receive it deletes what the previous request left in the
/// receive slots and takes a free reply object from [`reply_pool`]. Bad
/// messages are answered here (`Malformed`, `WrongInterface`,
/// `VersionMismatch`) and the loop receives again; so does a failed receive
/// (after a yield). Returns the request with an untyped token, which the
/// generated dispatch casts once it knows the method.
///
/// If the pool is empty — every reply object is held by a deferred token —
/// a `Call` cannot be answered: the loop receives with no reply object, so
/// the kernel releases that caller at once with `PeerGone`, and keeps
/// receiving. A server that defers must give the pool enough reply objects.
///
/// A notification bound to the server thread is consumed and ignored here;
/// [`next_event`] returns it instead.
pub fn next_request(
    ctx: &mut ServerCtx<'_>,
    endpoint: u64,
    iface: &InterfaceId,
) -> (Request, ReplyToken<(), ()>) {
    loop {
        if let Event::Request(req, token) = next_event(ctx, endpoint, iface) {
            return (req, token);
        }
    }
}

/// What a server loop receives: a request, or the word of the
/// notification bound to its thread (its badges ORed together: an
/// interrupt, or a signal from another task).
// No heap to box into; the value is matched and moved at once, as the
// `(Request, ReplyToken)` pair `next_request` returns always was.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Event {
    Request(Request, ReplyToken<(), ()>),
    Notified(u64),
}

/// As [`next_request`], but a notification bound to the server thread is
/// returned as [`Event::Notified`] rather than ignored: a driver waits for
/// its interrupts and its clients' calls in one receive (seL4's bound
/// notifications; Microkit's `notified`).
pub fn next_event(ctx: &mut ServerCtx<'_>, endpoint: u64, iface: &InterfaceId) -> Event {
    loop {
        clear_recv_slots(ctx);
        ctx.ipc.set_recv_slots(ctx.recv_cnode, ctx.recv_first);
        // The answer to the request handled last, if it was given while it
        // was being handled, goes out with this receive: one `ReplyRecv`,
        // reusing its reply object for the next caller.
        let staged = STAGED.lock().take();
        CURRENT.store(0, Ordering::Relaxed);
        let (reply, result) = match staged {
            Some(s) => match ctx.ipc.reply_recv(endpoint, s.reply, &s.msg) {
                // The caller vanished before the answer: just receive.
                Err(Error::PeerGone | Error::IllegalOperation) => {
                    (Some(s.reply), ctx.ipc.recv(endpoint, s.reply))
                }
                r => (Some(s.reply), r),
            },
            None => {
                let reply = reply_pool::take();
                (reply, ctx.ipc.recv(endpoint, reply.unwrap_or(0)))
            }
        };
        let received = match result {
            Ok(r) => r,
            Err(e) => {
                // `IllegalOperation`: the reply object is still bound to a
                // caller. Nothing here keeps one bound on purpose (a kept
                // token holds its object outside the pool), so that caller
                // is stale: release it rather than lose the object.
                if let Some(r) = reply {
                    if e == Error::IllegalOperation {
                        reply_header_only(r, Status::Dropped, ctx.generation);
                    }
                    reply_pool::give(r);
                }
                septum_user::syscall::yield_now();
                continue;
            }
        };
        set_occupied(
            ctx.recv_cnode,
            ctx.recv_first,
            received.msg.caps.min(MAX_CAPS),
        );
        if received.msg.label == NOTIFICATION_LABEL {
            // A bound notification fired. (The kernel refuses this label on
            // tasks' messages; should a caller be bound anyway, it is
            // answered rather than left holding the reply object.) Checked
            // before the reply object: with every object held by kept
            // tokens the loop receives without one, and the signal must
            // still reach the server (a driver's interrupt would be lost).
            if let Some(reply) = reply {
                reply_header_only(reply, Status::Dropped, ctx.generation);
                reply_pool::give(reply);
            }
            return Event::Notified(received.badge);
        }
        let Some(reply) = reply else {
            continue;
        };
        match Request::from_message(received.badge, &received.msg, iface) {
            Ok(req) => {
                CURRENT.store(reply, Ordering::Relaxed);
                CALLER_BADGE.store(req.badge, Ordering::Relaxed);
                return Event::Request(req, ReplyToken::new(reply, ctx.generation));
            }
            Err(status) => {
                refuse(ctx.ipc, reply, status, ctx.generation, iface.version);
                reply_pool::give(reply);
            }
        }
    }
}

/// Where a token's full answer goes: the IPC buffer in a server, a
/// recorder in the tests.
trait Transport {
    /// Send the answer now.
    fn reply(&mut self, reply: u64, msg: &Message);
    /// Keep the answer for the loop's next `ReplyRecv` instead; false if it
    /// must be sent now.
    fn stage(&mut self, _reply: u64, _msg: &Message) -> bool {
        false
    }
}

impl Transport for Ipc {
    fn reply(&mut self, reply: u64, msg: &Message) {
        // The caller may be gone already (PeerGone); nothing to do then.
        let _ = Ipc::reply(self, reply, msg);
    }

    fn stage(&mut self, reply: u64, msg: &Message) -> bool {
        // Only the request being handled right now, and only one answer:
        // a kept (deferred) token answers at once when it is used.
        let mut staged = STAGED.lock();
        if reply == 0 || CURRENT.load(Ordering::Relaxed) != reply || staged.is_some() {
            return false;
        }
        *staged = Some(Staged { reply, msg: *msg });
        true
    }
}

/// An answer waiting for the loop's next `ReplyRecv`.
struct Staged {
    reply: u64,
    msg: Message,
}

static STAGED: spin::Mutex<Option<Staged>> = spin::Mutex::new(None);
/// Reply object of the request the loop handed out last (0: none).
static CURRENT: AtomicU64 = AtomicU64::new(0);
/// Badge of the request the loop handed out last.
static CALLER_BADGE: AtomicU64 = AtomicU64::new(0);

/// The badge of the request handed out last: who is calling, for a server
/// method that keeps state per client (the generated trait's methods get
/// their arguments, not the badge).
pub fn caller_badge() -> u64 {
    CALLER_BADGE.load(Ordering::Relaxed)
}

/// A register-only reply carrying just a header: needs no IPC buffer, so
/// `Drop` and [`ReplyToken::status`] can send it.
#[cfg(not(test))]
fn reply_header_only(reply: u64, status: Status, generation: u32) {
    use septum_abi::ipc::MessageInfo;
    use septum_abi::syscall as nr;
    let header = wire::ReplyHeader {
        status,
        generation,
        len: 0,
    };
    let info = MessageInfo::new(crate::IDL_LABEL, 1, 0).encode();
    // The caller may be gone already; nothing to do then.
    let _ = septum_user::syscall::raw(nr::REPLY, reply, info, [header.encode(), 0, 0, 0], 0);
}

#[cfg(test)]
fn reply_header_only(reply: u64, status: Status, generation: u32) {
    tests::RAW_REPLIES.with(|r| r.borrow_mut().push((reply, status, generation)));
}

/// The one-shot right to answer one request. Not Clone; must be used.
/// Dropping it unanswered sends `Status::Dropped` (register-only reply;
/// never panics). Either way its reply object goes back to the pool.
#[must_use = "a request must be answered; dropping the token answers with Status::Dropped"]
pub struct ReplyToken<R, E> {
    /// `None` once answered (or moved into a cast token).
    reply: Option<u64>,
    generation: u32,
    _types: PhantomData<fn(R, E)>,
}

impl<R, E> core::fmt::Debug for ReplyToken<R, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReplyToken")
            .field("reply", &self.reply)
            .field("generation", &self.generation)
            .finish()
    }
}

impl<R, E> ReplyToken<R, E> {
    fn new(reply: u64, generation: u32) -> Self {
        ReplyToken {
            reply: Some(reply),
            generation,
            _types: PhantomData,
        }
    }

    /// Answer with a transport status (`UnknownMethod`, `BadCapability`,
    /// …) and no payload; used by generated code. (`VersionMismatch` sent
    /// this way lacks its payload and reads as a bad reply to the client.)
    pub fn status(mut self, status: Status) {
        if let Some(reply) = self.reply.take() {
            reply_header_only(reply, status, self.generation);
            reply_pool::give(reply);
        }
    }

    /// Re-type an untyped token once the method is known (generated code).
    pub fn cast<R2, E2>(mut self) -> ReplyToken<R2, E2> {
        ReplyToken {
            reply: self.reply.take(),
            generation: self.generation,
            _types: PhantomData,
        }
    }

    /// The server generation the answer will carry.
    pub fn generation(&self) -> u32 {
        self.generation
    }
}

impl<R: serde::Serialize, E: serde::Serialize> ReplyToken<R, E> {
    /// Answer `Status::Ok` with `value`.
    pub fn ok(self, ipc: &mut Ipc, value: R) {
        self.finish(ipc, Ok(value));
    }

    /// Answer `Status::MethodError` with `error`.
    pub fn err(self, ipc: &mut Ipc, error: E) {
        self.finish(ipc, Err(error));
    }

    /// Answer with `result`.
    pub fn send(self, ipc: &mut Ipc, result: Result<R, E>) {
        self.finish(ipc, result);
    }

    fn finish<T: Transport>(mut self, transport: &mut T, result: Result<R, E>) {
        let Some(reply) = self.reply.take() else {
            return;
        };
        let generation = self.generation;
        let mut msg = Message::new(0, &[]);
        let encoded = match &result {
            Ok(v) => wire::encode_reply(Status::Ok, generation, Some(v), &mut msg),
            Err(e) => wire::encode_reply(Status::MethodError, generation, Some(e), &mut msg),
        };
        if encoded.is_err() {
            // Cannot happen for generated types (their sizes are checked at
            // build time); the caller still gets an answer.
            let _ = wire::encode_reply::<()>(Status::Dropped, generation, None, &mut msg);
        }
        if !transport.stage(reply, &msg) {
            transport.reply(reply, &msg);
            reply_pool::give(reply);
        }
    }
}

impl<R, E> Drop for ReplyToken<R, E> {
    fn drop(&mut self) {
        if let Some(reply) = self.reply.take() {
            reply_header_only(reply, Status::Dropped, self.generation);
            reply_pool::give(reply);
        }
    }
}

/// A received capability argument, checked against the declared kind and
/// rights.
///
/// `cptr` is its receive slot's index in [`ServerCtx::recv_cnode`] (a cptr
/// when that is the root CNode, the usual case). It stays there only until
/// the next [`next_request`], which deletes it: move it elsewhere to keep it.
#[derive(Debug)]
pub struct CapArg<K> {
    pub cptr: u64,
    _k: PhantomData<K>,
}

impl<K> CapArg<K> {
    /// Its capability pointer.
    pub fn cptr(&self) -> u64 {
        self.cptr
    }
}

/// Marker types for capability kinds, with the type code
/// `CNODE_IDENTIFY` reports for each.
pub mod kind {
    macro_rules! kinds {
        ($($name:ident = $code:expr),* $(,)?) => {$(
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub struct $name;
            impl $name {
                /// The type code identify reports for this kind.
                pub const TYPE_CODE: u64 = $code;
            }
        )*};
    }
    use septum_abi::object::cap_type as code;
    kinds! {
        Untyped = code::UNTYPED,
        CNode = code::CNODE,
        Tcb = code::TCB,
        Endpoint = code::ENDPOINT,
        Notification = code::NOTIFICATION,
        Reply = code::REPLY,
        PageTable = code::PAGE_TABLE,
        Frame = code::FRAME,
    }
}

/// Capability rights bits, as identify reports them and `cap<Kind, rights>`
/// names them.
pub use septum_abi::object::rights;

/// Whether an identified capability has type `type_code` and at least the
/// `rights` bits.
fn identity_fits(id: &Identity, type_code: u64, rights: u64) -> bool {
    id.cap_type == type_code && id.rights & rights == rights
}

/// Check received capability `index` (`CNODE_IDENTIFY` on its receive
/// slot) against `type_code` and the `rights` bits it must have. On success
/// it is the caller's until the next [`next_request`] (see [`CapArg`]).
pub fn take_cap<K>(
    ctx: &mut ServerCtx<'_>,
    req: &Request,
    index: u8,
    type_code: u64,
    rights: u64,
) -> Result<CapArg<K>, Status> {
    if usize::from(index) >= req.caps.min(MAX_CAPS) {
        return Err(Status::BadCapability);
    }
    let slot = ctx
        .recv_first
        .checked_add(u64::from(index))
        .ok_or(Status::BadCapability)?;
    let id = ctx
        .ipc
        .cnode_identify(ctx.recv_cnode, (slot, DEPTH))
        .map_err(|_| Status::BadCapability)?;
    if !identity_fits(&id, type_code, rights) {
        return Err(Status::BadCapability);
    }
    Ok(CapArg {
        cptr: slot,
        _k: PhantomData,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::sync::Mutex;
    use std::vec::Vec;

    std::thread_local! {
        pub(super) static RAW_REPLIES: RefCell<Vec<(u64, Status, u32)>> = const { RefCell::new(Vec::new()) };
    }

    /// The pool is one per process; tests that use it take turns.
    static POOL_LOCK: Mutex<()> = Mutex::new(());

    #[derive(Default)]
    struct Recorder(Vec<(u64, Message)>);

    impl Transport for Recorder {
        fn reply(&mut self, reply: u64, msg: &Message) {
            self.0.push((reply, *msg));
        }
    }

    fn raw_replies() -> Vec<(u64, Status, u32)> {
        RAW_REPLIES.with(|r| r.borrow_mut().drain(..).collect())
    }

    #[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    enum Oops {
        Bad,
    }

    fn setup() -> std::sync::MutexGuard<'static, ()> {
        let guard = POOL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        reply_pool::init(&[]);
        raw_replies();
        guard
    }

    #[test]
    fn answered_token_does_not_answer_again_on_drop() {
        let _g = setup();
        let mut rec = Recorder::default();
        let t: ReplyToken<u32, Oops> = ReplyToken::new(7, 3);
        t.finish(&mut rec, Ok(42));
        assert_eq!(rec.0.len(), 1);
        assert!(
            raw_replies().is_empty(),
            "drop must not answer a second time"
        );
        let (reply, msg) = rec.0[0];
        assert_eq!(reply, 7);
        let mut generation = None;
        assert_eq!(
            crate::interpret_reply::<u32, Oops>(&msg, &mut generation),
            Ok(42)
        );
        assert_eq!(generation, Some(3));
        assert_eq!(reply_pool::take(), Some(7));
        assert_eq!(reply_pool::take(), None);
    }

    #[test]
    fn method_error_reaches_the_client() {
        let _g = setup();
        let mut rec = Recorder::default();
        ReplyToken::<u32, Oops>::new(9, 1).finish(&mut rec, Err(Oops::Bad));
        let mut generation = Some(1);
        assert_eq!(
            crate::interpret_reply::<u32, Oops>(&rec.0[0].1, &mut generation),
            Err(crate::CallError::Method(Oops::Bad))
        );
        assert!(raw_replies().is_empty());
    }

    #[test]
    fn too_large_answer_becomes_dropped() {
        let _g = setup();
        let mut rec = Recorder::default();
        let big = [7u8; 600];
        ReplyToken::<&[u8], ()>::new(5, 2).finish(&mut rec, Ok(&big[..]));
        let mut generation = None;
        assert_eq!(
            crate::interpret_reply::<(), ()>(&rec.0[0].1, &mut generation),
            Err(crate::CallError::Dropped)
        );
        assert_eq!(reply_pool::available(), 1);
    }

    #[test]
    fn dropped_token_answers_dropped_once_and_returns_its_reply_object() {
        let _g = setup();
        let t: ReplyToken<(), ()> = ReplyToken::new(11, 4);
        drop(t);
        assert_eq!(raw_replies(), [(11, Status::Dropped, 4)]);
        assert_eq!(reply_pool::take(), Some(11));
    }

    #[test]
    fn status_answers_once() {
        let _g = setup();
        ReplyToken::<(), ()>::new(12, 5).status(Status::UnknownMethod);
        assert_eq!(raw_replies(), [(12, Status::UnknownMethod, 5)]);
        assert_eq!(reply_pool::available(), 1);
    }

    #[test]
    fn cast_moves_the_right_to_answer() {
        let _g = setup();
        let t: ReplyToken<(), ()> = ReplyToken::new(13, 6);
        let typed: ReplyToken<u8, Oops> = t.cast();
        assert!(raw_replies().is_empty(), "the cast must not answer");
        assert_eq!(reply_pool::available(), 0);
        assert_eq!(typed.generation(), 6);
        drop(typed);
        assert_eq!(raw_replies(), [(13, Status::Dropped, 6)]);
        assert_eq!(reply_pool::available(), 1);
    }

    #[test]
    fn identity_check_wants_type_and_all_rights() {
        let id = Identity {
            cap_type: kind::Notification::TYPE_CODE,
            rights: rights::READ | rights::WRITE,
            badge: 0,
            extra: 0,
            mapped: false,
            vaddr: 0,
        };
        assert!(identity_fits(&id, 5, rights::WRITE));
        assert!(identity_fits(&id, 5, 0));
        assert!(identity_fits(&id, 5, rights::READ | rights::WRITE));
        assert!(!identity_fits(&id, 5, rights::GRANT));
        assert!(!identity_fits(&id, 5, rights::WRITE | rights::GRANT));
        assert!(!identity_fits(&id, kind::Endpoint::TYPE_CODE, 0));
    }

    #[test]
    fn recv_area_record_never_skips_an_unknown_area() {
        let _g = setup();
        assert_eq!(occupied(0xdead, 1), MAX_CAPS);
        set_occupied(0xdead, 1, 0);
        assert_eq!(occupied(0xdead, 1), 0);
        set_occupied(0xdead, 1, 2);
        assert_eq!(occupied(0xdead, 1), 2);
        assert_eq!(occupied(0xdead, 2), MAX_CAPS);
    }
}
