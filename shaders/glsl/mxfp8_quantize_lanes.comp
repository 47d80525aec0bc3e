#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
/* MXFP8 quantize (src/ref/ref_mxfp8.c) of bf16/f16 rows whose width is a
 * multiple of 8, in the form of bnb4_quantize64.comp: two invocations a
 * 32-block, 16 elements each, on a grid-stride loop that loads each step's
 * 32 bytes a step ahead; the block max by one shuffle of 16-bit magnitudes.
 * Where a row's blocks come in fours (nblk % 4 == 0), a blocked-layout
 * scale word belongs to eight consecutive invocations, which gather its
 * four bytes by shuffles into one store; elsewhere each block ORs its byte.
 *
 * Codes: the exponent e comes from qk_mxfp8_exponent_fast when the amax is
 * >= 2^-100 (always, for f16). Then x / 2^(e-127) is x * 2^(127-e), the
 * same real rounded once, and the native product is exact wherever x and
 * the product are normal. Where either is not, the product is < 2^-18
 * (2^(127-e) <= 2^108 against |x| < 2^-126, or the product itself below
 * 2^-126), so its code is the zero of x's sign whatever the device does
 * with subnormals. The product never exceeds 448 (no clamp needed).
 * Smaller amax (bf16 only) take the division, qk_mul and the codec.
 *
 * The pipeline requires full subgroups of at least 8 invocations. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src;
layout(std430, binding = 1) writeonly buffer Data { uvec4 w[]; } data; /* 16 codes an invocation */
layout(std430, binding = 2) buffer Scale { uint w[]; } scale;
layout(std430, binding = 3) buffer Flag { uint w[]; } flag;
layout(push_constant) uniform PC {
    uint rows;   /* input rows present in this chunk */
    uint prows;  /* padded rows in this chunk */
    uint cols;   /* a multiple of 8 */
    uint cp;     /* padded columns */
    uint dt;
    uint gather; /* nblk % 4 == 0 */
} pc;
#include "qk_vk.glsl"

/* e4m3 code of x * f, f = 2^(127-e) as above: the magnitude by one
 * rounding add on the bits in e4m3's normal range (>= 2^-6), below it by
 * the exact IEEE sum with 2^14, whose ulp is e4m3's subnormal step 2^-9. */
uint code_plain(uint x, float f)
{
    precise float p = abs(uintBitsToFloat(x)) * f;
    precise float q = p + 16384.0;
    uint u = floatBitsToUint(p);
    uint m = u < 0x3C800000u ? floatBitsToUint(q) - 0x46800000u
                             : ((u + 0x7FFFFu + ((u >> 20) & 1u)) >> 20) - (120u << 3);
    return ((x >> 24) & 0x80u) | m;
}

/* The reference's code by integer arithmetic (inv = 2^(127-e), maybe subnormal). */
uint code_exact(uint x, uint inv) { return qk_to_e4m3(qk_f32_clamp_abs(qk_mul(x, inv), QK_F32_E4M3_MAX)); }

uvec4 codes_plain(uint w[8], float f)
{
    uvec4 out_ = uvec4(0u);
    [[unroll]] for (uint k = 0u; k < 8u; k++) {
        uint c = code_plain(qk_low_finite(w[k]), f) | (code_plain(qk_high_finite(w[k]), f) << 8);
        out_[k >> 1] |= c << ((k & 1u) * 16u);
    }
    return out_;
}

/* Rare (bf16 blocks of amax < 2^-100): a rolled loop, words picked by
 * selects so that w stays in registers. */
uvec4 codes_exact(uint w[8], uint inv)
{
    uvec4 out_ = uvec4(0u);
    for (uint k = 0u; k < 16u; k++) {
        uint word = qk_pick8(w, k >> 1);
        uint c = code_exact(qk_widen(QK_DT, (k & 1u) != 0u ? word >> 16 : word & 0xFFFFu), inv);
        uint sh = (k & 3u) * 8u;
        out_.x |= k < 4u ? c << sh : 0u;
        out_.y |= k - 4u < 4u ? c << sh : 0u;
        out_.z |= k - 8u < 4u ? c << sh : 0u;
        out_.w |= k >= 12u ? c << sh : 0u;
    }
    return out_;
}

/* Elements [c, c + 8) of row r, +0 past the rows or columns. */
uvec4 load8(uint r, uint c)
{
    return r < pc.rows && c < pc.cols ? src.w[(r * pc.cols + c) >> 3] : uvec4(0u);
}

void main()
{
    uint nblk = pc.cp / 32u;
    uint lane = gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID;
    uint stride = gl_NumWorkGroups.x * 256u, units = pc.prows * nblk * 2u; /* two invocations a block */
    uint u = gl_WorkGroupID.x * 256u + lane, half_ = (u & 1u) * 16u;
    /* block u / 2 as (row, block column), advanced by stride / 2 blocks a step */
    uint r = (u >> 1) / nblk, cb = (u >> 1) - r * nblk;
    uint step_r = (stride >> 1) / nblk, step_c = (stride >> 1) - step_r * nblk;
    uvec4 a = uvec4(0u), b = uvec4(0u);
    if (u < units) {
        a = load8(r, cb * 32u + half_);
        b = load8(r, cb * 32u + half_ + 8u);
    }
    for (; u < units; u += stride) {
        uint w[8] = uint[8](a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w);
        uint nr = r + step_r, nc = cb + step_c;
        if (nc >= nblk) {
            nc -= nblk;
            nr++;
        }
        if (u + stride < units) {
            a = load8(nr, nc * 32u + half_);
            b = load8(nr, nc * 32u + half_ + 8u);
        }
        uint mh = 0u, ml = 0u;
        [[unroll]] for (uint k = 0u; k < 8u; k++) {
            mh = max(mh, w[k] & 0x7FFF0000u);
            ml = max(ml, w[k] & 0x7FFFu);
        }
        uint m16 = max(mh >> 16, ml);
        m16 = max(m16, subgroupShuffleXor(m16, 1u));
        uint e = 0u;
        uvec4 codes = uvec4(0u); /* a zero block: scale byte 0, +0 data */
        if (m16 >= (QK_DT == DT_BF16 ? 0x7F80u : 0x7C00u)) {
            if (half_ == 0u)
                atomicOr(flag.w[0], 1u); /* NaN or Inf: the call fails */
        } else if (m16 != 0u) {
            uint am = qk_widen(QK_DT, m16);
            if (am >= 0x0D800000u) { /* 2^-100 */
                e = qk_mxfp8_exponent_fast(am);
                codes = codes_plain(w, uintBitsToFloat((254u - e) << 23));
            } else {
                e = qk_e8m0_ceil(max(qk_div(am, QK_F32_E4M3_MAX), QK_F32_E8M0_MIN));
                codes = codes_exact(w, e == 254u ? 0x00400000u : (254u - e) << 23);
            }
        }
        data.w[u] = codes;
        uint off = qk_blocked_off(r, cb, nblk);
        if (pc.gather != 0u) { /* invocations 8i .. 8i+7: blocks 4j .. 4j+3 of one row */
            uint e2 = e | (subgroupShuffleXor(e, 2u) << 8);
            uint word = e2 | (subgroupShuffleXor(e2, 4u) << 16);
            if ((lane & 7u) == 0u)
                scale.w[off >> 2] = word;
        } else if (half_ == 0u && e != 0u) {
            atomicOr(scale.w[off >> 2], e << ((off & 3u) * 8u));
        }
        r = nr;
        cb = nc;
    }
}
