#version 450
/* Per-group scales from amax (one thread per group), as the reference's
 * host loops compute them: float8 (scale, T(1/scale)), int8_tensorwise
 * (scale, divisor), int8_blockwise (scale = divisor), nvfp4 (global g). */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Amax { uint w[]; } amax;
layout(std430, binding = 1) writeonly buffer Scale { uint w[]; } scale;
layout(std430, binding = 2) writeonly buffer Aux { uint w[]; } aux;
layout(std430, binding = 3) buffer Flag { uint w[]; } flag;
layout(push_constant) uniform PC {
    uint ng;
    uint mode; /* 0 float8, 1 int8_tensorwise, 2 int8_blockwise, 3 nvfp4 */
    uint dt;
    uint fpmax; /* float8: 448 or 57344; int8_blockwise: T(1e-8) (host-computed: glslc -O crashes folding it) */
} pc;
#include "qk_vk.glsl"
#include "qk_vk_scaled.glsl"

void main()
{
    uint k = qk_item_id();
    if (k >= pc.ng)
        return;
    uint m = amax.w[k];
    if (m >= QK_F32_INF)
        atomicOr(flag.w[0], 1u); /* NaN/Inf input: the call fails */
    if (pc.mode < 3u) {
        uint sc, ax;
        qk_group_scale(pc.mode, QK_DT, m, pc.fpmax, sc, ax);
        scale.w[k] = sc;
        aux.w[k] = ax;
    } else {
        scale.w[0] = qk_round_to(QK_DT, qk_div(m, QK_F32_NVFP4_GLOBAL_DIV));
    }
}
