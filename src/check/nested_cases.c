/* Double-quant cases a device backend could get wrong, against the
 * reference backend. Parts a caller crafted: a NaN or Inf nested absmax or
 * offset (device backends rebuild the absmax on the host then, under its NaN
 * rules) and finite ones near FLT_MAX whose sums overflow (rebuilt on the
 * device). Inputs crafted for the offset's mean: see qkc_crafted_means.
 * Public API only. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crosscheck.h"

long qkc_crafted_nested(qk_context *ctx, const char *label)
{
    const int64_t rows = 64, cols = 512; /* 512 absmax values: two nested blocks */
    qk_params p;
    qk_params_default(QK_FORMAT_NF4, &p);
    p.double_quant = 1;
    qk_layout lay;
    qk_context *ref = NULL;
    if (qk_layout_query(&p, rows, cols, &lay) != QK_OK || qk_context_create("reference", 0, &ref) != QK_OK)
        return 1;
    size_t n = (size_t)(rows * cols), bytes = n * 2;
    float *in = malloc(n * 4);
    unsigned char *want = malloc(bytes), *got = malloc(bytes);
    void *parts[QK_PART_COUNT] = {0};
    int ok = in && want && got;
    for (int k = 0; k < QK_PART_COUNT && ok; k++)
        if (lay.part[k].nbytes && (parts[k] = calloc(1, lay.part[k].nbytes)) == NULL)
            ok = 0;
    uint32_t s = 0x9E3779B9u;
    for (size_t i = 0; ok && i < n; i++) {
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        in[i] = ((float)(s & 0xFFFFu) - 32768.0f) / (float)(1u << (4 + (i / 64) % 12));
    }
    long bad = ok && qk_quantize(ref, &p, QK_DTYPE_F32, in, rows, cols, parts) == QK_OK ? 0 : 1;
    static const uint32_t nested1[] = {0x7FC00001u, 0x7F800000u, 0x7F7FFFFFu, 0x7F7FFFFFu};
    static const uint32_t offsets[] = {0x3C000000u, 0x3C000000u, 0x7F7FFFFFu, 0xFF800000u};
    for (size_t k = 0; k < sizeof nested1 / sizeof *nested1 && bad == 0; k++) {
        memcpy((unsigned char *)parts[QK_PART_SCALE2] + 4, &nested1[k], 4);
        memcpy(parts[QK_PART_OFFSET], &offsets[k], 4);
        const void *const *cp = (const void *const *)parts;
        int same = qk_dequantize(ref, &p, cp, rows, cols, QK_DTYPE_BF16, want) == QK_OK &&
                   qk_dequantize(ctx, &p, cp, rows, cols, QK_DTYPE_BF16, got) == QK_OK &&
                   memcmp(want, got, bytes) == 0;
        printf("%s: nested[1] 0x%08x, offset 0x%08x: %s\n", label, nested1[k], offsets[k],
               same ? "same bytes" : "DIFFERENT");
        bad += !same;
    }
    for (int k = 0; k < QK_PART_COUNT; k++)
        free(parts[k]);
    free(in);
    free(want);
    free(got);
    qk_context_destroy(ref);
    return bad;
}

/* One quantize of `in` (f32, rows x cols; bs 64) by ctx and by ref, as
 * f32 or as bf16 input (its high halves), every part compared; 1 when
 * they differ or fail. */
