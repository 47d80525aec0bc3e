/* qk_nvfp4_bounds.h -- NVFP4's element code without a division, in the
 * dialect-neutral style of qk_codec.h (C, OpenCL C, CUDA). The OpenCL
 * kernels and the CUDA kernels use it; tests/test_opencl.c compares it with
 * the codec's division on the host. Include after qk_codec.h. */
#ifndef QK_NVFP4_BOUNDS_H
#define QK_NVFP4_BOUNDS_H

/* NVFP4's element code without a division. The reference codes
 * e2m1(clamp(RN(x/t), 6)) for t > 0; RN(q) passes E2M1's rounding
 * boundaries at 0.25, 0.75, 1.25, 1.75, 2.5, 3.5 and 5 (ties to the even
 * code: '>' at 0.25, 1.25, 2.5, 5 and '>=' at 0.75, 1.75, 3.5), and around
 * each boundary m (normal, with an even last bit) RN(q) > m exactly when
 * q > m + ulp/2, RN(q) >= m exactly when q >= m - ulp/2. So the code
 * magnitude counts the exact boundaries A_k (odd 25-bit significands below)
 * that |x|/t passes. A_k*t is never an f32 (an odd 25-bit significand times
 * any other needs 25 bits), so for an f32 |x| both |x| > A_k*t and
 * |x| >= A_k*t are |x| > RD(A_k*t): seven per-block bounds c_k compared with
 * |x|'s bits (non-negative floats order as unsigned integers). NaN and Inf
 * pass every bound (code 7), as the reference's clamp and encoder give. */
#if defined(__OPENCL_VERSION__)
#define QK_U64 ulong
#elif defined(__CUDACC__)
#define QK_U64 unsigned long long
#else
#define QK_U64 uint64_t
#endif

/* The exact product m * 2^e * t rounded down to f32, for 2^24 <= m < 2^25
 * and finite t > 0 (exponent et, 24-bit significand mt, as
 * qk_f32_exp_norm/qk_f32_sig_norm give), subnormal results included. */
QK_FN QK_U32 qk_f32_mul_rd(QK_U32 m, QK_I32 e, QK_I32 et, QK_U32 mt)
{
    QK_U64 p = (QK_U64)m * (QK_U64)mt; /* in [2^47, 2^49): value p * 2^(e + et - 23) */
    QK_I32 top = ((p >> 48) != 0u) ? 48 : 47;
    QK_I32 ex = top + e + et - 23; /* the value lies in [2^ex, 2^(ex+1)) */
    if (ex > 127)
        return QK_F32_MAX;
    QK_I32 sh = top - 23 + ((ex < -126) ? (-126 - ex) : 0);
    QK_U32 mant = (sh < 64) ? QK_U(p >> QK_U(sh)) : 0u;
    if (ex < -126)
        return mant; /* subnormal */
    return (QK_U(ex + 127) << 23) | (mant & 0x7FFFFFu);
}

/* Bound c_k (k = 0..6) of the scale t (finite, > 0; et = qk_f32_exp_norm(t),
 * mt = qk_f32_sig_norm(t)). */
QK_FN QK_U32 qk_nvfp4_bound(QK_U32 k, QK_I32 et, QK_U32 mt)
{
    switch (k) {
    case 0u: return qk_f32_mul_rd(0x1000001u, -26, et, mt); /* 0.25 + 2^-26 */
    case 1u: return qk_f32_mul_rd(0x17FFFFFu, -25, et, mt); /* 0.75 - 2^-25 */
    case 2u: return qk_f32_mul_rd(0x1400001u, -24, et, mt); /* 1.25 + 2^-24 */
    case 3u: return qk_f32_mul_rd(0x1BFFFFFu, -24, et, mt); /* 1.75 - 2^-24 */
    case 4u: return qk_f32_mul_rd(0x1400001u, -23, et, mt); /* 2.5 + 2^-23 */
    case 5u: return qk_f32_mul_rd(0x1BFFFFFu, -23, et, mt); /* 3.5 - 2^-23 */
    default: return qk_f32_mul_rd(0x1400001u, -22, et, mt); /* 5 + 2^-22 */
    }
}

/* The E2M1 nibble of x for the block's bounds (non-decreasing in k): the
 * count of bounds below |x| by a binary search, and x's sign. */
QK_FN QK_U32 qk_nvfp4_code(QK_U32 x, QK_U32 c0, QK_U32 c1, QK_U32 c2, QK_U32 c3, QK_U32 c4, QK_U32 c5,
                           QK_U32 c6)
{
    QK_U32 a = x & QK_F32_ABS;
    QK_U32 b2 = QK_U(a > c3);
    QK_U32 b1 = QK_U(a > ((b2 != 0u) ? c5 : c1));
    QK_U32 b0 = QK_U(a > ((b2 != 0u) ? ((b1 != 0u) ? c6 : c4) : ((b1 != 0u) ? c2 : c0)));
    return ((x >> 28) & 8u) | (b2 << 2) | (b1 << 1) | b0;
}

#endif /* QK_NVFP4_BOUNDS_H */
