/* Mismatch accounting shared by the codec suites: counts checks and
 * mismatches, prints the first few mismatches of each check. */
#ifndef QK_TESTS_TALLY_H
#define QK_TESTS_TALLY_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    const char *what;
    uint64_t checked, bad;
} tally;

static inline void tally_bad(tally *t, const char *fmt, ...)
{
    if (t->bad < 5) {
        va_list ap;
        va_start(ap, fmt);
        printf("  MISMATCH %s: ", t->what);
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
    }
    t->bad++;
}

#endif
