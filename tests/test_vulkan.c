/* Vulkan backend: the paths the cross-backend harness does not reach with
 * its small shapes. Chunked dispatches and transfers (QK_VULKAN_MAX_RANGE
 * lowers the binding range to 1 MiB and QK_VULKAN_STAGING the staging buffer
 * to 64 KiB, so tensors of a few MiB cross many chunk and piece edges),
 * NaN/Inf refusal exactly where the reference refuses, NVFP4 codes at every
 * E2M1 decision boundary, double quant's offset from the device's per-run
 * sums and its fallback, and the benchmark entry. Every result is compared
 * with the CPU reference by memcmp. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* rmdir */

#include <cmocka.h>

#include "backends/vulkan/vk_internal.h" /* qk_vk_mean_fallbacks, qk_vk_table16_runs, qk_vk_copy_dispatches, limits */
#include "check/crosscheck.h"
#include "ref/ref_internal.h" /* qk_fdiv, qk_nvfp4_global_scale: the reference's scale byte */
#include "shard.h"
#include "qk/qk.h"

static qk_context *open_vulkan(void)
{
    qk_context *ctx = NULL;
    if (qk_context_create("vulkan", 0, &ctx) != QK_OK) {
        printf("SKIP: vulkan backend unavailable: %s\n", qk_last_error());
        return NULL;
    }
    printf("vulkan device: %s\n", qk_context_device(ctx));
    return ctx;
}

/* The Vulkan context, or the test is skipped (open_vulkan says why). */
static qk_context *vulkan_or_skip(void)
{
    qk_context *vk = open_vulkan();
    if (vk == NULL)
        skip();
    return vk;
}

/* The device the tests' contexts open (the first usable one). */
static const qk_vk_device *first_device(void)
{
    const qk_vk_device *list = NULL;
    const char *why = NULL;
    assert_true(qk_vk_devices(NULL, NULL, &list, &why) > 0);
    return &list[0];
}

static qk_context *open_reference(void)
{
    qk_context *ref = NULL;
    assert_int_equal(qk_context_create("cpu", 0, &ref), QK_OK);
    qk_context_set_threads(ref, 1);
    return ref;
}

/* Deterministic weight-like values with subnormals, zeros, ties and outliers. */
static void *make_input(qk_dtype dt, int64_t n, uint32_t seed)
{
    size_t es = qk_dtype_size(dt);
    unsigned char *buf = malloc((size_t)n * es);
    uint32_t s = seed * 2654435761u + 1u;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        uint32_t k = s % 1000u;
        float v = ((float)(s >> 8) / 16777216.0f - 0.5f) * 0.1f;
        if (k < 3)
            v = (k & 1) ? 900.0f : -900.0f;
        else if (k < 10)
            v = (float)((int)(s >> 20) % 9 - 4) * 0.25f;
        else if (k < 14)
            v = (k & 1) ? 1e-39f : -0.0f;
        uint32_t u;
        memcpy(&u, &v, 4);
        if (es == 4) {
            memcpy(buf + 4 * i, &u, 4);
        } else {
            uint16_t h;
            if (dt == QK_DTYPE_BF16) {
                h = (uint16_t)(u >> 16);
            } else { /* f16: the generator stays in range; tiny values go to +-0 */
                uint32_t a = u & 0x7FFFFFFFu, sg = (u >> 16) & 0x8000u;
                h = a < 0x38800000u ? (uint16_t)sg : (uint16_t)(sg | (((a >> 23) - 112u) << 10) | ((a >> 13) & 0x3FFu));
            }
            memcpy(buf + 2 * i, &h, 2);
        }
    }
    return buf;
}

typedef struct {
    const char *spec;
    qk_format f;
    qk_scaling sc;
    int block, dq, convrot;
} fcase;

static const fcase cases[] = {
    {"nf4/bs64", QK_FORMAT_NF4, QK_SCALING_TENSOR, 64, 0, 0},
    {"nf4/bs32/dq", QK_FORMAT_NF4, QK_SCALING_TENSOR, 32, 1, 0},
    {"fp4/bs4096/dq", QK_FORMAT_FP4, QK_SCALING_TENSOR, 4096, 1, 0},
    {"nvfp4", QK_FORMAT_NVFP4, QK_SCALING_TENSOR, 16, 0, 0},
    {"mxfp8", QK_FORMAT_MXFP8, QK_SCALING_TENSOR, 32, 0, 0},
    {"e4m3/tensor", QK_FORMAT_FLOAT8_E4M3FN, QK_SCALING_TENSOR, 128, 0, 0},
    {"e5m2/row", QK_FORMAT_FLOAT8_E5M2, QK_SCALING_ROW, 128, 0, 0},
    {"e4m3/block64", QK_FORMAT_FLOAT8_E4M3FN, QK_SCALING_BLOCK, 64, 0, 0},
    {"e5m2/block100", QK_FORMAT_FLOAT8_E5M2, QK_SCALING_BLOCK, 100, 0, 0},
    {"int8/tensor", QK_FORMAT_INT8_TENSORWISE, QK_SCALING_TENSOR, 128, 0, 0},
    {"int8/row", QK_FORMAT_INT8_TENSORWISE, QK_SCALING_ROW, 128, 0, 0},
    {"int8/row/convrot256", QK_FORMAT_INT8_TENSORWISE, QK_SCALING_ROW, 128, 0, 256},
    {"int8/row/convrot4", QK_FORMAT_INT8_TENSORWISE, QK_SCALING_ROW, 128, 0, 4},
    {"int8_blockwise/128", QK_FORMAT_INT8_BLOCKWISE, QK_SCALING_BLOCK, 128, 0, 0},
};

static qk_params params_of(const fcase *c)
{
    qk_params p;
    qk_params_default(c->f, &p);
    p.scaling = c->sc;
    if (c->f != QK_FORMAT_NVFP4 && c->f != QK_FORMAT_MXFP8)
        p.block_size = c->block;
    p.double_quant = c->dq;
    p.convrot_group = c->convrot;
    return p;
}

/* Quantize on both, compare parts; dequantize the reference parts on both,
 * compare outputs. Returns differing bytes (a failed call counts 1). */
static size_t compare_one(qk_context *vk, qk_context *ref, const fcase *c, qk_dtype dt, int64_t rows, int64_t cols)
{
    qk_params p = params_of(c);
    qk_layout lay;
    assert_int_equal(qk_layout_query(&p, rows, cols, &lay), QK_OK);
    void *in = make_input(dt, rows * cols, (uint32_t)(c->f * 31 + dt));
    void *want[QK_PART_COUNT] = {0}, *got[QK_PART_COUNT] = {0};
    for (int k = 0; k < QK_PART_COUNT; k++)
        if (lay.part[k].nbytes) {
            want[k] = malloc(lay.part[k].nbytes);
            got[k] = malloc(lay.part[k].nbytes);
            memset(got[k], 0x5A, lay.part[k].nbytes);
        }
    size_t bad = 0;
    assert_int_equal(qk_quantize(ref, &p, dt, in, rows, cols, want), QK_OK);
    if (qk_quantize(vk, &p, dt, in, rows, cols, got) != QK_OK) {
        printf("  %s %s quantize: %s\n", c->spec, qk_dtype_name(dt), qk_last_error());
        bad++;
    } else {
        for (int k = 0; k < QK_PART_COUNT; k++)
            for (size_t i = 0; i < lay.part[k].nbytes; i++)
                bad += ((unsigned char *)want[k])[i] != ((unsigned char *)got[k])[i];
    }
    size_t on = (size_t)(rows * cols) * qk_dtype_size(dt);
    unsigned char *dw = malloc(on), *dg = malloc(on);
    memset(dg, 0x5A, on);
    const void *cp[QK_PART_COUNT] = {want[0], want[1], want[2], want[3]};
    assert_int_equal(qk_dequantize(ref, &p, cp, rows, cols, dt, dw), QK_OK);
    if (qk_dequantize(vk, &p, cp, rows, cols, dt, dg) != QK_OK) {
        printf("  %s %s dequantize: %s\n", c->spec, qk_dtype_name(dt), qk_last_error());
        bad++;
    } else {
        for (size_t i = 0; i < on; i++)
            bad += dw[i] != dg[i];
    }
    printf("%-22s %-5s %5lld x %-5lld %zu mismatching bytes\n", c->spec, qk_dtype_name(dt), (long long)rows,
           (long long)cols, bad);
    free(dw);
    free(dg);
    for (int k = 0; k < QK_PART_COUNT; k++) {
        free(want[k]);
        free(got[k]);
    }
    free(in);
    return bad;
}

static void test_chunked_dispatches_are_exact(void **state)
{
    (void)state;
    setenv("QK_VULKAN_MAX_RANGE", "1048576", 1); /* read when a context opens */
    setenv("QK_VULKAN_STAGING", "65536", 1);       /* transfers in many pieces */
    qk_context *vk = open_vulkan();
    unsetenv("QK_VULKAN_MAX_RANGE");
    unsetenv("QK_VULKAN_STAGING");
    if (vk == NULL)
        skip();
    qk_context *ref = open_reference();
    size_t bad = 0;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        bad += compare_one(vk, ref, &cases[c], QK_DTYPE_F32, 1000, 1280); /* 5 MB input: many chunks */
        bad += compare_one(vk, ref, &cases[c], QK_DTYPE_BF16, 1161, 768);
        if (cases[c].sc == QK_SCALING_BLOCK) /* width not a multiple of 4: the three-pass path */
            bad += compare_one(vk, ref, &cases[c], QK_DTYPE_F16, 237, 1001);
        if (cases[c].convrot == 4) { /* rows of 8 + 4 k values: spans end inside a thread's 16 */
            bad += compare_one(vk, ref, &cases[c], QK_DTYPE_F16, 37, 1004);
            bad += compare_one(vk, ref, &cases[c], QK_DTYPE_F32, 333, 24);
        }
        if (cases[c].sc == QK_SCALING_ROW && cases[c].convrot == 0) {
            /* rows outside the fused one-pass kernel: odd width, > 8192 wide */
            bad += compare_one(vk, ref, &cases[c], QK_DTYPE_F16, 37, 1001);
            bad += compare_one(vk, ref, &cases[c], QK_DTYPE_F32, 5, 9000);
            /* the fused kernel's widest rows: 4 (partial) units a thread;
             * the wide variant's: 8 (partial) units */
            bad += compare_one(vk, ref, &cases[c], QK_DTYPE_BF16, 40, 8192);
            bad += compare_one(vk, ref, &cases[c], QK_DTYPE_F16, 33, 7000);
            bad += compare_one(vk, ref, &cases[c], QK_DTYPE_BF16, 21, 16384);
            bad += compare_one(vk, ref, &cases[c], QK_DTYPE_F16, 17, 14000);
            bad += compare_one(vk, ref, &cases[c], QK_DTYPE_BF16, 9, 8200);
        }
    }
    qk_context_destroy(ref);
    qk_context_destroy(vk);
    assert_int_equal(bad, 0);
}

/* Double quant's dequantize of one shape in chunks (1 MiB bindings): the
 * input's scale steps every nested block (8192 elements at bs 32), so the
 * nested absmax differ (make_input alone gives every nested block the same
 * one) and a chunk that read another chunk's absmax fails. */
static void nested_dequantize_shape(qk_context *vk, qk_context *ref, int64_t rows, int64_t cols)
{
    const int64_t n = rows * cols;
    float *in = make_input(QK_DTYPE_F32, n, 77);
    for (int64_t i = 0; i < n; i++)
        in[i] *= (float)(1 << ((i >> 13) % 7));
    qk_params p;
    qk_params_default(QK_FORMAT_NF4, &p);
    p.block_size = 32;
    p.double_quant = 1;
    qk_layout lay;
    assert_int_equal(qk_layout_query(&p, rows, cols, &lay), QK_OK);
    void *parts[QK_PART_COUNT] = {0};
    for (int k = 0; k < QK_PART_COUNT; k++)
        parts[k] = lay.part[k].nbytes ? malloc(lay.part[k].nbytes) : NULL;
    assert_int_equal(qk_quantize(ref, &p, QK_DTYPE_F32, in, rows, cols, parts), QK_OK);
    float *want = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
    const void *cp[QK_PART_COUNT] = {parts[0], parts[1], parts[2], parts[3]};
    for (int dt = 0; dt < 3; dt++) { /* f32, f16, bf16 outputs */
        assert_int_equal(qk_dequantize(ref, &p, cp, rows, cols, (qk_dtype)dt, want), QK_OK);
        assert_int_equal(qk_dequantize(vk, &p, cp, rows, cols, (qk_dtype)dt, got), QK_OK);
        size_t bytes = (size_t)n * qk_dtype_size((qk_dtype)dt);
        printf("nested dequantize %lld x %lld %s: %s\n", (long long)rows, (long long)cols,
               qk_dtype_name((qk_dtype)dt), memcmp(want, got, bytes) == 0 ? "equal" : "DIFFERENT");
        assert_memory_equal(want, got, bytes);
    }
    free(want);
    free(got);
    for (int k = 0; k < QK_PART_COUNT; k++)
        free(parts[k]);
    free(in);
}

/* The nested shader rebuilds four absmax an invocation: 40000 blocks, then
 * 40134 (a partial last word of codes) from another input, so a tail the
 * shader skipped would keep the first shape's absmax and fail. */
static void test_nested_dequantize_chunks(void **state)
{
    (void)state;
    setenv("QK_VULKAN_MAX_RANGE", "1048576", 1);
    qk_context *vk = open_vulkan();
    unsetenv("QK_VULKAN_MAX_RANGE");
    if (vk == NULL)
        skip();
    qk_context *ref = open_reference();
    nested_dequantize_shape(vk, ref, 1000, 1280);
    nested_dequantize_shape(vk, ref, 1001, 1283);
    qk_context_destroy(ref);
    qk_context_destroy(vk);
}

/* Grid-stride shaders with few workgroups (3, so 768 threads): every
 * thread runs many rounds, the last one partial (QK_VULKAN_STRIDE_GROUPS
 * caps the workgroups; the H200 runs 16384). In rows of 1280, 80 NVFP4
 * blocks (40 MXFP8 blocks) do not divide the stride, so a thread's column
 * moves from round to round, not only its row. */
static void test_grid_stride_rounds(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    qk_context *ref = open_reference();
    setenv("QK_VULKAN_STRIDE_GROUPS", "3", 1); /* read at every dispatch */
    size_t bad = 0;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        bad += compare_one(vk, ref, &cases[c], QK_DTYPE_BF16, 263, 1024);
        bad += compare_one(vk, ref, &cases[c], QK_DTYPE_F32, 130, 256);
        bad += compare_one(vk, ref, &cases[c], QK_DTYPE_F32, 20, 6144); /* f32 rows on row_quantize.comp */
        bad += compare_one(vk, ref, &cases[c], QK_DTYPE_BF16, 40, 1280);
    }
    unsetenv("QK_VULKAN_STRIDE_GROUPS");
    qk_context_destroy(ref);
    qk_context_destroy(vk);
    assert_int_equal(bad, 0);
}

