/* Job control when processes go: orphans (live and exited) handed to
 * the nearest subreaper, and the orphaned process group rule: a group
 * that an exit orphans while a member is stopped gets SIGHUP then
 * SIGCONT (both when the exiting process was the parent of the stopped
 * one's group and when it was a member of that group itself), and
 * SIGTSTP, SIGTTIN, SIGTTOU to a member of an orphaned group are dropped
 * instead of stopping it. This process is a subreaper, so the orphans
 * come back to it on Linux and on Septum alike; the groups it makes are
 * in sessions of their own. Processes synchronise through pipes, never
 * sleeps; only this process prints. Pids are never printed raw. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "show.h"

static pid_t me;
/* Children to this process: a pid, then reports. */
static int rep[2];
/* This process to the others: go on. */
static int go[2];

static volatile sig_atomic_t got_hup, got_cont;

static void on_hup(int sig)
{
    (void)sig;
    got_hup = 1;
}

static void on_cont(int sig)
{
    (void)sig;
    got_cont = 1;
}

static void put(int fd, const void *buf, size_t n)
{
    if (write(fd, buf, n) != (ssize_t)n)
        _exit(90);
}

static int get(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r <= 0)
            return -1;
        got += r;
    }
    return 0;
}

static void status(const char *what, int st)
{
    if (WIFEXITED(st))
        printf("%s: exited %d\n", what, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        printf("%s: killed by %d\n", what, WTERMSIG(st));
    else if (WIFSTOPPED(st))
        printf("%s: stopped by %d\n", what, WSTOPSIG(st));
    else
        printf("%s: %#x\n", what, st);
}

/* Orphans: the child forks one grandchild that exits (and waits until it
 * is a zombie, without reaping it) and one that waits, then exits. Both
 * become this process's children. */
static void orphans(void)
{
    pid_t a = fork();
    if (a == 0) {
        pid_t pids[2];
        pids[0] = fork();
        if (pids[0] == 0)
            _exit(7);
        siginfo_t si;
        if (waitid(P_PID, pids[0], &si, WEXITED | WNOWAIT) != 0)
            _exit(91);
        pids[1] = fork();
        if (pids[1] == 0) {
            char c;
            if (read(go[0], &c, 1) != 1)
                _exit(92);
            char ok = getppid() == me;
            put(rep[1], &ok, 1);
            _exit(5);
        }
        put(rep[1], pids, sizeof pids);
        _exit(0);
    }
    pid_t pids[2];
    printf("pids of the grandchildren: %d\n", get(rep[0], pids, sizeof pids));
    int st = 0;
    printf("waitpid of the child: %d\n", waitpid(a, &st, 0) == a);
    status("the child", st);
    put(go[1], "g", 1);
    char ok = 0;
    printf("the live orphan answers: %d\n", get(rep[0], &ok, 1));
    printf("its getppid is the subreaper: %d\n", ok);
    printf("waitpid of the exited orphan: %d\n", waitpid(pids[0], &st, 0) == pids[0]);
    status("the exited orphan", st);
    printf("waitpid of the live orphan: %d\n", waitpid(pids[1], &st, 0) == pids[1]);
    status("the live orphan", st);
    SHOW("waitpid with no child left", waitpid(-1, &st, WNOHANG));
}

/* The process that stops: handlers for SIGHUP and SIGCONT, its pid to
 * this process, a SIGSTOP to itself; once continued, which signals came,
 * then SIGTTIN and SIGTTOU to itself and a read that this process's
 * SIGTSTP interrupts, each of which would stop it if its group were not
 * orphaned. */
static void stopper(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigfillset(&sa.sa_mask);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_cont;
    sigaction(SIGCONT, &sa, NULL);
    pid_t self = getpid();
    put(rep[1], &self, sizeof self);
    kill(self, SIGSTOP);
    char got[2] = {got_hup, got_cont};
    put(rep[1], got, 2);
    kill(self, SIGTTIN);
    kill(self, SIGTTOU);
    char c;
    if (read(go[0], &c, 1) != 1)
        _exit(93);
    put(rep[1], "r", 1);
    _exit(0);
}

/* Waits until `pid` stops, then exits 0 if it did. */
static void wait_stopped(pid_t pid)
{
    int st = 0;
    if (waitpid(pid, &st, WUNTRACED) != pid)
        _exit(94);
    _exit(WIFSTOPPED(st) ? 0 : 1);
}

/* A child that leads a session of its own forks the stopper; `own`:
 * the stopper's group is an intermediate process's, which exits (the
 * group loses its last link to its session's other group); else the
 * stopper leads its group and the session leader, its parent, exits. */
static void orphaned_group(int own)
{
    pid_t a = fork();
    if (a == 0) {
        if (setsid() < 0)
            _exit(95);
        pid_t b = fork();
        if (b == 0) {
            if (setpgid(0, 0) != 0)
                _exit(96);
            if (!own)
                stopper();
            pid_t c = fork();
            if (c == 0)
                stopper();
            wait_stopped(c);
        }
        if (own) {
            /* The intermediate one reports its stopper stopped, and
             * exits; its status is this one's. */
            int st = 0;
            if (waitpid(b, &st, 0) != b || !WIFEXITED(st))
                _exit(97);
            _exit(WEXITSTATUS(st));
        }
        wait_stopped(b);
    }
    pid_t s = 0;
    printf("the stopper's pid: %d\n", get(rep[0], &s, sizeof s));
    int st = 0;
    printf("waitpid of the child: %d\n", waitpid(a, &st, 0) == a);
    status("the child (0: it saw the stopper stopped)", st);
    char got[2] = {0, 0};
    printf("the stopper goes on: %d\n", get(rep[0], got, 2));
    printf("it got SIGHUP: %d, SIGCONT: %d\n", got[0], got[1]);
    SHOW("SIGTSTP to it", kill(s, SIGTSTP));
    put(go[1], "g", 1);
    char r = 0;
    int n = get(rep[0], &r, 1);
    printf("its read went on: %d %c\n", n, r);
    printf("waitpid of the stopper: %d\n", waitpid(s, &st, WUNTRACED) == s);
    status("the stopper", st);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    me = getpid();
    SHOW("PR_SET_CHILD_SUBREAPER", prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
    int on = -1;
    SHOW("PR_GET_CHILD_SUBREAPER", prctl(PR_GET_CHILD_SUBREAPER, &on, 0, 0, 0));
    printf("subreaper: %d\n", on);
    SHOW("PR_GET_CHILD_SUBREAPER to NULL", prctl(PR_GET_CHILD_SUBREAPER, 0, 0, 0, 0));
    if (pipe(rep) != 0 || pipe(go) != 0)
        return 1;
    printf("orphans:\n");
    orphans();
    printf("a stopped group orphaned by its session leader's exit:\n");
    orphaned_group(0);
    printf("a stopped group orphaned by a member's exit:\n");
    orphaned_group(1);
    return 0;
}
