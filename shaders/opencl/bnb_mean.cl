/* Double quant's offset on the device, so that the nested pass follows the
 * records with no host round trip: the mean qk_bnb_mean_from_partials
 * (src/ref/bnb_mean.c) takes from bnb_absmax_sum's records, in integer
 * code (Vulkan's bnb_absmax_mean.comp is the same). One work-group. Where
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

/* One work-group of a power-of-two size; part: a ulong a work-item. */
__kernel void bnb_absmax_mean(__global const uint *rec, ulong runs, ulong nb, __global uint *result,
                              __local ulong *part, __local int *misc)
{
    uint L = get_local_size(0), lid = get_local_id(0);
    if (lid == 0u) {
        misc[0] = INT_MAX;
        misc[1] = 0;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    int base = INT_MAX, bad = 0;
    for (ulong k = lid; k < runs; k += L) {
        ulong s = (ulong)rec[4 * k] | ((ulong)rec[4 * k + 1] << 32);
        int b = (int)rec[4 * k + 2];
        if (rec[4 * k + 3] != 0u)
            bad = 1; /* a negative, Inf or NaN absmax, or a term too wide */
        else if (s != 0) {
            if (b < -149 || b > 104)
                bad = 1;
            else
                base = min(base, b);
        }
    }
    atomic_min(&misc[0], base);
    if (bad)
        atomic_or(&misc[1], 1);
    barrier(CLK_LOCAL_MEM_FENCE);
    base = misc[0];
    /* every term and partial total below 2^53, else no proof: nothing wraps */
    ulong sum = 0;
    for (ulong k = lid; k < runs && !bad; k += L) {
        ulong s = (ulong)rec[4 * k] | ((ulong)rec[4 * k + 1] << 32);
        if (s == 0 || rec[4 * k + 3] != 0u)
            continue;
        int shift = (int)rec[4 * k + 2] - base; /* >= 0 */
        if (63 - (int)clz(s) + shift > 52) {
            bad = 1;
            break;
        }
        sum += s << shift;
        bad = sum >= ((ulong)1 << 53);
    }
    if (bad)
        atomic_or(&misc[1], 1);
    part[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint h = L / 2; h > 0; h >>= 1) {
        if (lid < h)
            part[lid] += part[lid + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid != 0u)
        return;
    ulong m = part[0];
    int ok = misc[1] == 0 && m < ((ulong)1 << 53) && nb != 0 && nb < ((ulong)1 << 53);
    uint bits = 0u; /* an all-zero total: +0 */
    if (ok && m != 0)
        bits = bnb_mean_bits(m, nb, base, &ok);
    result[0] = ok ? bits : 0u;
    result[1] = ok ? 1u : 0u;
}
