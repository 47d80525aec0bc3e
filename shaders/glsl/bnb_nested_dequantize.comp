#version 450
/* bitsandbytes double quant's absmax from its nested parts (src/ref/
 * bnb_nested.c, qk_bnb_nested_dequantize): dynamic-map value of the code
 * times the nested scale (mul.ftz), plus the offset, with the codec's exact
 * operations. The host sends only finite nested scales and offsets here:
 * NaN results, whose payloads are the host's to define, never arise. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Codes { uint w[]; } codes;
layout(std430, binding = 1) readonly buffer Nested { uint w[]; } nested;
layout(std430, binding = 2) readonly buffer Table { uint w[]; } table; /* dynamic map at [1152] */
layout(std430, binding = 3) readonly buffer Offset { uint w[]; } offset;
layout(std430, binding = 4) writeonly buffer Absmax { uint w[]; } absmax;
layout(push_constant) uniform PC {
    uint nb; /* absmax values in this chunk (it starts on a nested block) */
} pc;
#include "qk_vk.glsl"

void main()
{
    uint i = qk_item_id();
    if (i >= pc.nb)
        return;
    uint code = (codes.w[i >> 2] >> ((i & 3u) * 8u)) & 0xFFu;
    absmax.w[i] = qk_add(qk_mul_ftz(table.w[1152u + code], nested.w[i >> 8]), offset.w[0]);
}
