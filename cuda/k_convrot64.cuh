/* ConvRot int8 quantize and dequantize of per-row scales, 64 values a
 * thread: G = 16, 64 or 256, rows a multiple of 64 columns (and of G).
 * k_convrot_rows.cuh's arithmetic (h4, the final product by 2^-levels,
 * the rounding and codes of its quantize, cr_products and store8 in
 * dequantize), each element's operations in the reference's order, so the
 * bytes are that file's kernels'; only where values sit differs.
 *
 * A thread holds 64 consecutive values (loads of 16 bytes, issued a grid
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

/* ---- dequantize -------------------------------------------------------------- */

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
                    store8_finite(dt, out, i0, v);
                } else {
#pragma unroll
                    for (int i = 0; i < 8; i++)
                        v[i] = bits(__fmul_rn(r[i], sc));
                    store8(dt, out, i0, v);
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

/* ---- quantize (bf16 and f16) ------------------------------------------------- */

/* A block takes R = CR64_SPAN / cols whole rows a step (cols <= CR64_SPAN),
 * its first R cols / 64 threads 64 values each: a row's amax is the block's
 * shared-memory atomicMax of its threads' (bits of magnitudes: exact in
 * any order), read after one block barrier a step. The row maxima are
 * triple-buffered: a step resets the next step's buffer before its barrier,
 * after the barrier of the previous step, which every thread passes only
 * when done reading the buffer's last use (two steps back). */
#define CR64_ROWS (CR64_SPAN / 64)

/* 64 16-bit values from element e on, where the thread works. f16 widens
 * by cvt alone (widen_finite): a NaN still gives a NaN amax, and the op
 * fails. */
static __device__ __forceinline__ void cr64_load16(const unsigned short *in, i64 e, bool on, uint4 raw[8])
{
    if (!on)
        return;
    const uint4 *p = (const uint4 *)(in + e);
#pragma unroll
    for (int v = 0; v < 8; v++)
        raw[v] = p[v];
}

static __device__ __forceinline__ u32 cr64_word(uint4 v, int i) { return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w; }

static __device__ __forceinline__ void convrot_quantize64_body(const unsigned short *in, int dt, i64 cols, int G,
                                                               i64 r0, i64 r1, u32 *scale, unsigned char *data,
                                                               u32 *flag, uint4 *chunks, u32 (*rmax)[CR64_ROWS])
{
    const int lane = (int)threadIdx.x & 31, t = lane & 3, n = (int)cols;
    const int R = CR64_SPAN / n, lr = 64 * (int)threadIdx.x / n; /* this thread's row of the step */
    const bool works = lr < R, first = works && 64 * (int)threadIdx.x == lr * n;
    int lrm[4];
    bool wm[4];
#pragma unroll
    for (int m = 0; m < 4; m++) { /* lane m's row and whether it works */
        lrm[m] = __shfl_sync(0xFFFFFFFFu, lr, (lane & ~3) | m);
        wm[m] = __shfl_sync(0xFFFFFFFFu, works, (lane & ~3) | m);
    }
    const float sc = convrot_scale(G);
    const i64 step = (i64)gridDim.x * R;
    const int et = 64 * ((int)threadIdx.x - t); /* the team's first value, from the step's first row */
    if ((int)threadIdx.x < R)
        rmax[0][threadIdx.x] = 0u;
    __syncthreads();
    i64 r = r0 + (i64)blockIdx.x * R;
    for (int ph = 0; r < r1; r += step, ph = ph == 2 ? 0 : ph + 1) { /* the same trips for the whole block */
        if ((int)threadIdx.x < R)
            rmax[ph == 2 ? 0 : ph + 1][threadIdx.x] = 0u;
        uint4 raw[8] = {};
        cr64_load16(in, r * cols + 64 * (i64)threadIdx.x, works && r + lr < r1, raw);
        float x[64], y[64];
#pragma unroll
        for (int k = 0; k < 64; k++)
            x[k] = fl(widen_finite(dt, (cr64_word(raw[k / 8], (k / 2) & 3) >> (16 * (k & 1))) & 0xFFFFu));
        cr64_low_levels(x, G);
        cr64_exchange(x, y, chunks, G);
#pragma unroll
        for (int m = 0; m < 4; m++) {
            u32 mx = 0u;
#pragma unroll
            for (int i = 0; i < 16; i++)
                y[16 * m + i] = cr_last(y[16 * m + i], sc, mx);
            if (wm[m] && r + lrm[m] < r1)
                atomicMax(&rmax[ph][lrm[m]], mx);
        }
        __syncthreads();
        int held = -1; /* the row whose scalars a, s, d, rd are */
        u32 a = 0u, s = 0u, d = 0u, rd = 0u;
#pragma unroll
        for (int m = 0; m < 4; m++) {
            if (!wm[m] || r + lrm[m] >= r1)
                continue;
            if (lrm[m] != held) { /* once for the four runs of a row of whole teams */
                held = lrm[m];
                a = round_to(dt, rmax[ph][held]); /* the largest rounded magnitude */
                s = d = 0u;
                if (a < QK_F32_INF)
                    group_scalars(GQ_INT8, dt, a, &s, &d);
                rd = group_reciprocal(GQ_INT8, dt, d);
            }
            if (m == t && first) {
                if (a >= QK_F32_INF)
                    atomicOr(flag, 1u); /* the op fails with QK_ERR_NONFINITE */
                scale[r + lr] = s;
            }
#pragma unroll
            for (int h = 0; h < 2; h++) {
                u32 v[8], lo, hi;
#pragma unroll
                for (int i = 0; i < 8; i++)
                    v[i] = bits(y[8 * (2 * m + h) + i]);
#pragma unroll
                for (int i = 0; i < 8; i += 2)
                    round_pair(dt, &v[i], &v[i + 1]); /* NaN only where the op fails */
                group_codes8(GQ_INT8, dt, v, d, rd, &lo, &hi);
                *(uint2 *)(data + r * cols + et + 64 * m + 32 * h + 8 * t) = make_uint2(lo, hi);
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(CR64_THREADS, 4)
    qk_convrot_quantize64(const void *in, int dt, i64 cols, int G, i64 r0, i64 r1, u32 *scale, unsigned char *data,
                          u32 *flag)
{
    __shared__ uint4 chunks[CR64_THREADS * 16];
    __shared__ u32 rmax[3][CR64_ROWS];
    const unsigned short *p = (const unsigned short *)in;
    if (dt == DT_BF16) {
        convrot_quantize64_body(p, DT_BF16, cols, G, r0, r1, scale, data, flag, chunks, rmax);
    } else {
        convrot_quantize64_body(p, DT_F16, cols, G, r0, r1, scale, data, flag, chunks, rmax);
    }
}

#endif
