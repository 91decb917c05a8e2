//! The guest's RAM filesystem: a tree of inodes built at start from the
//! cpio (newc) archive embedded in the shim (Debian's busybox-static,
//! `/etc`, `/dev` nodes and the guest's own programs, packed by `cargo
//! xtask build`), then changed by the processes: files are created,
//! written, truncated, linked, renamed and removed here.
//!
//! - An **inode** ([`Inode`]) is a directory, a regular file, a symbolic
//!   link or a device node, with its mode, link count and times. A
//!   directory's entries name inodes, so one file may have several names
//!   (hard links); a directory's `..` is its `parent`.
//! - A file packed in the archive is read in place (`Data::Packed`: the
//!   archive's bytes, which `execve` and `mmap` use directly); its first
//!   change copies it into pages of the **file pool** (`Data::Pages`).
//!   A page never written (a hole) reads as zeroes and costs nothing.
//! - The file pool is bounded ([`Fs::pool_pages`]): a write that needs a
//!   page past it fails with ENOSPC, as a full filesystem does. Its pages
//!   come from the shim's heap.
//! - An inode whose last name is removed lives on while a descriptor
//!   names it or a process has it as its working directory; the shim
//!   frees such orphans when it next needs an inode or a page
//!   ([`Fs::sweep`] with the set of inodes still in use), as pipes are
//!   dropped.
//!
//! Every name and number of the archive is still parsed as untrusted
//! input: a damaged archive ends the tree where it is damaged, it never
//! panics the shim.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;

pub use crate::proc::ProcFile;

use crate::linux::{S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, Timespec, errno::*};

/// A device a character node names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// `/dev/console`, `/dev/tty` (5, 1) and (5, 0): the console.
    Console,
    /// `/dev/null` (1, 3).
    Null,
    /// `/dev/zero` (1, 5).
    Zero,
    /// Anything else: opens fail with ENODEV.
    Other,
}

/// A page of file data.
pub const PAGE: usize = 4096;
const PAGE_U64: u64 = PAGE as u64;

/// A regular file's bytes.
#[derive(Debug)]
pub enum Data {
    /// The archive's bytes, unchanged.
    Packed(&'static [u8]),
    /// Changed: pages of the file pool by index (absent: a hole) and the
    /// size.
    Pages {
        pages: BTreeMap<u64, Box<[u8]>>,
        size: u64,
    },
}

/// A directory's entries, by cookie: a number that only grows, so a
/// listing in progress (`getdents64` resumes from a cookie) neither
/// repeats nor skips an entry when others are added or removed.
#[derive(Debug, Default)]
pub struct Dir {
    pub entries: BTreeMap<u64, (Vec<u8>, usize)>,
    next: u64,
}

impl Dir {
    const fn new() -> Dir {
        Dir {
            entries: BTreeMap::new(),
            next: 0,
        }
    }

    fn find(&self, name: &[u8]) -> Option<(u64, usize)> {
        self.entries
            .iter()
            .find(|(_, (n, _))| n == name)
            .map(|(&k, &(_, ino))| (k, ino))
    }
}

#[derive(Debug)]
pub enum Kind {
    Dir(Dir),
    File(Data),
    Symlink(Vec<u8>),
    Dev(Device, u64),
    /// A file of `/proc` (`crate::proc`).
    Proc(ProcFile),
}

#[derive(Debug)]
pub struct Inode {
    /// Type and permission bits (`st_mode`).
    pub mode: u32,
    /// Names it has (a directory: 2 plus its subdirectories); 0 once
    /// removed.
    pub nlink: u32,
    pub kind: Kind,
    /// A directory's parent (its `..`); the root's is itself.
    pub parent: usize,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
}

const ZERO_TIME: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 0,
};

/// What a freed inode number reads as, should anything still name it.
static DEAD: Inode = Inode {
    mode: S_IFREG,
    nlink: 0,
    kind: Kind::Symlink(Vec::new()),
    parent: 0,
    atime: ZERO_TIME,
    mtime: ZERO_TIME,
    ctime: ZERO_TIME,
};

/// Inodes per chunk of [`Nodes`]: 256 of about 100 bytes.
const NODES_CHUNK: usize = 256;

