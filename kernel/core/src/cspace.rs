//! Capability addresses: resolving a capability pointer to a slot.
//!
//! A task's capability space is a tree of CNodes. A pointer (`cptr`) is
//! read from its most significant used bit down: at each CNode the next
//! `guard_bits` bits must equal the CNode's guard, and the following
//! `radix` bits index its slots. If bits remain and the slot holds another
//! CNode, resolution continues there. `depth` says how many low bits of the
//! pointer count (1 to 64). Every step consumes at least one bit, so a walk
//! has at most 64 steps whatever the capability space looks like; a cycle
//! of CNodes cannot hang the kernel.

use crate::cap::{Cap, RawCap};
use core::fmt;

/// Access to slots, as the kernel stores them.
pub trait Slots {
    /// Names a slot (the kernel uses its physical address).
    type Slot: Copy + fmt::Debug;
    /// The slot at `index` of the CNode object at `object` (index is below
    /// 2^radix, which the caller has checked).
    fn slot(&self, object: u64, index: u64) -> Self::Slot;
    /// What the slot holds.
    fn read(&self, slot: Self::Slot) -> RawCap;
}

/// A resolved slot and the pointer bits left unused when resolution
/// stopped at a non-CNode capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found<S> {
    pub slot: S,
    pub bits_left: u32,
}

/// Why a pointer names no slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// The depth is 0 or above 64.
    BadDepth { depth: u32 },
    /// The root capability is not a CNode.
    RootNotCNode,
    /// The guard of the CNode reached with `bits_left` bits did not match.
    GuardMismatch {
        bits_left: u32,
        guard_bits: u8,
        guard: u64,
        found: u64,
    },
    /// A CNode needed more bits than were left.
    DepthMismatch { bits_left: u32, needed: u32 },
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LookupError::BadDepth { depth } => write!(f, "depth {depth} is not within 1..=64"),
            LookupError::RootNotCNode => write!(f, "the root of the capability space is no CNode"),
            LookupError::GuardMismatch {
                bits_left,
                guard_bits,
                guard,
                found,
            } => write!(
                f,
                "guard mismatch with {bits_left} bits left: CNode wants {guard:#x} in {guard_bits} bits, pointer has {found:#x}"
            ),
            LookupError::DepthMismatch { bits_left, needed } => {
                write!(
                    f,
                    "a CNode needs {needed} bits but only {bits_left} are left"
                )
            }
        }
    }
}

/// `len` bits of `value` ending just below bit `end` (`end` ≤ 64).
fn bits(value: u64, end: u32, len: u32) -> u64 {
    if len == 0 {
        return 0;
    }
    let shifted = if end >= 64 {
        value
    } else {
        value & ((1u64 << end) - 1)
    };
    let low = end - len;
    let v = shifted >> low;
    if len >= 64 {
        v
    } else {
        v & ((1u64 << len) - 1)
    }
}

