//! The guest's RAM filesystem: a tree built at start from the cpio
//! (newc) archive embedded in the shim (Debian's busybox-static, `/etc`,
//! `/dev` nodes and the guest's own programs, packed by `cargo xtask
//! build`). Files are read-only views of the archive; devices are the
//! character nodes the archive names by major and minor number.
//!
//! Every name and number here comes from a file the build packed, but
//! it is still parsed as untrusted input: a damaged archive ends the
//! tree where it is damaged, it never panics the shim.

use alloc::string::String;
use alloc::vec::Vec;

use crate::linux::{S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, errno::*};

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

#[derive(Clone, Debug)]
pub enum Kind {
    Dir(Vec<usize>),
    File(&'static [u8]),
    Symlink(&'static [u8]),
    Dev(Device, u64),
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub parent: usize,
    pub mode: u32,
    pub kind: Kind,
}

/// The tree; node 0 is `/`.
pub struct Fs {
    pub nodes: Vec<Node>,
}

/// Longest path the shim follows (Linux's PATH_MAX).
pub const PATH_MAX: usize = 4096;
/// Symbolic links followed in one lookup, at most (Linux's MAXSYMLINKS).
const MAX_LINKS: usize = 40;

fn hex(field: &[u8]) -> Option<u64> {
    let s = core::str::from_utf8(field).ok()?;
    u64::from_str_radix(s, 16).ok()
}

impl Fs {
    /// The tree of `archive`; stops at the first damaged entry.
    pub fn from_cpio(archive: &'static [u8]) -> Fs {
        let mut fs = Fs {
            nodes: alloc::vec![Node {
                name: String::new(),
                parent: 0,
                mode: S_IFDIR | 0o755,
                kind: Kind::Dir(Vec::new()),
            }],
        };
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
            let Ok(name) = core::str::from_utf8(name) else {
                continue;
            };
            let mode = mode as u32;
            let kind = match mode & S_IFMT {
                S_IFDIR => Kind::Dir(Vec::new()),
                S_IFREG => Kind::File(data),
                S_IFLNK => Kind::Symlink(data),
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

    /// Add `path` (relative to `/`), making missing parents.
    fn add(&mut self, path: &str, mode: u32, kind: Kind) {
        let mut dir = 0usize;
        let parts: Vec<&str> = path
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        let Some((last, parents)) = parts.split_last() else {
            return;
        };
        for p in parents {
            dir = match self.child(dir, p.as_bytes()) {
                Some(c) => c,
                None => self.insert(dir, p, S_IFDIR | 0o755, Kind::Dir(Vec::new())),
            };
        }
        match self.child(dir, last.as_bytes()) {
            // A directory named again (cpio lists it before or after its
            // contents) keeps its children.
            Some(c) => {
                if !matches!(kind, Kind::Dir(_)) {
                    self.nodes[c].kind = kind;
                }
                self.nodes[c].mode = mode;
            }
            None => {
                self.insert(dir, last, mode, kind);
            }
        }
    }

    fn insert(&mut self, dir: usize, name: &str, mode: u32, kind: Kind) -> usize {
        let n = self.nodes.len();
        self.nodes.push(Node {
            name: name.into(),
            parent: dir,
            mode,
            kind,
        });
        if let Kind::Dir(children) = &mut self.nodes[dir].kind {
            children.push(n);
        }
        n
    }

    /// The child of directory `dir` named `name`.
    pub fn child(&self, dir: usize, name: &[u8]) -> Option<usize> {
        let Kind::Dir(children) = &self.nodes.get(dir)?.kind else {
            return None;
        };
        children
            .iter()
            .copied()
            .find(|&c| self.nodes[c].name.as_bytes() == name)
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
            if !matches!(self.nodes[node].kind, Kind::Dir(_)) {
                return Err(ENOTDIR);
            }
            if part.len() > 255 {
                return Err(ENAMETOOLONG);
            }
            node = match *part {
                b"." => node,
                b".." => self.nodes[node].parent,
                name => self.child(node, name).ok_or(ENOENT)?,
            };
            if let Kind::Symlink(target) = self.nodes[node].kind
                && (!last || follow)
            {
                *links += 1;
                if *links > MAX_LINKS {
                    return Err(ELOOP);
                }
                let parent = self.nodes[node].parent;
                node = self.walk(parent, target, true, links)?;
            }
        }
        // A trailing slash names a directory.
        if path.last() == Some(&b'/') && !matches!(self.nodes[node].kind, Kind::Dir(_)) {
            return Err(ENOTDIR);
        }
        Ok(node)
    }

    /// The absolute path of `node`.
    pub fn path_of(&self, mut node: usize) -> String {
        let mut parts = Vec::new();
        while node != 0 {
            parts.push(self.nodes[node].name.as_str());
            node = self.nodes[node].parent;
        }
        let mut s = String::new();
        for p in parts.iter().rev() {
            s.push('/');
            s.push_str(p);
        }
        if s.is_empty() {
            s.push('/');
        }
        s
    }

    /// The size `stat` reports.
    pub fn size(&self, node: usize) -> u64 {
        match &self.nodes[node].kind {
            Kind::File(d) | Kind::Symlink(d) => d.len() as u64,
            Kind::Dir(_) => 4096,
            Kind::Dev(..) => 0,
        }
    }
}
