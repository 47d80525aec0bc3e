/* MXFP8: the bytes of comfy-kitchen's eager quantize_mxfp8 on CPU.
 *
 * Blocks of 32 along a row; scale exponent e = ceil(log2(max(bamax / 448,
 * 2^-127))) + 127 clamped to [0, 254], computed exactly (the anchor's
 * torch.log2 can round a value just above a power of two down: documented);
 * data = e4m3(clamp(x / 2^(e-127), 448)); a zero block has scale 0 and +0
 * data. Padded to 32x32; scales in the cuBLAS 128x4 blocked layout. */
#include "ref_internal.h"

#define MX_BLOCK 32

typedef struct {
    const qk_ref_args *a;
    const void *in;
    int64_t cp, ncb;
    uint8_t *data, *scale;
} mx_q_job;

static void mxfp8_quantize_rows(void *arg, int64_t r0, int64_t r1)
{
    const mx_q_job *j = arg;
    const qk_ref_args *a = j->a;
    for (int64_t r = r0; r < r1; r++) {
        uint8_t *row = j->data + r * j->cp;
        memset(row, 0, (size_t)j->cp);
        if (r >= a->rows)
            continue;
        for (int64_t cb = 0; cb < j->ncb; cb++) {
            int64_t c0 = cb * MX_BLOCK;
            int64_t c1 = c0 + MX_BLOCK < a->cols ? c0 + MX_BLOCK : a->cols;
            if (c0 >= a->cols)
                break;
            uint32_t bamax = qk_amax_rect(a->dtype, j->in, a->cols, r, r + 1, c0, c1);
            if (bamax == 0u)
                continue; /* scale byte 0, +0 data */
            uint32_t s = qk_fdiv(bamax, QK_F32_E4M3_MAX);
            if (s < QK_F32_E8M0_MIN)
                s = QK_F32_E8M0_MIN;
            uint32_t e = qk_e8m0_ceil(s);
            j->scale[qk_blocked_offset(r, cb, j->ncb)] = (uint8_t)e;
            uint32_t d = qk_e8m0_to_f32(e);
            for (int64_t c = c0; c < c1; c++) {
                uint32_t x = qk_load_f32(a->dtype, j->in, r * a->cols + c);
                row[c] = (uint8_t)qk_f32_to_e4m3(qk_f32_clamp_abs(qk_fdiv(x, d), QK_F32_E4M3_MAX));
            }
        }
    }
}

qk_status qk_ref_mxfp8_quantize(const qk_ref_args *a, const void *in, void *const parts[4])
{
    qk_status st = qk_check_finite(a->ex, a->dtype, in, a->rows * a->cols);
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
    void *out;
} mx_dq_job;

static void mxfp8_dequantize_rows(void *arg, int64_t r0, int64_t r1)
{
    const mx_dq_job *j = arg;
    const qk_ref_args *a = j->a;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t c = 0; c < a->cols; c++) {
            uint32_t s = qk_e8m0_to_f32(j->scale[qk_blocked_offset(r, c / MX_BLOCK, j->ncb)]);
            uint32_t v = qk_e4m3_to_f32(j->data[r * j->cp + c]);
            qk_store_f32(a->dtype, j->out, r * a->cols + c, qk_fmul(v, s));
        }
}

qk_status qk_ref_mxfp8_dequantize(const qk_ref_args *a, const void *const parts[4], void *out)
{
    int64_t cp = qk_round_up(a->cols, MX_BLOCK);
    mx_dq_job j = {a, parts[QK_PART_DATA], parts[QK_PART_SCALE], cp, cp / MX_BLOCK, out};
    qk_exec_run(a->ex, a->rows, 8, mxfp8_dequantize_rows, &j);
    return QK_OK;
}
