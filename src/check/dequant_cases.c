/* Dequantize of parts a caller crafted, by a device backend against the
 * reference backend: the float8/int8 row and tile layouts, the blocked
 * MXFP8/NVFP4 layouts, NF4/FP4 blocks and int8 ConvRot rows, with scales
 * and codes chosen so that both a kernel's fast path and its exact path
 * run. Public API only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_rng.h"
#include "crosscheck.h"

static size_t esz(qk_dtype dt) { return dt == QK_DTYPE_F32 ? 4 : 2; }

static int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

/* Dequantize by ctx and the reference compared: every byte equal, but a
 * NaN's payload (not part of the contract, docs/FORMATS.md): a NaN where
 * the reference has one. 0 when the same. */
static long dequantize_differs(qk_context *ctx, qk_context *ref, const qk_params *p, const void *const *parts,
                               int64_t rows, int64_t cols, qk_dtype dt, unsigned char *want, unsigned char *got)
{
    size_t es = esz(dt), ob = (size_t)(rows * cols) * es, diff = 0;
    memset(want, 0xA5, ob);
    memset(got, 0x5A, ob);
    if (qk_dequantize(ref, p, parts, rows, cols, dt, want) != QK_OK ||
        qk_dequantize(ctx, p, parts, rows, cols, dt, got) != QK_OK)
        return 1;
    uint32_t inf = dt == QK_DTYPE_F32 ? 0x7F800000u : dt == QK_DTYPE_F16 ? 0x7C00u : 0x7F80u;
    uint32_t abs = dt == QK_DTYPE_F32 ? 0x7FFFFFFFu : 0x7FFFu;
    for (size_t e = 0; e < (size_t)(rows * cols); e++) {
        uint32_t w = 0, g = 0;
        memcpy(&w, want + e * es, es);
        memcpy(&g, got + e * es, es);
        if (w == g || ((w & abs) > inf && (g & abs) > inf))
            continue;
        if (diff++ < 3)
            printf("  element %zu: want 0x%08x got 0x%08x\n", e, w, g);
    }
    return diff != 0;
}

/* One crafted case's buffers: its DATA and SCALE parts and two outputs
 * of f32 size (the reference's and the backend's). */
typedef struct {
    unsigned char *data, *want, *got;
    void *scale;
} case_buffers;

static void case_buffers_free(case_buffers *b)
{
    free(b->data), free(b->scale), free(b->want), free(b->got);
}

/* 1 when all four are there; else 0, none kept, after saying so. */
static int case_buffers_alloc(case_buffers *b, const qk_layout *lay, int64_t rows, int64_t cols, const char *label)
{
    size_t ob = (size_t)(rows * cols) * 4;
    b->data = malloc(lay->part[QK_PART_DATA].nbytes);
    b->scale = malloc(lay->part[QK_PART_SCALE].nbytes);
    b->want = malloc(ob);
    b->got = malloc(ob);
    if (b->data && b->scale && b->want && b->got)
        return 1;
    printf("%s: out of memory\n", label);
    case_buffers_free(b);
    return 0;
}

/* Crafted float8/int8 row and tile parts: scales zero, subnormal, huge
 * (finite in f32, infinite once rounded to bf16/f16), Inf, NaN, and codes
 * with float8 NaN/Inf patterns (e4m3fn 0x7F/0xFF, e5m2 0x7C..0x7F and
 * 0xFC..0xFF) in some rows and none in others, so a kernel's fast path
 * and exact path both run; dequantized by ctx and the reference, every
 * dtype, compared byte for byte. Shapes: rows of 1, 3, 257 and 512 vectors
 * (several rows per step, one row per step, R not dividing the work-group,
 * in OpenCL's row-walking kernel), tiles of 8, 16, 128 (power of two: the
 * shift-indexed kernels) and 24 (the general ones) with edge tiles. */
static const uint32_t crafted_scales[] = {
    0x00000000u, 0x80000000u, 0x00000001u, 0x007FFFFFu, 0x00800000u, 0x7F7FFFFFu, 0xFF7FFFFFu,
    0x7F7F0000u, 0x477FE000u, 0x47800000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0x7FC00001u,
    0xFFFFFFFFu, 0x7F800001u, 0x3F800000u, 0xBF800000u, 0x33800000u, 0x38800000u, 0x3A000000u,
};

