/* float8_e4m3fn / float8_e5m2 and int8 kernels: the bytes of
 * src/ref/ref_fp8.c and src/ref/ref_int8.c. Scale groups (tensor, row or
 * bh x bw tile) as src/ref/ref_groups.h; the per-group scalars (scale,
 * reciprocal, divisor) are computed on the host by the reference's own
 * helpers from the amax this file reduces. Elements flattened, 8 per
 * thread; ranges [e0, e1) start on a multiple of 8 (the host's chunks do),
 * which the 8-element vector loads and stores rely on. */
#ifndef QK_K_SCALED_CUH
#define QK_K_SCALED_CUH

#include "dev_common.cuh"

/* Scale-group geometry; mode 0 tensor, 1 row, 2 tiles of bh x bw. */
struct groups {
    i64 cols;
    u64 cols_magic;
    int mode, bh, bw;
    i64 gc; /* groups across */
};

/* Walks consecutive elements, keeping (row, col, group) current without a
 * division per element. */
struct walker {
    i64 r, c, g, next; /* next: first column of the following tile */
};

static __device__ __forceinline__ i64 group_at(const groups &G, i64 r, i64 c, i64 *next)
{
    if (G.mode == 0) {
        *next = G.cols;
        return 0;
    }
    if (G.mode == 1) {
        *next = G.cols;
        return r;
    }
    i64 tc = c / G.bw;
    *next = min((tc + 1) * G.bw, G.cols);
    return (r / G.bh) * G.gc + tc;
}

static __device__ __forceinline__ walker walk_start(const groups &G, i64 i)
{
    walker w;
    w.r = div_magic(i, G.cols, G.cols_magic, &w.c);
    w.g = group_at(G, w.r, w.c, &w.next);
    return w;
}

static __device__ __forceinline__ void walk_step(const groups &G, walker &w)
{
    w.c += 1;
    if (w.c == G.cols) {
        w.c = 0;
        w.r += 1;
        w.g = group_at(G, w.r, 0, &w.next);
    } else if (w.c == w.next) {
        w.g += 1;
        w.next = min(w.next + G.bw, G.cols);
    }
}

/* A per-group word for element i of a walk, or 0 past the range's end e1:
 * a range's last vector walks on past the tensor's last group, whose words
 * end there (compute-sanitizer's memcheck caught the read). */
static __device__ __forceinline__ u32 walk_word(const u32 *a, const walker &w, i64 i, i64 e1)
{
    return i < e1 ? a[w.g] : 0u;
}

/* The group shared by all of elements [i, i + 8) when there is one and all
 * are in range (w: walk_start(G, i), not needed for tensor scaling), else
 * -1. The common case then runs without the walker. */
static __device__ __forceinline__ i64 uniform_group(const groups &G, i64 i, i64 e1, walker *w)
{
    if (i + 8 > e1)
        return -1;
    if (G.mode == 0)
        return 0;
    *w = walk_start(G, i);
    return w->c + 8 <= w->next ? w->g : -1;
}

/* atomicMax of m into amax[g] with lanes of one group combined first
 * (g < 0: nothing). Every lane of the warp must call it. */
static __device__ __forceinline__ void flush_group_max(i64 g, u32 m, u32 *amax)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    unsigned mask = __match_any_sync(0xFFFFFFFFu, (unsigned long long)g);
    u32 mm = __reduce_max_sync(mask, m);
    if (g >= 0 && (int)(threadIdx.x & 31) == __ffs(mask) - 1)
        atomicMax(amax + g, mm);
#else
    if (g >= 0)
        atomicMax(amax + g, m);
#endif
}

/* Tensor amax of 16-bit input: |h| orders bf16 and f16 values as their f32
 * widening does (NaN patterns above Inf included), so two halves at a time
 * take one mask and one SIMD max, and only the result is widened. U > 1:
 * U vectors' loads issued together (more bytes in flight a thread; the
 * grid holds only as many threads as fit at once). */
