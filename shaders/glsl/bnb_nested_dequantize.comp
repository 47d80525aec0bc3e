#version 450
#extension GL_EXT_control_flow_attributes : require
/* bitsandbytes double quant's absmax from its nested parts (src/ref/
 * bnb_nested.c, qk_bnb_nested_dequantize): dynamic-map value of the code
 * times the nested scale (mul.ftz), plus the offset, with the codec's exact
 * operations. The host sends only finite nested scales and offsets here:
 * NaN results, whose payloads are the host's to define, never arise.
 * One invocation a code word: four absmax, one 16-byte store. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Codes { uint w[]; } codes;
layout(std430, binding = 1) readonly buffer Nested { uint w[]; } nested;
layout(std430, binding = 2) readonly buffer Table { uint w[]; } table; /* dynamic map at [1152] */
layout(std430, binding = 3) readonly buffer Offset { uint w[]; } offset;
layout(std430, binding = 4) writeonly buffer Absmax { uvec4 w[]; } absmax; /* rounded up to 16 bytes */
layout(push_constant) uniform PC {
    uint nb; /* absmax values in this chunk (it starts on a nested block) */
} pc;
#include "qk_vk.glsl"

void main()
{
    uint q = qk_item_id();
    if (q * 4u >= pc.nb)
        return;
    /* a nested block holds 256 absmax, so the word's four share one scale */
    uint word = codes.w[q], scale = nested.w[q >> 6], off = offset.w[0];
    uvec4 a;
    [[unroll]] for (uint k = 0u; k < 4u; k++)
        a[k] = q * 4u + k < pc.nb ? qk_add(qk_mul_ftz(table.w[1152u + qk_byte_of(word, k)], scale), off) : 0u;
    absmax.w[q] = a;
}
