/* qtool bench: throughput of every format and direction on one backend,
 * against a buffer copy on the same device measured in the same run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/qk_codec.h"
#include "commands.h"
#include "format_spec.h"
#include "qk/qk.h"

#define MAX_SPECS 32

static const char *const default_specs[] = {
    "nf4", "nf4:dq", "fp4", "nvfp4", "mxfp8", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fn:row",
    "float8_e4m3fn:block=128", "int8_tensorwise", "int8_tensorwise:row", "int8_tensorwise:convrot=256",
    "int8_blockwise",
};

static int parse_dtype(const char *s, qk_dtype *dt)
{
    if (strcmp(s, "f32") == 0)
        *dt = QK_DTYPE_F32;
    else if (strcmp(s, "f16") == 0)
        *dt = QK_DTYPE_F16;
    else if (strcmp(s, "bf16") == 0)
        *dt = QK_DTYPE_BF16;
    else
        return -1;
    return 0;
}

/* Weight-like values (uniform sum, roughly normal) with a sprinkle of
 * outliers, deterministic so runs compare. */
static void *make_input(qk_dtype dt, size_t n)
{
    size_t es = qk_dtype_size(dt);
    unsigned char *buf = malloc(n * es);
    if (buf == NULL)
        return NULL;
    uint64_t s = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        float v = ((float)(s & 0xFFFF) + (float)((s >> 16) & 0xFFFF) - 65535.0f) / 65536.0f * 0.05f;
        if ((s >> 40) % 997 == 0)
            v *= 20.0f;
        uint32_t u;
        memcpy(&u, &v, 4);
        if (es == 4) {
            memcpy(buf + 4 * i, &u, 4);
        } else {
            uint16_t h = (uint16_t)(dt == QK_DTYPE_BF16 ? qk_f32_to_bf16(u) : qk_f32_to_f16(u));
            memcpy(buf + 2 * i, &h, 2);
        }
    }
    return buf;
}

/* How often a quantize must read its input: a per-tensor scale (nvfp4's
 * global scale, float8/int8 per tensor) needs the whole tensor's amax before
 * the first code, so the input is read twice; every other format codes each
 * block, row or tile from values it already holds. */
static int quantize_input_reads(const qk_params *p)
{
    if (p->format == QK_FORMAT_NVFP4)
        return 2;
    int scaled = p->format == QK_FORMAT_FLOAT8_E4M3FN || p->format == QK_FORMAT_FLOAT8_E5M2 ||
                 p->format == QK_FORMAT_INT8_TENSORWISE;
    return scaled && p->scaling == QK_SCALING_TENSOR ? 2 : 1;
}

/* One line of the table: qk_bench of spec in direction dir (0 quantize),
 * printed; its copy's GB/s into *copy_gbs (0 where it failed). */
static int bench_line(qk_context *ctx, const char *spec, const qk_params *p, int dir, qk_dtype dt, const void *in,
                      int64_t rows, int64_t cols, int iters, double *copy_gbs)
{
    qk_bench_result r;
    *copy_gbs = 0.0;
    if (qk_bench(ctx, dir, p, dt, in, rows, cols, iters, &r) != QK_OK) {
        printf("%-30s %-10s %s\n", spec, dir ? "dequantize" : "quantize", qk_last_error());
        return -1;
    }
    size_t es = qk_dtype_size(dt);
    double gbs = r.bytes_moved / r.seconds / 1e9, copy = r.copy_bytes / r.copy_seconds / 1e9;
    double in_bytes = (double)rows * (double)cols * (double)es;
    int reads = dir ? 1 : quantize_input_reads(p);
    double bound = r.bytes_moved / (r.bytes_moved + (reads - 1) * in_bytes);
    printf("%-30s %-10s %10.3f %10.1f %10.1f %6.0f%% %6.0f%%\n", spec, dir ? "dequantize" : "quantize",
           r.seconds * 1e3, gbs, copy, 100.0 * gbs / copy, 100.0 * bound);
    fflush(stdout);
    *copy_gbs = copy;
    return 0;
}

/* Lines whose copy ran below this fraction of the run's fastest copy are
 * measured again after the others (twice at most): on an H100 the Vulkan
 * bench's copy and op sometimes ran at about 57% of their speed for a
 * whole line while the clocks stayed at their highest (docs/BACKEND-VULKAN.md,
 * session of 2026-12-05 17:24), and a later measurement was clean.
 * QK_BENCH_AGAIN_BELOW sets it; 0 measures nothing again. */
static double again_below(void)
{
    const char *e = getenv("QK_BENCH_AGAIN_BELOW");
    return e ? atof(e) : 0.85;
}