template <int U>
static __device__ __forceinline__ u32 amax16(const void *in, int dt, i64 e0, i64 e1)
{
    const unsigned short *h = (const unsigned short *)in;
    i64 step = (i64)gridDim.x * blockDim.x * 8;
    u32 m2 = 0u;
    i64 i = e0 + gtid() * 8;
    if (U > 1)
        for (; i + (U - 1) * step + 8 <= e1; i += U * step) {
            uint4 a[U];
#pragma unroll
            for (int u = 0; u < U; u++)
                a[u] = *(const uint4 *)(h + i + u * step);
#pragma unroll
            for (int u = 0; u < U; u++) {
                m2 = __vmaxu2(m2, __vmaxu2(a[u].x & 0x7FFF7FFFu, a[u].y & 0x7FFF7FFFu));
                m2 = __vmaxu2(m2, __vmaxu2(a[u].z & 0x7FFF7FFFu, a[u].w & 0x7FFF7FFFu));
            }
        }
    for (; i < e1; i += step) {
        if (i + 8 <= e1) {
            uint4 a = *(const uint4 *)(h + i);
            m2 = __vmaxu2(m2, __vmaxu2(a.x & 0x7FFF7FFFu, a.y & 0x7FFF7FFFu));
            m2 = __vmaxu2(m2, __vmaxu2(a.z & 0x7FFF7FFFu, a.w & 0x7FFF7FFFu));
        } else {
            for (i64 k = i; k < e1; k++)
                m2 = max(m2, (u32)h[k] & 0x7FFFu);
        }
    }
    return widen(dt, max(m2 & 0xFFFFu, m2 >> 16));
}

/* amax[g] = max |x| bits over elements [e0, e1) (atomicMax; the host zeroes
 * amax first). NaN bits exceed Inf, so amax >= Inf flags a nonfinite
 * input, as the reference's reduction does. Grid-stride over chunks of 8
 * elements per thread; tensor scaling reduces per CUDA block first. */
template <int U>
static __device__ __forceinline__ void group_amax_body(const void *in, int dt, groups G, i64 e0, i64 e1, u32 *amax)
{
    i64 step = (i64)gridDim.x * blockDim.x * 8;
    u32 acc = G.mode == 0 && dt != DT_F32 ? amax16<U>(in, dt, e0, e1) : 0u;
    for (i64 base = e0 + (i64)blockIdx.x * blockDim.x * 8; base < e1 && (G.mode != 0 || dt == DT_F32);
         base += step) {
        i64 i = base + threadIdx.x * 8;
        i64 g0 = -1;
        u32 m0 = 0u;
        if (i < e1) {
            u32 x[8];
            load8_tail(dt, in, i, e1, 0u, x);
            if (G.mode == 0) { /* load8_tail pads with +0 */
#pragma unroll
                for (int k = 0; k < 8; k++)
                    acc = max(acc, x[k] & QK_F32_ABS);
                continue;
            }
            walker w = walk_start(G, i);
            g0 = w.g;
#pragma unroll
            for (int k = 0; k < 8; k++) {
                if (i + k < e1) {
                    u32 a = x[k] & QK_F32_ABS;
                    if (w.g == g0)
                        m0 = max(m0, a);
                    else
                        atomicMax(amax + w.g, a);
                }
                if (k < 7)
                    walk_step(G, w);
            }
        }
        if (G.mode != 0)
            flush_group_max(g0, m0, amax);
    }
    if (G.mode == 0) {
        __shared__ u32 part[32];
        acc = warp_max(acc);
        if ((threadIdx.x & 31) == 0)
            part[threadIdx.x / 32] = acc;
        __syncthreads();
        if (threadIdx.x == 0) {
            for (int k = 1; k < (int)(blockDim.x / 32); k++)
                acc = max(acc, part[k]);
            atomicMax(amax, acc);
        }
    }
}

KERNEL qk_group_amax(const void *in, int dt, groups G, i64 e0, i64 e1, u32 *amax)
{
    QK_BY_DTYPE(dt, group_amax_body<1>(in, DTC, G, e0, e1, amax));
}

/* Tensor amax of 16-bit input (G.mode 0) with four vectors a thread in flight. */
KERNEL qk_group_amax4(const void *in, int dt, groups G, i64 e0, i64 e1, u32 *amax)
{
    if (dt == DT_BF16)
        group_amax_body<4>(in, DT_BF16, G, e0, e1, amax);
    else
        group_amax_body<4>(in, DT_F16, G, e0, e1, amax);
}

/* fp8: v = x == +-0 ? x : T(x * rcp[g]); clamp to fpmax; encode. */
static __device__ __forceinline__ u32 fp8_scaled(int dt, u32 x, u32 rc, u32 fpmax)
{
    u32 t = (x & QK_F32_ABS) == 0u ? x : round_to(dt, dmul(x, rc));
    return qk_f32_clamp_abs(t, fpmax);
}

