//! Messages, the IPC buffer, and invocations of kernel objects.
//!
//! [`Ipc`] owns the calling thread's IPC buffer: message words past the
//! four that travel in registers, capabilities to send, and where received
//! capabilities go. Every kernel-object method is a typed wrapper over
//! [`Ipc::call`] that returns `Result<_, Error>`.

use crate::syscall::{Regs, raw, status};
use septum_abi::invocation as inv;
use septum_abi::ipc::{MAX_WORDS, MessageInfo, REGISTER_WORDS, buffer};
use septum_abi::object::object_type;
use septum_abi::{Error, syscall as nr};

/// A message: label, up to 68 words, and how many capabilities it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    pub label: u64,
    pub len: usize,
    pub caps: usize,
    pub words: [u64; MAX_WORDS],
}

impl Message {
    /// A message with `label` and `words`.
    pub fn new(label: u64, words: &[u64]) -> Self {
        let mut m = Message {
            label,
            len: 0,
            caps: 0,
            words: [0; MAX_WORDS],
        };
        let n = words.len().min(MAX_WORDS);
        m.words[..n].copy_from_slice(&words[..n]);
        m.len = n;
        m
    }

    /// The words that arrived.
    pub fn words(&self) -> &[u64] {
        &self.words[..self.len]
    }

    /// Word `i`, or 0 if the message is shorter.
    pub fn word(&self, i: usize) -> u64 {
        if i < self.len { self.words[i] } else { 0 }
    }
}

/// What a receive returned: the sender's badge and its message.
/// When a time-partition schedule's first frame started
/// ([`Ipc::sched_configure`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduleStart {
    /// TSC value at the first frame's start.
    pub epoch: u64,
    /// The major frame in TSC cycles.
    pub frame: u64,
    /// TSC cycles per second, as the kernel measured them.
    pub tsc_hz: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    pub badge: u64,
    pub msg: Message,
}

/// A message that travels in registers only (at most four words, no
/// capabilities): the shape the kernel's fast paths carry. The helpers
/// that take one ([`call_short`], [`reply_recv_short`]) copy exactly the
/// words used and never touch the IPC buffer, where [`Message`] zeroes
/// and copies all 68.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Short {
    pub label: u64,
    pub len: usize,
    pub words: [u64; REGISTER_WORDS],
}

impl Short {
    /// A message with `label` and up to four `words` (`Range` if more).
    pub fn new(label: u64, words: &[u64]) -> Result<Self, Error> {
        let mut m = Short {
            label,
            len: words.len(),
            words: [0; REGISTER_WORDS],
        };
        m.words
            .get_mut(..words.len())
            .ok_or(Error::Range)?
            .copy_from_slice(words);
        Ok(m)
    }

    /// Word `i`, or 0 if the message is shorter.
    pub fn word(&self, i: usize) -> u64 {
        if i < self.len.min(REGISTER_WORDS) {
            self.words[i]
        } else {
            0
        }
    }
}

/// What a short receive returned. `len` is the length the sender gave: if
/// it is more than four, words 4.. are in the IPC buffer, for
/// [`Ipc::buffer_word`]; `msg` holds the first four.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShortReceived {
    pub badge: u64,
    pub msg: Short,
    /// How many capabilities arrived (through the IPC buffer's receive slots).
    pub caps: usize,
}

// The short helpers and `buffer_word` are `#[inline]`: a server's loop
// (the guest kernel's answers every system call of its processes) runs
// them once per message, and out of line each is a call, a spill of the
// returned registers and a `memcpy` of the words.
#[inline]
fn short_result(r: &Regs) -> Result<ShortReceived, Error> {
    status(r)?;
    let info = MessageInfo::decode(r.rsi).map_err(|_| Error::Range)?;
    let len = info.words();
    // Word by word, not a slice copy: a `memcpy` call for at most 32 bytes.
    let words = core::array::from_fn(|i| if i < len { r.mr[i] } else { 0 });
    Ok(ShortReceived {
        badge: r.rdi,
        msg: Short {
            label: info.label(),
            len,
            words,
        },
        caps: info.caps(),
    })
}

