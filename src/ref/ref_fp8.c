/* float8_e4m3fn / float8_e5m2 with per-tensor, per-row or per-tile scales:
 * comfy-kitchen's per-tensor recipe (TensorCoreFP8Layout.quantize and eager
 * quantize_per_tensor_fp8) applied to each scale group.
 *
 * scale = T(amax / fpmax) in the input dtype T, kept as f32;
 * q = fp8(clamp(T(x * T(1 / scale)), fpmax)); dequant T(T(q) * T(scale)).
 * Deviation: where 1 / scale is infinite (all-zero group) the anchor's 0 * inf
 * gives NaN codes; qk keeps the zero. */
#include <stdlib.h>

#include "ref_groups.h"

typedef struct {
    const qk_ref_args *a;
    const void *in;
    qk_groups g;
    const uint32_t *rcp; /* T(1 / scale) per group */
    uint32_t fpmax;
    int e5m2;
    uint8_t *data;
} fp8_q_job;

static void fp8_quantize_rows(void *arg, int64_t r0, int64_t r1)
{
    const fp8_q_job *j = arg;
    const qk_ref_args *a = j->a;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t c = 0; c < a->cols; c++) {
            int64_t i = r * a->cols + c;
            uint32_t x = qk_load_f32(a->dtype, j->in, i);
            uint32_t rc = j->rcp[qk_group_of(&j->g, r, c)];
            uint32_t v = (x & QK_F32_ABS) == 0u ? x : qk_round_to(a->dtype, qk_fmul(x, rc));
            v = qk_f32_clamp_abs(v, j->fpmax);
            j->data[i] = (uint8_t)(j->e5m2 ? qk_f32_to_e5m2(v) : qk_f32_to_e4m3(v));
        }
}

qk_status qk_ref_fp8_quantize(const qk_ref_args *a, const void *in, void *const parts[4])
{
    const qk_params *p = a->params;
    qk_groups g = qk_groups_make(p->scaling, p->block_size, a->rows, a->cols);
    int64_t ng = qk_groups_count(&g);
    uint32_t *amax = malloc((size_t)ng * 8);
    if (amax == NULL)
        return QK_ERR_OUT_OF_MEMORY;
    qk_status st = qk_groups_amax(a->ex, &g, a->dtype, in, amax);
    if (st != QK_OK) {
        free(amax);
        return st;
    }
    int e5m2 = p->format == QK_FORMAT_FLOAT8_E5M2;
    uint32_t fpmax = e5m2 ? QK_F32_E5M2_MAX : QK_F32_E4M3_MAX;
    uint32_t *rcp = amax + ng;
    for (int64_t k = 0; k < ng; k++) {
        uint32_t scale;
        rcp[k] = qk_scaled_group_factor(a, amax[k], &scale);
        qk_put_f32(parts[QK_PART_SCALE], k, scale);
    }
    fp8_q_job j = {a, in, g, rcp, fpmax, e5m2, parts[QK_PART_DATA]};
    qk_exec_run(a->ex, a->rows, 1, fp8_quantize_rows, &j);
    free(amax);
    return QK_OK;
}

typedef struct {
    const qk_ref_args *a;
    const uint8_t *data;
    const void *scale;
    qk_groups g;
    int e5m2;
    void *out;
} fp8_dq_job;

static void fp8_dequantize_rows(void *arg, int64_t r0, int64_t r1)
{
    const fp8_dq_job *j = arg;
    const qk_ref_args *a = j->a;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t c = 0; c < a->cols; c++) {
            int64_t i = r * a->cols + c;
            uint32_t s = qk_round_to(a->dtype, qk_get_f32(j->scale, qk_group_of(&j->g, r, c)));
            uint32_t v = j->e5m2 ? qk_e5m2_to_f32(j->data[i]) : qk_e4m3_to_f32(j->data[i]);
            qk_store_f32(a->dtype, j->out, i, qk_fmul(qk_round_to(a->dtype, v), s));
        }
}

qk_status qk_ref_fp8_dequantize(const qk_ref_args *a, const void *const parts[4], void *out)
{
    const qk_params *p = a->params;
    fp8_dq_job j = {a, parts[QK_PART_DATA], parts[QK_PART_SCALE],
                    qk_groups_make(p->scaling, p->block_size, a->rows, a->cols),
                    p->format == QK_FORMAT_FLOAT8_E5M2, out};
    qk_exec_run(a->ex, a->rows, 1, fp8_dequantize_rows, &j);
    return QK_OK;
}
