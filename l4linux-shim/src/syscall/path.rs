//! Calls that change the filesystem's names and inodes: mkdir, rmdir,
//! unlink, rename, link, symlink, the permission, owner and time calls,
//! truncate, the sync calls and statfs. The files themselves are
//! `crate::fs`; the descriptor calls are `super::fs`.

use alloc::vec::Vec;

use super::Args;
use super::fs::{base_dir, fd_of, path_arg};
use crate::Shim;
use crate::fd::FdKind;
use crate::fs::{Dir, Kind, NAME_MAX};
use crate::linux::errno::*;
use crate::linux::*;
use crate::process::Process;

/// `dirfd` as a `*at` call's first argument: AT_FDCWD.
const CWD: u64 = AT_FDCWD as u64;

/// The directory and last name of a path that names something to make
/// or remove.
fn parent_of(
    s: &mut Shim,
    p: &mut Process,
    dirfd: u64,
    path: u64,
) -> Result<(usize, Option<Vec<u8>>, bool), i64> {
    let path = path_arg(s, p, path)?;
    let base = base_dir(p, dirfd, &path)?;
    if path.is_empty() {
        return Err(ENOENT);
    }
    let (dir, name, trailing) = s.fs.parent_and_name(base, &path)?;
    if s.in_proc(dir) {
        return Err(EACCES);
    }
    s.stamp();
    Ok((dir, name.map(<[u8]>::to_vec), trailing))
}

fn do_mkdir(s: &mut Shim, p: &mut Process, dirfd: u64, path: u64, mode: u64) -> SysResult {
    let (dir, name, _) = parent_of(s, p, dirfd, path)?;
    let name = name.ok_or(EEXIST)?;
    if s.fs.has_orphans() {
        s.fs_sweep(p);
    }
    let perm = (mode & 0o1777 & !p.umask) as u32;
    s.fs.create(dir, &name, S_IFDIR | perm, Kind::Dir(Dir::default()))?;
    Ok(0)
}

pub fn mkdir(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_mkdir(s, p, CWD, a[0], a[1])
}

pub fn mkdirat(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_mkdir(s, p, a[0], a[1], a[2])
}

fn do_remove(s: &mut Shim, p: &mut Process, dirfd: u64, path: u64, dir_wanted: bool) -> SysResult {
    let (dir, name, trailing) = parent_of(s, p, dirfd, path)?;
    let Some(name) = name else {
        return Err(if dir_wanted { EBUSY } else { EISDIR });
    };
    if trailing && !dir_wanted {
        // unlink("file/"): ENOTDIR if it is a file, EISDIR if a directory.
        let ino = s.fs.child(dir, &name).ok_or(ENOENT)?;
        return Err(if s.fs.is_dir(ino) { EISDIR } else { ENOTDIR });
    }
    s.fs.remove(dir, &name, dir_wanted)?;
    s.fs_sweep(p);
    Ok(0)
}

pub fn rmdir(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_remove(s, p, CWD, a[0], true)
}

pub fn unlink(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_remove(s, p, CWD, a[0], false)
}

pub fn unlinkat(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    if a[2] & !AT_REMOVEDIR != 0 {
        return Err(EINVAL);
    }
    do_remove(s, p, a[0], a[1], a[2] & AT_REMOVEDIR != 0)
}

const RENAME_NOREPLACE: u64 = 1;
const RENAME_EXCHANGE: u64 = 2;
const RENAME_WHITEOUT: u64 = 4;

fn do_rename(
    s: &mut Shim,
    p: &mut Process,
    (olddir, old): (u64, u64),
    (newdir, new): (u64, u64),
    flags: u64,
) -> SysResult {
    if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) != 0
        || flags & (RENAME_NOREPLACE | RENAME_EXCHANGE) == RENAME_NOREPLACE | RENAME_EXCHANGE
    {
        return Err(EINVAL);
    }
    if flags & (RENAME_EXCHANGE | RENAME_WHITEOUT) != 0 {
        // Not offered by the RAM filesystem (tmpfs has EXCHANGE).
        return Err(EINVAL);
    }
    let (from_dir, from_name, from_slash) = parent_of(s, p, olddir, old)?;
    let (to_dir, to_name, to_slash) = parent_of(s, p, newdir, new)?;
    let (Some(from_name), Some(to_name)) = (from_name, to_name) else {
        return Err(EBUSY);
    };
    if [&from_name, &to_name]
        .iter()
        .any(|n| n.as_slice() == b"." || n.as_slice() == b"..")
    {
        return Err(EBUSY);
    }
    let ino = s.fs.child(from_dir, &from_name).ok_or(ENOENT)?;
    // A trailing slash is allowed on directories only.
    if (from_slash || to_slash) && !s.fs.is_dir(ino) {
        return Err(ENOTDIR);
    }
    s.fs.rename(
        from_dir,
        &from_name,
        to_dir,
        &to_name,
        flags & RENAME_NOREPLACE != 0,
    )?;
    s.fs_sweep(p);
    Ok(0)
}

