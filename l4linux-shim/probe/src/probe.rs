//! A static Linux x86_64 program that speaks only the Linux system-call
//! ABI (raw `syscall`, no libc), run by the guest kernel: it says hello,
//! checks its stack and auxiliary vector, then passes bad pointers
//! (null, kernel-half, non-canonical, the unmappable top page), huge
//! lengths, bad descriptors and bad flags to each call the shim
//! implements, and checks that each gets the errno Linux gives. Each
//! group of checks prints one `septum-test: <case> ok|FAILED ...` line,
//! which the scenario counts (the shim writes it on the console as the
//! guest's). `linux-probe segv` instead writes through a null pointer,
//! which must end it with SIGSEGV and leave the shim serving;
//! `linux-probe signals` checks signals (`signals.rs`).

#![allow(clippy::missing_safety_doc)]

use core::fmt::Write;

const EPERM: i64 = 1;
const ENOENT: i64 = 2;
const ESRCH: i64 = 3;
const EBADF: i64 = 9;
const ENOMEM: i64 = 12;
const EFAULT: i64 = 14;
const ENOTDIR: i64 = 20;
const EINVAL: i64 = 22;
const ENOTTY: i64 = 25;
const ESPIPE: i64 = 29;
const EAGAIN: i64 = 11;
const EPIPE: i64 = 32;
const ENAMETOOLONG: i64 = 36;
const ENOSYS: i64 = 38;

/// A kernel-half address (Septum's kernel slots), one past the lower
/// half (non-canonical), and the top page of the lower half.
const KERNEL: u64 = 0xffff_8080_0000_0000;
const NONCANON: u64 = 0x8000_0000_0000;
const TOP_PAGE: u64 = 0x7fff_ffff_f000;

