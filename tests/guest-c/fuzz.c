/* A random-argument fuzzer over the calls the shim implements
 * (l4linux-shim/src/syscall/mod.rs TABLE), attacking the guest kernel
 * from a process as an attacker would. A fixed-seed generator draws each
 * argument from a set of interesting values of its kind: 0, -1, INT_MIN
 * and INT_MAX, kernel-half, non-canonical, unmapped, guard-page,
 * page-crossing and misaligned pointers, huge lengths, random flags, and
 * good values (open descriptors, real buffers, existing paths).
 *
 * Each of CHILDREN forked children makes CALLS calls in a fresh
 * directory of its own, with its descriptors on /dev/null, its own
 * process group and low resource limits; a child killed by a signal
 * (SIGSEGV from a handler at a random address, a signal it sent itself,
 * SIGXFSZ, ...) is fine. A watchdog kills a child that hangs. Afterwards
 * the parent checks that the kernel still serves: getpid, a file written
 * and read back, fork and wait, a pipe. It prints only what Linux and the
 * shim must agree on (the errnos of random calls differ and are not
 * printed): the plan, that no child hung, and the checks.
 *
 * Left out, because they would end or hang the fuzzer itself or harm
 * the host it also runs on:
 *  - exit, exit_group (end the child before its calls are made);
 *    rt_sigreturn (a forged frame: hostile.c); pause, rt_sigsuspend
 *    (wait for ever: nothing signals the child);
 *  - sync, syncfs (flush the whole host's disks on every build);
 *  - a blocking wait: poll's timeout is 0, the timeouts of select,
 *    pselect6, ppoll, nanosleep and clock_nanosleep point to zero or one
 *    microsecond (or are bad pointers, never NULL), clock_nanosleep
 *    never sleeps on a CPU-time clock, wait4 and waitid
 *    always have WNOHANG, a pipe is made non-blocking before each read
 *    or write of it (the child holds both ends), fcntl never takes
 *    F_SETLKW, F_OFD_SETLKW or a lease, clone's exit signal and the
 *    signals sent are never a stop signal;
 *  - the host: pids are only 0, the child's own (as a pid and a group)
 *    and ones that cannot exist (never -1, never another process's, not
 *    even a child's, whose pid may be reused once it is reaped); paths only name files of its directory (no
 *    absolute or `..` path); prlimit64 sets limits only from a page of
 *    zeros (lower); fcntl never F_SETOWN/F_SETSIG/F_NOTIFY; ioctl
 *    requests come from a list (no filesystem's); RLIMIT_FSIZE 1 MiB,
 *    RLIMIT_AS 256 MiB, RLIMIT_CORE 0;
 *  - execve succeeds on nothing: no path names a program;
 *  - fork, vfork and clone are made, but their child calls exit (60) at
 *    once, in assembly, touching no stack. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHILDREN 24
#define CALLS 300
#define SEED 0x5e9a7f00d15ea5e5ULL
#define WATCHDOG_SECONDS 30

/* Argument kinds: f fd, d dirfd, p pointer, s path, n length, l offset,
 * F flags, m mode, u uid/gid, P pid, G signal, Z timeout pointer, z
 * timeout int (0), W wait options, w waitid idtype, c fcntl command, i
 * ioctl request, r prctl option, a arch_prctl code, k clock id, K
 * clock id to sleep on (no CPU-time clock: a sleeping process's CPU time
 * does not pass, and no other process's), h
 * sigset size, R rlimit to set, V iovec array, x anything. */
struct call {
    long nr;
    const char *sig;
};

