/* float8 / int8 quantize of row or tile scale groups in one pass: one CUDA
 * block per group, the group's elements held in registers between its amax
 * and its codes, so the input is read once (the two-pass path of
 * k_scaled.cuh reads it twice and asks the host for the scalars in
 * between). The per-group scalars are the host's (cuda_plans.c,
 * scaled_q_between), computed here with the same IEEE operations:
 * __fdiv_rn is the correctly rounded division, round_to the dtype rounding.
 *
 * A group is a rectangle of h rows x w columns (a row: 1 x cols; a tile:
 * bh x bw, smaller at the edges) with w a multiple of 8, held as GQ_VECS
 * vectors of 8 per thread: blocks of 256 threads take groups of up to 4096
 * elements, blocks of 1024 up to 16384 (few registers per thread, so
 * several blocks share an SM and hide each other's latency). */
#ifndef QK_K_GROUP_QUANTIZE_CUH
#define QK_K_GROUP_QUANTIZE_CUH

#include "k_scaled.cuh"

#define GQ_VECS 2

enum { GQ_E4M3 = 0, GQ_E5M2 = 1, GQ_INT8 = 2, GQ_INT8_BLOCKWISE = 3 };

/* The f32 scale a group stores and the scalar its codes use (fp8: the
 * reciprocal; int8: the divisor), from its amax (finite). */
static __device__ __forceinline__ void group_scalars(int kind, int dt, u32 amax, u32 *scale, u32 *scalar)
{
    if (kind == GQ_E4M3 || kind == GQ_E5M2) {
        *scale = round_to(dt, ddiv(amax, kind == GQ_E5M2 ? QK_F32_E5M2_MAX : QK_F32_E4M3_MAX));
        *scalar = round_to(dt, ddiv(QK_F32_ONE, *scale));
    } else if (kind == GQ_INT8_BLOCKWISE) {
        u32 s = round_to(dt, ddiv(amax, QK_F32_INT8_MAX)), floor = round_to(dt, 0x322BCC77u /* 1e-8 */);
        *scale = *scalar = s < floor ? floor : s;
    } else {
        u32 s = ddiv(amax, QK_F32_INT8_MAX);
        *scale = s < QK_F32_1E_30 ? QK_F32_1E_30 : s;
        u32 t = round_to(dt, *scale);
        *scalar = t != 0u ? t : (dt == DT_F16 ? 0x38800000u : 0x00800000u); /* the dtype's tiny */
    }
}

template <int GQ_THREADS>
static __device__ __forceinline__ void group_quantize_body(const void *in, int dt, i64 rows, i64 cols, int bh, int bw,
                                                           i64 gc, i64 g0, int kind, u32 *scale,
                                                           unsigned char *data, u32 *flag)
{
    __shared__ u32 part[GQ_THREADS / 32], shared_scalar;
    i64 g = g0 + blockIdx.x, gr = g / gc, gcol = g - gr * gc;
    i64 r0 = gr * bh, c0 = gcol * bw;
    int h = (int)min((i64)bh, rows - r0), w = (int)min((i64)bw, cols - c0), wv = w / 8, nv = h * wv;
    u32 x[GQ_VECS][8];
    u32 m = 0u;
#pragma unroll
    for (int k = 0; k < GQ_VECS; k++) {
        int v = (int)threadIdx.x + k * GQ_THREADS;
        if (v < nv) {
            int rr = v / wv;
            load8(dt, in, (r0 + rr) * cols + c0 + (v - rr * wv) * 8, x[k]);
#pragma unroll
            for (int e = 0; e < 8; e++)
                m = max(m, x[k][e] & QK_F32_ABS); /* NaN bits exceed Inf */
        }
    }
    m = warp_max(m);
    if ((threadIdx.x & 31) == 0)
        part[threadIdx.x / 32] = m;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int k = 1; k < GQ_THREADS / 32; k++)
            m = max(m, part[k]);
        u32 sc = 0u, s = 0u;
        if (m >= QK_F32_INF)
            atomicOr(flag, 1u); /* the op fails with QK_ERR_NONFINITE */
        else
            group_scalars(kind, dt, m, &sc, &s);
        scale[g] = sc;
        shared_scalar = s;
    }
    __syncthreads();
    u32 s = shared_scalar;
    u32 fpmax = kind == GQ_E5M2 ? QK_F32_E5M2_MAX : QK_F32_E4M3_MAX;
#pragma unroll
    for (int k = 0; k < GQ_VECS; k++) {
        int v = (int)threadIdx.x + k * GQ_THREADS;
        if (v >= nv)
            continue;
        u32 c[8];
#pragma unroll
        for (int e = 0; e < 8; e++)
            c[e] = kind >= GQ_INT8 ? int8_code(dt, x[k][e], s, kind == GQ_INT8_BLOCKWISE)
                                   : fp8_scaled(dt, x[k][e], s, fpmax);
        u32 lo, hi;
        if (kind >= GQ_INT8) {
            lo = c[0] | (c[1] << 8) | (c[2] << 16) | (c[3] << 24);
            hi = c[4] | (c[5] << 8) | (c[6] << 16) | (c[7] << 24);
        } else {
            fp8_pack8(kind == GQ_E5M2, c, &lo, &hi);
        }
        int rr = v / wv;
        *(uint2 *)(data + (r0 + rr) * cols + c0 + (v - rr * wv) * 8) = make_uint2(lo, hi);
    }
}

/* The kernel for blocks of T threads: kind and dtype as constants. */
#define QK_GROUP_QUANTIZE(T)                                                                       \
    switch (kind) {                                                                                \
    case GQ_E4M3: {                                                                                \
        const int KC = GQ_E4M3;                                                                    \
        QK_BY_DTYPE(dt, group_quantize_body<T>(in, DTC, rows, cols, bh, bw, gc, g0, KC, scale, data, flag)); \
        break;                                                                                     \
    }                                                                                              \
    case GQ_E5M2: {                                                                                \
        const int KC = GQ_E5M2;                                                                    \
        QK_BY_DTYPE(dt, group_quantize_body<T>(in, DTC, rows, cols, bh, bw, gc, g0, KC, scale, data, flag)); \
        break;                                                                                     \
    }                                                                                              \
    case GQ_INT8: {                                                                                \
        const int KC = GQ_INT8;                                                                    \
        QK_BY_DTYPE(dt, group_quantize_body<T>(in, DTC, rows, cols, bh, bw, gc, g0, KC, scale, data, flag)); \
        break;                                                                                     \
    }                                                                                              \
    default: {                                                                                     \
        const int KC = GQ_INT8_BLOCKWISE;                                                          \
        QK_BY_DTYPE(dt, group_quantize_body<T>(in, DTC, rows, cols, bh, bw, gc, g0, KC, scale, data, flag)); \
        break;                                                                                     \
    }                                                                                              \
    }

extern "C" __global__ void __launch_bounds__(256)
qk_group_quantize_256(const void *in, int dt, i64 rows, i64 cols, int bh, int bw, i64 gc, i64 g0, int kind, u32 *scale,
                      unsigned char *data, u32 *flag)
{
    QK_GROUP_QUANTIZE(256)
}

extern "C" __global__ void __launch_bounds__(1024)
qk_group_quantize_1024(const void *in, int dt, i64 rows, i64 cols, int bh, int bw, i64 gc, i64 g0, int kind,
                       u32 *scale, unsigned char *data, u32 *flag)
{
    QK_GROUP_QUANTIZE(1024)
}

#endif
