#version 450
/* Tensor-scaled float8 / int8_tensorwise of bf16/f16 input, step 1: the
 * code of every 16-bit magnitude pattern h < 0x8000 under the tensor's
 * multiplier (float8) or divisor (int8) from scales.comp, by the same
 * functions as scaled_quantize.comp, so a lookup is that path's byte.
 * float8 codes are sign-magnitude: the sign bit ORs in later. int8 keeps
 * the rounded magnitude clamped to 128 (division and RNE are symmetric):
 * the sign then picks min(m, 127) or -m, as the clamp to [-128, 127] does.
 * Four entries a thread, one packed word (32 KiB in all). NaN/Inf
 * entries are never used: the amax pass refuses such input. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Aux { uint w[]; } aux;
layout(std430, binding = 1) writeonly buffer Table { uint w[]; } tab;
layout(push_constant) uniform PC {
    uint dt;
    uint mode; /* 0 e4m3, 1 e5m2, 2 int8_tensorwise */
} pc;
#include "qk_vk.glsl"
#include "qk_vk_scaled.glsl"

void main()
{
    uint k = qk_item_id();
    if (k >= 8192u)
        return;
    uint a = aux.w[0], word = 0u;
    for (uint j = 0u; j < 4u; j++) {
        uint x = qk_widen(QK_DT, k * 4u + j);
        word |= (pc.mode == 2u ? qk_mag_code(2u, QK_DT, x, a) : qk_scaled_code(pc.mode, QK_DT, x, a)) << (8u * j);
    }
    tab.w[k] = word;
}
