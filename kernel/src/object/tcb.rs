//! Thread control blocks: a thread's registers, state and references.
//!
//! A TCB is a 2 KiB object. Its first 176 bytes are the saved user context
//! in exactly the layout `arch::x86_64::trap` writes on entry, so that the
//! CPU and the entry stubs save a running thread's registers straight into
//! its TCB. Then come scheduling and IPC fields, four capability slots
//! (address space roots, IPC buffer, fault endpoint) that keep what the
//! thread uses alive, and, 64-byte aligned, its XSAVE area.
//!
//! ```text
//! 0x000 user context (22 words)        0x100 fs base
//! 0x0b0 state                          0x108 gs base
//! 0x0b8 priority | mcp<<8 | flags<<16  0x110 IPC buffer address
//! 0x0c0 run-queue prev                 0x118 time-slice ticks left
//! 0x0c8 run-queue next | queued        0x120 name (32 bytes)
//! 0x0d0 IPC-queue prev                 0x180 slot: cspace root
//! 0x0d8 IPC-queue next                 0x1a0 slot: vspace root
//! 0x0e0 object blocked on              0x1c0 slot: IPC buffer frame
//! 0x0e8 badge of the message           0x1e0 slot: fault endpoint
//! 0x0f0 reply object                   0x400 XSAVE area (1 KiB)
//! 0x0f8 bound notification           0x140 fault address
//!                                      0x148 time partition
//! 0x150 scheduling key (partition << 8 | priority)
//! 0x158 fs base | gs base
//! 0x200 lookup caches (derived from the cspace and vspace slots'
//!       words, checked against them on every use: see below)
//! ```

use super::Slot;
use crate::arch::paging::{read_word, write_word};
use crate::arch::trap::UserContext;
use core::mem::size_of;

/// log2 of a TCB's size.
pub const TCB_BITS: u32 = 11;
const CTX_WORDS: u64 = (size_of::<UserContext>() / 8) as u64;

const STATE: u64 = 0x0b0;
const PRIO: u64 = 0x0b8;
pub(crate) const RQ_PREV: u64 = 0x0c0;
pub(crate) const RQ_NEXT: u64 = 0x0c8;
pub(crate) const IPC_PREV: u64 = 0x0d0;
pub(crate) const IPC_NEXT: u64 = 0x0d8;
const BLOCKED_ON: u64 = 0x0e0;
const BADGE: u64 = 0x0e8;
const REPLY: u64 = 0x0f0;
const BOUND_NTFN: u64 = 0x0f8;
const FS_BASE: u64 = 0x100;
const GS_BASE: u64 = 0x108;
const IPC_BUFFER: u64 = 0x110;
const SLICE: u64 = 0x118;
const NAME: u64 = 0x120;
const FAULT_ADDR: u64 = 0x140;
const PARTITION: u64 = 0x148;
/// Longest thread name kept.
pub const NAME_LEN: usize = 32;
const SLOT_CSPACE: u64 = 0x180;
const SLOT_VSPACE: u64 = 0x1a0;
const SLOT_IPC_BUFFER: u64 = 0x1c0;
const SLOT_FAULT_EP: u64 = 0x1e0;
/// `partition << 8 | priority`, kept with both: [`Tcb::sched_key`].
const SCHED_KEY: u64 = 0x150;
/// `fs base | gs base`, kept with both: [`Tcb::tls_any`].
const TLS_ANY: u64 = 0x158;
/// The flat capability-space cache ([`Tcb::flat_slot`]): the cspace
/// slot's two words it was made from, then what they decode to.
const CS_W0: u64 = 0x200;
const CS_W1: u64 = 0x208;
const CS_GUARD: u64 = 0x210;
const CS_LIMIT: u64 = 0x218;
const CS_BASE: u64 = 0x220;
/// The address-space cache ([`Tcb::pml4`]): the vspace slot's word 0 it
/// was made from, and the PML4 it names.
const VS_W0: u64 = 0x228;
const VS_PML4: u64 = 0x230;
/// No slot's word 0 (type code 0x1f is no capability type): a cache key
/// that matches nothing.
const NO_KEY: u64 = u64::MAX;
const _: () = assert!(VS_PML4 + 8 <= XSAVE);
/// Offset of the XSAVE area.
pub const XSAVE: u64 = 0x400;
/// Size of the XSAVE area.
pub const XSAVE_SIZE: u64 = 0x400;
const _: () = assert!(XSAVE == crate::arch::fpu::AREA_OFFSET);

