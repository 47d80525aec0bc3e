/* float8_e4m3fn / float8_e5m2 with per-tensor, per-row or per-tile scales:
 * comfy-kitchen's per-tensor recipe (TensorCoreFP8Layout.quantize and eager
 * quantize_per_tensor_fp8) applied to each scale group.
 *
 * scale = T(amax / fpmax) in the input dtype T, kept as f32;
 * q = fp8(clamp(T(x * T(1 / scale)), fpmax)); dequant T(T(q) * T(scale)).
 * Deviation: where 1 / scale is infinite (all-zero group) the anchor's 0 * inf
 * gives NaN codes; qk keeps the zero. */
#include "ref_groups.h"

/* rc = T(1 / scale) of the element's group. */
static uint8_t fp8_code(const qk_ref_args *a, uint32_t x, uint32_t rc)
{
    int e5m2 = a->params->format == QK_FORMAT_FLOAT8_E5M2;
    uint32_t v = (x & QK_F32_ABS) == 0u ? x : qk_round_to(a->dtype, qk_fmul(x, rc));
    v = qk_f32_clamp_abs(v, e5m2 ? QK_F32_E5M2_MAX : QK_F32_E4M3_MAX);
    return (uint8_t)(e5m2 ? qk_f32_to_e5m2(v) : qk_f32_to_e4m3(v));
}

qk_status qk_ref_fp8_quantize(const qk_ref_args *a, const void *in, void *const parts[4])
{
    return qk_scaled_quantize(a, in, parts, fp8_code);
}

/* T(T(q) * T(scale)). */
static uint32_t fp8_decode(const qk_ref_args *a, uint8_t q, uint32_t scale)
{
    uint32_t v = a->params->format == QK_FORMAT_FLOAT8_E5M2 ? qk_e5m2_to_f32(q) : qk_e4m3_to_f32(q);
    return qk_fmul(qk_round_to(a->dtype, v), qk_round_to(a->dtype, scale));
}

qk_status qk_ref_fp8_dequantize(const qk_ref_args *a, const void *const parts[4], void *out)
{
    qk_scaled_dequantize(a, parts, out, fp8_decode);
    return QK_OK;
}
