//! What the IPC cases share: result cells that helper threads fill in,
//! packing several capability pointers into a thread's one argument, and
//! a way for the root thread (priority 255) to let its lower-priority
//! helpers run until every one of them has blocked or exited.

use core::sync::atomic::{AtomicU64, Ordering};
use septum_test_tasks::ktest::{CNODE, Ctx, DEPTH, SELF_TCB, SELF_VSPACE, Thread, thread_ipc, ty};
use septum_user::abi::Error;
use septum_user::abi::ipc::MAX_LABEL;
use septum_user::ipc::{Message, Received};
use septum_user::syscall;

/// Priority of the helper threads: below the root thread, above the settler.
pub const PRIO: u64 = 100;
/// Priority of the thread that tells the root everyone else is blocked.
const SETTLE_PRIO: u64 = 1;

/// Result cells a case's threads write and the case reads.
const CELLS: usize = 16;
static CELL: [AtomicU64; CELLS] = [const { AtomicU64::new(UNSET) }; CELLS];
/// What a cell holds before anybody wrote it.
pub const UNSET: u64 = 0x7e57_0000_0000_0000;

/// Clear every cell (at the start of a case).
pub fn reset() {
    for c in &CELL {
        c.store(UNSET, Ordering::SeqCst);
    }
}

/// Store `v` in cell `i`.
pub fn put(i: usize, v: u64) {
    CELL[i % CELLS].store(v, Ordering::SeqCst);
}

/// Cell `i`.
pub fn get(i: usize) -> u64 {
    CELL[i % CELLS].load(Ordering::SeqCst)
}

/// Store a call's outcome in cell `i` (an error as its negated code).
pub fn put_result(i: usize, r: Result<u64, Error>) {
    put(
        i,
        match r {
            Ok(v) => v,
            Err(e) => e.to_rax(),
        },
    );
}

/// The outcome stored in cell `i` (`None` if nobody stored one).
pub fn get_result(i: usize) -> Option<Result<u64, Error>> {
    match get(i) {
        UNSET => None,
        v => Some(Error::from_rax(v)),
    }
}

/// Up to four 16-bit values in one word (capability pointers of a case
/// are root-CNode slot indices, below 4096).
pub fn pack(vals: &[u64]) -> u64 {
    vals.iter()
        .take(4)
        .enumerate()
        .fold(0, |w, (i, &v)| w | ((v & 0xffff) << (16 * i)))
}

/// The four values [`pack`] put in `w`.
pub fn unpack(w: u64) -> [u64; 4] {
    [w & 0xffff, (w >> 16) & 0xffff, (w >> 32) & 0xffff, w >> 48]
}

/// A distinct word for message `seed`, position `i`.
pub fn pattern(seed: u64, i: usize) -> u64 {
    seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ ((i as u64 + 1) * 0x0001_0003_0007_000b)
}

/// A message of `len` pattern words with `label`.
pub fn pattern_msg(label: u64, seed: u64, len: usize) -> Message {
    let mut words = [0u64; septum_user::abi::ipc::MAX_WORDS];
    for (i, w) in words.iter_mut().enumerate().take(len) {
        *w = pattern(seed, i);
    }
    Message::new(label, &words[..len])
}

/// Lets the root thread wait until every helper of priority above 1 has
/// blocked or exited: a thread at priority 1 answers a request only when
/// nothing else can run.
pub struct Settle {
    req: u64,
    done: u64,
}

impl Settle {
    pub fn new(c: &mut Ctx) -> Result<Settle, Error> {
        let req = c.notification()?;
        let done = c.notification()?;
        c.spawn("settle", settle_thread, pack(&[req, done]), SETTLE_PRIO)?;
        Ok(Settle { req, done })
    }

    /// Run every runnable helper until it blocks or exits.
    pub fn run(&self) -> Result<(), Error> {
        syscall::signal(self.req)?;
        syscall::wait(self.done).map(|_| ())
    }
}

extern "C" fn settle_thread(arg: u64, _buffer: u64) -> ! {
    let [req, done, ..] = unpack(arg);
    loop {
        if syscall::wait(req).is_err() || syscall::signal(done).is_err() {
            syscall::thread_exit();
        }
    }
}