/* Pipelined pieces (vk_stream.c): staging regions of 64 KiB (6 regions in
 * 384 KiB) cut every format into many pieces, several in flight at once;
 * regions of 1 MiB with 1 MiB bindings make pieces that span dispatch
 * chunks; QK_VULKAN_STREAM=0 runs the whole-buffer path on the same cases.
 * Each must give the reference's bytes (the validation layer is on). */
static size_t compare_all(const char *staging, const char *stream)
{
    setenv("QK_VULKAN_MAX_RANGE", "1048576", 1);
    setenv("QK_VULKAN_STAGING", staging, 1);
    if (stream)
        setenv("QK_VULKAN_STREAM", stream, 1);
    qk_context *vk = open_vulkan();
    unsetenv("QK_VULKAN_MAX_RANGE");
    unsetenv("QK_VULKAN_STAGING");
    unsetenv("QK_VULKAN_STREAM");
    if (vk == NULL)
        return (size_t)-1;
    qk_context *ref = open_reference();
    size_t bad = 0;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        bad += compare_one(vk, ref, &cases[c], QK_DTYPE_BF16, 1161, 768);
        bad += compare_one(vk, ref, &cases[c], QK_DTYPE_F16, 333, 256); /* narrow rows: many rows a piece */
    }
    qk_context_destroy(ref);
    qk_context_destroy(vk);
    return bad;
}

static void test_pipelined_pieces_are_exact(void **state)
{
    (void)state;
    size_t small = compare_all("393216", NULL);
    if (small == (size_t)-1)
        skip();
    assert_int_equal(small, 0);
    assert_int_equal(compare_all("6291456", NULL), 0);
    assert_int_equal(compare_all("6291456", "0"), 0);
}

/* NaN or Inf input: the same status as the reference, and bitsandbytes
 * formats (which code NaN as 0) the same bytes. */
static void test_nonfinite_inputs_match_reference(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    qk_context *ref = open_reference();
    const uint32_t specials[] = {0x7FC00000u, 0x7F800000u, 0xFF800000u};
    const uint16_t specials_bf16[] = {0x7FC0u, 0x7F80u, 0xFF80u}, specials_f16[] = {0x7E00u, 0x7C00u, 0xFC00u};
    const qk_dtype dts[] = {QK_DTYPE_F32, QK_DTYPE_BF16, QK_DTYPE_F16};
    /* mid-tensor, and the very last element of an odd-sized tensor (a
     * flat pass's tail) */
    for (int where = 0; where < 2; where++)
    for (size_t d = 0; d < 3; d++)
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (size_t k = 0; k < 3; k++) {
            const int64_t rows = where ? 3 : 40, cols = where ? 333 : 256;
            const int64_t at = where ? rows * cols - 1 : (rows / 2) * cols + 77;
            qk_dtype dt = dts[d];
            qk_params p = params_of(&cases[c]);
            qk_layout lay;
            qk_layout_query(&p, rows, cols, &lay);
            unsigned char *in = make_input(dt, rows * cols, 7);
            if (dt == QK_DTYPE_F32)
                memcpy(in + 4 * at, &specials[k], 4);
            else
                memcpy(in + 2 * at, dt == QK_DTYPE_BF16 ? &specials_bf16[k] : &specials_f16[k], 2);
            void *want[QK_PART_COUNT] = {0}, *got[QK_PART_COUNT] = {0};
            for (int i = 0; i < QK_PART_COUNT; i++)
                if (lay.part[i].nbytes) {
                    want[i] = calloc(1, lay.part[i].nbytes);
                    got[i] = calloc(1, lay.part[i].nbytes);
                }
            qk_status sr = qk_quantize(ref, &p, dt, in, rows, cols, want);
            qk_status sv = qk_quantize(vk, &p, dt, in, rows, cols, got);
            printf("%-22s %-4s %s at %lld: reference %s, vulkan %s\n", cases[c].spec, qk_dtype_name(dt),
                   k == 0 ? "NaN" : k == 1 ? "+Inf" : "-Inf", (long long)at, qk_status_string(sr), qk_status_string(sv));
            assert_int_equal(sv, sr);
            if (sr == QK_OK)
                for (int i = 0; i < QK_PART_COUNT; i++)
                    if (lay.part[i].nbytes)
                        assert_memory_equal(want[i], got[i], lay.part[i].nbytes);
            for (int i = 0; i < QK_PART_COUNT; i++) {
                free(want[i]);
                free(got[i]);
            }
            free(in);
        }
    qk_context_destroy(ref);
    qk_context_destroy(vk);
}

/* Double-quant parts a caller crafted (src/check/nested_cases.c). */
static void test_crafted_nested_parts_match_reference(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    assert_int_equal(qkc_crafted_nested(vk, "vulkan"), 0);
    qk_context_destroy(vk);
}

/* ---- NVFP4 codes at E2M1's decision boundaries -------------------------
 * The shader codes e2m1(clamp(x / t, 6)) by comparing |x| with per-block
 * bounds RD(A_k * t) instead of dividing; a bound one ulp off changes the
 * code of the input right at it. Each block has one anchor element (its
 * amax, which fixes the block scale t); the other 15 sit at and a few ulps
 * around m * t for every rounding boundary m, for block scales from the
 * tensor's amax down to zero, under tiny (subnormal g) and huge global
 * scales, in f32, f16 and bf16. */
static uint32_t bits_of(float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    return u;
}

static float float_of(uint32_t u)
{
    float v;
    memcpy(&v, &u, 4);
    return v;
}

/* Positive finite v to dtype bits, RNE (f16: the test's values stay below 65520). */
static uint32_t dt_bits(qk_dtype dt, float v)
{
    uint32_t a = bits_of(v);
    if (dt == QK_DTYPE_F32)
        return a;
    if (dt == QK_DTYPE_BF16)
        return (a + 0x7FFFu + ((a >> 16) & 1u)) >> 16;
    if (a < 0x38800000u) /* f16 subnormal range: v * 2^24 is exact, rint is RNE */
        return (uint32_t)rintf(v * 16777216.0f);
    return (a - 0x38000000u + 0xFFFu + ((a >> 13) & 1u)) >> 13;
}

static float dt_value(qk_dtype dt, uint32_t h)
{
    if (dt == QK_DTYPE_F32)
        return float_of(h);
    if (dt == QK_DTYPE_BF16)
        return float_of(h << 16);
    uint32_t e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
    float v = e == 0 ? ldexpf((float)m, -24) : ldexpf((float)(m | 0x400u), (int)e - 25);
    return (h & 0x8000u) ? -v : v;
}

static void dt_put(qk_dtype dt, void *buf, int64_t i, uint32_t h)
{
    if (dt == QK_DTYPE_F32)
        memcpy((char *)buf + 4 * i, &h, 4);
    else {
        uint16_t v = (uint16_t)h;
        memcpy((char *)buf + 2 * i, &v, 2);
    }
}

static float e4m3_value(uint32_t s8)
{
    uint32_t e = (s8 >> 3) & 15u, m = s8 & 7u;
    return e == 0 ? ldexpf((float)m, -9) : ldexpf((float)(8u + m), (int)e - 10);
}

static int64_t blocked_off(int64_t r, int64_t c, int64_t ncb)
{
    return ((r / 128 * ((ncb + 3) / 4) + c / 4) * 32 + r % 32) * 16 + ((r % 128) / 32) * 4 + c % 4;
}

#define BND_ROWS 44   /* anchors: amax * 2^(-i/2) * (1 - (i%7)/23) */
#define BND_BLOCKS 5  /* blocks per row, all with the row's anchor */
#define BND_NEAR 3    /* ulps each side of m * t */

/* One tensor of amax `amax`: the differing bytes between Vulkan and the
 * reference (a failed call counts 1). */
static size_t nvfp4_boundaries(qk_context *vk, qk_context *ref, qk_dtype dt, float amax)
{
    static const double mids[7] = {0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0};
    const int64_t rows = BND_ROWS, cols = 16 * BND_BLOCKS, ncb = BND_BLOCKS;
    qk_params p;
    qk_params_default(QK_FORMAT_NVFP4, &p);
    qk_layout lay;
    assert_int_equal(qk_layout_query(&p, rows, cols, &lay), QK_OK);
    void *want[QK_PART_COUNT] = {0}, *got[QK_PART_COUNT] = {0}, *first[QK_PART_COUNT] = {0};
    for (int k = 0; k < QK_PART_COUNT; k++)
        if (lay.part[k].nbytes) {
            want[k] = malloc(lay.part[k].nbytes);
            got[k] = malloc(lay.part[k].nbytes);
            first[k] = malloc(lay.part[k].nbytes);
            memset(got[k], 0x5A, lay.part[k].nbytes);
        }
    size_t es = qk_dtype_size(dt);
    void *in = calloc((size_t)(rows * cols), es);
    uint32_t anchor[BND_ROWS];
    for (int64_t r = 0; r < rows; r++) {
        float b = ldexpf(amax, -(int)(r / 2)) * (r & 1 ? 0.70710678f : 1.0f) * (1.0f - (float)(r % 7) / 23.0f);
        anchor[r] = dt_bits(dt, b);
        for (int64_t cb = 0; cb < ncb; cb++) /* sign alternates: negative amax elements too */
            dt_put(dt, in, r * cols + cb * 16 + (cb % 16), anchor[r] | ((cb & 1) ? (es == 4 ? 0x80000000u : 0x8000u) : 0u));
    }
    /* the block scales the anchors alone give */
    assert_int_equal(qk_quantize(ref, &p, dt, in, rows, cols, first), QK_OK);
    float g;
    memcpy(&g, first[QK_PART_SCALE2], 4);
    for (int64_t r = 0; r < rows; r++) {
        float bv = dt_value(dt, anchor[r]);
        for (int64_t cb = 0; cb < ncb; cb++) {
            float t = g * e4m3_value(((unsigned char *)first[QK_PART_SCALE])[blocked_off(r, cb, ncb)]);
            for (int64_t i = 0, n = 0; i < 16; i++) {
                if (i == cb % 16)
                    continue; /* the anchor */
                int64_t slot = cb * 15 + n++; /* 0..74 over the row */
                uint32_t h;
                if (slot < 7 * (2 * BND_NEAR + 1)) {
                    int64_t k = slot / (2 * BND_NEAR + 1), d = slot % (2 * BND_NEAR + 1) - BND_NEAR;
                    int64_t c = (int64_t)dt_bits(dt, (float)(mids[k] * (double)t)) + d;
                    h = c < 0 ? 0u : (uint32_t)c;
                } else { /* the rest: exact midpoints again, 6t and beyond, zero */
                    int64_t k = slot % 9;
                    h = k < 7 ? dt_bits(dt, (float)(mids[k] * (double)t)) : k == 7 ? dt_bits(dt, 6.0f * t) : 0u;
                }
                if (!(dt_value(dt, h) < bv))
                    h = 0u; /* keep the anchor the block's amax */
                if (slot & 1)
                    h |= es == 4 ? 0x80000000u : 0x8000u;
                dt_put(dt, in, r * cols + cb * 16 + i, h);
            }
        }
    }
    size_t bad = 0;
    assert_int_equal(qk_quantize(ref, &p, dt, in, rows, cols, want), QK_OK);
    /* the boundaries were placed for these scales */
    assert_memory_equal(first[QK_PART_SCALE], want[QK_PART_SCALE], lay.part[QK_PART_SCALE].nbytes);
    assert_memory_equal(first[QK_PART_SCALE2], want[QK_PART_SCALE2], 4);
    if (qk_quantize(vk, &p, dt, in, rows, cols, got) != QK_OK) {
        printf("  nvfp4 boundaries %s quantize: %s\n", qk_dtype_name(dt), qk_last_error());
        bad++;
    } else {
        for (int k = 0; k < QK_PART_COUNT; k++)
            for (size_t i = 0; i < lay.part[k].nbytes; i++)
                bad += ((unsigned char *)want[k])[i] != ((unsigned char *)got[k])[i];
    }
    /* Coverage: the reference's code changes inside a window of 2*BND_NEAR+1
     * adjacent inputs around m * t (the boundary is straddled) in most windows;
     * the misses are rows whose block scale rounds to 0 (t = 0: all codes 0)
     * and t deep in the subnormals, where bf16 has too few bits. */
    int64_t straddled = 0, windows = 0;
    const unsigned char *wd = want[QK_PART_DATA];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < 7; k++) {
            int64_t slot0 = k * (2 * BND_NEAR + 1), seen = 0;
            uint32_t lo = 99u, hi = 0u;
            for (int64_t slot = slot0; slot < slot0 + 2 * BND_NEAR + 1; slot++) {
                int64_t cb = slot / 15, n = slot % 15, i = n < cb ? n : n + 1; /* skip the anchor */
                int64_t c = cb * 16 + i;
                uint32_t code = (wd[r * (cols / 2) + c / 2] >> ((c & 1) ? 0 : 4)) & 7u;
                lo = code < lo ? code : lo;
                hi = code > hi ? code : hi;
                seen++;
            }
            windows++;
            straddled += seen && hi > lo;
        }
    printf("nvfp4 boundaries %-5s amax %-12g g %-12g %3lld/%lld straddled, %zu mismatching bytes\n",
           qk_dtype_name(dt), (double)amax, (double)g, (long long)straddled, (long long)windows, bad);
    assert_true(straddled * 2 > windows);
    for (int k = 0; k < QK_PART_COUNT; k++) {
        free(want[k]);
        free(got[k]);
        free(first[k]);
    }
    free(in);
    return bad;
}

static void test_nvfp4_decision_boundaries(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    qk_context *ref = NULL;
    assert_int_equal(qk_context_create("reference", 0, &ref), QK_OK);
    /* tiny amax: g subnormal (and t down to the smallest subnormals); huge:
     * g near FLT_MAX / 2688 */
    static const float wide[] = {1e-36f, 3e-30f, 1.0f, 7.25e3f, 1e20f, 3.0e38f};
    static const float narrow[] = {0.05f, 1.0f, 300.0f, 65504.0f}; /* f16: g subnormal at 0.05 */
    size_t bad = 0;
    for (size_t i = 0; i < sizeof wide / sizeof *wide; i++) {
        bad += nvfp4_boundaries(vk, ref, QK_DTYPE_F32, wide[i]);
        bad += nvfp4_boundaries(vk, ref, QK_DTYPE_BF16, wide[i]);
    }
    for (size_t i = 0; i < sizeof narrow / sizeof *narrow; i++)
        bad += nvfp4_boundaries(vk, ref, QK_DTYPE_F16, narrow[i]);
    qk_context_destroy(ref);
    qk_context_destroy(vk);
    assert_int_equal(bad, 0);
}

/* ---- double quant's offset ------------------------------------------------
 * The quantize sums the absmax on the device in exact per-run integers
 * (bnb_absmax_sum.comp) and takes the mean from those records there when
 * they prove the order irrelevant (bnb_absmax_mean.comp); else the host
 * takes it from the downloaded absmax. Either way every part must be the
 * reference's; qk_vk_mean_fallbacks says which path ran. */
