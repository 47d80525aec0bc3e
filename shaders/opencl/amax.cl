/* Whole-tensor amax: the largest |x| as f32 bits (NaN patterns sort above
 * Inf, so amax >= 0x7F800000 flags a non-finite input). Each work-group
 * reduces in local memory and folds its result in with one atomic_max on
 * uint keys: the max is order-free, so the result is deterministic.
 * *amax must be 0 before the launch. */
__kernel void amax_tensor(__global const uchar *in, int dt, ulong n, __global uint *amax,
                          __local uint *red)
{
    uint m = 0u;
    ulong gs = get_global_size(0);
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
    m = seg_max(red, m, (uint)get_local_size(0));
    if (get_local_id(0) == 0)
        atomic_max(amax, m);
}
