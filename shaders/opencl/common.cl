/* Helpers shared by the kernels: exact f32 operations on bit patterns,
 * element loads/stores for f32/f16/bf16 (dtype codes as qk_dtype: 0 f32,
 * 1 f16, 2 bf16), and work-group max reductions. Devices are little-endian
 * (the host checks), so 16-bit element 2k is the low half of word k. */

/* OpenCL add/sub/mul are correctly rounded (and x/y too with
 * CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT and -cl-fp32-correctly-rounded-divide-sqrt:
 * QK_NATIVE_DIV), but what a device does with subnormals (flush on input or
 * output, whatever CL_DEVICE_SINGLE_FP_CONFIG says) and which NaN pattern it
 * returns are its own. The host picks how much of that to check
 * (cl_program.c):
 * - QK_NATIVE_FINITE: the device kept subnormals on the host's probe
 *   (cl_probe.c), so only NaN and Inf operands, whose results would carry
 *   the device's NaN, take the integer code (and x/0 for division).
 * - QK_NATIVE_GUARD: a native result is taken only where every conforming
 *   device agrees with IEEE-754: operands zero or normal, and the result
 *   normal, or a zero that an operand's zero makes exact (0*x, 0/x, 0+0).
 *   Zeros stay on the native path because they are common in weights: a
 *   lane on the integer path makes the whole SIMD group wait for it.
 * - neither: CPU devices that keep subnormals, whose native float is the
 *   host's IEEE arithmetic (checked bit for bit by the tests on every run);
 *   their SIMD vectorizer would if-convert a check's branch into running the
 *   integer code for every lane. */
static inline uint qk_is_normal(uint v) { return (((v >> 23) & 0xFFu) - 1u) < 254u; }
static inline uint qk_is_zero(uint v) { return (v << 1) == 0u; }
static inline uint qk_zero_or_normal(uint v) { return qk_is_normal(v) | qk_is_zero(v); }
static inline uint qk_finite2(uint a, uint b) { return ((a & QK_F32_INF) != QK_F32_INF) & ((b & QK_F32_INF) != QK_F32_INF); }
#if defined(QK_NATIVE_FINITE)
#define QK_MUL_OK(a, b, r) qk_finite2(a, b)
#define QK_ADD_OK(a, b, r) qk_finite2(a, b)
#define QK_DIV_OK(a, b, r) (qk_finite2(a, b) & (qk_is_zero(b) == 0u))
#elif defined(QK_NATIVE_GUARD)
#define QK_MUL_OK(a, b, r) \
    (qk_zero_or_normal(a) & qk_zero_or_normal(b) & (qk_is_normal(r) | qk_is_zero(a) | qk_is_zero(b)))
#define QK_ADD_OK(a, b, r) \
    (qk_zero_or_normal(a) & qk_zero_or_normal(b) & (qk_is_normal(r) | (qk_is_zero(a) & qk_is_zero(b))))
#define QK_DIV_OK(a, b, r) (qk_zero_or_normal(a) & qk_is_normal(b) & (qk_is_normal(r) | qk_is_zero(a)))
#else
#define QK_MUL_OK(a, b, r) 1
#define QK_ADD_OK(a, b, r) 1
#define QK_DIV_OK(a, b, r) 1
#endif
#if defined(QK_NATIVE_MUL)
static inline uint qk_mul(uint a, uint b)
{
    uint r = as_uint(as_float(a) * as_float(b));
    if (QK_MUL_OK(a, b, r))
        return r;
    return qk_f32_mul(a, b);
}
static inline uint qk_add(uint a, uint b)
{
    uint r = as_uint(as_float(a) + as_float(b));
    if (QK_ADD_OK(a, b, r))
        return r;
    return qk_f32_add_soft(a, b);
}
#else
static inline uint qk_mul(uint a, uint b) { return qk_f32_mul(a, b); }
static inline uint qk_add(uint a, uint b) { return qk_f32_add_soft(a, b); }
#endif
#if defined(QK_NATIVE_DIV)
static inline uint qk_div(uint a, uint b)
{
    uint r = as_uint(as_float(a) / as_float(b));
    if (QK_DIV_OK(a, b, r))
        return r;
    return qk_f32_div(a, b);
}
#else
static inline uint qk_div(uint a, uint b) { return qk_f32_div(a, b); }
#endif

/* CUDA's mul.ftz.f32, as bitsandbytes runs it. */
static inline uint qk_mul_ftz(uint a, uint b)
{
    return qk_f32_ftz(qk_mul(qk_f32_ftz(a), qk_f32_ftz(b)));
}

#define DT_F32 0
#define DT_F16 1
#define DT_BF16 2

