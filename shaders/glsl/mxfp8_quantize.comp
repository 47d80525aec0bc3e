#version 450
/* MXFP8 quantize (src/ref/ref_mxfp8.c) over the 32x32-padded data: one
 * thread per 8 columns (one 16-byte load of bf16/f16 input when the row
 * width is a multiple of 8), 4 threads per 32-block. x / 2^k is computed
 * as the exact product x * 2^-k (the same real, rounded once): natively
 * where x is normal and the product is normal and finite, tested once a
 * thread so the coding loop has no branches. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src;
layout(std430, binding = 1) writeonly buffer Data { uvec2 w[]; } data;
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

shared uint s_max[64];

void main()
{
    uint w = qk_item_id(), lid = gl_LocalInvocationID.x;
    uint vpr = pc.cp / 8u;
    bool live = w < pc.prows * vpr;
    uint r = w / vpr, c0 = (w - r * vpr) * 8u;
    uint x[8];
    if (live && r < pc.rows && c0 < pc.cols && (pc.cols & 7u) == 0u) {
        qk_load8(pc.dt, r * pc.cols + c0, r * pc.cols + pc.cols, x);
    } else {
        for (uint j = 0u; j < 8u; j++)
            x[j] = live && r < pc.rows && c0 + j < pc.cols ? qk_load(pc.dt, r * pc.cols + c0 + j) : 0u;
    }
    uint m = 0u;
    for (uint j = 0u; j < 8u; j++)
        m = max(m, x[j] & QK_F32_ABS);
    if ((lid & 3u) == 0u)
        s_max[lid >> 2] = 0u;
    barrier();
    atomicMax(s_max[lid >> 2], m);
    barrier();
    if (!live)
        return;
    if (m >= QK_F32_INF)
        atomicOr(flag.w[0], 1u);
    uint bamax = s_max[lid >> 2];
    if (bamax == 0u) {
        data.w[w] = uvec2(0u); /* scale byte 0, +0 data */
        return;
    }
    uint s = qk_div(bamax, QK_F32_E4M3_MAX);
    if (s < QK_F32_E8M0_MIN)
        s = QK_F32_E8M0_MIN;
    uint e = qk_e8m0_ceil(s);
    if ((lid & 3u) == 0u) {
        uint off = qk_blocked_off(r, c0 / 32u, pc.cp / 32u);
        atomicOr(scale.w[off >> 2], e << ((off & 3u) * 8u));
    }
    uint inv = e == 254u ? 0x00400000u : (254u - e) << 23; /* 2^(127-e) */
    uint v[8];
    bool plain = qk_normal(inv);
    for (uint j = 0u; j < 8u; j++) {
        precise float p = uintBitsToFloat(x[j]) * uintBitsToFloat(inv);
        v[j] = floatBitsToUint(p);
        plain = plain && ((x[j] & QK_F32_ABS) == 0u || (qk_normal(x[j]) && qk_normal(v[j])));
    }
    if (!plain)
        for (uint j = 0u; j < 8u; j++)
            v[j] = qk_mul(x[j], inv);
    uvec2 word = uvec2(0u);
    for (uint j = 0u; j < 4u; j++) {
        word.x |= qk_to_e4m3(qk_f32_clamp_abs(v[j], QK_F32_E4M3_MAX)) << (8u * j);
        word.y |= qk_to_e4m3(qk_f32_clamp_abs(v[j + 4u], QK_F32_E4M3_MAX)) << (8u * j);
    }
    data.w[w] = word;
}
