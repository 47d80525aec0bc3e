/* float8 / int8 quantize of row or tile scale groups in one pass: a CUDA
 * block (or warp) per group and step, the group's elements held in
 * registers between its amax and its codes, so the input is read once
 * (the two-pass path of k_scaled.cuh reads it twice and asks the host for
 * the scalars in between). The per-group scalars are the host's (cuda_plans.c,
 * scaled_q_between), computed here with the same IEEE operations:
 * __fdiv_rn is the correctly rounded division, round_to the dtype rounding.
 *
 * A group is a rectangle of h rows x w columns (a row: 1 x cols; a tile:
 * bh x bw, smaller at the edges) with w a multiple of 8, held as V vectors of
 * 8 per thread in blocks of 256 threads: V = 2 for groups of up to 4096
 * elements, 8 up to 16384 (16-bit dtypes; f32 groups up to 16384 take
 * blocks of 1024 threads, V = 2). float8 groups of up to 4096 16-bit elements
 * take a warp each instead (qk_group_quantize_warp, 16 vectors a lane): no
 * block barrier between a group's amax and its codes. 16-bit inputs stay
 * packed (4 registers a vector): their amax is taken on the packed
 * magnitudes and they are widened again for the codes. */
#ifndef QK_K_GROUP_QUANTIZE_CUH
#define QK_K_GROUP_QUANTIZE_CUH

#include "k_scaled.cuh"

#define GQ_THREADS 256
#define GQ_WARP_V 16 /* vectors a lane of qk_group_quantize_warp holds: 4096 elements a warp */

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

/* A vector's eight elements from its raw words, for their codes. f16 widens
 * by cvt alone (widen_finite): a group with a NaN or Inf fails the op, so
 * its codes are never kept. */
static __device__ __forceinline__ void unpack8(int dt, const uint4 raw[2], u32 x[8])
{
    if (dt == DT_F32) {
        x[0] = raw[0].x; x[1] = raw[0].y; x[2] = raw[0].z; x[3] = raw[0].w;
        x[4] = raw[1].x; x[5] = raw[1].y; x[6] = raw[1].z; x[7] = raw[1].w;
        return;
    }
    u32 w[4] = {raw[0].x, raw[0].y, raw[0].z, raw[0].w};
#pragma unroll
    for (int k = 0; k < 4; k++) {
        x[2 * k] = widen_finite(dt, w[k] & 0xFFFFu);
        x[2 * k + 1] = widen_finite(dt, w[k] >> 16);
    }
}

/* round_to(dt, .) of two non-NaN values at once: one cvt.rn.{bf16,f16}x2
 * (pack2_rne, the IEEE conversion: self-tests 10, 11) and the exact
 * widening back, instead of the per-element integer rounding. */
static __device__ __forceinline__ void round_pair(int dt, u32 *a, u32 *b)
{
    if (dt == DT_F32)
        return;
    u32 w = pack2_rne(dt, *a, *b);
    if (dt == DT_BF16) {
        *a = w << 16;
        *b = w & 0xFFFF0000u;
        return;
    }
    float fa, fb;
    asm("cvt.f32.f16 %0, %1;" : "=f"(fa) : "h"((unsigned short)(w & 0xFFFFu)));
    asm("cvt.f32.f16 %0, %1;" : "=f"(fb) : "h"((unsigned short)(w >> 16)));
    *a = bits(fa);
    *b = bits(fb);
}

/* The reciprocal group_codes8 divides int8 input by: the IEEE (correctly
 * rounded) reciprocal of the group's divisor s, for s in [2^-126, 2^122)
 * (16-bit input) or [2^-126, 2^126) (f32), where it and every step below
 * stay normal (every int8 divisor is: amax <= FLT_MAX bounds it above, the
 * 1e-30 and 1e-8 floors and f16's range below: self-test 22 checks every
 * 16-bit amax); 0 elsewhere (f32 then divides). group_codes8 divides
 * 16-bit input by the reciprocal alone: a division fallback in every
 * unrolled element made the int8 code of the group kernels too large to
 * run fast; f32 by one product, dividing a vector only where a quotient
 * lies near a halfway point (f32_quotients_by_product). */
