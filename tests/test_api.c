/* Public API behaviour: names, params validation, layouts, errors with
 * messages, backend selection, and the documented zero/NaN rules. */
#include <fenv.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qk/qk.h"

static void test_version_and_status(void **s)
{
    (void)s;
    int ma, mi, pa;
    const char *v = qk_version(&ma, &mi, &pa);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", QK_VERSION_MAJOR, QK_VERSION_MINOR, QK_VERSION_PATCH);
    assert_string_equal(v, want);
    assert_int_equal(ma, QK_VERSION_MAJOR);
    for (int st = QK_OK; st <= QK_ERR_OVERFLOW; st++)
        assert_string_not_equal(qk_status_string((qk_status)st), "unknown status");
    assert_string_equal(qk_status_string((qk_status)99), "unknown status");
}

static void test_names_round_trip(void **s)
{
    (void)s;
    for (int f = 0; f < QK_FORMAT_COUNT; f++) {
        qk_format back;
        assert_int_equal(qk_format_from_name(qk_format_name((qk_format)f), &back), QK_OK);
        assert_int_equal(back, f);
    }
    for (int d = 0; d < QK_DTYPE_COUNT; d++) {
        qk_dtype back;
        assert_int_equal(qk_dtype_from_name(qk_dtype_name((qk_dtype)d), &back), QK_OK);
        assert_int_equal(back, d);
        assert_true(qk_dtype_size((qk_dtype)d) > 0);
    }
    qk_format f;
    assert_int_equal(qk_format_from_name("nf5", &f), QK_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(qk_last_error(), "nf5"));
    assert_null(qk_format_name(QK_FORMAT_COUNT));
}

static qk_params params(qk_format f)
{
    qk_params p;
    assert_int_equal(qk_params_default(f, &p), QK_OK);
    return p;
}

static void test_params_validation(void **s)
{
    (void)s;
    for (int f = 0; f < QK_FORMAT_COUNT; f++) {
        qk_params p = params((qk_format)f);
        assert_int_equal(qk_params_validate(&p, 3, 5), QK_OK);
    }
    qk_params p = params(QK_FORMAT_NF4);
    p.block_size = 48;
    assert_int_equal(qk_params_validate(&p, 4, 4), QK_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(qk_last_error(), "power of two"));
    p.block_size = 8192;
    assert_int_equal(qk_params_validate(&p, 4, 4), QK_ERR_INVALID_ARGUMENT);
    p = params(QK_FORMAT_INT8_TENSORWISE);
    p.convrot_group = 64;
    assert_int_equal(qk_params_validate(&p, 4, 128), QK_ERR_INVALID_ARGUMENT); /* needs ROW */
    p.scaling = QK_SCALING_ROW;
    assert_int_equal(qk_params_validate(&p, 4, 128), QK_OK);
    assert_int_equal(qk_params_validate(&p, 4, 96), QK_ERR_INVALID_ARGUMENT);
    p.convrot_group = 32;
    assert_int_equal(qk_params_validate(&p, 4, 128), QK_ERR_INVALID_ARGUMENT);
    p = params(QK_FORMAT_NVFP4);
    p.double_quant = 1;
    assert_int_equal(qk_params_validate(&p, 4, 4), QK_ERR_INVALID_ARGUMENT);
    p = params(QK_FORMAT_MXFP8);
    assert_int_equal(qk_params_validate(&p, 0, 4), QK_ERR_INVALID_ARGUMENT);
    assert_int_equal(qk_params_validate(&p, INT64_MAX / 2, 1 << 20), QK_ERR_OVERFLOW);
    assert_int_equal(qk_params_validate(NULL, 1, 1), QK_ERR_INVALID_ARGUMENT);
}

