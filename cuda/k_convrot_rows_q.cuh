/* ConvRot int8 quantize (int8_tensorwise, row scaling) a row per CUDA
 * block and step, as ref_int8.c with ConvRot: the rotated row's amax
 * rounded to T, the row's scalars, then the int8 codes of the values
 * rounded to T. The units, the half-warp exchange and the level of stride
 * 256 are k_convrot_rows.cuh's; what quantize adds, for fewer instructions
 * an element:
 *
 * - H4 butterflies with one addition less (h4q: 10 instead of 11);
 * - no final product by 2^-L on the elements: the row amax is taken on
 *   the unscaled sums v and scaled once, and the codes divide v rounded to
 *   T by d 2^L (rows where that is not provably the same take the product);
 * - the codes divide by one product with the reciprocal (int8_by_rcp);
 *   f16 codes round, clamp and take the integer on packed halves;
 * - the row amax by max.NaN.f32 on |v| (one instruction an element), the
 *   warp's by redux, the block's by one shared atomic a warp: one block
 *   barrier a row;
 * - units read and written as 16-byte vectors (slots padded by 4 words
 *   every 16 and 16 more every 256, so that both the vectors and the
 *   regrouped scalars are free of bank conflicts);
 * - the block's next row is loaded while this one rotates (not f32 rows
 *   over 4096 columns: the registers).
 *
 * Each step's proof sits at its function. The bytes are the reference's
 * (tests/test_cuda.c: test_device_convrot_rows, test_device_group_nonfinite;
 * the single-product division: test_host_int8_by_rcp, every bf16 and f16
 * pair). */
#ifndef QK_K_CONVROT_ROWS_Q_CUH
#define QK_K_CONVROT_ROWS_Q_CUH

#include "k_convrot_rows.cuh"

/* Slot of row element i: 4 words after every 16 (a unit starts 16-byte
 * aligned, at 20 u + 16 (u / 16)) and 16 more after every 256. A
 * quarter-warp's 16-byte unit accesses hit chunks 5 t + c (t its lanes),
 * eight different ones mod 8; regrouped, element 256 b + j + 16 k sits at
 * 336 b + 20 k + j, and 336 = 16 mod 32: the 32 lanes (b = lane / 16,
 * j = lane % 16) hit 32 banks. */
static __device__ __forceinline__ int crq_at(int i) { return i + ((i >> 4) << 2) + ((i >> 8) << 4); }
#define CRQ_SLOTS(n) ((n) + (n) / 4 + (n) / 16)

#define CRQ_THREADS_4K 128 /* cuda_backend.c */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900
#define CRQ_BOUNDS_4K __launch_bounds__(CRQ_THREADS_4K, CRQ_BLOCKS_4K)
#else
#define CRQ_BOUNDS_4K __launch_bounds__(CRQ_THREADS_4K)
#endif
#define CRQ_BLOCKS_4K 8

/* One H4 of convrot.c with its last output as (c - (a - b)) + d instead of
 * ((b - a) + c) + d: one addition less. Only the sign of a zero can
 * differ: b - a is -(a - b) exactly (RN is odd) unless a = b, where both
 * are +0; so c - (a - b) and (b - a) + c are one and the same rounded real
 * (or, for that real 0, zeros of possibly different signs). An IEEE sum
 * of operands that are equal as reals is the same rounded real (a
 * nonzero, Inf or NaN result is the same value; a zero may change sign),
 * so through the later levels every value stays the same but the sign of
 * a zero. Quantize keeps no sign of a zero: the amax takes |v|, and a zero
 * codes 0 (+-0 r = +-0, rounds to +-0, codes 0 alike). Dequantize stores
 * its values, so it keeps h4. */
static __device__ __forceinline__ void h4q(float &a, float &b, float &c, float &d)
{
    float ab = __fadd_rn(a, b), amb = __fsub_rn(a, b);
    float o0 = __fsub_rn(__fadd_rn(ab, c), d), o1 = __fadd_rn(__fsub_rn(ab, c), d);
    float o2 = __fadd_rn(__fadd_rn(amb, c), d), o3 = __fadd_rn(__fsub_rn(c, amb), d);
    a = o0;
    b = o1;
    c = o2;
    d = o3;
}