/* Eight clamped values to fp8 bytes, element 0 lowest. */
static __device__ __forceinline__ void fp8_pack8(int e5m2, const u32 v[8], u32 *lo, u32 *hi)
{
    if (e5m2) {
        *lo = enc_e5m2x2(v[1], v[0]) | (enc_e5m2x2(v[3], v[2]) << 16);
        *hi = enc_e5m2x2(v[5], v[4]) | (enc_e5m2x2(v[7], v[6]) << 16);
    } else {
        *lo = enc_e4m3x2(v[1], v[0]) | (enc_e4m3x2(v[3], v[2]) << 16);
        *hi = enc_e4m3x2(v[5], v[4]) | (enc_e4m3x2(v[7], v[6]) << 16);
    }
}

/* fp8_pack8 of the clamped values, for v neither NaN nor clamped: the
 * conversions saturate (enc_*x2_sat). */
static __device__ __forceinline__ void fp8_pack8_sat(int e5m2, const u32 v[8], u32 *lo, u32 *hi)
{
    if (e5m2) {
        *lo = enc_e5m2x2_sat(v[1], v[0]) | (enc_e5m2x2_sat(v[3], v[2]) << 16);
        *hi = enc_e5m2x2_sat(v[5], v[4]) | (enc_e5m2x2_sat(v[7], v[6]) << 16);
    } else {
        *lo = enc_e4m3x2_sat(v[1], v[0]) | (enc_e4m3x2_sat(v[3], v[2]) << 16);
        *hi = enc_e4m3x2_sat(v[5], v[4]) | (enc_e4m3x2_sat(v[7], v[6]) << 16);
    }
}

static __device__ __forceinline__ void fp8_quantize_body(const void *in, int dt, groups G, const u32 *rcp, int e5m2,
                                                         i64 e0, i64 e1, unsigned char *data)
{
    i64 i = e0 + gtid() * 8;
    if (i >= e1)
        return;
    u32 x[8];
    load8_tail(dt, in, i, e1, 0u, x);
    u32 fpmax = e5m2 ? QK_F32_E5M2_MAX : QK_F32_E4M3_MAX;
    u32 v[8];
    walker w;
    i64 g = uniform_group(G, i, e1, &w);
    if (g >= 0) {
        u32 rc = rcp[g];
#pragma unroll
        for (int k = 0; k < 8; k++)
            v[k] = fp8_scaled(dt, x[k], rc, fpmax);
    } else {
        w = walk_start(G, i);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            v[k] = fp8_scaled(dt, x[k], walk_word(rcp, w, i + k, e1), fpmax);
            if (k < 7)
                walk_step(G, w);
        }
    }
    u32 lo, hi;
    fp8_pack8(e5m2, v, &lo, &hi);
    if (i + 8 <= e1) {
        *(uint2 *)(data + i) = make_uint2(lo, hi);
    } else {
        for (int k = 0; k < 8 && i + k < e1; k++)
            data[i + k] = (unsigned char)((k < 4 ? lo : hi) >> (8 * (k & 3)));
    }
}

KERNEL qk_fp8_quantize(const void *in, int dt, groups G, const u32 *rcp, int e5m2, i64 e0, i64 e1,
                       unsigned char *data)
{
    if (e5m2) {
        const int E5M2_C = 1;
        QK_BY_DTYPE(dt, fp8_quantize_body(in, DTC, G, rcp, E5M2_C, e0, e1, data));
    } else {
        const int E5M2_C = 0;
        QK_BY_DTYPE(dt, fp8_quantize_body(in, DTC, G, rcp, E5M2_C, e0, e1, data));
    }
}

/* Tensor scaling (mode 0): each output is a function of its byte alone.
 * Every CUDA block tabulates the 256 outputs once, as stored bits (narrow(),
 * NaN rule included: what store8 writes), and strides over the elements
 * with one shared-memory lookup per element, so the per-element decode,
 * multiply and rounding leave the hot loop. The host sizes the grid by
 * occupancy (launch_strided in cuda_plans.c). */
