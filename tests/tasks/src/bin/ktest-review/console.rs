//! Console framing (issue 7): a thread's lines carry its name, and the
//! harness believes verdict lines only under the names of the tasks a
//! scenario boots. Names are not identities: a thread that holds a
//! capability to its own TCB (any thread in its task's capability space
//! does) may take the booted task's name, and its lines then read — to
//! the kernel's framing and to the harness — as that task's.
//!
//! The scenario rejects the line this case's thread writes under the root
//! task's name; on a kernel that keeps names apart it would show under a
//! name of its own (or be refused).

use crate::common::{P, arg, let_others_run, set_arg};
use septum_test_tasks::ktest::{Ctx, Test, TestResult, thread_ipc};
use septum_user::syscall::{debug_write, thread_exit};

pub const TESTS: &[Test] = &[crate::case!(
    "thread_cannot_write_as_the_booted_task",
    impersonate
)];

/// Rename itself (TCB `ARG[0]`) after the root task, then write a verdict.
extern "C" fn impostor(_arg: u64, buf: u64) -> ! {
    let mut ipc = thread_ipc(buf);
    let _ = ipc.tcb_set_name(arg(0), "ktest-review");
    let _ = debug_write(b"septum-test: kr_verdict_forged_by_a_thread ok\n");
    thread_exit()
}

fn impersonate(c: &mut Ctx) -> TestResult {
    let t = c.configured_thread("kr-impostor", P, 0)?;
    set_arg(0, t.tcb);
    c.start(t, impostor, 0)?;
    let_others_run(c)?;
    Ok(())
}