const _: () = assert!(CTX_WORDS * 8 <= STATE);
/// Bytes of the saved context at the start of a TCB.
pub const CONTEXT_BYTES: u64 = CTX_WORDS * 8;
const _: () = assert!(XSAVE + XSAVE_SIZE == 1 << TCB_BITS);

/// What a thread is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum State {
    /// Created, not yet resumed (or suspended).
    Inactive = 0,
    /// Running or in the run queue.
    Runnable = 1,
    /// Waiting to send on an endpoint.
    BlockedSend = 2,
    /// Waiting to receive on an endpoint.
    BlockedRecv = 3,
    /// Sent a `Call` (or a fault), waiting for the reply.
    BlockedReply = 4,
    /// Waiting on a notification.
    BlockedNotification = 5,
    /// Stopped for good: exited, or faulted with nobody to tell.
    Dead = 6,
}

impl State {
    fn from_word(w: u64) -> State {
        match w {
            1 => State::Runnable,
            2 => State::BlockedSend,
            3 => State::BlockedRecv,
            4 => State::BlockedReply,
            5 => State::BlockedNotification,
            6 => State::Dead,
            _ => State::Inactive,
        }
    }
}

/// Per-thread flags.
pub mod flags {
    /// Every `syscall` the thread executes is delivered as a fault.
    pub const SYSCALL_FAULTS: u64 = 1;
    /// The next return to user mode must restore every register (`iretq`).
    pub const FULL_RESTORE: u64 = 2;
    /// The thread is blocked in a `Call` (not a plain `Send`): it wants a reply.
    pub const CALLING: u64 = 4;
    /// The blocked sender's endpoint capability had the grant right.
    pub const GRANT: u64 = 8;
    /// The thread has been resumed at least once: its name is fixed.
    pub const STARTED: u64 = 16;
}

/// A saved register, by its word index in the context. (The selector
/// words are listed for the layout; the kernel forces them, never reads them.)
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Reg {
    R15 = 0,
    R14 = 1,
    R13 = 2,
    R12 = 3,
    R11 = 4,
    R10 = 5,
    R9 = 6,
    R8 = 7,
    Rbp = 8,
    Rdi = 9,
    Rsi = 10,
    Rdx = 11,
    Rcx = 12,
    Rbx = 13,
    Rax = 14,
    Vector = 15,
    Error = 16,
    Rip = 17,
    Cs = 18,
    Rflags = 19,
    Rsp = 20,
    Ss = 21,
}

/// The registers of a fault message, of TCB register reads and writes,
/// and of a fault reply, in that order: index `i` is `septum_abi::fault`'s
/// word `i` (`W_RAX` = 0 … `W_RFLAGS` = 17).
pub const FAULT_ORDER: [Reg; 18] = [
    Reg::Rax,
    Reg::Rbx,
    Reg::Rcx,
    Reg::Rdx,
    Reg::Rsi,
    Reg::Rdi,
    Reg::Rbp,
    Reg::R8,
    Reg::R9,
    Reg::R10,
    Reg::R11,
    Reg::R12,
    Reg::R13,
    Reg::R14,
    Reg::R15,
    Reg::Rip,
    Reg::Rsp,
    Reg::Rflags,
];

const _: () = {
    use septum_abi::fault as f;
    assert!(matches!(FAULT_ORDER[f::W_RAX], Reg::Rax));
    assert!(matches!(FAULT_ORDER[f::W_RSI], Reg::Rsi));
    assert!(matches!(FAULT_ORDER[f::W_R15], Reg::R15));
    assert!(matches!(FAULT_ORDER[f::W_RIP], Reg::Rip));
    assert!(matches!(FAULT_ORDER[f::W_RFLAGS], Reg::Rflags));
};

/// A thread, by the physical address of its TCB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tcb(pub u64);

impl Tcb {
    fn get(self, off: u64) -> u64 {
        read_word(self.0 + off)
    }

    fn put(self, off: u64, v: u64) {
        write_word(self.0 + off, v)
    }

