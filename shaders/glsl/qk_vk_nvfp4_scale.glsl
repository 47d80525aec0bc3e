/* NVFP4's per-block steps (src/ref/ref_nvfp4.c), shared by
 * nvfp4_quantize.comp and nvfp4_table.comp, so a table entry is the byte
 * and bounds the per-block path computes. */

/* The scale byte of a block of amax m under g: e4m3(min((m / 6) / g, 448)). */
uint qk_nvfp4_scale_byte(uint m, uint g)
{
    uint s = qk_div(qk_div(m, QK_F32_E2M1_MAX), g);
    if (s > QK_F32_E4M3_MAX)
        s = QK_F32_E4M3_MAX; /* also catches +Inf and NaN */
    return qk_to_e4m3(s);
}

/* The block scale t = g * e4m3(s8). */
uint qk_nvfp4_block_t(uint s8, uint g) { return qk_mul(g, qk_e4m3_to_f32(s8)); }

/* t == 0: the reference's zero block. A non-finite t needs a NaN/Inf
 * input, which scales.comp flags and the call refuses: zero codes. */
bool qk_nvfp4_codes_needed(uint t) { return (t & QK_F32_ABS) - 1u < QK_F32_INF - 1u; }

/* The table nvfp4_table.comp fills for bf16/f16 input, in uvec4 units:
 * [0, 2048) the scale byte of every 16-bit block amax m (byte m % 4 of
 * word m / 4), then per scale byte two units of its pair thresholds
 * (qk_vk_nvfp4_pairs.glsl): (hp0, hp1, hp3, 1 where codes are needed),
 * qk_pair_steps(hp). */
#define QK_NVFP4_TAB_BOUNDS 2048u
#define QK_NVFP4_TAB_UNITS (QK_NVFP4_TAB_BOUNDS + 512u)
