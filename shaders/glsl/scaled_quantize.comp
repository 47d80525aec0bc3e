#version 450
#extension GL_EXT_control_flow_attributes : require
/* float8_e4m3fn/e5m2 and int8 quantize with per-group multipliers from
 * scales.comp (src/ref/ref_fp8.c, ref_int8.c). One thread per two data
 * words (8 elements of the flat row-major tensor). */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src;
layout(std430, binding = 1) writeonly buffer Data { uvec2 w[]; } data; /* a thread's two words, one store */
layout(std430, binding = 2) readonly buffer Aux { uint w[]; } aux;
layout(push_constant) uniform PC {
    uint n;  /* elements in this chunk */
    uint e0; /* global index of the chunk's first element */
    uint cols;
    uint bh;
    uint bw;
    uint gc;
    uint dt;
    uint mode; /* 0 e4m3, 1 e5m2, 2 int8_tensorwise, 3 int8_blockwise */
} pc;
#include "qk_vk.glsl"
#include "qk_vk_load.glsl"
#include "qk_vk_scaled.glsl"
#include "qk_vk_products.glsl"

/* Whether f32 elements gi .. gi + 7 (all in the chunk) share one group,
 * whose index is g: the last is in it too, and either no row ends between
 * them or the groups span every column. */
bool qk_one_group(uint gi, uint g)
{
    uint gl = gi + 7u, rl = gl / pc.cols, cl = gl - rl * pc.cols;
    return (rl / pc.bh) * pc.gc + cl / pc.bw == g && (rl == gi / pc.cols || pc.gc == 1u);
}

/* The two code words of 8 f32 elements of one group by products
 * (qk_vk_products.glsl) where the group's factor allows them: int8 by the
 * divisor's reciprocal, float8 by the multiplier. False where the caller
 * must code them one by one (a factor out of range, or an int8 quotient
 * near a halfway point). */
bool qk_codes8_f32(uint x[8], uint a, out uint word[2])
{
    uvec4 lo = uvec4(x[0], x[1], x[2], x[3]), hi = uvec4(x[4], x[5], x[6], x[7]);
    if (pc.mode >= 2u) {
        uint rd = qk_int8_reciprocal(a);
        bool near = rd == 0u;
        if (!near) {
            word[0] = qk_int8_codes4_f32(pc.mode, lo, uintBitsToFloat(rd), near);
            word[1] = qk_int8_codes4_f32(pc.mode, hi, uintBitsToFloat(rd), near);
        }
        return !near;
    }
    if (!qk_fp8_product_ok(a))
        return false;
    word[0] = qk_fp8_codes4_f32(pc.mode, lo, uintBitsToFloat(a));
    word[1] = qk_fp8_codes4_f32(pc.mode, hi, uintBitsToFloat(a));
    return true;
}

void main()
{
    uint e = qk_item_id() * 8u; /* 8 elements: two data words */
    if (e >= pc.n)
        return;
    uint gi = pc.e0 + e;
    uint r = gi / pc.cols, c = gi - r * pc.cols;
    uint next = (c / pc.bw + 1u) * pc.bw; /* column where the group changes */
    uint g = (r / pc.bh) * pc.gc + c / pc.bw; /* the first element's group */
    uint a = aux.w[g];
    uint x[8];
    qk_load8(QK_DT, e, pc.n, x);
    uint word[2];
    bool done = QK_DT == DT_F32 && e + 8u <= pc.n && qk_one_group(gi, g) && qk_codes8_f32(x, a, word);
    if (!done)
        word = uint[2](0u, 0u); /* set here: qk_codes8_f32's out words are undefined when it fails */
    for (uint j = 0u; j < 8u && !done; j++) {
        if (j > 0u) {
            if (++c == pc.cols) {
                c = 0u;
                r++;
                next = pc.bw;
                a = aux.w[(r / pc.bh) * pc.gc];
            } else if (c == next) {
                next += pc.bw;
                a = aux.w[(r / pc.bh) * pc.gc + c / pc.bw];
            }
        }
        word[j >> 2] |= qk_scaled_code(pc.mode, QK_DT, x[j], a) << (8u * (j & 3u));
    }
    if (e + 4u < pc.n)
        data.w[e >> 3] = uvec2(word[0], word[1]);
    else
        data.w[e >> 3].x = word[0];
}
