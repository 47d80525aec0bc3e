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

/* The table nvfp4_table.comp fills, in uvec4 units. bf16/f16 input:
 * [0, 2048) the scale byte of every 16-bit block amax m (byte m % 4 of
 * word m / 4), then per scale byte two units of its pair thresholds
 * (qk_vk_nvfp4_pairs.glsl): (hp0, hp1, hp3, 1 where codes are needed),
 * qk_pair_steps(hp). f32 input: word k of [0, 32) the least amax whose
 * scale byte is k or more (QK_NVFP4_NEVER past the largest byte, 0x7E);
 * .x of unit 32 an estimate of 1 / (6 g); per scale byte its bounds
 * (c0, c1, c2, c3), (c4, c5, c6, 1 where codes are needed). */
#define QK_NVFP4_TAB_BOUNDS 2048u
#define QK_NVFP4_TAB_UNITS (QK_NVFP4_TAB_BOUNDS + 512u)
#define QK_NVFP4_TAB_ESTIMATE 32u
#define QK_NVFP4_NEVER 0xFFFFFFFFu

/* The least f32 amax whose scale byte under g is k or more (1 <= k <=
 * 0x7E), by a binary search: the byte does not decrease with the amax
 * (every step rounds a quotient by a positive constant), and +Inf's is
 * 0x7E. It searches 128 bit patterns around m0, the amax whose quotient
 * is the e4m3 values' midpoint, where the bytes at the ends prove they
 * bracket it (7 steps, not 31); else every pattern. */
uint qk_nvfp4_threshold(uint k, uint g)
{
    uint between = qk_mul(qk_add(qk_e4m3_to_f32(k - 1u), qk_e4m3_to_f32(k)), 0x3F000000u); /* exact */
    uint m0 = qk_mul(qk_mul(between, g), QK_F32_E2M1_MAX), lo = 0u, hi = QK_F32_INF;
    if (m0 - 64u < QK_F32_INF - 128u && qk_nvfp4_scale_byte(m0 - 64u, g) < k &&
        qk_nvfp4_scale_byte(m0 + 64u, g) >= k) {
        lo = m0 - 63u;
        hi = m0 + 64u;
    }
    while (lo < hi) {
        uint mid = lo + ((hi - lo) >> 1);
        if (qk_nvfp4_scale_byte(mid, g) >= k)
            hi = mid;
        else
            lo = mid + 1u;
    }
    return lo;
}
