#version 450
/* float8 and int8 (without ConvRot) dequantize: one thread per 8 elements;
 * the scale group is found once and then followed along the row. */
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
#include "qk_vk_store.glsl"

uint multiplier(uint r, uint c)
{
    uint s = scale.w[(r / pc.bh) * pc.gc + c / pc.bw];
    return pc.mode == 2u ? s : qk_round_to(pc.dt, s);
}

/* Code values: T(fp8 value) for float8, the integer as f32 for int8. */
shared uint s_lut[256];

void main()
{
    uint lid = gl_LocalInvocationID.x;
    if (pc.mode < 2u)
        s_lut[lid] = qk_round_to(pc.dt, pc.mode == 1u ? qk_e5m2_to_f32(lid) : qk_e4m3_to_f32(lid));
    else
        s_lut[lid] = floatBitsToUint(float(int(lid << 24) >> 24)); /* exact: |q| <= 128 */
    barrier();
    uint e = qk_item_id() * 8u;
    if (e >= pc.n)
        return;
    uint gi = pc.e0 + e;
    uint r = gi / pc.cols, c = gi - r * pc.cols;
    uint next = (c / pc.bw + 1u) * pc.bw; /* column where the group changes */
    uint s = multiplier(r, c);
    uint w0 = data.w[e >> 2], w1 = e + 4u < pc.n ? data.w[(e >> 2) + 1u] : 0u;
    uint v[8];
    for (uint j = 0u; j < 8u; j++) {
        if (j > 0u) {
            if (++c == pc.cols) {
                c = 0u;
                r++;
                next = pc.bw;
                s = multiplier(r, c);
            } else if (c == next) {
                next += pc.bw;
                s = multiplier(r, c);
            }
        }
        uint b = ((j < 4u ? w0 : w1) >> ((j & 3u) * 8u)) & 0xFFu;
        v[j] = qk_mul(s_lut[b], s);
    }
    qk_store8(pc.dt, e, pc.n, v);
}
