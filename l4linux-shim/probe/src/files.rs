//! `linux-probe fs`: the RAM filesystem's calls, each checked against
//! what Linux does: open files shared by dup and fork, creating, writing
//! (holes, O_APPEND, pwrite), truncating, directories, rename, links,
//! attributes, statx and statfs, sendfile and copy_file_range, /proc and
//! sysinfo, the file pool's ENOSPC, and every errno on the way (bad
//! pointers EFAULT, bad descriptors EBADF, bad flags EINVAL, ...).

use super::{Case, exit, sys};

const ENOENT: i64 = 2;
const EBADF: i64 = 9;
const EACCES: i64 = 13;
const EFAULT: i64 = 14;
const EBUSY: i64 = 16;
const EEXIST: i64 = 17;
const ENOTDIR: i64 = 20;
const EISDIR: i64 = 21;
const EINVAL: i64 = 22;
const ENOSPC: i64 = 28;
const ESPIPE: i64 = 29;
const ENAMETOOLONG: i64 = 36;
const ENOTEMPTY: i64 = 39;
const ELOOP: i64 = 40;
const EPERM: i64 = 1;

const KERNEL: u64 = 0xffff_8080_0000_0000;
const CWD: u64 = (-100i64) as u64;

const O_WRONLY: u64 = 1;
const O_RDWR: u64 = 2;
const O_CREAT: u64 = 0o100;
const O_EXCL: u64 = 0o200;
const O_TRUNC: u64 = 0o1000;
const O_APPEND: u64 = 0o2000;
const O_DIRECTORY: u64 = 0o200000;
const O_NOFOLLOW: u64 = 0o400000;

fn p(s: &core::ffi::CStr) -> u64 {
    s.as_ptr() as u64
}

fn open(path: &core::ffi::CStr, flags: u64, mode: u64) -> i64 {
    sys(2, &[p(path), flags, mode])
}

fn write(fd: i64, data: &[u8]) -> i64 {
    sys(1, &[fd as u64, data.as_ptr() as u64, data.len() as u64])
}

fn read(fd: i64, buf: &mut [u8]) -> i64 {
    sys(0, &[fd as u64, buf.as_mut_ptr() as u64, buf.len() as u64])
}

fn seek(fd: i64, off: i64, whence: u64) -> i64 {
    sys(8, &[fd as u64, off as u64, whence])
}

fn close(fd: i64) -> i64 {
    sys(3, &[fd as u64])
}

/// `struct stat`'s fields the checks read.
struct St {
    nlink: u64,
    mode: u32,
    size: i64,
    blocks: i64,
    atime: u64,
    mtime: u64,
}

fn st_of(b: &[u8; 144]) -> St {
    let u64_at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]));
    St {
        nlink: u64_at(16),
        mode: u32::from_ne_bytes(b[24..28].try_into().unwrap_or([0; 4])),
        size: u64_at(48) as i64,
        blocks: u64_at(64) as i64,
        atime: u64_at(72),
        mtime: u64_at(88),
    }
}

fn stat(path: &core::ffi::CStr) -> Result<St, i64> {
    let mut b = [0u8; 144];
    match sys(4, &[p(path), b.as_mut_ptr() as u64]) {
        0 => Ok(st_of(&b)),
        e => Err(e),
    }
}

fn lstat(path: &core::ffi::CStr) -> Result<St, i64> {
    let mut b = [0u8; 144];
    match sys(6, &[p(path), b.as_mut_ptr() as u64]) {
        0 => Ok(st_of(&b)),
        e => Err(e),
    }
}

fn fstat(fd: i64) -> Result<St, i64> {
    let mut b = [0u8; 144];
    match sys(5, &[fd as u64, b.as_mut_ptr() as u64]) {
        0 => Ok(st_of(&b)),
        e => Err(e),
    }
}

/// Whatever the error, a value the check will not take for success.
fn size(r: Result<St, i64>) -> i64 {
    r.map_or_else(|e| e * 1000, |s| s.size)
}

fn nlink(r: Result<St, i64>) -> i64 {
    r.map_or_else(|e| e * 1000, |s| s.nlink as i64)
}

fn perm(r: Result<St, i64>) -> i64 {
    r.map_or_else(|e| e * 1000, |s| i64::from(s.mode))
}

pub fn run() -> ! {
    open_files_are_shared();
    create_write_truncate();
    directories_and_names();
    attributes_and_statfs();
    copies();
    proc_and_sysinfo();
    the_pool_is_bounded();
    exit(0)
}

