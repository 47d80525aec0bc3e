/* Device helpers shared by every qk CUDA kernel: element loads and stores,
 * exact IEEE arithmetic, and the dtype roundings of the reference.
 *
 * Exactness: the fatbin is built with -fmad=false -ftz=false -prec-div=true
 * and the arithmetic below uses the _rn intrinsics, which are never
 * contracted: each is one IEEE-754 operation, round to nearest even, with
 * subnormals, exactly what the reference's native host float op gives. */
#ifndef QK_DEV_COMMON_CUH
#define QK_DEV_COMMON_CUH

#include "codec/qk_codec.h"
#include "codec/qk_nvfp4_bounds.h"
#include "qk_fast_codec.h"

typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;

/* qk_dtype values */
#define DT_F32 0
#define DT_F16 1
#define DT_BF16 2

#define KERNEL extern "C" __global__ void

static __device__ __forceinline__ float fl(u32 u) { return __uint_as_float(u); }
static __device__ __forceinline__ u32 bits(float f) { return __float_as_uint(f); }
static __device__ __forceinline__ u32 dmul(u32 a, u32 b) { return bits(__fmul_rn(fl(a), fl(b))); }
static __device__ __forceinline__ u32 ddiv(u32 a, u32 b) { return bits(__fdiv_rn(fl(a), fl(b))); }
static __device__ __forceinline__ u32 dadd(u32 a, u32 b) { return bits(__fadd_rn(fl(a), fl(b))); }

/* A product that may meet NaN/Inf (dequantizing parts a caller crafted):
 * the reference multiplies natively on an x86-64 host, whose NaN results
 * differ from the GPU's canonical NaN; reproduce them (a NaN operand comes
 * back quieted, the first one first; Inf * 0 gives the "indefinite"
 * 0xFFC00000). Finite operands take the plain IEEE product. */
static __device__ __forceinline__ u32 ref_mul(u32 a, u32 b)
{
    u32 r = dmul(a, b);
    if ((r & QK_F32_ABS) > QK_F32_INF)
        r = qk_f32_is_nan(a) ? (a | 0x400000u) : qk_f32_is_nan(b) ? (b | 0x400000u) : 0xFFC00000u;
    return r;
}

/* f32 -> f16 bits, RNE with subnormals and overflow to Inf (the hardware
 * conversion; NaN handled by the codec's rule). */
static __device__ __forceinline__ u32 to_f16(u32 a)
{
    if (qk_f32_is_nan(a))
        return ((a >> 16) & 0x8000u) | 0x7E00u;
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(fl(a)));
    return h;
}

static __device__ __forceinline__ u32 f16_to_f32(u32 h)
{
    if ((h & 0x7C00u) == 0x7C00u && (h & 0x3FFu) != 0u)
        return qk_f16_to_f32(h); /* NaN: the codec's quieting */
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"((unsigned short)h));
    return bits(f);
}

static __device__ __forceinline__ u32 to_bf16(u32 a)
{
    return qk_f32_is_nan(a) ? 0x7FC0u : qkf_bf16_rne(a);
}

/* qk_round_to: the value torch holds after a cast to dt. */
static __device__ __forceinline__ u32 round_to(int dt, u32 a)
{
    if (dt == DT_BF16)
        return to_bf16(a) << 16;
    if (dt == DT_F16)
        return f16_to_f32(to_f16(a));
    return a;
}

static __device__ __forceinline__ u32 widen(int dt, u32 h)
{
    return dt == DT_BF16 ? (h << 16) : f16_to_f32(h);
}

static __device__ __forceinline__ u32 narrow(int dt, u32 a)
{
    return dt == DT_BF16 ? to_bf16(a) : to_f16(a);
}

/* widen() of a finite input: f16 by cvt alone (exact; only NaN needs
 * widen's rule). */
static __device__ __forceinline__ u32 widen_finite(int dt, u32 h)
{
    if (dt == DT_BF16)
        return h << 16;
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"((unsigned short)h));
    return bits(f);
}

/* Element i of an f32/f16/bf16 buffer as f32 bits. */
static __device__ __forceinline__ u32 load1(int dt, const void *p, i64 i)
{
    if (dt == DT_F32)
        return ((const u32 *)p)[i];
    return widen(dt, ((const unsigned short *)p)[i]);
}