/* Runs CALL with DTC, the dtype, as a constant, so that an inlined body's
 * per-element dtype tests fold away (dt is the same for the whole launch:
 * the branch is uniform, barriers inside CALL are reached by all). */
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

/* GPU builds (the host defines QK_SPECIALISE) also specialise the
 * float8/int8 bodies per format (FMTC, QK_BY_FMT) and the nvfp4/mxfp8
 * ones per dtype: there the per-element tests of a generic body cost more
 * issue slots than the memory traffic leaves. CPU builds (PoCL) keep one
 * generic copy: there the specialised program took twice as long to
 * compile (the opencl and crossbackend suites: 3m35s against 1m43s). */
#if defined(QK_SPECIALISE)
#define QK_BY_FMT(fmt, CALL)                                                                       \
    do {                                                                                           \
        if ((fmt) == 4) {                                                                          \
            const int FMTC = 4;                                                                    \
            CALL;                                                                                  \
        } else if ((fmt) == 5) {                                                                   \
            const int FMTC = 5;                                                                    \
            CALL;                                                                                  \
        } else if ((fmt) == 6) {                                                                   \
            const int FMTC = 6;                                                                    \
            CALL;                                                                                  \
        } else {                                                                                   \
            const int FMTC = 7;                                                                    \
            CALL;                                                                                  \
        }                                                                                          \
    } while (0)
#define QK_BY_FMT_DTYPE(fmt, dt, CALL) QK_BY_FMT(fmt, QK_BY_DTYPE(dt, CALL))
#define QK_GPU_BY_DTYPE(dt, CALL) QK_BY_DTYPE(dt, CALL)
#else
#define QK_BY_FMT(fmt, CALL)                                                                       \
    do {                                                                                           \
        const int FMTC = (fmt);                                                                    \
        CALL;                                                                                      \
    } while (0)
#define QK_BY_FMT_DTYPE(fmt, dt, CALL)                                                             \
    do {                                                                                           \
        const int FMTC = (fmt), DTC = (dt);                                                        \
        CALL;                                                                                      \
    } while (0)
#define QK_GPU_BY_DTYPE(dt, CALL)                                                                  \
    do {                                                                                           \
        const int DTC = (dt);                                                                      \
        CALL;                                                                                      \
    } while (0)
#endif

static inline uint widen16(int dt, uint h)
{
    return dt == DT_BF16 ? (h << 16) : qk_f16_to_f32(h);
}

/* A finite f16 as f32 bits without a branch. Where native f32 keeps
 * subnormals: the sign moved to bit 31 and the magnitude's bits up 13
 * places are the f32 x 2^-112 (an f32 subnormal for an f16 one), so one
 * exact product by 2^112 widens every value (H100 f16 quantize, int8 rows
 * 64% -> 77% of the copy, tiles 68% -> 81%; Inf and NaN patterns give
 * 2^16 and above, as rebiasing does). Elsewhere: normal values by
 * rebiasing; a subnormal (or zero) a * 2^-24 as (2^-14 + a * 2^-24) -
 * 2^-14, whose operands are normal and whose difference is exact (any
 * subnormal mode). product_codes_check compares both halves of a word
 * with widen16 for every pattern. */
static inline uint f16_widen_finite(uint h)
{
#if defined(QK_NATIVE_MUL) && !defined(QK_NATIVE_GUARD)
    return as_uint(as_float(((h & 0x8000u) << 16) | ((h & 0x7FFFu) << 13)) * 0x1p112f);
#else
    uint a = h & 0x7FFFu;
    int sub = a < 0x400u;
    float v = as_float((a << 13) + (sub ? 0x38800000u : 0x38000000u)) - (sub ? 0x1p-14f : 0.0f);
    return as_uint(v) | ((h & 0x8000u) << 16);
#endif
}

/* The low and high element of a word of finite bf16/f16 input as f32 bits. */
static inline uint widen_low_finite(int dt, uint w) { return dt == DT_BF16 ? w << 16 : f16_widen_finite(w & 0xFFFFu); }
static inline uint widen_high_finite(int dt, uint w) { return dt == DT_BF16 ? w & 0xFFFF0000u : f16_widen_finite(w >> 16); }

/* f32 -> f16, RNE: qk_f32_to_f16_native (fast_codec.cl) where native adds
 * are used, else qk_f32_to_f16_fast (QK_OPENCL_SOFTFLOAT). The native form,
 * with no branch, against the fast one's codec branch for zeros and f16
 * subnormals, H200 NVIDIA OpenCL, 1 GiB dequantized into f16: nf4 41% ->
 * 64% of the copy, int8 rows 46% -> 64%, int8_blockwise 42% -> 58%, nvfp4
 * 39% -> 56%, mxfp8 51% -> 56%, float8 rows and tiles 53% -> 56%. */
