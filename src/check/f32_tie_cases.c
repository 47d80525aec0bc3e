/* f32 float8 and int8 quantize whose codes sit near rounding ties, by a
 * device backend against the reference backend. The backends code f32
 * int8 by one product with RN(1/d) and divide only where that product
 * lies within 2^-13 of a halfway point, so the int8 inputs put quotients
 * x / d on both sides of that margin in every group: rows, tiles, one
 * scale for the tensor, and ConvRot rows (crafted after the rotation).
 * float8 codes come from the native product x * T(1/scale), so its inputs
 * put products a few ulps either side of the points halfway between
 * float8 values, and below 2^-126 where a device may flush them. Public
 * API only. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check_bits.h"
#include "check_rng.h"
#include "crosscheck.h"

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
    uint32_t u = qkc_bits(x), mag = u & 0x7FFFFFFFu;
    if ((int64_t)mag <= (int64_t)(delta < 0 ? -delta : delta))
        return x;
    return qkc_float(u + (uint32_t)delta);
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

/* The magnitude of float8 code c (e4m3fn, or e5m2). */
static float fp8_value(int c, int e5m2)
{
    int mb = e5m2 ? 2 : 3, bias = e5m2 ? 15 : 7, e = c >> mb, m = c & ((1 << mb) - 1);
    return e == 0 ? ldexpf((float)m, 1 - bias - mb) : ldexpf(1.0f + (float)m / (float)(1 << mb), e - bias);
}

/* A float8 value for a group of multiplier A (every one below the group's
 * amax a): half the time RN(t / A) moved by up to 4 ulps, t halfway
 * between two adjacent float8 magnitudes (subnormal ones included); an
 * eighth a tiny value: subnormal, or one whose product lies near 2^-126;
 * the rest uniform in (-a, a). Signs random. */
static float crafted_fp8_value(float A, float a, int e5m2, uint64_t *seed)
{
    uint64_t r = qkc_rng(seed);
    float sign = (r >> 63) ? -1.0f : 1.0f, v;
    switch ((r >> 16) & 7u) {
    case 0:
    case 1:
    case 2:
    case 3: {
        int c = (int)((r >> 24) % (e5m2 ? 122u : 126u)); /* up to the largest finite code less one */
        v = move_ulps((fp8_value(c, e5m2) + fp8_value(c + 1, e5m2)) / 2.0f / A, (int32_t)((r >> 40) % 9u) - 4);
        break;
    }
    case 4:
        v = (r >> 24) & 1u ? ldexpf(1.0f + (float)((r >> 25) & 0xFFFFu) / 65536.0f, -127 - (int)((r >> 41) % 23u))
                           : ldexpf(1.0f + (float)((r >> 25) & 0xFFFFu) / 65536.0f, -126 - (int)((r >> 41) % 3u)) / A;
        break;
    default: v = (float)((r >> 24) & 0xFFFFFFu) / 16777216.0f * a;
    }
    return fabsf(v) < a ? sign * v : sign * a;
}

/* Rotates (ConvRot's H, src/ref/convrot.c: symmetric and orthogonal, so
 * its own inverse) each group of g of row v in double, then rounds to f32:
 * the device's rotation of the result lies within a few f32 ulps of the
 * row it started from, so quotients crafted there stay near their targets. */
static void rotate_row(float *v, int64_t cols, int g)
{
    double x[1024];
    for (int64_t c0 = 0; c0 < cols; c0 += g) {
        for (int i = 0; i < g; i++)
            x[i] = v[c0 + i];
        double scale = 1.0;
        for (int stride = 1; stride < g; stride *= 4, scale *= 0.5)
            for (int base = 0; base < g; base += 4 * stride)
                for (int o = 0; o < stride; o++) {
                    double *q = x + base + o;
                    double a = q[0], b = q[stride], c = q[2 * stride], d = q[3 * stride];
                    q[0] = a + b + c - d;
                    q[stride] = a + b - c + d;
                    q[2 * stride] = a - b + c + d;
                    q[3 * stride] = -a + b + c + d;
                }
        for (int i = 0; i < g; i++)
            v[c0 + i] = (float)(x[i] * scale);
    }
}

/* One case: a format, how its groups lie, and the tensor's shape. */
typedef struct {
    qk_format fmt;
    int block;   /* tile edge; 0: per row; -1: one scale for the tensor */
    int convrot; /* ConvRot's group (int8 rows, values crafted after the rotation), or 0 */
    int64_t rows, cols;
} tie_case;

/* The factor the reference scales a group of amax a by (ref_groups.c, in
 * f32): int8's divisor, or float8's multiplier RN(1 / RN(a / fpmax)). */
static float group_factor(const tie_case *c, float a)
{
    if (c->fmt == QK_FORMAT_INT8_TENSORWISE || c->fmt == QK_FORMAT_INT8_BLOCKWISE)
        return group_divisor(a, c->fmt == QK_FORMAT_INT8_BLOCKWISE);
    return 1.0f / (a / (c->fmt == QK_FORMAT_FLOAT8_E5M2 ? 57344.0f : 448.0f));
}

/* Fills in: a group's amax a = m 2^e at its first element, e from -60 to
 * 60, so the factor's significand and exponent vary; its other values
 * crafted for the format. */
