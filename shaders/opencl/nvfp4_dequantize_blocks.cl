/* NVFP4 dequantize an 8-column vector per work-item, for rows of whole
 * 8-column vectors (nvfp4.cl's nvfp4_dequantize takes other widths).
 *
 * Why it is cheaper than nvfp4_dequantize (also 8 columns a work-item): the
 * block scale ts = T(T(g) * T(e4m3(s8))) depends on the scale byte alone,
 * so each work-group tabulates it for all 256 bytes in local memory (tst)
 * once, and a vector costs one byte load and one local load instead of an
 * e4m3 decoding, two roundings to T and a checked product; one code word
 * load and one 16-byte store (two for f32) per vector, each store
 * instruction of a SIMD group covering one contiguous span; the row's
 * offsets in 64 bits once per row, the vector's in 32 bits. A 16-element
 * block per work-item (two stores 16 bytes apart) measured 50% of the copy
 * against this 72% on the H200 (bf16, 1 GiB; nvfp4_dequantize 55%). The
 * elements are as nvfp4_dequantize's: y = T(e2m1 * ts), where with a finite
 * ts no product is NaN (E2M1 values are finite), so qk_mul_finite and
 * narrow_finite give qk_mul's and narrow's bits; an infinite or NaN ts
 * takes qk_mul and narrow in a rolled loop (no second unrolled copy of the
 * soft multiply). */
/* The work-group's tables: lut, the E2M1 values; tst, ts of each scale byte. */
static inline void nvfp4_dq_tables(const int dt, uint g, __local uint *lut, __local uint *tst)
{
    uint gt = round_to(dt, g);
    for (uint k = get_local_id(0); k < 256u; k += get_local_size(0)) {
        if (k < 16u)
            lut[k] = qk_e2m1_to_f32(k);
        tst[k] = round_to(dt, qk_mul(gt, round_to(dt, qk_e4m3_to_f32(k))));
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}

/* Stores the first k (8, or 4) elements of code word w (the first element
 * in the high nibble of each byte) at o, by a scale ts that is Inf or NaN:
 * qk_mul and narrow, rolled (no second unrolled copy of the soft multiply). */
static inline void nvfp4_dq_exact(__global uchar *o, const int dt, uint w, uint k, uint ts, __local const uint *lut)
{
#pragma unroll 1
    for (uint j = 0; j < k; j++) {
        uint byte = (w >> (8u * (j >> 1))) & 0xFFu;
        st_raw(o, dt, j, narrow(dt, qk_mul(lut[(j & 1u) ? (byte & 15u) : (byte >> 4)], ts)));
    }
}

/* The eight elements of code word w by a finite ts, stored at o (16-byte
 * aligned): one uint4 for bf16/f16, two for f32. */
static inline void nvfp4_dq_vec8(__global uint4 *o, const int dt, uint w, uint ts, __local const uint *lut)
{
    uint h[8];
#pragma unroll
    for (int j = 0; j < 8; j++) {
        uint byte = (w >> (8 * (j / 2))) & 0xFFu;
        h[j] = narrow_finite(dt, qk_mul_finite(lut[(j & 1) ? (byte & 15u) : (byte >> 4)], ts));
    }
    if (dt == DT_F32) {
        o[0] = (uint4)(h[0], h[1], h[2], h[3]);
        o[1] = (uint4)(h[4], h[5], h[6], h[7]);
    } else {
        o[0] = (uint4)(h[0] | h[1] << 16, h[2] | h[3] << 16, h[4] | h[5] << 16, h[6] | h[7] << 16);
    }
}

/* An 8-column vector (v) a work-item a step: R rows a step where a row has
 * fewer vectors than the work-group. */
static inline void nvfp4_dequantize_blocks_body(__global const uchar *data, __global const uchar *scale, uint g,
                                                const int dt, ulong rows, ulong cols, uint ncb, uint vpr, uint R,
                                                __global uchar *out, __local uint *lut, __local uint *tst)
{
    nvfp4_dq_tables(dt, g, lut, tst);
    uint lid = get_local_id(0), L = get_local_size(0);
    uint lr = lid / vpr, lc = lid - lr * vpr;
    if (lr >= R)
        return; /* no barrier follows */
    const uint es = dt == DT_F32 ? 4u : 2u;
    ulong rstep = (ulong)get_num_groups(0) * R;
    if (dt == DT_F32) {
        /* a quad (half a vector) a work-item and step, one 16-byte store:
         * a row's work-items store consecutive quads, where a vector's two
         * stores 16 bytes apart wrote half of every sector per instruction
         * (65% of the copy on the H100) */
        uint lanes = R == 1u ? L : vpr;
        for (ulong r = (ulong)get_group_id(0) * R + lr; r < rows; r += rstep) {
            __global const uchar *srow = scale + blocked_row_part(r, ncb);
            __global const ushort *crow = (__global const ushort *)(data + r * ncb * 8u);
            __global uint4 *orow = (__global uint4 *)(out + r * cols * 4u);
            for (uint q = lc; q < 2u * vpr; q += lanes) {
                uint w = crow[q], ts = tst[srow[blocked_col_part(q >> 2)]]; /* quad q's 4 codes; block q / 4 */
                if ((ts & QK_F32_ABS) >= QK_F32_INF) { /* rare */
                    nvfp4_dq_exact((__global uchar *)(orow + q), DT_F32, w, 4u, ts, lut);
                    continue;
                }
                uint h[4];
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    uint byte = (w >> (8 * (j / 2))) & 0xFFu;
                    h[j] = qk_mul_finite(lut[(j & 1) ? (byte & 15u) : (byte >> 4)], ts);
                }
                orow[q] = (uint4)(h[0], h[1], h[2], h[3]);
            }
        }
        return;
    }
    for (ulong r = (ulong)get_group_id(0) * R + lr; r < rows; r += rstep) {
        __global const uchar *srow = scale + blocked_row_part(r, ncb);
        __global const uint *crow = (__global const uint *)(data + r * ncb * 8u);
        __global uint4 *orow = (__global uint4 *)(out + r * cols * es); /* cols % 8 == 0: 16-byte aligned */
        for (uint v = lc; v < vpr; v += L) {
            uint cb = v >> 1, w = crow[v]; /* block; vector v's 8 codes */
            uint ts = tst[srow[blocked_col_part(cb)]];
            if ((ts & QK_F32_ABS) >= QK_F32_INF) /* rare */
                nvfp4_dq_exact((__global uchar *)orow + (ulong)v * 8u * es, dt, w, 8u, ts, lut);
            else
                nvfp4_dq_vec8(orow + v * (es / 2u), dt, w, ts, lut); /* es / 2 uint4 stores a vector */
        }
    }
}

__kernel void nvfp4_dequantize_blocks(__global const uchar *data, __global const uchar *scale, uint g, int dt,
                                      ulong rows, ulong cols, uint ncb, uint vpr, uint R, __global uchar *out,
                                      __local uint *lut, __local uint *tst)
{
    QK_GPU_BY_DTYPE(dt, nvfp4_dequantize_blocks_body(data, scale, g, DTC, rows, cols, ncb, vpr, R, out, lut, tst));
}
