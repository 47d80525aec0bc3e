#version 450
/* bitsandbytes NF4/FP4 quantize (src/ref/ref_bnb4.c). One thread per data
 * word (8 elements); a workgroup covers max(2048, bs) elements = whole
 * blocks. absmax = integer max of ftz|x| over non-NaN elements (order-free). */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uint w[]; } src;
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
    for (uint k = 0u; k < wpt; k++) {
        uint e = e_wg + (k * 256u + lid) * 8u;
        uint m = 0u, any = 0u;
        for (uint j = 0u; j < 8u; j++) {
            if (e + j < pc.n) {
                uint x = qk_load(pc.dt, e + j);
                if (qk_f32_is_nan(x) == 0u) {
                    m = max(m, qk_f32_ftz(x & QK_F32_ABS));
                    any = 1u;
                }
            }
        }
        uint lb = (e - e_wg) >> pc.bs_log2;
        atomicMax(s_max[lb], m);
        if (any != 0u)
            atomicOr(s_any[lb], 1u);
    }
    barrier();
    for (uint k = 0u; k < wpt; k++) {
        uint e = e_wg + (k * 256u + lid) * 8u;
        if (e >= pc.n)
            continue;
        uint lb = (e - e_wg) >> pc.bs_log2;
        uint b0 = e_wg + (lb << pc.bs_log2);
        /* a partial block also sees its zero padding (fmaxf from -FLT_MAX) */
        bool partial = b0 + bs > pc.n;
        uint amax = (s_any[lb] != 0u || partial) ? s_max[lb] : 0xFF7FFFFFu;
        if (e == b0)
            absmax_out.w[b0 >> pc.bs_log2] = amax;
        uint r = bnb_reciprocal(amax);
        uint word = 0u;
        for (uint j = 0u; j < 8u; j++) {
            uint x = e + j < pc.n ? qk_load(pc.dt, e + j) : 0u;
            uint v = qk_mul_ftz(x, r);
            uint c = pc.nf4 != 0u ? qk_nf4_encode_fast(v) : qk_fp4_encode(v);
            word |= c << ((j >> 1) * 8u + ((j & 1u) == 0u ? 4u : 0u));
        }
        data.w[e >> 3] = word;
    }
}
