#version 450
/* bitsandbytes double quantization of the absmax vector (src/ref/
 * bnb_nested.c) after the host computed the offset (its sequential mean):
 * one workgroup per nested block of 256 absmax values. The dynamic-map
 * search and midpoints use exact add/mul and IEEE comparisons. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Absmax { uint w[]; } absmax;
layout(std430, binding = 1) writeonly buffer Codes { uint w[]; } codes;
layout(std430, binding = 2) writeonly buffer Nested { uint w[]; } nested;
layout(std430, binding = 3) readonly buffer Table { uint w[]; } table; /* dynamic map at [1152] */
layout(std430, binding = 4) readonly buffer Offset { uint w[]; } offset;
layout(push_constant) uniform PC {
    uint nb; /* absmax values in this chunk */
} pc;
#include "qk_vk.glsl"

shared uint s_m, s_any;
shared uint s_code[256];

uint map_at(int k) { return table.w[1152 + k]; }

/* IEEE a > b (false when either is NaN). */
bool f_gt(uint a, uint b) { return qk_f32_is_nan(a) == 0u && qk_f32_is_nan(b) == 0u && qk_f32_gt(a, b) != 0u; }

uint midpoint(uint a, uint b) { return qk_f32_ftz(qk_mul(qk_f32_ftz(qk_add(a, b)), 0x3F000000u)); }

/* bitsandbytes' dQuantize: binary search, then the nearer neighbour by
 * float midpoints (ties go to the pivot). */
uint dynamic_map_code(uint x)
{
    int pivot = 127, upper_pivot = 255, lower_pivot = 0;
    uint lower = 0xBF800000u, upper = 0x3F800000u;
    uint val = map_at(pivot);
    for (int i = 64; i > 0; i >>= 1) {
        if (f_gt(x, val)) {
            lower_pivot = pivot;
            lower = val;
            pivot += i;
        } else {
            upper_pivot = pivot;
            upper = val;
            pivot -= i;
        }
        val = map_at(pivot);
    }
    if (upper_pivot == 255)
        upper = map_at(upper_pivot);
    if (lower_pivot == 0)
        lower = map_at(lower_pivot);
    if (f_gt(x, val))
        return uint(f_gt(x, midpoint(upper, val)) ? upper_pivot : pivot);
    return uint(f_gt(midpoint(lower, val), x) ? lower_pivot : pivot);
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
