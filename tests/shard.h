/* Runs a cmocka group, or one shard of it: with QK_TEST_SHARD="k/n" only
 * the tests whose index i has i % n == k, so that a long suite can run as n
 * processes side by side (tools/device-check.sh does it for test_opencl,
 * whose programs compile slowly on a cold cache). QK_TEST_FILTER, a
 * developer's name pattern, narrows either. Include after <cmocka.h>. */
#ifndef QK_TESTS_SHARD_H
#define QK_TESTS_SHARD_H

#include <stdio.h>
#include <stdlib.h>

static int run_tests_sharded(const char *group, const struct CMUnitTest *tests, size_t count)
{
    const char *filter = getenv("QK_TEST_FILTER"), *shard = getenv("QK_TEST_SHARD");
    if (filter)
        cmocka_set_test_filter(filter);
    unsigned k = 0, n = 1;
    if (shard && (sscanf(shard, "%u/%u", &k, &n) != 2 || n == 0 || k >= n)) {
        fprintf(stderr, "QK_TEST_SHARD '%s': expected k/n with k < n\n", shard);
        return 2;
    }
    struct CMUnitTest *mine = malloc(count * sizeof *mine);
    if (mine == NULL)
        return 2;
    size_t m = 0;
    for (size_t i = 0; i < count; i++)
        if (i % n == k)
            mine[m++] = tests[i];
    int failed = _cmocka_run_group_tests(group, mine, m, NULL, NULL);
    free(mine);
    return failed;
}

#endif
