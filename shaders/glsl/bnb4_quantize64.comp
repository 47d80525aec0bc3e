#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
/* bitsandbytes NF4/FP4 quantize in blocks of 64, in the
 * form of cuda/k_bnb4.cuh's qk_bnb4_quantize64: four invocations a block,
 * 16 elements each, on a grid-stride loop that loads each step's 32 bytes
 * a step ahead. Block maxima are integer maxima of the 16-bit magnitudes
 * (widening and ftz keep their order); codes come from one lookup each in
 * qkf_bnb_code_table, which holds the code of ftz(v) for every f32 v.
 *
 * A lane's products are native where they are the reference's mul_ftz:
 * the block finite, r normal, and every nonzero input large enough that
 * its product is >= 2^-125 (normal, far from any flush decision). bf16
 * lanes test that (a subnormal input never passes, so nothing needs the
 * input flush); f16 values are all normal as f32 (>= 2^-24) and their
 * products >= 2^-24 / 65504 > 2^-41. Products never exceed about 1 (|x| <= absmax, r its
 * reciprocal). Other lanes, blocks holding NaN or Inf, and a partial last
 * block take the exact product (qk_mul_ftz).
 *
 * f32 input takes the same form with a lane's 16 elements in four 16-byte
 * words (main_f32): one reciprocal (an integer-corrected division) a lane
 * of 16, where the generic shader paid one a lane of 8 and loaded no step
 * ahead. Its plain test is bf16's on the f32 exponent field.
 *
 * The pipeline requires full subgroups (a multiple of 4 invocations): a
 * block's four lanes are consecutive invocations of one subgroup, and all
 * four take the same branches around their shuffles. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src;
layout(std430, binding = 1) writeonly buffer Data { uvec2 w[]; } data; /* 16 codes a lane */
layout(std430, binding = 2) writeonly buffer Absmax { uint w[]; } absmax_out;
layout(std430, binding = 3) readonly buffer Tables { uint w[]; } tables;
layout(push_constant) uniform PC {
    uint n;       /* elements in this chunk */
    uint bs_log2; /* 6 */
    uint dt;
    uint nf4;
} pc;
#include "qk_vk.glsl"
#include "qk_vk_load.glsl"
#include "qk_vk_bnb_reciprocal.glsl"
/* word offsets of qkf_bnb_code_table for FP4 and NF4 (vk_internal.h) */
#define QK_VK_TAB_BNB_FP4 1536u
#define QK_VK_TAB_BNB_NF4 3584u

shared uint s_tab[2048];

uint lookup(uint v)
{
    uint e = s_tab[v >> 21];
    return (v << 11) > e ? (e & 15u) : ((e >> 4) & 15u);
}

/* Codes of a plain lane (element 2j in the high nibble of byte j). */
uvec2 codes_plain(uint w[8], float f)
{
    uvec2 out_ = uvec2(0u);
    [[unroll]] for (uint k = 0u; k < 8u; k++) {
        precise float p0 = uintBitsToFloat(qk_low_finite(w[k])) * f;
        precise float p1 = uintBitsToFloat(qk_high_finite(w[k])) * f;
        uint c = (lookup(floatBitsToUint(p0)) << 4) | lookup(floatBitsToUint(p1));
        if (k < 4u)
            out_.x |= c << (k * 8u);
        else
            out_.y |= c << ((k - 4u) * 8u);
    }
    return out_;
}

/* The reference's codes: mul_ftz by integer code where it must be (rare:
 * a rolled loop). No product is Inf: |x| <= absmax, and an Inf absmax has
 * r = 0, so the table's NaN bucket meets only NaN. */
uvec2 codes_exact(uint w[8], uint r)
{
    uvec2 out_ = uvec2(0u);
    for (uint k = 0u; k < 16u; k++) {
        uint word = qk_pick8(w, k >> 1);
        uint c = lookup(qk_mul_ftz(qk_widen(QK_DT, (k & 1u) != 0u ? word >> 16 : word & 0xFFFFu), r));
        uint sh = ((k >> 1) & 3u) * 8u + ((k & 1u) != 0u ? 0u : 4u);
        if (k < 8u)
            out_.x |= c << sh;
        else
            out_.y |= c << sh;
    }
    return out_;
}

/* Max over a block's four lanes. */
uint block_max(uint v)
{
    v = max(v, subgroupShuffleXor(v, 1u));
    return max(v, subgroupShuffleXor(v, 2u));
}

