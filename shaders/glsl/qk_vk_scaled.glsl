/* float8 / int8 pieces shared by the scales, quantize and fused row
 * shaders (src/ref/ref_fp8.c, ref_int8.c). Include after qk_vk.glsl. */

/* Scale part and per-group multiplier (float8: T(1/scale)) or divisor
 * (int8) from the group's amax m. kind: 0 float8, 1 int8_tensorwise,
 * 2 int8_blockwise. extra: the float8 maximum, or int8_blockwise's T(1e-8). */
void qk_group_scale(uint kind, uint dt, uint m, uint extra, out uint scale, out uint aux)
{
    if (kind == 0u) {
        scale = qk_round_to(dt, qk_div(m, extra));
        aux = qk_round_to(dt, qk_div(QK_F32_ONE, scale));
    } else if (kind == 1u) {
        uint s = qk_div(m, QK_F32_INT8_MAX);
        if (s < QK_F32_1E_30)
            s = QK_F32_1E_30;
        scale = s;
        uint st = qk_round_to(dt, s);
        aux = st != 0u ? st : (dt == DT_F16 ? 0x38800000u : 0x00800000u); /* T's smallest normal */
    } else {
        uint s = qk_round_to(dt, qk_div(m, QK_F32_INT8_MAX));
        scale = s < extra ? extra : s;
        aux = scale;
    }
}

/* The code of x with the group's multiplier/divisor a. mode: 0 e4m3,
 * 1 e5m2, 2 int8_tensorwise, 3 int8_blockwise. */
uint qk_scaled_code(uint mode, uint dt, uint x, uint a)
{
    if (mode < 2u) {
        uint fpmax = mode == 1u ? QK_F32_E5M2_MAX : QK_F32_E4M3_MAX;
        uint v = (x & QK_F32_ABS) == 0u ? x : qk_round_to(dt, qk_mul(x, a));
        v = qk_f32_clamp_abs(v, fpmax);
        return mode == 1u ? qk_to_e5m2(v) : qk_to_e4m3(v);
    }
    if (a == 0u)
        return 0u; /* blockwise zero tile with a zero floor */
    uint q = qk_round_to(dt, qk_div(x, a));
    if (mode == 3u)
        q = qk_f32_clamp_abs(q, QK_F32_INT8_MAX);
    return uint(qk_f32_to_int_rne_clamp(q, -128, 127)) & 0xFFu;
}

/* float8 / int8 of bf16/f16 input by thresholds. The code magnitude of a
 * positive element (float8 codes are sign-magnitude); int8_tensorwise's is
 * clamped to 128 rather than 127: division and RNE are symmetric, so the
 * sign then picks min(m, 127) or -m exactly as the clamp to [-128, 127]
 * does. */
uint qk_mag_code(uint mode, uint dt, uint x, uint a)
{
    if (mode == 2u)
        return uint(qk_f32_to_int_rne_clamp(qk_round_to(dt, qk_div(x, a)), 0, 128));
    return qk_scaled_code(mode, dt, x, a);
}

/* The code of the 16-bit element h whose magnitude has code magnitude m. */
uint qk_signed_code(uint mode, uint h, uint m)
{
    if (mode < 2u)
        return m | ((h >> 8) & 0x80u);
    return (h & 0x8000u) != 0u ? (0u - m) & 0xFFu : min(m, 127u);
}

bool qk_reaches(uint mode, uint dt, uint a, uint p, uint pend, uint k)
{
    return p >= pend || qk_mag_code(mode, dt, qk_widen(dt, p), a) >= k;
}

/* The smallest 16-bit magnitude pattern whose code magnitude is >= k
 * (1..128), or pend (the first non-finite pattern) if none: codes are
 * monotone in |x| (products, quotients, roundings and clamps are), so the
 * code magnitude of |h| is the number of thresholds <= |h|. Each step is
 * the per-element coder itself; a native guess (int8: (k - 1/2) * a;
 * float8: the midpoint of codes k - 1 and k over the multiplier a) only
 * picks where the search starts (any guess gives the same result, NaN
 * included; a close one costs two evaluations): gallop, then bisect. */
uint qk_threshold(uint mode, uint dt, uint a, uint k)
{
    uint pend = dt == DT_BF16 ? 0x7F80u : 0x7C00u;
    precise float g;
    if (mode < 2u) {
        uint lo8 = mode == 0u ? qk_e4m3_to_f32(k - 1u) : qk_e5m2_to_f32(k - 1u);
        uint hi8 = mode == 0u ? qk_e4m3_to_f32(k) : qk_e5m2_to_f32(k);
        g = (uintBitsToFloat(lo8) + uintBitsToFloat(hi8)) * 0.5 / uintBitsToFloat(a & QK_F32_ABS);
    } else {
        g = (float(k) - 0.5) * uintBitsToFloat(a & QK_F32_ABS);
    }
    uint gb = floatBitsToUint(g) & QK_F32_ABS;
    uint p = gb > QK_F32_INF ? pend : min(qk_narrow(dt, gb), pend);
    /* one coder call site (it is large), so a small state machine: phase 0
     * tests the guess, 1 gallops down, 2 gallops up, 3 bisects; the answer
     * stays in [lo, hi] and hi reaches. At most 1 + 16 + 16 steps. */
    uint lo = 0u, hi = pend, step = 1u, phase = 0u, q = p;
    for (uint it = 0u; it < 40u; it++) {
        bool ok = qk_reaches(mode, dt, a, q, pend, k);
        if (phase == 0u) {
            phase = ok ? 1u : 2u;
        } else if (phase == 1u && !ok) {
            phase = 3u;
        } else if (phase == 2u && ok) {
            phase = 3u;
        } else if (phase != 3u) {
            step <<= 1;
        }
        if (ok)
            hi = q;
        else
            lo = q + 1u;
        if (phase == 1u) {
            if (hi >= step) {
                q = hi - step;
                continue;
            }
            phase = 3u; /* the answer is in [0, hi] */
        } else if (phase == 2u) {
            if (lo + step - 1u < pend) {
                q = lo + step - 1u;
                continue;
            }
            phase = 3u; /* the answer is in [lo, pend] */
        }
        if (lo >= hi)
            break;
        q = (lo + hi) >> 1;
    }
    return lo;
}

/* The larger 16-bit magnitude of a word's two elements: widening is
 * monotone in it (NaN and Inf stay >= Inf), so one widen gives the amax. */
uint qk_mag2(uint w) { return max(w & 0x7FFFu, (w >> 16) & 0x7FFFu); }
