//! Files and descriptors: read/write and their vector and positioned
//! forms, open/openat/close, lseek, the stat family, getdents64, ioctl on
//! access, readlink, getcwd/chdir, fcntl and sendfile.

use alloc::vec;
use alloc::vec::Vec;

use super::Args;
use crate::Shim;
use crate::fd::{Fd, FdKind, Text};
use crate::fs::{Data, Device, Kind, PATH_MAX, ProcFile};
use crate::linux::errno::*;
use crate::linux::*;
use crate::process::Process;
use alloc::rc::Rc;

/// Linux's cap on one read or write (`MAX_RW_COUNT`).
const MAX_RW: u64 = 0x7fff_f000;
/// Most vectors in one readv/writev (`UIO_MAXIOV`).
const IOV_MAX: u64 = 1024;

pub(super) fn fd_of(p: &Process, fd: u64) -> Result<Fd, i64> {
    p.fds
        .get(usize::try_from(fd).map_err(|_| EBADF)?)
        .cloned()
        .flatten()
        .ok_or(EBADF)
}

pub(super) fn readable(flags: u64) -> bool {
    flags & O_ACCMODE != O_WRONLY && flags & O_PATH == 0
}

fn writable(flags: u64) -> bool {
    matches!(flags & O_ACCMODE, O_WRONLY | O_RDWR) && flags & O_PATH == 0
}

/// Linux's `rw_verify_area` for `count` bytes at `pos` of a file that
/// has a position: EINVAL if the count is negative as a signed size, or
/// the transfer would run past the largest offset.
fn verify_area(pos: u64, count: u64) -> Result<(), i64> {
    let (pos, count) = (pos as i64, count as i64);
    if count < 0 || pos < 0 || pos.checked_add(count).is_none() {
        return Err(EINVAL);
    }
    Ok(())
}

/// Bytes moved between process memory and a file per step.
const CHUNK: usize = 16 << 10;

/// Write `len` bytes at `buf` to descriptor `f`, at `at` (pwrite) or at
/// the open file's offset (which moves; with O_APPEND, the end of the
/// file first): the count written, or the error if nothing was.
fn write_to(
    s: &mut Shim,
    p: &mut Process,
    f: &Fd,
    buf: u64,
    len: u64,
    at: Option<u64>,
) -> SysResult {
    if !writable(f.flags()) {
        return Err(EBADF);
    }
    if !Process::range_ok(buf, len) {
        return Err(EFAULT);
    }
    if let FdKind::File { .. } = f.kind() {
        verify_area(at.unwrap_or_else(|| f.pos()), len)?;
    }
    let len = len.min(MAX_RW);
    match f.kind() {
        // Linux's /dev/null and /dev/zero take the count without reading
        // the buffer.
        FdKind::Null | FdKind::Zero => Ok(len),
        FdKind::Console if f.hung_up() => Err(EIO),
        FdKind::Console => {
            // A chunk that cannot be read whole is not written (Linux's
            // tty_write): the count so far, or the error.
            let mut done = 0u64;
            let mut chunk = vec![0u8; 4096];
            while done < len {
                let n = (len - done).min(4096) as usize;
                if let Err(e) = s.copy_in(p, buf + done, &mut chunk[..n]) {
                    return if done > 0 { Ok(done) } else { Err(e) };
                }
                s.tty_write(&chunk[..n]);
                done += n as u64;
            }
            Ok(done)
        }
        FdKind::File { node } => {
            s.stamp();
            let mut pos = match at {
                Some(at) => at,
                None if f.flags() & O_APPEND != 0 => s.fs.size(node),
                None => f.pos(),
            };
            let mut done = 0u64;
            let mut chunk = vec![0u8; (len as usize).min(CHUNK)];
            while done < len {
                let want = (len - done).min(CHUNK as u64) as usize;
                // What can be read of the buffer is written (Linux's
                // generic_perform_write stops at the first fault).
                let (n, short) = match s.copy_in_part(p, buf + done, &mut chunk[..want]) {
                    Ok(()) => (want, None),
                    Err(short) => (short.done, Some(short)),
                };
                if let Some(short) = short
                    && n == 0
                {
                    if done > 0 {
                        break;
                    }
                    return Err(short.err);
                }
                let wrote = match s.fs.write(node, pos, &chunk[..n]) {
                    Err(ENOSPC) => {
                        // Orphans may hold pages: free them and try again.
                        s.fs_sweep(p);
                        s.fs.write(node, pos, &chunk[..n])
                    }
                    r => r,
                };
                match wrote {
                    Ok(w) => {
                        done += w as u64;
                        pos += w as u64;
                        if w < want {
                            break;
                        }
                    }
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                }
            }
            if at.is_none() {
                f.set_pos(pos);
            }
            Ok(done)
        }
        FdKind::Dir { .. } => Err(EISDIR),
        FdKind::Text { .. } => Err(EBADF),
        // From writev: as if O_NONBLOCK (only `write` blocks).
        FdKind::Pipe { id } => s.pipe_call(p, id, true, O_NONBLOCK, buf, len),
    }
}