/// The inode table, by number, in chunks of [`NODES_CHUNK`]: a Vec of
/// all [`MAX_INODES`] would ask the heap for one block of 2 MiB as it
/// doubles, which a heap of power-of-two classes may not have (a process
/// making 16,384 files panicked the shim that way).
#[derive(Default)]
struct Nodes {
    chunks: Vec<Box<[Option<Inode>]>>,
    len: usize,
}

impl Nodes {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, n: usize) -> Option<&Option<Inode>> {
        (n < self.len).then(|| &self.chunks[n / NODES_CHUNK][n % NODES_CHUNK])
    }

    fn get_mut(&mut self, n: usize) -> Option<&mut Option<Inode>> {
        (n < self.len).then(|| &mut self.chunks[n / NODES_CHUNK][n % NODES_CHUNK])
    }

    fn push(&mut self, i: Option<Inode>) {
        if self.len.is_multiple_of(NODES_CHUNK) {
            let chunk: Vec<Option<Inode>> = (0..NODES_CHUNK).map(|_| None).collect();
            self.chunks.push(chunk.into_boxed_slice());
        }
        self.len += 1;
        if let Some(slot) = self.get_mut(self.len - 1) {
            *slot = i;
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Option<Inode>> {
        self.chunks.iter().flat_map(|c| c.iter()).take(self.len)
    }
}

impl core::ops::Index<usize> for Nodes {
    type Output = Option<Inode>;
    fn index(&self, n: usize) -> &Option<Inode> {
        self.get(n)
            .expect("an inode number below the table's length")
    }
}

impl core::ops::IndexMut<usize> for Nodes {
    fn index_mut(&mut self, n: usize) -> &mut Option<Inode> {
        self.get_mut(n)
            .expect("an inode number below the table's length")
    }
}

/// The tree; inode 0 is `/`.
pub struct Fs {
    nodes: Nodes,
    free: Vec<usize>,
    /// Pages of the file pool in use, and the most there may be.
    pub pool_used: usize,
    pub pool_pages: usize,
    /// The time stamps of new and changed inodes (set by the shim before
    /// each call that may change the tree).
    pub now: Timespec,
    /// The pid `/proc/self` names (set before each path is followed).
    pub self_pid: u64,
    /// Bytes of the shim's heap that entry names and link targets hold
    /// ([`held`]); at most [`MAX_NAME_BYTES`].
    pub name_bytes: usize,
}

/// Longest path the shim follows (Linux's PATH_MAX).
pub const PATH_MAX: usize = 4096;
/// Longest name of one directory entry (Linux's NAME_MAX).
pub const NAME_MAX: usize = 255;
/// Symbolic links followed in one lookup, at most (Linux's MAXSYMLINKS).
const MAX_LINKS: usize = 40;
/// Most inodes at once, so a process cannot grow the shim's heap without
/// bound by making empty files (ENOSPC past it).
pub const MAX_INODES: usize = 16384;
/// Most heap bytes entry names and symbolic links' targets may hold
/// together (ENOSPC past it). Inodes alone do not bound them: a hard link
/// adds a name of up to 255 bytes and no inode, and a link's target is up
/// to 4 KiB; without this a process filled the shim's heap with links
/// and the shim's next allocation failed (a panic: the guest restarted).
/// 2 MiB is 16,384 entries with names of up to 64 bytes.
pub const MAX_NAME_BYTES: usize = 2 << 20;

/// What `n` bytes of a name or target take of the heap: the allocator's
/// power-of-two block, and an entry's share of its directory's tree.
pub fn held(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    n.next_power_of_two().max(16) + 48
}

/// The heap bytes an inode's own name-like data holds (a link's target).
fn held_by(kind: &Kind) -> usize {
    match kind {
        Kind::Symlink(t) => held(t.len()),
        _ => 0,
    }
}

fn hex(field: &[u8]) -> Option<u64> {
    let s = core::str::from_utf8(field).ok()?;
    u64::from_str_radix(s, 16).ok()
}

/// A path's last component and what comes before it (`None` for `/` or
/// an empty path); a trailing slash is dropped from the last component
/// and reported.
pub fn split_last(path: &[u8]) -> Option<(&[u8], &[u8], bool)> {
    let trailing = path.last() == Some(&b'/');
    let mut end = path.len();
    while end > 0 && path[end - 1] == b'/' {
        end -= 1;
    }
    if end == 0 {
        return None;
    }
    let start = path[..end]
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |i| i + 1);
    Some((&path[..start], &path[start..end], trailing))
}

