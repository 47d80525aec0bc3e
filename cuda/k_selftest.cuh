/* Self-tests of the device-only fast paths against the integer codec,
 * exhaustive over f32 inputs: tests/test_cuda.c launches them (2^32 inputs
 * take milliseconds on a GPU) and the probe tells the host which native
 * conversions this module's code for the device has. */
#ifndef QK_K_SELFTEST_CUH
#define QK_K_SELFTEST_CUH

#include "cu_tables.h"
#include "dev_common.cuh"
#include "k_blocked.cuh"
#include "k_bnb4.cuh"
#include "k_group_quantize.cuh"

/* out[0]: the Blackwell e2m1/ue8m0 path was compiled for this device;
 * out[1]: __CUDA_ARCH__ of the code that runs. */
KERNEL qk_native_probe(u32 *out)
{
    out[0] = QK_NATIVE_FP4;
#if defined(__CUDA_ARCH__)
    out[1] = __CUDA_ARCH__;
#endif
}

enum {
    ST_F16 = 0,      /* to_f16 (hardware cvt + NaN rule) vs qk_f32_to_f16 */
    ST_BF16 = 1,     /* to_bf16 vs qk_f32_to_bf16 */
    ST_E4M3 = 2,     /* enc_e4m3 (cvt on sm_89+) on clamped input vs codec */
    ST_E5M2 = 3,     /* enc_e5m2 likewise */
    ST_E2M1 = 4,     /* enc_e2m1 thresholds on clamped input vs codec */
    ST_E2M1_NATIVE = 5, /* Blackwell cvt e2m1x2 vs codec (native builds only) */
    ST_E8M0 = 6,     /* e8m0_ceil (cvt.rp ue8m0 on Blackwell) vs codec, s >= 2^-127 */
    ST_BNB = 7,      /* qkf_nf4 (/ _bucketed) / qkf_fp4 (/ _unflushed) vs codec (of ftz) */
    ST_F16_IN = 8,   /* f16_to_f32 vs qk_f16_to_f32 (inputs < 2^16) */
    ST_E4M3X2 = 9,   /* enc_e4m3x2 byte order */
    ST_BF16X2 = 10,  /* pack2_rne bf16 (cvt.rn.bf16x2.f32) vs codec, non-NaN */
    ST_F16X2 = 11,   /* pack2_rne f16 (cvt.rn.f16x2.f32) vs codec, non-NaN */
    ST_NVFP4_BOUNDS = 12, /* nvfp4_bound (f64) vs qk_nvfp4_bound, every finite t > 0 */
    ST_GROUP_CODES = 13,  /* group_codes8 vs int8_code / fp8_scaled, finite x, every kind and dtype */
    ST_INT8_DIV_BF16 = 14, /* group_codes8's int8 division by reciprocal, bf16 x and divisor d, |x| <= 256 d */
    ST_INT8_DIV_F16 = 15,  /* the same for f16 x and d */
    ST_BNB_TABLE = 16,     /* qkf_bnb_lookup (NF4 and FP4 tables) vs codec of ftz(v), every v but +-Inf */
    ST_BNB_FAST_BF16 = 17, /* bnb4_quantize64's codes, every bf16 x and absmax a, |x| <= a */
    ST_BNB_FAST_F16 = 18,  /* the same for f16 */
    ST_NVFP4_PAIRS = 19,   /* nvfp4_pair_codes (bf16, f16) vs qk_nvfp4_code of the widened input */
    ST_E4M3X2_SAT = 20,    /* enc_e4m3x2_sat / enc_e5m2x2_sat of unclamped input vs codec of the clamped, non-NaN */
    ST_NVFP4_COUNTS = 21,  /* nvfp4_pair_byte (bf16, f16) vs qk_nvfp4_code of the widened input */
    ST_INT8_DIVISORS = 22, /* every int8 divisor d of a 16-bit group has a reciprocal, and amax <= 256 d */
    ST_BF16_SUBNORMAL = 23, /* bf16_any_subnormal vs qk_halves_nonzero_below, the word in each of the 8 slots */
    ST_DMAP_LOOKUP = 24     /* qkf_dmap_lookup vs the dynamic-map search of x and of ftz(x), every x */
};