static __device__ __forceinline__ void store1(int dt, void *p, i64 i, u32 a)
{
    if (dt == DT_F32)
        ((u32 *)p)[i] = a;
    else
        ((unsigned short *)p)[i] = (unsigned short)narrow(dt, a);
}

/* Elements [i, i + 8) (i a multiple of 8, all in range): vector loads. */
static __device__ __forceinline__ void load8(int dt, const void *p, i64 i, u32 x[8])
{
    if (dt == DT_F32) {
        const uint4 *q = (const uint4 *)((const u32 *)p + i);
        uint4 a = q[0], b = q[1];
        x[0] = a.x; x[1] = a.y; x[2] = a.z; x[3] = a.w;
        x[4] = b.x; x[5] = b.y; x[6] = b.z; x[7] = b.w;
        return;
    }
    uint4 a = *(const uint4 *)((const unsigned short *)p + i);
    u32 w[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
    for (int k = 0; k < 4; k++) {
        x[2 * k] = widen(dt, w[k] & 0xFFFFu);
        x[2 * k + 1] = widen(dt, w[k] >> 16);
    }
}

/* Loads up to 8 elements [i, min(i + 8, end)); the rest read as pad. */
static __device__ __forceinline__ void load8_tail(int dt, const void *p, i64 i, i64 end, u32 pad, u32 x[8])
{
    if (i + 8 <= end) {
        load8(dt, p, i, x);
        return;
    }
#pragma unroll
    for (int k = 0; k < 8; k++)
        x[k] = i + k < end ? load1(dt, p, i + k) : pad;
}

/* Two non-NaN f32 (bits) rounded to nearest even into one word of two bf16
 * or f16, lo in the low half: one cvt.rn.{bf16,f16}x2.f32 on sm_80+ (the
 * IEEE conversion, subnormals kept: equal to qkf_bf16_rne / to_f16 for every
 * non-NaN input, self-tests 10 and 11), else the per-element forms. */
static __device__ __forceinline__ u32 pack2_rne(int dt, u32 lo, u32 hi)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    u32 r;
    if (dt == DT_BF16)
        asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(fl(hi)), "f"(fl(lo)));
    else
        asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(fl(hi)), "f"(fl(lo)));
    return r;
#else
    return dt == DT_BF16 ? qkf_bf16_rne(lo) | (qkf_bf16_rne(hi) << 16) : to_f16(lo) | (to_f16(hi) << 16);
#endif
}

static __device__ __forceinline__ u32 lane_id()
{
    u32 l;
    asm("mov.u32 %0, %%laneid;" : "=r"(l));
    return l;
}

static __device__ __forceinline__ uint4 quad(const u32 *v) { return make_uint4(v[0], v[1], v[2], v[3]); }

static __device__ __forceinline__ uint4 pick(bool a, uint4 x, uint4 y)
{
    return make_uint4(a ? x.x : y.x, a ? x.y : y.y, a ? x.z : y.z, a ? x.w : y.w);
}

/* N f32 (8 or 16: 2 or 4 quads of 16 bytes) at p + i, i a multiple of 8.
 * Stored as they are, each 16-byte store instruction of a warp writes half
 * of every 32-byte sector it touches. Where lanes 2m and 2m + 1 are both
 * active and hold adjacent runs (the partner's i is i + N, or i - N), the
 * pair trades quads so that store k writes the pair's 32-byte slots 2k and
 * 2k + 1 (of the pair's 2N / 4 slots of 16 bytes): whole sectors. The even
 * lane gives its odd quads, the odd lane its even quads; every other lane
 * stores its own quads. Lanes that are not paired this way lose only the
 * shuffles. __activemask: the coalesced-group idiom, every shuffle below
 * named by exactly the lanes that run it. */