static __device__ __forceinline__ u32 group_reciprocal(int kind, int dt, u32 s)
{
    int fits = s >= 0x00800000u && s < (dt == DT_F32 ? 0x7E800000u : 0x7C800000u);
    return kind >= GQ_INT8 && fits ? bits(__frcp_rn(fl(s))) : 0u;
}

/* RN(x / s) for eight f32 x, or values with the same integer nearest (ties
 * to even), by products with r = RN(1/s) (group_reciprocal, normal): with
 * z = x / s and |e1|, |e2| <= 2^-24, q0 = RN(x r) = z (1 + e1)(1 + e2);
 * where |q0| <= 256 it lies within 2^-15 of z, and RN(z) within 2^-16 of
 * z: under 2^-13 apart. So where every q0 lies at least 2^-13 from each
 * point halfway between integers, rint(q0) = rint(RN(z)), the integer
 * int8_pack8 takes; past 256 both saturate; an underflowed q0 means |z| <
 * 2^-125, 0 both ways. Otherwise (about 2^-12 of values) the vector
 * divides by __fdiv_rn. Self-test 13 runs every f32 x against int8_code's
 * division. */
static __device__ __forceinline__ void f32_quotients_by_product(const u32 x[8], u32 s, u32 r, u32 v[8])
{
    bool near = r == 0u;
#pragma unroll
    for (int e = 0; e < 8; e++) { /* q0 again below: fewer registers live */
        float q0 = __fmul_rn(fl(x[e]), fl(r)), n = __fsub_rn(__fadd_rn(q0, 0x1.8p23f), 0x1.8p23f);
        near |= fabsf(__fsub_rn(q0, n)) >= 0.5f - 0x1p-13f;
    }
    if (near) {
#pragma unroll
        for (int e = 0; e < 8; e++)
            v[e] = ddiv(x[e], s);
    } else {
#pragma unroll
        for (int e = 0; e < 8; e++)
            v[e] = dmul(x[e], r);
    }
}

/* x / d for the int8 codes of 16-bit input, with r = RN(1 / d) from
 * group_reciprocal: q0 = RN(x r), the residual x - d q0 exact by one fma,
 * then RN(q0 + residual r), the correctly rounded quotient (Markstein)
 * without a division per element. For |x| <= 256 d, where no step
 * overflows: a group's elements are at most its amax, below 191 d
 * (self-test 22 checks every 16-bit amax). Self-tests 14 and 15 compare
 * the codes this gives with int8_code's for every bf16 and every f16 x and
 * d with |x| <= 256 d. */
static __device__ __forceinline__ u32 div_by_reciprocal(u32 x, u32 d, u32 r)
{
    float xf = fl(x), df = fl(d), rf = fl(r);
    float q0 = __fmul_rn(xf, rf);
    return bits(__fmaf_rn(__fmaf_rn(-df, q0, xf), rf, q0));
}

/* Four ints saturated to int8 and packed, a0 in the lowest byte: two
 * cvt.pack.sat (sm_72+). */
static __device__ __forceinline__ u32 pack_s8x4(int a0, int a1, int a2, int a3)
{
    u32 high, out;
    asm("cvt.pack.sat.s8.s32.b32 %0, %1, %2, 0;" : "=r"(high) : "r"(a3), "r"(a2));
    asm("cvt.pack.sat.s8.s32.b32 %0, %1, %2, %3;" : "=r"(out) : "r"(a1), "r"(a0), "r"(high));
    return out;
}

/* The int8 bytes of eight finite quotients rounded to the dtype, |v| <=
 * 256 (1 + 2^-23) (a group's elements are at most 256 d: ST_INT8_DIVISORS;
 * f32 groups' at most 127 (1 + 2^-23) d): v + 1.5 * 2^23 is one exact
 * IEEE addition that rounds v to the nearest integer, ties to even, as
 * cvt.rni does, and its bits less those of 1.5 * 2^23 are that integer;
 * cvt.pack saturates it to [-128, 127] (blockwise: [-127, 127]). Clamping
 * commutes with the rounding. */
static __device__ __forceinline__ void int8_pack8(int kind, const u32 v[8], u32 *lo, u32 *hi)
{
    int k[8];
#pragma unroll
    for (int e = 0; e < 8; e++) {
        k[e] = (int)(bits(__fadd_rn(fl(v[e]), 0x1.8p23f)) - 0x4B400000u);
        if (kind == GQ_INT8_BLOCKWISE)
            k[e] = max(k[e], -127);
    }
    *lo = pack_s8x4(k[0], k[1], k[2], k[3]);
    *hi = pack_s8x4(k[4], k[5], k[6], k[7]);
}

