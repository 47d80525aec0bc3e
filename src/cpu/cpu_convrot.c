/* int8_tensorwise with ConvRot (per-row scales, its only scaling) on the
 * fast CPU path (semantics: src/ref/ref_int8.c and src/ref/convrot.c).
 *
 * The reference rotates the whole tensor into a copy, then runs the int8
 * quantizer over the copy. Here each row is rotated in scratch and coded at
 * once: one pass, and no copy of the tensor. */
#include <stdlib.h>

#include "../ref/ref_groups.h"
#include "cpu_internal.h"

/* One H4 butterfly on v[o], v[o + s], v[o + 2s], v[o + 3s]: the sums of
 * qk_convrot_group in its order. */
static inline void butterfly(uint32_t *v, int64_t o, int64_t s)
{
    float a = qk_lane_f(v[o]), b = qk_lane_f(v[o + s]);
    float c = qk_lane_f(v[o + 2 * s]), d = qk_lane_f(v[o + 3 * s]);
    float ab = a + b, amb = a - b, bma = b - a;
    v[o] = qk_lane_u((ab + c) - d);
    v[o + s] = qk_lane_u((ab - c) + d);
    v[o + 2 * s] = qk_lane_u((amb + c) + d);
    v[o + 3 * s] = qk_lane_u((bma + c) + d);
}

/* qk_convrot_group on every group of a row of n values (f32 bits) at once:
 * each butterfly level treats every group alike, so one sweep of the row
 * does that level for all of them, then the same exact 2^-levels. The
 * strides 1 and 4 get loops of their own (constant strides vectorize;
 * a loop over o of 1 or 4 does not). */
static inline void rotate_row(uint32_t *v, int64_t n, int group)
{
    for (int64_t i = 0; i < n; i += 4)
        butterfly(v, i, 1);
    if (group >= 16)
        for (int64_t i = 0; i < n; i += 16)
            for (int64_t o = i; o < i + 4; o++)
                butterfly(v, o, 4);
    int levels = group >= 16 ? 2 : 1;
    for (int64_t s = 16; s < group; s *= 4, levels++)
        for (int64_t base = 0; base < n; base += 4 * s)
            for (int64_t o = base; o < base + s; o++)
                butterfly(v, o, s);
    float k = qk_lane_f((uint32_t)(127 - levels) << 23);
    for (int64_t i = 0; i < n; i++)
        v[i] = qk_lane_u(qk_lane_f(v[i]) * k);
}

/* max |x| of n f32 patterns; NaN and Inf give >= 0x7F800000. */
static inline uint32_t row_amax(const uint32_t *v, int64_t n)
{
    uint32_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t x = v[i] & 0x7FFFFFFFu;
        m = x > m ? x : m;
    }
    return m;
}

typedef struct {
    const qk_ref_args *a;
    const void *in;
    uint32_t *amax; /* per row */
    uint8_t *data;
    void *scale;
} rot_q_job;

/* Each row rotated as the reference holds it (rounded to T), then its
 * amax, scale and codes. */
QK_CPU_HOT static void rotated_rows(void *arg, int64_t r0, int64_t r1)
{
    const rot_q_job *j = arg;
    const qk_ref_args *a = j->a;
    uint32_t *x = qk_cpu_scratch((size_t)a->cols * 8);
    uint32_t *v = x + a->cols;
    for (int64_t r = r0; r < r1; r++) {
        qk_cpu_widen(a->dtype, j->in, r * a->cols, a->cols, x);
        rotate_row(x, a->cols, a->params->convrot_group);
        qk_cpu_round_to(a->dtype, x, a->cols);
        uint32_t m = row_amax(x, a->cols), s;
        j->amax[r] = m;
        if (m >= QK_F32_INF)
            continue; /* the call fails: no codes */
        uint32_t d = qk_scaled_group_factor(a, m, &s);
        qk_put_f32(j->scale, r, s);
        qk_cpu_int8_codes(a, x, a->cols, d, v, j->data + r * a->cols);
    }
    free(x);
}

qk_status qk_cpu_convrot_quantize(const qk_ref_args *a, const void *in, void *const parts[4])
{
    uint32_t *amax = malloc((size_t)a->rows * 4);
    if (amax == NULL)
        return QK_ERR_OUT_OF_MEMORY;
    rot_q_job j = {a, in, amax, parts[QK_PART_DATA], parts[QK_PART_SCALE]};
    qk_exec_run(a->ex, a->rows, 1, rotated_rows, &j);
    /* NaN or Inf in the input reaches every value of its group, and the
     * rotation can leave T's range (f16): both are refused, as by the
     * reference's input check and its amax of the rotated tensor. */
    qk_status st = QK_OK;
    for (int64_t r = 0; r < a->rows; r++)
        if (amax[r] >= QK_F32_INF)
            st = QK_ERR_NONFINITE;
    free(amax);
    return st;
}

typedef struct {
    const qk_ref_args *a;
    const uint8_t *data;
    const void *scale;
    void *out;
} rot_dq_job;

/* Codes times the f32 scale, unrotated in f32, stored as T. */
QK_CPU_HOT static void unrotated_rows(void *arg, int64_t r0, int64_t r1)
{
    const rot_dq_job *j = arg;
    const qk_ref_args *a = j->a;
    uint32_t *y = qk_cpu_scratch((size_t)a->cols * 4);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *q = j->data + r * a->cols;
        float s = qk_lane_f(qk_get_f32(j->scale, r));
        for (int64_t c = 0; c < a->cols; c++)
            y[c] = qk_lane_u((float)(int8_t)q[c] * s);
        rotate_row(y, a->cols, a->params->convrot_group);
        qk_cpu_narrow(a->dtype, y, a->cols, j->out, r * a->cols);
    }
    free(y);
}

qk_status qk_cpu_convrot_dequantize(const qk_ref_args *a, const void *const parts[4], void *out)
{
    rot_dq_job j = {a, parts[QK_PART_DATA], parts[QK_PART_SCALE], out};
    qk_exec_run(a->ex, a->rows, 1, unrotated_rows, &j);
    return QK_OK;
}
