/* ConvRot int8 dequantize (src/ref/ref_int8.c, convrot.c) of per-row
 * scales in one pass, for G = 4, 16, 64 or 256 and rows that are whole
 * 64-value runs and whole groups (the host sends other shapes to
 * convrot_rows.cl or convrot.cl): T(unrotate(q * scale[row])), the Vulkan
 * backend's shaders/glsl/convrot_dequantize.comp re-expressed.
 *
 * A work-group of 64 work-items takes a span of 4096 values a step on a
 * grid-stride loop; work-item w takes the 64 consecutive values 64 w ..
 * 64 w + 63 of the span (its codes: four 16-byte loads, issued a step
 * ahead) and runs the levels of stride 1, 4 and 16 (those below G) in
 * registers. The four work-items of a team (w / 4) then swap values once
 * through padded local memory, so that each holds the team's values 16 t
 * + i + 64 m (t = w % 4, i < 16, m < 4): for G = 256 the operands of the
 * level of stride 64, for every G four runs of 16 that the team stores as
 * 64 contiguous bytes a store (a work-item storing its own 64 values
 * leaves stores 128 B apart: 35% of the copy for G = 64 on the H200).
 * OpenCL 1.2 has no barrier for a team alone, so a work-group barrier
 * orders the swap; every step passes the same two barriers, on a trip
 * count the same for the whole work-group.
 *
 * Native rows only: the host sends a chunk here only when every row's
 * scale s is normal with 2^(L-103) <= |s| < 2^(120-2L) (L = log4 G;
 * convrot_dequantize.comp's range) and the program's native f32 keeps
 * subnormals (CR_NATIVE, convrot_rows.cl); other chunks take convrot.cl.
 * Keeping the exact path out of this kernel keeps loops out of branches
 * between barriers, a shape PoCL 5.0's work-group compiler aborts on. In
 * that range the reference's chain has no subnormal and no overflow. Each
 * q * s and each sum is zero or a multiple of ulp(s) >= 2^(L-126), so a
 * nonzero one is normal, and |q s| <= 128 |s| < 2^(127-2L) grows at most
 * 4-fold a level. Every value scaled by 2^-L is then still zero or normal,
 * and RN commutes with that exact scaling: the products q * s' with s' = s
 * 2^-L (exact: one exponent step down) and native sums give the
 * reference's final values directly, without the last product by 2^-L.
 * Signed zeros follow IEEE in both chains. Codes widen by one exact
 * subtraction (0x4B000000 | (c + 128) is 2^23 + 128 + c). The rounding to
 * T of those zero-or-normal values runs on the bits (crd_narrow). */
#define CRD_ITEMS 64u
#define CRD_SPAN (64u * CRD_ITEMS) /* cl_ops.c: CRD_SPAN */

/* Local slot of span value p (convrot_dequantize.comp's cr_slot): a warp's
 * stores (64 w + k, lanes w) and its loads after the swap (256 j + 16 t +
 * 64 m + i, lanes 4 j + t) each hit 32 distinct banks. The host passes
 * crd_slot(4095) + 1 words (CRD_LOCAL). */
static inline uint crd_slot(uint p) { return p + 8u * (p >> 6) + (p >> 8) + 8u * ((p >> 5) & 1u); }

/* narrow() of a native-path value (zero or normal, never NaN or Inf): bf16
 * and f16's normal range by add-and-shift on the bits (f16 saturating at
 * Inf), f16's subnormal range (|y| < 2^-14) by one native sum |y| + 0.75,
 * whose ulp is 2^-24, f16's subnormal step, so its bits less 0.75's are
 * the code (0.75's significand is even: RTE ties go to even codes, and a
 * value rounding up to 2^-14 gives 0x400, its normal code). */
static inline uint crd_narrow(const int dt, uint b)
{
    if (dt == DT_F32)
        return b;
    if (dt == DT_BF16)
        return narrow_finite(DT_BF16, b);
    uint a = b & QK_F32_ABS;
    uint sub = as_uint(as_float(a) + 0.75f) - 0x3F400000u;
    uint nor = min((a - 0x38000000u + 0xFFFu + ((a >> 13) & 1u)) >> 13, 0x7C00u);
    return ((b >> 16) & 0x8000u) | (a < 0x38800000u ? sub : nor);
}

