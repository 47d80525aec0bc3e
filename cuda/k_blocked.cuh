/* NVFP4 and MXFP8 kernels: the bytes of src/ref/ref_nvfp4.c and
 * src/ref/ref_mxfp8.c. One thread per (row, 16- or 32-block); rows and
 * columns padded with zeros; scales in the cuBLAS 128x4 blocked layout
 * (the scale part is zeroed by the host first). */
#ifndef QK_K_BLOCKED_CUH
#define QK_K_BLOCKED_CUH

#include "dev_common.cuh"
#include "k_nvfp4_pairs.cuh"

static __device__ __forceinline__ i64 blocked_offset(i64 r, i64 c, i64 ncb)
{
    i64 col_tiles = (ncb + 3) / 4;
    return ((r / 128 * col_tiles + c / 4) * 32 + r % 32) * 16 + ((r % 128) / 32) * 4 + c % 4;
}

/* Elements [c0, c0 + W) of row r (columns past `cols` read as +0). */
template <int W>
static __device__ __forceinline__ void load_row_block(int dt, const void *in, i64 r, i64 cols, i64 c0, u32 *x)
{
    i64 base = r * cols + c0;
    if (c0 + W <= cols && (cols & 7) == 0) {
#pragma unroll
        for (int k = 0; k < W; k += 8)
            load8(dt, in, base + k, x + k);
    } else {
#pragma unroll
        for (int k = 0; k < W; k++)
            x[k] = c0 + k < cols ? load1(dt, in, base + k) : 0u;
    }
}

template <int W>
static __device__ __forceinline__ void store_row_block(int dt, void *out, i64 r, i64 cols, i64 c0, const u32 *v)
{
    i64 base = r * cols + c0;
    if (c0 + W <= cols && (cols & 7) == 0) {
#pragma unroll
        for (int k = 0; k < W; k += 8)
            store8(dt, out, base + k, v + k);
    } else {
#pragma unroll
        for (int k = 0; k < W; k++)
            if (c0 + k < cols)
                store1(dt, out, base + k, v[k]);
    }
}

/* qk_nvfp4_bound(k, ...) of the scale t (finite, > 0) by f64 arithmetic:
 * A_k has 25 significant bits and t 24, so their f64 product is exact, and
 * the conversion to f32 rounding toward -inf is RD(A_k * t), subnormal
 * results and the overflow to FLT_MAX included. Self-test 12 compares it
 * with the integer form for every t. */
static __device__ __forceinline__ u32 nvfp4_bound(int k, u32 t)
{
    const double a = k == 0 ? 0x1.000001p-2 : k == 1 ? 0x1.7fffffp-1 : k == 2 ? 0x1.400001p+0
                   : k == 3 ? 0x1.bfffffp+0 : k == 4 ? 0x1.400001p+1 : k == 5 ? 0x1.bfffffp+1 : 0x1.400001p+2;
    return bits(__double2float_rd(__dmul_rn(a, (double)fl(t))));
}

/* ---- NVFP4 ----------------------------------------------------------------
 * The block of amax bamax (bits of |x|) stores its scale code; returns the
 * scale t = g * e4m3(code). */
static __device__ __forceinline__ u32 nvfp4_scale_code(u32 bamax, u32 g)
{
    u32 s = ddiv(ddiv(bamax, QK_F32_E2M1_MAX), g);
    if (s > QK_F32_E4M3_MAX)
        s = QK_F32_E4M3_MAX; /* also catches +inf */
    return enc_e4m3(s);
}

static __device__ __forceinline__ u32 nvfp4_block_scale(u32 bamax, u32 g, i64 r, i64 cb, i64 ncb,
                                                        unsigned char *scale)
{
    u32 s8 = nvfp4_scale_code(bamax, g);
    scale[blocked_offset(r, cb, ncb)] = (unsigned char)s8;
    return dmul(g, qk_e4m3_to_f32(s8));
}

/* A whole block of 16-bit input (16-byte aligned) by nvfp4_pair_codes.
 * Returns 0, having written nothing, if the block holds a NaN: the generic
 * path then takes it. */