pub fn rename(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_rename(s, p, (CWD, a[0]), (CWD, a[1]), 0)
}

pub fn renameat(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_rename(s, p, (a[0], a[1]), (a[2], a[3]), 0)
}

pub fn renameat2(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_rename(s, p, (a[0], a[1]), (a[2], a[3]), a[4])
}

fn do_link(
    s: &mut Shim,
    p: &mut Process,
    (olddir, old): (u64, u64),
    (newdir, new): (u64, u64),
    flags: u64,
) -> SysResult {
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let oldpath = path_arg(s, p, old)?;
    let ino = if oldpath.is_empty() && flags & AT_EMPTY_PATH != 0 {
        match fd_of(p, olddir)?.kind() {
            FdKind::File { node } => node,
            _ => return Err(EPERM),
        }
    } else {
        let base = base_dir(p, olddir, &oldpath)?;
        s.fs.lookup(base, &oldpath, flags & AT_SYMLINK_FOLLOW != 0)?
    };
    let (dir, name, trailing) = parent_of(s, p, newdir, new)?;
    let name = name.ok_or(EEXIST)?;
    if s.fs.is_dir(ino) {
        return Err(EPERM);
    }
    if s.in_proc(ino) {
        return Err(EXDEV);
    }
    if trailing {
        return Err(if s.fs.child(dir, &name).is_some() {
            EEXIST
        } else {
            ENOENT
        });
    }
    s.fs.link(ino, dir, &name)?;
    Ok(0)
}

pub fn link(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_link(s, p, (CWD, a[0]), (CWD, a[1]), 0)
}

pub fn linkat(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_link(s, p, (a[0], a[1]), (a[2], a[3]), a[4])
}

fn do_symlink(s: &mut Shim, p: &mut Process, target: u64, dirfd: u64, path: u64) -> SysResult {
    let target = s.cstr(p, target, crate::fs::PATH_MAX - 1)?;
    if target.is_empty() {
        return Err(ENOENT);
    }
    let (dir, name, _) = parent_of(s, p, dirfd, path)?;
    let name = name.ok_or(EEXIST)?;
    if s.fs.has_orphans() {
        s.fs_sweep(p);
    }
    s.fs.create(dir, &name, S_IFLNK | 0o777, Kind::Symlink(target))?;
    Ok(0)
}

pub fn symlink(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_symlink(s, p, a[0], CWD, a[1])
}

pub fn symlinkat(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_symlink(s, p, a[0], a[1], a[2])
}

/// The inode a path (or, with AT_EMPTY_PATH and an empty path, `dirfd`)
/// names, for the calls that change an inode's attributes.
fn inode_at(
    s: &mut Shim,
    p: &mut Process,
    dirfd: u64,
    path: u64,
    flags: u64,
) -> Result<usize, i64> {
    let path_bytes = if path == 0 && flags & AT_EMPTY_PATH != 0 {
        Vec::new()
    } else {
        path_arg(s, p, path)?
    };
    s.stamp();
    if path_bytes.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(ENOENT);
        }
        if dirfd as i64 as i32 == AT_FDCWD as i32 {
            return Ok(p.cwd);
        }
        return inode_of_fd(p, dirfd);
    }
    let base = base_dir(p, dirfd, &path_bytes)?;
    s.fs.lookup(base, &path_bytes, flags & AT_SYMLINK_NOFOLLOW == 0)
}

/// The inode behind descriptor `fd`; EBADF, or EINVAL for a pipe or the
/// console (they have none here).
fn inode_of_fd(p: &Process, fd: u64) -> Result<usize, i64> {
    match fd_of(p, fd)?.kind() {
        FdKind::File { node } | FdKind::Dir { node } => Ok(node),
        _ => Err(EINVAL),
    }
}

fn set_mode(s: &mut Shim, node: usize, mode: u64) -> SysResult {
    if s.in_proc(node) {
        return Err(EPERM);
    }
    if let Some(n) = s.fs.node_mut(node) {
        n.mode = (n.mode & S_IFMT) | (mode & 0o7777) as u32;
    }
    s.fs.touch(node, false);
    Ok(0)
}

pub fn chmod(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let node = inode_at(s, p, CWD, a[0], 0)?;
    set_mode(s, node, a[1])
}

