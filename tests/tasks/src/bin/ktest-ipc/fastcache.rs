//! What the fast paths cache or decide from one word, driven into each
//! refusal (`kernel/src/fastpath.rs`, `object/tcb.rs`, `sched.rs`):
//!
//! - the flat capability space a thread's TCB caches (checked against its
//!   cspace slot on every use): a thread whose capability space is
//!   replaced, by another CNode or by the same CNode under another guard,
//!   must resolve its next `Call` or `ReplyRecv` in the new space (the
//!   fast path declines on the stale cache, the general path decodes the
//!   slot again), and the fast path after it must give the same answers;
//! - the scheduling key (`partition << 8 | priority`) `may_switch_to`
//!   compares: a waiting server whose priority or partition changed must be
//!   switched to (or not) by its new priority and partition;
//! - the null call (a zero-byte `DebugWrite`): the pointer checks
//!   `debug_write` (the general path's) makes, on its fast exit and on the
//!   error exit, and the RFLAGS rule on the `sysret` exit, whose RFLAGS
//!   now travel in R11 (NT set before the call is clear after it).

use crate::common::{PRIO, Settle, XOR, echo_server, get, pack, put, reset};
use crate::fastref::{SEQ, marker, ordered_caller, ordered_server};
use core::sync::atomic::{AtomicU64, Ordering};
use septum_test_tasks::ktest::{
    CNODE, Ctx, DEPTH, SELF_TCB, SELF_VSPACE, Test, TestResult, Thread, rights, ty,
};
use septum_test_tasks::{check, check_eq};
use septum_user::abi::Error;
use septum_user::abi::syscall as nr;
use septum_user::ipc::{self, Short};
use septum_user::syscall;

pub const TESTS: &[Test] = &[
    Test {
        name: "ipc_fastpath_call_cspace_replaced_decoded_again",
        run: call_cspace_replaced,
    },
    Test {
        name: "ipc_fastpath_replyrecv_cspace_replaced_decoded_again",
        run: reply_cspace_replaced,
    },
    Test {
        name: "ipc_fastpath_priority_change_rechecked",
        run: priority_changed,
    },
    Test {
        name: "ipc_fastpath_partition_change_rechecked",
        run: partition_changed,
    },
    Test {
        name: "syscall_null_call_fast_and_general_agree",
        run: null_call,
    },
];

/// The boot slot of the `SchedControl` capability.
const SCHED: u64 = septum_user::abi::bootinfo::SLOT_SCHED_CONTROL;

/// Radix of the capability spaces made here: 16 slots.
const RADIX: u64 = 4;

/// A CNode capability word with `bits` guard bits holding `guard`.
fn guard_word(bits: u64, guard: u64) -> u64 {
    bits | guard << 6
}

/// The pointer to slot `index` of a flat space with guard `guard`.
fn name(guard: u64, index: u64) -> u64 {
    guard << RADIX | index
}

/// A flat capability space (a CNode of 16 slots whose 60 guard bits hold
/// `guard`): its root capability's slot (for `TCB_CONFIGURE`) and the
/// plain CNode's (to fill it).
fn flat_space(c: &mut Ctx, guard: u64) -> Result<(u64, u64), Error> {
    let cn = c.make(ty::CNODE, RADIX)?;
    let root = c.slot();
    c.ipc.cnode_mint(
        CNODE,
        (root, DEPTH),
        CNODE,
        (cn, DEPTH),
        rights::ALL,
        guard_word(64 - RADIX, guard),
    )?;
    Ok((root, cn))
}

/// Put a copy of `src` (with `badge`, 0: a plain copy) in slot `index` of
/// the CNode `cn`.
fn place(c: &mut Ctx, cn: u64, index: u64, src: u64, badge: u64) -> Result<(), Error> {
    if badge == 0 {
        c.ipc
            .cnode_copy(cn, (index, RADIX), CNODE, (src, DEPTH), rights::ALL)
    } else {
        c.ipc
            .cnode_mint(cn, (index, RADIX), CNODE, (src, DEPTH), rights::ALL, badge)
    }
}

/// A thread in the root address space with the capability space `cspace`
/// (a root-CNode slot), its buffer frame kept for reconfiguring it.
struct Guest {
    thread: Thread,
    frame: u64,
}

