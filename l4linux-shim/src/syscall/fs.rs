//! Files and descriptors: read/write and their vector and positioned
//! forms, open/openat/close, lseek, the stat family, getdents64, ioctl on
//! access, readlink, getcwd/chdir, fcntl and sendfile.

use alloc::vec;
use alloc::vec::Vec;

use super::Args;
use crate::Shim;
use crate::fd::{Fd, FdKind, MAX_FDS};
use crate::fs::{Device, Kind, PATH_MAX};
use crate::linux::errno::*;
use crate::linux::*;
use crate::process::Process;

/// Linux's cap on one read or write (`MAX_RW_COUNT`).
const MAX_RW: u64 = 0x7fff_f000;
/// Most vectors in one readv/writev (`UIO_MAXIOV`).
const IOV_MAX: u64 = 1024;

pub(super) fn fd_of(p: &Process, fd: u64) -> Result<Fd, i64> {
    p.fds
        .get(usize::try_from(fd).map_err(|_| EBADF)?)
        .copied()
        .flatten()
        .ok_or(EBADF)
}

fn set_pos(p: &mut Process, fd: u64, pos: u64) {
    if let Some(Some(f)) = p.fds.get_mut(fd as usize) {
        match &mut f.kind {
            FdKind::File { pos: at, .. } | FdKind::Dir { pos: at, .. } => *at = pos,
            _ => {}
        }
    }
}

fn readable(f: &Fd) -> bool {
    f.flags & O_ACCMODE != O_WRONLY
}

fn writable(f: &Fd) -> bool {
    matches!(f.flags & O_ACCMODE, O_WRONLY | O_RDWR)
}

/// Write `len` bytes at `buf` to descriptor `f`: the count written, or
/// the error if nothing was.
fn write_to(s: &mut Shim, p: &mut Process, f: Fd, buf: u64, len: u64) -> SysResult {
    if !writable(&f) {
        return Err(EBADF);
    }
    if !Process::range_ok(buf, len) {
        return Err(EFAULT);
    }
    let len = len.min(MAX_RW);
    match f.kind {
        FdKind::Console | FdKind::Null | FdKind::Zero => {
            let mut done = 0u64;
            let mut chunk = vec![0u8; 4096];
            while done < len {
                let n = (len - done).min(4096) as usize;
                if let Err(e) = s.copy_in(p, buf + done, &mut chunk[..n]) {
                    return if done > 0 { Ok(done) } else { Err(e) };
                }
                if matches!(f.kind, FdKind::Console) {
                    s.tty_write(&chunk[..n]);
                }
                done += n as u64;
            }
            Ok(done)
        }
        FdKind::File { .. } => Err(EROFS),
        FdKind::Dir { .. } => Err(EISDIR),
        // From writev: as if O_NONBLOCK (only `write` blocks).
        FdKind::Pipe { id } => s.pipe_call(p, id, true, O_NONBLOCK, buf, len),
    }
}

/// Read up to `len` bytes of descriptor `f` (at `at`, or its position)
/// into `buf`; returns the count and the new position.
fn read_from(
    s: &mut Shim,
    p: &mut Process,
    f: Fd,
    buf: u64,
    len: u64,
    at: Option<u64>,
) -> Result<(u64, u64), i64> {
    if !readable(&f) {
        return Err(EBADF);
    }
    if !Process::range_ok(buf, len) {
        return Err(EFAULT);
    }
    let len = len.min(MAX_RW);
    match f.kind {
        FdKind::File { node, pos } => {
            let Kind::File(data) = s.fs.nodes[node].kind else {
                return Err(EINVAL);
            };
            let from = at.unwrap_or(pos);
            let start = (from.min(data.len() as u64)) as usize;
            let n = (data.len() - start).min(len as usize);
            s.copy_out(p, buf, &data[start..start + n])?;
            Ok((n as u64, from + n as u64))
        }
        // From readv: what is there, as if O_NONBLOCK (only `read` blocks).
        FdKind::Console => {
            let now = s.nanos();
            match s.tty_try_read(p, buf, len, now, now, &mut None) {
                Some(r) => r.map(|n| (n, 0)),
                None => Err(EAGAIN),
            }
        }
        FdKind::Null => Ok((0, 0)),
        FdKind::Zero => {
            let n = len.min(1 << 20);
            let zeros = vec![0u8; n as usize];
            s.copy_out(p, buf, &zeros)?;
            Ok((n, 0))
        }
        FdKind::Dir { .. } => Err(EISDIR),
        // From readv: as if O_NONBLOCK (only `read` blocks).
        FdKind::Pipe { id } => s
            .pipe_call(p, id, false, O_NONBLOCK, buf, len)
            .map(|n| (n, 0)),
    }
}