/* The eight stored bytes of a vector, element 0 lowest: int8_code's and
 * fp8_scaled's, computed with fewer instructions for these group kernels.
 * Their quotients and products are never NaN (x finite; the divisor d > 0
 * finite; the reciprocal finite once some |x| > 0), so round_pair may
 * round them and the float8 conversions saturate instead of a clamp.
 * rs: group_reciprocal(kind, dt, s). */
static __device__ __forceinline__ void group_codes8(int kind, int dt, const u32 x[8], u32 s, u32 rs, u32 *lo,
                                                    u32 *hi)
{
    u32 v[8];
    if (kind >= GQ_INT8) {
        if (s == 0u) { /* blockwise zero tile with a zero floor */
            *lo = *hi = 0u;
            return;
        }
        if (dt == DT_F32) {
            f32_quotients_by_product(x, s, rs, v);
        } else {
#pragma unroll
            for (int e = 0; e < 8; e++)
                v[e] = div_by_reciprocal(x[e], s, rs);
        }
    } else {
#pragma unroll
        for (int e = 0; e < 8; e++)
            v[e] = (x[e] & QK_F32_ABS) == 0u ? x[e] : dmul(x[e], s);
    }
#pragma unroll
    for (int e = 0; e < 8; e += 2)
        round_pair(dt, &v[e], &v[e + 1]);
    if (kind < GQ_INT8) {
        fp8_pack8_sat(kind == GQ_E5M2, v, lo, hi);
        return;
    }
    int8_pack8(kind, v, lo, hi);
}

/* Where group g lies: its first element and, per vector v of its h x w
 * rectangle (wv vectors a row), the offset of v from there. */
struct group_rect {
    i64 base, cols;
    int wv, lw, nv; /* lw = log2(wv) when wv is a power of two, else -1 */
};

static __device__ __forceinline__ group_rect locate_group(i64 g, i64 rows, i64 cols, int bh, int bw, i64 gc)
{
    group_rect G;
    i64 gr = g / gc, gcol = g - gr * gc, r0 = gr * bh, c0 = gcol * bw;
    int h = (int)min((i64)bh, rows - r0), w = (int)min((i64)bw, cols - c0);
    G.base = r0 * cols + c0;
    G.cols = cols;
    G.wv = w / 8;
    G.lw = (G.wv & (G.wv - 1)) == 0 ? __ffs(G.wv) - 1 : -1;
    G.nv = h * G.wv;
    return G;
}

/* CONTIG: every group of the launch is contiguous (a row, or a tile as wide
 * as the tensor), so vector v lies at v * 8 and a lane's addresses are its
 * group's base plus constants: no division or 64-bit product a vector. */
template <int CONTIG = 0>
static __device__ __forceinline__ i64 vector_offset(const group_rect &G, int v)
{
    if (CONTIG)
        return (i64)v * 8;
    int rr = G.lw >= 0 ? v >> G.lw : v / G.wv; /* rows: wv = cols / 8, rr = 0 */
    return (i64)rr * G.cols + (i64)(v - rr * G.wv) * 8;
}

/* The vectors t, t + T, t + 2T, ... of group G that thread t of T holds. */
template <int V, int T, int CONTIG = 0>
static __device__ __forceinline__ void load_group(const void *in, int dt, const group_rect &G, int t, uint4 raw[V][2])
{
#pragma unroll
    for (int k = 0; k < V; k++) {
        int v = t + k * T;
        if (v >= G.nv)
            continue;
        i64 i = G.base + vector_offset<CONTIG>(G, v);
        if (dt == DT_F32) {
            raw[k][0] = ((const uint4 *)((const u32 *)in + i))[0];
            raw[k][1] = ((const uint4 *)((const u32 *)in + i))[1];
        } else {
            raw[k][0] = *(const uint4 *)((const unsigned short *)in + i);
        }
    }
}

/* The largest magnitude's bits among a thread's vectors, as f32 bits (NaN
 * bits exceed Inf). 16-bit magnitudes order as their bits do, so they are
 * compared packed, two a word, and only the largest is widened. */
