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
}

impl Error {
    /// All codes, for exhaustive tests and decoding.
    pub const ALL: [Error; 3] = [Error::InvalidAddress, Error::Range, Error::UnknownSyscall];

    /// The value placed in `rax`: the negated code.
    pub const fn to_rax(self) -> u64 {
        (self as u64).wrapping_neg()
    }

    /// Decode a `rax` value: `Ok(v)` for a non-negative result, the error otherwise.
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
}
