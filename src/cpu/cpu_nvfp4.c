/* NVFP4 on the fast CPU path (semantics: src/ref/ref_nvfp4.c). */
#include <stdlib.h>

#include "cpu_internal.h"

#define NVFP4_BLOCK 16

typedef struct {
    const qk_ref_args *a;
    const void *in;
    uint32_t g;
    int64_t cp, ncb;
    uint8_t *data, *scale;
} nvfp4_q_job;

/* Per row, in passes the compiler vectorizes: block maxima, block scales
 * (the e4m3 steps on all blocks at once), each element's block scale spread
 * out so the codes pass is one flat loop over the row, nibble packing. */
QK_CPU_HOT static void nvfp4_quantize_rows(void *arg, int64_t r0, int64_t r1)
{
    const nvfp4_q_job *j = arg;
    const qk_ref_args *a = j->a;
    int64_t cp = j->cp, ncb = j->ncb;
    uint32_t *x = qk_cpu_scratch((size_t)(2 * cp + 2 * ncb) * 4 + (size_t)cp);
    uint32_t *s8 = x + cp, *t = s8 + ncb, *te = t + ncb;
    uint8_t *q = (uint8_t *)(te + cp);
    float g = qk_lane_f(j->g);
    for (int64_t r = r0; r < r1; r++) {
        uint8_t *row = j->data + r * (cp / 2);
        if (r >= a->rows) {
            memset(row, 0, (size_t)(cp / 2)); /* padding rows */
            continue;
        }
        qk_cpu_widen(a->dtype, j->in, r * a->cols, a->cols, x);
        memset(x + a->cols, 0, (size_t)(cp - a->cols) * 4); /* +0 codes in the padding */
        for (int64_t cb = 0; cb < ncb; cb++) {
            uint32_t m = 0;
            for (int k = 0; k < NVFP4_BLOCK; k++) {
                uint32_t v = x[cb * NVFP4_BLOCK + k] & QK_F32_ABS;
                m = v > m ? v : m;
            }
            s8[cb] = m;
        }
        for (int64_t cb = 0; cb < ncb; cb++) {
            uint32_t s = qk_lane_u(qk_lane_f(s8[cb]) / 6.0f / g); /* >= 0, maybe +inf */
            s8[cb] = qk_lane_e4m3(s > QK_F32_E4M3_MAX ? QK_F32_E4M3_MAX : s);
            t[cb] = qk_lane_u(g * qk_lane_f(qk_lane_e4m3_value(s8[cb])));
        }
        for (int64_t cb = 0; cb < ncb; cb++) {
            j->scale[qk_blocked_offset(r, cb, ncb)] = (uint8_t)s8[cb];
            for (int k = 0; k < NVFP4_BLOCK; k++)
                te[cb * NVFP4_BLOCK + k] = t[cb];
        }
        for (int64_t i = 0; i < cp; i++) {
            uint32_t c = qk_lane_e2m1(qk_lane_u(qk_lane_f(x[i]) / qk_lane_f(te[i])));
            q[i] = (uint8_t)(te[i] == 0u ? 0u : c); /* the reference leaves such a block +0 */
        }
        for (int64_t k = 0; k < cp / 2; k++)
            row[k] = (uint8_t)(q[2 * k] << 4 | q[2 * k + 1]);
    }
    free(x);
}

qk_status qk_cpu_nvfp4_quantize(const qk_ref_args *a, const void *in, void *const parts[4])
{
    uint32_t amax;
    qk_status st = qk_cpu_amax_tensor(a->ex, a->dtype, in, a->rows * a->cols, &amax);
    if (st != QK_OK)
        return st;
    uint32_t g = qk_nvfp4_global_scale(a->dtype, amax);
    if (g == 0u) /* the reference's all-zero case */
        return qk_ref_nvfp4_quantize(a, in, parts);
    int64_t rp = qk_round_up(a->rows, 16), cp = qk_round_up(a->cols, 16), ncb = cp / NVFP4_BLOCK;
    memset(parts[QK_PART_SCALE], 0, qk_blocked_scale_bytes(rp, ncb));
    qk_put_f32(parts[QK_PART_SCALE2], 0, g);
    nvfp4_q_job j = {a, in, g, cp, ncb, parts[QK_PART_DATA], parts[QK_PART_SCALE]};
    qk_exec_run(a->ex, rp, 16, nvfp4_quantize_rows, &j);
    return QK_OK;
}

typedef struct {
    const qk_ref_args *a;
    const uint8_t *data, *scale;
    uint32_t g;
    int64_t cp, ncb;
    void *out;
} nvfp4_dq_job;

QK_CPU_HOT static void nvfp4_dequantize_rows(void *arg, int64_t r0, int64_t r1)
{
    const nvfp4_dq_job *j = arg;
    const qk_ref_args *a = j->a;
    uint32_t *y = qk_cpu_scratch((size_t)j->cp * 4);
    float lut[16];
    for (uint32_t c = 0; c < 16; c++)
        lut[c] = qk_lane_f(qk_e2m1_to_f32(c));
    /* a block's factor T(T(g) T(s)) by its scale byte: the codec's
     * conversions once a byte instead of once a block */
    uint32_t gt = qk_round_to(a->dtype, j->g);
    float factor[256];
    for (uint32_t b = 0; b < 256; b++)
        factor[b] = qk_lane_f(qk_round_to(a->dtype, qk_fmul(gt, qk_round_to(a->dtype, qk_e4m3_to_f32(b)))));
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = j->data + r * (j->cp / 2);
        for (int64_t cb = 0; cb < j->ncb && cb * NVFP4_BLOCK < a->cols; cb++) {
            float ts = factor[j->scale[qk_blocked_offset(r, cb, j->ncb)]];
            uint32_t *o = y + cb * NVFP4_BLOCK;
            for (int k = 0; k < NVFP4_BLOCK / 2; k++) {
                uint32_t b = row[cb * (NVFP4_BLOCK / 2) + k];
                o[2 * k] = qk_lane_u(lut[b >> 4] * ts);
                o[2 * k + 1] = qk_lane_u(lut[b & 15u] * ts);
            }
        }
        qk_cpu_narrow(a->dtype, y, a->cols, j->out, r * a->cols);
    }
    free(y);
}

qk_status qk_cpu_nvfp4_dequantize(const qk_ref_args *a, const void *const parts[4], void *out)
{
    int64_t cp = qk_round_up(a->cols, 16);
    nvfp4_dq_job j = {a, parts[QK_PART_DATA], parts[QK_PART_SCALE], qk_get_f32(parts[QK_PART_SCALE2], 0),
                      cp, cp / NVFP4_BLOCK, out};
    qk_exec_run(a->ex, a->rows, 16, nvfp4_dequantize_rows, &j);
    return QK_OK;
}
