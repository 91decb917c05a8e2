//! Capabilities used for memory, checked for rights where they are used:
//! the IPC buffer a thread is configured with (the kernel reads and writes
//! it, so the frame capability must carry both rights), and frame
//! capabilities that arrive over IPC with fewer rights than their source.

use crate::common::{
    DONE, Handler, PRIO, UNSET, V0, V1, code, expect, get, handler, mint, name, next_fault, read,
    reset, set, settle, write,
};
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use septum_test_tasks::ktest::{
    CNODE, Ctx, DEPTH, SELF_VSPACE, Test, TestResult, rights, thread_ipc, ty,
};
use septum_test_tasks::{check, check_eq, fail};
use septum_user::abi::Error;
use septum_user::abi::fault::Kind;
use septum_user::abi::ipc::MAX_WORDS;
use septum_user::ipc::Message;
use septum_user::syscall::thread_exit;

pub const TESTS: &[Test] = &[
    Test {
        name: "attack_ipcbuf_read_only_frame_refused",
        run: read_only,
    },
    Test {
        name: "attack_ipcbuf_rightless_frame_refused",
        run: rightless,
    },
    Test {
        name: "attack_ipcbuf_write_only_frame_refused",
        run: write_only,
    },
    Test {
        name: "attack_ipcbuf_read_only_frame_never_written",
        run: never_written,
    },
    Test {
        name: "attack_ipcbuf_freed_while_blocked_never_written",
        run: freed_while_blocked,
    },
    Test {
        name: "attack_frame_rights_kept_across_ipc_transfer",
        run: transferred,
    },
    Test {
        name: "attack_page_tables_neither_copied_nor_sent",
        run: page_tables_stay,
    },
];

fn pattern(i: usize) -> u64 {
    0xa77a_0000_0000_0000 | (i as u64) << 8 | 0x5a
}

fn pattern_message() -> Message {
    let mut words = [0u64; MAX_WORDS];
    for (i, w) in words.iter_mut().enumerate() {
        *w = pattern(i);
    }
    Message::new(0x42, &words)
}

/// Receives one message on `ep` into its IPC buffer: the length goes to
/// `V0`, the number of words that differ from the pattern to `V1`. Then
/// `ud2`, so its fault shows where its faults go.
extern "C" fn recv_then_ud2(ep: u64, buffer: u64) -> ! {
    let mut ipc = thread_ipc(buffer);
    match ipc.recv(ep, 0) {
        Ok(r) => {
            set(V0, r.msg.len as u64);
            let bad = (0..r.msg.len).filter(|&i| r.msg.words[i] != pattern(i));
            set(V1, bad.count() as u64);
        }
        Err(e) => set(V0, 1000 + e as u64),
    }
    // SAFETY: an invalid opcode; the root receives the fault and never
    // resumes the thread.
    unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
    thread_exit()
}

/// TCB_CONFIGURE with a copy of a frame that has only `r` rights as IPC
/// buffer must fail with MissingRight before it changes anything: the
/// thread keeps its old buffer (a 68-word message arrives whole), its
/// address and capability spaces (it runs) and its fault endpoint.
fn refused(c: &mut Ctx, r: u64, what: &str) -> TestResult {
    reset();
    let h: Handler = handler(c)?;
    let ep = c.endpoint()?;
    let t = c.configured_thread("ka-buf", PRIO, h.ep)?;
    let (f, _) = c.mapped_frame()?;
    let weak = mint(c, f, r)?;
    check_eq!(c.identify(weak)?.rights, r);
    let va = c.page_addr();
    let got = c
        .ipc
        .tcb_configure(t.tcb, CNODE, SELF_VSPACE, weak, va, h.ep);
    if got != Err(Error::MissingRight) {
        fail!(
            "TCB_CONFIGURE with a {} buffer frame: {:?}, expected Err(MissingRight)",
            what,
            got
        );
    }
    c.start(t, recv_then_ud2, ep)?;
    settle(c)?;
    check!(
        get(V0) == UNSET,
        "the thread did not wait for the message (V0 = {:#x})",
        get(V0)
    );
    c.ipc.send(ep, &pattern_message())?;
    let fault = next_fault(c, &h)?;
    expect(&fault, Kind::Exception, 6)?;
    check!(
        get(V0) == MAX_WORDS as u64,
        "after the refused configure the thread received {} words, expected {}",
        get(V0),
        MAX_WORDS
    );
    check_eq!(get(V1), 0);
    Ok(())
}

