/* qk_codec.h — every rounding-sensitive step of qk as integer code.
 *
 * One source for four dialects: C (the reference), CUDA, OpenCL C and GLSL
 * (define QK_GLSL before including). Floats travel as their IEEE-754 bit
 * patterns in 32-bit unsigned integers, so no dialect's float rules
 * (flush-to-zero, contraction, approximate division) can change a result.
 * Rules: no pointers, no out-parameters, no 64-bit types, no typedefs, no
 * arrays; shifts stay below 32; constants are integer bit patterns.
 * docs/FORMATS.md states the semantics implemented here.
 */
#ifndef QK_CODEC_H
#define QK_CODEC_H

#if defined(QK_GLSL)
#define QK_FN
#define QK_U32 uint
#define QK_I32 int
#define QK_U(x) uint(x)
#define QK_I(x) int(x)
#elif defined(__OPENCL_VERSION__)
#define QK_FN static inline
#define QK_U32 uint
#define QK_I32 int
#define QK_U(x) ((uint)(x))
#define QK_I(x) ((int)(x))
#elif defined(__CUDACC__)
#define QK_FN static __host__ __device__ __forceinline__
#define QK_U32 unsigned int
#define QK_I32 int
#define QK_U(x) ((unsigned int)(x))
#define QK_I(x) ((int)(x))
#else
#include <stdint.h>
#define QK_FN static inline
#define QK_U32 uint32_t
#define QK_I32 int32_t
#define QK_U(x) ((uint32_t)(x))
#define QK_I(x) ((int32_t)(x))
#endif

/* ---- f32 bit constants ---------------------------------------------------- */
#define QK_F32_SIGN 0x80000000u
#define QK_F32_ABS 0x7FFFFFFFu
#define QK_F32_INF 0x7F800000u
#define QK_F32_QNAN 0x7FC00000u
#define QK_F32_ONE 0x3F800000u
#define QK_F32_MAX 0x7F7FFFFFu
#define QK_F32_E4M3_MAX 0x43E00000u /* 448 */
#define QK_F32_E5M2_MAX 0x47600000u /* 57344 */
#define QK_F32_E2M1_MAX 0x40C00000u /* 6 */
#define QK_F32_INT8_MAX 0x42FE0000u /* 127 */
#define QK_F32_NVFP4_GLOBAL_DIV 0x45280000u /* 2688 = 448 * 6 */
#define QK_F32_1E_30 0x0DA24260u  /* nearest f32 to 1e-30 */
#define QK_F32_E8M0_MIN 0x00400000u /* 2^-127 */

QK_FN QK_U32 qk_f32_is_nan(QK_U32 a) { return QK_U((a & QK_F32_ABS) > QK_F32_INF); }
QK_FN QK_U32 qk_f32_is_finite(QK_U32 a) { return QK_U((a & QK_F32_ABS) < QK_F32_INF); }

/* Flush a subnormal to a zero of the same sign (CUDA's .ftz behaviour). */
QK_FN QK_U32 qk_f32_ftz(QK_U32 a)
{
    return ((a & QK_F32_INF) == 0u) ? (a & QK_F32_SIGN) : a;
}

/* Monotone key for ordered comparison of non-NaN floats (-0 sorts below +0). */
QK_FN QK_U32 qk_f32_key(QK_U32 a)
{
    return ((a & QK_F32_SIGN) != 0u) ? ~a : (a | QK_F32_SIGN);
}

/* a > b for non-NaN a, b with IEEE semantics (+0 == -0). */
QK_FN QK_U32 qk_f32_gt(QK_U32 a, QK_U32 b)
{
    if (((a | b) & QK_F32_ABS) == 0u)
        return 0u;
    return QK_U(qk_f32_key(a) > qk_f32_key(b));
}

/* Two packed 16-bit floats (bf16 or f16) at once: bit 15 of each half of
 * the result is set where that half's magnitude a (its low 15 bits) is
 * nonzero and below t, 1 <= t <= 0x8000 (t = 0x80: a bf16 subnormal). Bit
 * 15 of a + 0x7FFF says a >= 1, of a + 0x8000 - t that a >= t; neither sum
 * carries out of its half. */
QK_FN QK_U32 qk_halves_nonzero_below(QK_U32 w, QK_U32 t)
{
    QK_U32 m = w & 0x7FFF7FFFu;
    return (m + 0x7FFF7FFFu) & ~(m + (0x8000u - t) * 0x10001u) & 0x80008000u;
}

