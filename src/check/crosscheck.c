/* Cross-backend harness (see crosscheck.h). */
#include "crosscheck.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUARD 64
#define GUARD_BYTE 0xA5

typedef struct {
    const char *label;
    qk_format format;
    qk_scaling scaling;
    int block, dq, convrot;
} fmt_case;

static const fmt_case fmt_cases[] = {
    {"nf4/bs64", QK_FORMAT_NF4, QK_SCALING_TENSOR, 64, 0, 0},
    {"nf4/bs128/dq", QK_FORMAT_NF4, QK_SCALING_TENSOR, 128, 1, 0},
    {"fp4/bs32", QK_FORMAT_FP4, QK_SCALING_TENSOR, 32, 0, 0},
    {"fp4/bs4096/dq", QK_FORMAT_FP4, QK_SCALING_TENSOR, 4096, 1, 0},
    {"nvfp4", QK_FORMAT_NVFP4, QK_SCALING_TENSOR, 16, 0, 0},
    {"mxfp8", QK_FORMAT_MXFP8, QK_SCALING_TENSOR, 32, 0, 0},
    {"e4m3/tensor", QK_FORMAT_FLOAT8_E4M3FN, QK_SCALING_TENSOR, 128, 0, 0},
    {"e4m3/row", QK_FORMAT_FLOAT8_E4M3FN, QK_SCALING_ROW, 128, 0, 0},
    {"e4m3/block128", QK_FORMAT_FLOAT8_E4M3FN, QK_SCALING_BLOCK, 128, 0, 0},
    {"e5m2/tensor", QK_FORMAT_FLOAT8_E5M2, QK_SCALING_TENSOR, 128, 0, 0},
    {"e5m2/block32", QK_FORMAT_FLOAT8_E5M2, QK_SCALING_BLOCK, 32, 0, 0},
    {"int8/tensor", QK_FORMAT_INT8_TENSORWISE, QK_SCALING_TENSOR, 128, 0, 0},
    {"int8/row", QK_FORMAT_INT8_TENSORWISE, QK_SCALING_ROW, 128, 0, 0},
    {"int8/row/convrot64", QK_FORMAT_INT8_TENSORWISE, QK_SCALING_ROW, 128, 0, 64},
    {"int8_blockwise/128", QK_FORMAT_INT8_BLOCKWISE, QK_SCALING_BLOCK, 128, 0, 0},
};

typedef struct {
    int64_t rows, cols;
} shape;

/* Ragged tails, odd sizes, non-multiples of 16/32/128 (columns stay a
 * multiple of 64 so ConvRot applies). */
static const shape small_shapes[] = {{1, 64}, {7, 192}, {33, 320}, {130, 128}, {257, 448}};
static const shape large_shapes[] = {{1000, 4096}, {4099, 1088}};

static const qk_dtype dtypes[] = {QK_DTYPE_F32, QK_DTYPE_F16, QK_DTYPE_BF16};

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Roughly normal (sum of uniforms), deterministic. */
static float rng_normal(uint64_t *s)
{
    float a = 0;
    for (int k = 0; k < 4; k++)
        a += (float)(rng_next(s) >> 40) / 16777216.0f;
    return (a - 2.0f) * 1.7320508f;
}

/* Stores v, which the generator keeps representable in dt (bf16: already
 * truncated; f16: normal range or the exact smallest subnormal). */
static void put(qk_dtype dt, void *buf, int64_t i, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    if (dt == QK_DTYPE_F32) {
        memcpy((uint8_t *)buf + 4 * i, &u, 4);
        return;
    }
    uint16_t h;
    if (dt == QK_DTYPE_BF16) {
        h = (uint16_t)(u >> 16);
    } else {
        uint32_t a = u & 0x7FFFFFFFu, sgn = (u >> 16) & 0x8000u;
        if (a == 0x33800000u) /* 2^-24 */
            h = (uint16_t)(sgn | 1u);
        else if (a < 0x38800000u) /* below the f16 normal range: signed zero */
            h = (uint16_t)sgn;
        else
            h = (uint16_t)(sgn | (((a >> 23) - 112u) << 10) | ((a >> 13) & 0x3FFu));
    }
    memcpy((uint8_t *)buf + 2 * i, &h, 2);
}

