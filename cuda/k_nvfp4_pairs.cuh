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

/* A whole 16-element block of 16-bit input (16-byte aligned at src): its
 * eight words in w and its largest 16-bit magnitude (magnitudes order as
 * the values do; NaN above the dtype's Inf pattern). */
static __device__ __forceinline__ u32 nvfp4_block_words(const uint4 *src, u32 w[8])
{
    uint4 lo = src[0], hi = src[1];
    const u32 words[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
    u32 m2 = 0u;
#pragma unroll
    for (int k = 0; k < 8; k++) {
        w[k] = words[k];
        m2 = __vmaxu2(m2, w[k] & 0x7FFF7FFFu);
    }
    return max(m2 & 0xFFFFu, m2 >> 16);
}

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

/* Bytes 0xFF where bit 15 / 31 of da, then db, is set, else 0: prmt's sign
 * replication of bytes 1, 3 of da and 1, 3 of db. */
static __device__ __forceinline__ u32 nvfp4_flags2(u32 da, u32 db)
{
    u32 r;
    asm("prmt.b32 %0, %1, %2, 0xFDB9;" : "=r"(r) : "r"(da), "r"(db));
    return r;
}

/* The output byte of word w (codes by counting, no search): (code of the
 * low element << 4) | code of the high element, for the threshold words
 * hp[0..6] of nvfp4_pair_threshold. A code's magnitude is the number of
 * bounds below |x| (qk_nvfp4_code's binary search finds the same count:
 * the bounds are non-decreasing), i.e. 7 minus the number of k with m <=
 * h_k. Bit 15 / 31 of hp[k] - m are those flags; prmt replicates them into
 * bytes of 0xFF (-1) or 0, four a word (two bounds, both halves), and one
 * dp4a a word subtracts them, weighted 16 for the low element and 1 for the
 * high one, from 0x77; the last word carries the two sign bits of w
 * (bytes 1 and 3), weighted -128 and -8. No nibble leaves [0, 15], so the
 * sum is the byte itself. This moves the work of the search's selects
 * (integer ALU pipe) to dp4a (FMA pipe). Self-test 21 compares it with
 * qk_nvfp4_code for every 16-bit element pair and 2^16 scales. */
static __device__ __forceinline__ u32 nvfp4_pair_byte(u32 w, const u32 hp[7])
{
    u32 m = w & 0x7FFF7FFFu;
    int acc = __dp4a((int)nvfp4_flags2(hp[0] - m, hp[1] - m), 0x01100110, 0x77);
    acc = __dp4a((int)nvfp4_flags2(hp[2] - m, hp[3] - m), 0x01100110, acc);
    acc = __dp4a((int)nvfp4_flags2(hp[4] - m, hp[5] - m), 0x01100110, acc);
    acc = __dp4a((int)nvfp4_flags2(hp[6] - m, w), (int)0xF8800110u, acc);
    return (u32)acc;
}

/* Four words' bytes as one output word, w[0]'s byte lowest. */
static __device__ __forceinline__ u32 nvfp4_pair_word(const u32 *w, const u32 hp[7])
{
    u32 b0 = nvfp4_pair_byte(w[0], hp), b1 = nvfp4_pair_byte(w[1], hp);
    u32 b2 = nvfp4_pair_byte(w[2], hp), b3 = nvfp4_pair_byte(w[3], hp);
    return ((b3 * 256u + b2) * 256u + b1) * 256u + b0;
}

#endif