static void test_layouts(void **s)
{
    (void)s;
    qk_layout l;
    qk_params p = params(QK_FORMAT_NF4);
    assert_int_equal(qk_layout_query(&p, 1, 7, &l), QK_OK);
    assert_int_equal(l.part[QK_PART_DATA].nbytes, 4);
    assert_int_equal(l.part[QK_PART_SCALE].nbytes, 4);
    assert_int_equal(l.part[QK_PART_SCALE2].nbytes, 0);
    p.double_quant = 1;
    assert_int_equal(qk_layout_query(&p, 300, 64, &l), QK_OK);
    assert_int_equal(l.part[QK_PART_SCALE].dtype, QK_DTYPE_U8);
    assert_int_equal(l.part[QK_PART_SCALE].nbytes, 300);
    assert_int_equal(l.part[QK_PART_SCALE2].nbytes, 2 * 4);
    assert_int_equal(l.part[QK_PART_OFFSET].nbytes, 4);
    p = params(QK_FORMAT_NVFP4);
    assert_int_equal(qk_layout_query(&p, 33, 47, &l), QK_OK);
    assert_int_equal(l.part[QK_PART_DATA].shape[0], 48);
    assert_int_equal(l.part[QK_PART_DATA].shape[1], 24);
    assert_int_equal(l.part[QK_PART_SCALE].shape[0], 128);
    assert_int_equal(l.part[QK_PART_SCALE].shape[1], 4);
    assert_int_equal(l.part[QK_PART_SCALE2].ndim, 0);
    assert_string_equal(qk_part_name(&p, QK_PART_SCALE2), "weight_scale_2");
    p = params(QK_FORMAT_MXFP8);
    assert_int_equal(qk_layout_query(&p, 33, 47, &l), QK_OK);
    assert_int_equal(l.part[QK_PART_DATA].nbytes, 64 * 64);
    assert_int_equal(l.part[QK_PART_SCALE].nbytes, 128 * 4);
    p = params(QK_FORMAT_FLOAT8_E4M3FN);
    p.scaling = QK_SCALING_BLOCK;
    p.block_size = 32;
    assert_int_equal(qk_layout_query(&p, 33, 47, &l), QK_OK);
    assert_int_equal(l.part[QK_PART_SCALE].shape[0], 2);
    assert_int_equal(l.part[QK_PART_SCALE].shape[1], 2);
    p.scaling = QK_SCALING_ROW;
    assert_int_equal(qk_layout_query(&p, 33, 47, &l), QK_OK);
    assert_int_equal(l.part[QK_PART_SCALE].nbytes, 33 * 4);
}

typedef struct {
    void *p[QK_PART_COUNT];
} parts_buf;

static parts_buf alloc_parts(const qk_params *p, int64_t rows, int64_t cols)
{
    qk_layout l;
    parts_buf b = {{0}};
    assert_int_equal(qk_layout_query(p, rows, cols, &l), QK_OK);
    for (int k = 0; k < QK_PART_COUNT; k++)
        if (l.part[k].nbytes)
            b.p[k] = calloc(1, l.part[k].nbytes);
    return b;
}

static void free_parts(parts_buf *b)
{
    for (int k = 0; k < QK_PART_COUNT; k++)
        free(b->p[k]);
}

static void test_nonfinite_inputs(void **s)
{
    (void)s;
    float in[64];
    for (int i = 0; i < 64; i++)
        in[i] = (float)i * 0.01f;
    in[17] = NAN;
    for (int f = 0; f < QK_FORMAT_COUNT; f++) {
        qk_params p = params((qk_format)f);
        parts_buf b = alloc_parts(&p, 2, 32);
        qk_status st = qk_quantize(NULL, &p, QK_DTYPE_F32, in, 2, 32, b.p);
        if (f == QK_FORMAT_NF4 || f == QK_FORMAT_FP4) {
            assert_int_equal(st, QK_OK); /* bitsandbytes codes NaN as code 0 */
            uint8_t byte = ((uint8_t *)b.p[QK_PART_DATA])[8];
            assert_int_equal(byte & 15, 0);
        } else {
            assert_int_equal(st, QK_ERR_NONFINITE);
            assert_non_null(strstr(qk_last_error(), "NaN"));
        }
        free_parts(&b);
    }
    in[17] = INFINITY;
    qk_params p = params(QK_FORMAT_NVFP4);
    parts_buf b = alloc_parts(&p, 2, 32);
    assert_int_equal(qk_quantize(NULL, &p, QK_DTYPE_F32, in, 2, 32, b.p), QK_ERR_NONFINITE);
    free_parts(&b);
}

