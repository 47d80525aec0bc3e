/* f32 int8 quantize whose quotients x / d lie near points halfway between
 * integers, by a device backend against the reference backend: the backends
 * code f32 int8 by one product with RN(1/d) and divide only where that
 * product lies within 2^-13 of a halfway point, so these inputs put values
 * on both sides of that margin in every group. Public API only. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_rng.h"
#include "crosscheck.h"

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* The f32 divisor the reference codes a group of amax a with (ref_int8.c:
 * RN(a / 127) floored at 1e-30, or for int8_blockwise at 1e-8). */
static float group_divisor(float a, int blockwise)
{
    float s = a / 127.0f; /* one IEEE division, as the reference's qk_div */
    float floor_v = blockwise ? 1e-8f : 1e-30f;
    return s < floor_v ? floor_v : s;
}

/* x moved by delta ulps, its sign kept (|x| stays above |delta| ulps). */
static float move_ulps(float x, int32_t delta)
{
    uint32_t u = to_bits(x), mag = u & 0x7FFFFFFFu;
    if ((int64_t)mag <= (int64_t)(delta < 0 ? -delta : delta))
        return x;
    return from_bits(u + (uint32_t)delta);
}

/* A value for a group of divisor d: half the time RN(m d) for m halfway
 * between integers in [-126.5, 126.5], moved by up to 2^(12 - e) ulps (e:
 * m's exponent: the margin is 2^(10 - e) ulps of m, so moves reach past
 * it on both sides); a quarter RN(k d) for an integer k, moved by up to 4
 * ulps; a quarter uniform in [-126 d, 126 d]. Every one is below the
 * group's amax 127 d. */
static float crafted_value(float d, uint64_t *seed)
{
    uint64_t r = qkc_rng(seed);
    int k = (int)(r % 253u) - 126; /* -126 .. 126 */
    switch ((r >> 16) & 3u) {
    case 0:
    case 1: {
        float m = (float)k + (k < 126 ? 0.5f : -0.5f);
        int e = ilogbf(m), shift = 12 - e < 0 ? 0 : 12 - e > 14 ? 14 : 12 - e;
        int32_t span = (int32_t)1 << shift;
        int32_t delta = (int32_t)((r >> 24) % (uint64_t)(2 * span + 1)) - span;
        return move_ulps(m * d, delta);
    }
    case 2: return move_ulps((float)k * d, (int32_t)((r >> 24) & 7u) - 4);
    default: return ((float)((r >> 24) & 0xFFFFFFu) / 16777216.0f * 252.0f - 126.0f) * d;
    }
}

long qkc_f32_int8_quotients(qk_context *ctx, const char *label)
{
    static const struct {
        qk_format fmt;
        int block; /* int8_blockwise's tile edge; 0: int8_tensorwise rows */
        int64_t rows, cols;
    } cases[] = {
        {QK_FORMAT_INT8_TENSORWISE, 0, 96, 4096},
        {QK_FORMAT_INT8_TENSORWISE, 0, 300, 256},
        {QK_FORMAT_INT8_BLOCKWISE, 128, 256, 384},
        {QK_FORMAT_INT8_BLOCKWISE, 8, 64, 256},
    };
    qk_context *ref = NULL;
    if (qk_context_create("reference", 0, &ref) != QK_OK)
        return 1;
    long bad = 0;
    uint64_t seed = 0x9E3779B97F4A7C15u;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        qk_params p;
        qk_params_default(cases[ci].fmt, &p);
        if (cases[ci].block)
            p.block_size = cases[ci].block;
        else
            p.scaling = QK_SCALING_ROW;
        int64_t rows = cases[ci].rows, cols = cases[ci].cols, n = rows * cols;
        int64_t bh = cases[ci].block ? cases[ci].block : 1, bw = cases[ci].block ? cases[ci].block : cols;
        int64_t gc = (cols + bw - 1) / bw;
        qk_layout lay;
        float *in = malloc((size_t)n * sizeof *in);
        void *want[QK_PART_COUNT] = {0}, *got[QK_PART_COUNT] = {0};
        int ok = in && qk_layout_query(&p, rows, cols, &lay) == QK_OK;
        for (int i = 0; ok && i < QK_PART_COUNT; i++)
            if (lay.part[i].nbytes) {
                want[i] = malloc(lay.part[i].nbytes);
                got[i] = malloc(lay.part[i].nbytes);
                ok = want[i] && got[i];
            }
        if (ok) {
            /* a divisor a group: amax a = m 2^e at the group's first
             * element, e from -60 to 60, so d's significand and exponent
             * vary; the group's other values from crafted_value */
            for (int64_t g = 0; g < (rows + bh - 1) / bh * gc; g++) {
                int64_t r0 = g / gc * bh, c0 = g % gc * bw;
                uint64_t r = qkc_rng(&seed);
                float a = ldexpf(1.0f + (float)(r & 0x7FFFFFu) / 8388608.0f, (int)((r >> 23) % 121u) - 60);
                float d = group_divisor(a, cases[ci].block != 0);
                for (int64_t rr = r0; rr < r0 + bh && rr < rows; rr++)
                    for (int64_t cc = c0; cc < c0 + bw && cc < cols; cc++)
                        in[rr * cols + cc] = rr == r0 && cc == c0 ? a : crafted_value(d, &seed);
            }
            qk_status sw = qk_quantize(ref, &p, QK_DTYPE_F32, in, rows, cols, want);
            qk_status sg = qk_quantize(ctx, &p, QK_DTYPE_F32, in, rows, cols, got);
            int differ = sw != QK_OK || sg != QK_OK;
            for (int i = 0; !differ && i < QK_PART_COUNT; i++)
                differ = lay.part[i].nbytes && memcmp(want[i], got[i], lay.part[i].nbytes) != 0;
            if (differ) {
                printf("%s: f32 %s %lld x %lld: the parts differ (status %d, %d)\n", label,
                       qk_format_name(cases[ci].fmt), (long long)rows, (long long)cols, (int)sw, (int)sg);
                bad++;
            }
        } else {
            printf("%s: f32 quotient case %zu: no layout or out of memory\n", label, ci);
            bad++;
        }
        for (int i = 0; i < QK_PART_COUNT; i++)
            free(want[i]), free(got[i]);
        free(in);
    }
    qk_context_destroy(ref);
    return bad;
}
