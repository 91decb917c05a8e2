//! Finding a free address-space id in the kernel's bitmap of taken ones:
//! the search only, over words the caller reads (the kernel's are atomics),
//! so the host tests cover its edges.

/// The lowest clear bit in `from..to` of a bitmap of `words` 64-bit words,
/// word `w` read by `word(w)`; `None` if every bit there is set. `to` is
/// cut to the bitmap's size, so the answer is always below `words * 64`;
/// it is never below `from`.
pub fn lowest_free(words: usize, word: impl Fn(usize) -> u64, from: u64, to: u64) -> Option<u64> {
    let to = to.min(words as u64 * 64);
    let mut a = from;
    while a < to {
        let (w, bit) = (a as usize / 64, a % 64);
        // Taken bits, and those below `a`, read as taken.
        let taken = word(w) | ((1u64 << bit) - 1);
        if taken != u64::MAX {
            let found = (w as u64) * 64 + u64::from(taken.trailing_ones());
            return (found < to).then_some(found);
        }
        a = (w as u64 + 1) * 64;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::lowest_free;

    const WORDS: usize = 64;

    fn search(map: &[u64; WORDS], from: u64, to: u64) -> Option<u64> {
        lowest_free(WORDS, |w| map[w], from, to)
    }

    /// The answer by looking at every bit.
    fn naive(map: &[u64; WORDS], from: u64, to: u64) -> Option<u64> {
        (from..to.min(4096)).find(|&a| map[a as usize / 64] & (1 << (a % 64)) == 0)
    }

    fn take(map: &mut [u64; WORDS], a: u64) {
        map[a as usize / 64] |= 1 << (a % 64);
    }

    #[test]
    fn empty_map_gives_from() {
        let map = [0; WORDS];
        assert_eq!(search(&map, 1, 4096), Some(1));
        assert_eq!(search(&map, 0, 4096), Some(0));
        assert_eq!(search(&map, 4095, 4096), Some(4095));
        assert_eq!(search(&map, 63, 64), Some(63));
        assert_eq!(search(&map, 64, 65), Some(64));
    }

    #[test]
    fn empty_or_inverted_ranges_give_none() {
        let map = [0; WORDS];
        assert_eq!(search(&map, 5, 5), None);
        assert_eq!(search(&map, 6, 5), None);
        assert_eq!(search(&map, 4096, 8192), None);
        assert_eq!(search(&map, 4096, u64::MAX), None);
    }

    #[test]
    fn never_at_or_past_the_bitmap_end() {
        let map = [0; WORDS];
        // A pool reaching past the table is cut to it.
        assert_eq!(search(&map, 4095, u64::MAX), Some(4095));
        let mut full = [u64::MAX; WORDS];
        assert_eq!(search(&full, 1, u64::MAX), None);
        full[WORDS - 1] &= !(1 << 63);
        assert_eq!(search(&full, 1, u64::MAX), Some(4095));
        assert_eq!(search(&full, 1, 4095), None, "4095 lies outside 1..4095");
    }

    #[test]
    fn full_then_one_freed_at_each_edge() {
        for freed in [1, 63, 64, 65, 127, 128, 2048, 4031, 4032, 4094, 4095] {
            let mut map = [u64::MAX; WORDS];
            map[freed as usize / 64] &= !(1 << (freed % 64));
            assert_eq!(search(&map, 1, 4096), Some(freed), "freed {freed}");
            assert_eq!(search(&map, freed, freed + 1), Some(freed));
            assert_eq!(search(&map, freed + 1, 4096), None);
            assert_eq!(search(&map, 1, freed), None);
        }
    }

    #[test]
    fn bits_below_from_in_its_word_are_skipped() {
        let mut map = [0; WORDS];
        for a in 0..70 {
            take(&mut map, a);
        }
        // 70 is free; from 71 the next free is 71.
        assert_eq!(search(&map, 1, 4096), Some(70));
        assert_eq!(search(&map, 71, 4096), Some(71));
        take(&mut map, 71);
        assert_eq!(search(&map, 71, 4096), Some(72));
        assert_eq!(search(&map, 65, 70), None);
    }

    #[test]
    fn matches_the_naive_search() {
        // A simple deterministic generator: no dependency, same every run.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..2000 {
            let mut map = [0u64; WORDS];
            // Mostly full maps, so the answer lands in every word.
            let density = round % 4;
            for w in map.iter_mut() {
                let mut v = next();
                for _ in 0..density {
                    v |= next();
                }
                *w = v;
            }
            let from = next() % 4200;
            let to = next() % 4300;
            assert_eq!(
                search(&map, from, to),
                naive(&map, from, to),
                "round {round}: from {from}, to {to}"
            );
        }
    }
}