/* Weight-like values with adversarial pieces: exact ties after typical
 * scalings, subnormals, signed zeros, an all-zero block and outliers. */
static void make_input(qk_dtype dt, int64_t rows, int64_t cols, uint64_t seed, void *buf)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    float outlier = dt == QK_DTYPE_F16 ? 3000.0f : 1.0e4f;
    float tiny = dt == QK_DTYPE_F16 ? 0x1p-24f : 1.0e-39f;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            int64_t i = r * cols + c;
            uint64_t k = rng_next(&s) % 1000;
            float v;
            if (r == rows / 2 && c < 64)
                v = 0.0f; /* an all-zero block in every layout */
            else if (k < 5)
                v = (k & 1) ? outlier : -outlier;
            else if (k < 15)
                v = (float)((int64_t)(rng_next(&s) % 25) - 12) * 0.25f; /* ties */
            else if (k < 20)
                v = (k & 1) ? tiny : -tiny;
            else if (k < 25)
                v = (k & 1) ? 0.0f : -0.0f;
            else
                v = rng_normal(&s) * 0.02f;
            if (dt == QK_DTYPE_BF16) { /* round to bf16 by truncation: still random */
                uint32_t u;
                memcpy(&u, &v, 4);
                u &= 0xFFFF0000u;
                memcpy(&v, &u, 4);
            }
            put(dt, buf, i, v);
        }
}

typedef struct {
    uint8_t *base;
    size_t n;
} guarded;

static guarded guarded_alloc(size_t n, uint8_t fill)
{
    guarded g = {malloc(n + 2 * GUARD), n};
    if (g.base) {
        memset(g.base, GUARD_BYTE, GUARD);
        memset(g.base + GUARD, fill, n);
        memset(g.base + GUARD + n, GUARD_BYTE, GUARD);
    }
    return g;
}

static uint8_t *guarded_ptr(guarded *g) { return g->base ? g->base + GUARD : NULL; }

static size_t guard_violations(const guarded *g)
{
    size_t bad = 0;
    for (size_t i = 0; i < GUARD; i++)
        bad += (g->base[i] != GUARD_BYTE) + (g->base[GUARD + g->n + i] != GUARD_BYTE);
    return bad;
}

static size_t diff_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        d += a[i] != b[i];
    return d;
}

typedef struct {
    qk_context *ctx;
    const char *backend;
    int device;
    const char *device_name;
} target;

static qk_params params_of(const fmt_case *f)
{
    qk_params p;
    qk_params_default(f->format, &p);
    p.scaling = f->scaling;
    if (f->format != QK_FORMAT_NVFP4 && f->format != QK_FORMAT_MXFP8)
        p.block_size = f->block;
    p.double_quant = f->dq;
    p.convrot_group = f->convrot;
    return p;
}

