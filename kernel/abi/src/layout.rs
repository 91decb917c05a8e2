//! Fixed addresses and sizes of a task's initial address space, and the
//! kernel's reserved part of the virtual address space.

/// First and last PML4 slot the kernel occupies (inclusive). Every other
/// canonical address is available to user mappings, upper half included.
pub const KERNEL_PML4_FIRST: usize = 257;
/// Last kernel PML4 slot (inclusive).
pub const KERNEL_PML4_LAST: usize = 271;

/// Lowest kernel virtual address (start of PML4 slot 257).
pub const KERNEL_SPACE_START: u64 = 0xffff_8080_0000_0000;
/// One past the highest kernel virtual address (end of PML4 slot 271).
pub const KERNEL_SPACE_END: u64 = 0xffff_8800_0000_0000;

/// Top of the initial thread's stack (exclusive).
pub const USER_STACK_TOP: u64 = 0x0000_7fff_ffff_0000;
/// Size of the initial stack. One unmapped guard page lies below it.
pub const USER_STACK_SIZE: u64 = 64 * 1024;
/// Address of the initial thread's IPC buffer (one page). Passed in `rdi` at entry.
pub const USER_IPC_BUFFER: u64 = 0x0000_7fff_ffff_e000;

/// Start of the top page of the lower half, which is never mapped for
/// user code or data. An instruction that ends where the lower half ends
/// (a `syscall`, `int3` or single-stepped instruction in its last bytes)
/// would leave a return address of 2^47, which is not canonical; with no
/// page there, no instruction can, so every RIP the CPU saves on entry from
/// user mode is canonical and every return to user mode is safe by
/// construction (Linux keeps the same page unmapped for the same reason).
pub const USER_LOWER_TOP_PAGE: u64 = 0x0000_7fff_ffff_f000;

/// Whether `addr` lies in the kernel's reserved range.
pub const fn is_kernel_address(addr: u64) -> bool {
    addr >= KERNEL_SPACE_START && addr < KERNEL_SPACE_END
}

/// Whether `addr` is canonical for 48-bit virtual addresses.
pub const fn is_canonical(addr: u64) -> bool {
    let top = addr >> 47;
    top == 0 || top == 0x1_ffff
}

/// Whether `[addr, addr+len)` is user memory that may be mapped, read or
/// written: a user span ([`is_user_span`]) that does not touch the top
/// page of the lower half ([`USER_LOWER_TOP_PAGE`]).
#[inline]
pub fn is_user_range(addr: u64, len: u64) -> bool {
    if !is_user_span(addr, len) {
        return false;
    }
    // Empty ranges touch nothing; others must stay out of the top page.
    len == 0
        || addr.saturating_add(len - 1) < USER_LOWER_TOP_PAGE
        || addr >= USER_LOWER_TOP_PAGE + 4096
}

/// Whether `[addr, addr+len)` is canonical and outside the kernel's
/// slots: what a page table that covers user memory may span.
#[inline(always)]
pub fn is_user_span(addr: u64, len: u64) -> bool {
    if len == 0 {
        return is_canonical(addr) && !is_kernel_address(addr);
    }
    // The last byte, not the end: a range may end exactly at 2^64.
    let Some(last) = addr.checked_add(len - 1) else {
        return false;
    };
    // Both ends canonical and on the same side of the hole.
    if !is_canonical(addr) || !is_canonical(last) || (addr >> 47) != (last >> 47) {
        return false;
    }
    // Overlaps the kernel slots?
    !(addr < KERNEL_SPACE_END && last >= KERNEL_SPACE_START)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_slots_match_addresses() {
        assert_eq!(KERNEL_SPACE_START >> 39 & 0x1ff, KERNEL_PML4_FIRST as u64);
        assert_eq!(
            (KERNEL_SPACE_END - 1) >> 39 & 0x1ff,
            KERNEL_PML4_LAST as u64
        );
    }

    #[test]
    fn user_ranges() {
        assert!(is_user_range(0x1000, 0x1000));
        assert!(is_user_range(0x7fff_ffff_e000, 0x1000));
        assert!(
            !is_user_range(0x7fff_ffff_f000, 0x1000),
            "the top page of the lower half"
        );
        assert!(!is_user_range(0x7fff_ffff_fffe, 2));
        assert!(
            !is_user_range(0x7fff_ffe0_0000, 2 << 20),
            "a 2 MiB page over it"
        );
        assert!(!is_user_range(0x7fff_ffff_e000, 0x1001), "reaches into it");
        assert!(
            is_user_span(0x7fff_ffff_f000, 0x1000),
            "a table may cover it"
        );
        assert!(is_user_span(0x7f80_0000_0000, 1 << 39));
        assert!(
            !is_user_span(0x7fff_ffff_f000, 0x1001),
            "crosses into the hole"
        );
        assert!(!is_user_range(0x8000_0000_0000, 1), "non-canonical");
        assert!(!is_user_range(KERNEL_SPACE_START, 1));
        assert!(
            !is_user_range(KERNEL_SPACE_START - 8, 16),
            "reaches the kernel"
        );
        assert!(
            is_user_range(KERNEL_SPACE_END, 8),
            "upper half above the kernel is user"
        );
        assert!(
            is_user_range(0xffff_8000_0000_0000, 0x1000),
            "slot 256 is user"
        );
        assert!(!is_user_range(u64::MAX, 2), "wraps");
        assert!(is_user_range(0xffff_ffff_ffff_f000, 0x1000));
    }
}
