/* bitsandbytes NF4 / FP4 on the fast CPU path (semantics:
 * src/ref/ref_bnb4.c). Double quant of the absmax vector stays with the
 * reference's host code. */
#include <stdlib.h>

#include "cpu_internal.h"

/* NF4: the number of thresholds below x (qk_nf4_encode); NaN compares false
 * everywhere and gets code 0, as there. */
static inline uint32_t nf4_code(float v)
{
    static const uint32_t t[15] = {0xBF591CD9u, 0xBF1C5270u, 0xBEEB8480u, 0xBEADEA76u, 0xBE703CECu,
                                   0xBE0D38BCu, 0xBD3A7871u, 0x3D22FAFFu, 0x3DF64863u, 0x3E5067E0u,
                                   0x3E9582D4u, 0x3EC753F9u, 0x3F006D03u, 0x3F248DAFu, 0x3F5C89D9u};
    uint32_t c = 0;
    for (int k = 0; k < 15; k++)
        c += (uint32_t)(v > qk_lane_f(t[k]));
    return c;
}

/* FP4: magnitude rank by thresholds, mapped to codes 0,1,6,7,4,5,2,3 (rank r
 * -> r ^ ((r & 2) << 1)), sign 8 for negative non-zero x (qk_fp4_encode). */
static inline uint32_t fp4_code(uint32_t u)
{
    static const uint32_t t[7] = {0x3B2AAAB9u, 0x3DB00000u, 0x3E555555u, 0x3E955555u,
                                  0x3ED55556u, 0x3F155550u, 0x3F555555u};
    uint32_t a = u & QK_F32_ABS, r = 0;
    for (int k = 0; k < 7; k++)
        r += (uint32_t)(a > t[k]);
    uint32_t c = (r ^ ((r & 2u) << 1)) | ((u >> 28) & 8u & (a != 0u ? 8u : 0u));
    return a > QK_F32_INF ? 0u : c;
}

static inline uint32_t ftz(uint32_t u) { return (u & QK_F32_INF) == 0u ? u & QK_F32_SIGN : u; }

typedef struct {
    const qk_ref_args *a;
    const void *in;
    int64_t n, bs;
    uint8_t *data;
    uint32_t *absmax;
} bnb_q_job;

QK_CPU_HOT static void bnb_quantize_blocks(void *arg, int64_t b0, int64_t b1)
{
    const bnb_q_job *j = arg;
    int64_t bs = j->bs;
    uint32_t *x = malloc((size_t)bs * 4);
    uint8_t *q = malloc((size_t)bs);
    if (x == NULL || q == NULL)
        abort(); /* a block of scratch; nothing sensible remains */
    int nf4 = j->a->params->format == QK_FORMAT_NF4;
    for (int64_t b = b0; b < b1; b++) {
        int64_t i0 = b * bs, len = i0 + bs < j->n ? bs : j->n - i0;
        qk_cpu_widen(j->a->dtype, j->in, i0, len, x);
        memset(x + len, 0, (size_t)(bs - len) * 4); /* the anchor pads with +0.0 */
        /* fmaxf over flushed magnitudes, NaN skipped; all-NaN full block: -FLT_MAX */
        uint32_t m = 0, seen = len < bs;
        for (int64_t i = 0; i < bs; i++) {
            uint32_t v = ftz(x[i] & QK_F32_ABS);
            uint32_t num = (uint32_t)(v <= QK_F32_INF);
            v = num ? v : 0u;
            seen |= num;
            m = v > m ? v : m;
        }
        uint32_t absmax = seen ? m : 0xFF7FFFFFu;
        j->absmax[b] = absmax;
        float r = qk_lane_f(ftz(qk_bnb_reciprocal(j->a->dtype, absmax)));
        int64_t even = len + (len & 1); /* an odd tail codes its +0.0 pad too */
        if (nf4)
            for (int64_t i = 0; i < even; i++)
                q[i] = (uint8_t)nf4_code(qk_lane_f(ftz(qk_lane_u(qk_lane_f(ftz(x[i])) * r))));
        else
            for (int64_t i = 0; i < even; i++)
                q[i] = (uint8_t)fp4_code(ftz(qk_lane_u(qk_lane_f(ftz(x[i])) * r)));
        uint8_t *out = j->data + i0 / 2;
        for (int64_t k = 0; k < even / 2; k++)
            out[k] = (uint8_t)(q[2 * k] << 4 | q[2 * k + 1]);
    }
    free(x);
    free(q);
}

