/* TEMPORARY A/B: variants of the ConvRot row kernels for one build to
 * time (QK_AB on the host, cuda_plans.c): *_ab0 are the kernels as they
 * were before the regrouped form of k_convrot_rows.cuh (every level of
 * stride >= 16 through shared memory, a block barrier each); *_ab2 are the
 * regrouped kernels without the next row's prefetch. Delete this file, its
 * include in qk_kernels.cu and the K_CONVROT_*_AB* entries once measured. */
#ifndef QK_K_CONVROT_ROWS_AB_CUH
#define QK_K_CONVROT_ROWS_AB_CUH

#include "k_convrot_rows.cuh"

/* The levels of stride 16 and up over every group of G in the row's slots
 * of s (cr_at), in shared memory; every thread calls it, after a barrier,
 * and it ends with one. */
static __device__ __forceinline__ void h4_levels_shared_ab0(float *s, int cols, int G)
{
    int quads = cols / 4, per = G / 4, lg = __ffs(per) - 1; /* per is a power of two */
    for (int stride = 16; stride < G; stride *= 4) {
        int ls = __ffs(stride) - 1;
        for (int q = threadIdx.x; q < quads; q += blockDim.x) {
            int qq = q & (per - 1);
            int i = ((q >> lg) * G) + (((qq >> ls) * 4) << ls) + (qq & (stride - 1));
            h4(s[cr_at(i)], s[cr_at(i + stride)], s[cr_at(i + 2 * stride)], s[cr_at(i + 3 * stride)]);
        }
        __syncthreads();
    }
}

/* Each thread holds units of 16 consecutive columns, unit tid + 256 u for u
 * < U (rows of up to U * 4096 columns): the first two levels in registers,
 * the rest through shared memory. The kernels come for U = 1 and 2: rows
 * of up to 4096 take half the registers and shared memory, so twice the
 * blocks fit on an SM. */
template <int U>
static __device__ __forceinline__ void convrot_units_ab0(float x[U][16], float *s, int cols, int G)
{
    int nu = cols / 16;
#pragma unroll
    for (int u = 0; u < U; u++) {
        int unit = (int)threadIdx.x + u * CR_THREADS;
        if (unit < nu) {
            h4_two_levels(x[u], true);
            if (G > 16)
#pragma unroll
                for (int k = 0; k < 16; k++)
                    s[cr_at(unit * 16 + k)] = x[u][k];
        }
    }
    if (G > 16) {
        __syncthreads();
        h4_levels_shared_ab0(s, cols, G);
#pragma unroll
        for (int u = 0; u < U; u++) {
            int unit = (int)threadIdx.x + u * CR_THREADS;
            if (unit < nu)
#pragma unroll
                for (int k = 0; k < 16; k++)
                    x[u][k] = s[cr_at(unit * 16 + k)];
        }
    }
    float sc = convrot_scale(G);
#pragma unroll
    for (int u = 0; u < U; u++)
        if ((int)threadIdx.x + u * CR_THREADS < nu)
#pragma unroll
            for (int k = 0; k < 16; k++)
                x[u][k] = __fmul_rn(x[u][k], sc);
}

/* Rows [r0, r1): scale[r] and the codes, as ref_int8.c with ConvRot
 * (int8_tensorwise, row scaling): the rotated row rounded to T, its amax,
 * the row's scalars (group_scalars), then int8 codes of the rounded
 * values. *flag is set when a rotated row holds NaN or Inf. No barrier
 * guards s between rows: a thread writes the next row's s only after the
 * amax barriers, which every thread reaches after its last read of s. */
template <int U>
static __device__ __forceinline__ void convrot_quantize_body_ab0(const void *in, int dt, i64 cols, int G, i64 r0, i64 r1,
                                                             u32 *scale, unsigned char *data, u32 *flag)
{
    __shared__ float s[CR_SLOTS(U * 16 * CR_THREADS)];
    __shared__ u32 part[CR_THREADS / 32], shared_scalar;
    int n = (int)cols, nu = n / 16;
    for (i64 r = r0 + blockIdx.x; r < r1; r += gridDim.x) {
        float x[U][16];
#pragma unroll
        for (int u = 0; u < U; u++) {
            int unit = (int)threadIdx.x + u * CR_THREADS;
            u32 w[16] = {0u};
            if (unit < nu) {
                load8(dt, in, r * cols + (i64)unit * 16, w);
                load8(dt, in, r * cols + (i64)unit * 16 + 8, w + 8);
            }
#pragma unroll
            for (int k = 0; k < 16; k++)
                x[u][k] = fl(w[k]);
        }
        convrot_units_ab0<U>(x, s, n, G);
        u32 m = 0u;
#pragma unroll
        for (int u = 0; u < U; u++)
            if ((int)threadIdx.x + u * CR_THREADS < nu)
#pragma unroll
                for (int k = 0; k < 16; k++) {
                    u32 t = round_to(dt, bits(x[u][k]));
                    x[u][k] = fl(t);
                    m = max(m, t & QK_F32_ABS); /* NaN bits exceed Inf */
                }
        m = warp_max(m);
        if ((threadIdx.x & 31) == 0)
            part[threadIdx.x / 32] = m;
        __syncthreads();
        if (threadIdx.x == 0) {
            for (int k = 1; k < CR_THREADS / 32; k++)
                m = max(m, part[k]);
            u32 sc = 0u, d = 0u;
            if (m >= QK_F32_INF)
                atomicOr(flag, 1u); /* the op fails with QK_ERR_NONFINITE */
            else
                group_scalars(GQ_INT8, dt, m, &sc, &d);
            scale[r] = sc;
            shared_scalar = d;
        }
        __syncthreads();
        u32 d = shared_scalar, rd = group_reciprocal(GQ_INT8, dt, d);
#pragma unroll
        for (int u = 0; u < U; u++) {
            int unit = (int)threadIdx.x + u * CR_THREADS;
            if (unit >= nu)
                continue;
            u32 lo[2], hi[2];
#pragma unroll
            for (int h = 0; h < 2; h++) {
                u32 v[8];
#pragma unroll
                for (int k = 0; k < 8; k++)
                    v[k] = bits(x[u][h * 8 + k]);
                group_codes8(GQ_INT8, dt, v, d, rd, &lo[h], &hi[h]);
            }
            *(uint4 *)(data + r * cols + (i64)unit * 16) = make_uint4(lo[0], hi[0], lo[1], hi[1]);
        }
    }
}

