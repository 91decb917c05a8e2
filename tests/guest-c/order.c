/* Which check comes first when a call has more than one bad argument,
 * or a descriptor of the wrong kind: the errno Linux gives (the host's
 * run is the oracle). bad.c varies one argument at a time; here two
 * things are wrong at once, or the descriptor is a pipe, a directory or
 * a file open the other way. One line a case: `what -> count or
 * -errno`. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define KERNEL ((void *)0xffff800000000000UL)

static void show(const char *what, long r)
{
    printf("%s -> %ld\n", what, r < 0 ? -errno : r);
}

int main(void)
{
    char buf[64] = {0};
    int p[2];
    if (pipe(p) != 0)
        return 1;
    int wo = open("c-order.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    int ro = open("c-order.txt", O_RDONLY);
    int d = open(".", O_RDONLY | O_DIRECTORY);
    struct iovec v = {buf, 8};
    /* The positioned calls check the offset before the descriptor. */
    show("pread64 bad fd, offset -1", syscall(SYS_pread64, -1, buf, 8, -1L));
    show("pwrite64 bad fd, offset -1", syscall(SYS_pwrite64, -1, buf, 8, -1L));
    show("preadv bad fd, offset -1", syscall(SYS_preadv, -1, &v, 1, -1L));
    show("pwritev bad fd, offset -1", syscall(SYS_pwritev, -1, &v, 1, -1L));
    show("pread64 write-only file, offset -1",
         syscall(SYS_pread64, wo, buf, 8, -1L));
    show("pwrite64 read-only file, offset -1",
         syscall(SYS_pwrite64, ro, buf, 8, -1L));
    show("pread64 directory, offset -1", syscall(SYS_pread64, d, buf, 8, -1L));
    /* A pipe cannot be read at an offset, whichever end. */
    show("pread64 pipe write end", syscall(SYS_pread64, p[1], buf, 8, 0));
    show("pwrite64 pipe read end", syscall(SYS_pwrite64, p[0], buf, 8, 0));
    show("preadv pipe write end", syscall(SYS_preadv, p[1], &v, 1, 0));
    show("lseek pipe", syscall(SYS_lseek, p[0], 0, 0));
    /* The access mode before the buffer; a directory reads EISDIR. */
    show("pread64 write-only file", syscall(SYS_pread64, wo, buf, 8, 0));
    show("read write-only file, kernel buffer",
         syscall(SYS_read, wo, KERNEL, 8));
    show("read directory", syscall(SYS_read, d, buf, 8));
    show("read directory, kernel buffer", syscall(SYS_read, d, KERNEL, 8));
    show("readv directory", syscall(SYS_readv, d, &v, 1));
    show("pread64 directory", syscall(SYS_pread64, d, buf, 8, 0));
    show("write directory", syscall(SYS_write, d, buf, 8));
    show("pwrite64 directory", syscall(SYS_pwrite64, d, buf, 8, 0));
    /* sendfile: the input side first, then the output. */
    show("sendfile out pipe read end", syscall(SYS_sendfile, p[0], ro, 0, 8));
    show("sendfile in write-only", syscall(SYS_sendfile, p[1], wo, 0, 8));
    show("sendfile bad out, bad offset pointer",
         syscall(SYS_sendfile, -1, ro, (void *)1, 8));
    show("sendfile bad out, in write-only", syscall(SYS_sendfile, -1, wo, 0, 8));
    show("copy_file_range bad flags, bad fds",
         syscall(SYS_copy_file_range, -1, 0, -1, 0, 8, 1));
    /* Calls a pipe or a directory does not take. */
    show("ftruncate directory", syscall(SYS_ftruncate, d, 0));
    show("ftruncate pipe", syscall(SYS_ftruncate, p[0], 0));
    show("ftruncate read-only, length -1", syscall(SYS_ftruncate, ro, -1L));
    show("fsync pipe", syscall(SYS_fsync, p[0]));
    show("getdents64 file", syscall(SYS_getdents64, ro, buf, 64));
    show("getdents64 file, kernel buffer",
         syscall(SYS_getdents64, ro, KERNEL, 64));
    /* Paths: a path pointer is read before the directory descriptor is
     * looked at; flags are checked before the path is read. */
    show("openat bad dirfd, NULL path", syscall(SYS_openat, -1, 0, O_RDONLY));
    show("openat bad dirfd, relative path",
         syscall(SYS_openat, -1, "c-order.txt", O_RDONLY));
    show("mkdirat bad dirfd, kernel path", syscall(SYS_mkdirat, -1, KERNEL, 0755));
    show("unlinkat NULL path, bad flags", syscall(SYS_unlinkat, AT_FDCWD, 0, 0x4000));
    show("fchownat NULL path, bad flags",
         syscall(SYS_fchownat, AT_FDCWD, 0, -1, -1, 0x4000));
    show("faccessat2 NULL path, bad mode", syscall(SYS_faccessat2, AT_FDCWD, 0, 8, 0));
    show("faccessat2 NULL path, bad flags",
         syscall(SYS_faccessat2, AT_FDCWD, 0, 0, 0x4000));
    show("newfstatat NULL path, unknown flag",
         syscall(SYS_newfstatat, AT_FDCWD, 0, buf, 0x10000));
    show("newfstatat NULL path, AT_STATX_DONT_SYNC",
         syscall(SYS_newfstatat, AT_FDCWD, 0, buf, 0x4000));
    show("newfstatat ., both AT_STATX sync flags",
         syscall(SYS_newfstatat, AT_FDCWD, ".", buf, 0x6000));
    show("newfstatat missing path, kernel buffer",
         syscall(SYS_newfstatat, AT_FDCWD, "c-order-no", KERNEL, 0));
    show("statx NULL path, reserved mask",
         syscall(SYS_statx, AT_FDCWD, 0, 0, 0x80000000U, buf));
    show("statx missing path, kernel buffer",
         syscall(SYS_statx, AT_FDCWD, "c-order-no", 0, 0x7ff, KERNEL));
    show("renameat2 NULL paths, bad flags",
         syscall(SYS_renameat2, AT_FDCWD, 0, AT_FDCWD, 0, 0x40));
    show("renameat missing old, NULL new",
         syscall(SYS_renameat, AT_FDCWD, "c-order-no", AT_FDCWD, 0));
    show("linkat NULL paths, bad flags",
         syscall(SYS_linkat, AT_FDCWD, 0, AT_FDCWD, 0, 0x4000));
    show("symlinkat NULL target, bad dirfd", syscall(SYS_symlinkat, 0, -1, "x"));
    show("readlink missing path, size 0, kernel buffer",
         syscall(SYS_readlink, "c-order-no", KERNEL, 0));
    show("readlink NULL path, size 0", syscall(SYS_readlink, 0, buf, 0));
    show("utimensat bad dirfd, NULL path, bad flags",
         syscall(SYS_utimensat, -1, 0, 0, 0x4000));
    show("getcwd kernel buffer, size 1", syscall(SYS_getcwd, KERNEL, 1));
    show("truncate NULL path, length -1", syscall(SYS_truncate, 0, -1L));
    /* Descriptors: flags before the descriptor. */
    show("dup3 bad fd, same target, bad flags", syscall(SYS_dup3, -1, -1, 1));
    show("dup3 bad fd, bad flags", syscall(SYS_dup3, -1, 50, 1));
    show("pipe2 kernel pointer, bad flags", syscall(SYS_pipe2, KERNEL, 1));
    show("fcntl bad fd, bad command", syscall(SYS_fcntl, -1, 9999, 0));
    show("ioctl file, TCGETS, kernel pointer", syscall(SYS_ioctl, ro, 0x5401, KERNEL));
    show("ioctl bad fd, bad request", syscall(SYS_ioctl, -1, 0x1234, 0));
    show("lseek bad fd, bad whence", syscall(SYS_lseek, -1, 0, 99));
    show("lseek pipe, bad whence", syscall(SYS_lseek, p[0], 0, 99));
    show("lseek file, -1 from the start", syscall(SYS_lseek, ro, -1L, 0));
    show("lseek file, whence 1<<32 (SEEK_SET as an unsigned int)",
         syscall(SYS_lseek, ro, 0, 1L << 32));
    show("getdents64 bad fd, kernel buffer, size 0",
         syscall(SYS_getdents64, -1, KERNEL, 0));
    show("fchdir pipe", syscall(SYS_fchdir, p[0]));
    /* Memory. */
    show("mmap bad fd, length 0", syscall(SYS_mmap, 0, 0, PROT_READ, MAP_PRIVATE, -1, 0));
    show("mmap bad fd, offset 1",
         syscall(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, -1, 1));
    show("mmap no type, length 0",
         syscall(SYS_mmap, 0, 0, PROT_READ, MAP_ANONYMOUS, -1, 0));
    show("mmap pipe", syscall(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, p[0], 0));
    show("mmap directory", syscall(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, d, 0));
    show("mmap write-only file", syscall(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, wo, 0));
    show("munmap misaligned, length 0", syscall(SYS_munmap, 1, 0));
    show("mprotect misaligned, bad prot", syscall(SYS_mprotect, 1, 4096, 0x80));
    show("madvise misaligned, bad advice", syscall(SYS_madvise, 1, 4096, 999));
    show("madvise unmapped, MADV_REMOVE",
         syscall(SYS_madvise, 0x1000, 4096, 9));
    /* Signals and processes. */
    show("kill no such pid, bad signal", syscall(SYS_kill, 1 << 30, 65));
    show("tgkill bad tgid, bad signal", syscall(SYS_tgkill, -1, 1, 65));
    show("tkill bad tid, signal 0", syscall(SYS_tkill, 1 << 30, 0));
    show("rt_sigaction bad signal, kernel pointer",
         syscall(SYS_rt_sigaction, 65, KERNEL, 0, 8));
    show("rt_sigaction SIGKILL, kernel pointer",
         syscall(SYS_rt_sigaction, 9, KERNEL, 0, 8));
    show("rt_sigaction bad size, kernel pointer",
         syscall(SYS_rt_sigaction, 10, KERNEL, 0, 7));
    show("rt_sigprocmask bad how, kernel set",
         syscall(SYS_rt_sigprocmask, 99, KERNEL, 0, 8));
    show("rt_sigprocmask bad how, no set", syscall(SYS_rt_sigprocmask, 99, 0, 0, 8));
    show("rt_sigprocmask bad size, bad how", syscall(SYS_rt_sigprocmask, 99, 0, 0, 7));
    show("wait4 kernel status, bad options",
         syscall(SYS_wait4, -1, KERNEL, 0x40000000, 0));
    show("waitid bad idtype, no options", syscall(SYS_waitid, 99, 0, 0, 0, 0));
    show("waitid P_PID 0", syscall(SYS_waitid, 1, 0, 0, 4, 0));
    show("setpgid bad pid, negative group", syscall(SYS_setpgid, 1 << 30, -1));
    show("getpgid no such pid", syscall(SYS_getpgid, 1 << 30));
    show("prlimit64 bad resource, kernel new",
         syscall(SYS_prlimit64, 0, 99, KERNEL, 0));
    show("prlimit64 no such pid, bad resource",
         syscall(SYS_prlimit64, 1 << 30, 99, 0, 0));
    show("clock_gettime bad clock, kernel pointer",
         syscall(SYS_clock_gettime, 99, KERNEL));
    show("getrandom kernel buffer, bad flags", syscall(SYS_getrandom, KERNEL, 8, 99));
    show("poll kernel array, 0 entries", syscall(SYS_poll, KERNEL, 0, 0));
    show("select -1, kernel sets", syscall(SYS_select, -1, KERNEL, 0, 0, 0));
    show("nanosleep kernel request", syscall(SYS_nanosleep, KERNEL, 0));
    show("sigaltstack kernel new, kernel old", syscall(SYS_sigaltstack, KERNEL, KERNEL));
    show("arch_prctl bad code, kernel pointer", syscall(SYS_arch_prctl, 0x9999, KERNEL));
    show("prctl bad option", syscall(SYS_prctl, 0x7fffffff, 0, 0, 0, 0));
    show("uname kernel pointer", syscall(SYS_uname, KERNEL));
    unlink("c-order.txt");
    printf("done\n");
    return 0;
}
