/* float8 codes of f16 elements from a per-group table of their 10-bit
 * significands (tiles; include after qk_vk_products.glsl). The bf16
 * table's argument (qk_vk_fp8_sig_table.glsl) carried to f16, whose T has
 * f16's exponent range and subnormals:
 *
 * - An f16 magnitude with exponent field E in [1, 30] is x = 2^(E - 15)
 *   (1 + s/1024), as an f32 of biased exponent E + 112. For a normal
 *   multiplier a (a T value: 11 significant bits) of biased exponent A,
 *   take x_s = 2^(E0 - 127)(1 + s/1024), E0 = 254 - A: x_s a lies in
 *   [1, 4) and is an exact f32 (22 significant bits), inside both float8
 *   formats' normal ranges and below their maxima, so qk_fp8_mag_code(x_s,
 *   a) is the normal-range code, unclamped: the coder's normal branches
 *   (qk_t_round_normal, qk_fp8_normal_code) alone fill the table.
 * - Scaling by 2^k (k = E + 112 - E0) commutes with the exact product,
 *   with an f16 rounding carried on past both ends of f16's exponent range
 *   (ext-T) and with the float8 normal rounding carried on past both ends
 *   of the format (8 codes a binade for e4m3, 4 for e5m2). So n =
 *   code(x_s) + 8k (e5m2 4k) is the extended float8 rounding of ext-T(x a).
 *   The table holds L[s] = code(x_s) - 8 (E0 - 112) (e5m2 4 (E0 - 112)),
 *   and n = L[s] + 8E (4E), 8E being (h >> 7) & 0xF8 (4E (h >> 8) & 0x7C).
 * - If E >= 1 and n >= 8 (e5m2 4; the smallest normal code), n is the
 *   coder's code. The product p = x a is then at least about 2^-15, a
 *   normal f32, exact. If p >= 2^-14, T(p) = ext-T(p): for t = T(p) >=
 *   2^-6 (e5m2 2^-14) the coder's normal branch is the extended rounding;
 *   e4m3's t below 2^-6 with n = 8 is at least 2^-6 - 2^-11 (half a step
 *   of the binade below; the tie goes to the even 8), which the subnormal
 *   count (steps of 2^-9) also rounds to 8. If p < 2^-14, ext-T(p) <=
 *   2^-14, so e4m3's n < 8 (not this case) and e5m2's n = 4 needs ext-T(p)
 *   >= 2^-14 - 2^-18, so p >= 2^-14 - 2^-18 - 2^-26; the coder's T rounds
 *   p to a multiple of 2^-24 within 2^-25 of it, above 3.5 steps of 2^-16
 *   and at most 2^-14: its subnormal count is 4 as well.
 * - No clamp: scale = T(m / max) is within a relative 2^-11 of m / max
 *   where it is a normal f16; a finite a = T(1 / scale) <= 65504 needs
 *   scale >= 2^-16, so a subnormal scale (steps of 2^-24) is within 2^-9;
 *   a within 2^-11. So |x| a <= m a < max (1 + 2^-8) and T(x a) stays
 *   below the midpoint above the largest value (464 for e4m3, 61440 for
 *   e5m2, both below 65504): n never passes the largest code (0x7E, 0x7B).
 * - Every other element (E = 0: zeros and f16 subnormals, whose n from
 *   the bits would be wrong; or n below the smallest normal code) takes the
 *   whole product coder (qk_fp8_mag_code), exact by qk_vk_products.glsl.
 *   One branch a vector of 8 (taken where any element needs it), then a
 *   branch an element.
 * - The stand-in multiplier 2^64 of an infinite one (qk_product_factor)
 *   takes no table: every nonzero f16 codes as the largest value and a
 *   zero as itself (products head comment), qk_fp8_codes8_inf16.
 * test_products_every_pair compares every element up to every amax (on
 * GPUs; every 127th amax on lavapipe, where QK_TEST_EVERY_AMAX=1
 * QK_TEST_DTYPE=f16 took every amax too) against the other coders, and
 * test_thresholds_every_magnitude some amax against the reference.
 *
 * Rows include this with QK_FP8_SIG16_TABLE 0: no table (no shared memory,
 * no fill, no barrier), only kind 2. On the H200 the table lost on rows
 * (e4m3 rows of 4096 on 64 threads: 1024 entries to fill a row, 36% ->
 * 32% of the copy) and won on tiles (16384 elements a group: 36% -> 49%);
 * rows code by products (qk_fp8_codes4_product) outside the stand-in. */