long qkc_crafted_group_dequantize(qk_context *ctx, const char *label)
{
    static const struct {
        qk_format fmt;
        qk_scaling sc;
        int bs;
        int64_t rows, cols;
    } cases[] = {
        {QK_FORMAT_FLOAT8_E4M3FN, QK_SCALING_ROW, 0, 300, 8},
        {QK_FORMAT_FLOAT8_E5M2, QK_SCALING_ROW, 0, 91, 24},
        {QK_FORMAT_INT8_TENSORWISE, QK_SCALING_ROW, 0, 37, 2056},
        {QK_FORMAT_FLOAT8_E4M3FN, QK_SCALING_ROW, 0, 9, 4096},
        {QK_FORMAT_FLOAT8_E5M2, QK_SCALING_ROW, 0, 9, 4096},
        {QK_FORMAT_INT8_TENSORWISE, QK_SCALING_ROW, 0, 70, 48},
        {QK_FORMAT_FLOAT8_E4M3FN, QK_SCALING_BLOCK, 8, 43, 40},
        {QK_FORMAT_FLOAT8_E5M2, QK_SCALING_BLOCK, 16, 50, 2064},
        {QK_FORMAT_FLOAT8_E4M3FN, QK_SCALING_BLOCK, 128, 260, 384},
        {QK_FORMAT_FLOAT8_E5M2, QK_SCALING_BLOCK, 24, 50, 72},
        {QK_FORMAT_INT8_BLOCKWISE, QK_SCALING_BLOCK, 128, 300, 256},
        {QK_FORMAT_INT8_BLOCKWISE, QK_SCALING_BLOCK, 8, 33, 4096},
    };
    static const qk_dtype dts[] = {QK_DTYPE_F32, QK_DTYPE_F16, QK_DTYPE_BF16};
    qk_context *ref = NULL;
    if (qk_context_create("reference", 0, &ref) != QK_OK)
        return 1;
    long bad = 0;
    uint64_t seed = 0x51ED270Bu;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        qk_params p;
        qk_params_default(cases[ci].fmt, &p);
        if (cases[ci].fmt != QK_FORMAT_INT8_BLOCKWISE)
            p.scaling = cases[ci].sc;
        if (cases[ci].bs)
            p.block_size = cases[ci].bs;
        int64_t rows = cases[ci].rows, cols = cases[ci].cols;
        qk_layout lay;
        if (qk_layout_query(&p, rows, cols, &lay) != QK_OK) {
            printf("%s: case %zu: layout refused\n", label, ci);
            bad++;
            continue;
        }
        size_t nb = lay.part[QK_PART_DATA].nbytes, sb = lay.part[QK_PART_SCALE].nbytes;
        case_buffers buf;
        if (!case_buffers_alloc(&buf, &lay, rows, cols, label)) {
            qk_context_destroy(ref);
            return bad + 1;
        }
        unsigned char *data = buf.data, *want = buf.want, *got = buf.got;
        uint32_t *scale = buf.scale;
        int e5 = cases[ci].fmt == QK_FORMAT_FLOAT8_E5M2, f8 = cases[ci].fmt <= QK_FORMAT_FLOAT8_E5M2;
        for (size_t i = 0; i < nb; i++) {
            uint8_t b = (uint8_t)qkc_rng(&seed);
            int64_t r = (int64_t)(i / (size_t)cols);
            if (f8 && r % 3 != 0) { /* no NaN/Inf code in two rows of three */
                if (e5 && (b & 0x7Cu) == 0x7Cu)
                    b &= 0xBFu;
                if (!e5 && (b & 0x7Fu) == 0x7Fu)
                    b ^= 1u;
            } else if ((qkc_rng(&seed) & 7u) == 0) {
                static const uint8_t sp[] = {0x7F, 0xFF, 0x7C, 0xFC, 0x7D, 0xFE, 0x80, 0x00, 0x01, 0x7E};
                b = sp[qkc_rng(&seed) % sizeof sp];
            }
            data[i] = b;
        }
        size_t ns = sb / 4, nc = sizeof crafted_scales / sizeof *crafted_scales;
        for (size_t k = 0; k < ns; k++) {
            uint32_t v = (uint32_t)qkc_rng(&seed);
            switch (qkc_rng(&seed) % 4) {
            case 0: scale[k] = crafted_scales[qkc_rng(&seed) % nc]; break;
            case 1: scale[k] = (v & 0x807FFFFFu) | ((0x70u + (v >> 24) % 0x18u) << 23); break; /* near 1 */
            default: scale[k] = (v & 0x807FFFFFu) | ((0x60u + (v >> 24) % 0x30u) << 23); break;
            }
        }
        for (size_t k = 0; k < nc && k < ns; k++)
            scale[k * (ns / nc > 0 ? ns / nc : 1)] = crafted_scales[k]; /* every crafted scale at least once */
        const void *parts[QK_PART_COUNT] = {0};
        parts[QK_PART_DATA] = data;
        parts[QK_PART_SCALE] = scale;
        for (size_t d = 0; d < sizeof dts / sizeof *dts; d++) {
            long b = dequantize_differs(ctx, ref, &p, parts, rows, cols, dts[d], want, got);
            if (b)
                printf("%s: crafted dequantize case %zu (%lld x %lld) dtype %d: DIFFERENT\n", label, ci,
                       (long long)rows, (long long)cols, (int)dts[d]);
            bad += b;
        }
        case_buffers_free(&buf);
    }
    printf("%s: crafted group dequantize: %ld bad\n", label, bad);
    qk_context_destroy(ref);
    return bad;
}

