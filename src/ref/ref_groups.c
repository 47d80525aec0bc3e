/* Per-group amax for the scaled formats. */
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