static void fill_case(const tie_case *c, int64_t bh, int64_t bw, float *in, uint64_t *seed)
{
    int64_t gc = (c->cols + bw - 1) / bw;
    for (int64_t g = 0; g < (c->rows + bh - 1) / bh * gc; g++) {
        int64_t r0 = g / gc * bh, c0 = g % gc * bw;
        uint64_t r = qkc_rng(seed);
        float a = ldexpf(1.0f + (float)(r & 0x7FFFFFu) / 8388608.0f, (int)((r >> 23) % 121u) - 60);
        float f = group_factor(c, a);
        for (int64_t rr = r0; rr < r0 + bh && rr < c->rows; rr++)
            for (int64_t cc = c0; cc < c0 + bw && cc < c->cols; cc++) {
                float v = c->fmt == QK_FORMAT_FLOAT8_E4M3FN || c->fmt == QK_FORMAT_FLOAT8_E5M2
                              ? crafted_fp8_value(f, a, c->fmt == QK_FORMAT_FLOAT8_E5M2, seed)
                              : crafted_value(f, seed);
                in[rr * c->cols + cc] = rr == r0 && cc == c0 ? a : v;
            }
    }
    for (int64_t rr = 0; c->convrot && rr < c->rows; rr++)
        rotate_row(in + rr * c->cols, c->cols, c->convrot);
}

long qkc_f32_near_ties(qk_context *ctx, const char *label)
{
    static const tie_case cases[] = {
        {QK_FORMAT_INT8_TENSORWISE, 0, 0, 96, 4096},    {QK_FORMAT_INT8_TENSORWISE, 0, 0, 300, 256},
        {QK_FORMAT_INT8_BLOCKWISE, 128, 0, 256, 384},   {QK_FORMAT_INT8_BLOCKWISE, 8, 0, 64, 256},
        {QK_FORMAT_INT8_TENSORWISE, -1, 0, 64, 1000},   {QK_FORMAT_INT8_TENSORWISE, -1, 0, 3, 4099},
        {QK_FORMAT_INT8_TENSORWISE, -1, 0, 128, 768},   {QK_FORMAT_INT8_TENSORWISE, 0, 64, 200, 576},
        {QK_FORMAT_INT8_TENSORWISE, 0, 256, 100, 1024}, {QK_FORMAT_INT8_TENSORWISE, 0, 1024, 40, 2048},
        {QK_FORMAT_FLOAT8_E4M3FN, -1, 0, 256, 1024},    {QK_FORMAT_FLOAT8_E5M2, -1, 0, 5, 4097},
        {QK_FORMAT_FLOAT8_E4M3FN, 0, 0, 300, 512},      {QK_FORMAT_FLOAT8_E5M2, 0, 0, 64, 4096},
        {QK_FORMAT_FLOAT8_E4M3FN, 128, 0, 256, 384},    {QK_FORMAT_FLOAT8_E5M2, 32, 0, 96, 256},
    };
    qk_context *ref = NULL;
    if (qk_context_create("reference", 0, &ref) != QK_OK)
        return 1;
    long bad = 0;
    uint64_t seed = 0x9E3779B97F4A7C15u;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const tie_case *c = &cases[ci];
        qk_params p;
        qk_params_default(c->fmt, &p);
        int64_t n = c->rows * c->cols, bh = 1, bw = c->cols;
        if (c->block > 0) {
            p.scaling = QK_SCALING_BLOCK;
            p.block_size = c->block;
            bh = bw = c->block;
        } else if (c->block == 0) {
            p.scaling = QK_SCALING_ROW;
            p.convrot_group = c->convrot;
        } else {
            p.scaling = QK_SCALING_TENSOR;
            bh = c->rows;
        }
        qk_layout lay;
        float *in = malloc((size_t)n * sizeof *in);
        void *want[QK_PART_COUNT] = {0}, *got[QK_PART_COUNT] = {0};
        int ok = in && qk_layout_query(&p, c->rows, c->cols, &lay) == QK_OK;
        for (int i = 0; ok && i < QK_PART_COUNT; i++)
            if (lay.part[i].nbytes) {
                want[i] = malloc(lay.part[i].nbytes);
                got[i] = malloc(lay.part[i].nbytes);
                ok = want[i] && got[i];
            }
        if (ok) {
            fill_case(c, bh, bw, in, &seed);
            qk_status sw = qk_quantize(ref, &p, QK_DTYPE_F32, in, c->rows, c->cols, want);
            qk_status sg = qk_quantize(ctx, &p, QK_DTYPE_F32, in, c->rows, c->cols, got);
            int differ = sw != QK_OK || sg != QK_OK;
            for (int i = 0; !differ && i < QK_PART_COUNT; i++)
                differ = lay.part[i].nbytes && memcmp(want[i], got[i], lay.part[i].nbytes) != 0;
            if (differ) {
                printf("%s: f32 %s%s %lld x %lld: the parts differ (status %d, %d)\n", label,
                       qk_format_name(c->fmt), c->convrot ? " ConvRot" : "", (long long)c->rows,
                       (long long)c->cols, (int)sw, (int)sg);
                bad++;
            }
        } else {
            printf("%s: f32 near-tie case %zu: no layout or out of memory\n", label, ci);
            bad++;
        }
        for (int i = 0; i < QK_PART_COUNT; i++)
            free(want[i]), free(got[i]);
        free(in);
    }
    qk_context_destroy(ref);
    return bad;
}
