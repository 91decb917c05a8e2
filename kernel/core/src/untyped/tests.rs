use super::*;
use proptest::prelude::*;
use std::string::ToString;
use std::vec::Vec;

const MIB: u64 = 1 << 20;

fn ut(base: u64, size_bits: u32) -> Untyped {
    Untyped::new(base, size_bits, false).unwrap()
}

#[test]
fn new_checks_range() {
    let u = ut(0x20_0000, 21);
    assert_eq!(u.free_offset, 0);
    assert_eq!(u.free_bytes(), 2 * MIB);
    assert!(!u.is_device);
    assert!(Untyped::new(0xfee0_0000, 12, true).unwrap().is_device);
    assert_eq!(ut(0, MAX_UNTYPED_BITS).free_bytes(), 1 << 47);
    assert_eq!(
        Untyped::new(0, 11, false),
        Err(Error::BadSizeBits { size_bits: 11 })
    );
    assert_eq!(
        Untyped::new(0, 48, false),
        Err(Error::BadSizeBits { size_bits: 48 })
    );
    assert_eq!(
        Untyped::new(0, u32::MAX, false),
        Err(Error::BadSizeBits {
            size_bits: u32::MAX
        })
    );
    assert_eq!(
        Untyped::new(0x1000, 13, false),
        Err(Error::Misaligned {
            base: 0x1000,
            size_bits: 13
        })
    );
    // The last page of the address space: its end would be 2^64.
    let top = !0xfffu64;
    assert_eq!(
        Untyped::new(top, 12, false),
        Err(Error::EndOverflow {
            base: top,
            size_bits: 12
        })
    );
    // Just below it is fine.
    assert!(Untyped::new(top - 0x1000, 12, false).is_ok());
}

#[test]
fn plan_first_fit_and_commit() {
    let mut u = ut(0x10_0000, 20);
    let plan = u.plan_retype(12, 3).unwrap();
    assert_eq!(
        plan,
        Retype {
            first: 0x10_0000,
            obj_bits: 12,
            count: 3,
            new_free_offset: 0x3000
        }
    );
    assert_eq!(plan.object(0), Some(0x10_0000));
    assert_eq!(plan.object(2), Some(0x10_2000));
    assert_eq!(plan.object(3), None);
    assert_eq!(plan.object(u64::MAX), None);
    // Planning changes nothing.
    assert_eq!(u.free_offset, 0);
    u.commit(&plan).unwrap();
    assert_eq!(u.free_offset, 0x3000);
    assert_eq!(u.free_bytes(), MIB - 0x3000);
}

#[test]
fn watermark_rounds_up_to_object_alignment() {
    let mut u = ut(0x4000_0000, 24);
    // A 16-byte endpoint, then a 2 KiB TCB: it goes at 2 KiB, not 16.
    let ep = u.plan_retype(4, 1).unwrap();
    u.commit(&ep).unwrap();
    assert_eq!(u.free_offset, 16);
    let tcb = u.plan_retype(11, 1).unwrap();
    assert_eq!(tcb.first, 0x4000_0000 + 0x800);
    u.commit(&tcb).unwrap();
    assert_eq!(u.free_offset, 0x1000);
    // Notifications pack right after at 32-byte granularity.
    let ntfn = u.plan_retype(5, 2).unwrap();
    assert_eq!(ntfn.first, 0x4000_1000);
    assert_eq!(ntfn.object(1), Some(0x4000_1020));
    u.commit(&ntfn).unwrap();
    assert_eq!(u.free_offset, 0x1040);
    // A 2 MiB frame skips to the next 2 MiB boundary.
    let big = u.plan_retype(21, 1).unwrap();
    assert_eq!(big.first, 0x4020_0000);
    assert_eq!(big.new_free_offset, 0x40_0000);
    u.commit(&big).unwrap();
    // An aligned watermark needs no padding.
    let page = u.plan_retype(12, 1).unwrap();
    assert_eq!(page.first, 0x4040_0000);
}

