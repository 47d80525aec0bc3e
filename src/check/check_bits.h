/* f32 <-> bits for the harness's crafted cases (the harness uses the public
 * API only, so not ref_internal.h's qk_bits/qk_float). */
#ifndef QK_CHECK_BITS_H
#define QK_CHECK_BITS_H

#include <stdint.h>
#include <string.h>

static inline uint32_t qkc_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float qkc_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

#endif