static long same_quantize(qk_context *ctx, qk_context *ref, const float *in, int64_t rows, int64_t cols, qk_dtype dt,
                          const char *label, const char *what)
{
    qk_params p;
    qk_params_default(QK_FORMAT_NF4, &p);
    p.double_quant = 1;
    p.block_size = 64;
    qk_layout lay;
    size_t n = (size_t)(rows * cols);
    void *want[QK_PART_COUNT] = {0}, *got[QK_PART_COUNT] = {0};
    uint16_t *half = dt == QK_DTYPE_BF16 ? malloc(n * 2) : NULL;
    int ok = (dt == QK_DTYPE_F32 || half != NULL) && qk_layout_query(&p, rows, cols, &lay) == QK_OK;
    for (int k = 0; k < QK_PART_COUNT && ok; k++)
        if (lay.part[k].nbytes && ((want[k] = calloc(1, lay.part[k].nbytes)) == NULL ||
                                   (got[k] = calloc(1, lay.part[k].nbytes)) == NULL))
            ok = 0;
    for (size_t i = 0; ok && half && i < n; i++) {
        uint32_t u;
        memcpy(&u, &in[i], 4);
        half[i] = (uint16_t)(u >> 16);
    }
    const void *x = half ? (const void *)half : (const void *)in;
    ok = ok && qk_quantize(ref, &p, dt, x, rows, cols, want) == QK_OK &&
         qk_quantize(ctx, &p, dt, x, rows, cols, got) == QK_OK;
    for (int k = 0; k < QK_PART_COUNT && ok; k++)
        ok = lay.part[k].nbytes == 0 || memcmp(want[k], got[k], lay.part[k].nbytes) == 0;
    printf("%s: double-quant mean, %s%s: %s\n", label, what, half ? ", bf16" : "", ok ? "same bytes" : "DIFFERENT");
    for (int k = 0; k < QK_PART_COUNT; k++) {
        free(want[k]);
        free(got[k]);
    }
    free(half);
    return !ok;
}

/* The cases of qkc_crafted_means (f32) and qkc_crafted_means16 (bf16,
 * which adds a partial last block, an Inf and a block of NaN: the f32
 * list stays the one whose fallbacks the Vulkan test counts). */
static long crafted_means(qk_context *ctx, const char *label, qk_dtype dt)
{
    const int64_t rows = 8200; /* absmax values: two full runs of 4096 and a part */
    const int more = dt != QK_DTYPE_F32;
    float *in = calloc((size_t)rows * 64, 4);
    qk_context *ref = NULL;
    if (in == NULL || qk_context_create("reference", 0, &ref) != QK_OK) {
        free(in);
        return 1;
    }
    long bad = 0;
    uint32_t s = 0x2545F491u;
    for (int64_t i = 0; i < rows * 64; i++) { /* ordinary weights */
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        in[i] = ((float)(s & 0xFFFFFu) - 524288.0f) / 65536.0f;
    }
    bad += same_quantize(ctx, ref, in, rows, 64, dt, label, "ordinary absmax");
    if (more)
        bad += same_quantize(ctx, ref, in, rows, 63, dt, label, "ordinary absmax, a partial last block");
    for (int64_t r = 0; r < rows; r++) { /* one element per block sets its absmax */
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        in[r * 64] = ldexpf(1.0f + (float)(s & 0x7FFFFFu) / 8388608.0f, (int)(r % 60) - 30);
    }
    bad += same_quantize(ctx, ref, in, rows, 64, dt, label, "absmax over sixty binades");
    if (more) {
        in[77 * 64 + 5] = INFINITY;
        bad += same_quantize(ctx, ref, in, rows, 64, dt, label, "an Inf absmax");
        for (int k = 0; k < 64; k++)
            in[77 * 64 + k] = NAN;
        bad += same_quantize(ctx, ref, in, rows, 64, dt, label, "a block of NaN");
    }
    memset(in, 0, (size_t)rows * 64 * 4);
    bad += same_quantize(ctx, ref, in, rows, 64, dt, label, "all zeros");
    /* 2^53 in the first run, 1.0 in the next two: each run is exact, their
     * total is not, and the sequential sum loses both ones */
    in[0] = 9007199254740992.0f;
    in[4096 * 64] = 1.0f;
    in[8192 * 64] = 1.0f;
    bad += same_quantize(ctx, ref, in, rows, 64, dt, label, "order-sensitive absmax");
    qk_context_destroy(ref);
    free(in);
    return bad;
}

