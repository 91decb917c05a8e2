//! The IDL runtime: what code generated from `idl/*.idl` stands on.
//!
//! It owns the wire format ([`wire`]), the client side of a call
//! ([`Client`]), the pieces of a server loop ([`next_request`],
//! [`ReplyToken`], [`take_cap`], [`reply_pool`]) and bulk data through
//! shared memory ([`Shared`], [`Region`]). `idl/CONTRACT.md` is the binding
//! description; this crate implements its "Runtime API" section.
//!
//! Guarantees:
//! - Nothing here panics on what a peer sends: every decoder checks lengths
//!   and bounds and returns an error instead, and arithmetic on sizes is
//!   checked. (The property tests feed millions of random inputs.)
//! - A request is answered exactly once: a [`ReplyToken`] is not `Clone`,
//!   is `#[must_use]`, and answers `Status::Dropped` if it is dropped
//!   unanswered.
//! - A client notices a server restart: every reply carries the server's
//!   generation and [`Client::call`] refuses a reply from a different one.
//! - The only `unsafe` is in [`Shared`], the window onto memory another task
//!   also maps.
#![no_std]
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(test)]
extern crate std;

mod client;
pub mod reply_pool;
mod server;
mod shared;
pub mod wire;

pub use client::{Client, interpret_reply};
pub use server::{
    CapArg, Event, ReplyToken, Request, ServerCtx, caller_badge, kind, next_event, next_request,
    rights, take_cap,
};
pub use shared::Shared;

/// Kernel label of every IDL message, request or reply.
pub const IDL_LABEL: u64 = 0x1d1;

/// Payload bytes one message carries: every word but the header, 8 bytes each.
pub const PAYLOAD_CAPACITY: usize = (septum_abi::ipc::MAX_WORDS - 1) * 8;

const _: () = assert!(PAYLOAD_CAPACITY == 536);
// The header's length field is a u16.
const _: () = assert!(PAYLOAD_CAPACITY <= u16::MAX as usize);

/// Identity of an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterfaceId {
    pub name: &'static str,
    pub ordinal: u16,
    pub version: u16,
}

/// The outcome a reply reports, in the reply header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Status {
    /// The payload is the method's result.
    Ok = 0,
    /// The payload is the method's error enum.
    MethodError = 1,
    /// The server could not decode the request.
    Malformed = 2,
    /// The interface has no method with that number.
    UnknownMethod = 3,
    /// The payload is the server's version (a postcard `u16`).
    VersionMismatch = 4,
    /// The request named another interface's ordinal.
    WrongInterface = 5,
    /// The server dropped the reply token without answering.
    Dropped = 6,
    /// A capability argument was missing or of the wrong type or rights.
    BadCapability = 7,
}

impl Status {
    /// Every status, in code order.
    pub const ALL: [Status; 8] = [
        Status::Ok,
        Status::MethodError,
        Status::Malformed,
        Status::UnknownMethod,
        Status::VersionMismatch,
        Status::WrongInterface,
        Status::Dropped,
        Status::BadCapability,
    ];

    /// The wire code.
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The status with wire code `code`, if there is one.
    pub fn from_code(code: u16) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// What went wrong with a call, from the client's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError<E> {
    /// The method's own error.
    Method(E),
    /// The IPC itself failed (e.g. `PeerGone`, `InvalidCapability`).
    Kernel(septum_abi::Error),
    /// The server could not decode our request (or we could not encode it).
    Malformed,
    /// We could not decode the server's reply.
    BadReply,
    UnknownMethod,
    VersionMismatch {
        server: u16,
    },
    WrongInterface,
    /// The server dropped the request unanswered.
    Dropped,
    BadCapability,
    /// The server's generation changed: call [`Client::reconnect`] and retry.
    ServerRestarted {
        generation: u32,
    },
    /// The request did not fit (cannot happen for generated stubs: their
    /// sizes are checked at build time).
    TooLarge,
}

impl<E> CallError<E> {
    /// The error a payload-less status stands for; `None` for the statuses
    /// whose meaning needs their payload (`Ok`, `MethodError`,
    /// `VersionMismatch`).
    pub fn from_status(status: Status) -> Option<Self> {
        match status {
            Status::Ok | Status::MethodError | Status::VersionMismatch => None,
            Status::Malformed => Some(CallError::Malformed),
            Status::UnknownMethod => Some(CallError::UnknownMethod),
            Status::WrongInterface => Some(CallError::WrongInterface),
            Status::Dropped => Some(CallError::Dropped),
            Status::BadCapability => Some(CallError::BadCapability),
        }
    }
}

/// Why a message could not be encoded or decoded. Never a panic: malformed
/// input is always one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// The value does not fit in [`PAYLOAD_CAPACITY`] bytes (or more than 3
    /// capabilities were named).
    TooLarge,
    /// The payload is not a valid encoding of the expected type, has bytes
    /// left over, or (for [`Shared`]) a region lies outside the window.
    Malformed,
    /// The message's label is not [`IDL_LABEL`].
    WrongLabel,
    /// The header is inconsistent with the message (unknown status, payload
    /// length beyond the capacity or the words that arrived).
    BadHeader,
}

/// The error type of a method declared without `!`: no value exists, so
/// `CallError<NoError>::Method` can never occur.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NoError {}

/// Bulk data: a range of the shared memory a client and server agreed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Region {
    pub offset: u32,
    pub len: u32,
}
