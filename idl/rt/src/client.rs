//! The client side of a call: encode, `Call` the server's endpoint, and
//! interpret the reply.
//!
//! Guarantees: a reply is believed only if it has the IDL label, a
//! consistent header and a payload that decodes exactly to the expected
//! type; anything else is [`CallError::BadReply`]. A reply from a server
//! generation other than the one the client first saw is reported as
//! [`CallError::ServerRestarted`] and not decoded further, so a client never
//! mistakes a restarted server's answer for a continuation of its session.
//! The interpretation is the pure function [`interpret_reply`].

use crate::{CallError, InterfaceId, PAYLOAD_CAPACITY, Status, WireError, wire};
use septum_abi::ipc::MAX_CAPS;
use septum_user::ipc::{Ipc, Message};

/// A client of one server endpoint.
#[derive(Clone, Copy, Debug)]
pub struct Client {
    endpoint: u64,
    iface: InterfaceId,
    generation: Option<u32>,
}

impl Client {
    /// A client of `iface` served on `endpoint` (a capability with write and
    /// grant-reply, plus grant if methods transfer capabilities).
    pub const fn new(endpoint: u64, iface: InterfaceId) -> Self {
        Client {
            endpoint,
            iface,
            generation: None,
        }
    }

    /// One call. `caps`: cptrs of capability arguments (transferred in
    /// order, at most 3). The first reply fixes the server's generation; a
    /// different one later yields `ServerRestarted` and the call is not
    /// retried (the server may or may not have acted on it).
    pub fn call<A, R, E>(
        &mut self,
        ipc: &mut Ipc,
        method: u16,
        args: &A,
        caps: &[u64],
    ) -> Result<R, CallError<E>>
    where
        A: serde::Serialize,
        R: serde::de::DeserializeOwned,
        E: serde::de::DeserializeOwned,
    {
        if caps.len() > MAX_CAPS {
            return Err(CallError::TooLarge);
        }
        let mut msg = Message::new(0, &[]);
        wire::encode_request(&self.iface, method, args, caps.len(), &mut msg).map_err(
            |e| match e {
                WireError::TooLarge => CallError::TooLarge,
                _ => CallError::Malformed,
            },
        )?;
        if !caps.is_empty() {
            ipc.set_send_caps(caps);
        }
        let reply = ipc.call(self.endpoint, &msg).map_err(CallError::Kernel)?;
        interpret_reply(&reply.msg, &mut self.generation)
    }

    /// Accept a restarted server's generation (after `ServerRestarted`, once
    /// the client has re-established whatever state the server lost).
    pub fn reconnect(&mut self, generation: u32) {
        self.generation = Some(generation);
    }

    /// The server generation this client is talking to, once known.
    pub fn generation(&self) -> Option<u32> {
        self.generation
    }

    /// The server's endpoint.
    pub fn endpoint(&self) -> u64 {
        self.endpoint
    }

    /// The interface this client speaks.
    pub fn interface(&self) -> InterfaceId {
        self.iface
    }
}

/// What a reply message means for a call expecting `R` or error `E`.
///
/// `generation` is the client's record of the server's generation: `None`
/// is set from this reply; a different recorded value makes the reply
/// `ServerRestarted` (the record is left unchanged).
pub fn interpret_reply<R, E>(msg: &Message, generation: &mut Option<u32>) -> Result<R, CallError<E>>
where
    R: serde::de::DeserializeOwned,
    E: serde::de::DeserializeOwned,
{
    let header = wire::decode_reply_header(msg).map_err(|_| CallError::BadReply)?;
    match *generation {
        None => *generation = Some(header.generation),
        Some(g) if g != header.generation => {
            return Err(CallError::ServerRestarted {
                generation: header.generation,
            });
        }
        Some(_) => {}
    }
    let mut buf = [0u8; PAYLOAD_CAPACITY];
    let bytes = wire::payload(msg, header.len, &mut buf).map_err(|_| CallError::BadReply)?;
    match header.status {
        Status::Ok => wire::decode(bytes).map_err(|_| CallError::BadReply),
        Status::MethodError => match wire::decode(bytes) {
            Ok(e) => Err(CallError::Method(e)),
            Err(_) => Err(CallError::BadReply),
        },
        Status::VersionMismatch => match wire::decode::<u16>(bytes) {
            Ok(server) => Err(CallError::VersionMismatch { server }),
            Err(_) => Err(CallError::BadReply),
        },
        other => Err(CallError::from_status(other).unwrap_or(CallError::BadReply)),
    }
}
