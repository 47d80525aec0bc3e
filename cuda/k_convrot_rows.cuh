/* ConvRot a row per CUDA block and step: the rotation's units, exchange
 * and levels (shared with k_convrot_rows_q.cuh, the quantize), and the
 * dequantize. The row sits in shared memory through its rotation, so each
 * op reads its input once and rotates once (the tile kernels of
 * k_scaled.cuh rotate twice). The butterflies are convrot_tile's and
 * src/ref/convrot.c's: one H4 per base-4 digit, lowest first, sums left to
 * right, then the exact power-of-two scaling.
 *
 * Each thread holds units of 16 consecutive columns (unit t + 256 u), so
 * the 16 threads of a half-warp hold a block of 256 columns. The levels of
 * stride 1 and 4 run on a unit in registers; one exchange through shared
 * memory within the half-warp (a __syncwarp, no block barrier) regroups the
 * block so that a thread holds its columns j + 16 k (j = unit % 16,
 * k = 0..15) and runs the levels of stride 16 and 64 in registers. G = 1024
 * adds the level of stride 256, across four blocks (two warps): one pass
 * through shared memory after a block barrier (barriers of those 64
 * threads would count as five a block, which limits the blocks an SM holds:
 * cuda_occupancy.h). The values go back to units through shared memory for
 * the coalesced stores. Dequantize has no block barrier but for G = 1024
 * and loads its next row while it rotates this one.
 *
 * Rows of up to CR_MAX_COLS columns; cols is a multiple of G (16..1024,
 * a power of four: the host sends G = 4 to the tile kernels), so of 16. */
#ifndef QK_K_CONVROT_ROWS_CUH
#define QK_K_CONVROT_ROWS_CUH

#include "k_group_quantize.cuh"

#define CR_MAX_COLS 8192
#define CR_THREADS 256
/* The blocks of 256 an H200 (sm_90) should hold, as ptxas's register
 * budget: quantize 64 registers, dequantize 32 (4k: eight blocks, the most
 * 256 threads allow) and 40 (six: the shared memory), no spills. Other
 * targets keep ptxas's own choice: these budgets spilled on sm_100f and
 * sm_120f, and exceed sm_75's and sm_86's threads an SM. */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900
#define CR_BOUNDS(blocks) __launch_bounds__(CR_THREADS, blocks)
#else
#define CR_BOUNDS(blocks) __launch_bounds__(CR_THREADS)
#endif
#define CR_BLOCKS_Q 4
#define CR_BLOCKS_DQ4K 8
#define CR_BLOCKS_DQ 6

/* Shared-memory slot of row element i: a padding word after every 16, so
 * that a warp's accesses hit 32 different banks both as units (element
 * 16 t + k for a fixed k: slot 17 t + k) and regrouped (element 256 b + j +
 * 16 k, b and j from the lane: slot 272 b + j + 17 k, 272 = 16 mod 32). */
static __device__ __forceinline__ int cr_at(int i) { return i + (i >> 4); }
#define CR_SLOTS(n) ((n) + (n) / 16)

/* One H4 butterfly of convrot.c on four values, in place. */
static __device__ __forceinline__ void h4(float &a, float &b, float &c, float &d)
{
    float ab = __fadd_rn(a, b), amb = __fsub_rn(a, b), bma = __fsub_rn(b, a);
    float o0 = __fsub_rn(__fadd_rn(ab, c), d), o1 = __fadd_rn(__fsub_rn(ab, c), d);
    float o2 = __fadd_rn(__fadd_rn(amb, c), d), o3 = __fadd_rn(__fadd_rn(bma, c), d);
    a = o0;
    b = o1;
    c = o2;
    d = o3;
}

/* x[4 a + b] holds elements s apart in b and 4 s apart in a: the level of
 * stride s, then (both) that of stride 4 s. */
static __device__ __forceinline__ void h4_two_levels(float x[16], bool both)
{
#pragma unroll
    for (int q = 0; q < 16; q += 4)
        h4(x[q], x[q + 1], x[q + 2], x[q + 3]);
    if (both)
#pragma unroll
        for (int o = 0; o < 4; o++)
            h4(x[o], x[o + 4], x[o + 8], x[o + 12]);
}

/* 2^-levels, levels = log4(G): the rotation's exact final scaling. */
static __device__ __forceinline__ float convrot_scale(int G) { return fl((u32)(127 - (__ffs(G) - 1) / 2) << 23); }

