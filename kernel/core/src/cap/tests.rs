use super::*;
use proptest::prelude::*;
use std::vec;

fn obj() -> impl Strategy<Value = u64> {
    (0u64..(MAX_PHYS >> 4)).prop_map(|v| v << 4)
}

fn rights() -> impl Strategy<Value = Rights> {
    (0u8..16).prop_map(Rights::from_bits_truncate)
}

fn mapping() -> impl Strategy<Value = Option<Mapping>> {
    prop_oneof![
        Just(None),
        (any::<u16>(), 0u64..(1 << 35), any::<bool>()).prop_map(|(asid, vpn, high)| {
            let vaddr = (vpn << 12) | if high { 0xffff_8000_0000_0000 } else { 0 };
            Some(Mapping { asid, vaddr })
        }),
    ]
}

/// Every capability the kernel could build from checked values.
fn valid_cap() -> impl Strategy<Value = Cap> {
    prop_oneof![
        Just(Cap::Null),
        (12u8..=47, any::<bool>(), any::<u64>()).prop_flat_map(|(bits, dev, off)| {
            (0u64..(MAX_PHYS >> bits)).prop_map(move |b| Cap::Untyped {
                base: b << bits,
                size_bits: bits,
                is_device: dev,
                free_offset: off % (1u64 << bits),
            })
        }),
        (obj(), 1u8..=20, 0u8..=44, any::<u64>()).prop_map(|(object, radix, gb, g)| {
            let guard = if gb == 0 { 0 } else { g & ((1u64 << gb) - 1) };
            Cap::CNode {
                object,
                radix,
                guard_bits: gb,
                guard,
            }
        }),
        obj().prop_map(|object| Cap::Tcb { object }),
        (obj(), rights(), any::<u64>()).prop_map(|(object, rights, badge)| Cap::Endpoint {
            object,
            rights,
            badge
        }),
        (obj(), rights(), any::<u64>()).prop_map(|(object, rights, badge)| Cap::Notification {
            object,
            rights,
            badge
        }),
        obj().prop_map(|object| Cap::Reply { object }),
        (obj(), 1u8..=4, mapping()).prop_map(|(object, level, mapping)| Cap::PageTable {
            object,
            level,
            mapping
        }),
        (obj(), rights(), any::<bool>(), mapping()).prop_map(|(object, rights, huge, mapping)| {
            Cap::Frame {
                object,
                rights,
                huge,
                mapping,
            }
        }),
        (any::<u16>(), 0u32..=65536).prop_map(|(first, count)| Cap::AsidPool {
            first,
            count: count.min(65536 - u32::from(first))
        }),
        Just(Cap::IrqControl),
        any::<u8>().prop_map(|irq| Cap::IrqHandler { irq }),
        Just(Cap::IoPortControl),
        Just(Cap::SchedControl),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Cap::IoPort {
            first: a.min(b),
            last: a.max(b)
        }),
        (0u64..(1 << 16), any::<bool>(), 1u8..=16, any::<u64>()).prop_map(|(o, tcb, radix, n)| {
            let (align, slots) = if tcb {
                (11, 4)
            } else {
                (u32::from(radix) + 5, 1u64 << radix)
            };
            let radix = if tcb { 0 } else { radix };
            let waker = if n & 1 != 0 { (o | 1) << 5 } else { 0 };
            Cap::Zombie {
                object: if waker != 0 { 0 } else { o << align },
                tcb,
                radix,
                count: if waker != 0 { 0 } else { n % (slots + 1) },
                resume: (o & 0xffff) << 5,
                waker,
                behind: (n >> 8) as u32 & 0x3f_ffff,
            }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn every_valid_cap_round_trips(cap in valid_cap()) {
        prop_assert_eq!(cap.encode().decode(), Ok(cap));
    }

    /// Decoding arbitrary words never panics, and accepts only the exact
    /// words some capability encodes to.
    #[test]
    fn decode_is_canonical(w0 in any::<u64>(), w1 in any::<u64>(), ty in 0u64..16) {
        let raw = RawCap { w0: (w0 & !0x1f) | ty, w1 };
        if let Ok(cap) = raw.decode() {
            prop_assert_eq!(cap.encode(), raw);
        }
    }

    /// Derivation never widens rights, keeps the object, and never changes
    /// an existing badge.
    #[test]
    fn derive_only_narrows(cap in valid_cap(), mask in rights(), badge in any::<Option<u64>>()) {
        if let Ok(d) = cap.derive(mask, badge) {
            prop_assert!(cap.rights().contains(d.rights()));
            prop_assert_eq!(d.object(), cap.object());
            prop_assert_eq!(d.cap_type(), cap.cap_type());
            if cap.badge() != 0 {
                prop_assert_eq!(d.badge(), cap.badge());
            }
            prop_assert_eq!(d.encode().decode(), Ok(d));
        }
    }
}

#[test]
fn rights_and_badges() {
    let ep = Cap::Endpoint {
        object: 0x1000,
        rights: Rights::all(),
        badge: 0,
    };
    let minted = ep.derive(Rights::WRITE, Some(7)).unwrap();
    assert_eq!(
        minted,
        Cap::Endpoint {
            object: 0x1000,
            rights: Rights::WRITE,
            badge: 7
        }
    );
    assert_eq!(
        minted.derive(Rights::all(), Some(8)),
        Err(DeriveError::AlreadyBadged)
    );
    // A copy (no badge asked) keeps the badge; rights never come back.
    assert_eq!(minted.derive(Rights::all(), None), Ok(minted));
    assert_eq!(
        Cap::Tcb { object: 0x1000 }.derive(Rights::all(), Some(1)),
        Err(DeriveError::NoBadge(CapType::Tcb))
    );
}

#[test]
fn minting_a_cnode_sets_its_guard() {
    let cn = Cap::CNode {
        object: 0x2000,
        radix: 8,
        guard_bits: 0,
        guard: 0,
    };
    let guarded = cn.derive(Rights::all(), Some(56)).unwrap();
    assert_eq!(
        guarded,
        Cap::CNode {
            object: 0x2000,
            radix: 8,
            guard_bits: 56,
            guard: 0
        }
    );
    assert_eq!(guarded.encode().decode(), Ok(guarded));
    assert_eq!(
        cn.derive(Rights::all(), Some(3 | 5 << 6)),
        Ok(Cap::CNode {
            object: 0x2000,
            radix: 8,
            guard_bits: 3,
            guard: 5
        })
    );
    assert_eq!(
        cn.derive(Rights::all(), Some(57)),
        Err(DeriveError::BadGuard)
    );
    assert_eq!(
        cn.derive(Rights::all(), Some(2 | 4 << 6)),
        Err(DeriveError::BadGuard),
        "guard 4 needs 3 bits"
    );
    assert_eq!(cn.derive(Rights::all(), Some(0)), Ok(cn), "0: a plain copy");
}

#[test]
fn move_only_kinds() {
    let kinds = [
        Cap::Null,
        Cap::Untyped {
            base: 0x10_0000,
            size_bits: 20,
            is_device: false,
            free_offset: 0,
        },
        Cap::Reply { object: 0x2000 },
        Cap::PageTable {
            object: 0x3000,
            level: 1,
            mapping: None,
        },
        Cap::Zombie {
            object: 0x4000,
            tcb: false,
            radix: 4,
            count: 16,
            resume: 0,
            waker: 0,
            behind: 0,
        },
    ];
    for cap in kinds {
        assert_eq!(
            cap.derive(Rights::all(), None),
            Err(DeriveError::NotCopyable(cap.cap_type()))
        );
    }
}

#[test]
fn address_spaces_are_copied_with_their_asid() {
    let m = Some(Mapping { asid: 5, vaddr: 0 });
    let vs = Cap::PageTable {
        object: 0x7000,
        level: 4,
        mapping: m,
    };
    assert_eq!(vs.derive(Rights::all(), None), Ok(vs));
    let pd = Cap::PageTable {
        object: 0x8000,
        level: 2,
        mapping: m,
    };
    assert_eq!(
        pd.derive(Rights::all(), None),
        Err(DeriveError::NotCopyable(CapType::PageTable))
    );
}

#[test]
fn derived_frames_are_unmapped() {
    let m = Some(Mapping {
        asid: 3,
        vaddr: 0x40_0000,
    });
    let f = Cap::Frame {
        object: 0x5000,
        rights: Rights::READ | Rights::WRITE,
        huge: false,
        mapping: m,
    };
    let d = f.derive(Rights::READ, None).unwrap();
    assert_eq!(
        d,
        Cap::Frame {
            object: 0x5000,
            rights: Rights::READ,
            huge: false,
            mapping: None
        }
    );
}

#[test]
fn upper_half_mappings_keep_their_sign() {
    let m = Mapping {
        asid: 1,
        vaddr: 0xffff_8880_0000_0000,
    };
    let f = Cap::Frame {
        object: 0x5000,
        rights: Rights::all(),
        huge: true,
        mapping: Some(m),
    };
    assert_eq!(f.encode().decode(), Ok(f));
}

#[test]
fn impossible_fields_are_refused() {
    let bad_type = RawCap { w0: 31, w1: 0 };
    assert_eq!(
        bad_type.decode(),
        Err(DecodeError::UnknownType { code: 31 })
    );
    // Rights bits on a TCB capability are not something encode makes.
    let tcb = Cap::Tcb { object: 0x1000 }.encode();
    let r = RawCap {
        w0: tcb.w0 | (1 << 5),
        w1: 0,
    };
    assert!(matches!(r.decode(), Err(DecodeError::ReservedBits { .. })));
    // A CNode with radix 0 could never consume a bit.
    let c = RawCap {
        w0: CapType::CNode as u64 | (0x100 << 12),
        w1: 0,
    };
    assert!(matches!(
        c.decode(),
        Err(DecodeError::BadField {
            field: "cnode radix",
            ..
        })
    ));
    let io = Cap::IoPort { first: 9, last: 3 }.encode();
    assert!(matches!(io.decode(), Err(DecodeError::BadField { .. })));
    let ut = Cap::Untyped {
        base: 0,
        size_bits: 5,
        is_device: false,
        free_offset: 0,
    }
    .encode();
    assert!(matches!(ut.decode(), Err(DecodeError::BadField { .. })));
}
