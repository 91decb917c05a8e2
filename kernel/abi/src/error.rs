//! Error codes every system call and invocation may return.
//!
//! A call returns 0 in `rax` on success and the negated code on failure, so a
//! caller tests `rax as i64 < 0`. Codes never change meaning once published.

/// Why a system call or invocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Error {
    /// A user pointer or length does not name readable/writable user memory.
    InvalidAddress = 1,
    /// An argument is out of its allowed range.
    Range = 2,
    /// The system-call number is in Septum's range but names no call.
    UnknownSyscall = 3,
    /// The capability pointer resolves to no slot, or to an empty one.
    InvalidCapability = 4,
    /// The capability is not of the type the operation needs.
    WrongType = 5,
    /// The capability lacks a right the operation needs.
    MissingRight = 6,
    /// An address or size is not aligned as required.
    Alignment = 7,
    /// The untyped memory has no room for the requested objects.
    NotEnoughMemory = 8,
    /// The object's state forbids the operation.
    IllegalOperation = 9,
    /// The destination slot is not empty.
    SlotOccupied = 10,
    /// The untyped still has children.
    RevokeFirst = 11,
    /// A non-blocking operation found nobody to talk to.
    WouldBlock = 12,
    /// The server died or the reply right was deleted.
    PeerGone = 13,
    /// Derivation or capability-space resolution went too deep.
    TooDeep = 14,
}

impl Error {
    /// All codes, for exhaustive tests and decoding.
    pub const ALL: [Error; 14] = [
        Error::InvalidAddress,
        Error::Range,
        Error::UnknownSyscall,
        Error::InvalidCapability,
        Error::WrongType,
        Error::MissingRight,
        Error::Alignment,
        Error::NotEnoughMemory,
        Error::IllegalOperation,
        Error::SlotOccupied,
        Error::RevokeFirst,
        Error::WouldBlock,
        Error::PeerGone,
        Error::TooDeep,
    ];

    /// The value placed in `rax`: the negated code.
    pub const fn to_rax(self) -> u64 {
        (self as u64).wrapping_neg()
    }

    /// Decode a `rax` value: `Ok(v)` for a non-negative result, the error
    /// otherwise (an unknown negative code reads as `Range`).
    #[inline]
    pub fn from_rax(rax: u64) -> Result<u64, Error> {
        if (rax as i64) >= 0 {
            return Ok(rax);
        }
        let code = rax.wrapping_neg();
        Err(Error::ALL
            .into_iter()
            .find(|e| *e as u64 == code)
            .unwrap_or(Error::Range))
    }

    /// A short name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Error::InvalidAddress => "invalid address",
            Error::Range => "out of range",
            Error::UnknownSyscall => "unknown system call",
            Error::InvalidCapability => "invalid capability",
            Error::WrongType => "wrong capability type",
            Error::MissingRight => "missing right",
            Error::Alignment => "misaligned",
            Error::NotEnoughMemory => "not enough untyped memory",
            Error::IllegalOperation => "illegal operation",
            Error::SlotOccupied => "slot occupied",
            Error::RevokeFirst => "revoke first",
            Error::WouldBlock => "would block",
            Error::PeerGone => "peer gone",
            Error::TooDeep => "too deep",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_rax() {
        for e in Error::ALL {
            assert_eq!(Error::from_rax(e.to_rax()), Err(e));
        }
        assert_eq!(Error::from_rax(0), Ok(0));
        assert_eq!(Error::from_rax(42), Ok(42));
    }

    #[test]
    fn codes_are_distinct_and_dense() {
        for (i, e) in Error::ALL.iter().enumerate() {
            assert_eq!(*e as u64, i as u64 + 1, "{e:?} breaks the numbering");
            assert!(!e.name().is_empty());
        }
    }
}
