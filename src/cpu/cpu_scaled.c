/* float8_* and int8_* (tensor, row or tile scales) on the fast CPU path
 * (semantics: src/ref/ref_fp8.c and src/ref/ref_int8.c). ConvRot rows:
 * cpu_convrot.c. */
#include <stdlib.h>

#include "../ref/ref_groups.h"
#include "cpu_internal.h"

static int is_fp8(qk_format f) { return f == QK_FORMAT_FLOAT8_E4M3FN || f == QK_FORMAT_FLOAT8_E5M2; }

/* ---- per-group amax, in parallel over rows of groups ------------------- */
typedef struct {
    const qk_groups *g;
    qk_dtype dt;
    const void *in;
    uint32_t *amax;
} gamax_job;

static void group_rows_amax(void *arg, int64_t k0, int64_t k1)
{
    const gamax_job *j = arg;
    const qk_groups *g = j->g;
    for (int64_t gr = k0; gr < k1; gr++) {
        uint32_t *m = j->amax + gr * g->gc;
        memset(m, 0, (size_t)g->gc * 4);
        int64_t r1 = (gr + 1) * g->bh < g->rows ? (gr + 1) * g->bh : g->rows;
        for (int64_t r = gr * g->bh; r < r1; r++)
            for (int64_t gc = 0; gc < g->gc; gc++) {
                int64_t c0 = gc * g->bw, c1 = c0 + g->bw < g->cols ? c0 + g->bw : g->cols;
                uint32_t a = qk_cpu_amax(j->dt, j->in, r * g->cols + c0, c1 - c0);
                m[gc] = a > m[gc] ? a : m[gc];
            }
    }
}

static qk_status groups_amax(const qk_exec *ex, const qk_groups *g, qk_dtype dt, const void *in,
                             uint32_t *amax)
{
    if (qk_groups_count(g) == 1)
        return qk_cpu_amax_tensor(ex, dt, in, g->rows * g->cols, amax);
    gamax_job j = {g, dt, in, amax};
    qk_exec_run(ex, g->gr, 1, group_rows_amax, &j);
    for (int64_t k = 0; k < qk_groups_count(g); k++)
        if (amax[k] >= QK_F32_INF)
            return QK_ERR_NONFINITE;
    return QK_OK;
}

/* ---- quantize ----------------------------------------------------------- */
typedef struct {
    const qk_ref_args *a;
    const void *in;
    qk_groups g;
    const uint32_t *factor; /* fp8: T(1 / scale); int8: the divisor s_T (0: zero tile) */
    uint8_t *data;
} scaled_q_job;

/* One row segment [c0, c1) with one factor; x is the widened row. */
static inline void fp8_segment(const qk_ref_args *a, const uint32_t *x, int64_t n, uint32_t rc,
                               uint32_t *v, uint8_t *out)
{
    float r = qk_lane_f(rc);
    for (int64_t i = 0; i < n; i++)
        v[i] = qk_lane_u(qk_lane_f(x[i]) * r);
    qk_cpu_round_to(a->dtype, v, n);
    if (a->params->format == QK_FORMAT_FLOAT8_E4M3FN) {
        for (int64_t i = 0; i < n; i++) {
            float f = (x[i] & QK_F32_ABS) == 0u ? qk_lane_f(x[i]) : qk_lane_f(v[i]); /* zeros stay */
            f = f > 448.0f ? 448.0f : (f < -448.0f ? -448.0f : f);
            out[i] = (uint8_t)qk_lane_e4m3(qk_lane_u(f));
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            float f = (x[i] & QK_F32_ABS) == 0u ? qk_lane_f(x[i]) : qk_lane_f(v[i]);
            f = f > 57344.0f ? 57344.0f : (f < -57344.0f ? -57344.0f : f);
            out[i] = (uint8_t)qk_lane_e5m2(qk_lane_u(f));
        }
    }
}

