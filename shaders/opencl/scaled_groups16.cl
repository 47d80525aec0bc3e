/* float8 / int8 quantize of bf16/f16 input in row or tile scale groups, in
 * one pass (cuda/k_group_quantize.cuh re-expressed): a work-group
 * strides over the groups, each work-item holding 8 vectors of eight
 * elements (64 work-items: groups of up to 4096 elements, 256: 16384) as
 * raw 16-bit words between the group's amax and its codes, so the input is
 * read once. The host sends groups whose width is a multiple of 8 (rows:
 * cols % 8 == 0; tiles: bw % 8 == 0 as well). The amax is taken on the
 * 16-bit magnitudes (their order is the values' order, NaN above Inf) and
 * widened once. Codes are scaled_code's (scaled.cl): bf16 float8 codes from
 * a per-group table of the significands (sig_codes8), f16 float8 from
 * one exact product (fp8_code_product), int8's division x / d run as a
 * correctly rounded product by r = 1/d (int8_code_rcp) on devices whose
 * native f32 arithmetic keeps subnormals (every int8 group there). Whether
 * a group's codes have that product form is decided once per group
 * (product_factor, by_products); the few groups without it (and every
 * int8 group elsewhere) take scaled_code itself in a rolled loop
 * (group16_codes_exact), so the unrolled code of every vector carries no
 * fallback. */
#if defined(QK_NATIVE_MUL) && !defined(QK_NATIVE_GUARD)
/* the program's native f32 keeps subnormals (the device passed the probe,
 * or is the host's IEEE float): a native product of finite operands is
 * IEEE's */
#define QK_F32_KEEPS_SUBNORMALS 1
#define QK_INT8_BY_RECIPROCAL 1
#endif

/* The int8 code of x / d, d > 0 a dt value in [2^-126, 2^122), r =
 * RN(1/d), |x| <= 256 d, by q0 = RN(x r), within two f32 roundings of
 * x / d; no step overflows, and quotients small enough to underflow code
 * as 0 either way. bf16: with 8-bit x and d, x / d is never within 2^-17
 * (relative) of a point halfway between bf16 values, and q0 is within
 * 2^-23 of it, so both round to the same bf16. f16 has no such margin:
 * T(q0) and T(RN(x / d)) differ for 4880 of the 1458592766 finite f16
 * pairs with |x| <= 256 d, but no code does, either clamp (a host run of
 * both over all of them, tools/f16-int8-q0-check.c; the Vulkan shaders'
 * f16 codes are q0's as well, test_products_every_pair), so the
 * correction step (Markstein's, two fma) is left out. A group's elements
 * are at most its amax, below 191 d, and every int8 divisor of a 16-bit
 * group has a reciprocal (the host test test_int8_group_divisors checks
 * both for every 16-bit amax), so the group kernels never divide. The
 * dtype rounding runs on the f32 bits (ties to even at bit 16, or 13 for
 * f16, whose quotients below 2^-14 code as 0 whatever their rounding), and
 * the int8 rounding (ties to even) is the low byte of v + 1.5 * 2^23 for
 * the clamped v (|v| <= 128). product_codes_check compares these codes
 * with scaled_code's for every 16-bit x and d.
 *
 * one_clamp (a literal at each call): one clamp instruction instead of
 * two (shaders/glsl/qk_vk_products.glsl's rule). int8_blockwise clamps
 * the magnitude's bits to 127 before the sign goes on: the reference's own
 * clamp_abs, equal to [-127, 127] for every v. bf16 int8_tensorwise takes
 * min(v, 127) alone: the lower clamp at -128 never acts for an element
 * of a group. Its divisor d = T(s), s = max(RN(m / 127), 1e-30) >= m / 127
 * (1 - 2^-24), is a normal bf16 value within a relative 2^-8 of s, so
 * |x| / d <= m / d <= 127.4981; q0 = RN(x RN(1/d)) adds at most two f32
 * roundings (< 127.4982), and bf16's rounding (steps of 0.5 there) gives
 * |v| <= 127.5, whose integer rounding is -128 at the least, as the
 * clamped form's. product_codes_check compares both forms with
 * scaled_code's: two clamps for every pair with |x| <= 256 d, one clamp
 * for every pair a group can hold (d at least the divisor of a group
 * whose amax is |x|: divisors do not fall as the amax grows). */
static inline uint int8_code_rcp(const int dt, const int fmt, uint x, float r, const int one_clamp)
{
    uint q = as_uint(as_float(x) * r);
    uint a = q & QK_F32_ABS, t;
    if (dt == DT_BF16)
        t = (a + 0x7FFFu + ((a >> 16) & 1u)) & 0xFFFF0000u;
    else
        t = a < 0x38800000u ? 0u : (a + 0xFFFu + ((a >> 13) & 1u)) & 0xFFFFE000u;
    if (one_clamp && fmt == FMT_INT8_BLOCK)
        return as_uint(as_float(min(t, 0x42FE0000u /* 127 */) | (q & QK_F32_SIGN)) + 0x1.8p23f) & 0xFFu;
    float v = as_float(t | (q & QK_F32_SIGN));
    if (one_clamp && dt == DT_BF16)
        return as_uint(fmin(v, 127.0f) + 0x1.8p23f) & 0xFFu;
    float low = fmt == FMT_INT8_BLOCK ? -127.0f : -128.0f;
    return as_uint(fmin(fmax(v, low), 127.0f) + 0x1.8p23f) & 0xFFu;
}

