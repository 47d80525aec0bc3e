#version 450
/* float8 and int8 (without ConvRot) dequantize: one thread per output word. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Data { uint w[]; } data;
layout(std430, binding = 1) readonly buffer Scale { uint w[]; } scale;
layout(std430, binding = 2) writeonly buffer Out { uint w[]; } dst;
layout(push_constant) uniform PC {
    uint n;
    uint e0;
    uint cols;
    uint bh;
    uint bw;
    uint gc;
    uint dt;
    uint mode; /* 0 e4m3, 1 e5m2, 2 int8_tensorwise, 3 int8_blockwise */
} pc;
#include "qk_vk.glsl"

uint value_of(uint i, uint r, uint c)
{
    uint b = qk_byte_of(data.w[i >> 2], i);
    uint s = scale.w[(r / pc.bh) * pc.gc + c / pc.bw];
    if (pc.mode < 2u) {
        uint v = pc.mode == 1u ? qk_e5m2_to_f32(b) : qk_e4m3_to_f32(b);
        return qk_mul(qk_round_to(pc.dt, v), qk_round_to(pc.dt, s));
    }
    uint q = floatBitsToUint(float(int(b << 24) >> 24)); /* exact: |q| <= 128 */
    return qk_mul(q, pc.mode == 3u ? qk_round_to(pc.dt, s) : s);
}

void main()
{
    uint w = qk_item_id();
    uint per = pc.dt == DT_F32 ? 1u : 2u;
    uint e = w * per;
    if (e >= pc.n)
        return;
    uint gi = pc.e0 + e;
    uint r = gi / pc.cols, c = gi - r * pc.cols;
    uint v0 = value_of(e, r, c);
    if (pc.dt == DT_F32) {
        dst.w[w] = v0;
        return;
    }
    uint v1 = 0u;
    if (e + 1u < pc.n) {
        if (++c == pc.cols) {
            c = 0u;
            r++;
        }
        v1 = value_of(e + 1u, r, c);
    }
    dst.w[w] = qk_narrow(pc.dt, v0) | (qk_narrow(pc.dt, v1) << 16);
}
