//! The random system calls: a seeded generator (xorshift64*) and the
//! shapes it draws calls from.
//!
//! Most calls are plausible (a Septum number, a capability pointer into the
//! sandbox, an invocation label with arguments of the right kinds) so they
//! get past the first checks and reach the kernel's deeper paths; the rest
//! are anything at all. No draw ever produces `ThreadExit` or one of the
//! two marker numbers the fuzz thread uses to talk to the root task, and a
//! `DebugWrite` never names readable memory with a non-zero length (random
//! bytes on the console could forge a test line).

use crate::sandbox as sb;
use septum_user::abi::ipc::MAX_WORDS;
use septum_user::abi::{invocation as inv, syscall as nr};

/// Non-Septum numbers the fuzz thread executes on purpose; they arrive at
/// the root task as unknown-system-call faults.
pub const MARK_BATCH: u64 = 0x0f22_0000_ba7c_0001;
pub const MARK_DONE: u64 = 0x0f22_0000_d0e0_0002;

/// A seeded xorshift64* generator.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // One splitmix64 step spreads the seed's bits; xorshift needs a
        // non-zero state.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)).max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0; the bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// What class a call was drawn from, for the statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A known Septum call.
    Septum,
    /// A number in Septum's range that names no call.
    UnknownSeptum,
    /// A number outside Septum's range: a fault.
    Foreign,
}

/// One system call to make.
pub struct Call {
    pub number: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub mr: [u64; 4],
    pub r12: u64,
    /// Message words 4.. (to go into the IPC buffer), `extra_len` of them.
    pub extra: [u64; MAX_WORDS - 4],
    pub extra_len: usize,
    pub class: Class,
}

/// Every Septum call the generator may make (never `ThreadExit`), with
/// weights. `DebugCheck` is rare: each one walks the whole kernel state.
const NUMBERS: &[(u64, u64)] = &[
    (nr::CALL, 520),
    (nr::SEND, 30),
    (nr::NB_SEND, 50),
    (nr::RECV, 15),
    (nr::NB_RECV, 45),
    (nr::REPLY, 30),
    (nr::REPLY_RECV, 15),
    (nr::SIGNAL, 40),
    (nr::WAIT, 10),
    (nr::POLL, 40),
    (nr::YIELD, 15),
    (nr::DEBUG_WRITE, 30),
    (nr::DEBUG_CHECK, 1),
];

/// Every invocation label, for `Call`s on kernel objects.
const LABELS: &[u64] = &[
    inv::CNODE_COPY,
    inv::CNODE_MINT,
    inv::CNODE_MOVE,
    inv::CNODE_DELETE,
    inv::CNODE_REVOKE,
    inv::CNODE_IDENTIFY,
    inv::UNTYPED_RETYPE,
    inv::TCB_CONFIGURE,
    inv::TCB_SET_PRIORITY,
    inv::TCB_SET_MCP,
    inv::TCB_READ_REGISTERS,
    inv::TCB_WRITE_REGISTERS,
    inv::TCB_RESUME,
    inv::TCB_SUSPEND,
    inv::TCB_SET_TLS,
    inv::TCB_BIND_NOTIFICATION,
    inv::TCB_UNBIND_NOTIFICATION,
    inv::TCB_SET_SYSCALL_FAULTS,
    inv::TCB_READ_FPU,
    inv::TCB_WRITE_FPU,
    inv::TCB_SET_NAME,
    inv::PAGE_TABLE_MAP,
    inv::PAGE_TABLE_UNMAP,
    inv::FRAME_MAP,
    inv::FRAME_UNMAP,
    inv::FRAME_ADDRESS,
    inv::ASID_ASSIGN,
];

/// Interesting fixed values.
const EDGES: &[u64] = &[
    0,
    1,
    u64::MAX,
    1 << 63,
    (1 << 63) - 1,
    1 << 47,
    (1 << 47) - 1,
    0xfff,
    0x1000,
    0x20_0000,
    1 << 32,
    u32::MAX as u64,
    0xff,
    0x100,
    (1 << 52) - 1,
];

/// Depths for (index, depth) slot arguments: the sandbox's 8 bits, two
/// levels (8 + 4), and wrong ones.
const DEPTHS: &[u64] = &[8, 8, 8, 8, 12, 12, 0, 1, 4, 7, 9, 16, 56, 63, 64, 65, 128];