static size_t dq_matches(qk_context *vk, qk_context *ref, const char *what, qk_format f, int bs, qk_dtype dt,
                         const void *in, int64_t rows, int64_t cols, unsigned long fallbacks)
{
    qk_params p;
    qk_params_default(f, &p);
    p.block_size = bs;
    p.double_quant = 1;
    qk_layout lay;
    assert_int_equal(qk_layout_query(&p, rows, cols, &lay), QK_OK);
    void *want[QK_PART_COUNT] = {0}, *got[QK_PART_COUNT] = {0};
    for (int k = 0; k < QK_PART_COUNT; k++)
        if (lay.part[k].nbytes) {
            want[k] = malloc(lay.part[k].nbytes);
            got[k] = malloc(lay.part[k].nbytes);
            memset(got[k], 0x5A, lay.part[k].nbytes);
        }
    size_t bad = 0;
    assert_int_equal(qk_quantize(ref, &p, dt, in, rows, cols, want), QK_OK);
    unsigned long before = qk_vk_mean_fallbacks();
    if (qk_quantize(vk, &p, dt, in, rows, cols, got) != QK_OK) {
        printf("  %s quantize: %s\n", what, qk_last_error());
        bad++;
    } else {
        for (int k = 0; k < QK_PART_COUNT; k++)
            if (lay.part[k].nbytes && memcmp(want[k], got[k], lay.part[k].nbytes) != 0)
                bad++;
    }
    unsigned long taken = qk_vk_mean_fallbacks() - before;
    printf("%-28s %-5s %lld blocks, %lu fallback(s), %zu mismatching parts\n", what, qk_dtype_name(dt),
           (long long)((rows * cols + bs - 1) / bs), taken, bad);
    assert_int_equal(taken, fallbacks);
    for (int k = 0; k < QK_PART_COUNT; k++) {
        free(want[k]);
        free(got[k]);
    }
    return bad;
}

/* Ordinary inputs: the device sums prove the mean (no fallback) for more
 * than one run, partial last runs and blocks, several block sizes and
 * dtypes, on the pipelined and the whole-buffer paths. */
static void test_double_quant_offset_from_device_sums(void **state)
{
    (void)state;
    static const struct {
        const char *env, *value; /* a setting for the context, or NULL */
        const char *what;
        qk_format f;
        int bs;
        qk_dtype dt;
        int64_t rows, cols;
    } cases[] = {
        {NULL, NULL, "nf4/bs32 (device sums)", QK_FORMAT_NF4, 32, QK_DTYPE_BF16, 1000, 333},
        {NULL, NULL, "fp4/bs256 (device sums)", QK_FORMAT_FP4, 256, QK_DTYPE_F16, 1200, 1000},
        {NULL, NULL, "nf4/bs128 (device sums)", QK_FORMAT_NF4, 128, QK_DTYPE_F32, 700, 3001},
        /* the whole-buffer path records the sums after the quantize too */
        {"QK_VULKAN_STREAM", "0", "nf4/bs32 (whole buffer)", QK_FORMAT_NF4, 32, QK_DTYPE_BF16, 1000, 333},
        /* 64 KiB bindings: four runs a chunk, ten runs */
        {"QK_VULKAN_MAX_RANGE", "65536", "nf4/bs64 (chunked sums)", QK_FORMAT_NF4, 64, QK_DTYPE_BF16, 2000, 1300},
    };
    qk_context *vk = vulkan_or_skip();
    qk_context_destroy(vk);
    qk_context *ref = open_reference();
    size_t bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (cases[i].env)
            setenv(cases[i].env, cases[i].value, 1);
        vk = open_vulkan();
        if (cases[i].env)
            unsetenv(cases[i].env);
        assert_non_null(vk);
        void *in = make_input(cases[i].dt, cases[i].rows * cases[i].cols, 11 + i);
        bad += dq_matches(vk, ref, cases[i].what, cases[i].f, cases[i].bs, cases[i].dt, in, cases[i].rows,
                          cases[i].cols, 0);
        free(in);
        qk_context_destroy(vk);
    }
    qk_context_destroy(ref);
    assert_int_equal(bad, 0);
}

/* A harness of double-quant means (src/check/nested_cases.c) on Vulkan:
 * every part the reference's, and exactly `fallbacks` means left to the
 * host. */
static void means_on_vulkan(long (*harness)(qk_context *, const char *), const char *cases,
                            unsigned long fallbacks)
{
    qk_context *vk = vulkan_or_skip();
    unsigned long before = qk_vk_mean_fallbacks();
    long bad = harness(vk, "vulkan");
    unsigned long taken = qk_vk_mean_fallbacks() - before;
    printf("vulkan: %lu of %s took the host's sum\n", taken, cases);
    qk_context_destroy(vk);
    assert_int_equal(bad, 0);
    assert_int_equal(taken, fallbacks);
}

/* Inputs crafted for the offset (src/check/nested_cases.c): ordinary and
 * all-zero absmax are proven by the device sums; sixty binades and the
 * order-sensitive vector take the host's sequential sum. */
static void test_double_quant_offset_fallback(void **state)
{
    (void)state;
    means_on_vulkan(qkc_crafted_means, "4 crafted offsets", 2);
}

/* Means the device divides itself (bnb_absmax_mean.comp's long division
 * and two roundings): every case but the subnormal mean without the host. */
static void test_double_quant_device_means(void **state)
{
    (void)state;
    means_on_vulkan(qkc_random_means, "19 means", 1);
}

/* Tensor-scaled float8/int8 of bf16/f16 by the 16-bit code table: every
 * value in [-1, 1] (both zeros, subnormals, odd length) through e4m3, e5m2
 * and int8 against the reference (and NF4/FP4 blocks of subnormals, whose
 * bf16 products must be flushed), on the table path and, with
 * QK_VULKAN_TABLE16=0, on the per-element path. The table path must have
 * run (6 quantizes) wherever the device has the 32 KiB of shared memory. */
static void test_every_magnitude16_by_table(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    uint32_t shared = first_device()->props.limits.maxComputeSharedMemorySize;
    unsigned long before = qk_vk_table16_runs();
    long bad = qkc_every_magnitude16(vk, "vulkan");
    unsigned long runs = qk_vk_table16_runs() - before;
    printf("table path: %lu quantizes (maxComputeSharedMemorySize %u), %ld failing cases\n", runs, shared, bad);
    assert_int_equal(bad, 0);
    if (shared < 32768)
        printf("note: the device has less than 32 KiB of shared memory: the per-element path ran instead\n");
    assert_int_equal(runs, shared >= 32768 ? 6 : 0);
    setenv("QK_VULKAN_TABLE16", "0", 1);
    before = qk_vk_table16_runs();
    bad = qkc_every_magnitude16(vk, "vulkan (per element)");
    runs = qk_vk_table16_runs() - before;
    unsetenv("QK_VULKAN_TABLE16");
    assert_int_equal(bad, 0);
    assert_int_equal(runs, 0);
    qk_context_destroy(vk);
}

/* The tensor amax (amax_tensor.comp's grid-stride loop) over a tensor
 * whose single peak moves through it; one workgroup strides here. */
static void test_tensor_amax_every_step(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    long bad = qkc_tensor_amax_positions(vk, "vulkan");
    printf("tensor amax, a peak moved through the tensor: %ld cases differ\n", bad);
    assert_int_equal(bad, 0);
    qk_context_destroy(vk);
}

/* Quantize `in` on both; the differing bytes of every part (a failed call
 * counts 1). */
/* Buffers for a layout's parts: the reference's zeroed, the device's
 * filled with 0x5A so that a part left unwritten shows. */
static void parts_alloc(const qk_layout *lay, void *want[QK_PART_COUNT], void *got[QK_PART_COUNT])
{
    for (int k = 0; k < QK_PART_COUNT; k++) {
        want[k] = got[k] = NULL;
        if (lay->part[k].nbytes) {
            want[k] = calloc(1, lay->part[k].nbytes);
            got[k] = malloc(lay->part[k].nbytes);
            memset(got[k], 0x5A, lay->part[k].nbytes);
        }
    }
}

/* Bytes that differ between the two sets of parts. */
static size_t parts_differ(const qk_layout *lay, void *const want[QK_PART_COUNT], void *const got[QK_PART_COUNT])
{
    size_t bad = 0;
    for (int k = 0; k < QK_PART_COUNT; k++)
        for (size_t i = 0; i < lay->part[k].nbytes; i++)
            bad += ((unsigned char *)want[k])[i] != ((unsigned char *)got[k])[i];
    return bad;
}

static void parts_free(void *want[QK_PART_COUNT], void *got[QK_PART_COUNT])
{
    for (int k = 0; k < QK_PART_COUNT; k++) {
        free(want[k]);
        free(got[k]);
    }
}

static size_t compare_input(qk_context *vk, qk_context *ref, const qk_params *p, qk_dtype dt, const void *in,
                            int64_t rows, int64_t cols)
{
    qk_layout lay;
    assert_int_equal(qk_layout_query(p, rows, cols, &lay), QK_OK);
    void *want[QK_PART_COUNT], *got[QK_PART_COUNT];
    parts_alloc(&lay, want, got);
    size_t bad = 0;
    assert_int_equal(qk_quantize(ref, p, dt, in, rows, cols, want), QK_OK);
    if (qk_quantize(vk, p, dt, in, rows, cols, got) != QK_OK) {
        printf("  quantize: %s\n", qk_last_error());
        bad++;
    } else {
        bad = parts_differ(&lay, want, got);
    }
    parts_free(want, got);
    return bad;
}

/* f32 tiles (tile_quantize.comp holds tiles of edge <= 128 in registers,
 * 16 steps of a quad a thread): each tile's largest magnitude at its own
 * place, so that every step of the held loop, partial tiles included,
 * decides some tile's amax; int8_blockwise and e4m3 tiles of 128 and 32. */
static void test_f32_tiles_amax_anywhere(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    qk_context *ref = open_reference();
    const int64_t rows = 300, cols = 520; /* partial tiles at both edges */
    float *in = malloc((size_t)(rows * cols) * 4);
    static const struct {
        qk_format f;
        int64_t b;
    } kinds[] = {{QK_FORMAT_INT8_BLOCKWISE, 128}, {QK_FORMAT_FLOAT8_E4M3FN, 128}, {QK_FORMAT_INT8_BLOCKWISE, 32}};
    size_t bad = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        int64_t b = kinds[k].b, gc = (cols + b - 1) / b;
        uint32_t s = 0x71E5u + (uint32_t)k;
        for (int64_t i = 0; i < rows * cols; i++) {
            s = s * 1664525u + 1013904223u;
            in[i] = ((float)(s >> 8) / 16777216.0f - 0.5f) * 0.25f;
        }
        for (int64_t t = 0; t < (rows + b - 1) / b * gc; t++) { /* the big one: a place a tile */
            int64_t r0 = t / gc * b, c0 = t % gc * b, h = rows - r0 < b ? rows - r0 : b;
            int64_t w = cols - c0 < b ? cols - c0 : b, c = (t * 53) % w;
            int64_t r = (t & 1) ? h - 1 - (t % 8) : (t * 37 + (int64_t)k) % h; /* odd tiles: a last row */
            in[(r0 + r) * cols + c0 + c] = (t & 1) ? -3.0f - (float)t : 3.0f + (float)t;
        }
        qk_params p;
        qk_params_default(kinds[k].f, &p);
        p.scaling = QK_SCALING_BLOCK;
        p.block_size = (int)b;
        size_t d = compare_input(vk, ref, &p, QK_DTYPE_F32, in, rows, cols);
        printf("f32 %s tiles of %lld, %lld x %lld: %zu differing bytes\n", qk_format_name(kinds[k].f),
               (long long)b, (long long)rows, (long long)cols, d);
        bad += d;
    }
    free(in);
    qk_context_destroy(ref);
    qk_context_destroy(vk);
    assert_int_equal(bad, 0);
}

/* float8 / int8 of bf16/f16 per row and per 128 x 128 tile, coded by
 * per-group thresholds (row_quantize.comp, tile_quantize.comp;
 * QK_VULKAN_PRODUCTS=0) and by the default coders (products wherever a
 * group's factor allows them, f16's infinite float8 multipliers
 * included): every magnitude pattern up to the amax, both signs, in rows
 * of 8192 / tiles that each hold the amax, for amax from the scale floors
 * (1e-30, T's smallest normal, a zero blockwise scale, an infinite
 * float8 multiplier) to T's largest value, against the reference. */
static void test_thresholds_every_magnitude(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    qk_context *ref = open_reference();
    static const uint16_t amax_bf16[] = {0x3F80u, 0x3E9Au, 0x42C8u, 0x1000u, 0x7F7Fu};
    static const uint16_t amax_f16[] = {0x3C00u, 0x34CDu, 0x5640u, 0x0400u, 0x0010u, 0x7BFFu};
    static const qk_format formats[] = {QK_FORMAT_INT8_TENSORWISE, QK_FORMAT_INT8_BLOCKWISE, QK_FORMAT_FLOAT8_E4M3FN,
                                        QK_FORMAT_FLOAT8_E5M2};
    size_t bad = 0;
    for (int d = 0; d < 2; d++) {
        qk_dtype dt = d == 0 ? QK_DTYPE_BF16 : QK_DTYPE_F16;
        size_t na = d == 0 ? sizeof amax_bf16 / 2 : sizeof amax_f16 / 2;
        for (size_t a = 0; a < na; a++) {
            uint16_t top = d == 0 ? amax_bf16[a] : amax_f16[a];
            int64_t len = 2 * ((int64_t)top + 1);
            for (int g = 0; g < 6; g++) { /* int8 row, int8_blockwise, e4m3 row/tile, e5m2 row/tile */
                qk_format f = formats[g < 2 ? g : 2 + (g - 2) / 2];
                int tiles = g == 1 || g == 3 || g == 5;
                qk_params p;
                qk_params_default(f, &p);
                int64_t cols = tiles ? 1024 : 8192, per = tiles ? cols : cols - 1;
                int64_t rows = (len + per - 1) / per;
                if (tiles) {
                    p.scaling = QK_SCALING_BLOCK;
                    p.block_size = 128;
                    rows = (rows + 127) / 128 * 128;
                } else {
                    p.scaling = QK_SCALING_ROW;
                }
                uint16_t *in = malloc((size_t)(rows * cols) * 2);
                int64_t next = 0;
                for (int64_t r = 0; r < rows; r++)
                    for (int64_t c = 0; c < cols; c++) {
                        int holds_amax = tiles ? (r % 128 == 0 && c % 128 == 0) : c == 0;
                        in[r * cols + c] = holds_amax ? top : (uint16_t)((next / 2) | ((next & 1) << 15));
                        if (!holds_amax)
                            next = (next + 1) % len;
                    }
                for (int thr = 0; thr < 2; thr++) {
                    if (thr)
                        setenv("QK_VULKAN_PRODUCTS", "0", 1);
                    size_t b = compare_input(vk, ref, &p, dt, in, rows, cols);
                    unsetenv("QK_VULKAN_PRODUCTS");
                    printf("%-16s %-5s %-4s amax 0x%04x, %s: %lld x %lld, %zu mismatching bytes\n", qk_format_name(f),
                           tiles ? "tile" : "row", qk_dtype_name(dt), top, thr ? "thresholds" : "default",
                           (long long)rows, (long long)cols, b);
                    bad += b;
                }
                free(in);
            }
        }
    }
    qk_context_destroy(ref);
    qk_context_destroy(vk);
    assert_int_equal(bad, 0);
}

