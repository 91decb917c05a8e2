//! What the fast paths keep between calls, changed under them. A thread's
//! flat capability space and address space are cached in its TCB and its
//! priority and partition folded into one switch key; each is changed
//! here from another thread while the thread is blocked, right after a
//! fast-path call primed it, and the next call must see the change: a
//! replaced, re-guarded, emptied or destroyed capability space (its memory
//! turned into a frame of forged capability words, then into a new CNode
//! at the same address), a diminished or re-badged endpoint capability, a
//! priority lowered below a ready thread or raised above it, a partition
//! with no window.

use crate::common::{
    DONE, MINI_CODE, MINI_DATA, Mini, PRIO, UNSET, V0, V1, V2, bare_thread, blob, code_frame, get,
    handler, mini_space_in, next_fault, read, reset, resume_regs, set, settle, shared_frame,
    start_at, write,
};
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use septum_test_tasks::ktest::{
    CNODE, Ctx, DEPTH, SELF_TCB, SELF_VSPACE, Test, TestResult, Thread, cap, rights, thread_ipc, ty,
};
use septum_test_tasks::{check, check_eq, fail};
use septum_user::abi::bootinfo::SLOT_SCHED_CONTROL as SCHED;
use septum_user::abi::{Error, fault, syscall as nr};
use septum_user::ipc::Message;
use septum_user::syscall::{info, raw, thread_exit, wait};

pub const TESTS: &[Test] = &[
    Test {
        name: "attack_cached_cspace_follows_every_change_while_blocked",
        run: cspace_changes,
    },
    Test {
        name: "attack_cached_space_follows_a_reconfigure_and_a_reused_pml4",
        run: space_changes,
    },
    Test {
        name: "attack_switch_key_follows_priority_set_while_blocked",
        run: priority_changes,
    },
    Test {
        name: "attack_switch_key_follows_partition_set_while_blocked",
        run: partition_changes,
    },
];

// ---- the capability-space cache ----

/// Calls the caller makes, one per round; between rounds it faults (`ud2`)
/// and the root changes its capability space before resuming it.
const ROUNDS: usize = 8;
/// The pointer each round calls through, set by the root.
static CPTR: [AtomicU64; ROUNDS] = [const { AtomicU64::new(0) }; ROUNDS];
/// Each round's status (`rax`) and answer label.
static STATUS: [AtomicU64; ROUNDS] = [const { AtomicU64::new(UNSET) }; ROUNDS];
static LABEL: [AtomicU64; ROUNDS] = [const { AtomicU64::new(UNSET) }; ROUNDS];
/// Calls the echo server took.
static SERVED: AtomicU64 = AtomicU64::new(0);

/// A call's `rax` as the error code it carries (0: success).
fn code(rax: u64) -> u64 {
    match Error::from_rax(rax) {
        Ok(_) => 0,
        Err(e) => e as u64,
    }
}

/// The label of round `r`'s request; the server answers with it plus
/// 0x100 plus the badge.
fn request(r: usize) -> u64 {
    0x40 + r as u64
}

/// `ep << 16 | reply`: answer every call with its label plus 0x100 plus
/// the badge (register-only, so both directions take the fast path).
extern "C" fn echo(arg: u64, _buffer: u64) -> ! {
    let (ep, reply) = (arg >> 16, arg & 0xffff);
    let mut r = raw(nr::RECV, ep, 0, [0; 4], reply);
    while r.rax == 0 {
        SERVED.fetch_add(1, SeqCst);
        let label = (r.rsi >> 12) + 0x100 + r.rdi;
        r = raw(nr::REPLY_RECV, ep, info(label, 0), [0; 4], reply);
    }
    thread_exit()
}

