#version 450
/* Double quant's offset without the absmax round trip (src/ref/bnb_mean.c):
 * one workgroup per run of up to 4096 absmax values writes the record
 * {sum low, sum high, base, flags} that bnb_absmax_mean.comp combines as
 * qk_bnb_mean_from_partials does. base is the lowest set bit of any nonzero
 * value; each value a = odd * 2^lsb adds the integer odd << (lsb - base),
 * whose 64-bit sum is exact while every term stays below 2^52. flags: 1 for
 * a negative, Inf or NaN value, 2 for a term too wide. Integer code only
 * (no float operation); the model is record_of in tests/test_bnb_mean.c. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Absmax { uint w[]; } absmax;
layout(std430, binding = 1) writeonly buffer Rec { uint w[]; } rec;
layout(push_constant) uniform PC {
    uint nb; /* absmax values in this chunk (it starts on a run) */
} pc;
#include "qk_vk.glsl"

/* QK_BNB_PARTIAL_RUN and QK_BNB_PARTIAL_WIDTH of src/ref/ref_internal.h */
#define RUN 4096u
#define WIDTH 52
#define NO_BASE 1000 /* above any f32 lsb: the base of a run without nonzero values */

shared int s_base;
shared uint s_flags;
shared uvec2 s_sum[256];

uvec2 add64(uvec2 a, uvec2 b)
{
    uint carry;
    uint lo = uaddCarry(a.x, b.x, carry);
    return uvec2(lo, a.y + b.y + carry);
}

void main()
{
    uint g = qk_group_id(), lid = gl_LocalInvocationID.x;
    uint i0 = g * RUN;
    if (i0 >= pc.nb)
        return; /* uniform across the workgroup */
    if (lid == 0u) {
        s_base = NO_BASE;
        s_flags = 0u;
    }
    barrier();
    /* 16 values per invocation, kept as (exponent, significand) for both sweeps */
    uint m[16];
    int e[16];
    int base = NO_BASE;
    uint flags = 0u;
    for (uint k = 0u; k < 16u; k++) {
        uint i = i0 + k * 256u + lid;
        uint a = i < pc.nb ? absmax.w[i] : 0u;
        if (a >= 0x7F800000u) { /* sign bit, Inf or NaN */
            flags = 1u;
            a = 0u;
        }
        uint ex = a >> 23;
        m[k] = (a & 0x7FFFFFu) | (ex != 0u ? 0x800000u : 0u); /* 0 only for a == 0 */
        e[k] = ex != 0u ? int(ex) - 150 : -149;                /* a = m * 2^e */
        if (m[k] != 0u)
            base = min(base, e[k] + findLSB(m[k]));
    }
    atomicMin(s_base, base);
    barrier();
    base = s_base;
    uvec2 sum = uvec2(0u);
    for (uint k = 0u; k < 16u; k++) {
        if (m[k] == 0u)
            continue;
        int t = findLSB(m[k]);
        uint odd = m[k] >> uint(t);
        int shift = e[k] + t - base; /* >= 0 */
        if (findMSB(odd) + 1 + shift > WIDTH) {
            flags |= 2u;
            continue;
        }
        /* shifts by 32 or more are undefined in GLSL */
        if (shift == 0)
            sum = add64(sum, uvec2(odd, 0u));
        else if (shift < 32)
            sum = add64(sum, uvec2(odd << uint(shift), odd >> uint(32 - shift)));
        else
            sum = add64(sum, uvec2(0u, odd << uint(shift - 32)));
    }
    if (flags != 0u)
        atomicOr(s_flags, flags);
    s_sum[lid] = sum;
    barrier();
    /* at most 4096 terms below 2^52: no partial sum wraps */
    for (uint h = 128u; h > 0u; h >>= 1) {
        if (lid < h)
            s_sum[lid] = add64(s_sum[lid], s_sum[lid + h]);
        barrier();
    }
    if (lid == 0u) {
        rec.w[4u * g] = s_sum[0].x;
        rec.w[4u * g + 1u] = s_sum[0].y;
        rec.w[4u * g + 2u] = uint(s_base);
        rec.w[4u * g + 3u] = s_flags;
    }
}
