/* Memory: brk, anonymous mmap (zeroed), munmap, mprotect, MAP_FIXED,
 * and a write to a read-only page ending a child with SIGSEGV. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "show.h"

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    long page = sysconf(_SC_PAGESIZE);
    printf("page size %ld\n", page);

    /* musl's sbrk only reads the break: brk is called directly. */
    char *b0 = (char *)syscall(SYS_brk, 0);
    char *b1 = (char *)syscall(SYS_brk, b0 + 3 * page);
    printf("brk grows: %d\n", b1 == b0 + 3 * page);
    memset(b0, 0x5a, 3 * page);
    printf("heap bytes kept: %d\n", b0[0] == 0x5a && b0[3 * page - 1] == 0x5a);
    printf("brk shrinks: %d\n", (char *)syscall(SYS_brk, b0 + page) == b0 + page);
    printf("brk below the start is refused: %d\n", (char *)syscall(SYS_brk, b0 - page) == b0 + page);

    size_t len = 16 * page;
    unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap: %d\n", m != MAP_FAILED);
    int zero = 1;
    for (size_t i = 0; i < len; i++)
        zero &= m[i] == 0;
    printf("anonymous memory is zero: %d\n", zero);
    for (size_t i = 0; i < len; i += page)
        m[i] = (unsigned char)(i / page + 1);
    unsigned sum = 0;
    for (size_t i = 0; i < len; i += page)
        sum += m[i];
    printf("sum of page marks %u\n", sum);
    printf("page aligned: %d\n", ((uintptr_t)m & (page - 1)) == 0);

    SHOW("munmap the middle", munmap(m + 4 * page, 4 * page));
    unsigned char *f = mmap(m + 4 * page, page, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("MAP_FIXED in the hole: %d, zero again %d\n", f == m + 4 * page, f[0] == 0);

    SHOW("mprotect read-only", mprotect(m, page, PROT_READ));
    printf("still readable: %d\n", m[0] == 1);
    pid_t c = fork();
    if (c == 0) {
        m[0] = 9; /* faults */
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    printf("the child writing it: signaled %d, signal %d\n", WIFSIGNALED(st),
           WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    SHOW("mprotect back", mprotect(m, page, PROT_READ | PROT_WRITE));
    m[0] = 7;
    printf("writable again: %d\n", m[0] == 7);
    /* MADV_DONTNEED: a private anonymous page reads zero again; advice
     * over a range with a hole is ENOMEM (pages 5 to 7 were unmapped). */
    m[page] = 5;
    SHOW("madvise MADV_DONTNEED", madvise(m + page, page, MADV_DONTNEED));
    printf("after MADV_DONTNEED, zero again: %d\n", m[page] == 0);
    SHOW("madvise over a hole", madvise(m, 8 * page, MADV_NORMAL));

    SHOW("munmap unaligned", munmap(m + 1, page));
    SHOW("mmap of length 0", mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    SHOW("mmap of a bad descriptor", mmap(NULL, page, PROT_READ, MAP_PRIVATE, 99, 0));
    SHOW("mprotect of unmapped memory", mprotect((void *)0x100000000000, page, PROT_READ));
    SHOW("munmap all", munmap(m, len));

    /* A fork copies memory: the child's write is its own. */
    static int shared_looking = 1;
    c = fork();
    if (c == 0) {
        shared_looking = 2;
        _exit(shared_looking);
    }
    waitpid(c, &st, 0);
    printf("child saw %d, parent still has %d\n", WEXITSTATUS(st), shared_looking);
    return 0;
}
