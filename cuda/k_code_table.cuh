/* Tensor-scaled float8 / int8 quantize of 16-bit input by table: with one
 * scale for the tensor, an element's code depends on its 16 bits alone, so
 * one launch codes all 65536 patterns with the per-element kernels' own
 * functions (qk_code_table16) and the quantize pass becomes one
 * shared-memory lookup per element (qk_quantize_by_table16). The codes of
 * NaN and Inf patterns are never used: the amax pass rejects such input. */
#ifndef QK_K_CODE_TABLE_CUH
#define QK_K_CODE_TABLE_CUH

#include "k_scaled.cuh"

#define QK_TABLE16_BYTES 65536

/* kind: 0 float8_e4m3fn, 1 float8_e5m2, 2 int8_tensorwise; p: the host's
 * reciprocal (float8) or divisor (int8) of the tensor. */
static __device__ __forceinline__ void code_table16_body(int dt, int kind, u32 p, unsigned char *table)
{
    i64 h = gtid();
    if (h >= QK_TABLE16_BYTES)
        return;
    u32 x = widen(dt, (u32)h), c;
    if (kind == 2)
        c = int8_code(dt, x, p, 0);
    else if (kind == 1)
        c = enc_e5m2(fp8_scaled(dt, x, p, QK_F32_E5M2_MAX));
    else
        c = enc_e4m3(fp8_scaled(dt, x, p, QK_F32_E4M3_MAX));
    table[h] = (unsigned char)c;
}

KERNEL qk_code_table16(int dt, int kind, const u32 *param, unsigned char *table)
{
    if (dt == DT_BF16)
        code_table16_body(DT_BF16, kind, param[0], table);
    else
        code_table16_body(DT_F16, kind, param[0], table);
}

/* data[i] = table[in[i]] for i in [e0, e1) (e0 a multiple of 8); each
 * block copies the table into dynamic shared memory (64 KiB) and strides. */
KERNEL qk_quantize_by_table16(const unsigned short *in, const unsigned char *table, i64 e0, i64 e1,
                              unsigned char *data)
{
    extern __shared__ uint4 tab4[];
    const unsigned char *tab = (const unsigned char *)tab4;
    for (int k = threadIdx.x; k < QK_TABLE16_BYTES / 16; k += blockDim.x)
        tab4[k] = ((const uint4 *)table)[k];
    __syncthreads();
    i64 step = (i64)gridDim.x * blockDim.x * 8;
    for (i64 i = e0 + gtid() * 8; i < e1; i += step) {
        if (i + 8 > e1) {
            for (int k = 0; i + k < e1; k++)
                data[i + k] = tab[in[i + k]];
            break;
        }
        uint4 w = *(const uint4 *)(in + i);
        u32 lo = (u32)tab[w.x & 0xFFFFu] | ((u32)tab[w.x >> 16] << 8) | ((u32)tab[w.y & 0xFFFFu] << 16) |
                 ((u32)tab[w.y >> 16] << 24);
        u32 hi = (u32)tab[w.z & 0xFFFFu] | ((u32)tab[w.z >> 16] << 8) | ((u32)tab[w.w & 0xFFFFu] << 16) |
                 ((u32)tab[w.w >> 16] << 24);
        *(uint2 *)(data + i) = make_uint2(lo, hi);
    }
}

#endif
