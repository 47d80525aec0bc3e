/* float8 codes of bf16 elements from a per-group table of their 7-bit
 * significands (rows and tiles; include after
 * qk_vk_products.glsl). Instead of the product, its T rounding and the
 * float8 rounding an element (qk_fp8_mag_code), an element costs a table
 * load and an add:
 *
 * - A bf16 magnitude is x = 2^(E - 127) (1 + s/128), E in [1, 254]. For
 *   a normal multiplier a = 2^(A - 127) (1 + sa/128) (qk_fp8_product_ok:
 *   A <= 226), take x_s with the same s and E0 = 254 - A (in [28, 253]):
 *   x_s a lies in [1, 4), inside both float8 formats' normal ranges and
 *   below their maxima, so qk_fp8_mag_code(x_s, a) is the normal-range
 *   code, unclamped.
 * - Scaling by 2^k (k = E - E0) commutes with the exact f32 product, with
 *   T's rounding (bf16 has f32's exponent range) and with a float8 normal
 *   rounding carried on past both ends of the format (the code counts
 *   binades: 8 codes a binade for e4m3, 4 for e5m2). So where x a is a
 *   normal f32, n = code(x_s) + 8k (e4m3; 4k e5m2) is that extended
 *   rounding of t = T(x a). The table holds L[s] = code(x_s) - 8 E0, and
 *   8E is (h >> 4) & 0x7F8 of the element's bits: n = that + L[s].
 * - If n >= 8 (e5m2: 4; the smallest normal code), n is the element's
 *   code magnitude: t >= 2^-6 (e5m2 2^-14) is the coder's normal branch,
 *   and a t below 2^-6 whose extended rounding reaches 2^-6 is at least
 *   2^-6 - 2^-11 (half a step of the binade below, a tie going to the
 *   even 2^-6), which the subnormal branch's steps of 2^-9 also round to
 *   2^-6, code 8 (e5m2: 2^-14 - 2^-18 and steps of 2^-16, code 4).
 * - No clamp: the coder's clamp to the largest value never acts on bf16
 *   groups here. scale = T(m / max) and a = T(1 / scale), each within a
 *   relative 2^-8 (a < 2^100 keeps scale normal), so every |x| a <=
 *   m a <= max (1 + 2^-8) / (1 - 2^-8) < 1.008 max: T rounds that to at
 *   most 452 (e5m2: 57856), below the midpoint to the next binade's code
 *   (464; 59392), so n never passes the largest code (0x7E; 0x7B).
 * - Otherwise t < 2^-6 (e5m2 2^-14; n is monotone in t), or x a is not
 *   a normal f32 (zeros, subnormal bf16, tiny products: n is then far
 *   below 8), which is the coder's subnormal branch (qk_fp8_sub_code):
 *   there t is below the largest value, so its clamp is idle too. A
 *   flushed x or product is below 2^-26 (a < 2^100), code 0 either way.
 *   One branch a vector (taken where any of its 8 elements needs it),
 *   then a select an element.
 * - A zero group's stand-in multiplier 2^64 (qk_product_factor) is normal
 *   and below 2^100 as well; its elements are zeros, which take the
 *   subnormal branch: code 0, the sign from the element.
 * test_products_every_pair compares every element up to every amax (on
 * GPUs; every 127th amax on lavapipe) against the exact coders. */
shared int s_fp8_sig[128];

/* The group's table (every invocation of nthreads calls it with the
 * uniform multiplier a; a barrier must follow before any lookup). */
void qk_fp8_sig_fill(uint mode, uint a, uint lid, uint nthreads)
{
    uint e0 = 254u - ((a >> 23) & 0xFFu);
    for (uint s = lid; s < 128u; s += nthreads) {
        uint c = qk_fp8_mag_code(mode, uintBitsToFloat((e0 << 23) | (s << 16)), uintBitsToFloat(a));
        s_fp8_sig[s] = int(c) - int(e0 << (mode == 0u ? 3u : 2u));
    }
}

/* The extended code n of the bf16 element at bit offset 16 i of w (see above). */
int qk_fp8_sig_code(uint mode, uint w, uint i)
{
    uint h = i == 0u ? w : w >> 16;
    int eb = int(mode == 0u ? (h >> 4) & 0x7F8u : (h >> 5) & 0x3FCu);
    return eb + s_fp8_sig[h & 0x7Fu];
}

/* The subnormal-range code magnitude of the bf16 element at bit offset
 * 16 i of w with multiplier a: qk_fp8_mag_code's branch for t below the
 * smallest normal. */
int qk_fp8_sub_code(uint mode, uint w, uint i, float a)
{
    precise float p = uintBitsToFloat((i == 0u ? w << 16 : w) & 0x7FFF0000u) * a;
    uint b = floatBitsToUint(p);
    uint t = (b + 0x7FFFu + ((b >> 16) & 1u)) & 0xFFFF0000u;
    precise float k = uintBitsToFloat(t) * (mode == 0u ? 512.0 : 65536.0) + 12582912.0; /* count of steps */
    return int(floatBitsToUint(k) & (mode == 0u ? 0xFu : 0x7u));
}

/* Two packed code words from the 8 code magnitudes n of the 16-bit
 * elements in w (pairs, element 0 lowest) and the elements' signs. */
uvec2 qk_fp8_pack8(uvec4 w, int n[8])
{
    uvec2 c;
    [[unroll]] for (uint q = 0u; q < 2u; q++) {
        uint wx = w[2u * q], wy = w[2u * q + 1u];
        c[q] = ((wx >> 8) & 0x80u) | ((wx >> 16) & 0x8000u) | ((wy << 8) & 0x800000u) | (wy & QK_F32_SIGN);
        [[unroll]] for (uint k = 0u; k < 4u; k++)
            c[q] |= uint(n[4u * q + k]) << (8u * k);
    }
    return c;
}

/* The codes of 8 bf16 elements (uvec4 of pairs, element 0 lowest) as two
 * packed words, by the table, or qk_fp8_sub_code where an element is
 * below the normal range. */
uvec2 qk_fp8_codes8_sig(uint mode, uvec4 w, float a)
{
    int n[8];
    [[unroll]] for (uint j = 0u; j < 8u; j++)
        n[j] = qk_fp8_sig_code(mode, w[j >> 1], j & 1u);
    int lo = min(min(min(n[0], n[1]), min(n[2], n[3])), min(min(n[4], n[5]), min(n[6], n[7])));
    int low = mode == 0u ? 8 : 4;
    if (lo < low) {
        [[unroll]] for (uint j = 0u; j < 8u; j++)
            n[j] = n[j] < low ? qk_fp8_sub_code(mode, w[j >> 1], j & 1u, a) : n[j];
    }
    return qk_fp8_pack8(w, n);
}
