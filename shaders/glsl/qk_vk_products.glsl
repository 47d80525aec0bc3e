/* int8 and float8 codes of bf16/f16 elements by native products, shared
 * by the row and tile shaders (include after qk_vk_scaled.glsl; needs
 * QK_DT): one multiply an element instead of a search over the group's
 * thresholds. Each group first asks qk_product_factor whether its scale
 * allows them.
 *
 * int8: by a product with the divisor's reciprocal. The codes equal
 * qk_scaled_code's, whose x / d is a correctly rounded division, for every
 * divisor d a row or tile can have and every element x it can hold
 * (|x| <= amax):
 *
 * - r = RN(1/d) is computed once per group by qk_div; q0 = RN(x r) is then
 *   within two ulp of x / d.
 * - The codes take q0 as the quotient. bf16: with 8-bit x and d, x / d is
 *   never within 2^-15 (relative) of a point halfway between bf16 values,
 *   so q0 and the correctly rounded quotient round to the same bf16. f16
 *   leaves no such margin in general, but over the pairs a group can hold
 *   no q0 changes a code: test_products_every_pair (tests/test_vulkan.c)
 *   compares these codes with the shaders' other coders for every amax
 *   and every element up to it, both dtypes, rows and tiles, on GPUs (and
 *   passed the same on lavapipe with every amax). A correction step (the
 *   residual x - q0 d, exact by splitting q0 into 12-bit halves: Vulkan
 *   leaves fma's rounding open) changed no code there and is left out.
 * - The dtype rounding runs on the f32 bits (ties to even at bit 16, or
 *   13 for f16, whose quotients below 2^-14 code as 0 whatever their
 *   rounding), the int8 rounding (ties to even) is the low byte of
 *   v + 1.5 * 2^23 for the clamped v.
 *
 * Flushed subnormals cannot change a code: the path needs d >= 2^-100
 * (both scale floors are above it), so a subnormal x or product means
 * |x / d| < 2^-26, code 0 either way. Groups hold |x| <= amax and
 * d >= amax / 127.5, so no product overflows. */

/* int8 with one clamp instruction an element instead of two:
 * where the divisor d is a normal value of T, RN(|x| r) and the T
 * rounding never pass 127.5 for |x| <= m, the group's amax. d is T's
 * rounding of s >= m / 127 (1 - 2^-24) (the floors only raise it), at most
 * half an ulp below it: d >= s (1 - 2^-8) (bf16; f16 2^-11), so
 * m / d <= 127.4981 (bf16; f16 127.07) and, with the two f32 roundings
 * of q0, the T-rounded quotient is at most 127.5 (bf16: the nearest T
 * value; f16 127.0625). So v >= -127.5, which rounds to -128 or above:
 * int8_tensorwise needs only min(v, 127); int8_blockwise's symmetric
 * [-127, 127] is one integer min on the magnitude bits before the sign.
 * bf16's divisors are always normal (floors 1e-30, T(1e-8)); f16's are
 * wherever qk_int8_native16 holds (d >= 2^-13), and the other f16 groups
 * (m / d up to 190.5) keep both clamps. Rounding commutes with these
 * clamps (127 and -127 are integers). The exhaustive test_products_every_pair
 * covers it: every amax, every element up to it, both dtypes. */

/* RN(1/d) where the product path may use it (d: the group's divisor, f32
 * bits), else 0. */
uint qk_int8_reciprocal(uint d)
{
    return d >= 0x0D800000u && d < QK_F32_INF ? qk_div(QK_F32_ONE, d) : 0u;
}

/* The int8 codes (mode 2 int8_tensorwise, 3 int8_blockwise) of four f32
 * values x by products with r = qk_int8_reciprocal(d) (nonzero), packed
 * (x[0] lowest). With z = x / d and |e1|, |e2| <= 2^-24, q0 = RN(x r) = z
 * (1 + e1)(1 + e2); where |q0| <= 256 it lies within 2^-15 of z, and the
 * reference's RN(z) within 2^-16 of z: under 2^-13 apart. So where q0 lies
 * at least 2^-13 from every point halfway between integers, its nearest
 * integer k (ties to even: the low bits of q0 + 1.5 * 2^23) is RN(z)'s,
 * the reference's, and clamping commutes with it. A subnormal x or q0
 * (flushed or not) means |z| < 2^-26 (d >= 2^-100): code 0 either way.
 * Sets near where some q0 lies closer than that or past 256 (about 2^-12
 * of values); the caller then codes the four by qk_scaled_code. The same
 * argument as the CUDA and OpenCL f32 codes (f32_quotients_by_product,
 * int8_code_f32_bounded), whose checks run it over every f32 x for four divisors
 * and over crafted quotients on both sides of the margin. */