fn open_files_are_shared() {
    let mut c = Case::new();
    let fd = open(c"/tmp/shared", O_CREAT | O_RDWR | O_TRUNC, 0o644);
    c.ok("create /tmp/shared", fd >= 3);
    c.eq("write", write(fd, b"abc"), 3);
    let d = sys(32, &[fd as u64]);
    c.ok("dup", d > fd);
    c.eq("the dup shares the offset", seek(d, 0, 1), 3);
    c.eq("write the dup", write(d, b"de"), 2);
    c.eq("the first sees it move", seek(fd, 0, 1), 5);
    c.eq("F_SETFL O_APPEND", sys(72, &[fd as u64, 4, O_APPEND]), 0);
    c.ok(
        "the dup has O_APPEND",
        sys(72, &[d as u64, 3]) & O_APPEND as i64 != 0,
    );
    c.eq("F_SETFD on the dup", sys(72, &[d as u64, 2, 1]), 0);
    c.eq(
        "close-on-exec is the descriptor's",
        sys(72, &[fd as u64, 1]),
        0,
    );
    let d2 = sys(292, &[fd as u64, 40, 0]);
    c.eq("dup3", d2, 40);
    let pid = sys(57, &[]);
    if pid == 0 {
        // The child's descriptor is another copy of the same open file.
        write(40, b"X");
        exit(0);
    }
    c.ok("fork", pid > 0);
    let mut status = 0i32;
    c.eq(
        "wait4",
        sys(61, &[pid as u64, &mut status as *mut i32 as u64, 0, 0]),
        pid,
    );
    c.eq(
        "the child's write moved the parent's offset",
        seek(fd, 0, 1),
        6,
    );
    let mut b = [0u8; 8];
    c.eq(
        "pread64",
        sys(17, &[fd as u64, b.as_mut_ptr() as u64, 8, 0]),
        6,
    );
    c.ok("what they wrote", &b[..6] == b"abcdeX");
    c.eq("pread64 leaves the offset", seek(d, 0, 1), 6);
    for f in [fd, d, d2] {
        c.eq("close", close(f), 0);
    }
    c.report("linux_open_files_shared_by_dup_and_fork");
}

