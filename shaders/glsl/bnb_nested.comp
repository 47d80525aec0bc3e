#version 450
/* bitsandbytes double quantization of the absmax vector (src/ref/
 * bnb_nested.c) given the offset (bnb_absmax_mean.comp's, or the host's
 * sequential mean): one workgroup per nested block of 256 absmax values. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Absmax { uint w[]; } absmax;
layout(std430, binding = 1) writeonly buffer Codes { uint w[]; } codes;
layout(std430, binding = 2) writeonly buffer Nested { uint w[]; } nested;
layout(std430, binding = 3) readonly buffer Table { uint w[]; } table; /* the lookup's entries at QK_VK_TAB_DMAP_CODE */
layout(std430, binding = 4) readonly buffer Offset { uint w[]; } offset;
layout(push_constant) uniform PC {
    uint nb; /* absmax values in this chunk */
} pc;
#include "qk_vk.glsl"

shared uint s_m, s_any;
shared uint s_code[256];

/* bitsandbytes' dQuantize (the reference's binary search over the signed
 * dynamic map, nearer neighbour by float midpoints) by lookup: one load and
 * one integer compare. cuda/qk_fast_codec.h's qkf_dmap_lookup, which the
 * CUDA self-test proves equal to the search for all 2^32 inputs; vk_gpu.c
 * uploads its entries (qkf_dmap_table) at QK_VK_TAB_DMAP_CODE. */
#define QK_VK_TAB_DMAP_CODE 5632u /* vk_internal.h */
#define DMAP_KEY0 0x1A48u         /* QKF_DMAP_KEY0 */
#define DMAP_BUCKETS 1401u        /* QKF_DMAP_BUCKETS */

uint dynamic_map_code(uint x)
{
    uint mag = x & QK_F32_ABS, k = mag >> 17;
    k = k > DMAP_KEY0 ? k - DMAP_KEY0 : 0u;
    uint e = table.w[QK_VK_TAB_DMAP_CODE + min(k, DMAP_BUCKETS - 1u)];
    uint t = (e & 0xFFu) + ((mag & 0x1FFFFu) > (e >> 8) ? 1u : 0u);
    return x > QK_F32_INF ? 127u - min(t, 127u) : 127u + t;
}

void main()
{
    uint b = qk_group_id(), lid = gl_LocalInvocationID.x;
    uint i0 = b * 256u, i = i0 + lid;
    if (i0 >= pc.nb)
        return; /* uniform across the workgroup */
    bool live = i < pc.nb;
    uint d = live ? qk_add(absmax.w[i], offset.w[0] ^ QK_F32_SIGN) : 0u;
    if (lid == 0u) {
        s_m = 0u;
        s_any = 0u;
    }
    barrier();
    if (live && qk_f32_is_nan(d) == 0u) {
        atomicMax(s_m, qk_f32_ftz(d & QK_F32_ABS));
        atomicOr(s_any, 1u);
    }
    barrier();
    bool partial = i0 + 256u > pc.nb;
    uint amax = (s_any != 0u || partial) ? s_m : 0xFF7FFFFFu;
    if (lid == 0u)
        nested.w[b] = amax;
    uint r = (amax & QK_F32_INF) == 0u ? (amax & QK_F32_SIGN) | QK_F32_INF : qk_f32_ftz(qk_div(QK_F32_ONE, amax));
    s_code[lid] = live ? dynamic_map_code(qk_mul_ftz(d, r)) : 0u;
    barrier();
    if (lid < 64u && i0 + lid * 4u < pc.nb)
        codes.w[b * 64u + lid] = s_code[4u * lid] | (s_code[4u * lid + 1u] << 8) | (s_code[4u * lid + 2u] << 16) |
                                 (s_code[4u * lid + 3u] << 24);
}