pub fn fchmod(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let node = inode_of_fd(p, a[0])?;
    s.stamp();
    set_mode(s, node, a[1])
}

pub fn fchmodat(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    // The system call has no flags argument (glibc's AT_SYMLINK_NOFOLLOW
    // is fchmodat2's).
    let node = inode_at(s, p, a[0], a[1], 0)?;
    set_mode(s, node, a[2])
}

/// chown and friends: every file belongs to root and every process is
/// root, so an owner change is accepted (the inode's change time moves)
/// and the owner stays root; `-1` means "unchanged" as on Linux.
fn set_owner(s: &mut Shim, node: usize) -> SysResult {
    s.fs.touch(node, false);
    Ok(0)
}

pub fn chown(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let node = inode_at(s, p, CWD, a[0], 0)?;
    set_owner(s, node)
}

pub fn lchown(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let node = inode_at(s, p, CWD, a[0], AT_SYMLINK_NOFOLLOW)?;
    set_owner(s, node)
}

pub fn fchown(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let node = match fd_of(p, a[0])?.kind() {
        FdKind::File { node } | FdKind::Dir { node } => node,
        _ => return Ok(0),
    };
    s.stamp();
    set_owner(s, node)
}

pub fn fchownat(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    if a[4] & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let node = inode_at(s, p, a[0], a[1], a[4])?;
    set_owner(s, node)
}

const UTIME_NOW: i64 = (1 << 30) - 1;
const UTIME_OMIT: i64 = (1 << 30) - 2;

/// Set `node`'s access and modification times: `None` is now, a
/// `Some(None)` leaves it.
fn set_times(s: &mut Shim, node: usize, times: [Option<Timespec>; 2]) -> SysResult {
    let now = s.fs.now;
    if let Some(n) = s.fs.node_mut(node) {
        if let Some(t) = times[0] {
            n.atime = if t.tv_nsec == UTIME_NOW { now } else { t };
        }
        if let Some(t) = times[1] {
            n.mtime = if t.tv_nsec == UTIME_NOW { now } else { t };
        }
        n.ctime = now;
    }
    Ok(0)
}

/// A pair of timespecs at `at` (NULL: both now) as `set_times` takes
/// them; EINVAL for a nanosecond field out of range.
fn read_times(s: &mut Shim, p: &mut Process, at: u64) -> Result<[Option<Timespec>; 2], i64> {
    let raw = if at == 0 { None } else { Some(s.get(p, at)?) };
    times_of(raw)
}

/// `raw` (None: both now) as `set_times` takes it.
fn times_of(raw: Option<[Timespec; 2]>) -> Result<[Option<Timespec>; 2], i64> {
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: UTIME_NOW,
    };
    let Some(t) = raw else {
        return Ok([Some(now), Some(now)]);
    };
    let mut out = [None, None];
    for (o, t) in out.iter_mut().zip(t) {
        *o = match t.tv_nsec {
            UTIME_OMIT => None,
            UTIME_NOW => Some(now),
            ns if (0..1_000_000_000).contains(&ns) => Some(t),
            _ => return Err(EINVAL),
        };
    }
    Ok(out)
}

/// utimensat in Linux's order: the times are read; both UTIME_OMIT
/// change nothing, the path unlooked at; a NULL path with a descriptor
/// is futimens (no flags allowed); otherwise the path is looked up (a
/// NULL one is EFAULT, as Linux reads it); the nanoseconds are checked
/// last.
pub fn utimensat(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let (dirfd, path, times, flags) = (a[0], a[1], a[2], a[3]);
    let raw: Option<[Timespec; 2]> = if times == 0 {
        None
    } else {
        Some(s.get(p, times)?)
    };
    if raw.is_some_and(|t| t.iter().all(|t| t.tv_nsec == UTIME_OMIT)) {
        return Ok(0);
    }
    let node = if path == 0 && dirfd as i32 != AT_FDCWD as i32 {
        if flags != 0 {
            return Err(EINVAL);
        }
        s.stamp();
        inode_of_fd(p, dirfd)?
    } else {
        if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
            return Err(EINVAL);
        }
        inode_at(s, p, dirfd, path, flags)?
    };
    set_times(s, node, times_of(raw)?)
}

/// A pair of timevals (utimes, futimesat) as timespecs.
fn read_timevals(s: &mut Shim, p: &mut Process, at: u64) -> Result<[Option<Timespec>; 2], i64> {
    if at == 0 {
        return read_times(s, p, 0);
    }
    let tv: [Timeval; 2] = s.get(p, at)?;
    let mut out = [None, None];
    for (o, t) in out.iter_mut().zip(tv) {
        if !(0..1_000_000).contains(&t.tv_usec) {
            return Err(EINVAL);
        }
        *o = Some(Timespec {
            tv_sec: t.tv_sec,
            tv_nsec: t.tv_usec * 1000,
        });
    }
    Ok(out)
}