static __device__ __forceinline__ void lut_dequantize(const unsigned char *data, const u32 *lut, int dt, i64 e0,
                                                      i64 e1, void *out)
{
    i64 step = (i64)gridDim.x * blockDim.x * 8;
    for (i64 i = e0 + gtid() * 8; i < e1; i += step) {
        if (i + 8 > e1) {
            for (int k = 0; i + k < e1; k++) {
                u32 h = lut[data[i + k]];
                if (dt == DT_F32)
                    ((u32 *)out)[i + k] = h;
                else
                    ((unsigned short *)out)[i + k] = (unsigned short)h;
            }
            break;
        }
        uint2 q = *(const uint2 *)(data + i);
        u32 h[8];
#pragma unroll
        for (int k = 0; k < 8; k++)
            h[k] = lut[((k < 4 ? q.x : q.y) >> (8 * (k & 3))) & 0xFFu];
        if (dt == DT_F32) {
            store_f32_pairs<8>((u32 *)out, i, h);
        } else {
            *(uint4 *)((unsigned short *)out + i) =
                make_uint4(h[0] | (h[1] << 16), h[2] | (h[3] << 16), h[4] | (h[5] << 16), h[6] | (h[7] << 16));
        }
    }
}

/* The stored bits of one output element. */
static __device__ __forceinline__ u32 stored_bits(int dt, u32 v) { return dt == DT_F32 ? v : narrow(dt, v); }

/* fp8 dequantize: T(T(q) * T(scale)). */
static __device__ __forceinline__ void fp8_dequantize_body(const unsigned char *data, const u32 *scale, int dt,
                                                           groups G, int e5m2, i64 e0, i64 e1, void *out)
{
    __shared__ u32 lut[256];
    u32 sc0 = G.mode == 0 ? round_to(dt, scale[0]) : 0u;
    for (int k = threadIdx.x; k < 256; k += blockDim.x) {
        u32 v = round_to(dt, e5m2 ? qk_e5m2_to_f32((u32)k) : qk_e4m3_to_f32((u32)k));
        lut[k] = G.mode == 0 ? stored_bits(dt, ref_mul(v, sc0)) : v;
    }
    __syncthreads();
    if (G.mode == 0) {
        lut_dequantize(data, lut, dt, e0, e1, out);
        return;
    }
    i64 i = e0 + gtid() * 8;
    if (i >= e1)
        return;
    u32 b[8];
    if (i + 8 <= e1) {
        uint2 q = *(const uint2 *)(data + i);
#pragma unroll
        for (int k = 0; k < 8; k++)
            b[k] = ((k < 4 ? q.x : q.y) >> (8 * (k & 3))) & 0xFFu;
    } else {
        for (int k = 0; k < 8; k++)
            b[k] = i + k < e1 ? data[i + k] : 0u;
    }
    u32 v[8];
    walker w;
    i64 g = uniform_group(G, i, e1, &w);
    if (g >= 0) {
        u32 sc = round_to(dt, scale[g]);
#pragma unroll
        for (int k = 0; k < 8; k++)
            v[k] = ref_mul(lut[b[k]], sc);
    } else {
        w = walk_start(G, i);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            v[k] = ref_mul(lut[b[k]], round_to(dt, walk_word(scale, w, i + k, e1)));
            if (k < 7)
                walk_step(G, w);
        }
    }
    store8_tail(dt, out, i, e1, v);
}

KERNEL qk_fp8_dequantize(const unsigned char *data, const u32 *scale, int dt, groups G, int e5m2, i64 e0, i64 e1,
                         void *out)
{
    if (e5m2) {
        const int E5M2_C = 1;
        QK_BY_DTYPE(dt, fp8_dequantize_body(data, scale, DTC, G, E5M2_C, e0, e1, out));
    } else {
        const int E5M2_C = 0;
        QK_BY_DTYPE(dt, fp8_dequantize_body(data, scale, DTC, G, E5M2_C, e0, e1, out));
    }
}

/* int8 code of T(x / d): clamp(round_half_even(q), -128, 127), computed as
 * cvt.rni of the clamped value (clamping to integer bounds commutes with
 * rounding to an integer; q is never NaN: x finite, d > 0). blockwise
 * clamps to +-127 first, as the reference. */
static __device__ __forceinline__ u32 int8_code(int dt, u32 x, u32 d, int blockwise)
{
    if (d == 0u)
        return 0u;
    u32 q = round_to(dt, ddiv(x, d));
    if (blockwise)
        q = qk_f32_clamp_abs(q, QK_F32_INT8_MAX);
    return (u32)__float2int_rn(fminf(fmaxf(fl(q), -128.0f), 127.0f)) & 0xFFu;
}

