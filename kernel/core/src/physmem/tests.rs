use super::*;
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::string::ToString;
use std::vec::Vec;

const P: u64 = PAGE_SIZE;

fn r(start: u64, end: u64) -> Region {
    Region { start, end }
}

fn set(ranges: &[(u64, u64)]) -> FreeMemory {
    let mut m = FreeMemory::new();
    for &(start, end) in ranges {
        m.add_usable(start, end - start).unwrap();
    }
    m
}

fn check_invariants(m: &FreeMemory) {
    let regions = m.regions();
    assert!(regions.len() <= MAX_REGIONS);
    for (i, g) in regions.iter().enumerate() {
        assert!(g.start < g.end, "region {i} {g:x?} is empty");
        assert_eq!(g.start % P, 0, "region {i} {g:x?} start unaligned");
        assert_eq!(g.end % P, 0, "region {i} {g:x?} end unaligned");
        if let Some(next) = regions.get(i + 1) {
            assert!(
                g.end < next.start,
                "regions {i} {g:x?} and {next:x?} touch or are unsorted"
            );
        }
    }
    let total: u64 = regions.iter().map(|g| g.end - g.start).sum();
    assert_eq!(m.free_bytes(), total);
}

#[test]
fn empty() {
    let mut m = FreeMemory::new();
    assert!(m.regions().is_empty());
    assert_eq!(m.free_bytes(), 0);
    assert_eq!(m.alloc_frame(), None);
    assert_eq!(FreeMemory::default().regions(), m.regions());
}

#[test]
fn add_rounds_inward() {
    let mut m = FreeMemory::new();
    m.add_usable(0x1001, 0x3000).unwrap();
    assert_eq!(m.regions(), [r(0x2000, 0x4000)]);
    // Less than a whole page after rounding: ignored.
    m.add_usable(0x10_0001, 0x1ffe).unwrap();
    m.add_usable(0x20_0000, 0xfff).unwrap();
    m.add_usable(0x30_0000, 0).unwrap();
    assert_eq!(m.regions(), [r(0x2000, 0x4000)]);
    m.add_usable(0x10_0001, 0x2ffe).unwrap();
    assert_eq!(m.regions(), [r(0x2000, 0x4000), r(0x10_1000, 0x10_2000)]);
    check_invariants(&m);
}

#[test]
fn add_clamps_at_the_top() {
    let mut m = FreeMemory::new();
    m.add_usable(0xffff_ffff_ffff_0000, u64::MAX).unwrap();
    assert_eq!(
        m.regions(),
        [r(0xffff_ffff_ffff_0000, 0xffff_ffff_ffff_f000)]
    );
    m.add_usable(u64::MAX - 5, 10).unwrap();
    m.add_usable(u64::MAX, u64::MAX).unwrap();
    assert_eq!(m.regions().len(), 1);
    m.reserve(0xffff_ffff_ffff_e800, u64::MAX).unwrap();
    assert_eq!(
        m.regions(),
        [r(0xffff_ffff_ffff_0000, 0xffff_ffff_ffff_e000)]
    );
    check_invariants(&m);
}

#[test]
fn add_merges_overlapping_and_adjacent() {
    let mut m = set(&[(0x1000, 0x2000), (0x3000, 0x4000), (0x8000, 0x9000)]);
    assert_eq!(m.regions().len(), 3);
    // Fills the gap: three become one... with the third still apart.
    m.add_usable(0x2000, 0x1000).unwrap();
    assert_eq!(m.regions(), [r(0x1000, 0x4000), r(0x8000, 0x9000)]);
    // Adjacent on the left and on the right.
    m.add_usable(0x7000, 0x1000).unwrap();
    m.add_usable(0x9000, 0x1000).unwrap();
    assert_eq!(m.regions(), [r(0x1000, 0x4000), r(0x7000, 0xa000)]);
    // Overlapping both, and covering them.
    m.add_usable(0x0, 0x20000).unwrap();
    assert_eq!(m.regions(), [r(0x0, 0x20000)]);
    // Already free: no change.
    m.add_usable(0x5000, 0x3000).unwrap();
    assert_eq!(m.regions(), [r(0x0, 0x20000)]);
    // Inserted in front and between.
    let mut m = set(&[(0x10000, 0x11000), (0x30000, 0x31000)]);
    m.add_usable(0x1000, 0x1000).unwrap();
    m.add_usable(0x20000, 0x1000).unwrap();
    assert_eq!(
        m.regions(),
        [
            r(0x1000, 0x2000),
            r(0x10000, 0x11000),
            r(0x20000, 0x21000),
            r(0x30000, 0x31000)
        ]
    );
    check_invariants(&m);
}

