/* float8 / int8 dequantize of row or tile scale groups by a table per
 * group: within a group every output is a function of its stored byte
 * alone, so a CUDA block tabulates the group's 256 stored outputs (the
 * per-element path's own function: fp8_dequantize_body's and
 * int8_dequantize_body's product, then what store8 writes) and looks each
 * element up. The grid strides over groups, two tables alternating, so one
 * __syncthreads per group suffices: a thread rebuilding table t % 2 has
 * passed group t - 1's barrier, which no thread reaches before it has
 * finished group t - 2, the last reader of that table.
 *
 * A group is h rows x w columns (a row: 1 x cols; a tile: bh x bw, smaller
 * at the edges) with w a multiple of 8, clipped to the rows [r0, r1) of the
 * host's chunk. The host takes this path only for groups of at least
 * GDQ_MIN_ELEMS elements, where the table costs little per element. */
#ifndef QK_K_GROUP_DEQUANTIZE_CUH
#define QK_K_GROUP_DEQUANTIZE_CUH

#include "k_scaled.cuh"

enum { GDQ_E4M3 = 0, GDQ_E5M2 = 1, GDQ_INT8 = 2, GDQ_INT8_BLOCKWISE = 3 };

/* The stored bits of code k in a group whose f32 scale is s. */
static __device__ __forceinline__ u32 group_dq_entry(int kind, int dt, u32 k, u32 s)
{
    u32 v;
    if (kind == GDQ_E4M3 || kind == GDQ_E5M2) {
        u32 q = round_to(dt, kind == GDQ_E5M2 ? qk_e5m2_to_f32(k) : qk_e4m3_to_f32(k));
        v = ref_mul(q, round_to(dt, s));
    } else {
        v = ref_mul(bits((float)(signed char)k), kind == GDQ_INT8_BLOCKWISE ? round_to(dt, s) : s);
    }
    return stored_bits(dt, v);
}

static __device__ __forceinline__ void group_dequantize_body(const unsigned char *data, const u32 *scale, int dt,
                                                             i64 cols, int bh, int bw, i64 gc, i64 r0, i64 r1,
                                                             int kind, void *out)
{
    __shared__ u32 lut[2][256];
    i64 g0 = r0 / bh * gc, g1 = (r1 + bh - 1) / bh * gc;
    int t = 0;
    for (i64 g = g0 + blockIdx.x; g < g1; g += gridDim.x, t ^= 1) {
        u32 *tab = lut[t];
        u32 s = scale[g];
        for (int k = threadIdx.x; k < 256; k += blockDim.x)
            tab[k] = group_dq_entry(kind, dt, (u32)k, s);
        __syncthreads();
        i64 gr = g / gc, gcol = g - gr * gc;
        i64 top = max(gr * bh, r0), bottom = min(gr * bh + bh, r1), c0 = gcol * bw;
        int wv = (int)(min((i64)bw, cols - c0) / 8), nv = (int)(bottom - top) * wv;
        for (int v = threadIdx.x; v < nv; v += blockDim.x) {
            int rr = v / wv;
            i64 i = (top + rr) * cols + c0 + (i64)(v - rr * wv) * 8;
            uint2 q = *(const uint2 *)(data + i);
            u32 h[8];
#pragma unroll
            for (int k = 0; k < 8; k++)
                h[k] = tab[((k < 4 ? q.x : q.y) >> (8 * (k & 3))) & 0xFFu];
            if (dt == DT_F32) {
                uint4 *o = (uint4 *)((u32 *)out + i);
                o[0] = make_uint4(h[0], h[1], h[2], h[3]);
                o[1] = make_uint4(h[4], h[5], h[6], h[7]);
            } else {
                *(uint4 *)((unsigned short *)out + i) =
                    make_uint4(h[0] | (h[1] << 16), h[2] | (h[3] << 16), h[4] | (h[5] << 16), h[6] | (h[7] << 16));
            }
        }
    }
}

#define QK_GROUP_DQ_KIND(KC)                                                                       \
    QK_BY_DTYPE(dt, group_dequantize_body(data, scale, DTC, cols, bh, bw, gc, r0, r1, KC, out))

/* Rows [r0, r1) of groups of bh x bw (row scaling: 1 x cols, gc 1). */
KERNEL qk_group_dequantize(const unsigned char *data, const u32 *scale, int dt, i64 cols, int bh, int bw, i64 gc,
                           i64 r0, i64 r1, int kind, void *out)
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
