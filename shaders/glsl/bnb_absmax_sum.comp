#version 450
/* Double quant's offset without the absmax round trip (src/ref/bnb_mean.c):
 * one workgroup per run of up to 4096 absmax values writes the record
 * {sum low, sum high, base, flags} that bnb_absmax_mean.comp combines as
 * qk_bnb_mean_from_partials does. base is the lowest set bit of any nonzero
 * value; each value a = odd * 2^lsb adds the integer odd << (lsb - base),
 * whose 64-bit sum is exact while every term stays below 2^52. flags: 1 for
 * a negative, Inf or NaN value, 2 for a term too wide. Integer code only
 * (no float operation); the model is record_of in tests/test_bnb_mean.c.
 *
 * One sweep: an invocation loads its 16 values at once (four 16-byte
 * loads in flight, not 16 dependent ones) and sums them against its own
 * lowest bit so far, shifting its sum up when a lower one comes; the
 * workgroup then meets at the lowest. A term is too wide exactly when the
 * highest bit of any value lies more than 52 above the base, so the
 * invocations carry that highest bit (`top`) instead of testing each term
 * against a base not known yet. Most invocations take add_plain, under half
 * of add_value's steps a value; the rest (and the last run) add_value. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Absmax { uint w[]; } absmax;
layout(std430, binding = 1) writeonly buffer Rec { uint w[]; } rec;
layout(std430, binding = 2) readonly buffer Absmax4 { uvec4 v[]; } absmax4; /* binding 0's range */
layout(push_constant) uniform PC {
    uint nb; /* absmax values in this chunk (it starts on a run) */
} pc;
#include "qk_vk.glsl"

/* QK_BNB_PARTIAL_RUN and QK_BNB_PARTIAL_WIDTH of src/ref/ref_internal.h */
#define RUN 4096u
#define WIDTH 52
#define NO_BASE 1000 /* above any f32 lsb: the base of a run without nonzero values */
#define NO_TOP (-1000)

shared int s_base, s_top;
shared uint s_flags;
shared uvec2 s_sum[256];

#include "qk_vk_u64.glsl"

/* a << s (s >= 0). Where that would pass 2^64 it is 0 and flags gets 2:
 * the sum then holds a term above 2^60, too wide anyway. GLSL leaves
 * shifts by 32 or more undefined: none is made. */
uvec2 shl_checked(uvec2 a, int s, inout uint flags)
{
    if (a == uvec2(0u) || s == 0)
        return a;
    if (msb64(a) + s > 63) {
        flags |= 2u;
        return uvec2(0u);
    }
    return shl64(a, uint(s));
}

uvec2 sum = uvec2(0u);
int base = NO_BASE, top = NO_TOP;
uint flags = 0u;

void add_value(uint a)
{
    if (a >= 0x7F800000u) { /* sign bit, Inf or NaN */
        flags |= 1u;
        return;
    }
    if (a == 0u)
        return;
    uint ex = a >> 23, m = (a & 0x7FFFFFu) | (ex != 0u ? 0x800000u : 0u);
    int t = findLSB(m), lsb = (ex != 0u ? int(ex) - 150 : -149) + t; /* a = odd * 2^lsb */
    uint odd = m >> uint(t);
    top = max(top, lsb + findMSB(odd) + 1);
    if (lsb < base) {
        sum = shl_checked(sum, base - lsb, flags);
        base = lsb;
    }
    sum = add64(sum, shl_checked(uvec2(odd, 0u), lsb - base, flags));
}

/* The 16 values at once where every one is positive normal or zero and
 * their exponents lie within 31 of each other (false, nothing added,
 * otherwise): each adds m << (e - emin), m its 24-bit significand, e its
 * exponent field, emin the least of a nonzero value; every term is below
 * 2^55 and their sum below 2^59. The terms' OR has its lowest bit where
 * the lowest set bit of any value lies (the value with exponent emin puts
 * one at most 23 up), so the sum is shifted down to that base exactly, as
 * add_value would leave it. Zero values add m = 0. */
bool add_plain(uvec4 v[4])
{
    uint lo = 0xFFFFFFFFu, hi = 0u; /* least a - 1 (a zero wraps to the top), greatest a */
    [[unroll]] for (uint k = 0u; k < 4u; k++)
        [[unroll]] for (uint c = 0u; c < 4u; c++) {
            lo = min(lo, v[k][c] - 1u);
            hi = max(hi, v[k][c]);
        }
    if (lo == 0xFFFFFFFFu)
        return true; /* all zero */
    uint emin = (lo + 1u) >> 23, emax = hi >> 23;
    if (hi >= 0x7F800000u || emin == 0u || emax - emin > 31u)
        return false; /* a sign bit, Inf, NaN, subnormal, or too wide a spread */
    uvec2 s = uvec2(0u), bits = uvec2(0u);
    [[unroll]] for (uint k = 0u; k < 4u; k++)
        [[unroll]] for (uint c = 0u; c < 4u; c++) {
            uint a = v[k][c];
            uint m = (a & 0x7FFFFFu) | (min(a, 1u) << 23), sh = ((a >> 23) - emin) & 31u;
            uvec2 t = uvec2(m << sh, (m >> 1) >> (31u - sh));
            s = add64(s, t);
            bits |= t;
        }
    uint r = bits.x != 0u ? uint(findLSB(bits.x)) : 32u + uint(findLSB(bits.y)); /* <= 23 */
    sum = shr_small(s, r);
    base = int(emin) - 150 + int(r);
    top = int(emax) - 126; /* the greatest value's highest bit + 1 */
    return true;
}

void main()
{
    uint g = qk_group_id(), lid = gl_LocalInvocationID.x;
    uint i0 = g * RUN;
    if (i0 >= pc.nb)
        return; /* uniform across the workgroup */
    if (lid == 0u) {
        s_base = NO_BASE;
        s_top = NO_TOP;
        s_flags = 0u;
    }
    if (i0 + RUN <= pc.nb) {
        uvec4 v[4];
        [[unroll]] for (uint k = 0u; k < 4u; k++)
            v[k] = absmax4.v[i0 / 4u + k * 256u + lid];
        if (!add_plain(v))
            [[unroll]] for (uint k = 0u; k < 4u; k++) {
                add_value(v[k].x);
                add_value(v[k].y);
                add_value(v[k].z);
                add_value(v[k].w);
            }
    } else { /* the last run, partial */
        for (uint k = 0u; k < 16u; k++) {
            uint i = i0 + k * 256u + lid;
            if (i < pc.nb)
                add_value(absmax.w[i]);
        }
    }
    barrier(); /* the shared words are set */
    atomicMin(s_base, base); /* NO_BASE without a nonzero value */
    atomicMax(s_top, top);
    barrier();
    int b = s_base;
    s_sum[lid] = shl_checked(sum, base - b, flags); /* base >= b where sum is nonzero */
    if (flags != 0u)
        atomicOr(s_flags, flags);
    barrier();
    /* unflagged, every term is below 2^52 and there are at most 4096: no
     * partial sum wraps */
    for (uint h = 128u; h > 0u; h >>= 1) {
        if (lid < h)
            s_sum[lid] = add64(s_sum[lid], s_sum[lid + h]);
        barrier();
    }
    if (lid == 0u) {
        uint f = s_flags | (b != NO_BASE && s_top - b > WIDTH ? 2u : 0u);
        rec.w[4u * g] = s_sum[0].x;
        rec.w[4u * g + 1u] = s_sum[0].y;
        rec.w[4u * g + 2u] = uint(b);
        rec.w[4u * g + 3u] = f;
    }
}