/* The reference's absmax of a block whose lanes hold these words (NaN
 * skipped; padding +0 counts, as a partial block's does): the block max
 * of ftz|x| + 1, less one; -FLT_MAX when every element is NaN. */
uint exact_absmax(uint w[8])
{
    uint key = 0u;
    for (uint k = 0u; k < 16u; k++) {
        uint word = qk_pick8(w, k >> 1);
        uint x = qk_widen(QK_DT, (k & 1u) != 0u ? word >> 16 : word & 0xFFFFu);
        if (qk_f32_is_nan(x) == 0u)
            key = max(key, qk_f32_ftz(x & QK_F32_ABS) + 1u);
    }
    key = block_max(key);
    return key != 0u ? key - 1u : 0xFF7FFFFFu;
}

/* Codes of lane u (block u / 4; its first lane writes the absmax). */
uvec2 quantize_lane(uint u, uint w[8])
{
    uint mh = 0u, ml = 0u;
    [[unroll]] for (uint k = 0u; k < 8u; k++) {
        mh = max(mh, w[k] & 0x7FFF0000u);
        ml = max(ml, w[k] & 0x7FFFu);
    }
    uint m16 = block_max(max(mh >> 16, ml));
    if (m16 >= (QK_DT == DT_BF16 ? 0x7F80u : 0x7C00u)) { /* NaN or Inf in the block */
        uint am = exact_absmax(w);
        if ((u & 3u) == 0u)
            absmax_out.w[u >> 2] = am;
        return codes_exact(w, bnb_reciprocal(am));
    }
    uint am = qk_f32_ftz(qk_widen(QK_DT, m16)), r = bnb_reciprocal(am);
    if ((u & 3u) == 0u)
        absmax_out.w[u >> 2] = am;
    /* bf16: the smallest magnitude t whose products are surely >= 2^-125
     * has exponent field 129 - r's (at least 1: normal); a lane is plain
     * when no nonzero magnitude is below t. */
    uint small = 0u;
    if (QK_DT == DT_BF16) {
        uint t = uint(clamp(129 - int((r >> 23) & 0xFFu), 1, 255)) << 7;
        [[unroll]] for (uint k = 0u; k < 8u; k++)
            small |= qk_halves_nonzero_below(w[k], t);
    }
    if (!qk_normal(r) || small != 0u)
        return codes_exact(w, r);
    return codes_plain(w, uintBitsToFloat(r));
}

/* ---- f32: 16 elements a lane, x[k] the element k ---------------------- */

/* Codes of a plain f32 lane. */
uvec2 codes_plain_f32(uint x[16], float f)
{
    uvec2 out_ = uvec2(0u);
    [[unroll]] for (uint j = 0u; j < 8u; j++) {
        precise float p0 = uintBitsToFloat(x[2u * j]) * f;
        precise float p1 = uintBitsToFloat(x[2u * j + 1u]) * f;
        uint c = (lookup(floatBitsToUint(p0)) << 4) | lookup(floatBitsToUint(p1));
        if (j < 4u)
            out_.x |= c << (j * 8u);
        else
            out_.y |= c << ((j - 4u) * 8u);
    }
    return out_;
}

/* codes_exact and exact_absmax for f32 lanes (rolled loops: rare). */
uvec2 codes_exact_f32(uint x[16], uint r)
{
    uvec2 out_ = uvec2(0u);
    for (uint k = 0u; k < 16u; k++) {
        uint c = lookup(qk_mul_ftz(x[k], r)) << (((k >> 1) & 3u) * 8u + ((k & 1u) != 0u ? 0u : 4u));
        if (k < 8u)
            out_.x |= c;
        else
            out_.y |= c;
    }
    return out_;
}

uint exact_absmax_f32(uint x[16])
{
    uint key = 0u;
    for (uint k = 0u; k < 16u; k++)
        if (qk_f32_is_nan(x[k]) == 0u)
            key = max(key, qk_f32_ftz(x[k] & QK_F32_ABS) + 1u);
    key = block_max(key);
    return key != 0u ? key - 1u : 0xFF7FFFFFu;
}

