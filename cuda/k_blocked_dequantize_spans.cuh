/* NVFP4 and MXFP8 dequantize of rows whose width is whole 256-column
 * spans. Rows of whole spans leave no padding in the codes, so they are
 * flat: element x's codes at byte x / 2 (NVFP4) or x (MXFP8); only the
 * scale needs x's row (div_magic) for the swizzled layout. One 1-D
 * grid-stride loop, each step's loads issued a step ahead.
 *
 * f32 output in bnb4_dequantize_f32_body's layout: a warp's step covers
 * 256 elements of one row, lane l the quads at 4l and 128 + 4l, so each
 * 16-byte store instruction of a warp writes 512 contiguous bytes. The row
 * kernels (a lane eight adjacent columns, lane pairs trading quads) write
 * whole 32-byte sectors only; NF4/FP4 went from 82% to 87% of the copy on
 * the H100 by this layout.
 *
 * MXFP8 into 16-bit output: a lane a unit of eight columns (one 16-byte
 * store, as the row kernel) by mxfp8_dequantize_unit. NVFP4 into 16-bit
 * output stays on its row kernel (below).
 *
 * Values are those of the unit functions: the plain product where no
 * product can be NaN, else ref_mul; an f32 store is the bits as they are. */
#ifndef QK_K_BLOCKED_DEQUANTIZE_SPANS_CUH
#define QK_K_BLOCKED_DEQUANTIZE_SPANS_CUH

#include "k_nvfp4_dequantize.cuh"

/* A quad's inputs: its codes (NVFP4 16 bits, MXFP8 32) and scale byte. */
struct bdq_quad {
    u32 codes, sb;
};

template <bool NV>
static __device__ __forceinline__ bdq_quad bdq_load(const unsigned char *data, const unsigned char *scale, i64 x,
                                                    i64 end, i64 cols, u64 cols_magic, i64 ncb)
{
    bdq_quad q = {0u, 0u};
    if (x < end) {
        i64 c, r = div_magic(x, cols, cols_magic, &c);
        q.codes = NV ? (u32) * (const unsigned short *)(data + x / 2) : *(const u32 *)(data + x);
        q.sb = scale[blocked_row_part(r, ncb) + blocked_col_part(c >> (NV ? 4 : 5))];
    }
    return q;
}

/* Code k of a quad: NVFP4 column 2j in byte j's high nibble. */
template <bool NV>
static __device__ __forceinline__ u32 bdq_code(u32 codes, int k)
{
    return NV ? (codes >> (8 * (k >> 1) + ((k & 1) ? 0 : 4))) & 15u : (codes >> (8 * k)) & 0xFFu;
}

/* tsv: NVFP4's ts by scale byte (nvfp4_dq_tables); vals: E2M1 or E4M3
 * values by code. */
template <bool NV>
static __device__ __forceinline__ void bdq_store(bdq_quad q, const u32 *tsv, const u32 *vals, i64 x, u32 *out)
{
    u32 s = NV ? tsv[q.sb] : qk_e8m0_to_f32(q.sb), v[4];
    /* NVFP4: E2M1 values are finite, so a finite ts makes no NaN. MXFP8:
     * no NaN scale (0xFF) and no NaN code (0x7F, 0xFF). */
    bool plain = NV ? (s & QK_F32_ABS) < QK_F32_INF
                    : !qk_f32_is_nan(s) && __vcmpeq4(q.codes & 0x7F7F7F7Fu, 0x7F7F7F7Fu) == 0u;
    if (plain) {
#pragma unroll
        for (int k = 0; k < 4; k++)
            v[k] = dmul(vals[bdq_code<NV>(q.codes, k)], s);
    } else {
#pragma unroll
        for (int k = 0; k < 4; k++)
            v[k] = ref_mul(vals[bdq_code<NV>(q.codes, k)], s);
    }
    *(uint4 *)(out + x) = make_uint4(v[0], v[1], v[2], v[3]);
}