/* ---- rounding helpers -------------------------------------------------------- */

/* sig / 2^sh rounded to nearest, ties to even; sig < 2^25. */
QK_FN QK_U32 qk_shr_rne(QK_U32 sig, QK_I32 sh)
{
    if (sh <= 0)
        return sig;
    if (sh > 25)
        return 0u;
    QK_U32 q = sig >> QK_U(sh);
    QK_U32 rem = sig - (q << QK_U(sh));
    QK_U32 halfway = 1u << QK_U(sh - 1);
    if (rem > halfway || (rem == halfway && (q & 1u) != 0u))
        q += 1u;
    return q;
}

/* Packs sign | value sig * 2^(e - 23) rounded to f32, where sig is 24 bits
 * with bit 23 set and (rbit, sticky) describe the discarded tail. Handles
 * overflow to infinity and gradual underflow (subnormals, no flushing). */
QK_FN QK_U32 qk_f32_round_pack(QK_U32 sign, QK_I32 e, QK_U32 sig, QK_U32 rbit, QK_U32 sticky)
{
    if (e >= -126) {
        QK_U32 m = sig;
        if (rbit != 0u && (sticky != 0u || (m & 1u) != 0u))
            m += 1u;
        if (m == 0x1000000u) {
            m = 0x800000u;
            e += 1;
        }
        if (e > 127)
            return sign | QK_F32_INF;
        return sign | (QK_U(e + 127) << 23) | (m & 0x7FFFFFu);
    }
    QK_I32 k = -126 - e;
    if (k > 24)
        return sign;
    QK_U32 shifted = sig >> QK_U(k);
    QK_U32 rem = sig - (shifted << QK_U(k));
    QK_U32 halfway = 1u << QK_U(k - 1);
    QK_U32 r2 = QK_U(rem >= halfway);
    QK_U32 s2 = QK_U((rem - r2 * halfway) != 0u || rbit != 0u || sticky != 0u);
    if (r2 != 0u && (s2 != 0u || (shifted & 1u) != 0u))
        shifted += 1u;
    return sign | shifted; /* a carry into bit 23 yields the smallest normal */
}

/* Exponent (unbiased) and 24-bit significand of a finite nonzero f32,
 * subnormals normalized. */
QK_FN QK_I32 qk_f32_exp_norm(QK_U32 a)
{
    QK_U32 ex = (a >> 23) & 0xFFu;
    if (ex != 0u)
        return QK_I(ex) - 127;
    QK_U32 m = a & 0x7FFFFFu;
    QK_I32 e = -126;
    while ((m & 0x800000u) == 0u) {
        m <<= 1;
        e -= 1;
    }
    return e;
}

QK_FN QK_U32 qk_f32_sig_norm(QK_U32 a)
{
    QK_U32 ex = (a >> 23) & 0xFFu;
    QK_U32 m = a & 0x7FFFFFu;
    if (ex != 0u)
        return m | 0x800000u;
    while ((m & 0x800000u) == 0u)
        m <<= 1;
    return m;
}

/* ---- correctly rounded f32 arithmetic (IEEE-754 RNE, subnormals kept) ------ */

QK_FN QK_U32 qk_f32_mul(QK_U32 a, QK_U32 b)
{
    QK_U32 sign = (a ^ b) & QK_F32_SIGN;
    QK_U32 aa = a & QK_F32_ABS;
    QK_U32 ab = b & QK_F32_ABS;
    if (aa > QK_F32_INF)
        return a | 0x400000u;
    if (ab > QK_F32_INF)
        return b | 0x400000u;
    if (aa == QK_F32_INF || ab == QK_F32_INF) {
        if (aa == 0u || ab == 0u)
            return QK_F32_QNAN;
        return sign | QK_F32_INF;
    }
    if (aa == 0u || ab == 0u)
        return sign;
    QK_I32 e = qk_f32_exp_norm(a) + qk_f32_exp_norm(b);
    QK_U32 ma = qk_f32_sig_norm(a);
    QK_U32 mb = qk_f32_sig_norm(b);
    /* 24x24 -> 48-bit product from 12-bit halves, as (hi << 24) + lo. */
    QK_U32 ah = ma >> 12, al = ma & 0xFFFu;
    QK_U32 bh = mb >> 12, bl = mb & 0xFFFu;
    QK_U32 mid = ah * bl + al * bh;
    QK_U32 lo = al * bl + ((mid & 0xFFFu) << 12);
    QK_U32 hi = ah * bh + (mid >> 12) + (lo >> 24);
    lo &= 0xFFFFFFu;
    if (hi >= 0x800000u) {
        e += 1;
    } else {
        hi = (hi << 1) | (lo >> 23);
        lo = (lo << 1) & 0xFFFFFFu;
    }
    return qk_f32_round_pack(sign, e, hi, lo >> 23, lo & 0x7FFFFFu);
}

