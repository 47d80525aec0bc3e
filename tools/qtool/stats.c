/* Error statistics and dtype conversions through qk's integer codec. */
#include "stats.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "codec/qk_codec.h"

void stats_add(err_stats *s, const float *orig, const float *back, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double a = orig[i], b = back[i];
        if (!isfinite(a) || !isfinite(b)) {
            s->nonfinite++;
            continue;
        }
        double d = a - b;
        s->signal += a * a;
        s->noise += d * d;
        s->dot += a * b;
        s->back2 += b * b;
        if (fabs(d) > s->max_abs)
            s->max_abs = fabs(d);
    }
    s->n += n;
}

double stats_snr_db(const err_stats *s)
{
    if (s->noise == 0)
        return INFINITY;
    return s->signal > 0 ? 10 * log10(s->signal / s->noise) : -INFINITY;
}

double stats_rel_l2(const err_stats *s)
{
    if (s->signal == 0)
        return s->noise == 0 ? 0.0 : INFINITY;
    return sqrt(s->noise / s->signal);
}

double stats_cosine(const err_stats *s)
{
    if (s->signal == 0 || s->back2 == 0)
        return s->signal == s->back2 ? 1.0 : 0.0;
    return s->dot / sqrt(s->signal * s->back2);
}

json_t *stats_json_real(double v) { return isfinite(v) ? json_real(v) : json_null(); }

void widen_to_f32(qk_dtype dt, const void *in, float *out, size_t n)
{
    if (dt == QK_DTYPE_F32) {
        memcpy(out, in, n * 4);
        return;
    }
    const uint8_t *p = in;
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        uint32_t u = dt == QK_DTYPE_BF16 ? (uint32_t)h << 16 : qk_f16_to_f32(h);
        memcpy(&out[i], &u, 4);
    }
}

void narrow_to_bf16(qk_dtype dt, const void *in, uint16_t *out, size_t n)
{
    const uint8_t *p = in;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        if (dt == QK_DTYPE_F32) {
            memcpy(&u, p + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            u = dt == QK_DTYPE_BF16 ? (uint32_t)h << 16 : qk_f16_to_f32(h);
        }
        out[i] = (uint16_t)qk_f32_to_bf16(u);
    }
}
