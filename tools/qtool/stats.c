/* Error statistics and dtype conversions through qk's integer codec. */
#include "stats.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "codec/qk_codec.h"

#define LANES 8 /* eight independent chains of additions, and no branch in the main loop */

void stats_add(err_stats *s, const float *orig, const float *back, size_t n)
{
    double sig[LANES] = {0}, noise[LANES] = {0}, dot[LANES] = {0}, back2[LANES] = {0}, mx[LANES] = {0};
    size_t bad[LANES] = {0}, i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) {
            uint32_t ua, ub; /* a pair with a NaN or Inf counts as bad and as two zeros */
            memcpy(&ua, orig + i + k, 4);
            memcpy(&ub, back + i + k, 4);
            uint32_t ok = (uint32_t)((ua & 0x7FFFFFFFu) < 0x7F800000u) & (uint32_t)((ub & 0x7FFFFFFFu) < 0x7F800000u);
            ua &= 0u - ok;
            ub &= 0u - ok;
            float fa, fb;
            memcpy(&fa, &ua, 4);
            memcpy(&fb, &ub, 4);
            double a = fa, b = fb, d = a - b;
            bad[k] += ok ^ 1u;
            sig[k] += a * a;
            noise[k] += d * d;
            dot[k] += a * b;
            back2[k] += b * b;
            mx[k] = fabs(d) > mx[k] ? fabs(d) : mx[k];
        }
    for (; i < n; i++) { /* the tail, into lane 0 */
        double a = orig[i], b = back[i];
        if (!isfinite(a) || !isfinite(b)) {
            bad[0]++;
            continue;
        }
        double d = a - b;
        sig[0] += a * a;
        noise[0] += d * d;
        dot[0] += a * b;
        back2[0] += b * b;
        mx[0] = fabs(d) > mx[0] ? fabs(d) : mx[0];
    }
    for (int k = 0; k < LANES; k++) {
        s->signal += sig[k];
        s->noise += noise[k];
        s->dot += dot[k];
        s->back2 += back2[k];
        s->max_abs = mx[k] > s->max_abs ? mx[k] : s->max_abs;
        s->nonfinite += bad[k];
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
