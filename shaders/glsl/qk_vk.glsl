/* Helpers shared by qk's Vulkan compute shaders (GLSL 4.50).
 *
 * Floats travel as uint bit patterns. Every rounding-sensitive step comes
 * from the dialect-neutral integer codec (src/codec/qk_codec.h); native float
 * arithmetic appears only where it is provably exact: the SPIR-V declares
 * RoundingModeRTE (patched in at build time), every native operation is
 * `precise` (no contraction), and results that could be subnormal, infinite
 * or NaN -- where a device may flush or differ -- are recomputed by integer
 * code. Division never uses a native result without an exact integer check.
 */
#extension GL_EXT_control_flow_attributes : require
#ifdef QK_F16_NATIVE
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif
#define QK_GLSL
/* `half` is a reserved word in GLSL; the codec uses it as a variable name. */
#define half qk_half_
#include "qk_codec.h"
#undef half

/* Dispatches are 2-D (x <= 65535): flatten the workgroup id. */
uint qk_group_id() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }
uint qk_item_id() { return qk_group_id() * gl_WorkGroupSize.x + gl_LocalInvocationID.x; }

/* qk_dtype values */
#define DT_F32 0u
#define DT_F16 1u
#define DT_BF16 2u
/* The job's dtype (input of quantize, output of dequantize), fixed when the
 * host makes the pipeline (vk_gpu.c: one per shader and dtype) so that the
 * compiler folds every branch on it. Push constants still carry a `dt`
 * word where they always did; shaders read QK_DT. */
layout(constant_id = 0) const uint QK_DT = DT_F32;

/* f16 -> f32: normal values by rebiasing the exponent; zero, subnormal,
 * Inf and NaN through the codec. */
uint qk_f16_widen(uint h)
{
    uint e = (h >> 10) & 0x1Fu, s = (h & 0x8000u) << 16, m = h & 0x3FFu;
    if (e - 1u < 30u)
        return s | (((h & 0x7FFFu) << 13) + 0x38000000u);
    if (e != 0u) /* Inf, NaN (quieted, as qk_f16_to_f32) */
        return s | QK_F32_INF | (m << 13) | (m != 0u ? 0x400000u : 0u);
    if (m == 0u)
        return s;
    /* subnormal m * 2^-24 = 2^(p-24) * 1.f, p its leading bit: no loop, so
     * loops around this one unroll and their arrays stay in registers */
    int p = findMSB(m);
    return s | (uint(103 + p) << 23) | ((m << uint(23 - p)) & 0x7FFFFFu);
}

/* A finite f16 as f32 bits, exactly and without a branch: a normal value
 * by rebiasing; a subnormal one (or zero), a * 2^-24, as (2^-14 + a * 2^-24)
 * - 2^-14, whose operands are normal and whose difference is exact.
 * Subnormal f16 are common in weights (below 6.1e-5), so kernels whose
 * native path must take them use this rather than qk_f16_widen's branch. */
uint qk_f16_widen_finite(uint h)
{
    uint a = h & 0x7FFFu;
    bool sub = a < 0x400u;
    precise float v = uintBitsToFloat((a << 13) + (sub ? 0x38800000u : 0x38000000u)) - (sub ? 0.00006103515625 : 0.0);
    return floatBitsToUint(v) | ((h & 0x8000u) << 16);
}

/* The low and high element of a word of finite bf16/f16 input as f32 bits. */
uint qk_low_finite(uint w) { return QK_DT == DT_BF16 ? w << 16 : qk_f16_widen_finite(w & 0xFFFFu); }
uint qk_high_finite(uint w) { return QK_DT == DT_BF16 ? w & 0xFFFF0000u : qk_f16_widen_finite(w >> 16); }

/* f32 -> bf16, RNE: adding 0x7FFF plus the kept LSB to the bits rounds any
 * finite value (subnormal, exponent carry and overflow to Inf included);
 * NaN -> 0x7FC0 as qk_f32_to_bf16. */
uint qk_bf16_narrow(uint a)
{
    if ((a & QK_F32_ABS) > QK_F32_INF)
        return 0x7FC0u;
    return (a + 0x7FFFu + ((a >> 16) & 1u)) >> 16;
}