/* NF4/FP4 parts: data byte i is 7 i + i / 256 (every byte in every
 * 32-byte block); absmax b has exponent field 10 + b % 150 (2^-117, the
 * least with only native products in the kernels' fast paths, to 2^32),
 * random mantissa, some negative; one in five has low bits 0x1000, so its
 * products with the power-of-two code values (+-1, 0.5, 0.25) lie halfway
 * between f16 values; every 53rd (from block 11) is one of crafted_scales
 * (zero, subnormal, Inf, NaN, ...). Every dtype. */
long qkc_crafted_bnb4_dequantize(qk_context *ctx, const char *label)
{
    static const struct {
        qk_format fmt;
        int bs;
        int64_t rows, cols;
    } cases[] = {
        {QK_FORMAT_NF4, 64, 150, 512},
        {QK_FORMAT_FP4, 64, 150, 512},
        {QK_FORMAT_NF4, 32, 37, 200},
        {QK_FORMAT_FP4, 64, 37, 201},
    };
    static const qk_dtype dts[] = {QK_DTYPE_F32, QK_DTYPE_F16, QK_DTYPE_BF16};
    qk_context *ref = NULL;
    if (qk_context_create("reference", 0, &ref) != QK_OK)
        return 1;
    long bad = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        qk_params p;
        qk_params_default(cases[ci].fmt, &p);
        p.block_size = cases[ci].bs;
        int64_t rows = cases[ci].rows, cols = cases[ci].cols;
        qk_layout lay;
        case_buffers buf;
        if (qk_layout_query(&p, rows, cols, &lay) != QK_OK || !case_buffers_alloc(&buf, &lay, rows, cols, label)) {
            qk_context_destroy(ref);
            return bad + 1;
        }
        uint32_t *absmax = buf.scale;
        size_t nd = lay.part[QK_PART_DATA].nbytes, na = lay.part[QK_PART_SCALE].nbytes / 4;
        size_t nc = sizeof crafted_scales / sizeof *crafted_scales;
        for (size_t i = 0; i < nd; i++)
            buf.data[i] = (unsigned char)(i * 7 + (i >> 8));
        for (size_t b = 0; b < na; b++) {
            uint32_t m = (uint32_t)(b * 2654435761u) >> 9;
            if (b % 5 == 0)
                m = (m & ~0x1FFFu) | 0x1000u;
            absmax[b] = (uint32_t)(10 + b % 150) << 23 | m | (b % 7 == 3 ? 0x80000000u : 0u);
            if (b % 53 == 11) /* every crafted scale in the 1200-block cases */
                absmax[b] = crafted_scales[(b / 53) % nc];
        }
        const void *parts[QK_PART_COUNT] = {0};
        parts[QK_PART_DATA] = buf.data;
        parts[QK_PART_SCALE] = absmax;
        for (size_t d = 0; d < sizeof dts / sizeof *dts; d++) {
            long b = dequantize_differs(ctx, ref, &p, parts, rows, cols, dts[d], buf.want, buf.got);
            if (b)
                printf("%s: crafted %s dequantize case %zu (%lld x %lld) dtype %d: DIFFERENT\n", label,
                       qk_format_name(cases[ci].fmt), ci, (long long)rows, (long long)cols, (int)dts[d]);
            bad += b;
        }
        case_buffers_free(&buf);
    }
    printf("%s: crafted nf4/fp4 dequantize: %ld bad\n", label, bad);
    qk_context_destroy(ref);
    return bad;
}

