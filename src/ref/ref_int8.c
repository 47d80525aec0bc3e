/* int8_tensorwise (per tensor or per row, optional ConvRot): comfy-kitchen's
 * eager INT8 quantizers.
 *   scale = max(amax / 127, 1e-30) in f32 (amax of the input dtype T);
 *   s_T = T(scale), 0 -> the smallest normal of T;
 *   q = clamp(round_half_even(T(x / s_T)), -128, 127); dequant T(q * scale).
 *   ConvRot rotates each row group first (input rounded back to T) and
 *   unrotates after dequantization in f32.
 * int8_blockwise (BxB tiles): the BlockWiseINT8Layout eager quantizer.
 *   scale = max(T(amax / 127), T(1e-8)) in T, kept as f32;
 *   q = round_half_even(clamp(T(x / scale), -127, 127)); dequant T(q * scale)
 *   in T. A zero tile whose floor is 0 in T (f16) codes 0 (the anchor: NaN). */
#include <stdlib.h>

#include "ref_groups.h"

/* d = s_T of the element's group. */
static uint8_t int8_code(const qk_ref_args *a, uint32_t x, uint32_t d)
{
    if (d == 0u) /* blockwise zero tile with a zero floor */
        return 0;
    uint32_t q = qk_round_to(a->dtype, qk_fdiv(x, d));
    if (a->params->format == QK_FORMAT_INT8_BLOCKWISE) /* clamp first, to +-127 */
        q = qk_f32_clamp_abs(q, QK_F32_INT8_MAX);
    return (uint8_t)(int8_t)qk_f32_to_int_rne_clamp(q, -128, 127);
}

typedef struct {
    const qk_ref_args *a;
    const void *in;
    void *rot; /* rows x cols in the input dtype */
    int group;
} rot_job;

static void convrot_rows(void *arg, int64_t r0, int64_t r1)
{
    const rot_job *j = arg;
    const qk_ref_args *a = j->a;
    uint32_t buf[1024];
    for (int64_t r = r0; r < r1; r++)
        for (int64_t c0 = 0; c0 < a->cols; c0 += j->group) {
            for (int k = 0; k < j->group; k++)
                buf[k] = qk_load_f32(a->dtype, j->in, r * a->cols + c0 + k);
            qk_convrot_group(buf, j->group);
            for (int k = 0; k < j->group; k++)
                qk_store_f32(a->dtype, j->rot, r * a->cols + c0 + k, buf[k]);
        }
}

qk_status qk_ref_int8_quantize(const qk_ref_args *a, const void *in, void *const parts[4])
{
    const qk_params *p = a->params;
    qk_status st = qk_check_finite(a->ex, a->dtype, in, a->rows * a->cols);
    if (st != QK_OK)
        return st;
    void *rot = NULL;
    if (p->convrot_group > 0) {
        rot = malloc((size_t)(a->rows * a->cols) * qk_dtype_size(a->dtype));
        if (rot == NULL)
            return QK_ERR_OUT_OF_MEMORY;
        rot_job rj = {a, in, rot, p->convrot_group};
        qk_exec_run(a->ex, a->rows, 1, convrot_rows, &rj);
        in = rot;
    }
    st = qk_scaled_quantize(a, in, parts, int8_code);
    free(rot);
    return st;
}

/* q * scale in f32 (int8_tensorwise) or T(q * T(scale)) (int8_blockwise; q
 * is exact in T); the store rounds to T. */
static uint32_t int8_decode(const qk_ref_args *a, uint8_t q, uint32_t scale)
{
    uint32_t v = qk_bits((float)(int8_t)q);
    return a->params->format == QK_FORMAT_INT8_BLOCKWISE ? qk_fmul(v, qk_round_to(a->dtype, scale))
                                                         : qk_fmul(v, scale);
}

qk_status qk_ref_int8_dequantize(const qk_ref_args *a, const void *const parts[4], void *out)
{
    qk_scaled_dequantize(a, parts, out, int8_decode);
    return QK_OK;
}
