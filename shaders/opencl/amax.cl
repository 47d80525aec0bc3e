/* Whole-tensor amax: the largest |x| as f32 bits (NaN patterns sort above
 * Inf, so amax >= 0x7F800000 flags a non-finite input). Each work-group
 * reduces in local memory and folds its result in with one atomic_max on
 * uint keys: the max is order-free, so the result is deterministic.
 * *amax must be 0 before the launch.
 * bf16/f16 input is reduced on its 16-bit magnitudes and widened once: |h|
 * orders finite bf16 and f16 values as their f32 widenings do, and NaN
 * patterns lie above Inf in both, so the result is the same for finite
 * input and still >= Inf otherwise, without a widening per element. The
 * two halves of each word keep their own max. */
__kernel void amax_tensor(__global const uchar *in, int dt, ulong n, __global uint *amax,
                          __local uint *red)
{
    uint m = 0u;
    ulong gs = get_global_size(0);
    if (dt == DT_F32) {
        ulong units = n / 8;
        for (ulong u = get_global_id(0); u < units; u += gs) {
            uint v[8];
            ld8(in, dt, u * 8, v);
#pragma unroll
            for (int k = 0; k < 8; k++)
                m = max(m, v[k] & QK_F32_ABS);
        }
        for (ulong i = units * 8 + get_global_id(0); i < n; i += gs)
            m = max(m, ld(in, dt, i) & QK_F32_ABS);
    } else {
        __global const uint4 *w = (__global const uint4 *)in;
        __global const ushort *h = (__global const ushort *)in;
        uint lo = 0u, hi = 0u; /* low halves' magnitudes; high halves' in bits 16..30 */
        ulong units = n / 8, u = get_global_id(0);
        /* four loads in flight a step, then the rest one at a time (H200:
         * bf16 per-tensor quantize 0.71 -> 0.70 ms) */
        for (; units >= 3 * gs && u < units - 3 * gs; u += 4 * gs) {
            uint4 a[4] = {w[u], w[u + gs], w[u + 2 * gs], w[u + 3 * gs]};
#pragma unroll
            for (int k = 0; k < 4; k++)
                amax16_word4(a[k], &lo, &hi);
        }
        for (; u < units; u += gs)
            amax16_word4(w[u], &lo, &hi);
        for (ulong i = units * 8 + get_global_id(0); i < n; i += gs)
            lo = max(lo, (uint)h[i] & 0x7FFFu);
        m = widen16(dt, max(lo, hi >> 16));
    }
    m = seg_max(red, m, (uint)get_local_size(0));
    if (get_local_id(0) == 0)
        atomic_max(amax, m);
}