/// Copy the capability in `src` to a fresh slot with `rights` and `badge`.
pub fn mint(c: &mut Ctx, src: u64, rights: u64, badge: u64) -> Result<u64, Error> {
    let d = c.slot();
    c.ipc
        .cnode_mint(CNODE, (d, DEPTH), CNODE, (src, DEPTH), rights, badge)?;
    Ok(d)
}

/// Start a thread like `Ctx::spawn` but without an IPC buffer (its
/// second argument is 0): it can only use register-sized messages.
pub fn spawn_bufferless(
    c: &mut Ctx,
    entry: extern "C" fn(u64, u64) -> !,
    arg: u64,
) -> Result<Thread, Error> {
    let tcb = c.make(ty::TCB, 0)?;
    c.ipc.tcb_configure(tcb, CNODE, SELF_VSPACE, 0, 0, 0)?;
    c.ipc.tcb_set_name(tcb, "no-buffer")?;
    c.ipc.tcb_set_priority(tcb, SELF_TCB, PRIO)?;
    let t = Thread { tcb, buffer: 0 };
    c.start(t, entry, arg)?;
    Ok(t)
}

// ---- helper threads: `arg` is a `pack`ed list, results go to cells ----

/// `[cap, label, cell]`: send `label` with one word (`label`) on `cap`;
/// cell := 1, or the error.
pub extern "C" fn sender(arg: u64, buffer: u64) -> ! {
    let [cap, label, cell, _] = unpack(arg);
    let mut ipc = thread_ipc(buffer);
    let r = ipc.send(cap, &Message::new(label, &[label])).map(|()| 1);
    put_result(cell as usize, r);
    syscall::thread_exit()
}

/// `[ep, cell]`: receive once; cell := label (or the error), cell + 1 :=
/// badge, cell + 2 := word 0.
pub extern "C" fn receiver(arg: u64, buffer: u64) -> ! {
    let [ep, cell, _, _] = unpack(arg);
    let cell = cell as usize;
    let mut ipc = thread_ipc(buffer);
    let r = ipc.recv(ep, 0);
    if let Ok(rx) = &r {
        put(cell + 1, rx.badge);
        put(cell + 2, rx.msg.word(0));
    }
    put_result(cell, r.map(|rx| rx.msg.label));
    syscall::thread_exit()
}

/// `[ep, label, cell]`: Call with `label` and one word (`label`); cell :=
/// the reply's label (or the error), cell + 1 := its word 0, cell + 2 :=
/// the badge it arrived with.
pub extern "C" fn caller(arg: u64, buffer: u64) -> ! {
    let [ep, label, cell, _] = unpack(arg);
    let cell = cell as usize;
    let mut ipc = thread_ipc(buffer);
    let r = ipc.call(ep, &Message::new(label, &[label]));
    if let Ok(rx) = &r {
        put(cell + 1, rx.msg.word(0));
        put(cell + 2, rx.badge);
    }
    put_result(cell, r.map(|rx| rx.msg.label));
    syscall::thread_exit()
}

/// What the echo server XORs every word with.
pub const XOR: u64 = 0x5a5a_0f0f_a5a5_f0f0;

/// The echo server's answer to `rx`: same length, every word XORed with
/// [`XOR`], label + 1 + the badge the request came with.
pub fn echo(rx: &Received) -> Message {
    let mut m = rx.msg;
    m.label = m.label.wrapping_add(1).wrapping_add(rx.badge) & MAX_LABEL;
    m.caps = 0;
    for w in m.words.iter_mut().take(m.len) {
        *w ^= XOR;
    }
    m
}

/// `[ep, reply]`: answer every Call with [`echo`], through ReplyRecv.
/// Touches no static (it also runs in another address space, where the
/// root task's image is mapped read-only).
pub extern "C" fn echo_server(arg: u64, buffer: u64) -> ! {
    let [ep, reply, _, _] = unpack(arg);
    let mut ipc = thread_ipc(buffer);
    let mut r = ipc.recv(ep, reply);
    while let Ok(rx) = r {
        r = ipc.reply_recv(ep, reply, &echo(&rx));
    }
    syscall::thread_exit()
}

/// `[n]`: block on the notification `n` for good.
pub extern "C" fn parked(arg: u64, _buffer: u64) -> ! {
    let [n, ..] = unpack(arg);
    loop {
        if syscall::wait(n).is_err() {
            syscall::thread_exit();
        }
    }
}