#[inline]
fn short_info(m: &Short) -> Result<u64, Error> {
    if m.len > REGISTER_WORDS {
        return Err(Error::Range);
    }
    Ok(MessageInfo::new(m.label, m.len, 0).encode())
}

/// Call `cptr` with a register-only message and wait for the answer.
#[inline]
pub fn call_short(cptr: u64, m: &Short) -> Result<ShortReceived, Error> {
    short_result(&raw(nr::CALL, cptr, short_info(m)?, m.words, 0))
}

/// Answer through `reply` with a register-only message, then receive on
/// `cptr` with it.
#[inline]
pub fn reply_recv_short(cptr: u64, reply: u64, m: &Short) -> Result<ShortReceived, Error> {
    short_result(&raw(nr::REPLY_RECV, cptr, short_info(m)?, m.words, reply))
}

/// Receive on `cptr`, binding callers to `reply` (0: none), keeping only
/// the register words.
#[inline]
pub fn recv_short(cptr: u64, reply: u64) -> Result<ShortReceived, Error> {
    short_result(&raw(nr::RECV, cptr, 0, [0; REGISTER_WORDS], reply))
}

/// What `CNode::identify` says about a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Capability type code (`septum_kcore::cap::CapType`; 0 = empty).
    pub cap_type: u64,
    pub rights: u64,
    pub badge: u64,
    /// Untyped size bits, CNode radix, page-table level, 1 for a 2 MiB frame.
    pub extra: u64,
    pub mapped: bool,
    /// Where a mapped frame or page table is mapped.
    pub vaddr: u64,
}

/// Most rounds of revokes [`Ipc::revoke_whole`] makes. A round costs two
/// calls per piece still in use; what it needs grows with how often the
/// kernel preempted the destruction, far below this for any memory these
/// machines have.
pub const REVOKE_ROUNDS: u32 = 1024;

/// The calling thread's IPC buffer.
pub struct Ipc {
    buf: *mut u64,
}

impl Ipc {
    /// The IPC buffer at `addr`.
    ///
    /// # Safety
    /// `addr` must be the calling thread's registered IPC buffer, a mapped
    /// page used for nothing else, and no other `Ipc` for it may exist.
    pub unsafe fn new(addr: u64) -> Self {
        Ipc {
            buf: addr as *mut u64,
        }
    }

    fn put(&mut self, i: usize, v: u64) {
        debug_assert!(i < buffer::WORDS);
        // SAFETY: `new`'s contract: the page is ours and mapped; `i` is
        // within the words the kernel defines (less than a page).
        unsafe { self.buf.add(i).write_volatile(v) }
    }

    #[inline]
    fn get(&self, i: usize) -> u64 {
        // SAFETY: as in `put`; volatile because the kernel writes the page.
        unsafe { self.buf.add(i).read_volatile() }
    }

    /// Word `i` of the last message received, for `i` from 4 up to 67
    /// (the words a [`ShortReceived`] leaves in the buffer); 0 otherwise.
    #[inline]
    pub fn buffer_word(&self, i: usize) -> u64 {
        if (REGISTER_WORDS..MAX_WORDS).contains(&i) {
            self.get(buffer::MESSAGE + i - REGISTER_WORDS)
        } else {
            0
        }
    }

    fn stage(&mut self, m: &Message) -> (u64, [u64; REGISTER_WORDS]) {
        let mut regs = [0; REGISTER_WORDS];
        for (i, &w) in m.words().iter().enumerate() {
            if i < REGISTER_WORDS {
                regs[i] = w;
            } else {
                self.put(buffer::MESSAGE + i - REGISTER_WORDS, w);
            }
        }
        (MessageInfo::new(m.label, m.len, m.caps).encode(), regs)
    }