/// Page-aligned bases in the sandbox address space (and the kernel's and
/// the canonical hole's edges) where page tables and frames may be mapped.
const REGIONS: &[u64] = &[
    0,
    0x40_0000_0000,
    0x1000_0000,
    0x7fff_ffe0_0000,
    0x7fff_ffff_f000,
    0xffff_8000_0000_0000,
    0xffff_ff80_0000_0000,
    0xffff_ffff_ffff_f000,
];

impl Rng {
    /// A sandbox slot index, mostly among the populated ones.
    pub fn slot(&mut self) -> u64 {
        if self.chance(65) {
            self.below(sb::FIRST_FREE + 2)
        } else {
            self.below(sb::SLOTS)
        }
    }

    /// A capability pointer: mostly a sandbox slot (its index in the top
    /// 8 bits, the sandbox CNode having no guard), sometimes two levels
    /// deep, sometimes anything.
    pub fn cptr(&mut self) -> u64 {
        match self.below(100) {
            0..=74 => self.slot() << 56,
            75..=81 => (sb::CNODE2 << 56) | (self.below(16) << 52),
            82..=87 => self.slot(),
            88..=90 => 0,
            _ => self.next(),
        }
    }

    /// A pointer to one of `slots` (where the sandbox keeps capabilities of
    /// the kind an argument wants) most of the time, else any pointer.
    fn typed(&mut self, slots: &[u64]) -> u64 {
        if self.chance(70) {
            self.pick(slots) << 56
        } else {
            self.cptr()
        }
    }

    /// The object an invocation label is meant for, as a pointer.
    fn target(&mut self, label: u64) -> u64 {
        match label {
            inv::CNODE_COPY..=inv::CNODE_IDENTIFY => {
                self.typed(&[sb::CNODE_SELF, sb::CNODE_SPARE[0], sb::CNODE_SPARE[1]])
            }
            inv::UNTYPED_RETYPE => self.typed(&[sb::UNTYPED]),
            inv::TCB_CONFIGURE..=inv::TCB_SET_NAME => self.typed(&[sb::VICTIM]),
            inv::PAGE_TABLE_MAP | inv::PAGE_TABLE_UNMAP => {
                self.typed(&[sb::PDPT, sb::PD, sb::PT, sb::PML4])
            }
            inv::FRAME_MAP..=inv::FRAME_ADDRESS => {
                self.typed(&[sb::FRAME0, sb::FRAME0 + 1, sb::FRAME0 + 3, sb::FRAME_RO])
            }
            inv::ASID_ASSIGN => self.typed(&[sb::ASIDS]),
            _ => self.cptr(),
        }
    }

    /// An address: user, kernel, non-canonical, unaligned.
    pub fn addr(&mut self) -> u64 {
        match self.below(100) {
            0..=34 => self.pick(REGIONS).wrapping_add(self.below(512) << 12),
            35..=49 => (self.next() & 0x7fff_ffff_f000).max(0x1000),
            50..=59 => 0xffff_8080_0000_0000 + ((self.next() & 0x3_ffff_ffff) << 12),
            60..=69 => (1 << 47) | (self.next() & 0x7fff_ffff_f000),
            70..=74 => 0xfff0_0000_0000_0000 | (self.next() & 0xffff_ffff_f000),
            75..=84 => self.pick(REGIONS).wrapping_add(self.below(0x10000)),
            85..=89 => self.pick(EDGES),
            _ => self.next(),
        }
    }

    /// A message word of no particular kind.
    pub fn word(&mut self) -> u64 {
        match self.below(100) {
            0..=24 => self.below(16),
            25..=39 => self.slot(),
            40..=54 => self.cptr(),
            55..=69 => self.addr(),
            70..=79 => self.pick(DEPTHS),
            80..=89 => self.pick(EDGES),
            _ => self.next(),
        }
    }

    fn rights(&mut self) -> u64 {
        if self.chance(90) {
            self.below(16)
        } else {
            self.next()
        }
    }

    fn badge(&mut self) -> u64 {
        match self.below(4) {
            0 => 0,
            1 => self.below(256),
            2 => self.pick(EDGES),
            _ => self.next(),
        }
    }

    fn depth(&mut self) -> u64 {
        if self.chance(70) {
            8
        } else {
            self.pick(DEPTHS)
        }
    }

    /// A slot index to go with a depth: 8 bits in the sandbox, or 12 bits
    /// through the sandbox's second CNode.
    fn index(&mut self) -> u64 {
        match self.below(10) {
            0..=6 => self.slot(),
            7 => (sb::CNODE2 << 4) | self.below(16),
            8 => self.below(1 << 12),
            _ => self.word(),
        }
    }