fn create_write_truncate() {
    let mut c = Case::new();
    c.eq(
        "O_EXCL on an existing file",
        open(c"/tmp/shared", O_CREAT | O_EXCL | O_WRONLY, 0o644),
        -EEXIST,
    );
    c.eq(
        "O_CREAT under a missing directory",
        open(c"/tmp/missing/f", O_CREAT | O_WRONLY, 0o644),
        -ENOENT,
    );
    c.eq(
        "O_CREAT with a trailing slash",
        open(c"/tmp/newdir/", O_CREAT | O_WRONLY, 0o644),
        -EISDIR,
    );
    c.eq("O_CREAT on /", open(c"/", O_CREAT, 0), -EISDIR);
    c.eq(
        "open a directory to write",
        open(c"/tmp", O_WRONLY, 0),
        -EISDIR,
    );
    c.eq(
        "O_DIRECTORY on a file",
        open(c"/tmp/shared", O_DIRECTORY, 0),
        -ENOTDIR,
    );
    c.eq(
        "O_CREAT through a file",
        open(c"/tmp/shared/x", O_CREAT | O_WRONLY, 0o644),
        -ENOTDIR,
    );
    c.eq(
        "open a null path",
        sys(2, &[0, O_CREAT | O_WRONLY, 0o644]),
        -EFAULT,
    );
    let ro = open(c"/tmp/shared", 0, 0);
    c.eq("write a read-only descriptor", write(ro, b"x"), -EBADF);
    c.eq(
        "ftruncate a read-only descriptor",
        sys(77, &[ro as u64, 0]),
        -EINVAL,
    );
    close(ro);
    let wo = open(c"/tmp/shared", O_WRONLY, 0);
    let mut b = [0u8; 16];
    c.eq("read a write-only descriptor", read(wo, &mut b), -EBADF);
    c.eq(
        "write from a kernel pointer",
        sys(1, &[wo as u64, KERNEL, 4]),
        -EFAULT,
    );
    c.eq("write from null", sys(1, &[wo as u64, 0, 4]), -EFAULT);
    close(wo);

    // A hole: seek past the end, write; the gap reads as zeroes and takes
    // no pages.
    let fd = open(c"/tmp/holes", O_CREAT | O_RDWR | O_TRUNC, 0o600);
    c.eq("seek past the end", seek(fd, 10000, 0), 10000);
    c.eq("write there", write(fd, b"z"), 1);
    c.eq("the size", size(fstat(fd)), 10001);
    c.ok(
        "the hole takes no pages",
        fstat(fd).is_ok_and(|s| s.blocks == 8),
    );
    c.eq(
        "pread64 in the hole",
        sys(17, &[fd as u64, b.as_mut_ptr() as u64, 4, 5000]),
        4,
    );
    c.ok("the hole reads zeroes", b[..4] == [0, 0, 0, 0]);
    c.eq("SEEK_END", seek(fd, -1, 2), 10000);
    c.eq("SEEK_CUR", seek(fd, 1, 1), 10001);
    c.eq("SEEK_SET negative", seek(fd, -1, 0), -EINVAL);
    c.eq("ftruncate to 2", sys(77, &[fd as u64, 2]), 0);
    c.eq("the size after", size(fstat(fd)), 2);
    c.eq(
        "ftruncate negative",
        sys(77, &[fd as u64, (-1i64) as u64]),
        -EINVAL,
    );
    c.eq("ftruncate bad fd", sys(77, &[99, 0]), -EBADF);
    c.eq("ftruncate to grow", sys(77, &[fd as u64, 5000]), 0);
    c.eq(
        "pread64 the grown part",
        sys(17, &[fd as u64, b.as_mut_ptr() as u64, 2, 0]),
        2,
    );
    c.ok("it is zeroes (the old tail was cleared)", b[..2] == [0, 0]);
    c.eq(
        "pwrite64",
        sys(18, &[fd as u64, c"hi".as_ptr() as u64, 2, 100]),
        2,
    );
    c.eq("pwrite64 leaves the offset", seek(fd, 0, 1), 10001);
    c.eq(
        "pwrite64 negative",
        sys(18, &[fd as u64, b.as_ptr() as u64, 1, (-5i64) as u64]),
        -EINVAL,
    );
    let iov = [c"ab".as_ptr() as u64, 2, c"cd".as_ptr() as u64, 2];
    c.eq("seek to 0", seek(fd, 0, 0), 0);
    c.eq("writev", sys(20, &[fd as u64, iov.as_ptr() as u64, 2]), 4);
    c.eq(
        "pread64 what writev wrote",
        sys(17, &[fd as u64, b.as_mut_ptr() as u64, 4, 0]),
        4,
    );
    c.ok("abcd", &b[..4] == b"abcd");
    close(fd);
    c.eq("truncate by path", sys(76, &[p(c"/tmp/holes"), 1]), 0);
    c.eq("the size after truncate", size(stat(c"/tmp/holes")), 1);
    c.eq("truncate a directory", sys(76, &[p(c"/tmp"), 0]), -EISDIR);
    c.eq(
        "truncate a missing file",
        sys(76, &[p(c"/tmp/nope"), 0]),
        -ENOENT,
    );

    let fd = open(c"/tmp/holes", O_WRONLY | O_APPEND, 0);
    c.eq("seek to 0 with O_APPEND", seek(fd, 0, 0), 0);
    c.eq("an O_APPEND write", write(fd, b"q"), 1);
    c.eq("goes to the end", size(stat(c"/tmp/holes")), 2);
    close(fd);
    let fd = open(c"/tmp/holes", O_WRONLY | O_TRUNC, 0);
    c.eq("O_TRUNC empties", size(fstat(fd)), 0);
    close(fd);

    let old = sys(95, &[0o077]);
    c.eq("umask", old, 0o022);
    let fd = sys(85, &[p(c"/tmp/masked"), 0o666]);
    c.ok("creat", fd >= 3);
    c.eq("the umask applies", perm(fstat(fd)), 0o100600);
    close(fd);
    sys(95, &[old as u64]);
    c.eq(
        "O_NOFOLLOW on a link",
        open(c"/bin/sh", O_NOFOLLOW, 0),
        -ELOOP,
    );
    c.report("linux_create_write_truncate");
}