/// Read up to `len` bytes of descriptor `f` into `buf`, at `at` (pread)
/// or at the open file's offset (which moves): the count.
fn read_from(
    s: &mut Shim,
    p: &mut Process,
    f: &Fd,
    buf: u64,
    len: u64,
    at: Option<u64>,
) -> SysResult {
    if !readable(f.flags()) {
        return Err(EBADF);
    }
    if !Process::range_ok(buf, len) {
        return Err(EFAULT);
    }
    if let FdKind::File { .. } | FdKind::Text { .. } = f.kind() {
        verify_area(at.unwrap_or_else(|| f.pos()), len)?;
    }
    let len = len.min(MAX_RW);
    match f.kind() {
        FdKind::File { .. } | FdKind::Text { .. } => {
            let mut pos = at.unwrap_or_else(|| f.pos());
            let mut done = 0u64;
            let mut chunk = vec![0u8; (len as usize).min(CHUNK)];
            while done < len {
                let want = (len - done).min(CHUNK as u64) as usize;
                let n = match f.kind() {
                    FdKind::File { node } => s.fs.read(node, pos, &mut chunk[..want]),
                    FdKind::Text { data } => {
                        let start = pos.min(data.len() as u64) as usize;
                        let n = (data.len() - start).min(want);
                        chunk[..n].copy_from_slice(&data[start..start + n]);
                        n
                    }
                    _ => 0,
                };
                if n == 0 {
                    break;
                }
                // Linux copies up to the first fault and counts that.
                if let Err(short) = s.copy_out_part(p, buf + done, &chunk[..n]) {
                    let moved = short.done as u64;
                    if done + moved == 0 {
                        return Err(short.err);
                    }
                    done += moved;
                    pos += moved;
                    break;
                }
                done += n as u64;
                pos += n as u64;
            }
            if at.is_none() {
                f.set_pos(pos);
            }
            Ok(done)
        }
        FdKind::Console if f.hung_up() => Ok(0),
        // From readv: what is there, as if O_NONBLOCK (only `read` blocks).
        FdKind::Console => {
            let now = s.nanos();
            match s.tty_try_read(p, buf, len, now, now, &mut None) {
                Some(r) => r,
                None => Err(EAGAIN),
            }
        }
        FdKind::Null => Ok(0),
        FdKind::Zero => {
            let n = len.min(1 << 20);
            let zeros = vec![0u8; n as usize];
            match s.copy_out_part(p, buf, &zeros) {
                Ok(()) => Ok(n),
                Err(short) => short.count(0),
            }
        }
        FdKind::Dir { .. } => Err(EISDIR),
        // From readv: as if O_NONBLOCK (only `read` blocks).
        FdKind::Pipe { id } => s.pipe_call(p, id, false, O_NONBLOCK, buf, len),
    }
}

pub fn read(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let f = fd_of(p, a[0])?;
    if let FdKind::Pipe { id } = f.kind()
        && readable(f.flags())
    {
        if !Process::range_ok(a[1], a[2]) {
            return Err(EFAULT);
        }
        return s.pipe_call(p, id, false, f.flags(), a[1], a[2].min(MAX_RW));
    }
    if matches!(f.kind(), FdKind::Console) && readable(f.flags()) {
        if f.hung_up() {
            return Ok(0);
        }
        return s.tty_read(p, &f, a[1], a[2]);
    }
    read_from(s, p, &f, a[1], a[2], None)
}

pub fn write(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let f = fd_of(p, a[0])?;
    if let FdKind::Pipe { id } = f.kind()
        && writable(f.flags())
    {
        if !Process::range_ok(a[1], a[2]) {
            return Err(EFAULT);
        }
        return s.pipe_call(p, id, true, f.flags(), a[1], a[2].min(MAX_RW));
    }
    if let Some(r) = tostop(s, p, &f) {
        return r;
    }
    write_to(s, p, &f, a[1], a[2], None)
}