QK_FN QK_U32 qk_f32_div(QK_U32 a, QK_U32 b)
{
    QK_U32 sign = (a ^ b) & QK_F32_SIGN;
    QK_U32 aa = a & QK_F32_ABS;
    QK_U32 ab = b & QK_F32_ABS;
    if (aa > QK_F32_INF)
        return a | 0x400000u;
    if (ab > QK_F32_INF)
        return b | 0x400000u;
    if (aa == QK_F32_INF)
        return (ab == QK_F32_INF) ? QK_F32_QNAN : (sign | QK_F32_INF);
    if (ab == QK_F32_INF)
        return sign;
    if (ab == 0u)
        return (aa == 0u) ? QK_F32_QNAN : (sign | QK_F32_INF);
    if (aa == 0u)
        return sign;
    QK_I32 e = qk_f32_exp_norm(a) - qk_f32_exp_norm(b);
    QK_U32 r = qk_f32_sig_norm(a);
    QK_U32 d = qk_f32_sig_norm(b);
    if (r < d) {
        r <<= 1;
        e -= 1;
    }
    /* Restoring division: 25 quotient bits (24 + round bit), remainder sticky. */
    QK_U32 q = 0u;
    for (QK_I32 i = 0; i < 25; i++) {
        q <<= 1;
        if (r >= d) {
            r -= d;
            q |= 1u;
        }
        r <<= 1;
    }
    return qk_f32_round_pack(sign, e, q >> 1, q & 1u, QK_U(r != 0u));
}

/* CUDA fast-math multiply (mul.ftz.f32): subnormal inputs and results flushed. */
QK_FN QK_U32 qk_f32_mul_ftz(QK_U32 a, QK_U32 b)
{
    return qk_f32_ftz(qk_f32_mul(qk_f32_ftz(a), qk_f32_ftz(b)));
}

/* Clamp to [-m, m] (m = positive finite bit pattern); NaN passes through. */
QK_FN QK_U32 qk_f32_clamp_abs(QK_U32 a, QK_U32 m)
{
    if ((a & QK_F32_ABS) > QK_F32_INF)
        return a;
    return ((a & QK_F32_ABS) > m) ? ((a & QK_F32_SIGN) | m) : a;
}

/* ---- small-float encoders ------------------------------------------------- */

/* |a| (finite f32 bits) to an unsigned code with mbits mantissa bits and
 * smallest normal exponent emin, rounded to nearest even. The result may
 * exceed the format's largest finite code: the caller saturates or
 * produces infinity as the format requires. */
QK_FN QK_U32 qk_encode_mag(QK_U32 a, QK_I32 mbits, QK_I32 emin)
{
    QK_U32 aa = a & QK_F32_ABS;
    if (aa == 0u)
        return 0u;
    QK_U32 ex = aa >> 23;
    QK_I32 eu = (ex != 0u) ? QK_I(ex) - 127 : -126;
    QK_U32 sig = (ex != 0u) ? ((aa & 0x7FFFFFu) | 0x800000u) : (aa & 0x7FFFFFu);
    QK_I32 e = (eu > emin) ? eu : emin;
    QK_U32 m = qk_shr_rne(sig, 23 - mbits + (e - eu));
    return (QK_U(e - emin) << QK_U(mbits)) + m;
}

/* f32 -> IEEE binary16, RNE; overflow to inf; NaN -> 0x7E00 with sign. */
QK_FN QK_U32 qk_f32_to_f16(QK_U32 a)
{
    QK_U32 s = (a >> 16) & 0x8000u;
    if ((a & QK_F32_ABS) > QK_F32_INF)
        return s | 0x7E00u;
    if ((a & QK_F32_ABS) == QK_F32_INF)
        return s | 0x7C00u;
    QK_U32 m = qk_encode_mag(a, 10, -14);
    return s | ((m >= 0x7C00u) ? 0x7C00u : m);
}

