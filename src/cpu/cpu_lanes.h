/* Branch-free per-element steps of the fast CPU kernels.
 *
 * Each function equals its qk_codec.h counterpart on the inputs the kernels
 * feed it (finite values, stated ranges) and is written so that compilers can
 * vectorize the loops that call it: selects instead of branches, integer
 * compares on bit patterns, native IEEE f32 mul/div (exact under the default
 * float environment, which the CPU backend enforces). tests/test_cpu_lanes.c
 * checks each one against the codec. */
#ifndef QK_CPU_LANES_H
#define QK_CPU_LANES_H

#include <stdint.h>
#include <string.h>

/* Hot loops get an AVX2 clone beside the baseline one; the loader picks by
 * CPU (GNU ifunc). Same arithmetic either way: wider lanes only. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#define QK_CPU_HOT __attribute__((target_clones("avx2", "default")))
#else
#define QK_CPU_HOT
#endif

static inline float qk_lane_f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint32_t qk_lane_u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Nearest integer of 0 <= f < 2^22, ties to even: adding 2^23 leaves no
 * fraction bits, so the FPU's round-to-nearest-even does the work. */
static inline float qk_lane_rint_small(float f) { return (f + 8388608.0f) - 8388608.0f; }

/* f32 -> bfloat16 bits, RNE (qk_f32_to_bf16; NaN -> 0x7FC0). */
static inline uint32_t qk_lane_to_bf16(uint32_t u)
{
    uint32_t r = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    return (u & 0x7FFFFFFFu) > 0x7F800000u ? 0x7FC0u : r;
}

/* f32 rounded to bfloat16 and widened back, for finite u. */
static inline uint32_t qk_lane_round_bf16(uint32_t u) { return qk_lane_to_bf16(u) << 16; }

/* f32 rounded to binary16 and widened back (overflow -> inf), finite u. */
static inline uint32_t qk_lane_round_f16(uint32_t u)
{
    uint32_t a = u & 0x7FFFFFFFu, s = u & 0x80000000u;
    uint32_t n = (a + 0xFFFu + ((a >> 13) & 1u)) & 0xFFFFE000u;
    n = n >= 0x477FF000u ? 0x7F800000u : n; /* past 65504 rounds to 65536: inf */
    /* below 2^-14: multiples of 2^-24, scaled exactly to integers and back */
    uint32_t sub = qk_lane_u(qk_lane_rint_small(qk_lane_f(a) * 16777216.0f) * 5.9604644775390625e-8f);
    return s | (a < 0x38800000u ? sub : n);
}

/* binary16 bits -> f32 bits, exactly (qk_f16_to_f32): subnormals are
 * m * 2^-24, NaNs come out quiet. */
static inline uint32_t qk_lane_from_f16(uint32_t h)
{
    uint32_t s = (h & 0x8000u) << 16, e = h & 0x7C00u, m = h & 0x3FFu;
    uint32_t n = ((h & 0x7FFFu) << 13) + (112u << 23);
    uint32_t sub = qk_lane_u((float)(int32_t)m * 5.9604644775390625e-8f);
    uint32_t special = 0x7F800000u | (m << 13) | (m != 0u ? 0x400000u : 0u);
    uint32_t r = e == 0u ? sub : n;
    return s | (e == 0x7C00u ? special : r);
}

/* f32 -> binary16 bits, RNE (qk_f32_to_f16): overflow -> inf, NaN -> 0x7E00,
 * sign kept. Below 2^-14 the result counts multiples of 2^-24 (1024 is the
 * smallest normal's pattern), scaled exactly to an integer and rounded. */
static inline uint32_t qk_lane_to_f16(uint32_t u)
{
    uint32_t a = u & 0x7FFFFFFFu, s = (u >> 16) & 0x8000u;
    uint32_t n = ((a + 0xFFFu + ((a >> 13) & 1u)) >> 13) - (112u << 10);
    uint32_t sub = (uint32_t)(int32_t)qk_lane_rint_small(qk_lane_f(a) * 16777216.0f);
    uint32_t r = a < 0x38800000u ? sub : n;
    r = a >= 0x477FF000u ? 0x7C00u : r; /* past 65504 rounds to 65536: inf */
    r = a > 0x7F800000u ? 0x7E00u : r;
    return s | r;
}

/* |v| <= 6 (finite) -> E2M1 nibble, RNE, sign kept (qk_f32_to_e2m1). The
 * thresholds are the midpoints between codes; ties go to the even code. */
static inline uint32_t qk_lane_e2m1(uint32_t u)
{
    uint32_t a = u & 0x7FFFFFFFu;
    uint32_t c = (uint32_t)(a > 0x3E800000u) + (uint32_t)(a >= 0x3F400000u) +
                 (uint32_t)(a > 0x3FA00000u) + (uint32_t)(a >= 0x3FE00000u) +
                 (uint32_t)(a > 0x40200000u) + (uint32_t)(a >= 0x40600000u) +
                 (uint32_t)(a > 0x40A00000u);
    return c | ((u >> 28) & 8u);
}

/* |v| <= 448 (finite) -> float8_e4m3fn byte, RNE (qk_f32_to_e4m3). */
static inline uint32_t qk_lane_e4m3(uint32_t u)
{
    uint32_t a = u & 0x7FFFFFFFu;
    uint32_t n = ((a + 0x7FFFFu + ((a >> 20) & 1u)) >> 20) - (120u << 3);
    uint32_t sub = (uint32_t)(int32_t)qk_lane_rint_small(qk_lane_f(a) * 512.0f); /* steps of 2^-9 */
    return ((u >> 24) & 0x80u) | (a < 0x3C800000u ? sub : n);
}

/* |v| <= 57344 (finite) -> float8_e5m2 byte, RNE (qk_f32_to_e5m2). */
static inline uint32_t qk_lane_e5m2(uint32_t u)
{
    uint32_t a = u & 0x7FFFFFFFu;
    uint32_t n = ((a + 0xFFFFFu + ((a >> 21) & 1u)) >> 21) - (112u << 2);
    uint32_t sub = (uint32_t)(int32_t)qk_lane_rint_small(qk_lane_f(a) * 65536.0f); /* steps of 2^-16 */
    return ((u >> 24) & 0x80u) | (a < 0x38800000u ? sub : n);
}

/* float8_e4m3fn byte 0..0x7E (non-negative, finite) -> f32 bits
 * (qk_e4m3_to_f32): subnormal codes are m * 2^-9, exactly. */
static inline uint32_t qk_lane_e4m3_value(uint32_t b)
{
    uint32_t n = (((b >> 3) + 120u) << 23) | ((b & 7u) << 20);
    uint32_t sub = qk_lane_u((float)(int32_t)(b & 7u) * 0.001953125f);
    return (b >> 3) == 0u ? sub : n;
}

/* Round to the nearest integer, ties to even, clamped to [lo, hi] with
 * -2^22 < lo <= hi < 2^22 (qk_f32_to_int_rne_clamp), finite u. */
static inline int32_t qk_lane_int_rne(uint32_t u, float lo, float hi)
{
    float f = qk_lane_f(u);
    f = f < lo ? lo : f;
    f = f > hi ? hi : f;
    uint32_t b = qk_lane_u(f); /* round the magnitude, then put the sign back */
    float r = qk_lane_rint_small(qk_lane_f(b & 0x7FFFFFFFu));
    return (int32_t)qk_lane_f(qk_lane_u(r) | (b & 0x80000000u));
}

#endif