fn syscall(nr: u64, a: [u64; 6]) -> i64 {
    let r: i64;
    // SAFETY: a Linux system call; the guest kernel answers it. The
    // arguments are numbers: a bad pointer is the point of the test, and
    // the kernel must refuse it rather than touch it.
    unsafe {
        core::arch::asm!("syscall", inlateout("rax") nr => r, in("rdi") a[0], in("rsi") a[1],
            in("rdx") a[2], in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    r
}

fn sys(nr: u64, args: &[u64]) -> i64 {
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    syscall(nr, a)
}

fn write_all(fd: u64, s: &[u8]) {
    sys(1, &[fd, s.as_ptr() as u64, s.len() as u64]);
}

/// A line buffer, written with one `write`.
struct Line {
    buf: [u8; 256],
    len: usize,
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

macro_rules! say {
    ($($t:tt)*) => {{
        let mut l = Line { buf: [0; 256], len: 0 };
        let _ = writeln!(l, $($t)*);
        write_all(1, &l.buf[..l.len]);
    }};
}

#[path = "signals.rs"]
mod signals;

/// One group's checks: the first mismatch is kept.
struct Case {
    failed: Option<(&'static str, i64, i64)>,
}

impl Case {
    fn new() -> Self {
        Case { failed: None }
    }

    fn eq(&mut self, what: &'static str, got: i64, want: i64) {
        if got != want && self.failed.is_none() {
            self.failed = Some((what, got, want));
        }
    }

    fn ok(&mut self, what: &'static str, cond: bool) {
        self.eq(what, cond as i64, 1);
    }

    fn report(self, name: &str) {
        match self.failed {
            None => say!("septum-test: {name} ok"),
            Some((what, got, want)) => {
                say!("septum-test: {name} FAILED {what}: got {got}, want {want}")
            }
        }
    }
}

/// `linux-probe fs`: the filesystem's calls (`files.rs`).
#[path = "files.rs"]
mod files;

fn cstr(p: *const u8) -> &'static [u8] {
    let mut n = 0;
    // SAFETY: `p` is a string the kernel put on the initial stack,
    // NUL-terminated.
    unsafe {
        while p.add(n).read() != 0 {
            n += 1;
        }
        core::slice::from_raw_parts(p, n)
    }
}

/// A static that holds a pointer: in the static-PIE build it is right
/// only if the relocations were applied.
static GREETING: &str = "hello from a static Linux program";

pub fn run(sp: *const u64, pie: bool) -> ! {
    // SAFETY: the kernel's initial stack: argc, argv[], NULL, envp[],
    // NULL, auxv pairs up to AT_NULL.
    let (argc, argv, auxv) = unsafe {
        let argc = sp.read() as usize;
        let argv = sp.add(1);
        let mut e = argv.add(argc + 1);
        while e.read() != 0 {
            e = e.add(1);
        }
        (argc, argv, e.add(1))
    };
    let aux = |key: u64| -> u64 {
        let mut p = auxv;
        // SAFETY: the auxiliary vector ends with AT_NULL.
        unsafe {
            while p.read() != 0 {
                if p.read() == key {
                    return p.add(1).read();
                }
                p = p.add(2);
            }
        }
        0
    };
    // SAFETY: argv has argc entries.
    let arg = |i: usize| unsafe { cstr(argv.add(i).read() as *const u8) };
    if argc > 1 && arg(1) == b"exit" {
        // What `bench` execs: a static program that exits at once.
        exit(0);
    }
    if argc > 1 && arg(1) == b"writev" {
        // One writev of two pieces, and nothing else (`guest-shell`: a
        // background writev to the terminal with TOSTOP stops).
        let (a, b) = (b"writev-", b"ok\n");
        let iov = [
            a.as_ptr() as u64,
            a.len() as u64,
            b.as_ptr() as u64,
            b.len() as u64,
        ];
        let n = sys(20, &[1, iov.as_ptr() as u64, 2]);
        exit(if n == 10 { 0 } else { 1 });
    }
    say!(
        "{GREETING} ({})",
        if pie { "static-PIE" } else { "ET_EXEC" }
    );

    if argc > 1 && arg(1) == b"bench" {
        bench();
    }
    if argc > 1 && arg(1) == b"fs" {
        files::run();
    }
    if argc > 1 && arg(1) == b"processes" {
        processes();
    }
    if argc > 1 && arg(1) == b"segv" {
        say!("writing through a null pointer");
        // SAFETY: deliberately not: the write faults and the guest
        // kernel must end this process with SIGSEGV.
        unsafe { core::ptr::null_mut::<u64>().write_volatile(1) };
        say!("still alive after writing through a null pointer");
        exit(1);
    }

    if argc > 1 && arg(1) == b"signals" {
        signals::run();
    }
    if argc > 1 && arg(1) == b"cloexec" {
        // Descriptor 20 is a plain duplicate, 21 one marked close-on-exec:
        // the program execve starts must have 20 and not 21.
        let mut fds = [0i32; 2];
        sys(22, &[fds.as_mut_ptr() as u64]);
        sys(292, &[fds[0] as u64, 20, 0]);
        sys(292, &[fds[0] as u64, 21, 0o2000000]);
        let argv = [
            c"/bin/linux-probe".as_ptr() as u64,
            c"cloexec-after".as_ptr() as u64,
            0,
        ];
        let envp = [0u64];
        let r = sys(59, &[argv[0], argv.as_ptr() as u64, envp.as_ptr() as u64]);
        say!("septum-test: linux_execve_closes_cloexec FAILED execve: got {r}");
        exit(1);
    }
    if argc > 1 && arg(1) == b"cloexec-after" {
        let mut c = Case::new();
        c.eq("the plain duplicate stays", sys(72, &[20, 1]), 0);
        c.eq("the close-on-exec one is closed", sys(72, &[21, 1]), -EBADF);
        c.report("linux_execve_closes_cloexec");
        exit(0);
    }

    let mut c = Case::new();
    c.ok("argc", argc >= 1);
    c.eq("AT_PAGESZ", aux(6) as i64, 4096);
    c.ok("AT_ENTRY", aux(9) != 0);
    let phdr = aux(3) as *const u32;
    // SAFETY: AT_PHDR points at the program headers the loader mapped.
    c.ok(
        "AT_PHDR",
        !phdr.is_null() && unsafe { matches!(phdr.read(), 1 | 6) },
    );
    c.ok("AT_PHNUM", aux(5) >= 1);
    let random = aux(25) as *const u8;
    c.ok("AT_RANDOM", !random.is_null());
    // SAFETY: AT_RANDOM points at 16 bytes on the stack.
    c.ok("AT_RANDOM bytes", unsafe {
        (0..16).any(|i| random.add(i).read() != 0)
    });
    c.ok(
        "AT_EXECFN",
        aux(31) != 0 && cstr(aux(31) as *const u8) == arg(0),
    );
    c.ok("the stack is aligned", (sp as u64).is_multiple_of(16));
    c.report(if pie {
        "linux_static_pie_starts"
    } else {
        "linux_exec_stack_and_auxv"
    });
    if pie {
        exit(0);
    }

    let buf = [0u8; 64];
    let b = buf.as_ptr() as u64;
    let mut c = Case::new();
    c.eq("write null", sys(1, &[1, 0, 5]), -EFAULT);
    c.eq("write kernel", sys(1, &[1, KERNEL, 5]), -EFAULT);
    c.eq("write noncanonical", sys(1, &[1, NONCANON, 5]), -EFAULT);
    c.eq("write top page", sys(1, &[1, TOP_PAGE, 5]), -EFAULT);
    c.eq(
        "write across the top",
        sys(1, &[1, TOP_PAGE - 2, 5]),
        -EFAULT,
    );
    c.eq("write huge", sys(1, &[1, b, 1 << 62]), -EFAULT);
    c.eq("write wrapping", sys(1, &[1, b, u64::MAX]), -EFAULT);
    c.eq("write bad fd", sys(1, &[99, b, 1]), -EBADF);
    c.eq("write fd -1", sys(1, &[u64::MAX, b, 1]), -EBADF);
    c.eq("write 0 bytes", sys(1, &[1, 0, 0]), 0);
    c.eq("writev 1025", sys(20, &[1, b, 1025]), -EINVAL);
    c.eq("writev null", sys(20, &[1, 0, 1]), -EFAULT);
    let iov = [KERNEL, 4u64];
    c.eq(
        "writev kernel base",
        sys(20, &[1, iov.as_ptr() as u64, 1]),
        -EFAULT,
    );
    c.eq("read into kernel", sys(0, &[0, KERNEL, 5]), -EFAULT);
    c.eq("read bad fd", sys(0, &[99, b, 5]), -EBADF);
    c.report("linux_write_read_bad_pointers_and_fds");

    let mut c = Case::new();
    c.eq("open null", sys(2, &[0, 0]), -EFAULT);
    c.eq("open kernel", sys(2, &[KERNEL, 0]), -EFAULT);
    c.eq(
        "open missing",
        sys(2, &[c"/nonexistent".as_ptr() as u64, 0]),
        -ENOENT,
    );
    c.eq(
        "open through a file",
        sys(2, &[c"/etc/passwd/x".as_ptr() as u64, 0]),
        -ENOTDIR,
    );
    c.eq(
        "open file as dir",
        sys(2, &[c"/etc/passwd".as_ptr() as u64, 0o200000]),
        -ENOTDIR,
    );
    c.eq(
        "openat bad dirfd",
        sys(257, &[77, c"x".as_ptr() as u64, 0]),
        -EBADF,
    );
    let long = [b'a'; 5000];
    c.eq(
        "open long path",
        sys(2, &[long.as_ptr() as u64, 0]),
        -ENAMETOOLONG,
    );
    c.eq("stat empty", sys(4, &[c"".as_ptr() as u64, b]), -ENOENT);
    c.eq("fstat bad fd", sys(5, &[1000, b]), -EBADF);
    c.eq("fstat null", sys(5, &[1, 0]), -EFAULT);
    c.eq(
        "newfstatat bad flags",
        sys(
            262,
            &[(-100i64) as u64, c"/".as_ptr() as u64, b, 0x8000_0000],
        ),
        -EINVAL,
    );
    c.eq("close bad fd", sys(3, &[1000]), -EBADF);
    c.eq("close -1", sys(3, &[u64::MAX]), -EBADF);
    c.report("linux_open_stat_close_errors");

    let mut c = Case::new();
    let fd = sys(2, &[c"/etc/passwd".as_ptr() as u64, 0]);
    c.ok("open /etc/passwd", fd >= 3);
    let fd = fd as u64;
    let mut data = [0u8; 64];
    let n = sys(0, &[fd, data.as_mut_ptr() as u64, 64]);
    c.ok("read /etc/passwd", n > 5 && &data[..5] == b"root:");
    c.eq("read into kernel", sys(0, &[fd, KERNEL, 8]), -EFAULT);
    c.eq("lseek whence 99", sys(8, &[fd, 0, 99]), -EINVAL);
    c.eq("lseek before 0", sys(8, &[fd, (-10i64) as u64, 0]), -EINVAL);
    c.eq("lseek console", sys(8, &[1, 0, 0]), -ESPIPE);
    c.eq("lseek to 0", sys(8, &[fd, 0, 0]), 0);
    c.eq("getdents64 on a file", sys(217, &[fd, b, 64]), -ENOTDIR);
    c.eq("ioctl TCGETS on a file", sys(16, &[fd, 0x5401, b]), -ENOTTY);
    c.eq("sendfile bad fd", sys(40, &[1, 99, 0, 10]), -EBADF);
    let dir = sys(2, &[c"/".as_ptr() as u64, 0o200000]) as u64;
    c.eq("getdents64 count 1", sys(217, &[dir, b, 1]), -EINVAL);
    c.eq("getdents64 null", sys(217, &[dir, 0, 4096]), -EFAULT);
    c.eq("read a directory", sys(0, &[dir, b, 8]), -21);
    c.eq("close", sys(3, &[fd]), 0);
    c.eq("read closed", sys(0, &[fd, b, 8]), -EBADF);
    c.report("linux_files_and_directories");

    let mut c = Case::new();
    let mut fds = [0i32; 2];
    let fp = fds.as_mut_ptr() as u64;
    c.eq("pipe null", sys(22, &[0]), -EFAULT);
    c.eq("pipe kernel", sys(22, &[KERNEL]), -EFAULT);
    c.eq("pipe2 bad flags", sys(293, &[fp, 1]), -EINVAL);
    c.eq("pipe", sys(22, &[fp]), 0);
    let (r, w) = (fds[0] as u64, fds[1] as u64);
    c.ok("pipe fds", r >= 3 && w > r);
    c.eq("pipe F_GETFL read end", sys(72, &[r, 3]), 0);
    c.eq("pipe F_GETFL write end", sys(72, &[w, 3]), 1);
    c.eq("lseek a pipe", sys(8, &[r, 0, 0]), -ESPIPE);
    let mut st = [0u8; 144];
    c.eq("fstat a pipe", sys(5, &[r, st.as_mut_ptr() as u64]), 0);
    let mode = u32::from_ne_bytes([st[24], st[25], st[26], st[27]]);
    c.eq("a pipe is a FIFO", (mode & 0o170000) as i64, 0o010000);
    c.eq("write a pipe", sys(1, &[w, c"hello".as_ptr() as u64, 5]), 5);
    c.eq("read the write end", sys(0, &[w, b, 5]), -EBADF);
    c.eq("write the read end", sys(1, &[r, b, 5]), -EBADF);
    let mut got = [0u8; 8];
    c.eq("read a pipe", sys(0, &[r, got.as_mut_ptr() as u64, 8]), 5);
    c.ok("what was written", &got[..5] == b"hello");
    let d = sys(32, &[w]);
    c.ok("dup", d > w as i64);
    c.eq("dup bad fd", sys(32, &[99]), -EBADF);
    c.eq("dup2 bad fd", sys(33, &[99, 60]), -EBADF);
    c.eq("dup2 to itself", sys(33, &[w, w]), w as i64);
    c.eq("dup2 closed to itself", sys(33, &[99, 99]), -EBADF);
    c.eq("dup2 past the limit", sys(33, &[w, 1 << 20]), -EBADF);
    c.eq("dup3 to itself", sys(292, &[w, w, 0]), -EINVAL);
    c.eq("dup3 bad flags", sys(292, &[w, 60, 1]), -EINVAL);
    c.eq("dup3 O_CLOEXEC", sys(292, &[w, 60, 0o2000000]), 60);
    c.eq("F_GETFD after dup3", sys(72, &[60, 1]), 1);
    c.eq("F_GETFD after dup", sys(72, &[d as u64, 1]), 0);
    c.eq("close the dup3", sys(3, &[60]), 0);
    c.eq("close the write end", sys(3, &[w]), 0);
    // The dup is a writer still; once it closes, the reader sees EOF.
    c.eq(
        "write the dup",
        sys(1, &[d as u64, c"x".as_ptr() as u64, 1]),
        1,
    );
    c.eq("read the dup's byte", sys(0, &[r, b, 8]), 1);
    c.eq("close the dup", sys(3, &[d as u64]), 0);
    c.eq("read at EOF", sys(0, &[r, b, 8]), 0);
    c.eq("close the read end", sys(3, &[r]), 0);
    c.eq(
        "pipe2 O_NONBLOCK|O_CLOEXEC",
        sys(293, &[fp, 0o4000 | 0o2000000]),
        0,
    );
    let (r, w) = (fds[0] as u64, fds[1] as u64);
    c.eq("F_GETFD O_CLOEXEC", sys(72, &[r, 1]), 1);
    c.eq("F_GETFL O_NONBLOCK", sys(72, &[r, 3]), 0o4000);
    c.eq("read empty O_NONBLOCK", sys(0, &[r, b, 8]), -EAGAIN);
    c.eq("F_SETFL clears O_NONBLOCK", sys(72, &[w, 4, 0]), 0);
    c.eq("F_GETFL after F_SETFL", sys(72, &[w, 3]), 1);
    // SIGPIPE ignored, as Linux then gives the writer EPIPE alone.
    let ign = [1u64, 0, 0, 0];
    c.eq(
        "ignore SIGPIPE",
        sys(13, &[13, ign.as_ptr() as u64, 0, 8]),
        0,
    );
    c.eq("close the read end", sys(3, &[r]), 0);
    c.eq("write with no reader", sys(1, &[w, b, 1]), -EPIPE);
    c.eq("close the write end", sys(3, &[w]), 0);
    c.report("linux_pipes_and_dup");

    let mut c = Case::new();
    c.eq("mmap len 0", sys(9, &[0, 0, 3, 0x22, u64::MAX, 0]), -EINVAL);
    c.eq(
        "mmap no type",
        sys(9, &[0, 4096, 3, 0x20, u64::MAX, 0]),
        -EINVAL,
    );
    c.eq(
        "mmap huge",
        sys(9, &[0, 1 << 62, 3, 0x22, u64::MAX, 0]),
        -ENOMEM,
    );
    // Linux ignores protection bits it does not know (its mmap checks
    // none; mprotect does).
    let u = sys(9, &[0, 4096, 0x83, 0x22, u64::MAX, 0]);
    c.ok(
        "mmap unknown prot bits",
        u > 0 && (u as u64).is_multiple_of(4096),
    );
    c.eq("munmap it", sys(11, &[u as u64, 4096]), 0);
    c.eq("mmap bad fd", sys(9, &[0, 4096, 1, 2, 55, 0]), -EBADF);
    c.eq(
        "mmap fixed unaligned",
        sys(9, &[0x1234, 4096, 3, 0x32, u64::MAX, 0]),
        -EINVAL,
    );
    let m = sys(9, &[0, 8192, 3, 0x22, u64::MAX, 0]);
    c.ok("mmap anonymous", m > 0 && (m as u64).is_multiple_of(4096));
    // SAFETY: the page was just mapped read-write.
    let v = unsafe {
        (m as *mut u64).add(600).write_volatile(0x5e97);
        (m as *const u64).add(600).read_volatile()
    };
    c.eq("anonymous memory", v as i64, 0x5e97);
    c.eq("read into it", sys(0, &[0, m as u64 + 4000, 200]), 0);
    c.eq(
        "mprotect unaligned",
        sys(10, &[m as u64 + 1, 4096, 1]),
        -EINVAL,
    );
    c.eq("mprotect read-only", sys(10, &[m as u64, 8192, 1]), 0);
    let f = sys(2, &[c"/etc/passwd".as_ptr() as u64, 0]) as u64;
    c.eq(
        "read into read-only memory",
        sys(0, &[f, m as u64, 10]),
        -EFAULT,
    );
    c.eq(
        "write from read-only memory",
        sys(1, &[1, m as u64 + 4800, 0]),
        0,
    );
    sys(3, &[f]);
    c.eq("mprotect unmapped", sys(10, &[0x10_0000, 4096, 1]), -ENOMEM);
    c.eq("munmap unaligned", sys(11, &[m as u64 + 8, 4096]), -EINVAL);
    c.eq("munmap len 0", sys(11, &[m as u64, 0]), -EINVAL);
    c.eq("munmap", sys(11, &[m as u64, 8192]), 0);
    c.eq("write from unmapped", sys(1, &[1, m as u64, 4]), -EFAULT);
    // Areas are bounded (Linux's vm.max_map_count): mapping page after
    // page ends with ENOMEM, not with the guest kernel out of memory, and
    // unmapping them all works.
    let first = sys(9, &[0, 4096, 0, 0x22, u64::MAX, 0]);
    let mut last = first;
    let mut n = 1;
    let err = loop {
        let r = sys(9, &[0, 4096, 0, 0x22, u64::MAX, 0]);
        if r < 0 {
            break r;
        }
        last = r;
        n += 1;
        if n > 100_000 {
            break 0;
        }
    };
    c.eq("mmap past the area limit", err, -ENOMEM);
    c.ok("many areas first", n > 1000);
    c.eq(
        "munmap them all",
        sys(11, &[last as u64, (first - last) as u64 + 4096]),
        0,
    );
    c.ok("mmap again", sys(9, &[0, 4096, 3, 0x22, u64::MAX, 0]) > 0);
    // A path that runs off the end of mapped memory without its NUL.
    let two = sys(9, &[0, 8192, 3, 0x22, u64::MAX, 0]);
    c.eq(
        "unmap the second page",
        sys(11, &[two as u64 + 4096, 4096]),
        0,
    );
    // SAFETY: the first page is mapped read-write.
    unsafe { core::ptr::write_bytes(two as *mut u8, b'a', 4096) };
    // Linux reads at most PATH_MAX bytes of a path: 4096 without a NUL
    // are too long; fewer that run into the hole are a bad address.
    c.eq(
        "open a path of 4096 bytes",
        sys(2, &[two as u64, 0]),
        -ENAMETOOLONG,
    );
    c.eq(
        "open an unterminated path",
        sys(2, &[two as u64 + 100, 0]),
        -EFAULT,
    );
    c.eq("stat one", sys(4, &[two as u64 + 4000, b]), -EFAULT);
    let brk = sys(12, &[0]);
    c.ok("brk(0)", brk > 0);
    c.eq("brk huge", sys(12, &[1 << 62]), brk);
    c.report("linux_memory_calls");

    let mut c = Case::new();
    let mut ts = [0u64; 2];
    c.eq("ioctl TCGETS null", sys(16, &[1, 0x5401, 0]), -EFAULT);
    c.eq("ioctl unknown", sys(16, &[1, 0xdead, b]), -ENOTTY);
    c.eq("ioctl bad fd", sys(16, &[99, 0x5401, b]), -EBADF);
    c.eq(
        "clock_gettime 99",
        sys(228, &[99, ts.as_mut_ptr() as u64]),
        -EINVAL,
    );
    c.eq("clock_gettime null", sys(228, &[1, 0]), -EFAULT);
    c.eq("clock_gettime", sys(228, &[1, ts.as_mut_ptr() as u64]), 0);
    c.ok("nanoseconds in range", ts[1] < 1_000_000_000);
    c.eq("uname null", sys(63, &[0]), -EFAULT);
    c.eq("uname kernel", sys(63, &[KERNEL]), -EFAULT);
    c.eq("getrandom bad flags", sys(318, &[b, 16, 0x100]), -EINVAL);
    c.eq("getrandom null", sys(318, &[0, 16, 0]), -EFAULT);
    c.eq("arch_prctl unknown", sys(158, &[0x9999, 0]), -EINVAL);
    c.eq(
        "arch_prctl FS noncanonical",
        sys(158, &[0x1002, NONCANON]),
        -EPERM,
    );
    c.eq("arch_prctl GET_FS null", sys(158, &[0x1003, 0]), -EFAULT);
    c.eq("rt_sigaction SIGKILL", sys(13, &[9, b, 0, 8]), -EINVAL);
    c.eq("rt_sigaction size", sys(13, &[2, 0, 0, 4]), -EINVAL);
    c.eq("rt_sigprocmask size", sys(14, &[0, 0, 0, 4]), -EINVAL);
    c.eq("rt_sigprocmask how", sys(14, &[7, b, 0, 8]), -EINVAL);
    c.eq("prlimit64 other pid", sys(302, &[12345, 3, 0, b]), -ESRCH);
    c.eq("prlimit64 bad resource", sys(302, &[0, 99, 0, b]), -EINVAL);
    c.eq("getcwd small", sys(79, &[b, 1]), -34);
    // execve that must fail, leaving this program running.
    c.eq("execve null", sys(59, &[0, 0, 0]), -EFAULT);
    c.eq(
        "execve missing",
        sys(59, &[c"/nonexistent".as_ptr() as u64, 0, 0]),
        -ENOENT,
    );
    c.eq(
        "execve a text file",
        sys(59, &[c"/etc/passwd".as_ptr() as u64, 0, 0]),
        -13,
    );
    c.eq(
        "execve a directory",
        sys(59, &[c"/etc".as_ptr() as u64, 0, 0]),
        -13,
    );
    let bb = c"/bin/busybox".as_ptr() as u64;
    c.eq("execve argv kernel", sys(59, &[bb, KERNEL, 0]), -EFAULT);
    let bad = [KERNEL, 0u64];
    c.eq(
        "execve argv[0] kernel",
        sys(59, &[bb, bad.as_ptr() as u64, 0]),
        -EFAULT,
    );
    c.eq(
        "execve envp unterminated",
        sys(59, &[bb, 0, TOP_PAGE - 8]),
        -EFAULT,
    );
    c.eq("wait4 without children", sys(61, &[u64::MAX, b, 0, 0]), -10);
    c.eq(
        "wait4 bad options",
        sys(61, &[u64::MAX, b, 0x4, 0]),
        -EINVAL,
    );
    c.eq("clone a thread", sys(56, &[0x10900, 0, 0, 0, 0]), -EINVAL);
    c.eq(
        "clone sharing memory",
        sys(56, &[0x100 | 17, 0, 0, 0, 0]),
        -EINVAL,
    );
    c.eq("unknown call", sys(999, &[]), -ENOSYS);
    // Septum's own numbers are just more unknown Linux calls here: a
    // process in syscall-fault mode cannot reach the kernel's calls
    // (DebugWrite, Call, ThreadExit...), only its guest kernel.
    let msg = b"forged\n";
    for nr in 0x5e00..0x5e10 {
        c.eq(
            "a Septum number",
            sys(nr, &[msg.as_ptr() as u64, msg.len() as u64]),
            -ENOSYS,
        );
    }
    c.eq("the largest number", sys(u64::MAX, &[]), -ENOSYS);
    c.ok("getpid", sys(39, &[]) > 0);
    c.report("linux_other_calls_bad_arguments");
    poll_select_sleep();
    exit(0)
}

fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: `rdtsc` only reads the time-stamp counter.
    unsafe { core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    u64::from(hi) << 32 | u64::from(lo)
}

const RUNS: usize = 1001;

fn report(id: &str, s: &mut [u64]) {
    s.sort_unstable();
    let n = s.len();
    say!("bench: {id} {} {} {}", s[0], s[n / 2], s[n - 1]);
}

/// `linux-probe bench`: what a guest's system call, a first touch of a
/// page, a byte through a pipe and back, and a fork, exec and wait of a
/// static program cost, from `rdtsc` to `rdtsc`: instructions under
/// `-icount` (the `guest-icount` scenario, `cargo xtask bench`), cycles
/// otherwise.
fn bench() -> ! {
    let mut s = [0u64; RUNS];
    for x in s.iter_mut() {
        let t0 = rdtsc();
        sys(39, &[]);
        *x = rdtsc() - t0;
    }
    report("guest.getpid", &mut s);
    let len = RUNS as u64 * 4096;
    let area = sys(9, &[0, len, 3, 0x22, u64::MAX, 0]);
    if area < 0 {
        say!("bench: error mmap gave {area}");
        exit(1);
    }
    for (i, x) in s.iter_mut().enumerate() {
        let p = (area as u64 + i as u64 * 4096) as *mut u8;
        let t0 = rdtsc();
        // SAFETY: a page of the anonymous area just mapped, first touch.
        unsafe { p.write_volatile(1) };
        *x = rdtsc() - t0;
    }
    report("guest.page_fault", &mut s);
    // Fork copies present pages: give these back first.
    sys(11, &[area as u64, len]);

    // A child echoes each byte of one pipe into another.
    let (mut to, mut from) = ([0i32; 2], [0i32; 2]);
    sys(22, &[to.as_mut_ptr() as u64]);
    sys(22, &[from.as_mut_ptr() as u64]);
    let echo = sys(57, &[]);
    let mut b = [0u8; 1];
    let bp = b.as_mut_ptr() as u64;
    if echo == 0 {
        sys(3, &[to[1] as u64]);
        sys(3, &[from[0] as u64]);
        while sys(0, &[to[0] as u64, bp, 1]) == 1 {
            sys(1, &[from[1] as u64, bp, 1]);
        }
        exit(0);
    }
    sys(3, &[to[0] as u64]);
    sys(3, &[from[1] as u64]);
    for x in s.iter_mut() {
        let t0 = rdtsc();
        sys(1, &[to[1] as u64, bp, 1]);
        let n = sys(0, &[from[0] as u64, bp, 1]);
        *x = rdtsc() - t0;
        if n != 1 {
            say!("bench: error the pipe echo read {n}");
            exit(1);
        }
    }
    report("guest.pipe_byte_roundtrip", &mut s);
    sys(3, &[to[1] as u64]);
    sys(3, &[from[0] as u64]);
    wait(echo);

    // fork, execve of this static program (which exits at once), wait4.
    let argv = [
        c"/bin/linux-probe".as_ptr() as u64,
        c"exit".as_ptr() as u64,
        0,
    ];
    let envp = [0u64];
    let mut f = [0u64; 101];
    for x in f.iter_mut() {
        let t0 = rdtsc();
        let pid = sys(57, &[]);
        if pid == 0 {
            sys(59, &[argv[0], argv.as_ptr() as u64, envp.as_ptr() as u64]);
            exit(127);
        }
        let (r, st) = wait(pid);
        *x = rdtsc() - t0;
        if r != pid || st != 0 {
            say!("bench: error fork, exec and wait gave {r}, status {st}");
            exit(1);
        }
    }
    report("guest.fork_exec_wait", &mut f);
    say!("bench: done");
    exit(0)
}

/// `wait4(pid)`: its status, or the negative errno.
fn wait(pid: i64) -> (i64, i64) {
    let mut st = 0i32;
    let r = sys(61, &[pid as u64, &mut st as *mut i32 as u64, 0, 0]);
    (r, i64::from(st))
}

/// A child that touches page after page of a 64 MiB anonymous area,
/// writing a byte to `fd` after each MiB, until it runs out of memory:
/// how many MiB it got, and how it ended (its wait status).
fn hog(c: &mut Case) -> (usize, i64) {
    let mut fds = [0i32; 2];
    c.eq("pipe", sys(22, &[fds.as_mut_ptr() as u64]), 0);
    let pid = sys(57, &[]);
    if pid == 0 {
        sys(3, &[fds[0] as u64]);
        let len = 64u64 << 20;
        let a = sys(9, &[0, len, 3, 0x22, u64::MAX, 0]);
        if a < 0 {
            exit(2);
        }
        let mut off = 0;
        while off < len {
            // SAFETY: a page of the anonymous area this child mapped.
            unsafe { ((a as u64 + off) as *mut u8).write_volatile(1) };
            off += 4096;
            if off % (1 << 20) == 0 {
                sys(1, &[fds[1] as u64, b"M".as_ptr() as u64, 1]);
            }
        }
        exit(3);
    }
    c.ok("fork", pid > 0);
    sys(3, &[fds[1] as u64]);
    let mut got = 0;
    let mut buf = [0u8; 128];
    loop {
        let n = sys(
            0,
            &[fds[0] as u64, buf.as_mut_ptr() as u64, buf.len() as u64],
        );
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    sys(3, &[fds[0] as u64]);
    let (r, st) = wait(pid);
    c.eq("wait4 the hog", r, pid);
    (got, st)
}

/// `linux-probe processes`: twenty children alive at once (each blocks
/// reading a pipe until the parent closes its write end), then two
/// children in turn that touch memory until they exceed the
/// per-process limit: each is killed by SIGSEGV, the second gets as
/// much as the first (the first's memory came back), and this process
/// goes on.
fn processes() -> ! {
    const N: usize = 20;
    let mut c = Case::new();
    let mut fds = [0i32; 2];
    c.eq("pipe", sys(22, &[fds.as_mut_ptr() as u64]), 0);
    let mut pids = [0i64; N];
    for (i, pid) in pids.iter_mut().enumerate() {
        let r = sys(57, &[]);
        if r == 0 {
            sys(3, &[fds[1] as u64]);
            let mut b = [0u8; 1];
            let n = sys(0, &[fds[0] as u64, b.as_mut_ptr() as u64, 1]);
            exit(if n == 0 { 10 + i as u64 } else { 1 });
        }
        *pid = r;
        if r < 0 {
            break;
        }
    }
    c.eq(
        "fork",
        pids.iter().filter(|&&p| p > 0).count() as i64,
        N as i64,
    );
    sys(3, &[fds[1] as u64]);
    sys(3, &[fds[0] as u64]);
    for (i, &pid) in pids.iter().enumerate().filter(|(_, p)| **p > 0) {
        let (r, st) = wait(pid);
        c.eq("wait4", r, pid);
        c.eq("each child saw end-of-file", st, (10 + i as i64) << 8);
    }
    c.report("linux_twenty_processes_at_once");

    let mut c = Case::new();
    let (first, st1) = hog(&mut c);
    let (second, st2) = hog(&mut c);
    say!("memory hogs got {first} and {second} MiB");
    c.eq("the first is killed by SIGSEGV", st1 & 0x7f, 11);
    c.eq("the second is killed by SIGSEGV", st2 & 0x7f, 11);
    c.ok("the limit is at least 15 MiB", first >= 15);
    c.ok("the limit is at most 16 MiB", first <= 16);
    c.eq(
        "the second gets as much as the first",
        second as i64,
        first as i64,
    );
    c.report("linux_memory_limit_per_process");
    exit(0)
}

fn exit(code: u64) -> ! {
    sys(231, &[code]);
    loop {
        sys(60, &[code]);
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    write_all(2, b"linux-probe: panicked\n");
    exit(99)
}

/// CLOCK_MONOTONIC now, in nanoseconds.
fn monotonic() -> u64 {
    let mut ts = [0i64; 2];
    sys(228, &[1, ts.as_mut_ptr() as u64]);
    ts[0] as u64 * 1_000_000_000 + ts[1] as u64
}

/// poll, ppoll, select, pselect6, nanosleep and clock_nanosleep: the
/// errno Linux gives each bad argument, readiness of a pipe's two ends
/// and of /dev/null, and timeouts that end no earlier than asked.
fn poll_select_sleep() {
    const POLLIN: i16 = 1;
    const POLLOUT: i16 = 4;
    const POLLHUP: i16 = 0x10;
    const POLLNVAL: i16 = 0x20;
    const EOPNOTSUPP: i64 = 95;
    let mut c = Case::new();
    let mut fds = [0i32; 2];
    c.eq("pipe", sys(22, &[fds.as_mut_ptr() as u64]), 0);
    let (r, w) = (fds[0], fds[1]);
    /// `struct pollfd`.
    #[repr(C)]
    struct PollFd(i32, i16, i16);
    let mut pf = [
        PollFd(r, POLLIN, 0),
        PollFd(w, POLLOUT, 0),
        PollFd(-1, POLLIN, 7),
        PollFd(50, POLLIN, 0),
    ];
    let at = pf.as_mut_ptr() as u64;
    c.eq("poll null", sys(7, &[0, 1, 0]), -EFAULT);
    c.eq("poll kernel-half", sys(7, &[KERNEL, 1, 0]), -EFAULT);
    c.eq("poll no descriptors", sys(7, &[0, 0, 0]), 0);
    c.eq("poll past RLIMIT_NOFILE", sys(7, &[at, 1025, 0]), -EINVAL);
    c.eq("poll an empty pipe", sys(7, &[at, 1, 0]), 0);
    c.eq("poll four", sys(7, &[at, 4, 0]), 2);
    c.eq("the empty read end", pf[0].2 as i64, 0);
    c.eq("the write end has room", pf[1].2 as i64, POLLOUT as i64);
    c.eq("a negative fd is skipped", pf[2].2 as i64, 0);
    c.eq("a closed fd is POLLNVAL", pf[3].2 as i64, POLLNVAL as i64);
    sys(1, &[w as u64, c"z".as_ptr() as u64, 1]);
    c.eq("poll with data", sys(7, &[at, 1, 0]), 1);
    c.eq("the read end has data", pf[0].2 as i64, POLLIN as i64);
    let null = sys(2, &[c"/dev/null".as_ptr() as u64, 2]);
    let mut pn = [PollFd(null as i32, POLLIN | POLLOUT, 0)];
    c.eq("poll /dev/null", sys(7, &[pn.as_mut_ptr() as u64, 1, 0]), 1);
    c.eq(
        "/dev/null is ready",
        pn[0].2 as i64,
        (POLLIN | POLLOUT) as i64,
    );
    sys(3, &[null as u64]);
    let mut b = [0u8; 4];
    sys(0, &[r as u64, b.as_mut_ptr() as u64, 4]);
    let t0 = monotonic();
    c.eq("poll 20 ms, nothing comes", sys(7, &[at, 1, 20]), 0);
    c.ok("poll waited its 20 ms", monotonic() - t0 >= 20_000_000);
    // ppoll: timespec and sigset checks.
    let bad_ns = [0i64, 1_000_000_000];
    let neg = [-1i64, 0];
    let zero = [0i64, 0];
    let mask = 0u64;
    let ts = |t: &[i64; 2]| t.as_ptr() as u64;
    c.eq(
        "ppoll bad tv_nsec",
        sys(271, &[at, 1, ts(&bad_ns), 0, 8]),
        -EINVAL,
    );
    c.eq(
        "ppoll negative tv_sec",
        sys(271, &[at, 1, ts(&neg), 0, 8]),
        -EINVAL,
    );
    c.eq(
        "ppoll timespec kernel-half",
        sys(271, &[at, 1, KERNEL, 0, 8]),
        -EFAULT,
    );
    let mp = &mask as *const u64 as u64;
    c.eq(
        "ppoll bad sigset size",
        sys(271, &[at, 1, ts(&zero), mp, 4]),
        -EINVAL,
    );
    c.eq(
        "ppoll zero timeout",
        sys(271, &[at, 1, ts(&zero), mp, 8]),
        0,
    );
    let mut ten = [0i64, 10_000_000];
    let t0 = monotonic();
    c.eq(
        "ppoll 10 ms",
        sys(271, &[at, 1, ten.as_mut_ptr() as u64, 0, 8]),
        0,
    );
    c.ok("ppoll waited its 10 ms", monotonic() - t0 >= 10_000_000);
    c.eq("ppoll wrote back the time left", ten[0] + ten[1], 0);
    // select and pselect6.
    // Each call takes a fresh pointer to the set it changes.
    let mut set = [0u64; 16];
    let mut tv = [0i64, 0];
    let tvp = tv.as_mut_ptr() as u64;
    c.eq(
        "select negative nfds",
        sys(23, &[u64::MAX, set.as_mut_ptr() as u64, 0, 0, tvp]),
        -EINVAL,
    );
    c.eq(
        "select set kernel-half",
        sys(23, &[64, KERNEL, 0, 0, tvp]),
        -EFAULT,
    );
    let neg_us = [0i64, -1];
    c.eq(
        "select negative tv_usec",
        sys(
            23,
            &[64, set.as_mut_ptr() as u64, 0, 0, neg_us.as_ptr() as u64],
        ),
        -EINVAL,
    );
    set[0] = 1 << 50;
    c.eq(
        "select a closed fd",
        sys(23, &[51, set.as_mut_ptr() as u64, 0, 0, tvp]),
        -EBADF,
    );
    set[0] = 1 << r;
    c.eq(
        "select an empty pipe",
        sys(23, &[64, set.as_mut_ptr() as u64, 0, 0, tvp]),
        0,
    );
    c.eq("select cleared the set", set[0] as i64, 0);
    sys(1, &[w as u64, c"y".as_ptr() as u64, 1]);
    set[0] = 1 << r | 1 << w;
    let mut wset = [0u64; 16];
    wset[0] = 1 << w;
    c.eq(
        "select ready",
        sys(
            23,
            &[
                64,
                set.as_mut_ptr() as u64,
                wset.as_mut_ptr() as u64,
                0,
                tvp,
            ],
        ),
        2,
    );
    c.eq("select: the read end", set[0] as i64, 1 << r);
    c.eq("select: the write end", wset[0] as i64, 1 << w);
    sys(0, &[r as u64, b.as_mut_ptr() as u64, 4]);
    set[0] = 1 << r;
    let mut tv = [0i64, 10_000];
    let t0 = monotonic();
    c.eq(
        "select 10 ms",
        sys(
            23,
            &[64, set.as_mut_ptr() as u64, 0, 0, tv.as_mut_ptr() as u64],
        ),
        0,
    );
    c.ok("select waited its 10 ms", monotonic() - t0 >= 10_000_000);
    c.eq("select wrote back the time left", tv[0] + tv[1], 0);
    let sig = [mp, 4u64];
    c.eq(
        "pselect6 bad tv_nsec",
        sys(270, &[64, set.as_mut_ptr() as u64, 0, 0, ts(&bad_ns), 0]),
        -EINVAL,
    );
    c.eq(
        "pselect6 bad sigset size",
        sys(
            270,
            &[
                64,
                set.as_mut_ptr() as u64,
                0,
                0,
                ts(&zero),
                sig.as_ptr() as u64,
            ],
        ),
        -EINVAL,
    );
    c.eq(
        "pselect6 sigset kernel-half",
        sys(270, &[64, set.as_mut_ptr() as u64, 0, 0, ts(&zero), KERNEL]),
        -EFAULT,
    );
    // Closing the write end hangs the read end up.
    sys(3, &[w as u64]);
    c.eq("poll after the writer left", sys(7, &[at, 1, 0]), 1);
    c.eq("the read end is hung up", pf[0].2 as i64, POLLHUP as i64);
    sys(3, &[r as u64]);
    // nanosleep and clock_nanosleep.
    c.eq("nanosleep null", sys(35, &[0, 0]), -EFAULT);
    c.eq("nanosleep kernel-half", sys(35, &[KERNEL, 0]), -EFAULT);
    c.eq("nanosleep bad tv_nsec", sys(35, &[ts(&bad_ns), 0]), -EINVAL);
    c.eq("nanosleep negative", sys(35, &[ts(&neg), 0]), -EINVAL);
    let ms2 = [0i64, 2_000_000];
    let t0 = monotonic();
    c.eq("nanosleep 2 ms", sys(35, &[ts(&ms2), 0]), 0);
    c.ok("nanosleep slept its 2 ms", monotonic() - t0 >= 2_000_000);
    c.eq(
        "clock_nanosleep unknown clock",
        sys(230, &[99, 0, ts(&ms2), 0]),
        -EINVAL,
    );
    c.eq(
        "clock_nanosleep negative clock",
        sys(230, &[u64::MAX, 0, ts(&ms2), 0]),
        -EINVAL,
    );
    c.eq(
        "clock_nanosleep thread CPU clock",
        sys(230, &[3, 0, ts(&ms2), 0]),
        -EOPNOTSUPP,
    );
    c.eq(
        "clock_nanosleep MONOTONIC_RAW",
        sys(230, &[4, 0, ts(&ms2), 0]),
        -EOPNOTSUPP,
    );
    c.eq(
        "clock_nanosleep bad tv_nsec",
        sys(230, &[1, 0, ts(&bad_ns), 0]),
        -EINVAL,
    );
    c.eq("clock_nanosleep null", sys(230, &[1, 0, 0, 0]), -EFAULT);
    let target = monotonic() + 3_000_000;
    let abs = [
        (target / 1_000_000_000) as i64,
        (target % 1_000_000_000) as i64,
    ];
    c.eq(
        "clock_nanosleep TIMER_ABSTIME",
        sys(230, &[1, 1, ts(&abs), 0]),
        0,
    );
    c.ok("slept until the absolute time", monotonic() >= target);
    c.eq(
        "an absolute time passed",
        sys(230, &[1, 1, ts(&zero), 0]),
        0,
    );
    c.eq("a zero sleep", sys(35, &[ts(&zero), 0]), 0);
    c.report("linux_poll_select_and_sleep");
}