fn guest(c: &mut Ctx, name: &str, cspace: u64, prio: u64) -> Result<Guest, Error> {
    let tcb = c.make(ty::TCB, 0)?;
    let (frame, buffer) = c.mapped_frame()?;
    c.ipc
        .tcb_configure(tcb, cspace, SELF_VSPACE, frame, buffer, 0)?;
    c.ipc.tcb_set_name(tcb, name)?;
    c.ipc.tcb_set_priority(tcb, SELF_TCB, prio)?;
    Ok(Guest {
        thread: Thread { tcb, buffer },
        frame,
    })
}

/// Give `g` the capability space `cspace` (it keeps everything else).
fn reconfigure(c: &mut Ctx, g: &Guest, cspace: u64) -> Result<(), Error> {
    c.ipc.tcb_configure(
        g.thread.tcb,
        cspace,
        SELF_VSPACE,
        g.frame,
        g.thread.buffer,
        0,
    )
}

/// The names a round uses, in the thread's own capability space: what it
/// waits on, what it calls or answers through, and its reply object.
static WAIT_ON: AtomicU64 = AtomicU64::new(0);
static TARGET: AtomicU64 = AtomicU64::new(0);
static REPLY_AT: AtomicU64 = AtomicU64::new(0);
/// Rounds a thread finished.
static ROUNDS: AtomicU64 = AtomicU64::new(0);

/// Each round: wait on `WAIT_ON`, then Call `TARGET` with one word (the
/// round number) twice, the second time on whatever path the first left
/// (the cache warm); cells 2r, 2r+1 := the answers' labels, or the errors.
extern "C" fn round_caller(_arg: u64, _buffer: u64) -> ! {
    loop {
        if syscall::wait(WAIT_ON.load(Ordering::SeqCst)).is_err() {
            syscall::thread_exit();
        }
        let r = ROUNDS.load(Ordering::SeqCst);
        for k in 0..2 {
            let m = Short::new(0x700 + r, &[r]).unwrap_or_default();
            let got = ipc::call_short(TARGET.load(Ordering::SeqCst), &m);
            put(
                (2 * r + k) as usize,
                match got {
                    Ok(a) if a.msg.len == 1 && a.msg.words[0] == r ^ XOR => a.msg.label,
                    Ok(_) => 0xbad,
                    Err(e) => e.to_rax(),
                },
            );
        }
        ROUNDS.store(r + 1, Ordering::SeqCst);
    }
}