/// One register-only Call per round through `CPTR[r]`, then a `ud2` the
/// root answers (resuming after it) once it changed the space.
extern "C" fn round_caller(_arg: u64, _buffer: u64) -> ! {
    for r in 0..ROUNDS {
        let got = raw(
            nr::CALL,
            CPTR[r].load(SeqCst),
            info(request(r), 0),
            [0; 4],
            0,
        );
        STATUS[r].store(code(got.rax), SeqCst);
        LABEL[r].store(if got.rax == 0 { got.rsi >> 12 } else { 0 }, SeqCst);
        // SAFETY: a deliberate #UD; the root resumes the thread after it.
        unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
    }
    set(DONE, 1);
    thread_exit()
}

/// A CNode capability word (`guard_bits | guard << 6`) that makes a radix-4
/// CNode a flat space: 60 guard bits and 4 index bits use all 64 bits of a
/// pointer, the shape the fast path resolves in one step.
fn flat_guard(guard: u64) -> u64 {
    60 | guard << 6
}

/// A flat space over `cnode` with guard `guard`, in a fresh slot.
fn flat(c: &mut Ctx, cnode: u64, guard: u64) -> Result<u64, Error> {
    let s = c.slot();
    c.ipc.cnode_mint(
        CNODE,
        (s, DEPTH),
        CNODE,
        (cnode, DEPTH),
        rights::ALL,
        flat_guard(guard),
    )?;
    Ok(s)
}

/// Put a copy of `src` with `r` and `badge` at index `i` of the radix-4
/// CNode `cnode`.
fn put_cap(c: &mut Ctx, cnode: u64, i: u64, src: u64, r: u64, badge: u64) -> Result<(), Error> {
    c.ipc
        .cnode_mint(cnode, (i, 4), CNODE, (src, DEPTH), r, badge)
}

/// Word 0 of an endpoint capability with every right on the object at
/// physical `pa`, as the kernel stores it (type code, rights at bit 5,
/// the object's address over 16 from bit 12): what an attacker who could
/// make the kernel read a slot from its own frame would write there.
fn forged_endpoint(pa: u64) -> u64 {
    cap::ENDPOINT | rights::ALL << 5 | (pa >> 4) << 12
}