uint qk_int8_codes4_f32(uint mode, uvec4 x, float r, inout bool near)
{
    uint word = 0u;
    [[unroll]] for (uint j = 0u; j < 4u; j++) {
        precise float q0 = uintBitsToFloat(x[j]) * r;
        precise float b = q0 + 12582912.0; /* 1.5 * 2^23 */
        int k = int(floatBitsToUint(b)) - 0x4B400000;
        precise float dq = q0 - float(k);
        near = near || abs(dq) >= 0.4998779296875 || abs(q0) > 256.0; /* 0.5 - 2^-13 */
        word |= uint(clamp(k, mode == 3u ? -127 : -128, 127) & 0xFF) << (8u * j);
    }
    return word;
}

/* T's rounding (ties to even) of the f32 bits b in T's normal range. */
uint qk_t_round_normal(uint b)
{
    return QK_DT == DT_BF16 ? (b + 0x7FFFu + ((b >> 16) & 1u)) & 0xFFFF0000u
                            : (b + 0xFFFu + ((b >> 13) & 1u)) & 0xFFFFE000u;
}

/* bf16's rounding (to nearest, ties to even) of the f32 bits b, |b| <
 * 2^111 (zero or normal; a subnormal b may come out as 0), by Veltkamp's
 * split: with c = RN(x (2^16 + 1)), RN(c - RN(c - x)) is x rounded to 8
 * significant bits. Three f32 operations where the bits' rounding takes
 * four integer ones (NVIDIA: twice the f32 issue rate). test_codec_arith's
 * test_bf16_round_split compares it with the bits' rounding for every
 * positive f32 below 2^111 (the sign is symmetric); c stays finite there. */
uint qk_bf16_round_split(uint b)
{
    precise float x = uintBitsToFloat(b);
    precise float c = x * 65537.0;
    precise float d = c - x;
    precise float h = c - d;
    return floatBitsToUint(h);
}

/* T(RN(x r)) as f32 bits: the quotient rounded to the dtype; with
 * clamp127, its magnitude clamped to 127 first. */
uint qk_int8_quotient_t(float x, float r, bool clamp127)
{
    precise float q0 = x * r;
    uint q = floatBitsToUint(q0);
    if (QK_DT == DT_BF16 && !clamp127)
        return qk_t_round_normal(q); /* on the signed bits: a finite q's rounding add never reaches bit 31 */
    uint a = q & QK_F32_ABS, t;
    if (QK_DT == DT_BF16)
        t = qk_t_round_normal(a);
    else
        t = a < 0x38800000u ? 0u : qk_t_round_normal(a);
    if (clamp127)
        t = min(t, 0x42FE0000u /* 127 */);
    return t | (q & QK_F32_SIGN);
}

/* The code of x (a bf16/f16 element as f32). mode: 2 int8_tensorwise,
 * 3 int8_blockwise; r: the reciprocal of the group's divisor; normal_d:
 * the divisor is a normal T value (one clamp, above). */
uint qk_int8_code_rcp(uint mode, float x, float r, bool normal_d)
{
    precise float v = uintBitsToFloat(qk_int8_quotient_t(x, r, normal_d && mode == 3u));
    if (normal_d) {
        if (mode == 2u)
            v = min(v, 127.0);
    } else {
        v = clamp(v, mode == 3u ? -127.0 : -128.0, 127.0);
    }
    precise float biased = v + 12582912.0; /* 1.5 * 2^23: rounds v to an integer, ties to even */
    return floatBitsToUint(biased) & 0xFFu;
}

/* Whether f16 elements may be widened natively (unpackHalf2x16, which may
 * flush subnormals): with d >= 2^-13 a subnormal x has |x / d| < 1/2, code
 * 0 either way. d: the group's divisor (f32 bits); uniform. */
bool qk_int8_native16(uint d) { return QK_DT == DT_F16 && d >= 0x39000000u; }

/* Element i (0..3) of the bf16 pairs in w as f32 bits, AND-ed with mask
 * (0xFFFF0000: the value; 0x7FFF0000: its magnitude): one or two
 * instructions, the element's 16 bits never isolated first. */
uint qk_bf16_at(uvec2 w, uint i, uint mask)
{
    return ((i & 1u) == 0u ? w[i >> 1] << 16 : w[i >> 1]) & mask;
}