static inline uint f16_narrow(uint a)
{
#if defined(QK_NATIVE_MUL)
    return qk_f32_to_f16_native(a);
#else
    return qk_f32_to_f16_fast(a);
#endif
}

/* f32 bits -> the stored element bits of dtype dt (RNE). */
static inline uint narrow(int dt, uint a)
{
    if (dt == DT_F32)
        return a;
    return dt == DT_BF16 ? qk_f32_to_bf16_fast(a) : f16_narrow(a);
}

/* For the NaN-free fast paths of the walking dequantize kernels. */
#if defined(QK_NATIVE_MUL) && !defined(QK_NATIVE_GUARD)
/* the device keeps subnormals (or is the host's IEEE float): for finite
 * operands qk_mul returns exactly this product */
static inline uint qk_mul_finite(uint a, uint b) { return as_uint(as_float(a) * as_float(b)); }
#else
static inline uint qk_mul_finite(uint a, uint b) { return qk_mul(a, b); }
#endif

/* narrow() for a non-NaN a (bf16 without its NaN test) */
static inline uint narrow_finite(int dt, uint a)
{
    if (dt == DT_BF16)
        return (a + 0x7FFFu + ((a >> 16) & 1u)) >> 16;
    return narrow(dt, a);
}

/* The value torch holds after rounding to dt. */
static inline uint round_to(int dt, uint a)
{
    return dt == DT_F32 ? a : widen16(dt, narrow(dt, a));
}

static inline uint ld(__global const uchar *p, int dt, ulong i)
{
    if (dt == DT_F32)
        return ((__global const uint *)p)[i];
    return widen16(dt, ((__global const ushort *)p)[i]);
}

/* Eight elements from index i, i a multiple of 8 (aligned vector loads). */
static inline void ld8(__global const uchar *p, int dt, ulong i, uint *v)
{
    if (dt == DT_F32) {
        uint4 a = ((__global const uint4 *)p)[i / 4];
        uint4 b = ((__global const uint4 *)p)[i / 4 + 1];
        v[0] = a.s0; v[1] = a.s1; v[2] = a.s2; v[3] = a.s3;
        v[4] = b.s0; v[5] = b.s1; v[6] = b.s2; v[7] = b.s3;
        return;
    }
    uint4 w = ((__global const uint4 *)p)[i / 8];
    v[0] = widen16(dt, w.s0 & 0xFFFFu); v[1] = widen16(dt, w.s0 >> 16);
    v[2] = widen16(dt, w.s1 & 0xFFFFu); v[3] = widen16(dt, w.s1 >> 16);
    v[4] = widen16(dt, w.s2 & 0xFFFFu); v[5] = widen16(dt, w.s2 >> 16);
    v[6] = widen16(dt, w.s3 & 0xFFFFu); v[7] = widen16(dt, w.s3 >> 16);
}

/* Eight elements from i (any i); those at or past `end` read as +0. */
static inline void ld8_any(__global const uchar *p, int dt, ulong i, ulong end, int aligned, uint *v)
{
    if (aligned && i + 8 <= end && (i & 7) == 0) {
        ld8(p, dt, i, v);
        return;
    }
#pragma unroll
    for (int k = 0; k < 8; k++)
        v[k] = (i + (ulong)k < end) ? ld(p, dt, i + (ulong)k) : 0u;
}

/* Stores element bits already narrowed (narrow() or raw patterns). */
static inline void st_raw(__global uchar *p, int dt, ulong i, uint bits)
{
    if (dt == DT_F32)
        ((__global uint *)p)[i] = bits;
    else
        ((__global ushort *)p)[i] = (ushort)bits;
}

/* Eight narrowed elements at i; vector store when i is a multiple of 8 and
 * all eight are below `end`. */
static inline void st8_raw(__global uchar *p, int dt, ulong i, ulong end, const uint *h)
{
    if (i + 8 <= end && (i & 7) == 0) {
        if (dt == DT_F32) {
            ((__global uint4 *)p)[i / 4] = (uint4)(h[0], h[1], h[2], h[3]);
            ((__global uint4 *)p)[i / 4 + 1] = (uint4)(h[4], h[5], h[6], h[7]);
        } else {
            ((__global uint4 *)p)[i / 8] = (uint4)(h[0] | (h[1] << 16), h[2] | (h[3] << 16),
                                                   h[4] | (h[5] << 16), h[6] | (h[7] << 16));
        }
        return;
    }
#pragma unroll
    for (int k = 0; k < 8; k++)
        if (i + (ulong)k < end)
            st_raw(p, dt, i + (ulong)k, h[k]);
}

