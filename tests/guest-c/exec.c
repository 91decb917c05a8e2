/* Files written at run time, run and mapped: a private mapping of a file
 * this program writes (its bytes, an offset, zeroes past the end, a
 * write to the mapping that the file does not see), a copy of this
 * program run with execve, and #! scripts whose interpreter is that copy:
 * the interpreter's argument, the script's path in argv, scripts naming
 * scripts up to ELOOP, and the errnos of bad #! lines. Every path is
 * relative, so the host's run and the guest's print the same. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "show.h"

extern char **environ;

/* The copy, run as a program or as an interpreter: its arguments. */
static int child(int argc, char **argv)
{
    printf("  argc %d:", argc);
    for (int i = 0; i < argc; i++)
        printf(" [%s]", argv[i]);
    printf("\n");
    return 7;
}

static void put(const char *path, const char *text, size_t len, int mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len)
        printf("writing %s failed: errno %d\n", path, errno);
    close(fd);
    chmod(path, mode);
}

static void script(const char *path, const char *text)
{
    put(path, text, strlen(text), 0755);
}

/* execve `path` with `args` in a child: its errno, or how it ended. */
static void run(const char *what, const char *path, char *const args[])
{
    char *env[] = {"SEPTUM_EXEC_CHILD=1", NULL};
    pid_t c = fork();
    if (c == 0) {
        execve(path, args, env);
        printf("%s: execve errno %d\n", what, errno);
        _exit(100);
    }
    int st = 0;
    waitpid(c, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) != 100)
        printf("%s: exit %d\n", what, WEXITSTATUS(st));
    else if (!WIFEXITED(st))
        printf("%s: killed by %d\n", what, WTERMSIG(st));
}

static void mapping(void)
{
    enum { SIZE = 4096 * 2 + 1000 };
    static char text[SIZE];
    for (int i = 0; i < SIZE; i++)
        text[i] = 'a' + i % 23;
    put("c-exec-data", text, SIZE, 0644);

    int fd = open("c-exec-data", O_RDONLY);
    char *m = mmap(0, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    printf("mmap private: %s\n", m == MAP_FAILED ? strerror(errno) : "ok");
    if (m == MAP_FAILED)
        return;
    printf("the mapping holds the file: %d\n", memcmp(m, text, SIZE) == 0);
    int zero = 1;
    for (int i = SIZE; i < 3 * 4096; i++)
        zero &= m[i] == 0;
    printf("past the end of the file, zeroes: %d\n", zero);
    m[5] = '!';
    m[SIZE + 3] = '?';
    char back[16] = {0};
    pread(fd, back, 8, 0);
    printf("a write to the private mapping, the file still: %.8s\n", back);
    printf("the mapping: %.8s\n", m);
    /* MADV_DONTNEED on a private file mapping: its next touch reads the
     * file again (its second page, which was not written). */
    SHOW("madvise MADV_DONTNEED", madvise(m + 4096, 4096, MADV_DONTNEED));
    printf("after MADV_DONTNEED, the file's bytes: %d\n",
           memcmp(m + 4096, text + 4096, 4096) == 0);
    munmap(m, SIZE);

    char *o = mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 8192);
    printf("mmap at offset 8192: %s\n", o == MAP_FAILED ? strerror(errno) : "ok");
    if (o != MAP_FAILED) {
        printf("its first bytes: %.5s (the file's %.5s)\n", o, text + 8192);
        printf("its byte 1000 is past the end: %d\n", o[1000]);
        munmap(o, 4096);
    }
    char *sh = mmap(0, 100, PROT_READ, MAP_SHARED, fd, 0);
    printf("mmap shared read-only: %s, %.6s\n", sh == MAP_FAILED ? strerror(errno) : "ok",
           sh == MAP_FAILED ? "" : sh);
    if (sh != MAP_FAILED)
        munmap(sh, 100);
    close(fd);

    fd = open("c-exec-data", O_WRONLY);
    SHOW("mmap of a write-only descriptor", mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0));
    close(fd);
    fd = open(".", O_RDONLY);
    SHOW("mmap of a directory", mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0));
    close(fd);
    unlink("c-exec-data");
}

