/* bitsandbytes NF4/FP4 kernels: the bytes of src/ref/ref_bnb4.c and
 * src/ref/bnb_nested.c (whose per-block steps run here; only the mean of
 * the absmax vector, a sequential double sum, stays on the host).
 *
 * Quantize: one segment of bs/8 threads per bnb block, 8 elements each. */
#ifndef QK_K_BNB4_CUH
#define QK_K_BNB4_CUH

#include "dev_common.cuh"
#include "k_absmax_sum.cuh"

/* qk_rcp_from_table / qk_bnb_reciprocal with the measured tables. */
static __device__ __forceinline__ u32 bnb_reciprocal(int dt, u32 absmax, const u32 *rcp_bf16, const u32 *rcp_f16)
{
    if (dt == DT_BF16)
        return qk_rcp_from_table(rcp_bf16[(absmax >> 16) & 0x7Fu], absmax);
    if (dt == DT_F16)
        return qk_rcp_from_table(rcp_f16[(absmax >> 13) & 0x3FFu], absmax);
    if ((absmax & QK_F32_INF) == 0u)
        return (absmax & QK_F32_SIGN) | QK_F32_INF;
    return qk_f32_ftz(ddiv(QK_F32_ONE, absmax));
}

/* The factor a block with absmax am multiplies by: the reciprocal,
 * flushed as mul.ftz flushes its operand. */
static __device__ __forceinline__ u32 bnb_block_rcp(int dt, u32 am, const u32 *rcp_bf16, const u32 *rcp_f16)
{
    return qk_f32_ftz(bnb_reciprocal(dt, am, rcp_bf16, rcp_f16));
}

/* mul.ftz.f32: qk_f32_mul_ftz (NaN payloads may differ; every caller maps
 * NaN to a fixed code). */
static __device__ __forceinline__ u32 mul_ftz(u32 a, u32 b)
{
    return qk_f32_ftz(dmul(qk_f32_ftz(a), qk_f32_ftz(b)));
}

/* Max over a segment of `seg` consecutive threads (seg a power of two,
 * 4..512, dividing blockDim.x). Every thread of the block must call it. */
static __device__ __forceinline__ u32 segment_max(u32 v, int seg)
{
    __shared__ u32 warp_part[32];
    int lanes = seg < 32 ? seg : 32;
    for (int o = lanes / 2; o > 0; o >>= 1)
        v = max(v, __shfl_xor_sync(0xFFFFFFFFu, v, o));
    if (seg > 32) {
        int warp = threadIdx.x / 32, first = (threadIdx.x / seg) * (seg / 32);
        if ((threadIdx.x & 31) == 0)
            warp_part[warp] = v;
        __syncthreads();
        for (int w = 0; w < seg / 32; w++)
            v = max(v, warp_part[first + w]);
        __syncthreads();
    }
    return v;
}

/* Eight codes packed as bitsandbytes stores them (element 0 in the high
 * nibble). r: the block's flushed reciprocal. NF4 codes by bucket (tab:
 * qkf_nf4_bucket_table in shared memory); FLUSH 0 skips the input flush,
 * which the caller allows only where it cannot change a code. */
static __device__ __forceinline__ u32 bnb4_codes(const u32 x[8], u32 r, int nf4, int flush, const uint2 *tab)
{
    u32 word = 0u;
#pragma unroll
    for (int k = 0; k < 8; k++) {
        /* mul_ftz, with the result's flush left to the code functions */
        float v = fl(dmul(flush ? qk_f32_ftz(x[k]) : x[k], r)); /* padding is +0 */
        u32 c;
        if (nf4) {
            float cl = qkf_nf4_clamp(v);
            uint2 e = tab[qkf_nf4_bucket(cl)];
            c = e.y + (u32)(cl > fl(e.x));
        } else {
            c = qkf_fp4_unflushed(v);
        }
        word |= c << ((k / 2) * 8 + ((k & 1) ? 0 : 4));
    }
    return word;
}

/* The 8 elements of virtual thread t (t >> log2(seg): its bnb block past
 * b0, t & (seg - 1): its lane), or none when that block is past b1; every
 * thread of the CUDA block calls it (segment_max). */