static const struct call calls[] = {
    {SYS_read, "fpn"},
    {SYS_write, "fpn"},
    {SYS_open, "sFm"},
    {SYS_close, "f"},
    {SYS_stat, "sp"},
    {SYS_fstat, "fp"},
    {SYS_lstat, "sp"},
    {SYS_poll, "pnz"},
    {SYS_lseek, "flx"},
    {SYS_mmap, "pnxFfl"},
    {SYS_mprotect, "pnx"},
    {SYS_munmap, "pn"},
    {SYS_brk, "p"},
    {SYS_rt_sigaction, "Gpph"},
    {SYS_rt_sigprocmask, "xpph"},
    {SYS_ioctl, "fip"},
    {SYS_pread64, "fpnl"},
    {SYS_pwrite64, "fpnl"},
    {SYS_readv, "fVn"},
    {SYS_writev, "fVn"},
    {SYS_access, "sx"},
    {SYS_pipe, "p"},
    {SYS_select, "npppZ"},
    {SYS_madvise, "pnx"},
    {SYS_dup, "f"},
    {SYS_dup2, "ff"},
    {SYS_nanosleep, "Zp"},
    {SYS_getpid, ""},
    {SYS_sendfile, "ffpn"},
    {SYS_clone, "Fppxx"},
    {SYS_fork, ""},
    {SYS_vfork, ""},
    {SYS_execve, "spp"},
    {SYS_wait4, "PpWp"},
    {SYS_kill, "PG"},
    {SYS_uname, "p"},
    {SYS_fcntl, "fcx"},
    {SYS_fsync, "f"},
    {SYS_fdatasync, "f"},
    {SYS_truncate, "sl"},
    {SYS_ftruncate, "fl"},
    {SYS_getcwd, "pn"},
    {SYS_chdir, "s"},
    {SYS_fchdir, "f"},
    {SYS_rename, "ss"},
    {SYS_mkdir, "sm"},
    {SYS_rmdir, "s"},
    {SYS_creat, "sm"},
    {SYS_link, "ss"},
    {SYS_unlink, "s"},
    {SYS_symlink, "ss"},
    {SYS_readlink, "spn"},
    {SYS_chmod, "sm"},
    {SYS_fchmod, "fm"},
    {SYS_chown, "suu"},
    {SYS_fchown, "fuu"},
    {SYS_lchown, "suu"},
    {SYS_umask, "m"},
    {SYS_gettimeofday, "pp"},
    {SYS_sysinfo, "p"},
    {SYS_getuid, ""},
    {SYS_getgid, ""},
    {SYS_geteuid, ""},
    {SYS_getegid, ""},
    {SYS_setpgid, "PP"},
    {SYS_getppid, ""},
    {SYS_getpgrp, ""},
    {SYS_setsid, ""},
    {SYS_getgroups, "np"},
    {SYS_getpgid, "P"},
    {SYS_getsid, "P"},
    {SYS_rt_sigpending, "ph"},
    {SYS_sigaltstack, "pp"},
    {SYS_utime, "sp"},
    {SYS_statfs, "sp"},
    {SYS_fstatfs, "fp"},
    {SYS_prctl, "rpxxx"},
    {SYS_arch_prctl, "ap"},
    {SYS_gettid, ""},
    {SYS_tkill, "PG"},
    {SYS_time, "p"},
    {SYS_getdents64, "fpn"},
    {SYS_set_tid_address, "p"},
    {SYS_clock_gettime, "kp"},
    {SYS_clock_nanosleep, "KFZp"},
    {SYS_tgkill, "PPG"},
    {SYS_utimes, "sp"},
    {SYS_waitid, "wPpWp"},
    {SYS_openat, "dsFm"},
    {SYS_mkdirat, "dsm"},
    {SYS_fchownat, "dsuuF"},
    {SYS_futimesat, "dsp"},
    {SYS_newfstatat, "dspF"},
    {SYS_unlinkat, "dsF"},
    {SYS_renameat, "dsds"},
    {SYS_linkat, "dsdsF"},
    {SYS_symlinkat, "sds"},
    {SYS_readlinkat, "dspn"},
    {SYS_fchmodat, "dsm"},
    {SYS_faccessat, "dsx"},
    {SYS_pselect6, "npppZp"},
    {SYS_ppoll, "pnZph"},
    {SYS_utimensat, "dspF"},
    {SYS_dup3, "ffF"},
    {SYS_pipe2, "pF"},
    {SYS_preadv, "fVnll"},
    {SYS_pwritev, "fVnll"},
    {SYS_prlimit64, "PxRp"},
    {SYS_renameat2, "dsdsF"},
    {SYS_getrandom, "pnF"},
    {SYS_copy_file_range, "fpfpnF"},
    {SYS_statx, "dsFxp"},
    {SYS_faccessat2, "dsxF"},
};
#define NCALLS ((int)(sizeof calls / sizeof calls[0]))

static uint64_t rng;

static uint64_t next(void)
{
    /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dULL;
}

static long pick(const long *set, int n)
{
    return set[next() % (uint64_t)n];
}
#define PICK(set) pick(set, (int)(sizeof set / sizeof set[0]))

static inline long sys6(long nr, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

/* fork, vfork, clone: the new process (or thread) runs on whatever stack
 * it was given, so it calls exit at once without touching it. */
static inline long sys_forklike(long nr, long a, long b, long c, long d, long e)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    long ret;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "mov $60, %%eax\n\t"
                     "xor %%edi, %%edi\n\t"
                     "syscall\n\t"
                     "1:"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
}

