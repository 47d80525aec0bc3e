/* ConvRot int8 dequantize of per-row scales, 64 values a thread: G = 16,
 * 64 or 256, rows a multiple of 64 columns (and of G). k_convrot_rows.cuh's
 * arithmetic (cr_products, h4, the final product by 2^-levels, store8),
 * each element's operations in the reference's order, so the bytes are
 * that file's kernel's; only where values sit differs. (Quantize in this
 * form, two rows a block with the row amax by shared atomics, measured 46%
 * against the row kernel's 47% for bf16: BACKEND-CUDA.md.)
 *
 * A thread holds 64 consecutive codes (four 16-byte loads, issued a grid
 * step ahead) and runs the levels of stride 1, 4 and 16 in registers. The
 * four lanes of a team (4 j + t) then hold 256 consecutive values, for
 * G = 256 one group. One exchange through shared memory within the warp
 * (a __syncwarp each side, no block barrier) gives lane t the team's
 * values 64 m + 32 h + 8 t + i (m < 4, h < 2, i < 8): for G = 256 the
 * operands of the level of stride 64 (m), and for every G runs of eight
 * that the team stores contiguously: a lane storing its own 64 values
 * would leave its 16-byte stores 128 bytes apart (BACKEND-CUDA.md: lane
 * stores 32 bytes apart cost a third). */
#ifndef QK_K_CONVROT64_CUH
#define QK_K_CONVROT64_CUH

#include "k_convrot_rows.cuh"

#define CR64_THREADS 128 /* cuda_backend.c; the warps' exchange buffers: 32 KiB */
#define CR64_SPAN (64 * CR64_THREADS)

/* Lane L's 16-byte chunk k (its values 4 k .. 4 k + 3) sits at chunk
 * 16 L + (k ^ cr64_swizzle(L)) of its warp's buffer. A quarter-warp's
 * 128-bit accesses are conflict-free when their eight chunks differ mod 8:
 * the stores (lanes L .. L + 7, one k) do, since the swizzle is a
 * permutation of L mod 8; so do the reads (lanes 4 j + t of two teams, j
 * even and odd, reading chunk 8 h + 2 t + c of lane 4 j + m), whose chunk
 * mod 8 is (2 t + c) ^ (2 m + j % 2): t sets bits 1-2, j % 2 bit 0. */
static __device__ __forceinline__ int cr64_swizzle(int L) { return ((L & 3) << 1) | ((L >> 2) & 1); }

/* The levels of stride 1, 4 and (G > 16) 16 on x[k] = value k. */
static __device__ __forceinline__ void cr64_low_levels(float x[64], int G)
{
#pragma unroll
    for (int u = 0; u < 4; u++)
        h4_two_levels(x + 16 * u, true);
    if (G > 16)
#pragma unroll
        for (int i = 0; i < 16; i++)
            h4(x[i], x[i + 16], x[i + 32], x[i + 48]);
}

/* The team's exchange: y[8 (2 m + h) + i] = lane m's x[32 h + 8 t + i],
 * then (G = 256) the level of stride 64. chunks: the block's buffer, 16
 * chunks a thread. The first __syncwarp orders the previous step's reads
 * before these stores. */
static __device__ __forceinline__ void cr64_exchange(const float x[64], float y[64], uint4 *chunks, int G)
{
    const int lane = (int)threadIdx.x & 31, t = lane & 3, j = lane >> 2;
    uint4 *mine = chunks + 16 * (int)threadIdx.x;
    const uint4 *team = chunks + 16 * ((int)threadIdx.x - t);
    const int sw = cr64_swizzle(lane);
    __syncwarp();
#pragma unroll
    for (int k = 0; k < 16; k++)
        mine[k ^ sw] = make_uint4(bits(x[4 * k]), bits(x[4 * k + 1]), bits(x[4 * k + 2]), bits(x[4 * k + 3]));
    __syncwarp();
#pragma unroll
    for (int m = 0; m < 4; m++)
#pragma unroll
        for (int h = 0; h < 2; h++)
#pragma unroll
            for (int c = 0; c < 2; c++) {
                uint4 v = team[16 * m + ((8 * h + 2 * t + c) ^ ((2 * m) | (j & 1)))];
                float *o = y + 8 * (2 * m + h) + 4 * c;
                o[0] = fl(v.x);
                o[1] = fl(v.y);
                o[2] = fl(v.z);
                o[3] = fl(v.w);
            }
    if (G == 256)
#pragma unroll
        for (int i = 0; i < 16; i++)
            h4(y[i], y[i + 16], y[i + 32], y[i + 48]);
}

