#version 450
/* bitsandbytes NF4/FP4 dequantize: one thread per output word. */
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

uint element(uint i)
{
    uint byte = qk_byte_of(data.w[i >> 3], i >> 1);
    uint c = (i & 1u) != 0u ? (byte & 15u) : (byte >> 4);
    uint v = qk_mul_ftz(pc.nf4 != 0u ? qk_nf4_value(c) : qk_fp4_value(c), absmax.w[i >> pc.bs_log2]);
    return v;
}

void main()
{
    uint w = qk_item_id();
    uint per = pc.dt == DT_F32 ? 1u : 2u;
    uint e = w * per;
    if (e >= pc.n)
        return;
    uint v0 = element(e);
    if (pc.dt == DT_F32) {
        dst.w[w] = qk_f32_is_nan(v0) != 0u ? 0x7FFFFFFFu : v0; /* CUDA's canonical NaN */
        return;
    }
    uint v1 = e + 1u < pc.n ? element(e + 1u) : 0u;
    uint h0 = qk_f32_is_nan(v0) != 0u ? 0x7FFFu : qk_narrow(pc.dt, v0);
    uint h1 = qk_f32_is_nan(v1) != 0u ? 0x7FFFu : qk_narrow(pc.dt, v1);
    dst.w[w] = h0 | (h1 << 16);
}