extern "C" __global__ void __launch_bounds__(CR_THREADS)
qk_convrot_quantize_rows_ab0(const void *in, int dt, i64 cols, int G, i64 r0, i64 r1, u32 *scale, unsigned char *data,
                         u32 *flag)
{
    QK_BY_DTYPE(dt, convrot_quantize_body_ab0<2>(in, DTC, cols, G, r0, r1, scale, data, flag));
}

extern "C" __global__ void __launch_bounds__(CR_THREADS)
qk_convrot_quantize_rows4k_ab0(const void *in, int dt, i64 cols, int G, i64 r0, i64 r1, u32 *scale, unsigned char *data,
                           u32 *flag)
{
    QK_BY_DTYPE(dt, convrot_quantize_body_ab0<1>(in, DTC, cols, G, r0, r1, scale, data, flag));
}

/* Rows [r0, r1): T(unrotate(q * scale[r])), the products in f32. Between
 * rows a barrier keeps a fast thread's next writes of s from a slow
 * thread's reads (dequantize has no other barrier after them). */
template <int U>
static __device__ __forceinline__ void convrot_dequantize_rows_body_ab0(const signed char *data, const u32 *scale, int dt,
                                                                   i64 cols, int G, i64 r0, i64 r1, void *out)
{
    __shared__ float s[CR_SLOTS(U * 16 * CR_THREADS)];
    int n = (int)cols, nu = n / 16;
    for (i64 r = r0 + blockIdx.x; r < r1; r += gridDim.x) {
        u32 sr = scale[r];
        float x[U][16];
#pragma unroll
        for (int u = 0; u < U; u++) {
            int unit = (int)threadIdx.x + u * CR_THREADS;
            uint4 q = unit < nu ? *(const uint4 *)(data + r * cols + (i64)unit * 16) : make_uint4(0u, 0u, 0u, 0u);
            u32 w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
            for (int k = 0; k < 16; k++) {
                int c = (signed char)((w[k / 4] >> (8 * (k & 3))) & 0xFFu);
                x[u][k] = fl(ref_mul(bits((float)c), sr));
            }
        }
        convrot_units_ab0<U>(x, s, n, G);
#pragma unroll
        for (int u = 0; u < U; u++) {
            int unit = (int)threadIdx.x + u * CR_THREADS;
            if (unit >= nu)
                continue;
            u32 v[16];
#pragma unroll
            for (int k = 0; k < 16; k++)
                v[k] = bits(x[u][k]);
            store8(dt, out, r * cols + (i64)unit * 16, v);
            store8(dt, out, r * cols + (i64)unit * 16 + 8, v + 8);
        }
        if (G > 16)
            __syncthreads();
    }
}

extern "C" __global__ void __launch_bounds__(CR_THREADS)
qk_convrot_dequantize_rows_ab0(const signed char *data, const u32 *scale, int dt, i64 cols, int G, i64 r0, i64 r1,
                           void *out)
{
    QK_BY_DTYPE(dt, convrot_dequantize_rows_body_ab0<2>(data, scale, DTC, cols, G, r0, r1, out));
}

extern "C" __global__ void __launch_bounds__(CR_THREADS)
qk_convrot_dequantize_rows4k_ab0(const signed char *data, const u32 *scale, int dt, i64 cols, int G, i64 r0, i64 r1,
                             void *out)
{
    QK_BY_DTYPE(dt, convrot_dequantize_rows_body_ab0<1>(data, scale, DTC, cols, G, r0, r1, out));
}

/* The regrouped kernels without the prefetch. */
extern "C" __global__ void CR_BOUNDS(CR_BLOCKS_Q) qk_convrot_quantize_rows_ab2(CR_QUANTIZE_ARGS)
{
    QK_BY_DTYPE(dt, (convrot_quantize_body<2, false>(in, DTC, cols, G, r0, r1, scale, data, flag)));
}

extern "C" __global__ void CR_BOUNDS(CR_BLOCKS_Q4K) qk_convrot_quantize_rows4k_ab2(CR_QUANTIZE_ARGS)
{
    QK_BY_DTYPE(dt, (convrot_quantize_body<1, false>(in, DTC, cols, G, r0, r1, scale, data, flag)));
}

extern "C" __global__ void CR_BOUNDS(CR_BLOCKS_DQ) qk_convrot_dequantize_rows_ab2(CR_DEQUANTIZE_ARGS)
{
    QK_BY_DTYPE(dt, (convrot_dequantize_rows_body<2, false>(data, scale, DTC, cols, G, r0, r1, out)));
}

extern "C" __global__ void CR_BOUNDS(CR_BLOCKS_DQ4K) qk_convrot_dequantize_rows4k_ab2(CR_DEQUANTIZE_ARGS)
{
    QK_BY_DTYPE(dt, (convrot_dequantize_rows_body<1, false>(data, scale, DTC, cols, G, r0, r1, out)));
}

#endif
