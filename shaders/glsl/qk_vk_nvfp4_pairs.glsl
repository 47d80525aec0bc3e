/* NVFP4 codes of bf16/f16 input two elements at a time, on the 16-bit
 * magnitudes themselves (cuda/k_nvfp4_pairs.cuh is the same method).
 *
 * For an f32 bound c, |x| > c is m > h on x's 16-bit magnitude m, where h
 * is the largest 16-bit magnitude whose value is <= c: magnitudes order as
 * their values do, and no 16-bit value lies in (h, c]. A threshold word
 * holds h | 0x8000 in both halves; with m <= 0x7FFF the subtraction
 * (h | 0x8000) - m borrows nothing across the halves, and bit 15 of each
 * half of the difference is set exactly when m <= h. */

/* h for the bound c (finite, >= 0): bf16 truncates c; f16 rounds it down,
 * to the largest finite f16 at most, and below 2^-14 counts c's whole
 * units of 2^-24 (c = M 2^(e - 150), so that is M >> (126 - e)). */
uint qk_pair_floor16(uint dt, uint c)
{
    if (dt == DT_BF16)
        return c >> 16;
    if (c >= 0x477FE000u) /* 65504 */
        return 0x7BFFu;
    if (c >= 0x38800000u) /* 2^-14: rebias the exponent, truncate */
        return (c >> 13) - (112u << 10);
    uint e = c >> 23;
    return e < 95u ? 0u : (((c & 0x7FFFFFu) | 0x800000u) >> (126u - e));
}

uint qk_pair_threshold(uint dt, uint c) { return qk_pair_floor16(dt, c) * 0x10001u | 0x80008000u; }

/* The codes of words j and j + 1 as output bytes j and j + 1 (low 16
 * bits), each byte's first element in its high nibble. */
uint qk_pair_bytes(uint ca, uint cb)
{
    uint u = ca | (cb << 8);
    return ((u << 4) | (u >> 16)) & 0xFFFFu;
}

/* The E2M1 codes of the two elements of w: qk_nvfp4_code's count of bounds
 * passed, by a binary search on both halves (the low element's code in
 * bits 0-3, the high one's in bits 16-19) over the seven threshold words
 * hp. Each selection of the search is a multiply-add on the comparison
 * bits: both halves share the thresholds, so with b (0 or 1 in bits 0 and
 * 16) and a scalar difference d < 2^16, b * d adds d to the halves whose
 * bit is set. The first level compares with hp[3], the second with
 * h[1 + 4 b2], the third with h[2 (2 b2 + b1)] = h0 + b2 d40 + b1 d20 +
 * b2 b1 (h6 - h4 - h2 + h0): every half of the sum is a threshold word
 * (< 2^16), so the packed result is exact modulo 2^32 whatever the signs
 * of the terms. Fewer logic operations than selecting by masks (the
 * multiply-adds run on the FMA pipe on NVIDIA).
 * hs: hp[0], hp[1], hp[3]; d: qk_pair_steps(hp). */
uvec4 qk_pair_steps(uint hp[7])
{
    uint h0 = hp[0] & 0x7FFFu, h2 = hp[2] & 0x7FFFu, h4 = hp[4] & 0x7FFFu;
    return uvec4(h2 - h0, h4 - h0, (hp[6] & 0x7FFFu) - h4 - h2 + h0, (hp[5] & 0x7FFFu) - (hp[1] & 0x7FFFu));
}

uint qk_pair_bit(uint d) { return (~d >> 15) & 0x10001u; } /* 1 where m > h */

uint qk_pair_codes_madd(uint w, uvec3 hs, uvec4 d)
{
    uint m = w & 0x7FFF7FFFu;
    uint b2 = qk_pair_bit(hs.z - m);
    uint b1 = qk_pair_bit(hs.y + b2 * d.w - m);
    uint b0 = qk_pair_bit(hs.x + b2 * d.y + b1 * d.x + (b2 & b1) * d.z - m);
    return (b2 * 4u + b1 * 2u + b0) | ((w >> 12) & 0x80008u);
}