/* Groups of every amax (a 16-bit magnitude; every `step`-th from 0, and
 * the largest finite) each followed by every element it can hold: both
 * signs of every magnitude up to the amax. Groups are rows of `width`
 * elements (tiles 0) or 128 x 128 tiles, 64 across. */
typedef struct {
    uint16_t *in;
    int64_t rows, cols;
} every_pair_input;

/* The amax after a: a + step, or top where that passes it (top comes last). */
static uint32_t next_amax(uint32_t a, unsigned step, uint16_t top)
{
    return a < top && a + step > top ? top : a + step;
}

static every_pair_input make_every_pair(uint16_t top, unsigned step, int tiles, int64_t width)
{
    const int64_t g = tiles ? 16384 : width;
    int64_t ng = 0;
    for (uint32_t a = 0; a <= top; a = next_amax(a, step, top))
        ng += (2 * ((int64_t)a + 1) + g - 2) / (g - 1);
    every_pair_input t;
    t.cols = tiles ? 64 * 128 : g;
    t.rows = tiles ? (ng + 63) / 64 * 128 : ng;
    t.in = calloc((size_t)(t.rows * t.cols), 2);
    assert_non_null(t.in);
    int64_t grp = 0;
    for (uint32_t a = 0; a <= top; a = next_amax(a, step, top)) {
        int64_t len = 2 * ((int64_t)a + 1);
        for (int64_t done = 0; done < len; grp++)
            for (int64_t i = 0; i < g; i++) {
                uint16_t v = 0;
                if (i == 0)
                    v = (uint16_t)a;
                else if (done < len) {
                    v = (uint16_t)((done / 2) | ((done & 1) << 15));
                    done++;
                }
                int64_t r = tiles ? grp / 64 * 128 + i / 128 : grp, c = tiles ? grp % 64 * 128 + i % 128 : i;
                t.in[r * t.cols + c] = v;
            }
    }
    return t;
}

/* float8 and int8 row and tile codes of bf16/f16 by products
 * (qk_vk_products.glsl) against the shaders' other coders
 * (QK_VULKAN_PRODUCTS=0: qk_scaled_code in row_quantize_short.comp, rows
 * of 4096; the thresholds in row_quantize.comp, rows of 8192, and
 * tile_quantize.comp, themselves checked against the reference by
 * test_thresholds_every_magnitude) for every amax and every element a
 * group with it can hold: each divisor or multiplier a group can have and
 * each element it scales. GPUs take all of them (about 1.2 G elements a
 * case); CPU devices every 127th amax unless QK_TEST_EVERY_AMAX=1
 * (QK_TEST_DTYPE=bf16 or f16 narrows it to one dtype). The product path
 * must have run. */
static void test_products_every_pair(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    unsigned step = first_device()->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? 127u : 1u;
    const char *all = getenv("QK_TEST_EVERY_AMAX"); /* =1: every amax on CPU devices too (minutes) */
    if (all && strcmp(all, "1") == 0)
        step = 1;
    if (step > 1)
        printf("CPU device: every %uth amax only (QK_TEST_EVERY_AMAX=1 takes all)\n", step);
    static const qk_format row_formats[] = {QK_FORMAT_INT8_TENSORWISE, QK_FORMAT_FLOAT8_E4M3FN, QK_FORMAT_FLOAT8_E5M2};
    static const qk_format tile_formats[] = {QK_FORMAT_INT8_BLOCKWISE, QK_FORMAT_FLOAT8_E4M3FN, QK_FORMAT_FLOAT8_E5M2};
    const char *only = getenv("QK_TEST_DTYPE"); /* bf16 or f16: that dtype's cases only (QK_TEST_EVERY_AMAX on CPUs) */
    size_t bad = 0;
    for (int d = 0; d < 2; d++)
        for (int shape = 0; shape < 3; shape++) { /* rows of 4096, rows of 8192, tiles */
            qk_dtype dt = d == 0 ? QK_DTYPE_BF16 : QK_DTYPE_F16;
            if (only && strcmp(only, qk_dtype_name(dt)) != 0) {
                printf("%s shape %d skipped: QK_TEST_DTYPE=%s\n", qk_dtype_name(dt), shape, only);
                continue;
            }
            int tiles = shape == 2;
            every_pair_input t = make_every_pair(d == 0 ? 0x7F7Fu : 0x7BFFu, step, tiles, shape == 0 ? 4096 : 8192);
            for (int f = 0; f < 3; f++) {
                qk_params p;
                qk_params_default(tiles ? tile_formats[f] : row_formats[f], &p);
                p.scaling = tiles ? QK_SCALING_BLOCK : QK_SCALING_ROW;
                p.block_size = 128;
                qk_layout lay;
                assert_int_equal(qk_layout_query(&p, t.rows, t.cols, &lay), QK_OK);
                void *out[2][QK_PART_COUNT] = {{0}};
                for (int v = 0; v < 2; v++) {
                    for (int k = 0; k < QK_PART_COUNT; k++)
                        if (lay.part[k].nbytes) {
                            out[v][k] = malloc(lay.part[k].nbytes);
                            memset(out[v][k], v ? 0x5A : 0xA5, lay.part[k].nbytes);
                        }
                    if (v)
                        setenv("QK_VULKAN_PRODUCTS", "0", 1);
                    unsigned long runs = qk_vk_product_runs();
                    assert_int_equal(qk_quantize(vk, &p, dt, t.in, t.rows, t.cols, out[v]), QK_OK);
                    runs = qk_vk_product_runs() - runs;
                    unsetenv("QK_VULKAN_PRODUCTS");
                    assert_true(v ? runs == 0 : runs > 0);
                }
                size_t b = 0;
                for (int k = 0; k < QK_PART_COUNT; k++)
                    if (lay.part[k].nbytes) {
                        b += memcmp(out[0][k], out[1][k], lay.part[k].nbytes) != 0;
                        free(out[0][k]);
                        free(out[1][k]);
                    }
                printf("%-15s %-4s %s: %lld x %lld, parts differing: %zu\n", qk_format_name(p.format),
                       tiles ? "tile" : "row", qk_dtype_name(dt), (long long)t.rows, (long long)t.cols, b);
                bad += b;
            }
            free(t.in);
        }
    qk_context_destroy(vk);
    assert_int_equal(bad, 0);
}

/* NF4 (fp4 0) or FP4 quantize of one crafted row, against the reference. */
static size_t compare_bnb4(qk_context *vk, qk_context *ref, int fp4, int bs, qk_dtype dt, const void *in,
                           int64_t cols, const char *what)
{
    qk_params p;
    qk_params_default(fp4 ? QK_FORMAT_FP4 : QK_FORMAT_NF4, &p);
    p.block_size = bs;
    size_t b = compare_input(vk, ref, &p, dt, in, 1, cols);
    printf("%s bs %d %s, %s: %zu mismatching bytes\n", fp4 ? "fp4" : "nf4", bs, qk_dtype_name(dt), what, b);
    return b;
}

/* Element i of an f32, bf16 or f16 buffer set to a quiet NaN. */
static void put_nan(qk_dtype dt, unsigned char *buf, int64_t i)
{
    if (dt == QK_DTYPE_F32)
        memcpy(buf + 4 * i, &(uint32_t){0x7FC00000u}, 4);
    else
        memcpy(buf + 2 * i, &(uint16_t){dt == QK_DTYPE_BF16 ? 0x7FC0u : 0x7E00u}, 2);
}

/* NF4/FP4 blocks whose elements are all NaN: a whole block's absmax is
 * -FLT_MAX (fmaxf from it over nothing), a partial last block's is 0 (its
 * zero padding); blocks of 64 (held in registers for bf16/f16) and 128. */
static void test_bnb4_nan_blocks_match_reference(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    qk_context *ref = open_reference();
    static const qk_dtype dts[] = {QK_DTYPE_F32, QK_DTYPE_BF16, QK_DTYPE_F16};
    size_t bad = 0;
    for (int f = 0; f < 2; f++)
        for (int bs = 64; bs <= 128; bs *= 2)
            for (size_t d = 0; d < 3; d++) {
                const int64_t cols = 3 * bs + 10; /* block 1 and the 10-element tail all NaN */
                unsigned char *in = make_input(dts[d], cols, 11);
                for (int64_t i = 0; i < cols; i++)
                    if ((i >= bs && i < 2 * bs) || i >= 3 * bs)
                        put_nan(dts[d], in, i);
                bad += compare_bnb4(vk, ref, f, bs, dts[d], in, cols, "NaN blocks");
                free(in);
            }
    qk_context_destroy(ref);
    qk_context_destroy(vk);
    assert_int_equal(bad, 0);
}

/* NF4/FP4 quantize with block maxima by subgroup shuffles (a block's
 * bs / 8 words in one subgroup, bs <= 256; blocks of 64 by four
 * lanes of 16 elements, bnb4_quantize64.comp) and by shared atomics (the
 * rest), each against the reference, with a NaN inside a block and a
 * partial last block. Each shuffle path must have run wherever the device
 * offers it. */
static void test_bnb4_block_maxima_paths(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    qk_context *ref = open_reference();
    uint32_t sg = first_device()->cluster_max;
    static const qk_dtype dts[] = {QK_DTYPE_F32, QK_DTYPE_BF16};
    size_t bad = 0;
    unsigned long want = 0, want64 = 0, calls = 0, before = qk_vk_bnb4_shuffle_runs();
    unsigned long before64 = qk_vk_bnb4_q64_runs();
    for (int f = 0; f < 2; f++)
        for (int bs = 32; bs <= 512; bs *= 2)
            for (size_t d = 0; d < 2; d++) {
                const int64_t cols = 5 * bs + 24;
                /* a seed per case: the device's buffers never hold this case's bytes already */
                unsigned char *in = make_input(dts[d], cols, (uint32_t)(bs + 2 * f + 5 * (int)d));
                put_nan(dts[d], in, bs + 3);
                bad += compare_bnb4(vk, ref, f, bs, dts[d], in, cols, "block maxima");
                int shuffles = sg != 0 && (uint32_t)bs / 8 <= sg && bs <= 256;
                int by64 = shuffles && bs == 64;
                want += shuffles && !by64;
                want64 += by64;
                calls++;
                free(in);
            }
    unsigned long runs = qk_vk_bnb4_shuffle_runs() - before, runs64 = qk_vk_bnb4_q64_runs() - before64;
    printf("block maxima by shuffles: %lu of %lu quantizes, and %lu by four lanes a block of 64 (subgroup size %u)\n",
           runs, calls, runs64, sg);
    if (sg == 0)
        printf("note: the device offers no full subgroups with shuffles: every block took shared atomics\n");
    qk_context_destroy(ref);
    qk_context_destroy(vk);
    assert_int_equal(bad, 0);
    assert_int_equal(runs, want);
    assert_int_equal(runs64, want64);
}

/* Element i of an f32 or bf16 buffer (bf16 by truncation: an input like any other). */
static void put_f32_or_bf16(qk_dtype dt, unsigned char *buf, int64_t i, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    if (dt == QK_DTYPE_F32)
        memcpy(buf + 4 * i, &u, 4);
    else
        memcpy(buf + 2 * i, &(uint16_t){(uint16_t)(u >> 16)}, 2);
}

/* NF4/FP4 blocks whose products underflow: absmax 2^20 beside normal
 * elements of 2^-100 .. 2^-110, so x * (1/absmax) falls below 2^-125,
 * where bitsandbytes' mul.ftz flushes to zero and a native product may
 * not (FP4 then codes a negative one with its sign). Also a block of
 * values that are all that small, whose products stay normal, and one of
 * subnormal elements beside an absmax of FLT_MIN: mul.ftz flushes them,
 * where their native products (about 1/2) would take nonzero codes. */
static void test_bnb4_tiny_products_match_reference(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    qk_context *ref = open_reference();
    static const qk_dtype dts[] = {QK_DTYPE_F32, QK_DTYPE_BF16};
    const int64_t cols = 5 * 64;
    size_t bad = 0;
    for (int f = 0; f < 2; f++)
        for (size_t d = 0; d < 2; d++) {
            size_t es = qk_dtype_size(dts[d]);
            unsigned char *in = malloc((size_t)cols * es);
            for (int64_t i = 0; i < cols; i++) {
                float v = ldexpf((i & 1) ? -1.0f : 1.0f, -100 - (int)(i % 11));
                if (i % 64 == 5 && i < 192)
                    v = 0x1p20f; /* blocks 0-2 hold a large absmax, block 3 does not */
                if (i >= 256) /* block 4: subnormals beside FLT_MIN */
                    v = i == 261 ? 0x1p-126f : ldexpf((i & 1) ? -1.0f : 1.0f, -127 - (int)(i % 3));
                put_f32_or_bf16(dts[d], in, i, v);
            }
            bad += compare_bnb4(vk, ref, f, 64, dts[d], in, cols, "underflowing products");
            free(in);
        }
    qk_context_destroy(ref);
    qk_context_destroy(vk);
    assert_int_equal(bad, 0);
}

/* NF4/FP4 dequantize of crafted parts (src/check) into every dtype: f16
 * outputs subnormal, normal, past f16's range and halfway between f16
 * values, beside zero codes. A vector of eight outputs that are all zero
 * or f16-normal narrows without the codec (qk_f16_plain in
 * bnb4_dequantize.comp), any other vector takes it: treating every vector
 * as plain fails here, as does rounding ties away from even. */
static void test_bnb4_dequantize_output_ranges(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    long bad = qkc_crafted_bnb4_dequantize(vk, "vulkan");
    qk_context_destroy(vk);
    assert_int_equal(bad, 0);
}

/* MXFP8 quantize of bf16/f16 by two lanes a block (mxfp8_quantize_lanes.comp):
 * rows whose blocks come in fours (scale words gathered by shuffles) and
 * rows that do not (each block ORs its byte), a last 8-vector past the
 * row (widths of 8 mod 16), padded rows, many rounds of the grid-stride
 * loop (3 workgroups) with its row wraps, and blocks of tiny bf16 (amax
 * below 2^-100: the dividing path). f32 input and widths that are not a
 * multiple of 8 keep mxfp8_quantize.comp. Each against the reference; the
 * lanes path must have run exactly where the device has subgroups of 8. */