/// A write to the terminal by a background process while TOSTOP is set
/// stops its group (`Shim::tty_background`): its answer if so.
fn tostop(s: &mut Shim, p: &mut Process, f: &Fd) -> Option<SysResult> {
    if matches!(f.kind(), FdKind::Console) && writable(f.flags()) && !f.hung_up() && s.tty.tostop()
    {
        s.tty_background(p, crate::signal::SIGTTOU)
    } else {
        None
    }
}

/// The descriptor and offset of pread64/pwrite64 and friends, checked
/// in Linux's order: a negative offset is EINVAL before the descriptor
/// is looked up (EBADF), then ESPIPE for what cannot be read or written
/// at an offset (pipes, the console). The access mode and the buffer
/// come after, in `read_from`/`write_to`.
fn positioned(p: &Process, fd: u64, off: u64) -> Result<(Fd, u64), i64> {
    if (off as i64) < 0 {
        return Err(EINVAL);
    }
    let f = fd_of(p, fd)?;
    match f.kind() {
        FdKind::Pipe { .. } | FdKind::Console => Err(ESPIPE),
        _ => Ok((f, off)),
    }
}

/// Where a positioned write goes: at `at`, or at the end for an
/// O_APPEND file (Linux appends whatever the offset).
fn write_at(f: &Fd, at: u64) -> Option<u64> {
    (f.flags() & O_APPEND == 0).then_some(at)
}

pub fn pread64(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let (f, at) = positioned(p, a[0], a[3])?;
    read_from(s, p, &f, a[1], a[2], Some(at))
}

pub fn pwrite64(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let (f, at) = positioned(p, a[0], a[3])?;
    write_to(s, p, &f, a[1], a[2], write_at(&f, at))
}

/// The vectors at `iov` and their total length.
fn iovecs(s: &mut Shim, p: &mut Process, iov: u64, count: u64) -> Result<(Vec<Iovec>, u64), i64> {
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
    Ok((v, total))
}

/// One descriptor's transfer of one buffer: `read_from` or `write_to`.
type Transfer = fn(&mut Shim, &mut Process, &Fd, u64, u64, Option<u64>) -> SysResult;