#define PAGE 4096L
/* The child's areas, one mapping: buf (2 pages, random bytes), a guard
 * page, buf2, a read-only page of zeros, the timeouts' page, the path
 * page (read-only, 'A's to its end), a second guard, the iovec page
 * (read-only), and a page unmapped again. */
enum { P_BUF = 0, P_GUARD = 2, P_BUF2, P_ZERO, P_TIME, P_PATH, P_GUARD2, P_IOV, P_HOLE, P_COUNT };
static char *area;
#define AT(p) (area + (p) * PAGE)

static long self;
/* With -DFUZZ_VERBOSE the parent prints, per child, how far it came and
 * how it ended and the child the number of each call (a page shared
 * with the parent): for looking into a finding, never in the test. */
#ifdef FUZZ_VERBOSE
static volatile long *progress;
#endif

static long ptr_value(void)
{
    long guard = (long)AT(P_GUARD);
    const long set[] = {
        0, 1, 0xffff800000000000L, (long)0xffffffffff600000UL, -1L,
        0x0000800000000000L, (long)0x8000000000000000UL, 0x7ffffffff000L,
        0x7fffffffffffL, 0x7ffffffffff8L, (long)AT(P_HOLE), guard, guard - 1,
        guard - 8, guard - PAGE + 1, (long)AT(P_BUF), (long)AT(P_BUF) + 1,
        (long)AT(P_BUF) + 3, (long)AT(P_BUF) + 64, (long)AT(P_BUF2),
        (long)AT(P_ZERO), (long)AT(P_IOV), (long)AT(P_GUARD2),
        (long)(next() & 0x7fffffffffffUL), (long)next(),
    };
    return PICK(set);
}

static long len_value(void)
{
    const long set[] = {
        0, 1, 2, 7, 8, 16, 64, 4095, 4096, 4097, 8192, 65536, 1L << 20,
        INT_MAX, 0x80000000L, 0xffffffffL, 1L << 32, 1L << 40, LONG_MAX, -1L,
        LONG_MIN, (long)(next() & 0xffff), (long)next(),
    };
    return PICK(set);
}

static long fd_value(void)
{
    const long set[] = {
        -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 63, 64, 1023, 1024, 1L << 20,
        1L << 30, INT_MAX, INT_MIN, 0x100000003L, (long)next(),
    };
    return PICK(set);
}

static long flags_value(void)
{
    const long set[] = {
        0, -1, 1, 0x40, 0x42, 0x241, 0x800, 0x10000, 0x80000, 0x200000,
        0x410000, 0x1000, 0x100, 0x400, 1L << (next() % 64),
        (long)(next() & 0xffffffffUL), (long)next(),
    };
    return PICK(set);
}

static long pid_value(void)
{
    long set[] = {
        0, self, -self, 1L << 30, -(1L << 30), INT_MIN, INT_MAX,
        0xdead00000000L | self,
    };
    return PICK(set);
}

static long sig_value(void)
{
    const long set[] = {
        0, 0, 0, 0, 65, -1, INT_MIN, 128, 1L << 32 | 10, 17, 18, 23, 28,
        9, 10, 11, 64, (long)next(),
    };
    long s = PICK(set);
    int low = (int)s;
    if (low >= SIGSTOP && low <= SIGTTOU && low != SIGCONT)
        s = 0;
    return s;
}

static long path_value(void)
{
    static char longname[NAME_MAX + 8];
    static char longpath[PATH_MAX + 64];
    if (!longname[0]) {
        memset(longname, 'n', sizeof longname - 1);
        for (size_t i = 0; i + 7 < sizeof longpath - 1; i += 7)
            memcpy(longpath + i, "fz-dir/", 7);
    }
    long guard2 = (long)AT(P_GUARD2);
    const long set[] = {
        (long)"fz-a", (long)"fz-b", (long)"fz-dir", (long)"fz-dir/c",
        (long)"fz-link", (long)"fz-loop", (long)"fz-dangle", (long)"",
        (long)".", (long)"fz-a/", (long)"fz-a/x", (long)"fz-dir/../fz-b",
        (long)"fz-dir/d", (long)longname, (long)longpath, guard2 - 100,
        guard2 - 1, 0, 0xffff800000000000L, 0x0000800000000000L,
        (long)AT(P_HOLE), -1L,
    };
    return PICK(set);
}

