#version 450
#extension GL_EXT_control_flow_attributes : require
/* Double quant's offset on the device, so that the nested pass follows the
 * quantize with no host round trip: the mean qk_bnb_mean_from_partials
 * (src/ref/bnb_mean.c) takes from bnb_absmax_sum.comp's records, in
 * integer code. One workgroup. Where the records prove that no order of
 * the sum can round (every term exact, the total M * 2^L below 2^(L+53),
 * L the lowest base), the reference's double sum is that exact total, and
 * (float)(sum / nb) is two roundings of the exact quotient: to 53 bits,
 * then to 24. Both are done here by long division. result.w[1] = 1 says
 * result.w[0] is the offset; 0 (a bad or too wide record, a total that may
 * have rounded, a mean that is not a normal f32) leaves it to the host,
 * which sums the absmax itself and runs the nested pass again. The
 * records are read once, four 16-byte loads in flight an invocation, each
 * invocation summing its own against the lowest base it has seen (and
 * shifting its sum up when a lower one comes); the workgroup then meets at
 * the lowest. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Rec { uvec4 v[]; } rec; /* {sum low, sum high, base, flags} */
layout(std430, binding = 1) writeonly buffer Result { uint w[]; } result;
layout(push_constant) uniform PC {
    uint runs;         /* records */
    uint nb_lo, nb_hi; /* absmax values */
} pc;

#define NO_BASE 1000 /* above any f32 lsb */

shared int s_base;
shared uint s_bad;
shared uvec2 s_sum[256];

/* An invocation's share: its records' total against the lowest base of
 * them so far (shifted up when a lower one comes), or bad. */
uvec2 sum = uvec2(0u);
int base = NO_BASE;
bool bad = false;

/* 64-bit integers as uvec2(low, high) */
#include "qk_vk_u64.glsl"

uvec2 sub64(uvec2 a, uvec2 b)
{
    uint borrow;
    uint lo = usubBorrow(a.x, b.x, borrow);
    return uvec2(lo, a.y - b.y - borrow);
}

bool ge64(uvec2 a, uvec2 b) { return a.y > b.y || (a.y == b.y && a.x >= b.x); }

/* 1 << 21 in the high word: 2^53 */
#define TWO53_HI 0x200000u

/* f32 bits of RN24(RN53(m / d * 2^e)) for 0 < m < 2^53, 0 < d < 2^53;
 * ok = false when that is not a normal f32. */
uint mean_bits(uvec2 m, uvec2 d, int e, out bool ok)
{
    uvec2 r = m;
    while (!ge64(r, d)) { /* d <= r < 2d: the quotient's leading bit */
        r = shl64(r, 1u);
        e -= 1;
    }
    while (ge64(r, shl64(d, 1u))) {
        d = shl64(d, 1u);
        e += 1;
    }
    uvec2 q = uvec2(0u); /* 54 bits of r / d in [1, 2): 53 and a round bit */
    for (int i = 0; i < 54; i++) {
        q = shl64(q, 1u);
        if (ge64(r, d)) {
            r = sub64(r, d);
            q.x |= 1u;
        }
        r = shl64(r, 1u);
    }
    bool sticky = r != uvec2(0u);
    bool round_bit = (q.x & 1u) != 0u;
    q = shr_small(q, 1u);
    if (round_bit && (sticky || (q.x & 1u) != 0u)) /* RN53, ties to even */
        q = add64(q, uvec2(1u, 0u));
    if (q.y == TWO53_HI) {
        q = shr_small(q, 1u);
        e += 1;
    }
    uint f = (q.y << 3) | (q.x >> 29); /* RN24 of the double, 24 bits */
    bool rb = (q.x & 0x10000000u) != 0u, st = (q.x & 0x0FFFFFFFu) != 0u;
    if (rb && (st || (f & 1u) != 0u))
        f += 1u;
    if (f == 0x1000000u) {
        f >>= 1;
        e += 1;
    }
    ok = e >= -126 && e <= 127;
    return ok ? (uint(e + 127) << 23) | (f & 0x7FFFFFu) : 0u;
}

/* a << s (s >= 0) where the result stays below 2^53; else bad */
uvec2 shl53(uvec2 a, int s)
{
    if (a == uvec2(0u) || s == 0)
        return a;
    if (msb64(a) + s > 52) {
        bad = true;
        return uvec2(0u);
    }
    return shl64(a, uint(s));
}

void add_record(uvec4 r)
{
    if (r.w != 0u) { /* a negative, Inf or NaN absmax, or a term too wide */
        bad = true;
        return;
    }
    if (r.xy == uvec2(0u))
        return;
    int b = int(r.z);
    if (b < -149 || b > 104) {
        bad = true;
        return;
    }
    if (b < base) {
        sum = shl53(sum, base - b);
        base = b;
    }
    /* both below 2^53: no wrap */
    sum = add64(sum, shl53(r.xy, b - base));
    bad = bad || sum.y >= TWO53_HI;
}

void main()
{
    uint lid = gl_LocalInvocationID.x;
    if (lid == 0u) {
        s_base = NO_BASE;
        s_bad = 0u;
    }
    /* one sweep, four 16-byte loads in flight an invocation */
    for (uint k0 = lid; k0 < pc.runs; k0 += 1024u) {
        uvec4 r[4];
        [[unroll]] for (uint j = 0u; j < 4u; j++)
            r[j] = k0 + 256u * j < pc.runs ? rec.v[k0 + 256u * j] : uvec4(0u);
        [[unroll]] for (uint j = 0u; j < 4u; j++)
            add_record(r[j]);
    }
    barrier(); /* the shared words are set */
    atomicMin(s_base, base);
    barrier();
    int low = s_base;
    /* every share below 2^53 at the lowest base, else no proof: the 256
     * add below 2^61 */
    s_sum[lid] = shl53(sum, base - low);
    if (bad)
        atomicOr(s_bad, 1u);
    barrier();
    for (uint h = 128u; h > 0u; h >>= 1) {
        if (lid < h)
            s_sum[lid] = add64(s_sum[lid], s_sum[lid + h]);
        barrier();
    }
    if (lid != 0u)
        return;
    uvec2 m = s_sum[0], nb = uvec2(pc.nb_lo, pc.nb_hi);
    bool ok = s_bad == 0u && m.y < TWO53_HI && nb != uvec2(0u) && nb.y < TWO53_HI;
    uint bits = 0u; /* an all-zero total: +0 */
    if (ok && m != uvec2(0u))
        bits = mean_bits(m, nb, low, ok);
    result.w[0] = ok ? bits : 0u;
    result.w[1] = ok ? 1u : 0u;
}