    /// A destination slot index: often one that starts out empty.
    fn dest(&mut self) -> u64 {
        if self.chance(50) {
            sb::FIRST_FREE + self.below(sb::SLOTS - sb::FIRST_FREE)
        } else {
            self.index()
        }
    }

    /// Priorities: mostly legal for the sandbox's threads (MCP 0).
    fn prio(&mut self) -> u64 {
        match self.below(4) {
            0 => 0,
            1 => self.below(256),
            2 => self.pick(&[1, 100, 255, 256]),
            _ => self.next(),
        }
    }

    /// Arguments for invocation `label`, shaped like the real ones.
    fn args(&mut self, label: u64, out: &mut [u64; MAX_WORDS]) -> usize {
        let mut put = |i: usize, v: u64| out[i] = v;
        match label {
            inv::CNODE_COPY | inv::CNODE_MINT | inv::CNODE_MOVE => {
                put(0, self.dest());
                put(1, self.depth());
                put(2, self.typed(&[sb::CNODE_SELF, sb::CNODE_SPARE[0]]));
                put(
                    3,
                    if self.chance(70) {
                        self.below(sb::FIRST_FREE)
                    } else {
                        self.index()
                    },
                );
                put(4, self.depth());
                put(5, self.rights());
                put(6, self.badge());
                7
            }
            inv::CNODE_DELETE | inv::CNODE_REVOKE | inv::CNODE_IDENTIFY => {
                put(0, self.index());
                put(1, self.depth());
                2
            }
            inv::UNTYPED_RETYPE => {
                put(0, self.below(11));
                let bits = match self.below(4) {
                    0 => self.below(5),
                    1 => 12 + self.below(6),
                    2 => self.below(48),
                    _ => self.word(),
                };
                put(1, bits);
                put(2, if self.chance(80) { 0 } else { self.cptr() });
                put(
                    3,
                    if self.chance(80) {
                        self.dest()
                    } else {
                        self.word()
                    },
                );
                put(
                    4,
                    match self.below(4) {
                        0 | 1 => 1,
                        2 => self.below(8),
                        _ => self.word(),
                    },
                );
                5
            }
            inv::TCB_CONFIGURE => {
                put(0, self.typed(&[sb::CNODE_SELF, sb::CNODE2]));
                put(1, self.typed(&[sb::PML4]));
                let frames = [sb::FRAME0, sb::FRAME0 + 2, sb::FRAME_RO];
                put(
                    2,
                    if self.chance(30) {
                        0
                    } else {
                        self.typed(&frames)
                    },
                );
                put(3, self.addr());
                let eps = [sb::EP, sb::EP_BADGED, sb::EP_UNSERVED];
                put(4, if self.chance(40) { 0 } else { self.typed(&eps) });
                5
            }
            inv::TCB_SET_PRIORITY | inv::TCB_SET_MCP => {
                put(0, self.typed(&[sb::VICTIM]));
                put(1, self.prio());
                2
            }
            inv::TCB_WRITE_REGISTERS => {
                for i in 0..20 {
                    put(i, self.word());
                }
                put(15, self.addr());
                put(16, self.addr());
                put(17, if self.chance(70) { 0x202 } else { self.next() });
                18 + self.below(3) as usize
            }
            inv::TCB_SET_TLS => {
                put(0, self.addr());
                put(1, self.addr());
                2
            }
            inv::TCB_BIND_NOTIFICATION => {
                put(
                    0,
                    self.typed(&[sb::NTFN, sb::NTFN_BADGED, sb::NTFN_WAIT_ONLY]),
                );
                1
            }
            inv::ASID_ASSIGN => {
                put(0, self.typed(&[sb::PML4]));
                1
            }
            inv::TCB_SET_SYSCALL_FAULTS => {
                put(0, self.below(3));
                1
            }
            inv::TCB_READ_FPU => {
                put(0, self.below(140));
                1
            }
            inv::TCB_WRITE_FPU => {
                put(0, self.below(140));
                let n = self.below(66) as usize;
                for i in 1..=n {
                    put(i, self.word());
                }
                n + 1
            }
            inv::TCB_SET_NAME => {
                // Lower-case letters: the name shows up in kernel logs.
                for i in 0..4 {
                    let mut w = 0u64;
                    for b in 0..8 {
                        w |= (b'a' as u64 + self.below(26)) << (8 * b);
                    }
                    put(i, w);
                }
                self.below(5) as usize
            }
            inv::PAGE_TABLE_MAP => {
                put(0, self.typed(&[sb::PML4]));
                put(1, self.addr());
                2
            }
            inv::FRAME_MAP => {
                put(0, self.typed(&[sb::PML4]));
                put(1, self.addr());
                put(
                    2,
                    if self.chance(85) {
                        self.below(4)
                    } else {
                        self.word()
                    },
                );
                3
            }
            _ => 0,
        }
    }

