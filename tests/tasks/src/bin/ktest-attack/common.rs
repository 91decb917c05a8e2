//! What the attack cases share: result words the threads write, a way to
//! let every other thread run, the fault handler's side of fault messages,
//! small address spaces built around copied code, and code "blobs" (naked
//! functions that touch neither the stack nor any static, so their bytes
//! can be copied into a frame and run anywhere).

use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use septum_test_tasks::fail;
use septum_test_tasks::ktest::{
    ASID_POOL, CNODE, Ctx, DEPTH, SELF_TCB, SELF_VSPACE, Thread, rights, ty,
};
use septum_user::abi::Error;
use septum_user::abi::fault::{self, Kind};
use septum_user::ipc::Message;

/// Priority of the threads the cases start (below the root's 255).
pub const PRIO: u64 = 100;
/// "Not written yet" in a result word.
pub const UNSET: u64 = 0x5eb7_0000_dead_beef;

/// Words the threads in the root's address space report through.
static WORDS: [AtomicU64; 16] = [const { AtomicU64::new(UNSET) }; 16];

/// Set by a thread when it got to its end.
pub const DONE: usize = 0;
/// Addresses a thread stores of its instructions under test.
pub const AT: usize = 1;
pub const AT2: usize = 2;
pub const AT3: usize = 3;
/// Free for a case's own use.
pub const V0: usize = 4;
pub const V1: usize = 5;
pub const V2: usize = 6;
pub const V3: usize = 7;
pub const V4: usize = 8;
pub const V5: usize = 9;
pub const V6: usize = 10;
pub const V7: usize = 11;

pub fn reset() {
    for w in &WORDS {
        w.store(UNSET, SeqCst);
    }
}

pub fn get(i: usize) -> u64 {
    WORDS[i].load(SeqCst)
}

pub fn set(i: usize, v: u64) {
    WORDS[i].store(v, SeqCst);
}

/// The address of a shared word, for inline assembly to store into.
pub fn word_ptr(i: usize) -> *mut u64 {
    WORDS[i].as_ptr()
}

/// Let every other thread run until none is runnable: the root drops
/// below them all and comes back when they have blocked, stopped or
/// exited.
pub fn settle(c: &mut Ctx) -> Result<(), Error> {
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 1)?;
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, 255)
}

/// Mint a copy of `src` with `r` rights into a fresh slot.
pub fn mint(c: &mut Ctx, src: u64, r: u64) -> Result<u64, Error> {
    let s = c.slot();
    c.ipc
        .cnode_mint(CNODE, (s, DEPTH), CNODE, (src, DEPTH), r, 0)?;
    Ok(s)
}

/// Read a word of the root's address space.
pub fn read(va: u64) -> u64 {
    // SAFETY: callers pass addresses the case mapped readable in the
    // root's address space.
    unsafe { (va as *const u64).read_volatile() }
}

/// Write a word of the root's address space.
pub fn write(va: u64, v: u64) {
    // SAFETY: callers pass addresses the case mapped writable, used by
    // nothing else of the task.
    unsafe { (va as *mut u64).write_volatile(v) }
}

/// An `Error` as the code a thread stores (0 for success).
pub fn code(r: Result<(), Error>) -> u64 {
    match r {
        Ok(()) => 0,
        Err(e) => e as u64,
    }
}

/// A stored code, readable in a failure message.
pub fn name(code: u64) -> &'static str {
    if code == 0 {
        return "Ok";
    }
    if code == UNSET {
        return "(not written)";
    }
    Error::ALL
        .iter()
        .find(|e| **e as u64 == code)
        .map_or("(unknown code)", |e| e.name())
}

// ---- faults ----

/// A fault endpoint and the reply object the root answers faults with.
#[derive(Clone, Copy)]
pub struct Handler {
    pub ep: u64,
    pub reply: u64,
}

pub fn handler(c: &mut Ctx) -> Result<Handler, Error> {
    Ok(Handler {
        ep: c.endpoint()?,
        reply: c.reply()?,
    })
}

/// A thread in the root's spaces whose faults go to `h`, started at
/// `entry(arg, buffer)`.
pub fn fault_thread(
    c: &mut Ctx,
    h: &Handler,
    name: &str,
    entry: extern "C" fn(u64, u64) -> !,
    arg: u64,
) -> Result<Thread, Error> {
    let t = c.configured_thread(name, PRIO, h.ep)?;
    c.start(t, entry, arg)?;
    Ok(t)
}

/// A received fault message.
pub struct Fault {
    pub kind: u64,
    pub w: [u64; fault::WORDS],
}

impl Fault {
    /// The 18 registers, for a `RESUME_WITH_REGS` reply.
    pub fn regs(&self) -> [u64; 18] {
        let mut r = [0; 18];
        r.copy_from_slice(&self.w[..18]);
        r
    }

    pub fn rip(&self) -> u64 {
        self.w[fault::W_RIP]
    }

    pub fn addr(&self) -> u64 {
        self.w[fault::W_ADDR]
    }

