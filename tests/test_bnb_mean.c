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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lsb),
        cmocka_unit_test(test_typical_vectors_take_the_fast_path),
        cmocka_unit_test(test_wide_vectors_match),
        cmocka_unit_test(test_order_sensitive_vector_falls_back),
        cmocka_unit_test(test_special_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