fn cspace_changes(c: &mut Ctx) -> TestResult {
    reset();
    SERVED.store(0, SeqCst);
    for r in 0..ROUNDS {
        STATUS[r].store(UNSET, SeqCst);
        LABEL[r].store(UNSET, SeqCst);
    }
    let h = handler(c)?;
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    c.spawn("ka-cache-echo", echo, ep << 16 | reply, PRIO + 10)?;
    // X, the caller's first space, lives alone in a 4 KiB untyped so that
    // whatever is made from that untyped later lands at X's address.
    let u = c.make(ty::UNTYPED, 12)?;
    let x = c.slot();
    c.ipc.retype(u, ty::CNODE, 4, CNODE, x, 1)?;
    put_cap(c, x, 1, ep, rights::ALL, 0)?;
    let y = c.make(ty::CNODE, 4)?;
    put_cap(c, y, 1, ep, rights::READ, 0)?;
    let (x0, y0, x5) = (flat(c, x, 0)?, flat(c, y, 0)?, flat(c, x, 5)?);

    let tcb = c.make(ty::TCB, 0)?;
    let (frame, buffer) = c.mapped_frame()?;
    let configure = |c: &mut Ctx, cspace: u64| {
        c.ipc
            .tcb_configure(tcb, cspace, SELF_VSPACE, frame, buffer, h.ep)
    };
    configure(c, x0)?;
    c.ipc.tcb_set_name(tcb, "ka-cache-caller")?;
    c.ipc.tcb_set_priority(tcb, SELF_TCB, PRIO)?;
    let ok = |r: usize, badge: u64| (0, request(r) + 0x100 + badge);
    let err = |e: Error| (e as u64, 0);
    // (pointer, expected (status, label)) per round; the root's change
    // before each round is in the loop below.
    let plan: [(u64, (u64, u64)); ROUNDS] = [
        (1, ok(0, 0)),                         // X: the endpoint, every right
        (1, err(Error::MissingRight)),         // Y: read only
        (1, err(Error::InvalidCapability)),    // X, guard 5: 1 names nothing
        (0x51, ok(3, 0)),                      // ... 0x51 names slot 1
        (0x51, ok(4, 0x99)),                   // slot 1 re-minted with a badge
        (0x51, err(Error::InvalidCapability)), // slot 1 emptied
        (0x51, err(Error::InvalidCapability)), // X destroyed, a forged frame there
        (0x51, err(Error::MissingRight)),      // a new CNode at X's address
    ];
    for (r, (p, _)) in plan.iter().enumerate() {
        CPTR[r].store(*p, SeqCst);
    }
    c.start(Thread { tcb, buffer }, round_caller, 0)?;
    let mut forged = None;
    for r in 0..ROUNDS {
        let f = next_fault(c, &h)?;
        check!(
            f.is(fault::Kind::Exception, 6),
            "round {r}: expected the caller's #UD, got {}",
            f
        );
        let got = (STATUS[r].load(SeqCst), LABEL[r].load(SeqCst));
        if got != plan[r].1 {
            fail!(
                "round {r}: Call through {:#x} gave status {} label {:#x}, expected {} label {:#x}",
                plan[r].0,
                crate::common::name(got.0),
                got.1,
                crate::common::name(plan[r].1.0),
                plan[r].1.1
            );
        }
        // The change the next round must see.
        match r {
            0 => configure(c, y0)?,
            1 => configure(c, x5)?,
            3 => {
                c.ipc.cnode_delete(x, (1, 4))?;
                put_cap(c, x, 1, ep, rights::ALL, 0x99)?;
            }
            4 => c.ipc.cnode_delete(x, (1, 4))?,
            5 => {
                // X goes; its memory becomes a frame the root fills with
                // an endpoint capability in slot 1 naming an "endpoint"
                // in the frame itself (all zeros: no queue), the words a
                // lookup through a stale view of X would read.
                c.ipc.cnode_revoke(CNODE, (u, DEPTH))?;
                check_eq!(c.identify(x)?.cap_type, cap::NULL);
                let fr = c.slot();
                c.ipc.retype(u, ty::FRAME, 0, CNODE, fr, 1)?;
                let pa = c.ipc.frame_address(fr)?;
                let va = c.page_addr();
                c.ipc.frame_map(fr, SELF_VSPACE, va, 1)?;
                write(va + 32, forged_endpoint(pa + 0x800));
                write(va + 40, 0);
                forged = Some(fr);
            }
            6 => {
                // The frame goes; a CNode of X's size and guard is made at
                // the same address (the same capability words as before),
                // holding a read-only endpoint.
                if let Some(fr) = forged {
                    c.ipc.frame_unmap(fr)?;
                }
                c.ipc.cnode_revoke(CNODE, (u, DEPTH))?;
                let x2 = c.slot();
                c.ipc.retype(u, ty::CNODE, 4, CNODE, x2, 1)?;
                put_cap(c, x2, 1, ep, rights::READ, 0)?;
                let x25 = flat(c, x2, 5)?;
                configure(c, x25)?;
            }
            _ => {}
        }
        let mut regs = f.regs();
        regs[fault::W_RIP] += 2;
        resume_regs(c, &h, &regs)?;
    }
    settle(c)?;
    check_eq!(get(DONE), 1);
    // Rounds 0, 3 and 4 reached the server; nothing else did.
    check_eq!(SERVED.load(SeqCst), 3);
    Ok(())
}

// ---- the address-space cache ----

/// In a small space: add one to the word at `MINI_DATA`, Call the endpoint
/// in R13 (register-only), again and again. Touches no stack.
#[unsafe(naked)]
unsafe extern "C" fn count_and_call() -> ! {
    core::arch::naked_asm!(
        "2:",
        "mov rbx, {data}",
        "inc qword ptr [rbx]",
        "mov eax, {call}",
        "mov rdi, r13",
        "xor esi, esi",
        "xor r12d, r12d",
        "syscall",
        "jmp 2b",
        data = const MINI_DATA,
        call = const nr::CALL,
    )
}

