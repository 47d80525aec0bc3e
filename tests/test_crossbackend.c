/* Cross-backend conformance: every available backend and device (and the
 * multi-threaded CPU backend) must give the single-threaded reference's
 * bytes, with guard bytes intact. Backends that are not available are
 * listed with the reason, never skipped silently. */
#include <fenv.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "check/crosscheck.h"
#include "check/format_cases.h"

static void print_row(void *user, const qkc_row *r)
{
    (void)user;
    printf("%-20s %-5s %-7s dev%d %10zu bytes %6zu mismatches\n", r->format, r->dtype, r->backend,
           r->device, r->bytes, r->mismatches);
    fflush(stdout); /* a crash in a driver still leaves the last row it passed in the log */
}

static void list_backends(void)
{
    for (int b = 0; b < qk_backend_count(); b++) {
        qk_backend_info bi;
        assert_int_equal(qk_backend_get_info(b, &bi), QK_OK);
        if (bi.available)
            printf("backend %-7s: %d device(s), in this run\n", bi.name, bi.device_count);
        else
            printf("backend %-7s: NOT RUN: %s\n", bi.name, bi.unavailable_reason);
    }
}

static void test_all_backends_bit_exact(void **state)
{
    (void)state;
    list_backends();
    qkc_options opt = {0, 1, NULL};
    setenv("QK_CROSSCHECK_TRACE", "1", 0); /* a crash in a driver then names its device */
    long total = qkc_run(&opt, print_row, NULL);
    assert_true(total >= 0);
    assert_int_equal(total, 0);
}

/* A caller that rounds upward and flushes subnormals (MXCSR FTZ and DAZ on
 * x86) must get the same bytes from every backend, host steps included, and
 * its environment back. */
static void test_caller_float_environment(void **state)
{
    (void)state;
    assert_int_equal(fesetround(FE_UPWARD), 0);
#if defined(__SSE__)
    unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040u); /* FTZ | DAZ */
#endif
    qkc_options opt = {0, 1, NULL};
    long total = qkc_run(&opt, print_row, NULL);
    int round = fegetround();
#if defined(__SSE__)
    unsigned after = _mm_getcsr();
    _mm_setcsr(csr);
    assert_int_equal(after & 0x8040u, 0x8040u);
#endif
    fesetround(FE_TONEAREST);
    assert_int_equal(round, FE_UPWARD);
    assert_int_equal(total, 0);
}

/* The shared case table covers every format, and each case is valid. */
static void test_cases_cover_every_format(void **state)
{
    (void)state;
    int seen[QK_FORMAT_COUNT] = {0};
    for (int i = 0; i < qkc_case_count; i++) {
        qk_params p = qkc_case_params(&qkc_cases[i]);
        assert_int_equal(p.format, qkc_cases[i].format);
        assert_int_equal(qk_params_validate(&p, 130, 128), QK_OK);
        seen[p.format] = 1;
    }
    for (int f = 0; f < QK_FORMAT_COUNT; f++)
        assert_true(seen[f]);
}

/* The fast CPU kernels (src/cpu) on the crafted cases the device suites
 * run: double quant's means and nested parts, every f16/bf16 magnitude,
 * tensor amax positions, dequantize of crafted scales and codes of every
 * layout, and ConvRot quantize of every group size (cpu_convrot.c). */
static void test_cpu_crafted_cases(void **state)
{
    (void)state;
    qk_context *cpu = NULL;
    assert_int_equal(qk_context_create("cpu", 0, &cpu), QK_OK);
    long bad = 0;
    for (int k = 0; k < qkc_crafted_set_count; k++)
        bad += qkc_crafted_sets[k].run(cpu, "cpu");
    qk_context_destroy(cpu);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cases_cover_every_format),
                                       cmocka_unit_test(test_all_backends_bit_exact),
                                       cmocka_unit_test(test_caller_float_environment),
                                       cmocka_unit_test(test_cpu_crafted_cases)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