static void test_mxfp8_lanes_paths(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    qk_context *ref = open_reference();
    int has_lanes = first_device()->cluster_max >= 8;
    static const struct {
        qk_dtype dt;
        int64_t rows, cols;
        const char *groups; /* QK_VULKAN_STRIDE_GROUPS, or NULL */
    } shapes[] = {
        {QK_DTYPE_BF16, 130, 1024, NULL}, {QK_DTYPE_F16, 263, 256, NULL}, {QK_DTYPE_BF16, 37, 200, NULL},
        {QK_DTYPE_F16, 33, 264, NULL},    {QK_DTYPE_BF16, 97, 1024, "3"}, {QK_DTYPE_F16, 70, 584, "3"},
        {QK_DTYPE_F32, 130, 256, NULL},   {QK_DTYPE_BF16, 5, 1001, NULL},
    };
    qk_params p;
    qk_params_default(QK_FORMAT_MXFP8, &p);
    size_t bad = 0;
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++)
        for (int tiny = 0; tiny < (shapes[k].dt == QK_DTYPE_F16 ? 1 : 2); tiny++) { /* f16 is never tiny */
            qk_dtype dt = shapes[k].dt;
            int64_t n = shapes[k].rows * shapes[k].cols;
            unsigned char *in = make_input(dt, n, (uint32_t)(k * 2 + (size_t)tiny + 40));
            if (tiny) /* every third value 2^-101 .. 2^-133, subnormals included */
                for (int64_t i = 0; i < n; i += 3)
                    put_f32_or_bf16(dt, in, i, ldexpf((i & 1) ? -1.5f : 1.0f, -101 - (int)(i % 33)));
            if (tiny) /* and whole rows of them: blocks with a tiny amax */
                for (int64_t i = 0; i < 2 * shapes[k].cols; i++)
                    put_f32_or_bf16(dt, in, i, ldexpf((i & 1) ? -1.0f : 1.0f, -101 - (int)(i % 33)));
            if (shapes[k].groups)
                setenv("QK_VULKAN_STRIDE_GROUPS", shapes[k].groups, 1);
            unsigned long before = qk_vk_mxfp8_lanes_runs();
            size_t b = compare_input(vk, ref, &p, dt, in, shapes[k].rows, shapes[k].cols);
            unsigned long runs = qk_vk_mxfp8_lanes_runs() - before;
            unsetenv("QK_VULKAN_STRIDE_GROUPS");
            int want = has_lanes && dt != QK_DTYPE_F32 && shapes[k].cols % 8 == 0;
            printf("mxfp8 %s %lld x %lld%s%s: %zu mismatching bytes, %s\n", qk_dtype_name(dt),
                   (long long)shapes[k].rows, (long long)shapes[k].cols, tiny ? ", tiny values" : "",
                   shapes[k].groups ? ", 3 workgroups" : "", b, runs ? "two lanes a block" : "a thread a block");
            bad += b;
            assert_int_equal(runs != 0, want);
            free(in);
        }
    if (!has_lanes)
        printf("note: the device offers no full subgroups of 8 or more: every block took a thread\n");
    qk_context_destroy(ref);
    qk_context_destroy(vk);
    assert_int_equal(bad, 0);
}

/* Whether the device gathers NVFP4 scale words by shuffles (full
 * subgroups of 4 or more); says so where it does not. */
static int nvfp4_has_gather(void)
{
    int has = first_device()->cluster_max >= 4;
    if (!has)
        printf("note: the device offers no full subgroups of 4 or more: every scale byte takes atomicOr\n");
    return has;
}

/* compare_input of NVFP4 rows of `cols`, printed after `what`; asserts
 * whether the scale words were gathered by shuffles. */
static size_t nvfp4_compare(qk_context *vk, qk_context *ref, qk_dtype dt, const void *in, int64_t rows,
                            int64_t cols, int want_gather, const char *what)
{
    qk_params p;
    qk_params_default(QK_FORMAT_NVFP4, &p);
    unsigned long before = qk_vk_nvfp4_gather_runs();
    size_t n = compare_input(vk, ref, &p, dt, in, rows, cols);
    unsigned long runs = qk_vk_nvfp4_gather_runs() - before;
    printf("%s, rows of %lld: %zu mismatching bytes, %s\n", what, (long long)cols, n,
           runs ? "scale words by shuffles" : "scale bytes by atomicOr");
    assert_int_equal(runs != 0, want_gather);
    return n;
}

/* NVFP4 quantize of bf16/f16 (scale byte and thresholds of a block from
 * nvfp4_table.comp, by its 16-bit amax): 2048 x 256 tensors whose 32768
 * blocks have every 16-bit magnitude up to the tensor's amax M as their
 * amax (block b: b, then M for the rest), the other 15 elements spread
 * below it, for M from T's largest value down to tiny ones (g normal and
 * subnormal); against the reference, the same blocks in rows of 256 (16
 * blocks: scale words gathered by shuffles) and of 16 (one block a row:
 * scale bytes by atomicOr). The shuffles must have run exactly for the
 * rows of 256 where the device has full subgroups of 4 or more. */
static void test_nvfp4_every_block_amax(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    qk_context *ref = open_reference();
    static const uint16_t amax_bf16[] = {0x7F7Fu, 0x3F80u, 0x0A00u, 0x0080u};
    static const uint16_t amax_f16[] = {0x7BFFu, 0x3C00u, 0x0800u, 0x0010u};
    int has_gather = nvfp4_has_gather();
    const int64_t rows = 2048, cols = 256;
    size_t bad = 0;
    unsigned char *in = malloc((size_t)(rows * cols) * 2);
    for (int d = 0; d < 2; d++)
        for (size_t a = 0; a < 4; a++) {
            qk_dtype dt = d == 0 ? QK_DTYPE_BF16 : QK_DTYPE_F16;
            uint32_t top = d == 0 ? amax_bf16[a] : amax_f16[a];
            for (int64_t b = 0; b < rows * cols / 16; b++) {
                uint32_t m = b <= (int64_t)top ? (uint32_t)b : top, x = 2654435761u * (uint32_t)(b + 1);
                for (int i = 0; i < 16; i++) {
                    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
                    uint32_t v = i == (int)(b % 16) ? m : (m == 0 ? 0 : x % (m + 1)); /* at most m */
                    uint16_t h = (uint16_t)(v | ((x >> 7) & 1u) << 15);
                    memcpy(in + 2 * (b * 16 + i), &h, 2);
                }
            }
            char what[80];
            snprintf(what, sizeof what, "nvfp4 %s, every block amax up to 0x%04x", qk_dtype_name(dt), top);
            for (int64_t w = cols; w >= 16; w /= 16)
                bad += nvfp4_compare(vk, ref, dt, in, rows * cols / w, w, has_gather && w == cols, what);
        }
    free(in);
    qk_context_destroy(ref);
    qk_context_destroy(vk);
    assert_int_equal(bad, 0);
}

/* The reference's NVFP4 scale byte of an f32 block amax m under g. */
static uint32_t nvfp4_scale_byte(uint32_t m, uint32_t g)
{
    uint32_t s = qk_fdiv(qk_fdiv(m, QK_F32_E2M1_MAX), g);
    return qk_f32_to_e4m3(s > QK_F32_E4M3_MAX ? QK_F32_E4M3_MAX : s);
}

/* NVFP4 quantize of f32 (a block's scale byte guessed by a product, proved
 * by the amax thresholds of nvfp4_table.comp, else the exact steps): for
 * tensor amaxes that make g subnormal, normal and huge, blocks whose amax
 * is each scale byte's least amax and its neighbours (found on the host
 * by a binary search on the reference's steps), the other 15 elements
 * spread below it; in rows of 256 (scale words by shuffles), 80 (five
 * blocks: atomicOr), 16 (a block a row) and 20 (a whole block, then a
 * partial one on the per-block path). */
static void test_nvfp4_f32_scale_thresholds(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    qk_context *ref = open_reference();
    static const float amaxes[] = {1e-36f, 3e-30f, 1.0f, 7.25e3f, 1e20f, 3.0e38f};
    int has_gather = nvfp4_has_gather();
    const int64_t nb = 16 * 32; /* blocks: 3 a scale byte (126 of them) and the tensor's amax */
    uint32_t *in = malloc((size_t)nb * 16 * 4);
    size_t bad = 0;
    for (size_t a = 0; a < sizeof amaxes / sizeof *amaxes; a++) {
        uint32_t top;
        memcpy(&top, &amaxes[a], 4);
        uint32_t g = qk_nvfp4_global_scale(QK_DTYPE_F32, top), x = 0x9E3779B9u;
        int64_t b = 0, placed = 0;
        for (uint32_t k = 1; k <= 0x7Eu; k++) {
            uint32_t lo = 0, hi = QK_F32_INF; /* the least amax of byte k or more */
            while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (nvfp4_scale_byte(mid, g) >= k)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            for (uint32_t d = 0; d < 3; d++) {
                uint32_t m = lo + d - 1;
                if (lo == 0 || m > top)
                    continue;
                for (int i = 0; i < 16; i++) {
                    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
                    uint32_t v = i == (int)(b % 16) ? m : (m == 0 ? 0 : x % (m + 1)); /* at most m */
                    in[b * 16 + i] = v | (x & 0x80000000u);
                }
                b++;
                placed++;
            }
        }
        for (; b < nb; b++) /* the tensor's amax, which sets g */
            for (int i = 0; i < 16; i++)
                in[b * 16 + i] = i == (int)(b % 16) ? top : 0u;
        static const int64_t widths[] = {256, 80, 16, 20};
        for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
            int64_t cols = widths[w];
            char what[96];
            snprintf(what, sizeof what, "nvfp4 f32, amax %-8g g 0x%08x, %lld blocks at scale-byte thresholds",
                     (double)amaxes[a], g, (long long)placed);
            bad += nvfp4_compare(vk, ref, QK_DTYPE_F32, in, nb * 16 / cols, cols, has_gather && cols == 256, what);
        }
        assert_true(placed > 100);
    }
    free(in);
    qk_context_destroy(ref);
    qk_context_destroy(vk);
    assert_int_equal(bad, 0);
}

/* NVFP4 dequantize (nvfp4_dequantize.comp into bf16/f16 rows of whole
 * vectors, blocked_dequantize.comp otherwise): every scale byte with every
 * code under g through every binade and special g (qkc_nvfp4_every_scale_code),
 * then shapes with a partial last block (cols 8 past a multiple of 16),
 * rows past a 128-row tile, narrow and odd rows, 3 workgroups (many
 * grid-stride rounds). */
static void test_nvfp4_dequantize_every_scale_code(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    unsigned long before = qk_vk_nvfp4_dq_runs();
    long bad = qkc_nvfp4_every_scale_code(vk, "vulkan");
    unsigned long runs = qk_vk_nvfp4_dq_runs() - before;
    static const struct {
        int64_t rows, cols;
        const char *groups;
    } shapes[] = {{131, 264, NULL}, {300, 8, NULL}, {129, 2056, "3"}, {1, 24, NULL}, {257, 40, "3"}, {7, 4104, NULL}};
    static const qk_dtype dts[] = {QK_DTYPE_BF16, QK_DTYPE_F16};
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++)
        for (size_t d = 0; d < 2; d++) {
            if (shapes[k].groups)
                setenv("QK_VULKAN_STRIDE_GROUPS", shapes[k].groups, 1);
            bad += qkc_nvfp4_dequantize_case(vk, "vulkan", dts[d], shapes[k].rows, shapes[k].cols,
                                             0x3B800000u | (uint32_t)k, (uint32_t)(k * 5 + d));
            unsetenv("QK_VULKAN_STRIDE_GROUPS");
        }
    printf("nvfp4 dequantize: %lu calls of the sweeps on nvfp4_dequantize.comp, %ld cases differ\n", runs, bad);
    assert_true(runs >= 2 * 128); /* bf16 and f16 took the new shader */
    qk_context_destroy(vk);
    assert_int_equal(bad, 0);
}

/* ConvRot's native sums (convrot.comp): rows of 2048 values, one
 * workgroup each, on both sides of the range where the butterflies add
 * natively (zero or 2^-103 <= |x| < 2^(127 - 2 levels)): full-significand
 * values at and just below 2^-103 that cancel in pairs, tiny normals whose
 * sums are subnormal, values at and above the upper bound, signed zeros, one
 * subnormal in an ordinary row. Quantize, then dequantize of the
 * reference's parts, against the reference, for every group size. Row 2's
 * scale is subnormal, so a flushed sum there changes codes: a device that
 * flushes (NVIDIA may; lavapipe does not) fails if tiny rows add natively. */
static float convrot_row_value(int row, int i, uint32_t r)
{
    float sign = (i & 1) ? -1.0f : 1.0f, frac = 1.0f + (float)(r & 0x7FFFFFu) * 0x1p-23f;
    switch (row) {
    case 0: return sign * frac * 0x1p-103f;                   /* lowest native magnitudes */
    case 1: return sign * frac * (i % 3 ? 0x1p-103f : 0x1p-104f); /* some below: exact sums */
    case 2: return sign * (0x1p-125f + (float)(i % 7) * 0x1p-140f); /* subnormal sums, codes see them */
    case 3: return sign * frac * 0x1p+110f;                   /* large, native up to G = 256 */
    case 4: return sign * frac * 0x1p+116f;                   /* above the bound for G >= 256 */
    case 5: return (i % 5 == 0) ? (i & 2 ? -0.0f : 0.0f) : sign * frac * 0.01f;
    case 6: return i == 517 ? 1.0e-40f : sign * frac * 0.01f;
    default: return sign * frac * 0.25f;
    }
}

/* int8_tensorwise row scales with ConvRot groups of g, and its layout. */
static void convrot_row_params(int g, int64_t rows, int64_t cols, qk_params *p, qk_layout *lay)
{
    qk_params_default(QK_FORMAT_INT8_TENSORWISE, p);
    p->scaling = QK_SCALING_ROW;
    p->convrot_group = g;
    assert_int_equal(qk_layout_query(p, rows, cols, lay), QK_OK);
}

static void test_convrot_native_bounds(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    qk_context *ref = open_reference();
    const int64_t rows = 8, cols = 2048; /* a workgroup's span */
    size_t bad = 0;
    for (int d = 0; d < 2; d++) {
        qk_dtype dt = d ? QK_DTYPE_BF16 : QK_DTYPE_F32;
        size_t es = qk_dtype_size(dt), on = (size_t)(rows * cols) * es;
        unsigned char *in = malloc(on);
        uint32_t r = 12345u;
        for (int64_t i = 0; i < rows * cols; i++) {
            r = r * 1664525u + 1013904223u;
            put_f32_or_bf16(dt, in, i, convrot_row_value((int)(i / cols), (int)(i % cols), r));
        }
        for (int g = 4; g <= 1024; g *= 4) {
            qk_params p;
            qk_layout lay;
            convrot_row_params(g, rows, cols, &p, &lay);
            size_t b = compare_input(vk, ref, &p, dt, in, rows, cols);
            void *parts[QK_PART_COUNT] = {0};
            for (int k = 0; k < QK_PART_COUNT; k++)
                parts[k] = lay.part[k].nbytes ? malloc(lay.part[k].nbytes) : NULL;
            assert_int_equal(qk_quantize(ref, &p, dt, in, rows, cols, parts), QK_OK);
            unsigned char *dw = malloc(on), *dg = malloc(on);
            memset(dg, 0x5A, on);
            const void *cp[QK_PART_COUNT] = {parts[0], parts[1], parts[2], parts[3]};
            assert_int_equal(qk_dequantize(ref, &p, cp, rows, cols, dt, dw), QK_OK);
            if (qk_dequantize(vk, &p, cp, rows, cols, dt, dg) != QK_OK)
                b++;
            else
                for (size_t i = 0; i < on; i++)
                    b += dw[i] != dg[i];
            printf("convrot %4d %s, native bounds: %zu mismatching bytes\n", g, qk_dtype_name(dt), b);
            bad += b;
            free(dw);
            free(dg);
            for (int k = 0; k < QK_PART_COUNT; k++)
                free(parts[k]);
        }
        free(in);
    }
    qk_context_destroy(ref);
    qk_context_destroy(vk);
    assert_int_equal(bad, 0);
}

