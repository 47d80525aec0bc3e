#version 450
#extension GL_EXT_control_flow_attributes : require
/* MXFP8 quantize (src/ref/ref_mxfp8.c) over the 32x32-padded data: one
 * thread per 32-block of a row, so the block's amax, scale and reciprocal
 * are a thread's own (no shared memory, no barrier); rows whose width is a
 * multiple of 8 load bf16/f16 input 16 bytes at a time. x / 2^k is computed
 * as the exact product x * 2^-k (the same real, rounded once): natively
 * where x is normal and the product is normal and finite, tested once a
 * block so the coding loop has no branches. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src;
layout(std430, binding = 1) writeonly buffer Data { uvec4 w[]; } data;
layout(std430, binding = 2) buffer Scale { uint w[]; } scale;
layout(std430, binding = 3) buffer Flag { uint w[]; } flag;
layout(push_constant) uniform PC {
    uint rows;  /* input rows present in this chunk */
    uint prows; /* padded rows in this chunk */
    uint cols;
    uint cp;    /* padded columns */
    uint dt;
} pc;
#include "qk_vk.glsl"
#include "qk_vk_load.glsl"

uint e4m3_code(uint v) { return qk_to_e4m3(qk_f32_clamp_abs(v, QK_F32_E4M3_MAX)); }

/* The codes of 8 elements times 2^(127-e), as two words; plain: every
 * product is natively exact (block_plain). No array is indexed by a
 * variable (that sends it to local memory on NVIDIA): the rare exact path
 * picks its elements with qk_pick8. */
uvec2 codes8(uint x[8], uint inv, bool plain)
{
    uvec2 word = uvec2(0u);
    if (plain) {
        [[unroll]] for (uint j = 0u; j < 8u; j++) {
            precise float p = uintBitsToFloat(x[j]) * uintBitsToFloat(inv);
            uint c = e4m3_code(floatBitsToUint(p)) << (8u * (j & 3u));
            if (j < 4u)
                word.x |= c;
            else
                word.y |= c;
        }
    } else {
        for (uint j = 0u; j < 8u; j++) {
            uint c = e4m3_code(qk_mul(qk_pick8(x, j), inv)) << (8u * (j & 3u));
            word.x |= j < 4u ? c : 0u;
            word.y |= j < 4u ? 0u : c;
        }
    }
    return word;
}

/* The largest |x| (m) and the smallest nonzero |x| - 1 (lo) so far. */
void scan8(uint x[8], inout uint m, inout uint lo)
{
    [[unroll]] for (uint j = 0u; j < 8u; j++) {
        m = max(m, x[j] & QK_F32_ABS);
        lo = min(lo, (x[j] & QK_F32_ABS) - 1u);
    }
}

/* Native products are qk_mul's when inv and every x are normal or zero and
 * every nonzero product is normal: products grow with |x|, so the smallest
 * nonzero |x| (lo + 1) and the largest (hi) decide, once a block. */
bool block_plain(uint lo, uint hi, uint inv)
{
    if (!qk_normal(inv) || hi >= QK_F32_INF)
        return false;
    if (lo == 0xFFFFFFFFu)
        return true; /* all zero */
    precise float pl = uintBitsToFloat(lo + 1u) * uintBitsToFloat(inv);
    precise float ph = uintBitsToFloat(hi) * uintBitsToFloat(inv);
    return qk_normal(lo + 1u) && qk_normal(floatBitsToUint(pl)) && qk_normal(floatBitsToUint(ph));
}

void main()
{
    uint b = qk_item_id(), nblk = pc.cp / 32u;
    if (b >= pc.prows * nblk)
        return;
    uint r = b / nblk, c0 = (b - r * nblk) * 32u;
    uint x0[8], x1[8], x2[8], x3[8]; /* four loads spelled out, no loop over an array of arrays */
    qk_load_row8(QK_DT, pc.rows, pc.cols, r, c0, x0);
    qk_load_row8(QK_DT, pc.rows, pc.cols, r, c0 + 8u, x1);
    qk_load_row8(QK_DT, pc.rows, pc.cols, r, c0 + 16u, x2);
    qk_load_row8(QK_DT, pc.rows, pc.cols, r, c0 + 24u, x3);
    uint m = 0u, lo = 0xFFFFFFFFu; /* largest |x|, smallest nonzero |x| - 1 */
    scan8(x0, m, lo);
    scan8(x1, m, lo);
    scan8(x2, m, lo);
    scan8(x3, m, lo);
    if (m >= QK_F32_INF)
        atomicOr(flag.w[0], 1u);
    if (m == 0u) {
        data.w[2u * b] = uvec4(0u); /* scale byte 0 (zeroed before), +0 data */
        data.w[2u * b + 1u] = uvec4(0u);
        return;
    }
    uint s = qk_div(m, QK_F32_E4M3_MAX);
    if (s < QK_F32_E8M0_MIN)
        s = QK_F32_E8M0_MIN;
    uint e = qk_e8m0_ceil(s);
    uint off = qk_blocked_off(r, c0 / 32u, nblk);
    atomicOr(scale.w[off >> 2], e << ((off & 3u) * 8u));
    uint inv = e == 254u ? 0x00400000u : (254u - e) << 23; /* 2^(127-e) */
    bool plain = block_plain(lo, m, inv);
    uvec2 w0 = codes8(x0, inv, plain), w1 = codes8(x1, inv, plain), w2 = codes8(x2, inv, plain),
          w3 = codes8(x3, inv, plain);
    data.w[2u * b] = uvec4(w0, w1);
    data.w[2u * b + 1u] = uvec4(w2, w3);
}