static long value(char kind)
{
    switch (kind) {
    case 'f':
        return fd_value();
    case 'd': {
        const long set[] = {AT_FDCWD, AT_FDCWD, -1, 6, 3, 1L << 30, 0x1ffffff9cL};
        long v = PICK(set);
        return next() % 4 ? v : fd_value();
    }
    case 'p':
        return ptr_value();
    case 's':
        return path_value();
    case 'n':
        return len_value();
    case 'l': {
        const long set[] = {0, 1, -1, 4096, 1L << 40, LONG_MAX, LONG_MIN,
                            0x7ffff000L, (long)next()};
        return PICK(set);
    }
    case 'F':
        return flags_value();
    case 'm': {
        const long set[] = {0, 0777, 07777, 0644, 0xffffffffL, (long)next()};
        return PICK(set);
    }
    case 'u': {
        const long set[] = {0, -1, 1000, 65534, 0xffffffffL, (long)next()};
        return PICK(set);
    }
    case 'P':
        return pid_value();
    case 'G':
        return sig_value();
    case 'Z': {
        const long set[] = {(long)AT(P_TIME), (long)AT(P_TIME) + 64,
                            (long)AT(P_TIME) + 1, 0xffff800000000000L,
                            0x0000800000000000L, (long)AT(P_HOLE),
                            (long)AT(P_GUARD) - 8};
        return PICK(set);
    }
    case 'z':
        return 0;
    case 'W':
        return (flags_value() & ~(long)WUNTRACED) | WNOHANG;
    case 'w': {
        const long set[] = {0, 1, 2, 3, 4, -1, (long)next()};
        return PICK(set);
    }
    case 'c': {
        const long set[] = {0, 1, 2, 3, 4, 5, 6, 1030, 1031, 1032, -1, 9999,
                            1L << 32 | 3};
        return PICK(set);
    }
    case 'i': {
        const long set[] = {0x5401, 0x5402, 0x5403, 0x5404, 0x5409, 0x540a,
                            0x540b, 0x540e, 0x540f, 0x5410, 0x5413, 0x5414,
                            0x541b, 0x5421, 0x5429, 0x5451, 0, -1,
                            0xdeadbeefL};
        return PICK(set);
    }
    case 'r': {
        const long set[] = {15, 16, 0, -1, 1000, 1L << 32 | 16};
        return PICK(set);
    }
    case 'a': {
        const long set[] = {0x1001, 0x1002, 0x1003, 0x1004, 0x1011, 0x3001,
                            0, -1, (long)next()};
        return PICK(set);
    }
    case 'k': {
        const long set[] = {0, 1, 2, 3, 4, 5, 6, 7, 11, -1, -2, 1L << 30,
                            INT_MIN, (long)next()};
        return PICK(set);
    }
    case 'K': {
        const long set[] = {0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, -1, 1L << 30, INT_MIN};
        return PICK(set);
    }
    case 'h': {
        const long set[] = {8, 8, 0, 4, 16, -1, 1L << 32 | 8};
        return PICK(set);
    }
    case 'R': {
        const long set[] = {0, 0, (long)AT(P_ZERO), 0xffff800000000000L,
                            0x0000800000000000L, (long)AT(P_HOLE),
                            (long)AT(P_GUARD) - 8};
        return PICK(set);
    }
    case 'V': {
        const long set[] = {(long)AT(P_IOV), (long)AT(P_IOV) + 32,
                            (long)AT(P_IOV) + 64, (long)AT(P_IOV) + 96,
                            (long)AT(P_IOV) + 1, (long)AT(P_IOV) + PAGE - 16,
                            0, 0xffff800000000000L, (long)AT(P_HOLE)};
        return PICK(set);
    }
    default:
        return next() % 2 ? len_value() : ptr_value();
    }
}

static int reads_or_writes(long nr)
{
    switch (nr) {
    case SYS_read:
    case SYS_write:
    case SYS_readv:
    case SYS_writev:
    case SYS_pread64:
    case SYS_pwrite64:
    case SYS_preadv:
    case SYS_pwritev:
    case SYS_sendfile:
    case SYS_copy_file_range:
        return 1;
    }
    return 0;
}

/* A pipe's ends are the child's own: a read of an empty one or a write
 * of a full one would wait for ever, so make it non-blocking first. */
