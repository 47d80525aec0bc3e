/* Stores 8 f32 values as elements e .. e+7 (e a multiple of 8) of the `dst`
 * output buffer, declared as uvec4 words, in dtype dt. A whole vector goes
 * out as one (f16/bf16) or two (f32) 16-byte stores, so a warp writes
 * contiguous memory with few instructions. Elements at or past n are not
 * written; words they share with earlier elements are, as zero. */
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
        h[k] = qk_narrow(dt, v[2u * k]) | (qk_narrow(dt, v[2u * k + 1u]) << 16);
    if (e + 8u <= n) {
        dst.w[e >> 3] = uvec4(h[0], h[1], h[2], h[3]);
        return;
    }
    for (uint k = 0u; k < 4u; k++)
        if (e + 2u * k < n)
            dst.w[e >> 3][k] = e + 2u * k + 1u < n ? h[k] : h[k] & 0xFFFFu;
}

/* Whether every product of f and a code value v with 2^-16 <= |v| < 2^16
 * (any float8, E2M1 or int8 value but 0) is a normal f32: |f| in
 * [2^-109, 2^111). There the `precise` native product, correctly rounded
 * under RoundingModeRTE, is qk_mul's (a zero code gives a signed zero,
 * exact too). */
bool qk_plain_factor(uint f)
{
    return ((f >> 23) & 0xFFu) - 18u < 220u;
}
