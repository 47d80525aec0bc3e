#version 450
/* bitsandbytes double quantization of the absmax vector (src/ref/
 * bnb_nested.c) given the offset (bnb_absmax_mean.comp's, or the host's
 * sequential mean). A workgroup takes eight nested blocks of 256 absmax a
 * step, grid-stride: an invocation eight consecutive values (two 16-byte
 * loads, in flight together), 32 invocations a block, whose maximum meets
 * in one shared word; one division an invocation, codes by lookup, two
 * words of codes stored. Few workgroups with their loads in flight, not a
 * workgroup a block waiting on one load each. Differences and products
 * are native and unrolled where they are provably the reference's
 * (differences(), codes8()); the rest take the integer code. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Absmax { uvec4 v[]; } absmax4;
layout(std430, binding = 1) writeonly buffer Codes { uvec2 v[]; } codes;
layout(std430, binding = 2) writeonly buffer Nested { uint w[]; } nested;
layout(std430, binding = 3) readonly buffer Table { uint w[]; } table; /* the lookup's entries at QK_VK_TAB_DMAP_CODE */
layout(std430, binding = 4) readonly buffer Offset { uint w[]; } offset;
layout(std430, binding = 5) readonly buffer Absmax1 { uint w[]; } absmax; /* the same range, word by word */
layout(push_constant) uniform PC {
    uint nb; /* absmax values in this chunk */
} pc;
#include "qk_vk.glsl"

/* per block: ftz(|d|) + 1 of its largest non-NaN d, 0 = none */
shared uint s_key[8];

/* bitsandbytes' dQuantize (the reference's binary search over the signed
 * dynamic map, nearer neighbour by float midpoints) by lookup: one load and
 * one integer compare. cuda/qk_fast_codec.h's qkf_dmap_lookup, which the
 * CUDA self-test proves equal to the search for all 2^32 inputs; vk_gpu.c
 * uploads its entries (qkf_dmap_table) at QK_VK_TAB_DMAP_CODE. */
#define QK_VK_TAB_DMAP_CODE 5632u /* vk_internal.h */
#define DMAP_KEY0 0x1A48u         /* QKF_DMAP_KEY0 */
#define DMAP_BUCKETS 1401u        /* QKF_DMAP_BUCKETS */

uint dynamic_map_code(uint x)
{
    uint mag = x & QK_F32_ABS, k = mag >> 17;
    k = k > DMAP_KEY0 ? k - DMAP_KEY0 : 0u;
    uint e = table.w[QK_VK_TAB_DMAP_CODE + min(k, DMAP_BUCKETS - 1u)];
    uint t = (e & 0xFFu) + ((mag & 0x1FFFFu) > (e >> 8) ? 1u : 0u);
    return x > QK_F32_INF ? 127u - min(t, 127u) : 127u + t;
}

/* d - offset for the eight values: native where that is qk_add's (every
 * value normal or zero, the offset normal, every difference normal; a
 * zero value's difference is -offset, exact), else qk_add value by value
 * (a rolled loop: rare). Values past nb are 0. True for the native case:
 * eight normal differences. */
bool differences(inout uint d[8], uint neg_off, uint live)
{
    bool plain = live == 8u && qk_normal(neg_off);
    uint e[8];
    [[unroll]] for (uint k = 0u; k < 8u; k++) {
        precise float s = uintBitsToFloat(d[k]) + uintBitsToFloat(neg_off);
        e[k] = floatBitsToUint(s);
        plain = plain && (qk_normal(d[k]) || d[k] == 0u) && qk_normal(e[k]);
    }
    if (plain) {
        d = e;
        return true;
    }
    for (uint k = 0u; k < 8u; k++)
        d[k] = k < live ? qk_add(d[k], neg_off) : 0u;
    return false;
}

/* The eight codes of mul_ftz(d, r), packed: native products where they are
 * mul_ftz's (d and r normal, every product >= 2^-125: no flush decision
 * near it), else by qk_mul_ftz (rolled). normal: every d is known normal
 * (differences() took its native case); then the least |d| bounds the
 * products from below: exponent fields summing to 254 - 124 or more put
 * every |d * r| at 2^-124 or above (significands >= 1), and |d| <= amax
 * keeps it at most 1 + 2^-24. */
uvec2 codes8(uint d[8], uint r, uint live, bool normal)
{
    uint least = 0xFFFFFFFFu;
    [[unroll]] for (uint k = 0u; k < 8u; k++)
        least = min(least, d[k] & QK_F32_ABS);
    bool plain = live == 8u && normal && qk_normal(r) && (least >> 23) + ((r >> 23) & 0xFFu) >= 130u;
    uint c[8];
    [[unroll]] for (uint k = 0u; k < 8u; k++) {
        precise float p = uintBitsToFloat(d[k]) * uintBitsToFloat(r);
        c[k] = dynamic_map_code(floatBitsToUint(p));
    }
    if (!plain)
        for (uint k = 0u; k < 8u; k++)
            c[k] = k < live ? dynamic_map_code(qk_mul_ftz(d[k], r)) : 0u;
    return uvec2(c[0] | (c[1] << 8) | (c[2] << 16) | (c[3] << 24), c[4] | (c[5] << 8) | (c[6] << 16) | (c[7] << 24));
}

void main()
{
    uint lid = gl_LocalInvocationID.x, blk = lid >> 5, neg_off = offset.w[0] ^ QK_F32_SIGN;
    for (uint g = gl_WorkGroupID.x; g * 2048u < pc.nb; g += gl_NumWorkGroups.x) {
        uint i0 = g * 2048u + lid * 8u, b = g * 8u + blk; /* first value, nested block */
        uint live = i0 < pc.nb ? min(pc.nb - i0, 8u) : 0u;
        uint d[8];
        if (live == 8u) {
            uvec4 lo = absmax4.v[i0 / 4u], hi = absmax4.v[i0 / 4u + 1u];
            d = uint[8](lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w);
        } else {
            for (uint k = 0u; k < 8u; k++)
                d[k] = k < live ? absmax.w[i0 + k] : 0u;
        }
        if (lid < 8u)
            s_key[lid] = 0u;
        barrier();
        bool normal = differences(d, neg_off, live);
        uint key = 0u;
        if (normal) /* eight normal differences: no NaN, nothing to flush */
            [[unroll]] for (uint k = 0u; k < 8u; k++)
                key = max(key, (d[k] & QK_F32_ABS) + 1u);
        else
            [[unroll]] for (uint k = 0u; k < 8u; k++)
                if (k < live && qk_f32_is_nan(d[k]) == 0u)
                    key = max(key, qk_f32_ftz(d[k] & QK_F32_ABS) + 1u);
        if (key != 0u)
            atomicMax(s_key[blk], key);
        barrier();
        uint m = s_key[blk], b0 = b * 256u;
        bool partial = b0 + 256u > pc.nb;
        uint amax = m != 0u ? m - 1u : (partial ? 0u : 0xFF7FFFFFu); /* fmaxf from -FLT_MAX */
        if ((lid & 31u) == 0u && b0 < pc.nb)
            nested.w[b] = amax;
        uint r = (amax & QK_F32_INF) == 0u ? (amax & QK_F32_SIGN) | QK_F32_INF
                                           : qk_f32_ftz(qk_div(QK_F32_ONE, amax));
        if (live != 0u)
            codes.v[i0 / 8u] = codes8(d, r, live, normal);
        barrier(); /* s_key is cleared for the next step */
    }
}