/// `ep << 16 | go`: for every Call, count it, wait on `go`, answer.
extern "C" fn gated_server(arg: u64, buffer: u64) -> ! {
    let (ep, go) = (arg >> 16, arg & 0xffff);
    let reply = GATED_REPLY.load(SeqCst);
    let mut ipc = thread_ipc(buffer);
    let mut r = ipc.recv(ep, reply);
    while r.is_ok() {
        SERVED.fetch_add(1, SeqCst);
        let _ = wait(go);
        r = ipc.reply_recv(ep, reply, &Message::new(0x77, &[]));
    }
    thread_exit()
}
static GATED_REPLY: AtomicU64 = AtomicU64::new(0);

/// A small space with the counting code and a data page the root sees
/// (returned: the space and the root's view of the counter).
fn counting_space(c: &mut Ctx, pml4: u64) -> Result<(Mini, u64), Error> {
    let m = mini_space_in(c, pml4)?;
    code_frame(c, m.vspace, MINI_CODE, 0, blob(count_and_call, 32))?;
    let (_, counter) = shared_frame(c, m.vspace, MINI_DATA)?;
    Ok((m, counter))
}

/// A thread runs in space A, calls a server and waits for the answer; the
/// root moves it to space B meanwhile: the answer (the fast path's switch)
/// must run it in B. Then B's PML4 is destroyed while it waits: it must
/// stop, not run in what the cache named. Then a PML4 is made at the same
/// address (its capability words the same as before), with a counter of
/// its own: restarted there, the thread must count in the new space.
fn space_changes(c: &mut Ctx) -> TestResult {
    reset();
    SERVED.store(0, SeqCst);
    let h = handler(c)?;
    let ep = c.endpoint()?;
    let go = c.notification()?;
    GATED_REPLY.store(c.reply()?, SeqCst);
    c.spawn("ka-space-server", gated_server, ep << 16 | go, PRIO + 10)?;
    let a_pml4 = c.make(ty::PAGE_TABLE, 4)?;
    let (a, in_a) = counting_space(c, a_pml4)?;
    let u = c.make(ty::UNTYPED, 12)?;
    let b_pml4 = c.slot();
    c.ipc.retype(u, ty::PAGE_TABLE, 4, CNODE, b_pml4, 1)?;
    let (b, in_b) = counting_space(c, b_pml4)?;
    let t = bare_thread(c, "ka-space-counter", a.vspace, h.ep)?;
    start_at(c, t, MINI_CODE, &[(fault::W_R13, ep)])?;
    settle(c)?;
    let counts = |c1: u64| [SERVED.load(SeqCst), read(in_a), read(in_b), c1];
    check_eq!(counts(0), [1, 1, 0, 0]);
    // Moved while it waits for its answer.
    c.ipc.tcb_configure(t, CNODE, b.vspace, 0, 0, h.ep)?;
    septum_user::syscall::signal(go)?;
    settle(c)?;
    check!(
        counts(0) == [2, 1, 1, 0],
        "moved to another space while it waited, the thread counted (calls, in A, in B) {:?}, expected [2, 1, 1]",
        &counts(0)[..3]
    );
    // B's PML4 destroyed while it waits.
    c.ipc.cnode_revoke(CNODE, (u, DEPTH))?;
    check_eq!(c.identify(b_pml4)?.cap_type, cap::NULL);
    septum_user::syscall::signal(go)?;
    settle(c)?;
    check!(
        counts(0) == [2, 1, 1, 0],
        "its space destroyed while it waited, the thread went on (calls, in A, in B) {:?}",
        &counts(0)[..3]
    );
    check!(
        crate::common::poll_fault(c, &h)?.is_none(),
        "a thread without a space faulted instead of stopping"
    );
    // A new PML4 at the same address, with its own counter.
    let c_pml4 = c.slot();
    c.ipc.retype(u, ty::PAGE_TABLE, 4, CNODE, c_pml4, 1)?;
    let (cs, in_c) = counting_space(c, c_pml4)?;
    c.ipc.tcb_configure(t, CNODE, cs.vspace, 0, 0, h.ep)?;
    start_at(c, t, MINI_CODE, &[(fault::W_R13, ep)])?;
    settle(c)?;
    check!(
        counts(read(in_c)) == [3, 1, 1, 1],
        "restarted in a new PML4 at the old one's address, the thread counted (calls, in A, in B, in the new space) {:?}, expected [3, 1, 1, 1]",
        counts(read(in_c))
    );
    Ok(())
}