impl Fs {
    /// The tree of `archive`; stops at the first damaged entry.
    /// `pool_pages` bounds the file pool.
    pub fn from_cpio(archive: &'static [u8], pool_pages: usize) -> Fs {
        let mut fs = Fs {
            nodes: Nodes::default(),
            free: Vec::new(),
            pool_used: 0,
            pool_pages,
            now: ZERO_TIME,
            self_pid: 0,
            name_bytes: 0,
        };
        fs.nodes.push(Some(Inode {
            mode: S_IFDIR | 0o755,
            nlink: 2,
            kind: Kind::Dir(Dir::new()),
            parent: 0,
            atime: ZERO_TIME,
            mtime: ZERO_TIME,
            ctime: ZERO_TIME,
        }));
        let mut at = 0usize;
        while let Some(h) = archive.get(at..at + 110) {
            if &h[..6] != b"070701" {
                break;
            }
            let f = |i: usize| hex(&h[6 + 8 * i..14 + 8 * i]);
            let (Some(mode), Some(size), Some(rmaj), Some(rmin), Some(namesize)) =
                (f(1), f(6), f(9), f(10), f(11))
            else {
                break;
            };
            let name_at = at + 110;
            let Some(name) = namesize
                .checked_sub(1)
                .and_then(|n| archive.get(name_at..name_at + n as usize))
            else {
                break;
            };
            let data_at = (name_at + namesize as usize).next_multiple_of(4);
            let Some(data) = archive.get(data_at..data_at.saturating_add(size as usize)) else {
                break;
            };
            at = (data_at + size as usize).next_multiple_of(4);
            if name == b"TRAILER!!!" {
                break;
            }
            let mode = mode as u32;
            let kind = match mode & S_IFMT {
                S_IFDIR => Kind::Dir(Dir::new()),
                S_IFREG => Kind::File(Data::Packed(data)),
                S_IFLNK => Kind::Symlink(data.to_vec()),
                S_IFCHR => {
                    let dev = match (rmaj, rmin) {
                        (5, 0) | (5, 1) => Device::Console,
                        (1, 3) => Device::Null,
                        (1, 5) => Device::Zero,
                        _ => Device::Other,
                    };
                    Kind::Dev(dev, rmaj << 8 | rmin)
                }
                _ => continue,
            };
            fs.add(name, mode, kind);
        }
        fs
    }

    /// Add `path` (relative to `/`) from the archive, making missing
    /// parents; a later entry of the same name replaces an earlier one
    /// (so `--guest-files` can replace a packed file).
    fn add(&mut self, path: &[u8], mode: u32, kind: Kind) {
        let mut dir = 0usize;
        let parts: Vec<&[u8]> = path
            .split(|&b| b == b'/')
            .filter(|p| !p.is_empty() && *p != b".")
            .collect();
        let Some((last, parents)) = parts.split_last() else {
            return;
        };
        if parts.iter().any(|p| *p == b".." || p.len() > NAME_MAX) {
            return;
        }
        for p in parents {
            dir = match self.child(dir, p) {
                Some(c) if matches!(self.node(c).kind, Kind::Dir(_)) => c,
                Some(_) => return,
                None => match self.create(dir, p, S_IFDIR | 0o755, Kind::Dir(Dir::new())) {
                    Ok(c) => c,
                    Err(_) => return,
                },
            };
        }
        match self.child(dir, last) {
            // A directory named again (cpio lists it before or after its
            // contents) keeps its children.
            Some(c) if matches!(self.node(c).kind, Kind::Dir(_)) => {
                if matches!(kind, Kind::Dir(_))
                    && let Some(n) = self.node_mut(c)
                {
                    n.mode = mode;
                }
            }
            Some(c) => {
                let new = held_by(&kind);
                if !matches!(kind, Kind::Dir(_))
                    && let Some(n) = self.node_mut(c)
                {
                    let old = held_by(&n.kind);
                    n.kind = kind;
                    n.mode = mode;
                    self.name_bytes = self.name_bytes - old + new;
                }
            }
            None => {
                let _ = self.create(dir, last, mode, kind);
            }
        }
    }