template <int V, int T>
static __device__ __forceinline__ u32 group_thread_amax(int dt, const group_rect &G, int t, const uint4 raw[V][2])
{
    u32 m = 0u;
#pragma unroll
    for (int k = 0; k < V; k++) {
        if (t + k * T >= G.nv)
            continue;
        if (dt == DT_F32) {
            u32 x[8];
            unpack8(dt, raw[k], x);
#pragma unroll
            for (int e = 0; e < 8; e++)
                m = max(m, x[e] & QK_F32_ABS);
        } else {
            m = __vmaxu2(m, __vmaxu2(raw[k][0].x & 0x7FFF7FFFu, raw[k][0].y & 0x7FFF7FFFu));
            m = __vmaxu2(m, __vmaxu2(raw[k][0].z & 0x7FFF7FFFu, raw[k][0].w & 0x7FFF7FFFu));
        }
    }
    return dt == DT_F32 ? m : widen(dt, max(m & 0xFFFFu, m >> 16));
}

/* The codes of a thread's vectors, by the group's scalar s. */
template <int V, int T>
static __device__ __forceinline__ void store_group_codes(int kind, int dt, const group_rect &G, int t,
                                                         const uint4 raw[V][2], u32 s, unsigned char *data)
{
    u32 rs = group_reciprocal(kind, dt, s);
#pragma unroll
    for (int k = 0; k < V; k++) {
        int v = t + k * T;
        if (v >= G.nv)
            continue;
        u32 x[8], lo, hi;
        unpack8(dt, raw[k], x);
        group_codes8(kind, dt, x, s, rs, &lo, &hi);
        *(uint2 *)(data + G.base + vector_offset(G, v)) = make_uint2(lo, hi);
    }
}

/* Groups [g0, g1), one per CUDA block and step of a grid the host sizes by
 * occupancy. PREFETCH loads the block's next group before coding this one,
 * so its memory latency overlaps the codes' arithmetic (V = 2: the extra
 * registers cost no occupancy). The two barriers of a step also keep part
 * and shared_scalar from being rewritten before every thread has read
 * them. */
