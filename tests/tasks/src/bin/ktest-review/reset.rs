//! "Memory above an untyped's watermark is always zero" (docs/kernel.md,
//! "Operations whose cost depends on what a user made"), attacked through
//! a thread that revokes the untyped its own TCB was made from.
//!
//! The revoke destroys the thread, then resets the untyped from its
//! watermark down; the thread's TCB, near the top, is cleared by the first
//! chunk. If the reset then stops for a timer tick, the system-call layer
//! prepares the restart of the call in the thread's saved registers (RAX =
//! the `Call` number 0x5e10, RIP − 2 = 0xffff_ffff_ffff_fffe, the
//! full-restore flag = 0x20000 in the priority word), which now lie in
//! memory the reset already cleared, above the lowered watermark. The next
//! objects made there start with those words in them: a frame reads them,
//! and an endpoint made over RAX's word has a wait queue whose head is
//! "the thread at physical 0x5e10".

use crate::common::{P, arg, big_untyped, let_others_run, set_arg, set_root_prio};
use septum_test_tasks::ktest::{
    CNODE, Ctx, DEPTH, SELF_TCB, SELF_VSPACE, Test, TestResult, Thread, cap, thread_ipc, ty,
};
use septum_test_tasks::{check_eq, skip};
use septum_user::abi::syscall as nr;
use septum_user::syscall::{raw, status, thread_exit};

pub const TESTS: &[Test] = &[
    crate::case!(
        "self_revoke_preempted_reset_leaves_memory_clear",
        memory_clear
    ),
    crate::case!(
        "self_revoke_preempted_reset_leaves_no_phantom_thread",
        no_phantom_thread
    ),
];

/// Revoke the untyped `ARG[0]` (which this thread's TCB was made from).
extern "C" fn revoker(_arg: u64, buf: u64) -> ! {
    let mut ipc = thread_ipc(buf);
    let _ = ipc.cnode_revoke(CNODE, (arg(0), DEPTH));
    // Never reached: the revoke destroys this thread.
    thread_exit()
}

/// How many times the attack is tried: it needs a tick to fall due while
/// the reset runs (about 24 MiB of clearing, most of a tick under QEMU).
const ATTEMPTS: usize = 6;
/// The attacked untyped: 32 MiB.
const BITS: u64 = 25;

/// The slots an attack works with.
struct Attack {
    u: u64,
    f1: u64,
    f2: u64,
    tcb: u64,
    frame: u64,
    buffer: u64,
}

impl Attack {
    /// A 32 MiB untyped above the case's own, and the slots to use.
    fn new(c: &mut Ctx) -> Result<Option<Attack>, septum_test_tasks::ktest::Fail> {
        let Some((big, big_bits)) = big_untyped(c) else {
            return Ok(None);
        };
        if big_bits < BITS + 1 {
            return Ok(None);
        }
        let u = c.slot();
        c.ipc.retype(big, ty::UNTYPED, BITS, CNODE, u, 1)?;
        let (f1, f2, tcb) = (c.slot(), c.slot(), c.slot());
        let (frame, buffer) = c.mapped_frame()?;
        Ok(Some(Attack {
            u,
            f1,
            f2,
            tcb,
            frame,
            buffer,
        }))
    }

    /// Run the attack once, then make the 16 MiB and 8 MiB filler again, so
    /// that the next object made lies where the thread's TCB was.
    fn run(&self, c: &mut Ctx) -> TestResult {
        // 16 MiB and 8 MiB of filler, then the thread's TCB at 24 MiB: the
        // watermark ends 2 KiB above it, so the reset's first chunk is the
        // one that clears the TCB, and 96 more follow.
        c.ipc
            .retype(self.u, ty::UNTYPED, BITS - 1, CNODE, self.f1, 1)?;
        c.ipc
            .retype(self.u, ty::UNTYPED, BITS - 2, CNODE, self.f2, 1)?;
        c.ipc.retype(self.u, ty::TCB, 0, CNODE, self.tcb, 1)?;
        c.ipc
            .tcb_configure(self.tcb, CNODE, SELF_VSPACE, self.frame, self.buffer, 0)?;
        c.ipc.tcb_set_name(self.tcb, "kr-self-revoker")?;
        c.ipc.tcb_set_priority(self.tcb, SELF_TCB, P)?;
        set_arg(0, self.u);
        c.start(
            Thread {
                tcb: self.tcb,
                buffer: self.buffer,
            },
            revoker,
            0,
        )?;
        let_others_run(c)?;
        check_eq!(c.identify(self.tcb)?.cap_type, cap::NULL);
        check_eq!(c.identify(self.f1)?.cap_type, cap::NULL);
        c.ipc
            .retype(self.u, ty::UNTYPED, BITS - 1, CNODE, self.f1, 1)?;
        c.ipc
            .retype(self.u, ty::UNTYPED, BITS - 2, CNODE, self.f2, 1)?;
        Ok(())
    }

