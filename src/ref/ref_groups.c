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