/* Rows whose scale s is normal with 2^(L-103) <= |s| < 2^(120-2L) (L =
 * log4 G) skip the final product: their products take s * 2^-L instead,
 * and no value of their chain is subnormal, Inf or NaN, so every sum is
 * the reference's times 2^-L exactly (the proof is in
 * shaders/glsl/convrot_dequantize.comp's head comment) and needs no NaN
 * test when rounded to T. The kernel is issue-bound: each saves an
 * instruction an element. */
static __device__ __forceinline__ bool cr64_native(u32 s, int L)
{
    u32 lo = 24u + (u32)L, hi = 247u - 2u * (u32)L; /* exponent fields */
    return ((s >> 23) & 0xFFu) - lo < hi - lo;
}

/* Codes e .. e + 63 and their row's scale, where e < e1. */
static __device__ __forceinline__ void cr64_fetch(const signed char *data, const u32 *scale, i64 e, i64 e1, i64 cols,
                                                  u64 cm, uint4 q[4], u32 *s)
{
    if (e >= e1)
        return;
    i64 rem;
    *s = scale[div_magic(e, cols, cm, &rem)];
    const uint4 *p = (const uint4 *)(data + e);
#pragma unroll
    for (int u = 0; u < 4; u++)
        q[u] = p[u];
}

/* Elements [e0, e1), whole rows; the grid steps by CR64_SPAN a block. */
static __device__ __forceinline__ void convrot_dequantize64_body(const signed char *data, const u32 *scale, int dt,
                                                                 i64 cols, u64 cm, int G, i64 e0, i64 e1,
                                                                 void *out, uint4 *chunks)
{
    const int lane = (int)threadIdx.x & 31, t = lane & 3, L = (__ffs(G) - 1) / 2;
    const float sc = convrot_scale(G);
    const i64 step = (i64)gridDim.x * CR64_SPAN;
    uint4 qn[4] = {};
    u32 sn = 0u;
    i64 b = e0 + (i64)blockIdx.x * CR64_SPAN;
    cr64_fetch(data, scale, b + 64 * (i64)threadIdx.x, e1, cols, cm, qn, &sn);
    for (; b < e1; b += step) { /* the same trips for the whole block */
        const i64 e = b + 64 * (i64)threadIdx.x, et = e - 64 * t;
        const bool native = cr64_native(sn, L);
        const u32 sp = native ? sn - ((u32)L << 23) : sn; /* s * 2^-L, exactly */
        float x[64], y[64];
#pragma unroll
        for (int u = 0; u < 4; u++)
            cr_products(qn[u], sp, x + 16 * u);
        cr64_fetch(data, scale, e + step, e1, cols, cm, qn, &sn);
        cr64_low_levels(x, G);
        cr64_exchange(x, y, chunks, G);
#pragma unroll
        for (int m = 0; m < 4; m++) {
            bool nat = __shfl_sync(0xFFFFFFFFu, native, (lane & ~3) | m); /* lane m's row */
            if (et + 64 * m >= e1) /* lane m's run is past the range */
                continue;
#pragma unroll
            for (int h = 0; h < 2; h++) {
                u32 v[8];
                i64 i0 = et + 64 * m + 32 * h + 8 * t;
                const float *r = y + 8 * (2 * m + h);
                if (nat) {
#pragma unroll
                    for (int i = 0; i < 8; i++)
                        v[i] = bits(r[i]);
                    store8_finite<false>(dt, out, i0, v);
                } else {
#pragma unroll
                    for (int i = 0; i < 8; i++)
                        v[i] = bits(__fmul_rn(r[i], sc));
                    store8<false>(dt, out, i0, v);
                }
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(CR64_THREADS, 4)
    qk_convrot_dequantize64(const signed char *data, const u32 *scale, int dt, i64 cols, u64 cm, int G, i64 e0,
                            i64 e1, void *out)
{
    __shared__ uint4 chunks[CR64_THREADS * 16];
    QK_BY_DTYPE(dt, convrot_dequantize64_body(data, scale, DTC, cols, cm, G, e0, e1, out, chunks));
}

#endif