template <int V, int PREFETCH, int T = GQ_THREADS>
static __device__ __forceinline__ void group_quantize_body(const void *in, int dt, i64 rows, i64 cols, int bh, int bw,
                                                           i64 gc, i64 g0, i64 g1, int kind, u32 *scale,
                                                           unsigned char *data, u32 *flag)
{
    __shared__ u32 part[T / 32], shared_scalar;
    i64 g = g0 + blockIdx.x;
    if (g >= g1)
        return;
    group_rect G = locate_group(g, rows, cols, bh, bw, gc);
    uint4 raw[V][2], next[PREFETCH ? V : 1][2];
    load_group<V, T>(in, dt, G, threadIdx.x, raw);
    for (; g < g1; g += gridDim.x) {
        u32 m = warp_max(group_thread_amax<V, T>(dt, G, threadIdx.x, raw));
        if ((threadIdx.x & 31) == 0)
            part[threadIdx.x / 32] = m;
        __syncthreads();
        if (threadIdx.x == 0) {
            for (int k = 1; k < T / 32; k++)
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
        i64 gn = g + gridDim.x;
        group_rect N = G;
        if (gn < g1) {
            N = locate_group(gn, rows, cols, bh, bw, gc);
            if (PREFETCH)
                load_group<PREFETCH ? V : 1, T>(in, dt, N, threadIdx.x, next);
        }
        store_group_codes<V, T>(kind, dt, G, threadIdx.x, raw, s, data);
        if (gn < g1) {
            if (PREFETCH) {
#pragma unroll
                for (int k = 0; k < (PREFETCH ? V : 1); k++) {
                    raw[k][0] = next[k][0];
                    raw[k][1] = next[k][1];
                }
            } else {
                load_group<V, T>(in, dt, N, threadIdx.x, raw);
            }
        }
        G = N;
    }
}

/* store_group_codes, and as each vector's codes are stored, the same
 * vector of the next group N (when has_next) loads into the registers it
 * leaves: the next group's loads are in flight while this one is coded,
 * with no registers beyond the group's own. */
template <int V, int T, int CONTIG>
static __device__ __forceinline__ void store_codes_load_next(int kind, int dt, const group_rect &G,
                                                             const group_rect &N, int has_next, int t,
                                                             uint4 raw[V][2], u32 s, const void *in,
                                                             unsigned char *data)
{
    u32 rs = group_reciprocal(kind, dt, s);
#pragma unroll
    for (int k = 0; k < V; k++) {
        int v = t + k * T;
        if (v < G.nv) {
            u32 x[8], lo, hi;
            unpack8(dt, raw[k], x);
            group_codes8(kind, dt, x, s, rs, &lo, &hi);
            *(uint2 *)(data + G.base + vector_offset<CONTIG>(G, v)) = make_uint2(lo, hi);
        }
        if (has_next && v < N.nv)
            raw[k][0] = *(const uint4 *)((const unsigned short *)in + N.base + vector_offset<CONTIG>(N, v));
    }
}

/* Groups [g0, g1) of up to 32 V vectors, one per warp and step: each warp
 * of a block has its own groups, so a group needs no block barrier. Its
 * amax is a butterfly reduction that every lane ends with, every lane
 * computes the scalars, and lane 0 stores the scale. 16-bit dtypes only
 * (V vectors of 4 registers). The warp's next group loads while this one
 * is coded (store_codes_load_next). */
template <int V, int CONTIG>
static __device__ __forceinline__ void group_quantize_warp_body(const void *in, int dt, i64 rows, i64 cols, int bh,
                                                                int bw, i64 gc, i64 g0, i64 g1, int kind, u32 *scale,
                                                                unsigned char *data, u32 *flag)
{
    const int lane = threadIdx.x & 31;
    const i64 step = (i64)gridDim.x * (GQ_THREADS / 32);
    i64 g = g0 + (i64)blockIdx.x * (GQ_THREADS / 32) + threadIdx.x / 32;
    if (g >= g1)
        return;
    group_rect G = locate_group(g, rows, cols, bh, bw, gc);
    uint4 raw[V][2];
    load_group<V, 32, CONTIG>(in, dt, G, lane, raw);
    for (; g < g1; g += step) {
        u32 m = warp_max(group_thread_amax<V, 32>(dt, G, lane, raw)), sc = 0u, s = 0u;
        if (m < QK_F32_INF)
            group_scalars(kind, dt, m, &sc, &s);
        if (lane == 0) {
            if (m >= QK_F32_INF)
                atomicOr(flag, 1u); /* the op fails with QK_ERR_NONFINITE */
            scale[g] = sc;
        }
        int has_next = g + step < g1;
        group_rect N = has_next ? locate_group(g + step, rows, cols, bh, bw, gc) : G;
        store_codes_load_next<V, 32, CONTIG>(kind, dt, G, N, has_next, lane, raw, s, in, data);
        G = N;
    }
}

/* group_quantize_warp_body, contiguous (CONTIG = 1) where every group
 * of the launch is (rows, or tiles as wide as the tensor) and the kind is
 * int8. H200, bf16/f16 rows of 4096: int8 81% -> 88% of the copy (77% ->
 * 87% f16); float8 rows measured 1-2 points slower that way (92% -> 90%),
 * so they keep the general offsets. */
template <int V>
static __device__ __forceinline__ void group_quantize_warp_by_layout(const void *in, int dt, i64 rows, i64 cols,
                                                                     int bh, int bw, i64 gc, i64 g0, i64 g1, int kind,
                                                                     u32 *scale, unsigned char *data, u32 *flag)
{
    if (kind >= GQ_INT8 && (bh == 1 || bw >= cols))
        group_quantize_warp_body<V, 1>(in, dt, rows, cols, bh, bw, gc, g0, g1, kind, scale, data, flag);
    else
        group_quantize_warp_body<V, 0>(in, dt, rows, cols, bh, bw, gc, g0, g1, kind, scale, data, flag);
}

/* QK_BY_DTYPE for bf16 and f16 only. */
#define QK_BY_DTYPE16(dt, CALL)                                                                    \
    do {                                                                                           \
        if ((dt) == DT_BF16) {                                                                     \
            const int DTC = DT_BF16;                                                               \
            CALL;                                                                                  \
        } else {                                                                                   \
            const int DTC = DT_F16;                                                                \
            CALL;                                                                                  \
        }                                                                                          \
    } while (0)

/* A kernel's switch over the kinds: BODY (a group body template with its
 * arguments) with kind and dtype as constants. */
#define QK_GROUP_QUANTIZE(BODY, BY_DTYPE)                                                                       \
    switch (kind) {                                                                                \
    case GQ_E4M3: {                                                                                \
        const int KC = GQ_E4M3;                                                                    \
        BY_DTYPE(dt, (BODY(in, DTC, rows, cols, bh, bw, gc, g0, g1, KC, scale, data, flag))); \
        break;                                                                                     \
    }                                                                                              \
    case GQ_E5M2: {                                                                                \
        const int KC = GQ_E5M2;                                                                    \
        BY_DTYPE(dt, (BODY(in, DTC, rows, cols, bh, bw, gc, g0, g1, KC, scale, data, flag))); \
        break;                                                                                     \
    }                                                                                              \
    case GQ_INT8: {                                                                                \
        const int KC = GQ_INT8;                                                                    \
        BY_DTYPE(dt, (BODY(in, DTC, rows, cols, bh, bw, gc, g0, g1, KC, scale, data, flag))); \
        break;                                                                                     \
    }                                                                                              \
    default: {                                                                                     \
        const int KC = GQ_INT8_BLOCKWISE;                                                          \
        BY_DTYPE(dt, (BODY(in, DTC, rows, cols, bh, bw, gc, g0, g1, KC, scale, data, flag))); \
        break;                                                                                     \
    }                                                                                              \
    }

extern "C" __global__ void __launch_bounds__(256, 4)
qk_group_quantize_4k(const void *in, int dt, i64 rows, i64 cols, int bh, int bw, i64 gc, i64 g0, i64 g1, int kind,
                     u32 *scale, unsigned char *data, u32 *flag)
{
    QK_GROUP_QUANTIZE((group_quantize_body<2, 1>), QK_BY_DTYPE)
}

extern "C" __global__ void __launch_bounds__(256, 4)
qk_group_quantize_16k(const void *in, int dt, i64 rows, i64 cols, int bh, int bw, i64 gc, i64 g0, i64 g1,
                      int kind, u32 *scale, unsigned char *data, u32 *flag)
{
    QK_GROUP_QUANTIZE((group_quantize_body<8, 0>), QK_BY_DTYPE16)
}

/* QK_BY_DTYPE for f32 only. */
#define QK_BY_DTYPE_F32(dt, CALL)                                                                  \
    do {                                                                                           \
        const int DTC = DT_F32;                                                                    \
        CALL;                                                                                      \
    } while (0)

/* f32 groups of 4097 to 16384 elements (int8_blockwise's 128 x 128 tiles):
 * a block of 1024 threads holding two vectors each, so that such tiles
 * take the one-pass path too (they took the two-pass path, which reads the
 * input twice: H200, f32 int8_blockwise quantize at 32% of the copy). No
 * prefetch of the next group: with f32_quotients_by_product it spilled 32
 * bytes at the 64 registers 1024 threads allow. */
extern "C" __global__ void __launch_bounds__(1024)
qk_group_quantize_16k_f32(const void *in, int dt, i64 rows, i64 cols, int bh, int bw, i64 gc, i64 g0, i64 g1,
                          int kind, u32 *scale, unsigned char *data, u32 *flag)
{
    QK_GROUP_QUANTIZE((group_quantize_body<2, 0, 1024>), QK_BY_DTYPE_F32)
}

/* A warp a group of up to 4096 16-bit elements. int8 came here last, once
 * its division fallback left the unrolled loops (int8_codes8_dividing):
 * with it inlined in every element, code too large to run fast made int8
 * rows slower here than in the block kernel (H200, bf16 rows of 4096: 42%
 * of the copy against 59%). */
extern "C" __global__ void __launch_bounds__(256)
qk_group_quantize_warp(const void *in, int dt, i64 rows, i64 cols, int bh, int bw, i64 gc, i64 g0, i64 g1,
                       int kind, u32 *scale, unsigned char *data, u32 *flag)
{
    QK_GROUP_QUANTIZE((group_quantize_warp_by_layout<GQ_WARP_V>), QK_BY_DTYPE16)
}

#endif