/* The MXFP8 case of 256 x 256 whose scale byte k is k mod 256 (its blocked
 * layout has no padding): the eight blocks that share a byte differ in
 * their row tile, their column tile and bit 4 of their row, which number
 * them j = 0..7, and block j holds codes 32 j .. 32 j + 31, so every byte
 * meets every code. NaN codes become zeros (the other cases have NaN codes),
 * so that no 8-code unit leaves the NaN-free paths. */
static uint8_t every_scale_code(size_t r, size_t c)
{
    size_t j = (r / 128) * 4 + (c / 128) * 2 + (r % 32) / 16;
    uint8_t b = (uint8_t)(j * 32 + c % 32);
    return (b & 0x7Fu) == 0x7Fu ? (uint8_t)(b & 0x80u) : b;
}

/* Crafted mxfp8 and nvfp4 parts: E8M0 scales 0x00 (2^-127), 0xFE, 0xFF
 * (NaN); one mxfp8 case of every E8M0 byte with every finite code (below);
 * e4m3 block scales zero, subnormal, 448, NaN; global scales zero,
 * subnormal, huge (ts infinite), Inf, NaN; e4m3 NaN codes in some rows and
 * none in others; rows of 2, 5 (a tail), 257 and 512 vectors; nvfp4 rows
 * of a half block, of 1.5 blocks and of 128.5 blocks (an f32 band of
 * 4104 columns would exceed the Vulkan test's 2 MiB bindings). */
