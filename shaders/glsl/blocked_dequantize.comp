#version 450
#extension GL_EXT_control_flow_attributes : require
/* NVFP4 and MXFP8 dequantize: one thread per 8 elements of a row-major
 * output; scales are read from the cuBLAS 128x4 blocked layout (chunks
 * start on 128-row tiles) when the column enters a new 16/32-block. With
 * whole vectors of 8 in a row (pc.vec) a thread reads its codes as one or
 * two words and, when every product is a normal f32, multiplies natively;
 * NVFP4 rows of whole 16-blocks (pc.vec 2) take 16 elements a thread, one
 * multiplier's worth. f32 with whole vectors takes 4 (dequantize_quad). */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Data { uint w[]; } data;
layout(std430, binding = 1) readonly buffer Scale { uint w[]; } scale;
layout(std430, binding = 2) readonly buffer Global { uint w[]; } global;
layout(std430, binding = 3) writeonly buffer Out { uvec4 w[]; } dst; /* rounded up to 16 bytes */
layout(push_constant) uniform PC {
    uint n; /* elements in this chunk */
    uint cols;
    uint cp;
    uint dt;
    uint nvfp4;
    uint vec; /* 1: cols % 8 == 0, a thread's 8 elements are one row's, one block's; 2: NVFP4, cols % 16 == 0, 16 */
} pc;
#include "qk_vk.glsl"
#include "qk_vk_store.glsl"

/* The multiplier of the block holding (r, c). */
uint multiplier(uint r, uint c)
{
    if (pc.nvfp4 != 0u) {
        uint off = qk_blocked_off(r, c / 16u, pc.cp / 16u);
        uint s8 = qk_e4m3_to_f32(qk_byte_of(scale.w[off >> 2], off));
        /* comfy-kitchen multiplies in the output dtype: T(T(g) * T(s)) */
        uint gt = qk_round_to(QK_DT, global.w[0]);
        return qk_round_to(QK_DT, qk_mul(gt, qk_round_to(QK_DT, s8)));
    }
    uint off = qk_blocked_off(r, c / 32u, pc.cp / 32u);
    return qk_e8m0_to_f32(qk_byte_of(scale.w[off >> 2], off));
}

/* Whether a word of four e4m3 codes holds a NaN (0x7F or 0xFF): a byte's
 * low 7 bits plus one carry into its top bit only from 0x7F. */
bool e4m3_nan4(uint w) { return (((w & 0x7F7F7F7Fu) + 0x01010101u) & 0x80808080u) != 0u; }

shared uint s_lut[256]; /* e2m1 (16) or e4m3 (256) code values */

void dequantize_vector(uint e)
{
    uint r = e / pc.cols, c = e - r * pc.cols;
    uint v[8];
    if (pc.vec != 0u) {
        uint f = multiplier(r, c), q0, q1 = 0u;
        if (pc.nvfp4 != 0u) {
            q0 = data.w[(r * (pc.cp / 2u) + c / 2u) >> 2];
        } else {
            uint p = (r * pc.cp + c) >> 2;
            q0 = data.w[p];
            q1 = data.w[p + 1u];
        }
        /* e4m3 NaN codes (0x7F, 0xFF) take the exact path */
        bool plain = qk_plain_factor(f) && (pc.nvfp4 != 0u || !(e4m3_nan4(q0) || e4m3_nan4(q1)));
        for (uint j = 0u; j < 8u; j++)
            v[j] = s_lut[pc.nvfp4 != 0u ? (q0 >> ((j >> 1) * 8u + ((j & 1u) != 0u ? 0u : 4u))) & 15u
                                        : ((j < 4u ? q0 : q1) >> ((j & 3u) * 8u)) & 0xFFu];
        qk_mul8(v, f, plain);
        if (QK_DT == DT_BF16 && pc.nvfp4 == 0u && plain) {
            /* an e4m3 value (at most 4 significant bits) times a power of
             * two, normal (plain): a bf16 value, so its RNE is its high half */
            for (uint j = 0u; j < 8u; j++)
                v[j] >>= 16;
            qk_store8_bits(QK_DT, e, pc.n, v);
        } else {
            qk_store8(QK_DT, e, pc.n, v);
        }
        return;
    }
    uint mask = pc.nvfp4 != 0u ? 15u : 31u;
    uint s = multiplier(r, c);
    for (uint j = 0u; j < 8u; j++) {
        if (j > 0u) {
            if (++c == pc.cols) {
                c = 0u;
                r++;
            }
            if ((c & mask) == 0u)
                s = multiplier(r, c);
        }
        if (e + j >= pc.n)
            break;
        if (pc.nvfp4 != 0u) {
            uint p = r * (pc.cp / 2u) + c / 2u;
            uint byte = qk_byte_of(data.w[p >> 2], p);
            v[j] = qk_mul(s_lut[(c & 1u) != 0u ? (byte & 15u) : (byte >> 4)], s);
        } else {
            uint p = r * pc.cp + c;
            v[j] = qk_mul(s_lut[qk_byte_of(data.w[p >> 2], p)], s);
        }
    }
    qk_store8(QK_DT, e, pc.n, v);
}

