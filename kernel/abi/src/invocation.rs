//! Invocations: `Call`s on capabilities to kernel objects.
//!
//! The message label names the method; the words are its arguments
//! (`mr0`, `mr1`, … in message order); the reply's words are its results.
//! A `cptr` argument is resolved in the caller's own capability space.
//! Where a method names a slot inside a CNode, the invoked capability is
//! that CNode and `index`/`depth` resolve the slot below it (`depth` bits,
//! usually the CNode's radix plus guard).

/// CNode: copy `mr2 src cnode cptr` / `mr3 src index` / `mr4 src depth`
/// into `mr0 dest index` / `mr1 dest depth`, rights `mr5` (bit 0 read,
/// 1 write, 2 grant, 3 grant-reply).
pub const CNODE_COPY: u64 = 1;
/// CNode: as copy, with `mr6` the badge to set.
pub const CNODE_MINT: u64 = 2;
/// CNode: move from (`mr2`, `mr3`, `mr4`) to (`mr0`, `mr1`).
pub const CNODE_MOVE: u64 = 3;
/// CNode: delete the capability at (`mr0 index`, `mr1 depth`).
pub const CNODE_DELETE: u64 = 4;
/// CNode: delete everything derived from the capability at (`mr0`, `mr1`).
pub const CNODE_REVOKE: u64 = 5;
/// CNode: what does (`mr0`, `mr1`) hold? Reply: `mr0` type code
/// ([`crate::object::cap_type`]), `mr1` rights bits
/// ([`crate::object::rights`]), `mr2` badge, `mr3` object-specific (untyped: size
/// bits; CNode: radix; page table: level; frame: 1 if 2 MiB; IRQ handler:
/// line), `mr4` 1 if a frame or page table is mapped, `mr5` the address
/// it is mapped at.
pub const CNODE_IDENTIFY: u64 = 6;

/// Untyped: retype (1 to 256 objects per call, at most 32 of them threads:
/// the kernel initialises them with interrupts off) into `mr4 count`
/// objects of type `mr0` (a
/// [`crate::object::object_type`] code) with `mr1 user bits` (untyped size, CNode radix, page
/// table level), capabilities into slots `mr3 offset ..` of the CNode
/// `mr2 cptr`.
pub const UNTYPED_RETYPE: u64 = 16;

/// TCB: `mr0` cspace root CNode cptr, `mr1` vspace (PML4) cptr, `mr2` IPC
/// buffer frame cptr (0: none), `mr3` IPC buffer address (page aligned),
/// `mr4` fault endpoint cptr (0: none).
pub const TCB_CONFIGURE: u64 = 32;
/// TCB: priority `mr1`, with authority TCB `mr0` (its MCP bounds it).
pub const TCB_SET_PRIORITY: u64 = 33;
/// TCB: maximum controlled priority `mr1`, with authority TCB `mr0`.
pub const TCB_SET_MCP: u64 = 34;
/// TCB: read registers. Reply: the 18 registers in fault-message order
/// (`fault::W_RAX`..=`W_RFLAGS`), then FS base, GS base.
pub const TCB_READ_REGISTERS: u64 = 35;
/// TCB: write registers, same order as read (18 to 20 words).
pub const TCB_WRITE_REGISTERS: u64 = 36;
/// TCB: make it runnable.
pub const TCB_RESUME: u64 = 37;
/// TCB: stop it (out of every queue; resumable later).
pub const TCB_SUSPEND: u64 = 38;
/// TCB: FS base `mr0`, GS base `mr1`.
pub const TCB_SET_TLS: u64 = 39;
/// TCB: bind the notification `mr0 cptr`.
pub const TCB_BIND_NOTIFICATION: u64 = 40;
/// TCB: unbind its notification.
pub const TCB_UNBIND_NOTIFICATION: u64 = 41;
/// TCB: `mr0` = 1 to deliver every `syscall` as a fault, 0 to stop.
pub const TCB_SET_SYSCALL_FAULTS: u64 = 42;
/// TCB: read 64 words of the FPU area from word `mr0` on.
pub const TCB_READ_FPU: u64 = 43;
/// TCB: write words `mr1..` to the FPU area from word `mr0` on.
pub const TCB_WRITE_FPU: u64 = 44;
/// TCB: name for logs, bytes in `mr0..mr3`.
pub const TCB_SET_NAME: u64 = 45;
/// TCB: time partition `mr1` (below [`crate::sched::MAX_PARTITIONS`]),
/// with authority the schedule-control capability `mr0 cptr`.
pub const TCB_SET_PARTITION: u64 = 46;

