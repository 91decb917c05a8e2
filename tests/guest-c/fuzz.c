/* A random-argument fuzzer: a child calls the shim's implemented calls
 * (less those that end, block, fork or signal the caller, or could reach
 * other processes: exit, pause, rt_sigsuspend, rt_sigreturn, fork,
 * vfork, clone, kill, tkill, tgkill, pipe, pipe2) ROUNDS times with
 * arguments drawn from a pool of good and bad values by a fixed-seed
 * generator, with its standard descriptors on /dev/null. Its results are
 * not compared (the two kernels may differ on what the pool makes of
 * them); what is compared is that the child ends, and that afterwards the
 * caller's own calls still work. The few arguments that would hurt the
 * caller itself (unmapping its code, a fixed mapping over it, TLS, CPU
 * limits) or copy gigabytes on the host are tamed first. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 6000
#define BUF_SIZE 8192

static const long calls[] = {
    SYS_read,          SYS_write,          SYS_open,         SYS_close,
    SYS_stat,          SYS_fstat,          SYS_lstat,        SYS_lseek,
    SYS_mmap,          SYS_mprotect,       SYS_munmap,       SYS_brk,
    SYS_rt_sigaction,  SYS_rt_sigprocmask, SYS_ioctl,        SYS_pread64,
    SYS_pwrite64,      SYS_readv,          SYS_writev,       SYS_access,
    SYS_madvise,       SYS_dup,            SYS_dup2,         SYS_getpid,
    SYS_sendfile,      SYS_execve,         SYS_wait4,        SYS_uname,
    SYS_fcntl,         SYS_fsync,          SYS_fdatasync,    SYS_truncate,
    SYS_ftruncate,     SYS_getcwd,         SYS_chdir,        SYS_fchdir,
    SYS_rename,        SYS_mkdir,          SYS_rmdir,        SYS_creat,
    SYS_link,          SYS_unlink,         SYS_symlink,      SYS_readlink,
    SYS_chmod,         SYS_fchmod,         SYS_chown,        SYS_fchown,
    SYS_lchown,        SYS_umask,          SYS_gettimeofday, SYS_sysinfo,
    SYS_getuid,        SYS_getgid,         SYS_geteuid,      SYS_getegid,
    SYS_setpgid,       SYS_getppid,        SYS_getpgrp,      SYS_setsid,
    SYS_getgroups,     SYS_getpgid,        SYS_getsid,       SYS_rt_sigpending,
    SYS_sigaltstack,   SYS_utime,          SYS_statfs,       SYS_fstatfs,
    SYS_prctl,         SYS_arch_prctl,     SYS_sync,         SYS_gettid,
    SYS_time,          SYS_getdents64,     SYS_set_tid_address,
    SYS_clock_gettime, SYS_utimes,         SYS_waitid,       SYS_openat,
    SYS_mkdirat,       SYS_fchownat,       SYS_futimesat,    SYS_newfstatat,
    SYS_unlinkat,      SYS_renameat,       SYS_linkat,       SYS_symlinkat,
    SYS_readlinkat,    SYS_fchmodat,       SYS_faccessat,    SYS_utimensat,
    SYS_dup3,          SYS_preadv,         SYS_pwritev,      SYS_prlimit64,
    SYS_syncfs,        SYS_renameat2,      SYS_getrandom,    SYS_copy_file_range,
    SYS_statx,         SYS_faccessat2,
};

static uint64_t seed = 0x5e9707;

static uint64_t next(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
}

static char *buf;

static long pick(void)
{
    static const char *paths[] = {"c-fuzz-a", "c-fuzz-b", "c-fuzz-d",
                                  "c-fuzz-d/x", "c-fuzz-none/x", ""};
    switch (next() % 26) {
    case 0: return 0;
    case 1: return 1;
    case 2: return 2;
    case 3: return 3;
    case 4: return 4 + next() % 8;
    case 5: return 16;
    case 6: return 4096;
    case 7: return -1;
    case 8: return 1024;
    case 9: return 1L << 30;
    case 10: return (long)SIZE_MAX;
    case 11: return 1L << 40;
    case 12: return (long)0xffff800000000000UL;
    case 13: return (long)0x0000800000000000UL;
    case 14: return 0x7ffffffffffeL;
    case 15: return (long)buf;
    case 16: return (long)(buf + 1 + next() % 64);
    case 17: return (long)(buf + BUF_SIZE - 1 - next() % 8);
    case 18: return (long)paths[next() % 6];
    case 19: return AT_FDCWD;
    case 20: return 0x40000000;
    case 21: return (long)(next() & 0xffffffff);
    case 22: return (long)next();
    case 23: return 0x7fffffffffffffffL;
    case 24: return (long)(buf + 4096);
    default: return (long)(next() % 4096);
    }
}

static int mine(long a)
{
    return a >= (long)buf && a < (long)buf + BUF_SIZE;
}

/* Make a call harmless to the fuzzer itself; 0 to skip it. */
static int tame(long nr, long a[6])
{
    switch (nr) {
    case SYS_mmap:
        a[3] &= ~(long)(MAP_FIXED | MAP_FIXED_NOREPLACE);
        return 1;
    case SYS_munmap:
    case SYS_mprotect:
    case SYS_madvise:
        /* Only the buffer, or addresses no mapping of ours can be at. */
        if (!mine(a[0]) && a[0] > 1L << 16 && a[0] < 0x7ffffffff000L)
            return 0;
        if (a[0] < 1L << 16 && (unsigned long)a[1] > 1L << 16)
            return 0;
        return 1;
    case SYS_arch_prctl:
        return a[0] != 0x1001 && a[0] != 0x1002;
    case SYS_prctl:
        a[0] = a[0] & 1 ? PR_SET_NAME : PR_GET_NAME;
        return 1;
    case SYS_prlimit64:
        a[2] = 0;
        return 1;
    case SYS_sendfile:
        if ((unsigned long)a[3] > BUF_SIZE)
            a[3] = BUF_SIZE;
        return 1;
    case SYS_copy_file_range:
        if ((unsigned long)a[4] > BUF_SIZE)
            a[4] = BUF_SIZE;
        return 1;
    case SYS_truncate:
    case SYS_ftruncate:
        if (a[1] > 1L << 20)
            a[1] = 1L << 20;
        return 1;
    case SYS_pwrite64:
    case SYS_pwritev:
    case SYS_lseek:
        /* No offsets past 1 GiB: sparse files the host would copy. */
        if (a[nr == SYS_pwrite64 ? 3 : nr == SYS_lseek ? 1 : 3] > 1L << 30)
            a[nr == SYS_pwrite64 ? 3 : nr == SYS_lseek ? 1 : 3] = -1;
        return 1;
    case SYS_rt_sigaction:
        /* A handler at a random address would run on the next fault. */
        return 0;
    case SYS_ioctl:
        /* TIOCSTI and friends on a console stay out of reach. */
        return 1;
    case SYS_brk:
        return 1;
    }
    return 1;
}

