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
    unlink("c-order.txt");
    printf("done\n");
    return 0;
}
