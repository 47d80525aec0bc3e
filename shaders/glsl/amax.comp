#version 450
/* Group amax for the scaled formats: one workgroup per row segment of
 * `segw` columns, integer max of |x| bits (order-free; NaN/Inf show as
 * >= 0x7F800000), atomically merged into amax[group]. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uint w[]; } src;
layout(std430, binding = 1) buffer Amax { uint w[]; } amax;
layout(push_constant) uniform PC {
    uint rows; /* rows in this chunk */
    uint cols;
    uint segw;
    uint nseg; /* segments per row */
    uint r0;   /* global index of the chunk's first row */
    uint bh;   /* group height, width, groups across */
    uint bw;
    uint gc;
    uint dt;
} pc;
#include "qk_vk.glsl"
#include "qk_vk_load.glsl"

shared uint s_m;

void main()
{
    uint g = qk_group_id();
    if (g >= pc.rows * pc.nseg)
        return; /* uniform across the workgroup */
    uint r = g / pc.nseg, c0 = (g - r * pc.nseg) * pc.segw;
    uint c1 = min(c0 + pc.segw, pc.cols);
    if (gl_LocalInvocationID.x == 0u)
        s_m = 0u;
    barrier();
    uint m = 0u;
    for (uint c = c0 + gl_LocalInvocationID.x; c < c1; c += 256u)
        m = max(m, qk_load(pc.dt, r * pc.cols + c) & QK_F32_ABS);
    atomicMax(s_m, m);
    barrier();
    if (gl_LocalInvocationID.x == 0u)
        atomicMax(amax.w[((pc.r0 + r) / pc.bh) * pc.gc + c0 / pc.bw], s_m);
}