static __device__ __forceinline__ int nvfp4_quantize_pairs(int dt, const uint4 *src, u32 g, i64 r, i64 cb, i64 ncb,
                                                           uint2 *dst, unsigned char *scale)
{
    u32 w[8], m16 = nvfp4_block_words(src, w);
    if (m16 > (dt == DT_BF16 ? 0x7F80u : 0x7C00u))
        return 0;
    /* widening keeps the order of magnitudes: the f32 amax */
    u32 t = nvfp4_block_scale(widen_finite(dt, m16), g, r, cb, ncb, scale);
    if ((t & QK_F32_ABS) == 0u) {
        *dst = make_uint2(0u, 0u); /* the anchor's zero-block rule: +0 codes */
        return 1;
    }
    u32 hp[7];
#pragma unroll
    for (int k = 0; k < 7; k++)
        hp[k] = nvfp4_pair_threshold(dt, nvfp4_bound(k, t));
    u32 c[8];
#pragma unroll
    for (int k = 0; k < 8; k++)
        c[k] = nvfp4_pair_codes(w[k], hp);
    *dst = make_uint2(__byte_perm(nvfp4_pair_bytes(c[0], c[1]), nvfp4_pair_bytes(c[2], c[3]), 0x5410),
                      __byte_perm(nvfp4_pair_bytes(c[4], c[5]), nvfp4_pair_bytes(c[6], c[7]), 0x5410));
    return 1;
}

/* Block cb of row r (< rows, c0 < cols) by the general steps: any dtype,
 * partial blocks, blocks holding NaN. native: use the Blackwell e2m1
 * conversion (only when qk_native_probe reported it; elsewhere that branch
 * traps). */
static __device__ __forceinline__ void nvfp4_quantize_generic(const void *in, int dt, i64 cols, i64 r, i64 cb,
                                                              i64 ncb, u32 g, int native, uint2 *dst,
                                                              unsigned char *scale)
{
    u32 x[16];
    load_row_block<16>(dt, in, r, cols, cb * 16, x);
    u32 bamax = 0u;
#pragma unroll
    for (int k = 0; k < 16; k++)
        bamax = max(bamax, x[k] & QK_F32_ABS);
    u32 t = nvfp4_block_scale(bamax, g, r, cb, ncb, scale);
    u32 w[2] = {0u, 0u};
    if ((t & QK_F32_ABS) == 0u) {
        /* the anchor's zero-block rule: +0 codes */
    } else if (native) {
#pragma unroll
        for (int k = 0; k < 16; k += 2) {
            u32 q0 = qk_f32_clamp_abs(ddiv(x[k], t), QK_F32_E2M1_MAX);
            u32 q1 = qk_f32_clamp_abs(ddiv(x[k + 1], t), QK_F32_E2M1_MAX);
            w[k / 8] |= enc_e2m1x2_native(q0, q1) << (8 * ((k / 2) & 3));
        }
    } else { /* e2m1(clamp(x / t, 6)) by compares with seven per-block bounds */
        u32 c0 = nvfp4_bound(0, t), c1 = nvfp4_bound(1, t), c2 = nvfp4_bound(2, t), c3 = nvfp4_bound(3, t);
        u32 c4 = nvfp4_bound(4, t), c5 = nvfp4_bound(5, t), c6 = nvfp4_bound(6, t);
#pragma unroll
        for (int k = 0; k < 16; k += 2) {
            u32 byte = (qk_nvfp4_code(x[k], c0, c1, c2, c3, c4, c5, c6) << 4) |
                       qk_nvfp4_code(x[k + 1], c0, c1, c2, c3, c4, c5, c6);
            w[k / 8] |= byte << (8 * ((k / 2) & 3));
        }
    }
    *dst = make_uint2(w[0], w[1]);
}

/* Rows [r0, r1) of the padded rp rows; g = the per-tensor scale (nonzero). */
static __device__ __forceinline__ void nvfp4_quantize_body(const void *in, int dt, i64 rows, i64 cols, i64 ncb,
                                                           u64 ncb_magic, u32 g, i64 r0, i64 r1, int native,
                                                           unsigned char *data, unsigned char *scale)
{
    i64 cb;
    i64 r = r0 + div_magic(gtid(), ncb, ncb_magic, &cb);
    if (r >= r1)
        return;
    i64 c0 = cb * 16;
    uint2 *dst = (uint2 *)(data + r * (ncb * 8) + cb * 8);
    if (r >= rows || c0 >= cols) {
        *dst = make_uint2(0u, 0u);
        return;
    }
    if (dt != DT_F32 && !native && c0 + 16 <= cols && (cols & 7) == 0 &&
        nvfp4_quantize_pairs(dt, (const uint4 *)((const unsigned short *)in + r * cols + c0), g, r, cb, ncb, dst,
                             scale))
        return;
    nvfp4_quantize_generic(in, dt, cols, r, cb, ncb, g, native, dst, scale);
}