static __device__ __forceinline__ void bnb4_quantize8(const void *in, int dt, i64 n, int bs, int nf4, i64 b0, i64 b1,
                                                      i64 t, unsigned char *data, u32 *absmax, const u32 *rcp_bf16,
                                                      const u32 *rcp_f16, const uint2 *tab)
{
    int seg = bs / 8; /* a power of two: shifts, not 64-bit divisions */
    i64 b = b0 + (t >> (__ffs(seg) - 1));
    int lane = (int)t & (seg - 1);
    int live = b < b1;
    i64 i = b * bs + (i64)lane * 8;
    u32 x[8];
    u32 key = 0u; /* ftz(|x|) + 1 of non-NaN elements, 0 = none */
    if (live) {
        /* Elements past n read as +0: they count as the zero padding that
         * a partial block sees (key 1, absmax 0), no range test needed. */
        load8_tail(dt, in, i, n, 0u, x);
        /* fmaxf skips NaN, and ftz commutes with max: one max per element */
        float m = -1.0f;
#pragma unroll
        for (int k = 0; k < 8; k++)
            m = fmaxf(m, fabsf(fl(x[k])));
        key = m < 0.0f ? 0u : qk_f32_ftz(bits(m)) + 1u;
    }
    key = segment_max(key, seg);
    if (!live)
        return;
    /* fmaxf from -FLT_MAX; a partial block also sees its zero padding */
    int partial = b * bs + bs > n;
    u32 am = key != 0u ? key - 1u : (partial ? 0u : 0xFF7FFFFFu);
    if (lane == 0)
        absmax[b] = am;
    if (i >= n)
        return;
    u32 r = bnb_block_rcp(dt, am, rcp_bf16, rcp_f16);
    /* NF4 with absmax >= 2^-100 (r <= 2^100): a subnormal x gives
     * |x * r| < 2^-26, the zero code, as its flushed zero does; NaN and Inf
     * inputs and r = 0 (Inf absmax) are the same either way. FP4 flushes:
     * its sign bit can tell a tiny product from a flushed zero. */
    u32 word;
    if (nf4 && ((am >> 23) & 0xFFu) >= 27u)
        word = bnb4_codes(x, r, nf4, 0, tab);
    else
        word = bnb4_codes(x, r, nf4, 1, tab);
    if (i + 8 <= n) {
        *(u32 *)(data + i / 2) = word;
    } else {
        for (int k = 0; k < 4; k++)
            if (i + 2 * k < n)
                data[i / 2 + k] = (unsigned char)(word >> (8 * k));
    }
}

/* Blocks [b0, b1): data bytes, f32 absmax. Segments of bs/8 threads, one
 * per bnb block, over a grid the host sizes by occupancy: every thread
 * strides by the grid's width, so all of a CUDA block's threads take the
 * same number of steps (segment_max may synchronize the block) and the
 * NF4 table is loaded once per CUDA block. */
static __device__ __forceinline__ void bnb4_quantize_body(const void *in, int dt, i64 n, int bs, int nf4, i64 b0,
                                                          i64 b1, unsigned char *data, u32 *absmax, const u32 *rcp_bf16,
                                                          const u32 *rcp_f16, const u32 *nf4_tab)
{
    __shared__ uint2 tab[QKF_NF4_BUCKETS];
    if (nf4) {
        for (int k = threadIdx.x; k < QKF_NF4_BUCKETS; k += blockDim.x)
            tab[k] = make_uint2(nf4_tab[2 * k], nf4_tab[2 * k + 1]);
        __syncthreads();
    }
    i64 threads = (b1 - b0) * (bs / 8), step = (i64)gridDim.x * blockDim.x;
    for (i64 base = (i64)blockIdx.x * blockDim.x; base < threads; base += step)
        bnb4_quantize8(in, dt, n, bs, nf4, b0, b1, base + threadIdx.x, data, absmax, rcp_bf16, rcp_f16, tab);
}

/* bnb4_quantize_body with bs = 64 (bitsandbytes' and ComfyUI's usual
 * block size) as a constant: the segment reduction unrolls to shuffles. */
#define QK_BNB4_Q_BODY(DTC, NF4_C)                                                                 \
    do {                                                                                           \
        if (bs == 64)                                                                              \
            bnb4_quantize_body(in, DTC, n, 64, NF4_C, b0, b1, data, absmax, rcp_bf16, rcp_f16, nf4_tab); \
        else                                                                                       \
            bnb4_quantize_body(in, DTC, n, bs, NF4_C, b0, b1, data, absmax, rcp_bf16, rcp_f16, nf4_tab); \
    } while (0)

KERNEL qk_bnb4_quantize(const void *in, int dt, i64 n, int bs, int nf4, i64 b0, i64 b1,
                        unsigned char *data, u32 *absmax, const u32 *rcp_bf16, const u32 *rcp_f16,
                        const u32 *nf4_tab)
{
    if (nf4) {
        const int NF4_C = 1;
        QK_BY_DTYPE(dt, QK_BNB4_Q_BODY(DTC, NF4_C));
    } else {
        const int NF4_C = 0;
        QK_BY_DTYPE(dt, QK_BNB4_Q_BODY(DTC, NF4_C));
    }
}

