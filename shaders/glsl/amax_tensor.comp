#version 450
/* The amax of a whole tensor (one group: per-tensor float8/int8, NVFP4's
 * global scale) over a flat chunk: grid-stride 16-byte loads, an integer
 * max of |x| bits (order-free), one shared and one global atomic per
 * workgroup. bf16/f16 take the max of the 16-bit magnitudes and widen it
 * once (widening is monotone; NaN and Inf stay >= Inf). */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In4 { uvec4 w[]; } src4; /* whole 16-byte units */
layout(std430, binding = 1) buffer Amax { uint w[]; } amax;
layout(std430, binding = 2) readonly buffer In { uint w[]; } src;    /* the chunk: its tail */
layout(push_constant) uniform PC {
    uint n; /* elements in this chunk */
    uint dt;
} pc;
#include "qk_vk.glsl"

shared uint s_m;

uint mag(uint w) { return QK_DT == DT_F32 ? w & QK_F32_ABS : max(w & 0x7FFFu, (w >> 16) & 0x7FFFu); }

void main()
{
    if (gl_LocalInvocationID.x == 0u)
        s_m = 0u;
    barrier();
    uint per = QK_DT == DT_F32 ? 4u : 8u, units = pc.n / per;
    uint stride = gl_NumWorkGroups.x * 256u, m = 0u;
    for (uint u = gl_GlobalInvocationID.x; u < units; u += stride) {
        uvec4 v = src4.w[u];
        m = max(m, max(max(mag(v.x), mag(v.y)), max(mag(v.z), mag(v.w))));
    }
    if (gl_GlobalInvocationID.x == 0u) /* the last n % per elements */
        for (uint e = units * per; e < pc.n; e++)
            m = max(m, QK_DT == DT_F32 ? src.w[e] & QK_F32_ABS : (src.w[e >> 1] >> (16u * (e & 1u))) & 0x7FFFu);
    if (QK_DT != DT_F32)
        m = qk_widen(QK_DT, m);
    atomicMax(s_m, m);
    barrier();
    if (gl_LocalInvocationID.x == 0u)
        atomicMax(amax.w[0], s_m);
}
