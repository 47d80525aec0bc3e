/* Tensor-scaled float8 / int8 of 16-bit input over every magnitude a table
 * of codes holds: device backends may code such tensors by a table indexed
 * by the input's bits, so the test input is every bf16 or f16 value in
 * [-1, 1] (subnormals and both zeros included), its length not a multiple
 * of 8. NF4/FP4 64-blocks of subnormals under a small normal absmax, where
 * bf16's flush before the multiply decides codes. MXFP8 blocks of every
 * finite value under amax values where the scale exponent's fast forms
 * begin or step. NVFP4 blocks of every maximum in wide windows (below).
 * Tensor amax passes that stride and load several units a step, probed by
 * moving one peak through the tensor.
 * Public API only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crosscheck.h"

/* Every pattern of dt with magnitude <= 1.0, both signs; returns the count. */
static int64_t every_magnitude(qk_dtype dt, uint16_t *out)
{
    uint16_t one = dt == QK_DTYPE_BF16 ? 0x3F80u : 0x3C00u;
    int64_t n = 0;
    for (uint32_t m = 0; m <= one; m++) {
        out[n++] = (uint16_t)m;
        out[n++] = (uint16_t)(m | 0x8000u);
    }
    return n - 1; /* drop -1.0: an odd length, and +-1 still sets the scale */
}

/* 64-blocks whose first value is normal (bf16 2^-126..2^-95, f16
 * 2^-14..2^-1; sign alternating), the block's absmax, and the rest dt's
 * subnormals in turn, both signs; a block of zeros, and a tail of 37
 * values. bf16's flush codes a subnormal x as a zero; unflushed it would
 * code x / absmax (up to almost 1). Returns the count. */
static int64_t subnormal_blocks(qk_dtype dt, uint16_t *out)
{
    uint16_t mant = dt == QK_DTYPE_BF16 ? 0x7Fu : 0x3FFu;
    int shift = dt == QK_DTYPE_BF16 ? 7 : 10, bias = dt == QK_DTYPE_BF16 ? 127 : 15;
    int64_t n = 0;
    uint32_t sub = 0;
    for (int b = 0; b < 96; b++)
        for (int k = 0; k < 64; k++) {
            if (b == 40)
                out[n++] = (uint16_t)(k & 1) << 15; /* zeros */
            else if (k == 0 && dt == QK_DTYPE_BF16) /* exponent -126 + b % 32 */
                out[n++] = (uint16_t)((b & 1) << 15 | (1 + b % 32) << shift | (b * 37 & mant));
            else if (k == 0) /* f16: its largest binades, 2^-14..2^-1 */
                out[n++] = (uint16_t)((b & 1) << 15 | (bias - 14 + b % 14) << shift | (b * 37 & mant));
            else {
                out[n++] = (uint16_t)((sub & 1) << 15 | (1 + (sub >> 1) % mant));
                sub++;
            }
        }
    return n - 27; /* the last block cut short */
}

/* MXFP8 32-blocks of every finite pattern of dt whose magnitude is at most
 * that of the block's first value, for each first value (the amax) below:
 * smallest and largest subnormal and normal amax, amax at and around 448,
 * 1.75 (where the scale exponent steps) and 1, and bf16 amax around 2^-100
 * (below it the kernels divide). Returns the count, a multiple of 768
 * (rows of 256 and of 96); out NULL: only counts. */
static int64_t mxfp8_blocks(qk_dtype dt, uint16_t *out)
{
    static const uint16_t amax_bf16[] = {0x0001u, 0x007Fu, 0x0080u, 0x0D7Fu, 0x0D80u, 0x3F80u, 0x3FE0u,
                                         0x3FE1u, 0x43DFu, 0x43E0u, 0x43E1u, 0x7F7Fu};
    static const uint16_t amax_f16[] = {0x0001u, 0x03FFu, 0x0400u, 0x3C00u, 0x3F00u, 0x3F01u,
                                        0x5EFFu, 0x5F00u, 0x5F01u, 0x7BFFu};
    int bf = dt == QK_DTYPE_BF16;
    const uint16_t *amax = bf ? amax_bf16 : amax_f16;
    size_t na = bf ? sizeof amax_bf16 / sizeof *amax_bf16 : sizeof amax_f16 / sizeof *amax_f16;
    int64_t n = 0;
    for (size_t a = 0; a < na; a++) {
        uint32_t m = 0, sign = 0;
        for (; m <= amax[a]; n++) {
            uint16_t v = (uint16_t)(n % 32 == 0 ? amax[a] | (a & 1u) << 15 : m | sign << 15);
            if (out)
                out[n] = v;
            if (n % 32 != 0) {
                m += sign;
                sign ^= 1u;
            }
        }
        for (; n % 768 != 0; n++)
            if (out)
                out[n] = (uint16_t)(n % 32 == 0 ? amax[a] : 0u);
    }
    return n;
}

