//! A fixed-size byte ring: the driver's input and output buffers.
//!
//! Bounded by construction (`N` bytes, no allocation); `push` refuses a
//! byte when full instead of overwriting, so the caller decides what a
//! full buffer means (flow control for input, waiting writers for output).

/// A first-in, first-out ring of at most `N` bytes.
#[derive(Debug)]
pub struct Ring<const N: usize> {
    buf: [u8; N],
    /// Index of the oldest byte.
    head: usize,
    len: usize,
}

impl<const N: usize> Default for Ring<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Ring<N> {
    /// An empty ring.
    pub const fn new() -> Self {
        Ring {
            buf: [0; N],
            head: 0,
            len: 0,
        }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes that still fit.
    pub fn free(&self) -> usize {
        N - self.len
    }

    /// Append `b`; false (and nothing changed) if the ring is full.
    pub fn push(&mut self, b: u8) -> bool {
        if self.len == N {
            return false;
        }
        self.buf[(self.head + self.len) % N] = b;
        self.len += 1;
        true
    }

    /// Take the oldest byte.
    pub fn pop(&mut self) -> Option<u8> {
        if self.len == 0 {
            return None;
        }
        let b = self.buf[self.head];
        self.head = (self.head + 1) % N;
        self.len -= 1;
        Some(b)
    }

    /// The newest byte.
    pub fn last(&self) -> Option<u8> {
        self.len
            .checked_sub(1)
            .map(|i| self.buf[(self.head + i) % N])
    }

    /// Take back the newest byte (a Backspace erasing what was typed).
    pub fn pop_back(&mut self) -> Option<u8> {
        let b = self.last()?;
        self.len -= 1;
        Some(b)
    }

    /// The byte `i` places after the oldest.
    pub fn get(&self, i: usize) -> Option<u8> {
        (i < self.len).then(|| self.buf[(self.head + i) % N])
    }

    /// How many bytes up to and including the first `b` among the first
    /// `limit`, if there is one.
    pub fn find(&self, b: u8, limit: usize) -> Option<usize> {
        (0..self.len.min(limit))
            .find(|&i| self.get(i) == Some(b))
            .map(|i| i + 1)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::Ring;
    use std::vec::Vec;

    #[test]
    fn fills_refuses_and_wraps() {
        let mut r = Ring::<4>::new();
        for b in 1..=4 {
            assert!(r.push(b));
        }
        assert!(!r.push(5), "a full ring refuses instead of overwriting");
        assert_eq!(r.len(), 4);
        assert_eq!(r.pop(), Some(1));
        assert!(r.push(5));
        assert_eq!(
            (0..4).map(|i| r.get(i).unwrap()).collect::<Vec<_>>(),
            [2, 3, 4, 5]
        );
        assert_eq!(r.pop_back(), Some(5));
        assert_eq!(r.last(), Some(4));
        assert_eq!(r.find(4, 10), Some(3));
        assert_eq!(r.find(4, 2), None);
        while r.pop().is_some() {}
        assert!(r.is_empty());
        assert_eq!(r.pop_back(), None);
        assert_eq!(r.free(), 4);
    }

    #[test]
    fn keeps_order_over_many_wraps() {
        let mut r = Ring::<7>::new();
        let (mut next_in, mut next_out) = (0u8, 0u8);
        for round in 0..1000usize {
            for _ in 0..(round % 5) {
                if r.push(next_in) {
                    next_in = next_in.wrapping_add(1);
                }
            }
            for _ in 0..(round % 3) {
                if let Some(b) = r.pop() {
                    assert_eq!(b, next_out);
                    next_out = next_out.wrapping_add(1);
                }
            }
        }
    }
}