KERNEL qk_nvfp4_quantize(const void *in, int dt, i64 rows, i64 cols, i64 ncb, u64 ncb_magic, u32 g, i64 r0,
                         i64 r1, int native, unsigned char *data, unsigned char *scale)
{
    QK_BY_DTYPE(dt, nvfp4_quantize_body(in, DTC, rows, cols, ncb, ncb_magic, g, r0, r1, native, data, scale));
}

/* Dequantize walks rows, as k_group_dequantize.cuh: a CUDA block strides
 * over batches of R rows of [r0, r1), each thread over the units (NVFP4:
 * 16-blocks, MXFP8: 8 columns) of one row, so the row's part of the
 * blocked scale offset is computed once per row and no 64-bit division
 * runs per unit. */
static __device__ __forceinline__ i64 blocked_row_part(i64 r, i64 ncb)
{
    return (r >> 7) * ((ncb + 3) / 4) * 512 + (r & 31) * 16 + ((r & 127) >> 5) * 4;
}

static __device__ __forceinline__ i64 blocked_col_part(i64 cb) { return (cb >> 2) * 512 + (cb & 3); }

/* gt = T(g). E2M1 values are finite, so with a finite block scale no
 * product is NaN: the plain product and the store without NaN tests give
 * ref_mul's and store8's bits. */
static __device__ __forceinline__ void nvfp4_dequantize_body(const unsigned char *data, const unsigned char *scale,
                                                             int dt, i64 cols, int ncb, int R, u32 gt, i64 r0, i64 r1,
                                                             void *out)
{
    __shared__ u32 lut[16];
    if (threadIdx.x < 16)
        lut[threadIdx.x] = qk_e2m1_to_f32(threadIdx.x);
    __syncthreads();
    int lr = (int)threadIdx.x / ncb, lc = (int)threadIdx.x - lr * ncb;
    if (lr >= R)
        return;
    for (i64 r = r0 + (i64)blockIdx.x * R + lr; r < r1; r += (i64)gridDim.x * R) {
        i64 srow = blocked_row_part(r, ncb);
        for (int cb = lc; cb < ncb; cb += blockDim.x) {
            i64 c0 = (i64)cb * 16;
            if (c0 >= cols)
                break;
            u32 s8 = qk_e4m3_to_f32(scale[srow + blocked_col_part(cb)]);
            u32 ts = round_to(dt, ref_mul(gt, round_to(dt, s8)));
            uint2 w = *(const uint2 *)(data + r * ((i64)ncb * 8) + (i64)cb * 8);
            u32 v[16];
            if ((ts & QK_F32_ABS) < QK_F32_INF && c0 + 16 <= cols && (cols & 7) == 0) {
#pragma unroll
                for (int k = 0; k < 16; k++) {
                    u32 byte = ((k < 8 ? w.x : w.y) >> (8 * ((k / 2) & 3))) & 0xFFu;
                    v[k] = dmul(lut[(k & 1) ? (byte & 15u) : (byte >> 4)], ts);
                }
                if (dt == DT_F32) {
                    store_f32_pairs<16>((u32 *)out, r * cols + c0, v);
                } else {
                    store8_finite(dt, out, r * cols + c0, v);
                    store8_finite(dt, out, r * cols + c0 + 8, v + 8);
                }
                continue;
            }
#pragma unroll
            for (int k = 0; k < 16; k++) {
                u32 byte = ((k < 8 ? w.x : w.y) >> (8 * ((k / 2) & 3))) & 0xFFu;
                v[k] = ref_mul(lut[(k & 1) ? (byte & 15u) : (byte >> 4)], ts);
            }
            store_row_block<16>(dt, out, r, cols, c0, v);
        }
    }
}

KERNEL qk_nvfp4_dequantize(const unsigned char *data, const unsigned char *scale, int dt, i64 cols, int ncb, int R,
                           u32 gt, i64 r0, i64 r1, void *out)
{
    QK_BY_DTYPE(dt, nvfp4_dequantize_body(data, scale, DTC, cols, ncb, R, gt, r0, r1, out));
}

/* ---- MXFP8 ---------------------------------------------------------------- */

