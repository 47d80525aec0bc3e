/* Double quant's offset taken in any order (src/ref/bnb_mean.c) must give the
 * reference's sequential bits: typical absmax vectors take the order-free
 * path, vectors where the order matters must be caught and summed in order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ref/ref_internal.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

/* The reverse-order sum, as a device would hand it over. */
static int exact_in_reverse(const uint32_t *a, int64_t nb, uint32_t *off)
{
    double sum = 0.0;
    int lsb = 1000;
    for (int64_t i = nb - 1; i >= 0; i--) {
        sum += (double)qk_float(a[i]);
        if (a[i] != 0u && qk_f32_lsb_exp(a[i]) < lsb)
            lsb = qk_f32_lsb_exp(a[i]);
    }
    return qk_bnb_mean_if_exact(sum, lsb, nb, off);
}

static void test_lsb(void **s)
{
    (void)s;
    assert_int_equal(qk_f32_lsb_exp(0x3F800000u), 0);   /* 1.0 */
    assert_int_equal(qk_f32_lsb_exp(0x3FC00000u), -1);  /* 1.5 */
    assert_int_equal(qk_f32_lsb_exp(0x40400000u), 0);   /* 3.0 */
    assert_int_equal(qk_f32_lsb_exp(0x3F800001u), -23); /* 1 + 2^-23 */
    assert_int_equal(qk_f32_lsb_exp(0x00000001u), -149);
    assert_int_equal(qk_f32_lsb_exp(0x7F000000u), 127);
}

/* bf16-like absmax (8-bit significands, a few binades): order-free. */
static void test_typical_vectors_take_the_fast_path(void **s)
{
    (void)s;
    for (int64_t nb = 1; nb < 300000; nb = nb * 7 + 3) {
        uint32_t *a = malloc((size_t)nb * 4);
        assert_non_null(a);
        for (int64_t i = 0; i < nb; i++)
            a[i] = ((118u + next_u32() % 10u) << 23) | ((next_u32() & 0x7Fu) << 16);
        a[nb / 2] = 0u; /* a zero block */
        uint32_t off = 0;
        assert_true(exact_in_reverse(a, nb, &off));
        assert_int_equal(off, qk_bnb_mean_sequential(a, nb));
        assert_int_equal(qk_bnb_absmax_mean(a, nb), qk_bnb_mean_sequential(a, nb));
        free(a);
    }
}

/* Full f32 significands over sixty binades: rounding happens, and the
 * answer must still be the sequential one. */
static void test_wide_vectors_match(void **s)
{
    (void)s;
    int64_t nb = 100003;
    uint32_t *a = malloc((size_t)nb * 4);
    assert_non_null(a);
    for (int64_t i = 0; i < nb; i++)
        a[i] = ((97u + next_u32() % 60u) << 23) | (next_u32() & 0x7FFFFFu);
    uint32_t off = 0;
    assert_false(exact_in_reverse(a, nb, &off));
    assert_int_equal(qk_bnb_absmax_mean(a, nb), qk_bnb_mean_sequential(a, nb));
    free(a);
}

/* 2^53 then two ones in different lanes of the eight partial sums: in order
 * each one is lost (ties to even), together they are not. */
static void test_order_sensitive_vector_falls_back(void **s)
{
    (void)s;
    uint32_t a[16] = {0};
    a[0] = 0x5A000000u; /* 2^53 */
    a[1] = 0x3F800000u;
    a[9] = 0x3F800000u;
    uint32_t off = 0;
    assert_false(exact_in_reverse(a, 16, &off));
    assert_int_equal(qk_bnb_absmax_mean(a, 16), qk_bnb_mean_sequential(a, 16));
    assert_int_equal(qk_bnb_absmax_mean(a, 16), qk_bits((float)(9007199254740992.0 / 16.0)));
}

/* -FLT_MAX (a full block of NaN), NaN, Inf and all zeros. */
static void test_special_values(void **s)
{
    (void)s;
    const uint32_t specials[] = {0xFF7FFFFFu, 0x7FC00000u, 0x7F800000u, 0x80000000u};
    for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++) {
        uint32_t a[40];
        for (int i = 0; i < 40; i++)
            a[i] = 0x3E000000u + (uint32_t)i * 0x10000u;
        a[17] = specials[k];
        assert_int_equal(qk_bnb_absmax_mean(a, 40), qk_bnb_mean_sequential(a, 40));
    }
    uint32_t z[19] = {0};
    assert_int_equal(qk_bnb_absmax_mean(z, 19), 0u);
    assert_int_equal(qk_bnb_mean_sequential(z, 19), 0u);
}

/* What one device workgroup writes for a run (bnb_mean.c's integer sums):
 * the model the shaders follow. */
