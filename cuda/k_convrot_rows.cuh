/* ConvRot int8 quantize and dequantize a row per CUDA block and step: the
 * row sits in shared memory through its rotation, so quantize reads the
 * input once and rotates once (the tile kernels of k_scaled.cuh rotate
 * twice, for the amax and again for the codes, and ask the host for the
 * divisors in between). The butterflies are convrot_tile's and
 * src/ref/convrot.c's: one H4 per base-4 digit, lowest first, sums left to
 * right, then the exact power-of-two scaling.
 *
 * Rows of up to CR_MAX_COLS columns; cols is a multiple of G (16..1024,
 * a power of four), so of 8 too. */
#ifndef QK_K_CONVROT_ROWS_CUH
#define QK_K_CONVROT_ROWS_CUH

#include "k_group_quantize.cuh"

#define CR_MAX_COLS 8192
#define CR_THREADS 256

/* Rotates every group of G in s[0, cols) and scales by 2^-levels. Every
 * thread of the block calls it; it ends with a barrier. */
static __device__ __forceinline__ void convrot_row(float *s, int cols, int G)
{
    int quads = cols / 4, per = G / 4, levels = 0;
    int lg = __ffs(per) - 1; /* per is a power of two */
    for (int stride = 1; stride < G; stride *= 4, levels++) {
        int ls = __ffs(stride) - 1;
        for (int q = threadIdx.x; q < quads; q += blockDim.x) {
            int qq = q & (per - 1);
            float *p = s + ((q >> lg) * G) + (((qq >> ls) * 4) << ls) + (qq & (stride - 1));
            float a = p[0], b = p[stride], c = p[2 * stride], d = p[3 * stride];
            p[0] = __fsub_rn(__fadd_rn(__fadd_rn(a, b), c), d);
            p[stride] = __fadd_rn(__fsub_rn(__fadd_rn(a, b), c), d);
            p[2 * stride] = __fadd_rn(__fadd_rn(__fsub_rn(a, b), c), d);
            p[3 * stride] = __fadd_rn(__fadd_rn(__fsub_rn(b, a), c), d);
        }
        __syncthreads();
    }
    float sc = fl((u32)(127 - levels) << 23);
    for (int e = threadIdx.x; e < cols; e += blockDim.x)
        s[e] = __fmul_rn(s[e], sc);
    __syncthreads();
}

/* Rows [r0, r1): scale[r] and the codes, as ref_int8.c with ConvRot
 * (int8_tensorwise, row scaling): the rotated row rounded to T, its amax,
 * the row's scalars (group_scalars), then int8 codes of the rounded
 * values. *flag is set when a rotated row holds NaN or Inf. */
static __device__ __forceinline__ void convrot_quantize_body(const void *in, int dt, i64 cols, int G, i64 r0, i64 r1,
                                                             u32 *scale, unsigned char *data, u32 *flag)
{
    __shared__ float s[CR_MAX_COLS];
    __shared__ u32 part[CR_THREADS / 32], shared_scalar;
    int n = (int)cols, nv = n / 8;
    for (i64 r = r0 + blockIdx.x; r < r1; r += gridDim.x) {
        for (int v = threadIdx.x; v < nv; v += blockDim.x) {
            u32 x[8];
            load8(dt, in, r * cols + (i64)v * 8, x);
#pragma unroll
            for (int k = 0; k < 8; k++)
                s[v * 8 + k] = fl(x[k]);
        }
        __syncthreads();
        convrot_row(s, n, G);
        u32 m = 0u;
        for (int e = threadIdx.x; e < n; e += blockDim.x) {
            u32 t = round_to(dt, bits(s[e]));
            s[e] = fl(t);
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
        u32 d = shared_scalar;
        for (int v = threadIdx.x; v < nv; v += blockDim.x) {
            u32 x[8], lo, hi;
#pragma unroll
            for (int k = 0; k < 8; k++)
                x[k] = bits(s[v * 8 + k]);
            group_codes8(GQ_INT8, dt, x, d, &lo, &hi);
            *(uint2 *)(data + r * cols + (i64)v * 8) = make_uint2(lo, hi);
        }
        __syncthreads(); /* s and shared_scalar are the next row's */
    }
}

extern "C" __global__ void __launch_bounds__(CR_THREADS)
qk_convrot_quantize_rows(const void *in, int dt, i64 cols, int G, i64 r0, i64 r1, u32 *scale, unsigned char *data,
                         u32 *flag)
{
    QK_BY_DTYPE(dt, convrot_quantize_body(in, DTC, cols, G, r0, r1, scale, data, flag));
}

/* Rows [r0, r1): T(unrotate(q * scale[r])), the products in f32. */
static __device__ __forceinline__ void convrot_dequantize_rows_body(const signed char *data, const u32 *scale, int dt,
                                                                   i64 cols, int G, i64 r0, i64 r1, void *out)
{
    __shared__ float s[CR_MAX_COLS];
    int n = (int)cols, nv = n / 8;
    for (i64 r = r0 + blockIdx.x; r < r1; r += gridDim.x) {
        u32 sr = scale[r];
        for (int v = threadIdx.x; v < nv; v += blockDim.x) {
            uint2 q = *(const uint2 *)(data + r * cols + (i64)v * 8);
#pragma unroll
            for (int k = 0; k < 8; k++) {
                int c = (signed char)(((k < 4 ? q.x : q.y) >> (8 * (k & 3))) & 0xFFu);
                s[v * 8 + k] = fl(ref_mul(bits((float)c), sr));
            }
        }
        __syncthreads();
        convrot_row(s, n, G);
        for (int v = threadIdx.x; v < nv; v += blockDim.x) {
            u32 x[8];
#pragma unroll
            for (int k = 0; k < 8; k++)
                x[k] = bits(s[v * 8 + k]);
            store8(dt, out, r * cols + (i64)v * 8, x);
        }
        __syncthreads(); /* s is the next row's */
    }
}

extern "C" __global__ void __launch_bounds__(CR_THREADS)
qk_convrot_dequantize_rows(const signed char *data, const u32 *scale, int dt, i64 cols, int G, i64 r0, i64 r1,
                           void *out)
{
    QK_BY_DTYPE(dt, convrot_dequantize_rows_body(data, scale, DTC, cols, G, r0, r1, out));
}

#endif