/* Biased E8M0 exponent of s (finite, >= 2^-127): qk_e8m0_ceil. On Blackwell
 * the round-up conversion does it for normal s (ceil(log2 s) is exactly
 * round-toward-+inf to a power of two; s < 2^120 here, so .satfinite never
 * acts); subnormal s keeps the codec. */
static __device__ __forceinline__ u32 e8m0_ceil(u32 s)
{
#if QK_NATIVE_FP4
    if (s >= 0x00800000u) {
        unsigned short r;
        asm("cvt.rp.satfinite.ue8m0x2.f32 %0, %1, %2;" : "=h"(r) : "f"(0.0f), "f"(fl(s)));
        return r & 0xFFu;
    }
#endif
    return qk_e8m0_ceil(s);
}

/* *nonfinite is set when a block holds NaN or Inf (the reference refuses
 * such input; the host reports it). */
static __device__ __forceinline__ void mxfp8_quantize_body(const void *in, int dt, i64 rows, i64 cols, i64 ncb,
                                                           u64 ncb_magic, i64 r0, i64 r1, unsigned char *data,
                                                           unsigned char *scale, u32 *nonfinite)
{
    i64 cb;
    i64 r = r0 + div_magic(gtid(), ncb, ncb_magic, &cb);
    if (r >= r1)
        return;
    i64 c0 = cb * 32;
    uint4 *dst = (uint4 *)(data + r * (ncb * 32) + c0);
    u32 x[32];
    u32 bamax = 0u;
    if (dt == DT_F16 && r < rows && c0 + 32 <= cols && (cols & 7) == 0) {
        /* f16: the amax on the packed magnitudes (they order as their
         * bits do), widened once with the NaN rule; the elements by cvt
         * alone (widen_finite: a block with NaN or Inf is refused, its
         * codes never kept). H100: 88% -> 95% of the copy. */
        const uint4 *p = (const uint4 *)((const unsigned short *)in + r * cols + c0);
        u32 pm = 0u;
#pragma unroll
        for (int q = 0; q < 4; q++) {
            uint4 a = p[q];
            pm = __vmaxu2(pm, __vmaxu2(__vmaxu2(a.x & 0x7FFF7FFFu, a.y & 0x7FFF7FFFu),
                                       __vmaxu2(a.z & 0x7FFF7FFFu, a.w & 0x7FFF7FFFu)));
            u32 w[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
            for (int k = 0; k < 4; k++) {
                x[8 * q + 2 * k] = widen_finite(dt, w[k] & 0xFFFFu);
                x[8 * q + 2 * k + 1] = widen_finite(dt, w[k] >> 16);
            }
        }
        bamax = widen(dt, max(pm & 0xFFFFu, pm >> 16));
    } else if (r < rows && c0 < cols) {
        load_row_block<32>(dt, in, r, cols, c0, x);
#pragma unroll
        for (int k = 0; k < 32; k++)
            bamax = max(bamax, x[k] & QK_F32_ABS);
    }
    if (bamax == 0u) { /* padding or a zero block: scale byte 0, +0 data */
        dst[0] = make_uint4(0u, 0u, 0u, 0u);
        dst[1] = make_uint4(0u, 0u, 0u, 0u);
        return;
    }
    if (bamax >= QK_F32_INF)
        atomicOr(nonfinite, 1u);
    u32 s = ddiv(bamax, QK_F32_E4M3_MAX);
    if (s < QK_F32_E8M0_MIN)
        s = QK_F32_E8M0_MIN;
    u32 e = e8m0_ceil(s);
    scale[blocked_offset(r, cb, ncb)] = (unsigned char)e;
    /* x / 2^(e-127) == x * 2^(127-e): both powers of two are exact f32
     * (e in 0..254), so both are the one rounding of the same real. */
    u32 m = e < 254u ? (254u - e) << 23 : 0x00400000u;
    u32 w[8];
#pragma unroll
    for (int k = 0; k < 32; k += 4) { /* e4m3(clamp_abs(x m, 448)): x m is NaN only in a refused block */
        u32 a = dmul(x[k], m), b = dmul(x[k + 1], m), c = dmul(x[k + 2], m), d = dmul(x[k + 3], m);
        w[k / 4] = enc_e4m3x2_sat(b, a) | (enc_e4m3x2_sat(d, c) << 16);
    }
    dst[0] = make_uint4(w[0], w[1], w[2], w[3]);
    dst[1] = make_uint4(w[4], w[5], w[6], w[7]);
}

KERNEL qk_mxfp8_quantize(const void *in, int dt, i64 rows, i64 cols, i64 ncb, u64 ncb_magic, i64 r0, i64 r1,
                         unsigned char *data, unsigned char *scale, u32 *nonfinite)
{
    QK_BY_DTYPE(dt, mxfp8_quantize_body(in, DTC, rows, cols, ncb, ncb_magic, r0, r1, data, scale, nonfinite));
}

/* Eight columns [c0, c0 + 8) of row r: scale byte sb, codes w. */
static __device__ __forceinline__ void mxfp8_dequantize_unit(const u32 *lut, u32 sb, uint2 w, int dt, i64 cols, i64 r,
                                                             i64 c0, void *out)
{
    u32 d = qk_e8m0_to_f32(sb);
    u32 v[8];
    /* No NaN scale (E8M0 0xFF) and no NaN code (0x7F, 0xFF): no product is
     * NaN, so the plain product and store give ref_mul's and store8's bits. */
    u32 nan_codes = __vcmpeq4(w.x & 0x7F7F7F7Fu, 0x7F7F7F7Fu) | __vcmpeq4(w.y & 0x7F7F7F7Fu, 0x7F7F7F7Fu);
    if (nan_codes == 0u && !qk_f32_is_nan(d) && c0 + 8 <= cols && (cols & 7) == 0) {
#pragma unroll
        for (int k = 0; k < 8; k++)
            v[k] = dmul(lut[((k < 4 ? w.x : w.y) >> (8 * (k & 3))) & 0xFFu], d);
        store8_finite(dt, out, r * cols + c0, v);
        return;
    }
#pragma unroll
    for (int k = 0; k < 8; k++)
        v[k] = ref_mul(lut[((k < 4 ? w.x : w.y) >> (8 * (k & 3))) & 0xFFu], d);
    store_row_block<8>(dt, out, r, cols, c0, v);
}

/* Eight columns per unit (four units share a 32-block's scale), rows as
 * NVFP4's dequantize above; vpr = ceil(cols / 8). A thread takes its units
 * one after the other, each unit's loads issued before the previous unit's
 * work: ncu found the kernel waiting on them (L1TEX scoreboard, 6.3 of 14.2
 * cycles an instruction). NVFP4's dequantize was slower in that order
 * (70% -> 63% of the copy), so it keeps its loop. */
static __device__ __forceinline__ void mxfp8_dequantize_body(const unsigned char *data, const unsigned char *scale,
                                                             int dt, i64 cols, i64 ncb, int vpr, int R, i64 r0, i64 r1,
                                                             void *out)
{
    __shared__ u32 lut[256];
    for (int k = threadIdx.x; k < 256; k += blockDim.x)
        lut[k] = qk_e4m3_to_f32((u32)k);
    __syncthreads();
    int lr = (int)threadIdx.x / vpr, lc = (int)threadIdx.x - lr * vpr;
    if (lr >= R)
        return;
    i64 r = r0 + (i64)blockIdx.x * R + lr, rstep = (i64)gridDim.x * R;
    int c = lc;
    if (r >= r1)
        return;
    unsigned char sn = scale[blocked_row_part(r, ncb) + blocked_col_part(c >> 2)];
    uint2 wn = *(const uint2 *)(data + r * (ncb * 32) + (i64)c * 8);
    for (;;) { /* each unit's loads before the previous unit's work */
        unsigned char sb = sn;
        uint2 w = wn;
        i64 rc = r;
        int cc = c;
        if ((c += blockDim.x) >= vpr) {
            c = lc;
            r += rstep;
        }
        if (r < r1) {
            sn = scale[blocked_row_part(r, ncb) + blocked_col_part(c >> 2)];
            wn = *(const uint2 *)(data + r * (ncb * 32) + (i64)c * 8);
        }
        mxfp8_dequantize_unit(lut, sb, w, dt, cols, rc, (i64)cc * 8, out);
        if (r >= r1)
            return;
    }
}

KERNEL qk_mxfp8_dequantize(const unsigned char *data, const unsigned char *scale, int dt, i64 cols, i64 ncb, int vpr,
                           int R, i64 r0, i64 r1, void *out)
{
    QK_BY_DTYPE(dt, mxfp8_dequantize_body(data, scale, DTC, cols, ncb, vpr, R, r0, r1, out));
}

#endif