fn read_only(c: &mut Ctx) -> TestResult {
    refused(c, rights::READ, "read-only")
}

fn rightless(c: &mut Ctx) -> TestResult {
    refused(c, 0, "rightless")
}

fn write_only(c: &mut Ctx) -> TestResult {
    refused(c, rights::WRITE, "write-only")
}

/// Reads its own registers (the reply's words 4.. go through the IPC
/// buffer), then receives a 68-word message on `ep`; sets `DONE`.
extern "C" fn read_regs_then_recv(ep: u64, buffer: u64) -> ! {
    let mut ipc = thread_ipc(buffer);
    let own = get(V0);
    set(V1, code(ipc.tcb_read_registers(own).map(|_| ())));
    let _ = ipc.recv(ep, 0);
    set(DONE, 1);
    thread_exit()
}

/// The attack behind the rule: a thread given a read-only copy of a frame
/// as its IPC buffer gets the kernel to write the frame for it, through an
/// invocation's reply and through a long message. Whatever TCB_CONFIGURE
/// says, the frame's contents must not change.
fn never_written(c: &mut Ctx) -> TestResult {
    const FILL: u64 = 0x0f1e_2d3c_4b5a_6978;
    reset();
    let ep = c.endpoint()?;
    let t = c.configured_thread("ka-ro-buf-write", PRIO, 0)?;
    let (f, va) = c.mapped_frame()?;
    for i in 0..512 {
        write(va + i * 8, FILL ^ i);
    }
    let ro = mint(c, f, rights::READ)?;
    let ro_va = c.page_addr();
    c.ipc.frame_map(ro, SELF_VSPACE, ro_va, 0)?;
    let configured = c.ipc.tcb_configure(t.tcb, CNODE, SELF_VSPACE, ro, ro_va, 0);
    set(V0, t.tcb);
    c.start(t, read_regs_then_recv, ep)?;
    settle(c)?;
    c.ipc.send(ep, &pattern_message())?;
    settle(c)?;
    check_eq!(get(DONE), 1);
    let changed = (0..512).filter(|&i| read(va + i * 8) != FILL ^ i);
    let n = changed.clone().count();
    if n != 0 {
        let first = changed.clone().next().unwrap_or(0);
        fail!(
            "the read-only frame was written through the IPC buffer: {} of 512 words changed \
             (word {} = {:#x}); TCB_CONFIGURE returned {:?}",
            n,
            first,
            read(va + first * 8),
            configured
        );
    }
    // Whatever happened, the thread's own calls worked.
    check!(
        get(V1) == 0,
        "the thread's TCB_READ_REGISTERS: {}",
        name(get(V1))
    );
    Ok(())
}

/// Receives one message on `ep`: its length goes to `V0`; sets DONE.
extern "C" fn recv_len(ep: u64, buffer: u64) -> ! {
    let mut ipc = thread_ipc(buffer);
    let len = match ipc.recv(ep, 0) {
        Ok(r) => r.msg.len as u64,
        Err(e) => 1000 + e as u64,
    };
    set(V0, len);
    set(DONE, 1);
    thread_exit()
}

/// A thread waits in Recv with its IPC buffer; the buffer frame's memory
/// is then freed (its untyped revoked, which deletes the thread's copy of
/// the capability too) and made into a new frame. A long message sent to
/// the thread now must not be written into that memory: only the four
/// register words arrive.
fn freed_while_blocked(c: &mut Ctx) -> TestResult {
    const FILL: u64 = 0x1f1f_2e2e_3d3d_4c4c;
    reset();
    let ep = c.endpoint()?;
    let u = c.make(ty::UNTYPED, 12)?;
    let f = c.slot();
    c.ipc.retype(u, ty::FRAME, 0, CNODE, f, 1)?;
    let va = c.page_addr();
    c.ipc.frame_map(f, SELF_VSPACE, va, 1)?;
    let t = c.make(ty::TCB, 0)?;
    c.ipc.tcb_configure(t, CNODE, SELF_VSPACE, f, va, 0)?;
    c.ipc
        .tcb_set_priority(t, septum_test_tasks::ktest::SELF_TCB, PRIO)?;
    c.start(
        septum_test_tasks::ktest::Thread { tcb: t, buffer: va },
        recv_len,
        ep,
    )?;
    settle(c)?;
    check_eq!(get(V0), UNSET);
    c.ipc.cnode_revoke(CNODE, (u, DEPTH))?;
    let g = c.slot();
    c.ipc.retype(u, ty::FRAME, 0, CNODE, g, 1)?;
    let gva = c.page_addr();
    c.ipc.frame_map(g, SELF_VSPACE, gva, 1)?;
    for i in 0..512 {
        write(gva + i * 8, FILL);
    }
    c.ipc.send(ep, &pattern_message())?;
    settle(c)?;
    if let Some(i) = (0..512).find(|&i| read(gva + i * 8) != FILL) {
        fail!(
            "a message went into the freed IPC buffer's memory, now another frame: word {} = {:#x}",
            i,
            read(gva + i * 8)
        );
    }
    check_eq!(get(DONE), 1);
    check_eq!(get(V0), 4);
    Ok(())
}