long qkc_crafted_blocked_dequantize(qk_context *ctx, const char *label)
{
    static const struct {
        qk_format fmt;
        int64_t rows, cols;
        int every_scale;
    } cases[] = {
        {QK_FORMAT_MXFP8, 300, 16, 0},  {QK_FORMAT_MXFP8, 130, 36, 0},  {QK_FORMAT_MXFP8, 9, 4096, 0},
        {QK_FORMAT_MXFP8, 129, 2056, 0}, {QK_FORMAT_MXFP8, 256, 256, 1}, {QK_FORMAT_NVFP4, 300, 16, 0},
        {QK_FORMAT_NVFP4, 130, 36, 0},  {QK_FORMAT_NVFP4, 9, 4096, 0},  {QK_FORMAT_NVFP4, 129, 2064, 0},
        {QK_FORMAT_NVFP4, 33, 8, 0},    {QK_FORMAT_NVFP4, 7, 24, 0},    {QK_FORMAT_NVFP4, 3, 2056, 0},
    };
    static const uint32_t gs[] = {0x3F800000u, 0x00000000u, 0x00000001u, 0x7F000000u,
                                  0x7F800000u, 0x7FC00001u, 0x3B000000u, 0x477FE000u};
    static const uint8_t e8[] = {0x00, 0xFE, 0xFF, 0x7F, 0x01, 0x9E, 0x60};
    static const uint8_t s4[] = {0x00, 0x80, 0x01, 0x7E, 0x7F, 0xFF, 0x08, 0x38};
    static const qk_dtype dts[] = {QK_DTYPE_F32, QK_DTYPE_F16, QK_DTYPE_BF16};
    qk_context *ref = NULL;
    if (qk_context_create("reference", 0, &ref) != QK_OK)
        return 1;
    long bad = 0, ran = 0;
    uint64_t seed = 0xB10C4EDu;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        qk_params p;
        qk_params_default(cases[ci].fmt, &p);
        int64_t rows = cases[ci].rows, cols = cases[ci].cols;
        int mx = cases[ci].fmt == QK_FORMAT_MXFP8;
        qk_layout lay;
        if (qk_layout_query(&p, rows, cols, &lay) != QK_OK) {
            printf("%s: blocked case %zu: layout refused\n", label, ci);
            continue;
        }
        size_t nb = lay.part[QK_PART_DATA].nbytes, sb = lay.part[QK_PART_SCALE].nbytes;
        size_t rb = mx ? (size_t)round_up(cols, 32) : (size_t)round_up(cols, 16) / 2; /* bytes a row */
        case_buffers buf;
        if (!case_buffers_alloc(&buf, &lay, rows, cols, label)) {
            qk_context_destroy(ref);
            return bad + 1;
        }
        unsigned char *data = buf.data, *scale = buf.scale, *want = buf.want, *got = buf.got;
        uint32_t g2 = 0;
        for (size_t i = 0; i < nb; i++) {
            uint8_t b = (uint8_t)qkc_rng(&seed);
            if (cases[ci].every_scale)
                b = every_scale_code(i / rb, i % rb);
            else if (mx && (i / rb) % 3 != 0 && (b & 0x7Fu) == 0x7Fu)
                b ^= 1u; /* no NaN code in two rows of three */
            data[i] = b;
        }
        for (size_t k = 0; k < sb; k++) {
            uint32_t v = (uint32_t)qkc_rng(&seed);
            if (cases[ci].every_scale)
                scale[k] = (uint8_t)k;
            else if ((v & 7u) == 0)
                scale[k] = mx ? e8[(v >> 8) % sizeof e8] : s4[(v >> 8) % sizeof s4];
            else
                scale[k] = mx ? (uint8_t)(0x70u + (v >> 8) % 0x20u) : (uint8_t)(0x20u + (v >> 8) % 0x50u);
        }
        for (size_t gi = 0; gi < (mx ? 1 : sizeof gs / sizeof *gs); gi++) {
            g2 = gs[gi];
            const void *parts[QK_PART_COUNT] = {0};
            parts[QK_PART_DATA] = data;
            parts[QK_PART_SCALE] = scale;
            if (!mx)
                parts[QK_PART_SCALE2] = &g2;
            for (size_t d = 0; d < sizeof dts / sizeof *dts; d++) {
                long b = dequantize_differs(ctx, ref, &p, parts, rows, cols, dts[d], want, got);
                if (b)
                    printf("%s: crafted %s %lld x %lld, g 0x%08x, dtype %d: DIFFERENT\n", label,
                           mx ? "mxfp8" : "nvfp4", (long long)rows, (long long)cols, g2, (int)dts[d]);
                bad += b;
                ran++;
            }
        }
        case_buffers_free(&buf);
    }
    printf("%s: crafted blocked dequantize: %ld runs, %ld bad\n", label, ran, bad);
    qk_context_destroy(ref);
    return ran < 60 ? bad + 1 : bad;
}