    fn collect(&self, r: &Regs) -> Result<Received, Error> {
        status(r)?;
        let info = MessageInfo::decode(r.rsi).map_err(|_| Error::Range)?;
        let mut m = Message {
            label: info.label(),
            len: info.words(),
            caps: info.caps(),
            words: [0; MAX_WORDS],
        };
        for i in 0..m.len {
            m.words[i] = if i < REGISTER_WORDS {
                r.mr[i]
            } else {
                self.get(buffer::MESSAGE + i - REGISTER_WORDS)
            };
        }
        Ok(Received {
            badge: r.rdi,
            msg: m,
        })
    }

    /// Name up to three capabilities for the next message that says it
    /// carries capabilities (`Message::caps`).
    pub fn set_send_caps(&mut self, cptrs: &[u64]) {
        for (i, &c) in cptrs.iter().take(3).enumerate() {
            self.put(buffer::SEND_CAPS + i, c);
        }
    }

    /// Receive capabilities into slots `index..` of the CNode `cnode`
    /// (`cnode` = 0: accept none).
    pub fn set_recv_slots(&mut self, cnode: u64, index: u64) {
        self.put(buffer::RECV_CNODE, cnode);
        self.put(buffer::RECV_INDEX, index);
    }

    /// Call: send `m` on `cptr` and wait for the reply (or invoke a kernel object).
    pub fn call(&mut self, cptr: u64, m: &Message) -> Result<Received, Error> {
        let (info, regs) = self.stage(m);
        let r = raw(nr::CALL, cptr, info, regs, 0);
        self.collect(&r)
    }

    /// Send (blocking).
    pub fn send(&mut self, cptr: u64, m: &Message) -> Result<(), Error> {
        let (info, regs) = self.stage(m);
        status(&raw(nr::SEND, cptr, info, regs, 0)).map(|_| ())
    }

    /// Send only if a receiver waits (`WouldBlock` otherwise).
    pub fn nb_send(&mut self, cptr: u64, m: &Message) -> Result<(), Error> {
        let (info, regs) = self.stage(m);
        status(&raw(nr::NB_SEND, cptr, info, regs, 0)).map(|_| ())
    }

    /// Receive on `cptr`, binding callers to the reply object `reply` (0: none).
    pub fn recv(&mut self, cptr: u64, reply: u64) -> Result<Received, Error> {
        let r = raw(nr::RECV, cptr, 0, [0; 4], reply);
        self.collect(&r)
    }

    /// Receive only if a sender waits.
    pub fn nb_recv(&mut self, cptr: u64, reply: u64) -> Result<Received, Error> {
        let r = raw(nr::NB_RECV, cptr, 0, [0; 4], reply);
        self.collect(&r)
    }

    /// Answer the caller bound to the reply object `reply`.
    pub fn reply(&mut self, reply: u64, m: &Message) -> Result<(), Error> {
        let (info, regs) = self.stage(m);
        status(&raw(nr::REPLY, reply, info, regs, 0)).map(|_| ())
    }

    /// Answer through `reply` (if bound), then receive on `cptr` with it.
    pub fn reply_recv(&mut self, cptr: u64, reply: u64, m: &Message) -> Result<Received, Error> {
        let (info, regs) = self.stage(m);
        let r = raw(nr::REPLY_RECV, cptr, info, regs, reply);
        self.collect(&r)
    }

    fn invoke(&mut self, cptr: u64, label: u64, args: &[u64]) -> Result<Message, Error> {
        self.call(cptr, &Message::new(label, args)).map(|r| r.msg)
    }

    // ---- untyped ----

    /// Retype `count` objects of type `ty` (`septum_kcore`'s `ObjectType`
    /// code) with `bits`, into slots `offset..` of CNode `dest`.
    pub fn retype(
        &mut self,
        untyped: u64,
        ty: u64,
        bits: u64,
        dest: u64,
        offset: u64,
        count: u64,
    ) -> Result<(), Error> {
        self.invoke(
            untyped,
            inv::UNTYPED_RETYPE,
            &[ty, bits, dest, offset, count],
        )
        .map(|_| ())
    }

    // ---- CNodes: (index, depth) below the invoked CNode ----