static void child(void)
{
    int z = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 64; fd++)
        if (fd != z)
            close(fd);
    dup2(z, 0);
    dup2(z, 1);
    dup2(z, 2);
    if (z > 2)
        close(z);
    if (chdir("c-fuzz") != 0)
        _exit(1);
    buf = mmap(0, BUF_SIZE + 4096, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(buf + BUF_SIZE, 4096);
    mkdir("c-fuzz-d", 0755);
    close(open("c-fuzz-a", O_CREAT | O_RDWR, 0644));
    for (int i = 0; i < ROUNDS; i++) {
        long nr = calls[next() % (sizeof calls / sizeof calls[0])];
        long a[6];
        for (int k = 0; k < 6; k++)
            a[k] = pick();
        if (next() % 4 == 0)
            syscall(SYS_getrandom, buf, 256, 0);
        if (!tame(nr, a))
            continue;
        syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    }
    _exit(0);
}

static int gone(const char *path, const struct stat *st, int type,
                struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

int main(void)
{
    mkdir("c-fuzz", 0755);
    pid_t pid = fork();
    if (pid == 0)
        child();
    int status = 0;
    pid_t w = waitpid(pid, &status, 0);
    printf("fuzzer ended: %d\n", w == pid);
    chmod("c-fuzz", 0755);
    printf("cleaned up: %d\n",
           nftw("c-fuzz", gone, 16, FTW_DEPTH | FTW_PHYS) == 0);
    /* The caller's calls still work. */
    int fd = open("c-fuzz-check", O_CREAT | O_TRUNC | O_RDWR, 0644);
    printf("open: %d\n", fd >= 0);
    printf("write: %ld\n", (long)write(fd, "still here\n", 11));
    char b[16] = {0};
    printf("pread: %ld %s", (long)pread(fd, b, sizeof b - 1, 0), b);
    close(fd);
    printf("unlink: %d\n", unlink("c-fuzz-check"));
    pid = fork();
    if (pid == 0)
        _exit(7);
    waitpid(pid, &status, 0);
    printf("a child after it exits with %d\n", WEXITSTATUS(status));
    return 0;
}