    pub fn vector(&self) -> u64 {
        self.w[fault::W_VECTOR]
    }

    pub fn rflags(&self) -> u64 {
        self.w[fault::W_RFLAGS]
    }

    /// Is it this kind (and, for exceptions, this vector)?
    pub fn is(&self, kind: Kind, vector: u64) -> bool {
        Kind::from_label(self.kind) == Some(kind) && self.vector() == vector
    }
}

impl core::fmt::Display for Fault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "fault kind {} vector {} at rip {:#x}, addr {:#x}, error {:#x}",
            self.kind,
            self.vector(),
            self.rip(),
            self.addr(),
            self.w[fault::W_ERROR]
        )
    }
}

fn to_fault(m: &Message) -> Result<Fault, septum_test_tasks::ktest::Fail> {
    if m.len != fault::WORDS {
        fail!(
            "fault message has {} words, expected {}",
            m.len,
            fault::WORDS
        );
    }
    let mut w = [0; fault::WORDS];
    w.copy_from_slice(&m.words[..fault::WORDS]);
    Ok(Fault { kind: m.label, w })
}

/// Let the threads run, then take the fault that may be waiting.
pub fn poll_fault(
    c: &mut Ctx,
    h: &Handler,
) -> Result<Option<Fault>, septum_test_tasks::ktest::Fail> {
    settle(c)?;
    match c.ipc.nb_recv(h.ep, h.reply) {
        Ok(r) => Ok(Some(to_fault(&r.msg)?)),
        Err(Error::WouldBlock) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Let the threads run, then take the fault that must be waiting.
pub fn next_fault(c: &mut Ctx, h: &Handler) -> Result<Fault, septum_test_tasks::ktest::Fail> {
    match poll_fault(c, h)? {
        Some(f) => Ok(f),
        None => fail!("no fault arrived"),
    }
}

/// Let the threads run, then make sure no fault is waiting.
pub fn no_fault(c: &mut Ctx, h: &Handler) -> Result<(), septum_test_tasks::ktest::Fail> {
    if let Some(f) = poll_fault(c, h)? {
        fail!("unexpected {}", f);
    }
    Ok(())
}

/// Answer the fault: resume unchanged.
pub fn resume(c: &mut Ctx, h: &Handler) -> Result<(), Error> {
    c.ipc.reply(h.reply, &Message::new(fault::RESUME, &[]))
}

/// Answer the fault: set the registers (18 or 20 words), then resume.
pub fn resume_regs(c: &mut Ctx, h: &Handler, regs: &[u64]) -> Result<(), Error> {
    c.ipc
        .reply(h.reply, &Message::new(fault::RESUME_WITH_REGS, regs))
}

/// Check a fault's kind and vector, naming what arrived otherwise.
pub fn expect(f: &Fault, kind: Kind, vector: u64) -> Result<(), septum_test_tasks::ktest::Fail> {
    if !f.is(kind, vector) {
        fail!("expected {:?} vector {}, got {}", kind, vector, f);
    }
    Ok(())
}

/// Page-fault error-code bits.
pub mod pf {
    pub const PRESENT: u64 = 1;
    pub const WRITE: u64 = 2;
    pub const USER: u64 = 4;
    pub const FETCH: u64 = 0x10;
}

/// RFLAGS bits.
pub mod flags {
    pub const TF: u64 = 1 << 8;
    pub const IF: u64 = 1 << 9;
    pub const DF: u64 = 1 << 10;
    pub const IOPL: u64 = 3 << 12;
    pub const NT: u64 = 1 << 14;
    pub const VM: u64 = 1 << 17;
    pub const AC: u64 = 1 << 18;
}

/// Inline assembly that stores the addresses of labels 2, 3 and 4 in
/// `AT`, `AT2` and `AT3`, then runs `body`, which defines those labels
/// (`2:` usually the instruction under test, `3:` where a handler resumes
/// the thread). The operands after the body are the caller's. Expands to
/// `asm!`: the caller's `unsafe` block says why the whole is sound.
macro_rules! marked_asm {
    ([$($body:literal),+] $($operands:tt)*) => {
        core::arch::asm!(
            "lea {t}, [rip + 2f]",
            "mov qword ptr [{at}], {t}",
            "lea {t}, [rip + 3f]",
            "mov qword ptr [{at2}], {t}",
            "lea {t}, [rip + 4f]",
            "mov qword ptr [{at3}], {t}",
            $($body,)+
            at = in(reg) $crate::common::word_ptr($crate::common::AT),
            at2 = in(reg) $crate::common::word_ptr($crate::common::AT2),
            at3 = in(reg) $crate::common::word_ptr($crate::common::AT3),
            t = out(reg) _,
            $($operands)*
        )
    };
}

// ---- small address spaces ----

/// Where a small space has its page tables: one PT covering 2 MiB from
/// here (away from the image at 4 MiB and the scratch region at 1 GiB).
pub const MINI_BASE: u64 = 0x20_0000_0000;
/// Its code page, data page and second data page.
pub const MINI_CODE: u64 = MINI_BASE;
pub const MINI_DATA: u64 = MINI_BASE + 0x1000;
pub const MINI_DATA2: u64 = MINI_BASE + 0x2000;

/// A small address space: a PML4 with an ASID and tables covering
/// [`MINI_BASE`]..+2 MiB, nothing mapped yet.
#[derive(Clone, Copy, Debug)]
pub struct Mini {
    pub vspace: u64,
    pub asid: u64,
    /// Its PDPT, PD and PT.
    pub tables: [u64; 3],
}

/// Give `pml4` an ASID and the three tables that cover [`MINI_BASE`].
pub fn mini_space_in(c: &mut Ctx, pml4: u64) -> Result<Mini, Error> {
    let asid = c.ipc.asid_assign(ASID_POOL, pml4)?;
    let mut tables = [0; 3];
    for (t, level) in tables.iter_mut().zip([3, 2, 1]) {
        *t = c.make(ty::PAGE_TABLE, level)?;
        c.ipc.page_table_map(*t, pml4, MINI_BASE)?;
    }
    Ok(Mini {
        vspace: pml4,
        asid,
        tables,
    })
}

/// A new small address space.
pub fn mini_space(c: &mut Ctx) -> Result<Mini, Error> {
    let pml4 = c.make(ty::PAGE_TABLE, 4)?;
    mini_space_in(c, pml4)
}

/// The first `n` bytes of the code of `f`.
pub fn blob(f: unsafe extern "C" fn() -> !, n: usize) -> &'static [u8] {
    // SAFETY: the function's code lies in the task's image, mapped
    // readable and executable; reading its bytes (and a few past its
    // end, still inside the image's text) changes nothing.
    unsafe { core::slice::from_raw_parts(f as *const u8, n) }
}

/// A frame holding `code` at byte `offset`, mapped executable (read-only)
/// at `va` of `vspace`. The bytes go in through a writable mapping in the
/// root's space that is gone before the executable one is made.
pub fn code_frame(
    c: &mut Ctx,
    vspace: u64,
    va: u64,
    offset: usize,
    code: &[u8],
) -> Result<u64, Error> {
    let f = c.make(ty::FRAME, 0)?;
    let scratch = c.page_addr();
    c.ipc.frame_map(f, SELF_VSPACE, scratch, 1)?;
    for (i, &b) in code.iter().enumerate() {
        // SAFETY: `scratch` is the page just mapped writable; `offset + i`
        // stays in it (callers pass offsets that fit).
        unsafe { ((scratch + (offset + i) as u64) as *mut u8).write_volatile(b) };
    }
    c.ipc.frame_unmap(f)?;
    c.ipc.frame_map(f, vspace, va, 2)?;
    Ok(f)
}

/// A frame mapped writable at `va` of `vspace` and at a fresh scratch
/// address of the root's space (returned), so the root sees what threads
/// there write.
pub fn shared_frame(c: &mut Ctx, vspace: u64, va: u64) -> Result<(u64, u64), Error> {
    let f = c.make(ty::FRAME, 0)?;
    let root_va = c.page_addr();
    c.ipc.frame_map(f, SELF_VSPACE, root_va, 1)?;
    let copy = c.slot();
    c.ipc
        .cnode_copy(CNODE, (copy, DEPTH), CNODE, (f, DEPTH), rights::ALL)?;
    c.ipc.frame_map(copy, vspace, va, 1)?;
    Ok((f, root_va))
}

/// A thread in `vspace` (root capability space, no IPC buffer) with
/// faults to `fault_ep` (0: none), not started.
pub fn bare_thread(c: &mut Ctx, name: &str, vspace: u64, fault_ep: u64) -> Result<u64, Error> {
    let t = c.make(ty::TCB, 0)?;
    c.ipc.tcb_configure(t, CNODE, vspace, 0, 0, fault_ep)?;
    c.ipc.tcb_set_name(t, name)?;
    c.ipc.tcb_set_priority(t, SELF_TCB, PRIO)?;
    Ok(t)
}

/// Start `tcb` at `rip` with the general registers `set` ((index in
/// fault order, value) pairs) and RFLAGS 0x202.
pub fn start_at(c: &mut Ctx, tcb: u64, rip: u64, set: &[(usize, u64)]) -> Result<(), Error> {
    let mut regs = [0u64; 18];
    regs[fault::W_RFLAGS] = 0x202;
    for &(i, v) in set {
        regs[i] = v;
    }
    regs[fault::W_RIP] = rip;
    c.ipc.tcb_write_registers(tcb, &regs)?;
    c.ipc.tcb_resume(tcb)
}

/// Fail unless the two results are the same, naming `what`.
pub fn check_result<T: core::fmt::Debug>(
    what: &str,
    got: Result<T, Error>,
    want: Result<(), Error>,
) -> septum_test_tasks::ktest::TestResult {
    let same = match (&got, want) {
        (Ok(_), Ok(())) => true,
        (Err(a), Err(b)) => *a == b,
        _ => false,
    };
    if !same {
        fail!("{}: {:?}, expected {:?}", what, got, want);
    }
    Ok(())
}
