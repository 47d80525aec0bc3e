#version 450
/* bitsandbytes NF4/FP4 quantize (src/ref/ref_bnb4.c). One thread per data
 * word (8 elements); a workgroup covers max(2048, bs) elements = whole
 * blocks. absmax = integer max of ftz|x| over non-NaN elements (order-free). */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src;
layout(std430, binding = 1) writeonly buffer Data { uint w[]; } data;
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

shared uint s_max[64];
shared uint s_any[64];

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
uint word_max(uint x[8], inout uint any)
{
    uint m = 0u;
    for (uint j = 0u; j < 8u; j++)
        if (qk_f32_is_nan(x[j]) == 0u) {
            m = max(m, qk_f32_ftz(x[j] & QK_F32_ABS));
            any = 1u;
        }
    return m;
}

/* Codes of 8 elements (past n: the +0 padding), element 2j high. Native
 * products where they are mul_ftz's: r and every x normal or zero and every
 * nonzero product at least 2^-125 (and finite), tested once a vector so the
 * coding loop has no branches; the integer product otherwise. */
uint word_codes(uint x[8], uint r)
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

void main()
{
    uint bs = 1u << pc.bs_log2;
    uint span = max(2048u, bs);
    uint wpt = span / 2048u; /* words per thread: 1, or 2 for bs 4096 */
    uint e_wg = qk_group_id() * span;
    uint lid = gl_LocalInvocationID.x;
    uint nblk = span >> pc.bs_log2;
    if (lid < nblk) {
        s_max[lid] = 0u;
        s_any[lid] = 0u;
    }
    barrier();
    /* elements past n are excluded from the max (a partial block is
     * handled below) and code as +0 */
    uint e0 = e_wg + lid * 8u, e1 = e0 + 2048u;
    uint x0[8], x1[8];
    qk_load8(pc.dt, e0, pc.n, x0);
    uint any0 = 0u, any1 = 0u;
    uint m0 = e0 < pc.n ? word_max(x0, any0) : 0u;
    uint lb0 = lid * 8u >> pc.bs_log2;
    atomicMax(s_max[lb0], m0);
    if (any0 != 0u)
        atomicOr(s_any[lb0], 1u);
    if (wpt > 1u) {
        qk_load8(pc.dt, e1, pc.n, x1);
        uint m1 = e1 < pc.n ? word_max(x1, any1) : 0u;
        uint lb1 = (e1 - e_wg) >> pc.bs_log2;
        atomicMax(s_max[lb1], m1);
        if (any1 != 0u)
            atomicOr(s_any[lb1], 1u);
    }
    barrier();
    for (uint k = 0u; k < wpt; k++) {
        uint e = k == 0u ? e0 : e1;
        if (e >= pc.n)
            continue;
        uint lb = (e - e_wg) >> pc.bs_log2;
        uint b0 = e_wg + (lb << pc.bs_log2);
        /* a partial block also sees its zero padding (fmaxf from -FLT_MAX) */
        bool partial = b0 + bs > pc.n;
        uint amax = (s_any[lb] != 0u || partial) ? s_max[lb] : 0xFF7FFFFFu;
        if (e == b0)
            absmax_out.w[b0 >> pc.bs_log2] = amax;
        data.w[e >> 3] = word_codes(k == 0u ? x0 : x1, bnb_reciprocal(amax));
    }
}