/* f32 -> f16, RNE, as qk_f32_to_f16 and with no branch: in f16's normal
 * range ([2^-14, 65520)) and up to Inf, the rounding add on rebiased bits,
 * capped at Inf; below it, |a| + 0.5 (a correctly rounded native add of
 * normal operands, RoundingModeRTE) rounds |a| to a multiple of 2^-24,
 * 0.5's ulp, which is the f16 subnormal's significand (or 2^-14's 0x400):
 * a flushed f32-subnormal a gives 0, as its rounding does; NaN -> 0x7E00.
 * Each is a select, so a vector with a zero, a subnormal or an overflow
 * costs what any other does. Against the old form (a branch an element,
 * the codec for the rare ones), H200, 1 GiB into f16: int8 rows 60% -> 67%
 * of the copy, int8_blockwise 54% -> 60%, float8 rows and tiles 54% ->
 * 56%; e5m2 row quantize of f16 62% -> 67%. OpenCL's
 * qk_f32_to_f16_native (shaders/opencl/fast_codec.cl) is the same formula,
 * which test_opencl checks against the codec on the host. */
uint qk_f16_narrow(uint a)
{
    uint aa = a & QK_F32_ABS;
    uint n = min((aa - 0x38000000u + 0xFFFu + ((aa >> 13) & 1u)) >> 13, 0x7C00u);
    precise float t = uintBitsToFloat(aa) + 0.5;
    uint sub = floatBitsToUint(t) - 0x3F000000u;
    uint r = aa < 0x38800000u ? sub : aa > QK_F32_INF ? 0x7E00u : n;
    return ((a >> 16) & 0x8000u) | r;
}

/* For a thread's vector of values, one test for all of them: 1 where f32
 * a is a zero or in f16's normal range, which qk_f16_narrow_plain narrows
 * with fewer steps than qk_f16_narrow. In bnb4_dequantize.comp, NF4 into
 * f16 on the H200: 62% of the copy, against 60% with qk_f16_narrow on
 * every product (into bf16: 77%); with the old, branching qk_f16_narrow
 * 55% with this test and 28% without. The same test inside qk_store8 took
 * MXFP8 into f16 from 52% to 23% and float8 rows and tiles from 54% to
 * 42%: not used there. */
uint qk_f16_plain(uint a)
{
    uint aa = a & QK_F32_ABS;
    return uint(aa - 0x38800000u < 0x477FF000u - 0x38800000u) | uint(aa == 0u);
}

/* qk_f16_narrow of a value qk_f16_plain accepts, with no branch. */
uint qk_f16_narrow_plain(uint a)
{
    uint aa = a & QK_F32_ABS;
    uint r = (aa - 0x38000000u + 0xFFFu + ((aa >> 13) & 1u)) >> 13;
    return ((a >> 16) & 0x8000u) | (aa == 0u ? 0u : r);
}

uint qk_widen(uint dt, uint h) { return dt == DT_BF16 ? (h << 16) : qk_f16_widen(h); }
uint qk_narrow(uint dt, uint a) { return dt == DT_BF16 ? qk_bf16_narrow(a) : qk_f16_narrow(a); }

/* Two f32 values (bits) as a word of f16, a in the low half: qk_f16_narrow
 * of each. The _f16n builds of the dequantize shaders (meson.build,
 * QK_F16_NATIVE; used where the device has shaderFloat16 with
 * RoundingModeRTE and SignedZeroInfNanPreserve for 16 bits, vk_devices.c)
 * narrow |a| and |b| by one native conversion of the pair, correctly
 * rounded (the SPIR-V declares RoundingModeRTE for 16 and 32 bits, so the
 * rule holds whichever width governs a conversion), for magnitudes of at
 * least 2^-14: those are normal f32, and their f16 is normal or Inf, so no
 * denormal mode touches them. Below 2^-14 (f16 subnormals, zeros, f32
 * subnormals a device may flush) the add of qk_f16_narrow gives the bits.
 * A NaN becomes qk_f16_narrow's 0x7E00 by a select: the native conversion
 * keeps it a NaN (SignedZeroInfNanPreserve 16) but its payload is the
 * device's (NVIDIA 580 on the H200 gave 0x7FFF, failing
 * test_convrot_dequantize_rows; lavapipe 0x7E00). The signs are put back
 * last. */