#[test]
fn whole_untyped_as_one_object() {
    let mut u = ut(0x80_0000, 23);
    let plan = u.plan_retype(23, 1).unwrap();
    assert_eq!(plan.first, 0x80_0000);
    u.commit(&plan).unwrap();
    assert_eq!(u.free_bytes(), 0);
    assert_eq!(
        u.plan_retype(4, 1),
        Err(Error::NoRoom {
            needed: 16,
            left: 0
        })
    );
}

#[test]
fn plan_errors() {
    let u = ut(0, 16);
    assert_eq!(u.plan_retype(12, 0), Err(Error::BadCount { count: 0 }));
    assert_eq!(
        u.plan_retype(12, MAX_RETYPE_COUNT + 1),
        Err(Error::BadCount { count: 257 })
    );
    assert_eq!(
        u.plan_retype(12, u64::MAX),
        Err(Error::BadCount { count: u64::MAX })
    );
    assert!(u.plan_retype(4, MAX_RETYPE_COUNT).is_ok());
    assert_eq!(
        u.plan_retype(3, 1),
        Err(Error::ObjectTooSmall { obj_bits: 3 })
    );
    assert_eq!(
        u.plan_retype(17, 1),
        Err(Error::ObjectTooBig {
            obj_bits: 17,
            size_bits: 16
        })
    );
    assert_eq!(
        u.plan_retype(u32::MAX, 1),
        Err(Error::ObjectTooBig {
            obj_bits: u32::MAX,
            size_bits: 16
        })
    );
    // 17 pages into a 16-page untyped.
    assert_eq!(
        u.plan_retype(12, 17),
        Err(Error::NoRoom {
            needed: 17 * 4096,
            left: 16 * 4096
        })
    );
    // A hand-made untyped that `new` would refuse is refused by plan too.
    let bad = Untyped {
        base: 0x1000,
        size_bits: 16,
        free_offset: 0,
        is_device: false,
    };
    assert_eq!(
        bad.plan_retype(12, 1),
        Err(Error::Misaligned {
            base: 0x1000,
            size_bits: 16
        })
    );
}

#[test]
fn no_room_counts_padding() {
    let mut u = ut(0, 14);
    let small = u.plan_retype(4, 1).unwrap();
    u.commit(&small).unwrap();
    // With the watermark at 16, pages start at 4 KiB: three fit, and for
    // four the shortfall counts the padding below the first.
    let plan = u.plan_retype(12, 3).unwrap();
    assert_eq!(plan.first, 0x1000);
    assert_eq!(
        u.plan_retype(12, 4),
        Err(Error::NoRoom {
            needed: 0x5000 - 16,
            left: 0x4000 - 16
        })
    );
}

#[test]
fn exhaustion_then_reset() {
    let mut u = ut(0x1_0000_0000, 16);
    for i in 0..16 {
        let plan = u.plan_retype(12, 1).unwrap();
        assert_eq!(plan.first, 0x1_0000_0000 + i * 0x1000);
        u.commit(&plan).unwrap();
    }
    assert_eq!(u.free_bytes(), 0);
    assert!(matches!(
        u.plan_retype(12, 1),
        Err(Error::NoRoom { left: 0, .. })
    ));
    u.reset();
    assert_eq!(u.free_offset, 0);
    assert_eq!(u.free_bytes(), 1 << 16);
    assert_eq!(u.plan_retype(16, 1).unwrap().first, 0x1_0000_0000);
}