/* Rows [r0, r1); cols a multiple of 256; ncb blocks a row. */
template <bool NV>
static __device__ __forceinline__ void bdq_f32_body(const unsigned char *data, const unsigned char *scale, i64 cols,
                                                    u64 cols_magic, i64 ncb, i64 r0, i64 r1, const u32 *tsv,
                                                    const u32 *vals, u32 *out)
{
    i64 end = r1 * cols, step = (i64)gridDim.x * blockDim.x * 8;
    i64 x = r0 * cols + (gtid() >> 5) * 256 + (threadIdx.x & 31) * 4;
    bdq_quad p = bdq_load<NV>(data, scale, x, end, cols, cols_magic, ncb);
    bdq_quad q = bdq_load<NV>(data, scale, x + 128, end, cols, cols_magic, ncb);
    for (; x < end; x += step) { /* a span never straddles end: x < end has x + 128 < end */
        bdq_quad a = p, b = q;
        p = bdq_load<NV>(data, scale, x + step, end, cols, cols_magic, ncb);
        q = bdq_load<NV>(data, scale, x + step + 128, end, cols, cols_magic, ncb);
        bdq_store<NV>(a, tsv, vals, x, out);
        bdq_store<NV>(b, tsv, vals, x + 128, out);
    }
}

/* MXFP8 into 16-bit output: a unit's codes and scale byte, its row r and
 * column c. */
struct bdq_unit {
    uint2 codes;
    u32 sb;
    i64 r, c;
};

static __device__ __forceinline__ bdq_unit bdq_load8(const unsigned char *data, const unsigned char *scale, i64 x,
                                                     i64 end, i64 cols, u64 cols_magic, i64 ncb)
{
    bdq_unit u = {make_uint2(0u, 0u), 0u, 0, 0};
    if (x < end) {
        u.r = div_magic(x, cols, cols_magic, &u.c);
        u.codes = *(const uint2 *)(data + x);
        u.sb = scale[blocked_row_part(u.r, ncb) + blocked_col_part(u.c >> 5)];
    }
    return u;
}

static __device__ __forceinline__ void bdq16_body(int dt, const unsigned char *data, const unsigned char *scale,
                                                  i64 cols, u64 cols_magic, i64 ncb, i64 r0, i64 r1, const u32 *e4m3,
                                                  void *out)
{
    i64 end = r1 * cols, step = (i64)gridDim.x * blockDim.x * 8;
    i64 x = r0 * cols + gtid() * 8;
    bdq_unit p = bdq_load8(data, scale, x, end, cols, cols_magic, ncb);
    for (; x < end; x += step) {
        bdq_unit a = p;
        p = bdq_load8(data, scale, x + step, end, cols, cols_magic, ncb);
        mxfp8_dequantize_unit(e4m3, a.sb, a.codes, dt, cols, a.r, a.c, out);
    }
}

/* f32 output only (16-bit output took this loop at 83% of the copy on the
 * H100, the row kernel 85%); gt = T(g) = g, ncb = cols / 16. */
KERNEL qk_nvfp4_dequantize_spans(const unsigned char *data, const unsigned char *scale, i64 cols, u64 cols_magic,
                                 i64 ncb, u32 gt, i64 r0, i64 r1, u32 *out)
{
    __shared__ u32 tsv[256], e2m1[16];
    nvfp4_dq_tables(DT_F32, gt, tsv, e2m1);
    bdq_f32_body<true>(data, scale, cols, cols_magic, ncb, r0, r1, tsv, e2m1, out);
}

/* ncb = cols / 32. */
KERNEL qk_mxfp8_dequantize_spans(const unsigned char *data, const unsigned char *scale, int dt, i64 cols,
                                 u64 cols_magic, i64 ncb, i64 r0, i64 r1, void *out)
{
    __shared__ u32 e4m3[256];
    for (int k = threadIdx.x; k < 256; k += blockDim.x)
        e4m3[k] = qk_e4m3_to_f32((u32)k);
    __syncthreads();
    if (dt == DT_F32)
        bdq_f32_body<false>(data, scale, cols, cols_magic, ncb, r0, r1, nullptr, e4m3, (u32 *)out);
    else
        QK_BY_DTYPE(dt, bdq16_body(DTC, data, scale, cols, cols_magic, ncb, r0, r1, e4m3, out));
}

#endif
