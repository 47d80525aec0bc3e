#version 450
/* MXFP8 quantize (src/ref/ref_mxfp8.c) over the 32x32-padded data: one
 * thread per data word (4 columns), 8 threads per 32-block. x / 2^k is
 * computed as the exact product x * 2^-k (the same real, rounded once). */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uint w[]; } src;
layout(std430, binding = 1) writeonly buffer Data { uint w[]; } data;
layout(std430, binding = 2) buffer Scale { uint w[]; } scale;
layout(std430, binding = 3) buffer Flag { uint w[]; } flag;
layout(push_constant) uniform PC {
    uint rows;
    uint prows;
    uint cols;
    uint cp;
    uint dt;
} pc;
#include "qk_vk.glsl"
#include "qk_vk_load.glsl"

shared uint s_max[32];

void main()
{
    uint w = qk_item_id(), lid = gl_LocalInvocationID.x;
    uint wpr = pc.cp / 4u;
    bool live = w < pc.prows * wpr;
    uint r = w / wpr, c0 = (w - r * wpr) * 4u;
    uint x[4];
    uint m = 0u;
    for (uint j = 0u; j < 4u; j++) {
        x[j] = live && r < pc.rows && c0 + j < pc.cols ? qk_load(pc.dt, r * pc.cols + c0 + j) : 0u;
        m = max(m, x[j] & QK_F32_ABS);
    }
    if ((lid & 7u) == 0u)
        s_max[lid >> 3] = 0u;
    barrier();
    atomicMax(s_max[lid >> 3], m);
    barrier();
    if (!live)
        return;
    if (m >= QK_F32_INF)
        atomicOr(flag.w[0], 1u);
    uint bamax = s_max[lid >> 3];
    if (bamax == 0u) {
        data.w[w] = 0u; /* scale byte 0, +0 data */
        return;
    }
    uint s = qk_div(bamax, QK_F32_E4M3_MAX);
    if (s < QK_F32_E8M0_MIN)
        s = QK_F32_E8M0_MIN;
    uint e = qk_e8m0_ceil(s);
    if ((lid & 7u) == 0u) {
        uint off = qk_blocked_off(r, c0 / 32u, pc.cp / 32u);
        atomicOr(scale.w[off >> 2], e << ((off & 3u) * 8u));
    }
    uint inv = e == 254u ? 0x00400000u : (254u - e) << 23; /* 2^(127-e) */
    uint word = 0u;
    for (uint j = 0u; j < 4u; j++)
        word |= qk_to_e4m3(qk_f32_clamp_abs(qk_mul(x[j], inv), QK_F32_E4M3_MAX)) << (8u * j);
    data.w[w] = word;
}