/// What each use of a received frame capability must return.
type Outcomes = [Result<(), Error>; 5];

/// What the receiving thread was told and what it found, per capability:
/// map writable, map read-only, map executable, FRAME_ADDRESS, use as IPC
/// buffer, and the rights a full-rights copy of it has.
const OPS: usize = 6;
static XFER_ARGS: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static XFER_RES: [AtomicU64; 3 * OPS + 1] = [const { AtomicU64::new(UNSET) }; 3 * OPS + 1];

const A_FIRST: usize = 0;
const A_SPARE: usize = 1;
const A_HELPER: usize = 2;
const A_VA: usize = 3;
const A_BUF_VA: usize = 4;

fn arg(i: usize) -> u64 {
    XFER_ARGS[i].load(SeqCst)
}

/// Receives three frame capabilities on `ep` and tries each for what it
/// is worth; results in `XFER_RES` (the last entry: how many arrived).
extern "C" fn frame_receiver(ep: u64, buffer: u64) -> ! {
    let mut ipc = thread_ipc(buffer);
    let first = arg(A_FIRST);
    ipc.set_recv_slots(CNODE, first);
    let caps = match ipc.recv(ep, 0) {
        Ok(r) => r.msg.caps as u64,
        Err(e) => 100 + e as u64,
    };
    XFER_RES[3 * OPS].store(caps, SeqCst);
    let va = arg(A_VA);
    for k in 0..3u64 {
        let cap = first + k;
        let res = |i: usize, v: u64| XFER_RES[k as usize * OPS + i].store(v, SeqCst);
        for (i, attrs) in [(0, 1u64), (1, 0), (2, 2)] {
            let r = ipc.frame_map(cap, SELF_VSPACE, va, attrs);
            if r.is_ok() {
                let _ = ipc.frame_unmap(cap);
            }
            res(i, code(r));
        }
        res(3, code(ipc.frame_address(cap).map(|_| ())));
        let helper = arg(A_HELPER);
        res(
            4,
            code(ipc.tcb_configure(helper, CNODE, SELF_VSPACE, cap, arg(A_BUF_VA), 0)),
        );
        let spare = arg(A_SPARE) + k;
        let copied = ipc.cnode_copy(CNODE, (spare, DEPTH), CNODE, (cap, DEPTH), rights::ALL);
        res(
            5,
            match copied.and_then(|()| ipc.cnode_identify(CNODE, (spare, DEPTH))) {
                Ok(id) => 0x100 | id.rights,
                Err(e) => e as u64,
            },
        );
    }
    set(DONE, 1);
    thread_exit()
}