template <int N>
static __device__ __forceinline__ void store_f32_pairs(u32 *p, i64 i, const u32 *v)
{
    constexpr int Q = N / 4, H = Q / 2;
    const u32 lane = lane_id(), act = __activemask();
    const bool odd = lane & 1u;
    i64 j = __shfl_xor_sync(act, i, 1);
    uint4 got[H];
#pragma unroll
    for (int h = 0; h < H; h++) { /* quad indices are constants: v stays in registers */
        uint4 g = pick(odd, quad(v + 8 * h), quad(v + 8 * h + 4));
        got[h] = make_uint4(__shfl_xor_sync(act, g.x, 1), __shfl_xor_sync(act, g.y, 1),
                            __shfl_xor_sync(act, g.z, 1), __shfl_xor_sync(act, g.w, 1));
    }
    const bool paired = ((act >> (lane & ~1u)) & 3u) == 3u && j == (odd ? i - N : i + N);
    const i64 base = odd ? i - N : i; /* the pair's first element */
#pragma unroll
    for (int k = 0; k < Q; k++) {
        /* paired: slot 2k + odd of the pair; the even lane's own quad 2k
         * (k < H), the odd lane's own quad 2k + 1 - Q (k >= H), else the
         * partner's got[k mod H] */
        uint4 s = k < H ? pick(odd, got[k % H], quad(v + 4 * (2 * k % Q)))
                        : pick(odd, quad(v + 4 * ((2 * k + 1 - Q) % Q)), got[k % H]);
        s = pick(paired, s, quad(v + 4 * k));
        *(uint4 *)(p + (paired ? base + 4 * (2 * k + (i64)odd) : i + 4 * k)) = s;
    }
}

template <bool PAIRS = true>
static __device__ __forceinline__ void store8(int dt, void *p, i64 i, const u32 v[8])
{
    if (dt == DT_F32) {
        if (PAIRS) {
            store_f32_pairs<8>((u32 *)p, i, v);
            return;
        }
        uint4 *q = (uint4 *)((u32 *)p + i);
        q[0] = make_uint4(v[0], v[1], v[2], v[3]);
        q[1] = make_uint4(v[4], v[5], v[6], v[7]);
        return;
    }
    bool nan = false; /* NaN takes the codec's rule, one element at a time */
#pragma unroll
    for (int k = 0; k < 8; k++)
        nan |= isnan(fl(v[k]));
    u32 w[4];
#pragma unroll
    for (int k = 0; k < 4; k++)
        w[k] = nan ? narrow(dt, v[2 * k]) | (narrow(dt, v[2 * k + 1]) << 16) : pack2_rne(dt, v[2 * k], v[2 * k + 1]);
    *(uint4 *)((unsigned short *)p + i) = make_uint4(w[0], w[1], w[2], w[3]);
}

/* store8 for values known not to be NaN (no per-element NaN test). */
template <bool PAIRS = true>
static __device__ __forceinline__ void store8_finite(int dt, void *p, i64 i, const u32 v[8])
{
    if (dt == DT_F32) {
        store8<PAIRS>(dt, p, i, v);
        return;
    }
    *(uint4 *)((unsigned short *)p + i) = make_uint4(pack2_rne(dt, v[0], v[1]), pack2_rne(dt, v[2], v[3]),
                                                     pack2_rne(dt, v[4], v[5]), pack2_rne(dt, v[6], v[7]));
}

static __device__ __forceinline__ void store8_tail(int dt, void *p, i64 i, i64 end, const u32 v[8])
{
    if (i + 8 <= end) {
        store8(dt, p, i, v);
        return;
    }
#pragma unroll
    for (int k = 0; k < 8; k++)
        if (i + k < end)
            store1(dt, p, i + k, v[k]);
}

/* Exact floor(i / d) for i < 2^63 with m = floor((2^64 - 1) / d) from the
 * host: the estimate is low by at most one. */
static __device__ __forceinline__ i64 div_magic(i64 i, i64 d, u64 m, i64 *rem)
{
    i64 q = (i64)__umul64hi((u64)i, m);
    i64 r = i - q * d;
    if (r >= d) {
        q += 1;
        r -= d;
    }
    *rem = r;
    return q;
}

static __device__ __forceinline__ u32 warp_max(u32 v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v = max(v, __shfl_xor_sync(0xFFFFFFFFu, v, o));
    return v;
}

/* Runs CALL with DTC, the dtype, as a compile-time constant: the kernel
 * bodies take dt by value and every helper is inlined, so each copy is
 * specialized and the per-element dtype tests fold away. dt is the same for
 * the whole grid, so the branch is uniform. */
#define QK_BY_DTYPE(dt, CALL)                                                                      \
    do {                                                                                           \
        if ((dt) == DT_BF16) {                                                                     \
            const int DTC = DT_BF16;                                                               \
            CALL;                                                                                  \
        } else if ((dt) == DT_F16) {                                                               \
            const int DTC = DT_F16;                                                                \
            CALL;                                                                                  \
        } else {                                                                                   \
            const int DTC = DT_F32;                                                                \
            CALL;                                                                                  \
        }                                                                                          \
    } while (0)

