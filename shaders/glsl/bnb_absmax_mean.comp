#version 450
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
 * which sums the absmax itself and runs the nested pass again. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Rec { uint w[]; } rec;
layout(std430, binding = 1) writeonly buffer Result { uint w[]; } result;
layout(push_constant) uniform PC {
    uint runs;         /* records */
    uint nb_lo, nb_hi; /* absmax values */
} pc;

#define NO_BASE 1000 /* above any f32 lsb */

shared int s_base;
shared uint s_bad;
shared uvec2 s_sum[256];

/* 64-bit integers as uvec2(low, high) */
uvec2 add64(uvec2 a, uvec2 b)
{
    uint carry;
    uint lo = uaddCarry(a.x, b.x, carry);
    return uvec2(lo, a.y + b.y + carry);
}

uvec2 sub64(uvec2 a, uvec2 b)
{
    uint borrow;
    uint lo = usubBorrow(a.x, b.x, borrow);
    return uvec2(lo, a.y - b.y - borrow);
}

bool ge64(uvec2 a, uvec2 b) { return a.y > b.y || (a.y == b.y && a.x >= b.x); }

/* a << s for s < 64 (GLSL leaves shifts by 32 or more undefined) */
uvec2 shl64(uvec2 a, uint s)
{
    if (s == 0u)
        return a;
    if (s < 32u)
        return uvec2(a.x << s, (a.y << s) | (a.x >> (32u - s)));
    return uvec2(0u, a.x << (s - 32u));
}

uvec2 shr1(uvec2 a) { return uvec2((a.x >> 1) | (a.y << 31), a.y >> 1); }

int msb64(uvec2 a) { return a.y != 0u ? 32 + findMSB(a.y) : findMSB(a.x); }

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
    q = shr1(q);
    if (round_bit && (sticky || (q.x & 1u) != 0u)) /* RN53, ties to even */
        q = add64(q, uvec2(1u, 0u));
    if (q.y == TWO53_HI) {
        q = shr1(q);
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

void main()
{
    uint lid = gl_LocalInvocationID.x;
    if (lid == 0u) {
        s_base = NO_BASE;
        s_bad = 0u;
    }
    barrier();
    int base = NO_BASE;
    bool bad = false;
    for (uint k = lid; k < pc.runs; k += 256u) {
        uvec2 s = uvec2(rec.w[4u * k], rec.w[4u * k + 1u]);
        int b = int(rec.w[4u * k + 2u]);
        if (rec.w[4u * k + 3u] != 0u)
            bad = true; /* a negative, Inf or NaN absmax, or a term too wide */
        else if (s != uvec2(0u)) {
            if (b < -149 || b > 104)
                bad = true;
            else
                base = min(base, b);
        }
    }
    atomicMin(s_base, base);
    if (bad)
        atomicOr(s_bad, 1u);
    barrier();
    base = s_base;
    /* every term and partial total below 2^53, else no proof: nothing wraps */
    uvec2 sum = uvec2(0u);
    for (uint k = lid; k < pc.runs && !bad; k += 256u) {
        uvec2 s = uvec2(rec.w[4u * k], rec.w[4u * k + 1u]);
        if (s == uvec2(0u) || rec.w[4u * k + 3u] != 0u)
            continue;
        int shift = int(rec.w[4u * k + 2u]) - base; /* >= 0 */
        if (msb64(s) + shift > 52) {
            bad = true;
            break;
        }
        sum = add64(sum, shl64(s, uint(shift)));
        bad = sum.y >= TWO53_HI;
    }
    if (bad)
        atomicOr(s_bad, 1u);
    s_sum[lid] = sum;
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
        bits = mean_bits(m, nb, base, ok);
    result.w[0] = ok ? bits : 0u;
    result.w[1] = ok ? 1u : 0u;
}
