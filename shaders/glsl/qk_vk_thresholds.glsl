/* float8 / int8 codes of a group's bf16/f16 elements by thresholds, shared
 * by the row and tile shaders (include after qk_vk_scaled.glsl; needs
 * pc.mode and pc.dt and GL_EXT_control_flow_attributes).
 *
 * s_t[k - 1] is the smallest 16-bit magnitude whose code magnitude is >= k
 * (qk_threshold, the coder's own answer), so an element's code magnitude is
 * the number of thresholds <= |h|. An element finds it from a native
 * estimate m0 and two lookups: m0 is within one of the count (see
 * qk_estimate), and with sorted thresholds m0 + [s_t[m0] <= |h|] -
 * [s_t[m0 - 1] > |h|] is then the count exactly. Groups where the estimate
 * is not sure to be that close (a multiplier or divisor near the ends of
 * the f32 range, or thresholds among the subnormal patterns a device may
 * flush) take the 8-step binary search instead. */
#ifndef QK_THRESHOLD_GROUPS
#define QK_THRESHOLD_GROUPS 1u /* groups a workgroup codes at once */
#endif
shared uint s_t[256u * QK_THRESHOLD_GROUPS]; /* a group's thresholds, then 0xFFFFFFFF */

uint qk_t0;          /* this invocation's group's first entry in s_t */
float qk_est_factor; /* |multiplier| (float8) or 1 / |divisor| (int8) */
bool qk_est_sure;

/* The 128 thresholds of this invocation's group (entries from base, filled
 * by the nthreads invocations lt = 0.. of the group) into s_t, and the
 * estimate's factor. Every invocation of the workgroup calls it, in
 * uniform control flow: it holds a barrier. a: the group's multiplier
 * (float8) or divisor (int8). */
void qk_fill_thresholds(uint a, uint base, uint lt, uint nthreads)
{
    for (uint k = lt; k < 256u; k += nthreads)
        s_t[base + k] = k < 128u ? qk_threshold(pc.mode, pc.dt, a, k + 1u) : 0xFFFFFFFFu;
    barrier();
    qk_t0 = base;
    /* a's exponent well inside the range: OpFDiv is then within 2.5 ulp */
    uint ae = (a >> 23) & 0xFFu;
    precise float f = pc.mode < 2u ? uintBitsToFloat(a & QK_F32_ABS) : 1.0 / uintBitsToFloat(a & QK_F32_ABS);
    qk_est_factor = f;
    qk_est_sure = ae - 8u < 239u && ((floatBitsToUint(f) >> 23) & 0xFFu) - 8u < 239u &&
                  s_t[base] > (pc.dt == DT_BF16 ? 0x7Fu : 0x3FFu);
}

/* A code magnitude within one of the exact one for the magnitude mag. With
 * p = |x| * factor (native; a flushed product is far below any code's
 * threshold, which lies above every subnormal pattern here):
 * int8: RN(p) differs from RNE(T(x / d)) by at most one, as |T(y) - y| is
 * at most a quarter below 128 and p is within 2^-20 of x / d;
 * float8: encoding p skips the rounding to T, which moves a value by less
 * than a float8 step and never across a boundary it sits on, and the
 * subnormal codes round half up; each differs by at most one code. */
uint qk_estimate(uint mag)
{
    float x = pc.dt == DT_BF16 ? uintBitsToFloat(mag << 16) : unpackHalf2x16(mag).x;
    precise float p = x * qk_est_factor;
    uint m0;
    if (pc.mode >= 2u) {
        precise float q = min(p, 128.0) + 0.5;
        m0 = uint(q);
    } else if (pc.mode == 0u) {
        float pa = min(p, 448.0);
        uint b = floatBitsToUint(pa);
        precise float sub = pa * 512.0 + 0.5;
        m0 = b >= 0x3C800000u ? ((b + 0x7FFFFu + ((b >> 20) & 1u)) >> 20) - (120u << 3) : uint(sub);
    } else {
        float pa = min(p, 57344.0);
        uint b = floatBitsToUint(pa);
        precise float sub = pa * 65536.0 + 0.5;
        m0 = b >= 0x38800000u ? ((b + 0xFFFFFu + ((b >> 21) & 1u)) >> 21) - (112u << 2) : uint(sub);
    }
    return min(m0, 128u); /* NaN/Inf input (the call fails) stays in bounds */
}

/* The code of the 16-bit element h. */
uint qk_code_by_thresholds(uint h)
{
    uint mag = h & 0x7FFFu, m = 0u;
    if (qk_est_sure) {
        uint m0 = qk_estimate(mag);
        m = m0 + (s_t[qk_t0 + m0] <= mag ? 1u : 0u) - (m0 > 0u && s_t[qk_t0 + m0 - 1u] > mag ? 1u : 0u);
    } else {
        [[unroll]] for (uint step = 128u; step > 0u; step >>= 1)
            if (s_t[qk_t0 + m + step - 1u] <= mag)
                m += step;
    }
    return qk_signed_code(pc.mode, h, m);
}

/* The larger 16-bit magnitude of a word's two elements: widening is
 * monotone in it (NaN and Inf stay >= Inf), so one widen gives the amax. */
uint qk_mag2(uint w) { return max(w & 0x7FFFu, (w >> 16) & 0x7FFFu); }
