/* int8 codes of bf16/f16 elements by a product with the divisor's
 * reciprocal, shared by the row and tile shaders (include after
 * qk_vk_scaled.glsl; needs QK_DT). They equal qk_scaled_code's, whose
 * x / d is a correctly rounded division, for every divisor d a row or
 * tile can have and every element x it can hold (|x| <= amax):
 *
 * - r = RN(1/d) is computed once per group by qk_div; q0 = RN(x r) is then
 *   within two ulp of x / d.
 * - The codes take q0 as the quotient. bf16: with 8-bit x and d, x / d is
 *   never within 2^-15 (relative) of a point halfway between bf16 values,
 *   so q0 and the correctly rounded quotient round to the same bf16. f16
 *   leaves no such margin in general, but over the pairs a group can hold
 *   no q0 changes a code: test_int8_rcp_every_pair (tests/test_vulkan.c)
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

/* RN(1/d) where the product path may use it (d: the group's divisor, f32
 * bits), else 0. */
uint qk_int8_reciprocal(uint d)
{
    return d >= 0x0D800000u && d < QK_F32_INF ? qk_div(QK_F32_ONE, d) : 0u;
}

/* The code of x (a bf16/f16 element as f32). mode: 2 int8_tensorwise,
 * 3 int8_blockwise; r: the reciprocal of the group's divisor. */
uint qk_int8_code_rcp(uint mode, float x, float r)
{
    precise float q0 = x * r;
    uint q = floatBitsToUint(q0);
    uint a = q & QK_F32_ABS, t;
    if (QK_DT == DT_BF16)
        t = (a + 0x7FFFu + ((a >> 16) & 1u)) & 0xFFFF0000u;
    else
        t = a < 0x38800000u ? 0u : (a + 0xFFFu + ((a >> 13) & 1u)) & 0xFFFFE000u;
    precise float v = clamp(uintBitsToFloat(t | (q & QK_F32_SIGN)), mode == 3u ? -127.0 : -128.0, 127.0);
    precise float biased = v + 12582912.0; /* 1.5 * 2^23: rounds v to an integer, ties to even */
    return floatBitsToUint(biased) & 0xFFu;
}

/* Whether f16 elements may be widened natively (unpackHalf2x16, which may
 * flush subnormals): with d >= 2^-13 a subnormal x has |x / d| < 1/2, code
 * 0 either way. d: the group's divisor (f32 bits); uniform. */
bool qk_int8_native16(uint d) { return QK_DT == DT_F16 && d >= 0x39000000u; }

/* The four codes of the 16-bit elements in w (element 0 lowest), packed. */
uint qk_int8_codes4_rcp(uint mode, uvec2 w, float r, bool native16)
{
    uint c[4];
    if (native16) {
        [[unroll]] for (uint i = 0u; i < 2u; i++) {
            vec2 f = unpackHalf2x16(w[i]);
            c[2u * i] = qk_int8_code_rcp(mode, f.x, r);
            c[2u * i + 1u] = qk_int8_code_rcp(mode, f.y, r);
        }
    } else {
        [[unroll]] for (uint i = 0u; i < 4u; i++) {
            uint h = (w[i >> 1] >> (16u * (i & 1u))) & 0xFFFFu;
            c[i] = qk_int8_code_rcp(mode, uintBitsToFloat(QK_DT == DT_BF16 ? h << 16 : qk_f16_widen_finite(h)), r);
        }
    }
    return c[0] | (c[1] << 8) | (c[2] << 16) | (c[3] << 24);
}
