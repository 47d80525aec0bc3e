#version 450
/* NVFP4 quantize, after g (scales.comp): the per-block steps as a table
 * (qk_vk_nvfp4_scale.glsl). bf16/f16: a block's scale byte is one lookup
 * by its 16-bit amax instead of two exact divisions and an e4m3 rounding,
 * and its pair thresholds two loads instead of the bounds' integer
 * products; 2048 threads write the scale bytes of the 32768 magnitudes
 * (four each), 256 the bounds of the scale bytes. f32: 128 threads find
 * the amax thresholds of the scale bytes (a binary search each on the
 * exact steps), 256 write the bounds. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Global { uint w[]; } global; /* g at [0] */
layout(std430, binding = 1) writeonly buffer Table { uvec4 w[]; } tab;
#include "qk_vk.glsl"
#include "qk_vk_nvfp4_pairs.glsl"
#include "qk_vk_nvfp4_scale.glsl"

void main()
{
    uint k = qk_item_id(), g = global.w[0];
    if (QK_DT == DT_F32) {
        if (k < 128u) {
            tab.w[k >> 2][k & 3u] = k == 0u ? 0u : k > 0x7Eu ? QK_NVFP4_NEVER : qk_nvfp4_threshold(k, g);
            if (k == 0u) /* any value will do: the thresholds check the guess */
                tab.w[QK_NVFP4_TAB_ESTIMATE] = uvec4(qk_div(QK_F32_ONE, qk_mul(QK_F32_E2M1_MAX, g)), 0u, 0u, 0u);
        } else if (k - 128u < 256u) {
            uint s8 = k - 128u, t = qk_nvfp4_block_t(s8, g), c[7] = uint[7](0u, 0u, 0u, 0u, 0u, 0u, 0u);
            bool needed = qk_nvfp4_codes_needed(t);
            if (needed)
                qk_nvfp4_bounds(t, c);
            uint u = QK_NVFP4_TAB_BOUNDS + 2u * s8;
            tab.w[u] = uvec4(c[0], c[1], c[2], c[3]);
            tab.w[u + 1u] = uvec4(c[4], c[5], c[6], needed ? 1u : 0u);
        }
        return;
    }
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