/* Codes e .. e + 63 (four words of four in w[4 k .. 4 k + 3]) and the
 * scale of their row; zeros past the chunk. */
static inline void crd_fetch(__global const uint4 *data, __global const uint *rscale, ulong e, ulong total,
                             ulong row, uint *w, uint *s)
{
    uint4 q[4] = {(uint4)(0u), (uint4)(0u), (uint4)(0u), (uint4)(0u)};
    *s = 0u;
    if (e < total) {
#pragma unroll
        for (uint k = 0; k < 4u; k++)
            q[k] = data[(e >> 4) + k];
        *s = rscale[row];
    }
#pragma unroll
    for (uint k = 0; k < 4u; k++) {
        w[4u * k] = q[k].s0;
        w[4u * k + 1u] = q[k].s1;
        w[4u * k + 2u] = q[k].s2;
        w[4u * k + 3u] = q[k].s3;
    }
}

/* Native path: q * s' (s' = s 2^-L) for the 64 codes in w, then the
 * levels of stride 1, 4 and 16 below G on them (cr_h4: native sums). */
static inline void crd_first_levels(const uint *w, float sp, uint G, uint *x)
{
#pragma unroll
    for (uint k = 0; k < 64u; k++) {
        uint c = ((w[k >> 2] ^ 0x80808080u) >> (8u * (k & 3u))) & 0xFFu;
        x[k] = as_uint((as_float(0x4B000000u | c) - 8388736.0f) * sp);
    }
#pragma unroll
    for (int m = 0; m < 16; m++)
        cr_h4(x, 4 * m, 1);
    if (G > 4u) {
#pragma unroll
        for (int b = 0; b < 4; b++)
#pragma unroll
            for (int m = 0; m < 4; m++)
                cr_h4(x, 16 * b + m, 4);
    }
    if (G > 16u) {
#pragma unroll
        for (int i = 0; i < 16; i++)
            cr_h4(x, i, 16);
    }
}

/* 16 native values r of team member t into elements el .. el + 15 (el a
 * multiple of 16); f32 in the team's store order instead (crd_body): quad
 * u to el - 12 t + 16 u, which is e + 4 t + 16 u for the run's e =
 * el - 16 t. The f32 stores stay here, under the caller's test: the same
 * stores inlined in crd_body made PoCL 5.0's kernel compiler abort
 * (region_entry_barrier != NULL). */
static inline void crd_store_run(__global uint4 *out, const int dt, ulong el, uint t, const uint *r)
{
    if (dt == DT_F32) {
#pragma unroll
        for (uint u = 0; u < 4u; u++)
            out[((el - 12u * t) >> 2) + 4u * u] = (uint4)(r[4u * u], r[4u * u + 1u], r[4u * u + 2u], r[4u * u + 3u]);
        return;
    }
#if defined(QK_HALF_STORES)
    if (dt == DT_F16) {
        st_half8((__global uchar *)out, el >> 3, (uint8)(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]));
        st_half8((__global uchar *)out, (el >> 3) + 1, (uint8)(r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]));
        return;
    }
#endif
    uint h[16];
#pragma unroll
    for (uint k = 0; k < 16u; k++)
        h[k] = crd_narrow(dt, r[k]);
#pragma unroll
    for (uint u = 0; u < 2u; u++)
        out[(el >> 3) + u] = (uint4)(h[8u * u] | h[8u * u + 1u] << 16, h[8u * u + 2u] | h[8u * u + 3u] << 16,
                                     h[8u * u + 4u] | h[8u * u + 5u] << 16, h[8u * u + 6u] | h[8u * u + 7u] << 16);
}

/* The chunk's total values (whole rows of cols, a multiple of 64 and of
 * G), rscale[row] each row's scale; v: CRD_LOCAL words. */