static void record_of(const uint32_t *a, int64_t n, uint32_t rec[QK_BNB_PARTIAL_WORDS])
{
    int base = 1000;
    uint32_t flags = 0;
    for (int64_t i = 0; i < n; i++) {
        if (a[i] >= 0x7F800000u)
            flags = 1;
        else if (a[i] != 0u && qk_f32_lsb_exp(a[i]) < base)
            base = qk_f32_lsb_exp(a[i]);
    }
    uint64_t sum = 0;
    for (int64_t i = 0; i < n; i++) {
        if (a[i] == 0u || a[i] >= 0x7F800000u)
            continue;
        uint32_t m = (a[i] & 0x7FFFFFu) | ((a[i] >> 23) != 0u ? 0x800000u : 0u);
        int l = qk_f32_lsb_exp(a[i]), shift = l - base;
        uint32_t odd = m >> __builtin_ctz(m);
        if (32 - __builtin_clz(odd) + shift > QK_BNB_PARTIAL_WIDTH)
            flags |= 2;
        else
            sum += (uint64_t)odd << shift;
    }
    rec[0] = (uint32_t)sum;
    rec[1] = (uint32_t)(sum >> 32);
    rec[2] = (uint32_t)base;
    rec[3] = flags;
}

/* Mean from records of runs of `run` values; -1 when they prove nothing. */
static int64_t mean_by_records(const uint32_t *a, int64_t nb, int64_t run)
{
    int64_t count = (nb + run - 1) / run;
    uint32_t *rec = malloc((size_t)count * QK_BNB_PARTIAL_WORDS * 4);
    assert_non_null(rec);
    for (int64_t k = 0; k < count; k++)
        record_of(a + k * run, nb - k * run < run ? nb - k * run : run, rec + k * QK_BNB_PARTIAL_WORDS);
    uint32_t off = 0;
    int ok = qk_bnb_mean_from_partials(rec, count, nb, &off);
    free(rec);
    return ok ? (int64_t)off : -1;
}

static void test_partial_records(void **s)
{
    (void)s;
    int64_t nb = 200000;
    uint32_t *a = malloc((size_t)nb * 4);
    assert_non_null(a);
    /* bf16-like absmax: proven, and the sequential bits */
    for (int64_t i = 0; i < nb; i++)
        a[i] = ((110u + next_u32() % 20u) << 23) | ((next_u32() & 0x7Fu) << 16);
    a[5] = 0u;
    for (int64_t run = 1; run <= QK_BNB_PARTIAL_RUN; run *= 4)
        assert_int_equal(mean_by_records(a, nb, run), (int64_t)qk_bnb_mean_sequential(a, nb));
    /* full significands over a few binades (f32 inputs): still proven */
    for (int64_t i = 0; i < nb; i++)
        a[i] = ((120u + next_u32() % 6u) << 23) | (next_u32() & 0x7FFFFFu);
    assert_int_equal(mean_by_records(a, nb, QK_BNB_PARTIAL_RUN), (int64_t)qk_bnb_mean_sequential(a, nb));
    /* sixty binades: some value is too wide for a run's integer sum */
    for (int64_t i = 0; i < nb; i++)
        a[i] = ((97u + next_u32() % 60u) << 23) | (next_u32() & 0x7FFFFFu);
    assert_int_equal(mean_by_records(a, nb, QK_BNB_PARTIAL_RUN), -1);
    /* a negative, Inf or NaN value flags its record */
    const uint32_t bad[] = {0xFF7FFFFFu, 0x7F800000u, 0x7FC00000u};
    for (size_t k = 0; k < 3; k++) {
        for (int64_t i = 0; i < 64; i++)
            a[i] = 0x3E000000u;
        a[40] = bad[k];
        assert_int_equal(mean_by_records(a, 64, 16), -1);
    }
    /* 2^53 then two ones in separate runs: each run exact, the total not */
    uint32_t o[16] = {0};
    o[0] = 0x5A000000u;
    o[1] = 0x3F800000u;
    o[9] = 0x3F800000u;
    assert_int_equal(mean_by_records(o, 16, 8), -1);
    /* zeros only: offset +0 */
    uint32_t z[7] = {0};
    assert_int_equal(mean_by_records(z, 7, 2), 0);
    /* a record whose integer a double cannot hold (2^60 + 1) */
    uint32_t r[4] = {1u, 1u << 28, (uint32_t)-20, 0u};
    uint32_t off;
    assert_false(qk_bnb_mean_from_partials(r, 1, 1, &off));
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lsb),
        cmocka_unit_test(test_typical_vectors_take_the_fast_path),
        cmocka_unit_test(test_wide_vectors_match),
        cmocka_unit_test(test_order_sensitive_vector_falls_back),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_partial_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