uint qk_f16_narrow2(uint a, uint b)
{
#ifdef QK_F16_NATIVE
    uint aa = a & QK_F32_ABS, ab = b & QK_F32_ABS;
    uint cv = packFloat2x16(f16vec2(vec2(uintBitsToFloat(aa), uintBitsToFloat(ab))));
    precise float ta = uintBitsToFloat(aa) + 0.5;
    precise float tb = uintBitsToFloat(ab) + 0.5;
    uint lo = aa < 0x38800000u ? floatBitsToUint(ta) - 0x3F000000u : aa > QK_F32_INF ? 0x7E00u : cv & 0xFFFFu;
    uint hi = ab < 0x38800000u ? floatBitsToUint(tb) - 0x3F000000u : ab > QK_F32_INF ? 0x7E00u : cv >> 16;
    return lo | (hi << 16) | ((a >> 16) & 0x8000u) | (b & QK_F32_SIGN);
#else
    return qk_f16_narrow(a) | (qk_f16_narrow(b) << 16);
#endif
}

/* qk_narrow of a and b as one word of dtype dt (16-bit), a in the low half. */
uint qk_narrow2(uint dt, uint a, uint b)
{
    return dt == DT_BF16 ? qk_bf16_narrow(a) | (qk_bf16_narrow(b) << 16) : qk_f16_narrow2(a, b);
}
/* The value torch holds after rounding to dtype dt (RNE). */
uint qk_round_to(uint dt, uint a) { return dt == DT_F32 ? a : qk_widen(dt, qk_narrow(dt, a)); }

bool qk_normal(uint a)
{
    uint e = (a >> 23) & 0xFFu;
    return e - 1u < 254u; /* exponent field 1..254 */
}

/* Correctly rounded a * b (IEEE RNE, subnormals kept). Native when both
 * operands are normal and the product lands at or above 2^-125 (no flush or
 * underflow decision anywhere near it); integer code otherwise. */
uint qk_mul(uint a, uint b)
{
    if (qk_normal(a) && qk_normal(b)) {
        precise float p = uintBitsToFloat(a) * uintBitsToFloat(b);
        uint pb = floatBitsToUint(p);
        if (((pb >> 23) & 0xFFu) - 2u < 253u)
            return pb;
    }
    return qk_f32_mul(a, b);
}

uint qk_mul_ftz(uint a, uint b) { return qk_f32_ftz(qk_mul(qk_f32_ftz(a), qk_f32_ftz(b))); }

/* x[j] for a j that may stay a variable (a loop the compiler keeps rolled):
 * selects with constant indices, so x can live in registers. */
uint qk_pick8(uint x[8], uint j)
{
    uint a = (j & 1u) != 0u ? x[1] : x[0], b = (j & 1u) != 0u ? x[3] : x[2];
    uint c = (j & 1u) != 0u ? x[5] : x[4], d = (j & 1u) != 0u ? x[7] : x[6];
    uint lo = (j & 2u) != 0u ? b : a, hi = (j & 2u) != 0u ? d : c;
    return (j & 4u) != 0u ? hi : lo;
}

/* Whether every product of f and a code value v with 2^-16 <= |v| < 2^16
 * (any float8, E2M1 or int8 value but 0) is a normal f32: |f| in
 * [2^-109, 2^111). There the `precise` native product, correctly rounded
 * under RoundingModeRTE, is qk_mul's (a zero code gives a signed zero,
 * exact too). */
bool qk_plain_factor(uint f) { return ((f >> 23) & 0xFFu) - 18u < 220u; }

/* v[j] * f for 8 values: natively when the caller has shown every product
 * to be qk_mul's (plain), else by qk_mul; the choice is made once, so
 * neither loop branches. */