uvec2 quantize_lane_f32(uint u, uint x[16])
{
    uint m = 0u;
    [[unroll]] for (uint k = 0u; k < 16u; k++)
        m = max(m, x[k] & QK_F32_ABS);
    m = block_max(m);
    if (m >= QK_F32_INF) { /* NaN or Inf in the block */
        uint am = exact_absmax_f32(x);
        if ((u & 3u) == 0u)
            absmax_out.w[u >> 2] = am;
        return codes_exact_f32(x, bnb_reciprocal(am));
    }
    uint am = qk_f32_ftz(m), r = bnb_reciprocal(am); /* ftz commutes with max */
    if ((u & 3u) == 0u)
        absmax_out.w[u >> 2] = am;
    /* plain where every nonzero |x| has an exponent field of at least t =
     * 129 - r's (then x is normal and x * r >= 2^-125), as bf16's test */
    uint t = uint(clamp(129 - int((r >> 23) & 0xFFu), 1, 255)) << 23;
    bool small = false;
    [[unroll]] for (uint k = 0u; k < 16u; k++)
        small = small || (x[k] & QK_F32_ABS) - 1u < t - 1u;
    if (!qk_normal(r) || small)
        return codes_exact_f32(x, r);
    return codes_plain_f32(x, uintBitsToFloat(r));
}

void main_f32(uint u, uint stride, uint units, uint lane)
{
    uvec4 a = uvec4(0u), b = a, c = a, d = a;
    if (u < units) {
        a = src.w[4u * u];
        b = src.w[4u * u + 1u];
        c = src.w[4u * u + 2u];
        d = src.w[4u * u + 3u];
    }
    for (; u < units; u += stride) {
        uint x[16] = uint[16](a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w, c.x, c.y, c.z, c.w, d.x, d.y, d.z, d.w);
        if (u + stride < units) {
            a = src.w[4u * (u + stride)];
            b = src.w[4u * (u + stride) + 1u];
            c = src.w[4u * (u + stride) + 2u];
            d = src.w[4u * (u + stride) + 3u];
        }
        data.w[u] = quantize_lane_f32(u, x);
    }
    /* a partial last block: the first four lanes, +0 past n */
    if (gl_WorkGroupID.x == 0u && lane < 4u && (pc.n & 63u) != 0u) {
        u = units + lane;
        uint x[16];
        for (uint k = 0u; k < 16u; k++)
            x[k] = 16u * u + k < pc.n ? qk_load(DT_F32, 16u * u + k) : 0u;
        uint am = exact_absmax_f32(x);
        if (lane == 0u)
            absmax_out.w[u >> 2] = am;
        uvec2 cw = codes_exact_f32(x, bnb_reciprocal(am));
        if (16u * u < pc.n)
            data.w[u] = cw;
    }
}

void main()
{
    uint tab = pc.nf4 != 0u ? QK_VK_TAB_BNB_NF4 : QK_VK_TAB_BNB_FP4;
    for (uint i = gl_LocalInvocationID.x; i < 2048u; i += 256u)
        s_tab[i] = tables.w[tab + i];
    barrier();
    uint lane = gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID;
    uint stride = gl_NumWorkGroups.x * 256u, units = (pc.n >> 6) * 4u; /* lanes of whole blocks */
    uint u = gl_WorkGroupID.x * 256u + lane;
    if (QK_DT == DT_F32) {
        main_f32(u, stride, units, lane);
        return;
    }
    uvec4 a = uvec4(0u), b = uvec4(0u);
    if (u < units) {
        a = src.w[2u * u];
        b = src.w[2u * u + 1u];
    }
    for (; u < units; u += stride) {
        uint w[8] = uint[8](a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w);
        if (u + stride < units) {
            a = src.w[2u * (u + stride)];
            b = src.w[2u * (u + stride) + 1u];
        }
        data.w[u] = quantize_lane(u, w);
    }
    /* a partial last block: the first four lanes, +0 past n */
    if (gl_WorkGroupID.x == 0u && lane < 4u && (pc.n & 63u) != 0u) {
        u = units + lane;
        uvec4 p = qk_load16x8(16u * u, pc.n), q = qk_load16x8(16u * u + 8u, pc.n);
        uint w[8] = uint[8](p.x, p.y, p.z, p.w, q.x, q.y, q.z, q.w);
        uint am = exact_absmax(w);
        if (lane == 0u)
            absmax_out.w[u >> 2] = am;
        uvec2 c = codes_exact(w, bnb_reciprocal(am));
        if (16u * u < pc.n)
            data.w[u] = c;
    }
}