static void test_bad_arguments(void **s)
{
    (void)s;
    float in[4] = {1, 2, 3, 4};
    qk_params p = params(QK_FORMAT_NVFP4);
    parts_buf b = alloc_parts(&p, 2, 2);
    assert_int_equal(qk_quantize(NULL, &p, QK_DTYPE_F32, NULL, 2, 2, b.p), QK_ERR_INVALID_ARGUMENT);
    void *missing[QK_PART_COUNT] = {b.p[0], NULL, b.p[2], NULL};
    assert_int_equal(qk_quantize(NULL, &p, QK_DTYPE_F32, in, 2, 2, missing), QK_ERR_INVALID_ARGUMENT);
    assert_int_equal(qk_quantize(NULL, &p, QK_DTYPE_U8, in, 2, 2, b.p), QK_ERR_UNSUPPORTED);
    float out[4];
    const void *cp[QK_PART_COUNT] = {b.p[0], b.p[1], b.p[2], b.p[3]};
    assert_int_equal(qk_dequantize(NULL, &p, cp, 2, 2, QK_DTYPE_I8, out), QK_ERR_UNSUPPORTED);
    assert_int_equal(qk_dequantize(NULL, &p, cp, 2, 2, QK_DTYPE_F32, NULL), QK_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(qk_last_error(), "qk_dequantize: NULL output"));
    const void *cmissing[QK_PART_COUNT] = {b.p[0], b.p[1], NULL, NULL}; /* nvfp4 needs its global scale */
    assert_int_equal(qk_dequantize(NULL, &p, cmissing, 2, 2, QK_DTYPE_F32, out), QK_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(qk_last_error(), "part 2"));
    assert_int_equal(qk_dequantize(NULL, &p, cp, 2, 2, QK_DTYPE_F32, out), QK_OK);
    free_parts(&b);
}

/* Buffers off their element size's alignment are refused, not loaded. */
static void test_misaligned_buffers(void **s)
{
    (void)s;
    _Alignas(8) uint8_t raw[40] = {0};
    qk_params p = params(QK_FORMAT_NVFP4);
    parts_buf b = alloc_parts(&p, 2, 2);
    assert_int_equal(qk_quantize(NULL, &p, QK_DTYPE_F32, raw + 2, 2, 2, b.p), QK_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(qk_last_error(), "input buffer is not aligned"));
    assert_int_equal(qk_quantize(NULL, &p, QK_DTYPE_BF16, raw + 1, 2, 2, b.p), QK_ERR_INVALID_ARGUMENT);
    assert_int_equal(qk_quantize(NULL, &p, QK_DTYPE_BF16, raw + 2, 2, 2, b.p), QK_OK);
    void *shifted[QK_PART_COUNT] = {b.p[0], b.p[1], raw + 1, NULL}; /* the f32 global scale */
    assert_int_equal(qk_quantize(NULL, &p, QK_DTYPE_F32, raw, 2, 2, shifted), QK_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(qk_last_error(), "part 2 is not aligned"));
    const void *cp[QK_PART_COUNT] = {b.p[0], b.p[1], b.p[2], b.p[3]};
    assert_int_equal(qk_dequantize(NULL, &p, cp, 2, 2, QK_DTYPE_F16, raw + 3), QK_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(qk_last_error(), "output buffer is not aligned"));
    assert_int_equal(qk_dequantize(NULL, &p, cp, 2, 2, QK_DTYPE_F16, raw + 6), QK_OK);
    free_parts(&b);
}

