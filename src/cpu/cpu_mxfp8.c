/* MXFP8 on the fast CPU path (semantics: src/ref/ref_mxfp8.c). */
#include <stdlib.h>

#include "cpu_internal.h"

#define MX_BLOCK 32

typedef struct {
    const qk_ref_args *a;
    const void *in;
    int64_t cp, ncb;
    uint8_t *data, *scale;
} mx_q_job;

QK_CPU_HOT static void mxfp8_quantize_rows(void *arg, int64_t r0, int64_t r1)
{
    const mx_q_job *j = arg;
    const qk_ref_args *a = j->a;
    uint32_t *x = qk_cpu_scratch((size_t)j->cp * 4);
    for (int64_t r = r0; r < r1; r++) {
        uint8_t *row = j->data + r * j->cp;
        if (r >= a->rows) {
            memset(row, 0, (size_t)j->cp); /* padding rows; their scales stay 0 */
            continue;
        }
        qk_cpu_widen(a->dtype, j->in, r * a->cols, a->cols, x);
        memset(x + a->cols, 0, (size_t)(j->cp - a->cols) * 4);
        for (int64_t cb = 0; cb < j->ncb; cb++) {
            const uint32_t *v = x + cb * MX_BLOCK;
            uint32_t m = 0;
            for (int k = 0; k < MX_BLOCK; k++) {
                uint32_t u = v[k] & QK_F32_ABS;
                m = u > m ? u : m;
            }
            uint8_t *out = row + cb * MX_BLOCK;
            if (m == 0u) { /* scale byte 0 (from the memset), +0 data */
                memset(out, 0, MX_BLOCK);
                continue;
            }
            uint32_t s = qk_lane_u(qk_lane_f(m) / 448.0f);
            uint32_t e = qk_e8m0_ceil(s < QK_F32_E8M0_MIN ? QK_F32_E8M0_MIN : s);
            j->scale[qk_blocked_offset(r, cb, j->ncb)] = (uint8_t)e;
            float d = qk_lane_f(qk_e8m0_to_f32(e));
            for (int k = 0; k < MX_BLOCK; k++) {
                uint32_t q = qk_lane_u(qk_lane_f(v[k]) / d);
                uint32_t qa = q & QK_F32_ABS;
                q = (q & QK_F32_SIGN) | (qa > QK_F32_E4M3_MAX ? QK_F32_E4M3_MAX : qa);
                out[k] = (uint8_t)qk_lane_e4m3(q);
            }
        }
    }
    free(x);
}

qk_status qk_cpu_mxfp8_quantize(const qk_ref_args *a, const void *in, void *const parts[4])
{
    uint32_t amax;
    qk_status st = qk_cpu_amax_tensor(a->ex, a->dtype, in, a->rows * a->cols, &amax);
    if (st != QK_OK)
        return st;
    int64_t rp = qk_round_up(a->rows, MX_BLOCK), cp = qk_round_up(a->cols, MX_BLOCK);
    int64_t ncb = cp / MX_BLOCK;
    memset(parts[QK_PART_SCALE], 0, qk_blocked_scale_bytes(rp, ncb));
    mx_q_job j = {a, in, cp, ncb, parts[QK_PART_DATA], parts[QK_PART_SCALE]};
    qk_exec_run(a->ex, rp, 8, mxfp8_quantize_rows, &j);
    return QK_OK;
}

typedef struct {
    const qk_ref_args *a;
    const uint8_t *data, *scale;
    int64_t cp, ncb;
    const float *lut;
    void *out;
} mx_dq_job;

QK_CPU_HOT static void mxfp8_dequantize_rows(void *arg, int64_t r0, int64_t r1)
{
    const mx_dq_job *j = arg;
    const qk_ref_args *a = j->a;
    uint32_t *y = qk_cpu_scratch((size_t)j->cp * 4);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *q = j->data + r * j->cp;
        for (int64_t cb = 0; cb * MX_BLOCK < a->cols; cb++) {
            float s = qk_lane_f(qk_e8m0_to_f32(j->scale[qk_blocked_offset(r, cb, j->ncb)]));
            for (int k = 0; k < MX_BLOCK; k++)
                y[cb * MX_BLOCK + k] = qk_lane_u(j->lut[q[cb * MX_BLOCK + k]] * s);
        }
        qk_cpu_narrow(a->dtype, y, a->cols, j->out, r * a->cols);
    }
    free(y);
}

qk_status qk_cpu_mxfp8_dequantize(const qk_ref_args *a, const void *const parts[4], void *out)
{
    float lut[256];
    for (uint32_t b = 0; b < 256; b++)
        lut[b] = qk_lane_f(qk_e4m3_to_f32(b));
    int64_t cp = qk_round_up(a->cols, MX_BLOCK);
    mx_dq_job j = {a, parts[QK_PART_DATA], parts[QK_PART_SCALE], cp, cp / MX_BLOCK, lut, out};
    qk_exec_run(a->ex, a->rows, 8, mxfp8_dequantize_rows, &j);
    return QK_OK;
}
