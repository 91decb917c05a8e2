/* File I/O in the working directory (the guest runs it in /tmp, the
 * build on the host in a fresh directory): create, write, read, lseek,
 * pread, stat, fstat, O_APPEND, rename, unlink, and the errno of each
 * bad call. Prints only what both kernels must agree on. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "show.h"

int main(void)
{
    char buf[64];
    struct stat st;

    umask(022);

    int fd = open("c-files.txt", O_CREAT | O_TRUNC | O_RDWR, 0640);
    SHOW("open O_CREAT", fd >= 0 ? 0 : -1);
    SHOW("write", write(fd, "hello, septum\n", 14));
    SHOW("lseek SEEK_CUR", lseek(fd, 0, SEEK_CUR));
    SHOW("lseek SEEK_SET 7", lseek(fd, 7, SEEK_SET));
    memset(buf, 0, sizeof buf);
    SHOW("read", read(fd, buf, sizeof buf - 1));
    printf("read bytes: %s", buf);
    SHOW("read at end", read(fd, buf, sizeof buf));
    SHOW("lseek SEEK_END -3", lseek(fd, -3, SEEK_END));
    SHOW("lseek before the start", lseek(fd, -100, SEEK_SET));
    memset(buf, 0, sizeof buf);
    SHOW("pread 5 at 0", pread(fd, buf, 5, 0));
    printf("pread bytes: %s\n", buf);
    SHOW("fstat", fstat(fd, &st));
    printf("size %ld, regular %d, mode %o, links %ld\n", (long)st.st_size,
           S_ISREG(st.st_mode), st.st_mode & 07777, (long)st.st_nlink);
    SHOW("lseek past the end", lseek(fd, 100, SEEK_SET));
    SHOW("write past the end", write(fd, "!", 1));
    SHOW("fstat", fstat(fd, &st));
    printf("size after a hole %ld\n", (long)st.st_size);
    SHOW("pread in the hole", pread(fd, buf, 4, 50));
    printf("hole bytes are zero: %d\n", buf[0] == 0 && buf[3] == 0);
    SHOW("ftruncate 5", ftruncate(fd, 5));
    SHOW("close", close(fd));
    SHOW("close again", close(fd));

    fd = open("c-files.txt", O_WRONLY | O_APPEND);
    SHOW("write appending", write(fd, "+more", 5));
    close(fd);
    SHOW("stat", stat("c-files.txt", &st));
    printf("size %ld\n", (long)st.st_size);
    fd = open("c-files.txt", O_RDONLY);
    memset(buf, 0, sizeof buf);
    SHOW("read all", read(fd, buf, sizeof buf - 1));
    printf("bytes: %s\n", buf);
    SHOW("write to a read-only descriptor", write(fd, "x", 1));
    close(fd);

    SHOW("rename", rename("c-files.txt", "c-files2.txt"));
    SHOW("stat the old name", stat("c-files.txt", &st));
    SHOW("stat the new name", stat("c-files2.txt", &st));
    SHOW("open O_EXCL on an existing file",
         open("c-files2.txt", O_CREAT | O_EXCL | O_WRONLY, 0600));
    SHOW("unlink", unlink("c-files2.txt"));
    SHOW("unlink again", unlink("c-files2.txt"));
    SHOW("open a missing file", open("no-such-file", O_RDONLY));
    SHOW("open a missing directory's file", open("no-such-dir/x", O_RDONLY));
    SHOW("mkdir", mkdir("c-files.d", 0755));
    SHOW("mkdir again", mkdir("c-files.d", 0755));
    SHOW("open a directory for writing", open("c-files.d", O_WRONLY));
    SHOW("read a bad descriptor", read(99, buf, 1));
    SHOW("rmdir", rmdir("c-files.d"));
    SHOW("rmdir a file", rmdir("/etc/passwd"));
    SHOW("stat /etc/passwd", stat("/etc/passwd", &st));
    printf("/etc/passwd regular %d\n", S_ISREG(st.st_mode));
    return 0;
}
