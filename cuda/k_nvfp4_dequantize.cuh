/* NVFP4 dequantize by a per-block table of every output: eight columns a
 * thread and step.
 *
 * Why: qk_nvfp4_dequantize (a 16-block a thread) reached 70% of the copy:
 * each block decoded its scale with the integer codec (branches), rounded
 * and multiplied it with the NaN rules, and a warp's two 16-byte stores a
 * thread each covered every other 16 bytes of a 1 KiB span.
 *
 * - An output is a function of its block's scale byte and its 4-bit code
 *   alone (gt is per tensor): out = narrow(ref_mul(e2m1(code), ts)) with
 *   ts = T(ref_mul(gt, T(e4m3(byte)))), the reference's steps, NaN and Inf
 *   rules included. Each CUDA block tabulates all 256 x 16 of them in
 *   shared memory once (the grid strides over rows, as many blocks as fit)
 *   and looks each element up: no per-block decode, product or rounding,
 *   and no separate path for nonfinite scales.
 * - Units of eight columns (4 bytes of codes, one scale byte shared by two
 *   units), as MXFP8's dequantize: a warp's 16-byte stores cover one
 *   contiguous 512-byte span (bf16/f16). (Issuing each unit's loads before
 *   the previous unit's lookups measured no faster on the H200.) */
#ifndef QK_K_NVFP4_DEQUANTIZE_CUH
#define QK_K_NVFP4_DEQUANTIZE_CUH

#include "k_blocked.cuh"

/* The table: entry s * 16 + c for scale byte s and code c, as the output's
 * stored bits (f32: 32 bits; bf16/f16: 16). ts: 256 words of scratch. */
static __device__ __forceinline__ void nvfp4_dq_table(int dt, u32 gt, u32 *ts, u32 *tab32, unsigned short *tab16)
{
    for (u32 s = threadIdx.x; s < 256u; s += blockDim.x)
        ts[s] = round_to(dt, ref_mul(gt, round_to(dt, qk_e4m3_to_f32(s))));
    __syncthreads();
    for (u32 k = threadIdx.x; k < 4096u; k += blockDim.x) {
        u32 v = ref_mul(qk_e2m1_to_f32(k & 15u), ts[k >> 4]);
        if (dt == DT_F32)
            tab32[k] = v;
        else
            tab16[k] = (unsigned short)narrow(dt, v);
    }
    __syncthreads();
}

/* Entry of code k (0..7 within the unit) of code word w in the scale row
 * at srow (bytes): the element of column 2j sits in the high nibble of
 * byte j; the byte offset of the entry is the code times the entry size. */
template <int ES>
static __device__ __forceinline__ u32 nvfp4_dq_entry(const unsigned char *srow, u32 w, int k)
{
    const int sh = 8 * (k / 2) + ((k & 1) ? 0 : 4) - (ES == 4 ? 2 : 1); /* code bits to offset bits */
    u32 off = (sh >= 0 ? w >> sh : w << -sh) & (15u * ES);
    return ES == 4 ? *(const u32 *)(srow + off) : *(const unsigned short *)(srow + off);
}

/* Eight columns [c0, c0 + 8) of row r from code word w and scale byte s. */
static __device__ __forceinline__ void nvfp4_dq_unit(int dt, const u32 *tab, u32 s, u32 w, i64 cols, i64 r, i64 c0,
                                                     void *out)
{
    u32 v[8];
    const unsigned char *srow = (const unsigned char *)tab + s * (dt == DT_F32 ? 64u : 32u);
#pragma unroll
    for (int k = 0; k < 8; k++)
        v[k] = dt == DT_F32 ? nvfp4_dq_entry<4>(srow, w, k) : nvfp4_dq_entry<2>(srow, w, k);
    i64 base = r * cols + c0;
    if (c0 + 8 <= cols && (cols & 7) == 0) {
        if (dt == DT_F32) {
            uint4 *q = (uint4 *)((u32 *)out + base);
            q[0] = make_uint4(v[0], v[1], v[2], v[3]);
            q[1] = make_uint4(v[4], v[5], v[6], v[7]);
        } else {
            *(uint4 *)((unsigned short *)out + base) =
                make_uint4(v[0] | v[1] << 16, v[2] | v[3] << 16, v[4] | v[5] << 16, v[6] | v[7] << 16);
        }
        return;
    }
#pragma unroll
    for (int k = 0; k < 8; k++)
        if (c0 + k < cols) {
            if (dt == DT_F32)
                ((u32 *)out)[base + k] = v[k];
            else
                ((unsigned short *)out)[base + k] = (unsigned short)v[k];
        }
}

/* Rows [r0, r1), R a step of a block, vpr = ceil(cols / 8) units a row. */
static __device__ __forceinline__ void nvfp4_dq8_body(const unsigned char *data, const unsigned char *scale, int dt,
                                                      i64 cols, i64 ncb, int vpr, int R, u32 gt, i64 r0, i64 r1,
                                                      void *out, u32 *ts, u32 *tab)
{
    nvfp4_dq_table(dt, gt, ts, tab, (unsigned short *)tab);
    int lr = (int)threadIdx.x / vpr, lc = (int)threadIdx.x - lr * vpr;
    if (lr >= R)
        return;
    for (i64 r = r0 + (i64)blockIdx.x * R + lr; r < r1; r += (i64)gridDim.x * R)
        for (int c = lc; c < vpr; c += blockDim.x) {
            u32 sb = scale[blocked_row_part(r, ncb) + blocked_col_part(c >> 1)];
            u32 w = *(const u32 *)(data + r * (ncb * 8) + (i64)c * 4);
            nvfp4_dq_unit(dt, tab, sb, w, cols, r, (i64)c * 8, out);
        }
}

KERNEL qk_nvfp4_dequantize8(const unsigned char *data, const unsigned char *scale, int dt, i64 cols, i64 ncb, int vpr,
                            int R, u32 gt, i64 r0, i64 r1, void *out)
{
    __shared__ u32 ts[256], tab[4096];
    QK_BY_DTYPE(dt, nvfp4_dq8_body(data, scale, DTC, cols, ncb, vpr, R, gt, r0, r1, out, ts, tab));
}

#endif
