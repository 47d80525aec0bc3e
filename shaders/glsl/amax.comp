#version 450
#extension GL_EXT_control_flow_attributes : require
/* Group amax for the scaled formats: one workgroup per row segment of
 * `segw` columns (up to 64 whole groups of `bw` columns, or one piece of a
 * wider group), integer max of |x| bits (order-free; NaN/Inf show as
 * >= 0x7F800000), merged in shared memory, then atomically into amax[]. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src;
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

shared uint s_m[64];

void main()
{
    uint g = qk_group_id();
    if (g >= pc.rows * pc.nseg)
        return; /* uniform across the workgroup */
    uint r = g / pc.nseg, c0 = (g - r * pc.nseg) * pc.segw;
    uint c1 = min(c0 + pc.segw, pc.cols);
    uint lid = gl_LocalInvocationID.x;
    uint nsub = (c1 - c0 + pc.bw - 1u) / pc.bw; /* groups touched: 1 when segw <= bw */
    if (lid < 64u)
        s_m[lid] = 0u;
    barrier();
    uint m = 0u;
    for (uint c = c0 + lid; c < c1; c += 256u) {
        uint a = qk_load(QK_DT, r * pc.cols + c) & QK_F32_ABS;
        if (nsub == 1u)
            m = max(m, a);
        else
            atomicMax(s_m[(c - c0) / pc.bw], a);
    }
    if (nsub == 1u)
        atomicMax(s_m[0], m);
    barrier();
    if (lid < nsub)
        atomicMax(amax.w[((pc.r0 + r) / pc.bh) * pc.gc + c0 / pc.bw + lid], s_m[lid]);
}