#[test]
fn reserve_at_edges_middle_and_whole() {
    let base = [(0x10000, 0x20000)];
    let mut m = set(&base);
    m.reserve(0x10000, 0x11000).unwrap();
    assert_eq!(m.regions(), [r(0x11000, 0x20000)], "front");
    m.reserve(0x1f000, 0x20000).unwrap();
    assert_eq!(m.regions(), [r(0x11000, 0x1f000)], "back");
    m.reserve(0x14000, 0x15000).unwrap();
    assert_eq!(
        m.regions(),
        [r(0x11000, 0x14000), r(0x15000, 0x1f000)],
        "middle"
    );
    m.reserve(0x11000, 0x14000).unwrap();
    assert_eq!(m.regions(), [r(0x15000, 0x1f000)], "a whole region");
    m.reserve(0x0, 0x100000).unwrap();
    assert!(m.regions().is_empty(), "everything");
    check_invariants(&m);
}

#[test]
fn reserve_rounds_outward_and_spans_regions() {
    let mut m = set(&[(0x0, 0x10000)]);
    m.reserve(0x1fff, 0x2001).unwrap();
    assert_eq!(m.regions(), [r(0x0, 0x1000), r(0x3000, 0x10000)]);
    // Over a gap and into two regions.
    m.reserve(0x800, 0x4800).unwrap();
    assert_eq!(m.regions(), [r(0x5000, 0x10000)]);
    let mut m = set(&[
        (0x1000, 0x3000),
        (0x5000, 0x7000),
        (0x9000, 0xb000),
        (0xd000, 0xf000),
    ]);
    m.reserve(0x2000, 0xa000).unwrap();
    assert_eq!(
        m.regions(),
        [r(0x1000, 0x2000), r(0xa000, 0xb000), r(0xd000, 0xf000)]
    );
    check_invariants(&m);
}

#[test]
fn reserve_what_is_not_free() {
    let mut m = set(&[(0x10000, 0x20000)]);
    m.reserve(0x0, 0x10000).unwrap();
    m.reserve(0x20000, 0x30000).unwrap();
    m.reserve(0x12000, 0x13000).unwrap();
    m.reserve(0x12000, 0x13000).unwrap();
    assert_eq!(m.regions(), [r(0x10000, 0x12000), r(0x13000, 0x20000)]);
    // An empty range reserves nothing, even off the page grid.
    m.reserve(0x15800, 0x15800).unwrap();
    m.reserve(u64::MAX, u64::MAX).unwrap();
    assert_eq!(m.free_bytes(), 0xf000);
    // Up to the very top.
    m.reserve(0x1f123, u64::MAX).unwrap();
    assert_eq!(m.regions(), [r(0x10000, 0x12000), r(0x13000, 0x1f000)]);
}

#[test]
fn reserve_inverted() {
    let mut m = set(&[(0x10000, 0x20000)]);
    let e = m.reserve(0x15000, 0x14000).unwrap_err();
    assert_eq!(
        e,
        Error::InvertedRange {
            start: 0x15000,
            end: 0x14000
        }
    );
    assert!(e.to_string().contains("0x14000") && e.to_string().contains("0x15000"));
    assert_eq!(m.regions(), [r(0x10000, 0x20000)]);
}

/// 128 regions of three pages each, 64 KiB apart.
fn full() -> FreeMemory {
    let mut m = FreeMemory::new();
    for i in 0..MAX_REGIONS as u64 {
        m.add_usable(i * 0x10000 + 0x1000, 3 * P).unwrap();
    }
    assert_eq!(m.regions().len(), MAX_REGIONS);
    m
}