fn directories_and_names() {
    let mut c = Case::new();
    c.eq("mkdir", sys(83, &[p(c"/tmp/d"), 0o755]), 0);
    c.eq("mkdir again", sys(83, &[p(c"/tmp/d"), 0o755]), -EEXIST);
    c.eq(
        "mkdir under a missing directory",
        sys(83, &[p(c"/tmp/no/x"), 0o755]),
        -ENOENT,
    );
    c.eq(
        "mkdir under a file",
        sys(83, &[p(c"/tmp/shared/x"), 0o755]),
        -ENOTDIR,
    );
    c.eq("mkdir null", sys(83, &[0, 0o755]), -EFAULT);
    c.eq("mkdir /", sys(83, &[p(c"/"), 0o755]), -EEXIST);
    c.eq("mkdirat", sys(258, &[CWD, p(c"/tmp/d/sub"), 0o700]), 0);
    c.eq("a subdirectory counts in nlink", nlink(stat(c"/tmp/d")), 3);
    let fd = open(c"/tmp/d/f", O_CREAT | O_WRONLY, 0o644);
    c.eq("write /tmp/d/f", write(fd, b"hello"), 5);
    close(fd);
    c.eq(
        "rmdir a full directory",
        sys(84, &[p(c"/tmp/d")]),
        -ENOTEMPTY,
    );
    c.eq("rmdir a file", sys(84, &[p(c"/tmp/d/f")]), -ENOTDIR);
    c.eq("rmdir .", sys(84, &[p(c"/tmp/d/sub/.")]), -EINVAL);
    c.eq("rmdir missing", sys(84, &[p(c"/tmp/d/none")]), -ENOENT);
    c.eq("unlink a directory", sys(87, &[p(c"/tmp/d/sub")]), -EISDIR);
    c.eq(
        "unlink a file with a slash",
        sys(87, &[p(c"/tmp/d/f/")]),
        -ENOTDIR,
    );
    c.eq(
        "unlinkat bad flags",
        sys(263, &[CWD, p(c"/tmp/d/f"), 1]),
        -EINVAL,
    );

    // Renames.
    c.eq("rename", sys(82, &[p(c"/tmp/d/f"), p(c"/tmp/d/g")]), 0);
    c.eq(
        "the old name is gone",
        size(stat(c"/tmp/d/f")),
        -ENOENT * 1000,
    );
    c.eq("the new name has it", size(stat(c"/tmp/d/g")), 5);
    c.eq(
        "rename missing",
        sys(82, &[p(c"/tmp/d/f"), p(c"/tmp/d/h")]),
        -ENOENT,
    );
    c.eq(
        "a directory into itself",
        sys(82, &[p(c"/tmp/d"), p(c"/tmp/d/sub/d")]),
        -EINVAL,
    );
    c.eq(
        "a file over a directory",
        sys(82, &[p(c"/tmp/d/g"), p(c"/tmp/d/sub")]),
        -EISDIR,
    );
    c.eq(
        "a directory over a file",
        sys(82, &[p(c"/tmp/d/sub"), p(c"/tmp/d/g")]),
        -ENOTDIR,
    );
    c.eq(
        "a directory over its own parent",
        sys(82, &[p(c"/tmp/d/sub"), p(c"/tmp/d")]),
        -ENOTEMPTY,
    );
    c.eq("mkdir /tmp/e", sys(83, &[p(c"/tmp/e"), 0o755]), 0);
    c.eq("mkdir /tmp/e/x", sys(83, &[p(c"/tmp/e/x"), 0o755]), 0);
    c.eq(
        "over a non-empty directory",
        sys(82, &[p(c"/tmp/d/sub"), p(c"/tmp/e")]),
        -ENOTEMPTY,
    );
    c.eq(
        "RENAME_NOREPLACE over a file",
        sys(316, &[CWD, p(c"/tmp/shared"), CWD, p(c"/tmp/d/g"), 1]),
        -EEXIST,
    );
    c.eq(
        "renameat2 bad flags",
        sys(316, &[CWD, p(c"/tmp/shared"), CWD, p(c"/tmp/d/k"), 8]),
        -EINVAL,
    );
    c.eq(
        "renameat2 RENAME_NOREPLACE",
        sys(316, &[CWD, p(c"/tmp/d/g"), CWD, p(c"/tmp/e/g"), 1]),
        0,
    );
    c.eq(
        "renameat",
        sys(264, &[CWD, p(c"/tmp/e/g"), CWD, p(c"/tmp/d/g")]),
        0,
    );
    c.eq(
        "rename a directory",
        sys(82, &[p(c"/tmp/e/x"), p(c"/tmp/d/x")]),
        0,
    );
    c.eq("its parent's nlink went down", nlink(stat(c"/tmp/e")), 2);
    c.eq("rename .", sys(82, &[p(c"/tmp/d/."), p(c"/tmp/z")]), -EBUSY);
    c.eq("rmdir the moved directory", sys(84, &[p(c"/tmp/d/x")]), 0);
    c.eq(
        "unlinkat AT_REMOVEDIR",
        sys(263, &[CWD, p(c"/tmp/e"), 0x200]),
        0,
    );

    // Hard and symbolic links.
    c.eq("link", sys(86, &[p(c"/tmp/d/g"), p(c"/tmp/d/h")]), 0);
    c.eq("two names", nlink(stat(c"/tmp/d/g")), 2);
    c.eq(
        "link a directory",
        sys(86, &[p(c"/tmp/d/sub"), p(c"/tmp/d/s2")]),
        -EPERM,
    );
    c.eq(
        "link over a name",
        sys(86, &[p(c"/tmp/d/g"), p(c"/tmp/d/h")]),
        -EEXIST,
    );
    c.eq(
        "linkat bad flags",
        sys(265, &[CWD, p(c"/tmp/d/g"), CWD, p(c"/tmp/d/i"), 1]),
        -EINVAL,
    );
    c.eq("unlink one name", sys(87, &[p(c"/tmp/d/h")]), 0);
    c.eq("one name left", nlink(stat(c"/tmp/d/g")), 1);
    c.eq("symlink", sys(88, &[p(c"g"), p(c"/tmp/d/l")]), 0);
    let mut b = [0u8; 16];
    c.eq(
        "readlink",
        sys(89, &[p(c"/tmp/d/l"), b.as_mut_ptr() as u64, 16]),
        1,
    );
    c.ok("its target", b[0] == b'g');
    c.eq("stat follows it", size(stat(c"/tmp/d/l")), 5);
    c.ok(
        "lstat does not",
        lstat(c"/tmp/d/l").is_ok_and(|s| s.mode & 0o170000 == 0o120000),
    );
    c.eq(
        "symlink over a name",
        sys(88, &[p(c"x"), p(c"/tmp/d/g")]),
        -EEXIST,
    );
    c.eq(
        "symlinkat",
        sys(266, &[p(c"/tmp/d/loop2"), CWD, p(c"/tmp/d/loop1")]),
        0,
    );
    c.eq(
        "a loop",
        sys(88, &[p(c"/tmp/d/loop1"), p(c"/tmp/d/loop2")]),
        0,
    );
    c.eq("opening the loop", open(c"/tmp/d/loop1", 0, 0), -ELOOP);
    c.eq(
        "readlink of a file",
        sys(89, &[p(c"/tmp/d/g"), b.as_mut_ptr() as u64, 16]),
        -EINVAL,
    );
    let long = [b'n'; 300];
    let mut name = [0u8; 320];
    name[..5].copy_from_slice(b"/tmp/");
    name[5..305].copy_from_slice(&long);
    c.eq(
        "a name of 300 bytes",
        sys(83, &[name.as_ptr() as u64, 0o755]),
        -ENAMETOOLONG,
    );

    // The listing sees what changed.
    let dir = open(c"/tmp/d", O_DIRECTORY, 0);
    let mut ents = [0u8; 1024];
    let n = sys(217, &[dir as u64, ents.as_mut_ptr() as u64, 1024]);
    c.ok("getdents64", n > 0);
    let listed = &ents[..n.max(0) as usize];
    let has = |name: &[u8]| {
        let mut at = 0;
        while at + 19 < listed.len() {
            let reclen = u16::from_ne_bytes([listed[at + 16], listed[at + 17]]) as usize;
            let nm = &listed[at + 19..at + reclen];
            let end = nm.iter().position(|&x| x == 0).unwrap_or(nm.len());
            if &nm[..end] == name {
                return true;
            }
            at += reclen.max(1);
        }
        false
    };
    c.ok("lists g", has(b"g"));
    c.ok("lists l", has(b"l"));
    c.ok("lists sub", has(b"sub"));
    c.ok("not h, removed", !has(b"h"));
    c.ok("not f, renamed", !has(b"f"));

    // fchdir, and a removed working directory.
    c.eq("fchdir", sys(81, &[dir as u64]), 0);
    let mut cwd = [0u8; 64];
    c.eq("getcwd", sys(79, &[cwd.as_mut_ptr() as u64, 64]), 7);
    c.ok("is /tmp/d", &cwd[..7] == b"/tmp/d\0");
    let file = open(c"g", 0, 0);
    c.eq("fchdir to a file", sys(81, &[file as u64]), -ENOTDIR);
    c.eq("fchdir bad fd", sys(81, &[99]), -EBADF);
    c.eq("chdir sub", sys(80, &[p(c"sub")]), 0);
    c.eq(
        "rmdir the working directory",
        sys(84, &[p(c"/tmp/d/sub")]),
        0,
    );
    c.eq(
        "getcwd of a removed directory",
        sys(79, &[cwd.as_mut_ptr() as u64, 64]),
        -ENOENT,
    );
    c.eq("chdir /", sys(80, &[p(c"/")]), 0);
    // An open file outlives its last name.
    c.eq("unlink an open file", sys(87, &[p(c"/tmp/d/g")]), 0);
    c.eq("it is still read", read(file, &mut b), 5);
    c.ok("what it held", &b[..5] == b"hello");
    c.eq("with no name", nlink(fstat(file)), 0);
    close(file);
    close(dir);
    c.report("linux_directories_rename_and_links");
}