// ---- the switch key ----

/// Order in which the threads reached their marks.
static SEQ: AtomicU64 = AtomicU64::new(0);

fn mark(cell: usize) {
    set(cell, SEQ.fetch_add(1, SeqCst) + 1);
}

/// `ep << 16 | reply`: for every Call, mark `V0`, answer (ReplyRecv).
extern "C" fn marking_server(arg: u64, buffer: u64) -> ! {
    let (ep, reply) = (arg >> 16, arg & 0xffff);
    let mut ipc = thread_ipc(buffer);
    let mut r = ipc.recv(ep, reply);
    while r.is_ok() {
        mark(V0);
        r = ipc.reply_recv(ep, reply, &Message::new(0x77, &[]));
    }
    thread_exit()
}

/// `ep`: one register-only Call, then mark `V1` (or store the error).
/// A thread's first lookup takes the general path (which fills its
/// capability-space cache), so a refused Call through a pointer that names
/// nothing comes first: the real one may then take the fast path.
extern "C" fn marking_caller(ep: u64, _buffer: u64) -> ! {
    let _ = raw(nr::CALL, u64::MAX, info(0x74, 0), [0; 4], 0);
    let r = raw(nr::CALL, ep, info(0x76, 0), [0; 4], 0);
    if r.rax == 0 {
        mark(V1);
    } else {
        set(V1, 0xbad0 + code(r.rax));
    }
    thread_exit()
}

/// Mark `V2`.
extern "C" fn marker(_arg: u64, _buffer: u64) -> ! {
    mark(V2);
    thread_exit()
}

/// A server (priority `from`) waits in Recv; its priority is set to `to`
/// while it waits; a thread at `PRIO` is made ready and a caller at
/// `PRIO + 50` calls the server. Returns the marks (server, caller,
/// ready thread).
fn call_after_priority_change(c: &mut Ctx, from: u64, to: u64) -> Result<[u64; 3], Error> {
    reset();
    SEQ.store(0, SeqCst);
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    let srv = c.spawn("ka-key-server", marking_server, ep << 16 | reply, from)?;
    settle(c)?;
    // A first call from the root primes whatever the fast path keeps.
    c.ipc.call(ep, &Message::new(0x75, &[]))?;
    reset();
    SEQ.store(0, SeqCst);
    c.ipc.tcb_set_priority(srv.tcb, SELF_TCB, to)?;
    c.spawn("ka-key-ready", marker, 0, PRIO)?;
    c.spawn("ka-key-caller", marking_caller, ep, PRIO + 50)?;
    settle(c)?;
    Ok([get(V0), get(V1), get(V2)])
}