long qkc_crafted_means(qk_context *ctx, const char *label) { return crafted_means(ctx, label, QK_DTYPE_F32); }

long qkc_crafted_means16(qk_context *ctx, const char *label) { return crafted_means(ctx, label, QK_DTYPE_BF16); }

/* A quantize of nb blocks whose absmax are v[0..nb) (one element a block). */
static long same_means(qk_context *ctx, qk_context *ref, const float *v, int64_t nb, const char *label,
                       const char *what)
{
    float *in = calloc((size_t)nb * 64, 4);
    if (in == NULL)
        return 1;
    for (int64_t b = 0; b < nb; b++)
        in[b * 64 + b % 64] = b % 2 ? -v[b] : v[b]; /* sign and place are free: |x| sets the absmax */
    long bad = same_quantize(ctx, ref, in, nb, 64, QK_DTYPE_F32, label, what);
    free(in);
    return bad;
}

long qkc_random_means(qk_context *ctx, const char *label)
{
    static const int64_t counts[] = {1, 2, 3, 5, 7, 64, 255, 1000, 4095, 4096, 4097, 12345};
    float *v = malloc(12345 * sizeof *v);
    qk_context *ref = NULL;
    if (v == NULL || qk_context_create("reference", 0, &ref) != QK_OK) {
        free(v);
        return 1;
    }
    long bad = 0;
    uint32_t s = 0x6A09E667u;
    char what[96];
    for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
        for (int64_t b = 0; b < counts[c]; b++) { /* 24 random bits over 2^-4 .. 2 */
            s ^= s << 13, s ^= s >> 17, s ^= s << 5;
            v[b] = ldexpf(1.0f + (float)(s & 0x7FFFFFu) / 8388608.0f, -(int)(s >> 29) % 5);
        }
        snprintf(what, sizeof what, "%lld random absmax", (long long)counts[c]);
        bad += same_means(ctx, ref, v, counts[c], label, what);
    }
    /* Runs whose sums a device may take by a shortcut: exponents 31 and
     * 32 apart within each 16 values an invocation loads (bnb_absmax_sum
     * .comp's add_plain takes the first only), and zeros among ordinary
     * values; three significant bits, so every run stays proven. */
    static const char *const edges[] = {"8192 absmax, exponents 31 apart", "8192 absmax, exponents 32 apart",
                                        "8192 absmax, every third zero"};
    for (int t = 0; t < 3; t++) {
        for (int64_t b = 0; b < 8192; b++) {
            s ^= s << 13, s ^= s >> 17, s ^= s << 5;
            int k = (int)(b >> 10) & 3, c = (int)(b & 3); /* an invocation's load and lane */
            int e = t < 2 ? k * 10 + (c == 3 ? 1 + t : 0) - 20 : -(int)(s >> 29) % 5;
            v[b] = t == 2 && b % 3 == 0 ? 0.0f : ldexpf(1.0f + (float)(s & 7u) / 8.0f, e);
        }
        bad += same_means(ctx, ref, v, 8192, label, edges[t]);
    }
    /* f32 ties: 0.5 + 2^-25 goes down to 0.5, (1 + 3 * 2^-24) / 2 up */
    static const float ties[][2] = {{1.0f, 0x1p-24f}, {1.0f + 0x1p-23f, 0x1p-24f}, {0x1p-100f, 0x1p-124f}};
    for (size_t t = 0; t < sizeof ties / sizeof *ties; t++) {
        snprintf(what, sizeof what, "a mean on an f32 tie (%a, %a)", (double)ties[t][0], (double)ties[t][1]);
        bad += same_means(ctx, ref, ties[t], 2, label, what);
    }
    static const float tiny[] = {0x1.8p-125f, 0.0f, 0.0f, 0.0f}; /* 1.5 * 2^-127 (subnormal inputs flush) */
    bad += same_means(ctx, ref, tiny, 4, label, "a subnormal mean");
    qk_context_destroy(ref);
    free(v);
    return bad;
}