/* ---- ConvRot per row in one pass (convrot_row_quantize*.comp) ----------
 * Against the "reference" backend, byte for byte: every group size, f32,
 * f16 and bf16, row counts from 1 to 300 and widths up to 4096 (rows of
 * one to four 1024-value sets, the last one partial), and 5120 and 1000,
 * which the fused shaders refuse (the rotated copy and the row shader).
 * Rows cycle through kinds that keep the native sums and kinds that send
 * a thread (G <= 16) or the row (G >= 64) down the exact path. Then the
 * exact coder (QK_VULKAN_PRODUCTS=0), two workgroups over every row (the
 * per-row words in shared memory turn over), and rows holding NaN, Inf or
 * rotating past f16's range, which must be refused as the reference
 * refuses them. */

/* Element i of a buffer of dtype dt set to v, rounded to nearest even
 * (f16: |v| < 65520). */
static void put_value(qk_dtype dt, unsigned char *buf, int64_t i, float v)
{
    uint32_t u = bits_of(v);
    if (dt == QK_DTYPE_F32)
        memcpy(buf + 4 * i, &u, 4);
    else if (dt == QK_DTYPE_BF16)
        memcpy(buf + 2 * i, &(uint16_t){(uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16)}, 2);
    else
        memcpy(buf + 2 * i, &(uint16_t){(uint16_t)(((u >> 16) & 0x8000u) | dt_bits(dt, fabsf(v)))}, 2);
}

/* Value c of row r: the row's kind is r % 6. f32/bf16 rows of kinds 1-4
 * leave the native range ([2^(L-103), 2^(127-2L)) or zero); f16 cannot
 * (its values lie inside it) but rounds its rotated values into its
 * subnormals and near its largest values. */
static float convrot_fused_value(qk_dtype dt, int64_t r, int64_t c, uint32_t x)
{
    int f16 = dt == QK_DTYPE_F16;
    float sign = (x & 1u) ? -1.0f : 1.0f, frac = 1.0f + (float)((x >> 1) & 0x7FFFFFu) * 0x1p-23f;
    float weight = sign * frac * 0.03f;
    switch (r % 6) {
    case 0: return (x >> 24) % 97 == 0 ? sign * 0.9f : (x >> 24) % 89 == 0 ? 0.0f : weight;
    case 1: return c == 5 * (r % 7) + 3 ? sign * (f16 ? 3e-7f : 1e-39f) : weight; /* one subnormal */
    case 2: return sign * frac * (f16 ? 0x1p-20f : ldexpf(1.0f, -100 + (int)(x >> 29))); /* 2^-100 .. 2^-93 */
    case 3: return c == r % 16 ? sign * (f16 ? 60000.0f : 0x1.8p126f) : weight; /* one huge value */
    case 4: return sign * frac * (f16 ? 900.0f : 0x1p118f); /* out of range for G = 1024 only */
    default: return (x >> 24) % 3 == 0 ? (x & 2u ? -0.0f : 0.0f) : weight;
    }
}

static unsigned char *convrot_fused_input(qk_dtype dt, int64_t rows, int64_t cols, uint32_t seed)
{
    unsigned char *in = malloc((size_t)(rows * cols) * qk_dtype_size(dt));
    uint32_t x = seed * 2654435761u + 12345u;
    for (int64_t i = 0; i < rows * cols; i++) {
        x = x * 1664525u + 1013904223u;
        put_value(dt, in, i, convrot_fused_value(dt, i / cols, i % cols, x));
    }
    return in;
}

typedef struct {
    size_t differing; /* bytes, or 1 for a status that differs */
    int cases, fused, refused;
} convrot_tally;

/* One quantize on both contexts: the same status, and where it is QK_OK
 * the same bytes in every part. Checks that the fused shaders ran exactly
 * where they take the shape. */
static void convrot_fused_case(qk_context *vk, qk_context *ref, qk_dtype dt, const void *in, int64_t rows,
                               int64_t cols, int g, const char *note, convrot_tally *t)
{
    qk_params p;
    qk_layout lay;
    convrot_row_params(g, rows, cols, &p, &lay);
    void *want[QK_PART_COUNT], *got[QK_PART_COUNT];
    parts_alloc(&lay, want, got);
    unsigned long runs = qk_vk_convrot_fused_runs();
    qk_status sr = qk_quantize(ref, &p, dt, in, rows, cols, want);
    qk_status sv = qk_quantize(vk, &p, dt, in, rows, cols, got);
    int fused = qk_vk_convrot_fused_runs() != runs;
    size_t b = sv != sr;
    if (sr == QK_OK && sv == QK_OK)
        b += parts_differ(&lay, want, got);
    if (b != 0 || sr != QK_OK)
        printf("convrot %4d %-4s %3lld x %-4lld%s: reference %s, vulkan %s, %zu differing bytes\n", g,
               qk_dtype_name(dt), (long long)rows, (long long)cols, note, qk_status_string(sr),
               qk_status_string(sv), b);
    int want_fused = cols % 16 == 0 && cols <= QK_VK_CONVROT_ROW_MAX &&
                     first_device()->props.limits.maxComputeSharedMemorySize >= QK_VK_CONVROT_ROW_SHARED;
    assert_int_equal(fused, want_fused);
    t->differing += b;
    t->cases++;
    t->fused += fused;
    t->refused += sr == QK_ERR_NONFINITE;
    parts_free(want, got);
}

/* Rows of one kind each holding NaN, +Inf or -Inf at c, and f16 rows whose
 * rotation rounds past 65504 (a, a, a, -a gives 2a in G = 4): refused. */
static void convrot_fused_refusals(qk_context *vk, qk_context *ref, convrot_tally *t)
{
    static const qk_dtype dts[] = {QK_DTYPE_F32, QK_DTYPE_F16, QK_DTYPE_BF16};
    static const uint32_t f32[] = {0x7FC00000u, 0x7F800000u, 0xFF800000u};
    static const uint16_t f16[] = {0x7E00u, 0x7C00u, 0xFC00u}, bf16[] = {0x7FC0u, 0x7F80u, 0xFF80u};
    const int64_t rows = 9, cols = 1024;
    for (int g = 4; g <= 1024; g *= 4)
        for (int d = 0; d < 3; d++)
            for (int k = 0; k < 3; k++) {
                qk_dtype dt = dts[d];
                unsigned char *in = convrot_fused_input(dt, rows, cols, (uint32_t)(g + d));
                int64_t at = 4 * cols + 517; /* row 4 */
                if (dt == QK_DTYPE_F32)
                    memcpy(in + 4 * at, &f32[k], 4);
                else
                    memcpy(in + 2 * at, dt == QK_DTYPE_F16 ? &f16[k] : &bf16[k], 2);
                const char *what[] = {", NaN", ", +Inf", ", -Inf"};
                convrot_fused_case(vk, ref, dt, in, rows, cols, g, what[k], t);
                free(in);
            }
    unsigned char *in = convrot_fused_input(QK_DTYPE_F16, rows, cols, 5);
    for (int64_t c = 0; c < cols; c++)
        put_value(QK_DTYPE_F16, in, 2 * cols + c, c % 4 == 3 ? -60000.0f : 60000.0f);
    convrot_fused_case(vk, ref, QK_DTYPE_F16, in, rows, cols, 4, ", f16 overflow", t);
    free(in);
}

static void test_convrot_fused_rows(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    qk_context *ref = NULL;
    assert_int_equal(qk_context_create("reference", 0, &ref), QK_OK);
    static const struct {
        int64_t rows, cols;
    } shapes[] = {{1, 16}, {7, 64}, {33, 1024}, {300, 256}, {5, 1040}, {9, 2048},
                  {3, 2560}, {13, 3072}, {17, 4096}, {4, 5120}, {6, 1000}};
    static const qk_dtype dts[] = {QK_DTYPE_F32, QK_DTYPE_F16, QK_DTYPE_BF16};
    convrot_tally t = {0, 0, 0, 0};
    for (int g = 4; g <= 1024; g *= 4)
        for (int d = 0; d < 3; d++)
            for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
                int64_t rows = shapes[k].rows, cols = shapes[k].cols;
                if (cols % g != 0)
                    continue;
                unsigned char *in = convrot_fused_input(dts[d], rows, cols, (uint32_t)(k * 7 + d));
                convrot_fused_case(vk, ref, dts[d], in, rows, cols, g, "", &t);
                if (cols == 1024 || cols == 4096) {
                    if (dts[d] != QK_DTYPE_F32) { /* f32 codes by the exact coder anyway */
                        setenv("QK_VULKAN_PRODUCTS", "0", 1);
                        convrot_fused_case(vk, ref, dts[d], in, rows, cols, g, ", exact coder", &t);
                        unsetenv("QK_VULKAN_PRODUCTS");
                    }
                    setenv("QK_VULKAN_STRIDE_GROUPS", "2", 1); /* read at every dispatch */
                    convrot_fused_case(vk, ref, dts[d], in, rows, cols, g, ", 2 workgroups", &t);
                    unsetenv("QK_VULKAN_STRIDE_GROUPS");
                }
                free(in);
            }
    convrot_fused_refusals(vk, ref, &t);
    printf("convrot fused rows: %zu differences (%d cases, %d on the fused shaders, %d refused by both)\n",
           t.differing, t.cases, t.fused, t.refused);
    qk_context_destroy(ref);
    qk_context_destroy(vk);
    assert_int_equal(t.differing, 0);
}

/* ---- ConvRot quantize in one pass, 64 values a thread (convrot_quantize.comp)
 * Against the reference: rows of 64 to 4096 of whole 64-value runs and
 * groups (64 rows to one a workgroup's step, steps that leave threads
 * idle, row amax shuffles over 1 to 16 invocations), every G up to 256
 * and dtype, many grid-stride steps (one to three workgroups). Row kinds:
 * convrot_fused_value's (typical, one subnormal, tiny, one huge value,
 * zeros), and rows all zero (amax 0), all subnormal or tiny (a subnormal
 * or tiny amax: f32/bf16 exact path), all large (f32/bf16 beyond the
 * native range of G = 256), and rows whose threads or teams alternate
 * between the native and exact paths. Then the exact coder
 * (QK_VULKAN_PRODUCTS=0) and rows holding NaN or Inf (refused as the
 * reference refuses them). Rows of whole 256-value blocks take
 * convrot_quantize256.comp (teams of eight, 12 to 28 of them a workgroup
 * by the row width: 256 * teams / cols rows a step, an idle team at 768,
 * teams of both paths in a row and a subgroup; every G up to 256; each
 * shape again at another size), and run again with QK_VULKAN_CONVROT_Q256=0 on
 * convrot_quantize.comp (G up to 64) or convrot_row_quantize.comp; rows
 * of whole 64-value runs with G up to 64 take convrot_quantize256.comp's
 * _part builds (rows packed end to end: a team's four runs from up to
 * four rows, rows past the chunk's end in its last step), and run again
 * on convrot_quantize.comp (QK_VULKAN_CONVROT_Q256_PART=0) and on
 * convrot_row_quantize*.comp (QK_VULKAN_CONVROT_Q=0 as well). */
static float convrot_q_value(qk_dtype dt, int64_t r, int64_t c, uint32_t x)
{
    int f16 = dt == QK_DTYPE_F16;
    float sign = (x & 1u) ? -1.0f : 1.0f, frac = 1.0f + (float)((x >> 1) & 0x7FFFFFu) * 0x1p-23f;
    switch (r % 10) {
    case 6: return sign * 0.0f;
    case 7: return sign * frac * (f16 ? 0x1p-20f : 0x1p-140f); /* f16: subnormal values, native */
    case 8: return sign * frac * (f16 ? 2000.0f : 0x1p120f);
    case 9: /* every other 64-value run (and 256-value group) tiny: mixed paths */
        return (c / 64 + c / 256) % 2 ? sign * frac * (f16 ? 0x1p-23f : 0x1p-110f) : sign * frac * 0.03f;
    default: return convrot_fused_value(dt, r % 6, c, x);
    }
}

/* Whether the first device runs the ConvRot shaders that need full
 * subgroups of 4 to 64 invocations (vk_ops.c: convrot_q_rows and the
 * dequantize's test). */
static int full_subgroups_4_to_64(void)
{
    const qk_vk_device *dev = first_device();
    return dev->cluster_max >= 4 && dev->subgroup_max != 0 && 64 % dev->subgroup_max == 0;
}

/* Whether the first device runs convrot_quantize256.comp (vk_ops.c:
 * convrot_q256_rows: full subgroups of 8 to 128 invocations). */
static int full_subgroups_8_to_128(void)
{
    const qk_vk_device *dev = first_device();
    return dev->cluster_max >= 8 && dev->subgroup_max != 0 && 128 % dev->subgroup_max == 0;
}

/* f16 rows that convrot_quantize256.comp takes, again on its other f16
 * builds: with QK_VULKAN_F16_NATIVE flipped from the device's default (so a
 * device with the _f16n build runs both ways), and where the device keeps
 * f16 denormals (its default: _f16d) on _f16n as well. The cases run. */
static int convrot_q256_f16_builds(qk_context *vk, qk_context *ref, const void *in, int64_t rows, int64_t cols,
                                   int g, const char *part, convrot_tally *t)
{
    const qk_vk_device *dev = first_device();
    int gpu = dev->props.deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU, n = 0;
    char note[64];
    if (dev->f16_native) {
        setenv("QK_VULKAN_F16_NATIVE", gpu ? "0" : "1", 1);
        snprintf(note, sizeof note, "%s%s", part, gpu ? ", f16 by integers" : ", f16 native");
        convrot_fused_case(vk, ref, QK_DTYPE_F16, in, rows, cols, g, note, t);
        unsetenv("QK_VULKAN_F16_NATIVE");
        n++;
    }
    if (dev->f16_denorms) {
        setenv("QK_VULKAN_F16_NATIVE", "1", 1);
        setenv("QK_VULKAN_F16_DENORMS", "0", 1);
        snprintf(note, sizeof note, "%s, f16n", part);
        convrot_fused_case(vk, ref, QK_DTYPE_F16, in, rows, cols, g, note, t);
        unsetenv("QK_VULKAN_F16_DENORMS");
        unsetenv("QK_VULKAN_F16_NATIVE");
        n++;
    }
    return n;
}

