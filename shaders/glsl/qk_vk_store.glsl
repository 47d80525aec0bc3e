/* Stores of 8 elements e .. e+7 (e a multiple of 8) of the `dst` output
 * buffer, declared as uvec4 words. A whole vector goes out as one
 * (f16/bf16) or two (f32) 16-byte stores, so a warp writes contiguous
 * memory with few instructions. Elements at or past n are not written;
 * words they share with earlier elements are, as zero. */

/* h: f32 bits (dt f32) or 16-bit values (f16/bf16), already in dtype dt. */
void qk_store8_bits(uint dt, uint e, uint n, uint h[8])
{
    if (dt == DT_F32) {
        if (e + 8u <= n) {
            dst.w[e >> 2] = uvec4(h[0], h[1], h[2], h[3]);
            dst.w[(e >> 2) + 1u] = uvec4(h[4], h[5], h[6], h[7]);
            return;
        }
        for (uint j = 0u; j < 8u; j++)
            if (e + j < n)
                dst.w[(e + j) >> 2][(e + j) & 3u] = h[j];
        return;
    }
    uint w[4];
    for (uint k = 0u; k < 4u; k++)
        w[k] = h[2u * k] | (e + 2u * k + 1u < n ? h[2u * k + 1u] << 16 : 0u);
    if (e + 8u <= n) {
        dst.w[e >> 3] = uvec4(w[0], w[1], w[2], w[3]);
        return;
    }
    for (uint k = 0u; k < 4u; k++)
        if (e + 2u * k < n)
            dst.w[e >> 3][k] = w[k];
}

/* v: f32 values, rounded to dtype dt (RNE) on the way out. Self-contained,
 * the narrowing inside the packing: narrowing the array first and then
 * calling qk_store8_bits was part of a change (cb0cbf0) that took
 * float8/int8 dequantize from 66-74% of the copy to 29% on the H200. */
void qk_store8(uint dt, uint e, uint n, uint v[8])
{
    if (dt == DT_F32) {
        if (e + 8u <= n) {
            dst.w[e >> 2] = uvec4(v[0], v[1], v[2], v[3]);
            dst.w[(e >> 2) + 1u] = uvec4(v[4], v[5], v[6], v[7]);
            return;
        }
        for (uint j = 0u; j < 8u; j++)
            if (e + j < n)
                dst.w[(e + j) >> 2][(e + j) & 3u] = v[j];
        return;
    }
    uint h[4];
    for (uint k = 0u; k < 4u; k++)
        h[k] = qk_narrow2(dt, v[2u * k], v[2u * k + 1u]);
    if (e + 8u <= n) {
        dst.w[e >> 3] = uvec4(h[0], h[1], h[2], h[3]);
        return;
    }
    for (uint k = 0u; k < 4u; k++)
        if (e + 2u * k < n)
            dst.w[e >> 3][k] = e + 2u * k + 1u < n ? h[k] : h[k] & 0xFFFFu;
}

/* f32 elements e .. e+3 (e a multiple of 4) as one 16-byte store. The f32
 * dequantize shaders give consecutive threads consecutive quads, so a
 * subgroup's store instruction writes contiguous memory: qk_store8's two
 * stores 32 bytes apart each wrote half of every sector they touched. */
void qk_store4_f32(uint e, uint n, uint v[4])
{
    if (e + 4u <= n) {
        dst.w[e >> 2] = uvec4(v[0], v[1], v[2], v[3]);
        return;
    }
    for (uint j = 0u; e + j < n; j++)
        dst.w[e >> 2][j] = v[j];
}