static void unblock(long fd)
{
    struct stat st;
    if (sys6(SYS_fstat, fd, (long)&st, 0, 0, 0, 0) != 0 || !S_ISFIFO(st.st_mode))
        return;
    long fl = sys6(SYS_fcntl, fd, F_GETFL, 0, 0, 0, 0);
    if (fl >= 0)
        sys6(SYS_fcntl, fd, F_SETFL, fl | O_NONBLOCK, 0, 0, 0);
}

static void fuzz_call(void)
{
    const struct call *c = &calls[next() % NCALLS];
#ifdef FUZZ_VERBOSE
    progress[1] = c->nr;
#endif
    long a[6] = {0};
    for (int i = 0; c->sig[i]; i++)
        a[i] = value(c->sig[i]);
    if (c->nr == SYS_clone) {
        /* Never a stop signal as the exit signal (it would stop this
         * process when the new one exits). */
        int sig = (int)(a[0] & 0xff);
        if (sig >= SIGSTOP && sig <= SIGTTOU && sig != SIGCONT)
            a[0] = (a[0] & ~0xffL) | SIGCHLD;
    }
    if (reads_or_writes(c->nr)) {
        for (int i = 0; c->sig[i]; i++)
            if (c->sig[i] == 'f' && (unsigned)a[i] < 64)
                unblock((unsigned)a[i]);
    }
    if (c->nr == SYS_clone || c->nr == SYS_fork || c->nr == SYS_vfork)
        sys_forklike(c->nr, a[0], a[1], a[2], a[3], a[4]);
    else
        sys6(c->nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static void limit(int res, rlim_t v)
{
    struct rlimit l = {v, v};
    setrlimit(res, &l);
}

static void write_file(const char *name, const char *text)
{
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        (void)!write(fd, text, strlen(text));
        close(fd);
    }
}

/* The child: its own group, limits, directory, descriptors and areas,
 * then CALLS random calls; it ends by exit_group, if it lives. */
static void child(int n)
{
    /* kill(0) and kill(-self) must reach only this child's group. */
    if (setpgid(0, 0) != 0 || getpgrp() != getpid())
        _exit(102);
    limit(RLIMIT_FSIZE, 1 << 20);
    limit(RLIMIT_AS, 256 << 20);
    limit(RLIMIT_CORE, 0);
    char dir[32];
    snprintf(dir, sizeof dir, "fz%d", n);
    if (chdir(dir) != 0)
        _exit(100);
    write_file("fz-a", "the fuzzer's file, a hundred bytes or so, to read, map, copy, "
                       "truncate and send.\n");
    mkdir("fz-dir", 0755);
    write_file("fz-dir/c", "c\n");
    (void)!symlink("fz-a", "fz-link");
    (void)!symlink("fz-loop", "fz-loop");
    (void)!symlink("fz-none", "fz-dangle");
    for (int fd = 0; fd < 64; fd++)
        close(fd);
    /* 0, 1, 2: /dev/null; 3: fz-a; 4, 5: a pipe; 6: the directory;
     * 7: fz-dir/c; 8: /dev/null. */
    open("/dev/null", O_RDWR);
    dup(0);
    dup(0);
    open("fz-a", O_RDWR);
    int p[2];
    pipe2(p, O_NONBLOCK);
    open(".", O_RDONLY | O_DIRECTORY);
    open("fz-dir/c", O_RDONLY);
    open("/dev/null", O_RDWR);

    area = mmap(0, P_COUNT * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED)
        _exit(101);
    for (long i = 0; i < 2 * PAGE; i += 8)
        *(uint64_t *)(AT(P_BUF) + i) = next();
    for (long i = 0; i < PAGE; i += 8)
        *(uint64_t *)(AT(P_BUF2) + i) = next();
    struct timespec *t = (struct timespec *)(AT(P_TIME) + 64);
    t->tv_nsec = 1000;
    memset(AT(P_PATH), 'A', PAGE);
    /* iovec arrays of 2: good, into the guard, empty and huge, bad. */
    struct {
        long base, len;
    } *v = (void *)AT(P_IOV);
    long g = (long)AT(P_GUARD);
    const long iovs[][2] = {
        {(long)AT(P_BUF), 16},     {(long)AT(P_BUF2), 64},
        {g - 8, 16},               {(long)AT(P_BUF), 8},
        {0, 0},                    {(long)AT(P_BUF), LONG_MAX},
        {0xffff800000000000L, 8},  {(long)AT(P_BUF), -1},
        {(long)AT(P_HOLE), 1},     {(long)AT(P_BUF), PAGE},
    };
    for (size_t i = 0; i < sizeof iovs / sizeof iovs[0]; i++) {
        v[i].base = iovs[i][0];
        v[i].len = iovs[i][1];
    }
    for (long i = PAGE / 16 - 1; i >= (long)(sizeof iovs / sizeof iovs[0]); i--) {
        v[i].base = (long)AT(P_BUF);
        v[i].len = 1;
    }
    mprotect(AT(P_GUARD), PAGE, PROT_NONE);
    mprotect(AT(P_ZERO), PAGE, PROT_READ);
    mprotect(AT(P_PATH), PAGE, PROT_READ);
    mprotect(AT(P_GUARD2), PAGE, PROT_NONE);
    mprotect(AT(P_IOV), PAGE, PROT_READ);
    munmap(AT(P_HOLE), PAGE);

    self = getpid();
    for (int i = 0; i < CALLS; i++) {
#ifdef FUZZ_VERBOSE
        progress[0] = i;
#endif
        fuzz_call();
    }
    sys6(SYS_exit_group, 0, 0, 0, 0, 0, 0);
}

/* Remove what a child left in `dir` (best effort: the parent checks
 * afterwards that it can use the directory). */
static void remove_tree(int at, const char *name)
{
    if (unlinkat(at, name, 0) == 0)
        return;
    fchmodat(at, name, 0700, 0);
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (fd >= 0) {
        DIR *d = fdopendir(fd);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                    remove_tree(fd, e->d_name);
            }
            closedir(d);
        } else {
            close(fd);
        }
    }
    unlinkat(at, name, AT_REMOVEDIR);
}

