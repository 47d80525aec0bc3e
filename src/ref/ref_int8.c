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

typedef struct {
    const qk_ref_args *a;
    const void *in;
    qk_groups g;
    const uint32_t *div; /* s_T per group */
    int blockwise;
    int8_t *data;
} int8_q_job;

static void int8_quantize_rows(void *arg, int64_t r0, int64_t r1)
{
    const int8_q_job *j = arg;
    const qk_ref_args *a = j->a;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t c = 0; c < a->cols; c++) {
            int64_t i = r * a->cols + c;
            uint32_t x = qk_load_f32(a->dtype, j->in, i);
            uint32_t d = j->div[qk_group_of(&j->g, r, c)];
            if (d == 0u) { /* blockwise zero tile with a zero floor */
                j->data[i] = 0;
                continue;
            }
            uint32_t q = qk_round_to(a->dtype, qk_fdiv(x, d));
            if (j->blockwise) /* clamp first, to +-127 */
                q = qk_f32_clamp_abs(q, QK_F32_INT8_MAX);
            j->data[i] = (int8_t)qk_f32_to_int_rne_clamp(q, -128, 127);
        }
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
    qk_scaling sc = p->format == QK_FORMAT_INT8_BLOCKWISE ? QK_SCALING_BLOCK : p->scaling;
    qk_groups g = qk_groups_make(sc, p->block_size, a->rows, a->cols);
    int64_t ng = qk_groups_count(&g);
    uint32_t *div = malloc((size_t)ng * 4);
    if (div == NULL) {
        free(rot);
        return QK_ERR_OUT_OF_MEMORY;
    }
    st = qk_groups_amax(a->ex, &g, a->dtype, in, div);
    if (st == QK_OK) {
        int blockwise = p->format == QK_FORMAT_INT8_BLOCKWISE;
        for (int64_t k = 0; k < ng; k++) {
            uint32_t scale;
            div[k] = qk_scaled_group_factor(a, div[k], &scale);
            qk_put_f32(parts[QK_PART_SCALE], k, scale);
        }
        int8_q_job j = {a, in, g, div, blockwise, parts[QK_PART_DATA]};
        qk_exec_run(a->ex, a->rows, 1, int8_quantize_rows, &j);
    }
    free(div);
    free(rot);
    return st;
}

typedef struct {
    const qk_ref_args *a;
    const int8_t *data;
    const void *scale;
    qk_groups g;
    int group, blockwise;
    void *out;
} int8_dq_job;

static void int8_dequantize_rows(void *arg, int64_t r0, int64_t r1)
{
    const int8_dq_job *j = arg;
    const qk_ref_args *a = j->a;
    uint32_t buf[1024];
    for (int64_t r = r0; r < r1; r++) {
        int64_t step = j->group > 0 ? j->group : 1;
        for (int64_t c0 = 0; c0 < a->cols; c0 += step) {
            for (int64_t k = 0; k < step; k++) {
                int64_t c = c0 + k;
                uint32_t q = qk_bits((float)j->data[r * a->cols + c]);
                uint32_t s = qk_get_f32(j->scale, qk_group_of(&j->g, r, c));
                /* blockwise multiplies in T: T(q * T(scale)), q exact in T */
                buf[k] = j->blockwise ? qk_fmul(q, qk_round_to(a->dtype, s)) : qk_fmul(q, s);
            }
            if (j->group > 0)
                qk_convrot_group(buf, j->group);
            for (int64_t k = 0; k < step; k++)
                qk_store_f32(a->dtype, j->out, r * a->cols + c0 + k, buf[k]);
        }
    }
}

qk_status qk_ref_int8_dequantize(const qk_ref_args *a, const void *const parts[4], void *out)
{
    const qk_params *p = a->params;
    qk_scaling sc = p->format == QK_FORMAT_INT8_BLOCKWISE ? QK_SCALING_BLOCK : p->scaling;
    int8_dq_job j = {a, parts[QK_PART_DATA], parts[QK_PART_SCALE],
                     qk_groups_make(sc, p->block_size, a->rows, a->cols), p->convrot_group,
                     p->format == QK_FORMAT_INT8_BLOCKWISE, out};
    qk_exec_run(a->ex, a->rows, 1, int8_dequantize_rows, &j);
    return QK_OK;
}
