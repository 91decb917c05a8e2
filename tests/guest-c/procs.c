/* Processes: fork, wait4 statuses, getpid/getppid relations, pipes
 * between parent and child, dup2 onto stdout, and execve with a chosen
 * argv and environment. Pids are never printed raw. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "show.h"

extern char **environ;

static int child_args(int argc, char **argv)
{
    printf("after execve: argc %d\n", argc);
    const char *base = strrchr(argv[0], '/');
    printf("argv[0] is this program: %d\n", base && strcmp(base, "/procs") == 0);
    for (int i = 1; i < argc; i++)
        printf("argv[%d] = \"%s\"\n", i, argv[i]);
    int n = 0;
    for (char **e = environ; *e; e++)
        printf("env[%d] = \"%s\"\n", n++, *e);
    printf("getenv B = %s\n", getenv("B") ? getenv("B") : "(none)");
    return 5;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--args") == 0)
        return child_args(argc, argv);
    setvbuf(stdout, NULL, _IONBF, 0);

    pid_t me = getpid();
    printf("getpid positive: %d\n", me > 0);
    printf("getpid stable: %d\n", getpid() == me);

    int fds[2];
    SHOW("pipe", pipe(fds));
    pid_t c = fork();
    if (c == 0) {
        close(fds[0]);
        char msg[64];
        int n = snprintf(msg, sizeof msg, "child: parent is %s, self differs %d",
                         getppid() == me ? "the forker" : "someone else",
                         getpid() != me);
        write(fds[1], msg, n);
        _exit(3);
    }
    close(fds[1]);
    char buf[128] = {0};
    int total = 0, n;
    while ((n = read(fds[0], buf + total, sizeof buf - 1 - total)) > 0)
        total += n;
    printf("read from the child: %s\n", buf);
    printf("read at end-of-file: %d\n", n);
    int st = 0;
    pid_t w = waitpid(c, &st, 0);
    printf("waitpid returns the child: %d\n", w == c);
    printf("exited %d, status %d\n", WIFEXITED(st), WEXITSTATUS(st));
    SHOW("waitpid with no children", waitpid(-1, &st, 0));

    /* A child whose stdout is a pipe, through dup2. */
    pipe(fds);
    c = fork();
    if (c == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        printf("through dup2 onto stdout\n");
        fflush(stdout);
        _exit(0);
    }
    close(fds[1]);
    memset(buf, 0, sizeof buf);
    total = 0;
    while ((n = read(fds[0], buf + total, sizeof buf - 1 - total)) > 0)
        total += n;
    close(fds[0]);
    waitpid(c, &st, 0);
    printf("the child wrote: %s", buf);
    SHOW("dup2 of a bad descriptor", dup2(99, 5));
    int d = dup(1);
    printf("dup gives the lowest free: %d\n", d == 3 || d == fds[0]);
    close(d);

    /* Three children at once, reaped in any order. */
    for (int i = 0; i < 3; i++)
        if (fork() == 0)
            _exit(10 + i);
    int sum = 0;
    for (int i = 0; i < 3; i++) {
        wait(&st);
        sum += WEXITSTATUS(st);
    }
    printf("three children's statuses sum to %d\n", sum);

    /* execve with a chosen argv and environment. */
    c = fork();
    if (c == 0) {
        char *av[] = {argv[0], "--args", "two words", "", "last", NULL};
        char *ev[] = {"A=1", "B=two", NULL};
        execve(argv[0], av, ev);
        _exit(127);
    }
    waitpid(c, &st, 0);
    printf("the exec'd child exited with %d\n", WEXITSTATUS(st));
    SHOW("execve of a missing file", execve("/no/such/program", argv, environ));
    return 0;
}