    #[allow(clippy::too_many_arguments)]
    fn cnode_xfer(
        &mut self,
        label: u64,
        cnode: u64,
        dest: (u64, u64),
        src_cnode: u64,
        src: (u64, u64),
        rights: u64,
        badge: u64,
    ) -> Result<(), Error> {
        self.invoke(
            cnode,
            label,
            &[dest.0, dest.1, src_cnode, src.0, src.1, rights, badge],
        )
        .map(|_| ())
    }

    /// Copy (`src_cnode`, `src`) to `dest` in `cnode`, with `rights` (bits 0–3).
    pub fn cnode_copy(
        &mut self,
        cnode: u64,
        dest: (u64, u64),
        src_cnode: u64,
        src: (u64, u64),
        rights: u64,
    ) -> Result<(), Error> {
        self.cnode_xfer(inv::CNODE_COPY, cnode, dest, src_cnode, src, rights, 0)
    }

    /// Mint: copy with `rights` and `badge`.
    pub fn cnode_mint(
        &mut self,
        cnode: u64,
        dest: (u64, u64),
        src_cnode: u64,
        src: (u64, u64),
        rights: u64,
        badge: u64,
    ) -> Result<(), Error> {
        self.cnode_xfer(inv::CNODE_MINT, cnode, dest, src_cnode, src, rights, badge)
    }

    /// Move (`src_cnode`, `src`) to `dest` in `cnode`.
    pub fn cnode_move(
        &mut self,
        cnode: u64,
        dest: (u64, u64),
        src_cnode: u64,
        src: (u64, u64),
    ) -> Result<(), Error> {
        self.cnode_xfer(inv::CNODE_MOVE, cnode, dest, src_cnode, src, 0, 0)
    }

    /// Delete the capability at `slot` in `cnode`.
    pub fn cnode_delete(&mut self, cnode: u64, slot: (u64, u64)) -> Result<(), Error> {
        self.invoke(cnode, inv::CNODE_DELETE, &[slot.0, slot.1])
            .map(|_| ())
    }

    /// Delete everything derived from the capability at `slot`.
    pub fn cnode_revoke(&mut self, cnode: u64, slot: (u64, u64)) -> Result<(), Error> {
        self.invoke(cnode, inv::CNODE_REVOKE, &[slot.0, slot.1])
            .map(|_| ())
    }

    /// Take back every untyped of `pieces` (slot, size in bits; slots of
    /// `cnode` at `depth`): revoke each one until it retypes whole again,
    /// that is until nothing made from it is left; whether they all did.
    /// Each check retypes the whole untyped into the empty slot `scratch`,
    /// then deletes that and revokes again.
    ///
    /// One revoke each is not enough: a revoke that the kernel preempts
    /// while it destroys an object holding the only capability to an
    /// object of *another* untyped returns `Ok` with the outer object's
    /// zombie still waiting in its memory, for the inner one whose
    /// destruction now belongs to the other untyped's tree
    /// (`docs/kernel.md`, "Known gaps"). Revoking that other untyped
    /// finishes the inner object and wakes the outer zombie, which then
    /// belongs to the first untyped again: the next round's revoke of it
    /// finishes it. Each round takes every such chain on until the kernel
    /// preempts it again, so the rounds end; [`REVOKE_ROUNDS`] bounds them
    /// anyway. Capabilities the pieces'
    /// objects hold that came from elsewhere go with them; objects of
    /// untypeds not in `pieces` are not driven, so a piece one of those
    /// waits for stays in use and this says so.
    pub fn revoke_whole<I>(&mut self, cnode: u64, depth: u64, pieces: I, scratch: u64) -> bool
    where
        I: Iterator<Item = (u64, u64)> + Clone,
    {
        // The pieces not yet whole, one bit each.
        let mut left = 0u128;
        for (i, _) in pieces.clone().enumerate() {
            if i >= 128 {
                return false;
            }
            left |= 1 << i;
        }
        for _ in 0..REVOKE_ROUNDS {
            for (i, (slot, bits)) in pieces.clone().enumerate() {
                if left & (1 << i) == 0 {
                    continue;
                }
                let _ = self.cnode_revoke(cnode, (slot, depth));
                let whole = self.retype(slot, object_type::UNTYPED, bits, cnode, scratch, 1);
                if whole.is_ok() {
                    let _ = self.cnode_delete(cnode, (scratch, depth));
                    let _ = self.cnode_revoke(cnode, (slot, depth));
                    left &= !(1 << i);
                }
            }
            if left == 0 {
                return true;
            }
        }
        false
    }

