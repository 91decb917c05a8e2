//! IPC between address spaces: a server thread in a new address space
//! that maps the root task's image (read-only, executable) at the same
//! addresses, with its own stack and IPC buffer.

use crate::common::{
    PRIO, Settle, XOR, echo_server, get, mint, pack, pattern_msg, put, reset, unpack,
};
use septum_test_tasks::ktest::{
    ASID_POOL, CNODE, Ctx, DEPTH, SELF_TCB, Test, TestResult, rights, thread_ipc, ty,
};
use septum_test_tasks::{check, check_eq, fail};
use septum_user::abi::Error;
use septum_user::abi::fault;
use septum_user::abi::ipc::MAX_WORDS;
use septum_user::syscall::thread_exit;

pub const TESTS: &[Test] = &[Test {
    name: "ipc_call_into_other_address_space",
    run: other_space,
}];

/// The server's stack (4 pages, top at `STACK_VA + STACK_PAGES * 4096`),
/// an unmapped guard page, then its IPC buffer. Far from the image.
const STACK_VA: u64 = 0x10_0000_0000;
const STACK_PAGES: u64 = 4;
const BUFFER_VA: u64 = STACK_VA + (STACK_PAGES + 1) * 4096;

/// Page tables made for the new address space: (level, base it covers).
struct Tables {
    made: [(u64, u64); 16],
    count: usize,
}

impl Tables {
    /// Make and map the tables of levels 3, 2 and 1 that cover `va`.
    fn cover(&mut self, c: &mut Ctx, vspace: u64, va: u64) -> Result<(), Error> {
        for level in [3u64, 2, 1] {
            let span = 1u64 << (12 + 9 * level);
            let key = (level, va & !(span - 1));
            if self.made[..self.count].contains(&key) {
                continue;
            }
            if self.count == self.made.len() {
                return Err(Error::Range);
            }
            let pt = c.make(ty::PAGE_TABLE, level)?;
            c.ipc.page_table_map(pt, vspace, va)?;
            self.made[self.count] = key;
            self.count += 1;
        }
        Ok(())
    }
}

/// `[fault ep, reply of the server, server ep]`: wait for a fault of the
/// server; note it in cells 8–10, then free the root thread from its Call
/// by deleting the server's reply object and endpoint.
extern "C" fn fault_watch(arg: u64, buffer: u64) -> ! {
    let [fep, reply, ep, _] = unpack(arg);
    let mut ipc = thread_ipc(buffer);
    if let Ok(f) = ipc.recv(fep, 0) {
        put(9, f.msg.word(fault::W_RIP));
        put(10, f.msg.word(fault::W_ADDR));
        put(8, f.msg.label);
        let _ = ipc.cnode_delete(CNODE, (reply, DEPTH));
        let _ = ipc.cnode_delete(CNODE, (ep, DEPTH));
    }
    thread_exit()
}

fn other_space(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let vspace = c.make(ty::PAGE_TABLE, 4)?;
    c.ipc.asid_assign(ASID_POOL, vspace)?;
    let mut tables = Tables {
        made: [(0, 0); 16],
        count: 0,
    };
    // The root task's image, at the same addresses, read-only.
    let (first, count) = (c.info.image_frames_first, c.info.image_frames_count);
    check!(count > 0, "no image frames in the boot info");
    check!(
        count <= 160,
        "{} image frames: too many for the slot window",
        count
    );
    let mut mapped = 0;
    for i in 0..count {
        let id = c.identify(first + i)?;
        check!(id.mapped, "image frame {} is not mapped", i);
        check!(id.vaddr != 0, "image frame {} has no address", i);
        let copy = c.slot();
        c.ipc
            .cnode_copy(CNODE, (copy, DEPTH), CNODE, (first + i, DEPTH), rights::ALL)?;
        check_eq!(c.identify(copy)?.mapped, false);
        tables.cover(c, vspace, id.vaddr)?;
        c.ipc.frame_map(copy, vspace, id.vaddr, 2)?;
        check_eq!(c.identify(copy)?.vaddr, id.vaddr);
        mapped += 1;
    }
    check_eq!(mapped, count);
    // Its own stack and IPC buffer, writable, not executable.
    for p in 0..STACK_PAGES {
        let f = c.make(ty::FRAME, 0)?;
        let va = STACK_VA + p * 4096;
        tables.cover(c, vspace, va)?;
        c.ipc.frame_map(f, vspace, va, 1)?;
    }
    let buffer = c.make(ty::FRAME, 0)?;
    tables.cover(c, vspace, BUFFER_VA)?;
    c.ipc.frame_map(buffer, vspace, BUFFER_VA, 1)?;

    let ep = c.endpoint()?;
    let reply = c.reply()?;
    let fep = c.endpoint()?;
    c.spawn("watch", fault_watch, pack(&[fep, reply, ep]), PRIO)?;
    let tcb = c.make(ty::TCB, 0)?;
    c.ipc
        .tcb_configure(tcb, CNODE, vspace, buffer, BUFFER_VA, fep)?;
    c.ipc.tcb_set_name(tcb, "remote-echo")?;
    c.ipc.tcb_set_priority(tcb, SELF_TCB, PRIO + 10)?;
    let mut regs = [0u64; 18];
    let entry: extern "C" fn(u64, u64) -> ! = echo_server;
    regs[fault::W_RIP] = entry as usize as u64;
    regs[fault::W_RSP] = STACK_VA + STACK_PAGES * 4096 - 8;
    regs[fault::W_RDI] = pack(&[ep, reply]);
    regs[fault::W_RSI] = BUFFER_VA;
    regs[fault::W_RFLAGS] = 0x202;
    c.ipc.tcb_write_registers(tcb, &regs)?;
    c.ipc.tcb_resume(tcb)?;

    // Calls through a badged capability: the echo adds the badge to the
    // label, so the server's view of the badge shows in the answer.
    let client = mint(c, ep, rights::WRITE | rights::GRANT_REPLY, 0x5e)?;
    for len in [0, 4, 5, MAX_WORDS] {
        let m = pattern_msg(0x300 + len as u64, 3000 + len as u64, len);
        let got = match c.ipc.call(client, &m) {
            Ok(r) => r,
            Err(e) => {
                s.run()?;
                if get(8) != crate::common::UNSET {
                    fail!(
                        "server faulted: kind {} at rip {:#x}, address {:#x}",
                        get(8),
                        get(9),
                        get(10)
                    );
                }
                fail!("call of {} words: {}", len, e.name());
            }
        };
        check_eq!(got.msg.len, len);
        check_eq!(got.msg.label, m.label + 1 + 0x5e);
        check_eq!(got.badge, 0);
        for i in 0..len {
            check!(
                got.msg.words[i] == m.words[i] ^ XOR,
                "{} words: word {} = {:#x}",
                len,
                i,
                got.msg.words[i]
            );
        }
    }
    // The server never faulted.
    s.run()?;
    check_eq!(get(8), crate::common::UNSET);
    Ok(())
}