fn priority_changes(c: &mut Ctx) -> TestResult {
    // Lowered below the ready thread: the call must not switch to the
    // server; the ready thread runs first, then the server, then the
    // answered caller.
    let got = call_after_priority_change(c, PRIO + 100, PRIO - 50)?;
    check!(
        got == [2, 3, 1],
        "server lowered below a ready thread while it waited: marks (server, caller, ready) {:?}, expected [2, 3, 1]",
        got
    );
    // Raised above it: now the call goes straight to the server and its
    // answer straight back, before the ready thread.
    let got = call_after_priority_change(c, PRIO - 50, PRIO + 100)?;
    check!(
        got == [1, 2, 3],
        "server raised above a ready thread while it waited: marks {:?}, expected [1, 2, 3]",
        got
    );
    // Priority 0, below the root's 1 while it settles: the server must not
    // run until the root lets it.
    reset();
    SEQ.store(0, SeqCst);
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    let srv = c.spawn("ka-key-zero", marking_server, ep << 16 | reply, 200)?;
    settle(c)?;
    c.ipc.tcb_set_priority(srv.tcb, SELF_TCB, 0)?;
    c.spawn("ka-key-caller", marking_caller, ep, 200)?;
    settle(c)?;
    check!(
        get(V0) == UNSET && get(V1) == UNSET,
        "a server at priority 0 ran while a thread at 1 was ready (marks {:#x}, {:#x})",
        get(V0),
        get(V1)
    );
    c.ipc.tcb_set_priority(srv.tcb, SELF_TCB, 2)?;
    settle(c)?;
    check_eq!((get(V0), get(V1)), (1, 2));
    Ok(())
}

/// `ep << 32 | reply << 16 | ntfn`: receive one Call, mark `V0`, wait on `ntfn`, answer with ReplyRecv,
/// then wait on `ep` for good.
extern "C" fn held_server(arg: u64, buffer: u64) -> ! {
    let (ep, reply, ntfn) = (arg >> 32, (arg >> 16) & 0xffff, arg & 0xffff);
    let mut ipc = thread_ipc(buffer);
    if ipc.recv(ep, reply).is_ok() {
        mark(V0);
        let _ = wait(ntfn);
        let _ = ipc.reply_recv(ep, reply, &Message::new(0x77, &[]));
    }
    thread_exit()
}

fn partition_changes(c: &mut Ctx) -> TestResult {
    // No schedule is set: partition 0 has all the time, and a thread of
    // any other partition never runs. Partition 14 is the last one, with
    // priority 255 the largest switch key there is.
    let last = septum_user::abi::sched::MAX_PARTITIONS - 1;

    // A server moved out of the window's partition while it waits in Recv.
    reset();
    SEQ.store(0, SeqCst);
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    let srv = c.spawn("ka-part-server", marking_server, ep << 16 | reply, 255)?;
    settle(c)?;
    c.ipc.call(ep, &Message::new(0x75, &[]))?;
    reset();
    c.ipc.tcb_set_partition(srv.tcb, SCHED, last)?;
    c.spawn("ka-part-caller", marking_caller, ep, 200)?;
    settle(c)?;
    check!(
        get(V0) == UNSET && get(V1) == UNSET,
        "a Call switched to a server of partition {last} in partition 0's window (marks {:#x}, {:#x})",
        get(V0),
        get(V1)
    );
    c.ipc.tcb_set_partition(srv.tcb, SCHED, 0)?;
    settle(c)?;
    check!(
        get(V0) != UNSET && get(V1) != UNSET && get(V1) < 0xbad0,
        "back in partition 0 the server did not answer (marks {:#x}, {:#x})",
        get(V0),
        get(V1)
    );

    // A caller moved out while it waits for its answer.
    reset();
    SEQ.store(0, SeqCst);
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    let n = c.notification()?;
    c.spawn(
        "ka-part-holder",
        held_server,
        ep << 32 | reply << 16 | n,
        250,
    )?;
    settle(c)?;
    let cli = c.spawn("ka-part-caller", marking_caller, ep, 255)?;
    settle(c)?;
    check_eq!((get(V0), get(V1)), (1, UNSET));
    c.ipc.tcb_set_partition(cli.tcb, SCHED, last)?;
    septum_user::syscall::signal(n)?;
    settle(c)?;
    check!(
        get(V1) == UNSET,
        "a ReplyRecv switched to a caller of partition {last} in partition 0's window (mark {:#x})",
        get(V1)
    );
    c.ipc.tcb_set_partition(cli.tcb, SCHED, 0)?;
    settle(c)?;
    check_eq!(get(V1), 2);
    Ok(())
}
