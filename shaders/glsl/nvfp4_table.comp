#version 450
/* NVFP4 quantize of bf16/f16 input, after g (scales.comp): the per-block
 * steps as a table (qk_vk_nvfp4_scale.glsl), so that a block's scale byte
 * is one lookup by its 16-bit amax instead of two exact divisions and an
 * e4m3 rounding, and its pair thresholds two loads instead of the
 * bounds' integer products. 2048 threads write the scale bytes of the
 * 32768 magnitudes (four each), 256 the bounds of the scale bytes. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Global { uint w[]; } global; /* g at [0] */
layout(std430, binding = 1) writeonly buffer Table { uvec4 w[]; } tab;
#include "qk_vk.glsl"
#include "qk_vk_nvfp4_pairs.glsl"
#include "qk_vk_nvfp4_scale.glsl"

void main()
{
    uint k = qk_item_id(), g = global.w[0];
    if (k < QK_NVFP4_TAB_BOUNDS) {
        uvec4 u = uvec4(0u);
        [[unroll]] for (uint i = 0u; i < 4u; i++)
            for (uint j = 0u; j < 4u; j++)
                u[i] |= qk_nvfp4_scale_byte(qk_widen(QK_DT, 16u * k + 4u * i + j), g) << (8u * j);
        tab.w[k] = u;
        return;
    }
    uint s8 = k - QK_NVFP4_TAB_BOUNDS;
    if (s8 >= 256u)
        return;
    uint t = qk_nvfp4_block_t(s8, g), hp[7] = uint[7](0u, 0u, 0u, 0u, 0u, 0u, 0u), needed = 0u;
    if (qk_nvfp4_codes_needed(t)) {
        uint c[7];
        qk_nvfp4_bounds(t, c);
        [[unroll]] for (uint j = 0u; j < 7u; j++)
            hp[j] = qk_pair_threshold(QK_DT, c[j]);
        needed = 1u;
    }
    uint u = QK_NVFP4_TAB_BOUNDS + 2u * s8;
    tab.w[u] = uvec4(hp[0], hp[1], hp[3], needed);
    tab.w[u + 1u] = qk_pair_steps(hp);
}