/* The absmax of a block of 16-bit input whose largest magnitude is m16
 * (no NaN or Inf in the block): bnb4_quantize8's, since widening and ftz
 * keep the order of magnitudes. */
static __device__ __forceinline__ u32 bnb4_absmax16(int dt, u32 m16) { return qk_f32_ftz(widen(dt, m16)); }

/* Whether a block with this absmax must flush its inputs before the
 * multiply: f16 inputs are never subnormal as f32; for NF4 with absmax >=
 * 2^-100 (r <= 2^100) a subnormal x gives |x r| < 2^-26, whose code is the
 * zero's, as for its flushed zero. FP4 flushes: its sign bit tells a tiny
 * negative product from a flushed -0. */
static __device__ __forceinline__ int bnb4_flush16(int dt, int nf4, u32 am)
{
    return dt == DT_BF16 && !(nf4 && ((am >> 23) & 0xFFu) >= 27u);
}

/* Whether any of the 16 bf16 halves in w[8] is a nonzero subnormal (its
 * magnitude h in [1, 0x7F]). Per half, h + 0x7FFF (no carry between the
 * halves: h < 2^15) read as a signed 16-bit value is 0x7FFF, the largest,
 * for h = 0 and -2^15 + h - 1 for h >= 1: the signed minimum lands on the
 * smallest nonzero magnitude. Two words a three-way 16x2 min on sm_90,
 * against two additions and a logic op a word for a per-half range test
 * (qk_halves_nonzero_below); self-test 23 checks it on every word. */
static __device__ __forceinline__ int bf16_any_subnormal(const u32 w[8])
{
    u32 mn = 0x7FFF7FFFu;
#pragma unroll
    for (int k = 0; k < 8; k++)
        mn = __vmins2(mn, (w[k] & 0x7FFF7FFFu) + 0x7FFF7FFFu);
    int lo = (int)(short)(mn & 0xFFFFu), hi = (int)(short)(mn >> 16);
    return min(lo, hi) + 0x8000 < 0x7F;
}

/* The code of input half h (finite) by the fast path: mul_ftz(x, r) is
 * ftz(RN(ftz(x) r)) (r flushed already); the IEEE product, then the
 * bucket table, whose codes are those of ftz(v) (qkf_bnb_code_table). */
static __device__ __forceinline__ u32 bnb4_code_fast(int dt, int flush, u32 h, u32 r, const u32 *tab)
{
    u32 x = widen_finite(dt, h);
    return qkf_bnb_lookup(tab, dmul(flush ? qk_f32_ftz(x) : x, r));
}

/* Half k of a thread's 8 words of 16-bit input (element k of 16), and the
 * shift of its code within a word of 8 codes (element 2j high). */
static __device__ __forceinline__ u32 half16(const u32 w[8], int k) { return (k & 1) ? w[k / 2] >> 16 : w[k / 2] & 0xFFFFu; }
static __device__ __forceinline__ int nibble_shift(int k) { return ((k & 7) / 2) * 8 + ((k & 1) ? 0 : 4); }

/* 16 codes of a thread's 16 bf16/f16 inputs (8 words), element 2j high. */
static __device__ __forceinline__ uint2 bnb4_codes16(int dt, int flush, const u32 w[8], u32 r, const u32 *tab)
{
    u32 out[2] = {0u, 0u};
#pragma unroll
    for (int k = 0; k < 16; k++) {
        out[k / 8] += bnb4_code_fast(dt, flush, half16(w, k), r, tab) << nibble_shift(k); /* disjoint nibbles */
    }
    return make_uint2(out[0], out[1]);
}

/* A block holding NaN or Inf takes the reference's steps: the key skips
 * NaN (fmaxf), the products are mul_ftz's, the codes the codec's. key:
 * this lane's ftz(|x|) + 1 over its non-NaN x, 0 for none. */
static __device__ __forceinline__ u32 bnb4_key16(int dt, const u32 w[8])
{
    u32 key = 0u;
#pragma unroll
    for (int k = 0; k < 16; k++) {
        u32 x = widen(dt, half16(w, k));
        if (!qk_f32_is_nan(x))
            key = max(key, qk_f32_ftz(x & QK_F32_ABS) + 1u);
    }
    return key;
}