/* NVFP4 elements [e, e + 16), one row's, one block's (pc.vec 2): one
 * multiplier, the codes in two words. */
void dequantize16(uint e)
{
    uint r = e / pc.cols, c = e - r * pc.cols;
    uint f = multiplier(r, c), p = (r * (pc.cp / 2u) + c / 2u) >> 2;
    bool plain = qk_plain_factor(f);
    [[unroll]] for (uint h = 0u; h < 2u; h++) {
        uint w = data.w[p + h], v[8];
        [[unroll]] for (uint j = 0u; j < 8u; j++)
            v[j] = s_lut[(w >> ((j >> 1) * 8u + ((j & 1u) != 0u ? 0u : 4u))) & 15u];
        qk_mul8(v, f, plain);
        qk_store8(QK_DT, e + 8u * h, pc.n, v);
    }
}

/* f32 with pc.vec != 0: elements e .. e+3 (one block's) and one 16-byte
 * store (qk_store4_f32), the codes in half a word (NVFP4) or one. */
void dequantize_quad(uint e)
{
    uint r = e / pc.cols, c = e - r * pc.cols, q, v[4];
    uint f = multiplier(r, c);
    if (pc.nvfp4 != 0u) {
        uint p = r * (pc.cp / 2u) + c / 2u; /* even: two bytes of one word */
        q = data.w[p >> 2] >> (8u * (p & 3u));
        [[unroll]] for (uint j = 0u; j < 4u; j++)
            v[j] = s_lut[(q >> ((j >> 1) * 8u + ((j & 1u) != 0u ? 0u : 4u))) & 15u];
    } else {
        q = data.w[(r * pc.cp + c) >> 2];
        [[unroll]] for (uint j = 0u; j < 4u; j++)
            v[j] = s_lut[(q >> (8u * j)) & 0xFFu];
    }
    if (qk_plain_factor(f) && (pc.nvfp4 != 0u || !e4m3_nan4(q))) {
        [[unroll]] for (uint j = 0u; j < 4u; j++) {
            precise float p = uintBitsToFloat(v[j]) * uintBitsToFloat(f);
            v[j] = floatBitsToUint(p);
        }
    } else {
        for (uint j = 0u; j < 4u; j++)
            v[j] = qk_mul(v[j], f);
    }
    qk_store4_f32(e, pc.n, v);
}

void main()
{
    uint lid = gl_LocalInvocationID.x;
    s_lut[lid] = pc.nvfp4 != 0u ? qk_e2m1_to_f32(lid & 15u) : qk_e4m3_to_f32(lid);
    barrier();

    /* grid-stride: the host dispatches a bounded number of workgroups
     * (QK_VK_STRIDE_GROUPS), so each builds its table once for many vectors */
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    if (QK_DT == DT_F32 && pc.vec != 0u) {
        for (uint t = gl_GlobalInvocationID.x; t < (pc.n + 3u) / 4u; t += stride)
            dequantize_quad(t * 4u);
        return;
    }
    if (pc.vec == 2u) {
        for (uint t = gl_GlobalInvocationID.x; t < pc.n / 16u; t += stride)
            dequantize16(t * 16u);
        return;
    }
    for (uint t = gl_GlobalInvocationID.x; t < (pc.n + 7u) / 8u; t += stride)
        dequantize_vector(t * 8u);
}