    /// A fresh TCB (the memory is already zeroed): inactive, priority 0,
    /// MCP 0, a full time slice, standard FPU state.
    pub fn init(self) {
        let mut ctx = UserContext::new(0, 0);
        ctx.sanitize();
        self.set_context(&ctx);
        crate::arch::fpu::init_area(self.0 + XSAVE);
        self.set_slice(crate::sched::SLICE_TICKS);
        // What an old TCB at this address cached describes its slots, not
        // these (empty) ones.
        self.put(CS_W0, NO_KEY);
        self.put(VS_W0, NO_KEY);
        self.put(SCHED_KEY, 0);
        self.put(TLS_ANY, 0);
        // A thread that lived at this address before may still be what the
        // CPU's FPU and FS/GS caches name; this one must start from its own
        // (fresh) state, never from what the old one left in the CPU.
        crate::arch::fpu::forget(self.0);
        crate::arch::cpu::forget_tls(self.0);
    }

    /// A saved register.
    pub fn reg(self, r: Reg) -> u64 {
        self.get(r as u64 * 8)
    }

    /// Overwrite a saved register.
    pub fn set_reg(self, r: Reg, v: u64) {
        self.put(r as u64 * 8, v)
    }

    /// Overwrite the whole saved context.
    pub fn set_context(self, ctx: &UserContext) {
        for (i, w) in ctx.to_words().iter().enumerate() {
            self.put(i as u64 * 8, *w);
        }
    }

    pub fn state(self) -> State {
        State::from_word(self.get(STATE))
    }

    pub fn set_state(self, s: State) {
        self.put(STATE, s as u64)
    }

    pub fn priority(self) -> u8 {
        self.get(PRIO) as u8
    }

    pub fn mcp(self) -> u8 {
        (self.get(PRIO) >> 8) as u8
    }

    pub fn set_priority(self, p: u8) {
        self.put(PRIO, (self.get(PRIO) & !0xff) | u64::from(p));
        self.put(SCHED_KEY, (self.get(SCHED_KEY) & !0xff) | u64::from(p));
    }

    /// `partition << 8 | priority`, one word for the one compare
    /// `sched::may_switch_to` makes. Kept by the only two writers of
    /// either ([`Tcb::set_priority`], [`Tcb::set_partition_word`]).
    #[inline(always)]
    pub fn sched_key(self) -> u64 {
        self.get(SCHED_KEY)
    }

    pub fn set_mcp(self, p: u8) {
        self.put(PRIO, (self.get(PRIO) & !0xff00) | (u64::from(p) << 8))
    }

    pub fn has_flag(self, f: u64) -> bool {
        (self.get(PRIO) >> 16) & f != 0
    }

    pub fn set_flag(self, f: u64, on: bool) {
        let w = self.get(PRIO);
        let bit = f << 16;
        self.put(PRIO, if on { w | bit } else { w & !bit })
    }

    pub fn blocked_on(self) -> u64 {
        self.get(BLOCKED_ON)
    }

    pub fn set_blocked_on(self, obj: u64) {
        self.put(BLOCKED_ON, obj)
    }

    pub fn badge(self) -> u64 {
        self.get(BADGE)
    }

    pub fn set_badge(self, b: u64) {
        self.put(BADGE, b)
    }

    /// The reply object this thread is bound to (as caller or server).
    pub fn reply(self) -> u64 {
        self.get(REPLY)
    }

    pub fn set_reply(self, r: u64) {
        self.put(REPLY, r)
    }

    pub fn bound_notification(self) -> u64 {
        self.get(BOUND_NTFN)
    }

    pub fn set_bound_notification(self, n: u64) {
        self.put(BOUND_NTFN, n)
    }

    /// Address of the fault the thread is stopped on.
    pub fn fault_addr(self) -> u64 {
        self.get(FAULT_ADDR)
    }

    pub fn set_fault_addr(self, a: u64) {
        self.put(FAULT_ADDR, a)
    }

    /// The time partition the thread runs in (0 for a new thread).
    pub fn partition(self) -> u8 {
        self.get(PARTITION) as u8
    }