/// readv, writev, preadv and pwritev: each vector is moved in turn
/// (`at`: the offset, moving along the vectors) until one comes up
/// short; an error is the answer only if nothing moved. The access mode
/// is checked before the vectors are read, as Linux does; a write of
/// something to the terminal is checked against TOSTOP once, after them.
fn transfer_vec(
    s: &mut Shim,
    p: &mut Process,
    fd: u64,
    iov: u64,
    count: u64,
    mut at: Option<u64>,
    write: bool,
) -> SysResult {
    let (allowed, xfer): (fn(u64) -> bool, Transfer) = if write {
        (writable, write_to)
    } else {
        (readable, read_from)
    };
    let f = fd_of(p, fd)?;
    if !allowed(f.flags()) {
        return Err(EBADF);
    }
    let (v, total) = iovecs(s, p, iov, count)?;
    if write
        && total > 0
        && let Some(r) = tostop(s, p, &f)
    {
        return r;
    }
    // Linux checks the whole transfer against the largest offset once.
    if let FdKind::File { .. } | FdKind::Text { .. } = f.kind() {
        verify_area(at.unwrap_or_else(|| f.pos()), total)?;
    }
    let mut done = 0;
    for e in v {
        match xfer(s, p, &f, e.base, e.len, at) {
            Ok(n) => {
                done += n;
                at = at.map(|a| a + n);
                if n < e.len {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

fn read_vec(
    s: &mut Shim,
    p: &mut Process,
    fd: u64,
    iov: u64,
    n: u64,
    at: Option<u64>,
) -> SysResult {
    transfer_vec(s, p, fd, iov, n, at, false)
}

fn write_vec(
    s: &mut Shim,
    p: &mut Process,
    fd: u64,
    iov: u64,
    n: u64,
    at: Option<u64>,
) -> SysResult {
    transfer_vec(s, p, fd, iov, n, at, true)
}

pub fn readv(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    read_vec(s, p, a[0], a[1], a[2], None)
}

pub fn writev(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    write_vec(s, p, a[0], a[1], a[2], None)
}

pub fn preadv(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let (_, at) = positioned(p, a[0], a[3])?;
    read_vec(s, p, a[0], a[1], a[2], Some(at))
}

pub fn pwritev(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let (f, at) = positioned(p, a[0], a[3])?;
    write_vec(s, p, a[0], a[1], a[2], write_at(&f, at))
}

/// The directory a `*at` call starts from: the cwd for AT_FDCWD or an
/// absolute path, else the directory descriptor `dirfd`.
pub(super) fn base_dir(p: &Process, dirfd: u64, path: &[u8]) -> Result<usize, i64> {
    if path.first() == Some(&b'/') || dirfd as i64 as i32 == AT_FDCWD as i32 {
        return Ok(p.cwd);
    }
    match fd_of(p, dirfd)?.kind() {
        FdKind::Dir { node } => Ok(node),
        _ => Err(ENOTDIR),
    }
}

/// A path argument; `/proc` is brought up to date first if it may be
/// named.
pub(super) fn path_arg(s: &mut Shim, p: &mut Process, addr: u64) -> Result<Vec<u8>, i64> {
    let path = s.cstr(p, addr, PATH_MAX - 1)?;
    s.fs.self_pid = p.pid;
    if path.windows(4).any(|w| w == b"proc") || s.in_proc(p.cwd) {
        s.refresh_proc(p);
    }
    Ok(path)
}

pub(super) fn install(p: &mut Process, fd: Fd, min: usize) -> SysResult {
    let slot = (min..p.fd_limit()).find(|&i| p.fds.get(i).is_none_or(|f| f.is_none()));
    let Some(i) = slot else { return Err(EMFILE) };
    if p.fds.len() <= i {
        p.fds.resize(i + 1, None);
    }
    p.fds[i] = Some(fd);
    Ok(i as u64)
}

/// What Linux keeps of the open flags in the open file (`F_GETFL`):
/// not the creation flags, and with O_LARGEFILE on 64-bit.
fn kept_flags(flags: u64) -> u64 {
    (flags & !(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC)) | O_LARGEFILE
}

fn do_open(
    s: &mut Shim,
    p: &mut Process,
    dirfd: u64,
    path: u64,
    flags: u64,
    mode: u64,
) -> SysResult {
    let path = path_arg(s, p, path)?;
    let base = base_dir(p, dirfd, &path)?;
    if flags & O_TMPFILE == O_TMPFILE {
        return Err(EOPNOTSUPP);
    }
    s.stamp();
    let node = if flags & O_CREAT != 0 {
        let (dir, name, trailing) = s.fs.parent_and_name(base, &path)?;
        let Some(name) = name else {
            return Err(EISDIR);
        };
        match s.fs.child(dir, name) {
            Some(_) if flags & O_EXCL != 0 => return Err(EEXIST),
            Some(n) => {
                let n = if matches!(s.fs.node(n).kind, Kind::Symlink(_)) {
                    if flags & O_NOFOLLOW != 0 {
                        return Err(ELOOP);
                    }
                    s.fs.lookup(base, &path, true)?
                } else {
                    n
                };
                if s.fs.is_dir(n) {
                    return Err(EISDIR);
                }
                n
            }
            None if trailing => return Err(EISDIR),
            // /proc makes no files.
            None if s.in_proc(dir) => return Err(EACCES),
            None => {
                if s.fs.has_orphans() {
                    s.fs_sweep(p);
                }
                let perm = (mode & 0o7777 & !p.umask) as u32;
                s.fs.create(dir, name, S_IFREG | perm, Kind::File(Data::Packed(&[])))?
            }
        }
    } else {
        s.fs.lookup(base, &path, flags & O_NOFOLLOW == 0)?
    };
    let wants_write = flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0;
    let kind = match &s.fs.node(node).kind {
        Kind::Dir(_) => {
            if wants_write || flags & O_CREAT != 0 {
                return Err(EISDIR);
            }
            FdKind::Dir { node }
        }
        Kind::File(_) => {
            if flags & O_DIRECTORY != 0 {
                return Err(ENOTDIR);
            }
            if flags & O_TRUNC != 0 && flags & O_PATH == 0 {
                s.fs.truncate(node, 0)?;
            }
            FdKind::File { node }
        }
        Kind::Symlink(_) => return Err(ELOOP),
        Kind::Proc(f) => {
            if flags & O_DIRECTORY != 0 {
                return Err(ENOTDIR);
            }
            if wants_write {
                return Err(EACCES);
            }
            let f = *f;
            FdKind::Text {
                data: Rc::new(Text::new(s.proc_text(f, p))?),
            }
        }
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
        Fd::new(kind, kept_flags(flags), flags & O_CLOEXEC != 0),
        0,
    )
}

pub fn open(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_open(s, p, AT_FDCWD as u64, a[0], a[1], a[2])
}

pub fn openat(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_open(s, p, a[0], a[1], a[2], a[3])
}

pub fn creat(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_open(
        s,
        p,
        AT_FDCWD as u64,
        a[0],
        O_CREAT | O_WRONLY | O_TRUNC,
        a[1],
    )
}

pub fn close(_: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    fd_of(p, a[0])?;
    p.fds[a[0] as usize] = None;
    Ok(0)
}

pub fn lseek(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let f = fd_of(p, a[0])?;
    // Linux takes whence as an unsigned int and refuses one past
    // SEEK_HOLE before asking the file (a pipe's ESPIPE comes after).
    let (off, whence) = (a[1] as i64, a[2] as u32);
    if whence > 4 {
        return Err(EINVAL);
    }
    let size = match f.kind() {
        FdKind::File { node } => s.fs.size(node),
        FdKind::Text { data } => data.len() as u64,
        FdKind::Dir { .. } => 0,
        FdKind::Null | FdKind::Zero => return Ok(0),
        FdKind::Console | FdKind::Pipe { .. } => return Err(ESPIPE),
    };
    let pos = f.pos();
    let new = match whence {
        0 => Some(off),
        1 => (pos as i64).checked_add(off),
        2 => (size as i64).checked_add(off),
        // SEEK_DATA, SEEK_HOLE: holes are reported only at the end.
        3 if off >= 0 && (off as u64) < size => Some(off),
        4 if off >= 0 && (off as u64) < size => Some(size as i64),
        3 | 4 => return Err(ENXIO),
        _ => return Err(EINVAL),
    };
    let new = new.filter(|&n| n >= 0).ok_or(EINVAL)?;
    f.set_pos(new as u64);
    Ok(new as u64)
}

pub(super) fn stat_of(s: &Shim, node: usize) -> Stat {
    let n = s.fs.node(node);
    let size = s.fs.size(node);
    Stat {
        // /proc is a filesystem of its own (`df` tells mounts apart by it).
        st_dev: if s.in_proc(node) { 3 } else { 1 },
        st_ino: node as u64 + 1,
        st_nlink: u64::from(n.nlink),
        st_mode: n.mode,
        st_rdev: match n.kind {
            Kind::Dev(_, rdev) => rdev,
            _ => 0,
        },
        st_size: size as i64,
        st_blksize: 4096,
        st_blocks: match n.kind {
            Kind::File(_) => s.fs.pages_of(node) as i64 * 8,
            _ => size.div_ceil(512) as i64,
        },
        st_atime: n.atime.tv_sec as u64,
        st_atime_nsec: n.atime.tv_nsec as u64,
        st_mtime: n.mtime.tv_sec as u64,
        st_mtime_nsec: n.mtime.tv_nsec as u64,
        st_ctime: n.ctime.tv_sec as u64,
        st_ctime_nsec: n.ctime.tv_nsec as u64,
        ..Stat::default()
    }
}

pub(super) fn stat_of_fd(s: &Shim, f: &Fd) -> Stat {
    match f.kind() {
        FdKind::File { node } | FdKind::Dir { node } => stat_of(s, node),
        FdKind::Text { .. } => Stat {
            st_dev: 3,
            st_mode: S_IFREG | 0o444,
            st_blksize: 1024,
            st_nlink: 1,
            ..Stat::default()
        },
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
            st_rdev: if matches!(f.kind(), FdKind::Null) {
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

/// What `path` (from `dirfd`, with `flags`' AT_EMPTY_PATH and
/// AT_SYMLINK_NOFOLLOW) names, as `stat` fills it.
fn stat_at(s: &mut Shim, p: &mut Process, dirfd: u64, path: u64, flags: u64) -> Result<Stat, i64> {
    let path = path_arg(s, p, path)?;
    if path.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(ENOENT);
        }
        return if dirfd as i64 as i32 == AT_FDCWD as i32 {
            Ok(stat_of(s, p.cwd))
        } else {
            let f = fd_of(p, dirfd)?;
            Ok(stat_of_fd(s, &f))
        };
    }
    let base = base_dir(p, dirfd, &path)?;
    let node = s.fs.lookup(base, &path, flags & AT_SYMLINK_NOFOLLOW == 0)?;
    Ok(stat_of(s, node))
}

fn do_stat(
    s: &mut Shim,
    p: &mut Process,
    dirfd: u64,
    path: u64,
    buf: u64,
    flags: u64,
) -> SysResult {
    // AT_NO_AUTOMOUNT and AT_STATX_SYNC_TYPE's bits are accepted, as
    // Linux's vfs_statx accepts them.
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x800 | 0x6000) != 0 {
        return Err(EINVAL);
    }
    let st = stat_at(s, p, dirfd, path, flags)?;
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

/// statx(dirfd, path, flags, mask, buf): every basic field, whatever the
/// mask asks (Linux may fill more than asked).
pub fn statx(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let (dirfd, path, flags, mask, buf) = (a[0], a[1], a[2], a[3], a[4]);
    // AT_SYMLINK_NOFOLLOW, AT_NO_AUTOMOUNT, AT_EMPTY_PATH, AT_STATX_*.
    if flags & !(AT_SYMLINK_NOFOLLOW | 0x800 | AT_EMPTY_PATH | 0x6000) != 0
        || flags & 0x6000 == 0x6000
        || mask & 0x8000_0000 != 0
    {
        return Err(EINVAL);
    }
    let st = stat_at(s, p, dirfd, path, flags)?;
    let ts = |sec: u64, nsec: u64| StatxTimestamp {
        tv_sec: sec as i64,
        tv_nsec: nsec as u32,
        reserved: 0,
    };
    let x = Statx {
        stx_mask: 0x7ff, // STATX_BASIC_STATS
        stx_blksize: st.st_blksize as u32,
        stx_nlink: st.st_nlink as u32,
        stx_uid: st.st_uid,
        stx_gid: st.st_gid,
        stx_mode: st.st_mode as u16,
        stx_ino: st.st_ino,
        stx_size: st.st_size as u64,
        stx_blocks: st.st_blocks as u64,
        stx_atime: ts(st.st_atime, st.st_atime_nsec),
        stx_ctime: ts(st.st_ctime, st.st_ctime_nsec),
        stx_mtime: ts(st.st_mtime, st.st_mtime_nsec),
        stx_rdev_major: (st.st_rdev >> 8) as u32,
        stx_rdev_minor: (st.st_rdev & 0xff) as u32,
        stx_dev_major: 0,
        stx_dev_minor: st.st_dev as u32,
        ..Statx::default()
    };
    s.put(p, buf, &x)?;
    Ok(0)
}

pub fn getdents64(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let f = fd_of(p, a[0])?;
    let FdKind::Dir { node } = f.kind() else {
        return Err(ENOTDIR);
    };
    // Linux takes the count as an unsigned int and keeps it in an int:
    // past INT_MAX no entry fits (EINVAL). The buffer is checked as
    // entries are written into it, so an empty answer touches none of it.
    let buf = a[1];
    let count = u64::try_from(a[2] as u32 as i32).unwrap_or(0);
    if s.in_proc(node) {
        s.refresh_proc(p);
    }
    let Kind::Dir(dir) = &s.fs.node(node).kind else {
        return Err(ENOTDIR);
    };
    let parent = s.fs.node(node).parent;
    let mut out: Vec<u8> = Vec::new();
    // Where each entry ends in `out`, and the position after it.
    let mut ends: Vec<(usize, u64)> = Vec::new();
    let pos = f.pos();
    let mut at = pos;
    // Positions 0 and 1 are `.` and `..`; then entry cookie k is at k + 2.
    let mut entries = dir.entries.range(pos.saturating_sub(2)..);
    loop {
        let (name, ino, next): (&[u8], usize, u64) = match at {
            0 => (b".", node, 1),
            1 => (b"..", parent, 2),
            _ => match entries.next() {
                Some((&k, (name, ino))) => (name.as_slice(), *ino, k + 3),
                None => break,
            },
        };
        let dtype = match s.fs.node(ino).kind {
            Kind::Dir(_) => 4,
            Kind::File(_) | Kind::Proc(_) => 8,
            Kind::Symlink(_) => 10,
            Kind::Dev(..) => 2,
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
            d_off: next as i64,
            d_reclen: reclen as u16,
            d_type: dtype,
        };
        let start = out.len();
        out.extend_from_slice(bytemuck::bytes_of(&d));
        out.extend_from_slice(name);
        out.resize(start + reclen, 0);
        at = next;
        ends.push((out.len(), next));
    }
    // Linux writes entry by entry: a fault answers with the entries
    // written whole before it, or EFAULT if there are none.
    let (len, next) = if out.is_empty() {
        (0, at)
    } else {
        match s.copy_out_part(p, buf, &out) {
            Ok(()) => (out.len(), at),
            Err(short) => *ends
                .iter()
                .take_while(|&&(end, _)| end <= short.done)
                .last()
                .ok_or(short.err)?,
        }
    };
    f.set_pos(next);
    Ok(len as u64)
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
    let n = s.fs.node(node);
    if mode & 2 != 0 && matches!(n.kind, Kind::Proc(_)) {
        return Err(EACCES);
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

pub fn faccessat2(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    do_access(s, p, a[0], a[1], a[2], a[3])
}

fn do_readlink(
    s: &mut Shim,
    p: &mut Process,
    dirfd: u64,
    path: u64,
    buf: u64,
    size: u64,
) -> SysResult {
    // `bufsiz` is an `int` in Linux's prototype: only its low 32 bits
    // count, and zero or negative is EINVAL before the path is read.
    let size = size as i32;
    if size <= 0 {
        return Err(EINVAL);
    }
    let path = path_arg(s, p, path)?;
    let base = base_dir(p, dirfd, &path)?;
    let node = s.fs.lookup(base, &path, false)?;
    let target: Vec<u8> = match &s.fs.node(node).kind {
        Kind::Symlink(t) => t.clone(),
        Kind::Proc(ProcFile::SelfLink) => alloc::format!("{}", p.pid).into_bytes(),
        _ => return Err(EINVAL),
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
    // A removed working directory has no path: ENOENT, as on Linux.
    let mut path = s.fs.path_of(p.cwd)?.into_bytes();
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
    if !s.fs.is_dir(node) {
        return Err(ENOTDIR);
    }
    p.cwd = node;
    Ok(0)
}

pub fn fchdir(_: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    match fd_of(p, a[0])?.kind() {
        FdKind::Dir { node } => {
            p.cwd = node;
            Ok(0)
        }
        _ => Err(ENOTDIR),
    }
}

const F_DUPFD: u64 = 0;
const F_GETFD: u64 = 1;
const F_SETFD: u64 = 2;
const F_GETFL: u64 = 3;
const F_SETFL: u64 = 4;
const F_DUPFD_CLOEXEC: u64 = 1030;

/// The status flags F_SETFL may change: O_APPEND, O_NONBLOCK, O_DIRECT,
/// O_NOATIME, O_ASYNC (Linux's SETFL_MASK).
const SETFL_MASK: u64 = O_APPEND | O_NONBLOCK | 0o40000 | 0o1000000 | 0o20000;

pub fn fcntl(_: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let f = fd_of(p, a[0])?;
    let i = a[0] as usize;
    match a[1] {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            if a[2] >= p.fd_limit() as u64 {
                return Err(EINVAL);
            }
            install(p, f.dup(a[1] == F_DUPFD_CLOEXEC), a[2] as usize)
        }
        F_GETFD => Ok(u64::from(f.cloexec)),
        F_SETFD => {
            if let Some(Some(f)) = p.fds.get_mut(i) {
                f.cloexec = a[2] & 1 != 0;
            }
            Ok(0)
        }
        F_GETFL => Ok(f.flags()),
        F_SETFL => {
            // The open file's status flags: every duplicate sees them.
            let mut file = f.file.borrow_mut();
            file.flags = (file.flags & !SETFL_MASK) | (a[2] & SETFL_MASK);
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

/// Copy up to `count` bytes from open file `inp` (at `*from`) to `out`,
/// through the shim: sendfile and copy_file_range. Stops short when the
/// destination takes less (a full pipe gives what fit).
fn splice_bytes(
    s: &mut Shim,
    out: &Fd,
    out_at: Option<u64>,
    inp: &Fd,
    from: &mut u64,
    count: u64,
) -> SysResult {
    let count = count.min(MAX_RW);
    let mut done = 0u64;
    let mut chunk = vec![0u8; (count as usize).min(CHUNK)];
    while done < count {
        let want = (count - done).min(CHUNK as u64) as usize;
        let n = match inp.kind() {
            FdKind::File { node } => s.fs.read(node, *from, &mut chunk[..want]),
            FdKind::Text { data } => {
                let start = (*from).min(data.len() as u64) as usize;
                let n = (data.len() - start).min(want);
                chunk[..n].copy_from_slice(&data[start..start + n]);
                n
            }
            _ => return Err(EINVAL),
        };
        if n == 0 {
            break;
        }
        let wrote = match out.kind() {
            FdKind::Console if out.hung_up() => Err(EIO),
            FdKind::Console => {
                s.tty_write(&chunk[..n]);
                Ok(n)
            }
            FdKind::Null => Ok(n),
            FdKind::File { node } => {
                s.stamp();
                let at = match out_at {
                    Some(a) => a + done,
                    None if out.flags() & O_APPEND != 0 => s.fs.size(node),
                    None => out.pos(),
                };
                let r = s.fs.write(node, at, &chunk[..n]);
                if let (Ok(w), None) = (r, out_at) {
                    out.set_pos(at + w as u64);
                }
                r
            }
            FdKind::Pipe { id } => s.pipe_push(id, &chunk[..n]),
            _ => Err(EINVAL),
        };
        match wrote {
            Ok(w) => {
                done += w as u64;
                *from += w as u64;
                if w < n {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// sendfile(out, in, offset, count): from any readable file (the RAM
/// filesystem's or `/proc`'s) to any writable descriptor.
/// An optional `loff_t` argument (NULL: none), read before the
/// descriptors are looked at, as Linux's sendfile and copy_file_range do.
fn offset_arg(s: &mut Shim, p: &mut Process, at: u64) -> Result<Option<i64>, i64> {
    if at == 0 {
        return Ok(None);
    }
    s.get(p, at).map(Some)
}

/// sendfile(out, in, offset, count) in Linux's order: the offset is
/// read (EFAULT), then the input is checked (EBADF; ESPIPE for an
/// offset on what has none; EINVAL past the largest offset), then the
/// output (EBADF), then what the two are.
pub fn sendfile(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let off = offset_arg(s, p, a[2])?;
    let inp = fd_of(p, a[1])?;
    if !readable(inp.flags()) {
        return Err(EBADF);
    }
    if off.is_some() && matches!(inp.kind(), FdKind::Pipe { .. } | FdKind::Console) {
        return Err(ESPIPE);
    }
    let mut from = off.map_or_else(|| inp.pos(), |o| o as u64);
    verify_area(from, a[3])?;
    let out = fd_of(p, a[0])?;
    if !writable(out.flags()) {
        return Err(EBADF);
    }
    if !matches!(inp.kind(), FdKind::File { .. } | FdKind::Text { .. }) {
        return Err(EINVAL);
    }
    if matches!(
        out.kind(),
        FdKind::Dir { .. } | FdKind::Zero | FdKind::Text { .. }
    ) {
        return Err(EINVAL);
    }
    if out.flags() & O_APPEND != 0 {
        return Err(EINVAL);
    }
    let n = splice_bytes(s, &out, None, &inp, &mut from, a[3])?;
    match off {
        Some(_) => s.put(p, a[2], &(from as i64))?,
        None => inp.set_pos(from),
    }
    Ok(n)
}

/// copy_file_range(in, off_in, out, off_out, len, flags) between regular
/// files, in Linux's order: the descriptors (EBADF), the offsets read
/// (EFAULT), the flags (EINVAL), what the files are (EISDIR, EINVAL),
/// their access modes (EBADF), then the offsets' values (EINVAL).
pub fn copy_file_range(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let (fd_in, off_in, fd_out, off_out, len, flags) = (a[0], a[1], a[2], a[3], a[4], a[5]);
    let inp = fd_of(p, fd_in)?;
    let out = fd_of(p, fd_out)?;
    let in_at = offset_arg(s, p, off_in)?;
    let out_at = offset_arg(s, p, off_out)?;
    if flags != 0 {
        return Err(EINVAL);
    }
    match (inp.kind(), out.kind()) {
        (FdKind::File { .. }, FdKind::File { .. }) => {}
        (FdKind::Dir { .. }, _) | (_, FdKind::Dir { .. }) => return Err(EISDIR),
        _ => return Err(EINVAL),
    }
    if !readable(inp.flags()) || !writable(out.flags()) || out.flags() & O_APPEND != 0 {
        return Err(EBADF);
    }
    if in_at.is_some_and(|o| o < 0) || out_at.is_some_and(|o| o < 0) {
        return Err(EINVAL);
    }
    let mut from = in_at.map_or_else(|| inp.pos(), |o| o as u64);
    let to = out_at.map_or_else(|| out.pos(), |o| o as u64);
    let n = splice_bytes(s, &out, Some(to), &inp, &mut from, len)?;
    match in_at {
        Some(_) => s.put(p, off_in, &(from as i64))?,
        None => inp.set_pos(from),
    }
    match out_at {
        Some(o) => s.put(p, off_out, &((o as u64 + n) as i64))?,
        None => out.set_pos(out.pos() + n),
    }
    Ok(n)
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
    let id = s.new_pipe()?;
    let end = |mode| {
        Fd::new(
            FdKind::Pipe { id },
            mode | (a[1] & O_NONBLOCK),
            a[1] & O_CLOEXEC != 0,
        )
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
    install(p, f.dup(false), 0)
}

fn dup_to(p: &mut Process, old: u64, new: u64, cloexec: bool) -> SysResult {
    let f = fd_of(p, old)?;
    if new >= p.fd_limit() as u64 {
        return Err(EBADF);
    }
    let i = new as usize;
    if p.fds.len() <= i {
        p.fds.resize(i + 1, None);
    }
    p.fds[i] = Some(f.dup(cloexec));
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
