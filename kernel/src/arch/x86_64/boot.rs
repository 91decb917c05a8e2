//! PVH entry: from the loader's 32-bit protected mode to Rust in long mode.
//!
//! QEMU (q35, pc, microvm), Firecracker and cloud-hypervisor find the entry
//! through the `XEN_ELFNOTE_PHYS32_ENTRY` note and jump to it with paging off,
//! flat 32-bit segments, and `ebx` = physical address of `hvm_start_info`.
//!
//! The code below runs at its *physical* address although it is linked in the
//! kernel's high slots, so every absolute address it uses is written as
//! `symbol - KERNEL_OFFSET`. It builds boot page tables that map the first
//! 4 GiB twice (identity, for the next few instructions, and at
//! `KERNEL_OFFSET`, where the kernel is linked), enables long mode with NX,
//! and jumps to the high half. `crate::arch::paging` replaces these tables
//! with W^X ones before any user code runs.

use super::layout::KERNEL_OFFSET;

core::arch::global_asm!(
    r#"
    .section .note.Xen, "a"
    .p2align 2
    .long 4                         /* name size: "Xen\0" */
    .long 4                         /* descriptor size */
    .long 18                        /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long pvh_entry - {koff}

    .section .bss.boot_tables, "aw", @nobits
    .p2align 12
boot_pml4:      .skip 4096
boot_pdpt_low:  .skip 4096
boot_pdpt_high: .skip 4096
boot_pd:        .skip 4096 * 4      /* 4 GiB of 2 MiB pages */
boot_tables_end:

    /* The boot CPU's kernel stack, with an unmapped guard page below it. */
    .section .bss.stacks, "aw", @nobits
    .p2align 12
    .global __kernel_stack_guard
__kernel_stack_guard: .skip 4096
    .skip {kstack}
    .global __kernel_stack_top
__kernel_stack_top:

    .section .rodata.boot_gdt, "a"
    .p2align 3
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff        /* 0x08: 64-bit code, DPL 0 */
    .quad 0x00cf92000000ffff        /* 0x10: data, DPL 0 */
boot_gdt_ptr:
    .word boot_gdt_ptr - boot_gdt - 1
    .long boot_gdt - {koff}

    .section .text.boot, "ax"
    .code32
    .global pvh_entry
pvh_entry:
    cli
    cld
    mov %ebx, %esi                  /* hvm_start_info, kept for kernel_entry */

    mov $(boot_pml4 - {koff}), %edi
    mov $((boot_tables_end - boot_pml4) / 4), %ecx
    xor %eax, %eax
    rep stosl

    mov $(boot_pdpt_low - {koff} + 3), %eax
    mov %eax, (boot_pml4 - {koff})
    mov $(boot_pdpt_high - {koff} + 3), %eax
    mov %eax, (boot_pml4 - {koff} + {kslot} * 8)

    mov $(boot_pd - {koff} + 3), %eax
    xor %ecx, %ecx
1:  mov %eax, (boot_pdpt_low - {koff})(,%ecx,8)
    mov %eax, (boot_pdpt_high - {koff})(,%ecx,8)
    add $4096, %eax
    inc %ecx
    cmp $4, %ecx
    jne 1b

    mov $0x83, %eax                 /* present, writable, 2 MiB page */
    xor %ecx, %ecx
2:  mov %eax, (boot_pd - {koff})(,%ecx,8)
    add $0x200000, %eax
    inc %ecx
    cmp $2048, %ecx
    jne 2b

    mov %cr4, %eax
    or $0x20, %eax                  /* PAE */
    mov %eax, %cr4
    mov $(boot_pml4 - {koff}), %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx           /* EFER */
    rdmsr
    or $0x900, %eax                 /* LME | NXE */
    wrmsr
    mov %cr0, %eax
    or $0x80010001, %eax            /* PG | WP | PE */
    mov %eax, %cr0

    lgdt (boot_gdt_ptr - {koff})
    /* ljmp $0x08, $start64: lld cannot place the 16:32 far pointer of the
       assembler's form, so the instruction is spelled out. */
    .byte 0xea
    .long start64 - {koff}
    .word 0x08

    .code64
start64:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    movabs $high64, %rax
    jmp *%rax
high64:
    movabs $__kernel_stack_top, %rsp
    xor %ebp, %ebp
    mov %esi, %edi                  /* zero-extends the start_info address */
    call {entry}
3:  hlt
    jmp 3b
    "#,
    koff = const KERNEL_OFFSET,
    kslot = const (KERNEL_OFFSET >> 39) & 0x1ff,
    kstack = const super::layout::KERNEL_STACK_SIZE,
    entry = sym crate::kernel_entry,
    options(att_syntax)
);
