/* Cross-backend conformance: every available backend and device (and the
 * multi-threaded CPU backend) must give the single-threaded reference's
 * bytes, with guard bytes intact. Backends that are not available are
 * listed with the reason, never skipped silently. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "check/crosscheck.h"

static void print_row(void *user, const qkc_row *r)
{
    (void)user;
    printf("%-20s %-5s %-7s dev%d %10zu bytes %6zu mismatches\n", r->format, r->dtype, r->backend,
           r->device, r->bytes, r->mismatches);
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
    long total = qkc_run(&opt, print_row, NULL);
    assert_true(total >= 0);
    assert_int_equal(total, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_all_backends_bit_exact)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