fn attributes_and_statfs() {
    let mut c = Case::new();
    let f = c"/tmp/shared";
    c.eq("chmod", sys(90, &[p(f), 0o640]), 0);
    c.eq("the mode", perm(stat(f)), 0o100640);
    c.eq("chmod missing", sys(90, &[p(c"/tmp/nope"), 0o640]), -ENOENT);
    c.eq("chmod null", sys(90, &[0, 0o640]), -EFAULT);
    let fd = open(f, O_RDWR, 0);
    c.eq("fchmod", sys(91, &[fd as u64, 0o604]), 0);
    c.eq("the mode after fchmod", perm(stat(f)), 0o100604);
    c.eq("fchmod bad fd", sys(91, &[99, 0o600]), -EBADF);
    c.eq("fchmodat", sys(268, &[CWD, p(f), 0o644]), 0);
    c.eq("the mode after fchmodat", perm(stat(f)), 0o100644);
    c.eq("chown to root", sys(92, &[p(f), 0, 0]), 0);
    c.eq(
        "chown unchanged (-1)",
        sys(92, &[p(f), u64::MAX, u64::MAX]),
        0,
    );
    c.eq("lchown", sys(94, &[p(c"/bin/sh"), 0, 0]), 0);
    c.eq("fchown", sys(93, &[fd as u64, 0, 0]), 0);
    c.eq("fchown bad fd", sys(93, &[99, 0, 0]), -EBADF);
    c.eq(
        "fchownat bad flags",
        sys(260, &[CWD, p(f), 0, 0, 1]),
        -EINVAL,
    );
    c.eq("chown missing", sys(92, &[p(c"/tmp/nope"), 0, 0]), -ENOENT);

    let times = [1000i64, 0, 2000, 0];
    c.eq(
        "utimensat",
        sys(280, &[CWD, p(f), times.as_ptr() as u64, 0]),
        0,
    );
    c.ok(
        "atime and mtime set",
        stat(f).is_ok_and(|s| s.atime == 1000 && s.mtime == 2000),
    );
    let omit = [0i64, (1 << 30) - 2, 3000, 0];
    c.eq(
        "utimensat UTIME_OMIT",
        sys(280, &[CWD, p(f), omit.as_ptr() as u64, 0]),
        0,
    );
    c.ok(
        "atime kept",
        stat(f).is_ok_and(|s| s.atime == 1000 && s.mtime == 3000),
    );
    let bad = [0i64, 2_000_000_000, 0, 0];
    c.eq(
        "utimensat bad nsec",
        sys(280, &[CWD, p(f), bad.as_ptr() as u64, 0]),
        -EINVAL,
    );
    c.eq(
        "utimensat bad flags",
        sys(280, &[CWD, p(f), 0, 0x8000]),
        -EINVAL,
    );
    c.eq(
        "utimensat kernel pointer",
        sys(280, &[CWD, p(f), KERNEL, 0]),
        -EFAULT,
    );
    c.eq(
        "futimens (NULL path)",
        sys(280, &[fd as u64, 0, times.as_ptr() as u64, 0]),
        0,
    );
    let tv = [4000i64, 0, 5000, 0];
    c.eq("utimes", sys(235, &[p(f), tv.as_ptr() as u64]), 0);
    c.ok(
        "utimes set them",
        stat(f).is_ok_and(|s| s.atime == 4000 && s.mtime == 5000),
    );
    c.eq("futimesat", sys(261, &[CWD, p(f), tv.as_ptr() as u64]), 0);
    let badtv = [0i64, 1_000_000, 0, 0];
    c.eq(
        "utimes bad usec",
        sys(235, &[p(f), badtv.as_ptr() as u64]),
        -EINVAL,
    );

    let mut x = [0u8; 256];
    c.eq(
        "statx",
        sys(332, &[CWD, p(f), 0, 0x7ff, x.as_mut_ptr() as u64]),
        0,
    );
    let mode = u16::from_ne_bytes([x[28], x[29]]);
    let xsize = u64::from_ne_bytes(x[40..48].try_into().unwrap_or([0; 8]));
    c.eq("statx mode", i64::from(mode), 0o100644);
    c.eq("statx size", xsize as i64, size(stat(f)));
    c.eq(
        "statx bad flags",
        sys(332, &[CWD, p(f), 0x1, 0x7ff, x.as_mut_ptr() as u64]),
        -EINVAL,
    );
    c.eq(
        "statx null buffer",
        sys(332, &[CWD, p(f), 0, 0x7ff, 0]),
        -EFAULT,
    );
    c.eq(
        "statx missing",
        sys(332, &[CWD, p(c"/nope"), 0, 0x7ff, x.as_mut_ptr() as u64]),
        -ENOENT,
    );
    c.eq(
        "statx AT_EMPTY_PATH",
        sys(
            332,
            &[fd as u64, p(c""), 0x1000, 0x7ff, x.as_mut_ptr() as u64],
        ),
        0,
    );

    let mut sf = [0u64; 15];
    c.eq("statfs /", sys(137, &[p(c"/"), sf.as_mut_ptr() as u64]), 0);
    c.eq("a tmpfs", sf[0] as i64, 0x0102_1994);
    c.eq("4 KiB blocks", sf[1] as i64, 4096);
    c.ok("some blocks free", sf[3] > 0 && sf[3] <= sf[2]);
    c.eq("statfs bad pointer", sys(137, &[p(c"/"), KERNEL]), -EFAULT);
    c.eq("fstatfs", sys(138, &[fd as u64, sf.as_mut_ptr() as u64]), 0);
    c.eq(
        "fstatfs bad fd",
        sys(138, &[99, sf.as_mut_ptr() as u64]),
        -EBADF,
    );
    c.eq("fsync", sys(74, &[fd as u64]), 0);
    c.eq("fdatasync", sys(75, &[fd as u64]), 0);
    c.eq("fsync bad fd", sys(74, &[99]), -EBADF);
    let mut pfd = [0i32; 2];
    sys(22, &[pfd.as_mut_ptr() as u64]);
    c.eq("fsync a pipe", sys(74, &[pfd[0] as u64]), -EINVAL);
    c.eq(
        "pwrite64 a pipe",
        sys(18, &[pfd[1] as u64, x.as_ptr() as u64, 1, 0]),
        -ESPIPE,
    );
    close(pfd[0] as i64);
    close(pfd[1] as i64);
    close(fd);
    c.report("linux_attributes_times_statx_statfs");
}

