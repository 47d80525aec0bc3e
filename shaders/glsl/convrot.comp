#version 450
#extension GL_EXT_control_flow_attributes : require
/* ConvRot (src/ref/convrot.c): a workgroup rotates QK_CR_SPAN consecutive
 * values (whole groups of G = 4, 16, 64, 256 or 1024; rows hold whole
 * groups), 16 per thread: the reference's fixed-order H4 butterflies, one
 * per base-4 digit, lowest first, then the exact scaling by 2^-levels.
 * Mode 0 rotates the input and stores it in the input dtype; mode 1
 * dequantizes int8 codes (q * scale) and rotates back.
 *
 * Fast path, in registers: two butterfly levels at a time on 16 values a
 * thread holds (strides 1 and 4 on 16 consecutive values, then 16 and 64
 * on values 16 apart, then 256 for G = 1024), shared memory only to
 * regroup between them. Its sums are native: when every value entering the
 * butterflies is zero or has 2^-103 <= |x| < 2^(127 - 2 levels), every
 * value is a multiple of 2^-126 (the ulp of 2^-103), and so is every sum,
 * rounded or not; a nonzero one is then >= 2^-126, a normal float, and
 * none can overflow (a level grows magnitudes at most 4-fold). RTE native
 * sums are then the reference's. Any other workgroup (subnormal or tiny
 * values, huge, Inf or NaN, or a code scale outside qk_plain_factor's
 * range) takes the generic path: every value through shared memory, qk_add
 * for every sum, qk_mul for the scaling (as the x86 reference, NaN results
 * included: qk_cr_add, qk_cr_mul). */
#define QK_CR_THREADS 128u
#define QK_CR_SPAN (16u * QK_CR_THREADS) /* vk_ops.c: QK_VK_CONVROT_SPAN */
layout(local_size_x = QK_CR_THREADS) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src; /* input, or int8 codes */
layout(std430, binding = 1) writeonly buffer Out { uvec4 w[]; } dst;
layout(std430, binding = 2) readonly buffer Scale { uint w[]; } scale;
layout(push_constant) uniform PC {
    uint total;   /* elements in this chunk (a multiple of G) */
    uint group;   /* G: 4, 16, 64, 256 or 1024 */
    uint levels;  /* log4 G */
    uint dt;
    uint mode;
    uint cols;
    uint r0;
    uint bh;      /* scale groups: height, width, across */
    uint bw;
    uint gc;
} pc;
#include "qk_vk.glsl"
#include "qk_vk_load.glsl"

/* Element i of the span at v[qk_cr_at(i)] (qk_vk_convrot.glsl). */
shared uint v[QK_CR_SPAN + QK_CR_SPAN / 16u];
shared uint s_slow;
#include "qk_vk_convrot.glsl"

/* x * 2^-L for a fast-path value, exactly as qk_mul gives it: x is zero or
 * k * 2^-126 for an integer k, and L <= 5, so the product k * 2^(-126 - L)
 * is a float (normal, or a subnormal with no bits lost): the exponent field
 * goes down by L, or the significand shifts right into the subnormals. */
uint scale_down(uint x, uint L)
{
    uint a = x & QK_F32_ABS, e = a >> 23;
    if (a == 0u)
        return x;
    if (e > L)
        return x - (L << 23);
    return (x & QK_F32_SIGN) | (((a & 0x7FFFFFu) | 0x800000u) >> (L + 1u - e));
}

/* The scale of chunk element e (mode 1). */
uint scale_of(uint e)
{
    uint r = e / pc.cols, c = e - r * pc.cols;
    return scale.w[((pc.r0 + r) / pc.bh) * pc.gc + c / pc.bw];
}

/* Chunk elements e .. e+15 into x for the fast path; false where one of
 * them needs the generic path (x is then not used). */
bool load16(uint e, out uint x[16])
{
    uint hi = (254u - 2u * pc.levels) << 23; /* |x| < 2^(127 - 2 levels) */
    if (pc.mode == 0u) {
        uint lo8[8], hi8[8];
        qk_load8(QK_DT, e, pc.total, lo8);
        qk_load8(QK_DT, e + 8u, pc.total, hi8);
        [[unroll]] for (uint j = 0u; j < 8u; j++) {
            x[j] = lo8[j];
            x[j + 8u] = hi8[j];
        }
    } else {
        if (pc.bw % 8u != 0u)
            return false;
        uint f0 = scale_of(e), f1 = e + 8u < pc.total ? scale_of(e + 8u) : f0; /* G = 4: the chunk may end */
        if (!qk_plain_factor(f0) || !qk_plain_factor(f1))
            return false;
        uvec4 q = src.w[e >> 4]; /* 16 codes */
        [[unroll]] for (uint j = 0u; j < 16u; j++) {
            precise float p = float(int(q[j >> 2] << (24u - 8u * (j & 3u))) >> 24) * uintBitsToFloat(j < 8u ? f0 : f1);
            x[j] = floatBitsToUint(p); /* int8 values: exact, normal products (qk_plain_factor) */
        }
    }
    bool ok = true;
    [[unroll]] for (uint j = 0u; j < 16u; j++) {
        uint a = x[j] & QK_F32_ABS;
        ok = ok && (a == 0u || (a >= (24u << 23) && a < hi));
    }
    return ok;
}

