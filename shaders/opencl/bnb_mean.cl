/* Double quant's offset on the device, so that the nested pass follows the
 * records with no host round trip: the mean qk_bnb_mean_from_partials
 * (src/ref/bnb_mean.c) takes from the records (bnb_absmax_sum's, one a
 * run of 4096 absmax, or bnb4_quantize64_rec's, one a work-group), in
 * integer code (Vulkan's bnb_absmax_mean.comp computes the same). One
 * work-group. Where
 * the records prove that no order of the sum can round (every term exact,
 * the total M * 2^L below 2^(L+53), L the lowest base), the reference's
 * double sum is that exact total and (float)(sum / nb) is two roundings of
 * the exact quotient, to 53 bits and then to 24: both by long division.
 * result[1] = 1 says result[0] is the offset; 0 (a bad or too wide record,
 * a total that may have rounded, a mean that is not a normal f32) leaves it
 * to the host, which sums the absmax itself and codes the nested blocks
 * again. */

/* f32 bits of RN24(RN53(m / d * 2^e)) for 0 < m, d < 2^53; *ok = 0 when
 * that is not a normal f32. */
static inline uint bnb_mean_bits(ulong m, ulong d, int e, int *ok)
{
    ulong r = m;
    while (r < d) { /* d <= r < 2d: the quotient's leading bit */
        r <<= 1;
        e -= 1;
    }
    while (r >= (d << 1)) {
        d <<= 1;
        e += 1;
    }
    ulong q = 0; /* 54 bits of r / d in [1, 2): 53 and a round bit */
    for (int i = 0; i < 54; i++) {
        q <<= 1;
        if (r >= d) {
            r -= d;
            q |= 1;
        }
        r <<= 1;
    }
    int sticky = r != 0, round_bit = (int)(q & 1);
    q >>= 1;
    if (round_bit && (sticky || (q & 1) != 0)) /* RN53, ties to even */
        q += 1;
    if (q == ((ulong)1 << 53)) {
        q >>= 1;
        e += 1;
    }
    uint f = (uint)(q >> 29); /* RN24 of the double */
    int rb = (int)((q >> 28) & 1), st = (q & 0x0FFFFFFF) != 0;
    if (rb && (st || (f & 1u) != 0u))
        f += 1u;
    if (f == 0x1000000u) {
        f >>= 1;
        e += 1;
    }
    *ok = e >= -126 && e <= 127;
    return *ok ? ((uint)(e + 127) << 23) | (f & 0x7FFFFFu) : 0u;
}

/* Record r as bnb_rec_merge's (s, b): BAD where it proves nothing (flags
 * set, or a nonzero sum whose base is no f32 lsb). */
static inline void bnb_rec_of(uint4 r, ulong *s, int *b)
{
    *s = (ulong)r.x | ((ulong)r.y << 32);
    *b = (int)r.z;
    if (r.w != 0u || (*s != 0 && (*b < -149 || *b > 104))) {
        *s = BNB_REC_BAD;
        *b = 0;
    }
}

/* One work-group of a power-of-two size; ls, lb: a ulong and an int a
 * work-item. Each record is read once, four loads a work-item in flight
 * at a time (a single work-group waits on each round of loads), merged
 * exactly in any order (bnb_rec_merge: the total is BAD exactly when the
 * old two-pass check, lowest base first, failed). */
__kernel void bnb_absmax_mean(__global const uint *rec, ulong runs, ulong nb, __global uint *result,
                              __local ulong *ls, __local int *lb)
{
    uint L = get_local_size(0), lid = get_local_id(0);
    __global const uint4 *r4 = (__global const uint4 *)rec; /* 16-byte records, buffer-aligned */
    ulong S = 0;
    int B = 0;
    for (ulong k = lid; k < runs; k += 4 * (ulong)L) {
        uint4 q[4];
#pragma unroll
        for (int j = 0; j < 4; j++)
            q[j] = k + (ulong)j * L < runs ? r4[k + (ulong)j * L] : (uint4)(0u, 0u, 0u, 0u);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            ulong s;
            int b;
            bnb_rec_of(q[j], &s, &b);
            bnb_rec_merge(&S, &B, s, b);
        }
    }
    bnb_rec_group(&S, &B, ls, lb);
    if (lid != 0u)
        return;
    int ok = S < BNB_REC_LIM && nb != 0 && nb < ((ulong)1 << 53);
    uint bits = 0u; /* an all-zero total: +0 */
    if (ok && S != 0)
        bits = bnb_mean_bits(S, nb, B, &ok);
    result[0] = ok ? bits : 0u;
    result[1] = ok ? 1u : 0u;
}
