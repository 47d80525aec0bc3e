#version 450
#extension GL_EXT_control_flow_attributes : require
/* bitsandbytes NF4/FP4 quantize (src/ref/ref_bnb4.c): one thread per block,
 * so a block's absmax and reciprocal are a thread's own (no shared memory,
 * no barrier, no atomics). absmax = integer max of ftz|x| over the non-NaN
 * elements (order-free). Blocks of 64 bf16/f16 elements stay in registers
 * (eight 16-byte loads); other blocks are read twice, the second time from
 * cache. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src;
layout(std430, binding = 1) writeonly buffer Data { uvec4 w[]; } data;
layout(std430, binding = 2) writeonly buffer Absmax { uint w[]; } absmax_out;
layout(std430, binding = 3) readonly buffer Rcp { uint w[]; } rcp_table; /* bf16[128], f16[1024] */
layout(push_constant) uniform PC {
    uint n;       /* elements in this chunk */
    uint bs_log2; /* block size 32..4096 */
    uint dt;
    uint nf4;
} pc;
#include "qk_vk.glsl"
#include "qk_vk_load.glsl"

/* The reciprocal bitsandbytes' kernel applies (qk_bnb_reciprocal). */
uint bnb_reciprocal(uint absmax)
{
    if (pc.dt == DT_BF16)
        return qk_rcp_from_table(rcp_table.w[(absmax >> 16) & 0x7Fu], absmax);
    if (pc.dt == DT_F16)
        return qk_rcp_from_table(rcp_table.w[128u + ((absmax >> 13) & 0x3FFu)], absmax);
    if ((absmax & QK_F32_INF) == 0u)
        return (absmax & QK_F32_SIGN) | QK_F32_INF;
    return qk_f32_ftz(qk_div(QK_F32_ONE, absmax));
}

/* ftz|x| max over the non-NaN elements; sets any when one was seen. */
void max8(uint x[8], inout uint m, inout bool any)
{
    for (uint j = 0u; j < 8u; j++)
        if (qk_f32_is_nan(x[j]) == 0u) {
            m = max(m, qk_f32_ftz(x[j] & QK_F32_ABS));
            any = true;
        }
}

/* Codes of 8 elements (past n: the +0 padding), element 2j high. Native
 * products where they are mul_ftz's: r and every x normal or zero and every
 * nonzero product at least 2^-125 (and finite), tested once a vector so the
 * coding loop has no branches; the integer product otherwise. */
uint codes8(uint x[8], uint r)
{
    uint v[8];
    bool plain = qk_normal(r);
    for (uint j = 0u; j < 8u; j++) {
        precise float p = uintBitsToFloat(x[j]) * uintBitsToFloat(r);
        v[j] = floatBitsToUint(p);
        plain = plain && ((x[j] & QK_F32_ABS) == 0u || (qk_normal(x[j]) && ((v[j] >> 23) & 0xFFu) - 2u < 253u));
    }
    if (!plain)
        for (uint j = 0u; j < 8u; j++)
            v[j] = qk_mul_ftz(x[j], r);
    uint word = 0u;
    for (uint j = 0u; j < 8u; j++) {
        uint c = pc.nf4 != 0u ? qk_nf4_encode_fast(v[j]) : qk_fp4_encode_fast(v[j]);
        word |= c << ((j >> 1) * 8u + ((j & 1u) == 0u ? 4u : 0u));
    }
    return word;
}

void unpack8(uvec4 q, out uint x[8])
{
    for (uint k = 0u; k < 4u; k++) {
        x[2u * k] = qk_widen(pc.dt, q[k] & 0xFFFFu);
        x[2u * k + 1u] = qk_widen(pc.dt, q[k] >> 16);
    }
}

/* The block's absmax: a partial block also sees its zero padding (fmaxf
 * from -FLT_MAX), a block of NaNs only is -FLT_MAX. */
uint block_absmax(uint m, bool any, bool partial) { return any || partial ? m : 0xFF7FFFFFu; }

/* A whole block of 64 bf16/f16 elements, held in registers. */
void block64(uint b)
{
    uint e0 = b * 64u;
    uvec4 q[8];
    uint m = 0u;
    bool any = false;
    [[unroll]] for (uint k = 0u; k < 8u; k++) {
        q[k] = src.w[(e0 >> 3) + k];
        uint x[8];
        unpack8(q[k], x);
        max8(x, m, any);
    }
    uint amax = block_absmax(m, any, false);
    absmax_out.w[b] = amax;
    uint r = bnb_reciprocal(amax);
    uint w[8];
    [[unroll]] for (uint k = 0u; k < 8u; k++) {
        uint x[8];
        unpack8(q[k], x);
        w[k] = codes8(x, r);
    }
    data.w[2u * b] = uvec4(w[0], w[1], w[2], w[3]);
    data.w[2u * b + 1u] = uvec4(w[4], w[5], w[6], w[7]);
}

/* Any block: max over its elements before n, then their codes. */
void block_any(uint b)
{
    uint bs = 1u << pc.bs_log2, e0 = b * bs, e1 = min(e0 + bs, pc.n);
    uint m = 0u;
    bool any = false;
    for (uint e = e0; e < e1; e += 8u) {
        uint x[8];
        qk_load8(pc.dt, e, pc.n, x);
        /* elements past n are excluded from the max and code as +0 */
        for (uint j = 0u; j < 8u; j++)
            if (e + j < pc.n && qk_f32_is_nan(x[j]) == 0u) {
                m = max(m, qk_f32_ftz(x[j] & QK_F32_ABS));
                any = true;
            }
    }
    uint amax = block_absmax(m, any, e0 + bs > pc.n);
    absmax_out.w[b] = amax;
    uint r = bnb_reciprocal(amax);
    for (uint e = e0; e < e1; e += 8u) {
        uint x[8];
        qk_load8(pc.dt, e, pc.n, x);
        data.w[e >> 5][(e >> 3) & 3u] = codes8(x, r); /* 8 codes a word, 4 words a uvec4 */
    }
}

void main()
{
    uint b = qk_item_id();
    if ((b << pc.bs_log2) >= pc.n)
        return;
    if (pc.bs_log2 == 6u && pc.dt != DT_F32 && (b + 1u) * 64u <= pc.n)
        block64(b);
    else
        block_any(b);
}