/* RN(1/d) where int8_code_rcp may use it, else 0: a program without
 * QK_INT8_BY_RECIPROCAL divides by scaled_code; with it, every divisor of
 * a group has its reciprocal (int8_code_rcp). */
static inline uint int8_reciprocal(const int fmt, uint d)
{
#if defined(QK_INT8_BY_RECIPROCAL)
    if (fmt >= FMT_INT8 && d >= 0x00800000u && d < 0x7C800000u)
        return qk_div(QK_F32_ONE, d);
#endif
    return 0u;
}

/* The float8 code (no sign) of a T-rounded magnitude t (f32 bits, not
 * NaN): clamped, then rounded on the bits or as a count of the smallest
 * step (fp8_code_product's comment, below). */
static inline uint fp8_code_t(const int fmt, uint t)
{
    uint sub, nrm, small;
    if (fmt == FMT_E4M3) {
        t = min(t, QK_F32_E4M3_MAX);
        sub = as_uint(as_float(t) * 512.0f + 0x1.8p23f) & 0xFu;
        nrm = (t + (0x7FFFFu - (120u << 23)) + ((t >> 20) & 1u)) >> 20;
        small = t < 0x3C800000u;
    } else {
        t = min(t, QK_F32_E5M2_MAX);
        sub = as_uint(as_float(t) * 65536.0f + 0x1.8p23f) & 0x7u;
        nrm = (t + (0xFFFFFu - (112u << 23)) + ((t >> 21) & 1u)) >> 21;
        small = t < 0x38800000u;
    }
    return small ? sub : nrm;
}

/* The float8 codes of the two finite f16 elements of the word w (its low
 * half's code in bits 0-7, its high half's in bits 8-15) with the
 * multiplier a from product_factor: each x widened by vload_half2 (exact,
 * subnormals included), T(|x| a) by one conversion of the pair to f16 and
 * back (vstore_half2_rte: ties to even, f16 subnormals, and Inf past
 * 65504, as T; vload_half2 again, exact), as convrot_rows.cl's
 * cr_code_f16_pair does (the bits' rounding took about twice the
 * operations). |x| has 11 significant bits and a = T(1/scale) 11 (or the
 * stand-in 2^64), so the f32 product is exact wherever it is normal; one
 * below 2^-126 (flushed or not) rounds to an f16 zero, as the exact one
 * does. An Inf T is clamped as the Inf it stands for (fp8_code_t); the
 * signs come from w, as the reference's do. */
static inline uint fp8_codes_f16_word(const int fmt, uint w, float a)
{
    float2 x = vload_half2(0, (const __private half *)&w);
    float2 p = (float2)(fabs(x.s0) * a, fabs(x.s1) * a);
    uint h;
    vstore_half2_rte(p, 0, (__private half *)&h);
    float2 t = vload_half2(0, (const __private half *)&h);
    uint c0 = fp8_code_t(fmt, as_uint(t.s0)) | ((w >> 8) & 0x80u);
    uint c1 = fp8_code_t(fmt, as_uint(t.s1)) | ((w >> 24) & 0x80u);
    return c0 | (c1 << 8);
}

/* The float8 code of the finite 16-bit element h with the multiplier a
 * from product_factor. f16: fp8_codes_f16_word's. bf16: for a in
 * [2^-126, 2^100), |x| * a has at most 16 significant bits, so the f32
 * product is exact wherever it is normal, and a product or element below
 * 2^-126 that the device flushes has |x * a| < 2^-26, code 0 either way;
 * larger a only where native f32 keeps subnormals, or (2^64) with
 * products that are normal or zero (the sign comes from h, as the
 * reference's does). T's rounding runs on the f32 bits, the fp8 rounding
 * on the bits too, or in the subnormal range as an integer count of the
 * smallest step (a power-of-two product, then + 1.5 * 2^23, ties to even;
 * a count that reaches the smallest normal is its code as well). Both
 * sides of each range test are computed and one is picked: straight-line
 * code, where a conditional expression became a branch per element
 * (clang's PTX), splitting the unrolled vectors into short blocks the
 * compiler cannot interleave. The normal codes subtract the exponent
 * rebias before the shift (t is at least that large wherever they are
 * picked). product_codes_check compares these codes with scaled_code's
 * for every 16-bit pair. */