/* h4_two_levels with h4q. */
static __device__ __forceinline__ void h4q_two_levels(float x[16], bool both)
{
#pragma unroll
    for (int q = 0; q < 16; q += 4)
        h4q(x[q], x[q + 1], x[q + 2], x[q + 3]);
    if (both)
#pragma unroll
        for (int o = 0; o < 4; o++)
            h4q(x[o], x[o + 4], x[o + 8], x[o + 12]);
}

/* max(m, |v|) with NaN kept (the result of a NaN is NaN): m stays a
 * nonnegative float or NaN, whose bits order as the values (NaN above Inf),
 * so the row's largest bits are the largest |v| and NaN/Inf rows fail as
 * before. One FMNMX on sm_80+. */
static __device__ __forceinline__ float crq_amax(float m, float v)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    float r;
    asm("max.NaN.f32 %0, %1, %2;" : "=f"(r) : "f"(m), "f"(fabsf(v)));
    return r;
#else
    return fl(max(bits(m), bits(v) & QK_F32_ABS));
#endif
}

/* The largest of a warp's u32 (every lane ends with it). */
static __device__ __forceinline__ u32 crq_warp_max(u32 v)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    return __reduce_max_sync(0xFFFFFFFFu, v);
#else
    return warp_max(v);
#endif
}

/* The codes of a 16-bit row divide t (a value of T) by d (a divisor of T)
 * with one product, RN(t RN(1 / d)), instead of group_codes8's corrected
 * quotient: the int8 code (T-rounded, rounded to an integer, clamped) of
 * that product equals the correctly rounded quotient's for every bf16 and
 * every f16 pair with 0 < t <= 256 d and d in [2^-126, 2^122) (t < d / 4
 * codes 0 both ways; tests/test_cuda.c test_host_int8_by_rcp runs them
 * all, with the host's IEEE float; the reason is that t / d of 8- or
 * 11-bit significands lies either on a value of T or far enough from T's
 * rounding midpoints). Negative t mirror it (RN is odd). */
static __device__ __forceinline__ u32 int8_by_rcp(u32 t, u32 r) { return dmul(t, r); }

/* int8_pack8 of eight f32 quotients rounded to f16, on the packed halves
 * (sm_80+): cvt.rn.f16x2 rounds two (round_pair's rounding), the halves
 * are clamped to [-128, 127] (exact; clamping commutes with rounding to an
 * integer, as int8_pack8 says) and 1536 = 1.5 * 2^10 is added in f16: the
 * exact sum lies in [1408, 1663], where f16's values are the integers, so
 * its one rounding is to the nearest integer, ties to even (1536 is even),
 * and the half is 0x6600 + k for the code k: its low byte is k's. One byte
 * permutation gathers four. (An f16 subnormal quotient adds to 1536: code
 * 0, as it rounds to 0.) Not NaN: NaN only where the op fails. */
static __device__ __forceinline__ void crq_f16_codes8(const u32 q[8], u32 *lo, u32 *hi)
{
    u32 w[4];
#pragma unroll
    for (int k = 0; k < 4; k++) {
        w[k] = pack2_rne(DT_F16, q[2 * k], q[2 * k + 1]);
        asm("min.f16x2 %0, %0, %1;" : "+r"(w[k]) : "r"(0x57F057F0u));     /* 127 */
        asm("max.f16x2 %0, %0, %1;" : "+r"(w[k]) : "r"(0xD800D800u));     /* -128 */
        asm("add.rn.f16x2 %0, %0, %1;" : "+r"(w[k]) : "r"(0x66006600u)); /* 1536 */
    }
    *lo = __byte_perm(w[0], w[1], 0x6420u);
    *hi = __byte_perm(w[2], w[3], 0x6420u);
}

/* The codes of eight unscaled or scaled sums x (see crq_native), divisor
 * d (f32) or reciprocal r (16-bit). */