int cmd_bench(int argc, char **argv)
{
    const char *backend = "auto", *dtype_name = "bf16", *specs[MAX_SPECS];
    int nspecs = 0, device = 0, iters = 10, threads = 0, do_q = 1, do_dq = 1;
    double mib = 256.0;
    int64_t cols = 4096;
    qk_dtype dt = QK_DTYPE_BF16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--backend") == 0 && v)
            backend = argv[++i];
        else if (strcmp(a, "--device") == 0 && v)
            device = atoi(argv[++i]);
        else if (strcmp(a, "--format") == 0 && v && nspecs < MAX_SPECS)
            specs[nspecs++] = argv[++i];
        else if (strcmp(a, "--dtype") == 0 && v && parse_dtype(v, &dt) == 0)
            dtype_name = argv[++i];
        else if (strcmp(a, "--mib") == 0 && v && atof(v) > 0)
            mib = atof(argv[++i]);
        else if (strcmp(a, "--cols") == 0 && v && atoll(v) > 0)
            cols = atoll(argv[++i]);
        else if (strcmp(a, "--iters") == 0 && v && atoi(v) > 0)
            iters = atoi(argv[++i]);
        else if (strcmp(a, "--threads") == 0 && v)
            threads = atoi(argv[++i]);
        else if (strcmp(a, "--direction") == 0 && v) {
            v = argv[++i];
            do_q = strcmp(v, "quantize") == 0 || strcmp(v, "both") == 0;
            do_dq = strcmp(v, "dequantize") == 0 || strcmp(v, "both") == 0;
            if (!do_q && !do_dq)
                return qtool_usage_error("bench: --direction is quantize, dequantize or both");
        } else
            return qtool_usage_error("bench: unknown or incomplete option '%s'", a);
    }
    if (nspecs == 0)
        for (size_t k = 0; k < sizeof default_specs / sizeof *default_specs; k++)
            specs[nspecs++] = default_specs[k];
    size_t es = qk_dtype_size(dt);
    int64_t rows = (int64_t)(mib * 1048576.0 / (double)es / (double)cols);
    if (rows < 1)
        return qtool_usage_error("bench: --mib %.3g is smaller than one row of %lld columns", mib, (long long)cols);
    qk_context *ctx = NULL;
    if (qk_context_create(backend, device, &ctx) != QK_OK)
        return qtool_error("%s", qk_last_error());
    if (threads > 0)
        qk_context_set_threads(ctx, threads);
    void *in = make_input(dt, (size_t)(rows * cols));
    if (in == NULL) {
        qk_context_destroy(ctx);
        return qtool_error("bench: out of memory for a %.0f MiB input", mib);
    }
    printf("# backend %s, device %s; input %lld x %lld %s (%.1f MiB), median of %d\n",
           qk_context_backend(ctx), qk_context_device(ctx), (long long)rows, (long long)cols,
           dtype_name, (double)(rows * cols) * (double)es / 1048576.0, iters);
    /* bound: the ratio a kernel moving only the bytes the format needs would
     * reach (below 100% where the input must be read twice) */
    printf("%-30s %-10s %10s %10s %10s %7s %7s\n", "format", "direction", "ms", "GB/s", "copy GB/s",
           "ratio", "bound");
    int failures = 0;
    double copy_gbs[MAX_SPECS][2] = {{0}}, best = 0.0;
    qk_params params[MAX_SPECS];
    for (int s = 0; s < nspecs; s++) {
        if (parse_format_spec(specs[s], &params[s]) != 0) {
            failures++;
            continue;
        }
        for (int dir = 0; dir < 2; dir++) {
            if ((dir == 0 && !do_q) || (dir == 1 && !do_dq))
                continue;
            if (bench_line(ctx, specs[s], &params[s], dir, dt, in, rows, cols, iters, &copy_gbs[s][dir]) != 0)
                failures++;
            if (copy_gbs[s][dir] > best)
                best = copy_gbs[s][dir];
        }
    }
    double below = again_below();
    int header = 0;
    for (int s = 0; s < nspecs; s++)
        for (int dir = 0; dir < 2; dir++)
            for (int turn = 0; turn < 2 && copy_gbs[s][dir] > 0.0 && copy_gbs[s][dir] < below * best; turn++) {
                if (!header)
                    printf("# again: lines whose copy ran below %.0f%% of the run's fastest (%.1f GB/s)\n",
                           100.0 * below, best);
                header = 1;
                bench_line(ctx, specs[s], &params[s], dir, dt, in, rows, cols, iters, &copy_gbs[s][dir]);
            }
    free(in);
    qk_context_destroy(ctx);
    return failures ? 1 : 0;
}
