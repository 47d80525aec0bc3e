/* int8_tensorwise ConvRot quantize by a backend against the reference
 * backend: every group size, every dtype, rows of chosen
 * kinds, and the inputs that must be refused. Public API only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_bits.h"
#include "crosscheck.h"

static uint32_t lcg(uint32_t *x)
{
    *x = *x * 1664525u + 1013904223u;
    return *x;
}

/* f32 bits -> element i of a dt buffer, truncated (every pattern the test
 * makes is already a value of dt where it matters). */
static void put(qk_dtype dt, void *buf, int64_t i, uint32_t u)
{
    if (dt == QK_DTYPE_F32) {
        memcpy((unsigned char *)buf + 4 * i, &u, 4);
        return;
    }
    uint16_t h;
    if (dt == QK_DTYPE_BF16) {
        h = (uint16_t)(u >> 16);
    } else { /* f16 of a value chosen in its normal range, or 0 */
        uint32_t e = (u >> 23) & 0xFFu;
        h = (uint16_t)((u >> 16) & 0x8000u);
        if (e >= 113u && e <= 142u)
            h |= (uint16_t)(((e - 112u) << 10) | ((u >> 13) & 0x3FFu));
        else if (e == 255u) /* Inf, NaN */
            h |= (uint16_t)(0x7C00u | ((u >> 13) & 0x3FFu));
    }
    memcpy((unsigned char *)buf + 2 * i, &h, 2);
}

/* Value of row r, column c, by the row's kind: typical random values, a
 * zero row, subnormals of dt (f16's as raw codes), one outlier, sixty
 * binades mixed (28 in f16; the sums lose bits, so their order shows),
 * and values that land on many code ties. */
static void fill_row(qk_dtype dt, void *buf, int64_t r, int64_t cols, uint32_t *x)
{
    for (int64_t c = 0; c < cols; c++) {
        int64_t i = r * cols + c;
        uint32_t b = lcg(x), s = b & 0x80000000u;
        switch (r % 7) {
        case 0: put(dt, buf, i, s | (0x3C000000u + (b >> 8 & 0x03FFFFFFu))); break;
        case 1: put(dt, buf, i, 0); break;
        case 2:
            if (dt == QK_DTYPE_F16) {
                uint16_t h = (uint16_t)((s >> 16) | (b >> 10 & 0x3FFu));
                memcpy((unsigned char *)buf + 2 * i, &h, 2);
            } else {
                put(dt, buf, i, s | (b >> 9 & 0x7FFFFFu));
            }
            break;
        case 3: put(dt, buf, i, c == cols / 3 ? 0x42F00000u : s | 0x3A000000u | (b >> 9 & 0x7FFFFFu)); break;
        case 4: /* f16: 28 binades, its normal range short of rotation overflow */
            put(dt, buf, i, s | (dt == QK_DTYPE_F16 ? 113u + (b >> 8) % 28u : 97u + (b >> 8) % 60u) << 23 |
                                (b >> 9 & 0x7F0000u));
            break;
        case 5: put(dt, buf, i, qkc_bits((float)((int)(b >> 24) - 128) * 0.5f)); break;
        default: put(dt, buf, i, s | (0x3F000000u + (b >> 6 & 0x00FFFFFFu))); break;
        }
    }
}

typedef struct {
    int64_t rows, cols;
    int poison; /* 0: rows of fill_row; 1: a NaN, 2: an Inf, 3: rotation past T's range;
                 * 4: rotation near the top of T's range, inside it (must succeed) */
} conv_shape;

/* The sign of element k of H's first column: the parity of its base-4
 * digits that are 3. */
static uint32_t h_first_sign(int k)
{
    uint32_t sign = 0;
    for (int d = k; d > 0; d /= 4)
        sign ^= d % 4 == 3 ? 0x80000000u : 0u;
    return sign;
}

/* Group g0 as H's first column times a, its first half times a + ulp(a),
 * a = top / G: the unscaled sum the rotation starts from is G a + half an
 * ulp of top, a tie of T's rounding that goes up, past T's range
 * (bf16: 2^128), while the rotated value, that sum times 2^-L, rounds inside
 * it. A backend that rounds the sum before scaling it gets +-Inf there: +Inf
 * codes 127 as the reference does, -Inf codes -128 where the reference codes
 * -127, so the group negated (neg) is the one that shows it. */
static void put_near_top(qk_dtype dt, void *in, int64_t g0, int G, uint32_t neg)
{
    int lg = 0;
    while ((1 << lg) < G)
        lg++;
    /* top: bf16's largest value, 2^127 (2 - 2^-7), for f32 rows too; f16's 2^15 (2 - 2^-10) */
    uint32_t a = (dt == QK_DTYPE_F16 ? 0x477FE000u : 0x7F7F0000u) - ((uint32_t)lg << 23);
    uint32_t ulp = dt == QK_DTYPE_F16 ? 0x2000u : 0x10000u;
    for (int k = 0; k < G; k++)
        put(dt, in, g0 + k, (h_first_sign(k) ^ neg) | (k < G / 2 ? a + ulp : a));
}

/* One call by ctx and by ref on the same input: the same status, and on
 * success the same bytes in every part and in the dequantized output. */