/// Page table (levels 1–3): map into vspace `mr0 cptr` covering `mr1`.
pub const PAGE_TABLE_MAP: u64 = 48;
/// Page table: unmap.
pub const PAGE_TABLE_UNMAP: u64 = 49;
/// Frame: map into vspace `mr0 cptr` at `mr1` with attributes `mr2`
/// (bit 0 writable, bit 1 executable).
pub const FRAME_MAP: u64 = 56;
/// Frame: unmap.
pub const FRAME_UNMAP: u64 = 57;
/// Frame: reply `mr0` = its physical address (for DMA).
pub const FRAME_ADDRESS: u64 = 58;
/// ASID pool: assign an ASID to the PML4 `mr0 cptr`. Reply: `mr0` the ASID.
pub const ASID_ASSIGN: u64 = 64;
/// ASID pool: make a capability to the sub-range `mr0 first` ..
/// `mr0 + mr1 count` of the invoked pool's ids, in slot (`mr3 index`,
/// `mr4 depth`) of the CNode `mr2 cptr`. The new capability is *derived*
/// from the invoked one (revoking the parent removes it), and its range
/// lies inside the parent's by construction: `Range` if it does not, or if
/// `count` is 0 or the range reaches past id 4095. A pool assigns only
/// free ids, so ranges that overlap never give one id to two address
/// spaces; a holder that hands out disjoint ranges (the root task, from
/// the system description) gives each domain ids nobody else uses.
pub const ASID_POOL_ISSUE: u64 = 65;

/// Schedule control: replace the time-partition schedule
/// ([`crate::sched`]). `mr0` the major frame in nanoseconds, `mr1` the
/// number of windows `n` (1..=[`crate::sched::MAX_WINDOWS`]), then per
/// window three words: partition, start and length in nanoseconds, in
/// order of start. The first frame starts at once. Reply: `mr0` the TSC
/// value at which it started, `mr1` the major frame in TSC cycles, `mr2`
/// TSC cycles per second as the kernel measured them.
pub const SCHED_CONFIGURE: u64 = 72;
/// IRQ control: make the handler of line `mr0` (0–15 ISA IRQs, 16 and up
/// the GSI of that number) in slot (`mr2 index`, `mr3 depth`) of the CNode
/// `mr1 cptr`. `Range` if the line does not exist, `IllegalOperation` if
/// its handler was already made and a capability to it remains.
pub const IRQ_CONTROL_GET: u64 = 96;
/// IRQ handler: acknowledge the last interrupt; the line is unmasked.
pub const IRQ_HANDLER_ACK: u64 = 97;
/// IRQ handler: deliver the line to the notification `mr0 cptr` (which
/// needs the signal right; its badge, 1 if none, is ORed in on every
/// interrupt) and unmask it.
pub const IRQ_HANDLER_SET_NOTIFICATION: u64 = 98;
/// IRQ handler: unbind its notification and mask the line.
pub const IRQ_HANDLER_CLEAR: u64 = 99;

/// I/O-port control: make a capability to the ports `mr0 first` ..=
/// `mr1 last` in slot (`mr3 index`, `mr4 depth`) of the CNode `mr2 cptr`.
pub const IO_PORT_CONTROL_ISSUE: u64 = 104;
/// I/O port: let every thread of the address space `mr0 cptr` (a PML4
/// with an ASID) use the ports with `in` and `out`. A capability opens its
/// ports in one address space at a time; deleting it closes them there.
pub const IO_PORT_INSTALL: u64 = 105;
/// I/O port: close the ports in the address space it was installed in.
pub const IO_PORT_UNINSTALL: u64 = 106;