    /// Only `sched::set_partition` changes it: the run queue a thread is
    /// in depends on it.
    pub(crate) fn set_partition_word(self, p: u8) {
        self.put(PARTITION, u64::from(p));
        self.put(SCHED_KEY, (u64::from(p) << 8) | u64::from(self.priority()));
    }

    pub fn fs_base(self) -> u64 {
        self.get(FS_BASE)
    }

    pub fn gs_base(self) -> u64 {
        self.get(GS_BASE)
    }

    pub fn set_tls(self, fs: u64, gs: u64) {
        self.put(FS_BASE, fs);
        self.put(GS_BASE, gs);
        self.put(TLS_ANY, fs | gs);
    }

    /// `fs_base() | gs_base()`, kept with both by [`Tcb::set_tls`], their
    /// only writer: whether the thread has a base at all, in one load.
    #[inline(always)]
    pub fn tls_any(self) -> u64 {
        self.get(TLS_ANY)
    }

    pub fn set_ipc_buffer(self, va: u64) {
        self.put(IPC_BUFFER, va)
    }

    pub fn slice(self) -> u64 {
        self.get(SLICE)
    }

    pub fn set_slice(self, ticks: u64) {
        self.put(SLICE, ticks)
    }

    /// The thread's name for logs (UTF-8 up to the first NUL).
    pub fn name(self) -> heapless::String<NAME_LEN> {
        let mut bytes = [0u8; NAME_LEN];
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&self.get(NAME + i as u64 * 8).to_le_bytes());
        }
        let len = bytes.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        let mut s = heapless::String::new();
        for &b in &bytes[..len] {
            let _ = s.push(if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            });
        }
        s
    }

    /// Set the name (cut to [`NAME_LEN`] bytes). Callers from user space
    /// check the bytes with [`is_name_byte`] first.
    pub fn set_name(self, name: &[u8]) {
        let mut bytes = [0u8; NAME_LEN];
        let n = name.len().min(NAME_LEN);
        bytes[..n].copy_from_slice(&name[..n]);
        for (i, chunk) in bytes.chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            self.put(NAME + i as u64 * 8, u64::from_le_bytes(w));
        }
    }

    pub fn cspace_slot(self) -> Slot {
        Slot(self.0 + SLOT_CSPACE)
    }

    pub fn vspace_slot(self) -> Slot {
        Slot(self.0 + SLOT_VSPACE)
    }

    pub fn ipc_buffer_slot(self) -> Slot {
        Slot(self.0 + SLOT_IPC_BUFFER)
    }

    pub fn fault_ep_slot(self) -> Slot {
        Slot(self.0 + SLOT_FAULT_EP)
    }

    /// The slots a TCB holds, for destruction.
    pub fn slots(self) -> [Slot; 4] {
        [
            self.cspace_slot(),
            self.vspace_slot(),
            self.ipc_buffer_slot(),
            self.fault_ep_slot(),
        ]
    }

    /// Physical address of the thread's PML4, if it has an address space.
    ///
    /// Runs on every switch, so it is cached: the vspace slot's word 0
    /// (type, object) is compared with the one the cache was made from,
    /// and on a match the PML4 found then is the answer. That is exact
    /// because only a PML4 capability (level 4: `TCB_CONFIGURE` and boot
    /// refuse anything else) or nothing is ever stored in the slot, and
    /// word 0 alone names the object: equal words name the same PML4
    /// address. Anything else (a new TCB, an emptied or replaced slot)
    /// misses and decodes the slot ([`Tcb::pml4_decode`]).
    #[inline(always)]
    pub fn pml4(self) -> Option<u64> {
        self.pml4_cached().or_else(|| self.pml4_decode())
    }

    /// [`Tcb::pml4`] if the cache holds it (`None`: decode).
    #[inline(always)]
    pub fn pml4_cached(self) -> Option<u64> {
        (read_word(self.vspace_slot().0) == self.get(VS_W0)).then(|| self.get(VS_PML4))
    }

    /// [`Tcb::pml4`] from the slot's stored words (type code 7 = page
    /// table, level field 3 = PML4), caching what it finds.
    #[cold]
    #[inline(never)]
    fn pml4_decode(self) -> Option<u64> {
        let slot = self.vspace_slot().0;
        let (w0, w1) = (read_word(slot), read_word(slot + 8));
        if w0 & 0x1f != septum_kcore::cap::CapType::PageTable as u64 || w1 & 3 != 3 {
            return None;
        }
        let pml4 = (w0 >> 12) << 4;
        self.put(VS_W0, w0);
        self.put(VS_PML4, pml4);
        Some(pml4)
    }

    /// The thread's capability space when it is one CNode whose guard and
    /// radix use all 64 bits (the root task's, and every domain's), to
    /// resolve pointers in one step ([`FlatSpace::slot`]); `None` if it is
    /// not of that shape (the general resolution applies).
    ///
    /// The decoded shape is cached in the TCB: the cspace slot's two words
    /// are compared with the ones it was made from, so a changed slot
    /// (from wherever it was changed) is decoded again, and a matching one
    /// decodes to exactly what is cached.
    #[inline(always)]
    pub fn flat_space(self) -> Option<FlatSpace> {
        self.flat_space_cached().or_else(|| self.flat_decode())
    }

    /// [`Tcb::flat_space`] if the cache holds it, else `None` (which the
    /// fast paths take as "decline": the general path they fall back to
    /// then fills the cache).
    #[inline(always)]
    pub fn flat_space_cached(self) -> Option<FlatSpace> {
        let root = self.cspace_slot().0;
        if read_word(root) != self.get(CS_W0) || read_word(root + 8) != self.get(CS_W1) {
            return None;
        }
        Some(FlatSpace {
            guard: self.get(CS_GUARD),
            limit: self.get(CS_LIMIT),
            base: self.get(CS_BASE),
        })
    }

    /// [`Tcb::flat_space`] from the slot's words, caching the shape.
    #[cold]
    #[inline(never)]
    fn flat_decode(self) -> Option<FlatSpace> {
        let root = self.cspace_slot();
        let (radix, guard, base) = super::cnode::flat_shape(root)?;
        let raw = root.raw();
        let space = FlatSpace::new(radix, guard, base);
        self.put(CS_W0, raw.w0);
        self.put(CS_W1, raw.w1);
        self.put(CS_GUARD, space.guard);
        self.put(CS_LIMIT, space.limit);
        self.put(CS_BASE, space.base);
        Some(space)
    }

    /// Force what every return to user mode relies on (IF set,
    /// IOPL/NT/RF/VM clear: `UserContext::user_rflags`) in the saved
    /// context itself; returns RIP. CS and SS are forced by the `iretq`
    /// exit, the only one that loads them from the context.
    pub fn sanitize_context(self) -> u64 {
        self.set_reg(Reg::Rflags, UserContext::user_rflags(self.reg(Reg::Rflags)));
        self.reg(Reg::Rip)
    }
}

