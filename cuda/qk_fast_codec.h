/* qk_fast_codec.h — cheaper forms of some qk_codec.h steps for the CUDA
 * kernels, written for C and CUDA alike so tests/test_cuda.c can compare
 * them with the integer codec on the host (and exhaustively on a GPU).
 *
 * They rely only on IEEE float comparisons (exact in every IEEE
 * implementation, no rounding involved) and integer arithmetic. */
#ifndef QK_FAST_CODEC_H
#define QK_FAST_CODEC_H

#if defined(__CUDACC__)
#define QKF_FN static __host__ __device__ __forceinline__
#define QKF_U32 unsigned int
#else
#include <math.h>
#include <stdint.h>
#define QKF_FN static inline
#define QKF_U32 uint32_t
#endif

/* E2M1 magnitude code (0..7) of |q| for 0 <= |q| <= 6 (a clamped, non-NaN
 * value): round to nearest, ties to even, as thresholds on the exact value.
 * The midpoints 0.25, 1.25, 2.5 and 5 tie down to an even code, 0.75, 1.75
 * and 3.5 tie up. Equals qk_f32_to_e2m1(q) & 7 on that range. */
QKF_FN QKF_U32 qkf_e2m1_mag(float a)
{
    return (QKF_U32)(a > 0.25f) + (QKF_U32)(a >= 0.75f) + (QKF_U32)(a > 1.25f) +
           (QKF_U32)(a >= 1.75f) + (QKF_U32)(a > 2.5f) + (QKF_U32)(a >= 3.5f) + (QKF_U32)(a > 5.0f);
}

/* bf16 bits of a non-NaN f32 (bits), round to nearest even; overflow and
 * subnormals come out as IEEE rounding gives them. Equals qk_f32_to_bf16
 * for every non-NaN input. */