qk_status qk_cpu_bnb4_quantize(const qk_ref_args *a, const void *in, void *const parts[4])
{
    int64_t n = a->rows * a->cols, bs = a->params->block_size;
    int64_t nb = qk_ceil_div(n, bs);
    uint32_t *absmax = a->params->double_quant ? malloc((size_t)nb * 4) : (uint32_t *)parts[QK_PART_SCALE];
    if (absmax == NULL)
        return QK_ERR_OUT_OF_MEMORY;
    bnb_q_job j = {a, in, n, bs, parts[QK_PART_DATA], absmax};
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
    void *out;
} bnb_dq_job;

QK_CPU_HOT static void bnb_dequantize_blocks(void *arg, int64_t b0, int64_t b1)
{
    const bnb_dq_job *j = arg;
    const qk_ref_args *a = j->a;
    int64_t bs = j->bs;
    uint32_t *y = malloc((size_t)(bs + 1) * 4);
    if (y == NULL)
        abort();
    float lut[16];
    for (uint32_t c = 0; c < 16; c++)
        lut[c] = qk_lane_f(a->params->format == QK_FORMAT_NF4 ? qk_nf4_value(c) : qk_fp4_value(c));
    for (int64_t b = b0; b < b1; b++) {
        int64_t i0 = b * bs, len = i0 + bs < j->n ? bs : j->n - i0;
        float s = qk_lane_f(ftz(j->absmax[b]));
        const uint8_t *d = j->data + i0 / 2;
        for (int64_t k = 0; k < (len + 1) / 2; k++) {
            y[2 * k] = ftz(qk_lane_u(lut[d[k] >> 4] * s));
            y[2 * k + 1] = ftz(qk_lane_u(lut[d[k] & 15u] * s));
        }
        /* NaN (inf * 0) comes out as CUDA's canonical NaN, as bitsandbytes writes it */
        if (a->dtype == QK_DTYPE_F32) {
            uint32_t *o = (uint32_t *)j->out + i0;
            for (int64_t i = 0; i < len; i++)
                o[i] = (y[i] & QK_F32_ABS) > QK_F32_INF ? 0x7FFFFFFFu : y[i];
        } else if (a->dtype == QK_DTYPE_BF16) {
            uint16_t *o = (uint16_t *)j->out + i0;
            for (int64_t i = 0; i < len; i++)
                o[i] = (uint16_t)((y[i] & QK_F32_ABS) > QK_F32_INF ? 0x7FFFu : qk_lane_to_bf16(y[i]));
        } else {
            uint16_t *o = (uint16_t *)j->out + i0;
            for (int64_t i = 0; i < len; i++)
                o[i] = (uint16_t)((y[i] & QK_F32_ABS) > QK_F32_INF ? 0x7FFFu : qk_f32_to_f16(y[i]));
        }
    }
    free(y);
}

qk_status qk_cpu_bnb4_dequantize(const qk_ref_args *a, const void *const parts[4], void *out)
{
    int64_t n = a->rows * a->cols, bs = a->params->block_size;
    int64_t nb = qk_ceil_div(n, bs);
    uint32_t *absmax = qk_bnb_absmax_unpack(a->params, parts, nb);
    if (absmax == NULL)
        return QK_ERR_OUT_OF_MEMORY;
    bnb_dq_job j = {a, parts[QK_PART_DATA], absmax, n, bs, out};
    qk_exec_run(a->ex, nb, qk_ceil_div(65536, bs), bnb_dequantize_blocks, &j);
    free(absmax);
    return QK_OK;
}