/// A caller whose capability space is replaced between rounds: by
/// another CNode (the same name now holds a differently badged endpoint)
/// and by the same CNode under another guard (the old name names nothing,
/// the new one the old slot), then emptied by a revoke from elsewhere.
/// `TCB_CONFIGURE` fills the cache for the new space; a stale entry
/// (keyed on the slot's first word alone, say) would give the old answer.
/// Both calls of a round must give the new space's answer; after the
/// revoke, the cache no longer matches the (empty) slot and the general
/// path refuses both calls.
fn call_cspace_replaced(c: &mut Ctx) -> TestResult {
    reset();
    ROUNDS.store(0, Ordering::SeqCst);
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    let n = c.notification()?;
    c.spawn("echo", echo_server, pack(&[ep, reply]), PRIO)?;
    let (a, a_cn) = flat_space(c, 0x5)?;
    let (b, b_cn) = flat_space(c, 0x5)?;
    place(c, a_cn, 1, n, 0)?;
    place(c, a_cn, 3, ep, 0x11)?;
    place(c, b_cn, 1, n, 0)?;
    place(c, b_cn, 3, ep, 0x22)?;
    // The same CNode as `a` under another guard.
    let a6 = c.slot();
    c.ipc.cnode_mint(
        CNODE,
        (a6, DEPTH),
        CNODE,
        (a_cn, DEPTH),
        rights::ALL,
        guard_word(64 - RADIX, 0x6),
    )?;
    WAIT_ON.store(name(0x5, 1), Ordering::SeqCst);
    TARGET.store(name(0x5, 3), Ordering::SeqCst);
    let g = guest(c, "caller", a, PRIO + 10)?;
    c.start(g.thread, round_caller, 0)?;
    s.run()?;
    // The echo's label is the request's + 1 + the request's badge.
    let answer = |round: u64, badge: u64| 0x700 + round + 1 + badge;

    // Round 0, in `a`: badge 0x11.
    syscall::signal(n)?;
    s.run()?;
    check_eq!(get(0), answer(0, 0x11));
    check_eq!(get(1), answer(0, 0x11));
    // Round 1, `a` under guard 6 (the same CNode: only the slot's second
    // word changed), still calling the guard-5 name: it names nothing.
    reconfigure(c, &g, a6)?;
    WAIT_ON.store(name(0x6, 1), Ordering::SeqCst);
    syscall::signal(n)?;
    s.run()?;
    check_eq!(Error::from_rax(get(2)), Err(Error::InvalidCapability));
    check_eq!(Error::from_rax(get(3)), Err(Error::InvalidCapability));
    // Round 2: the guard-6 name reaches `a`'s slot again.
    TARGET.store(name(0x6, 3), Ordering::SeqCst);
    syscall::signal(n)?;
    s.run()?;
    check_eq!(get(4), answer(2, 0x11));
    check_eq!(get(5), answer(2, 0x11));
    // Round 3, in `b` (another CNode: the slot's first word changed),
    // under `b`'s names: the same index holds the other badge.
    reconfigure(c, &g, b)?;
    WAIT_ON.store(name(0x5, 1), Ordering::SeqCst);
    TARGET.store(name(0x5, 3), Ordering::SeqCst);
    syscall::signal(n)?;
    s.run()?;
    check_eq!(get(6), answer(3, 0x22));
    check_eq!(get(7), answer(3, 0x22));
    // Round 4: the thread's copy of `b` is revoked from the root's slot
    // (no `TCB_CONFIGURE`): nothing is found in an empty space.
    c.ipc.cnode_revoke(CNODE, (b, DEPTH))?;
    syscall::signal(n)?;
    s.run()?;
    check_eq!(Error::from_rax(get(8)), Err(Error::InvalidCapability));
    check_eq!(Error::from_rax(get(9)), Err(Error::InvalidCapability));
    check_eq!(ROUNDS.load(Ordering::SeqCst), 5);
    Ok(())
}

/// The error that ended [`round_server`].
static SERVER_ERR: AtomicU64 = AtomicU64::new(0);

/// Each round: ReplyRecv on `TARGET` with reply object `REPLY_AT` (the
/// first round: Recv), answering the last request with its word XORed;
/// cell 8 + r := the label of request r. An error ends it
/// ([`SERVER_ERR`]).
extern "C" fn round_server(_arg: u64, _buffer: u64) -> ! {
    let mut got = ipc::recv_short(
        TARGET.load(Ordering::SeqCst),
        REPLY_AT.load(Ordering::SeqCst),
    );
    loop {
        let r = ROUNDS.load(Ordering::SeqCst);
        let rx = match got {
            Ok(rx) => rx,
            Err(e) => {
                SERVER_ERR.store(e.to_rax(), Ordering::SeqCst);
                syscall::thread_exit()
            }
        };
        put(8 + r as usize, rx.msg.label);
        ROUNDS.store(r + 1, Ordering::SeqCst);
        let answer = Short::new(rx.msg.label + 1, &[rx.msg.words[0] ^ XOR]).unwrap_or_default();
        got = ipc::reply_recv_short(
            TARGET.load(Ordering::SeqCst),
            REPLY_AT.load(Ordering::SeqCst),
            &answer,
        );
    }
}