pub fn read(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let f = fd_of(p, a[0])?;
    if let FdKind::Pipe { id } = f.kind
        && readable(&f)
    {
        if !Process::range_ok(a[1], a[2]) {
            return Err(EFAULT);
        }
        return s.pipe_call(p, id, false, f.flags, a[1], a[2].min(MAX_RW));
    }
    if at_dir(&f) {
        return Err(EISDIR);
    }
    if matches!(f.kind, FdKind::Console) && readable(&f) {
        return s.tty_read(p, &f, a[1], a[2]);
    }
    let (n, pos) = read_from(s, p, f, a[1], a[2], None)?;
    set_pos(p, a[0], pos);
    Ok(n)
}

fn at_dir(f: &Fd) -> bool {
    matches!(f.kind, FdKind::Dir { .. })
}

pub fn write(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let f = fd_of(p, a[0])?;
    if let FdKind::Pipe { id } = f.kind
        && writable(&f)
    {
        if !Process::range_ok(a[1], a[2]) {
            return Err(EFAULT);
        }
        return s.pipe_call(p, id, true, f.flags, a[1], a[2].min(MAX_RW));
    }
    write_to(s, p, f, a[1], a[2])
}

pub fn pread64(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let f = fd_of(p, a[0])?;
    if (a[3] as i64) < 0 {
        return Err(EINVAL);
    }
    match f.kind {
        FdKind::File { .. } => read_from(s, p, f, a[1], a[2], Some(a[3])).map(|(n, _)| n),
        FdKind::Dir { .. } => Err(EISDIR),
        _ => Err(ESPIPE),
    }
}

fn iovecs(s: &mut Shim, p: &mut Process, iov: u64, count: u64) -> Result<Vec<Iovec>, i64> {
    if count > IOV_MAX {
        return Err(EINVAL);
    }
    let mut v = Vec::new();
    let mut total = 0u64;
    for i in 0..count {
        let e: Iovec = s.get(p, iov.checked_add(i * 16).ok_or(EFAULT)?)?;
        total = total.checked_add(e.len).ok_or(EINVAL)?;
        if e.len as i64 as i128 > isize::MAX as i128 || total > isize::MAX as u64 {
            return Err(EINVAL);
        }
        v.push(e);
    }
    Ok(v)
}

