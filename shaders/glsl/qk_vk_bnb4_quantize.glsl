/* bitsandbytes NF4/FP4 quantize (src/ref/ref_bnb4.c), the parts shared by
 * bnb4_quantize.comp (block maxima by shared atomics) and
 * bnb4_quantize_cluster.comp (by shuffles within a block's run of lanes):
 * one thread per data word (8 elements), a workgroup covering
 * max(2048, bs) elements = whole blocks; absmax = integer max of ftz|x|
 * over non-NaN elements (order-free). */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src;
layout(std430, binding = 1) writeonly buffer Data { uint w[]; } data;
layout(std430, binding = 2) writeonly buffer Absmax { uint w[]; } absmax_out;
layout(std430, binding = 3) readonly buffer Tables { uint w[]; } tables; /* VB_TABLE: rcp bf16[128], f16[1024]; NF4 buckets */
layout(push_constant) uniform PC {
    uint n;       /* elements in this chunk */
    uint bs_log2; /* block size 32..4096 */
    uint dt;
    uint nf4;
} pc;
#include "qk_vk.glsl"
#include "qk_vk_load.glsl"
#include "qk_vk_bnb_reciprocal.glsl"
#define QK_VK_TAB_NF4 1408u /* word offset of the NF4 buckets (vk_gpu.c, upload_tables) */

shared uint s_nf4[128]; /* qkf_nf4_bucket_table: per bucket, threshold bits and lowest code */

/* NF4 code by bucket (cuda/qk_fast_codec.h, qkf_nf4_bucketed): v clamped to
 * [-1, 1] (NaN to -1, whose code 0 it shares) picks one of 21 buckets per
 * sign by its binade (2^-5 .. 1) and two leading mantissa bits; no bucket
 * holds two thresholds, so the code is the bucket's lowest plus one compare.
 * v is never subnormal (a flushed product or a native one >= 2^-125). */
uint nf4_code(uint x)
{
    float v = uintBitsToFloat(x);
    float c = v > -1.0 ? v : -1.0;
    c = c < 1.0 ? c : 1.0;
    uint cb = floatBitsToUint(c);
    uint i = ((max(cb & QK_F32_ABS, 0x3D000000u) >> 21) - 488u) + ((cb >> 31) << 5);
    return s_nf4[2u * i + 1u] + (c > uintBitsToFloat(s_nf4[2u * i]) ? 1u : 0u);
}

/* ftz|x| max over the non-NaN elements; sets any when one was seen. */
uint word_max(uint x[8], inout uint any)
{
    uint m = 0u;
    [[unroll]] for (uint j = 0u; j < 8u; j++)
        if (qk_f32_is_nan(x[j]) == 0u) {
            m = max(m, qk_f32_ftz(x[j] & QK_F32_ABS));
            any = 1u;
        }
    return m;
}

uint code(uint v) { return pc.nf4 != 0u ? nf4_code(v) : qk_fp4_encode_fast(v); }

/* Codes of 8 elements (past n: the +0 padding), element 2j high. Native
 * products where they are mul_ftz's: r normal, every x zero or normal and
 * every nonzero product's exponent in [2, 254]. Products grow with |x|, so
 * the smallest and largest nonzero |x| of the vector decide; the coding
 * loop has no branches. The integer product otherwise. */
uint word_codes(uint x[8], uint r)
{
    uint lo = 0xFFFFFFFFu, hi = 0u; /* smallest nonzero |x| - 1, largest |x| */
    [[unroll]] for (uint j = 0u; j < 8u; j++) {
        uint a = x[j] & QK_F32_ABS;
        lo = min(lo, a - 1u);
        hi = max(hi, a);
    }
    bool plain = qk_normal(r) && hi < QK_F32_INF;
    if (plain && lo != 0xFFFFFFFFu) {
        precise float pl = uintBitsToFloat(lo + 1u) * uintBitsToFloat(r & QK_F32_ABS);
        precise float ph = uintBitsToFloat(hi) * uintBitsToFloat(r & QK_F32_ABS);
        plain = lo + 1u >= 0x00800000u && ((floatBitsToUint(pl) >> 23) & 0xFFu) >= 2u &&
                ((floatBitsToUint(ph) >> 23) & 0xFFu) <= 254u;
    }
    uint word = 0u;
    if (plain) {
        [[unroll]] for (uint j = 0u; j < 8u; j++) {
            precise float p = uintBitsToFloat(x[j]) * uintBitsToFloat(r);
            word |= code(floatBitsToUint(p)) << ((j >> 1) * 8u + ((j & 1u) == 0u ? 4u : 0u));
        }
    } else { /* rare and large: a rolled loop, no array written */
        for (uint j = 0u; j < 8u; j++)
            word |= code(qk_mul_ftz(qk_pick8(x, j), r)) << ((j >> 1) * 8u + ((j & 1u) == 0u ? 4u : 0u));
    }
    return word;
}

/* The codes of the word at element e of the block starting at b0 whose
 * non-NaN maximum is m (any: a non-NaN element was seen), and at the
 * block's start its absmax. */
void write_word(uint e, uint b0, uint bs, uint m, bool any, uint x[8])
{
    /* a partial block also sees its zero padding (fmaxf from -FLT_MAX) */
    bool partial = b0 + bs > pc.n;
    uint amax = (any || partial) ? m : 0xFF7FFFFFu;
    if (e == b0)
        absmax_out.w[b0 >> pc.bs_log2] = amax;
    data.w[e >> 3] = word_codes(x, bnb_reciprocal(amax));
}
