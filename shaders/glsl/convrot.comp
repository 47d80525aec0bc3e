#version 450
/* ConvRot (src/ref/convrot.c): a workgroup rotates 1024 consecutive values
 * (1024 / G whole groups; rows hold whole groups, so G >= 16 divides every
 * row), one radix-4 butterfly per thread and level: the fixed-order H4 sums
 * of the reference, then the exact scaling by 2^-levels. Mode 0 rotates
 * the input and stores it in the input dtype; mode 1 dequantizes int8 codes
 * (q * scale) and rotates back.
 *
 * Native sums where they are exact: when every value entering the
 * butterflies is zero or has 2^-103 <= |x| < 2^(127 - 2 levels), every
 * value is a multiple of 2^-126 (the ulp of 2^-103), and so is every sum,
 * rounded or not; a nonzero one is then >= 2^-126, a normal float, and
 * none can overflow (a level grows magnitudes at most 4-fold). RTE native
 * sums are then the reference's. Any other workgroup (subnormal or tiny
 * inputs, huge, Inf or NaN) takes qk_add for every sum. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src; /* input, or int8 codes */
layout(std430, binding = 1) writeonly buffer Out { uvec4 w[]; } dst;
layout(std430, binding = 2) readonly buffer Scale { uint w[]; } scale;
layout(push_constant) uniform PC {
    uint total;   /* elements in this chunk (a multiple of G) */
    uint group;   /* G: 16, 64, 256 or 1024 */
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
#include "qk_vk_store.glsl"

shared uint v[1024];
shared uint s_slow; /* some value is outside the native range */

/* Elements e .. e+7 of the chunk (e a multiple of 8, within one row):
 * the input, or int8 codes times their scale. */
void load8(uint e, out uint x[8])
{
    if (pc.mode == 0u) {
        qk_load8(pc.dt, e, pc.total, x);
        return;
    }
    uvec4 q = src.w[e >> 4];
    uint lo = (e & 8u) == 0u ? q.x : q.z, hi = (e & 8u) == 0u ? q.y : q.w;
    for (uint j = 0u; j < 8u; j++)
        x[j] = floatBitsToUint(float(int((j < 4u ? lo : hi) << (24u - 8u * (j & 3u))) >> 24));
    uint r = e / pc.cols, c = e - r * pc.cols, row = ((pc.r0 + r) / pc.bh) * pc.gc;
    if (pc.bw % 8u == 0u) {
        uint f = scale.w[row + c / pc.bw];
        qk_mul8(x, f, qk_plain_factor(f)); /* int8 values: 0 or 1 <= |q| <= 128 */
        return;
    }
    for (uint j = 0u; j < 8u; j++)
        x[j] = qk_mul(x[j], scale.w[row + (c + j) / pc.bw]);
}

void main()
{
    uint base = qk_group_id() * 1024u; /* chunk-local element index */
    if (base >= pc.total)
        return; /* uniform across the workgroup */
    uint cnt = min(1024u, pc.total - base);
    uint lid = gl_LocalInvocationID.x;
    if (lid == 0u)
        s_slow = 0u;
    barrier();
    uint hi = (254u - 2u * pc.levels) << 23; /* |x| < 2^(127 - 2 levels) */
    if (lid * 8u < cnt) {
        uint x[8];
        load8(base + lid * 8u, x);
        bool slow = false;
        for (uint j = 0u; j < 8u; j++) {
            uint a = x[j] & QK_F32_ABS;
            slow = slow || (a != 0u && (a < (24u << 23) || a >= hi));
            v[lid * 8u + j] = x[j];
        }
        if (slow)
            s_slow = 1u;
    }
    barrier();
    bool native = s_slow == 0u;
    uint quarter = pc.group / 4u;
    uint g0 = (lid / quarter) * pc.group, t = lid % quarter; /* this thread's group and butterfly */
    for (uint stride = 1u; stride < pc.group; stride *= 4u) {
        if (g0 < cnt) {
            uint p = g0 + (t / stride) * 4u * stride + t % stride;
            uint a = v[p], b = v[p + stride], c = v[p + 2u * stride], d = v[p + 3u * stride];
            if (native) {
                float fa = uintBitsToFloat(a), fb = uintBitsToFloat(b), fc = uintBitsToFloat(c), fd = uintBitsToFloat(d);
                precise float ab = fa + fb;
                precise float o0 = (ab + fc) - fd;
                precise float o1 = (ab - fc) + fd;
                precise float o2 = ((fa - fb) + fc) + fd;
                precise float o3 = ((fb - fa) + fc) + fd;
                v[p] = floatBitsToUint(o0);
                v[p + stride] = floatBitsToUint(o1);
                v[p + 2u * stride] = floatBitsToUint(o2);
                v[p + 3u * stride] = floatBitsToUint(o3);
            } else {
                uint ab = qk_add(a, b);
                v[p] = qk_sub(qk_add(ab, c), d);
                v[p + stride] = qk_add(qk_sub(ab, c), d);
                v[p + 2u * stride] = qk_add(qk_add(qk_sub(a, b), c), d);
                v[p + 3u * stride] = qk_add(qk_add(qk_sub(b, a), c), d);
            }
        }
        barrier();
    }
    if (lid * 8u < cnt) {
        uint s = (127u - pc.levels) << 23, y[8];
        for (uint j = 0u; j < 8u; j++)
            y[j] = qk_mul(v[lid * 8u + j], s);
        qk_store8(pc.dt, base + lid * 8u, pc.total, y);
    }
}