static inline uint fp8_code_product(const int dt, const int fmt, uint h, float a)
{
    if (dt == DT_F16)
        return fp8_codes_f16_word(fmt, h & 0xFFFFu, a) & 0xFFu;
    uint b = as_uint(as_float((h & 0x7FFFu) << 16) * a);
    uint t = (b + 0x7FFFu + ((b >> 16) & 1u)) & 0xFFFF0000u;
    return fp8_code_t(fmt, t) | ((h >> 8) & 0x80u);
}

/* The group's factor for codes by products, or 0 where its codes need
 * scaled_code: int8's reciprocal (int8_reciprocal); float8's multiplier
 * for the group's d = T(1/scale) (positive, never NaN; with a 16-bit amax
 * at least 2^-120) and m16, its largest 16-bit magnitude:
 * - d in [2^-126, 2^100): d itself, on any device (fp8_code_product).
 * - d >= 2^100 (bf16 groups with amax below about 2^-91), where the
 *   program's native f32 keeps subnormals: d itself, since x * d is then
 *   IEEE's product of the finite x and d, as scaled_code's qk_mul is, and
 *   fp8_code_product's later steps hold for any product.
 * - d = Inf (T(1/scale) overflowed: amax 0, f16 amax below about 448/65520 for
 *   e4m3 and 57344/65520 for e5m2, bf16 amax below about 2^-119): scaled_code
 *   codes a zero element as its sign and any other as T's largest value
 *   clamped: sign | the largest code. The stand-in 2^64 gives exactly that
 *   where every nonzero element times 2^64 is at least 2^40 > 57344 (both
 *   formats' clamps): f16 elements are 0 or at least 2^-24 (widened
 *   exactly to normal f32), so every f16 group; a bf16 group only when all
 *   its elements are zeros (m16 = 0), whose products are zeros on any
 *   device.
 * Other float8 groups (bf16 with 0 < amax < 2^-119; d >= 2^100 where
 * native f32 may flush) get 0. product_codes_check compares the codes with
 * scaled_code's for every 16-bit pair, d = Inf included. */
#define QK_F32_2P64 0x5F800000u
static inline uint product_factor(const int fmt, const int dt, uint d, uint m16)
{
    if (fmt == FMT_E4M3 || fmt == FMT_E5M2) {
        if (fp8_factor_in_range(d))
            return d;
        if (d == QK_F32_INF)
            return dt == DT_F16 || m16 == 0u ? QK_F32_2P64 : 0u;
#if defined(QK_F32_KEEPS_SUBNORMALS)
        return d >= 0x00800000u && d < QK_F32_INF ? d : 0u;
#else
        return 0u;
#endif
    }
    return int8_reciprocal(fmt, d);
}

/* Whether a group's codes are product_codes8's: float8 with a factor,
 * int8 on programs that divide by the reciprocal (a blockwise zero tile
 * too, r = 0: its zeros code as 0 through int8_code_rcp). */
static inline int by_products(const int fmt, uint r)
{
#if defined(QK_INT8_BY_RECIPROCAL)
    if (fmt >= FMT_INT8)
        return 1;
#endif
    return r != 0u && (fmt == FMT_E4M3 || fmt == FMT_E5M2);
}

/* Eight codes of the finite 16-bit elements in w, element 0 lowest, by
 * products: r = product_factor(...) with by_products(fmt, r). */
static inline uint2 product_codes8(const int dt, const int fmt, uint4 w, uint r, const int one_clamp)
{
    uint c[8];
    if ((fmt == FMT_E4M3 || fmt == FMT_E5M2) && dt == DT_F16) {
        uint c01 = fp8_codes_f16_word(fmt, w.s0, as_float(r)), c23 = fp8_codes_f16_word(fmt, w.s1, as_float(r));
        uint c45 = fp8_codes_f16_word(fmt, w.s2, as_float(r)), c67 = fp8_codes_f16_word(fmt, w.s3, as_float(r));
        return (uint2)(c01 | (c23 << 16), c45 | (c67 << 16));
    } else if (fmt == FMT_E4M3 || fmt == FMT_E5M2) {
        uint h[8] = {w.s0 & 0xFFFFu, w.s0 >> 16, w.s1 & 0xFFFFu, w.s1 >> 16,
                     w.s2 & 0xFFFFu, w.s2 >> 16, w.s3 & 0xFFFFu, w.s3 >> 16};
#pragma unroll
        for (int k = 0; k < 8; k++)
            c[k] = fp8_code_product(dt, fmt, h[k], as_float(r));
    } else {
        uint x[8] = {widen_low_finite(dt, w.s0), widen_high_finite(dt, w.s0), widen_low_finite(dt, w.s1),
                     widen_high_finite(dt, w.s1), widen_low_finite(dt, w.s2), widen_high_finite(dt, w.s2),
                     widen_low_finite(dt, w.s3), widen_high_finite(dt, w.s3)};
#pragma unroll
        for (int k = 0; k < 8; k++)
            c[k] = int8_code_rcp(dt, fmt, x[k], as_float(r), one_clamp);
    }
    return (uint2)(pack4(c[0], c[1], c[2], c[3]), pack4(c[4], c[5], c[6], c[7]));
}

