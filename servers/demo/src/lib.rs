//! What the default system's programs share: the slots their system
//! description gives them (`cargo xtask describe` prints the same table)
//! and the mailbox's layout.
//!
//! A domain's capability pointer is its slot index (its CNode's guard
//! makes it so); slots 1–4 are fixed (`septum_sysdesc::layout`), channel
//! ends follow from slot 8 in the order the file lists the channels.
#![no_std]

use septum_user::ipc::Ipc;

/// The domain's own CNode, thread, address space.
pub const SLOT_CNODE: u64 = 1;
pub const SLOT_TCB: u64 = 2;
/// Depth that names a slot by its index.
pub const DEPTH: u64 = 64;

/// Where the mailbox region is mapped (client 1 rw, client 2 r).
pub const MAILBOX: u64 = 0x4000_0000;
/// The mailbox's size.
pub const MAILBOX_SIZE: usize = 4096;

/// The calling thread's IPC buffer (where the root task maps it).
pub fn ipc() -> Ipc {
    #[allow(unsafe_code)]
    // SAFETY: the root task registers this thread's IPC buffer at
    // USER_IPC_BUFFER; each program makes one `Ipc`, in `main`.
    unsafe {
        Ipc::new(septum_user::abi::layout::USER_IPC_BUFFER)
    }
}

/// The capability type in `slot` of this domain's CNode (0: empty), or
/// the error that says why it could not be asked.
pub fn cap_type(ipc: &mut Ipc, slot: u64) -> Result<u64, septum_user::abi::Error> {
    ipc.cnode_identify(SLOT_CNODE, (slot, DEPTH))
        .map(|i| i.cap_type)
}

/// Copy `data` into the mailbox at `offset` (client 1, which maps it rw).
pub fn mailbox_write(offset: usize, data: &[u8]) {
    let n = data.len().min(MAILBOX_SIZE.saturating_sub(offset));
    for (i, &b) in data[..n].iter().enumerate() {
        #[allow(unsafe_code)]
        // SAFETY: the root task maps the mailbox region read-write at
        // MAILBOX in client 1 (the description says so), for its lifetime;
        // the write stays inside its MAILBOX_SIZE bytes.
        unsafe {
            ((MAILBOX as usize + offset + i) as *mut u8).write_volatile(b)
        }
    }
}

/// Copy the mailbox's bytes from `offset` into `out` (either client).
pub fn mailbox_read(offset: usize, out: &mut [u8]) -> usize {
    let n = out.len().min(MAILBOX_SIZE.saturating_sub(offset));
    for (i, b) in out[..n].iter_mut().enumerate() {
        #[allow(unsafe_code)]
        // SAFETY: the root task maps the mailbox region (at least readable)
        // at MAILBOX in both clients; the read stays inside it. Volatile:
        // the other client may write it at any time.
        unsafe {
            *b = ((MAILBOX as usize + offset + i) as *const u8).read_volatile()
        }
    }
    n
}
