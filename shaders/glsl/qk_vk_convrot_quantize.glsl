/* ConvRot int8 quantize's native range and T rounding, shared by the
 * one-pass row shaders (qk_vk_convrot_row_quantize.glsl and
 * convrot_quantize.comp, whose head comments give the argument). Needs
 * pc.levels (L = log4 G) and QK_DT. */

uint fast_lo() { return (24u + pc.levels) << 23; } /* 2^(L - 103) */

/* 2^(127 - 2L); bf16 in shaders that round by qk_bf16_round_split
 * (QK_CR_BF16_SPLIT) 2^(111 - 2L), so every sum stays below 2^111. */
uint fast_hi()
{
#ifdef QK_CR_BF16_SPLIT
    uint top = QK_DT == DT_BF16 ? 222u : 254u;
#else
    uint top = 254u;
#endif
    uint h = (top - 2u * pc.levels) << 23;
    return QK_DT == DT_F16 ? min(h, 0x47800000u) : h;
}

/* The range test of a value x (f32 bits) into mn and mx (start at ~0 and
 * 0): the smallest nonzero magnitude from min(|x| - 1), where 0 wraps to
 * the top, and the largest magnitude (NaN and Inf above every bound). */
void range_add(uint x, inout uint mn, inout uint mx)
{
    uint a = x & QK_F32_ABS;
    mn = min(mn, a - 1u);
    mx = max(mx, a);
}

/* Whether every value range_add took is zero or in [fast_lo, fast_hi). */
bool range_native(uint mn, uint mx) { return mn >= fast_lo() - 1u && mx < fast_hi(); }

/* The same test on a word of two bf16/f16 values, both at once, into bad
 * (starts at 0): bit 15 of a half is set where its magnitude m is nonzero
 * and below lo (m + 0x7FFF has it, m + 0x8000 - lo not), or at least hi
 * (m + 0x8000 - hi has it); no sum reaches 2^16, so no carry crosses
 * halves. bf16: the bounds' high halves (their low halves are 0). f16:
 * every finite nonzero value is in the range (2^-24 >= 2^(L-103), 65504
 * < 2^16), so lo = 1 and hi = Inf's bits. */
void range_add16(uint w, inout uint bad)
{
    uint lo = QK_DT == DT_BF16 ? fast_lo() >> 16 : 1u;
    uint hi = QK_DT == DT_BF16 ? fast_hi() >> 16 : 0x7C00u;
    uint m = w & 0x7FFF7FFFu;
    bad |= (m + (0x8000u - hi) * 0x10001u) | ((m + 0x7FFF7FFFu) & ~(m + (0x8000u - lo) * 0x10001u));
}

/* Whether every value range_add16 took is zero or in the range. */
bool range_native16(uint bad) { return (bad & 0x80008000u) == 0u; }

/* f16's rounding of a magnitude m below 2^-14 (f16's subnormal range), as
 * f32 bits, by one native sum: m + 0.75 rounds m to a multiple k of 2^-24
 * (the ulp there, f16's subnormal step), read off the sum's bits; k * 2^-24
 * is exact. (Not by subtracting 0.75 again: glslc -O's unroller keeps
 * NoContraction on the first copy of a loop body only, and spirv-opt
 * folded (x + 0.75) - 0.75 to x in the others.) A flushed f32 m gives
 * k = 0, as the exact k is. */
uint f16_tiny_round(float m)
{
    precise float up = m + 0.75;
    precise float sub = float(floatBitsToUint(up) - 0x3F400000u) * uintBitsToFloat(0x33800000u);
    return floatBitsToUint(sub);
}

/* A native-path sum times 2^-L (down), rounded to T. The product is zero or
 * normal, so exact; the T rounding runs on the bits (ties to even), f16's
 * subnormal range by f16_tiny_round. An f16 rounding past 65504 gives
 * 2^16, which the shaders take for Inf. */
uint finish_fast(uint x, float down)
{
    precise float y = uintBitsToFloat(x) * down;
    uint b = floatBitsToUint(y), a = b & QK_F32_ABS;
    uint h = a < 0x38800000u ? f16_tiny_round(uintBitsToFloat(a)) : (a + 0xFFFu + ((a >> 13) & 1u)) & 0xFFFFE000u;
    return QK_DT == DT_BF16 ? (b + 0x7FFFu + ((b >> 16) & 1u)) & 0xFFFF0000u
         : QK_DT == DT_F16  ? h | (b & QK_F32_SIGN)
                            : b;
}

/* x 2^-L (L = pc.levels, 1..4) correctly rounded, as qk_mul by 2^-L gives
 * it, in a few integer steps: the general soft product, though rarely run,
 * cost convrot_quantize256.comp two points of the copy on an H100. An
 * exponent field above L drops by L (the result is normal, exact); at or
 * below it the result is subnormal or zero, the significand shifted right
 * by L + 1 - max(field, 1) (1..L) with ties to even (a carry into the
 * exponent field makes the smallest normal, as it should). Inf and NaN
 * (field 255) stay as they are. A subnormal result codes to 0 whatever
 * its bits (the scale is at least 1e-30), so only the normal branch shows
 * in the output; the other is kept exact all the same. */
uint scale_down_exact(uint x)
{
    uint a = x & QK_F32_ABS, ex = a >> 23, L = pc.levels;
    if (ex > L)
        return ex == 255u ? x : x - (L << 23);
    uint sig = (a & 0x7FFFFFu) | (ex != 0u ? 0x800000u : 0u);
    uint sh = L + 1u - max(ex, 1u), hb = 1u << (sh - 1u), rem = sig & ((hb << 1) - 1u), q = sig >> sh;
    q += rem > hb || (rem == hb && (q & 1u) != 0u) ? 1u : 0u;
    return q | (x & QK_F32_SIGN);
}

/* The exact path's value times 2^-L, rounded to T (any input). */
uint finish_exact(uint x) { return qk_round_to(QK_DT, scale_down_exact(x)); }
