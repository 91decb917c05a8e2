//! Shared bits of the test tasks. Each binary in `src/bin/` is booted as
//! the root task of one scenario in `tests/scenarios/`. The small ones do
//! one thing the kernel must refuse or survive; the `ktest-*` ones are the
//! kernel's on-target suite, one group of cases each, on the framework in
//! [`ktest`].
#![no_std]

pub mod ktest;
pub mod partition;

/// The IPC buffer of a domain's thread, where the root task maps it
/// (the programs the scenarios boot as domains of a description).
pub fn domain_ipc() -> septum_user::ipc::Ipc {
    #[allow(unsafe_code)]
    // SAFETY: the root task registers a domain thread's IPC buffer at
    // USER_IPC_BUFFER; each program makes one `Ipc`, in `main`.
    unsafe {
        septum_user::ipc::Ipc::new(septum_user::abi::layout::USER_IPC_BUFFER)
    }
}
