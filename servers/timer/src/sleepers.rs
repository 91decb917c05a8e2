//! The clients kept waiting, earliest deadline first.
//!
//! Each sleeper is a deadline, the badge of the client that called, and
//! what the server answers it with (its reply token). The queue is a
//! binary heap of fixed capacity (no allocation), ordered by deadline and,
//! for equal deadlines, by arrival, so sleepers with one deadline wake in
//! the order they called. Inserting and taking the earliest are
//! O(log n); counting a client's sleepers is O(n), with n at most the
//! server's reply objects (64).
//!
//! A client may hold at most `per_client` sleepers at once: a client with
//! many threads cannot take every reply object and starve the others (a
//! dead client's sleepers count until their deadlines pass; see
//! `docs/drivers.md`, "The timer server").

use core::cmp::Ordering;
use heapless::binary_heap::{BinaryHeap, Min};

/// One client waiting.
#[derive(Debug)]
pub struct Sleeper<T> {
    pub deadline: u64,
    /// Arrival order, to keep equal deadlines first come, first answered.
    pub seq: u64,
    pub badge: u64,
    pub token: T,
}

impl<T> PartialEq for Sleeper<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}

impl<T> Eq for Sleeper<T> {}

impl<T> PartialOrd for Sleeper<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Sleeper<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

/// Why a sleeper was not queued (it is handed back).
#[derive(Debug, PartialEq, Eq)]
pub enum Refused<T> {
    /// Its client already has `per_client` sleepers.
    ClientFull(T),
    /// The queue is full.
    Full(T),
}

/// Sleepers, earliest deadline first.
#[derive(Debug)]
pub struct Sleepers<T, const N: usize> {
    heap: BinaryHeap<Sleeper<T>, Min, N>,
    next_seq: u64,
    per_client: usize,
}

impl<T, const N: usize> Sleepers<T, N> {
    /// An empty queue that keeps at most `per_client` sleepers per badge.
    pub fn new(per_client: usize) -> Self {
        Sleepers {
            heap: BinaryHeap::new(),
            next_seq: 0,
            per_client,
        }
    }

    /// Queue `token` for `badge` until `deadline`.
    pub fn insert(&mut self, badge: u64, deadline: u64, token: T) -> Result<(), Refused<T>> {
        if self.of_client(badge) >= self.per_client {
            return Err(Refused::ClientFull(token));
        }
        let seq = self.next_seq;
        let sleeper = Sleeper {
            deadline,
            seq,
            badge,
            token,
        };
        match self.heap.push(sleeper) {
            Ok(()) => {
                self.next_seq = seq.wrapping_add(1);
                Ok(())
            }
            Err(s) => Err(Refused::Full(s.token)),
        }
    }

    /// The earliest deadline, if anyone sleeps.
    pub fn earliest(&self) -> Option<u64> {
        self.heap.peek().map(|s| s.deadline)
    }

    /// Take the earliest sleeper if its deadline is at or before `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<Sleeper<T>> {
        if self.earliest()? <= now {
            self.heap.pop()
        } else {
            None
        }
    }

    /// How many sleepers `badge` has.
    pub fn of_client(&self, badge: u64) -> usize {
        self.heap.iter().filter(|s| s.badge == badge).count()
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn sleepers_wake_in_deadline_order_then_arrival_order() {
        let mut q: Sleepers<u32, 64> = Sleepers::new(64);
        // Twenty clients, deadlines scrambled, two sharing one deadline.
        let deadlines = [
            70u64, 20, 110, 40, 190, 10, 150, 90, 130, 30, 170, 50, 200, 60, 120, 80, 180, 100,
            140, 100,
        ];
        for (i, &d) in deadlines.iter().enumerate() {
            q.insert(i as u64, d, i as u32).unwrap();
        }
        assert_eq!(q.earliest(), Some(10));
        assert!(q.pop_due(9).is_none(), "nothing is due before the earliest");
        let mut woke = Vec::new();
        let mut now = 0;
        while !q.is_empty() {
            now += 5;
            while let Some(s) = q.pop_due(now) {
                assert!(s.deadline <= now);
                woke.push((s.deadline, s.token));
            }
        }
        let mut want: Vec<(u64, u32)> = deadlines
            .iter()
            .enumerate()
            .map(|(i, &d)| (d, i as u32))
            .collect();
        want.sort();
        assert_eq!(woke, want, "by deadline; the two at 100 in arrival order");
    }

    #[test]
    fn a_client_cannot_take_every_slot() {
        let mut q: Sleepers<u8, 8> = Sleepers::new(2);
        q.insert(7, 10, 1).unwrap();
        q.insert(7, 5, 2).unwrap();
        assert_eq!(q.insert(7, 1, 3), Err(Refused::ClientFull(3)));
        for b in 0..6 {
            q.insert(b, 100, 0).unwrap();
        }
        assert_eq!(q.insert(9, 1, 4), Err(Refused::Full(4)));
        assert_eq!(q.len(), 8);
        // Once one of its sleepers is answered, the client may sleep again.
        assert_eq!(q.pop_due(5).map(|s| s.token), Some(2));
        q.insert(7, 1, 5).unwrap();
        assert_eq!(q.of_client(7), 2);
    }

    #[test]
    fn far_deadlines_do_not_overflow() {
        let mut q: Sleepers<(), 4> = Sleepers::new(4);
        q.insert(1, u64::MAX, ()).unwrap();
        q.insert(1, 0, ()).unwrap();
        assert_eq!(q.pop_due(0).map(|s| s.deadline), Some(0));
        assert!(q.pop_due(u64::MAX - 1).is_none());
        assert_eq!(q.pop_due(u64::MAX).map(|s| s.deadline), Some(u64::MAX));
    }
}
