//! On-target suite, IPC group: messages, badges, blocking and queueing,
//! reply objects, capability transfer, notifications, and calls between
//! address spaces. Booted as the root task by the `kernel-ipc` scenario;
//! each case asserts what it observed and prints one result line.
#![no_std]
#![no_main]
// `ktest::Fail` carries its message inline (no allocator): large by design.

mod badge;
mod block;
mod common;
mod fastcache;
mod fastref;
mod msg;
mod ntfn;
mod remote;
mod reply;
mod xfer;

septum_user::entry!(main);

fn main() {
    septum_test_tasks::ktest::run_all(&[
        msg::TESTS,
        badge::TESTS,
        block::TESTS,
        reply::TESTS,
        xfer::TESTS,
        ntfn::TESTS,
        remote::TESTS,
        fastref::TESTS,
        fastcache::TESTS,
    ]);
}