/* Global thread index of a 1-D launch. */
static __device__ __forceinline__ i64 gtid(void) { return (i64)blockIdx.x * blockDim.x + threadIdx.x; }

/* ---- native conversions (sm_89+: e4m3/e5m2; sm_100f/sm_120f: e2m1) ------
 * Used only on values the caller clamped to the format's finite range, where
 * .satfinite cannot act: then the instruction is IEEE round-to-nearest-even
 * into the format, the codec's definition. tests/test_cuda.c checks them
 * against the codec for every f32 input on the device it runs on. */
static __device__ __forceinline__ u32 enc_e4m3(u32 a)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    unsigned short r;
    asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(0.0f), "f"(fl(a)));
    return r & 0xFFu;
#else
    return qk_f32_to_e4m3(a);
#endif
}

static __device__ __forceinline__ u32 enc_e5m2(u32 a)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    unsigned short r;
    asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(r) : "f"(0.0f), "f"(fl(a)));
    return r & 0xFFu;
#else
    return qk_f32_to_e5m2(a);
#endif
}

/* Two clamped values to e4m3: hi byte from a, lo byte from b. */
static __device__ __forceinline__ u32 enc_e4m3x2(u32 a, u32 b)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    unsigned short r;
    asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(fl(a)), "f"(fl(b)));
    return r;
#else
    return (qk_f32_to_e4m3(a) << 8) | qk_f32_to_e4m3(b);
#endif
}

/* Two clamped values to e5m2, as enc_e4m3x2: one conversion for both. */
static __device__ __forceinline__ u32 enc_e5m2x2(u32 a, u32 b)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    unsigned short r;
    asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(r) : "f"(fl(a)), "f"(fl(b)));
    return r;
#else
    return (qk_f32_to_e5m2(a) << 8) | qk_f32_to_e5m2(b);
#endif
}

/* enc_e4m3x2 of clamp_abs(a, 448) and clamp_abs(b, 448) for a, b not NaN:
 * on sm_89+ .satfinite is that clamp (RNE beyond 448 gives 480 or Inf,
 * saturated to 448; self-test 20 checks every input), so no clamp runs. */
static __device__ __forceinline__ u32 enc_e4m3x2_sat(u32 a, u32 b)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    return enc_e4m3x2(a, b);
#else
    return enc_e4m3x2(qk_f32_clamp_abs(a, QK_F32_E4M3_MAX), qk_f32_clamp_abs(b, QK_F32_E4M3_MAX));
#endif
}

/* enc_e5m2x2 of clamp_abs(a, 57344) and clamp_abs(b, 57344), likewise (RNE
 * beyond 57344 gives 61440 or Inf; self-test 20). */
static __device__ __forceinline__ u32 enc_e5m2x2_sat(u32 a, u32 b)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    return enc_e5m2x2(a, b);
#else
    return enc_e5m2x2(qk_f32_clamp_abs(a, QK_F32_E5M2_MAX), qk_f32_clamp_abs(b, QK_F32_E5M2_MAX));
#endif
}

#if defined(__CUDA_ARCH_FAMILY_SPECIFIC__) &&                                                     \
    (__CUDA_ARCH_FAMILY_SPECIFIC__ == 1000 || __CUDA_ARCH_FAMILY_SPECIFIC__ == 1200)
#define QK_NATIVE_FP4 1
#else
#define QK_NATIVE_FP4 0
#endif

/* Two clamped values (|v| <= 6) to E2M1 nibbles, a in the high nibble: the
 * Blackwell instruction; traps where this code was built without it (the
 * host only selects the native kernels after qk_native_probe said yes). */
static __device__ __forceinline__ u32 enc_e2m1x2_native(u32 a, u32 b)
{
#if QK_NATIVE_FP4
    unsigned short r;
    asm("{\n\t.reg .b8 t;\n\tcvt.rn.satfinite.e2m1x2.f32 t, %1, %2;\n\tcvt.u16.u8 %0, t;\n\t}"
        : "=h"(r) : "f"(fl(a)), "f"(fl(b)));
    return r & 0xFFu;
#else
    (void)a;
    (void)b;
    __trap();
    return 0u;
#endif
}

/* E2M1 nibble of a clamped value by thresholds (every target). */
static __device__ __forceinline__ u32 enc_e2m1(u32 a)
{
    return ((a >> 28) & 8u) | qkf_e2m1_mag(fabsf(fl(a)));
}

#endif