/* f32 -> bfloat16, RNE; overflow to inf; NaN -> 0x7FC0 (sign dropped, as torch). */
QK_FN QK_U32 qk_f32_to_bf16(QK_U32 a)
{
    if ((a & QK_F32_ABS) > QK_F32_INF)
        return 0x7FC0u;
    QK_U32 s = (a >> 16) & 0x8000u;
    if ((a & QK_F32_ABS) == QK_F32_INF)
        return s | 0x7F80u;
    QK_U32 m = qk_encode_mag(a, 7, -126);
    return s | ((m >= 0x7F80u) ? 0x7F80u : m);
}

/* f32 -> float8_e4m3fn, RNE; |x| rounding past 448, Inf and NaN -> 0x7F with
 * sign (torch's cast). Callers clamp to +-448 first. */
QK_FN QK_U32 qk_f32_to_e4m3(QK_U32 a)
{
    QK_U32 s = (a >> 24) & 0x80u;
    if ((a & QK_F32_ABS) >= QK_F32_INF)
        return s | 0x7Fu;
    QK_U32 m = qk_encode_mag(a, 3, -6);
    return s | ((m >= 0x7Fu) ? 0x7Fu : m);
}

/* f32 -> float8_e5m2, RNE; overflow -> inf 0x7C, NaN -> 0x7F, sign kept. */
QK_FN QK_U32 qk_f32_to_e5m2(QK_U32 a)
{
    QK_U32 s = (a >> 24) & 0x80u;
    if ((a & QK_F32_ABS) > QK_F32_INF)
        return s | 0x7Fu;
    if ((a & QK_F32_ABS) == QK_F32_INF)
        return s | 0x7Cu;
    QK_U32 m = qk_encode_mag(a, 2, -14);
    return s | ((m >= 0x7Cu) ? 0x7Cu : m);
}

/* f32 -> E2M1 nibble, RNE, saturating at 6 (NaN and Inf too), sign kept. */
QK_FN QK_U32 qk_f32_to_e2m1(QK_U32 a)
{
    QK_U32 s = (a >> 28) & 0x8u;
    if ((a & QK_F32_ABS) >= QK_F32_INF)
        return s | 0x7u;
    QK_U32 m = qk_encode_mag(a, 1, 0);
    return s | ((m > 0x7u) ? 0x7u : m);
}

/* ---- decoders (exact) -------------------------------------------------------- */

QK_FN QK_U32 qk_bf16_to_f32(QK_U32 h) { return (h & 0xFFFFu) << 16; }

QK_FN QK_U32 qk_f16_to_f32(QK_U32 h)
{
    QK_U32 s = (h & 0x8000u) << 16;
    QK_U32 ex = (h >> 10) & 0x1Fu;
    QK_U32 m = h & 0x3FFu;
    if (ex == 0x1Fu) /* NaNs come out quiet, as the hardware conversion does */
        return s | QK_F32_INF | (m << 13) | (m != 0u ? 0x400000u : 0u);
    if (ex != 0u)
        return s | ((ex + 112u) << 23) | (m << 13);
    if (m == 0u)
        return s;
    QK_U32 e = 113u; /* normalize the subnormal */
    while ((m & 0x400u) == 0u) {
        m <<= 1;
        e -= 1u;
    }
    return s | (e << 23) | ((m & 0x3FFu) << 13);
}

QK_FN QK_U32 qk_e5m2_to_f32(QK_U32 b) { return qk_f16_to_f32((b & 0xFFu) << 8); }

QK_FN QK_U32 qk_e4m3_to_f32(QK_U32 b)
{
    QK_U32 s = (b & 0x80u) << 24;
    QK_U32 ex = (b >> 3) & 0xFu;
    QK_U32 m = b & 0x7u;
    if (ex == 0xFu && m == 0x7u)
        return s | 0x7FF00000u; /* torch's decoding of the NaN code */
    if (ex != 0u)
        return s | ((ex + 120u) << 23) | (m << 20);
    if (m == 0u)
        return s;
    QK_U32 e = 121u;
    while ((m & 0x8u) == 0u) {
        m <<= 1;
        e -= 1u;
    }
    return s | (e << 23) | ((m & 0x7u) << 20);
}

QK_FN QK_U32 qk_e2m1_to_f32(QK_U32 n)
{
    QK_U32 s = (n & 0x8u) << 28;
    QK_U32 mag = n & 0x7u;
    if (mag == 0u)
        return s;
    if (mag == 1u)
        return s | 0x3F000000u; /* 0.5 */
    return s | ((126u + (mag >> 1)) << 23) | ((mag & 1u) << 22);
}

