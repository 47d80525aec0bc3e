/* Cheaper equivalents of hot qk_codec.h functions, equal to them for every
 * input (tests/test_opencl.c compares them over all or many bit patterns).
 * Dialect-neutral like qk_codec.h, so the test compiles this file as C. */
#ifndef QK_FAST_CODEC_CL
#define QK_FAST_CODEC_CL

/* qk_f32_to_bf16: round to nearest even by adding 0x7FFF plus the lowest
 * kept bit; a carry walks into the exponent exactly as RNE requires
 * (including subnormals and overflow to infinity, which bf16 shares with
 * f32). NaN becomes 0x7FC0. */
QK_FN QK_U32 qk_f32_to_bf16_fast(QK_U32 a)
{
    if ((a & QK_F32_ABS) > QK_F32_INF)
        return 0x7FC0u;
    return (a + 0x7FFFu + ((a >> 16) & 1u)) >> 16;
}

/* qk_f32_to_f16 for magnitudes in f16's normal range and above (|a| >=
 * 2^-14) by add-and-shift rounding on the f32 bits (exponent rebased from
 * 127 to 15); a carry walks into the exponent as RNE requires, and past
 * 65504 the result reaches 0x7C00 (infinity), where it is held. Smaller
 * magnitudes (f16 subnormals), Inf and NaN take the codec's path. */
QK_FN QK_U32 qk_f32_to_f16_fast(QK_U32 a)
{
    QK_U32 aa = a & QK_F32_ABS;
    if (aa < 0x38800000u || aa >= QK_F32_INF)
        return qk_f32_to_f16(a);
    QK_U32 m = ((aa + 0xFFFu + ((aa >> 13) & 1u)) >> 13) - 0x1C000u;
    return ((a >> 16) & 0x8000u) | ((m >= 0x7C00u) ? 0x7C00u : m);
}

/* The bits of f32 a + b by the dialect's native add: OpenCL's, correctly
 * rounded to nearest even on every accepted device (cl_devices.c); the
 * host's IEEE add in C, where the test runs. */
#if defined(__OPENCL_VERSION__)
#define QK_NATIVE_ADD_BITS(a, b) as_uint(as_float(a) + as_float(b))
#else
static inline uint32_t qk_native_add_bits(uint32_t a, uint32_t b)
{
    float x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    x += y;
    memcpy(&a, &x, 4);
    return a;
}
#define QK_NATIVE_ADD_BITS(a, b) qk_native_add_bits(a, b)
#endif

/* qk_f32_to_f16 with no branch, for code whose native add is correctly
 * rounded: in f16's normal range and up to Inf, the rounding add on rebiased
 * bits, capped at Inf; below it, |a| + 0.5 (operands and sum normal) rounds
 * |a| to a multiple of 2^-24, 0.5's ulp, which is the f16 subnormal's
 * significand (or 2^-14's 0x400); a device that flushes an f32-subnormal a
 * gives 0, its correct rounding too; NaN -> 0x7E00. qk_f32_to_f16_fast
 * sends zeros and f16 subnormals, common in dequantized weights, down the
 * codec's branch. Vulkan's qk_f16_narrow (qk_vk.glsl) is the same formula
 * in GLSL. */
QK_FN QK_U32 qk_f32_to_f16_native(QK_U32 a)
{
    QK_U32 aa = a & QK_F32_ABS;
    QK_U32 n = (aa - 0x38000000u + 0xFFFu + ((aa >> 13) & 1u)) >> 13;
    QK_U32 sub = QK_NATIVE_ADD_BITS(aa, 0x3F000000u) - 0x3F000000u;
    QK_U32 r = (aa < 0x38800000u) ? sub : (aa > QK_F32_INF) ? 0x7E00u : (n < 0x7C00u) ? n : 0x7C00u;
    return ((a >> 16) & 0x8000u) | r;
}

/* qk_fp4_encode: the magnitude's rank among its 7 thresholds by a binary
 * search (three compares), then the rank -> code map {0,1,6,7,4,5,2,3} as
 * nibbles of one constant instead of a switch. */
