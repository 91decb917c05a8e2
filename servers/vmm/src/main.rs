//! The vmm (`docs/vmm.md`): builds the guest kernel the system description
//! gives it, and is that kernel's fault handler.
//!
//! **What it holds** (the root task puts it there, from the description's
//! `[guests.NAME]`; `cargo xtask describe` shows it):
//!
//! - slot 8, the guest's memory: one untyped, sized by the root task for
//!   the guest's quota, CNode, thread, address space, kernel and stack.
//!   Everything of the guest is made from it, so one revoke takes the whole
//!   guest down, and the untyped retyping whole again proves nothing of it
//!   is left;
//! - slot 6, an ASID pool: the id of the guest kernel's own address space
//!   and the guest's ids (which it gives the guest as a pool of its own);
//! - the channel ends it holds as a sender: the guest's devices (the
//!   serial console, the timer), handed to the guest as they are;
//! - a little memory of its own (its fault endpoint, the tables of its
//!   scratch page);
//! - the guest's kernel, read-only at `GUEST_KERNEL_BASE`: a launch page
//!   (`septum_sysdesc::image::GuestLaunch`), then the ELF.
//!
//! **Lifecycle.** Build the guest as generation 1 and start it; then wait
//! for its faults. A fault of the current generation is logged symbolized
//! from the guest's ELF, and the guest is taken down (revoke its memory,
//! empty its slots, check both) and, as its restart policy says, built
//! again as the next generation after the backoff, or held down. Every
//! build must take exactly the objects and slots of the boot.
//!
//! **Trust.** The guest kernel holds no capability to the vmm: its only
//! way to reach it is to fault, and every fault is handled the same way
//! (a restart), whatever its kind, label or words say. A fault badged
//! with a generation already replaced is dropped.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
mod guest;
#[cfg(target_os = "none")]
mod mem;
#[cfg(target_os = "none")]
mod serve;

/// The vmm runs only on the machine; on the host (where `cargo clippy
/// --all-targets` checks the crate) there is nothing to run.
#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
septum_user::entry!(serve::main);
