#version 450
#extension GL_EXT_control_flow_attributes : require
/* NVFP4 dequantize into bf16/f16 rows whose width is a multiple of 8
 * (src/ref/ref_nvfp4.c: T(e2m1(q) * f), f = T(T(g) * T(e4m3(s)))). A thread
 * owns 8 elements a step of a grid-stride loop: one 4-byte code word in,
 * one 16-byte store out, so a warp reads 128 and writes 512 contiguous
 * bytes; row and column advance by the stride without a division.
 *
 * Why this is faster than blocked_dequantize.comp (which MXFP8 keeps):
 * there each element's product was rounded to T by integer code (NaN test,
 * rounding add, shift: MXFP8's bf16 products are exact and skip it), and
 * each thread decoded its e4m3 scale and rounded three products to find f
 * (H200, 1 GiB: 84% / 80% of the copy for bf16 / f16 here, 50% / 43% there).
 * Here f depends only on the scale byte, so a workgroup tabulates, for
 * each of the 256 bytes, F1 = f and F15 = RN_T(1.5 f) (s_block); and every
 * product is exact in f32 with no rounding left to do:
 *
 *   e2m1 magnitudes are 0, 0.5, 1, 2, 4 (powers of two: v * f is a T
 *   value) and 1.5, 3, 6 (2^k * 1.5: RN_T(2^k * 1.5 f) = 2^k * F15, since
 *   rounding commutes with a power of two where nothing leaves T's normal
 *   range). So T(v * f) = A(q) * F1 + B(q) * F15, where the code's table
 *   entry (s_code, 16 entries of 8 bytes: one per bank pair, no bank
 *   conflict for any codes) holds the power of two in A or B and a zero of
 *   the code's sign in the other: the sum of a value and a zero of the same
 *   sign is that value, and -0 * f, +0 * f come out as the reference's.
 *
 * That holds for a block whose f is plain: finite, 0.5 |f| a normal T
 * value (T exponent field >= 2) and 4 F15 finite (field <= max - 2); then
 * every product is a normal f32 and the precise native products and sums
 * (RoundingModeRTE, NoContraction) are exact. The f32 result is a T value:
 * bf16 is its high half; for f16 the factors carry 2^-112 (exact: they stay
 * normal), so the f16 bits are the f32 bits shifted by 13 (the f16
 * exponent field is the f32 one) with the sign moved. Other blocks (zero,
 * huge or tiny f, NaN scales) take qk_mul and the T rounding per element,
 * as blocked_dequantize.comp. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Data { uint w[]; } data;
layout(std430, binding = 1) readonly buffer Scale { uint w[]; } scale;
layout(std430, binding = 2) readonly buffer Global { uint w[]; } global;
layout(std430, binding = 3) writeonly buffer Out { uvec4 w[]; } dst; /* rounded up to 16 bytes */
layout(push_constant) uniform PC {
    uint n;    /* elements in this chunk: whole rows, cols % 8 == 0 */
    uint cols;
    uint cp;   /* padded columns (a multiple of 16) */
} pc;
#include "qk_vk.glsl"

shared uvec2 s_code[16];  /* A(q), B(q) as f32 bits */
shared uvec4 s_block[256]; /* F1, F15 (f16: times 2^-112), plain, f */

/* A(q), B(q) for the code q (see the head comment). */
uvec2 code_entry(uint q)
{
    uint m = q & 7u, zero = (q & 8u) << 28;
    if ((m & 1u) != 0u && m > 1u) /* 1.5 * 2^(e-1): F15 times 2^(e-1) */
        return uvec2(zero, zero | ((126u + (m >> 1)) << 23));
    return uvec2(qk_e2m1_to_f32(q), zero);
}