#ifndef QK_FP8_SIG16_TABLE
#define QK_FP8_SIG16_TABLE 1
#endif
#if QK_FP8_SIG16_TABLE
const uint QK_SIG16_ENTRIES = QK_DT == DT_F16 ? 1024u : 1u; /* bf16/f32 pipelines keep no table */
shared int s_fp8_sig16[QK_SIG16_ENTRIES];

/* The group's table (every invocation of nthreads calls it with the
 * uniform normal multiplier a; a barrier must follow before any lookup). */
void qk_fp8_sig16_fill(uint mode, uint a, uint lid, uint nthreads)
{
    uint e0 = 254u - ((a >> 23) & 0xFFu);
    int off = int((e0 - 112u) << (mode == 0u ? 3u : 2u));
    for (uint s = lid; s < 1024u; s += nthreads) {
        /* qk_fp8_mag_code's normal branches: x_s a in [1, 4) */
        precise float p = uintBitsToFloat((e0 << 23) | (s << 13)) * uintBitsToFloat(a);
        s_fp8_sig16[s] = int(qk_fp8_normal_code(mode, qk_t_round_normal(floatBitsToUint(p)))) - off;
    }
}

/* The exponent term 8E (e5m2 4E) of the f16 element h (sign and upper
 * bits ignored): zero for zeros and subnormals. */
int qk_fp8_sig16_exp(uint mode, uint h)
{
    return int(mode == 0u ? (h >> 7) & 0xF8u : (h >> 8) & 0x7Cu);
}

/* The codes of 8 f16 elements (uvec4 of pairs, element 0 lowest) as two
 * packed words, by the table where the element is normal with n at
 * least the smallest normal code, else by qk_fp8_mag_code. */
uvec2 qk_fp8_codes8_sig16(uint mode, uvec4 w, float a)
{
    int n[8];
    int lo = 1 << 20, elo = 1 << 20;
    [[unroll]] for (uint j = 0u; j < 8u; j++) {
        uint h = (j & 1u) == 0u ? w[j >> 1] : w[j >> 1] >> 16;
        int eb = qk_fp8_sig16_exp(mode, h);
        n[j] = eb + s_fp8_sig16[h & 0x3FFu];
        lo = min(lo, n[j]);
        elo = min(elo, eb);
    }
    int low = mode == 0u ? 8 : 4;
    if (lo < low || elo == 0) {
        /* a branch an element, not a select: with f16 subnormals 1 in 400
         * of weight-like data, about half the warps come here, mostly
         * for one element */
        [[unroll]] for (uint j = 0u; j < 8u; j++) {
            uint h = ((j & 1u) == 0u ? w[j >> 1] : w[j >> 1] >> 16) & 0x7FFFu;
            [[dont_flatten]] if (n[j] < low || h < 0x400u)
                n[j] = int(qk_fp8_mag_code(mode, uintBitsToFloat(qk_f16_widen_finite(h)), a));
        }
    }
    return qk_fp8_pack8(w, n);
}
#endif

/* The codes of 8 f16 elements under the stand-in multiplier 2^64: the
 * largest code for every nonzero magnitude, zero for a zero. */
uvec2 qk_fp8_codes8_inf16(uint mode, uvec4 w)
{
    int n[8];
    int top = mode == 0u ? 0x7E : 0x7B;
    [[unroll]] for (uint j = 0u; j < 8u; j++)
        n[j] = ((((j & 1u) == 0u ? w[j >> 1] : w[j >> 1] >> 16) & 0x7FFFu) != 0u) ? top : 0;
    return qk_fp8_pack8(w, n);
}

/* The codes of 8 elements by a group table: kind 0 bf16's
 * (qk_vk_fp8_sig_table.glsl), 1 f16's (QK_FP8_SIG16_TABLE only), 2 f16
 * under the stand-in 2^64. Callers pass kind and mode as literals
 * (straight-line loops). */
uvec2 qk_fp8_codes8_table(uint kind, uint mode, uvec4 w, float a)
{
    if (kind == 0u)
        return qk_fp8_codes8_sig(mode, w, a);
#if QK_FP8_SIG16_TABLE
    if (kind == 1u)
        return qk_fp8_codes8_sig16(mode, w, a);
#endif
    return qk_fp8_codes8_inf16(mode, w);
}
