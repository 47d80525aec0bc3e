/* The group steps shared by the float8 and int8 references: per-group amax,
 * the scale and factor of a group, and the quantizer and dequantizer around
 * a format's element coder and decoder. */
#include <stdlib.h>

#include "ref_groups.h"

typedef struct {
    const qk_groups *g;
    qk_dtype dt;
    const void *in;
    uint32_t *amax;
} groups_job;

static void groups_amax_range(void *arg, int64_t k0, int64_t k1)
{
    const groups_job *j = arg;
    for (int64_t k = k0; k < k1; k++) {
        int64_t r0, r1, c0, c1;
        qk_group_rect(j->g, k, &r0, &r1, &c0, &c1);
        j->amax[k] = qk_amax_rect(j->dt, j->in, j->g->cols, r0, r1, c0, c1);
    }
}

qk_status qk_groups_amax(const qk_exec *ex, const qk_groups *g, qk_dtype dt, const void *in,
                         uint32_t *amax)
{
    int64_t n = qk_groups_count(g);
    if (n == 1)
        return qk_amax_tensor(ex, dt, in, g->rows * g->cols, amax);
    groups_job j = {g, dt, in, amax};
    qk_exec_run(ex, n, 1, groups_amax_range, &j);
    for (int64_t k = 0; k < n; k++)
        if (amax[k] >= QK_F32_INF)
            return QK_ERR_NONFINITE;
    return QK_OK;
}

#define QK_F32_1E_8 0x322BCC77u /* nearest f32 to 1e-8 */

/* The smallest normal of T: where the int8 divisor rounds to 0 in T. */
static uint32_t tiny_of(qk_dtype dt)
{
    return dt == QK_DTYPE_F16 ? 0x38800000u /* 2^-14 */ : 0x00800000u /* 2^-126 */;
}

uint32_t qk_scaled_group_factor(const qk_ref_args *a, uint32_t amax, uint32_t *scale_out)
{
    const qk_params *p = a->params;
    if (p->format == QK_FORMAT_FLOAT8_E4M3FN || p->format == QK_FORMAT_FLOAT8_E5M2) {
        uint32_t fpmax = p->format == QK_FORMAT_FLOAT8_E5M2 ? QK_F32_E5M2_MAX : QK_F32_E4M3_MAX;
        uint32_t scale = qk_round_to(a->dtype, qk_fdiv(amax, fpmax));
        *scale_out = scale;
        return qk_round_to(a->dtype, qk_fdiv(QK_F32_ONE, scale));
    }
    uint32_t scale = qk_fdiv(amax, QK_F32_INT8_MAX);
    if (p->format == QK_FORMAT_INT8_BLOCKWISE) {
        scale = qk_round_to(a->dtype, scale);
        uint32_t floor = qk_round_to(a->dtype, QK_F32_1E_8);
        *scale_out = scale < floor ? floor : scale;
        return *scale_out;
    }
    *scale_out = scale < QK_F32_1E_30 ? QK_F32_1E_30 : scale;
    uint32_t st = qk_round_to(a->dtype, *scale_out);
    return st == 0u ? tiny_of(a->dtype) : st;
}

void qk_scaled_group_factors(const qk_ref_args *a, int64_t ng, uint32_t *amax, void *scale_part)
{
    for (int64_t k = 0; k < ng; k++) {
        uint32_t scale;
        amax[k] = qk_scaled_group_factor(a, amax[k], &scale);
        qk_put_f32(scale_part, k, scale);
    }
}

typedef struct {
    const qk_ref_args *a;
    const void *in;
    qk_groups g;
    const uint32_t *factor; /* per group */
    qk_scaled_code_fn code;
    uint8_t *data;
} scaled_q_job;

static void scaled_quantize_rows(void *arg, int64_t r0, int64_t r1)
{
    const scaled_q_job *j = arg;
    const qk_ref_args *a = j->a;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t c = 0; c < a->cols; c++) {
            int64_t i = r * a->cols + c;
            uint32_t x = qk_load_f32(a->dtype, j->in, i);
            j->data[i] = j->code(a, x, j->factor[qk_group_of(&j->g, r, c)]);
        }
}

qk_status qk_scaled_quantize(const qk_ref_args *a, const void *in, void *const parts[4],
                             qk_scaled_code_fn code)
{
    qk_groups g = qk_groups_of(a);
    int64_t ng = qk_groups_count(&g);
    uint32_t *factor = malloc((size_t)ng * 4);
    if (factor == NULL)
        return QK_ERR_OUT_OF_MEMORY;
    qk_status st = qk_groups_amax(a->ex, &g, a->dtype, in, factor); /* amax, then the factor */
    if (st == QK_OK) {
        qk_scaled_group_factors(a, ng, factor, parts[QK_PART_SCALE]);
        scaled_q_job j = {a, in, g, factor, code, parts[QK_PART_DATA]};
        qk_exec_run(a->ex, a->rows, 1, scaled_quantize_rows, &j);
    }
    free(factor);
    return st;
}

typedef struct {
    const qk_ref_args *a;
    const uint8_t *data;
    const void *scale;
    qk_groups g;
    qk_scaled_decode_fn decode;
    void *out;
} scaled_dq_job;

static void scaled_dequantize_rows(void *arg, int64_t r0, int64_t r1)
{
    const scaled_dq_job *j = arg;
    const qk_ref_args *a = j->a;
    int group = a->params->convrot_group;
    int64_t step = group > 0 ? group : 1;
    uint32_t buf[1024]; /* one ConvRot group (at most 1024) or one element */
    for (int64_t r = r0; r < r1; r++)
        for (int64_t c0 = 0; c0 < a->cols; c0 += step) {
            for (int64_t k = 0; k < step; k++) {
                int64_t c = c0 + k;
                uint32_t s = qk_get_f32(j->scale, qk_group_of(&j->g, r, c));
                buf[k] = j->decode(a, j->data[r * a->cols + c], s);
            }
            if (group > 0)
                qk_convrot_group(buf, group);
            for (int64_t k = 0; k < step; k++)
                qk_store_f32(a->dtype, j->out, r * a->cols + c0 + k, buf[k]);
        }
}

void qk_scaled_dequantize(const qk_ref_args *a, const void *const parts[4], void *out,
                          qk_scaled_decode_fn decode)
{
    scaled_dq_job j = {a, parts[QK_PART_DATA], parts[QK_PART_SCALE], qk_groups_of(a), decode, out};
    qk_exec_run(a->ex, a->rows, 1, scaled_dequantize_rows, &j);
}