#[test]
fn too_many_regions() {
    let mut m = full();
    let before: Vec<Region> = m.regions().to_vec();
    let last = 127 * 0x10000;
    let e = m.reserve(last + 0x2000, last + 0x3000).unwrap_err();
    assert_eq!(
        e,
        Error::TooManyRegions {
            start: last + 0x2000,
            end: last + 0x3000
        }
    );
    assert!(e.to_string().contains("128"));
    assert_eq!(m.regions(), &before[..], "a failed split changes nothing");
    let e = m.add_usable(0x1000_0000, P).unwrap_err();
    assert_eq!(
        e,
        Error::TooManyRegions {
            start: 0x1000_0000,
            end: 0x1000_1000
        }
    );
    assert_eq!(m.regions(), &before[..], "a failed insert changes nothing");
    // What needs no new slot still works when full.
    m.add_usable(0x4000, P).unwrap();
    m.reserve(last + 0x1000, last + 0x2000).unwrap();
    m.reserve(0x11000, 0x12000).unwrap();
    assert_eq!(m.regions().len(), MAX_REGIONS);
    // A merge frees a slot, and then the split fits.
    m.add_usable(0x4000, 0xe000).unwrap();
    assert_eq!(m.regions().len(), MAX_REGIONS - 1);
    assert_eq!(m.regions()[0], r(0x1000, 0x14000));
    m.reserve(0x22000, 0x23000).unwrap();
    assert_eq!(m.regions().len(), MAX_REGIONS);
    check_invariants(&m);
}

#[test]
fn alloc_skips_candidates_that_would_overflow_the_table() {
    let mut m = full();
    // Every region starts at 0x1000 past a 64 KiB boundary, so a 0x2000-aligned
    // frame sits in the middle of each and would split it...
    m.add_usable(0x2000_0000, 0x4000).unwrap_err();
    assert_eq!(m.alloc(1, 0x2000), None);
    // ...except in a region that ends right after the candidate.
    m.reserve(0x7f_3000, 0x7f_4000).unwrap();
    assert_eq!(m.alloc(1, 0x2000), Some(0x7f_2000));
    assert_eq!(m.regions().len(), MAX_REGIONS);
    // Once a slot is free again the lowest candidate wins.
    m.reserve(0x7f_0000, 0x80_0000).unwrap();
    assert_eq!(m.alloc(1, 0x2000), Some(0x2000));
    check_invariants(&m);
}

#[test]
fn alloc_alignment() {
    let mut m = set(&[(0x1000, 0x10_0000)]);
    assert_eq!(m.alloc(1, 0x10000), Some(0x10000));
    assert_eq!(m.regions(), [r(0x1000, 0x10000), r(0x11000, 0x10_0000)]);
    assert_eq!(m.alloc(4, 0x4000), Some(0x4000));
    assert_eq!(m.alloc(0x10, 0x20000), Some(0x20000));
    // Nothing 2 MiB-aligned is free.
    assert_eq!(m.alloc(1, 0x20_0000), None);
    assert_eq!(m.alloc_frame(), Some(0x1000));
    // Unusable arguments.
    let before = m.free_bytes();
    assert_eq!(m.alloc(1, 0), None);
    assert_eq!(m.alloc(1, 0x800), None);
    assert_eq!(m.alloc(1, 0x3000), None);
    assert_eq!(m.alloc(0, P), None);
    assert_eq!(m.alloc(u64::MAX, P), None);
    assert_eq!(m.alloc(u64::MAX / P + 1, P), None);
    assert_eq!(m.free_bytes(), before);
    check_invariants(&m);
}

#[test]
fn alloc_near_the_top() {
    let mut m = FreeMemory::new();
    m.add_usable(0xffff_ffff_fff0_0000, u64::MAX).unwrap();
    assert_eq!(m.alloc(1, 1 << 63), None);
    assert_eq!(
        m.alloc(0x100, P),
        None,
        "one page short: the top page is never free"
    );
    assert_eq!(m.alloc(0xff, P), Some(0xffff_ffff_fff0_0000));
    assert_eq!(m.free_bytes(), 0);
}

