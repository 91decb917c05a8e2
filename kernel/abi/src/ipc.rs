//! The message-info word that accompanies every message (`rsi`).
//!
//! | bits  | field                           |
//! |-------|---------------------------------|
//! | 0–6   | length in words (0–[`MAX_WORDS`]) |
//! | 7–8   | capabilities carried (0–3)      |
//! | 9–11  | reserved, zero                  |
//! | 12–63 | label                           |

/// Message words carried in registers (`rdx, r10, r8, r9`): the fast path.
pub const REGISTER_WORDS: usize = 4;
/// Further words carried in the IPC buffer.
pub const BUFFER_WORDS: usize = 64;
/// Most words a message can carry.
pub const MAX_WORDS: usize = REGISTER_WORDS + BUFFER_WORDS;
/// Most capabilities a message can transfer.
pub const MAX_CAPS: usize = 3;
/// Largest label.
pub const MAX_LABEL: u64 = (1 << 52) - 1;

/// Why a message-info word was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoError {
    /// More than [`MAX_WORDS`] words.
    TooLong { words: u64 },
    /// Reserved bits set.
    Reserved { bits: u64 },
}

/// A decoded message-info word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageInfo {
    label: u64,
    words: u8,
    caps: u8,
}

impl MessageInfo {
    /// A message of `words` words and `caps` capabilities; values beyond
    /// the limits are clamped to them, a label beyond 52 bits is cut.
    pub const fn new(label: u64, words: usize, caps: usize) -> Self {
        let words = if words > MAX_WORDS { MAX_WORDS } else { words };
        let caps = if caps > MAX_CAPS { MAX_CAPS } else { caps };
        MessageInfo {
            label: label & MAX_LABEL,
            words: words as u8,
            caps: caps as u8,
        }
    }

    /// The label.
    pub const fn label(self) -> u64 {
        self.label
    }

    /// Number of message words.
    pub const fn words(self) -> usize {
        self.words as usize
    }

    /// Number of capabilities.
    pub const fn caps(self) -> usize {
        self.caps as usize
    }

    /// The register encoding.
    pub const fn encode(self) -> u64 {
        (self.label << 12) | ((self.caps as u64) << 7) | self.words as u64
    }

    /// Decode a register value, refusing what no encoder produces.
    pub const fn decode(raw: u64) -> Result<Self, InfoError> {
        let words = raw & 0x7f;
        if words > MAX_WORDS as u64 {
            return Err(InfoError::TooLong { words });
        }
        let reserved = raw & 0xe00;
        if reserved != 0 {
            return Err(InfoError::Reserved { bits: reserved });
        }
        Ok(MessageInfo {
            label: raw >> 12,
            words: words as u8,
            caps: ((raw >> 7) & 3) as u8,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_and_cap_count_round_trips() {
        for words in 0..=MAX_WORDS {
            for caps in 0..=MAX_CAPS {
                for label in [0, 1, 0x5e97, MAX_LABEL] {
                    let m = MessageInfo::new(label, words, caps);
                    assert_eq!(MessageInfo::decode(m.encode()), Ok(m));
                    assert_eq!((m.label(), m.words(), m.caps()), (label, words, caps));
                }
            }
        }
    }

    #[test]
    fn decode_refuses_what_no_encoder_makes() {
        assert_eq!(
            MessageInfo::decode(69),
            Err(InfoError::TooLong { words: 69 })
        );
        assert_eq!(
            MessageInfo::decode(0x7f),
            Err(InfoError::TooLong { words: 0x7f })
        );
        assert_eq!(
            MessageInfo::decode(1 << 9),
            Err(InfoError::Reserved { bits: 1 << 9 })
        );
        // Every valid word decodes to something that encodes back to it.
        for raw in (0u64..0x1000).chain([!0xfff, 0xffff_f000_0000_0044]) {
            if let Ok(m) = MessageInfo::decode(raw) {
                assert_eq!(m.encode(), raw);
            }
        }
    }

    #[test]
    fn new_clamps() {
        let m = MessageInfo::new(u64::MAX, 1000, 9);
        assert_eq!(
            (m.label(), m.words(), m.caps()),
            (MAX_LABEL, MAX_WORDS, MAX_CAPS)
        );
    }
}

/// Word offsets in the IPC buffer (one page per thread, mapped by the
/// thread's own capability; the kernel reads it through that frame).
pub mod buffer {
    /// Message words 4.. start here (word `i` of the buffer is message word `i + 4`).
    pub const MESSAGE: usize = 0;
    /// Capability pointers of the capabilities to send (up to 3).
    pub const SEND_CAPS: usize = 64;
    /// Receiving: capability pointer of the CNode received capabilities go
    /// into (0: accept none).
    pub const RECV_CNODE: usize = 67;
    /// Receiving: first slot index in that CNode (consecutive slots follow).
    pub const RECV_INDEX: usize = 68;
    /// Words the kernel may touch.
    pub const WORDS: usize = 69;
}

/// Label of a message that delivers a bound notification's word instead of
/// an endpoint message (the word arrives as the badge).
pub const NOTIFICATION_LABEL: u64 = MAX_LABEL;