void qk_mul8(inout uint v[8], uint f, bool plain)
{
    if (plain) {
        for (uint j = 0u; j < 8u; j++) {
            precise float p = uintBitsToFloat(v[j]) * uintBitsToFloat(f);
            v[j] = floatBitsToUint(p);
        }
    } else {
        for (uint j = 0u; j < 8u; j++)
            v[j] = qk_mul(v[j], f);
    }
}

/* Correctly rounded a / b. The 24-bit quotient significand comes from a
 * native estimate (OpFDiv is within a few ulp), then is made exact with the
 * integer remainder r*2^23 - q*d, computed modulo 2^32 (it is small), and
 * rounded with qk_f32_round_pack (which also handles subnormal results). */
uint qk_div(uint a, uint b)
{
    uint aa = a & QK_F32_ABS, ab = b & QK_F32_ABS;
    if (aa == 0u || ab == 0u || aa >= QK_F32_INF || ab >= QK_F32_INF)
        return qk_f32_div(a, b);
    uint sign = (a ^ b) & QK_F32_SIGN;
    int e;
    uint r, d;
    if (qk_normal(a) && qk_normal(b)) { /* the common case: no normalization loops */
        e = int((aa >> 23) & 0xFFu) - int((ab >> 23) & 0xFFu);
        r = (aa & 0x7FFFFFu) | 0x800000u;
        d = (ab & 0x7FFFFFu) | 0x800000u;
    } else {
        e = qk_f32_exp_norm(a) - qk_f32_exp_norm(b);
        r = qk_f32_sig_norm(a);
        d = qk_f32_sig_norm(b);
    }
    if (r < d) {
        r <<= 1;
        e -= 1;
    }
    precise float qf = float(r) / float(d); /* in [1, 2); r, d exact in f32 */
    precise float qs = qf * 8388608.0;       /* * 2^23, exact */
    uint q = uint(qs);
    int rem = int((r << 23) - q * d); /* exact: |rem| < 2^31 for a sane estimate */
    for (int i = 0; i < 4 && rem < 0; i++) {
        q -= 1u;
        rem += int(d);
    }
    for (int i = 0; i < 4 && rem >= int(d); i++) {
        q += 1u;
        rem -= int(d);
    }
    if (rem < 0 || rem >= int(d))
        return qk_f32_div(a, b); /* estimate too far off: long division */
    uint twice = uint(rem) << 1;
    uint rbit = twice >= d ? 1u : 0u;
    uint sticky = (twice - rbit * d) != 0u ? 1u : 0u;
    return qk_f32_round_pack(sign, e, q, rbit, sticky);
}

/* IEEE a + b (RNE, subnormals kept) in integer code: 3 guard bits (guard,
 * round, sticky) give the correctly rounded sum. */
uint qk_soft_add(uint a, uint b)
{
    uint aa = a & QK_F32_ABS, ab = b & QK_F32_ABS;
    if (aa > QK_F32_INF || ab > QK_F32_INF)
        return QK_F32_QNAN;
    if (aa == QK_F32_INF || ab == QK_F32_INF) {
        if (aa == ab && ((a ^ b) & QK_F32_SIGN) != 0u)
            return QK_F32_QNAN;
        return aa == QK_F32_INF ? a : b;
    }
    if (aa == 0u)
        return ab == 0u ? (a & b) : b; /* -0 only for (-0) + (-0) */
    if (ab == 0u)
        return a;
    if (ab > aa) {
        uint t = a; a = b; b = t;
        t = aa; aa = ab; ab = t;
    }
    uint sign = a & QK_F32_SIGN;
    uint ex = aa >> 23, ey = ab >> 23;
    uint mx = ((aa & 0x7FFFFFu) | (ex != 0u ? 0x800000u : 0u)) << 3;
    uint my = ((ab & 0x7FFFFFu) | (ey != 0u ? 0x800000u : 0u)) << 3;
    int e = int(max(ex, 1u));
    uint dsh = uint(e - int(max(ey, 1u)));
    if (dsh >= 27u) {
        my = 1u; /* nonzero: only the sticky bit survives */
    } else if (dsh > 0u) {
        uint lost = my & ((1u << dsh) - 1u);
        my = (my >> dsh) | (lost != 0u ? 1u : 0u);
    }
    uint m = ((a ^ b) & QK_F32_SIGN) != 0u ? mx - my : mx + my;
    if (m == 0u)
        return 0u; /* exact cancellation: +0 */
    if (m >= (1u << 27)) {
        m = (m >> 1) | (m & 1u);
        e += 1;
    }
    while (m < (1u << 26) && e > 1) {
        m <<= 1;
        e -= 1;
    }
    uint sig = m >> 3, rest = m & 7u;
    if (rest > 4u || (rest == 4u && (sig & 1u) != 0u))
        sig += 1u;
    if (sig >= 0x1000000u) {
        sig >>= 1;
        e += 1;
    }
    if (e >= 255)
        return sign | QK_F32_INF;
    uint field = sig >= 0x800000u ? (uint(e) << 23) : 0u;
    return sign | field | (sig & 0x7FFFFFu);
}