QK_FN QK_U32 qk_fp4_encode_fast(QK_U32 x)
{
    if (qk_f32_is_nan(x) != 0u)
        return 0u;
    QK_U32 s = ((x & QK_F32_SIGN) != 0u && (x & QK_F32_ABS) != 0u) ? 8u : 0u;
    QK_U32 a = x & QK_F32_ABS;
    QK_U32 b2 = QK_U(a > 0x3E955555u); /* T3 */
    QK_U32 b1 = QK_U(a > ((b2 != 0u) ? 0x3F155550u : 0x3DB00000u)); /* T5 : T1 */
    QK_U32 t0 = (b2 != 0u) ? ((b1 != 0u) ? 0x3F555555u : 0x3ED55556u)  /* T6 : T4 */
                           : ((b1 != 0u) ? 0x3E555555u : 0x3B2AAAB9u); /* T2 : T0 */
    QK_U32 r = (b2 << 2) | (b1 << 1) | QK_U(a > t0);
    return s | ((0x32547610u >> (4u * r)) & 7u);
}

/* qk_e8m0_ceil for 2^-127 <= s (finite), without loops: a normal s =
 * 1.m * 2^(ex-127) needs ex + (m != 0); a subnormal s >= 2^-127 is exactly
 * 2^-127 (byte 0) or lies below 2^-126 (byte 1). */
QK_FN QK_U32 qk_e8m0_ceil_fast(QK_U32 s)
{
    QK_U32 ex = (s >> 23) & 0xFFu;
    if (ex == 0u)
        return (s == QK_F32_E8M0_MIN) ? 0u : 1u;
    QK_U32 e = ex + QK_U((s & 0x7FFFFFu) != 0u);
    return (e > 254u) ? 254u : e;
}

/* qk_f32_to_e4m3 for e4m3-normal magnitudes (|a| >= 2^-6) by the same
 * add-and-shift rounding on the f32 bits (exponent rebased from 127 to 7);
 * smaller magnitudes, where e4m3 is subnormal, take the codec's path. */
QK_FN QK_U32 qk_f32_to_e4m3_fast(QK_U32 a)
{
    QK_U32 aa = a & QK_F32_ABS;
    if (aa < 0x3C800000u)
        return qk_f32_to_e4m3(a);
    QK_U32 s = (a >> 24) & 0x80u;
    if (aa >= QK_F32_INF)
        return s | 0x7Fu;
    QK_U32 m = ((aa + 0x7FFFFu + ((aa >> 20) & 1u)) >> 20) - 0x3C0u;
    return s | ((m >= 0x7Fu) ? 0x7Fu : m);
}

/* qk_f32_to_e5m2 with one rounding add on the bits where e5m2 is normal
 * and finite (2^-14 <= |a| <= 57344, all that scaled_code's clamp leaves
 * above 2^-14); the codec elsewhere. */
QK_FN QK_U32 qk_f32_to_e5m2_fast(QK_U32 a)
{
    QK_U32 aa = a & QK_F32_ABS;
    if (aa < 0x38800000u || aa > QK_F32_E5M2_MAX)
        return qk_f32_to_e5m2(a);
    return ((a >> 24) & 0x80u) | (((aa + 0xFFFFFu + ((aa >> 21) & 1u)) >> 21) - 0x1C0u);
}

/* MXFP8's element code for scale byte e (0..254):
 * qk_f32_to_e4m3(qk_f32_clamp_abs(qk_f32_div(x, qk_e8m0_to_f32(e)), 448))
 * without a division. x / 2^(e-127) is exact (an exponent change) whenever
 * the quotient is a normal f32; when it lies below 2^-126 it is far below
 * e4m3's smallest half-subnormal (2^-10), so the code is a signed zero
 * however f32 would round it. A subnormal x is scaled by the integer
 * multiply by 2^(127-e) (an exact f32 for e <= 126; for e >= 127 the
 * quotient is below 2^-126 again). No float operation, so no device's
 * subnormal handling can change it. */
QK_FN QK_U32 qk_mxfp8_code(QK_U32 x, QK_U32 e)
{
    QK_U32 sign = x & QK_F32_SIGN;
    QK_U32 aa = x & QK_F32_ABS;
    QK_U32 ex = aa >> 23;
    QK_U32 q;
    if (ex == 255u) {
        q = (aa > QK_F32_INF) ? (aa | 0x400000u) : aa; /* NaN quieted, Inf stays */
    } else if (ex == 0u) {
        q = (e >= 127u) ? 0u : qk_f32_mul(aa, (254u - e) << 23);
    } else {
        QK_I32 qe = QK_I(ex) + 127 - QK_I(e);
        q = (qe <= 0) ? 0u : ((qe >= 255) ? QK_F32_INF : ((QK_U(qe) << 23) | (aa & 0x7FFFFFu)));
    }
    return qk_f32_to_e4m3_fast(qk_f32_clamp_abs(sign | q, QK_F32_E4M3_MAX));
}

