#version 450
#extension GL_EXT_control_flow_attributes : require
/* bitsandbytes NF4/FP4 dequantize: one thread per data word (8 elements),
 * or for f32 per half word (4 elements). */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Data { uint w[]; } data;
layout(std430, binding = 1) readonly buffer Absmax { uint w[]; } absmax;
layout(std430, binding = 2) writeonly buffer Out { uvec4 w[]; } dst; /* rounded up to 16 bytes */
layout(push_constant) uniform PC {
    uint n;
    uint bs_log2;
    uint dt;
    uint nf4;
} pc;
#include "qk_vk.glsl"
#include "qk_vk_store.glsl"

shared uint s_lut[16]; /* the 16 code values */

void dequantize_word(uint w, uint word, uint s);
void dequantize_quad(uint t, uint codes, uint s);

void main()
{
    if (gl_LocalInvocationID.x < 16u)
        s_lut[gl_LocalInvocationID.x] = pc.nf4 != 0u ? qk_nf4_value(gl_LocalInvocationID.x)
                                                     : qk_fp4_value(gl_LocalInvocationID.x);
    barrier();
    /* grid-stride: the host dispatches a bounded number of workgroups
     * (QK_VK_STRIDE_GROUPS), so each builds its table once for many words.
     * Four words' loads are issued before their stores (on the H200 NF4
     * and FP4 of bf16 went from 74% to 78% of the copy). */
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x, nw = (pc.n + 7u) / 8u;
    uint w = gl_GlobalInvocationID.x;
    if (QK_DT == DT_F32) { /* quads: one 16-byte store a thread (qk_store4_f32) */
        uint nq = (pc.n + 3u) / 4u;
        for (; w + 3u * stride < nq; w += 4u * stride) {
            uint q[4], s[4];
            [[unroll]] for (uint k = 0u; k < 4u; k++) {
                q[k] = data.w[(w + k * stride) >> 1];
                s[k] = absmax.w[((w + k * stride) * 4u) >> pc.bs_log2];
            }
            [[unroll]] for (uint k = 0u; k < 4u; k++)
                dequantize_quad(w + k * stride, q[k] >> (16u * ((w + k * stride) & 1u)), s[k]);
        }
        for (; w < nq; w += stride)
            dequantize_quad(w, data.w[w >> 1] >> (16u * (w & 1u)), absmax.w[(w * 4u) >> pc.bs_log2]);
        return;
    }
    for (; w + 3u * stride < nw; w += 4u * stride) {
        uint q[4], s[4];
        [[unroll]] for (uint k = 0u; k < 4u; k++) {
            q[k] = data.w[w + k * stride];
            s[k] = absmax.w[((w + k * stride) * 8u) >> pc.bs_log2]; /* blocks hold >= 32 elements */
        }
        [[unroll]] for (uint k = 0u; k < 4u; k++)
            dequantize_word(w + k * stride, q[k], s[k]);
    }
    for (; w < nw; w += stride)
        dequantize_word(w, data.w[w], absmax.w[(w * 8u) >> pc.bs_log2]);
}

/* Word w's codes `word` under absmax s. */
void dequantize_word(uint w, uint word, uint s)
{
    uint e = w * 8u;
    uint v[8];
    /* With 2^-117 <= |s| <= FLT_MAX every product of s and a code value
     * (zero, or 2^-8 <= |value| <= 1) is zero or at least 2^-125 and finite:
     * the correctly rounded native product is mul_ftz's, and no NaN arises.
     * The test is once a thread, so the loops below have no branches. */
    uint se = (s >> 23) & 0xFFu;
    if (se >= 10u && se < 255u) {
        uint plain = 1u; /* f16: every product a zero or f16-normal (qk_f16_plain) */
        for (uint j = 0u; j < 8u; j++) {
            uint byte = (word >> ((j >> 1) * 8u)) & 0xFFu;
            precise float p = uintBitsToFloat(s_lut[(j & 1u) != 0u ? (byte & 15u) : (byte >> 4)]) * uintBitsToFloat(s);
            v[j] = floatBitsToUint(p);
            plain &= qk_f16_plain(v[j]);
        }
        if (QK_DT == DT_BF16) {
            for (uint j = 0u; j < 8u; j++)
                v[j] = qk_bf16_narrow(v[j]);
#ifdef QK_F16_NATIVE
        } else if (QK_DT == DT_F16) { /* a native conversion a pair */
            [[unroll]] for (uint k = 0u; k < 4u; k++) {
                uint h = qk_f16_narrow2(v[2u * k], v[2u * k + 1u]);
                v[2u * k] = h & 0xFFFFu;
                v[2u * k + 1u] = h >> 16;
            }
#else
        } else if (QK_DT == DT_F16 && plain != 0u) { /* one test a vector, no branch an element */
            for (uint j = 0u; j < 8u; j++)
                v[j] = qk_f16_narrow_plain(v[j]);
        } else if (QK_DT == DT_F16) {
            for (uint j = 0u; j < 8u; j++)
                v[j] = qk_f16_narrow(v[j]);
#endif
        }
    } else {
        for (uint j = 0u; j < 8u; j++) {
            uint byte = (word >> ((j >> 1) * 8u)) & 0xFFu;
            uint x = qk_mul_ftz(s_lut[(j & 1u) != 0u ? (byte & 15u) : (byte >> 4)], s);
            /* CUDA's canonical NaN, narrowed to 0x7FFF, as bitsandbytes writes it */
            if (qk_f32_is_nan(x) != 0u)
                v[j] = QK_DT == DT_F32 ? 0x7FFFFFFFu : 0x7FFFu;
            else
                v[j] = QK_DT == DT_F32 ? x : qk_narrow(QK_DT, x);
        }
    }
    qk_store8_bits(QK_DT, e, pc.n, v);
}

/* f32 quad t (elements 4 t .. 4 t + 3) from its codes (the low 16 bits of
 * `codes`) under absmax s, as dequantize_word codes them. */
void dequantize_quad(uint t, uint codes, uint s)
{
    uint v[4], se = (s >> 23) & 0xFFu;
    if (se >= 10u && se < 255u) {
        [[unroll]] for (uint j = 0u; j < 4u; j++) {
            uint byte = (codes >> ((j >> 1) * 8u)) & 0xFFu;
            precise float p = uintBitsToFloat(s_lut[(j & 1u) != 0u ? (byte & 15u) : (byte >> 4)]) * uintBitsToFloat(s);
            v[j] = floatBitsToUint(p);
        }
    } else {
        for (uint j = 0u; j < 4u; j++) {
            uint byte = (codes >> ((j >> 1) * 8u)) & 0xFFu;
            uint x = qk_mul_ftz(s_lut[(j & 1u) != 0u ? (byte & 15u) : (byte >> 4)], s);
            v[j] = qk_f32_is_nan(x) != 0u ? 0x7FFFFFFFu : x; /* CUDA's canonical NaN */
        }
    }
    qk_store4_f32(4u * t, pc.n, v);
}
