/* Scale groups of the scaled formats (float8_*, int8_*): one scale for the
 * tensor, per row, or per BxB tile (edge tiles partial), stored row-major. */
#ifndef QK_REF_GROUPS_H
#define QK_REF_GROUPS_H

#include "ref_internal.h"

typedef struct {
    int64_t rows, cols, bh, bw; /* tile height and width */
    int64_t gr, gc;             /* groups down and across */
} qk_groups;

static inline qk_groups qk_groups_make(qk_scaling s, int64_t block, int64_t rows, int64_t cols)
{
    qk_groups g = {rows, cols, rows, cols, 1, 1};
    if (s == QK_SCALING_ROW) {
        g.bh = 1;
        g.gr = rows;
    } else if (s == QK_SCALING_BLOCK) {
        g.bh = g.bw = block;
        g.gr = qk_ceil_div(rows, block);
        g.gc = qk_ceil_div(cols, block);
    }
    return g;
}

static inline int64_t qk_groups_count(const qk_groups *g) { return g->gr * g->gc; }

static inline int64_t qk_group_of(const qk_groups *g, int64_t r, int64_t c)
{
    return (r / g->bh) * g->gc + c / g->bw;
}

/* Rectangle [r0, r1) x [c0, c1) of group k. */
static inline void qk_group_rect(const qk_groups *g, int64_t k, int64_t *r0, int64_t *r1,
                                 int64_t *c0, int64_t *c1)
{
    *r0 = (k / g->gc) * g->bh;
    *c0 = (k % g->gc) * g->bw;
    *r1 = *r0 + g->bh < g->rows ? *r0 + g->bh : g->rows;
    *c1 = *c0 + g->bw < g->cols ? *c0 + g->bw : g->cols;
}

/* Amax of every group into amax[], in parallel over groups (tensor scaling
 * uses the chunked whole-tensor reduction). NONFINITE on NaN/Inf. */
qk_status qk_groups_amax(const qk_exec *ex, const qk_groups *g, qk_dtype dt, const void *in,
                         uint32_t *amax);

/* The scalar step of a float8/int8 group: writes the scale the file keeps
 * and returns the factor the elements use (float8: T(1 / scale); int8: the
 * divisor s_T, 0 for a blockwise zero tile whose floor is 0 in T). */
uint32_t qk_scaled_group_factor(const qk_ref_args *a, uint32_t amax, uint32_t *scale_out);

#endif
