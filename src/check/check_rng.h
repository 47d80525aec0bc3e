/* The harness's xorshift64: the crafted cases' inputs, the same on every
 * run. */
#ifndef QK_CHECK_RNG_H
#define QK_CHECK_RNG_H

#include <stdint.h>

static inline uint64_t qkc_rng(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

#endif
