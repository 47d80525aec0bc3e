/* bitsandbytes NF4 / FP4: the bytes of bitsandbytes' CUDA kernels.
 *
 * Blocks run over the flattened row-major tensor. absmax = max |x| with
 * subnormals flushed and NaN skipped (fmaxf in a fast-math build); every value
 * is multiplied (mul.ftz) by bitsandbytes' reciprocal of absmax and coded by
 * threshold count. Element 2j goes to the high nibble; an odd tail is padded
 * with +0.0. */
#include <stdlib.h>

#include "ref_internal.h"

uint32_t qk_bnb_reciprocal(qk_dtype dt, uint32_t absmax)
{
    /* The CUDA kernel computes 1.0f/absmax as rcp.approx.ftz.f32. For bf16 and
     * f16 inputs absmax has at most 7/10 mantissa bits: a measured table
     * reproduces it. For f32 inputs qk uses the correctly rounded reciprocal
     * (documented deviation: rare one-step code differences). */
    if (dt == QK_DTYPE_BF16)
        return qk_rcp_from_table(qk_bnb_rcp_bf16[(absmax >> 16) & 0x7Fu], absmax);
    if (dt == QK_DTYPE_F16)
        return qk_rcp_from_table(qk_bnb_rcp_f16[(absmax >> 13) & 0x3FFu], absmax);
    if ((absmax & QK_F32_INF) == 0u)
        return (absmax & QK_F32_SIGN) | QK_F32_INF;
    return qk_f32_ftz(qk_fdiv(QK_F32_ONE, absmax));
}

typedef struct {
    const qk_ref_args *a;
    const void *in;
    int64_t n, bs;
    int nf4;
    uint8_t *data;
    uint32_t *absmax;
} bnb_q_job;

static void bnb_quantize_blocks(void *arg, int64_t b0, int64_t b1)
{
    const bnb_q_job *j = arg;
    for (int64_t b = b0; b < b1; b++) {
        int64_t i0 = b * j->bs;
        int64_t i1 = i0 + j->bs < j->n ? i0 + j->bs : j->n;
        /* fmaxf from -FLT_MAX; a partial block also sees its zero padding. */
        int any = (i1 - i0) < j->bs;
        uint32_t m = 0;
        for (int64_t i = i0; i < i1; i++) {
            uint32_t x = qk_load_f32(j->a->dtype, j->in, i);
            if (qk_f32_is_nan(x))
                continue;
            uint32_t ax = qk_f32_ftz(x & QK_F32_ABS);
            if (!any || ax > m)
                m = ax;
            any = 1;
        }
        uint32_t absmax = any ? m : 0xFF7FFFFFu;
        j->absmax[b] = absmax;
        uint32_t r = qk_bnb_reciprocal(j->a->dtype, absmax);
        for (int64_t i = i0; i < i0 + qk_round_up(i1 - i0, 2); i += 2) {
            uint32_t x0 = qk_load_f32(j->a->dtype, j->in, i);
            uint32_t x1 = i + 1 < i1 ? qk_load_f32(j->a->dtype, j->in, i + 1) : 0u;
            uint32_t v0 = qk_f32_mul_ftz(x0, r), v1 = qk_f32_mul_ftz(x1, r);
            uint32_t c0 = j->nf4 ? qk_nf4_encode(v0) : qk_fp4_encode(v0);
            uint32_t c1 = j->nf4 ? qk_nf4_encode(v1) : qk_fp4_encode(v1);
            j->data[i / 2] = (uint8_t)((c0 << 4) | c1);
        }
    }
}

qk_status qk_ref_bnb4_quantize(const qk_ref_args *a, const void *in, void *const parts[4])
{
    int64_t n = a->rows * a->cols, bs = a->params->block_size;
    int64_t nb = qk_ceil_div(n, bs);
    uint32_t *absmax = a->params->double_quant ? malloc((size_t)nb * 4) : (uint32_t *)parts[QK_PART_SCALE];
    if (absmax == NULL)
        return QK_ERR_OUT_OF_MEMORY;
    bnb_q_job j = {a, in, n, bs, a->params->format == QK_FORMAT_NF4, parts[QK_PART_DATA], absmax};
    qk_exec_run(a->ex, nb, qk_ceil_div(65536, bs), bnb_quantize_blocks, &j);
    if (a->params->double_quant) {
        qk_bnb_nested_quantize(absmax, nb, parts[QK_PART_SCALE], parts[QK_PART_SCALE2],
                               parts[QK_PART_OFFSET]);
        free(absmax);
    }
    return QK_OK;
}

typedef struct {
    const qk_ref_args *a;
    const uint8_t *data;
    const uint32_t *absmax;
    int64_t n, bs;
    int nf4;
    void *out;
} bnb_dq_job;

static void bnb_dequantize_blocks(void *arg, int64_t b0, int64_t b1)
{
    const bnb_dq_job *j = arg;
    for (int64_t b = b0; b < b1; b++) {
        int64_t i0 = b * j->bs;
        int64_t i1 = i0 + j->bs < j->n ? i0 + j->bs : j->n;
        uint32_t s = j->absmax[b];
        for (int64_t i = i0; i < i1; i++) {
            uint32_t byte = j->data[i / 2];
            uint32_t c = (i & 1) ? (byte & 15u) : (byte >> 4);
            uint32_t v = qk_f32_mul_ftz(j->nf4 ? qk_nf4_value(c) : qk_fp4_value(c), s);
            if (qk_f32_is_nan(v)) /* CUDA's canonical NaN, as bitsandbytes writes it */
                qk_store_bits(j->a->dtype, j->out, i, j->a->dtype == QK_DTYPE_F32 ? 0x7FFFFFFFu : 0x7FFFu);
            else
                qk_store_f32(j->a->dtype, j->out, i, v);
        }
    }
}

qk_status qk_ref_bnb4_dequantize(const qk_ref_args *a, const void *const parts[4], void *out)
{
    int64_t n = a->rows * a->cols, bs = a->params->block_size;
    int64_t nb = qk_ceil_div(n, bs);
    uint32_t *absmax = qk_bnb_absmax_unpack(a->params, parts, nb);
    if (absmax == NULL)
        return QK_ERR_OUT_OF_MEMORY;
    bnb_dq_job j = {a, parts[QK_PART_DATA], absmax, n, bs, a->params->format == QK_FORMAT_NF4, out};
    qk_exec_run(a->ex, nb, qk_ceil_div(65536, bs), bnb_dequantize_blocks, &j);
    free(absmax);
    return QK_OK;
}