#[test]
fn stale_plans_refused() {
    let mut u = ut(0x20_0000, 21);
    let a = u.plan_retype(12, 1).unwrap();
    let b = u.plan_retype(12, 1).unwrap();
    u.commit(&a).unwrap();
    // `b` was planned before `a` was committed and overlaps it.
    assert_eq!(
        u.commit(&b),
        Err(Error::StalePlan {
            first: 0x20_0000,
            free_offset: 0x1000
        })
    );
    assert_eq!(u.free_offset, 0x1000);
    // Committing the same plan twice is the same mistake.
    assert!(u.commit(&a).is_err());
    // A plan from another untyped.
    let other = ut(0x40_0000, 21).plan_retype(12, 1).unwrap();
    assert!(u.commit(&other).is_err());
    // Altered plans.
    let good = u.plan_retype(12, 2).unwrap();
    for bad in [
        Retype {
            new_free_offset: good.new_free_offset + 1,
            ..good
        },
        Retype {
            first: good.first + 16,
            ..good
        },
        Retype { count: 0, ..good },
        Retype {
            obj_bits: 64,
            ..good
        },
        Retype {
            obj_bits: 2,
            count: 2 << 10,
            ..good
        },
        Retype {
            count: u64::MAX,
            ..good
        },
        Retype {
            count: 512,
            new_free_offset: 0x20_1000,
            ..good
        },
    ] {
        assert!(u.commit(&bad).is_err(), "{bad:?}");
        assert_eq!(u.free_offset, 0x1000);
    }
    // A plan made before a commit that still fits above it is fine: its
    // objects lie in free memory.
    let later = u.plan_retype(12, 1).unwrap();
    let early_big = u.plan_retype(16, 1).unwrap();
    u.commit(&later).unwrap();
    u.commit(&early_big).unwrap();
    assert_eq!(u.free_offset, 0x2_0000);
    u.commit(&good).unwrap_err();
}

#[test]
fn object_types() {
    for code in 1..=9 {
        let t = ObjectType::from_code(code).unwrap();
        assert_eq!(t.code(), code);
        assert!(!t.to_string().is_empty());
    }
    assert_eq!(ObjectType::from_code(0), None);
    assert_eq!(ObjectType::from_code(10), None);
    assert_eq!(ObjectType::from_code(u64::MAX), None);
    assert_eq!(ObjectType::from_code(1), Some(ObjectType::Untyped));
    assert_eq!(ObjectType::from_code(9), Some(ObjectType::Frame2M));
    let fixed = [
        (ObjectType::Tcb, 11),
        (ObjectType::Endpoint, 4),
        (ObjectType::Notification, 5),
        (ObjectType::Reply, 5),
        (ObjectType::PageTable, 12),
        (ObjectType::Frame4K, 12),
        (ObjectType::Frame2M, 21),
    ];
    for (t, bits) in fixed {
        assert_eq!(t.size_bits(0), Ok(bits));
        assert_eq!(t.size_bits(u64::MAX), Ok(bits));
    }
    assert_eq!(ObjectType::Untyped.size_bits(12), Ok(12));
    assert_eq!(ObjectType::Untyped.size_bits(47), Ok(47));
    for bad in [0, 11, 48, u64::from(u32::MAX) + 12] {
        assert_eq!(
            ObjectType::Untyped.size_bits(bad),
            Err(Error::BadUserBits {
                object: ObjectType::Untyped,
                user_bits: bad
            })
        );
    }
    assert_eq!(ObjectType::CNode.size_bits(1), Ok(6));
    assert_eq!(ObjectType::CNode.size_bits(20), Ok(25));
    for bad in [0, 21, u64::MAX] {
        assert!(ObjectType::CNode.size_bits(bad).is_err());
    }
    assert!(ObjectType::Frame2M.fits_device_memory());
    assert!(ObjectType::Untyped.fits_device_memory());
    assert!(!ObjectType::Tcb.fits_device_memory());
    assert!(!ObjectType::CNode.fits_device_memory());
}

#[test]
fn every_object_fits_some_untyped() {
    // Every size the table can give is a valid retype of a large untyped.
    let u = ut(0, MAX_UNTYPED_BITS);
    for code in 1..=9 {
        let t = ObjectType::from_code(code).unwrap();
        for user_bits in [1, 12, 20, 47] {
            if let Ok(bits) = t.size_bits(user_bits) {
                assert!(u.plan_retype(bits, 1).is_ok(), "{t} {user_bits}");
            }
        }
    }
}

