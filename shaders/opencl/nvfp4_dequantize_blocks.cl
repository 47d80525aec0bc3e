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
 * first half only. */
static inline void nvfp4_dequantize_blocks_body(__global const uchar *data, __global const uchar *scale, uint g,
                                                const int dt, ulong rows, ulong cols, uint ncb, uint R,
                                                __global uchar *out, __local uint *lut, __local uint *tst)
{
    uint lid = get_local_id(0), L = get_local_size(0);
    uint gt = round_to(dt, g);
    for (uint k = lid; k < 256u; k += L) {
        if (k < 16u)
            lut[k] = qk_e2m1_to_f32(k);
        tst[k] = round_to(dt, qk_mul(gt, round_to(dt, qk_e4m3_to_f32(k))));
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    uint lr = lid / ncb, lc = lid - lr * ncb;
    if (lr >= R)
        return; /* no barrier follows */
    const uint es = dt == DT_F32 ? 4u : 2u, tail8 = (uint)(cols & 8); /* 8: the row ends in a half block */
    ulong rstep = (ulong)get_num_groups(0) * R;
    for (ulong r = (ulong)get_group_id(0) * R + lr; r < rows; r += rstep) {
        __global const uchar *srow = scale + blocked_row_part(r, ncb);
        __global const uint2 *crow = (__global const uint2 *)data + r * ncb;
        __global uint4 *orow = (__global uint4 *)(out + r * cols * es); /* cols % 8 == 0: 16-byte aligned */
        for (uint cb = lc; cb < ncb; cb += L) {
            uint ts = tst[srow[(cb >> 2) * 512u + (cb & 3u)]];
            uint2 w = crow[cb];
            int full = tail8 == 0u || cb + 1u < ncb;
            if ((ts & QK_F32_ABS) >= QK_F32_INF) { /* rare: the exact operations, rolled */
                __global uchar *o = (__global uchar *)orow + (ulong)cb * 16u * es;
                for (uint j = 0; j < (full ? 16u : 8u); j++) {
                    uint byte = ((j < 8u ? w.x : w.y) >> (8u * ((j >> 1) & 3u))) & 0xFFu;
                    st_raw(o, dt, j, narrow(dt, qk_mul(lut[(j & 1u) ? (byte & 15u) : (byte >> 4)], ts)));
                }
                continue;
            }
            uint h[16];
#pragma unroll
            for (int j = 0; j < 16; j++) {
                uint byte = ((j < 8 ? w.x : w.y) >> (8 * ((j / 2) & 3))) & 0xFFu;
                h[j] = narrow_finite(dt, qk_mul_finite(lut[(j & 1) ? (byte & 15u) : (byte >> 4)], ts));
            }
            if (dt == DT_F32) {
                __global uint4 *o = orow + 4u * cb;
                o[0] = (uint4)(h[0], h[1], h[2], h[3]);
                o[1] = (uint4)(h[4], h[5], h[6], h[7]);
                if (full) {
                    o[2] = (uint4)(h[8], h[9], h[10], h[11]);
                    o[3] = (uint4)(h[12], h[13], h[14], h[15]);
                }
            } else {
                __global uint4 *o = orow + 2u * cb;
                o[0] = (uint4)(h[0] | h[1] << 16, h[2] | h[3] << 16, h[4] | h[5] << 16, h[6] | h[7] << 16);
                if (full)
                    o[1] = (uint4)(h[8] | h[9] << 16, h[10] | h[11] << 16, h[12] | h[13] << 16, h[14] | h[15] << 16);
            }
        }
    }
}

__kernel void nvfp4_dequantize_blocks(__global const uchar *data, __global const uchar *scale, uint g, int dt,
                                      ulong rows, ulong cols, uint ncb, uint R, __global uchar *out,
                                      __local uint *lut, __local uint *tst)
{
    QK_GPU_BY_DTYPE(dt, nvfp4_dequantize_blocks_body(data, scale, g, DTC, rows, cols, ncb, R, out, lut, tst));
}
