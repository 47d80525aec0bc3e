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

/* The scale groups of a float8/int8 call (int8_blockwise always tiles). */
static inline qk_groups qk_groups_of(const qk_ref_args *a)
{
    const qk_params *p = a->params;
    qk_scaling s = p->format == QK_FORMAT_INT8_BLOCKWISE ? QK_SCALING_BLOCK : p->scaling;
    return qk_groups_make(s, p->block_size, a->rows, a->cols);
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

/* qk_scaled_group_factor over all ng groups: amax[k] becomes group k's
 * factor and its scale goes to element k of the scale part. */
void qk_scaled_group_factors(const qk_ref_args *a, int64_t ng, uint32_t *amax, void *scale_part);

/* Codes one input value x (f32 bits) with its group's factor: the byte a
 * float8/int8 format stores. */
typedef uint8_t (*qk_scaled_code_fn)(const qk_ref_args *a, uint32_t x, uint32_t factor);

/* The float8/int8 quantizer around `code`: the amax, scale (into
 * parts[SCALE]) and factor of every group, then every element coded into
 * parts[DATA]. QK_ERR_NONFINITE when the input holds NaN or Inf. */
qk_status qk_scaled_quantize(const qk_ref_args *a, const void *in, void *const parts[4],
                             qk_scaled_code_fn code);

/* Decodes one stored byte q with its group's scale (f32 bits as stored):
 * the f32 value, before any ConvRot. */
typedef uint32_t (*qk_scaled_decode_fn)(const qk_ref_args *a, uint8_t q, uint32_t scale);

/* The float8/int8 dequantizer around `decode`: every element decoded, each
 * ConvRot group of a row unrotated (int8_tensorwise), stored as the output
 * dtype. */
void qk_scaled_dequantize(const qk_ref_args *a, const void *const parts[4], void *out,
                          qk_scaled_decode_fn decode);

#endif
