//! What a protection domain starts with: the slots of its capability space
//! and the fixed parts of its address space.
//!
//! The compiler assigns every capability a slot and every mapping an address
//! from these rules and writes them into the compiled description, so the
//! root task follows the table it is given and never recomputes them; the
//! constants are here so that the rules have one home and a domain's program
//! can name its fixed slots.
//!
//! A domain's capability space is one CNode of 2^`cnode_radix` slots whose
//! guard makes a slot's index its capability pointer (depth 64), as the
//! root task's own is. Slots, in order:
//!
//! | slot | holds |
//! |---|---|
//! | 0 | nothing: capability pointer 0 names no capability |
//! | 1 | the domain's CNode |
//! | 2 | its thread (TCB) |
//! | 3 | its address space (PML4) |
//! | 4 | its IPC buffer frame |
//! | 5 | the notification its IRQs signal (empty without IRQs) |
//! | 6 | its ASID pool (`asids`; empty without) |
//! | 7 | reserved |
//! | 8.. | channel ends, in the order the channels appear in the file |
//! | then | an IRQ handler per `irqs` entry, in order |
//! | then | an I/O-port capability per `io_ports` entry, in order |
//! | then | reply objects (`replies`) |
//! | then | its memory quota as untyped capabilities, largest first |
//! | `first_free_slot`.. | free for the domain's own use |

use septum_abi::layout;

/// Capability pointer 0: never filled.
pub const SLOT_NULL: u32 = 0;
/// The domain's own CNode (the same slot as the root task's).
pub const SLOT_CNODE: u32 = 1;
/// The domain's thread.
pub const SLOT_TCB: u32 = 2;
/// The domain's address space.
pub const SLOT_VSPACE: u32 = 3;
/// The frame of the domain's IPC buffer.
pub const SLOT_IPC_BUFFER: u32 = 4;
/// The notification every IRQ of the domain signals, each with its own bit.
pub const SLOT_IRQ_NOTIFICATION: u32 = 5;
/// The domain's ASID pool, when the description gives it `asids`.
pub const SLOT_ASID_POOL: u32 = 6;
/// Address-space ids the kernel has (0 is never assigned).
pub const ASIDS: u32 = 4096;
/// Most ids all domains together may be given: the rest (from 1) stay
/// the root task's, for the domains' own address spaces.
pub const MAX_GRANTED_ASIDS: u32 = 2048;
/// Most ids one domain may be given.
pub const MAX_DOMAIN_ASIDS: u32 = 1024;
/// Most free slots a domain may ask for (`slots`).
pub const MAX_FREE_SLOTS: u32 = 1 << 15;
/// First slot of the granted capabilities.
pub const SLOT_FIRST_GRANT: u32 = 8;

/// Smallest CNode radix a domain gets (256 slots).
pub const MIN_CNODE_RADIX: u8 = 8;
/// Largest CNode radix the compiler will choose.
pub const MAX_CNODE_RADIX: u8 = 16;
/// Slots left free for the domain's own use, at least.
pub const SPARE_SLOTS: u32 = 64;

/// Page size: every mapping, region and stack is made of 4 KiB pages.
pub const PAGE: u64 = 4096;

/// Addresses below this are never mapped, so a null pointer (plus any
/// offset up to 4 MiB) faults.
pub const NULL_GUARD_END: u64 = PROGRAM_BASE;
/// Where the program's ELF is linked (`kernel/user/task.ld`).
pub const PROGRAM_BASE: u64 = 0x40_0000;
/// End of the window the program's ELF segments must lie in (1 GiB).
pub const PROGRAM_END: u64 = 0x4000_0000;
/// Where a vmm sees its guest's kernel (`Mapped::GuestKernel`): a page of
/// launch facts, then the ELF; at most [`GUEST_KERNEL_WINDOW`] bytes.
pub const GUEST_KERNEL_BASE: u64 = 0x10_0000_0000;
pub const GUEST_KERNEL_WINDOW: u64 = 256 << 20;
/// The slot of what a vmm builds its guest from (`Object::GuestBuild`);
/// the guest's quota (`Object::GuestMemory`) follows.
pub const SLOT_GUEST_BUILD: u32 = SLOT_FIRST_GRANT;
/// One past the top of the stack.
pub const STACK_TOP: u64 = layout::USER_STACK_TOP;
/// The stack's size unless the description says otherwise.
pub const DEFAULT_STACK: u64 = layout::USER_STACK_SIZE;
/// Where the IPC buffer page is mapped.
pub const IPC_BUFFER: u64 = layout::USER_IPC_BUFFER;

// The fixed areas never touch, and the domain's CNode is where the root
// task's own is.
const _: () = assert!(stack_guard(256 << 20) > PROGRAM_END);
const _: () = assert!(IPC_BUFFER >= STACK_TOP);
const _: () = assert!(SLOT_CNODE as u64 == septum_abi::bootinfo::SLOT_CNODE);

/// Where a domain's stack starts for a stack of `size` bytes.
pub const fn stack_base(size: u64) -> u64 {
    STACK_TOP.saturating_sub(size)
}

/// Where its guard page starts (one unmapped page below the stack).
pub const fn stack_guard(size: u64) -> u64 {
    stack_base(size).saturating_sub(PAGE)
}

/// The CNode radix a domain needs to hold `used` slots plus the spare ones.
pub const fn cnode_radix_for(used: u32) -> u8 {
    let want = used as u64 + SPARE_SLOTS as u64;
    let mut radix = MIN_CNODE_RADIX;
    while (1u64 << radix) < want && radix < 63 {
        radix += 1;
    }
    radix
}

/// Split a quota into power-of-two untyped sizes (log2), largest first: the
/// kernel hands out memory only in power-of-two untypeds.
pub fn untyped_pieces(quota: u64) -> impl Iterator<Item = u8> {
    (12u8..64)
        .rev()
        .filter(move |bit| quota & (1u64 << bit) != 0)
}

/// Whether `name` may name a domain, program, partition, channel, region or
/// guest: 1 to 40 bytes of `[A-Za-z0-9._-]`, so it fits a boot-image entry
/// name and prints unchanged in the kernel's console prefix.
pub fn is_valid_name(name: &str) -> bool {
    (1..=NAME_MAX).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Longest name (a boot-image entry name's limit).
pub const NAME_MAX: usize = 40;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radix_grows_only_when_needed() {
        assert_eq!(cnode_radix_for(0), 8);
        assert_eq!(cnode_radix_for(192), 8);
        assert_eq!(cnode_radix_for(193), 9);
        assert_eq!(cnode_radix_for(1000), 11);
    }

    #[test]
    fn quota_pieces_are_powers_of_two() {
        let pieces: Vec<u8> = untyped_pieces(3 << 20 | 4096).collect();
        assert_eq!(pieces, [21, 20, 12]);
        assert_eq!(untyped_pieces(0).count(), 0);
        assert_eq!(untyped_pieces(4095).count(), 0, "below a page");
    }

    #[test]
    fn fixed_areas_are_user_memory() {
        assert!(septum_abi::layout::is_user_range(IPC_BUFFER, PAGE));
        assert!(septum_abi::layout::is_user_range(
            stack_guard(DEFAULT_STACK),
            STACK_TOP - stack_guard(DEFAULT_STACK)
        ));
    }

    #[test]
    fn names() {
        assert!(is_valid_name("echo-server"));
        assert!(is_valid_name("a.b_c-9"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("has space"));
        assert!(!is_valid_name(&"x".repeat(41)));
        assert!(is_valid_name(&"x".repeat(40)));
    }
}