    fn end(&self, c: &mut Ctx) -> TestResult {
        c.ipc.cnode_revoke(CNODE, (self.u, DEPTH))?;
        c.ipc.cnode_delete(CNODE, (self.u, DEPTH))?;
        Ok(())
    }
}

/// A frame made where the revoking thread's TCB was reads zero.
fn memory_clear(c: &mut Ctx) -> TestResult {
    let Some(a) = Attack::new(c)? else {
        skip!("no RAM untyped of 64 MiB or more");
    };
    let fr = c.slot();
    let va = c.page_addr();
    let mut result = Ok(());
    for attempt in 0..ATTEMPTS {
        if let Err(e) = a.run(c) {
            result = Err(e);
            break;
        }
        c.ipc.retype(a.u, ty::FRAME, 0, CNODE, fr, 1)?;
        c.ipc.frame_map(fr, SELF_VSPACE, va, 0)?;
        let mut dirty = None;
        for off in (0..4096).step_by(8) {
            // SAFETY: the frame was just mapped read-only at `va`.
            let w = unsafe { ((va + off) as *const u64).read_volatile() };
            if w != 0 && dirty.is_none() {
                dirty = Some((off, w));
            }
        }
        c.ipc.cnode_revoke(CNODE, (a.u, DEPTH))?;
        if let Some((off, w)) = dirty {
            result = Err(septum_test_tasks::ktest::Fail::new(format_args!(
                "attempt {attempt}: fresh frame over the dead thread's TCB holds {w:#x} at \
                 {off:#x}: memory above the watermark not zero"
            )));
            break;
        }
    }
    a.end(c)?;
    result
}

fn debug_check() -> Result<u64, septum_user::abi::Error> {
    status(&raw(nr::DEBUG_CHECK, 0, 0, [0; 4], 0))
}

/// Endpoints made where the revoking thread's TCB was are empty: deleting
/// them releases nobody, and the kernel's invariant check (the scenario
/// turns on `debug_checks`) finds the run queue sound afterwards.
fn no_phantom_thread(c: &mut Ctx) -> TestResult {
    let Some(a) = Attack::new(c)? else {
        skip!("no RAM untyped of 64 MiB or more");
    };
    let eps = c.slots(16);
    let mut result = Ok(());
    for attempt in 0..ATTEMPTS {
        if let Err(e) = a.run(c) {
            result = Err(e);
            break;
        }
        // Sixteen endpoints of 16 bytes over the TCB's first 256 bytes; the
        // eighth lies on the saved RAX.
        c.ipc.retype(a.u, ty::ENDPOINT, 0, CNODE, eps, 16)?;
        let before = debug_check();
        c.ipc.cnode_delete(CNODE, (eps + 7, DEPTH))?;
        // Let anything the delete released run (down to priority 0).
        set_root_prio(c, 0)?;
        set_root_prio(c, 255)?;
        let after = debug_check();
        c.ipc.cnode_revoke(CNODE, (a.u, DEPTH))?;
        if before.is_err() || after.is_err() {
            result = Err(septum_test_tasks::ktest::Fail::new(format_args!(
                "attempt {attempt}: DebugCheck {}/{} before/after deleting an endpoint made \
                 over the dead thread's TCB",
                before.map_or_else(|e| e.name(), |_| "ok"),
                after.map_or_else(|e| e.name(), |_| "ok")
            )));
            break;
        }
    }
    a.end(c)?;
    result
}
