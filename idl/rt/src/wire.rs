//! The wire format: one header word, then the postcard payload packed
//! little-endian into the following words (zero padded).
//!
//! Request header: `ordinal | version << 16 | method << 32 | len << 48`.
//! Reply header: `status | generation << 16 | len << 48`.
//!
//! Everything here is pure and never panics: a decoder given any message
//! (even one whose `len` exceeds its word array) or any bytes returns a
//! [`WireError`]. A decoded header's payload length is within
//! [`PAYLOAD_CAPACITY`] and within the words that arrived, and [`decode`]
//! accepts only an exact encoding with no bytes left over.

use crate::{IDL_LABEL, InterfaceId, PAYLOAD_CAPACITY, Status, WireError};
use septum_abi::ipc::{MAX_CAPS, MAX_WORDS};
use septum_user::ipc::Message;

/// The header word of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    pub ordinal: u16,
    pub version: u16,
    pub method: u16,
    /// Payload length in bytes.
    pub len: u16,
}

impl RequestHeader {
    /// The header word.
    pub const fn encode(self) -> u64 {
        self.ordinal as u64
            | (self.version as u64) << 16
            | (self.method as u64) << 32
            | (self.len as u64) << 48
    }

    /// The fields of a header word (every word has some).
    pub const fn from_word(word: u64) -> Self {
        RequestHeader {
            ordinal: word as u16,
            version: (word >> 16) as u16,
            method: (word >> 32) as u16,
            len: (word >> 48) as u16,
        }
    }
}

/// The header word of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyHeader {
    pub status: Status,
    pub generation: u32,
    /// Payload length in bytes.
    pub len: u16,
}

impl ReplyHeader {
    /// The header word.
    pub const fn encode(self) -> u64 {
        self.status.code() as u64 | (self.generation as u64) << 16 | (self.len as u64) << 48
    }

    /// The fields of a header word; `BadHeader` for an unknown status code.
    pub fn from_word(word: u64) -> Result<Self, WireError> {
        Ok(ReplyHeader {
            status: Status::from_code(word as u16).ok_or(WireError::BadHeader)?,
            generation: (word >> 16) as u32,
            len: (word >> 48) as u16,
        })
    }
}

/// Words a payload of `len` bytes occupies.
const fn payload_words(len: usize) -> usize {
    len.div_ceil(8)
}

/// Serialize `value` into `buf`; returns the number of bytes used.
fn serialize<T: serde::Serialize + ?Sized>(
    value: &T,
    buf: &mut [u8; PAYLOAD_CAPACITY],
) -> Result<usize, WireError> {
    match postcard::to_slice(value, buf) {
        Ok(used) => Ok(used.len()),
        Err(postcard::Error::SerializeBufferFull) => Err(WireError::TooLarge),
        Err(_) => Err(WireError::Malformed),
    }
}

/// Fill `out` with `header` and the payload `bytes` (at most
/// [`PAYLOAD_CAPACITY`]), label [`IDL_LABEL`], no capabilities.
fn pack(header: u64, bytes: &[u8], out: &mut Message) {
    *out = Message::new(IDL_LABEL, &[header]);
    let rest = out.words.iter_mut().skip(1);
    let mut n = 1;
    for (word, chunk) in rest.zip(bytes.chunks(8)) {
        let mut le = [0u8; 8];
        for (d, s) in le.iter_mut().zip(chunk) {
            *d = *s;
        }
        *word = u64::from_le_bytes(le);
        n += 1;
    }
    out.len = n;
}

/// Encode a request for method `method` of `iface` carrying `caps`
/// capabilities (0–3).
pub fn encode_request<T: serde::Serialize>(
    iface: &InterfaceId,
    method: u16,
    args: &T,
    caps: usize,
    out: &mut Message,
) -> Result<(), WireError> {
    if caps > MAX_CAPS {
        return Err(WireError::TooLarge);
    }
    let mut buf = [0u8; PAYLOAD_CAPACITY];
    let len = serialize(args, &mut buf)?;
    let bytes = buf.get(..len).ok_or(WireError::TooLarge)?;
    let header = RequestHeader {
        ordinal: iface.ordinal,
        version: iface.version,
        method,
        len: u16::try_from(len).map_err(|_| WireError::TooLarge)?,
    };
    pack(header.encode(), bytes, out);
    out.caps = caps;
    Ok(())
}

/// Check that `msg` is an IDL message whose header claims `len` payload
/// bytes it actually carries; returns the header word.
fn checked_header(msg: &Message, len_of: fn(u64) -> u16) -> Result<u64, WireError> {
    if msg.label != IDL_LABEL {
        return Err(WireError::WrongLabel);
    }
    if msg.len == 0 || msg.len > MAX_WORDS {
        return Err(WireError::BadHeader);
    }
    let word = *msg.words.first().ok_or(WireError::BadHeader)?;
    let len = usize::from(len_of(word));
    // The exact number of words: an encoder never sends more.
    if len > PAYLOAD_CAPACITY || payload_words(len) + 1 != msg.len {
        return Err(WireError::BadHeader);
    }
    Ok(word)
}

/// The request header of `msg`, checked against the message (label, length).
pub fn decode_request_header(msg: &Message) -> Result<RequestHeader, WireError> {
    checked_header(msg, |w| RequestHeader::from_word(w).len).map(RequestHeader::from_word)
}

/// Encode a reply: `status`, the server's `generation`, and `value` as the
/// payload (`None`: no payload).
pub fn encode_reply<T: serde::Serialize>(
    status: Status,
    generation: u32,
    value: Option<&T>,
    out: &mut Message,
) -> Result<(), WireError> {
    let mut buf = [0u8; PAYLOAD_CAPACITY];
    let len = match value {
        Some(v) => serialize(v, &mut buf)?,
        None => 0,
    };
    let bytes = buf.get(..len).ok_or(WireError::TooLarge)?;
    let header = ReplyHeader {
        status,
        generation,
        len: u16::try_from(len).map_err(|_| WireError::TooLarge)?,
    };
    pack(header.encode(), bytes, out);
    Ok(())
}

/// The reply header of `msg`, checked against the message (label, length,
/// known status).
pub fn decode_reply_header(msg: &Message) -> Result<ReplyHeader, WireError> {
    checked_header(msg, |w| (w >> 48) as u16).and_then(ReplyHeader::from_word)
}

/// The `len` payload bytes of `msg` (copied out of its words into `buf`).
pub fn payload<'a>(
    msg: &Message,
    len: u16,
    buf: &'a mut [u8; PAYLOAD_CAPACITY],
) -> Result<&'a [u8], WireError> {
    let len = usize::from(len);
    let words = msg.len.min(MAX_WORDS).saturating_sub(1);
    if len > PAYLOAD_CAPACITY || payload_words(len) > words {
        return Err(WireError::BadHeader);
    }
    let out = buf.get_mut(..len).ok_or(WireError::BadHeader)?;
    for (chunk, word) in out.chunks_mut(8).zip(msg.words.iter().skip(1)) {
        for (d, s) in chunk.iter_mut().zip(word.to_le_bytes()) {
            *d = s;
        }
    }
    Ok(out)
}

/// Decode a `T` that must take up all of `bytes`.
pub fn decode<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, WireError> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok(_) | Err(_) => Err(WireError::Malformed),
    }
}