    /// Inode `n` (a freed number reads as an empty, unlinked inode).
    pub fn node(&self, n: usize) -> &Inode {
        self.nodes.get(n).and_then(Option::as_ref).unwrap_or(&DEAD)
    }

    pub fn node_mut(&mut self, n: usize) -> Option<&mut Inode> {
        self.nodes.get_mut(n).and_then(Option::as_mut)
    }

    pub fn is_dir(&self, n: usize) -> bool {
        matches!(self.node(n).kind, Kind::Dir(_))
    }

    /// How many inodes exist.
    pub fn count(&self) -> usize {
        self.nodes.len() - self.free.len()
    }

    /// The child of directory `dir` named `name`.
    pub fn child(&self, dir: usize, name: &[u8]) -> Option<usize> {
        let Kind::Dir(d) = &self.node(dir).kind else {
            return None;
        };
        d.find(name).map(|(_, ino)| ino)
    }

    /// A new inode named `name` in directory `dir`: ENOTDIR, ENOENT (a
    /// removed directory), ENAMETOOLONG, EEXIST, ENOSPC past
    /// [`MAX_INODES`].
    pub fn create(&mut self, dir: usize, name: &[u8], mode: u32, kind: Kind) -> Result<usize, i64> {
        let d = self.node(dir);
        if !matches!(d.kind, Kind::Dir(_)) {
            return Err(ENOTDIR);
        }
        if d.nlink == 0 {
            return Err(ENOENT);
        }
        if name.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        if name.is_empty() || name == b"." || name == b".." || self.child(dir, name).is_some() {
            return Err(EEXIST);
        }
        if self.count() >= MAX_INODES {
            return Err(ENOSPC);
        }
        self.can_hold(held(name.len()) + held_by(&kind))?;
        self.name_bytes += held_by(&kind);
        let is_dir = matches!(kind, Kind::Dir(_));
        let inode = Inode {
            mode,
            nlink: if is_dir { 2 } else { 1 },
            kind,
            parent: dir,
            atime: self.now,
            mtime: self.now,
            ctime: self.now,
        };
        let n = match self.free.pop() {
            Some(n) => {
                self.nodes[n] = Some(inode);
                n
            }
            None => {
                self.nodes.push(Some(inode));
                self.nodes.len() - 1
            }
        };
        self.enter(dir, name, n);
        if is_dir && let Some(d) = self.node_mut(dir) {
            d.nlink += 1;
        }
        Ok(n)
    }

    /// ENOSPC if the names and targets would hold more than
    /// [`MAX_NAME_BYTES`] with `more`.
    fn can_hold(&self, more: usize) -> Result<(), i64> {
        if self.name_bytes + more > MAX_NAME_BYTES {
            return Err(ENOSPC);
        }
        Ok(())
    }

    /// Make `node` a symbolic link to `target` (`/proc`'s `exe`), its
    /// target's bytes counted as [`Fs::create`] counts them.
    pub fn set_link(&mut self, node: usize, target: Vec<u8>) {
        let new = held(target.len());
        if let Some(n) = self.nodes.get_mut(node).and_then(Option::as_mut) {
            let old = held_by(&n.kind);
            n.kind = Kind::Symlink(target);
            self.name_bytes = self.name_bytes - old + new;
        }
    }

    /// Add the entry `name` → `ino` to `dir` (which has no such name).
    fn enter(&mut self, dir: usize, name: &[u8], ino: usize) {
        self.name_bytes += held(name.len());
        let now = self.now;
        if let Some(d) = self.node_mut(dir) {
            d.mtime = now;
            d.ctime = now;
            if let Kind::Dir(d) = &mut d.kind {
                let k = d.next;
                d.next += 1;
                d.entries.insert(k, (name.to_vec(), ino));
            }
        }
    }

    /// Drop the entry `name` of `dir`; the inode it named.
    fn leave(&mut self, dir: usize, name: &[u8]) -> Option<usize> {
        let now = self.now;
        let d = self.node_mut(dir)?;
        d.mtime = now;
        d.ctime = now;
        let Kind::Dir(d) = &mut d.kind else {
            return None;
        };
        let (k, ino) = d.find(name)?;
        d.entries.remove(&k);
        self.name_bytes -= held(name.len());
        Some(ino)
    }