/* bnb4_q64_body's codes for the block absmax of 16-bit magnitude a16 and
 * the input x16 (w = a16 << 16 | x16), against the reference's: the codec
 * of mul_ftz, for every pair with a finite absmax and |x| <= a, NF4 and
 * FP4 with the flush each takes. */
static __device__ __noinline__ int bnb_fast_codes_agree(int dt, u32 w, const u32 *tables)
{
    u32 a16 = w >> 16, x16 = w & 0xFFFFu;
    if (a16 >= (dt == DT_BF16 ? 0x7F80u : 0x7C00u) || (x16 & 0x7FFFu) > a16)
        return 1;
    u32 am = bnb4_absmax16(dt, a16);
    u32 r = bnb_block_rcp(dt, am, tables + CU_TAB_RCP_BF16, tables + CU_TAB_RCP_F16);
    u32 q = mul_ftz(widen(dt, x16), r);
    const u32 *nf4 = tables + CU_TAB_BNB_NF4, *fp4 = tables + CU_TAB_BNB_FP4;
    return bnb4_code_fast(dt, bnb4_flush16(dt, 1, am), x16, r, nf4) == qk_nf4_encode(q) &&
           bnb4_code_fast(dt, bnb4_flush16(dt, 0, am), x16, r, fp4) == qk_fp4_encode(q);
}

/* nvfp4_pair_codes (by_count: nvfp4_pair_byte, its nibbles moved to the
 * same places) for the scale t (any but +-0: Inf and NaN scales of an Inf
 * or NaN g too) and two 16-bit elements, against qk_nvfp4_code of each
 * widened element with the same seven bounds; NaN elements are left out
 * (their blocks take the generic path). x: 16 bits of the low element, 16
 * that make t and the high element. */