/* NVFP4 16-blocks whose maxima run over every magnitude in the 18 binades
 * below each top value (the whole e4m3 range of block scales under the
 * per-tensor scale that top sets): element 0 is the block's maximum (sign
 * alternating), the next fourteen sit a few patterns either side of where
 * the seven code boundaries (0.25..5 of t, about max / 6) fall, and the
 * last anywhere below the maximum; both signs, -0 included. Device
 * backends may take a block's scale and bounds from a table indexed by
 * its 16-bit maximum. Zero blocks fill the tensor to a multiple of 256
 * elements. Returns the count; out NULL: only counts. */
static int64_t nvfp4_blocks(qk_dtype dt, uint16_t *out)
{
    static const uint16_t tops_bf16[] = {0x7F7Fu, 0x3F80u, 0x0D80u, 0x0040u};
    static const uint16_t tops_f16[] = {0x7BFFu, 0x3C00u, 0x0400u, 0x0200u};
    /* log2(A_k / 6) in 1/128 binades (bf16 patterns per binade) */
    static const int32_t at[7] = {-587, -384, -290, -228, -162, -100, -34};
    int bf = dt == QK_DTYPE_BF16, per = bf ? 1 : 8; /* f16 has 8 times the patterns a binade */
    const uint16_t *tops = bf ? tops_bf16 : tops_f16;
    int64_t n = 0, b = 0;
    for (int t = 0; t < 4; t++) {
        int32_t lo = tops[t] - 18 * 128 * per;
        for (int32_t m = tops[t]; m >= (lo > 1 ? lo : 1); m--, b++)
            for (int k = 0; k < 16; k++, n++) {
                int32_t v = k == 0 ? m : k == 15 ? (int32_t)((m * 37u + (uint32_t)b) % (uint32_t)(m + 1))
                                               : m + at[(k - 1) / 2] * per + (int32_t)((b + k) % 7) - 3;
                if (out)
                    out[n] = (uint16_t)((v < 0 ? 0 : v > m ? m : v) | ((b + k) & 1) << 15);
            }
    }
    for (; n % 256 != 0; n++)
        if (out)
            out[n] = 0u;
    return n;
}

static long compare_case(qk_context *ctx, qk_context *ref, const char *label, qk_format f, qk_scaling sc,
                         qk_dtype dt, const uint16_t *in, int64_t rows, int64_t n)
{
    qk_params p;
    qk_params_default(f, &p);
    p.scaling = sc;
    qk_layout lay;
    if (qk_layout_query(&p, rows, n, &lay) != QK_OK)
        return 1;
    void *want[QK_PART_COUNT] = {0}, *got[QK_PART_COUNT] = {0};
    n *= rows; /* elements, from here on */
    uint16_t *dw = malloc((size_t)n * 2), *dg = malloc((size_t)n * 2);
    int ok = dw && dg;
    for (int k = 0; k < QK_PART_COUNT && ok; k++)
        if (lay.part[k].nbytes && ((want[k] = calloc(1, lay.part[k].nbytes)) == NULL ||
                                   (got[k] = calloc(1, lay.part[k].nbytes)) == NULL))
            ok = 0;
    long bad = 0;
    if (!ok || qk_quantize(ref, &p, dt, in, rows, n / rows, want) != QK_OK ||
               qk_quantize(ctx, &p, dt, in, rows, n / rows, got) != QK_OK) {
        printf("  %s %s %s: quantize failed: %s\n", label, qk_format_name(f), qk_dtype_name(dt), qk_last_error());
        bad = 1;
    }
    for (int k = 0; k < QK_PART_COUNT && !bad; k++)
        if (lay.part[k].nbytes && memcmp(want[k], got[k], lay.part[k].nbytes) != 0) {
            printf("  %s %s %s: part %d differs from the reference\n", label, qk_format_name(f), qk_dtype_name(dt), k);
            bad = 1;
        }
    const void *parts[QK_PART_COUNT] = {want[0], want[1], want[2], want[3]};
    if (!bad && (qk_dequantize(ref, &p, parts, rows, n / rows, dt, dw) != QK_OK ||
                 qk_dequantize(ctx, &p, parts, rows, n / rows, dt, dg) != QK_OK || memcmp(dw, dg, (size_t)n * 2) != 0)) {
        printf("  %s %s %s: dequantized output differs\n", label, qk_format_name(f), qk_dtype_name(dt));
        bad = 1;
    }
    for (int k = 0; k < QK_PART_COUNT; k++) {
        free(want[k]);
        free(got[k]);
    }
    free(dw);
    free(dg);
    return bad;
}