static void test_convrot_quantize_rows(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    qk_context *ref = open_reference();
    /* teams: those of convrot_quantize256.comp's workgroup for these rows
       (vk_ops.c, convrot_q256_teams), where the device fits every size */
    static const struct {
        int64_t rows, cols;
        const char *groups;
        unsigned teams;
    } shapes[] = {{200, 64, "1", 16}, {70, 192, "2", 16}, {300, 256, "3", 16}, {33, 768, NULL, 16},
                  {41, 1024, "2", 16}, {13, 3072, NULL, 12}, {37, 4096, "3", 16}, {1, 128, NULL, 16},
                  {9, 4032, NULL, 16}, {45, 320, "2", 16},
                  /* the _part builds pack rows end to end: rows of 7 and 9 runs cross teams at every
                     run, and one of 33 runs leaves a sixth of the workgroup idle */
                  {23, 448, "1", 16}, {16, 576, NULL, 16}, {5, 2112, "1", 20}, {29, 640, "2", 16}};
    static const qk_dtype dts[] = {QK_DTYPE_F32, QK_DTYPE_F16, QK_DTYPE_BF16};
    static const uint32_t f32[] = {0x7FC00000u, 0x7F800000u, 0xFF800000u};
    static const uint16_t f16[] = {0x7E00u, 0x7C00u, 0xFC00u}, bf16[] = {0x7FC0u, 0x7F80u, 0xFF80u};
    unsigned long before = qk_vk_convrot_q_runs(), before256 = qk_vk_convrot_q256_runs();
    /* dispatches of the _f16n and _f16d builds, the only ones these rows
     * can take (each f16 case runs on them: convrot_q256_f16_builds) */
    unsigned long f16n_before = qk_vk_f16n_dispatches(), f16d_before = qk_vk_f16d_dispatches();
    const qk_vk_device *dev = first_device();
    convrot_tally t = {0, 0, 0, 0};
    int eligible = 0, eligible256 = 0, able = full_subgroups_4_to_64(), able256 = full_subgroups_8_to_128();
    /* workgroups of 12, 20 and 28 teams (96, 160, 224 invocations) fit as well */
    const VkPhysicalDeviceLimits *lim = &dev->props.limits;
    int every_size = able256 && 32 % dev->subgroup_max == 0 && lim->maxComputeWorkGroupInvocations >= 224 &&
                     lim->maxComputeWorkGroupSize[0] >= 224 &&
                     lim->maxComputeSharedMemorySize >= (256 * 28 + 12 * 28 + 512) * 4;
    for (int g = 4; g <= 256; g *= 4)
        for (int d = 0; d < 3; d++)
            for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
                int64_t rows = shapes[k].rows, cols = shapes[k].cols;
                if (cols % g != 0)
                    continue;
                qk_dtype dt = dts[d];
                /* convrot_quantize256.comp where the rows are whole 256-value blocks; other
                   rows of whole 64-value runs, G up to 64, on its _part builds */
                int on_256 = cols % 256 == 0, part = g <= 64 && !on_256;
                size_t es = qk_dtype_size(dt);
                unsigned char *in = malloc((size_t)(rows * cols) * es);
                uint32_t x = (uint32_t)(k * 11 + (size_t)d + (size_t)g) * 2654435761u + 7u;
                for (int64_t i = 0; i < rows * cols; i++) {
                    x = x * 1664525u + 1013904223u;
                    put_value(dt, in, i, convrot_q_value(dt, i / cols, i % cols, x));
                }
                if (shapes[k].groups)
                    setenv("QK_VULKAN_STRIDE_GROUPS", shapes[k].groups, 1);
                unsigned long d_q = qk_vk_convrot_q_runs(), d_q256 = qk_vk_convrot_q256_runs();
                convrot_fused_case(vk, ref, dt, in, rows, cols, g, part ? ", part" : "", &t);
                eligible256 += on_256 || part;
                if ((on_256 || part) && able256) {
                    if (every_size)
                        assert_int_equal(qk_vk_convrot_q256_last_teams(), shapes[k].teams);
                    /* again with a workgroup of another size: 16 teams (the fixed size it had)
                       or, where the rule picks 16, one of 12, 20 and 28 by turns (28 where the
                       turn's size cannot hold the row; idle teams past the step's rows) */
                    static const unsigned other[] = {12, 20, 28};
                    unsigned alt = qk_vk_convrot_q256_last_teams() != 16 ? 16
                                   : 256 * (int64_t)other[k % 3] >= cols ? other[k % 3]
                                                                          : 28;
                    char teams[8];
                    snprintf(teams, sizeof teams, "%u", alt);
                    setenv("QK_VULKAN_CONVROT_Q256_TEAMS", teams, 1);
                    convrot_fused_case(vk, ref, dt, in, rows, cols, g, part ? ", part, other size" : ", other size",
                                       &t);
                    unsetenv("QK_VULKAN_CONVROT_Q256_TEAMS");
                    if (every_size)
                        assert_int_equal(qk_vk_convrot_q256_last_teams(), alt);
                    eligible256++;
                }
                if (part) {
                    /* by default on the _part builds, where the device runs them */
                    assert_true((qk_vk_convrot_q256_runs() > d_q256) == able256 &&
                                (qk_vk_convrot_q_runs() > d_q) == (!able256 && able));
                    /* the same rows on convrot_quantize.comp */
                    setenv("QK_VULKAN_CONVROT_Q256_PART", "0", 1);
                    convrot_fused_case(vk, ref, dt, in, rows, cols, g, ", part off", &t);
                    setenv("QK_VULKAN_PRODUCTS", "0", 1);
                    convrot_fused_case(vk, ref, dt, in, rows, cols, g, ", part off, exact coder", &t);
                    unsetenv("QK_VULKAN_PRODUCTS");
                    eligible += 2;
                    /* and on convrot_row_quantize*.comp */
                    unsigned long q_before = qk_vk_convrot_q_runs(), q256_before = qk_vk_convrot_q256_runs();
                    setenv("QK_VULKAN_CONVROT_Q", "0", 1);
                    convrot_fused_case(vk, ref, dt, in, rows, cols, g, ", Q off", &t);
                    unsetenv("QK_VULKAN_CONVROT_Q");
                    unsetenv("QK_VULKAN_CONVROT_Q256_PART");
                    assert_true(qk_vk_convrot_q_runs() == q_before && qk_vk_convrot_q256_runs() == q256_before);
                }
                { /* every dtype codes by products (f32 by qk_int8_codes4_f32): the exact coder too */
                    setenv("QK_VULKAN_PRODUCTS", "0", 1);
                    convrot_fused_case(vk, ref, dt, in, rows, cols, g, ", exact coder", &t);
                    unsetenv("QK_VULKAN_PRODUCTS");
                    eligible256 += on_256 || part;
                }
                if ((on_256 || part) && dt == QK_DTYPE_F16)
                    eligible256 += convrot_q256_f16_builds(vk, ref, in, rows, cols, g, part ? ", part" : "", &t);
                if (on_256) { /* the same rows on convrot_quantize.comp or convrot_row_quantize.comp */
                    setenv("QK_VULKAN_CONVROT_Q256", "0", 1);
                    convrot_fused_case(vk, ref, dt, in, rows, cols, g, ", Q256 off", &t);
                    unsetenv("QK_VULKAN_CONVROT_Q256");
                    eligible += g <= 64;
                }
                if (cols == 1024 || cols == 192) { /* NaN, +Inf, -Inf in a row: refused */
                    for (int n = 0; n < 3; n++) {
                        int64_t at = (rows / 2) * cols + (n * 97 + 5) % cols;
                        unsigned char keep[4];
                        memcpy(keep, in + (size_t)at * es, es);
                        memcpy(in + (size_t)at * es, dt == QK_DTYPE_F32 ? (const void *)&f32[n]
                                                     : dt == QK_DTYPE_F16 ? (const void *)&f16[n] : (const void *)&bf16[n], es);
                        convrot_fused_case(vk, ref, dt, in, rows, cols, g, n ? ", Inf" : ", NaN", &t);
                        memcpy(in + (size_t)at * es, keep, es);
                        eligible256 += on_256 || part;
                    }
                }
                unsetenv("QK_VULKAN_STRIDE_GROUPS");
                free(in);
            }
    { /* convrot_quantize256.comp's bf16 scalars table: one value a row, so the rotated amax is |v| / 16,
         every table entry (1 + k / 128) at exponents on both sides of its range [-90, 100] */
        static const int es[] = {-115, -100, -92, -87, -86, -40, 0, 40, 104, 105, 122};
        const int64_t cols = 256, rows = 128 * (int64_t)(sizeof es / sizeof *es);
        unsigned char *in = calloc((size_t)(rows * cols), 2);
        for (int64_t r = 0; r < rows; r++)
            put_value(QK_DTYPE_BF16, in, r * cols + (r * 37) % cols,
                      (r & 1 ? -1.0f : 1.0f) * ldexpf(1.0f + (float)(r % 128) / 128.0f, es[r / 128]));
        convrot_fused_case(vk, ref, QK_DTYPE_BF16, in, rows, cols, 256, ", amax table", &t);
        setenv("QK_VULKAN_PRODUCTS", "0", 1);
        convrot_fused_case(vk, ref, QK_DTYPE_BF16, in, rows, cols, 256, ", amax table, exact coder", &t);
        unsetenv("QK_VULKAN_PRODUCTS");
        /* fewer invocations than entries: each fills more than one */
        setenv("QK_VULKAN_CONVROT_Q256_TEAMS", "12", 1);
        convrot_fused_case(vk, ref, QK_DTYPE_BF16, in, rows, cols, 256, ", amax table, 12 teams", &t);
        unsetenv("QK_VULKAN_CONVROT_Q256_TEAMS");
        eligible256 += 3;
        free(in);
    }
    unsigned long runs = qk_vk_convrot_q_runs() - before, runs256 = qk_vk_convrot_q256_runs() - before256;
    unsigned long f16n_runs = qk_vk_f16n_dispatches() - f16n_before, f16d_runs = qk_vk_f16d_dispatches() - f16d_before;
    printf("convrot quantize: %zu differences (%d cases, %lu on convrot_quantize.comp of %d eligible, %lu on "
           "convrot_quantize256.comp of %d eligible, %d refused by both)\n",
           t.differing, t.cases, runs, eligible, runs256, eligible256, t.refused);
    if (!able)
        printf("(this device has no full subgroups of 4 to 64 invocations: convrot_row_quantize*.comp took them all)\n");
    if (!able256)
        printf("(this device has no full subgroups of 8 to 128 invocations: G = 256 took convrot_row_quantize*.comp)\n");
    printf("convrot_quantize256_f16n and _f16d: %lu dispatches, _f16d alone: %lu\n", f16n_runs, f16d_runs);
    if (!dev->f16_native)
        printf("(this device lacks shaderFloat16 or the 16-bit float controls: convrot_quantize256_f16n not run, "
               "f16 took the integer rounding)\n");
    if (!dev->f16_denorms)
        printf("(this device has no DenormPreserve for f16 with denormal controls independent of width: "
               "convrot_quantize256_f16d not run)\n");
    qk_context_destroy(ref);
    qk_context_destroy(vk);
    assert_int_equal(t.differing, 0);
    assert_true(dev->f16_native && able256 ? f16n_runs > 0 : f16n_runs == 0);
    assert_true(dev->f16_denorms && able256 ? f16d_runs > 0 && f16d_runs < f16n_runs : f16d_runs == 0);
    assert_true(able ? runs >= (unsigned long)eligible : runs == 0);
    assert_true(able256 ? runs256 >= (unsigned long)eligible256 : runs256 == 0);
}

/* ---- ConvRot quantize rows of convrot_row_quantize*.comp, many a workgroup
 * Shapes only those shaders take (rows of 1040 values, not whole 64-value
 * runs; G = 1024) on one workgroup (QK_VULKAN_STRIDE_GROUPS=1), rows of
 * convrot_q_value's kinds (the exact path among them): lavapipe ends every
 * loop of an invocation once it has run 65535 iterations in all, so before
 * the host bounded a workgroup's steps a dispatch (QK_VK_CONVROT_STEPS)
 * every f32 case here went wrong from some row on. */
static void test_convrot_row_quantize_many_rows(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    qk_context *ref = open_reference();
    static const struct {
        int64_t rows, cols;
        int g;
    } shapes[] = {{150, 1040, 4}, {150, 1040, 16}, {60, 4096, 1024}, {120, 1024, 1024}};
    static const qk_dtype dts[] = {QK_DTYPE_F32, QK_DTYPE_BF16};
    unsigned long before = qk_vk_convrot_q_runs();
    convrot_tally t = {0, 0, 0, 0};
    setenv("QK_VULKAN_STRIDE_GROUPS", "1", 1); /* read at every dispatch */
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++)
        for (int d = 0; d < 2; d++) {
            int64_t rows = shapes[k].rows, cols = shapes[k].cols;
            qk_dtype dt = dts[d];
            unsigned char *in = malloc((size_t)(rows * cols) * qk_dtype_size(dt));
            uint32_t x = (uint32_t)(k * 5 + (size_t)d) * 2654435761u + 3u;
            for (int64_t i = 0; i < rows * cols; i++) {
                x = x * 1664525u + 1013904223u;
                put_value(dt, in, i, convrot_q_value(dt, i / cols, i % cols, x));
            }
            convrot_fused_case(vk, ref, dt, in, rows, cols, shapes[k].g, ", one workgroup", &t);
            free(in);
        }
    unsetenv("QK_VULKAN_STRIDE_GROUPS");
    printf("convrot row quantize, many rows a workgroup: %zu differences (%d cases)\n", t.differing, t.cases);
    qk_context_destroy(ref);
    qk_context_destroy(vk);
    assert_int_equal(t.differing, 0);
    assert_int_equal(t.fused, t.cases);
    assert_true(qk_vk_convrot_q_runs() == before); /* the old shaders took them all */
}

/* ---- ConvRot dequantize in one pass (convrot_dequantize.comp) ----------
 * Crafted parts: every code byte, and per row a scale by
 * qkc_convrot_row_scale (on either side of the native range 2^(L-103) <=
 * |s| < 2^(120-2L), typical and negative scales, f16 outputs in its
 * subnormals and past 65504, zero, subnormal, Inf and NaN scales); rows of
 * native and exact paths mixed within a subgroup. Against the reference,
 * every G and dtype, with many grid-stride rounds too. */