    /// The next call.
    pub fn call(&mut self) -> Call {
        let mut c = Call {
            number: 0,
            rdi: self.cptr(),
            rsi: 0,
            mr: [0; 4],
            r12: 0,
            extra: [0; MAX_WORDS - 4],
            extra_len: 0,
            class: Class::Septum,
        };
        let roll = self.below(1000);
        if roll < 30 {
            c.class = Class::UnknownSeptum;
            c.number = loop {
                let n = nr::BASE + self.below(0x100);
                if !NUMBERS.iter().any(|&(k, _)| k == n) && n != nr::THREAD_EXIT {
                    break n;
                }
            };
        } else if roll < 80 {
            c.class = Class::Foreign;
            c.number = match self.below(4) {
                0 => self.below(460),
                1 => (1 << 30) | self.below(600),
                2 => self.below(nr::BASE),
                _ => loop {
                    let n = self.next();
                    if !nr::is_septum(n) && n != MARK_BATCH && n != MARK_DONE {
                        break n;
                    }
                },
            };
        } else {
            let total: u64 = NUMBERS.iter().map(|&(_, w)| w).sum();
            let mut r = self.below(total);
            for &(n, w) in NUMBERS {
                if r < w {
                    c.number = n;
                    break;
                }
                r -= w;
            }
        }
        let mut words = [0u64; MAX_WORDS];
        let (label, len) = if c.number == nr::CALL && self.chance(85) {
            let label = self.pick(LABELS);
            c.rdi = self.target(label);
            let natural = self.args(label, &mut words);
            let len = if self.chance(75) {
                natural
            } else {
                self.below(71) as usize
            };
            (label, len)
        } else {
            for w in words.iter_mut() {
                *w = self.word();
            }
            let label = match self.below(10) {
                0..=5 => self.pick(LABELS),
                6 | 7 => self.below(128),
                8 => self.below(1 << 52),
                _ => self.next(),
            };
            (label, self.below(71) as usize)
        };
        // The info word: mostly well formed; sometimes capabilities,
        // reserved bits, or anything.
        let caps = if self.chance(8) { self.below(4) } else { 0 };
        let reserved = if self.chance(2) {
            self.below(8) << 9
        } else {
            0
        };
        c.rsi = if self.chance(3) {
            self.next()
        } else {
            (label << 12) | reserved | (caps << 7) | (len.min(127) as u64)
        };
        c.mr.copy_from_slice(&words[..4]);
        let n = len.clamp(4, MAX_WORDS) - 4;
        c.extra[..n].copy_from_slice(&words[4..4 + n]);
        c.extra_len = n;
        c.r12 = match self.below(10) {
            0..=5 => sb::REPLY0 << 56,
            6 | 7 => sb::REPLY1 << 56,
            8 => 0,
            _ => self.cptr(),
        };
        if c.number == nr::DEBUG_WRITE {
            self.debug_write_args(&mut c);
        }
        c
    }

    /// `DebugWrite` arguments that print nothing: a length of 0, or a
    /// pointer the root task's address space does not map readable.
    fn debug_write_args(&mut self, c: &mut Call) {
        const UNMAPPED: &[u64] = &[0, 8, 0xfff, 0x5000_0000_0000, 0xffff_9000_0000_0000];
        match self.below(5) {
            0 => {
                c.rdi = self.word();
                c.rsi = 0;
            }
            1 => {
                c.rdi = 0xffff_8080_0000_0000 + (self.below(1 << 20) << 3);
                c.rsi = self.below(5000);
            }
            2 => {
                c.rdi = (1 << 47) + self.below(1 << 20);
                c.rsi = self.below(5000);
            }
            3 => {
                c.rdi = self.pick(UNMAPPED);
                c.rsi = 1 + self.below(8192);
            }
            _ => {
                // Too long for one write, wherever it points.
                c.rdi = self.word();
                c.rsi = 4097 + self.below(1 << 20);
            }
        }
    }
}