long qkc_nvfp4_dequantize_case(qk_context *ctx, const char *label, qk_dtype dt, int64_t rows, int64_t cols,
                               uint32_t g, uint32_t seed)
{
    qk_params p;
    qk_params_default(QK_FORMAT_NVFP4, &p);
    qk_layout lay;
    if (qk_layout_query(&p, rows, cols, &lay) != QK_OK) {
        printf("%s: nvfp4 %lld x %lld: layout refused\n", label, (long long)rows, (long long)cols);
        return 1;
    }
    size_t nb = lay.part[QK_PART_DATA].nbytes, sb = lay.part[QK_PART_SCALE].nbytes;
    size_t rb = (size_t)round_up(cols, 16) / 2, ob = (size_t)(rows * cols) * esz(dt);
    unsigned char *data = calloc(1, nb), *scale = malloc(sb), *want = malloc(ob), *got = malloc(ob);
    qk_context *ref = NULL;
    long bad = 1;
    if (qk_context_create("reference", 0, &ref) != QK_OK) {
        printf("%s: no reference backend\n", label);
    } else if (data && scale && want && got) {
        for (size_t k = 0; k < sb; k++)
            scale[k] = (unsigned char)(k + seed);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) {
                uint32_t q = (uint32_t)(c + r + seed) & 15u;
                data[(size_t)r * rb + (size_t)c / 2] |= (unsigned char)((c & 1) ? q : q << 4);
            }
        const void *parts[QK_PART_COUNT] = {0};
        parts[QK_PART_DATA] = data;
        parts[QK_PART_SCALE] = scale;
        parts[QK_PART_SCALE2] = &g;
        bad = dequantize_differs(ctx, ref, &p, parts, rows, cols, dt, want, got);
        if (bad)
            printf("%s: nvfp4 %lld x %lld, g 0x%08x, dtype %d: DIFFERENT\n", label, (long long)rows,
                   (long long)cols, g, (int)dt);
    } else {
        printf("%s: out of memory\n", label);
    }
    qk_context_destroy(ref);
    free(data), free(scale), free(want), free(got);
    return bad;
}

long qkc_nvfp4_every_scale_code(qk_context *ctx, const char *label)
{
    static const uint32_t sig[] = {0x000000u, 0x2B0000u, 0x600000u, 0x7F0000u, 0x7FE000u, 0x555555u};
    static const uint32_t special[] = {0x00000000u, 0x80000000u, 0xBFC00000u, 0x7F800000u, 0xFF800000u,
                                       0x7FC00000u, 0x00000001u, 0x007FFFFFu, 0x7F7FFFFFu};
    static const qk_dtype dts[] = {QK_DTYPE_F32, QK_DTYPE_F16, QK_DTYPE_BF16};
    long bad = 0, ran = 0;
    for (size_t d = 0; d < sizeof dts / sizeof *dts; d++) {
        for (uint32_t e = 0; e < 255; e += 2, ran++)
            bad += qkc_nvfp4_dequantize_case(ctx, label, dts[d], 128, 64, e << 23 | sig[(e / 2) % 6], e);
        for (size_t k = 0; k < sizeof special / sizeof *special; k++, ran++)
            bad += qkc_nvfp4_dequantize_case(ctx, label, dts[d], 128, 64, special[k], (uint32_t)k);
    }
    printf("%s: nvfp4 every scale byte and code: %ld runs, %ld bad\n", label, ran, bad);
    return bad;
}

/* A ConvRot row's scale by its row r: on either side of both native
 * ranges the backends use (OpenCL and Vulkan's one-pass kernels:
 * 2^(L-103) <= |s| < 2^(120-2L), exponent fields 24 + L and 247 - 2L;
 * convrot_rows.cl: |s| < 2^110), typical and negative scales, f16 outputs
 * in its subnormals and past 65504, tiny normal scales (subnormal
 * products and sums), zero, subnormal, Inf and NaN. */
uint32_t qkc_convrot_row_scale(int64_t r, int levels, uint32_t x)
{
    uint32_t frac = x & 0x7FFFFFu, lo = 24u + (uint32_t)levels, hi = 247u - 2u * (uint32_t)levels;
    switch (r % 18) {
    case 0: return (lo << 23) | frac;                      /* the lowest native exponent */
    case 1: return ((lo - 1u) << 23) | frac;               /* just below: exact path */
    case 2: return 0x80000000u | ((hi - 1u) << 23) | frac; /* the highest native, negative */
    case 3: return (hi << 23) | frac;                      /* just above */
    case 4: return 0u;
    case 5: return 0x80000000u;
    case 6: return frac | 1u;                              /* subnormal */
    case 7: return r % 36 < 18 ? 0x7F800000u : 0xFF800000u;
    case 8: return r % 36 < 18 ? 0x7FC00001u : 0xFFC00000u; /* NaN */
    case 9: return 0x33000000u | frac;                     /* f16 subnormal outputs */
    case 10: return 0x43000000u | frac;                    /* f16 overflow */
    case 11: return 0xBC000000u | frac;                    /* typical, negative */
    case 12: return 0x767FFFFFu;                           /* just below 2^110 */
    case 13: return 0x7F7FFFFFu;                           /* the largest: sums overflow */
    case 14: return ((1u + (uint32_t)r % 8u) << 23) | frac; /* tiny normal: subnormal sums */
    default: return 0x3A000000u | (x & 0x807FFFFFu);       /* typical */
    }
}