fn copies() {
    let mut c = Case::new();
    let src = open(c"/tmp/src", O_CREAT | O_RDWR | O_TRUNC, 0o644);
    c.eq("write the source", write(src, b"0123456789"), 10);
    let dst = open(c"/tmp/dst", O_CREAT | O_RDWR | O_TRUNC, 0o644);
    c.eq("seek the source to 0", seek(src, 0, 0), 0);
    c.eq(
        "sendfile file to file",
        sys(40, &[dst as u64, src as u64, 0, 100]),
        10,
    );
    c.eq("the source offset moved", seek(src, 0, 1), 10);
    c.eq("the copy's size", size(fstat(dst)), 10);
    let mut off = 4i64;
    c.eq(
        "sendfile with an offset",
        sys(
            40,
            &[dst as u64, src as u64, &mut off as *mut i64 as u64, 3],
        ),
        3,
    );
    c.eq("the offset advanced", off, 7);
    c.eq("the source offset did not", seek(src, 0, 1), 10);
    let mut pfd = [0i32; 2];
    sys(22, &[pfd.as_mut_ptr() as u64]);
    let mut off = 0i64;
    c.eq(
        "sendfile into a pipe",
        sys(
            40,
            &[pfd[1] as u64, src as u64, &mut off as *mut i64 as u64, 4],
        ),
        4,
    );
    let mut b = [0u8; 16];
    c.eq("read the pipe", read(pfd[0] as i64, &mut b), 4);
    c.ok("the bytes", &b[..4] == b"0123");
    c.eq(
        "sendfile from a pipe",
        sys(40, &[dst as u64, pfd[0] as u64, 0, 4]),
        -EINVAL,
    );
    c.eq(
        "sendfile to a read-only fd",
        sys(40, &[pfd[0] as u64, src as u64, 0, 4]),
        -EBADF,
    );
    c.eq(
        "sendfile bad offset pointer",
        sys(40, &[dst as u64, src as u64, KERNEL, 4]),
        -EFAULT,
    );
    close(pfd[0] as i64);
    close(pfd[1] as i64);
    let mut oin = 0i64;
    let mut oout = 20i64;
    c.eq(
        "copy_file_range",
        sys(
            326,
            &[
                src as u64,
                &mut oin as *mut i64 as u64,
                dst as u64,
                &mut oout as *mut i64 as u64,
                5,
                0,
            ],
        ),
        5,
    );
    c.eq("its offsets", oin + oout, 5 + 25);
    c.eq("the destination grew", size(fstat(dst)), 25);
    c.eq(
        "copy_file_range bad flags",
        sys(326, &[src as u64, 0, dst as u64, 0, 5, 1]),
        -EINVAL,
    );
    c.eq(
        "copy_file_range bad fd",
        sys(326, &[99, 0, dst as u64, 0, 5, 0]),
        -EBADF,
    );
    close(src);
    close(dst);
    c.report("linux_sendfile_and_copy_file_range");
}