static __device__ __forceinline__ void int8_quantize_body(const void *in, int dt, groups G, const u32 *div,
                                                          int blockwise, i64 e0, i64 e1, unsigned char *data)
{
    i64 i = e0 + gtid() * 8;
    if (i >= e1)
        return;
    u32 x[8];
    load8_tail(dt, in, i, e1, 0u, x);
    u32 c[8];
    walker w;
    i64 g = uniform_group(G, i, e1, &w);
    if (g >= 0) {
        u32 d = div[g];
#pragma unroll
        for (int k = 0; k < 8; k++)
            c[k] = int8_code(dt, x[k], d, blockwise);
    } else {
        w = walk_start(G, i);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            c[k] = int8_code(dt, x[k], walk_word(div, w, i + k, e1), blockwise);
            if (k < 7)
                walk_step(G, w);
        }
    }
    u32 lo = c[0] | (c[1] << 8) | (c[2] << 16) | (c[3] << 24);
    u32 hi = c[4] | (c[5] << 8) | (c[6] << 16) | (c[7] << 24);
    if (i + 8 <= e1) {
        *(uint2 *)(data + i) = make_uint2(lo, hi);
    } else {
        for (int k = 0; k < 8 && i + k < e1; k++)
            data[i + k] = (unsigned char)((k < 4 ? lo : hi) >> (8 * (k & 3)));
    }
}

KERNEL qk_int8_quantize(const void *in, int dt, groups G, const u32 *div, int blockwise, i64 e0, i64 e1,
                        unsigned char *data)
{
    if (blockwise) {
        const int BLOCKWISE_C = 1;
        QK_BY_DTYPE(dt, int8_quantize_body(in, DTC, G, div, BLOCKWISE_C, e0, e1, data));
    } else {
        const int BLOCKWISE_C = 0;
        QK_BY_DTYPE(dt, int8_quantize_body(in, DTC, G, div, BLOCKWISE_C, e0, e1, data));
    }
}

/* int8 dequantize without ConvRot: T(q * s) (blockwise: T(q * T(s))). */
static __device__ __forceinline__ void int8_dequantize_body(const signed char *data, const u32 *scale, int dt, groups G,
                                                            int blockwise, i64 e0, i64 e1, void *out)
{
    if (G.mode == 0) {
        __shared__ u32 lut[256];
        u32 s = blockwise ? round_to(dt, scale[0]) : scale[0];
        for (int k = threadIdx.x; k < 256; k += blockDim.x)
            lut[k] = stored_bits(dt, ref_mul(bits((float)(signed char)k), s));
        __syncthreads();
        lut_dequantize((const unsigned char *)data, lut, dt, e0, e1, out);
        return;
    }
    i64 i = e0 + gtid() * 8;
    if (i >= e1)
        return;
    u32 q[8];
    if (i + 8 <= e1) { /* i is a multiple of 8 */
        uint2 p = *(const uint2 *)(data + i);
#pragma unroll
        for (int k = 0; k < 8; k++)
            q[k] = bits((float)(signed char)(((k < 4 ? p.x : p.y) >> (8 * (k & 3))) & 0xFFu));
    } else {
#pragma unroll
        for (int k = 0; k < 8; k++)
            q[k] = i + k < e1 ? bits((float)data[i + k]) : 0u;
    }
    u32 v[8];
    walker w;
    i64 g = uniform_group(G, i, e1, &w);
    if (g >= 0) {
        u32 s = blockwise ? round_to(dt, scale[g]) : scale[g];
#pragma unroll
        for (int k = 0; k < 8; k++)
            v[k] = ref_mul(q[k], s);
    } else {
        w = walk_start(G, i);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            u32 s = walk_word(scale, w, i + k, e1);
            v[k] = ref_mul(q[k], blockwise ? round_to(dt, s) : s);
            if (k < 7)
                walk_step(G, w);
        }
    }
    store8_tail(dt, out, i, e1, v);
}

KERNEL qk_int8_dequantize(const signed char *data, const u32 *scale, int dt, groups G, int blockwise, i64 e0,
                          i64 e1, void *out)
{
    if (blockwise) {
        const int BLOCKWISE_C = 1;
        QK_BY_DTYPE(dt, int8_dequantize_body(data, scale, DTC, G, BLOCKWISE_C, e0, e1, out));
    } else {
        const int BLOCKWISE_C = 0;
        QK_BY_DTYPE(dt, int8_dequantize_body(data, scale, DTC, G, BLOCKWISE_C, e0, e1, out));
    }
}