/// A capability space of one CNode whose guard and radix use all 64 bits
/// of a pointer (`cnode::flat_shape`), ready for one-step lookups: with
/// `guard << radix` and `1 << radix` kept, `cptr >> radix == guard`
/// exactly when `cptr ^ (guard << radix) < 1 << radix`, and then that
/// value is the index (the guard's bits xor away, the index bits stay).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlatSpace {
    /// `guard << radix`.
    guard: u64,
    /// `1 << radix`, or 0 if the guard has more bits than the pointer
    /// leaves it (no pointer matches such a guard).
    limit: u64,
    /// The CNode's address.
    base: u64,
}

impl FlatSpace {
    /// The shape `cnode::flat_shape` found: radix 1..=63 (a CNode's is at
    /// most 31), the guard, the CNode.
    pub fn new(radix: u64, guard: u64, base: u64) -> FlatSpace {
        debug_assert!((1..64).contains(&radix));
        let radix = radix.clamp(1, 63);
        FlatSpace {
            guard: guard << radix,
            limit: if guard >> (64 - radix) == 0 {
                1 << radix
            } else {
                0
            },
            base,
        }
    }

    /// The slot `cptr` names, exactly as `cspace::resolve` finds it in
    /// such a space; `None` if the guard does not match (it names
    /// nothing).
    #[inline(always)]
    pub fn slot(self, cptr: u64) -> Option<Slot> {
        let index = cptr ^ self.guard;
        (index < self.limit).then(|| Slot(self.base + index * super::SLOT_SIZE))
    }
}

/// Whether `b` may appear in a thread name set from user space.
pub fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}