fn proc_and_sysinfo() {
    let mut c = Case::new();
    let pid = sys(39, &[]);
    let mut b = [0u8; 512];
    let n = sys(89, &[p(c"/proc/self"), b.as_mut_ptr() as u64, 16]);
    let mut want = [0u8; 20];
    let mut l = 0;
    let mut v = pid;
    let mut digits = [0u8; 20];
    while v > 0 {
        digits[l] = b'0' + (v % 10) as u8;
        v /= 10;
        l += 1;
    }
    for i in 0..l {
        want[i] = digits[l - 1 - i];
    }
    c.ok("/proc/self is my pid", n == l as i64 && b[..l] == want[..l]);
    let fd = open(c"/proc/self/stat", 0, 0);
    c.ok("open /proc/self/stat", fd >= 0);
    let n = read(fd, &mut b);
    close(fd);
    c.ok(
        "it names me, running",
        n > l as i64 && b[..l] == want[..l] && b[l..].starts_with(b" (linux-probe) R "),
    );
    let fd = open(c"/proc/self/cmdline", 0, 0);
    let n = read(fd, &mut b);
    close(fd);
    c.ok(
        "cmdline",
        n > 0 && b[..n as usize] == *b"/bin/linux-probe\0fs\0",
    );
    let fd = open(c"/proc/meminfo", 0, 0);
    let n = read(fd, &mut b);
    close(fd);
    c.ok("meminfo", n > 0 && b.starts_with(b"MemTotal:"));
    c.eq(
        "create in /proc",
        open(c"/proc/new", O_CREAT | O_WRONLY, 0o644),
        -EACCES,
    );
    let fd = open(c"/proc/uptime", 0, 0);
    c.ok("uptime", read(fd, &mut b) > 3);
    close(fd);
    let mut info = [0u64; 14];
    c.eq("sysinfo", sys(99, &[info.as_mut_ptr() as u64]), 0);
    c.ok("total memory", info[4] > 0 && info[5] <= info[4]);
    c.ok("processes", info[10] & 0xffff >= 1);
    c.eq("sysinfo null", sys(99, &[0]), -EFAULT);
    c.eq("getgroups count", sys(115, &[0, 0]), 1);
    let mut g = [7u32; 2];
    c.eq("getgroups", sys(115, &[2, g.as_mut_ptr() as u64]), 1);
    c.eq("group 0", i64::from(g[0]), 0);
    c.eq("getgroups negative", sys(115, &[u64::MAX, 0]), -EINVAL);
    c.eq("getgroups bad pointer", sys(115, &[2, KERNEL]), -EFAULT);
    c.report("linux_proc_and_sysinfo");
}

fn the_pool_is_bounded() {
    let mut c = Case::new();
    let chunk = [7u8; 4096];
    let fd = open(c"/tmp/big", O_CREAT | O_WRONLY | O_TRUNC, 0o644);
    let mut total = 0i64;
    let mut last = 0;
    for _ in 0..4096 {
        last = write(fd, &chunk);
        if last <= 0 {
            break;
        }
        total += last;
    }
    c.eq("the pool runs out", last, -ENOSPC);
    c.ok("after up to 4 MiB", total > 0 && total <= 4 << 20);
    let other = open(c"/tmp/more", O_CREAT | O_WRONLY | O_TRUNC, 0o644);
    c.eq("another file gets nothing", write(other, &chunk), -ENOSPC);
    c.eq("unlink the big file", sys(87, &[p(c"/tmp/big")]), 0);
    c.eq("still open: its pages stay", write(other, &chunk), -ENOSPC);
    close(fd);
    c.eq(
        "closed and unlinked: they come back",
        write(other, &chunk),
        4096,
    );
    close(other);
    sys(87, &[p(c"/tmp/more")]);
    c.report("linux_file_pool_enospc");
}
