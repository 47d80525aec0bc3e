/* ComfyUI NVFP4: the bytes of comfy-kitchen's eager quantize_nvfp4 on CPU.
 *
 * g = T(amax / 2688) (in the input dtype T), block of 16 along a row:
 * s = e4m3(min((bamax / 6) / g, 448)); t = g * s; q = e2m1(clamp(x / t, 6)),
 * t == 0 -> +0 codes. Data and scales are zero-padded to 16x16; scales are
 * stored in the cuBLAS 128x4 blocked layout. */
#include "ref_internal.h"

#define NVFP4_BLOCK 16

typedef struct {
    const qk_ref_args *a;
    const void *in;
    uint32_t g;
    int64_t cp, ncb;
    uint8_t *data, *scale;
} nvfp4_q_job;

static void nvfp4_quantize_rows(void *arg, int64_t r0, int64_t r1)
{
    const nvfp4_q_job *j = arg;
    const qk_ref_args *a = j->a;
    for (int64_t r = r0; r < r1; r++) {
        uint8_t *row = j->data + r * (j->cp / 2);
        memset(row, 0, (size_t)(j->cp / 2));
        if (r >= a->rows)
            continue; /* padding rows: zero data, zero scales */
        for (int64_t cb = 0; cb < j->ncb; cb++) {
            int64_t c0 = cb * NVFP4_BLOCK;
            int64_t c1 = c0 + NVFP4_BLOCK < a->cols ? c0 + NVFP4_BLOCK : a->cols;
            if (c0 >= a->cols)
                break;
            uint32_t bamax = qk_amax_rect(a->dtype, j->in, a->cols, r, r + 1, c0, c1);
            uint32_t s = qk_fdiv(qk_fdiv(bamax, QK_F32_E2M1_MAX), j->g);
            if (s > QK_F32_E4M3_MAX)
                s = QK_F32_E4M3_MAX; /* also catches +inf */
            uint32_t s8 = qk_f32_to_e4m3(s);
            j->scale[qk_blocked_offset(r, cb, j->ncb)] = (uint8_t)s8;
            uint32_t t = qk_fmul(j->g, qk_e4m3_to_f32(s8));
            if ((t & QK_F32_ABS) == 0u)
                continue;
            for (int64_t c = c0; c < c1; c++) {
                uint32_t x = qk_load_f32(a->dtype, j->in, r * a->cols + c);
                uint32_t q = qk_f32_to_e2m1(qk_f32_clamp_abs(qk_fdiv(x, t), QK_F32_E2M1_MAX));
                row[c / 2] |= (uint8_t)((c & 1) ? q : (q << 4));
            }
        }
    }
}

qk_status qk_ref_nvfp4_quantize(const qk_ref_args *a, const void *in, void *const parts[4])
{
    uint32_t amax;
    qk_status st = qk_amax_tensor(a->ex, a->dtype, in, a->rows * a->cols, &amax);
    if (st != QK_OK)
        return st;
    int64_t rp = qk_round_up(a->rows, 16), cp = qk_round_up(a->cols, 16), ncb = cp / NVFP4_BLOCK;
    memset(parts[QK_PART_SCALE], 0, qk_blocked_scale_bytes(rp, ncb));
    /* An all-zero tensor gives g = 0 (the anchor divides by it and writes NaN
     * scales): qk writes g = 0, zero scales and zero codes. */
    uint32_t g = qk_nvfp4_global_scale(a->dtype, amax);
    qk_put_f32(parts[QK_PART_SCALE2], 0, g);
    nvfp4_q_job j = {a, in, g, cp, ncb, parts[QK_PART_DATA], parts[QK_PART_SCALE]};
    if (g == 0u) {
        memset(j.data, 0, (size_t)(rp * cp / 2));
        return QK_OK;
    }
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

static void nvfp4_dequantize_rows(void *arg, int64_t r0, int64_t r1)
{
    const nvfp4_dq_job *j = arg;
    const qk_ref_args *a = j->a;
    /* comfy-kitchen multiplies in the output dtype T: T(T(g) * T(s)), then
     * T(value * that); for f32 both are plain f32 products. */
    uint32_t gt = qk_round_to(a->dtype, j->g);
    for (int64_t r = r0; r < r1; r++) {
        for (int64_t c = 0; c < a->cols; c++) {
            uint32_t s8 = qk_e4m3_to_f32(j->scale[qk_blocked_offset(r, c / NVFP4_BLOCK, j->ncb)]);
            uint32_t ts = qk_round_to(a->dtype, qk_fmul(gt, qk_round_to(a->dtype, s8)));
            uint32_t byte = j->data[r * (j->cp / 2) + c / 2];
            uint32_t v = qk_e2m1_to_f32((c & 1) ? (byte & 15u) : (byte >> 4));
            qk_store_f32(a->dtype, j->out, r * a->cols + c, qk_fmul(v, ts));
        }
    }
}

qk_status qk_ref_nvfp4_dequantize(const qk_ref_args *a, const void *const parts[4], void *out)
{
    int64_t cp = qk_round_up(a->cols, 16);
    nvfp4_dq_job j = {a, parts[QK_PART_DATA], parts[QK_PART_SCALE], qk_get_f32(parts[QK_PART_SCALE2], 0),
                      cp, cp / NVFP4_BLOCK, out};
    qk_exec_run(a->ex, a->rows, 16, nvfp4_dequantize_rows, &j);
    return QK_OK;
}