/* E8M0 scale byte -> f32: 2^(b-127); 0 -> 2^-127 (subnormal), 255 -> NaN. */
QK_FN QK_U32 qk_e8m0_to_f32(QK_U32 b)
{
    if (b == 0u)
        return QK_F32_E8M0_MIN;
    if (b == 255u)
        return QK_F32_QNAN;
    return b << 23;
}

/* Biased E8M0 exponent of the smallest power of two >= s (s finite, > 0),
 * clamped to [0, 254]: the exact ceil(log2(s)) + 127. */
QK_FN QK_U32 qk_e8m0_ceil(QK_U32 s)
{
    QK_I32 e = qk_f32_exp_norm(s);
    QK_U32 frac = qk_f32_sig_norm(s) & 0x7FFFFFu;
    if (frac != 0u)
        e += 1;
    e += 127;
    return QK_U(e < 0 ? 0 : (e > 254 ? 254 : e));
}

/* MXFP8's scale exponent qk_e8m0_ceil(max(RN(a / 448), 2^-127)) of a block
 * amax a (f32 bits, finite, >= 2^-100) without the division. With
 * a = M * 2^E, M in [1, 2), the quotient (M / 1.75) * 2^(E-8) is normal and
 * rounds to exactly 2^(E-8) only for M = 1.75: at M = 1.75 +- 2^-23 it is
 * 0.57 of an ulp away from that power. So ceil(log2) is E - 8 for
 * M <= 1.75 and E - 7 above. tests/test_codec_arith.c compares it with the
 * division for every bf16 and f16 a and around each binade's 1.75. */
QK_FN QK_U32 qk_mxfp8_exponent_fast(QK_U32 a)
{
    return (a >> 23) - 8u + QK_U((a & 0x7FFFFFu) > 0x600000u);
}

/* Round a finite f32 to the nearest integer, ties to even, clamped to
 * [lo, hi] (clamp first: float->int saturation differs across targets). */
QK_FN QK_I32 qk_f32_to_int_rne_clamp(QK_U32 a, QK_I32 lo, QK_I32 hi)
{
    QK_U32 aa = a & QK_F32_ABS;
    QK_I32 neg = QK_I((a & QK_F32_SIGN) != 0u);
    QK_I32 v;
    if (aa >= 0x4B000000u) { /* |a| >= 2^23: integral, and beyond any int8 */
        v = 0x7FFFFFFF;
    } else if (aa < 0x3F000000u) { /* |a| < 0.5 */
        v = 0;
    } else {
        QK_U32 ex = aa >> 23;
        QK_U32 sig = (aa & 0x7FFFFFu) | 0x800000u;
        v = QK_I(qk_shr_rne(sig, 150 - QK_I(ex)));
    }
    if (neg != 0)
        v = (v == 0x7FFFFFFF) ? lo : -v;
    return v < lo ? lo : (v > hi ? hi : v);
}

/* ---- bitsandbytes 4-bit codes ------------------------------------------------ */

/* NF4's 15 decision thresholds, ascending (bitsandbytes' midpoints of
 * neighbouring code values, as f32 bits): code c has T_0..T_{c-1} below it. */
QK_FN QK_U32 qk_nf4_threshold(QK_U32 k)
{
    switch (k) {
    case 0u: return 0xBF591CD9u;
    case 1u: return 0xBF1C5270u;
    case 2u: return 0xBEEB8480u;
    case 3u: return 0xBEADEA76u;
    case 4u: return 0xBE703CECu;
    case 5u: return 0xBE0D38BCu;
    case 6u: return 0xBD3A7871u;
    case 7u: return 0x3D22FAFFu;
    case 8u: return 0x3DF64863u;
    case 9u: return 0x3E5067E0u;
    case 10u: return 0x3E9582D4u;
    case 11u: return 0x3EC753F9u;
    case 12u: return 0x3F006D03u;
    case 13u: return 0x3F248DAFu;
    default: return 0x3F5C89D9u;
    }
}