/// A server whose capability space is replaced while it waits: the
/// ReplyRecv after the next request names its reply object and endpoint
/// in the new space (other slots there), where the fast path's stale cache
/// must not be used. Answers and requests must all arrive.
fn reply_cspace_replaced(c: &mut Ctx) -> TestResult {
    reset();
    ROUNDS.store(0, Ordering::SeqCst);
    SERVER_ERR.store(0, Ordering::SeqCst);
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let (a, a_cn) = flat_space(c, 0x9)?;
    let (b, b_cn) = flat_space(c, 0xa)?;
    place(c, a_cn, 2, ep, 0)?;
    place(c, b_cn, 7, ep, 0)?;
    // One reply object (its capability cannot be copied), moved along
    // with the server: it stays armed with it while it waits.
    c.ipc.retype(c.ut, ty::REPLY, 0, a_cn, 4, 1)?;
    let to_b = |c: &mut Ctx| c.ipc.cnode_move(b_cn, (5, RADIX), a_cn, (4, RADIX));
    let to_a = |c: &mut Ctx| c.ipc.cnode_move(a_cn, (4, RADIX), b_cn, (5, RADIX));
    TARGET.store(name(0x9, 2), Ordering::SeqCst);
    REPLY_AT.store(name(0x9, 4), Ordering::SeqCst);
    let g = guest(c, "server", a, PRIO)?;
    c.start(g.thread, round_server, 0)?;
    s.run()?;
    // The answer's label, or 0 if its word is not the echo of the request's.
    let call = |label: u64| -> Result<u64, Error> {
        let got = ipc::call_short(ep, &Short::new(label, &[label])?)?;
        let echoed = got.msg.len == 1 && got.msg.words[0] == label ^ XOR;
        Ok(if echoed { got.msg.label } else { 0 })
    };
    // Two requests in `a` (the second answered on the fast path).
    check_eq!(call(0x40)?, 0x41);
    check_eq!(call(0x42)?, 0x43);
    // The server waits in `a`'s names; now it lives in `b`. The next
    // request reaches it (it waits on the endpoint object); its answer
    // goes out through `b`'s names, and it waits again in `b`.
    reconfigure(c, &g, b)?;
    to_b(c)?;
    TARGET.store(name(0xa, 7), Ordering::SeqCst);
    REPLY_AT.store(name(0xa, 5), Ordering::SeqCst);
    check_eq!(call(0x44)?, 0x45);
    check_eq!(call(0x46)?, 0x47);
    check_eq!(call(0x48)?, 0x49);
    // And back: the old cache entry must not be taken for the new one.
    reconfigure(c, &g, a)?;
    to_a(c)?;
    TARGET.store(name(0x9, 2), Ordering::SeqCst);
    REPLY_AT.store(name(0x9, 4), Ordering::SeqCst);
    check_eq!(call(0x4a)?, 0x4b);
    check_eq!(call(0x4c)?, 0x4d);
    // Moved to `b` again, but naming `a`'s slots: the ReplyRecv after the
    // next request resolves nothing there (InvalidCapability), so it
    // answers nobody, as the general path's lookups refuse it before the
    // answer. A helper makes that request (it stays unanswered).
    reconfigure(c, &g, b)?;
    to_b(c)?;
    c.spawn("last", ordered_caller, pack(&[ep, 0]), PRIO + 10)?;
    s.run()?;
    check_eq!(
        Error::from_rax(SERVER_ERR.load(Ordering::SeqCst)),
        Err(Error::InvalidCapability)
    );
    check!(
        get(0) == crate::common::UNSET,
        "the stale ReplyRecv answered"
    );
    for (i, label) in [0x40, 0x42, 0x44, 0x46, 0x48, 0x4a, 0x4c, 0x31]
        .into_iter()
        .enumerate()
    {
        check_eq!(get(8 + i), label);
    }
    Ok(())
}

/// A waiting server's priority changed while it waits: lowered below a
/// ready thread, a Call must not switch to it (the ready thread runs
/// first); raised above it, the Call switches straight to it. Each order
/// is what the general path's queues give.
fn priority_changed(c: &mut Ctx) -> TestResult {
    for lowered in [true, false] {
        reset();
        SEQ.store(0, Ordering::SeqCst);
        let s = Settle::new(c)?;
        let ep = c.endpoint()?;
        let reply = c.reply()?;
        let (before, after) = if lowered {
            (PRIO + 30, PRIO)
        } else {
            (PRIO, PRIO + 30)
        };
        let server = c.spawn("server", ordered_server, pack(&[ep, reply, 0]), before)?;
        s.run()?;
        c.ipc.tcb_set_priority(server.tcb, SELF_TCB, after)?;
        c.spawn("between", marker, pack(&[1]), PRIO + 10)?;
        c.spawn("caller", ordered_caller, pack(&[ep, 2]), PRIO + 20)?;
        s.run()?;
        // Lowered: between (1), server (2), caller answered (3). Raised:
        // server (1), caller answered (2), between (3).
        let want = if lowered { [2, 1, 3] } else { [1, 3, 2] };
        check!(
            [get(0), get(1), get(2)] == want,
            "lowered {lowered}: order server/between/caller {:?}, want {want:?}",
            [get(0), get(1), get(2)]
        );
    }
    Ok(())
}

