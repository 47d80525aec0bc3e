/* NVFP4 codes of bf16/f16 input two elements at a time, on the 16-bit
 * magnitudes themselves (the generic path widens each element to f32 and
 * compares it with the block's seven f32 bounds: ALU-bound).
 *
 * For an f32 bound c, |x| > c is m > h on x's 16-bit magnitude m, where h
 * is the largest 16-bit magnitude whose value is <= c: magnitudes order as
 * their values do, and no 16-bit value lies in (h, c]. A threshold word
 * holds h | 0x8000 in both halves; with m <= 0x7FFF the subtraction
 * (h | 0x8000) - m borrows nothing across the halves, and bit 15 of each
 * half of the difference is set exactly when m <= h. Self-test 19 compares
 * these codes with qk_nvfp4_code of the widened input. */
#ifndef QK_K_NVFP4_PAIRS_CUH
#define QK_K_NVFP4_PAIRS_CUH

#include "dev_common.cuh"

/* The threshold word of bound c (finite, >= 0): bf16 truncates c (h <=
 * 0x7F7F); f16 rounds it down (h <= 0x7BFF, the largest finite f16). */
static __device__ __forceinline__ u32 nvfp4_pair_threshold(int dt, u32 c)
{
    u32 h = c >> 16;
    if (dt == DT_F16) {
        unsigned short s;
        asm("cvt.rm.f16.f32 %0, %1;" : "=h"(s) : "f"(fl(c)));
        h = s;
    }
    return h * 0x10001u | 0x80008000u;
}

/* 0xFFFF in each half of m whose magnitude is <= that half's threshold:
 * prmt replicates the sign bit of bytes 1 and 3 of the difference. */
static __device__ __forceinline__ u32 nvfp4_pair_at_most(u32 hp, u32 m)
{
    u32 r;
    asm("prmt.b32 %0, %1, 0, 0xBB99;" : "=r"(r) : "r"(hp - m));
    return r;
}

/* The halves of a where mask is set, of b elsewhere. */
static __device__ __forceinline__ u32 nvfp4_pair_pick(u32 mask, u32 a, u32 b) { return (mask & a) | (~mask & b); }

/* The E2M1 codes of the two 16-bit elements of w (no NaN), qk_nvfp4_code's
 * binary search on both halves: the low element's code in bits 0-3, the
 * high one's in bits 16-19. hp: the threshold words of the seven bounds. */
static __device__ __forceinline__ u32 nvfp4_pair_codes(u32 w, const u32 hp[7])
{
    u32 m = w & 0x7FFF7FFFu;
    u32 le3 = nvfp4_pair_at_most(hp[3], m); /* code < 4 */
    u32 le1 = nvfp4_pair_at_most(nvfp4_pair_pick(le3, hp[1], hp[5]), m);
    u32 le0 = nvfp4_pair_at_most(
        nvfp4_pair_pick(le1, nvfp4_pair_pick(le3, hp[0], hp[4]), nvfp4_pair_pick(le3, hp[2], hp[6])), m);
    return (~le3 & 0x40004u) | (~le1 & 0x20002u) | (~le0 & 0x10001u) | ((w >> 12) & 0x80008u);
}

/* The codes of words j and j + 1 (elements 2j .. 2j + 3) as output bytes j
 * and j + 1 in the low 16 bits: each byte holds its first element's code
 * in the high nibble. */
static __device__ __forceinline__ u32 nvfp4_pair_bytes(u32 ca, u32 cb)
{
    u32 u = ca | (cb << 8);
    return (u << 4) | (u >> 16);
}

#endif