/* The four codes of the 16-bit elements in w (element 0 lowest), packed.
 * native16: the group's qk_int8_native16 (f16 widened by unpackHalf2x16). */
uint qk_int8_codes4_rcp(uint mode, uvec2 w, float r, bool native16)
{
    uint c[4];
    if (native16) {
        [[unroll]] for (uint i = 0u; i < 2u; i++) {
            vec2 f = unpackHalf2x16(w[i]);
            c[2u * i] = qk_int8_code_rcp(mode, f.x, r, true);
            c[2u * i + 1u] = qk_int8_code_rcp(mode, f.y, r, true);
        }
    } else {
        [[unroll]] for (uint i = 0u; i < 4u; i++) {
            uint x = QK_DT == DT_BF16 ? qk_bf16_at(w, i, 0xFFFF0000u)
                                      : qk_f16_widen_finite((w[i >> 1] >> (16u * (i & 1u))) & 0xFFFFu);
            c[i] = qk_int8_code_rcp(mode, uintBitsToFloat(x), r, QK_DT == DT_BF16);
        }
    }
    return c[0] | (c[1] << 8) | (c[2] << 16) | (c[3] << 24);
}

/* float8: by one product with the multiplier a. The codes equal
 * qk_scaled_code's (fp8(clamp(T(x * a), fpmax)), the reference's fp8_code)
 * wherever qk_fp8_product_ok(a) holds:
 *
 * - x and a are values of T (8 or 11 significant bits), so |x| * a has at
 *   most 22 and the f32 product is exact whenever it is normal. A product
 *   or element below 2^-126 that the device flushes has |x * a| < 2^-26
 *   (a < 2^100), code 0 either way; the sign comes from the element, as
 *   the reference's does (a flush cannot lose it).
 * - The T rounding runs on the f32 bits (ties to even at bit 16, or bit 13
 *   in f16's normal range); f16's subnormal range rounds to a multiple of
 *   2^-24 by adding and removing 0.75 (ulp 2^-24 there), exact under RTE.
 *   A rounding past T's largest value is clamped like the Inf it stands
 *   for.
 * - The clamped magnitude's fp8 rounding also runs on the bits (normal
 *   range) or by scaling the subnormal range to an integer count of the
 *   smallest step: a power-of-two product, then + 1.5 * 2^23 (ties to
 *   even). A count that reaches the smallest normal is its code too.
 *
 * An infinite multiplier (T(1 / scale) overflows T: f16 groups of amax
 * below about 0.875 for e5m2, 0.0068 for e4m3 -- most f16 e5m2 rows of
 * weight-like data -- and every zero group, whose scale is 0) has the
 * same codes as the stand-in 2^64 (qk_product_factor) in f16 groups and
 * zero groups of any 16-bit dtype. The reference codes a zero element as
 * its signed zero and any other x as T(x * Inf) = Inf, clamped: sign |
 * the largest code. With 2^64, a zero's product is a zero (the sign comes
 * from the element), and every nonzero f16 is at least 2^-24, so x * 2^64
 * is at least 2^40 (above both formats' clamps, 448 and 57344) and at
 * most 65504 * 2^64 < 2^80 (an exact, normal f32): the clamp gives the
 * largest code. bf16 groups with nonzero elements keep the other coder
 * (a bf16 element can be as small as 2^-133). test_products_every_pair
 * covers these groups (every f16 amax below the thresholds on GPUs, every
 * 127th on CPU devices; the zero amax of both dtypes), and
 * test_thresholds_every_magnitude compares some with the reference. */

/* Whether codes by products hold for the group's multiplier a (f32 bits):
 * normal, below 2^100. Not for NaN/Inf input (the caller checks). */
bool qk_fp8_product_ok(uint a) { return a - 0x00800000u < 0x71800000u - 0x00800000u; }

/* The float8 code of t (f32 bits) in the format's normal range (t >=
 * 2^-6, e5m2 2^-14), unclamped. The rebias (- (120 << 3) codes, e4m3)
 * is folded into the rounding add: t - (120 << 23) stays positive there
 * and the shift gives the code directly. */
uint qk_fp8_normal_code(uint mode, uint t)
{
    return mode == 0u ? (t + (0x7FFFFu - (120u << 23)) + ((t >> 20) & 1u)) >> 20
                      : (t + (0xFFFFFu - (112u << 23)) + ((t >> 21) & 1u)) >> 21;
}

