#version 450
/* ConvRot (src/ref/convrot.c): a workgroup rotates 1024 consecutive values
 * (1024 / G whole groups; rows hold whole groups), one butterfly per thread
 * and level. The fixed-order H4 butterflies of the
 * reference, each sum correctly rounded (qk_add), then the exact scaling by
 * 2^-levels. Mode 0 rotates the input and stores it in the input dtype;
 * mode 1 dequantizes int8 codes (q * row scale) and rotates back. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src; /* input, or int8 codes */
layout(std430, binding = 1) writeonly buffer Out { uint w[]; } dst;
layout(std430, binding = 2) readonly buffer Scale { uint w[]; } scale;
layout(push_constant) uniform PC {
    uint total;   /* elements in this chunk (a multiple of G) */
    uint group;   /* G: 16, 64, 256 or 1024 */
    uint levels;  /* log4 G */
    uint dt;
    uint mode;
    uint cols;
    uint r0;
    uint bh;      /* scale groups: height, width, across */
    uint bw;
    uint gc;
} pc;
#include "qk_vk.glsl"
#include "qk_vk_load.glsl"

shared uint v[1024];

void main()
{
    uint base = qk_group_id() * 1024u; /* chunk-local element index */
    if (base >= pc.total)
        return; /* uniform across the workgroup */
    uint cnt = min(1024u, pc.total - base);
    uint lid = gl_LocalInvocationID.x;
    for (uint k = lid; k < cnt; k += 256u) {
        uint i = base + k;
        if (pc.mode == 0u) {
            v[k] = qk_load(pc.dt, i);
        } else {
            uint r = i / pc.cols, c = i - r * pc.cols;
            uint q = floatBitsToUint(float(int(qk_byte_of(src.w[i >> 4][(i >> 2) & 3u], i) << 24) >> 24));
            v[k] = qk_mul(q, scale.w[((pc.r0 + r) / pc.bh) * pc.gc + c / pc.bw]);
        }
    }
    barrier();
    uint quarter = pc.group / 4u;
    uint g0 = (lid / quarter) * pc.group, t = lid % quarter; /* this thread's group and butterfly */
    for (uint stride = 1u; stride < pc.group; stride *= 4u) {
        if (g0 < cnt) {
            uint p = g0 + (t / stride) * 4u * stride + t % stride;
            uint a = v[p], b = v[p + stride], c = v[p + 2u * stride], d = v[p + 3u * stride];
            uint ab = qk_add(a, b);
            v[p] = qk_sub(qk_add(ab, c), d);
            v[p + stride] = qk_add(qk_sub(ab, c), d);
            v[p + 2u * stride] = qk_add(qk_add(qk_sub(a, b), c), d);
            v[p + 3u * stride] = qk_add(qk_add(qk_sub(b, a), c), d);
        }
        barrier();
    }
    uint s = (127u - pc.levels) << 23;
    if (pc.dt == DT_F32) {
        for (uint k = lid; k < cnt; k += 256u)
            dst.w[base + k] = qk_mul(v[k], s);
    } else {
        for (uint k = lid; k < cnt / 2u; k += 256u)
            dst.w[(base >> 1) + k] = qk_narrow(pc.dt, qk_mul(v[2u * k], s)) |
                                     (qk_narrow(pc.dt, qk_mul(v[2u * k + 1u], s)) << 16);
    }
}