/// A frame sent as read-only, write-only and rightless copies over an
/// endpoint with the grant right: the receiver gets exactly those rights
/// (a full-rights copy of what it got has no more), and every use checks
/// them: mapping, FRAME_ADDRESS (needs read), and the IPC buffer (needs
/// read and write).
fn transferred(c: &mut Ctx) -> TestResult {
    reset();
    let f = c.make(ty::FRAME, 0)?;
    let sent = [
        mint(c, f, rights::READ)?,
        mint(c, f, rights::WRITE)?,
        mint(c, f, 0)?,
    ];
    let ep = c.endpoint()?;
    let first = c.slots(3);
    let spare = c.slots(3);
    let helper = c.configured_thread("ka-xfer-helper", PRIO, 0)?;
    let args = [first, spare, helper.tcb, c.page_addr(), c.page_addr()];
    for (a, v) in XFER_ARGS.iter().zip(args) {
        a.store(v, SeqCst);
    }
    for r in &XFER_RES {
        r.store(UNSET, SeqCst);
    }
    c.spawn("ka-xfer", frame_receiver, ep, PRIO)?;
    settle(c)?;
    c.ipc.set_send_caps(&sent);
    let mut m = Message::new(7, &[]);
    m.caps = 3;
    c.ipc.send(ep, &m)?;
    settle(c)?;
    check_eq!(get(DONE), 1);
    check_eq!(XFER_RES[3 * OPS].load(SeqCst), 3);
    let ok = Ok(());
    let no = Err(Error::MissingRight);
    let expected: [(&str, u64, Outcomes); 3] = [
        ("read-only", rights::READ, [no, ok, ok, ok, no]),
        ("write-only", rights::WRITE, [no, no, no, no, no]),
        ("rightless", 0, [no, no, no, no, no]),
    ];
    let ops = [
        "FRAME_MAP writable",
        "FRAME_MAP read-only",
        "FRAME_MAP executable",
        "FRAME_ADDRESS",
        "TCB_CONFIGURE as IPC buffer",
    ];
    for (k, (what, r, want)) in expected.iter().enumerate() {
        for (i, w) in want.iter().enumerate() {
            let got = XFER_RES[k * OPS + i].load(SeqCst);
            if got != code(*w) {
                fail!(
                    "{} of a received {} frame: {}, expected {}",
                    ops[i],
                    what,
                    name(got),
                    name(code(*w))
                );
            }
        }
        let copy = XFER_RES[k * OPS + 5].load(SeqCst);
        check!(
            copy == 0x100 | r,
            "a full-rights copy of the received {} frame has rights {:#x} (code {:#x})",
            what,
            copy & 0xff,
            copy
        );
    }
    Ok(())
}

/// Receives on `ep` into slot `V1` and reports how many capabilities
/// arrived in `V0`; sets DONE.
extern "C" fn cap_receiver(ep: u64, buffer: u64) -> ! {
    let mut ipc = thread_ipc(buffer);
    ipc.set_recv_slots(CNODE, get(V1));
    let n = match ipc.recv(ep, 0) {
        Ok(r) => r.msg.caps as u64,
        Err(e) => 100 + e as u64,
    };
    set(V0, n);
    set(DONE, 1);
    thread_exit()
}

/// A page table below the PML4 is mapped in one place and only moves:
/// copying or minting it is refused, and sending it over an endpoint with
/// the grant right transfers nothing (the sender keeps it, still usable).
/// A PML4 can be copied (threads hold copies), and a copy minted with no
/// rights says what it is: a capability with every right, since PML4
/// capabilities carry none to take away.
fn page_tables_stay(c: &mut Ctx) -> TestResult {
    reset();
    let pt = c.make(ty::PAGE_TABLE, 1)?;
    let dst = c.slot();
    for (what, got) in [
        (
            "copy",
            c.ipc
                .cnode_copy(CNODE, (dst, DEPTH), CNODE, (pt, DEPTH), rights::ALL),
        ),
        (
            "mint",
            c.ipc
                .cnode_mint(CNODE, (dst, DEPTH), CNODE, (pt, DEPTH), rights::READ, 0),
        ),
    ] {
        if got != Err(Error::IllegalOperation) {
            fail!(
                "{} of a page table: {:?}, expected Err(IllegalOperation)",
                what,
                got
            );
        }
    }
    let ep = c.endpoint()?;
    let recv_slot = c.slot();
    set(V1, recv_slot);
    c.spawn("ka-pt-recv", cap_receiver, ep, PRIO)?;
    settle(c)?;
    c.ipc.set_send_caps(&[pt]);
    let mut m = Message::new(9, &[]);
    m.caps = 1;
    c.ipc.send(ep, &m)?;
    settle(c)?;
    check_eq!(get(DONE), 1);
    check_eq!(get(V0), 0);
    check_eq!(c.identify(recv_slot)?.cap_type, 0);
    check_eq!(
        c.identify(pt)?.cap_type,
        septum_test_tasks::ktest::cap::PAGE_TABLE
    );
    c.ipc
        .page_table_map(pt, SELF_VSPACE, 0x40_0000_0000 + (8 << 21))?;
    let pml4 = c.make(ty::PAGE_TABLE, 4)?;
    let weak = mint(c, pml4, 0)?;
    check_eq!(c.identify(weak)?.rights, rights::ALL);
    Ok(())
}