    /// What the slot holds.
    pub fn cnode_identify(&mut self, cnode: u64, slot: (u64, u64)) -> Result<Identity, Error> {
        let m = self.invoke(cnode, inv::CNODE_IDENTIFY, &[slot.0, slot.1])?;
        Ok(Identity {
            cap_type: m.word(0),
            rights: m.word(1),
            badge: m.word(2),
            extra: m.word(3),
            mapped: m.word(4) != 0,
            vaddr: m.word(5),
        })
    }

    // ---- TCBs ----

    /// Set a thread's capability space, address space, IPC buffer (frame
    /// and address; 0: none) and fault endpoint (0: none).
    pub fn tcb_configure(
        &mut self,
        tcb: u64,
        cspace: u64,
        vspace: u64,
        buffer_frame: u64,
        buffer_addr: u64,
        fault_ep: u64,
    ) -> Result<(), Error> {
        self.invoke(
            tcb,
            inv::TCB_CONFIGURE,
            &[cspace, vspace, buffer_frame, buffer_addr, fault_ep],
        )
        .map(|_| ())
    }

    /// Set the priority, with `authority`'s MCP as the bound.
    pub fn tcb_set_priority(&mut self, tcb: u64, authority: u64, prio: u64) -> Result<(), Error> {
        self.invoke(tcb, inv::TCB_SET_PRIORITY, &[authority, prio])
            .map(|_| ())
    }

    /// Set the maximum controlled priority, bounded by `authority`'s.
    pub fn tcb_set_mcp(&mut self, tcb: u64, authority: u64, mcp: u64) -> Result<(), Error> {
        self.invoke(tcb, inv::TCB_SET_MCP, &[authority, mcp])
            .map(|_| ())
    }

    /// Put the thread in time partition `partition`, with the
    /// schedule-control capability `sched` as authority.
    pub fn tcb_set_partition(&mut self, tcb: u64, sched: u64, partition: u64) -> Result<(), Error> {
        self.invoke(tcb, inv::TCB_SET_PARTITION, &[sched, partition])
            .map(|_| ())
    }

    /// Registers in fault-message order, then FS and GS base (20 words).
    pub fn tcb_read_registers(&mut self, tcb: u64) -> Result<[u64; 20], Error> {
        let m = self.invoke(tcb, inv::TCB_READ_REGISTERS, &[])?;
        let mut r = [0; 20];
        r.copy_from_slice(&m.words[..20]);
        Ok(r)
    }

    /// Write registers (18 to 20 words, fault-message order).
    pub fn tcb_write_registers(&mut self, tcb: u64, regs: &[u64]) -> Result<(), Error> {
        self.invoke(tcb, inv::TCB_WRITE_REGISTERS, regs).map(|_| ())
    }

    /// Make the thread runnable.
    pub fn tcb_resume(&mut self, tcb: u64) -> Result<(), Error> {
        self.invoke(tcb, inv::TCB_RESUME, &[]).map(|_| ())
    }

    /// Stop the thread (resumable).
    pub fn tcb_suspend(&mut self, tcb: u64) -> Result<(), Error> {
        self.invoke(tcb, inv::TCB_SUSPEND, &[]).map(|_| ())
    }

    /// Set FS and GS bases.
    pub fn tcb_set_tls(&mut self, tcb: u64, fs: u64, gs: u64) -> Result<(), Error> {
        self.invoke(tcb, inv::TCB_SET_TLS, &[fs, gs]).map(|_| ())
    }

    /// Bind a notification to the thread.
    pub fn tcb_bind_notification(&mut self, tcb: u64, ntfn: u64) -> Result<(), Error> {
        self.invoke(tcb, inv::TCB_BIND_NOTIFICATION, &[ntfn])
            .map(|_| ())
    }

