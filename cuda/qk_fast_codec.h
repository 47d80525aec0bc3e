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

#endif /* QK_FAST_CODEC_H */