/* A copy of this program, written now: ./c-exec-copy. */
static int copy_self(void)
{
    int in = open("/proc/self/exe", O_RDONLY);
    if (in < 0) {
        printf("open /proc/self/exe: errno %d\n", errno);
        return -1;
    }
    unlink("c-exec-copy");
    int out = open("c-exec-copy", O_WRONLY | O_CREAT | O_TRUNC, 0755);
    char buf[4096];
    ssize_t n;
    long total = 0;
    while ((n = read(in, buf, sizeof buf)) > 0)
        total += write(out, buf, n);
    close(in);
    close(out);
    return total > 0 ? 0 : -1;
}

static void scripts(void)
{
    char *none[] = {NULL};
    char *two[] = {"name-of-the-script", "a", "b c", NULL};

    run("the copy", "./c-exec-copy", (char *[]){"./c-exec-copy", "x", NULL});
    put("c-exec-noexec", "\x7f" "ELF", 4, 0644);
    run("no execute bit", "./c-exec-noexec", two);
    put("c-exec-junk", "junk\n", 5, 0755);
    run("not a program", "./c-exec-junk", two);

    /* Each script, what it shows, and whether it runs with no argv. */
    static const struct {
        const char *file, *text, *what;
        int no_argv;
    } cases[] = {
        {"./c-exec-s1", "#!./c-exec-copy --opt\necho not run\n", "#! with an argument", 0},
        {"./c-exec-s1", "#!./c-exec-copy --opt\n", "#! with no argv", 1},
        {"./c-exec-s2", "#! \t ./c-exec-copy   two  words \t \nrest\n", "#! spaces around", 0},
        {"./c-exec-s3", "#!./c-exec-copy", "#! without a newline", 0},
        {"./c-exec-s4", "#!./c-exec-s1 nested\n", "#! naming a script", 0},
        {"./c-exec-b1", "#!\n", "#! with no name", 0},
        {"./c-exec-b2", "#!  \t \n", "#! with only blanks", 0},
        {"./c-exec-b3", "#!./c-exec-missing\n", "#! naming a missing file", 0},
        {"./c-exec-b4", "#!./c-exec-noexec\n", "#! naming a file without x", 0},
        {"./c-exec-b5", "#!./c-exec-junk\n", "#! naming a file that is no program", 0},
        {"./c-exec-b6", "#!./c-exec-b6\n", "#! naming itself", 0},
        {"./c-exec-b7", "#!.\n", "#! naming a directory", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        script(cases[i].file, cases[i].text);
        run(cases[i].what, cases[i].file, cases[i].no_argv ? none : two);
    }
    char longline[300] = "#!";
    memset(longline + 2, 'x', 280);
    script("c-exec-b8", longline);
    run("#! with a name longer than the buffer", "./c-exec-b8", two);
    memcpy(longline, "#!./c-exec-copy ", 16);
    script("c-exec-b9", longline);
    run("#! with an argument cut at the buffer", "./c-exec-b9", none);

    /* A script naming a script ..., k deep, then the copy. */
    char name[32], prev[32], text[64];
    strcpy(prev, "./c-exec-copy");
    for (int k = 0; k <= 6; k++) {
        snprintf(name, sizeof name, "./c-exec-chain%d", k);
        snprintf(text, sizeof text, "#!%s\n", prev);
        script(name, text);
        char what[48];
        snprintf(what, sizeof what, "%d scripts deep", k + 1);
        run(what, name, (char *[]){name, NULL});
        strcpy(prev, name);
    }
    for (int k = 0; k <= 6; k++) {
        snprintf(name, sizeof name, "c-exec-chain%d", k);
        unlink(name);
    }
    const char *made[] = {"c-exec-copy", "c-exec-noexec", "c-exec-junk", "c-exec-s1",
                          "c-exec-s2", "c-exec-s3", "c-exec-s4", "c-exec-b1",
                          "c-exec-b2", "c-exec-b3", "c-exec-b4", "c-exec-b5",
                          "c-exec-b6", "c-exec-b7", "c-exec-b8", "c-exec-b9"};
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++)
        unlink(made[i]);
}

int main(int argc, char **argv)
{
    if (getenv("SEPTUM_EXEC_CHILD"))
        return child(argc, argv);
    setvbuf(stdout, NULL, _IONBF, 0);
    umask(022);
    mapping();
    if (copy_self() == 0)
        scripts();
    return 0;
}
