/* The double-quant offset of src/ref/bnb_nested.c -- the absmax vector's
 * sequential double sum divided by nb, rounded to f32 -- without walking the
 * vector in order where the order provably cannot change the sum.
 *
 * Why any order gives the sequential bits: let every absmax be finite and
 * >= +0, and L the lowest set bit of any of them (each is a multiple of
 * 2^L). A sum of such values below 2^(L+53) is a multiple of 2^L with fewer
 * than 54 significant bits: a double holds it exactly. So while the total
 * stays below 2^(L+53), no addition of any order rounds, and every order
 * gives the exact total. Conversely, once some addition rounds, its result
 * is >= 2^(L+53) and, adding non-negative values with monotone rounding, so
 * is every later sum: a computed total below 2^(L+53) proves that nothing
 * rounded. Device backends sum in their own order and call
 * qk_bnb_mean_if_exact; the sequential loop remains the fallback.
 *
 * Devices without 64-bit float atomics (Vulkan, OpenCL) sum in integers:
 * a workgroup takes a run of at most QK_BNB_PARTIAL_RUN absmax, finds
 * `base`, the lowest set bit of any nonzero one, and adds each value as the
 * integer odd << (lsb - base) (a = odd * 2^lsb). When every such integer is
 * below 2^QK_BNB_PARTIAL_WIDTH the run's 64-bit sum cannot wrap, and
 * sum * 2^base is the run's exact total; a value that is negative, Inf,
 * NaN or wider sets the record's flags. The host turns the records into
 * doubles (exact when the integer is) and applies the proof above to their
 * total, with the smallest base as L. */
#include <limits.h>
#include <math.h>

#include "ref_internal.h"

int qk_f32_lsb_exp(uint32_t a)
{
    uint32_t ex = (a >> 23) & 0xFFu, m = a & 0x7FFFFFu;
    if (ex != 0u)
        m |= 0x800000u;
    int e = ex != 0u ? (int)ex - 150 : -149;
    return e + __builtin_ctz(m);
}

int qk_bnb_mean_if_exact(double sum, int min_lsb, int64_t nb, uint32_t *off)
{
    if (!(sum >= 0.0) || nb <= 0)
        return 0;
    if (sum != 0.0 && !(sum < ldexp(1.0, min_lsb + 53)))
        return 0;
    *off = qk_bits((float)(sum / (double)nb));
    return 1;
}

int qk_bnb_mean_from_partials(const uint32_t *rec, int64_t count, int64_t nb, uint32_t *off)
{
    double sum = 0.0;
    int min_lsb = INT_MAX;
    for (int64_t k = 0; k < count; k++) {
        const uint32_t *r = rec + k * QK_BNB_PARTIAL_WORDS;
        if (r[3] != 0u)
            return 0;
        uint64_t s = (uint64_t)r[0] | ((uint64_t)r[1] << 32);
        if (s == 0u)
            continue; /* a run of zeros; its base means nothing */
        int base = (int)(int32_t)r[2];
        double d = (double)s;
        if (base < -149 || base > 104 || !(d < 0x1p64) || (uint64_t)d != s)
            return 0; /* not an f32 lsb, or an integer a double cannot hold */
        sum += ldexp(d, base);
        min_lsb = base < min_lsb ? base : min_lsb;
    }
    return qk_bnb_mean_if_exact(sum, min_lsb, nb, off);
}

uint32_t qk_bnb_absmax_mean(const uint32_t *absmax, int64_t nb)
{
    /* Eight independent sums: no chain of dependent adds. */
    double acc[8] = {0};
    int min_lsb = 1000;
    uint32_t bad = 0;
    int64_t i = 0;
    for (; i + 8 <= nb; i += 8)
        for (int k = 0; k < 8; k++) {
            uint32_t a = absmax[i + k];
            bad |= (a >= QK_F32_INF) ? 1u : 0u; /* negative (sign bit), Inf or NaN */
            if (a != 0u && a < QK_F32_INF) { /* -0.0 has no set bit; it is bad anyway */
                int l = qk_f32_lsb_exp(a);
                min_lsb = l < min_lsb ? l : min_lsb;
            }
            acc[k] += (double)qk_float(a);
        }
    for (; i < nb; i++) {
        uint32_t a = absmax[i];
        bad |= (a >= QK_F32_INF) ? 1u : 0u;
        if (a != 0u && a < QK_F32_INF) {
            int l = qk_f32_lsb_exp(a);
            min_lsb = l < min_lsb ? l : min_lsb;
        }
        acc[0] += (double)qk_float(a);
    }
    double sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    uint32_t off;
    if (!bad && qk_bnb_mean_if_exact(sum, min_lsb, nb, &off))
        return off;
    return qk_bnb_mean_sequential(absmax, nb);
}
