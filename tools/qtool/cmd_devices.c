/* qtool devices / qtool crosscheck. */
#include <stdio.h>
#include <string.h>

#include "check/crosscheck.h"
#include "commands.h"
#include "qk/qk.h"

int cmd_devices(int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return qtool_usage_error("devices takes no arguments");
    qk_context *ctx = NULL;
    const char *auto_pick = qk_context_create("auto", 0, &ctx) == QK_OK ? qk_context_backend(ctx) : "none";
    for (int b = 0; b < qk_backend_count(); b++) {
        qk_backend_info bi;
        if (qk_backend_get_info(b, &bi) != QK_OK)
            continue;
        printf("%-7s %s\n", bi.name, bi.available ? "available" : bi.unavailable_reason);
        for (int d = 0; d < bi.device_count; d++) {
            qk_device_info di;
            if (qk_device_get_info(bi.name, d, &di) != QK_OK)
                continue;
            printf("  [%d] %s (%s, %d compute units, %.1f GiB)\n", d, di.name, di.vendor,
                   di.compute_units, (double)di.memory_bytes / (1024.0 * 1024.0 * 1024.0));
        }
    }
    printf("auto -> %s (override with --backend or QK_BACKEND)\n", auto_pick);
    qk_context_destroy(ctx);
    return 0;
}

static void print_row(void *user, const qkc_row *r)
{
    (void)user;
    printf("%-20s %-5s %-7s %-3d %-32.32s %12zu %10zu\n", r->format, r->dtype, r->backend, r->device,
           r->device_name, r->bytes, r->mismatches);
    fflush(stdout);
}

int cmd_crosscheck(int argc, char **argv)
{
    qkc_options opt = {0, 1, NULL};
    int crafted = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--large") == 0)
            opt.large = 1;
        else if (strcmp(argv[i], "--crafted") == 0)
            crafted = 1;
        else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc)
            opt.only_backend = argv[++i];
        else
            return qtool_usage_error("crosscheck: unknown option '%s'", argv[i]);
    }
    for (int b = 0; b < qk_backend_count(); b++) {
        qk_backend_info bi;
        if (qk_backend_get_info(b, &bi) == QK_OK && !bi.available)
            printf("# %s not checked: %s\n", bi.name, bi.unavailable_reason);
    }
    printf("%-20s %-5s %-7s %-3s %-32s %12s %10s\n", "format", "dtype", "backend", "dev", "device",
           "bytes", "mismatches");
    long total = qkc_run(&opt, print_row, NULL);
    if (total < 0)
        return qtool_error("crosscheck: no backend to check");
    long cases = 0;
    if (crafted) { /* each set also prints its cases; its row counts the cases that differ */
        printf("# crafted case sets (mismatches: differing cases)\n");
        cases = qkc_run_crafted(&opt, print_row, NULL);
    }
    int pass = total == 0 && cases == 0;
    if (crafted)
        printf("%s: %ld mismatched bytes, %ld differing crafted cases\n", pass ? "PASS" : "FAIL", total, cases);
    else
        printf("%s: %ld mismatched bytes\n", pass ? "PASS" : "FAIL", total);
    return pass ? 0 : 1;
}
