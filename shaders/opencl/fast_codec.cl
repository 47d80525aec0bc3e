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

/* qk_nf4_encode with the thresholds' order keys precomputed: no threshold
 * is zero, so qk_f32_gt(x, t) is key(x) > key(t). */
QK_FN QK_U32 qk_nf4_encode_fast(QK_U32 x)
{
    if (qk_f32_is_nan(x) != 0u)
        return 0u;
    QK_U32 k = qk_f32_key(x);
    QK_U32 c = QK_U(k > 0x40A6E326u) + QK_U(k > 0x40E3AD8Fu) + QK_U(k > 0x41147B7Fu) +
               QK_U(k > 0x41521589u) + QK_U(k > 0x418FC313u) + QK_U(k > 0x41F2C743u) +
               QK_U(k > 0x42C5878Eu) + QK_U(k > 0xBD22FAFFu) + QK_U(k > 0xBDF64863u) +
               QK_U(k > 0xBE5067E0u) + QK_U(k > 0xBE9582D4u) + QK_U(k > 0xBEC753F9u) +
               QK_U(k > 0xBF006D03u) + QK_U(k > 0xBF248DAFu) + QK_U(k > 0xBF5C89D9u);
    return c;
}

/* qk_fp4_encode with the rank -> code map {0,1,6,7,4,5,2,3} as nibbles of
 * one constant instead of a switch. */
QK_FN QK_U32 qk_fp4_encode_fast(QK_U32 x)
{
    if (qk_f32_is_nan(x) != 0u)
        return 0u;
    QK_U32 s = ((x & QK_F32_SIGN) != 0u && (x & QK_F32_ABS) != 0u) ? 8u : 0u;
    QK_U32 a = x & QK_F32_ABS;
    QK_U32 r = QK_U(a > 0x3B2AAAB9u) + QK_U(a > 0x3DB00000u) + QK_U(a > 0x3E555555u) +
               QK_U(a > 0x3E955555u) + QK_U(a > 0x3ED55556u) + QK_U(a > 0x3F155550u) +
               QK_U(a > 0x3F555555u);
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

#endif