/* Eight codes of the finite 16-bit elements in w: product_codes8's where
 * by_products, else scaled_code's inline (convrot_rows.cl's int8 rows). */
static inline uint2 group_codes8(const int dt, const int fmt, uint4 w, uint d, uint r)
{
    if (by_products(fmt, r))
        return product_codes8(dt, fmt, w, r, 0); /* convrot_rows.cl: both clamps */
    uint x[8] = {widen_low_finite(dt, w.s0), widen_high_finite(dt, w.s0), widen_low_finite(dt, w.s1),
                 widen_high_finite(dt, w.s1), widen_low_finite(dt, w.s2), widen_high_finite(dt, w.s2),
                 widen_low_finite(dt, w.s3), widen_high_finite(dt, w.s3)},
         c[8];
#pragma unroll
    for (int k = 0; k < 8; k++)
        c[k] = scaled_code(fmt, dt, x[k], d);
    return (uint2)(pack4(c[0], c[1], c[2], c[3]), pack4(c[4], c[5], c[6], c[7]));
}

/* bf16 float8 codes (sig_table_ok) by a per-group table
 * of the 7-bit significands (shaders/glsl/qk_vk_fp8_sig_table.glsl's
 * method): instead of the product, its bf16 rounding and the float8
 * rounding an element (fp8_code_product, some twenty instructions), a
 * byte lookup in local memory and an add. Exact, for a multiplier a with
 * 2^-126 <= a < 2^100
 * (sig_table_ok; product_factor's first rule and the zero group's 2^64):
 *
 * - A bf16 magnitude is x = 2^(E - 127) (1 + s/128), E in [1, 254]; a =
 *   2^(A - 127) (1 + sa/128), A in [1, 226]. x_s, with the same s and E0 =
 *   254 - A (in [28, 253]), has x_s a in [1, 4): inside both formats'
 *   normal ranges and below their maxima, so fp8_code_product(x_s, a) is
 *   the normal-range code, unclamped.
 * - Scaling by 2^k (k = E - E0) commutes with the exact f32 product
 *   (both operands have at most 8 significant bits), with bf16's rounding
 *   (f32's exponent range) and with the float8 normal rounding carried on
 *   past both ends of the format, whose code counts binades (8 codes a
 *   binade for e4m3, 4 for e5m2). So where x a is a normal f32, n =
 *   code(x_s) + 8 k (e5m2: 4 k) is that extended rounding of t = T(x a).
 *   The table holds code(x_s) - low (low: the smallest normal code, 8;
 *   e5m2 4), the group's offset is -8 E0 (-4 E0), and 8 E is (h >> 4) &
 *   0x7F8 ((h >> 5) & 0x3FC) of the element's bits h: n - low = that +
 *   table[s] + offset (sig_n).
 * - If n >= low, n is the element's code magnitude: t >= 2^-6 (e5m2
 *   2^-14) is the coder's normal branch, and a t below it whose extended
 *   rounding reaches 2^-6 is at least 2^-6 - 2^-11 (half a step of the
 *   binade below; a tie goes to the even 2^-6), which the subnormal
 *   branch's steps of 2^-9 also round to 2^-6, code 8 (e5m2: 2^-14 -
 *   2^-18, steps of 2^-16, code 4).
 * - Otherwise t is below 2^-6 (n is monotone in t), or x a is not a normal
 *   f32 (zeros, subnormal x, tiny products: n then far below low): that
 *   element's code is the coder's subnormal branch (e4m3_sub_code; e5m2:
 *   the vector's products), one branch a vector, taken where any of its 8
 *   elements is there.
 * - No clamp: the coder's clamp never acts on a group's elements. scale =
 *   T(m / max) and a = T(1 / scale) (scaled_params), each within a
 *   relative 2^-8 + 2^-24 (a < 2^100 keeps scale normal), so every |x| a
 *   <= m a < 1.008 max: T rounds that to at most 452 (e5m2 57856), below
 *   the midpoint to the next binade's code (464; 61440), so n never passes
 *   the largest code (0x7E; 0x7B) and n - low (at most 118) stays in its
 *   byte when four are packed and low is added to all at once.
 * product_codes_check compares these codes with scaled_code's for every
 * 16-bit pair (the table's where n passes the normal test, e4m3_sub_code's
 * where an e4m3 n does not), and fails any pair whose n
 * would pass the largest code unless no group can hold it (a group with
 * amax m >= |x| has a multiplier no larger than a group of amax |x|). */
static inline int sig_table_ok(const int dt, const int fmt, uint r)
{
    return dt == DT_BF16 && (fmt == FMT_E4M3 || fmt == FMT_E5M2) && fp8_factor_in_range(r);
}

/* The table's entry for significand s (bits of the multiplier r): code(x_s) - low. */
static inline uint sig_entry(const int fmt, uint s, uint r)
{
    uint e0 = 254u - (r >> 23);
    return fp8_code_product(DT_BF16, fmt, (e0 << 7) | s, as_float(r)) - (fmt == FMT_E4M3 ? 8u : 4u);
}