#[test]
fn errors_display_values() {
    let cases: [(Error, &[&str]); 9] = [
        (
            Error::BadSizeBits { size_bits: 50 },
            &["2^50", "2^12", "2^47"],
        ),
        (
            Error::Misaligned {
                base: 0x1000,
                size_bits: 13,
            },
            &["0x1000", "2^13"],
        ),
        (
            Error::EndOverflow {
                base: 0xffff_f000,
                size_bits: 12,
            },
            &["0xfffff000", "2^12"],
        ),
        (Error::BadCount { count: 300 }, &["300", "256"]),
        (Error::ObjectTooSmall { obj_bits: 2 }, &["2^2", "2^4"]),
        (
            Error::ObjectTooBig {
                obj_bits: 21,
                size_bits: 12,
            },
            &["2^21", "2^12"],
        ),
        (
            Error::NoRoom {
                needed: 0x5000,
                left: 0x3000,
            },
            &["0x5000", "0x3000"],
        ),
        (
            Error::StalePlan {
                first: 0x4000,
                free_offset: 0x8000,
            },
            &["0x4000", "0x8000"],
        ),
        (
            Error::BadUserBits {
                object: ObjectType::CNode,
                user_bits: 21,
            },
            &["CNode", "21", "20"],
        ),
    ];
    for (e, parts) in cases {
        let text = e.to_string();
        for part in parts {
            assert!(text.contains(part), "{text:?} lacks {part:?}");
        }
    }
    let untyped = Error::BadUserBits {
        object: ObjectType::Untyped,
        user_bits: 5,
    }
    .to_string();
    assert!(untyped.contains('5') && untyped.contains("47"), "{untyped}");
    let other = Error::BadUserBits {
        object: ObjectType::Tcb,
        user_bits: 5,
    }
    .to_string();
    assert!(other.contains("Tcb"), "{other}");
}

// ---- Properties ----

#[derive(Clone, Copy, Debug)]
enum Step {
    /// Plan, and commit if `commit`.
    Retype {
        obj_bits: u32,
        count: u64,
        commit: bool,
    },
    Reset,
}

fn step(size_bits: u32) -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => (2..=size_bits + 2, prop_oneof![1..=4u64, 0..=300u64], prop::bool::weighted(0.8))
            .prop_map(|(obj_bits, count, commit)| Step::Retype { obj_bits, count, commit }),
        1 => Just(Step::Reset),
    ]
}

fn untyped_and_steps() -> impl Strategy<Value = (Untyped, Vec<Step>)> {
    (MIN_UNTYPED_BITS..=24u32, any::<u64>(), any::<bool>()).prop_flat_map(|(bits, base, dev)| {
        // Any aligned base whose range does not reach 2^64.
        let base = (base >> 1) & !((1u64 << bits) - 1);
        let u = Untyped::new(base, bits, dev).unwrap();
        (Just(u), prop::collection::vec(step(bits), 1..80))
    })
}

