//! The 16550 UART driver (issue 10, item 4): an interrupt-driven console
//! that several clients share through the `Serial` interface
//! (`idl/serial.idl`). `docs/serial.md` is the guide.
//!
//! - [`uart`]: the chip's registers and how they are programmed;
//! - [`ring`]: the bounded buffers;
//! - [`console`]: interrupts, FIFOs, flow control, the line discipline —
//!   no IPC, tested on the host against a model of the chip;
//! - [`server`]: the interface over it, one thread for clients and IRQ.
//!
//! The binary `serial` is this driver on COM1 with the slots the default
//! description gives it; the crash test's driver (`tests/tasks`,
//! `serial-crashy`) is the same code with a hook that dies mid-transfer.
#![no_std]
#![deny(unsafe_code)]

pub mod console;
pub mod ring;
pub mod server;
pub mod uart;

/// The calling thread's IPC buffer, where the root task maps it.
pub fn ipc() -> septum_user::ipc::Ipc {
    #[allow(unsafe_code)]
    // SAFETY: the root task registers every domain thread's IPC buffer at
    // USER_IPC_BUFFER; the driver makes one `Ipc`, in `server::run`.
    unsafe {
        septum_user::ipc::Ipc::new(septum_user::abi::layout::USER_IPC_BUFFER)
    }
}