/* The group's offset, -8 E0 (e5m2 -4 E0). */
static inline int sig_offset(const int fmt, uint r)
{
    return -(int)((254u - (r >> 23)) << (fmt == FMT_E4M3 ? 3 : 2));
}

/* n - low for the bf16 element in the low 16 bits of h (higher bits are
 * ignored), its table entry te and the group's offset. */
static inline int sig_n(const int fmt, uint h, uint te, int off)
{
    uint eb = fmt == FMT_E4M3 ? (h >> 4) & 0x7F8u : (h >> 5) & 0x3FCu;
    return (int)(eb + te) + off;
}

/* The e4m3 code magnitude of the bf16 element in the low 16 bits of h
 * where its n is below the normal range: fp8_code_product's subnormal
 * branch alone (t = T(|x| a) below 2^-6, so neither the clamp nor the
 * normal rounding acts; a flushed element or product is below 2^-26, code
 * 0 either way). */
static inline uint e4m3_sub_code(uint h, uint r)
{
    uint b = as_uint(as_float((h & 0x7FFFu) << 16) * as_float(r));
    uint t = (b + 0x7FFFu + ((b >> 16) & 1u)) & 0xFFFF0000u;
    return as_uint(as_float(t) * 512.0f + 0x1.8p23f) & 0xFu;
}

/* Eight codes of the bf16 elements in w by the group's table (filled by
 * sig_entry for multiplier r). A vector with an element below the normal
 * range (about one e4m3 element in 1000 of weight-like data) takes, for
 * e4m3, e4m3_sub_code's codes there and the table's elsewhere (one branch a
 * vector, a select an element: H200 bf16 e4m3 rows 54% -> 61% of the
 * copy, where the vector's products left the table no faster than
 * products alone); e5m2's vectors almost never get there and keep the
 * products (its tiles measured 77% with them, 72% with the selects). */
static inline uint2 sig_codes8(const int fmt, uint4 w, __local const uchar *tab, int off, uint r)
{
    uint h[8] = {w.s0, w.s0 >> 16, w.s1, w.s1 >> 16, w.s2, w.s2 >> 16, w.s3, w.s3 >> 16};
    int n[8];
#pragma unroll
    for (int k = 0; k < 8; k++)
        n[k] = sig_n(fmt, h[k], tab[h[k] & 0x7Fu], off);
    uint low = fmt == FMT_E4M3 ? 8u : 4u, lo, hi;
    if (((n[0] | n[1] | n[2] | n[3]) | (n[4] | n[5] | n[6] | n[7])) < 0) {
        if (fmt == FMT_E5M2)
            return product_codes8(DT_BF16, fmt, w, r, 0);
        uint c[8];
#pragma unroll
        for (int k = 0; k < 8; k++)
            c[k] = n[k] < 0 ? e4m3_sub_code(h[k], r) : (uint)n[k] + low;
        lo = pack4(c[0], c[1], c[2], c[3]);
        hi = pack4(c[4], c[5], c[6], c[7]);
    } else {
        low *= 0x01010101u;
        lo = (((uint)n[0] | ((uint)n[1] << 8)) | (((uint)n[2] << 16) | ((uint)n[3] << 24))) + low;
        hi = (((uint)n[4] | ((uint)n[5] << 8)) | (((uint)n[6] << 16) | ((uint)n[7] << 24))) + low;
    }
    uint slo = ((w.s0 >> 8) & 0x80u) | ((w.s0 >> 16) & 0x8000u) | ((w.s1 << 8) & 0x800000u) | (w.s1 & QK_F32_SIGN);
    uint shi = ((w.s2 >> 8) & 0x80u) | ((w.s2 >> 16) & 0x8000u) | ((w.s3 << 8) & 0x800000u) | (w.s3 & QK_F32_SIGN);
    return (uint2)(lo | slo, hi | shi);
}

/* Whether the work-group meets the table's barrier: bf16 float8 copies of
 * specialised programs (a uniform test); every group of the generic
 * program (PoCL 5.0's compiler aborted on a barrier under a kernel
 * argument's test, see bnb4_quantize). */
#if defined(QK_SPECIALISE)
#define SIG_BARRIER(dt, fmt) ((dt) == DT_BF16 && ((fmt) == FMT_E4M3 || (fmt) == FMT_E5M2))
#else
#define SIG_BARRIER(dt, fmt) 1
#endif

/* Where group g lies: its first element, its width in vectors (wv; lw =
 * log2(wv) where that is a power of two, else -1) and its vector count. */
typedef struct {
    ulong base;
    uint wv, nv;
    int lw;
} group16;