/* The generic path's value of chunk element e. */
uint load1(uint e)
{
    if (pc.mode == 0u)
        return qk_load(QK_DT, e);
    uint q = (src.w[e >> 4][(e >> 2) & 3u] >> (8u * (e & 3u))) & 0xFFu;
    return qk_cr_mul(floatBitsToUint(float(int(q << 24) >> 24)), scale_of(e));
}

/* Chunk elements e .. e+15, in the output dtype; the chunk may end inside
 * them where G = 4 (at an even element: whole 16-bit pairs). */
void store16(uint e, uint x[16])
{
    if (e + 16u > pc.total) {
        [[unroll]] for (uint k = 0u; k < 8u; k++)
            if (e + 2u * k < pc.total) {
                if (QK_DT == DT_F32) {
                    dst.w[(e + 2u * k) >> 2][(2u * k) & 3u] = x[2u * k];
                    dst.w[(e + 2u * k) >> 2][(2u * k + 1u) & 3u] = x[2u * k + 1u];
                } else {
                    dst.w[(e + 2u * k) >> 3][k & 3u] = qk_pack_out(QK_DT, x[2u * k], x[2u * k + 1u]);
                }
            }
        return;
    }
    if (QK_DT == DT_F32) {
        [[unroll]] for (uint q = 0u; q < 4u; q++)
            dst.w[(e >> 2) + q] = uvec4(x[4u * q], x[4u * q + 1u], x[4u * q + 2u], x[4u * q + 3u]);
        return;
    }
    [[unroll]] for (uint q = 0u; q < 2u; q++)
        dst.w[(e >> 3) + q] = uvec4(qk_pack_out(QK_DT, x[8u * q], x[8u * q + 1u]),
                                    qk_pack_out(QK_DT, x[8u * q + 2u], x[8u * q + 3u]),
                                    qk_pack_out(QK_DT, x[8u * q + 4u], x[8u * q + 5u]),
                                    qk_pack_out(QK_DT, x[8u * q + 6u], x[8u * q + 7u]));
}

void fast(uint lid, inout uint x[16])
{
    qk_cr_levels16(x, pc.group > 4u); /* strides 1 and 4 */
    if (pc.group > 16u) {
        [[unroll]] for (uint j = 0u; j < 16u; j++)
            v[lid * 17u + j] = x[j];
        barrier();
        uint sb = (lid >> 4) * 272u + (lid & 15u); /* values t + 16 k of a 256 run */
        [[unroll]] for (uint k = 0u; k < 16u; k++)
            x[k] = v[sb + 17u * k];
        qk_cr_levels16(x, pc.group > 64u); /* strides 16 and 64 */
        if (pc.group > 256u) {
            [[unroll]] for (uint k = 0u; k < 16u; k++)
                v[sb + 17u * k] = x[k];
            barrier();
            /* values u + 64 m + 256 q of a 1024 run: x[4 m + q] */
            uint b = (lid >> 6) * 1024u + (lid & 63u);
            [[unroll]] for (uint k = 0u; k < 16u; k++)
                x[k] = v[qk_cr_at(b + 64u * (k >> 2) + 256u * (k & 3u))];
            qk_cr_levels16(x, false); /* stride 256 */
            [[unroll]] for (uint k = 0u; k < 16u; k++)
                v[qk_cr_at(b + 64u * (k >> 2) + 256u * (k & 3u))] = scale_down(x[k], pc.levels);
        } else {
            [[unroll]] for (uint k = 0u; k < 16u; k++)
                v[sb + 17u * k] = scale_down(x[k], pc.levels);
        }
        barrier();
        [[unroll]] for (uint j = 0u; j < 16u; j++)
            x[j] = v[lid * 17u + j];
    } else {
        [[unroll]] for (uint j = 0u; j < 16u; j++)
            x[j] = scale_down(x[j], pc.levels);
    }
}

void generic(uint lid, uint base, uint cnt)
{
    for (uint j = 0u; j < 16u; j++)
        if (lid * 16u + j < cnt)
            v[qk_cr_at(lid * 16u + j)] = load1(base + lid * 16u + j);
    barrier();
    qk_cr_levels_exact(lid, QK_CR_THREADS, cnt, pc.group);
    uint s = (127u - pc.levels) << 23;
    for (uint j = 0u; j < 16u; j++)
        if (lid * 16u + j < cnt)
            v[qk_cr_at(lid * 16u + j)] = qk_cr_mul(v[qk_cr_at(lid * 16u + j)], s);
}

void main()
{
    uint base = qk_group_id() * QK_CR_SPAN; /* chunk-local element index */
    if (base >= pc.total)
        return; /* uniform across the workgroup */
    uint cnt = min(QK_CR_SPAN, pc.total - base); /* a multiple of G */
    uint lid = gl_LocalInvocationID.x;
    if (lid == 0u)
        s_slow = 0u;
    barrier();
    uint x[16];
    bool mine = lid * 16u < cnt;
    if (mine && !load16(base + lid * 16u, x))
        s_slow = 1u;
    barrier();
    if (s_slow == 0u) { /* uniform */
        fast(lid, x);
    } else {
        generic(lid, base, cnt);
        [[unroll]] for (uint j = 0u; j < 16u; j++)
            x[j] = v[lid * 17u + j];
    }
    if (mine)
        store16(base + lid * 16u, x);
}
