/* The rest: uname's fixed fields, clocks that move forward, getdents
 * of a directory made here (sorted), errno of bad calls, umask, getcwd. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "show.h"

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    struct utsname u;
    printf("uname: %d\n", uname(&u));
    printf("sysname %s, machine %s, nodename set %d, release set %d\n", u.sysname,
           u.machine, u.nodename[0] != 0, u.release[0] != 0);

    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (volatile int i = 0; i < 100000; i++)
        ;
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("monotonic does not go back: %d\n",
           b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec >= a.tv_nsec));
    printf("nanoseconds in range: %d\n", a.tv_nsec >= 0 && a.tv_nsec < 1000000000);
    struct timespec r;
    printf("realtime after 2020: %d\n", clock_gettime(CLOCK_REALTIME, &r) == 0 && r.tv_sec > 1577836800);
    SHOW("a bad clock", clock_gettime(12345, &r));

    /* getdents64 of a directory made here. */
    mkdir("c-dir", 0755);
    const char *names[] = {"zeta", "alpha", "mid", "beta"};
    for (int i = 0; i < 4; i++) {
        char p[64];
        snprintf(p, sizeof p, "c-dir/%s", names[i]);
        close(open(p, O_CREAT | O_WRONLY, 0644));
    }
    mkdir("c-dir/sub", 0755);
    DIR *d = opendir("c-dir");
    char *seen[16];
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 16)
        seen[n++] = strdup(e->d_name);
    closedir(d);
    qsort(seen, n, sizeof seen[0], cmp);
    printf("getdents found %d entries:", n);
    for (int i = 0; i < n; i++)
        printf(" %s", seen[i]);
    printf("\n");
    int fd = open("c-dir", O_RDONLY | O_DIRECTORY);
    char dbuf[8];
    SHOW("getdents64 with a tiny buffer", (long)syscall(SYS_getdents64, fd, dbuf, sizeof dbuf));
    close(fd);
    fd = open("c-dir/alpha", O_RDONLY);
    SHOW("getdents64 of a file", (long)syscall(SYS_getdents64, fd, dbuf, sizeof dbuf));
    close(fd);
    SHOW("rmdir a non-empty directory", rmdir("c-dir"));
    for (int i = 0; i < 4; i++) {
        char p[64];
        snprintf(p, sizeof p, "c-dir/%s", names[i]);
        unlink(p);
    }
    rmdir("c-dir/sub");
    printf("rmdir once empty: %d\n", rmdir("c-dir"));

    /* errno of bad calls. */
    SHOW("write to a bad descriptor", (long)write(42, "x", 1));
    SHOW("read into a null pointer", (long)read(0 + open("/etc/passwd", O_RDONLY), NULL, 4));
    SHOW("open with an empty path", open("", O_RDONLY));
    SHOW("chdir to a file", chdir("/etc/passwd"));
    SHOW("an unknown system call", syscall(999));
    int p[2];
    pipe(p);
    SHOW("lseek on a pipe", lseek(p[0], 0, SEEK_SET));
    SHOW("stat through a file", stat("/etc/passwd/x", &(struct stat){0}));

    umask(022);
    mode_t old = umask(027);
    printf("umask was %o, now %o\n", old, umask(027));
    char cwd[256];
    SHOW("chdir /", chdir("/"));
    printf("getcwd %s\n", getcwd(cwd, sizeof cwd));
    SHOW("getcwd into 1 byte", getcwd(cwd, 1) ? 0 : -1);
    return 0;
}