static void test_backend_selection(void **s)
{
    (void)s;
    qk_context *ctx = NULL;
    assert_int_equal(qk_context_create("tpu", 0, &ctx), QK_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(qk_last_error(), "tpu"));
    assert_int_equal(qk_context_create("cpu", 1, &ctx), QK_ERR_INVALID_ARGUMENT);
    for (int i = 0; i < qk_backend_count(); i++) {
        qk_backend_info bi;
        assert_int_equal(qk_backend_get_info(i, &bi), QK_OK);
        if (!bi.available) {
            assert_int_equal(qk_context_create(bi.name, 0, &ctx), QK_ERR_BACKEND_UNAVAILABLE);
            assert_true(strlen(bi.unavailable_reason) > 0);
            assert_non_null(strstr(qk_last_error(), bi.unavailable_reason));
        }
    }
    setenv("QK_BACKEND", "cpu", 1);
    assert_int_equal(qk_context_create(NULL, 0, &ctx), QK_OK);
    assert_string_equal(qk_context_backend(ctx), "cpu");
    qk_context_destroy(ctx);
    unsetenv("QK_BACKEND");
    assert_int_equal(qk_context_create("auto", 0, &ctx), QK_OK);
    assert_non_null(qk_context_backend(ctx));
    qk_context_destroy(ctx);
}

/* All-zero tensors: qk's documented results where the anchors give NaN. */
static void test_all_zero_tensors(void **s)
{
    (void)s;
    float in[2 * 32] = {0};
    in[5] = -0.0f;
    for (int f = 0; f < QK_FORMAT_COUNT; f++) {
        qk_params p = params((qk_format)f);
        parts_buf b = alloc_parts(&p, 2, 32);
        assert_int_equal(qk_quantize(NULL, &p, QK_DTYPE_F32, in, 2, 32, b.p), QK_OK);
        float out[64];
        const void *cp[QK_PART_COUNT] = {b.p[0], b.p[1], b.p[2], b.p[3]};
        assert_int_equal(qk_dequantize(NULL, &p, cp, 2, 32, QK_DTYPE_F32, out), QK_OK);
        for (int i = 0; i < 64; i++)
            assert_true(out[i] == 0.0f); /* never NaN */
        free_parts(&b);
    }
}

/* A caller's rounding mode must not change a byte, and must be restored. */
static void test_float_environment_isolated(void **s)
{
    (void)s;
    float in[256];
    for (int i = 0; i < 256; i++)
        in[i] = sinf((float)i) * 3.3f;
    qk_params p = params(QK_FORMAT_NVFP4);
    parts_buf a = alloc_parts(&p, 4, 64), b = alloc_parts(&p, 4, 64);
    assert_int_equal(qk_quantize(NULL, &p, QK_DTYPE_F32, in, 4, 64, a.p), QK_OK);
    fesetround(FE_TOWARDZERO);
    assert_int_equal(qk_quantize(NULL, &p, QK_DTYPE_F32, in, 4, 64, b.p), QK_OK);
    assert_int_equal(fegetround(), FE_TOWARDZERO);
    fesetround(FE_TONEAREST);
    qk_layout l;
    qk_layout_query(&p, 4, 64, &l);
    for (int k = 0; k < QK_PART_COUNT; k++)
        if (l.part[k].nbytes)
            assert_memory_equal(a.p[k], b.p[k], l.part[k].nbytes);
    free_parts(&a);
    free_parts(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_and_status), cmocka_unit_test(test_names_round_trip),
        cmocka_unit_test(test_params_validation),  cmocka_unit_test(test_layouts),
        cmocka_unit_test(test_nonfinite_inputs),   cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_misaligned_buffers),
        cmocka_unit_test(test_backend_selection),  cmocka_unit_test(test_all_zero_tensors),
        cmocka_unit_test(test_float_environment_isolated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