/* int8_tensorwise ConvRot rows (per-row scales) of every group size and
 * dtype: codes every byte, then random; each row's scale from
 * qkc_convrot_row_scale, so rows of the fast and exact paths mix within a
 * work-group's span. Shapes: rows of whole 64-value runs (OpenCL and
 * Vulkan's one-pass kernels) from one run to 4160 columns, rows of 16
 * and 48 columns, and rows of 80 columns (not whole runs). */
long qkc_crafted_convrot_dequantize(qk_context *ctx, const char *label)
{
    static const int64_t shapes[][2] = {{37, 256}, {16, 4096}, {33, 768}, {70, 64},  {7, 320},
                                        {3, 1024}, {9, 80},    {2, 4160}, {40, 16}, {19, 48}};
    static const qk_dtype dts[] = {QK_DTYPE_F32, QK_DTYPE_F16, QK_DTYPE_BF16};
    qk_context *ref = NULL;
    if (qk_context_create("reference", 0, &ref) != QK_OK)
        return 1;
    long bad = 0, ran = 0;
    uint32_t x = 0xC0417u;
    for (int g = 4, levels = 1; g <= 1024; g *= 4, levels++)
        for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
            int64_t rows = shapes[k][0], cols = shapes[k][1];
            if (cols % g != 0)
                continue;
            qk_params p;
            qk_params_default(QK_FORMAT_INT8_TENSORWISE, &p);
            p.scaling = QK_SCALING_ROW;
            p.convrot_group = g;
            qk_layout lay;
            if (qk_layout_query(&p, rows, cols, &lay) != QK_OK) {
                printf("%s: convrot %d %lld x %lld: layout refused\n", label, g, (long long)rows, (long long)cols);
                bad++;
                continue;
            }
            size_t nb = lay.part[QK_PART_DATA].nbytes;
            case_buffers buf;
            if (!case_buffers_alloc(&buf, &lay, rows, cols, label)) {
                qk_context_destroy(ref);
                return bad + 1;
            }
            unsigned char *data = buf.data, *want = buf.want, *got = buf.got;
            uint32_t *scale = buf.scale;
            for (size_t i = 0; i < nb; i++) {
                x = x * 1664525u + 1013904223u;
                data[i] = (unsigned char)(i < 256 ? i : x >> 24);
            }
            for (int64_t r = 0; r < rows; r++) {
                x = x * 1664525u + 1013904223u;
                scale[r] = qkc_convrot_row_scale(r + (int64_t)k, levels, x);
            }
            const void *parts[QK_PART_COUNT] = {0};
            parts[QK_PART_DATA] = data;
            parts[QK_PART_SCALE] = scale;
            for (size_t d = 0; d < sizeof dts / sizeof *dts; d++, ran++) {
                long b = dequantize_differs(ctx, ref, &p, parts, rows, cols, dts[d], want, got);
                if (b)
                    printf("%s: crafted convrot %d %lld x %lld, dtype %d: DIFFERENT\n", label, g, (long long)rows,
                           (long long)cols, (int)dts[d]);
                bad += b;
            }
            case_buffers_free(&buf);
        }
    printf("%s: crafted convrot dequantize: %ld runs, %ld bad\n", label, ran, bad);
    qk_context_destroy(ref);
    return ran < 60 ? bad + 1 : bad;
}
