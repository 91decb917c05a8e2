/* One line per call: what, its result, and errno when it failed. The
 * call runs before errno is read (a printf argument list has no order). */
#include <errno.h>
#include <stdio.h>

#define SHOW(what, expr)                                                   \
    do {                                                                   \
        errno = 0;                                                         \
        long show_r_ = (long)(expr);                                       \
        int show_e_ = errno;                                               \
        if (show_r_ == -1)                                                 \
            printf("%s: -1 errno %d\n", what, show_e_);                    \
        else                                                               \
            printf("%s: %ld\n", what, show_r_);                            \
    } while (0)