static size_t convrot_dq_case(qk_context *vk, qk_context *ref, qk_dtype dt, int64_t rows, int64_t cols, int g,
                              uint32_t seed)
{
    qk_params p;
    qk_layout lay;
    convrot_row_params(g, rows, cols, &p, &lay);
    unsigned char *data = malloc(lay.part[QK_PART_DATA].nbytes);
    uint32_t *sc = malloc(lay.part[QK_PART_SCALE].nbytes);
    uint32_t x = seed * 2654435761u + 1u;
    int levels = 0;
    for (int k = g; k > 1; k /= 4)
        levels++;
    for (int64_t i = 0; i < rows * cols; i++) {
        x = x * 1664525u + 1013904223u;
        data[i] = (unsigned char)(i < 256 ? i : x >> 24); /* every byte, then random */
    }
    for (int64_t r = 0; r < rows; r++) {
        x = x * 1664525u + 1013904223u;
        sc[r] = qkc_convrot_row_scale(r + seed, levels, x);
    }
    const void *parts[QK_PART_COUNT] = {0};
    parts[QK_PART_DATA] = data;
    parts[QK_PART_SCALE] = sc;
    size_t on = (size_t)(rows * cols) * qk_dtype_size(dt), bad = 0;
    unsigned char *want = malloc(on), *got = malloc(on);
    memset(got, 0x5A, on);
    assert_int_equal(qk_dequantize(ref, &p, parts, rows, cols, dt, want), QK_OK);
    if (qk_dequantize(vk, &p, parts, rows, cols, dt, got) != QK_OK)
        bad = on;
    else
        for (size_t i = 0; i < on; i++)
            bad += want[i] != got[i];
    if (bad)
        printf("convrot dequantize %4d %-4s %3lld x %-4lld: %zu differing bytes\n", g, qk_dtype_name(dt),
               (long long)rows, (long long)cols, bad);
    /* the first few differing elements, so a device's fault shows its pattern
     * (none after a failed op, counted as bad = on) */
    size_t es = qk_dtype_size(dt), shown = 0;
    for (size_t i = 0; bad && bad != on && i < on && shown < 4; i += es)
        if (memcmp(want + i, got + i, es) != 0) {
            uint32_t w = 0, h = 0;
            memcpy(&w, want + i, es);
            memcpy(&h, got + i, es);
            printf("  element %zu (row %zu, scale 0x%08x): reference 0x%0*x, vulkan 0x%0*x\n", i / es,
                   i / es / (size_t)cols, sc[i / es / (size_t)cols], (int)(2 * es), w, (int)(2 * es), h);
            shown++;
        }
    free(want);
    free(got);
    free(data);
    free(sc);
    return bad;
}

static void test_convrot_dequantize_rows(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    qk_context *ref = open_reference();
    static const struct {
        int64_t rows, cols;
        const char *groups;
    } shapes[] = {{37, 256, NULL}, {16, 4096, NULL}, {33, 768, "2"}, {5, 64, NULL}, {70, 320, "3"},
                  {3, 1024, NULL}, {9, 80, NULL}, {2, 2048, "1"}};
    static const qk_dtype dts[] = {QK_DTYPE_F32, QK_DTYPE_F16, QK_DTYPE_BF16};
    unsigned long before = qk_vk_convrot_dq_runs(), f16n_before = qk_vk_f16n_dispatches();
    size_t bad = 0;
    int cases = 0, eligible = 0, has_f16n = first_device()->f16_native;
    /* f16 output by both narrowings where the device has the _f16n builds:
     * their first H200 run gave NVIDIA's NaN payload here (0x7FFF) */
    for (int native = 0; native <= has_f16n; native++) {
        setenv("QK_VULKAN_F16_NATIVE", native ? "1" : "0", 1);
        for (int g = 4; g <= 1024; g *= 4)
            for (int d = 0; d < 3; d++)
                for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
                    int64_t rows = shapes[k].rows, cols = shapes[k].cols;
                    if (cols % g != 0 || (native && dts[d] != QK_DTYPE_F16))
                        continue;
                    if (shapes[k].groups)
                        setenv("QK_VULKAN_STRIDE_GROUPS", shapes[k].groups, 1);
                    bad += convrot_dq_case(vk, ref, dts[d], rows, cols, g, (uint32_t)(k * 3 + (size_t)d + (size_t)g));
                    unsetenv("QK_VULKAN_STRIDE_GROUPS");
                    cases++;
                    eligible += g <= 256 && cols % (g > 64 ? g : 64) == 0;
                }
        unsetenv("QK_VULKAN_F16_NATIVE");
    }
    unsigned long runs = qk_vk_convrot_dq_runs() - before, f16n_runs = qk_vk_f16n_dispatches() - f16n_before;
    printf("convrot dequantize: %lu dispatches of _f16n builds%s\n", f16n_runs,
           has_f16n ? "" : " (the device has none: integer f16 narrowing only)");
    int able = full_subgroups_4_to_64();
    printf("convrot dequantize: %zu differing bytes (%d cases, %lu on convrot_dequantize.comp of %d eligible)\n",
           bad, cases, runs, eligible);
    if (!able)
        printf("(this device has no full subgroups of 4 to 64 invocations: convrot.comp took them all)\n");
    qk_context_destroy(ref);
    qk_context_destroy(vk);
    assert_int_equal(bad, 0);
    assert_true(able ? runs >= (unsigned long)eligible : runs == 0);
    assert_int_equal(f16n_runs != 0, has_f16n);
}

static void test_bench_reports_op_and_copy(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    const int64_t rows = 64, cols = 1024;
    void *in = make_input(QK_DTYPE_BF16, rows * cols, 3);
    for (int dir = 0; dir < 2; dir++) {
        qk_params p;
        qk_params_default(QK_FORMAT_NF4, &p);
        p.double_quant = 1;
        qk_bench_result r;
        unsigned long copies = qk_vk_copy_dispatches();
        assert_int_equal(qk_bench(vk, dir, &p, QK_DTYPE_BF16, in, rows, cols, 3, &r), QK_OK);
        /* the shader copy ran in every iteration of both batches (warm-up, timed) */
        assert_true(qk_vk_copy_dispatches() - copies >= 2 * 3);
        assert_true(r.seconds > 0.0);
        assert_true(r.copy_seconds > 0.0);
        assert_true(r.copy_bytes == 2.0 * (double)(rows * cols * 2));
        assert_int_equal(r.iterations, 3);
    }
    free(in);
    qk_context_destroy(vk);
}

/* QK_VULKAN_SHADER_DIR (vk_shader_dir.c): a directory without the build's
 * file leaves the embedded shader; a file there is what the pipeline is
 * made from (the embedded copy shader's own SPIR-V: the bench's copies
 * run); a file that is not SPIR-V fails the call, naming the file. A
 * context makes its pipelines when first used, so each case opens one. */
extern const unsigned char qk_vk_copy_buffer_spv[];
extern const size_t qk_vk_copy_buffer_spv_size;

static qk_status bench_with_shader_dir(const char *dir, unsigned long *copies)
{
    setenv("QK_VULKAN_SHADER_DIR", dir, 1);
    qk_context *vk = vulkan_or_skip();
    const int64_t rows = 16, cols = 256;
    void *in = make_input(QK_DTYPE_BF16, rows * cols, 5);
    qk_params p;
    qk_params_default(QK_FORMAT_NF4, &p);
    qk_bench_result r;
    unsigned long before = qk_vk_copy_dispatches();
    qk_status st = qk_bench(vk, 0, &p, QK_DTYPE_BF16, in, rows, cols, 2, &r);
    *copies = qk_vk_copy_dispatches() - before;
    free(in);
    qk_context_destroy(vk);
    unsetenv("QK_VULKAN_SHADER_DIR");
    return st;
}

static void write_file(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void test_shader_dir_variants(void **state)
{
    (void)state;
    char dir[] = "/tmp/qk-shader-dir-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/copy_buffer.spv", dir);
    unsigned long copies = 0;
    assert_int_equal(bench_with_shader_dir(dir, &copies), QK_OK); /* no file: embedded */
    assert_true(copies >= 2 * 2);
    write_file(path, qk_vk_copy_buffer_spv, qk_vk_copy_buffer_spv_size);
    assert_int_equal(bench_with_shader_dir(dir, &copies), QK_OK);
    assert_true(copies >= 2 * 2);
    static const unsigned char junk[8] = "not spv";
    write_file(path, junk, sizeof junk);
    assert_int_equal(bench_with_shader_dir(dir, &copies), QK_ERR_INVALID_ARGUMENT);
    printf("a file that is not SPIR-V: %s\n", qk_last_error());
    assert_non_null(strstr(qk_last_error(), path));
    remove(path);
    rmdir(dir);
}

/* Dequantize of crafted row, tile, MXFP8, NVFP4 and ConvRot parts: the
 * shaders' native fast path and their exact path, in whole bindings and in
 * chunks (64 KiB for the row, tile and ConvRot layouts, 2 MiB for the
 * blocked ones, whose chunks are whole 128-row bands). */
static void test_crafted_dequantize_matches_reference(void **state)
{
    (void)state;
    static const char *const ranges[] = {NULL, "65536", "2097152"};
    long bad = 0;
    for (int k = 0; k < 3; k++) {
        if (ranges[k])
            setenv("QK_VULKAN_MAX_RANGE", ranges[k], 1); /* read when a context opens */
        qk_context *vk = open_vulkan();
        unsetenv("QK_VULKAN_MAX_RANGE");
        if (vk == NULL)
            skip();
        char label[64];
        snprintf(label, sizeof label, "vulkan, bindings of %s bytes", ranges[k] ? ranges[k] : "any");
        if (k < 2)
            bad += qkc_crafted_group_dequantize(vk, label);
        if (k != 1)
            bad += qkc_crafted_blocked_dequantize(vk, label);
        if (k < 2)
            bad += qkc_crafted_convrot_dequantize(vk, label);
        qk_context_destroy(vk);
    }
    assert_int_equal(bad, 0);
}

/* ConvRot quantize of the shared crafted inputs (src/check/convrot_cases.c):
 * every G and dtype, zero, subnormal, outlier and wide-ranging rows, and the
 * NaN, Inf and rotation-overflow inputs both must refuse; in whole bindings
 * and in 64 KiB ones. */
static void test_convrot_quantize_cases(void **state)
{
    (void)state;
    long bad = 0;
    for (int k = 0; k < 2; k++) {
        if (k)
            setenv("QK_VULKAN_MAX_RANGE", "65536", 1); /* read when a context opens */
        qk_context *vk = open_vulkan();
        unsetenv("QK_VULKAN_MAX_RANGE");
        if (vk == NULL)
            skip();
        bad += qkc_convrot_quantize_cases(vk, k ? "vulkan, bindings of 65536 bytes" : "vulkan");
        qk_context_destroy(vk);
    }
    assert_int_equal(bad, 0);
}

/* f32 int8 and float8 codes near rounding ties
 * (src/check/f32_tie_cases.c), against the reference. */
static void test_f32_near_ties(void **state)
{
    (void)state;
    qk_context *vk = open_vulkan();
    if (vk == NULL)
        skip();
    long bad = qkc_f32_near_ties(vk, "vulkan");
    qk_context_destroy(vk);
    assert_int_equal(bad, 0);
}

/* f16 output by both narrowings: the _f16n shader builds (a native
 * conversion a pair, qk_f16_narrow2; QK_VULKAN_F16_NATIVE=1, the default
 * on GPUs) where the device allows them, and
 * the integer qk_f16_narrow (QK_VULKAN_F16_NATIVE=0), each over the crafted
 * NF4/FP4, row/tile, MXFP8/NVFP4 and ConvRot dequantize cases (f16 ties,
 * subnormal, overflowing, zero and NaN outputs). The native builds must
 * have run exactly where the device offers them. */
static void test_f16_output_both_narrowings(void **state)
{
    (void)state;
    qk_context *vk = vulkan_or_skip();
    int has = first_device()->f16_native;
    long bad = 0;
    for (int native = 1; native >= 0; native--) {
        setenv("QK_VULKAN_F16_NATIVE", native ? "1" : "0", 1);
        const char *label = native ? "vulkan, f16 narrowing by the _f16n builds" : "vulkan, integer f16 narrowing";
        unsigned long before = qk_vk_f16n_dispatches();
        bad += qkc_crafted_bnb4_dequantize(vk, label);
        bad += qkc_crafted_group_dequantize(vk, label);
        bad += qkc_crafted_blocked_dequantize(vk, label);
        bad += qkc_crafted_convrot_dequantize(vk, label);
        unsigned long runs = qk_vk_f16n_dispatches() - before;
        unsetenv("QK_VULKAN_F16_NATIVE");
        printf("%s: %lu dispatches of _f16n builds\n", label, runs);
        assert_int_equal(runs != 0, native && has);
    }
    if (!has)
        printf("note: the device lacks shaderFloat16, RoundingModeRTE or SignedZeroInfNanPreserve for 16 bits, "
               "or independent rounding modes: only the integer narrowing ran\n");
    qk_context_destroy(vk);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunked_dispatches_are_exact),
        cmocka_unit_test(test_nested_dequantize_chunks),
        cmocka_unit_test(test_grid_stride_rounds),
        cmocka_unit_test(test_pipelined_pieces_are_exact),
        cmocka_unit_test(test_nonfinite_inputs_match_reference),
        cmocka_unit_test(test_crafted_nested_parts_match_reference),
        cmocka_unit_test(test_crafted_dequantize_matches_reference),
        cmocka_unit_test(test_convrot_quantize_cases),
        cmocka_unit_test(test_f32_near_ties),
        cmocka_unit_test(test_f32_tiles_amax_anywhere),
        cmocka_unit_test(test_f16_output_both_narrowings),
        cmocka_unit_test(test_nvfp4_decision_boundaries),
        cmocka_unit_test(test_double_quant_offset_from_device_sums),
        cmocka_unit_test(test_double_quant_offset_fallback), cmocka_unit_test(test_double_quant_device_means),
        cmocka_unit_test(test_every_magnitude16_by_table),
        cmocka_unit_test(test_tensor_amax_every_step),
        cmocka_unit_test(test_thresholds_every_magnitude),
        cmocka_unit_test(test_bnb4_nan_blocks_match_reference),
        cmocka_unit_test(test_bnb4_block_maxima_paths),
        cmocka_unit_test(test_bnb4_tiny_products_match_reference),
        cmocka_unit_test(test_bnb4_dequantize_output_ranges),
        cmocka_unit_test(test_mxfp8_lanes_paths),
        cmocka_unit_test(test_nvfp4_dequantize_every_scale_code),
        cmocka_unit_test(test_nvfp4_every_block_amax),
        cmocka_unit_test(test_nvfp4_f32_scale_thresholds),
        cmocka_unit_test(test_products_every_pair),
        cmocka_unit_test(test_convrot_native_bounds),
        cmocka_unit_test(test_convrot_fused_rows),
        cmocka_unit_test(test_convrot_quantize_rows),
        cmocka_unit_test(test_convrot_row_quantize_many_rows),
        cmocka_unit_test(test_convrot_dequantize_rows),
        cmocka_unit_test(test_bench_reports_op_and_copy),
        cmocka_unit_test(test_shader_dir_variants),
    };
    return run_tests_sharded("test_vulkan", tests, sizeof tests / sizeof *tests);
}
