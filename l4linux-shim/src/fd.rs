//! File descriptors and the open files they name.
//!
//! As on Linux, a descriptor names an **open file** (Linux's `struct
//! file`): what was opened, its status flags and its offset. `dup`,
//! `dup2`, `dup3`, `F_DUPFD` and `fork` copy the descriptor, not the open
//! file, so the copies share one offset and one set of status flags
//! (`O_APPEND`, `O_NONBLOCK`); close-on-exec belongs to the descriptor.
//! An open file lives as long as some descriptor names it (`Rc`: the shim
//! has one thread).

use crate::linux::errno::ENFILE;
use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Most bytes the texts of open `/proc` files may hold in the shim's heap
/// at once (ENFILE past it). Each open makes a text, so without a bound
/// processes holding many open (1,024 descriptors each) filled the heap
/// and the shim's next allocation failed: a panic, the guest restarted.
pub const MAX_TEXT_BYTES: usize = 1 << 20;
/// Bytes the live [`Text`]s hold. The shim has one thread; an atomic
/// makes the static `Sync`.
static TEXT_BYTES: AtomicUsize = AtomicUsize::new(0);

/// A `/proc` file's text, counted in [`TEXT_BYTES`] while it lives.
#[derive(Debug)]
pub struct Text(Box<[u8]>);

impl Text {
    /// The text `data`, or ENFILE if the texts would hold too much.
    pub fn new(data: Vec<u8>) -> Result<Text, i64> {
        let n = crate::fs::held(data.len());
        let now = TEXT_BYTES.load(Relaxed);
        if now + n > MAX_TEXT_BYTES {
            return Err(ENFILE);
        }
        TEXT_BYTES.store(now + n, Relaxed);
        Ok(Text(data.into_boxed_slice()))
    }
}

impl core::ops::Deref for Text {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Text {
    fn drop(&mut self) {
        TEXT_BYTES.fetch_sub(crate::fs::held(self.0.len()), Relaxed);
    }
}

/// What an open file refers to.
#[derive(Clone, Debug)]
pub enum FdKind {
    /// The console (a terminal).
    Console,
    Null,
    Zero,
    /// A regular file of the RAM filesystem (its inode).
    File {
        node: usize,
    },
    /// A directory, listed from the open file's position (0 and 1 are `.`
    /// and `..`, then each entry's cookie plus 2).
    Dir {
        node: usize,
    },
    /// One end of pipe `id` (`Shim::pipes`); which end is the access mode.
    Pipe {
        id: usize,
    },
    /// A file of `/proc`: its text, made when it was opened.
    Text {
        data: Rc<Text>,
    },
}

/// An open file: shared by every descriptor duplicated from one `open`.
#[derive(Debug)]
pub struct OpenFile {
    pub kind: FdKind,
    /// The open flags (`O_ACCMODE` and the status flags `F_GETFL` shows).
    pub flags: u64,
    /// The offset reads and writes start at.
    pub pos: u64,
    /// The terminal was hung up under this open file (the console only;
    /// Linux's `hung_up_tty_fops`): reads end-of-file, writes and
    /// ioctls EIO, poll everything (`Shim::hang_up`).
    pub hung_up: bool,
}

impl OpenFile {
    /// The pipe this open file is an end of, and whether the write end
    /// (F_SETFL keeps the access mode, so this never changes).
    pub fn pipe_end(&self) -> Option<(usize, bool)> {
        match self.kind {
            FdKind::Pipe { id } => Some((
                id,
                self.flags & crate::linux::O_ACCMODE == crate::linux::O_WRONLY,
            )),
            _ => None,
        }
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        if let Some((id, write)) = self.pipe_end() {
            crate::pipe::end_closed(id, write);
        }
    }
}

/// A descriptor: an open file, and the descriptor's own close-on-exec flag.
#[derive(Clone, Debug)]
pub struct Fd {
    pub file: Rc<RefCell<OpenFile>>,
    pub cloexec: bool,
}

impl Fd {
    /// A descriptor for a new open file.
    pub fn new(kind: FdKind, flags: u64, cloexec: bool) -> Fd {
        let file = OpenFile {
            kind,
            flags,
            pos: 0,
            hung_up: false,
        };
        if let Some((id, write)) = file.pipe_end() {
            crate::pipe::end_opened(id, write);
        }
        Fd {
            file: Rc::new(RefCell::new(file)),
            cloexec,
        }
    }

    /// Another descriptor for the same open file.
    pub fn dup(&self, cloexec: bool) -> Fd {
        Fd {
            file: self.file.clone(),
            cloexec,
        }
    }

    pub fn kind(&self) -> FdKind {
        self.file.borrow().kind.clone()
    }

    pub fn flags(&self) -> u64 {
        self.file.borrow().flags
    }

    pub fn pos(&self) -> u64 {
        self.file.borrow().pos
    }

    pub fn hung_up(&self) -> bool {
        self.file.borrow().hung_up
    }

    pub fn set_pos(&self, pos: u64) {
        self.file.borrow_mut().pos = pos;
    }
}

/// Most descriptors a process may hold (`RLIMIT_NOFILE`'s soft limit).
pub const MAX_FDS: usize = 1024;