/* Correctly rounded a + b: native for normal operands with a normal sum. */
uint qk_add(uint a, uint b)
{
    if (qk_normal(a) && qk_normal(b)) {
        precise float s = uintBitsToFloat(a) + uintBitsToFloat(b);
        uint sb = floatBitsToUint(s);
        if (qk_normal(sb))
            return sb;
    }
    return qk_soft_add(a, b);
}

uint qk_sub(uint a, uint b) { return qk_add(a, b ^ QK_F32_SIGN); }

/* Byte offset of scale (r, c) in the cuBLAS 128x4 blocked layout. */
uint qk_blocked_off(uint r, uint c, uint ncb)
{
    uint col_tiles = (ncb + 3u) / 4u;
    return ((r / 128u * col_tiles + c / 4u) * 32u + r % 32u) * 16u + ((r % 128u) / 32u) * 4u + c % 4u;
}

uint qk_byte_of(uint word, uint i) { return (word >> ((i & 3u) * 8u)) & 0xFFu; }

/* qk_fp4_encode with the rank -> code map (0,1,6,7,4,5,2,3) read from one
 * packed constant instead of a switch: no branches per element. */
uint qk_fp4_encode_fast(uint x)
{
    if (qk_f32_is_nan(x) != 0u)
        return 0u;
    uint a = x & QK_F32_ABS;
    uint s = (x & QK_F32_SIGN) != 0u && a != 0u ? 8u : 0u;
    uint r = uint(a > 0x3B2AAAB9u) + uint(a > 0x3DB00000u) + uint(a > 0x3E555555u) + uint(a > 0x3E955555u) +
             uint(a > 0x3ED55556u) + uint(a > 0x3F155550u) + uint(a > 0x3F555555u);
    return s | ((0x32547610u >> (4u * r)) & 7u);
}

/* NVFP4's element code e2m1(clamp(RN(x / t), 6)) without a division, for a
 * finite block scale t > 0. RN(q) crosses E2M1's rounding boundaries 0.25,
 * 0.75, 1.25, 1.75, 2.5, 3.5, 5 (ties to the even code: '>' at 0.25, 1.25,
 * 2.5, 5, '>=' at 0.75, 1.75, 3.5); near a boundary m (an f32 with an even
 * last bit) RN(q) > m iff q > m + ulp/2 and RN(q) >= m iff q >= m - ulp/2.
 * Those exact thresholds A_k have odd 25-bit significands, so A_k * t is
 * never an f32 (subnormal range included) and, for an f32 |x|, both
 * |x| > A_k * t and |x| >= A_k * t are |x| > RD(A_k * t). Each block needs
 * seven bounds RD(A_k * t) (integer products, no float operation), each
 * element three unsigned compares (non-negative floats order as uints). */

/* RD(p * 2^e) as f32 bits for a product p = hi:lo in [2^47, 2^49):
 * truncation of a positive value, subnormal results included; FLT_MAX
 * above the range (a finite |x| never passes it, Inf does). */
