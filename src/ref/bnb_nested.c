/* bitsandbytes double quantization of the absmax vector ("nested" stats):
 * offset = mean(absmax), then 8-bit blockwise quantization (blocks of 256)
 * of absmax - offset with the signed dynamic map, as bitsandbytes' CUDA
 * kQuantizeBlockwise<General8bit> does. Small (one value per 4-bit block), so
 * every backend runs this part on the host. */
#include <stdlib.h>

#include "ref_internal.h"

#define NESTED_BLOCK 256

/* bitsandbytes' dQuantize: binary search over the sorted map, then the
 * nearer neighbour by float midpoints (ties go to the pivot). */
uint8_t qk_bnb_dynamic_map_search(uint32_t x, uint32_t *mid_out, int *above)
{
    const uint32_t *code = qk_bnb_dynamic_map;
    float fx = qk_float(x);
    int pivot = 127, upper_pivot = 255, lower_pivot = 0;
    float lower = -1.0f, upper = 1.0f;
    float val = qk_float(code[pivot]);
    for (int i = 64; i > 0; i >>= 1) {
        if (fx > val) {
            lower_pivot = pivot;
            lower = val;
            pivot += i;
        } else {
            upper_pivot = pivot;
            upper = val;
            pivot -= i;
        }
        val = qk_float(code[pivot]);
    }
    if (upper_pivot == 255)
        upper = qk_float(code[upper_pivot]);
    if (lower_pivot == 0)
        lower = qk_float(code[lower_pivot]);
    *above = fx > val;
    float nb = *above ? upper : lower; /* the neighbour on fx's side */
    uint32_t mid = qk_f32_ftz(qk_fmul(qk_f32_ftz(qk_fadd(qk_bits(nb), qk_bits(val))), 0x3F000000u));
    *mid_out = mid;
    if (*above)
        return (uint8_t)(fx > qk_float(mid) ? upper_pivot : pivot);
    return (uint8_t)(fx < qk_float(mid) ? lower_pivot : pivot);
}

uint32_t qk_bnb_dynamic_map_code(uint32_t x)
{
    uint32_t mid;
    int above;
    return qk_bnb_dynamic_map_search(x, &mid, &above);
}

/* qk's mean: a sequential double sum divided by nb, rounded to f32
 * (torch's CUDA mean is order-dependent; documented deviation). */
uint32_t qk_bnb_mean_sequential(const uint32_t *absmax, int64_t nb)
{
    double sum = 0.0;
    for (int64_t i = 0; i < nb; i++)
        sum += (double)qk_float(absmax[i]);
    return qk_bits((float)(sum / (double)nb));
}

void qk_bnb_nested_quantize(const uint32_t *absmax, int64_t nb, uint8_t *codes, void *nested,
                            void *offset)
{
    uint32_t off = qk_bnb_mean_sequential(absmax, nb);
    qk_put_f32(offset, 0, off);
    int64_t nn = qk_ceil_div(nb, NESTED_BLOCK);
    for (int64_t b = 0; b < nn; b++) {
        int64_t i0 = b * NESTED_BLOCK;
        int64_t i1 = i0 + NESTED_BLOCK < nb ? i0 + NESTED_BLOCK : nb;
        int any = (i1 - i0) < NESTED_BLOCK;
        uint32_t m = 0;
        for (int64_t i = i0; i < i1; i++) {
            uint32_t d = qk_fadd(absmax[i], off ^ QK_F32_SIGN);
            uint32_t ad = qk_f32_ftz(d & QK_F32_ABS);
            if (qk_f32_is_nan(d))
                continue;
            if (!any || ad > m)
                m = ad;
            any = 1;
        }
        uint32_t amax = any ? m : 0xFF7FFFFFu;
        qk_put_f32(nested, b, amax);
        uint32_t r = qk_bnb_reciprocal(QK_DTYPE_F32, amax);
        for (int64_t i = i0; i < i1; i++) {
            uint32_t d = qk_fadd(absmax[i], off ^ QK_F32_SIGN);
            codes[i] = (uint8_t)qk_bnb_dynamic_map_code(qk_f32_mul_ftz(d, r));
        }
    }
}

void qk_bnb_nested_dequantize(const uint8_t *codes, const void *nested, const void *offset,
                              int64_t nb, uint32_t *absmax)
{
    uint32_t off = qk_get_f32(offset, 0);
    for (int64_t i = 0; i < nb; i++) {
        uint32_t s = qk_get_f32(nested, i / NESTED_BLOCK);
        absmax[i] = qk_fadd(qk_f32_mul_ftz(qk_bnb_dynamic_map[codes[i]], s), off);
    }
}

int qk_bnb_nested_finite(const void *const parts[4], int64_t nested_count)
{
    if ((qk_get_f32(parts[QK_PART_OFFSET], 0) & QK_F32_INF) == QK_F32_INF)
        return 0;
    for (int64_t k = 0; k < nested_count; k++)
        if ((qk_get_f32(parts[QK_PART_SCALE2], k) & QK_F32_INF) == QK_F32_INF)
            return 0;
    return 1;
}

uint32_t *qk_bnb_absmax_unpack(const qk_params *p, const void *const parts[4], int64_t nb)
{
    uint32_t *absmax = malloc((size_t)nb * 4);
    if (absmax == NULL)
        return NULL;
    if (p->double_quant)
        qk_bnb_nested_dequantize(parts[QK_PART_SCALE], parts[QK_PART_SCALE2], parts[QK_PART_OFFSET],
                                 nb, absmax);
    else
        memcpy(absmax, parts[QK_PART_SCALE], (size_t)nb * 4);
    return absmax;
}
