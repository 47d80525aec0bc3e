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