/* ---- ConvRot (src/ref/convrot.c): 1024 elements per CUDA block of 256
 * threads, groups of G along rows (cols % G == 0, so tiles hold whole
 * groups); the same butterfly order and final power-of-two scaling. ---- */
static __device__ void convrot_tile(float *s, int G)
{
    int per = G / 4; /* quads per group */
    int gq = threadIdx.x / per, q = threadIdx.x % per;
    int levels = 0;
    for (int stride = 1; stride < G; stride *= 4, levels++) {
        float *p = s + gq * G + (q / stride) * 4 * stride + q % stride;
        float a = p[0], b = p[stride], c = p[2 * stride], d = p[3 * stride];
        p[0] = __fsub_rn(__fadd_rn(__fadd_rn(a, b), c), d);
        p[stride] = __fadd_rn(__fsub_rn(__fadd_rn(a, b), c), d);
        p[2 * stride] = __fadd_rn(__fadd_rn(__fsub_rn(a, b), c), d);
        p[3 * stride] = __fadd_rn(__fadd_rn(__fsub_rn(b, a), c), d);
        __syncthreads();
    }
    float sc = fl((u32)(127 - levels) << 23);
    for (int k = threadIdx.x; k < 1024; k += 256)
        s[k] = __fmul_rn(s[k], sc);
    __syncthreads();
}

/* mode 0: per-row amax of T(rotated x); mode 1: int8 codes with div[row].
 * Elements [e0, e1) (whole rows). */
static __device__ __forceinline__ void convrot_int8_body(const void *in, int dt, i64 cols, u64 cols_magic, int G,
                                                         int mode, i64 e0, i64 e1, u32 *amax, const u32 *div,
                                                         unsigned char *data)
{
    __shared__ float s[1024];
    i64 base = e0 + (i64)blockIdx.x * 1024;
    i64 i = base + threadIdx.x * 4;
    for (int k = 0; k < 4; k++)
        s[threadIdx.x * 4 + k] = i + k < e1 ? fl(load1(dt, in, i + k)) : 0.0f;
    __syncthreads();
    convrot_tile(s, G);
    i64 c, r = -1;
    if (i < e1)
        r = div_magic(i, cols, cols_magic, &c); /* 4 elements, one row: cols % 4 == 0 */
    if (mode == 0) {
        u32 m = 0u;
        for (int k = 0; k < 4 && r >= 0; k++)
            m = max(m, round_to(dt, bits(s[threadIdx.x * 4 + k])) & QK_F32_ABS);
        flush_group_max(r, m, amax);
        return;
    }
    if (r < 0)
        return;
    u32 word = 0u;
    for (int k = 0; k < 4; k++)
        word |= int8_code(dt, round_to(dt, bits(s[threadIdx.x * 4 + k])), div[r], 0) << (8 * k);
    *(u32 *)(data + i) = word;
}

KERNEL qk_convrot_int8(const void *in, int dt, i64 cols, u64 cols_magic, int G, int mode, i64 e0, i64 e1,
                       u32 *amax, const u32 *div, unsigned char *data)
{
    QK_BY_DTYPE(dt, convrot_int8_body(in, DTC, cols, cols_magic, G, mode, e0, e1, amax, div, data));
}

static __device__ __forceinline__ void convrot_dequantize_body(const signed char *data, const u32 *scale, int dt,
                                                               i64 cols, u64 cols_magic, int G, i64 e0, i64 e1,
                                                               void *out)
{
    __shared__ float s[1024];
    i64 base = e0 + (i64)blockIdx.x * 1024;
    i64 i = base + threadIdx.x * 4;
    i64 c;
    i64 r = i < e1 ? div_magic(i, cols, cols_magic, &c) : 0;
    for (int k = 0; k < 4; k++)
        s[threadIdx.x * 4 + k] = i + k < e1 ? fl(ref_mul(bits((float)data[i + k]), scale[r])) : 0.0f;
    __syncthreads();
    convrot_tile(s, G);
    if (i >= e1)
        return;
    for (int k = 0; k < 4; k++)
        store1(dt, out, i + k, bits(s[threadIdx.x * 4 + k]));
}

KERNEL qk_convrot_dequantize(const signed char *data, const u32 *scale, int dt, i64 cols, u64 cols_magic, int G,
                             i64 e0, i64 e1, void *out)
{
    QK_BY_DTYPE(dt, convrot_dequantize_body(data, scale, DTC, cols, cols_magic, G, e0, e1, out));
}

#endif
