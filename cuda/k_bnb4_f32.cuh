/* NF4/FP4 quantize of f32 input in whole blocks of 64: the f32 form of
 * qk_bnb4_quantize64 (k_bnb4.cuh), whose steps and proofs it shares. Kernels
 * of their own: an f32 body inside the 16-bit kernels gave those a 48-byte
 * stack frame. */
#ifndef QK_K_BNB4_F32_CUH
#define QK_K_BNB4_F32_CUH

#include "k_bnb4.cuh"

/* Whether any of 8 magnitudes (|x| bits) is a nonzero subnormal: a - 1
 * wraps 0 to the largest word, so the unsigned minimum lands on the
 * smallest nonzero magnitude. */
static __device__ __forceinline__ int f32_any_subnormal(const u32 a[8])
{
    u32 mn = 0xFFFFFFFFu;
#pragma unroll
    for (int k = 0; k < 8; k++)
        mn = min(mn, a[k] - 1u);
    return mn < 0x7FFFFFu;
}

/* bnb4_flush16's rule for inputs that may be subnormal: only NF4 with
 * absmax >= 2^-100 (r <= 2^100) codes every subnormal x as its flushed
 * zero (|x r| < 2^-26); FP4's sign bit tells a tiny negative product from
 * a flushed -0. */
static __device__ __forceinline__ int bnb4_flush_f32(int nf4, u32 am) { return !(nf4 && ((am >> 23) & 0xFFu) >= 27u); }

/* The codes of a lane's 8 elements (quad lo, then quad hi) by the fast path
 * of bnb4_code_fast: the IEEE product of x (flushed where FLUSH) and r, then
 * one lookup, which codes the product's ftz. Quad lo's codes fill bits
 * 0-15, quad hi's 16-31, element 2j high. */
static __device__ __forceinline__ u32 bnb4_codes8_f32(int flush, const u32 x[8], u32 r, const u32 *tab)
{
    u32 word = 0u;
#pragma unroll
    for (int k = 0; k < 8; k++)
        word += qkf_bnb_lookup(tab, dmul(flush ? qk_f32_ftz(x[k]) : x[k], r)) << nibble_shift(k); /* disjoint */
    return word;
}

/* A block holding NaN or Inf: the reference's key over a lane's elements
 * (bnb4_key16) and its codes (mul_ftz, the codec; rare: kept out of line). */
static __device__ __forceinline__ u32 bnb4_key8_f32(const u32 x[8])
{
    u32 key = 0u;
#pragma unroll
    for (int k = 0; k < 8; k++)
        if (!qk_f32_is_nan(x[k]))
            key = max(key, qk_f32_ftz(x[k] & QK_F32_ABS) + 1u);
    return key;
}

static __device__ __noinline__ u32 bnb4_codes8_f32_ref(int nf4, uint4 lo, uint4 hi, u32 r)
{
    u32 x[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w}, word = 0u;
    for (int k = 0; k < 8; k++) {
        u32 v = mul_ftz(x[k], r);
        word |= (nf4 ? qk_nf4_encode(v) : qk_fp4_encode(v)) << nibble_shift(k);
    }
    return word;
}

/* Eight lanes a block of 64 f32 (256 bytes): lane l holds quads l and
 * l + 8, so each of a warp's two 16-byte load instructions reads four
 * blocks' halves, 128 whole bytes each, and the next step's are issued a
 * step ahead. The block's largest |x| bits (NaN above Inf) tell a finite
 * block, whose absmax is their ftz (ftz keeps the order of magnitudes) and
 * whose codes are one lookup each; a block holding NaN or Inf takes the
 * reference's steps. The shuffles name only the block's eight lanes, which
 * take the same branches. Lane pairs trade their quads' codes so that each
 * lane stores one word: a warp's store writes four blocks' 32 bytes. */
