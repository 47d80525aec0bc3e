/* int8_tensorwise's scalars of a 16-bit row (scaled_params' stored scale
 * and divisor, int8_reciprocal's RN(1/d)) without qk_div, for programs
 * whose native f32 products, sums and fma are IEEE's
 * (QK_INT8_BY_RECIPROCAL). Where the device lacks correctly rounded
 * division, qk_div's integer long division costs every work-item of a
 * ConvRot row some 450 instructions a row; where it has it (NVIDIA), these
 * steps still measured faster than its two native divisions (H100, bf16
 * G = 256: 46-47% of the copy against 45%, docs/BACKEND-OPENCL.md). Both
 * quotients below are correctly rounded because a 16-bit amax or divisor
 * has at most 11 significant bits; int8_scalars_check compares all three
 * words with scaled_params' and int8_reciprocal's for every finite 16-bit
 * amax (test_opencl.c). */
#if defined(QK_INT8_BY_RECIPROCAL)

/* RN(1/d) for a dt value d in [2^-126, 2^122): a first guess within 5.1%
 * (relative) from the bits, then Newton steps y + y (1 - d y) by fma, each
 * squaring the error (plus a rounding): 2^-8.6, 2^-17, 2^-23, and the
 * fourth one's exact value lies within 2^-45 of 1/d. 1/d = 2^k / M (M an
 * integer below 2^11) is not a midpoint of f32 values and lies at least
 * 2^-36 (relative) from every one, so that last step rounds to RN(1/d). */
static inline uint rcp16(uint d)
{
    float df = as_float(d), y = as_float(0x7EF311C3u - d);
#pragma unroll
    for (int k = 0; k < 4; k++)
        y = fma(fma(-df, y, 1.0f), y, y);
    return as_uint(y);
}

/* round_to(dt, a) for a non-negative a or a NaN: f16's value widened back
 * by vload_half (core OpenCL 1.2; one conversion on NVIDIA against
 * widen16's branches for subnormals, Inf and NaN), exact for every f16
 * value; a NaN comes back as a NaN, whose bits no caller keeps (they test
 * >= Inf). */
static inline uint round_to_pos(const int dt, uint a)
{
    if (dt != DT_F16)
        return round_to(dt, a);
    ushort h = (ushort)f16_narrow(a);
    return as_uint(vload_half(0, (const __private half *)&h));
}

/* scaled_params(FMT_INT8, dt, m, d) and *rd = int8_reciprocal(FMT_INT8,
 * *d) for the f32 bits m of a finite 16-bit amax. RN(m / 127) by
 * Markstein's correction: q0 = RN(m c), c = RN(1/127), is within an ulp,
 * the residual m - 127 q0 is exact by one fma, and q0 + residual c lies
 * within 2^-47 (relative) of m / 127, which (m having at most 11
 * significant bits) is a value of f32 or at least 2^-33 from every
 * midpoint: RN gives RN(m / 127). Below m = 2^-93, m / 127 < 2^-99.98
 * rounds under 1e-30 anyway (and could be subnormal): the floor. */
static inline uint int8_scalars16(const int dt, uint m, uint *d, uint *rd)
{
    uint scale = QK_F32_1E_30;
    if (m >= 0x11000000u) {
        float mf = as_float(m), c = 0x1.020408p-7f, q0 = mf * c;
        scale = max(as_uint(fma(fma(-127.0f, q0, mf), c, q0)), QK_F32_1E_30);
    }
    uint s_t = round_to_pos(dt, scale);
    *d = s_t != 0u ? s_t : (dt == DT_F16 ? 0x38800000u : 0x00800000u); /* T's smallest normal */
    *rd = rcp16(*d);
    return scale;
}

#else

static inline uint round_to_pos(const int dt, uint a) { return round_to(dt, a); }

/* The same words by qk_div (programs without IEEE native f32). */
static inline uint int8_scalars16(const int dt, uint m, uint *d, uint *rd)
{
    uint scale = scaled_params(FMT_INT8, dt, m, d);
    *rd = int8_reciprocal(FMT_INT8, *d);
    return scale;
}

#endif

/* Every finite positive 16-bit amax h (a work-item each, h < 0x7C00 f16,
 * 0x7F80 bf16): out[0] counts the amaxes whose scale, divisor or
 * reciprocal differs from scaled_params' and int8_reciprocal's, out[1]
 * keeps the smallest such h; out[2] = 1 where the program divides by
 * qk_div (nothing to compare). */
__kernel void int8_scalars_check(int dt, __global uint *out)
{
    uint h = get_global_id(0);
#if !defined(QK_INT8_BY_RECIPROCAL)
    if (h == 0u)
        out[2] = 1u;
#endif
    if (h >= (dt == DT_F16 ? 0x7C00u : 0x7F80u))
        return;
    uint m = widen16(dt, h), d, rd, dw;
    uint s = int8_scalars16(dt, m, &d, &rd), sw = scaled_params(FMT_INT8, dt, m, &dw);
    if (s != sw || d != dw || rd != int8_reciprocal(FMT_INT8, dw)) {
        atomic_inc(out);
        atomic_min(out + 1, h);
    }
}