/* The rotation of a row in s, in two steps that every thread calls: first
 * cr_unit_levels on each of its units (16 consecutive columns in x, as
 * loaded), then cr_rest_levels. They leave every rotated, scaled element in
 * its slot. The caller reads its units' slots back after a barrier of the
 * threads that wrote them: none for G = 16 (its own),
 * __syncwarp for G = 64 and 256, __syncthreads for 1024 (a block barrier
 * covers each). The first step writes only the thread's own unit slots,
 * which the thread alone reads back; the rest writes to other slots only
 * after its __syncwarp, so the previous row's reads of them are done. */
static __device__ __forceinline__ void cr_unit_levels(float x[16], float *s, int unit, int G)
{
    float sc = convrot_scale(G);
    h4_two_levels(x, true);
    float *p = s + cr_at(16 * unit);
#pragma unroll
    for (int k = 0; k < 16; k++)
        p[k] = G == 16 ? __fmul_rn(x[k], sc) : x[k];
}

template <int U>
static __device__ __forceinline__ void cr_rest_levels(float *s, int n, int G)
{
    if (G == 16)
        return;
    float sc = convrot_scale(G);
    __syncwarp();
    /* Regrouped: columns j + 16 k of the unit's block, slots 17 k apart;
     * x[4 a + b] = column j + 16 b + 64 a, so the levels of stride 16 and
     * 64 are h4_two_levels'. */
#pragma unroll
    for (int u = 0; u < U; u++) {
        int unit = (int)threadIdx.x + u * CR_THREADS, first = 16 * (unit & ~15);
        int quads = min(4, (n - first) >> 6); /* G = 64 rows may end inside the block */
        if (quads <= 0)
            continue;
        float *p = s + cr_at(first + (unit & 15)), x[16];
#pragma unroll
        for (int k = 0; k < 16; k++)
            x[k] = k / 4 < quads ? p[17 * k] : 0.0f;
        h4_two_levels(x, G >= 256);
#pragma unroll
        for (int k = 0; k < 16; k++)
            if (k / 4 < quads)
                p[17 * k] = G < 1024 ? __fmul_rn(x[k], sc) : x[k];
    }
    if (G < 1024)
        return;
    __syncthreads();
    /* Level of stride 256: the thread takes columns 16 h + j of its group
     * (h = unit / 16 % 4 + 4 q, j = unit % 16) and the three 256, 512, 768
     * further. (Lanes 0 and 31 share a bank here: the one conflict.) */
#pragma unroll
    for (int u = 0; u < U; u++) {
        int unit = (int)threadIdx.x + u * CR_THREADS;
        if (unit >= n / 16)
            continue;
        float *p = s + cr_at(16 * (unit & ~63) + 16 * ((unit >> 4) & 3) + (unit & 15));
#pragma unroll
        for (int q = 0; q < 4; q++) {
            float v[4];
#pragma unroll
            for (int l = 0; l < 4; l++)
                v[l] = p[68 * q + 272 * l];
            h4(v[0], v[1], v[2], v[3]);
#pragma unroll
            for (int l = 0; l < 4; l++)
                p[68 * q + 272 * l] = __fmul_rn(v[l], sc);
        }
    }
}

/* f16 widens by cvt alone (widen_finite): a NaN stays a NaN, so the row's
 * amax is NaN and the op fails as the reference's does (widen's exact
 * NaN rule is an integer conversion of many instructions a value). */
static __device__ __forceinline__ void cr_widen16(int dt, const uint4 raw[4], float x[16])
{
    u32 w[16] = {raw[0].x, raw[0].y, raw[0].z, raw[0].w, raw[1].x, raw[1].y, raw[1].z, raw[1].w,
                 raw[2].x, raw[2].y, raw[2].z, raw[2].w, raw[3].x, raw[3].y, raw[3].z, raw[3].w};
#pragma unroll
    for (int k = 0; k < 16; k++)
        x[k] = fl(dt == DT_F32 ? w[k] : widen_finite(dt, (w[k / 2] >> (16 * (k & 1))) & 0xFFFFu));
}

/* A unit's 16 codes and the row's scale. */
template <int U>
static __device__ __forceinline__ void cr_load_codes(const signed char *data, const u32 *scale, i64 r, i64 cols,
                                                     int nu, uint4 q[U], u32 *sr)
{
    *sr = scale[r];
#pragma unroll
    for (int u = 0; u < U; u++) {
        int unit = (int)threadIdx.x + u * CR_THREADS;
        if (unit < nu)
            q[u] = *(const uint4 *)(data + r * cols + (i64)unit * 16);
    }
}

