/* Cross-backend harness (see crosscheck.h). */
#include "check_rng.h"
#include "crosscheck.h"
#include "format_cases.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUARD 64
#define GUARD_BYTE 0xA5

const qkc_case qkc_cases[] = {
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
const int qkc_case_count = (int)(sizeof qkc_cases / sizeof qkc_cases[0]);

qk_params qkc_case_params(const qkc_case *c)
{
    qk_params p;
    qk_params_default(c->format, &p);
    p.scaling = c->scaling;
    if (c->format != QK_FORMAT_NVFP4 && c->format != QK_FORMAT_MXFP8)
        p.block_size = c->block;
    p.double_quant = c->dq;
    p.convrot_group = c->convrot;
    return p;
}

typedef struct {
    int64_t rows, cols;
} shape;

/* Ragged tails, odd sizes, non-multiples of 16/32/128; rows of 200 (8 past
 * a multiple of 16) and of 100 (not a multiple of 8), whose vectors and
 * blocks straddle rows. ConvRot takes only the shapes whose columns are
 * whole groups (run_one). */
static const shape small_shapes[] = {{1, 64}, {7, 192}, {33, 320}, {130, 128}, {257, 448}, {11, 200}, {5, 100}};
static const shape large_shapes[] = {{1000, 4096}, {4099, 1088}};

static const qk_dtype dtypes[] = {QK_DTYPE_F32, QK_DTYPE_F16, QK_DTYPE_BF16};

/* Roughly normal (sum of uniforms), deterministic. */
static float rng_normal(uint64_t *s)
{
    float a = 0;
    for (int k = 0; k < 4; k++)
        a += (float)(qkc_rng(s) >> 40) / 16777216.0f;
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
            uint64_t k = qkc_rng(&s) % 1000;
            float v;
            if (r == rows / 2 && c < 64)
                v = 0.0f; /* an all-zero block in every layout */
            else if (k < 5)
                v = (k & 1) ? outlier : -outlier;
            else if (k < 15)
                v = (float)((int64_t)(qkc_rng(&s) % 25) - 12) * 0.25f; /* ties */
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

/* The buffers of one shape: the input, the reference's parts and output,
 * and the target's, guarded. */
typedef struct {
    qk_layout lay;
    size_t n; /* bytes of the input and of a dequantized output */
    uint8_t *in, *dq_want;
    void *want[QK_PART_COUNT];
    guarded got[QK_PART_COUNT], dq_got;
} shape_bufs;

static void bufs_free(shape_bufs *b)
{
    for (int k = 0; k < QK_PART_COUNT; k++) {
        free(b->want[k]);
        free(b->got[k].base);
    }
    free(b->in);
    free(b->dq_want);
    free(b->dq_got.base);
}

/* 0 when out of memory (b is then partly filled; bufs_free frees it). */
static int bufs_alloc(shape_bufs *b, qk_dtype dt, int64_t rows, int64_t cols)
{
    b->n = (size_t)(rows * cols) * qk_dtype_size(dt);
    b->in = malloc(b->n);
    b->dq_want = malloc(b->n);
    b->dq_got = guarded_alloc(b->n, 0x5A); /* garbage: unwritten bytes show */
    int ok = b->in && b->dq_want && b->dq_got.base;
    for (int k = 0; k < QK_PART_COUNT; k++)
        if (b->lay.part[k].nbytes) {
            b->want[k] = malloc(b->lay.part[k].nbytes);
            b->got[k] = guarded_alloc(b->lay.part[k].nbytes, 0x5A);
            ok = ok && b->want[k] && b->got[k].base;
        }
    return ok;
}

/* Quantize on both, every part compared; then the reference's parts
 * dequantized on both to dt. Adds to row. */
static void compare(qk_context *ref, const target *t, const qkc_case *f, const qk_params *p, qk_dtype dt,
                    int64_t rows, int64_t cols, shape_bufs *b, qkc_row *row)
{
    void *gotp[QK_PART_COUNT] = {0};
    for (int k = 0; k < QK_PART_COUNT; k++)
        gotp[k] = guarded_ptr(&b->got[k]);
    if (qk_quantize(ref, p, dt, b->in, rows, cols, b->want) != QK_OK ||
        qk_quantize(t->ctx, p, dt, b->in, rows, cols, gotp) != QK_OK) {
        fprintf(stderr, "crosscheck %s %s on %s: %s\n", f->label, qk_dtype_name(dt), t->backend,
                qk_last_error());
        row->mismatches++;
        return;
    }
    for (int k = 0; k < QK_PART_COUNT; k++)
        if (b->lay.part[k].nbytes) {
            row->bytes += b->lay.part[k].nbytes;
            row->mismatches += diff_bytes(b->want[k], gotp[k], b->lay.part[k].nbytes) +
                               guard_violations(&b->got[k]);
        }
    const void *cparts[QK_PART_COUNT];
    for (int k = 0; k < QK_PART_COUNT; k++)
        cparts[k] = b->want[k];
    if (qk_dequantize(ref, p, cparts, rows, cols, dt, b->dq_want) != QK_OK ||
        qk_dequantize(t->ctx, p, cparts, rows, cols, dt, guarded_ptr(&b->dq_got)) != QK_OK) {
        fprintf(stderr, "crosscheck dequantize %s %s on %s: %s\n", f->label, qk_dtype_name(dt), t->backend,
                qk_last_error());
        row->mismatches++;
        return;
    }
    row->bytes += b->n;
    row->mismatches += diff_bytes(b->dq_want, guarded_ptr(&b->dq_got), b->n) + guard_violations(&b->dq_got);
}

/* One format x dtype x target over every shape; adds to row. */
static void run_one(qk_context *ref, const target *t, const qkc_case *f, qk_dtype dt,
                    const shape *shapes, int nshapes, qkc_row *row)
{
    qk_params p = qkc_case_params(f);
    for (int si = 0; si < nshapes; si++) {
        int64_t rows = shapes[si].rows, cols = shapes[si].cols;
        if (p.convrot_group > 0 && cols % p.convrot_group != 0)
            continue; /* not a ConvRot shape: rows must be whole rotation groups */
        shape_bufs b = {0};
        if (qk_layout_query(&p, rows, cols, &b.lay) != QK_OK) {
            fprintf(stderr, "crosscheck %s: %s\n", f->label, qk_last_error());
            row->mismatches++;
            continue;
        }
        if (!bufs_alloc(&b, dt, rows, cols)) {
            fprintf(stderr, "crosscheck %s %s: out of memory for %lldx%lld\n", f->label, qk_dtype_name(dt),
                    (long long)rows, (long long)cols);
            row->mismatches++;
        } else {
            make_input(dt, rows, cols, (uint64_t)(si * 131 + f->format * 7 + dt), b.in);
            compare(ref, t, f, &p, dt, rows, cols, &b, row);
        }
        bufs_free(&b);
    }
}

/* Opens every device opt selects into *targets (*nt of them); a device
 * that is available but will not open, or running out of memory (which
 * ends the search), counts in *failures. */
static void open_targets(const qkc_options *opt, int trace, target **targets, int *nt, long *failures)
{
    int cap = 0;
    *targets = NULL;
    *nt = 0;
    for (int b = 0; b < qk_backend_count(); b++) {
        qk_backend_info bi;
        if (qk_backend_get_info(b, &bi) != QK_OK || !bi.available)
            continue;
        if (opt->only_backend && strcmp(opt->only_backend, bi.name) != 0)
            continue;
        if (strcmp(bi.name, "reference") == 0 || (strcmp(bi.name, "cpu") == 0 && !opt->include_cpu))
            continue;
        for (int d = 0; d < bi.device_count; d++) {
            qk_context *ctx;
            if (*nt == cap) {
                int more = cap ? 2 * cap : 8;
                target *grown = realloc(*targets, sizeof **targets * (size_t)more);
                if (grown == NULL) {
                    fprintf(stderr, "crosscheck: out of memory\n");
                    (*failures)++;
                    return;
                }
                *targets = grown;
                cap = more;
            }
            if (trace)
                fprintf(stderr, "crosscheck: opening %s device %d\n", bi.name, d);
            if (qk_context_create(bi.name, d, &ctx) != QK_OK) {
                fprintf(stderr, "crosscheck: %s device %d: %s\n", bi.name, d, qk_last_error());
                (*failures)++;
                continue;
            }
            if (strcmp(bi.name, "cpu") == 0)
                qk_context_set_threads(ctx, 7); /* an odd count splits ranges unevenly */
            (*targets)[(*nt)++] = (target){ctx, bi.name, d, qk_context_device(ctx)};
        }
    }
}

static void close_targets(target *targets, int nt, int trace)
{
    for (int t = 0; t < nt; t++) {
        if (trace)
            fprintf(stderr, "crosscheck: closing %s device %d\n", targets[t].backend, targets[t].device);
        qk_context_destroy(targets[t].ctx);
    }
    free(targets);
    if (trace) /* a crash after this line is in process exit (driver teardown) */
        fprintf(stderr, "crosscheck: every device closed\n");
}

static int trace_on(void)
{
    const char *trace_env = getenv("QK_CROSSCHECK_TRACE");
    return trace_env != NULL && strcmp(trace_env, "1") == 0;
}

long qkc_run(const qkc_options *opt, qkc_row_fn fn, void *user)
{
    qk_context *ref;
    if (qk_context_create("reference", 0, &ref) != QK_OK)
        return -1;
    int trace = trace_on(), nt;
    target *targets;
    long open_failures = 0; /* an available device that will not open is a failure */
    open_targets(opt, trace, &targets, &nt, &open_failures);
    long total = nt == 0 && open_failures == 0 ? -1 : open_failures;
    const shape *shapes = opt->large ? large_shapes : small_shapes;
    int nshapes = opt->large ? (int)(sizeof large_shapes / sizeof *large_shapes)
                             : (int)(sizeof small_shapes / sizeof *small_shapes);
    for (int t = 0; t < nt; t++) {
        if (trace)
            fprintf(stderr, "crosscheck: checking %s device %d (%s) with %d other device(s) open\n",
                    targets[t].backend, targets[t].device, targets[t].device_name, nt - 1);
        for (int f = 0; f < qkc_case_count; f++)
            for (size_t d = 0; d < sizeof dtypes / sizeof *dtypes; d++) {
                qkc_row row = {qkc_cases[f].label, qk_dtype_name(dtypes[d]), targets[t].backend,
                               targets[t].device, targets[t].device_name, 0, 0};
                run_one(ref, &targets[t], &qkc_cases[f], dtypes[d], shapes, nshapes, &row);
                total += (long)row.mismatches;
                if (fn)
                    fn(user, &row);
            }
    }
    close_targets(targets, nt, trace);
    qk_context_destroy(ref);
    return total;
}

const qkc_crafted_set qkc_crafted_sets[] = {
    {"dq-nested", qkc_crafted_nested},
    {"dq-means", qkc_crafted_means},
    {"dq-means-bf16", qkc_crafted_means16},
    {"dq-random-means", qkc_random_means},
    {"every-magnitude16", qkc_every_magnitude16},
    {"tensor-amax-position", qkc_tensor_amax_positions},
    {"group-dequantize", qkc_crafted_group_dequantize},
    {"nf4/fp4-dequantize", qkc_crafted_bnb4_dequantize},
    {"blocked-dequantize", qkc_crafted_blocked_dequantize},
    {"nvfp4-scale-x-code", qkc_nvfp4_every_scale_code},
    {"convrot-dequantize", qkc_crafted_convrot_dequantize},
    {"convrot-quantize", qkc_convrot_quantize_cases},
};
const int qkc_crafted_set_count = (int)(sizeof qkc_crafted_sets / sizeof qkc_crafted_sets[0]);

long qkc_run_crafted(const qkc_options *opt, qkc_row_fn fn, void *user)
{
    int trace = trace_on(), nt;
    target *targets;
    long open_failures = 0;
    open_targets(opt, trace, &targets, &nt, &open_failures);
    long total = nt == 0 && open_failures == 0 ? -1 : open_failures;
    for (int t = 0; t < nt; t++)
        for (int k = 0; k < qkc_crafted_set_count; k++) {
            char label[96];
            snprintf(label, sizeof label, "%s %d", targets[t].backend, targets[t].device);
            long bad = qkc_crafted_sets[k].run(targets[t].ctx, label);
            qkc_row row = {qkc_crafted_sets[k].name, "-", targets[t].backend, targets[t].device,
                           targets[t].device_name, 0, (size_t)bad};
            total += bad;
            if (fn)
                fn(user, &row);
        }
    close_targets(targets, nt, trace);
    return total;
}