    /// Unbind the thread's notification.
    pub fn tcb_unbind_notification(&mut self, tcb: u64) -> Result<(), Error> {
        self.invoke(tcb, inv::TCB_UNBIND_NOTIFICATION, &[])
            .map(|_| ())
    }

    /// Deliver every `syscall` of the thread as a fault (or stop doing so).
    pub fn tcb_set_syscall_faults(&mut self, tcb: u64, on: bool) -> Result<(), Error> {
        self.invoke(tcb, inv::TCB_SET_SYSCALL_FAULTS, &[u64::from(on)])
            .map(|_| ())
    }

    /// Up to 64 words of the thread's FPU area from word `from`.
    pub fn tcb_read_fpu(&mut self, tcb: u64, from: u64) -> Result<Message, Error> {
        self.invoke(tcb, inv::TCB_READ_FPU, &[from])
    }

    /// Write `words` to the thread's FPU area from word `from`.
    pub fn tcb_write_fpu(&mut self, tcb: u64, from: u64, words: &[u64]) -> Result<(), Error> {
        let mut args = [0u64; 65];
        args[0] = from;
        let n = words.len().min(64);
        args[1..=n].copy_from_slice(&words[..n]);
        self.invoke(tcb, inv::TCB_WRITE_FPU, &args[..=n])
            .map(|_| ())
    }

    /// Name the thread for the kernel's logs (up to 32 bytes).
    pub fn tcb_set_name(&mut self, tcb: u64, name: &str) -> Result<(), Error> {
        let mut w = [0u64; 4];
        for (i, b) in name.bytes().take(32).enumerate() {
            w[i / 8] |= u64::from(b) << (8 * (i % 8));
        }
        self.invoke(tcb, inv::TCB_SET_NAME, &w).map(|_| ())
    }

    // ---- address spaces ----

    /// Give the PML4 `vspace` an address-space id from `pool`.
    pub fn asid_assign(&mut self, pool: u64, vspace: u64) -> Result<u64, Error> {
        self.invoke(pool, inv::ASID_ASSIGN, &[vspace])
            .map(|m| m.word(0))
    }

    /// Make a capability to ids `first..first + count` of `pool` at
    /// `slot` of `cnode`, derived from `pool`.
    pub fn asid_pool_issue(
        &mut self,
        pool: u64,
        first: u64,
        count: u64,
        cnode: u64,
        slot: (u64, u64),
    ) -> Result<(), Error> {
        self.invoke(
            pool,
            inv::ASID_POOL_ISSUE,
            &[first, count, cnode, slot.0, slot.1],
        )
        .map(|_| ())
    }

    /// Set the time-partition schedule: a major frame of `frame_ns`
    /// nanoseconds and `windows` of (partition, start ns, length ns) in
    /// order of start. The first frame starts at once.
    pub fn sched_configure(
        &mut self,
        sched: u64,
        frame_ns: u64,
        windows: &[(u64, u64, u64)],
    ) -> Result<ScheduleStart, Error> {
        let n = windows.len().min(septum_abi::sched::MAX_WINDOWS as usize);
        let mut words =
            [0u64; septum_abi::sched::configure_words(septum_abi::sched::MAX_WINDOWS) as usize];
        words[0] = frame_ns;
        words[1] = windows.len() as u64;
        for (i, &(p, start, len)) in windows[..n].iter().enumerate() {
            words[2 + 3 * i..5 + 3 * i].copy_from_slice(&[p, start, len]);
        }
        let used = septum_abi::sched::configure_words(n as u64) as usize;
        self.invoke(sched, inv::SCHED_CONFIGURE, &words[..used])
            .map(|m| ScheduleStart {
                epoch: m.word(0),
                frame: m.word(1),
                tsc_hz: m.word(2),
            })
    }

    /// Map page table `pt` into `vspace` covering `addr`.
    pub fn page_table_map(&mut self, pt: u64, vspace: u64, addr: u64) -> Result<(), Error> {
        self.invoke(pt, inv::PAGE_TABLE_MAP, &[vspace, addr])
            .map(|_| ())
    }

