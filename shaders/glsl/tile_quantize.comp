#version 450
/* float8 / int8 with per-tile (B x B) scales in one workgroup per tile:
 * a sweep for the tile's amax (integer max, order-free), the scale as
 * scales.comp computes it, then a second sweep that codes -- it re-reads a
 * tile the workgroup has just read (cache-resident), so DRAM sees the input
 * about once. Needs B and cols multiples of 4 (one data word per step). */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uint w[]; } src;
layout(std430, binding = 1) writeonly buffer Data { uint w[]; } data;
layout(std430, binding = 2) writeonly buffer Scale { uint w[]; } scale;
layout(std430, binding = 3) buffer Flag { uint w[]; } flag;
layout(push_constant) uniform PC {
    uint rows;  /* rows in this chunk (starts on a tile row) */
    uint cols;
    uint tr0;   /* global tile row of the chunk's first row */
    uint block;
    uint gc;    /* tiles across */
    uint dt;
    uint mode;  /* 0 e4m3, 1 e5m2, 3 int8_blockwise */
    uint extra; /* float8 maximum, or int8_blockwise's T(1e-8) */
} pc;
#include "qk_vk.glsl"
#include "qk_vk_load.glsl"
#include "qk_vk_scaled.glsl"

shared uint s_m, s_aux;

void main()
{
    uint t = qk_group_id();
    uint tr = t / pc.gc, tc = t - tr * pc.gc;
    uint r0 = tr * pc.block, c0 = tc * pc.block;
    if (r0 >= pc.rows)
        return; /* uniform across the workgroup */
    uint h = min(pc.block, pc.rows - r0), wq = min(pc.block, pc.cols - c0) / 4u; /* words per tile row */
    uint lid = gl_LocalInvocationID.x;
    if (lid == 0u)
        s_m = 0u;
    barrier();
    uint m = 0u;
    for (uint q = lid; q < h * wq; q += 256u) {
        uint rr = q / wq;
        uint e = (r0 + rr) * pc.cols + c0 + (q - rr * wq) * 4u;
        for (uint j = 0u; j < 4u; j++)
            m = max(m, qk_load(pc.dt, e + j) & QK_F32_ABS);
    }
    atomicMax(s_m, m);
    barrier();
    if (lid == 0u) {
        if (s_m >= QK_F32_INF)
            atomicOr(flag.w[0], 1u); /* NaN/Inf input: the call fails */
        uint sc, ax;
        qk_group_scale(pc.mode < 2u ? 0u : 2u, pc.dt, s_m, pc.extra, sc, ax);
        scale.w[(pc.tr0 + tr) * pc.gc + tc] = sc;
        s_aux = ax;
    }
    barrier();
    uint a = s_aux;
    for (uint q = lid; q < h * wq; q += 256u) {
        uint rr = q / wq;
        uint e = (r0 + rr) * pc.cols + c0 + (q - rr * wq) * 4u;
        uint word = 0u;
        for (uint j = 0u; j < 4u; j++)
            word |= qk_scaled_code(pc.mode, pc.dt, qk_load(pc.dt, e + j), a) << (8u * j);
        data.w[e >> 2] = word;
    }
}
