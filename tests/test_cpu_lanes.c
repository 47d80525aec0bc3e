/* The fast CPU kernels' branch-free steps (src/cpu/cpu_lanes.h) against the
 * codec they stand in for, on every upper-20-bit pattern with the rounding
 * corner cases in the low bits, plus random patterns (every pattern where
 * the input has 16 bits). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "cpu/cpu_lanes.h"
#include "ref/ref_internal.h"

static const uint32_t low_bits[] = {0x000u, 0x001u, 0x7FFu, 0x800u, 0x801u, 0xFFFu, 0x5A3u, 0xA5Cu};

typedef struct {
    uint64_t checked, bad;
    uint32_t first_bad;
} tally_t;

static void note(tally_t *t, int ok, uint32_t u)
{
    t->checked++;
    if (!ok && t->bad++ == 0)
        t->first_bad = u;
}

static uint32_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (uint32_t)(*s >> 16);
}

/* Calls fn on the structured patterns and 8M random ones. */
static void sweep(void (*fn)(tally_t *, uint32_t), tally_t *t)
{
    for (uint32_t hi = 0; hi < (1u << 20); hi++)
        for (size_t k = 0; k < sizeof low_bits / sizeof *low_bits; k++)
            fn(t, hi << 12 | low_bits[k]);
    uint64_t s = 0x243F6A8885A308D3u;
    for (int i = 0; i < 8000000; i++)
        fn(t, next_random(&s));
}

static int finite(uint32_t u) { return (u & 0x7FFFFFFFu) < 0x7F800000u; }

static void check_bf16(tally_t *t, uint32_t u) { note(t, qk_lane_to_bf16(u) == qk_f32_to_bf16(u), u); }

static void check_f16(tally_t *t, uint32_t u) { note(t, qk_lane_to_f16(u) == qk_f32_to_f16(u), u); }

static void check_round(tally_t *t, uint32_t u)
{
    if (!finite(u))
        return;
    note(t, qk_lane_round_bf16(u) == qk_round_to(QK_DTYPE_BF16, u) &&
                qk_lane_round_f16(u) == qk_round_to(QK_DTYPE_F16, u), u);
}

static void check_e2m1(tally_t *t, uint32_t u)
{
    if (finite(u))
        note(t, qk_lane_e2m1(u) == qk_f32_to_e2m1(u), u);
}

static void check_fp8(tally_t *t, uint32_t u)
{
    uint32_t a = u & 0x7FFFFFFFu;
    if (a <= QK_F32_E4M3_MAX)
        note(t, qk_lane_e4m3(u) == qk_f32_to_e4m3(u), u);
    if (a <= QK_F32_E5M2_MAX)
        note(t, qk_lane_e5m2(u) == qk_f32_to_e5m2(u), u);
}

static void check_int(tally_t *t, uint32_t u)
{
    if (!finite(u))
        return;
    note(t, qk_lane_int_rne(u, -128.0f, 127.0f) == qk_f32_to_int_rne_clamp(u, -128, 127) &&
                qk_lane_int_rne(u, -127.0f, 127.0f) == qk_f32_to_int_rne_clamp(u, -127, 127), u);
}

static void expect_clean(void (*fn)(tally_t *, uint32_t), const char *what)
{
    tally_t t = {0, 0, 0};
    sweep(fn, &t);
    printf("%-10s %llu inputs, %llu mismatches\n", what, (unsigned long long)t.checked,
           (unsigned long long)t.bad);
    if (t.bad)
        fail_msg("%s: %llu mismatches, first at 0x%08X", what, (unsigned long long)t.bad, t.first_bad);
    assert_true(t.checked > 1000000u);
}

static void test_bf16(void **s) { (void)s; expect_clean(check_bf16, "to_bf16"); }
static void test_f16(void **s) { (void)s; expect_clean(check_f16, "to_f16"); }
static void test_round(void **s) { (void)s; expect_clean(check_round, "round_to"); }
static void test_e2m1(void **s) { (void)s; expect_clean(check_e2m1, "e2m1"); }
static void test_fp8(void **s) { (void)s; expect_clean(check_fp8, "e4m3/e5m2"); }
static void test_int(void **s) { (void)s; expect_clean(check_int, "int_rne"); }

static void test_e4m3_value(void **s)
{
    (void)s;
    for (uint32_t b = 0; b <= 0x7Eu; b++)
        assert_int_equal(qk_lane_e4m3_value(b), qk_e4m3_to_f32(b));
}

/* Every binary16 pattern widened, NaNs and subnormals included. */
static void test_from_f16(void **s)
{
    (void)s;
    for (uint32_t h = 0; h < 65536u; h++)
        if (qk_lane_from_f16(h) != qk_f16_to_f32(h))
            fail_msg("from_f16 0x%04X: 0x%08X, the codec 0x%08X", h, qk_lane_from_f16(h), qk_f16_to_f32(h));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bf16), cmocka_unit_test(test_f16),        cmocka_unit_test(test_from_f16),
        cmocka_unit_test(test_round), cmocka_unit_test(test_e2m1),      cmocka_unit_test(test_fp8),
        cmocka_unit_test(test_int),  cmocka_unit_test(test_e4m3_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
