/* ConvRot (src/ref/convrot.c): each group of G consecutive values of a row
 * (G = 4^levels, cols a multiple of G) is rotated by the normalized regular
 * Hadamard transform, as one H4 butterfly per base-4 digit, lowest first,
 * with the reference's order of additions, then scaled by 2^-levels.
 * One work-group per group; the group lives in local memory. */

/* The H4 butterfly on the local words v[i0], v[i1], v[i2], v[i3] (a
 * group's values p, p + s, p + 2 s, p + 3 s, wherever a kernel keeps
 * them), every sum by qk_add. */
static inline void convrot_h4_exact(__local uint *v, uint i0, uint i1, uint i2, uint i3)
{
    uint a = v[i0], b = v[i1], c = v[i2], d = v[i3];
    uint ab = qk_add(a, b);
    v[i0] = qk_add(qk_add(ab, c), d ^ QK_F32_SIGN);                    /* ((a+b)+c)-d */
    v[i1] = qk_add(qk_add(ab, c ^ QK_F32_SIGN), d);                    /* ((a+b)-c)+d */
    v[i2] = qk_add(qk_add(qk_add(a, b ^ QK_F32_SIGN), c), d);          /* ((a-b)+c)+d */
    v[i3] = qk_add(qk_add(qk_add(b, a ^ QK_F32_SIGN), c), d);          /* ((b-a)+c)+d */
}

/* Every level over v[0 .. n), n a multiple of G = 4^levels (the base-4
 * digits below G's are each group's own), a barrier after each. */
static void convrot_local(__local uint *v, uint n, uint levels)
{
    uint L = get_local_size(0), lid = get_local_id(0);
    for (uint lvl = 0, stride = 1; lvl < levels; lvl++, stride *= 4) {
        for (uint q = lid; q < n / 4; q += L) {
            uint p = q / stride * 4 * stride + q % stride;
            convrot_h4_exact(v, p, p + stride, p + 2 * stride, p + 3 * stride);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* Rotates `in` into `out` (same dtype: the rotated weight rounded to T). */
__kernel void convrot_rotate(__global const uchar *in, int dt, ulong n, uint G, uint levels,
                             __global uchar *out, __local uint *v)
{
    uint L = get_local_size(0), lid = get_local_id(0);
    uint scale = (127u - levels) << 23;
    for (ulong g = get_group_id(0); g < n / G; g += get_num_groups(0)) {
        ulong base = g * G;
        for (uint k = lid; k < G; k += L)
            v[k] = ld(in, dt, base + k);
        barrier(CLK_LOCAL_MEM_FENCE);
        convrot_local(v, G, levels);
        for (uint k = lid; k < G; k += L)
            st_raw(out, dt, base + k, narrow(dt, qk_mul(v[k], scale)));
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* int8 codes * per-row scale in f32, unrotated, then rounded to T. */
__kernel void convrot_dequantize(__global const uchar *data, __global const uint *rscale, int dt,
                                 ulong n, ulong cols, uint G, uint levels, __global uchar *out,
                                 __local uint *v)
{
    uint L = get_local_size(0), lid = get_local_id(0);
    uint scale = (127u - levels) << 23;
    for (ulong g = get_group_id(0); g < n / G; g += get_num_groups(0)) {
        ulong base = g * G;
        uint s = rscale[base / cols];
        for (uint k = lid; k < G; k += L)
            v[k] = qk_mul(as_uint(convert_float((char)data[base + k])), s);
        barrier(CLK_LOCAL_MEM_FENCE);
        convrot_local(v, G, levels);
        for (uint k = lid; k < G; k += L)
            st_raw(out, dt, base + k, narrow(dt, qk_mul(v[k], scale)));
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}
