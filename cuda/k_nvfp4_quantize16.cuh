/* NVFP4 quantize of bf16/f16 input with the per-block scalars from a
 * per-tensor table and the codes by counting (nvfp4_pair_byte).
 *
 * Why: qk_nvfp4_quantize is instruction-bound (ncu: the integer ALU pipe
 * at 82% of its peak). Per 16-block its 16-bit path spent about 384
 * instructions (222 on the ALU pipe): 64-bit index and blocked-offset
 * arithmetic, two IEEE divisions, the e4m3 decode, seven f64 products and
 * eight conversions for the bounds, and a binary search whose selects and
 * sign masks all run on the ALU pipe.
 *
 * - Everything a block needs besides its elements is a function of its
 *   16-bit maximum m16 alone (g is per tensor): the scale byte, t, the
 *   zero-block rule and the seven threshold halves. qk_nvfp4_scale_table
 *   computes that entry for every m16 from 0 to Inf with the generic
 *   path's own functions (nvfp4_scale_code, qk_e4m3_to_f32, nvfp4_bound,
 *   nvfp4_pair_threshold): the same bits by construction. A block loads its
 *   16-byte entry instead of computing it (L1-resident: a tensor's block
 *   maxima span few values). NaN blocks (m16 above Inf) take the generic
 *   path, as do partial blocks and rows not 16-byte aligned.
 * - Codes: nvfp4_pair_byte (k_nvfp4_pairs.cuh), per two elements seven
 *   subtractions, four prmt and four dp4a (dp4a runs on the FMA pipe), and
 *   each word's four bytes packed by multiply-adds.
 * - The thread's (row, block) by a 32-bit division by a magic reciprocal
 *   (the host keeps a launch under 2^32 threads), the scale offset from
 *   blocked_row_part / blocked_col_part. */
#ifndef QK_K_NVFP4_QUANTIZE16_CUH
#define QK_K_NVFP4_QUANTIZE16_CUH

#include "k_blocked.cuh"

/* Entry of block maximum m16 (0 .. dt's Inf) for the per-tensor scale g:
 * x, y, z: threshold halves (h_k | 0x8000) of bounds 0-1, 2-3, 4-5 (the
 * lower k in the low half); w: bound 6's, the scale byte in bits 16-23,
 * bit 24 set when t = 0 (the anchor's zero-block rule). */
static __device__ __forceinline__ uint4 nvfp4_table_entry(int dt, u32 m16, u32 g)
{
    u32 s8 = nvfp4_scale_code(widen_finite(dt, m16), g);
    u32 t = dmul(g, qk_e4m3_to_f32(s8));
    if ((t & QK_F32_ABS) == 0u)
        return make_uint4(0u, 0u, 0u, s8 << 16 | 1u << 24);
    u32 h[7];
#pragma unroll
    for (int k = 0; k < 7; k++)
        h[k] = nvfp4_pair_threshold(dt, nvfp4_bound(k, t)) & 0xFFFFu;
    return make_uint4(h[0] | h[1] << 16, h[2] | h[3] << 16, h[4] | h[5] << 16, h[6] | s8 << 16);
}

/* n = dt's Inf pattern + 1 entries. */
KERNEL qk_nvfp4_scale_table(int dt, u32 g, u32 n, uint4 *table)
{
    u32 m16 = blockIdx.x * blockDim.x + threadIdx.x;
    if (m16 < n)
        table[m16] = dt == DT_BF16 ? nvfp4_table_entry(DT_BF16, m16, g) : nvfp4_table_entry(DT_F16, m16, g);
}

/* A threshold word: both halves set to e's low (high = 0) or high half. */
static __device__ __forceinline__ u32 nvfp4_half2(u32 e, int high)
{
    return __byte_perm(e, 0u, high ? 0x3232u : 0x1010u);
}

/* The generic path out of line: its registers (and, under the launch
 * bound, its spills) stay out of the fast path's. */
