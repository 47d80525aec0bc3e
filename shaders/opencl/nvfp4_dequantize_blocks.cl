/* NVFP4 dequantize a 16-element block per work-item, for rows of whole
 * 8-column vectors (nvfp4.cl's nvfp4_dequantize takes other widths).
 *
 * Why it is cheaper per element than nvfp4_dequantize (which codes 8 columns
 * a work-item): the block scale ts = T(T(g) * T(e4m3(s8))) depends on the
 * scale byte alone, so each work-group tabulates it for all 256 bytes in
 * local memory (tst) once, and a block costs one byte load and one local
 * load instead of an e4m3 decoding, two roundings to T and a checked
 * product; one code load (8 bytes) and two 16-byte stores per block; the
 * row's offsets in 64 bits once per row, the block's in 32 bits. The
 * elements are as nvfp4_dequantize's: y = T(e2m1 * ts), where with a finite
 * ts no product is NaN (E2M1 values are finite), so qk_mul_finite and
 * narrow_finite give qk_mul's and narrow's bits; an infinite or NaN ts
 * takes qk_mul and narrow in a rolled loop (no second unrolled copy of the
 * soft multiply). The last block of a row of 16k + 8 columns stores its
 * first half only. QK_AB=2 (temporary) runs the same with an 8-column vector
 * a work-item (upr = cols / 8 units a row instead of ncb blocks): each
 * store instruction of a SIMD group then covers one contiguous span, at the
 * price of a scale byte and table load per 8 elements. */
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

/* Stores the n (8 or 16) elements of code words w0, w1 (8 codes each, the
 * first element in the high nibble of each byte) at o, by a scale ts that
 * is Inf or NaN: qk_mul and narrow, rolled (no second unrolled copy of the
 * soft multiply). */
static inline void nvfp4_dq_exact(__global uchar *o, const int dt, uint w0, uint w1, uint n, uint ts,
                                  __local const uint *lut)
{
    for (uint j = 0; j < n; j++) {
        uint byte = ((j < 8u ? w0 : w1) >> (8u * ((j >> 1) & 3u))) & 0xFFu;
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

/* A 16-element block (u = cb) or an 8-column vector (u = v, QK_AB=2) a
 * work-item a step: R rows a step where a row has fewer units than the
 * work-group. */
static inline void nvfp4_dequantize_blocks_body(__global const uchar *data, __global const uchar *scale, uint g,
                                                const int dt, ulong rows, ulong cols, uint ncb, uint upr, uint R,
                                                __global uchar *out, __local uint *lut, __local uint *tst)
{
    nvfp4_dq_tables(dt, g, lut, tst);
    uint lid = get_local_id(0), L = get_local_size(0);
    uint lr = lid / upr, lc = lid - lr * upr;
    if (lr >= R)
        return; /* no barrier follows */
    const uint es = dt == DT_F32 ? 4u : 2u, vecs = upr != ncb; /* vecs: a unit is a vector (QK_AB: temporary) */
    const uint tail8 = (uint)(cols & 8); /* 8: the row ends in a half block */
    ulong rstep = (ulong)get_num_groups(0) * R;
    for (ulong r = (ulong)get_group_id(0) * R + lr; r < rows; r += rstep) {
        __global const uchar *srow = scale + blocked_row_part(r, ncb);
        __global const uint *crow = (__global const uint *)(data + r * ncb * 8u);
        __global uint4 *orow = (__global uint4 *)(out + r * cols * es); /* cols % 8 == 0: 16-byte aligned */
        for (uint u = lc; u < upr; u += L) {
            uint cb = vecs ? u >> 1 : u, v = vecs ? u : 2u * u; /* block, first vector */
            uint ts = tst[srow[(cb >> 2) * 512u + (cb & 3u)]];
            uint2 w = vecs ? (uint2)(crow[v], 0u) : ((__global const uint2 *)crow)[cb];
            uint w0 = w.x, w1 = w.y;
            uint n = vecs || (tail8 != 0u && cb + 1u == ncb) ? 8u : 16u;
            if ((ts & QK_F32_ABS) >= QK_F32_INF) { /* rare */
                nvfp4_dq_exact((__global uchar *)orow + (ulong)v * 8u * es, dt, w0, w1, n, ts, lut);
                continue;
            }
            uint vs = es / 2u; /* uint4 stores a vector */
            nvfp4_dq_vec8(orow + v * vs, dt, w0, ts, lut);
            if (n == 16u)
                nvfp4_dq_vec8(orow + (v + 1u) * vs, dt, w1, ts, lut);
        }
    }
}

__kernel void nvfp4_dequantize_blocks(__global const uchar *data, __global const uchar *scale, uint g, int dt,
                                      ulong rows, ulong cols, uint ncb, uint upr, uint R, __global uchar *out,
                                      __local uint *lut, __local uint *tst)
{
    QK_GPU_BY_DTYPE(dt, nvfp4_dequantize_blocks_body(data, scale, g, DTC, rows, cols, ncb, upr, R, out, lut, tst));
}
