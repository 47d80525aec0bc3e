#version 450
#extension GL_EXT_control_flow_attributes : require
/* float8_e4m3fn/e5m2 and int8 quantize with per-group multipliers from
 * scales.comp (src/ref/ref_fp8.c, ref_int8.c). One thread per data word
 * (4 elements of the flat row-major tensor). */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src;
layout(std430, binding = 1) writeonly buffer Data { uint w[]; } data;
layout(std430, binding = 2) readonly buffer Aux { uint w[]; } aux;
layout(push_constant) uniform PC {
    uint n;  /* elements in this chunk */
    uint e0; /* global index of the chunk's first element */
    uint cols;
    uint bh;
    uint bw;
    uint gc;
    uint dt;
    uint mode; /* 0 e4m3, 1 e5m2, 2 int8_tensorwise, 3 int8_blockwise */
} pc;
#include "qk_vk.glsl"
#include "qk_vk_load.glsl"
#include "qk_vk_scaled.glsl"

void main()
{
    uint e = qk_item_id() * 8u; /* 8 elements: two data words */
    if (e >= pc.n)
        return;
    uint gi = pc.e0 + e;
    uint r = gi / pc.cols, c = gi - r * pc.cols;
    uint next = (c / pc.bw + 1u) * pc.bw; /* column where the group changes */
    uint a = aux.w[(r / pc.bh) * pc.gc + c / pc.bw];
    uint x[8];
    qk_load8(QK_DT, e, pc.n, x);
    uint word[2] = uint[2](0u, 0u);
    for (uint j = 0u; j < 8u; j++) {
        if (j > 0u) {
            if (++c == pc.cols) {
                c = 0u;
                r++;
                next = pc.bw;
                a = aux.w[(r / pc.bh) * pc.gc];
            } else if (c == next) {
                next += pc.bw;
                a = aux.w[(r / pc.bh) * pc.gc + c / pc.bw];
            }
        }
        word[j >> 2] |= qk_scaled_code(pc.mode, QK_DT, x[j], a) << (8u * (j & 3u));
    }
    data.w[e >> 2] = word[0];
    if (e + 4u < pc.n)
        data.w[(e >> 2) + 1u] = word[1];
}