    /// Unmap page table `pt`.
    pub fn page_table_unmap(&mut self, pt: u64) -> Result<(), Error> {
        self.invoke(pt, inv::PAGE_TABLE_UNMAP, &[]).map(|_| ())
    }

    /// Map `frame` into `vspace` at `addr` (`attrs`: bit 0 writable, bit 1 executable).
    pub fn frame_map(
        &mut self,
        frame: u64,
        vspace: u64,
        addr: u64,
        attrs: u64,
    ) -> Result<(), Error> {
        self.invoke(frame, inv::FRAME_MAP, &[vspace, addr, attrs])
            .map(|_| ())
    }

    /// Unmap `frame`.
    pub fn frame_unmap(&mut self, frame: u64) -> Result<(), Error> {
        self.invoke(frame, inv::FRAME_UNMAP, &[]).map(|_| ())
    }

    /// Physical address of `frame`.
    pub fn frame_address(&mut self, frame: u64) -> Result<u64, Error> {
        self.invoke(frame, inv::FRAME_ADDRESS, &[])
            .map(|m| m.word(0))
    }

    // ---- interrupts and I/O ports ----

    /// Make the handler of IRQ `line` at `slot` of `cnode`, with `control`.
    pub fn irq_control_get(
        &mut self,
        control: u64,
        line: u64,
        cnode: u64,
        slot: (u64, u64),
    ) -> Result<(), Error> {
        self.invoke(
            control,
            inv::IRQ_CONTROL_GET,
            &[line, cnode, slot.0, slot.1],
        )
        .map(|_| ())
    }

    /// Deliver `handler`'s line to notification `ntfn` and unmask it.
    pub fn irq_handler_set_notification(&mut self, handler: u64, ntfn: u64) -> Result<(), Error> {
        self.invoke(handler, inv::IRQ_HANDLER_SET_NOTIFICATION, &[ntfn])
            .map(|_| ())
    }

    /// Acknowledge `handler`'s last interrupt: its line is unmasked.
    pub fn irq_handler_ack(&mut self, handler: u64) -> Result<(), Error> {
        self.invoke(handler, inv::IRQ_HANDLER_ACK, &[]).map(|_| ())
    }

    /// Unbind `handler`'s notification and mask its line.
    pub fn irq_handler_clear(&mut self, handler: u64) -> Result<(), Error> {
        self.invoke(handler, inv::IRQ_HANDLER_CLEAR, &[])
            .map(|_| ())
    }

    /// Make a capability to the ports `first..=last` at `slot` of `cnode`.
    pub fn io_port_issue(
        &mut self,
        control: u64,
        first: u64,
        last: u64,
        cnode: u64,
        slot: (u64, u64),
    ) -> Result<(), Error> {
        self.invoke(
            control,
            inv::IO_PORT_CONTROL_ISSUE,
            &[first, last, cnode, slot.0, slot.1],
        )
        .map(|_| ())
    }

    /// Open the ports of `port` to every thread of the address space `vspace`.
    pub fn io_port_install(&mut self, port: u64, vspace: u64) -> Result<(), Error> {
        self.invoke(port, inv::IO_PORT_INSTALL, &[vspace])
            .map(|_| ())
    }

    /// Close the ports of `port` where it is installed.
    pub fn io_port_uninstall(&mut self, port: u64) -> Result<(), Error> {
        self.invoke(port, inv::IO_PORT_UNINSTALL, &[]).map(|_| ())
    }
}

/// The boot-info page the kernel gives the root task.
///
/// Only meaningful in the root task (elsewhere the page is not mapped and
/// reading it faults, which the kernel reports).
pub fn boot_info() -> &'static septum_abi::bootinfo::BootInfo {
    // SAFETY: the kernel maps the page read-only at this address in the
    // root task and never changes it; `BootInfo` has only u64 fields, so
    // every bit pattern is valid.
    unsafe { &*(septum_abi::bootinfo::BOOT_INFO_ADDR as *const septum_abi::bootinfo::BootInfo) }
}
