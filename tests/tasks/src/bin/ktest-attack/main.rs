//! On-target suite, attack group: cases written as an attacker would write
//! them against the published ABI. Each one tries to get past a rule the
//! kernel must keep — rights checked where a capability is used, CPU state
//! the kernel caches changed behind its back from user mode, hostile
//! register values on every way back to user mode, mappings at the edge of
//! the canonical range, W^X — and asserts what it observed. Booted as the
//! root task by the `kernel-attack` scenario.
#![no_std]
#![no_main]

#[macro_use]
mod common;
mod cached;
mod entry;
mod flags;
mod fpu;
mod frames;
mod handler;
mod ipcbuf;
mod regs;
mod space;
mod tls;

septum_user::entry!(main);

fn main() {
    septum_test_tasks::ktest::run_all(&[
        ipcbuf::TESTS,
        frames::TESTS,
        tls::TESTS,
        fpu::TESTS,
        space::TESTS,
        flags::TESTS,
        regs::TESTS,
        handler::TESTS,
        cached::TESTS,
        entry::TESTS,
    ]);
}