    /// Resolve `path` from directory `cwd`; the last component's symbolic
    /// link is followed only if `follow`.
    pub fn lookup(&self, cwd: usize, path: &[u8], follow: bool) -> Result<usize, i64> {
        let mut links = 0;
        self.walk(cwd, path, follow, &mut links)
    }

    fn walk(&self, cwd: usize, path: &[u8], follow: bool, links: &mut usize) -> Result<usize, i64> {
        if path.is_empty() {
            return Err(ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(ENAMETOOLONG);
        }
        let mut node = if path[0] == b'/' { 0 } else { cwd };
        let parts: Vec<&[u8]> = path
            .split(|&b| b == b'/')
            .filter(|p| !p.is_empty())
            .collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if !self.is_dir(node) {
                return Err(ENOTDIR);
            }
            if part.len() > NAME_MAX {
                return Err(ENAMETOOLONG);
            }
            let dir = node;
            node = match *part {
                b"." => node,
                b".." => self.node(node).parent,
                name => self.child(node, name).ok_or(ENOENT)?,
            };
            let own;
            let target: &[u8] = match &self.node(node).kind {
                Kind::Symlink(t) => t,
                Kind::Proc(ProcFile::SelfLink) => {
                    own = alloc::format!("{}", self.self_pid).into_bytes();
                    &own
                }
                _ => continue,
            };
            if !last || follow || path.last() == Some(&b'/') {
                *links += 1;
                if *links > MAX_LINKS {
                    return Err(ELOOP);
                }
                // A link's target is relative to the directory holding it.
                node = self.walk(dir, target, true, links)?;
            }
        }
        // A trailing slash names a directory.
        if path.last() == Some(&b'/') && !self.is_dir(node) {
            return Err(ENOTDIR);
        }
        Ok(node)
    }

