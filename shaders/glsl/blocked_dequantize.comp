#version 450
/* NVFP4 and MXFP8 dequantize: one thread per output word; scales are read
 * from the cuBLAS 128x4 blocked layout (chunks start on 128-row tiles). */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Data { uint w[]; } data;
layout(std430, binding = 1) readonly buffer Scale { uint w[]; } scale;
layout(std430, binding = 2) readonly buffer Global { uint w[]; } global;
layout(std430, binding = 3) writeonly buffer Out { uint w[]; } dst;
layout(push_constant) uniform PC {
    uint n; /* elements in this chunk */
    uint cols;
    uint cp;
    uint dt;
    uint nvfp4;
} pc;
#include "qk_vk.glsl"

uint scale_byte(uint r, uint cb, uint ncb)
{
    uint off = qk_blocked_off(r, cb, ncb);
    return qk_byte_of(scale.w[off >> 2], off);
}

uint value_of(uint i)
{
    uint r = i / pc.cols, c = i - r * pc.cols;
    if (pc.nvfp4 != 0u) {
        /* comfy-kitchen multiplies in the output dtype: T(T(g) * T(s)) */
        uint gt = qk_round_to(pc.dt, global.w[0]);
        uint s8 = qk_e4m3_to_f32(scale_byte(r, c / 16u, pc.cp / 16u));
        uint ts = qk_round_to(pc.dt, qk_mul(gt, qk_round_to(pc.dt, s8)));
        uint p = r * (pc.cp / 2u) + c / 2u;
        uint byte = qk_byte_of(data.w[p >> 2], p);
        return qk_mul(qk_e2m1_to_f32((c & 1u) != 0u ? (byte & 15u) : (byte >> 4)), ts);
    }
    uint s = qk_e8m0_to_f32(scale_byte(r, c / 32u, pc.cp / 32u));
    uint p = r * pc.cp + c;
    return qk_mul(qk_e4m3_to_f32(qk_byte_of(data.w[p >> 2], p)), s);
}

void main()
{
    uint w = qk_item_id();
    uint per = pc.dt == DT_F32 ? 1u : 2u;
    uint e = w * per;
    if (e >= pc.n)
        return;
    uint v0 = value_of(e);
    if (pc.dt == DT_F32) {
        dst.w[w] = v0;
        return;
    }
    uint v1 = e + 1u < pc.n ? value_of(e + 1u) : 0u;
    dst.w[w] = qk_narrow(pc.dt, v0) | (qk_narrow(pc.dt, v1) << 16);
}