/// What plan_retype must say, computed in 128-bit arithmetic.
fn expected_plan(u: &Untyped, obj_bits: u32, count: u64) -> Result<Retype, Error> {
    if count == 0 || count > MAX_RETYPE_COUNT {
        return Err(Error::BadCount { count });
    }
    if obj_bits < MIN_OBJECT_BITS {
        return Err(Error::ObjectTooSmall { obj_bits });
    }
    if obj_bits > u.size_bits {
        return Err(Error::ObjectTooBig {
            obj_bits,
            size_bits: u.size_bits,
        });
    }
    let size = 1u128 << u.size_bits;
    let align = 1u128 << obj_bits;
    let free = u128::from(u.free_offset);
    let start = free.div_ceil(align) * align;
    let end = start + u128::from(count) * align;
    if end > size {
        return Err(Error::NoRoom {
            needed: (end - free) as u64,
            left: (size - free) as u64,
        });
    }
    Ok(Retype {
        first: u.base + start as u64,
        obj_bits,
        count,
        new_free_offset: end as u64,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn retype_sequences((mut u, steps) in untyped_and_steps()) {
        let size = 1u64 << u.size_bits;
        let end = u.base + size;
        // Objects made since the last reset, as (start, end) addresses.
        let mut objects: Vec<(u64, u64)> = Vec::new();
        for step in steps {
            let watermark = u.free_offset;
            match step {
                Step::Reset => {
                    u.reset();
                    objects.clear();
                }
                Step::Retype { obj_bits, count, commit } => {
                    let plan = u.plan_retype(obj_bits, count);
                    prop_assert_eq!(plan, expected_plan(&u, obj_bits, count));
                    prop_assert_eq!(u.free_offset, watermark, "planning moved the watermark");
                    if let (Ok(plan), true) = (plan, commit) {
                        let object_size = 1u64 << plan.obj_bits;
                        for i in 0..plan.count {
                            let at = plan.object(i).unwrap();
                            prop_assert_eq!(at % object_size, 0, "object {:#x} unaligned", at);
                            prop_assert!(at >= u.base + watermark && at + object_size <= end);
                            objects.push((at, at + object_size));
                        }
                        prop_assert_eq!(plan.object(plan.count), None);
                        u.commit(&plan).unwrap();
                        prop_assert!(u.free_offset > watermark, "watermark did not rise");
                        // Re-committing the same plan would overlap: refused.
                        prop_assert!(u.commit(&plan).is_err());
                    }
                }
            }
            prop_assert!(u.free_offset <= size);
            prop_assert_eq!(u.free_bytes() + u.free_offset, size);
            // Every object lies below the watermark, and none overlap.
            objects.sort_unstable();
            for pair in objects.windows(2) {
                prop_assert!(pair[0].1 <= pair[1].0, "{:x?} overlap", pair);
            }
            if let Some(last) = objects.last() {
                prop_assert!(last.1 <= u.base + u.free_offset);
            }
            if let Some(first) = objects.first() {
                prop_assert!(first.0 >= u.base);
            }
        }
    }

    #[test]
    fn plan_never_panics(
        base in any::<u64>(),
        size_bits in prop_oneof![0..=64u32, any::<u32>()],
        free_offset in any::<u64>(),
        is_device in any::<bool>(),
        obj_bits in prop_oneof![0..=64u32, any::<u32>()],
        count in prop_oneof![0..=300u64, any::<u64>()],
    ) {
        let mut u = Untyped { base, size_bits, free_offset, is_device };
        let _ = Untyped::new(base, size_bits, is_device);
        let _ = u.free_bytes();
        if let Ok(plan) = u.plan_retype(obj_bits, count) {
            // A plan from a hand-made untyped still lies inside it.
            prop_assert!(plan.first >= base);
            let last = plan.object(plan.count - 1).unwrap();
            prop_assert!(last - base < 1u64 << size_bits);
            prop_assert!(u.commit(&plan).is_ok());
        }
    }

    #[test]
    fn commit_never_panics(
        base in any::<u64>(),
        size_bits in 0..=64u32,
        free_offset in any::<u64>(),
        first in any::<u64>(),
        obj_bits in any::<u32>(),
        count in any::<u64>(),
        new_free_offset in any::<u64>(),
    ) {
        let mut u = Untyped { base, size_bits, free_offset, is_device: false };
        let before = u;
        let plan = Retype { first, obj_bits, count, new_free_offset };
        let _ = plan.object(count / 2);
        if u.commit(&plan).is_ok() {
            prop_assert!(u.free_offset >= before.free_offset);
            prop_assert!(u.free_offset <= 1u64 << size_bits);
        } else {
            prop_assert_eq!(u, before);
        }
    }

    #[test]
    fn object_size_never_panics(code in any::<u64>(), user_bits in any::<u64>()) {
        if let Some(t) = ObjectType::from_code(code) {
            prop_assert_eq!(t.code(), code);
            if let Ok(bits) = t.size_bits(user_bits) {
                prop_assert!((MIN_OBJECT_BITS..=MAX_UNTYPED_BITS).contains(&bits));
            }
        }
    }
}
