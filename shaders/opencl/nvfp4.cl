/* ComfyUI NVFP4 (src/ref/ref_nvfp4.c). A work-item codes one 16-element
 * block of a row of the 16x16-padded tensor; g (the per-tensor scale) comes
 * from the host, computed from amax_tensor's result. The codes come from
 * seven per-block bounds (qk_nvfp4_bound) instead of a division per element.
 * The scale buffer is zero-filled by the host first (the blocked layout's
 * padding). */
static inline void nvfp4_quantize_body(__global const uchar *in, const int dt, ulong rows, ulong cols, uint g,
                                       ulong rp, ulong ncb, __global uchar *data, __global uchar *scale)
{
    int aligned = (cols & 7) == 0;
    for (ulong r = get_global_id(1); r < rp; r += get_global_size(1))
        for (ulong cb = get_global_id(0); cb < ncb; cb += get_global_size(0)) {
            uint x[16];
            ulong c0 = cb * 16;
            if (r < rows) {
                ulong base = r * cols, end = base + cols;
                ld8_any(in, dt, base + c0, end, aligned, x);
                ld8_any(in, dt, base + c0 + 8, end, aligned, x + 8);
            } else {
#pragma unroll
                for (int k = 0; k < 16; k++)
                    x[k] = 0u;
            }
            uint bamax = 0u;
#pragma unroll
            for (int k = 0; k < 16; k++)
                bamax = max(bamax, x[k] & QK_F32_ABS);
            uint s = qk_div(qk_div(bamax, QK_F32_E2M1_MAX), g);
            if (s > QK_F32_E4M3_MAX)
                s = QK_F32_E4M3_MAX; /* also catches +inf */
            uint s8 = qk_f32_to_e4m3_fast(s);
            scale[blocked_offset(r, cb, ncb)] = (uchar)s8;
            uint t = qk_mul(g, qk_e4m3_to_f32(s8));
            uint b[8];
            if ((t & QK_F32_ABS) == 0u) { /* the anchor's zero-block rule */
#pragma unroll
                for (int k = 0; k < 8; k++)
                    b[k] = 0u;
            } else { /* e2m1(clamp(x / t, 6)) by compares with per-block bounds */
                int et = qk_f32_exp_norm(t);
                uint mt = qk_f32_sig_norm(t);
                uint c0 = qk_nvfp4_bound(0u, et, mt), c1 = qk_nvfp4_bound(1u, et, mt);
                uint c2 = qk_nvfp4_bound(2u, et, mt), c3 = qk_nvfp4_bound(3u, et, mt);
                uint c4 = qk_nvfp4_bound(4u, et, mt), c5 = qk_nvfp4_bound(5u, et, mt);
                uint c6 = qk_nvfp4_bound(6u, et, mt);
#pragma unroll
                for (int k = 0; k < 8; k++)
                    b[k] = (qk_nvfp4_code(x[2 * k], c0, c1, c2, c3, c4, c5, c6) << 4) |
                           qk_nvfp4_code(x[2 * k + 1], c0, c1, c2, c3, c4, c5, c6);
            }
            /* row stride ncb*8 bytes: 8-byte aligned */
            ((__global uint2 *)data)[r * ncb + cb] =
                (uint2)(pack4(b[0], b[1], b[2], b[3]), pack4(b[4], b[5], b[6], b[7]));
        }
}

__kernel void nvfp4_quantize(__global const uchar *in, int dt, ulong rows, ulong cols, uint g,
                             ulong rp, ulong ncb, __global uchar *data, __global uchar *scale)
{
    QK_GPU_BY_DTYPE(dt, nvfp4_quantize_body(in, DTC, rows, cols, g, rp, ncb, data, scale));
}

/* In the output dtype T as the anchor: ts = T(T(g) * T(s8)), y = T(e2m1 *
 * ts). Walks rows as mxfp8_dequantize (8 columns a vector, vpr =
 * ceil(cols / 8), the row's part of the blocked offset once per row).
 * E2M1 values are finite, so with a finite ts no product is NaN:
 * qk_mul_finite and narrow_finite give qk_mul's and narrow's bits.
 * lut: 16 uints of local memory, the E2M1 values. */
static inline void nvfp4_dequantize_body(__global const uchar *data, __global const uchar *scale, uint g,
                                         const int dt, ulong rows, ulong cols, ulong ncb, uint vpr, uint R,
                                         __global uchar *out, __local uint *lut)
{
    for (uint k = get_local_id(0); k < 16u; k += get_local_size(0))
        lut[k] = qk_e2m1_to_f32(k);
    barrier(CLK_LOCAL_MEM_FENCE);
    uint gt = round_to(dt, g);
    uint lid = get_local_id(0), L = get_local_size(0);
    uint lr = lid / vpr, lc = lid - lr * vpr;
    if (lr >= R)
        return; /* no barrier follows */
    ulong rstep = (ulong)get_num_groups(0) * R;
    for (ulong r = (ulong)get_group_id(0) * R + lr; r < rows; r += rstep) {
        ulong srow = blocked_row_part(r, ncb);
        for (uint c = lc; c < vpr; c += L) {
            ulong c0 = (ulong)c * 8, i = r * cols + c0;
            uint s8 = qk_e4m3_to_f32(scale[srow + blocked_col_part(c >> 1)]);
            uint ts = round_to(dt, qk_mul(gt, round_to(dt, s8)));
            uint w = ((__global const uint *)data)[(r * ncb * 8 + c0 / 2) / 4];
            uint h[8];
            if ((ts & QK_F32_ABS) < QK_F32_INF) {
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    uint byte = (w >> (8 * (j / 2))) & 0xFFu;
                    h[j] = narrow_finite(dt, qk_mul_finite(lut[(j & 1) ? (byte & 15u) : (byte >> 4)], ts));
                }
            } else {
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    uint byte = (w >> (8 * (j / 2))) & 0xFFu;
                    h[j] = narrow(dt, qk_mul(lut[(j & 1) ? (byte & 15u) : (byte >> 4)], ts));
                }
            }
            if ((cols & 7) == 0 || c0 + 8 <= cols)
                st8_raw(out, dt, i, r * cols + cols, h);
            else
                for (ulong j = 0; j < 8 && c0 + j < cols; j++)
                    st_raw(out, dt, i + j, h[j]);
        }
    }
}

__kernel void nvfp4_dequantize(__global const uchar *data, __global const uchar *scale, uint g, int dt,
                               ulong rows, ulong cols, ulong ncb, uint vpr, uint R, __global uchar *out,
                               __local uint *lut)
{
    QK_GPU_BY_DTYPE(dt, nvfp4_dequantize_body(data, scale, g, DTC, rows, cols, ncb, vpr, R, out, lut));
}