static __device__ __noinline__ void nvfp4_quantize16_generic(const void *in, int dt, i64 cols, i64 r, i64 cb, i64 ncb,
                                                             u32 g, int native, uint2 *dst, unsigned char *scale)
{
    if (dt == DT_BF16)
        nvfp4_quantize_generic(in, DT_BF16, cols, r, cb, ncb, g, native, dst, scale);
    else
        nvfp4_quantize_generic(in, DT_F16, cols, r, cb, ncb, g, native, dst, scale);
}

/* Rows [r0, r1) of the padded rows, dt bf16 or f16; ncb_magic =
 * floor((2^32 - 1) / ncb) and (r1 - r0) * ncb < 2^32 (the host's launch). */
static __device__ __forceinline__ void nvfp4_quantize16_body(const void *in, int dt, i64 rows, i64 cols, u32 ncb,
                                                             u32 ncb_magic, u32 g, i64 r0, i64 r1, int native,
                                                             const uint4 *table, unsigned char *data,
                                                             unsigned char *scale)
{
    u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    u32 q = __umulhi(i, ncb_magic), cb = i - q * ncb; /* q is floor(i / ncb) or one less */
    if (cb >= ncb) {
        q++;
        cb -= ncb;
    }
    i64 r = r0 + q;
    if (r >= r1)
        return;
    i64 c0 = (i64)cb * 16;
    uint2 *dst = (uint2 *)(data + (r * ncb + cb) * 8);
    if (r >= rows || c0 >= cols) {
        *dst = make_uint2(0u, 0u);
        return;
    }
    if (c0 + 16 <= cols && (cols & 7) == 0) {
        const uint4 *src = (const uint4 *)((const unsigned short *)in + r * cols + c0);
        u32 w[8], m16 = nvfp4_block_words(src, w);
        if (m16 <= (dt == DT_BF16 ? 0x7F80u : 0x7C00u)) {
            uint4 e = table[m16];
            scale[blocked_row_part(r, ncb) + blocked_col_part(cb)] = (unsigned char)(e.w >> 16);
            if (e.w >> 24) {
                *dst = make_uint2(0u, 0u); /* t = 0: +0 codes */
                return;
            }
            u32 hp[7] = {nvfp4_half2(e.x, 0), nvfp4_half2(e.x, 1), nvfp4_half2(e.y, 0), nvfp4_half2(e.y, 1),
                         nvfp4_half2(e.z, 0), nvfp4_half2(e.z, 1), nvfp4_half2(e.w, 0)};
            *dst = make_uint2(nvfp4_pair_word(w, hp), nvfp4_pair_word(w + 4, hp));
            return;
        }
    }
    nvfp4_quantize16_generic(in, dt, cols, r, cb, ncb, g, native, dst, scale);
}

#define QK_NVFP4_Q16_ARGS                                                                          \
    const void *in, int dt, i64 rows, i64 cols, u32 ncb, u32 ncb_magic, u32 g, i64 r0, i64 r1, int native, \
        const uint4 *table, unsigned char *data, unsigned char *scale
#define QK_NVFP4_Q16_CALL                                                                          \
    if (dt == DT_BF16)                                                                             \
        nvfp4_quantize16_body(in, DT_BF16, rows, cols, ncb, ncb_magic, g, r0, r1, native, table, data, scale); \
    else                                                                                           \
        nvfp4_quantize16_body(in, DT_F16, rows, cols, ncb, ncb_magic, g, r0, r1, native, table, data, scale)

/* Six blocks of 256 an SM (sm_90: 40 registers, 56 unbounded): more loads
 * in flight; only the out-of-line generic path spills. sm_75 holds 1024
 * threads an SM: four. */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#define QK_NVFP4_Q16_BLOCKS 4
#else
#define QK_NVFP4_Q16_BLOCKS 6
#endif
extern "C" __global__ void __launch_bounds__(256, QK_NVFP4_Q16_BLOCKS) qk_nvfp4_quantize16(QK_NVFP4_Q16_ARGS)
{
    QK_NVFP4_Q16_CALL;
}

#endif