/* Run child `n` under a watchdog; whether it hung. */
static int run_child(int n)
{
    char dir[32];
    snprintf(dir, sizeof dir, "fz%d", n);
    mkdir(dir, 0755);
    rng = SEED + (uint64_t)n * 0x9e3779b97f4a7c15ULL;
    pid_t c = fork();
    if (c == 0)
        child(n);
    pid_t w = fork();
    if (w == 0) {
        struct timespec s = {WATCHDOG_SECONDS, 0};
        while (nanosleep(&s, &s) != 0)
            ;
        kill(c, SIGKILL);
        _exit(0);
    }
    int st;
    while (waitpid(c, &st, 0) < 0 && errno == EINTR)
        ;
    kill(w, SIGKILL);
    int wst = 0;
    while (waitpid(w, &wst, 0) < 0 && errno == EINTR)
        ;
    /* Children a clone with CLONE_PARENT made this process's. */
    int other;
    while (waitpid(-1, &other, WNOHANG) > 0)
        ;
#ifdef FUZZ_VERBOSE
    printf("child %d: %ld calls, last %ld, status %#x\n", n, progress[0], progress[1], st);
#endif
    remove_tree(AT_FDCWD, dir);
    return WIFEXITED(wst);
}

static int check(const char *what, int ok)
{
    if (!ok)
        printf("fuzz: after the fuzzing, %s FAILED\n", what);
    return ok;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t me = getpid();
    int hung = 0;
#ifdef FUZZ_VERBOSE
    progress = mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
#endif
    for (int n = 0; n < CHILDREN; n++) {
        if (run_child(n)) {
            printf("fuzz: child %d hung; its watchdog killed it\n", n);
            hung++;
        }
    }
    int ok = 1;
    ok &= check("getpid", getpid() == me);

    int fd = open("fz-check", O_RDWR | O_CREAT | O_TRUNC, 0644);
    char back[32] = {0};
    ok &= check("a file round trip",
                fd >= 0 && write(fd, "round trip", 10) == 10 && lseek(fd, 0, SEEK_SET) == 0 &&
                    read(fd, back, sizeof back) == 10 && memcmp(back, "round trip", 10) == 0);
    close(fd);
    unlink("fz-check");

    pid_t c = fork();
    if (c == 0)
        _exit(42);
    int st = 0;
    ok &= check("fork and wait",
                c > 0 && waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 42);

    int p[2];
    char b = 0;
    ok &= check("a pipe", pipe(p) == 0 && write(p[1], "x", 1) == 1 && read(p[0], &b, 1) == 1 &&
                              b == 'x');
    printf("fuzz: %d calls in %d children, %d hung, kernel %s\n", CHILDREN * CALLS, CHILDREN,
           hung, ok ? "still serving" : "BROKEN");
    return ok && !hung ? 0 : 1;
}