static __device__ __forceinline__ void crq_codes8(int dt, const float x[8], u32 d, u32 r, u32 *lo, u32 *hi)
{
    u32 v[8];
#pragma unroll
    for (int e = 0; e < 8; e++)
        v[e] = bits(x[e]);
    if (dt == DT_F32) {
#pragma unroll
        for (int e = 0; e < 8; e++)
            v[e] = ddiv(v[e], d);
    } else {
#pragma unroll
        for (int e = 0; e < 8; e += 2)
            round_pair(dt, &v[e], &v[e + 1]); /* NaN only where the op fails */
#pragma unroll
        for (int e = 0; e < 8; e++)
            v[e] = int8_by_rcp(v[e], r);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
        if (dt == DT_F16) {
            crq_f16_codes8(v, lo, hi);
            return;
        }
#endif
#pragma unroll
        for (int e = 0; e < 8; e += 2)
            round_pair(dt, &v[e], &v[e + 1]);
    }
    int8_pack8(GQ_INT8, v, lo, hi);
}

/* Whether a row's codes may take the unscaled sums v (y = RN(v 2^-L) is
 * the reference's rotated value, t = T(y) its stored one, M = max |v|, d
 * the row's divisor, finite rows only) and divide them by d' = d 2^L:
 * T(v) / d' must be t / d wherever the code could tell them apart.
 * - f32 (T = identity, any such row): where |y| >= 2^-126, y = v 2^-L
 *   exactly and v / d' = y / d; below, |y / d| and |v / d'| are under
 *   2^-26 (d >= 1e-30 > 2^-100): both code 0. d' is finite (d <= FLT_MAX
 *   / 127).
 * - bf16, when M < 2^127 and d < 2^(122-L): T(v) is finite, and where
 *   |v| >= 2^(L-126), T(v) = t 2^L (scaling by 2^L commutes with the
 *   rounding in the normal range), so T(v) / d' = t / d; below, |t| <=
 *   2^-126 and |T(v)| <= 2^(L-126) against d >= T(1e-30) > 2^-100: code 0
 *   both ways. d' stays under 2^122: int8_by_rcp's domain, as |T(v)| =
 *   |t| 2^L <= 256 d'.
 * - f16, when M < 65520 (T(v) finite) and d >= 2^-13: where |v| >=
 *   2^(L-14), T(v) = t 2^L as above (f16's normal range); below, |t| <=
 *   2^-14 <= d / 2 and |T(v)| <= 2^(L-14) <= d' / 2: |quotient| <= 1/2,
 *   code 0 both ways (1/2 rounds to the even 0). d' = d 2^L <= 516 * 32
 *   is an f16 value with a reciprocal: int8_by_rcp's domain.
 * Other rows (f16 rows of small amax, bf16 rows near the top of the range)
 * multiply by 2^-L first, as the reference. */
static __device__ __forceinline__ bool crq_native(int dt, u32 M, u32 d, int L)
{
    if (dt == DT_F32)
        return true;
    if (dt == DT_BF16)
        return M < 0x7F000000u && d < ((249u - (u32)L) << 23);
    return M < 0x477FF000u && d >= 0x39000000u;
}

/* A unit's 16 codes from its slots: native rows (crq_native) from the
 * unscaled sums and d' = dd, the others from the sums times 2^-L (sc). */
static __device__ __forceinline__ void crq_unit_codes(int dt, const float *s, int unit, int nu, bool native, float sc,
                                                      u32 dd, u32 rd, unsigned char *row)
{
    if (unit >= nu)
        return;
    const float4 *p = (const float4 *)(s + crq_at(16 * unit));
    u32 lo[2], hi[2];
#pragma unroll
    for (int h = 0; h < 2; h++) {
        float4 w0 = p[2 * h], w1 = p[2 * h + 1];
        float x[8] = {w0.x, w0.y, w0.z, w0.w, w1.x, w1.y, w1.z, w1.w};
        if (!native)
#pragma unroll
            for (int k = 0; k < 8; k++)
                x[k] = __fmul_rn(x[k], sc);
        crq_codes8(dt, x, dd, rd, &lo[h], &hi[h]);
    }
    *(uint4 *)(row + (i64)unit * 16) = make_uint4(lo[0], hi[0], lo[1], hi[1]);
}

/* The levels after a unit's (cr_rest_levels with h4q and no final product;
 * its comments hold for the slots of crq_at). */
