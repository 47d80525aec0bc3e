/* MXFP8 (src/ref/ref_mxfp8.c). A work-item codes one 32-element block of a
 * row of the 32x32-padded tensor, dividing by d = 2^(e-127) as the reference
 * does. A non-finite block raises *status (the host then reports
 * QK_ERR_NONFINITE). */
__kernel void mxfp8_quantize(__global const uchar *in, int dt, ulong rows, ulong cols, ulong rp,
                             ulong ncb, __global uchar *data, __global uchar *scale,
                             __global uint *status)
{
    for (ulong r = get_global_id(1); r < rp; r += get_global_size(1))
        for (ulong cb = get_global_id(0); cb < ncb; cb += get_global_size(0)) {
            ulong base = r * cols + cb * 32, end = r < rows ? r * cols + cols : 0;
            /* pass 1: the block's amax; pass 2 re-reads (cache hits) and codes */
            uint bamax = 0u;
            for (ulong k = 0; k < 32; k += 8) {
                uint x[8];
                ld8_any(in, dt, base + k, end, 1, x);
                for (int j = 0; j < 8; j++)
                    bamax = max(bamax, x[j] & QK_F32_ABS);
            }
            if (bamax >= QK_F32_INF)
                atomic_max(status, bamax);
            uint e = 0u, d = QK_F32_ONE;
            if (bamax != 0u) {
                uint s = qk_div(bamax, QK_F32_E4M3_MAX);
                if (s < QK_F32_E8M0_MIN)
                    s = QK_F32_E8M0_MIN;
                e = qk_e8m0_ceil_fast(s);
                d = qk_e8m0_to_f32(e);
            }
            scale[blocked_offset(r, cb, ncb)] = (uchar)e;
            __global uint2 *out = (__global uint2 *)data + (r * ncb + cb) * 4;
            for (ulong k = 0; k < 32; k += 8) {
                uint x[8], b[8];
                ld8_any(in, dt, base + k, end, 1, x);
                for (int j = 0; j < 8; j++)
                    b[j] = bamax == 0u ? 0u
                                       : qk_f32_to_e4m3_fast(qk_f32_clamp_abs(qk_div(x[j], d), QK_F32_E4M3_MAX));
                out[k / 8] = (uint2)(pack4(b[0], b[1], b[2], b[3]), pack4(b[4], b[5], b[6], b[7]));
            }
        }
}

__kernel void mxfp8_dequantize(__global const uchar *data, __global const uchar *scale, int dt,
                               ulong rows, ulong cols, ulong ncb, __global uchar *out)
{
    ulong units = (cols + 7) / 8;
    for (ulong r = get_global_id(1); r < rows; r += get_global_size(1))
        for (ulong u = get_global_id(0); u < units; u += get_global_size(0)) {
            ulong c0 = u * 8;
            uint s = qk_e8m0_to_f32(scale[blocked_offset(r, c0 / 32, ncb)]);
            uint2 w = ((__global const uint2 *)data)[(r * ncb * 32 + c0) / 8];
            uint h[8];
            for (int j = 0; j < 8; j++) {
                uint byte = ((j < 4 ? w.s0 : w.s1) >> (8 * (j & 3))) & 0xFFu;
                h[j] = narrow(dt, qk_mul(qk_e4m3_to_f32(byte), s));
            }
            ulong i = r * cols + c0;
            if ((cols & 7) == 0 || c0 + 8 <= cols)
                st8_raw(out, dt, i, r * cols + cols, h);
            else
                for (ulong j = 0; j < 8 && c0 + j < cols; j++)
                    st_raw(out, dt, i + j, h[j]);
        }
}