/* A unit's 16 products c * sr in f32, as ref_mul gives them. Each code
 * widens by one exact subtraction: the word 0x4B0000XX, XX = c + 128 (the
 * byte with its top bit flipped, placed by one byte permutation), is 2^23
 * + 128 + c. A finite scale makes no product NaN, so the IEEE product is
 * ref_mul's; a row with a NaN or Inf scale takes ref_mul. */
static __device__ __forceinline__ void cr_products(uint4 q, u32 sr, float x[16])
{
    u32 w[4] = {q.x ^ 0x80808080u, q.y ^ 0x80808080u, q.z ^ 0x80808080u, q.w ^ 0x80808080u};
#pragma unroll
    for (int k = 0; k < 16; k++)
        x[k] = __fsub_rn(fl(__byte_perm(w[k / 4], 0x4B000000u, 0x7650u + (k & 3))), 8388736.0f);
    if ((sr & QK_F32_ABS) < QK_F32_INF) {
#pragma unroll
        for (int k = 0; k < 16; k++)
            x[k] = __fmul_rn(x[k], fl(sr));
    } else {
#pragma unroll
        for (int k = 0; k < 16; k++)
            x[k] = fl(ref_mul(bits(x[k]), sr));
    }
}

/* Rows [r0, r1): T(unrotate(q * scale[r])), the products in f32, with no
 * block barrier but for G = 1024 (two a row). The block's next codes and
 * scale are loaded while this row rotates. Between rows, a thread's next
 * writes go to its own unit's slots first, the rest only after the next
 * row's first __syncwarp, which every thread that reads them reaches after
 * its reads. */
template <int U>
static __device__ __forceinline__ void convrot_dequantize_rows_body(const signed char *data, const u32 *scale, int dt,
                                                                   i64 cols, int G, i64 r0, i64 r1, void *out)
{
    __shared__ float s[CR_SLOTS(U * 16 * CR_THREADS)];
    int n = (int)cols, nu = n / 16;
    uint4 q[U] = {};
    u32 sr = 0u;
    i64 r = r0 + blockIdx.x;
    if (r < r1)
        cr_load_codes<U>(data, scale, r, cols, nu, q, &sr);
    for (; r < r1; r += gridDim.x) {
#pragma unroll
        for (int u = 0; u < U; u++) {
            int unit = (int)threadIdx.x + u * CR_THREADS;
            if (unit < nu) {
                float x[16];
                cr_products(q[u], sr, x);
                cr_unit_levels(x, s, unit, G);
            }
        }
        if (r + gridDim.x < r1)
            cr_load_codes<U>(data, scale, r + gridDim.x, cols, nu, q, &sr);
        cr_rest_levels<U>(s, n, G);
        if (G == 1024)
            __syncthreads();
        else if (G > 16)
            __syncwarp();
#pragma unroll
        for (int u = 0; u < U; u++) {
            int unit = (int)threadIdx.x + u * CR_THREADS;
            if (unit >= nu)
                continue;
            const float *p = s + cr_at(16 * unit);
            u32 v[16];
#pragma unroll
            for (int k = 0; k < 16; k++)
                v[k] = bits(p[k]);
            /* plain f32 stores: the pairs' shuffles spill at this budget */
            store8<false>(dt, out, r * cols + (i64)unit * 16, v);
            store8<false>(dt, out, r * cols + (i64)unit * 16 + 8, v + 8);
        }
    }
}

#define CR_DEQUANTIZE_ARGS                                                                                             \
    const signed char *data, const u32 *scale, int dt, i64 cols, int G, i64 r0, i64 r1, void *out

extern "C" __global__ void CR_BOUNDS(CR_BLOCKS_DQ) qk_convrot_dequantize_rows(CR_DEQUANTIZE_ARGS)
{
    QK_BY_DTYPE(dt, (convrot_dequantize_rows_body<2>(data, scale, DTC, cols, G, r0, r1, out)));
}

extern "C" __global__ void CR_BOUNDS(CR_BLOCKS_DQ4K) qk_convrot_dequantize_rows4k(CR_DEQUANTIZE_ARGS)
{
    QK_BY_DTYPE(dt, (convrot_dequantize_rows_body<1>(data, scale, DTC, cols, G, r0, r1, out)));
}

#endif
