#version 450
/* float8 / int8_tensorwise with per-row scales in one pass: a workgroup
 * owns a row (cols <= 8192, a multiple of 8), keeps it in registers, takes
 * its amax in shared memory (integer max, order-free), computes the scale as
 * scales.comp does and codes it -- the input is read once. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uint w[]; } src;
layout(std430, binding = 1) writeonly buffer Data { uint w[]; } data;
layout(std430, binding = 2) writeonly buffer Scale { uint w[]; } scale;
layout(std430, binding = 3) buffer Flag { uint w[]; } flag;
layout(push_constant) uniform PC {
    uint rows; /* rows in this chunk */
    uint cols;
    uint r0;   /* global index of the chunk's first row */
    uint dt;
    uint mode; /* 0 e4m3, 1 e5m2, 2 int8_tensorwise */
} pc;
#include "qk_vk.glsl"
#include "qk_vk_load.glsl"
#include "qk_vk_scaled.glsl"

shared uint s_m, s_aux;

void main()
{
    uint r = qk_group_id();
    if (r >= pc.rows)
        return; /* uniform across the workgroup */
    uint lid = gl_LocalInvocationID.x;
    uint row0 = r * pc.cols, row1 = row0 + pc.cols;
    if (lid == 0u)
        s_m = 0u;
    barrier();
    uint x[4][8];
    uint m = 0u;
    for (uint k = 0u; k < 4u; k++) {
        uint e = row0 + (k * 256u + lid) * 8u;
        qk_load8(pc.dt, e, row1, x[k]); /* past the row: +0, never coded */
        for (uint j = 0u; j < 8u; j++)
            m = max(m, x[k][j] & QK_F32_ABS);
    }
    atomicMax(s_m, m);
    barrier();
    if (lid == 0u) {
        if (s_m >= QK_F32_INF)
            atomicOr(flag.w[0], 1u); /* NaN/Inf input: the call fails */
        uint sc, ax;
        qk_group_scale(pc.mode < 2u ? 0u : 1u, pc.dt, s_m, pc.mode == 1u ? QK_F32_E5M2_MAX : QK_F32_E4M3_MAX,
                       sc, ax);
        scale.w[pc.r0 + r] = sc;
        s_aux = ax;
    }
    barrier();
    uint a = s_aux;
    for (uint k = 0u; k < 4u; k++) {
        uint e = row0 + (k * 256u + lid) * 8u;
        if (e >= row1)
            break;
        uint w0 = 0u, w1 = 0u;
        for (uint j = 0u; j < 4u; j++) {
            w0 |= qk_scaled_code(pc.mode, pc.dt, x[k][j], a) << (8u * j);
            w1 |= qk_scaled_code(pc.mode, pc.dt, x[k][j + 4u], a) << (8u * j);
        }
        data.w[e >> 2] = w0;
        data.w[(e >> 2) + 1u] = w1;
    }
}