/* The code of a finite element's magnitude x (f32) with multiplier a. */
uint qk_fp8_mag_code(uint mode, float x, float a)
{
    precise float p = x * a;
    uint b = floatBitsToUint(p), t;
    if (QK_DT == DT_F32) {
        t = b < 0x00800000u ? 0u : b; /* qk_fp8_codes4_f32: below 2^-126 the code is 0 */
    } else if (QK_DT == DT_BF16) {
        t = qk_t_round_normal(b);
    } else {
        precise float s = p + 0.75;
        precise float sub = s - 0.75;
        t = b < 0x38800000u ? floatBitsToUint(sub) : qk_t_round_normal(b);
    }
    if (mode == 0u) {
        t = min(t, QK_F32_E4M3_MAX);
        precise float k = uintBitsToFloat(t) * 512.0 + 12582912.0; /* count of 2^-9 */
        return t < 0x3C800000u ? floatBitsToUint(k) & 0xFu : qk_fp8_normal_code(0u, t);
    }
    t = min(t, QK_F32_E5M2_MAX);
    precise float k = uintBitsToFloat(t) * 65536.0 + 12582912.0; /* count of 2^-16 */
    return t < 0x38800000u ? floatBitsToUint(k) & 0x7u : qk_fp8_normal_code(1u, t);
}

/* The four codes of the 16-bit elements in w (element 0 lowest), packed.
 * mode: 0 e4m3, 1 e5m2; a: the group's multiplier. */
uint qk_fp8_codes4_product(uint mode, uvec2 w, float a)
{
    /* the four signs put in place at once, then the magnitudes' codes */
    uint c = ((w.x >> 8) & 0x80u) | ((w.x >> 16) & 0x8000u) | ((w.y << 8) & 0x800000u) | (w.y & QK_F32_SIGN);
    [[unroll]] for (uint i = 0u; i < 4u; i++) {
        uint x = QK_DT == DT_BF16 ? qk_bf16_at(w, i, 0x7FFF0000u)
                                  : qk_f16_widen_finite((w[i >> 1] >> (16u * (i & 1u))) & 0x7FFFu);
        c |= qk_fp8_mag_code(mode, uintBitsToFloat(x), a) << (8u * i);
    }
    return c;
}

/* The float8 codes of four finite f32 values x (x[0] lowest), packed, by
 * products with the group's multiplier a where qk_fp8_product_ok(a)
 * holds. The reference codes fp8(clamp(RN(x a), fpmax)). The `precise`
 * product is correctly rounded under RoundingModeRTE wherever it is
 * normal, overflow to Inf included (clamped as the reference's Inf is).
 * Below 2^-126 -- a product the device may flush, or any product of a
 * subnormal x, flushed or not -- |x a| < 2^-26 (a < 2^100) lies under
 * half the smallest float8 step (2^-10, e5m2 2^-17) and the code is the
 * element's sign alone, as the reference's is. */
uint qk_fp8_codes4_f32(uint mode, uvec4 x, float a)
{
    uint c = ((x.x >> 24) & 0x80u) | ((x.y >> 16) & 0x8000u) | ((x.z >> 8) & 0x800000u) | (x.w & QK_F32_SIGN);
    [[unroll]] for (uint i = 0u; i < 4u; i++)
        c |= qk_fp8_mag_code(mode, uintBitsToFloat(x[i] & QK_F32_ABS), a) << (8u * i);
    return c;
}

#define QK_FP8_STAND_IN 0x5F800000u /* 2^64, for an infinite float8 multiplier */

/* The group's factor for codes by products (f32 bits): int8's reciprocal,
 * float8's multiplier (2^64 for an infinite one in f16 or zero groups,
 * above), or 0 where the group must use the other coder. a: the group's
 * divisor or multiplier; m: its amax (NaN or Inf: no products). */
uint qk_product_factor(uint mode, uint a, uint m)
{
    if (QK_DT == DT_F32 || m >= QK_F32_INF)
        return 0u;
    if (mode == 2u || mode == 3u)
        return qk_int8_reciprocal(a);
    if (a == QK_F32_INF && (QK_DT == DT_F16 || m == 0u))
        return QK_FP8_STAND_IN;
    return qk_fp8_product_ok(a) ? a : 0u;
}

/* The four codes of the 16-bit elements in w by products with the
 * group's factor f (non-zero). native16: qk_int8_native16 of the group. */
uint qk_codes4_product(uint mode, uvec2 w, float f, bool native16)
{
    return mode < 2u ? qk_fp8_codes4_product(mode, w, f) : qk_int8_codes4_rcp(mode, w, f, native16);
}