template <int SUM>
static __device__ __forceinline__ void bnb4_q64_f32_body(const uint4 *in, int nf4, i64 b0, i64 b1,
                                                         unsigned char *data, u32 *absmax, const u32 *code_tab,
                                                         absmax_partial *part)
{
    __shared__ u32 tab[QKF_BNB_BUCKETS];
    for (int k = threadIdx.x; k < QKF_BNB_BUCKETS; k += blockDim.x)
        tab[k] = code_tab[k];
    __syncthreads();
    const u32 lane = threadIdx.x & 7u, lanes = 0xFFu << (threadIdx.x & 24u);
    /* the even lane of a pair stores elements [8m, 8m + 8) of its block
     * (its quad lo's codes, then its partner's), the odd one [32 + 8m,
     * 40 + 8m) (its partner's quad hi's, then its own) */
    const u32 perm = (lane & 1u) ? 0x3276u : 0x5410u;
    const uint4 *src = in + b0 * 16 + lane;
    u32 *dst = (u32 *)(data + b0 * 32) + (lane >> 1) + 4u * (lane & 1u);
    /* the grid's width is a multiple of 8: a thread keeps its lane */
    i64 units = (b1 - b0) * 8, step = (i64)gridDim.x * blockDim.x, u = gtid();
    uint4 lo = make_uint4(0u, 0u, 0u, 0u), hi = lo;
    double sum = 0.0; /* SUM: partial_add's share of the absmax this thread writes */
    int lsb = 0x7FFFFFFF;
    if (u < units) {
        lo = src[(u >> 3) * 16];
        hi = src[(u >> 3) * 16 + 8];
    }
    for (; u < units; u += step) {
        u32 x[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
        i64 blk = u >> 3;
        if (u + step < units) {
            lo = src[((u + step) >> 3) * 16];
            hi = src[((u + step) >> 3) * 16 + 8];
        }
        u32 a[8], m = 0u;
#pragma unroll
        for (int k = 0; k < 8; k++) {
            a[k] = x[k] & QK_F32_ABS;
            m = max(m, a[k]);
        }
        m = max(m, __shfl_xor_sync(lanes, m, 1));
        m = max(m, __shfl_xor_sync(lanes, m, 2));
        m = max(m, __shfl_xor_sync(lanes, m, 4));
        u32 w;
        if (m < QK_F32_INF) {
            u32 am = qk_f32_ftz(m), r = bnb_block_rcp(DT_F32, am, NULL, NULL);
            if (lane == 0u) {
                absmax[b0 + blk] = am;
                if (SUM)
                    partial_add(sum, lsb, am);
            }
            /* the flush only changes subnormal inputs: a lane without one skips it */
            if (bnb4_flush_f32(nf4, am) && f32_any_subnormal(a))
                w = bnb4_codes8_f32(1, x, r, tab);
            else
                w = bnb4_codes8_f32(0, x, r, tab);
        } else {
            u32 key = bnb4_key8_f32(x);
            key = max(key, __shfl_xor_sync(lanes, key, 1));
            key = max(key, __shfl_xor_sync(lanes, key, 2));
            key = max(key, __shfl_xor_sync(lanes, key, 4));
            u32 am = key != 0u ? key - 1u : 0xFF7FFFFFu; /* all NaN: fmaxf's -FLT_MAX */
            if (lane == 0u) {
                absmax[b0 + blk] = am;
                if (SUM)
                    partial_add(sum, lsb, am);
            }
            w = bnb4_codes8_f32_ref(nf4, make_uint4(x[0], x[1], x[2], x[3]), make_uint4(x[4], x[5], x[6], x[7]),
                                    bnb_block_rcp(DT_F32, am, NULL, NULL));
        }
        dst[blk * 8] = __byte_perm(w, __shfl_xor_sync(lanes, w, 1), perm);
    }
    if (SUM)
        partial_add_to_slot(part, sum, lsb);
}

/* f32 input, bs = 64, whole blocks [b0, b1): code_tab is the format's
 * qkf_bnb_code_table. */
extern "C" __global__ void __launch_bounds__(256)
qk_bnb4_quantize64_f32(const void *in, int nf4, i64 b0, i64 b1, unsigned char *data, u32 *absmax,
                       const u32 *code_tab)
{
    bnb4_q64_f32_body<0>((const uint4 *)in, nf4, b0, b1, data, absmax, code_tab, NULL);
}

/* The same for double quant, adding the mean's partials as
 * qk_bnb4_quantize64_sum does. */
extern "C" __global__ void __launch_bounds__(256)
qk_bnb4_quantize64_f32_sum(const void *in, int nf4, i64 b0, i64 b1, unsigned char *data, u32 *absmax,
                           const u32 *code_tab, absmax_partial *part)
{
    bnb4_q64_f32_body<1>((const uint4 *)in, nf4, b0, b1, data, absmax, code_tab, part);
}

#endif