/* The multiplier of scale byte s8 and its two factors (head comment). */
uvec4 block_entry(uint s8)
{
    uint gt = qk_round_to(QK_DT, global.w[0]);
    uint f = qk_round_to(QK_DT, qk_mul(gt, qk_round_to(QK_DT, qk_e4m3_to_f32(s8))));
    uint h15 = qk_round_to(QK_DT, qk_mul(f & QK_F32_ABS, 0x3FC00000u)) | (f & QK_F32_SIGN);
    /* T exponent fields >= 2 and <= max - 2, as f32 exponent fields */
    uint lo = QK_DT == DT_BF16 ? 2u : 114u, hi = QK_DT == DT_BF16 ? 252u : 140u;
    bool plain = (f & QK_F32_ABS) < QK_F32_INF && ((f >> 23) & 0xFFu) >= lo && ((h15 >> 23) & 0xFFu) <= hi;
    if (!plain)
        return uvec4(0u, 0u, 0u, f);
    uint rebias = QK_DT == DT_BF16 ? 0u : 112u << 23; /* f16: times 2^-112 */
    return uvec4(f - rebias, h15 - rebias, 1u, f);
}

/* The T bits of an f32 T value (f16: one carrying 2^-112), sign included. */
uint t_bits(uint p)
{
    if (QK_DT == DT_BF16)
        return p >> 16;
    return ((p >> 16) & 0x8000u) | ((p >> 13) & 0x7FFFu);
}

/* The output word of code byte b (element 2k in the high nibble, output
 * low half) under a plain block's factors. */
uint plain_word(uint b, float f1, float f15)
{
    uvec2 a = s_code[b >> 4], c = s_code[b & 15u];
    precise float pa = uintBitsToFloat(a.x) * f1 + uintBitsToFloat(a.y) * f15;
    precise float pb = uintBitsToFloat(c.x) * f1 + uintBitsToFloat(c.y) * f15;
    return t_bits(floatBitsToUint(pa)) | (t_bits(floatBitsToUint(pb)) << 16);
}

/* The same word under any f: qk_mul and the T rounding per element. */
uint exact_word(uint b, uint f)
{
    uint lo = qk_narrow(QK_DT, qk_mul(qk_e2m1_to_f32(b >> 4), f));
    uint hi = qk_narrow(QK_DT, qk_mul(qk_e2m1_to_f32(b & 15u), f));
    return lo | (hi << 16);
}

/* Elements 8t .. 8t + 7 from their code word q under scale byte s8. */
void dequantize8(uint t, uint s8, uint q)
{
    uvec4 blk = s_block[s8];
    if (blk.z != 0u) {
        float f1 = uintBitsToFloat(blk.x), f15 = uintBitsToFloat(blk.y);
        dst.w[t] = uvec4(plain_word(q & 0xFFu, f1, f15), plain_word((q >> 8) & 0xFFu, f1, f15),
                         plain_word((q >> 16) & 0xFFu, f1, f15), plain_word(q >> 24, f1, f15));
    } else {
        for (uint k = 0u; k < 4u; k++)
            dst.w[t][k] = exact_word((q >> (8u * k)) & 0xFFu, blk.w);
    }
}

/* The scale word of block (r, c / 16) in the 128x4 blocked layout
 * (qk_blocked_off / 4); its byte c / 16 % 4 is at bit (c >> 1) & 0x18. */
uint scale_word(uint r, uint c, uint col_tiles)
{
    return ((r / 128u * col_tiles + c / 64u) * 32u + r % 32u) * 4u + (r % 128u) / 32u;
}

void main()
{
    uint lid = gl_LocalInvocationID.x;
    if (lid < 16u)
        s_code[lid] = code_entry(lid);
    s_block[lid] = block_entry(lid);
    barrier();

    uint nv = pc.n / 8u, t = gl_GlobalInvocationID.x, stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    if (t >= nv)
        return;
    /* (r, c) of element 8t, advanced by (dr, dc) = the stride's 8 * stride elements */
    uint r = (8u * t) / pc.cols, c = 8u * t - r * pc.cols;
    uint dr = (8u * stride) / pc.cols, dc = 8u * stride - dr * pc.cols;
    uint row_words = pc.cp / 8u, col_tiles = (pc.cp / 16u + 3u) / 4u;
    /* The next step's words loaded before this step's codes measured no
     * faster on the H200 (85%/81% of the copy for bf16/f16, vs 84%/80%). */
    for (; t < nv; t += stride) {
        uint sv = scale.w[scale_word(r, c, col_tiles)], q = data.w[r * row_words + c / 8u];
        dequantize8(t, (sv >> ((c >> 1) & 0x18u)) & 0xFFu, q);
        c += dc;
        r += dr;
        if (c >= pc.cols) {
            c -= pc.cols;
            r++;
        }
    }
}
