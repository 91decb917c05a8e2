//! What the review cases share: words the threads a case starts write and
//! the root reads, priorities, and the large untyped some cases need.

use core::sync::atomic::{AtomicU64, Ordering};
use septum_test_tasks::ktest::{Ctx, SELF_TCB, TestResult};
use septum_user::abi::Error;

/// The root's own priority (and MCP): what every case must leave it at.
pub const ROOT_PRIO: u64 = 255;
/// Where the root drops to so that every thread a case started can run.
pub const FLOOR: u64 = 1;
/// Priority of the threads the cases start.
pub const P: u64 = 50;

/// Arguments the root hands its threads (capability pointers).
pub static ARG: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
/// Counters the threads advance.
pub static CNT: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

pub fn arg(i: usize) -> u64 {
    ARG[i].load(Ordering::SeqCst)
}

pub fn set_arg(i: usize, v: u64) {
    ARG[i].store(v, Ordering::SeqCst)
}

pub fn cnt(i: usize) -> u64 {
    CNT[i].load(Ordering::SeqCst)
}

/// Clear the shared words.
pub fn reset_shared() {
    for a in ARG.iter().chain(CNT.iter()) {
        a.store(0, Ordering::SeqCst);
    }
}

/// Set the root's own priority (its MCP is 255).
pub fn set_root_prio(c: &mut Ctx, prio: u64) -> Result<(), Error> {
    c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, prio)
}

/// Let every thread above [`FLOOR`] run until all of them are blocked or
/// gone, then come back to 255.
pub fn let_others_run(c: &mut Ctx) -> Result<(), Error> {
    set_root_prio(c, FLOOR)?;
    set_root_prio(c, ROOT_PRIO)
}

/// Run a case with fresh shared words and the root back at 255 after it.
pub fn guarded(c: &mut Ctx, case: fn(&mut Ctx) -> TestResult) -> TestResult {
    reset_shared();
    let r = case(c);
    let back = set_root_prio(c, ROOT_PRIO);
    r?;
    back.map_err(Into::into)
}

/// The slot and size of the largest RAM untyped the kernel gave the root
/// task (the framework makes each case's 4 MiB untyped from it, at its
/// base; a case may make a larger child further up, and must revoke and
/// delete it itself).
pub fn big_untyped(c: &Ctx) -> Option<(u64, u64)> {
    c.info
        .untypeds()
        .iter()
        .enumerate()
        .filter(|(_, u)| u.is_device == 0)
        .max_by_key(|(_, u)| u.size_bits)
        .map(|(i, u)| (c.info.untyped_first + i as u64, u.size_bits))
}

/// A `Test` whose case runs under [`guarded`].
#[macro_export]
macro_rules! case {
    ($name:literal, $f:path) => {
        septum_test_tasks::ktest::Test {
            name: $name,
            run: |c| $crate::common::guarded(c, $f),
        }
    };
}