/// A waiting server moved to another partition (one without a window:
/// it never runs there) must not be switched to by a Call, which would
/// lend it the caller's window; moved back, it runs and answers.
fn partition_changed(c: &mut Ctx) -> TestResult {
    reset();
    SEQ.store(0, Ordering::SeqCst);
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    let server = c.spawn("server", ordered_server, pack(&[ep, reply, 0]), PRIO)?;
    s.run()?;
    c.ipc.tcb_set_partition(server.tcb, SCHED, 1)?;
    c.spawn("caller", ordered_caller, pack(&[ep, 2]), PRIO + 20)?;
    s.run()?;
    check!(
        get(0) == crate::common::UNSET,
        "the server ran outside its partition"
    );
    check!(get(2) == crate::common::UNSET, "the caller was answered");
    c.ipc.tcb_set_partition(server.tcb, SCHED, 0)?;
    s.run()?;
    check_eq!(get(0), 1);
    check_eq!(get(2), 2);
    Ok(())
}

/// RFLAGS.NT.
const NT: u64 = 1 << 14;

/// A zero-byte `DebugWrite` at `ptr` made with NT set; returns its result
/// and RFLAGS right after it.
fn null_call_with_nt(ptr: u64) -> (u64, u64) {
    let (rax, flags): (u64, u64);
    // SAFETY: sets NT (a flag user mode may set; nothing here uses it),
    // enters the kernel, which clobbers RCX and R11 and writes RAX, reads
    // RFLAGS and clears NT again. The stack is used only inside the block.
    unsafe {
        core::arch::asm!(
            "pushfq",
            "or qword ptr [rsp], {nt}",
            "popfq",
            "syscall",
            "pushfq",
            "pop {flags}",
            "pushfq",
            "and qword ptr [rsp], {clear}",
            "popfq",
            nt = const NT,
            clear = const !NT,
            flags = out(reg) flags,
            inout("rax") nr::DEBUG_WRITE => rax,
            in("rdi") ptr,
            in("rsi") 0u64,
            out("rcx") _,
            out("r11") _,
        );
    }
    (rax, flags)
}

/// Cells: per pointer, the results of a fresh thread's first two
/// zero-byte writes.
const POINTERS: [u64; 4] = [
    0x1000,
    septum_user::abi::layout::USER_LOWER_TOP_PAGE,
    septum_user::abi::layout::KERNEL_SPACE_START,
    0x0000_8000_0000_0000,
];

extern "C" fn null_caller(_arg: u64, _buffer: u64) -> ! {
    for (i, &p) in POINTERS.iter().enumerate() {
        for k in 0..2 {
            let (rax, flags) = null_call_with_nt(p);
            put(2 * i + k, rax);
            put(8 + 2 * i + k, flags);
        }
    }
    syscall::thread_exit()
}

/// The null call's checks, those of `debug_write` (the general path's): a
/// user pointer (even the page that is never mapped: zero bytes touch
/// nothing) gives 0, a kernel or non-canonical one `InvalidAddress`, each
/// time; NT set before the call is clear after it on both exits (the
/// fast one, `go_on_in`, and the error one, `go_on`).
fn null_call(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    c.spawn("nullcall", null_caller, 0, PRIO)?;
    s.run()?;
    let want = [
        Ok(0),
        Ok(0),
        Err(Error::InvalidAddress),
        Err(Error::InvalidAddress),
    ];
    for (i, w) in want.iter().enumerate() {
        for k in 0..2 {
            check!(
                Error::from_rax(get(2 * i + k)) == *w,
                "pointer {:#x}, call {k}: {:?}",
                POINTERS[i],
                Error::from_rax(get(2 * i + k))
            );
            let flags = get(8 + 2 * i + k);
            check!(
                flags & NT == 0 && flags & (1 << 9) != 0,
                "pointer {:#x}, call {k}: RFLAGS {flags:#x} after the call",
                POINTERS[i]
            );
        }
    }
    // And from this thread, whose address space is long cached.
    check_eq!(syscall::raw(nr::DEBUG_WRITE, 0x1000, 0, [0; 4], 0).rax, 0);
    Ok(())
}