long qkc_every_magnitude16(qk_context *ctx, const char *label)
{
    static const qk_format formats[] = {QK_FORMAT_FLOAT8_E4M3FN, QK_FORMAT_FLOAT8_E5M2, QK_FORMAT_INT8_TENSORWISE};
    static const qk_format bnb[] = {QK_FORMAT_NF4, QK_FORMAT_FP4};
    static const qk_dtype dts[] = {QK_DTYPE_BF16, QK_DTYPE_F16};
    qk_context *ref = NULL;
    int64_t room = mxfp8_blocks(QK_DTYPE_BF16, NULL), f16_room = mxfp8_blocks(QK_DTYPE_F16, NULL);
    room = room > f16_room ? room : f16_room; /* > 2 * 0x3F81, every_magnitude's largest */
    for (size_t d = 0; d < 2; d++) {
        int64_t nv = nvfp4_blocks(d ? QK_DTYPE_F16 : QK_DTYPE_BF16, NULL);
        room = room > nv ? room : nv;
    }
    uint16_t *in = malloc((size_t)room * sizeof *in);
    if (in == NULL || qk_context_create("reference", 0, &ref) != QK_OK) {
        free(in);
        return 1;
    }
    long bad = 0;
    for (size_t d = 0; d < sizeof dts / sizeof *dts; d++) {
        int64_t n = every_magnitude(dts[d], in);
        for (size_t f = 0; f < sizeof formats / sizeof *formats; f++)
            bad += compare_case(ctx, ref, label, formats[f], QK_SCALING_TENSOR, dts[d], in, 1, n);
        /* row groups of 256 (128 magnitudes, both signs): 127 amax values
         * with every element below each, down to the zero row */
        for (size_t f = 0; f < sizeof formats / sizeof *formats; f++)
            bad += compare_case(ctx, ref, label, formats[f], QK_SCALING_ROW, dts[d], in, n / 256, 256);
        n = subnormal_blocks(dts[d], in);
        for (size_t f = 0; f < sizeof bnb / sizeof *bnb; f++)
            bad += compare_case(ctx, ref, label, bnb[f], QK_SCALING_TENSOR, dts[d], in, 1, n);
        n = mxfp8_blocks(dts[d], in);
        bad += compare_case(ctx, ref, label, QK_FORMAT_MXFP8, QK_SCALING_TENSOR, dts[d], in, n / 256, 256); /* 8 blocks a row */
        bad += compare_case(ctx, ref, label, QK_FORMAT_MXFP8, QK_SCALING_TENSOR, dts[d], in, n / 96, 96);   /* 3 */
        n = nvfp4_blocks(dts[d], in);
        bad += compare_case(ctx, ref, label, QK_FORMAT_NVFP4, QK_SCALING_TENSOR, dts[d], in, n / 256, 256);
    }
    qk_context_destroy(ref);
    free(in);
    return bad;
}

/* A 1 x n tensor of magnitudes in [0.25, 0.5), signs mixed, and one peak
 * (3.0, or -3.0 at odd positions) at element `at`. */
static void amax_probe(qk_dtype dt, uint16_t *in, int64_t n, int64_t at)
{
    uint16_t quarter = dt == QK_DTYPE_BF16 ? 0x3E80u : 0x3400u, mant = dt == QK_DTYPE_BF16 ? 0x7Fu : 0x3FFu;
    uint16_t peak = dt == QK_DTYPE_BF16 ? 0x4040u : 0x4200u;
    for (int64_t i = 0; i < n; i++)
        in[i] = (uint16_t)((((uint64_t)i * 2654435761u >> 7) & 1u) << 15 | quarter | ((uint64_t)i * 40503u & mant));
    in[at] = (uint16_t)((at & 1) << 15 | peak);
}

long qkc_tensor_amax_positions(qk_context *ctx, const char *label)
{
    /* 1285 whole 16-byte units and a 3-element tail: with a grid of 256
     * work-items, one step of four units a work-item, then single units */
    enum { UNITS = 1285, N = UNITS * 8 + 3 };
    static const qk_dtype dts[] = {QK_DTYPE_BF16, QK_DTYPE_F16};
    uint16_t *in = malloc((size_t)N * sizeof *in);
    qk_context *ref = NULL;
    if (in == NULL || qk_context_create("reference", 0, &ref) != QK_OK) {
        free(in);
        return 1;
    }
    long bad = 0;
    for (size_t d = 0; d < sizeof dts / sizeof *dts; d++)
        for (int64_t at = 0; at < N; at += at < UNITS * 8 ? 29 * 8 + 1 : 1) { /* every 29th unit, then the tail */
            amax_probe(dts[d], in, N, at);
            long b = compare_case(ctx, ref, label, QK_FORMAT_FLOAT8_E4M3FN, QK_SCALING_TENSOR, dts[d], in, 1, N);
            if (b)
                printf("  %s: the peak at element %lld\n", label, (long long)at);
            bad += b;
        }
    qk_context_destroy(ref);
    free(in);
    return bad;
}
