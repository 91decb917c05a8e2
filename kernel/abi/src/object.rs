//! The codes that name kernel objects and capabilities across the system-call
//! boundary: what `UNTYPED_RETYPE` takes, what `CNODE_IDENTIFY` reports, and
//! the rights bits of copy, mint and identify.

/// Object types `UNTYPED_RETYPE` makes (its `mr0`).
pub mod object_type {
    pub const UNTYPED: u64 = 1;
    pub const CNODE: u64 = 2;
    pub const TCB: u64 = 3;
    pub const ENDPOINT: u64 = 4;
    pub const NOTIFICATION: u64 = 5;
    pub const REPLY: u64 = 6;
    /// A 4 KiB page-table page of any level.
    pub const PAGE_TABLE: u64 = 7;
    /// A 4 KiB frame.
    pub const FRAME: u64 = 8;
    /// A 2 MiB frame.
    pub const FRAME_2M: u64 = 9;
}

/// Capability types as `CNODE_IDENTIFY` reports them (its `mr0`).
pub mod cap_type {
    /// An empty slot.
    pub const NULL: u64 = 0;
    pub const UNTYPED: u64 = 1;
    pub const CNODE: u64 = 2;
    pub const TCB: u64 = 3;
    pub const ENDPOINT: u64 = 4;
    pub const NOTIFICATION: u64 = 5;
    pub const REPLY: u64 = 6;
    pub const PAGE_TABLE: u64 = 7;
    /// A frame of either size (identify's `mr3` says which).
    pub const FRAME: u64 = 8;
    pub const ASID_POOL: u64 = 9;
    pub const IRQ_CONTROL: u64 = 10;
    pub const IRQ_HANDLER: u64 = 11;
    pub const IO_PORT_CONTROL: u64 = 12;
    pub const IO_PORT: u64 = 13;
    /// An object being destroyed; only delete and revoke reach it.
    pub const ZOMBIE: u64 = 14;
    /// The right to set the time-partition schedule and threads' partitions.
    pub const SCHED_CONTROL: u64 = 15;
}

/// Rights bits: identify's `mr1`, and the mask copy and mint apply.
pub mod rights {
    /// Receive (endpoints), wait (notifications), read (frames).
    pub const READ: u64 = 1;
    /// Send (endpoints), signal (notifications), write (frames).
    pub const WRITE: u64 = 1 << 1;
    /// Transfer capabilities through an endpoint.
    pub const GRANT: u64 = 1 << 2;
    /// Transfer the reply right of a `Call`.
    pub const GRANT_REPLY: u64 = 1 << 3;
    /// Every right.
    pub const ALL: u64 = READ | WRITE | GRANT | GRANT_REPLY;
}
