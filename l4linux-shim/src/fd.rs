//! File descriptors: what an open file of a process refers to.

/// What a descriptor refers to.
#[derive(Clone, Copy, Debug)]
pub enum FdKind {
    /// The console (a terminal).
    Console,
    Null,
    Zero,
    /// A regular file of the RAM filesystem, read at `pos`.
    File {
        node: usize,
        pos: u64,
    },
    /// A directory, listed from entry `pos` (0 and 1 are `.` and `..`).
    Dir {
        node: usize,
        pos: u64,
    },
    /// One end of pipe `id` (`Shim::pipes`); which end is the access mode.
    Pipe {
        id: usize,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct Fd {
    pub kind: FdKind,
    /// The open flags (`O_ACCMODE` and the status flags `F_GETFL` shows).
    pub flags: u64,
    pub cloexec: bool,
}

/// Most descriptors a process may hold (`RLIMIT_NOFILE`'s soft limit).
pub const MAX_FDS: usize = 1024;