#[test]
fn exhaustion_and_no_double_handout() {
    let mut m = set(&[(0x1000, 0x5000), (0x10000, 0x13000), (0x40000, 0x41000)]);
    let pages = m.free_bytes() / P;
    let mut seen = BTreeSet::new();
    while let Some(frame) = m.alloc_frame() {
        assert_eq!(frame % P, 0);
        assert!(seen.insert(frame), "frame {frame:#x} handed out twice");
        check_invariants(&m);
    }
    assert_eq!(seen.len() as u64, pages);
    assert_eq!(m.free_bytes(), 0);
    assert_eq!(m.alloc(1, P), None);
    assert_eq!(seen.first(), Some(&0x1000), "lowest first");
}

#[test]
fn aligned_blocks_examples() {
    let blocks = |s, e, b| aligned_blocks(s, e, b).collect::<Vec<_>>();
    assert_eq!(blocks(0, 0x10000, 63), [(0, 16)]);
    assert_eq!(
        blocks(0x1000, 0x10000, 63),
        [(0x1000, 12), (0x2000, 13), (0x4000, 14), (0x8000, 15)]
    );
    assert_eq!(
        blocks(0x3000, 0xb000, 63),
        [(0x3000, 12), (0x4000, 14), (0x8000, 13), (0xa000, 12)]
    );
    assert_eq!(blocks(0, 0x4000, 13), [(0, 13), (0x2000, 13)]);
    // Below a page is raised to a page.
    assert_eq!(blocks(0, 0x2000, 0), [(0, 12), (0x1000, 12)]);
    // Inputs off the grid are rounded inward.
    assert_eq!(blocks(0x1001, 0x3fff, 63), [(0x2000, 12)]);
    assert_eq!(blocks(0x1001, 0x1fff, 63), []);
    assert_eq!(blocks(0x5000, 0x5000, 63), []);
    assert_eq!(blocks(0x9000, 0x5000, 63), []);
    assert_eq!(blocks(u64::MAX, u64::MAX, 63), []);
    // The whole space: 2^63 at 0, then halves down to one page.
    let all = blocks(0, u64::MAX, 200);
    assert_eq!(all.first(), Some(&(0, 63)));
    assert_eq!(all.len(), 63 - 12 + 1);
    assert_eq!(all.last(), Some(&(0xffff_ffff_ffff_e000, 12)));
}

#[test]
fn messages_name_the_values() {
    let msg = Error::TooManyRegions {
        start: 0xabc000,
        end: 0xabd000,
    }
    .to_string();
    assert!(msg.contains("0xabc000") && msg.contains("0xabd000") && msg.contains("128"));
}

/// What the free set should be, one page number per free page.
#[derive(Default)]
struct Model(BTreeSet<u64>);

impl Model {
    fn add(&mut self, start: u64, len: u64) {
        let end = (u128::from(start) + u128::from(len)).min(u128::from(u64::MAX));
        let first = u128::from(start).div_ceil(4096);
        let last = end / 4096;
        for page in first..last {
            self.0.insert(page as u64);
        }
    }

    fn reserve(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let first = start / P;
        let last = u128::from(end).div_ceil(4096);
        self.0
            .retain(|&p| u128::from(p) < u128::from(first) || u128::from(p) >= last);
    }

    fn alloc(&mut self, count: u64, align: u64) -> Option<u64> {
        let step = align / P;
        // The answer is a free page itself, so only free pages are candidates.
        let page = self
            .0
            .iter()
            .copied()
            .find(|&p| p % step == 0 && (p..p + count).all(|q| self.0.contains(&q)))?;
        for p in page..page + count {
            self.0.remove(&p);
        }
        Some(page * P)
    }

    fn regions(&self) -> Vec<Region> {
        let mut out: Vec<Region> = Vec::new();
        for &p in &self.0 {
            match out.last_mut() {
                Some(g) if g.end == p * P => g.end += P,
                _ => out.push(r(p * P, p * P + P)),
            }
        }
        out
    }
}

#[derive(Clone, Debug)]
enum Op {
    Add(u64, u64),
    Reserve(u64, u64),
    Alloc(u64, u32),
    AllocFrame,
}