/* f16 output by vstorea_half8_rte where native arithmetic is used
 * (QK_NATIVE_MUL, unless QK_NO_HALF_STORES): OpenCL 1.2 makes that
 * conversion correctly rounded, to nearest even, with half subnormals never
 * flushed, on every device and with no cl_khr_fp16. Only its float input
 * may be flushed (a subnormal, where the device lacks CL_FP_DENORM or in
 * its FTZ mode), and then the zero's sign is undefined; so a subnormal
 * goes in as 2^-126 with its sign, which rounds to the same signed zero
 * (f16's smallest subnormal is 2^-24). Only finite values take it: the
 * payload of a converted NaN is the device's (Vulkan's native conversion
 * on NVIDIA gives 0x7FFF where qk_f32_to_f16 gives 0x7E00).
 * Only ConvRot dequantize (convrot_dequantize_runs.cl) uses it: on the H200
 * (NVIDIA 580) 56% of the copy into f16, against 49% by the integer
 * narrowing and 9% with the values passed through a pointer into an array.
 * The other dequantize kernels keep the integer narrowing for f16: the
 * NF4/FP4 and NVFP4 block kernels ran at 8% and 24% with it (64% and 57%
 * without), and where the row, tile, MXFP8 and NVFP4 row kernels took it
 * (f16 59-60% against 53-54%, MXFP8 47% against 44%) their bf16 copies
 * slowed on the H100 (same run, 2026-12-05): int8 rows, int8_blockwise and
 * float8 tiles 92% -> 79-80% of the copy, bisected to that change, and
 * MXFP8 83% -> 63%. */
#if defined(QK_NATIVE_MUL) && !defined(QK_NO_HALF_STORES)
#define QK_HALF_STORES 1
/* Eight finite f32 values (bits, by value) as f16 into the 16-byte-aligned
 * element vector i8 of p, subnormals sent as signed 2^-126 (above). */
static inline void st_half8(__global uchar *p, ulong i8, uint8 v)
{
    uint8 tiny = (v & QK_F32_ABS) - 1u;
    uint8 in = select(v, (v & QK_F32_SIGN) | 0x00800000u, tiny < (uint8)0x007FFFFFu);
    vstorea_half8_rte(as_float8(in), i8, (__global half *)p);
}
#endif

/* Max of v over each aligned segment of `seg` work-items (seg a power of
 * two dividing the work-group size); every work-item gets its segment's max. */
static inline uint seg_max(__local uint *red, uint v, uint seg)
{
    uint lid = get_local_id(0);
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = seg / 2; s > 0; s >>= 1) {
        if ((lid & (seg - 1)) < s)
            red[lid] = max(red[lid], red[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    uint r = red[lid & ~(seg - 1)];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* Byte offset of scale (r, c) in the cuBLAS 128x4 blocked layout. */
static inline ulong blocked_offset(ulong r, ulong c, ulong ncb)
{
    ulong col_tiles = (ncb + 3) / 4;
    return ((r / 128 * col_tiles + c / 4) * 32 + r % 32) * 16 + ((r % 128) / 32) * 4 + c % 4;
}

/* blocked_offset(r, c, ncb) split as cuda/k_blocked.cuh: the row's part
 * (once per row) plus the column block's part. */
static inline ulong blocked_row_part(ulong r, ulong ncb)
{
    return (r >> 7) * ((ncb + 3) / 4) * 512 + (r & 31) * 16 + ((r & 127) >> 5) * 4;
}

static inline ulong blocked_col_part(uint cb) { return (ulong)(cb >> 2) * 512 + (cb & 3u); }

/* Pack four bytes (b[0] at the lowest address). */
/* Folds a 16-byte unit of 16-bit input into the maxima of its low halves'
 * magnitudes (lo) and of its high halves' (hi, in bits 16..30). */
static inline void amax16_word4(uint4 a, uint *lo, uint *hi)
{
    *lo = max(*lo, max(max(a.s0 & 0x7FFFu, a.s1 & 0x7FFFu), max(a.s2 & 0x7FFFu, a.s3 & 0x7FFFu)));
    *hi = max(*hi, max(max(a.s0 & 0x7FFF0000u, a.s1 & 0x7FFF0000u), max(a.s2 & 0x7FFF0000u, a.s3 & 0x7FFF0000u)));
}

static inline uint pack4(uint b0, uint b1, uint b2, uint b3)
{
    return (b0 & 0xFFu) | ((b1 & 0xFFu) << 8) | ((b2 & 0xFFu) << 16) | (b3 << 24);
}