QKF_FN QKF_U32 qkf_bf16_rne(QKF_U32 u)
{
    return (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
}

/* NF4 code: the number of thresholds t with v > t, as IEEE float compares
 * (NaN compares false everywhere and gives 0; +0 == -0), found by a binary
 * search over the ascending thresholds (four compares, selects instead of
 * a table). Equals qk_nf4_encode(), whose qk_f32_gt() is the same
 * comparison on bits. */
QKF_FN QKF_U32 qkf_nf4(float v)
{
    QKF_U32 b3 = (QKF_U32)(v > 0x1.45f5fep-5f);
    QKF_U32 b2 = (QKF_U32)(v > (b3 ? 0x1.8ea7f2p-2f : -0x1.5bd4ecp-2f));
    float t1 = b3 ? (b2 ? 0x1.491b5ep-1f : 0x1.a0cfcp-3f) : (b2 ? -0x1.1a7178p-3f : -0x1.38a4ep-1f);
    QKF_U32 b1 = (QKF_U32)(v > t1);
    float t0 = b3 ? (b2 ? (b1 ? 0x1.b913b2p-1f : 0x1.00da06p-1f) : (b1 ? 0x1.2b05a8p-2f : 0x1.ec90c6p-4f))
                  : (b2 ? (b1 ? -0x1.74f0e2p-5f : -0x1.e079d8p-3f) : (b1 ? -0x1.d709p-2f : -0x1.b239b2p-1f));
    QKF_U32 b0 = (QKF_U32)(v > t0);
    return (b3 << 3) | (b2 << 2) | (b1 << 1) | b0;
}

/* NF4 by bucket, for GPUs, where qkf_nf4's dependent selects of constants
 * cost about 28 instructions: c = v clamped to [-1, 1] (NaN to -1, whose
 * code 0 it shares); the binade of |c| (2^-5 .. 1, smaller magnitudes
 * joining 2^-5's) and its two leading mantissa bits pick one of 21 buckets
 * per sign (index sign * 32 + bucket). No bucket holds more than one
 * threshold, so the code is the bucket's lowest code plus (c > t), t being
 * the threshold inside it (+Inf where there is none). The table comes
 * from qkf_nf4 itself (qkf_nf4_bucket_table); qkf_nf4_bucketed equals
 * qkf_nf4 for every input (tests/test_cuda.c, and the GPU self-test). */
#define QKF_NF4_BUCKETS 64
#define QKF_NF4_BUCKET_BASE 488u /* (2^-5 exponent 122) << 2 */

QKF_FN QKF_U32 qkf_bits(float f)
{
#if defined(__CUDACC__)
    return __float_as_uint(f);
#else
    union { float f; QKF_U32 u; } c;
    c.f = f;
    return c.u;
#endif
}

QKF_FN float qkf_float(QKF_U32 u)
{
#if defined(__CUDACC__)
    return __uint_as_float(u);
#else
    union { float f; QKF_U32 u; } c;
    c.u = u;
    return c.f;
#endif
}

/* Compares rather than fmaxf, which C's libm makes return NaN for a
 * signaling NaN: NaN compares false and becomes -1. */
QKF_FN float qkf_nf4_clamp(float v)
{
    float c = v > -1.0f ? v : -1.0f;
    return c < 1.0f ? c : 1.0f;
}

QKF_FN QKF_U32 qkf_nf4_bucket(float c)
{
    float a = fmaxf(fabsf(c), 0x1p-5f);
    return ((qkf_bits(a) >> 21) - QKF_NF4_BUCKET_BASE) + ((qkf_bits(c) >> 31) << 5);
}

/* bitsandbytes FP4 code of v: rank of |v| among 7 thresholds (binary
 * search) mapped to the code order 0,1,6,7,4,5,2,3 (rank ^ (bit 1 of rank
 * moved to bit 2); NaN gives rank 0), plus the sign 8 when v < 0 (-0 and
 * NaN give none): qkf_fp4 equals qk_fp4_encode(). */
QKF_FN QKF_U32 qkf_fp4_magnitude(float v)
{
    float a = v < 0.0f ? -v : v;
    QKF_U32 b2 = (QKF_U32)(a > 0x1.2aaaaap-2f);
    QKF_U32 b1 = (QKF_U32)(a > (b2 ? 0x1.2aaaap-1f : 0x1.6p-4f));
    float t0 = b2 ? (b1 ? 0x1.aaaaaap-1f : 0x1.aaaaacp-2f) : (b1 ? 0x1.aaaaaap-3f : 0x1.555572p-9f);
    QKF_U32 r = (b2 << 2) | (b1 << 1) | (QKF_U32)(a > t0);
    return r ^ ((r & 2u) << 1);
}

QKF_FN QKF_U32 qkf_fp4(float v) { return (v < 0.0f ? 8u : 0u) | qkf_fp4_magnitude(v); }

/* qkf_fp4 of ftz(v) without flushing v first: a subnormal codes as the
 * zero of its sign (its magnitude is below every threshold), and the sign
 * bit goes only to values at or below -FLT_MIN. (qkf_nf4 needs no such
 * form: no NF4 threshold lies within FLT_MIN of zero.) */
QKF_FN QKF_U32 qkf_fp4_unflushed(float v) { return (v <= -0x1p-126f ? 8u : 0u) | qkf_fp4_magnitude(v); }

/* NF4 or FP4 code of ftz(v): the code of a product that mul.ftz gave. */
QKF_FN QKF_U32 qkf_bnb_code(int nf4, QKF_U32 v)
{
    return nf4 ? qkf_nf4(qkf_float(v)) : qkf_fp4_unflushed(qkf_float(v));
}

/* The largest value still coding c0 among the values sign | [lo, hi]
 * (magnitudes of one bucket, whose codes step once, from c0 at its
 * smallest value): a search on the magnitude, which runs the other way
 * for negative values. */
QKF_FN QKF_U32 qkf_bnb_edge(int nf4, QKF_U32 sign, QKF_U32 lo, QKF_U32 hi, QKF_U32 c0)
{
    QKF_U32 m0 = lo, m1 = hi; /* the boundary magnitude lies in [m0, m1] */
    while (m0 < m1) {
        QKF_U32 mid = m0 + (m1 - m0 + (sign ? 0u : 1u)) / 2u;
        int at_c0 = qkf_bnb_code(nf4, mid | sign) == c0;
        if (sign) { /* c0 at large magnitudes: find the smallest one */
            if (at_c0)
                m1 = mid;
            else
                m0 = mid + 1u;
        } else { /* c0 at small magnitudes: find the largest one */
            if (at_c0)
                m0 = mid;
            else
                m1 = mid - 1u;
        }
    }
    return m0 | sign;
}

/* tab[2i] = the threshold's bits, tab[2i + 1] = the lowest code of bucket
 * i. Returns 0, or 1 if some bucket held two thresholds (never, for the
 * NF4 table: the test checks). */
QKF_FN int qkf_nf4_bucket_table(QKF_U32 tab[2 * QKF_NF4_BUCKETS])
{
    int bad = 0;
    for (QKF_U32 i = 0; i < QKF_NF4_BUCKETS; i++) {
        QKF_U32 neg = i >> 5, b = i & 31u;
        tab[2 * i] = 0x7F800000u;
        tab[2 * i + 1] = 0u;
        if (b > 20u)
            continue;
        /* magnitudes [lo, hi] of the bucket, from the smallest code up */
        QKF_U32 lo = b == 0u ? 0u : (b + QKF_NF4_BUCKET_BASE) << 21;
        QKF_U32 hi = ((b + QKF_NF4_BUCKET_BASE + 1u) << 21) - 1u;
        QKF_U32 sign = neg << 31;
        QKF_U32 first = neg ? (hi | sign) : lo, last = neg ? (lo | sign) : hi;
        QKF_U32 c0 = qkf_nf4(qkf_float(first)), c1 = qkf_nf4(qkf_float(last));
        tab[2 * i + 1] = c0;
        if (c1 == c0)
            continue;
        bad |= c1 != c0 + 1u;
        tab[2 * i] = qkf_bnb_edge(1, sign, lo, hi, c0);
    }
    return bad;
}

QKF_FN QKF_U32 qkf_nf4_bucketed(float v, const QKF_U32 tab[2 * QKF_NF4_BUCKETS])
{
    float c = qkf_nf4_clamp(v);
    QKF_U32 i = qkf_nf4_bucket(c);
    return tab[2 * i + 1] + (QKF_U32)(c > qkf_float(tab[2 * i]));
}

/* NF4/FP4 codes by one table lookup and one compare, for GPU kernels whose
 * integer/logic pipe or shared-memory bandwidth is their limit. Bucket i =
 * bits(v) >> 21 (sign, exponent, two leading mantissa bits) holds no more
 * than one threshold t of either format: the codes c0 of the bucket's
 * values up to t and c1 above it. Its entry is one word, key << 11 | b << 4
 * | a: v codes a if its low 21 bits exceed key, which is (v << 11) > entry
 * (the codes fill bits 0-7, below every key bit), and b otherwise. In a +
 * bucket, key = t's low bits, a = c1, b = c0; in a - bucket the values run
 * the other way to their bits, so key = t's low bits - 1 (bits >= t's:
 * values <= t), a = c0, b = c1. A bucket without a threshold, and the NaN
 * buckets (exponent 255), hold one code twice. Equals qkf_bnb_code(nf4, v)
 * for every v but +-Inf (their buckets are NaN's; the kernel's products are
 * never infinite): tests/test_cuda.c on the host, self-test 16 on the GPU
 * for all 2^32 inputs. Returns 1 if a bucket held codes other than two
 * steps of a monotone search (never, for NF4 or FP4). */
#define QKF_BNB_BUCKETS 2048

QKF_FN int qkf_bnb_code_table(int nf4, QKF_U32 tab[QKF_BNB_BUCKETS])
{
    int bad = 0;
    for (QKF_U32 i = 0; i < QKF_BNB_BUCKETS; i++) {
        QKF_U32 sign = (i >> 10) << 31, lo = (i & 1023u) << 21, hi = lo + 0x1FFFFFu;
        if (((i >> 2) & 0xFFu) == 0xFFu) { /* NaN (and Inf, outside the domain) */
            QKF_U32 c = qkf_bnb_code(nf4, 0x7FFFFFFFu);
            tab[i] = c << 4 | c;
            continue;
        }
        /* in ascending value order, magnitudes run up for + and down for - */
        QKF_U32 first = sign ? (hi | sign) : lo, last = sign ? (lo | sign) : hi;
        QKF_U32 c0 = qkf_bnb_code(nf4, first), c1 = qkf_bnb_code(nf4, last);
        tab[i] = c0 << 4 | c0;
        if (c1 == c0)
            continue;
        QKF_U32 t = qkf_bnb_edge(nf4, sign, lo, hi, c0), key = t & 0x1FFFFFu;
        /* the values on each side of t must code c0 and c1 */
        QKF_U32 m0 = t & 0x7FFFFFFFu;
        QKF_U32 above = sign ? (m0 == lo ? lo | sign : (m0 - 1u) | sign) : m0 + 1u;
        bad |= qkf_bnb_code(nf4, t) != c0 || qkf_bnb_code(nf4, above) != c1;
        if (sign) {
            bad |= key == 0u; /* t would be the bucket's last value, whose code is c1 */
            tab[i] = (key - 1u) << 11 | c1 << 4 | c0;
        } else {
            tab[i] = key << 11 | c0 << 4 | c1;
        }
    }
    return bad;
}

QKF_FN QKF_U32 qkf_bnb_lookup(const QKF_U32 *tab, QKF_U32 v)
{
    QKF_U32 e = tab[v >> 21];
    return (v << 11) > e ? (e & 15u) : ((e >> 4) & 15u);
}

/* bitsandbytes' dynamic-map code (bnb_nested.c's dQuantize: a binary
 * search of seven dependent steps over the 256-entry map, then the nearer
 * neighbour by a computed float midpoint, ties to the even index) by one
 * lookup and one compare, for the double-quant nested pass.
 *
 * On magnitudes y >= 0 the reference's code is 127 + t(y), t stepping up by
 * one at each of 128 midpoint thresholds (0x3493A3B7 .. 0x3F7F199A) and
 * reaching 128 (code 255) below 1.0. Bucket bits(y) >> 17 (exponent and
 * six leading mantissa bits) never holds two thresholds; magnitudes below
 * bucket KEY0 + 1 (all below the first threshold, subnormals and zero
 * included) join bucket KEY0, those from 1.0 up (Inf included) the last
 * bucket, and neither holds a threshold. An entry is key << 8 | t0: t0 the
 * bucket's lowest t, key the low 17 bits of its threshold T (y passes T
 * when y > T, T being the largest magnitude that still codes t0), or
 * 0x1FFFF (none; no low bits exceed it). The map is odd about index 127
 * (map[127 - k] = -map[127 + k]) and so are its midpoints, with even
 * indices staying even, so -y codes 127 - min(t(y), 127) (the last step,
 * to 255, has no mirror: below map[0] the code is 0); NaN, which the
 * search sends to 0, goes with the negatives (bits > 0x7F800000).
 * qkf_dmap_table derives the entries from the reference's search on the
 * host; tests/test_cuda.c compares the lookup with that search on the
 * host, self-test 24 with the kernels' search for all 2^32 inputs. */
#define QKF_DMAP_KEY0 0x1A48u    /* (0x3493A3B7 >> 17) - 1: the first threshold's bucket less one */
#define QKF_DMAP_BUCKETS 1401u   /* buckets KEY0 .. 0x3F800000 >> 17 */

QKF_FN QKF_U32 qkf_dmap_bucket(QKF_U32 mag)
{
    QKF_U32 k = mag >> 17;
    k = k > QKF_DMAP_KEY0 ? k - QKF_DMAP_KEY0 : 0u;
    return k < QKF_DMAP_BUCKETS - 1u ? k : QKF_DMAP_BUCKETS - 1u;
}

QKF_FN QKF_U32 qkf_dmap_lookup(const QKF_U32 *tab, QKF_U32 x)
{
    QKF_U32 mag = x & 0x7FFFFFFFu, e = tab[qkf_dmap_bucket(mag)];
    QKF_U32 t = (e & 0xFFu) + (QKF_U32)((mag & 0x1FFFFu) > (e >> 8));
    return x > 0x7F800000u ? 127u - (t < 127u ? t : 127u) : 127u + t;
}

#if !defined(__CUDACC__)
/* The lookup's entries from code(x), the reference's code of a magnitude
 * x (qk_bnb_dynamic_map_search). Returns 1 if a bucket held two thresholds,
 * a clamped bucket held one, or a code fell outside 127..255 (never: the
 * test checks). */
static inline int qkf_dmap_table(QKF_U32 (*code)(QKF_U32), QKF_U32 tab[QKF_DMAP_BUCKETS])
{
    int bad = 0;
    for (QKF_U32 i = 0; i < QKF_DMAP_BUCKETS; i++) {
        int last = i == QKF_DMAP_BUCKETS - 1u;
        QKF_U32 lo = i == 0u ? 0u : (i + QKF_DMAP_KEY0) << 17;
        QKF_U32 hi = last ? 0x7F800000u : ((i + QKF_DMAP_KEY0 + 1u) << 17) - 1u;
        QKF_U32 c0 = code(lo), c1 = code(hi), key = 0x1FFFFu;
        bad |= c0 < 127u || c1 > 255u;
        if (c1 != c0) {
            bad |= c1 != c0 + 1u || i == 0u || last;
            QKF_U32 m0 = lo, m1 = hi; /* code(m0) = c0, code(m1) = c1 */
            while (m1 - m0 > 1u) {
                QKF_U32 m = m0 + (m1 - m0) / 2u;
                if (code(m) == c0)
                    m0 = m;
                else
                    m1 = m;
            }
            key = m0 & 0x1FFFFu;
        }
        tab[i] = key << 8 | (c0 - 127u);
    }
    return bad;
}
#endif

#endif /* QK_FAST_CODEC_H */