/// Addresses in a window of 64 pages at `base`, a little beyond it on both
/// sides, mostly off the page grid.
fn arb_op(base: u64) -> impl Strategy<Value = Op> {
    let addr =
        move || (0..0x42_000u64).prop_map(move |a| base.wrapping_add(a).wrapping_sub(0x1000));
    prop_oneof![
        3 => (addr(), 0..0x10_000u64).prop_map(|(s, l)| Op::Add(s, l)),
        2 => (addr(), 0..0x8_000u64).prop_map(|(s, l)| Op::Reserve(s, s.saturating_add(l))),
        2 => (1..5u64, 12..17u32).prop_map(|(c, b)| Op::Alloc(c, b)),
        1 => Just(Op::AllocFrame),
    ]
}

fn run_ops(base: u64, ops: &[Op]) {
    let mut m = FreeMemory::new();
    let mut model = Model::default();
    for op in ops {
        match *op {
            Op::Add(s, l) => {
                m.add_usable(s, l).unwrap();
                model.add(s, l);
            }
            Op::Reserve(s, e) => {
                m.reserve(s, e).unwrap();
                model.reserve(s, e);
            }
            Op::Alloc(count, bits) => {
                assert_eq!(
                    m.alloc(count, 1 << bits),
                    model.alloc(count, 1 << bits),
                    "{op:?}"
                );
            }
            Op::AllocFrame => assert_eq!(m.alloc_frame(), model.alloc(1, P), "{op:?}"),
        }
        check_invariants(&m);
        assert_eq!(
            m.regions(),
            &model.regions()[..],
            "after {op:?} (base {base:#x})"
        );
        assert_eq!(m.free_bytes(), model.0.len() as u64 * P);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_500))]

    #[test]
    fn random_ops_match_the_model(ops in prop::collection::vec(arb_op(0), 0..40)) {
        run_ops(0, &ops);
    }

    #[test]
    fn random_ops_at_the_top_match_the_model(
        ops in prop::collection::vec(arb_op(0xffff_ffff_fffc_0000), 0..40),
    ) {
        run_ops(0xffff_ffff_fffc_0000, &ops);
    }
}

fn arb_range() -> impl Strategy<Value = (u64, u64)> {
    prop_oneof![
        (0..0x1000u64, 0..0x1000u64).prop_map(|(s, l)| (s * P, (s + l) * P)),
        (any::<u64>(), any::<u64>()).prop_map(|(a, b)| (a.min(b) & !0xfff, a.max(b) & !0xfff)),
        (any::<u64>(), 0..0x1000_0000u64).prop_map(|(s, l)| {
            let s = s & !0xfff;
            (s, s.saturating_add(l * P) & !0xfff)
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn aligned_blocks_cover_exactly((start, end) in arb_range(), max_bits in 0..70u32) {
        // A tiny max_bits over a huge range would mean billions of blocks:
        // raise it so that at most a few thousand maximal blocks fit.
        let len = end - start;
        let max_bits = if len >> max_bits.clamp(12, 63) > 4096 {
            (u64::BITS - 1 - len.leading_zeros()) - 11
        } else {
            max_bits
        };
        let cap = max_bits.clamp(12, 63);
        let mut at = u128::from(start);
        let mut count = 0;
        for (addr, bits) in aligned_blocks(start, end, max_bits) {
            count += 1;
            prop_assert!(count <= 2 * 64 + 8192, "too many blocks");
            prop_assert_eq!(u128::from(addr), at, "blocks are contiguous and in order");
            prop_assert!((12..=cap).contains(&bits), "bits {} with max {}", bits, max_bits);
            let size = 1u128 << bits;
            prop_assert_eq!(u128::from(addr) % size, 0, "naturally aligned");
            at += size;
            prop_assert!(at <= u128::from(end));
            // Fewest blocks: the greedy step could not have taken a bigger one.
            let bigger = size * 2;
            prop_assert!(
                bits == cap || u128::from(addr) % bigger != 0 || u128::from(addr) + bigger > u128::from(end)
            );
        }
        prop_assert_eq!(at, u128::from(end.max(start)), "covers [start, end) exactly");
    }
}

#[test]
fn blocks_of_a_free_set_cover_it() {
    let m = set(&[(0x1000, 0x9f000), (0x10_0000, 0x7fe_0000)]);
    let total: u64 = m
        .regions()
        .iter()
        .flat_map(|g| aligned_blocks(g.start, g.end, 47))
        .map(|(_, bits)| 1u64 << bits)
        .sum();
    assert_eq!(total, m.free_bytes());
}
