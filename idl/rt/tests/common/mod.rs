//! Representative wire types shared by the integration tests, and a small
//! seeded generator for the random-input loops.
#![allow(dead_code)]

use heapless::{String, Vec};
use septum_idl::Region;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u8)]
pub enum Mode {
    Plain = 0,
    Shout = 1,
    Whisper = 7,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Point {
    pub x: i32,
    pub y: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nested {
    pub at: Point,
    pub mode: Mode,
    pub flag: bool,
    pub name: String<16>,
    pub data: Vec<u8, 64>,
    pub region: Region,
    pub big: u64,
    pub small: i8,
    pub half: u16,
    pub signed: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shape {
    Dot(Point),
    Line { from: Point, to: Point },
    Named(String<8>),
    Empty,
}

/// xorshift64*: deterministic, fast, good enough to make inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn bytes(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let w = self.next().to_le_bytes();
            for (d, s) in chunk.iter_mut().zip(w) {
                *d = s;
            }
        }
    }
}