static __device__ __noinline__ int nvfp4_pairs_agree(u32 x, int by_count)
{
    u32 hi = x >> 16, lo16 = x & 0xFFFFu, hi16 = (lo16 * 0x2F5Bu + hi) & 0xFFFFu;
    u32 t = (hi << 16) ^ ((hi * 0x9E3779B1u) >> 16);
    t &= QK_F32_ABS;
    if (t == 0u)
        return 1;
    u32 c[7];
    for (int k = 0; k < 7; k++)
        c[k] = nvfp4_bound(k, t);
    int ok = 1;
    for (int dt = DT_F16; dt <= DT_BF16; dt++) {
        u32 hp[7];
        for (int k = 0; k < 7; k++)
            hp[k] = nvfp4_pair_threshold(dt, c[k]);
        u32 w = lo16 | (hi16 << 16), b = by_count ? nvfp4_pair_byte(w, hp) : 0u;
        u32 codes = by_count ? (b >> 4) | ((b & 0xFu) << 16) : nvfp4_pair_codes(w, hp);
        for (int h = 0; h < 2; h++) {
            u32 x16 = h ? hi16 : lo16, f = widen(dt, x16);
            if ((f & QK_F32_ABS) <= QK_F32_INF)
                ok &= ((codes >> (16 * h)) & 0xFu) == qk_nvfp4_code(f, c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
        }
    }
    return ok;
}

/* Whether some |x[e]| exceeds 256 s, which no int8 group divides by s. */
static __device__ __forceinline__ int beyond_256(const u32 x[8], u32 s)
{
    int out = 0;
    for (int e = 0; e < 8; e++)
        out |= fabsf(fl(x[e])) > __fmul_rn(fl(s), 256.0f);
    return out;
}

/* group_codes8 against the per-element functions for eight finite inputs
 * around x (mantissa and sign variations), each kind and dtype, and
 * factors of several sizes (a zero int8 divisor included; two whose
 * reciprocal is inexact, for f32's codes by products). */
static __device__ __noinline__ int group_codes_agree(u32 x)
{
    const u32 factors[5] = {0x3C010204u, 0x3F800000u, 0x00800000u, 0u, 0x40400000u};
    u32 xs[8];
    for (int e = 0; e < 8; e++)
        xs[e] = (x ^ (u32)e) ^ ((u32)(e & 1) << 31);
    for (int kind = 0; kind < 4; kind++)
        for (int dt = 0; dt < 3; dt++)
            for (int f = 0; f < 5; f++) {
                u32 s = factors[f], lo, hi, rlo, rhi, c[8];
                if (kind >= GQ_INT8 && beyond_256(xs, s))
                    continue; /* no group divides these by s: ST_INT8_DIVISORS (f32: amax / 127 <= s) */
                group_codes8(kind, dt, xs, s, group_reciprocal(kind, dt, s), &lo, &hi);
                for (int e = 0; e < 8; e++)
                    c[e] = kind >= GQ_INT8 ? int8_code(dt, xs[e], s, kind == GQ_INT8_BLOCKWISE)
                                           : fp8_scaled(dt, xs[e], s,
                                                        kind == GQ_E5M2 ? QK_F32_E5M2_MAX : QK_F32_E4M3_MAX);
                if (kind >= GQ_INT8) {
                    rlo = c[0] | (c[1] << 8) | (c[2] << 16) | (c[3] << 24);
                    rhi = c[4] | (c[5] << 8) | (c[6] << 16) | (c[7] << 24);
                } else {
                    if (s == 0u)
                        continue; /* a zero reciprocal never reaches the codes */
                    fp8_pack8(kind == GQ_E5M2, c, &rlo, &rhi);
                }
                if (lo != rlo || hi != rhi)
                    return 0;
            }
    return 1;
}

/* The int8 codes group_codes8 gives (division by the reciprocal) against
 * int8_code's (__fdiv_rn), tensorwise and blockwise, for the divisor in the
 * high half of w and eight inputs from its low half (16-bit patterns of
 * dt): every pair of a finite input and a positive divisor with a
 * reciprocal that the kernels could divide it by (|x| <= 256 d). */
static __device__ __noinline__ int int8_division_agrees(int dt, u32 w)
{
    u32 d = widen(dt, w >> 16);
    if ((d & QK_F32_SIGN) != 0u || d == 0u || d >= QK_F32_INF || group_reciprocal(GQ_INT8, dt, d) == 0u)
        return 1; /* no group divides by d (ST_INT8_DIVISORS) */
    u32 xs[8];
    for (int e = 0; e < 8; e++) {
        xs[e] = widen(dt, (w & 0xFFF8u) | (u32)e);
        if (xs[e] >= QK_F32_INF && xs[e] <= 0x80000000u)
            xs[e] = 0u; /* NaN and Inf never reach the codes */
        if (xs[e] >= 0xFF800000u)
            xs[e] = 0x80000000u;
        if (fabsf(fl(xs[e])) > __fmul_rn(fl(d), 256.0f))
            xs[e] = 0u; /* no group divides it by d (ST_INT8_DIVISORS) */
    }
    for (int kind = GQ_INT8; kind <= GQ_INT8_BLOCKWISE; kind++) {
        u32 lo, hi, c[8];
        group_codes8(kind, dt, xs, d, group_reciprocal(kind, dt, d), &lo, &hi);
        for (int e = 0; e < 8; e++)
            c[e] = int8_code(dt, xs[e], d, kind == GQ_INT8_BLOCKWISE);
        if (lo != (c[0] | (c[1] << 8) | (c[2] << 16) | (c[3] << 24)) ||
            hi != (c[4] | (c[5] << 8) | (c[6] << 16) | (c[7] << 24)))
            return 0;
    }
    return 1;
}

/* group_codes8 divides 16-bit int8 input by its divisor's reciprocal
 * alone, without a clamp, so every divisor d group_scalars gives a 16-bit
 * group must have one, and the group's elements (at most its amax) must be
 * at most 256 d: checked for every finite amax of the dtype (a rounded
 * 16-bit magnitude, as the group and ConvRot row kernels take it), x =
 * kind << 17 | dtype << 16 | amax bits. A blockwise zero divisor codes
 * zeros without dividing. */
static __device__ __noinline__ int int8_divisor_has_reciprocal(u32 x)
{
    int dt = ((x >> 16) & 1u) != 0u ? DT_F16 : DT_BF16;
    int kind = ((x >> 17) & 1u) != 0u ? GQ_INT8_BLOCKWISE : GQ_INT8;
    u32 amax = widen(dt, x & 0x7FFFu), scale, s;
    if (amax >= QK_F32_INF)
        return 1;
    group_scalars(kind, dt, amax, &scale, &s);
    if (kind == GQ_INT8_BLOCKWISE && s == 0u)
        return 1;
    return group_reciprocal(kind, dt, s) != 0u && fl(amax) <= __fmul_rn(fl(s), 256.0f);
}

static __device__ __forceinline__ int selftest_one(int which, u32 x, const u32 *tables)
{
    const u32 *nf4_tab = tables + CU_TAB_NF4;
    int finite = qk_f32_is_finite(x) != 0u;
    switch (which) {
    case ST_F16: return to_f16(x) == qk_f32_to_f16(x);
    case ST_BF16: return to_bf16(x) == qk_f32_to_bf16(x);
    case ST_E4M3: {
        u32 c = qk_f32_clamp_abs(x, QK_F32_E4M3_MAX);
        return qk_f32_is_nan(x) || enc_e4m3(c) == qk_f32_to_e4m3(c);
    }
    case ST_E5M2: {
        u32 c = qk_f32_clamp_abs(x, QK_F32_E5M2_MAX);
        return qk_f32_is_nan(x) || enc_e5m2(c) == qk_f32_to_e5m2(c);
    }
    case ST_E2M1: {
        u32 c = qk_f32_clamp_abs(x, QK_F32_E2M1_MAX);
        return qk_f32_is_nan(x) || enc_e2m1(c) == qk_f32_to_e2m1(c);
    }
    case ST_E2M1_NATIVE: {
        u32 c = qk_f32_clamp_abs(x, QK_F32_E2M1_MAX);
        u32 d = qk_f32_clamp_abs(x ^ 0x80000001u, QK_F32_E2M1_MAX);
        if (qk_f32_is_nan(x))
            return 1;
        return enc_e2m1x2_native(c, d) == ((qk_f32_to_e2m1(c) << 4) | qk_f32_to_e2m1(d));
    }
    case ST_E8M0:
        return !finite || (x & QK_F32_SIGN) != 0u || x < QK_F32_E8M0_MIN || e8m0_ceil(x) == qk_e8m0_ceil(x);
    case ST_BNB:
        return qkf_nf4(fl(x)) == qk_nf4_encode(x) && qkf_fp4(fl(x)) == qk_fp4_encode(x) &&
               qkf_nf4_bucketed(fl(x), nf4_tab) == qk_nf4_encode(x) &&
               qkf_nf4(fl(x)) == qk_nf4_encode(qk_f32_ftz(x)) && qkf_fp4_unflushed(fl(x)) == qk_fp4_encode(qk_f32_ftz(x));
    case ST_F16_IN: return x > 0xFFFFu || f16_to_f32(x) == qk_f16_to_f32(x);
    case ST_E4M3X2: {
        u32 a = qk_f32_clamp_abs(x, QK_F32_E4M3_MAX), b = qk_f32_clamp_abs(~x, QK_F32_E4M3_MAX);
        if (qk_f32_is_nan(x) || qk_f32_is_nan(~x))
            return 1;
        return enc_e4m3x2(a, b) == ((qk_f32_to_e4m3(a) << 8) | qk_f32_to_e4m3(b));
    }
    case ST_BF16X2: {
        u32 y = x ^ 0x80000001u;
        if (qk_f32_is_nan(x) || qk_f32_is_nan(y))
            return 1;
        return pack2_rne(DT_BF16, x, y) == (qk_f32_to_bf16(x) | (qk_f32_to_bf16(y) << 16));
    }
    case ST_F16X2: {
        u32 y = x ^ 0x80000001u;
        if (qk_f32_is_nan(x) || qk_f32_is_nan(y))
            return 1;
        return pack2_rne(DT_F16, x, y) == (qk_f32_to_f16(x) | (qk_f32_to_f16(y) << 16));
    }
    case ST_NVFP4_BOUNDS: {
        if (!finite || (x & QK_F32_SIGN) != 0u || x == 0u)
            return 1;
        int et = qk_f32_exp_norm(x);
        u32 mt = qk_f32_sig_norm(x);
        int same = 1;
        for (int k = 0; k < 7; k++)
            same &= nvfp4_bound(k, x) == qk_nvfp4_bound((u32)k, et, mt);
        return same;
    }
    case ST_GROUP_CODES: return !finite || group_codes_agree(x);
    case ST_INT8_DIV_BF16: return (x & 7u) != 0u || int8_division_agrees(DT_BF16, x);
    case ST_INT8_DIV_F16: return (x & 7u) != 0u || int8_division_agrees(DT_F16, x);
    case ST_BNB_TABLE:
        return (x & QK_F32_ABS) == QK_F32_INF ||
               (qkf_bnb_lookup(tables + CU_TAB_BNB_NF4, x) == qk_nf4_encode(qk_f32_ftz(x)) &&
                qkf_bnb_lookup(tables + CU_TAB_BNB_FP4, x) == qk_fp4_encode(qk_f32_ftz(x)));
    case ST_BNB_FAST_BF16: return bnb_fast_codes_agree(DT_BF16, x, tables);
    case ST_BNB_FAST_F16: return bnb_fast_codes_agree(DT_F16, x, tables);
    case ST_NVFP4_PAIRS: return nvfp4_pairs_agree(x, 0);
    case ST_NVFP4_COUNTS: return nvfp4_pairs_agree(x, 1);
    case ST_E4M3X2_SAT: {
        u32 a = qk_f32_clamp_abs(x, QK_F32_E4M3_MAX), b = qk_f32_clamp_abs(~x, QK_F32_E4M3_MAX);
        u32 c = qk_f32_clamp_abs(x, QK_F32_E5M2_MAX), d = qk_f32_clamp_abs(~x, QK_F32_E5M2_MAX);
        return qk_f32_is_nan(x) || qk_f32_is_nan(~x) ||
               (enc_e4m3x2_sat(x, ~x) == ((qk_f32_to_e4m3(a) << 8) | qk_f32_to_e4m3(b)) &&
                enc_e5m2x2_sat(x, ~x) == ((qk_f32_to_e5m2(c) << 8) | qk_f32_to_e5m2(d)));
    }
    case ST_INT8_DIVISORS: return x >= (1u << 18) || int8_divisor_has_reciprocal(x);
    case ST_BF16_SUBNORMAL: {
        /* x in slot x % 8, a fixed other word elsewhere (zeros, normals) */
        u32 w[8], want = qk_halves_nonzero_below(x, 0x80u) != 0u;
        for (int k = 0; k < 8; k++)
            w[k] = k == (int)(x & 7u) ? x : ((k & 1) ? 0x3F800000u : 0u);
        return bf16_any_subnormal(w) == (int)want;
    }
    case ST_DMAP_LOOKUP: {
        u32 c = qkf_dmap_lookup(tables + CU_TAB_DMAP_CODE, x);
        return c == dynamic_map_code(tables + CU_TAB_DMAP, x) &&
               c == dynamic_map_code(tables + CU_TAB_DMAP, qk_f32_ftz(x));
    }
    default: return 0;
    }
}

/* Inputs [base, base + gridDim * blockDim * 64); count mismatches, keep the
 * smallest failing input. */
KERNEL qk_selftest(int which, u32 base, unsigned long long *fails, u32 *first, const u32 *tables)
{
    u32 x0 = base + (u32)gtid() * 64u;
    u32 bad = 0u, firstbad = 0xFFFFFFFFu;
    for (u32 k = 0; k < 64u; k++) {
        u32 x = x0 + k;
        if (!selftest_one(which, x, tables)) {
            bad++;
            firstbad = min(firstbad, x);
        }
    }
    if (bad) {
        atomicAdd(fails, (unsigned long long)bad);
        atomicMin(first, firstbad);
    }
}

#endif