QK_CPU_HOT static void scaled_quantize_rows(void *arg, int64_t r0, int64_t r1)
{
    const scaled_q_job *j = arg;
    const qk_ref_args *a = j->a;
    uint32_t *x = qk_cpu_scratch((size_t)a->cols * 8);
    uint32_t *v = x + a->cols;
    int fp8 = is_fp8(a->params->format);
    for (int64_t r = r0; r < r1; r++) {
        qk_cpu_widen(a->dtype, j->in, r * a->cols, a->cols, x);
        const uint32_t *f = j->factor + (r / j->g.bh) * j->g.gc;
        for (int64_t gc = 0; gc < j->g.gc; gc++) {
            int64_t c0 = gc * j->g.bw, n = (c0 + j->g.bw < a->cols ? c0 + j->g.bw : a->cols) - c0;
            uint8_t *out = j->data + r * a->cols + c0;
            if (fp8)
                fp8_segment(a, x + c0, n, f[gc], v + c0, out);
            else
                qk_cpu_int8_codes(a, x + c0, n, f[gc], v + c0, out);
        }
    }
    free(x);
}

qk_status qk_cpu_scaled_quantize(const qk_ref_args *a, const void *in, void *const parts[4])
{
    qk_groups g = qk_groups_of(a);
    int64_t ng = qk_groups_count(&g);
    uint32_t *amax = malloc((size_t)ng * 4);
    if (amax == NULL)
        return QK_ERR_OUT_OF_MEMORY;
    qk_status st = groups_amax(a->ex, &g, a->dtype, in, amax);
    if (st == QK_OK) {
        qk_scaled_group_factors(a, ng, amax, parts[QK_PART_SCALE]);
        scaled_q_job j = {a, in, g, amax, parts[QK_PART_DATA]};
        qk_exec_run(a->ex, a->rows, 4, scaled_quantize_rows, &j);
    }
    free(amax);
    return st;
}

/* ---- dequantize --------------------------------------------------------- */
typedef struct {
    const qk_ref_args *a;
    const uint8_t *data;
    const void *scale;
    qk_groups g;
    const float *lut; /* fp8 code -> value, already rounded to T */
    void *out;
} scaled_dq_job;

QK_CPU_HOT static void scaled_dequantize_rows(void *arg, int64_t r0, int64_t r1)
{
    const scaled_dq_job *j = arg;
    const qk_ref_args *a = j->a;
    uint32_t *y = qk_cpu_scratch((size_t)a->cols * 4);
    /* fp8 and int8_blockwise multiply by T(scale); int8_tensorwise by the f32 scale */
    int in_t = a->params->format != QK_FORMAT_INT8_TENSORWISE;
    int is_int8 = !is_fp8(a->params->format);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *q = j->data + r * a->cols;
        for (int64_t gc = 0; gc < j->g.gc; gc++) {
            int64_t c0 = gc * j->g.bw, c1 = c0 + j->g.bw < a->cols ? c0 + j->g.bw : a->cols;
            uint32_t sb = qk_get_f32(j->scale, (r / j->g.bh) * j->g.gc + gc);
            float s = qk_lane_f(in_t ? qk_round_to(a->dtype, sb) : sb);
            if (is_int8) /* converted, not looked up: the loop vectorizes */
                for (int64_t c = c0; c < c1; c++)
                    y[c] = qk_lane_u((float)(int8_t)q[c] * s);
            else
                for (int64_t c = c0; c < c1; c++)
                    y[c] = qk_lane_u(j->lut[q[c]] * s);
        }
        qk_cpu_narrow(a->dtype, y, a->cols, j->out, r * a->cols);
    }
    free(y);
}

qk_status qk_cpu_scaled_dequantize(const qk_ref_args *a, const void *const parts[4], void *out)
{
    const qk_params *p = a->params;
    float lut[256];
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t v = p->format == QK_FORMAT_FLOAT8_E4M3FN ? qk_e4m3_to_f32(b) : qk_e5m2_to_f32(b);
        lut[b] = qk_lane_f(qk_round_to(a->dtype, v)); /* unused by int8 */
    }
    scaled_dq_job j = {a, parts[QK_PART_DATA], parts[QK_PART_SCALE],
                       qk_groups_of(a), lut, out};
    qk_exec_run(a->ex, a->rows, 4, scaled_dequantize_rows, &j);
    return QK_OK;
}