/* NF4 code: the number of thresholds t with x > t (NaN -> 0). */
QK_FN QK_U32 qk_nf4_encode(QK_U32 x)
{
    if (qk_f32_is_nan(x) != 0u)
        return 0u;
    /* spelled out, each threshold a constant: a loop over k stays a loop
     * (and a switch) in the reference, 30% slower */
    return qk_f32_gt(x, qk_nf4_threshold(0u)) + qk_f32_gt(x, qk_nf4_threshold(1u)) +
           qk_f32_gt(x, qk_nf4_threshold(2u)) + qk_f32_gt(x, qk_nf4_threshold(3u)) +
           qk_f32_gt(x, qk_nf4_threshold(4u)) + qk_f32_gt(x, qk_nf4_threshold(5u)) +
           qk_f32_gt(x, qk_nf4_threshold(6u)) + qk_f32_gt(x, qk_nf4_threshold(7u)) +
           qk_f32_gt(x, qk_nf4_threshold(8u)) + qk_f32_gt(x, qk_nf4_threshold(9u)) +
           qk_f32_gt(x, qk_nf4_threshold(10u)) + qk_f32_gt(x, qk_nf4_threshold(11u)) +
           qk_f32_gt(x, qk_nf4_threshold(12u)) + qk_f32_gt(x, qk_nf4_threshold(13u)) +
           qk_f32_gt(x, qk_nf4_threshold(14u));
}

QK_FN QK_U32 qk_nf4_value(QK_U32 c)
{
    switch (c & 15u) {
    case 0u: return 0xBF800000u;
    case 1u: return 0xBF3239B1u;
    case 2u: return 0xBF066B30u;
    case 3u: return 0xBECA32A0u;
    case 4u: return 0xBE91A24Du;
    case 5u: return 0xBE3D353Fu;
    case 6u: return 0xBDBA7871u;
    case 7u: return 0x00000000u;
    case 8u: return 0x3DA2FAFFu;
    case 9u: return 0x3E24CAE3u;
    case 10u: return 0x3E7C04DDu;
    case 11u: return 0x3EAD033Au;
    case 12u: return 0x3EE1A4B8u;
    case 13u: return 0x3F1007ABu;
    case 14u: return 0x3F3913B3u;
    default: return 0x3F800000u;
    }
}

/* bitsandbytes FP4 code: sign bit 8 when x < 0, magnitude by its threshold
 * tree (rank k -> codes 0,1,6,7,4,5,2,3). NaN -> 0. */
QK_FN QK_U32 qk_fp4_encode(QK_U32 x)
{
    if (qk_f32_is_nan(x) != 0u)
        return 0u;
    QK_U32 s = ((x & QK_F32_SIGN) != 0u && (x & QK_F32_ABS) != 0u) ? 8u : 0u;
    QK_U32 a = x & QK_F32_ABS;
    QK_U32 r = 0u;
    r += QK_U(a > 0x3B2AAAB9u);
    r += QK_U(a > 0x3DB00000u);
    r += QK_U(a > 0x3E555555u);
    r += QK_U(a > 0x3E955555u);
    r += QK_U(a > 0x3ED55556u);
    r += QK_U(a > 0x3F155550u);
    r += QK_U(a > 0x3F555555u);
    QK_U32 c;
    switch (r) {
    case 0u: c = 0u; break;
    case 1u: c = 1u; break;
    case 2u: c = 6u; break;
    case 3u: c = 7u; break;
    case 4u: c = 4u; break;
    case 5u: c = 5u; break;
    case 6u: c = 2u; break;
    default: c = 3u; break;
    }
    return s | c;
}

QK_FN QK_U32 qk_fp4_value(QK_U32 c)
{
    QK_U32 s = (c & 8u) << 28;
    switch (c & 7u) {
    case 0u: return s;
    case 1u: return s | 0x3BAAAAABu;
    case 2u: return s | 0x3F2AAAABu;
    case 3u: return s | 0x3F800000u;
    case 4u: return s | 0x3EAAAAABu;
    case 5u: return s | 0x3F000000u;
    case 6u: return s | 0x3E2AAAABu;
    default: return s | 0x3E800000u;
    }
}

/* rcp.approx.ftz.f32 of a normal f32 whose mantissa is in a measured table:
 * entry = the reciprocal of 1.m (bits), x = the absmax. Zero and subnormal
 * inputs give an infinity of their sign; results below the normal range flush
 * to zero. */
QK_FN QK_U32 qk_rcp_from_table(QK_U32 entry, QK_U32 x)
{
    QK_U32 ex = (x >> 23) & 0xFFu;
    if (ex == 0u)
        return (x & QK_F32_SIGN) | QK_F32_INF;
    QK_I32 re = QK_I((entry >> 23) & 0xFFu) - (QK_I(ex) - 127);
    if (re <= 0)
        return x & QK_F32_SIGN;
    if (re >= 255)
        return (x & QK_F32_SIGN) | QK_F32_INF;
    return (x & QK_F32_SIGN) | (QK_U(re) << 23) | (entry & 0x7FFFFFu);
}

#endif /* QK_CODEC_H */