    /// The directory a path's last component is looked up in, and that
    /// component (without a trailing slash), for the calls that make or
    /// remove names. `None` as the name: the path is `/` (or only
    /// slashes). The third value says whether a trailing slash followed.
    pub fn parent_and_name<'p>(
        &self,
        cwd: usize,
        path: &'p [u8],
    ) -> Result<(usize, Option<&'p [u8]>, bool), i64> {
        if path.is_empty() {
            return Err(ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(ENAMETOOLONG);
        }
        let Some((dir, name, trailing)) = split_last(path) else {
            return Ok((0, None, true));
        };
        if name.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        let parent = if dir.is_empty() {
            cwd
        } else {
            self.lookup(cwd, dir, true)?
        };
        if !self.is_dir(parent) {
            return Err(ENOTDIR);
        }
        Ok((parent, Some(name), trailing))
    }

    /// The name of `node` in its parent directory, if it has one.
    fn name_in_parent(&self, node: usize) -> Option<&[u8]> {
        let Kind::Dir(d) = &self.node(self.node(node).parent).kind else {
            return None;
        };
        d.entries
            .values()
            .find(|(_, ino)| *ino == node)
            .map(|(n, _)| n.as_slice())
    }

    /// The absolute path of directory `node`; ENOENT if it was removed.
    pub fn path_of(&self, mut node: usize) -> Result<String, i64> {
        let mut parts = Vec::new();
        while node != 0 {
            if self.node(node).nlink == 0 || parts.len() > PATH_MAX / 2 {
                return Err(ENOENT);
            }
            parts.push(self.name_in_parent(node).ok_or(ENOENT)?);
            node = self.node(node).parent;
        }
        let mut s = String::new();
        for p in parts.iter().rev() {
            s.push('/');
            s.push_str(&String::from_utf8_lossy(p));
        }
        if s.is_empty() {
            s.push('/');
        }
        Ok(s)
    }

    /// A file's path for messages: its directory's path and a name it
    /// has there (or `?`).
    pub fn name_of(&self, dir: usize, node: usize) -> String {
        let mut s = self.path_of(dir).unwrap_or_else(|_| "?".into());
        let name = match &self.node(dir).kind {
            Kind::Dir(d) => d.entries.values().find(|(_, i)| *i == node).map(|(n, _)| n),
            _ => None,
        };
        if !s.ends_with('/') {
            s.push('/');
        }
        s.push_str(&String::from_utf8_lossy(name.map_or(b"?", |n| n)));
        s
    }

    /// The size `stat` reports.
    pub fn size(&self, node: usize) -> u64 {
        match &self.node(node).kind {
            Kind::File(Data::Packed(d)) => d.len() as u64,
            Kind::File(Data::Pages { size, .. }) => *size,
            Kind::Symlink(d) => d.len() as u64,
            Kind::Dir(_) => 4096,
            Kind::Dev(..) | Kind::Proc(_) => 0,
        }
    }

    /// The pages of the file pool a file holds (`st_blocks` / 8).
    pub fn pages_of(&self, node: usize) -> u64 {
        match &self.node(node).kind {
            Kind::File(Data::Packed(d)) => (d.len() as u64).div_ceil(PAGE_U64),
            Kind::File(Data::Pages { pages, .. }) => pages.len() as u64,
            _ => 0,
        }
    }

    /// The archive's bytes of an unchanged packed file (what `execve`
    /// and `mmap` map).
    pub fn packed(&self, node: usize) -> Option<&'static [u8]> {
        match self.node(node).kind {
            Kind::File(Data::Packed(d)) => Some(d),
            _ => None,
        }
    }

    /// Up to `out.len()` bytes of file `node` at `at`: how many.
    pub fn read(&self, node: usize, at: u64, out: &mut [u8]) -> usize {
        match &self.node(node).kind {
            Kind::File(Data::Packed(d)) => {
                let start = at.min(d.len() as u64) as usize;
                let n = (d.len() - start).min(out.len());
                out[..n].copy_from_slice(&d[start..start + n]);
                n
            }
            Kind::File(Data::Pages { pages, size }) => {
                let n = size.saturating_sub(at).min(out.len() as u64) as usize;
                let mut done = 0;
                while done < n {
                    let pos = at + done as u64;
                    let off = (pos % PAGE_U64) as usize;
                    let k = (PAGE - off).min(n - done);
                    match pages.get(&(pos / PAGE_U64)) {
                        Some(pg) => out[done..done + k].copy_from_slice(&pg[off..off + k]),
                        None => out[done..done + k].fill(0),
                    }
                    done += k;
                }
                n
            }
            _ => 0,
        }
    }

    /// A zeroed page of the file pool, or ENOSPC.
    fn new_page(&mut self) -> Result<Box<[u8]>, i64> {
        if self.pool_used >= self.pool_pages {
            return Err(ENOSPC);
        }
        let mut v: Vec<u8> = Vec::new();
        v.try_reserve_exact(PAGE).map_err(|_| ENOSPC)?;
        v.resize(PAGE, 0);
        self.pool_used += 1;
        Ok(v.into_boxed_slice())
    }

    /// Turn a packed file into pages (its first change).
    fn unpack(&mut self, node: usize) -> Result<(), i64> {
        let Some(d) = self.packed(node) else {
            return Ok(());
        };
        let mut pages = BTreeMap::new();
        for (i, chunk) in d.chunks(PAGE).enumerate() {
            match self.new_page() {
                Ok(mut pg) => {
                    pg[..chunk.len()].copy_from_slice(chunk);
                    pages.insert(i as u64, pg);
                }
                Err(e) => {
                    self.pool_used -= pages.len();
                    return Err(e);
                }
            }
        }
        if let Some(n) = self.node_mut(node) {
            n.kind = Kind::File(Data::Pages {
                pages,
                size: d.len() as u64,
            });
        }
        Ok(())
    }

    /// Write `data` to file `node` at `at`, growing it (a gap before `at`
    /// is a hole). Writes what fits in the pool: the count, or ENOSPC if
    /// nothing did; EFBIG past Linux's largest offset.
    pub fn write(&mut self, node: usize, at: u64, data: &[u8]) -> Result<usize, i64> {
        if data.is_empty() {
            return Ok(0);
        }
        let end = at.checked_add(data.len() as u64).ok_or(EFBIG)?;
        if end > i64::MAX as u64 {
            return Err(EFBIG);
        }
        self.unpack(node)?;
        let mut done = 0;
        while done < data.len() {
            let pos = at + done as u64;
            let off = (pos % PAGE_U64) as usize;
            let k = (PAGE - off).min(data.len() - done);
            let idx = pos / PAGE_U64;
            let has = matches!(&self.node(node).kind,
                Kind::File(Data::Pages { pages, .. }) if pages.contains_key(&idx));
            let fresh = if has {
                None
            } else {
                match self.new_page() {
                    Ok(pg) => Some(pg),
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                }
            };
            let Some(Inode {
                kind: Kind::File(Data::Pages { pages, size }),
                ..
            }) = self.node_mut(node)
            else {
                return Err(EINVAL);
            };
            if let Some(pg) = fresh {
                pages.insert(idx, pg);
            }
            if let Some(pg) = pages.get_mut(&idx) {
                pg[off..off + k].copy_from_slice(&data[done..done + k]);
            }
            done += k;
            *size = (*size).max(pos + k as u64);
        }
        self.touch(node, true);
        Ok(done)
    }

    /// Set file `node`'s size: pages past it go back to the pool, and
    /// the tail of the last page is zeroed (so growing again reads zeroes).
    pub fn truncate(&mut self, node: usize, len: u64) -> Result<(), i64> {
        if len > i64::MAX as u64 {
            return Err(EFBIG);
        }
        if self.size(node) == len {
            self.touch(node, true);
            return Ok(());
        }
        if len == 0
            && self.packed(node).is_some()
            && let Some(n) = self.node_mut(node)
        {
            n.kind = Kind::File(Data::Pages {
                pages: BTreeMap::new(),
                size: 0,
            });
        }
        self.unpack(node)?;
        let Some(Inode {
            kind: Kind::File(Data::Pages { pages, size }),
            ..
        }) = self.node_mut(node)
        else {
            return Err(EINVAL);
        };
        let keep = len.div_ceil(PAGE_U64);
        let gone = pages.split_off(&keep).len();
        if let Some(pg) = pages.get_mut(&(len / PAGE_U64)) {
            pg[(len % PAGE_U64) as usize..].fill(0);
        }
        *size = len;
        self.pool_used -= gone;
        self.touch(node, true);
        Ok(())
    }

    /// Mark `node` changed (its data if `data`, else only its inode).
    pub fn touch(&mut self, node: usize, data: bool) {
        let now = self.now;
        if let Some(n) = self.node_mut(node) {
            if data {
                n.mtime = now;
            }
            n.ctime = now;
        }
    }

    /// Give `name` in `dir` to inode `ino` as another name (link).
    pub fn link(&mut self, ino: usize, dir: usize, name: &[u8]) -> Result<(), i64> {
        if self.is_dir(ino) {
            return Err(EPERM);
        }
        if self.node(dir).nlink == 0 {
            return Err(ENOENT);
        }
        if name.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        if self.child(dir, name).is_some() {
            return Err(EEXIST);
        }
        self.can_hold(held(name.len()))?;
        self.enter(dir, name, ino);
        if let Some(n) = self.node_mut(ino) {
            n.nlink += 1;
        }
        self.touch(ino, false);
        Ok(())
    }

    /// Remove the entry `name` of `dir`: a directory only if `dir_wanted`
    /// (rmdir: it must be empty), anything else only if not.
    pub fn remove(&mut self, dir: usize, name: &[u8], dir_wanted: bool) -> Result<(), i64> {
        if name == b"." {
            return Err(if dir_wanted { EINVAL } else { EISDIR });
        }
        if name == b".." {
            return Err(if dir_wanted { ENOTEMPTY } else { EISDIR });
        }
        let ino = self.child(dir, name).ok_or(ENOENT)?;
        let is_dir = self.is_dir(ino);
        match (dir_wanted, is_dir) {
            (true, false) => return Err(ENOTDIR),
            (false, true) => return Err(EISDIR),
            _ => {}
        }
        if is_dir {
            if ino == 0 {
                return Err(EBUSY);
            }
            if let Kind::Dir(d) = &self.node(ino).kind
                && !d.entries.is_empty()
            {
                return Err(ENOTEMPTY);
            }
        }
        self.leave(dir, name);
        self.unlinked(ino, dir);
        Ok(())
    }

    /// One name of `ino` (in `dir`) is gone.
    fn unlinked(&mut self, ino: usize, dir: usize) {
        let is_dir = self.is_dir(ino);
        if let Some(n) = self.node_mut(ino) {
            n.nlink = if is_dir { 0 } else { n.nlink.saturating_sub(1) };
        }
        self.touch(ino, false);
        if is_dir && let Some(d) = self.node_mut(dir) {
            d.nlink = d.nlink.saturating_sub(1);
        }
    }

    /// Whether `a` is `b` or a directory under it.
    pub fn is_under(&self, mut a: usize, b: usize) -> bool {
        for _ in 0..=MAX_INODES {
            if a == b {
                return true;
            }
            if a == 0 {
                return false;
            }
            a = self.node(a).parent;
        }
        false
    }

    /// Rename `from_name` in `from_dir` to `to_name` in `to_dir`,
    /// replacing what is there unless `noreplace` (then EEXIST), as
    /// Linux's `rename(2)` says.
    pub fn rename(
        &mut self,
        from_dir: usize,
        from_name: &[u8],
        to_dir: usize,
        to_name: &[u8],
        noreplace: bool,
    ) -> Result<(), i64> {
        for n in [from_name, to_name] {
            if n == b"." || n == b".." {
                return Err(EBUSY);
            }
        }
        if to_name.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        let ino = self.child(from_dir, from_name).ok_or(ENOENT)?;
        let target = self.child(to_dir, to_name);
        if self.node(to_dir).nlink == 0 {
            return Err(ENOENT);
        }
        if target == Some(ino) {
            // Two names of one inode: nothing happens.
            return if noreplace { Err(EEXIST) } else { Ok(()) };
        }
        // The new name is entered before the old one's bytes are counted
        // out: it must fit beside them.
        self.can_hold(held(to_name.len()))?;
        let moving_dir = self.is_dir(ino);
        // A directory into itself or under itself.
        if moving_dir && self.is_under(to_dir, ino) {
            return Err(EINVAL);
        }
        if let Some(t) = target {
            if noreplace {
                return Err(EEXIST);
            }
            match (moving_dir, self.is_dir(t)) {
                (true, false) => return Err(ENOTDIR),
                (false, true) => return Err(EISDIR),
                (true, true) => {
                    if let Kind::Dir(d) = &self.node(t).kind
                        && !d.entries.is_empty()
                    {
                        return Err(ENOTEMPTY);
                    }
                    if self.is_under(from_dir, t) {
                        return Err(ENOTEMPTY);
                    }
                }
                (false, false) => {}
            }
            self.leave(to_dir, to_name);
            self.unlinked(t, to_dir);
        }
        self.leave(from_dir, from_name);
        self.enter(to_dir, to_name, ino);
        if moving_dir {
            if let Some(d) = self.node_mut(from_dir) {
                d.nlink = d.nlink.saturating_sub(1);
            }
            if let Some(d) = self.node_mut(to_dir) {
                d.nlink += 1;
            }
            if let Some(n) = self.node_mut(ino) {
                n.parent = to_dir;
            }
        }
        self.touch(ino, false);
        Ok(())
    }

    /// Free the inodes no name, descriptor or working directory holds
    /// (`in_use`), giving their pages back to the pool.
    pub fn sweep(&mut self, in_use: &BTreeSet<usize>) {
        for n in 1..self.nodes.len() {
            let dead = matches!(&self.nodes[n], Some(i) if i.nlink == 0);
            if dead && !in_use.contains(&n) {
                if let Some(Inode {
                    kind: Kind::File(Data::Pages { pages, .. }),
                    ..
                }) = &self.nodes[n]
                {
                    self.pool_used -= pages.len();
                }
                if let Some(i) = &self.nodes[n] {
                    self.name_bytes -= held_by(&i.kind);
                }
                self.nodes[n] = None;
                self.free.push(n);
            }
        }
    }

    /// Whether any inode is unlinked and waiting for [`Fs::sweep`].
    pub fn has_orphans(&self) -> bool {
        self.nodes.iter().flatten().any(|i| i.nlink == 0)
    }
}
