/* float8 / int8 dequantize of row or tile scale groups, row by row: a CUDA
 * block strides over batches of R rows of the host's chunk [r0, r1), each
 * thread over vectors of 8 columns of one row (vpr vectors a row; when a
 * row has fewer vectors than the block has threads, R rows share a step).
 * A vector's group is (r >> rsh) * gc + (c >> csh): rows take rsh = 0 and
 * csh = 31 (group r), tiles of a power-of-two edge the two logarithms, so
 * no division runs per vector. No table and no barrier per group: a
 * table per group (one __syncthreads each) left every block waiting on
 * its scale load, at 38% of copy bandwidth (H200, ncu: 54 cycles per
 * issued instruction).
 *
 * Per element, as fp8_dequantize_body and int8_dequantize_body:
 * T(T(q) * T(s)) for float8, T(q * s) (blockwise T(q * T(s))) for int8.
 * With a finite factor and no NaN or Inf code no product is NaN, so the
 * plain product and the store without NaN tests give ref_mul's and
 * store8's bits; otherwise the vector takes those. */
#ifndef QK_K_GROUP_DEQUANTIZE_CUH
#define QK_K_GROUP_DEQUANTIZE_CUH

#include "k_scaled.cuh"

enum { GDQ_E4M3 = 0, GDQ_E5M2 = 1, GDQ_INT8 = 2, GDQ_INT8_BLOCKWISE = 3 };

/* Whether a word of four codes holds a float8 NaN or Inf (e4m3fn: 0x7F and
 * 0xFF; e5m2: exponent field all ones). */
static __device__ __forceinline__ u32 fp8_special4(int kind, u32 w)
{
    u32 m = kind == GDQ_E5M2 ? 0x7C7C7C7Cu : 0x7F7F7F7Fu;
    return __vcmpeq4(w & m, m);
}

static __device__ __forceinline__ void group_dequantize_body(const unsigned char *data, const u32 *scale, int dt,
                                                             i64 cols, int vpr, int R, int rsh, int csh, i64 gc,
                                                             i64 r0, i64 r1, int kind, void *out)
{
    __shared__ u32 lut[256]; /* T(q) of float8 codes, q of int8 codes, as f32 */
    for (int k = threadIdx.x; k < 256; k += blockDim.x)
        lut[k] = kind >= GDQ_INT8 ? bits((float)(signed char)k)
                                  : round_to(dt, kind == GDQ_E5M2 ? qk_e5m2_to_f32((u32)k) : qk_e4m3_to_f32((u32)k));
    __syncthreads();
    int lr = (int)threadIdx.x / vpr, lc = (int)threadIdx.x - lr * vpr;
    if (lr >= R)
        return;
    int fp8 = kind < GDQ_INT8;
    for (i64 r = r0 + (i64)blockIdx.x * R + lr; r < r1; r += (i64)gridDim.x * R) {
        i64 grow = (r >> rsh) * gc;
        for (int c = lc; c < vpr; c += blockDim.x) {
            i64 i = r * cols + (i64)c * 8;
            uint2 q = *(const uint2 *)(data + i);
            u32 s = scale[grow + (c >> csh)];
            u32 f = kind == GDQ_INT8 ? s : round_to(dt, s);
            u32 v[8];
            if ((f & QK_F32_INF) != QK_F32_INF && !(fp8 && (fp8_special4(kind, q.x) | fp8_special4(kind, q.y)))) {
#pragma unroll
                for (int k = 0; k < 8; k++)
                    v[k] = dmul(lut[((k < 4 ? q.x : q.y) >> (8 * (k & 3))) & 0xFFu], f);
                store8_finite(dt, out, i, v);
            } else {
#pragma unroll
                for (int k = 0; k < 8; k++)
                    v[k] = ref_mul(lut[((k < 4 ? q.x : q.y) >> (8 * (k & 3))) & 0xFFu], f);
                store8(dt, out, i, v);
            }
        }
    }
}

#define QK_GROUP_DQ_KIND(KC)                                                                       \
    QK_BY_DTYPE(dt, group_dequantize_body(data, scale, DTC, cols, vpr, R, rsh, csh, gc, r0, r1, KC, out))

/* Rows [r0, r1) of a tensor whose cols and group width are multiples of 8. */
KERNEL qk_group_dequantize(const unsigned char *data, const u32 *scale, int dt, i64 cols, int vpr, int R, int rsh,
                           int csh, i64 gc, i64 r0, i64 r1, int kind, void *out)
{
    switch (kind) {
    case GDQ_E4M3: {
        const int KC = GDQ_E4M3;
        QK_GROUP_DQ_KIND(KC);
        break;
    }
    case GDQ_E5M2: {
        const int KC = GDQ_E5M2;
        QK_GROUP_DQ_KIND(KC);
        break;
    }
    case GDQ_INT8: {
        const int KC = GDQ_INT8;
        QK_GROUP_DQ_KIND(KC);
        break;
    }
    default: {
        const int KC = GDQ_INT8_BLOCKWISE;
        QK_GROUP_DQ_KIND(KC);
        break;
    }
    }
}

#endif
