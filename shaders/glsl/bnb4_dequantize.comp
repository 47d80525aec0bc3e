#version 450
/* bitsandbytes NF4/FP4 dequantize: one thread per data word (8 elements). */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Data { uint w[]; } data;
layout(std430, binding = 1) readonly buffer Absmax { uint w[]; } absmax;
layout(std430, binding = 2) writeonly buffer Out { uint w[]; } dst;
layout(push_constant) uniform PC {
    uint n;
    uint bs_log2;
    uint dt;
    uint nf4;
} pc;
#include "qk_vk.glsl"

shared uint s_lut[16]; /* the 16 code values */

void main()
{
    if (gl_LocalInvocationID.x < 16u)
        s_lut[gl_LocalInvocationID.x] = pc.nf4 != 0u ? qk_nf4_value(gl_LocalInvocationID.x)
                                                     : qk_fp4_value(gl_LocalInvocationID.x);
    barrier();
    uint w = qk_item_id();
    uint e = w * 8u;
    if (e >= pc.n)
        return;
    uint word = data.w[w];
    uint s = absmax.w[e >> pc.bs_log2]; /* blocks hold >= 32 elements */
    uint v[8];
    /* With 2^-117 <= |s| <= FLT_MAX every product of s and a code value
     * (zero, or 2^-8 <= |value| <= 1) is zero or at least 2^-125 and finite:
     * the correctly rounded native product is mul_ftz's, and no NaN arises. */
    uint se = (s >> 23) & 0xFFu;
    bool plain = se >= 10u && se < 255u;
    for (uint j = 0u; j < 8u; j++) {
        uint byte = (word >> ((j >> 1) * 8u)) & 0xFFu;
        uint c = s_lut[(j & 1u) != 0u ? (byte & 15u) : (byte >> 4)];
        if (plain) {
            precise float p = uintBitsToFloat(c) * uintBitsToFloat(s);
            v[j] = floatBitsToUint(p);
            continue;
        }
        uint x = qk_mul_ftz(c, s);
        /* CUDA's canonical NaN, as bitsandbytes writes it */
        v[j] = qk_f32_is_nan(x) != 0u ? 0x7FFFFFFFu : x;
    }
    if (pc.dt == DT_F32) {
        for (uint j = 0u; j < 8u && e + j < pc.n; j++)
            dst.w[e + j] = v[j];
        return;
    }
    for (uint j = 0u; j < 8u && e + j < pc.n; j += 2u) {
        uint h0 = v[j] == 0x7FFFFFFFu ? 0x7FFFu : qk_narrow(pc.dt, v[j]);
        uint h1 = e + j + 1u < pc.n ? (v[j + 1u] == 0x7FFFFFFFu ? 0x7FFFu : qk_narrow(pc.dt, v[j + 1u])) : 0u;
        dst.w[(e + j) >> 1] = h0 | (h1 << 16);
    }
}