/* One format x dtype x target over every shape; adds to row. */
static void run_one(qk_context *ref, const target *t, const fmt_case *f, qk_dtype dt,
                    const shape *shapes, int nshapes, qkc_row *row)
{
    qk_params p = params_of(f);
    for (int si = 0; si < nshapes; si++) {
        int64_t rows = shapes[si].rows, cols = shapes[si].cols;
        qk_layout lay;
        if (qk_layout_query(&p, rows, cols, &lay) != QK_OK) {
            row->mismatches++;
            continue;
        }
        size_t in_n = (size_t)(rows * cols) * qk_dtype_size(dt);
        uint8_t *in = malloc(in_n);
        make_input(dt, rows, cols, (uint64_t)(si * 131 + f->format * 7 + dt), in);
        void *want[QK_PART_COUNT] = {0};
        guarded got[QK_PART_COUNT] = {{0}};
        void *gotp[QK_PART_COUNT] = {0};
        for (int k = 0; k < QK_PART_COUNT; k++)
            if (lay.part[k].nbytes) {
                want[k] = malloc(lay.part[k].nbytes);
                got[k] = guarded_alloc(lay.part[k].nbytes, 0x5A); /* garbage: unwritten bytes show */
                gotp[k] = guarded_ptr(&got[k]);
            }
        int ok = qk_quantize(ref, &p, dt, in, rows, cols, want) == QK_OK;
        if (!ok || qk_quantize(t->ctx, &p, dt, in, rows, cols, gotp) != QK_OK) {
            fprintf(stderr, "crosscheck %s %s on %s: %s\n", f->label, qk_dtype_name(dt), t->backend,
                    qk_last_error());
            row->mismatches++;
        } else {
            for (int k = 0; k < QK_PART_COUNT; k++)
                if (lay.part[k].nbytes) {
                    row->bytes += lay.part[k].nbytes;
                    row->mismatches += diff_bytes(want[k], gotp[k], lay.part[k].nbytes) +
                                       guard_violations(&got[k]);
                }
            /* Dequantize the reference parts to this dtype on both. */
            size_t out_n = (size_t)(rows * cols) * qk_dtype_size(dt);
            uint8_t *dq_want = malloc(out_n);
            guarded dq_got = guarded_alloc(out_n, 0x5A);
            const void *cparts[QK_PART_COUNT] = {want[0], want[1], want[2], want[3]};
            if (qk_dequantize(ref, &p, cparts, rows, cols, dt, dq_want) != QK_OK ||
                qk_dequantize(t->ctx, &p, cparts, rows, cols, dt, guarded_ptr(&dq_got)) != QK_OK) {
                fprintf(stderr, "crosscheck dequantize %s %s on %s: %s\n", f->label,
                        qk_dtype_name(dt), t->backend, qk_last_error());
                row->mismatches++;
            } else {
                row->bytes += out_n;
                row->mismatches += diff_bytes(dq_want, guarded_ptr(&dq_got), out_n) +
                                   guard_violations(&dq_got);
            }
            free(dq_want);
            free(dq_got.base);
        }
        for (int k = 0; k < QK_PART_COUNT; k++) {
            free(want[k]);
            free(got[k].base);
        }
        free(in);
    }
}

long qkc_run(const qkc_options *opt, qkc_row_fn fn, void *user)
{
    qk_context *ref;
    if (qk_context_create("reference", 0, &ref) != QK_OK)
        return -1;
    target targets[64];
    int nt = 0;
    long open_failures = 0; /* an available device that will not open is a failure */
    for (int b = 0; b < qk_backend_count(); b++) {
        qk_backend_info bi;
        if (qk_backend_get_info(b, &bi) != QK_OK || !bi.available)
            continue;
        if (opt->only_backend && strcmp(opt->only_backend, bi.name) != 0)
            continue;
        if (strcmp(bi.name, "reference") == 0 || (strcmp(bi.name, "cpu") == 0 && !opt->include_cpu))
            continue;
        for (int d = 0; d < bi.device_count && nt < 64; d++) {
            qk_context *ctx;
            if (qk_context_create(bi.name, d, &ctx) != QK_OK) {
                fprintf(stderr, "crosscheck: %s device %d: %s\n", bi.name, d, qk_last_error());
                open_failures++;
                continue;
            }
            if (strcmp(bi.name, "cpu") == 0)
                qk_context_set_threads(ctx, 7); /* an odd count splits ranges unevenly */
            targets[nt++] = (target){ctx, bi.name, d, qk_context_device(ctx)};
        }
    }
    long total = nt == 0 && open_failures == 0 ? -1 : open_failures;
    const shape *shapes = opt->large ? large_shapes : small_shapes;
    int nshapes = opt->large ? (int)(sizeof large_shapes / sizeof *large_shapes)
                             : (int)(sizeof small_shapes / sizeof *small_shapes);
    for (int t = 0; t < nt; t++)
        for (size_t f = 0; f < sizeof fmt_cases / sizeof *fmt_cases; f++)
            for (size_t d = 0; d < sizeof dtypes / sizeof *dtypes; d++) {
                qkc_row row = {fmt_cases[f].label, qk_dtype_name(dtypes[d]), targets[t].backend,
                               targets[t].device, targets[t].device_name, 0, 0};
                run_one(ref, &targets[t], &fmt_cases[f], dtypes[d], shapes, nshapes, &row);
                total += (long)row.mismatches;
                if (fn)
                    fn(user, &row);
            }
    for (int t = 0; t < nt; t++)
        qk_context_destroy(targets[t].ctx);
    qk_context_destroy(ref);
    return total;
}