template <int U, int T>
static __device__ __forceinline__ void crq_rest_levels(float *s, int n, int G, float &m)
{
    if (G == 16)
        return;
    __syncwarp();
#pragma unroll
    for (int u = 0; u < U; u++) {
        int unit = (int)threadIdx.x + u * T, first = 16 * (unit & ~15);
        /* Blocks past the row's end are skipped: their slots hold stale
         * values, which the amax below must not see. G = 64 rows may end
         * inside the block; G >= 256 blocks are whole. */
        if (first >= n)
            continue;
        int quads = G >= 256 ? 4 : min(4, (n - first) >> 6);
        float *p = s + crq_at(first + (unit & 15)), x[16];
#pragma unroll
        for (int k = 0; k < 16; k++)
            x[k] = k / 4 < quads ? p[20 * k] : 0.0f;
        h4q_two_levels(x, G >= 256);
        if (G < 1024) /* absent quads hold zeros (G = 64: no level across quads) */
#pragma unroll
            for (int k = 0; k < 16; k++)
                m = crq_amax(m, x[k]);
#pragma unroll
        for (int k = 0; k < 16; k++)
            if (k / 4 < quads)
                p[20 * k] = x[k];
    }
    if (G < 1024)
        return;
    __syncthreads();
    /* Level of stride 256: columns 16 h + j + 64 q of the thread's group
     * and the three 256, 512, 768 further (80 and 336 slots). */
#pragma unroll
    for (int u = 0; u < U; u++) {
        int unit = (int)threadIdx.x + u * T;
        if (unit >= n / 16)
            continue;
        float *p = s + crq_at(16 * (unit & ~63) + 16 * ((unit >> 4) & 3) + (unit & 15));
#pragma unroll
        for (int q = 0; q < 4; q++) {
            float v[4];
#pragma unroll
            for (int l = 0; l < 4; l++)
                v[l] = p[80 * q + 336 * l];
            h4q(v[0], v[1], v[2], v[3]);
#pragma unroll
            for (int l = 0; l < 4; l++) {
                p[80 * q + 336 * l] = v[l];
                m = crq_amax(m, v[l]);
            }
        }
    }
}

/* The input words of the thread's units (unit t + T u): two 16-byte
 * vectors of 16-bit elements, or four of f32. */
template <int U, int T>
static __device__ __forceinline__ void crq_load_units(const void *in, int dt, i64 row, int nu, uint4 raw[U][4])
{
#pragma unroll
    for (int u = 0; u < U; u++) {
        int unit = (int)threadIdx.x + u * T;
        if (unit >= nu)
            continue;
        i64 e = row + (i64)unit * 16;
        const uint4 *p = dt == DT_F32 ? (const uint4 *)((const u32 *)in + e)
                                      : (const uint4 *)((const unsigned short *)in + e);
#pragma unroll
        for (int v = 0; v < 4; v++)
            if (v < (dt == DT_F32 ? 4 : 2))
                raw[u][v] = p[v];
    }
}

/* Rows [r0, r1): scale[r] and the codes; *flag is set when a rotated row
 * holds NaN or Inf (the op fails with QK_ERR_NONFINITE). s: CRQ_SLOTS(U *
 * 4096) floats, 16-byte aligned; amax: three words, the row's maximum by
 * shared atomics, row i in amax[i % 3]: thread 0 empties amax[(i + 2) % 3] after row i's
 * barrier (row i - 1 read it before that barrier; row i + 2 adds to it only
 * after row i + 1's, which thread 0 reaches after emptying it). */