pub fn futimesat(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let t = read_timevals(s, p, a[2])?;
    let node = inode_at(s, p, a[0], a[1], 0)?;
    set_times(s, node, t)
}

pub fn utimes(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let t = read_timevals(s, p, a[1])?;
    let node = inode_at(s, p, CWD, a[0], 0)?;
    set_times(s, node, t)
}

/// utime(path, {actime, modtime}) in whole seconds.
pub fn utime(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let t = if a[1] == 0 {
        read_times(s, p, 0)?
    } else {
        let b: [i64; 2] = s.get(p, a[1])?;
        b.map(|sec| {
            Some(Timespec {
                tv_sec: sec,
                tv_nsec: 0,
            })
        })
    };
    let node = inode_at(s, p, CWD, a[0], 0)?;
    set_times(s, node, t)
}

fn do_truncate(s: &mut Shim, p: &mut Process, node: usize, len: u64) -> SysResult {
    if (len as i64) < 0 {
        return Err(EINVAL);
    }
    match s.fs.node(node).kind {
        Kind::File(_) => {}
        Kind::Dir(_) => return Err(EISDIR),
        _ => return Err(EINVAL),
    }
    s.stamp();
    match s.fs.truncate(node, len) {
        Err(ENOSPC) => {
            s.fs_sweep(p);
            s.fs.truncate(node, len)?;
        }
        r => r?,
    }
    Ok(0)
}

pub fn truncate(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    // Linux checks the length before it looks the path up.
    if (a[1] as i64) < 0 {
        return Err(EINVAL);
    }
    let node = inode_at(s, p, CWD, a[0], 0)?;
    do_truncate(s, p, node, a[1])
}

pub fn ftruncate(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let f = fd_of(p, a[0])?;
    let FdKind::File { node } = f.kind() else {
        return Err(EINVAL);
    };
    if f.flags() & O_ACCMODE == O_RDONLY || f.flags() & O_PATH != 0 {
        return Err(if f.flags() & O_PATH != 0 {
            EBADF
        } else {
            EINVAL
        });
    }
    do_truncate(s, p, node, a[1])
}

/// fsync and fdatasync: the RAM filesystem has nothing to write back;
/// a bad descriptor is still EBADF and a pipe or the console EINVAL.
pub fn fsync(_: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    match fd_of(p, a[0])?.kind() {
        FdKind::Pipe { .. } | FdKind::Console => Err(EINVAL),
        _ => Ok(0),
    }
}

/// sync: nothing to write back.
pub fn sync(_: &mut Shim, _: &mut Process, _: &Args) -> SysResult {
    Ok(0)
}

pub fn syncfs(_: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    fd_of(p, a[0]).map(|_| 0)
}

/// The RAM filesystem as statfs describes it (tmpfs's magic): blocks are
/// the file pool's pages, files its inodes.
fn statfs_of(s: &Shim, proc: bool) -> Statfs {
    let total = s.fs.pool_pages as u64;
    let free = total.saturating_sub(s.fs.pool_used as u64);
    let files = crate::fs::MAX_INODES as u64;
    let ffree = files.saturating_sub(s.fs.count() as u64);
    Statfs {
        f_type: if proc { 0x9fa0 } else { 0x0102_1994 },
        f_bsize: 4096,
        f_blocks: if proc { 0 } else { total },
        f_bfree: if proc { 0 } else { free },
        f_bavail: if proc { 0 } else { free },
        f_files: if proc { 0 } else { files },
        f_ffree: if proc { 0 } else { ffree },
        f_fsid: [0, 0],
        f_namelen: NAME_MAX as i64,
        f_frsize: 4096,
        f_flags: 0x20, // ST_NOSUID... kept simple: ST_RELATIME
        f_spare: [0; 4],
    }
}

pub fn statfs(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let node = inode_at(s, p, CWD, a[0], 0)?;
    let st = statfs_of(s, s.in_proc(node));
    s.put(p, a[1], &st)?;
    Ok(0)
}

pub fn fstatfs(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let f = fd_of(p, a[0])?;
    let proc = match f.kind() {
        FdKind::File { node } | FdKind::Dir { node } => s.in_proc(node),
        FdKind::Text { .. } => true,
        _ => false,
    };
    let st = statfs_of(s, proc);
    s.put(p, a[1], &st)?;
    Ok(0)
}