static long one_case(qk_context *ctx, qk_context *ref, const qk_params *p, qk_dtype dt, const conv_shape *s,
                     uint32_t seed, const char *label)
{
    qk_layout lay;
    if (qk_layout_query(p, s->rows, s->cols, &lay) != QK_OK) {
        printf("%s: convrot %d %lld x %lld: layout refused\n", label, p->convrot_group, (long long)s->rows,
               (long long)s->cols);
        return 1;
    }
    size_t es = dt == QK_DTYPE_F32 ? 4 : 2, nin = (size_t)(s->rows * s->cols) * es;
    size_t nd = lay.part[QK_PART_DATA].nbytes, ns = lay.part[QK_PART_SCALE].nbytes;
    unsigned char *in = malloc(nin), *w = malloc(2 * (nd + ns) + 2 * nin);
    if (in == NULL || w == NULL) {
        free(in), free(w);
        printf("%s: out of memory\n", label);
        return 1;
    }
    unsigned char *wd = w, *ws = wd + nd, *gd = ws + ns, *gs = gd + nd, *wo = gs + ns, *go = wo + nin;
    uint32_t x = seed;
    for (int64_t r = 0; r < s->rows; r++)
        fill_row(dt, in, r, s->cols, &x);
    int64_t at = (s->rows / 2) * s->cols + s->cols / 2;
    if (s->poison == 1 || s->poison == 2)
        put(dt, in, at, s->poison == 1 ? 0x7FC00000u : 0xFF800000u);
    if (s->poison == 3) { /* a group a times H's first column: rotated, its first value is sqrt(G) a */
        int64_t g0 = at - at % p->convrot_group;
        for (int k = 0; k < p->convrot_group; k++)
            put(dt, in, g0 + k, h_first_sign(k) | (dt == QK_DTYPE_F16 ? 0x471C4000u : 0x7F400000u));
    }
    if (s->poison == 4) { /* this row and the next */
        put_near_top(dt, in, at - at % p->convrot_group, p->convrot_group, 0);
        put_near_top(dt, in, at + s->cols - at % p->convrot_group, p->convrot_group, 0x80000000u);
    }
    memset(w, 0x5A, nd + ns);
    memset(gd, 0xA5, nd + ns);
    void *wp[QK_PART_COUNT] = {0}, *gp[QK_PART_COUNT] = {0};
    wp[QK_PART_DATA] = wd, wp[QK_PART_SCALE] = ws, gp[QK_PART_DATA] = gd, gp[QK_PART_SCALE] = gs;
    qk_status sw = qk_quantize(ref, p, dt, in, s->rows, s->cols, wp);
    qk_status sg = qk_quantize(ctx, p, dt, in, s->rows, s->cols, gp);
    long bad = 0;
    if (sw != sg || (s->poison >= 1 && s->poison <= 3) != (sw == QK_ERR_NONFINITE)) {
        printf("%s: convrot %d %s %lld x %lld (input kind %d): status %d, reference %d\n", label, p->convrot_group,
               qk_dtype_name(dt), (long long)s->rows, (long long)s->cols, s->poison, (int)sg, (int)sw);
        bad = 1;
    } else if (sw == QK_OK) {
        const void *dq[QK_PART_COUNT] = {0};
        dq[QK_PART_DATA] = wd, dq[QK_PART_SCALE] = ws;
        memset(wo, 0x5A, nin);
        memset(go, 0xA5, nin);
        int part_diff = memcmp(wd, gd, nd) != 0 || memcmp(ws, gs, ns) != 0;
        int out_diff = qk_dequantize(ref, p, dq, s->rows, s->cols, dt, wo) != QK_OK ||
                       qk_dequantize(ctx, p, dq, s->rows, s->cols, dt, go) != QK_OK || memcmp(wo, go, nin) != 0;
        if (part_diff || out_diff) {
            printf("%s: convrot %d %s %lld x %lld: %s DIFFERENT\n", label, p->convrot_group, qk_dtype_name(dt),
                   (long long)s->rows,
                   (long long)s->cols, part_diff ? "parts" : "dequantized output");
            bad = 1;
        }
    }
    free(in), free(w);
    return bad;
}

long qkc_convrot_quantize_cases(qk_context *ctx, const char *label)
{
    static const conv_shape shapes[] = {{1, 1024, 0}, {7, 256, 0},    {30, 768, 0},   {9, 2048, 0},
                                        {3, 4096, 0}, {5, 320, 0},    {14, 64, 0},    {4, 16, 0},
                                        {2, 4, 0},    {6, 1024, 1}, {6, 1024, 2}, {6, 1024, 3},
                                        {6, 1024, 4}};
    static const qk_dtype dts[] = {QK_DTYPE_F32, QK_DTYPE_F16, QK_DTYPE_BF16};
    qk_context *ref = NULL;
    if (qk_context_create("reference", 0, &ref) != QK_OK)
        return 1;
    long bad = 0, ran = 0;
    for (int g = 4; g <= 1024; g *= 4)
        for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
            if (shapes[k].cols % g != 0)
                continue;
            qk_params p;
            qk_params_default(QK_FORMAT_INT8_TENSORWISE, &p);
            p.scaling = QK_SCALING_ROW; /* ConvRot's only scaling */
            p.convrot_group = g;
            for (size_t d = 0; d < sizeof dts / sizeof *dts; d++, ran++)
                bad += one_case(ctx, ref, &p, dts[d], &shapes[k], (uint32_t)(g * 131 + (int)k * 7 + (int)d), label);
        }
    printf("%s: convrot quantize: %ld runs, %ld bad\n", label, ran, bad);
    qk_context_destroy(ref);
    return ran < 100 ? bad + 1 : bad;
}