static inline group16 group16_at(ulong g, ulong rows, ulong cols, ulong bh, ulong bw, ulong gc)
{
    ulong gr = gc == 1 ? g : (g <= 0xFFFFFFFFul && gc <= 0xFFFFFFFFul ? (ulong)((uint)g / (uint)gc) : g / gc);
    ulong r0 = gr * bh, c0 = (g - gr * gc) * bw;
    group16 G;
    G.base = r0 * cols + c0;
    G.wv = (uint)min(bw, cols - c0) / 8;
    G.nv = (uint)min(bh, rows - r0) * G.wv;
    G.lw = (G.wv & (G.wv - 1)) == 0 ? 31 - (int)clz(G.wv) : -1;
    return G;
}

/* Vector v of group G as a uint4 index of the input (8 elements each). */
static inline ulong group16_vector(group16 G, ulong cols, uint v)
{
    uint rr = G.lw >= 0 ? v >> G.lw : v / G.wv; /* rows: always 0 */
    return (G.base + (ulong)rr * cols) / 8 + (v - rr * G.wv);
}

/* The 16 partial maxima of v over the L work-items into red[L..L+16), a
 * barrier before and after them. red: L + 16 uints; a call's writes come
 * after every read of the previous call (each waits at the barrier the
 * readers passed). */
static inline void group16_partials(__local uint *red, uint v, const uint L)
{
    uint lid = get_local_id(0);
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid < 16u) {
        uint m = 0u;
        /* L / 16 steps (L <= 256) under a constant bound, so that the
         * copy with a run-time L (convrot_rows.cl's) unrolls as well: PoCL's
         * compiler warned on stderr that it could not unroll that copy */
#pragma unroll
        for (uint k = 0; k < 16u; k++)
            if (k < L / 16u)
                m = max(m, red[lid * (L / 16u) + k]);
        red[L + lid] = m;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}

static inline uint group16_partials_max(__local const uint *red, const uint L)
{
    uint m = 0u;
#pragma unroll
    for (uint k = 0; k < 16u; k++)
        m = max(m, red[L + k]);
    return m;
}

/* The group's largest 16-bit magnitude over the L work-items: two
 * barriers, then every work-item reads the 16 partial maxima. */
static inline uint group16_max(__local uint *red, uint v, const uint L)
{
    group16_partials(red, v, L);
    return group16_partials_max(red, L);
}

/* A finite group amax m's scale, divisor *d and factor *r: m is a 16-bit
 * magnitude and *r product_factor's, or for f32 (scaled_groups32.cl) f32
 * bits and *r f32_product_factor's. */
static inline uint group_scalars(const int fmt, const int dt, uint m, uint *d, uint *r)
{
    uint s = scaled_params(fmt, dt, dt == DT_F32 ? m : widen16(dt, m), d);
    *r = dt == DT_F32 ? f32_product_factor(fmt, *d) : product_factor(fmt, dt, *d, m);
    return s;
}

/* group16_max's maximum with the group's scale s, divisor d and factor r
 * (group_scalars), which work-item 0 alone computes (their integer
 * divisions) and shares through red[L..L+3] at a third barrier: 256
 * work-items each computing them cost issue slots the codes need. red[L..]
 * is read by work-item 0 alone before it writes there, and by the others
 * after the third barrier, before the next group's first. */