static inline void crd_body(__global const uint4 *data, __global const uint *rscale, const int dt, ulong total,
                            uint cols, uint G, uint L, __global uint4 *out, __local uint *v)
{
    uint w = get_local_id(0), j = w >> 2, t = w & 3u;
    uint ws = 72u * w + j;                        /* crd_slot(64 w) */
    uint rs = 289u * j + 16u * t + 8u * (t >> 1); /* crd_slot(256 j + 16 t) */
    ulong step = (ulong)get_num_groups(0) * CRD_SPAN, e0 = (ulong)get_group_id(0) * CRD_SPAN;
    /* the next fetch's row and column, advanced by a step without a division */
    ulong en = e0 + 64u * w, rn = en / cols, dr = step / cols;
    uint cn = (uint)(en % cols), dc = (uint)(step % cols);
    uint qn[16], sn;
    crd_fetch(data, rscale, en, total, rn, qn, &sn);
    for (; e0 < total; e0 += step) { /* the same trip count for the work-group */
        uint q[16], s = sn, x[64];
#pragma unroll
        for (uint k = 0; k < 16u; k++)
            q[k] = qn[k];
        rn += dr;
        cn += dc;
        if (cn >= cols) {
            cn -= cols;
            rn++;
        }
        crd_fetch(data, rscale, e0 + 64u * w + step, total, rn, qn, &sn);
        /* past the chunk q and s are zero: harmless values, never stored */
        crd_first_levels(q, as_float(s - (L << 23)), G, x);
#pragma unroll
        for (uint k = 0; k < 64u; k++)
            v[ws + k + 8u * (k >> 5)] = x[k];
        barrier(CLK_LOCAL_MEM_FENCE); /* the team's values are in v */
        if (dt == DT_F32) {
            /* x[16 m + 4 u + c] = value 64 m + 16 u + 4 t + c of the
             * team's 256 (slot crd_slot(256 j + 4 t + 64 m + 16 u + c)):
             * the level of stride 64 pairs x[i + 16 m] as below, and store
             * (m, u) of the team's four work-items is one contiguous 64
             * bytes (runs of 16 a work-item stored 16-byte words 64 bytes
             * apart, a quarter of every sector: 64% of the copy on the
             * H100). Two-way bank conflicts on these reads, where the
             * 16-bit reads below have none. */
#pragma unroll
            for (uint m = 0; m < 4u; m++)
#pragma unroll
                for (uint u = 0; u < 4u; u++)
#pragma unroll
                    for (uint c = 0; c < 4u; c++)
                        x[16u * m + 4u * u + c] = v[289u * j + 4u * t + 72u * m + 16u * u + 8u * (u >> 1) + c];
        } else {
#pragma unroll
            for (uint m = 0; m < 4u; m++)
#pragma unroll
                for (uint i = 0; i < 16u; i++)
                    x[16u * m + i] = v[rs + 72u * m + i];
        }
        if (G == 256u)
#pragma unroll
            for (int i = 0; i < 16; i++)
                cr_h4(x, i, 16); /* stride 64 */
        /* run m holds elements et + 64 m .. + 15, from work-item 4 j + m:
         * stored where that one's values lay inside the chunk (f32: quads
         * of the same 64-value span, crd_store_run; the chunk holds whole
         * spans, so the test is the span's) */
        ulong et = e0 + 256u * j + 16u * t;
#pragma unroll
        for (uint m = 0; m < 4u; m++)
            if (et + 64u * m < total)
                crd_store_run(out, dt, et + 64u * m, t, x + 16u * m);
        barrier(CLK_LOCAL_MEM_FENCE); /* the next step's stores to v come after these loads */
    }
}

__kernel __attribute__((reqd_work_group_size(64, 1, 1))) void convrot_dequantize_runs(
    __global const uint4 *data, __global const uint *rscale, int dt, ulong total, uint cols, uint G, uint levels,
    __global uint4 *out, __local uint *v)
{
    QK_BY_DTYPE(dt, crd_body(data, rscale, DTC, total, cols, G, levels, out, v));
}
