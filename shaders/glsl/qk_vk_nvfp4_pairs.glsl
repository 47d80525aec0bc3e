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

/* 0xFFFF in each half of m whose magnitude is <= that half's threshold. */
uint qk_pair_at_most(uint hp, uint m) { return (((hp - m) >> 15) & 0x10001u) * 0xFFFFu; }

uint qk_pair_pick(uint mask, uint a, uint b) { return (mask & a) | (~mask & b); }

/* The E2M1 codes of the two elements of w: qk_nvfp4_code's count of bounds
 * passed, by a binary search on both halves (the low element's code in
 * bits 0-3, the high one's in bits 16-19). hp: the seven threshold words. */
uint qk_pair_codes(uint w, uint hp[7])
{
    uint m = w & 0x7FFF7FFFu;
    uint le3 = qk_pair_at_most(hp[3], m); /* code < 4 */
    uint le1 = qk_pair_at_most(qk_pair_pick(le3, hp[1], hp[5]), m);
    uint le0 = qk_pair_at_most(qk_pair_pick(le1, qk_pair_pick(le3, hp[0], hp[4]), qk_pair_pick(le3, hp[2], hp[6])), m);
    return (~le3 & 0x40004u) | (~le1 & 0x20002u) | (~le0 & 0x10001u) | ((w >> 12) & 0x80008u);
}

/* The codes of words j and j + 1 as output bytes j and j + 1 (low 16
 * bits), each byte's first element in its high nibble. */
uint qk_pair_bytes(uint ca, uint cb)
{
    uint u = ca | (cb << 8);
    return ((u << 4) | (u >> 16)) & 0xFFFFu;
}