uint qk_f32_rd_of(uint hi, uint lo, int e)
{
    int top = hi >= 0x10000u ? 48 : 47; /* p in [2^top, 2^(top+1)) */
    int ex = top + e;
    if (ex > 127)
        return 0x7F7FFFFFu;
    int sh = top - 23 + (ex < -126 ? -126 - ex : 0); /* >= 24 */
    uint mant = sh >= 49 ? 0u : (sh >= 32 ? hi >> uint(sh - 32) : (hi << uint(32 - sh)) | (lo >> uint(sh)));
    if (ex < -126)
        return mant; /* subnormal (or 0: every nonzero |x| passes) */
    return (uint(ex + 127) << 23) | (mant & 0x7FFFFFu);
}

/* The seven bounds c[k] = RD(A_k * t) for finite t > 0. A_k = m * 2^e with
 * m one of four odd significands; k = 2, 4, 6 and k = 3, 5 share a product. */
void qk_nvfp4_bounds(uint t, out uint c[7])
{
    int et = qk_f32_exp_norm(t) - 23; /* t = mt * 2^et */
    uint mt = qk_f32_sig_norm(t);
    uint hi, lo;
    umulExtended(0x1000001u, mt, hi, lo); /* 0.25 + 2^-26 */
    c[0] = qk_f32_rd_of(hi, lo, et - 26);
    umulExtended(0x17FFFFFu, mt, hi, lo); /* 0.75 - 2^-25 */
    c[1] = qk_f32_rd_of(hi, lo, et - 25);
    umulExtended(0x1400001u, mt, hi, lo); /* 1.25 + 2^-24, 2.5 + 2^-23, 5 + 2^-22 */
    c[2] = qk_f32_rd_of(hi, lo, et - 24);
    c[4] = qk_f32_rd_of(hi, lo, et - 23);
    c[6] = qk_f32_rd_of(hi, lo, et - 22);
    umulExtended(0x1BFFFFFu, mt, hi, lo); /* 1.75 - 2^-24, 3.5 - 2^-23 */
    c[3] = qk_f32_rd_of(hi, lo, et - 24);
    c[5] = qk_f32_rd_of(hi, lo, et - 23);
}

/* The E2M1 nibble of x: how many bounds |x| passes (they are
 * non-decreasing), counted with constant indices so that c stays in
 * registers, and x's sign (-0 and negatives that round to 0 give 0x8, as
 * the reference). NaN and Inf pass every bound (code 7). */
uint qk_nvfp4_code(uint x, uint c[7])
{
    uint a = x & QK_F32_ABS, n = 0u;
    [[unroll]] for (uint k = 0u; k < 7u; k++)
        n += a > c[k] ? 1u : 0u;
    return ((x >> 28) & 8u) | n;
}

/* Small-float encoders with a fast path for the target's normal range, where
 * RNE of |a| is one rounding add on the bits (a carry rounds into the next
 * binade, as qk_encode_mag does); below it the codec. Same results as
 * qk_f32_to_e4m3 / _e5m2 / _e2m1 for every input. */
uint qk_to_e4m3(uint a)
{
    uint aa = a & QK_F32_ABS;
    if (aa - 0x3C800000u < QK_F32_INF - 0x3C800000u) { /* 2^-6 <= |a| < Inf */
        uint m = ((aa + 0x7FFFFu + ((aa >> 20) & 1u)) >> 20) - (120u << 3);
        return ((a >> 24) & 0x80u) | min(m, 0x7Fu);
    }
    return qk_f32_to_e4m3(a);
}

uint qk_to_e5m2(uint a)
{
    uint aa = a & QK_F32_ABS;
    if (aa - 0x38800000u < QK_F32_INF - 0x38800000u) { /* 2^-14 <= |a| < Inf */
        uint m = ((aa + 0xFFFFFu + ((aa >> 21) & 1u)) >> 21) - (112u << 2);
        return ((a >> 24) & 0x80u) | min(m, 0x7Cu);
    }
    return qk_f32_to_e5m2(a);
}

uint qk_to_e2m1(uint a)
{
    uint aa = a & QK_F32_ABS;
    if (aa - 0x3F800000u < QK_F32_INF - 0x3F800000u) { /* 1 <= |a| < Inf */
        uint m = ((aa + 0x1FFFFFu + ((aa >> 22) & 1u)) >> 22) - (126u << 1);
        return ((a >> 28) & 0x8u) | min(m, 0x7u);
    }
    return qk_f32_to_e2m1(a);
}