/* The codes of that path (rare: kept out of line). */
static __device__ __noinline__ uint2 bnb4_codes16_ref(int dt, int nf4, uint4 lo, uint4 hi, u32 r)
{
    u32 w[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w}, out[2] = {0u, 0u};
    for (int k = 0; k < 16; k++) {
        u32 v = mul_ftz(widen(dt, half16(w, k)), r);
        out[k / 8] |= (nf4 ? qk_nf4_encode(v) : qk_fp4_encode(v)) << nibble_shift(k);
    }
    return make_uint2(out[0], out[1]);
}

/* NF4/FP4 of bf16/f16 input in blocks of 64 that are all present (blocks
 * [b0, b1), b1 * 64 <= n): four lanes a block, 16 elements each, over a
 * grid the host sizes by occupancy. Blocks of finite inputs take the
 * 16-bit maximum (two halves a max) and codes by one table lookup each (the
 * integer/logic pipe was the generic kernel's limit); a block holding NaN
 * or Inf takes the reference's steps. The shuffles name only the block's
 * four lanes, which take the same branches. Each step's 32 bytes are
 * loaded a step ahead: with the codes this cheap, memory latency is what
 * remains. */
template <int SUM>
static __device__ __forceinline__ void bnb4_q64_body(const void *in, int dt, int nf4, i64 b0, i64 b1,
                                                     unsigned char *data, u32 *absmax, const u32 *rcp_bf16,
                                                     const u32 *rcp_f16, const u32 *code_tab, absmax_partial *part)
{
    __shared__ u32 tab[QKF_BNB_BUCKETS];
    for (int k = threadIdx.x; k < QKF_BNB_BUCKETS; k += blockDim.x)
        tab[k] = code_tab[k];
    __syncthreads();
    const u32 inf16 = dt == DT_BF16 ? 0x7F80u : 0x7C00u, lanes = 0xFu << (threadIdx.x & 28u);
    const uint4 *src = (const uint4 *)in + b0 * 8; /* a block: 128 bytes of input, 32 of codes */
    uint2 *dst = (uint2 *)(data + b0 * 32);
    i64 units = (b1 - b0) * 4, step = (i64)gridDim.x * blockDim.x, u = gtid();
    uint4 lo = make_uint4(0u, 0u, 0u, 0u), hi = lo;
    double sum = 0.0; /* SUM: partial_add's share of the absmax this thread writes */
    int lsb = 0x7FFFFFFF;
    if (u < units) {
        lo = src[2 * u];
        hi = src[2 * u + 1];
    }
    for (; u < units; u += step) {
        u32 w[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
        if (u + step < units) {
            lo = src[2 * (u + step)];
            hi = src[2 * (u + step) + 1];
        }
        u32 m2 = 0u;
#pragma unroll
        for (int k = 0; k < 8; k++)
            m2 = __vmaxu2(m2, w[k] & 0x7FFF7FFFu);
        u32 m16 = max(m2 & 0xFFFFu, m2 >> 16);
        m16 = max(m16, __shfl_xor_sync(lanes, m16, 1));
        m16 = max(m16, __shfl_xor_sync(lanes, m16, 2));
        i64 b = b0 + (u >> 2);
        uint2 codes;
        if (m16 < inf16) {
            u32 am = bnb4_absmax16(dt, m16), r = bnb_block_rcp(dt, am, rcp_bf16, rcp_f16);
            if ((u & 3) == 0) {
                absmax[b] = am;
                if (SUM)
                    partial_add(sum, lsb, am);
            }
            /* the flush only changes subnormal inputs: a lane without one skips it */
            if (bnb4_flush16(dt, nf4, am) && bf16_any_subnormal(w))
                codes = bnb4_codes16(dt, 1, w, r, tab);
            else
                codes = bnb4_codes16(dt, 0, w, r, tab);
        } else {
            u32 key = bnb4_key16(dt, w);
            key = max(key, __shfl_xor_sync(lanes, key, 1));
            key = max(key, __shfl_xor_sync(lanes, key, 2));
            u32 am = key != 0u ? key - 1u : 0xFF7FFFFFu; /* all NaN: fmaxf's -FLT_MAX */
            if ((u & 3) == 0) {
                absmax[b] = am;
                if (SUM)
                    partial_add(sum, lsb, am);
            }
            codes = bnb4_codes16_ref(dt, nf4, make_uint4(w[0], w[1], w[2], w[3]), make_uint4(w[4], w[5], w[6], w[7]),
                                     bnb_block_rcp(dt, am, rcp_bf16, rcp_f16));
        }
        dst[u] = codes;
    }
    if (SUM)
        partial_add_to_slot(part, sum, lsb);
}

/* bf16/f16 input, bs = 64, whole blocks: code_tab is the format's
 * qkf_bnb_code_table (FP4, then NF4, in the constant tables). */
extern "C" __global__ void __launch_bounds__(256)
qk_bnb4_quantize64(const void *in, int dt, int nf4, i64 b0, i64 b1, unsigned char *data, u32 *absmax,
                   const u32 *rcp_bf16, const u32 *rcp_f16, const u32 *code_tab)
{
    if (dt == DT_BF16)
        bnb4_q64_body<0>(in, DT_BF16, nf4, b0, b1, data, absmax, rcp_bf16, rcp_f16, code_tab, NULL);
    else
        bnb4_q64_body<0>(in, DT_F16, nf4, b0, b1, data, absmax, rcp_bf16, rcp_f16, code_tab, NULL);
}

/* The same for double quant: each CUDA block also adds the share of the
 * mean (k_absmax_sum.cuh) of the absmax it writes to part[blockIdx.x], so
 * no pass re-reads them for the sum. A kernel of its own: the nf4/fp4
 * kernel keeps its registers. */
extern "C" __global__ void __launch_bounds__(256)
qk_bnb4_quantize64_sum(const void *in, int dt, int nf4, i64 b0, i64 b1, unsigned char *data, u32 *absmax,
                       const u32 *rcp_bf16, const u32 *rcp_f16, const u32 *code_tab, absmax_partial *part)
{
    if (dt == DT_BF16)
        bnb4_q64_body<1>(in, DT_BF16, nf4, b0, b1, data, absmax, rcp_bf16, rcp_f16, code_tab, part);
    else
        bnb4_q64_body<1>(in, DT_F16, nf4, b0, b1, data, absmax, rcp_bf16, rcp_f16, code_tab, part);
}

/* The codes of elements [i, min(i + 8, end)) (i a multiple of 8). */
static __device__ __forceinline__ u32 bnb4_word(const unsigned char *data, i64 i, i64 end)
{
    if (i + 8 <= end)
        return *(const u32 *)(data + i / 2);
    u32 word = 0u;
    for (int k = 0; k < 4; k++)
        if (i + 2 * k < end)
            word |= (u32)data[i / 2 + k] << (8 * k);
    return word;
}

/* Elements [i, min(i + 8, end)) from their codes. */
static __device__ __forceinline__ void bnb4_dequantize8(u32 word, u32 absmax, int dt, const u32 *lut, i64 i, i64 end,
                                                        void *out)
{
    u32 s = qk_f32_ftz(absmax);
    u32 v[8];
    /* With 2^-118 <= |s| <= FLT_MAX every product of s and a code value
     * (zero, or 2^-8 <= |value| <= 1) is zero or normal and finite: the
     * plain product is mul_ftz's, and no NaN needs the slow store. */
    u32 as = s & QK_F32_ABS;
    if (as >= 0x04800000u && as < QK_F32_INF) {
#pragma unroll
        for (int k = 0; k < 8; k++)
            v[k] = dmul(lut[(word >> ((k / 2) * 8 + ((k & 1) ? 0 : 4))) & 15u], s);
        if (i + 8 <= end) {
            store8_finite(dt, out, i, v);
            return;
        }
        store8_tail(dt, out, i, end, v);
        return;
    }
    int nan = 0;
#pragma unroll
    for (int k = 0; k < 8; k++) {
        u32 c = (word >> ((k / 2) * 8 + ((k & 1) ? 0 : 4))) & 15u;
        v[k] = qk_f32_ftz(dmul(lut[c], s));
        nan |= qk_f32_is_nan(v[k]);
    }
    if (!nan) {
        store8_tail(dt, out, i, end, v);
        return;
    }
    for (int k = 0; k < 8 && i + k < end; k++) /* CUDA's canonical NaN, as bitsandbytes writes it */
        if (qk_f32_is_nan(v[k])) {
            if (dt == DT_F32)
                ((u32 *)out)[i + k] = 0x7FFFFFFFu;
            else
                ((unsigned short *)out)[i + k] = 0x7FFFu;
        } else {
            store1(dt, out, i + k, v[k]);
        }
}

/* A block's tables for dequantize: the 16 code values, and with double
 * quant (codes != NULL) the dynamic map. */
static __device__ __forceinline__ void bnb4_dq_tables(int nf4, const unsigned char *codes, const u32 *dmap, u32 *lut,
                                                      u32 *dm)
{
    if (threadIdx.x < 16)
        lut[threadIdx.x] = nf4 ? qk_nf4_value(threadIdx.x) : qk_fp4_value(threadIdx.x);
    if (codes != NULL)
        for (int k = threadIdx.x; k < 256; k += blockDim.x)
            dm[k] = dmap[k];
    __syncthreads();
}

/* A block's absmax: x as stored, or with double quant rebuilt from its
 * code x and nested absmax y as bnb_nested.c computes it. */
static __device__ __forceinline__ u32 bnb4_dq_absmax(const unsigned char *codes, const u32 *dm, u32 x, u32 y, u32 off)
{
    return codes != NULL ? dadd(mul_ftz(dm[x], y), off) : x;
}

/* Elements of blocks [b0, b1), 8 per thread and step of a grid the host
 * sizes by occupancy, so each CUDA block fills its tables once. With double
 * quant (codes != NULL) each absmax is rebuilt where it is used, as
 * bnb_nested.c computes it (mul.ftz of the dynamic-map value and the
 * nested absmax, plus the offset), instead of in a pass of its own. */
static __device__ __forceinline__ void bnb4_dequantize_body(const unsigned char *data, const u32 *absmax,
                                                            const unsigned char *codes, const u32 *nested, u32 off,
                                                            const u32 *dmap, i64 n, int bs, int nf4, int dt, i64 b0,
                                                            i64 b1, void *out)
{
    __shared__ u32 lut[16], dm[256];
    bnb4_dq_tables(nf4, codes, dmap, lut, dm);
    int lbs = __ffs(bs) - 1; /* bs a power of two */
    i64 end = min(b1 * (i64)bs, n), step = (i64)gridDim.x * blockDim.x * 8;
    /* Each step's loads (codes, and the absmax or its code and nested
     * absmax) are issued a step ahead: the code -> dynamic map -> absmax
     * chain of double quant would otherwise wait on memory every step. */
    i64 i = b0 * bs + gtid() * 8;
    u32 word = 0u, x = 0u, y = 0u;
    if (i < end) {
        word = bnb4_word(data, i, end);
        x = codes != NULL ? codes[i >> lbs] : absmax[i >> lbs];
        y = codes != NULL ? nested[(i >> lbs) / 256] : 0u;
    }
    for (; i < end; i += step) {
        u32 w = word, cx = x, cy = y;
        if (i + step < end) {
            i64 b = (i + step) >> lbs;
            word = bnb4_word(data, i + step, end);
            x = codes != NULL ? codes[b] : absmax[b];
            y = codes != NULL ? nested[b / 256] : 0u;
        }
        bnb4_dequantize8(w, bnb4_dq_absmax(codes, dm, cx, cy, off), dt, lut, i, end, out);
    }
}

/* f32 output, warp-strided: a warp's step covers 256 elements, lane l the
 * quads at 4l and 128 + 4l, so each 16-byte store instruction of the warp
 * writes 512 contiguous bytes. Eight adjacent elements a thread, stored by
 * lane pairs trading quads (store_f32_pairs), ran at 82% of the copy on
 * the H100, this at 87% (the write probe had warp-strided stores at 90-91%
 * at every grid). Still at most 3 blocks a SM: uncapped measured 83-84%. */
struct bnb4_quad_in {
    u32 codes, x, y; /* 16 bits of codes; the absmax, or its code and nested absmax */
};

/* The inputs of elements [i, min(i + 4, end)) (i a multiple of 4). */
static __device__ __forceinline__ bnb4_quad_in bnb4_quad_load(const unsigned char *data, const u32 *absmax,
                                                              const unsigned char *codes, const u32 *nested,
                                                              int lbs, i64 i, i64 end)
{
    bnb4_quad_in q = {0u, 0u, 0u};
    if (i >= end)
        return q;
    if (i + 4 <= end) {
        q.codes = *(const unsigned short *)(data + i / 2);
    } else {
        q.codes = data[i / 2];
        if (i + 2 < end)
            q.codes |= (u32)data[i / 2 + 1] << 8;
    }
    i64 b = i >> lbs;
    q.x = codes != NULL ? codes[b] : absmax[b];
    q.y = codes != NULL ? nested[b / 256] : 0u;
    return q;
}

/* bnb4_dequantize8's products for one quad, stored as one 16-byte word. */
static __device__ __forceinline__ void bnb4_dequantize4_f32(u32 w, u32 absmax, const u32 *lut, i64 i, i64 end,
                                                            u32 *out)
{
    u32 s = qk_f32_ftz(absmax), as = s & QK_F32_ABS, v[4];
    bool plain = as >= 0x04800000u && as < QK_F32_INF; /* see bnb4_dequantize8 */
#pragma unroll
    for (int k = 0; k < 4; k++) {
        v[k] = dmul(lut[(w >> ((k / 2) * 8 + ((k & 1) ? 0 : 4))) & 15u], s);
        if (!plain) {
            v[k] = qk_f32_ftz(v[k]);
            if (qk_f32_is_nan(v[k]))
                v[k] = 0x7FFFFFFFu; /* CUDA's canonical NaN, as bitsandbytes writes it */
        }
    }
    if (i + 4 <= end) {
        *(uint4 *)(out + i) = make_uint4(v[0], v[1], v[2], v[3]);
        return;
    }
    for (int k = 0; k < 4 && i + k < end; k++)
        out[i + k] = v[k];
}

static __device__ __forceinline__ void bnb4_dequantize_f32_body(const unsigned char *data, const u32 *absmax,
                                                                const unsigned char *codes, const u32 *nested,
                                                                u32 off, const u32 *dmap, i64 n, int bs, int nf4,
                                                                i64 b0, i64 b1, u32 *out)
{
    __shared__ u32 lut[16], dm[256];
    bnb4_dq_tables(nf4, codes, dmap, lut, dm);
    int lbs = __ffs(bs) - 1; /* bs a power of two */
    i64 end = min(b1 * (i64)bs, n), step = (i64)gridDim.x * blockDim.x * 8;
    i64 i = b0 * bs + (gtid() >> 5) * 256 + (threadIdx.x & 31) * 4;
    /* Loads a step ahead, as bnb4_dequantize_body issues them. */
    bnb4_quad_in p = bnb4_quad_load(data, absmax, codes, nested, lbs, i, end);
    bnb4_quad_in q = bnb4_quad_load(data, absmax, codes, nested, lbs, i + 128, end);
    for (; i < end; i += step) {
        bnb4_quad_in a = p, b = q;
        p = bnb4_quad_load(data, absmax, codes, nested, lbs, i + step, end);
        q = bnb4_quad_load(data, absmax, codes, nested, lbs, i + step + 128, end);
        bnb4_dequantize4_f32(a.codes, bnb4_dq_absmax(codes, dm, a.x, a.y, off), lut, i, end, out);
        if (i + 128 < end)
            bnb4_dequantize4_f32(b.codes, bnb4_dq_absmax(codes, dm, b.x, b.y, off), lut, i + 128, end, out);
    }
}

KERNEL qk_bnb4_dequantize(const unsigned char *data, const u32 *absmax, const unsigned char *codes, const u32 *nested,
                          u32 off, const u32 *dmap, i64 n, int bs, int nf4, int dt, i64 b0, i64 b1, void *out)
{
    if (dt == DT_F32) {
        bnb4_dequantize_f32_body(data, absmax, codes, nested, off, dmap, n, bs, nf4, b0, b1, (u32 *)out);
        return;
    }
    if (nf4) {
        const int NF4_C = 1;
        QK_BY_DTYPE(dt, bnb4_dequantize_body(data, absmax, codes, nested, off, dmap, n, bs, NF4_C, DTC, b0, b1, out));
    } else {
        const int NF4_C = 0;
        QK_BY_DTYPE(dt, bnb4_dequantize_body(data, absmax, codes, nested, off, dmap, n, bs, NF4_C, DTC, b0, b1, out));
    }
}

/* ---- double quant, per nested block of 256 (bnb_nested.c) ------------- */

/* bitsandbytes' dQuantize over the dynamic map, as bnb_nested.c searches
 * it: self-test 24 compares qkf_dmap_lookup with it. */
static __device__ u32 dynamic_map_code(const u32 *code, u32 x)
{
    float fx = fl(x);
    int pivot = 127, upper_pivot = 255, lower_pivot = 0;
    u32 lower = 0xBF800000u, upper = QK_F32_ONE;
    u32 val = code[pivot];
    for (int i = 64; i > 0; i >>= 1) {
        if (fx > fl(val)) {
            lower_pivot = pivot;
            lower = val;
            pivot += i;
        } else {
            upper_pivot = pivot;
            upper = val;
            pivot -= i;
        }
        val = code[pivot];
    }
    if (upper_pivot == 255)
        upper = code[upper_pivot];
    if (lower_pivot == 0)
        lower = code[lower_pivot];
    if (fx > fl(val)) {
        u32 mid = qk_f32_ftz(dmul(qk_f32_ftz(dadd(upper, val)), 0x3F000000u));
        return fx > fl(mid) ? (u32)upper_pivot : (u32)pivot;
    }
    u32 mid = qk_f32_ftz(dmul(qk_f32_ftz(dadd(lower, val)), 0x3F000000u));
    return fx < fl(mid) ? (u32)lower_pivot : (u32)pivot;
}

/* absmax[i, i + 8) (zeros past nb), as two 16-byte loads where all are
 * present (absmax is the device allocation, i a multiple of 8). */
static __device__ __forceinline__ void absmax8(const u32 *absmax, i64 nb, i64 i, u32 a[8])
{
    if (i + 8 <= nb) {
        uint4 lo = *(const uint4 *)(absmax + i), hi = *(const uint4 *)(absmax + i + 4);
        a[0] = lo.x, a[1] = lo.y, a[2] = lo.z, a[3] = lo.w, a[4] = hi.x, a[5] = hi.y, a[6] = hi.z, a[7] = hi.w;
        return;
    }
#pragma unroll
    for (int e = 0; e < 8; e++)
        a[e] = i + e < nb ? absmax[i + e] : 0u;
}

/* Nested blocks of 256 absmax, a warp each (eight a lane) and step of a
 * grid the host sizes by occupancy (blocks of 256 threads): the block
 * maximum is a warp shuffle with no block barrier, each lane divides once
 * for its eight codes, and the codes are qkf_dmap_lookup's (the table in
 * shared memory, filled once per CUDA block with all its loads in flight):
 * one shared load and compare a value where bitsandbytes' search takes
 * seven dependent loads and a midpoint. Each nested block's absmax are
 * loaded a step ahead. */
extern "C" __global__ void __launch_bounds__(256)
qk_bnb_nested_quantize(const u32 *absmax, i64 nb, const u32 *offset, const u32 *dmap_code, unsigned char *codes,
                       u32 *nested)
{
    __shared__ u32 tab[QKF_DMAP_BUCKETS];
    const int fill = (QKF_DMAP_BUCKETS + 255) / 256;
    u32 t[fill];
#pragma unroll
    for (int k = 0; k < fill; k++)
        t[k] = threadIdx.x + 256 * k < QKF_DMAP_BUCKETS ? dmap_code[threadIdx.x + 256 * k] : 0u;
#pragma unroll
    for (int k = 0; k < fill; k++)
        if (threadIdx.x + 256 * k < QKF_DMAP_BUCKETS)
            tab[threadIdx.x + 256 * k] = t[k];
    __syncthreads();
    const u32 neg_off = *offset ^ QK_F32_SIGN; /* qk_absmax_mean's offset, or the host's */
    const int lane = threadIdx.x & 31;
    const i64 nn = (nb + 255) / 256, step = (i64)gridDim.x * 8;
    i64 q = (i64)blockIdx.x * 8 + threadIdx.x / 32;
    u32 a[8];
    if (q < nn)
        absmax8(absmax, nb, q * 256 + lane * 8, a);
    for (; q < nn; q += step) {
        i64 i0 = q * 256 + lane * 8;
        u32 d[8], key = 0u;
#pragma unroll
        for (int e = 0; e < 8; e++) {
            d[e] = 0u;
            if (i0 + e < nb) {
                d[e] = qk_f32_ftz(dadd(a[e], neg_off)); /* flushed once, for the key and mul_ftz */
                if (!qk_f32_is_nan(d[e]))
                    key = max(key, (d[e] & QK_F32_ABS) + 1u);
            }
        }
        if (q + step < nn)
            absmax8(absmax, nb, i0 + step * 256, a);
#pragma unroll
        for (int o = 16; o > 0; o >>= 1)
            key = max(key, __shfl_xor_sync(0xFFFFFFFFu, key, o));
        int partial = q * 256 + 256 > nb;
        u32 amax = key != 0u ? key - 1u : (partial ? 0u : 0xFF7FFFFFu);
        if (lane == 0)
            nested[q] = amax;
        u32 r = (amax & QK_F32_INF) == 0u ? (amax & QK_F32_SIGN) | QK_F32_INF : qk_f32_ftz(ddiv(QK_F32_ONE, amax));
        u32 c[8];
        /* mul_ftz without its last flush: the lookup codes a subnormal as
         * its flushed zero (self-test 24, tests/test_cuda.c) */
#pragma unroll
        for (int e = 0; e < 8; e++)
            c[e] = qkf_dmap_lookup(tab, dmul(d[e], r));
        if (i0 + 8 <= nb) {
            *(uint2 *)(codes + i0) = make_uint2(c[0] | c[1] << 8 | c[2] << 16 | c[3] << 24,
                                                c[4] | c[5] << 8 | c[6] << 16 | c[7] << 24);
        } else {
            for (int e = 0; e < 8 && i0 + e < nb; e++)
                codes[i0 + e] = (unsigned char)c[e];
        }
    }
}

#endif