static inline uint group16_scale_one(__local uint *red, uint v, const uint L, const int fmt, const int dt, uint top,
                                     uint *s, uint *d, uint *r)
{
    group16_partials(red, v, L);
    if (get_local_id(0) == 0u) {
        uint m = group16_partials_max(red, L), sd = 0u, ss = 0u, sr = 0u;
        if (m < top)
            ss = group_scalars(fmt, dt, m, &sd, &sr);
        red[L] = m;
        red[L + 1u] = ss;
        red[L + 2u] = sd;
        red[L + 3u] = sr;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    *s = red[L + 1u];
    *d = red[L + 2u];
    *r = red[L + 3u];
    return red[L];
}

static inline void group16_load(__global const uint4 *in, group16 G, ulong cols, const uint L, const int V,
                                uint4 *raw)
{
    uint lid = get_local_id(0);
#pragma unroll
    for (int k = 0; k < V; k++) {
        uint v = lid + (uint)k * L;
        raw[k] = v < G.nv ? in[group16_vector(G, cols, v)] : (uint4)(0u); /* zeros leave the max alone */
    }
}

/* The codes of work-item lid's vectors of group G by scaled_code, for a
 * group without products (by_products): rolled loops, a single inlined
 * copy of scaled_code, so that the unrolled product code stays small. The
 * vectors are read again (just loaded, so from cache): a loop indexing
 * the work-item's raw array by a variable would place it in memory. */
static inline void group16_codes_exact(__global const uint4 *in, group16 G, ulong cols, const uint L,
                                       const int fmt, const int dt, uint d, __global uint2 *data)
{
#pragma unroll 1
    for (uint v = get_local_id(0); v < G.nv; v += L) {
        ulong i = group16_vector(G, cols, v);
        uint4 w = in[i];
        uint lo = 0u, hi = 0u;
#pragma unroll 1
        for (uint e = 0; e < 8u; e++) {
            uint word = e < 2u ? w.s0 : (e < 4u ? w.s1 : (e < 6u ? w.s2 : w.s3));
            uint c = scaled_code(fmt, dt, widen16(dt, (e & 1u) != 0u ? word >> 16 : word & 0xFFFFu), d);
            lo |= e < 4u ? c << (8u * e) : 0u;
            hi |= e < 4u ? 0u : c << (8u * (e - 4u));
        }
        data[i] = (uint2)(lo, hi);
    }
}

/* L work-items, V vectors each. */
static inline void groups16_body(__global const uint4 *in, const int dt, ulong rows, ulong cols, ulong bh, ulong bw,
                                 ulong ngroups, ulong gc, const int fmt, const uint L, const int V,
                                 __global uint *scale, __global uint2 *data, __global uint *status,
                                 __local uint *red, __local uchar *sig)
{
    ulong step = get_num_groups(0);
    uint lid = get_local_id(0), top = dt == DT_BF16 ? 0x7F80u : 0x7C00u;
    uint4 raw[8];
    for (ulong g = get_group_id(0); g < ngroups; g += step) { /* the same g for the whole work-group */
        group16 G = group16_at(g, rows, cols, bh, bw, gc);
        group16_load(in, G, cols, L, V, raw);
        uint lo = 0u, hi = 0u;
#pragma unroll
        for (int k = 0; k < V; k++)
            amax16_word4(raw[k], &lo, &hi);
        uint m16, d = 0u, s = 0u, r = 0u;
        if (L == 256u) { /* groups of up to 16384: the scale by one work-item */
            m16 = group16_scale_one(red, max(lo, hi >> 16), L, fmt, dt, top, &s, &d, &r);
        } else {
            m16 = group16_max(red, max(lo, hi >> 16), L);
            if (m16 < top)
                s = group_scalars(fmt, dt, m16, &d, &r);
        }
        /* the table is written after this group's amax barriers, which
         * every work-item meets after its lookups of the previous group */
        int by_sig = m16 < top && sig_table_ok(dt, fmt, r);
        if (by_sig)
            for (uint k = lid; k < 128u; k += L)
                sig[k] = (uchar)sig_entry(fmt, k, r);
        if (SIG_BARRIER(dt, fmt))
            barrier(CLK_LOCAL_MEM_FENCE);
        if (m16 >= top) {
            if (lid == 0u)
                atomic_max(status, widen16(dt, m16)); /* the op fails with QK_ERR_NONFINITE */
        } else {
            if (lid == 0u)
                scale[g] = s;
            if (by_sig) { /* the same for the whole work-group */
                int off = sig_offset(fmt, r);
#pragma unroll
                for (int k = 0; k < V; k++) {
                    uint v = lid + (uint)k * L;
                    if (v < G.nv)
                        data[group16_vector(G, cols, v)] = sig_codes8(fmt, raw[k], sig, off, r);
                }
            } else if (by_products(fmt, r)) {
#pragma unroll
                for (int k = 0; k < V; k++) {
                    uint v = lid + (uint)k * L;
                    if (v < G.nv)
                        data[group16_vector(G, cols, v)] = product_codes8(dt, fmt, raw[k], r, 1);
                }
            } else {
                group16_codes_exact(in, G, cols, L, fmt, dt, d, data);
            }
        }
    }
}

/* float8 or int8, bf16 or f16: specialised on GPUs as QK_BY_FMT_DTYPE
 * does, without its f32 bodies. */
#if defined(QK_SPECIALISE)
#define QK_BY_DTYPE16(dt, CALL)                                                                    \
    do {                                                                                           \
        if ((dt) == DT_BF16) {                                                                     \
            const int DTC = DT_BF16;                                                               \
            CALL;                                                                                  \
        } else {                                                                                   \
            const int DTC = DT_F16;                                                                \
            CALL;                                                                                  \
        }                                                                                          \
    } while (0)
#define QK_BY_SCALED_DTYPE16(fmt, dt, CALL) QK_BY_FMT(fmt, QK_BY_DTYPE16(dt, CALL))
#else
#define QK_BY_SCALED_DTYPE16(fmt, dt, CALL) QK_BY_FMT_DTYPE(fmt, dt, CALL)
#endif

/* red: L + 16 uints of local memory for the amax, then the bf16 float8
 * significand table's 128 bytes (a kernel-scope __local array left unused
 * by a kernel copy tripped PoCL 5.0's isAutomaticLocal assertion). Groups of up to 4096 elements: 64
 * work-items of 8 vectors, so that a work-item's share of the group's
 * fixed costs (amax, scalars) is 64 elements (H200, bf16 rows of 4096:
 * 40% of the copy, against 34% for 256 work-items of 2 vectors loading a
 * step ahead, 32% without the step ahead, 34% for 128 of 4); up to 16384:
 * 256 of 8. */
#define GROUPS16_KERNEL(NAME, L, V)                                                                \
    __kernel __attribute__((reqd_work_group_size(L, 1, 1))) void NAME(                             \
        __global const uint4 *in, int dt, ulong rows, ulong cols, ulong bh, ulong bw, ulong ngroups, \
        ulong gc, int fmt, __global uint *scale, __global uint2 *data, __global uint *status,       \
        __local uint *red)                                                                         \
    {                                                                                              \
        __local uchar *sig = (__local uchar *)(red + L + 16u);                                     \
        QK_BY_SCALED_DTYPE16(fmt, dt, groups16_body(in, DTC, rows, cols, bh, bw, ngroups, gc, FMTC, L, V, \
                                                  scale, data, status, red, sig));                  \
    }

GROUPS16_KERNEL(scaled_quantize_groups16_4k, 64, 8)
GROUPS16_KERNEL(scaled_quantize_groups16_16k, 256, 8)

/* Test hook: the codes by products (fp8_code_product, int8_code_rcp)
 * against scaled_code's, every format, for the pair w = base + id *
 * stride: the group's multiplier or divisor d = widen(w >> 16), the input
 * x = widen(w & 0xFFFF), dt patterns, as a group whose largest
 * magnitude is x's; pairs with d not positive (or NaN), or x not finite,
 * pass, and int8's with |x| > 256 d. out[0] counts mismatches, out[1] keeps the
 * smallest failing w (start it at 0xFFFFFFFF). Without
 * QK_INT8_BY_RECIPROCAL int8 divides, nothing to check there: out[2] = 1
 * says so. f16 also checks f16_widen_finite on both halves of w against
 * widen16 (every pattern is a half of some pair of each run), and its
 * float8 codes from both halves of a word (fp8_codes_f16_word). */
__kernel void product_codes_check(int dt, uint base, uint stride, __global uint *out)
{
#if !defined(QK_INT8_BY_RECIPROCAL)
    if (get_global_id(0) == 0)
        out[2] = 1u;
#endif
    uint w = base + (uint)get_global_id(0) * stride;
    uint d = widen16(dt, w >> 16), x = widen16(dt, w & 0xFFFFu);
    if (dt == DT_F16 && (((x & QK_F32_ABS) < QK_F32_INF && widen_low_finite(dt, w) != x) ||
                         ((d & QK_F32_ABS) < QK_F32_INF && widen_high_finite(dt, w) != d))) {
        atomic_inc(&out[0]); /* the group kernels' widening of either half */
        atomic_min(&out[1], w);
    }
    if ((d & QK_F32_SIGN) != 0u || d == 0u || d > QK_F32_INF || (x & QK_F32_ABS) >= QK_F32_INF)
        return;
    for (int fmt = FMT_E4M3; fmt <= FMT_INT8_BLOCK; fmt++) {
        uint r = product_factor(fmt, dt, d, w & 0x7FFFu), c;
        if (r == 0u)
            continue;
        if (fmt <= FMT_E5M2 && sig_table_ok(dt, fmt, r)) {
            uint h = w & 0xFFFFu, want = scaled_code(fmt, dt, x, d), ax, low = fmt == FMT_E4M3 ? 8u : 4u;
            int n = sig_n(fmt, h, sig_entry(fmt, h & 0x7Fu, r), sig_offset(fmt, r));
            /* the table's code where it passes the normal test; past the
             * largest code only where no group holds the pair: a group of
             * amax |x| has the largest multiplier any group holding x has */
            int bad = n >= 0 && n + (int)low <= (fmt == FMT_E4M3 ? 0x7E : 0x7B) &&
                      ((uint)n + low | ((h >> 8) & 0x80u)) != want;
            if (n >= 0 && n + (int)low > (fmt == FMT_E4M3 ? 0x7E : 0x7B)) {
                scaled_params(fmt, dt, x & QK_F32_ABS, &ax);
                bad = as_float(d) <= as_float(ax);
            }
            if (n < 0 && fmt == FMT_E4M3 && (e4m3_sub_code(h, r) | ((h >> 8) & 0x80u)) != want)
                bad = 1;
            if (bad) {
                atomic_inc(&out[0]);
                atomic_min(&out[1], w);
            }
        }
        if (fmt <= FMT_E5M2) {
            c = fp8_code_product(dt, fmt, w & 0xFFFFu, as_float(r));
            if (dt == DT_F16 && fp8_codes_f16_word(fmt, (w << 16) | (w & 0xFFFFu), as_float(r)) >> 8 != c)
                c = ~c; /* a word's high half codes as its low half */
        } else if (fabs(as_float(x)) <= as_float(d) * 256.0f) {
            uint dx;
            scaled_params(fmt, dt, x & QK_F32_ABS, &dx);
            c = int8_code_rcp(dt, fmt, x, as_float(r), 0);
            if (d >= dx && int8_code_rcp(dt, fmt, x, as_float(r), 1) != c) /* a pair a group holds */
                c = ~c;
        } else
            continue; /* no group divides x by d */
        if (c != scaled_code(fmt, dt, x, d)) {
            atomic_inc(&out[0]);
            atomic_min(&out[1], w);
        }
    }
}