/* NF4 by bucket (the form of cuda/qk_fast_codec.h's qkf_nf4_bucketed, on
 * bits): the binade of |x| (2^-5 .. 1, smaller magnitudes joining 2^-5's,
 * larger ones and Inf 1's) and its two leading mantissa bits pick one of 21
 * buckets per sign (index sign * 32 + bucket). No bucket holds more than one
 * threshold, so the code is the bucket's lowest code plus one compare of the
 * magnitude, made unsigned-ascending for both signs by flipping a negative
 * value's bits; NaN codes 0. The table (qk_nf4_bucket_base /
 * qk_nf4_bucket_key per index) comes from qk_nf4_encode itself. Equal to
 * qk_nf4_encode for every input (tests/test_opencl.c). */
#define QK_NF4_BUCKETS 64u
#define QK_NF4_BUCKET_BASE 488u /* (2^-5's exponent 122) << 2 */

QK_FN QK_U32 qk_nf4_bucket_index(QK_U32 x)
{
    QK_U32 a = x & QK_F32_ABS;
    a = (a < 0x3D000000u) ? 0x3D000000u : ((a > QK_F32_ONE) ? QK_F32_ONE : a);
    return (a >> 21) - QK_NF4_BUCKET_BASE + ((x >> 26) & 32u);
}

/* The lowest and highest value of bucket i (i < 64, i & 31 <= 20), as bits. */
QK_FN QK_U32 qk_nf4_bucket_end(QK_U32 i, QK_U32 high)
{
    QK_U32 b = i & 31u, sign = (i >> 5) << 31;
    QK_U32 lo = (b == 0u) ? 0u : (b + QK_NF4_BUCKET_BASE) << 21;
    QK_U32 hi = ((b + QK_NF4_BUCKET_BASE + 1u) << 21) - 1u;
    return sign | (((high != 0u) == (sign == 0u)) ? hi : lo);
}

QK_FN QK_U32 qk_nf4_bucket_base(QK_U32 i)
{
    return ((i & 31u) > 20u) ? 0u : qk_nf4_encode(qk_nf4_bucket_end(i, 0u));
}

/* The bucket's threshold as an unsigned key of the magnitude (bits flipped
 * for negative buckets), or 0xFFFFFFFF (never exceeded) where the bucket's
 * values share one code. */
QK_FN QK_U32 qk_nf4_bucket_key(QK_U32 i)
{
    if ((i & 31u) > 20u)
        return 0xFFFFFFFFu;
    QK_U32 c0 = qk_nf4_bucket_base(i);
    if (qk_nf4_encode(qk_nf4_bucket_end(i, 1u)) == c0)
        return 0xFFFFFFFFu;
    QK_U32 t = qk_nf4_threshold(c0);
    return ((i >> 5) != 0u) ? ~(t & QK_F32_ABS) : t;
}

/* The code of x given its bucket's entry (base, key). */
QK_FN QK_U32 qk_nf4_from_bucket(QK_U32 x, QK_U32 base, QK_U32 key)
{
    QK_U32 a = x & QK_F32_ABS;
    QK_U32 flip = ((x & QK_F32_SIGN) != 0u) ? 0xFFFFFFFFu : 0u;
    QK_U32 c = base + QK_U((a ^ flip) > key);
    return (a > QK_F32_INF) ? 0u : c;
}


/* Nonzero when one of the four bytes of w has all the bits of m set (m's
 * bytes equal and below 0x80): float8 NaN/Inf codes in a word of four
 * (e4m3fn m = 0x7F7F7F7F; e5m2 m = 0x7C7C7C7C, the exponent field). A byte
 * of (w & m) ^ m is zero exactly then and every byte is below 0x80, so the
 * zero-byte test has no false hit. */
QK_FN QK_U32 qk_bytes_have_mask(QK_U32 w, QK_U32 m)
{
    QK_U32 t = (w & m) ^ m;
    return (t - 0x01010101u) & ~t & 0x80808080u;
}

#endif