template <int U, int T>
static __device__ __forceinline__ void convrot_quantize_q_body(const void *in, int dt, i64 cols, int G, i64 r0, i64 r1,
                                                               u32 *scale, unsigned char *data, u32 *flag, float *s,
                                                               u32 *amax)
{
    int n = (int)cols, nu = n / 16, b = 0;
    const int L = (__ffs(G) - 1) / 2;
    const float sc = convrot_scale(G);
    const bool pf = U == 1 || dt != DT_F32; /* f32 rows over 4096: no prefetch (registers) */
    uint4 raw[U][4] = {};
    if (threadIdx.x < 3)
        amax[threadIdx.x] = 0u;
    i64 r = r0 + blockIdx.x;
    if (pf && r < r1)
        crq_load_units<U, T>(in, dt, r * cols, nu, raw);
    __syncthreads();
    for (; r < r1; r += gridDim.x, b = b == 2 ? 0 : b + 1) {
        float m = 0.0f;
#pragma unroll
        for (int u = 0; u < U; u++) {
            int unit = (int)threadIdx.x + u * T;
            if (unit < nu) {
                float x[16];
                if (!pf) /* one unit's words at a time */
                    crq_load_units<1, T>(in, dt, r * cols + u * 16 * T, nu - u * T, &raw[u]);
                cr_widen16(dt, raw[u], x);
                h4q_two_levels(x, true);
                if (G == 16)
#pragma unroll
                    for (int k = 0; k < 16; k++)
                        m = crq_amax(m, x[k]);
                float4 *p = (float4 *)(s + crq_at(16 * unit));
#pragma unroll
                for (int c = 0; c < 4; c++)
                    p[c] = make_float4(x[4 * c], x[4 * c + 1], x[4 * c + 2], x[4 * c + 3]);
            }
        }
        if (pf && r + gridDim.x < r1)
            crq_load_units<U, T>(in, dt, (r + gridDim.x) * cols, nu, raw);
        crq_rest_levels<U, T>(s, n, G, m);
        u32 wm = crq_warp_max(bits(m));
        if ((threadIdx.x & 31) == 0)
            atomicMax(&amax[b], wm);
        __syncthreads();
        u32 M = amax[b];
        if (threadIdx.x == 0)
            amax[b == 0 ? 2 : b - 1] = 0u;
        /* The reference's amax: the largest T(RN(v 2^-L)), which is
         * T(RN(M 2^-L)) (both roundings are monotone and odd). */
        u32 mt = round_to(dt, dmul(M, bits(sc)) & QK_F32_ABS);
        u32 sr = 0u, d = 0u;
        if (mt < QK_F32_INF)
            group_scalars(GQ_INT8, dt, mt, &sr, &d);
        if (threadIdx.x == 0) {
            if (mt >= QK_F32_INF)
                atomicOr(flag, 1u); /* the op fails with QK_ERR_NONFINITE */
            scale[r] = sr;
        }
        const bool native = crq_native(dt, M, d, L);
        const u32 dd = native ? d + ((u32)L << 23) : d; /* d normal: d 2^L exactly */
        const u32 rd = dt == DT_F32 ? 0u : bits(__frcp_rn(fl(dd)));
#pragma unroll
        for (int u = 0; u < U; u++)
            crq_unit_codes(dt, s, (int)threadIdx.x + u * T, nu, native, sc, dd, rd, data + r * cols);
    }
}

#define CR_QUANTIZE_ARGS                                                                                               \
    const void *in, int dt, i64 cols, int G, i64 r0, i64 r1, u32 *scale, unsigned char *data, u32 *flag

extern "C" __global__ void CR_BOUNDS(CR_BLOCKS_Q) qk_convrot_quantize_rows(CR_QUANTIZE_ARGS)
{
    __shared__ __align__(16) float s[CRQ_SLOTS(2 * 16 * CR_THREADS)];
    __shared__ u32 amax[3];
    QK_BY_DTYPE(dt, (convrot_quantize_q_body<2, CR_THREADS>(in, DTC, cols, G, r0, r1, scale, data, flag, s, amax)));
}

/* Rows of up to 4096 columns: blocks of CRQ_THREADS_4K threads, two units a
 * thread, so that the row's scalars and barrier cost each thread once for
 * 32 elements instead of 16 (cu_block_threads). */
extern "C" __global__ void CRQ_BOUNDS_4K qk_convrot_quantize_rows4k(CR_QUANTIZE_ARGS)
{
    __shared__ __align__(16) float s[CRQ_SLOTS(2 * 16 * CRQ_THREADS_4K)];
    __shared__ u32 amax[3];
    QK_BY_DTYPE(dt, (convrot_quantize_q_body<2, CRQ_THREADS_4K>(in, DTC, cols, G, r0, r1, scale, data, flag, s,
                                                                 amax)));
}

#endif