pub fn readv(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let f = fd_of(p, a[0])?;
    let v = iovecs(s, p, a[1], a[2])?;
    let mut done = 0;
    for e in v {
        let f = fd_of(p, a[0])?;
        match read_from(s, p, f, e.base, e.len, None) {
            Ok((n, pos)) => {
                set_pos(p, a[0], pos);
                done += n;
                if n < e.len {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    let _ = f;
    Ok(done)
}

pub fn writev(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let f = fd_of(p, a[0])?;
    let v = iovecs(s, p, a[1], a[2])?;
    let mut done = 0;
    for e in v {
        match write_to(s, p, f, e.base, e.len) {
            Ok(n) => done += n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// The directory a `*at` call starts from: the cwd for AT_FDCWD or an
/// absolute path, else the directory descriptor `dirfd`.
fn base_dir(p: &Process, dirfd: u64, path: &[u8]) -> Result<usize, i64> {
    if path.first() == Some(&b'/') || dirfd as i64 as i32 == AT_FDCWD as i32 {
        return Ok(p.cwd);
    }
    match fd_of(p, dirfd)?.kind {
        FdKind::Dir { node, .. } => Ok(node),
        _ => Err(ENOTDIR),
    }
}

fn path_arg(s: &mut Shim, p: &mut Process, addr: u64) -> Result<Vec<u8>, i64> {
    s.cstr(p, addr, PATH_MAX - 1)
}

fn install(p: &mut Process, fd: Fd, min: usize) -> SysResult {
    let slot = (min..MAX_FDS).find(|&i| p.fds.get(i).is_none_or(|f| f.is_none()));
    let Some(i) = slot else { return Err(EMFILE) };
    if p.fds.len() <= i {
        p.fds.resize(i + 1, None);
    }
    p.fds[i] = Some(fd);
    Ok(i as u64)
}

fn do_open(s: &mut Shim, p: &mut Process, dirfd: u64, path: u64, flags: u64) -> SysResult {
    let path = path_arg(s, p, path)?;
    let base = base_dir(p, dirfd, &path)?;
    let node = match s.fs.lookup(base, &path, flags & O_NOFOLLOW == 0) {
        Ok(n) => n,
        Err(ENOENT) if flags & O_CREAT != 0 => return Err(EROFS),
        Err(e) => return Err(e),
    };
    let n = &s.fs.nodes[node];
    let wants_write = flags & O_ACCMODE != 0 || flags & O_TRUNC != 0;
    let kind = match n.kind {
        Kind::Dir(_) => {
            if wants_write {
                return Err(EISDIR);
            }
            FdKind::Dir { node, pos: 0 }
        }
        Kind::File(_) => {
            if flags & O_DIRECTORY != 0 {
                return Err(ENOTDIR);
            }
            if wants_write {
                return Err(EROFS);
            }
            FdKind::File { node, pos: 0 }
        }
        Kind::Symlink(_) => return Err(ELOOP),
        Kind::Dev(dev, _) => {
            if flags & O_DIRECTORY != 0 {
                return Err(ENOTDIR);
            }
            match dev {
                Device::Console => FdKind::Console,
                Device::Null => FdKind::Null,
                Device::Zero => FdKind::Zero,
                Device::Other => return Err(ENODEV),
            }
        }
    };
    install(
        p,
        Fd {
            kind,
            flags: flags & !O_CLOEXEC,
            cloexec: flags & O_CLOEXEC != 0,
        },
        0,
    )
}

pub fn open(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_open(s, p, AT_FDCWD as u64, a[0], a[1])
}

pub fn openat(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_open(s, p, a[0], a[1], a[2])
}

pub fn close(_: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    fd_of(p, a[0])?;
    p.fds[a[0] as usize] = None;
    Ok(0)
}

pub fn lseek(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let f = fd_of(p, a[0])?;
    let (off, whence) = (a[1] as i64, a[2]);
    let (pos, size) = match f.kind {
        FdKind::File { node, pos } => (pos, s.fs.size(node)),
        FdKind::Dir { pos, .. } => (pos, 0),
        FdKind::Null | FdKind::Zero => return Ok(0),
        FdKind::Console | FdKind::Pipe { .. } => return Err(ESPIPE),
    };
    let new = match whence {
        0 => Some(off),
        1 => (pos as i64).checked_add(off),
        2 => (size as i64).checked_add(off),
        // SEEK_DATA, SEEK_HOLE: a RAM file is all data.
        3 if off >= 0 && (off as u64) < size => Some(off),
        4 if off >= 0 && (off as u64) < size => Some(size as i64),
        3 | 4 => return Err(6), // ENXIO
        _ => return Err(EINVAL),
    };
    let new = new.filter(|&n| n >= 0).ok_or(EINVAL)?;
    set_pos(p, a[0], new as u64);
    Ok(new as u64)
}

fn stat_of(s: &Shim, node: usize) -> Stat {
    let n = &s.fs.nodes[node];
    let size = s.fs.size(node);
    Stat {
        st_dev: 1,
        st_ino: node as u64 + 1,
        st_nlink: if matches!(n.kind, Kind::Dir(_)) { 2 } else { 1 },
        st_mode: n.mode,
        st_rdev: match n.kind {
            Kind::Dev(_, rdev) => rdev,
            _ => 0,
        },
        st_size: size as i64,
        st_blksize: 4096,
        st_blocks: size.div_ceil(512) as i64,
        ..Stat::default()
    }
}

fn stat_of_fd(s: &Shim, f: &Fd) -> Stat {
    match f.kind {
        FdKind::File { node, .. } | FdKind::Dir { node, .. } => stat_of(s, node),
        FdKind::Pipe { id } => Stat {
            st_dev: 2,
            st_ino: id as u64 + 1,
            st_mode: S_IFIFO | 0o600,
            st_blksize: 4096,
            st_nlink: 1,
            ..Stat::default()
        },
        FdKind::Console => Stat {
            st_dev: 1,
            st_mode: S_IFCHR | 0o620,
            st_rdev: 0x501,
            st_blksize: 1024,
            st_nlink: 1,
            ..Stat::default()
        },
        FdKind::Null | FdKind::Zero => Stat {
            st_dev: 1,
            st_mode: S_IFCHR | 0o666,
            st_rdev: if matches!(f.kind, FdKind::Null) {
                0x103
            } else {
                0x105
            },
            st_blksize: 4096,
            st_nlink: 1,
            ..Stat::default()
        },
    }
}

fn do_stat(
    s: &mut Shim,
    p: &mut Process,
    dirfd: u64,
    path: u64,
    buf: u64,
    flags: u64,
) -> SysResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x800) != 0 {
        return Err(EINVAL);
    }
    let path = path_arg(s, p, path)?;
    let st = if path.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(ENOENT);
        }
        if dirfd as i64 as i32 == AT_FDCWD as i32 {
            stat_of(s, p.cwd)
        } else {
            let f = fd_of(p, dirfd)?;
            stat_of_fd(s, &f)
        }
    } else {
        let base = base_dir(p, dirfd, &path)?;
        let node = s.fs.lookup(base, &path, flags & AT_SYMLINK_NOFOLLOW == 0)?;
        stat_of(s, node)
    };
    s.put(p, buf, &st)?;
    Ok(0)
}

pub fn stat(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_stat(s, p, AT_FDCWD as u64, a[0], a[1], 0)
}

pub fn lstat(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_stat(s, p, AT_FDCWD as u64, a[0], a[1], AT_SYMLINK_NOFOLLOW)
}

pub fn newfstatat(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_stat(s, p, a[0], a[1], a[2], a[3])
}

pub fn fstat(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let f = fd_of(p, a[0])?;
    let st = stat_of_fd(s, &f);
    s.put(p, a[1], &st)?;
    Ok(0)
}

pub fn getdents64(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let f = fd_of(p, a[0])?;
    let FdKind::Dir { node, pos } = f.kind else {
        return Err(ENOTDIR);
    };
    let (buf, count) = (a[1], a[2].min(MAX_RW));
    if !Process::range_ok(buf, count) {
        return Err(EFAULT);
    }
    let Kind::Dir(children) = &s.fs.nodes[node].kind else {
        return Err(ENOTDIR);
    };
    let parent = s.fs.nodes[node].parent;
    let mut out: Vec<u8> = Vec::new();
    let mut at = pos;
    loop {
        let (name, ino, dtype): (&[u8], usize, u8) = match at {
            0 => (b".", node, 4),
            1 => (b"..", parent, 4),
            i => match children.get(i as usize - 2) {
                Some(&c) => {
                    let n = &s.fs.nodes[c];
                    let t = match n.kind {
                        Kind::Dir(_) => 4,
                        Kind::File(_) => 8,
                        Kind::Symlink(_) => 10,
                        Kind::Dev(..) => 2,
                    };
                    (n.name.as_bytes(), c, t)
                }
                None => break,
            },
        };
        let reclen = (19 + name.len() + 1).next_multiple_of(8);
        if out.len() + reclen > count as usize {
            if out.is_empty() {
                return Err(EINVAL);
            }
            break;
        }
        let d = Dirent64 {
            d_ino: ino as u64 + 1,
            d_off: at as i64 + 1,
            d_reclen: reclen as u16,
            d_type: dtype,
        };
        let start = out.len();
        out.extend_from_slice(bytemuck::bytes_of(&d));
        out.extend_from_slice(name);
        out.resize(start + reclen, 0);
        at += 1;
    }
    s.copy_out(p, buf, &out)?;
    set_pos(p, a[0], at);
    Ok(out.len() as u64)
}

fn do_access(
    s: &mut Shim,
    p: &mut Process,
    dirfd: u64,
    path: u64,
    mode: u64,
    flags: u64,
) -> SysResult {
    if mode & !7 != 0 || flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x200) != 0 {
        return Err(EINVAL);
    }
    let path = path_arg(s, p, path)?;
    let base = base_dir(p, dirfd, &path)?;
    let node = s.fs.lookup(base, &path, flags & AT_SYMLINK_NOFOLLOW == 0)?;
    let n = &s.fs.nodes[node];
    if mode & 2 != 0 && !matches!(n.kind, Kind::Dev(..)) {
        return Err(EROFS);
    }
    // Processes run as root: execute needs some execute bit.
    if mode & 1 != 0 && !matches!(n.kind, Kind::Dir(_)) && n.mode & 0o111 == 0 {
        return Err(EACCES);
    }
    Ok(0)
}

pub fn access(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_access(s, p, AT_FDCWD as u64, a[0], a[1], 0)
}

pub fn faccessat(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_access(s, p, a[0], a[1], a[2], 0)
}

fn do_readlink(
    s: &mut Shim,
    p: &mut Process,
    dirfd: u64,
    path: u64,
    buf: u64,
    size: u64,
) -> SysResult {
    if size as i64 <= 0 {
        return Err(EINVAL);
    }
    let path = path_arg(s, p, path)?;
    let target: Vec<u8> = if path == b"/proc/self/exe" {
        p.exe.as_bytes().to_vec()
    } else {
        let base = base_dir(p, dirfd, &path)?;
        let node = s.fs.lookup(base, &path, false)?;
        match s.fs.nodes[node].kind {
            Kind::Symlink(t) => t.to_vec(),
            _ => return Err(EINVAL),
        }
    };
    let n = target.len().min(size as usize);
    s.copy_out(p, buf, &target[..n])?;
    Ok(n as u64)
}

pub fn readlink(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_readlink(s, p, AT_FDCWD as u64, a[0], a[1], a[2])
}

pub fn readlinkat(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_readlink(s, p, a[0], a[1], a[2], a[3])
}

pub fn getcwd(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let mut path = s.fs.path_of(p.cwd).into_bytes();
    path.push(0);
    if (a[1] as usize) < path.len() {
        return Err(ERANGE);
    }
    s.copy_out(p, a[0], &path)?;
    Ok(path.len() as u64)
}

pub fn chdir(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let path = path_arg(s, p, a[0])?;
    let node = s.fs.lookup(p.cwd, &path, true)?;
    if !matches!(s.fs.nodes[node].kind, Kind::Dir(_)) {
        return Err(ENOTDIR);
    }
    p.cwd = node;
    Ok(0)
}

const F_DUPFD: u64 = 0;
const F_GETFD: u64 = 1;
const F_SETFD: u64 = 2;
const F_GETFL: u64 = 3;
const F_SETFL: u64 = 4;
const F_DUPFD_CLOEXEC: u64 = 1030;

pub fn fcntl(_: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let f = fd_of(p, a[0])?;
    let i = a[0] as usize;
    match a[1] {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            if a[2] >= MAX_FDS as u64 {
                return Err(EINVAL);
            }
            let dup = Fd {
                cloexec: a[1] == F_DUPFD_CLOEXEC,
                ..f
            };
            install(p, dup, a[2] as usize)
        }
        F_GETFD => Ok(u64::from(f.cloexec)),
        F_SETFD => {
            if let Some(Some(f)) = p.fds.get_mut(i) {
                f.cloexec = a[2] & 1 != 0;
            }
            Ok(0)
        }
        F_GETFL => Ok(f.flags),
        F_SETFL => {
            // Only O_APPEND, O_NONBLOCK and friends change; the access mode stays.
            if let Some(Some(f)) = p.fds.get_mut(i) {
                f.flags = (f.flags & O_ACCMODE) | (a[2] & 0o4002000 & !O_ACCMODE);
            }
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

pub fn sendfile(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let out = fd_of(p, a[0])?;
    let inp = fd_of(p, a[1])?;
    if !writable(&out) || !readable(&inp) {
        return Err(EBADF);
    }
    let FdKind::File { node, pos } = inp.kind else {
        return Err(EINVAL);
    };
    let Kind::File(data) = s.fs.nodes[node].kind else {
        return Err(EINVAL);
    };
    let from = if a[2] != 0 {
        let off: i64 = s.get(p, a[2])?;
        if off < 0 {
            return Err(EINVAL);
        }
        off as u64
    } else {
        pos
    };
    let start = from.min(data.len() as u64) as usize;
    let n = (data.len() - start).min(a[3].min(MAX_RW) as usize);
    match out.kind {
        FdKind::Console => s.tty_write(&data[start..start + n]),
        FdKind::Null => {}
        _ => return Err(EINVAL),
    }
    if a[2] != 0 {
        s.put(p, a[2], &((from + n as u64) as i64))?;
    } else {
        set_pos(p, a[1], from + n as u64);
    }
    Ok(n as u64)
}

pub fn pipe(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    pipe2(s, p, &[a[0], 0, 0, 0, 0, 0])
}

pub fn pipe2(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    if a[1] & !(O_CLOEXEC | O_NONBLOCK) != 0 {
        return Err(EINVAL);
    }
    // Check the pointer before anything is made (Linux: EFAULT, no fds).
    let fds_at = a[0];
    s.put(p, fds_at, &[0i32; 2])?;
    let id = s.new_pipe(p)?;
    let end = |mode| Fd {
        kind: FdKind::Pipe { id },
        flags: mode | (a[1] & O_NONBLOCK),
        cloexec: a[1] & O_CLOEXEC != 0,
    };
    let r = install(p, end(O_RDONLY), 0)?;
    let w = match install(p, end(O_WRONLY), 0) {
        Ok(w) => w,
        Err(e) => {
            p.fds[r as usize] = None;
            return Err(e);
        }
    };
    s.put(p, fds_at, &[r as i32, w as i32])?;
    Ok(0)
}

pub fn dup(_: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let f = fd_of(p, a[0])?;
    install(
        p,
        Fd {
            cloexec: false,
            ..f
        },
        0,
    )
}

fn dup_to(p: &mut Process, old: u64, new: u64, cloexec: bool) -> SysResult {
    let f = fd_of(p, old)?;
    if new >= MAX_FDS as u64 {
        return Err(EBADF);
    }
    let i = new as usize;
    if p.fds.len() <= i {
        p.fds.resize(i + 1, None);
    }
    p.fds[i] = Some(Fd { cloexec, ..f });
    Ok(new)
}

pub fn dup2(_: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    if a[0] == a[1] {
        // Linux: the same descriptor back if it is open, else EBADF.
        return fd_of(p, a[0]).map(|_| a[1]);
    }
    dup_to(p, a[0], a[1], false)
}

pub fn dup3(_: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    if a[2] & !O_CLOEXEC != 0 || a[0] == a[1] {
        return Err(EINVAL);
    }
    dup_to(p, a[0], a[1], a[2] & O_CLOEXEC != 0)
}