/// Resolve the low `depth` bits of `cptr` starting at the CNode `root`.
///
/// Stops when the bits are used up, or early at a slot that does not hold
/// a CNode ([`Found::bits_left`] > 0). Callers that name a slot to write
/// into require `bits_left == 0`; invocations accept any.
pub fn resolve<S: Slots>(
    slots: &S,
    root: &RawCap,
    cptr: u64,
    depth: u32,
) -> Result<Found<S::Slot>, LookupError> {
    if depth == 0 || depth > 64 {
        return Err(LookupError::BadDepth { depth });
    }
    // `decode_trusted`: slots are the kernel's; the fields a lookup relies
    // on (radix >= 1, radix + guard bits <= 64) are still checked.
    let Ok(Cap::CNode {
        mut object,
        mut radix,
        mut guard_bits,
        mut guard,
    }) = root.decode_trusted()
    else {
        return Err(LookupError::RootNotCNode);
    };
    let mut left = depth;
    loop {
        // A decoded CNode has radix >= 1 and radix + guard_bits <= 64.
        let needed = u32::from(radix) + u32::from(guard_bits);
        if needed > left {
            return Err(LookupError::DepthMismatch {
                bits_left: left,
                needed,
            });
        }
        let found = bits(cptr, left, guard_bits.into());
        if found != guard {
            return Err(LookupError::GuardMismatch {
                bits_left: left,
                guard_bits,
                guard,
                found,
            });
        }
        let index = bits(cptr, left - u32::from(guard_bits), radix.into());
        let slot = slots.slot(object, index);
        left -= needed;
        if left == 0 {
            return Ok(Found { slot, bits_left: 0 });
        }
        match slots.read(slot).decode_trusted() {
            Ok(Cap::CNode {
                object: o,
                radix: r,
                guard_bits: g,
                guard: gv,
            }) => {
                (object, radix, guard_bits, guard) = (o, r, g, gv);
            }
            _ => {
                return Ok(Found {
                    slot,
                    bits_left: left,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::Rights;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// Slots keyed by (CNode object, index).
    #[derive(Default)]
    struct Table(BTreeMap<(u64, u64), RawCap>);

    impl Slots for Table {
        type Slot = (u64, u64);
        fn slot(&self, object: u64, index: u64) -> (u64, u64) {
            (object, index)
        }
        fn read(&self, slot: (u64, u64)) -> RawCap {
            self.0.get(&slot).copied().unwrap_or(RawCap::NULL)
        }
    }

    fn cnode(object: u64, radix: u8, guard_bits: u8, guard: u64) -> RawCap {
        Cap::CNode {
            object,
            radix,
            guard_bits,
            guard,
        }
        .encode()
    }

    fn ep() -> RawCap {
        Cap::Endpoint {
            object: 0x9000,
            rights: Rights::all(),
            badge: 0,
        }
        .encode()
    }

    #[test]
    fn single_level_with_guard_covers_64_bits() {
        let t = Table::default();
        let root = cnode(0x1000, 12, 52, 0);
        assert_eq!(
            resolve(&t, &root, 5, 64),
            Ok(Found {
                slot: (0x1000, 5),
                bits_left: 0
            })
        );
        assert_eq!(
            resolve(&t, &root, 1 << 20, 64),
            Err(LookupError::GuardMismatch {
                bits_left: 64,
                guard_bits: 52,
                guard: 0,
                found: 1 << 8
            })
        );
    }

    #[test]
    fn two_levels_and_early_stop() {
        let mut t = Table::default();
        let root = cnode(0x1000, 8, 0, 0);
        t.0.insert((0x1000, 3), cnode(0x2000, 8, 0, 0));
        t.0.insert((0x1000, 4), ep());
        // 16 bits: index 3 at the root, then index 0x7f in the second CNode.
        assert_eq!(
            resolve(&t, &root, 0x037f, 16),
            Ok(Found {
                slot: (0x2000, 0x7f),
                bits_left: 0
            })
        );
        // Stopping at the root's slot 3 itself needs depth 8.
        assert_eq!(
            resolve(&t, &root, 0x03, 8),
            Ok(Found {
                slot: (0x1000, 3),
                bits_left: 0
            })
        );
        // An endpoint with bits left: invocations accept it.
        assert_eq!(
            resolve(&t, &root, 0x0400, 16),
            Ok(Found {
                slot: (0x1000, 4),
                bits_left: 8
            })
        );
        // The second level needs 8 bits, only 4 are left.
        assert_eq!(
            resolve(&t, &root, 0x037, 12),
            Err(LookupError::DepthMismatch {
                bits_left: 4,
                needed: 8
            })
        );
    }

    #[test]
    fn bad_roots_and_depths() {
        let t = Table::default();
        assert_eq!(resolve(&t, &ep(), 0, 64), Err(LookupError::RootNotCNode));
        assert_eq!(
            resolve(&t, &RawCap { w0: 2, w1: 0 }, 0, 64),
            Err(LookupError::RootNotCNode)
        );
        let root = cnode(0x1000, 4, 0, 0);
        assert_eq!(
            resolve(&t, &root, 0, 0),
            Err(LookupError::BadDepth { depth: 0 })
        );
        assert_eq!(
            resolve(&t, &root, 0, 65),
            Err(LookupError::BadDepth { depth: 65 })
        );
    }

    #[test]
    fn a_cnode_that_contains_itself_terminates() {
        let mut t = Table::default();
        let root = cnode(0x1000, 1, 0, 0);
        t.0.insert((0x1000, 0), root);
        t.0.insert((0x1000, 1), root);
        for cptr in [0, u64::MAX, 0x5555_5555_5555_5555] {
            let r = resolve(&t, &root, cptr, 64).expect("each step eats one bit");
            assert_eq!(r.bits_left, 0);
            assert_eq!(r.slot, (0x1000, cptr & 1));
        }
    }

    #[test]
    fn bits_extracts_fields() {
        assert_eq!(bits(0xabcd, 16, 4), 0xa);
        assert_eq!(bits(0xabcd, 4, 4), 0xd);
        assert_eq!(bits(u64::MAX, 64, 64), u64::MAX);
        assert_eq!(bits(0x8000_0000_0000_0000, 64, 1), 1);
        assert_eq!(bits(123, 10, 0), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Arbitrary capability spaces built from arbitrary slot words never
        /// panic or loop, and a found slot's index fits its CNode.
        #[test]
        fn resolution_is_total(
            root_radix in 1u8..=16, root_guard_bits in 0u8..=48, root_guard in any::<u64>(),
            words in proptest::collection::vec((0u64..16, any::<u64>(), any::<u64>()), 0..24),
            cptr in any::<u64>(), depth in 0u32..=70,
        ) {
            let mut t = Table::default();
            for (i, w0, w1) in words {
                t.0.insert((0x1000, i), RawCap { w0, w1 });
            }
            let root = cnode(0x1000, root_radix, root_guard_bits, root_guard & ((1 << 53) - 1));
            if let Ok(found) = resolve(&t, &root, cptr, depth) {
                prop_assert!(found.bits_left < depth);
            }
        }
    }
}
