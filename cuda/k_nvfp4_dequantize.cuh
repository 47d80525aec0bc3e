/* NVFP4 dequantize, eight columns a thread and step, as MXFP8's
 * dequantize: a block's scale values and the 16 E2M1 values in shared
 * memory, then per element one lookup, one product and the hardware's
 * paired rounding.
 *
 * Why: a table of all 256 x 16 outputs (one lookup an element, no product)
 * reached 82% of the copy on the H100, where MXFP8's lookup-and-product
 * reached 86%: its eight lookups a unit land on a 32-byte row picked by
 * each lane's own scale byte, so a warp's lookups meet bank conflicts;
 * the 16 E2M1 values sit in 16 banks, and a unit's scale is one lookup.
 *
 * - ts = T(ref_mul(gt, T(e4m3(byte)))) as the reference (gt = T(g) per
 *   tensor); out = narrow(ref_mul(e2m1(code), ts)). A nonfinite ts takes
 *   ref_mul and the NaN-aware store, as do partial units.
 * - Units of eight columns (4 bytes of codes, one scale byte shared by two
 *   units): a warp's 16-byte stores cover one contiguous 512-byte span
 *   (bf16/f16). */
#ifndef QK_K_NVFP4_DEQUANTIZE_CUH
#define QK_K_NVFP4_DEQUANTIZE_CUH

#include "k_blocked.cuh"

/* The block's tables: tsv[s] = ts of scale byte s, e2m1[c] = the value of
 * code c (f32 bits). */
static __device__ __forceinline__ void nvfp4_dq_tables(int dt, u32 gt, u32 *tsv, u32 *e2m1)
{
    for (u32 s = threadIdx.x; s < 256u; s += blockDim.x)
        tsv[s] = round_to(dt, ref_mul(gt, round_to(dt, qk_e4m3_to_f32(s))));
    if (threadIdx.x < 16u)
        e2m1[threadIdx.x] = qk_e2m1_to_f32(threadIdx.x);
    __syncthreads();
}

/* Code k (0..7) of a unit's code word: column 2j is byte j's high nibble. */
static __device__ __forceinline__ u32 nvfp4_dq_code(u32 w, int k) { return (w >> (8 * (k / 2) + ((k & 1) ? 0 : 4))) & 15u; }

/* Eight columns [c0, c0 + 8) of row r from code word w and scale byte s.
 * E2M1 values are finite, so with a finite ts no product is NaN: the plain
 * product and the store without NaN tests give ref_mul's and store8's bits
 * (an overflow to Inf included). */
static __device__ __forceinline__ void nvfp4_dq_unit(int dt, const u32 *tsv, const u32 *e2m1, u32 s, u32 w, i64 cols,
                                                     i64 r, i64 c0, void *out)
{
    u32 ts = tsv[s], v[8];
    if ((ts & QK_F32_ABS) < QK_F32_INF && c0 + 8 <= cols && (cols & 7) == 0) {
#pragma unroll
        for (int k = 0; k < 8; k++)
            v[k] = dmul(e2m1[nvfp4_dq_code(w, k)], ts);
        store8_finite(dt, out, r * cols + c0, v);
        return;
    }
#pragma unroll
    for (int k = 0; k < 8; k++)
        v[k] = ref_mul(e2m1[nvfp4_dq_code(w, k)], ts);
    store_row_block<8>(dt, out, r, cols, c0, v);
}

/* Rows [r0, r1), R a step of a block, vpr = ceil(cols / 8) units a row.
 * A thread's units in turn (its columns of a row, then its next row), each
 * one's code word and scale byte loaded a unit ahead, so a load is in
 * flight while the unit before it is stored. */
static __device__ __forceinline__ void nvfp4_dq8_body(const unsigned char *data, const unsigned char *scale, int dt,
                                                      i64 cols, i64 ncb, int vpr, int R, u32 gt, i64 r0, i64 r1,
                                                      void *out, u32 *tsv, u32 *e2m1)
{
    nvfp4_dq_tables(dt, gt, tsv, e2m1);
    int lr = (int)threadIdx.x / vpr, lc = (int)threadIdx.x - lr * vpr;
    if (lr >= R)
        return;
    i64 r = r0 + (i64)blockIdx.x * R + lr, rstep = (i64)gridDim.x * R;
    int c = lc;
    u32 sb = 0, w = 0;
    if (r < r1) {
        sb = scale[blocked_row_part(r, ncb) + blocked_col_part(c >> 1)];
        w = *(const u32 *)(data + r * (ncb * 8) + (i64)c * 4);
    }
    while (r < r1) {
        i64 rn = r;
        int cn = c + (int)blockDim.x;
        if (cn >= vpr) {
            cn = lc;
            rn += rstep;
        }
        u32 sbn = 0, wn = 0;
        if (rn < r1) {
            sbn = scale[blocked_row_part(rn, ncb) + blocked_col_part(cn >> 1)];
            wn = *(const u32 *)(data + rn * (ncb * 8) + (i64)cn * 4);
        }
        nvfp4_dq_unit(dt, tsv, e2m1, sb, w, cols, r, (i64)c * 8, out);
        r = rn;
        c = cn;
        sb = sbn;
        w = wn;
    }
}

KERNEL qk_nvfp4_dequantize8(const unsigned char *data, const unsigned char *scale, int dt, i64 cols, i64 ncb, int vpr,
                            int R, u32 gt, i64 r0, i64 r1, void *out)
{
    __shared__ u32 tsv[256], e2m1[16];
    QK_BY_DTYPE(dt, nvfp4_dq8_body(data, scale, DTC, cols, ncb, vpr, R, gt, r0, r1, out, tsv, e2m1));
}

#endif
