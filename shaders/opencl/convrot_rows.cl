/* ConvRot int8 quantize and dequantize a row per work-group step, for rows
 * of up to 4096 columns that are a multiple of 16 (the host sends
 * others to convrot.cl). Quantize reads the input once: rotation, rounding
 * to T, the row's amax and its codes all happen on the row held by the
 * work-group (convrot.cl's path rotates into a scratch copy, then codes
 * that copy in a second kernel).
 *
 * Work-item t holds the 16 consecutive columns 16 t .. 16 t + 15, so the
 * levels of stride 1 and 4 run in its registers. One regroup through local
 * memory then gives it the 16 values 16 apart, b + 16 k (b = 256 (t / 16)
 * + t % 16), for the levels of stride 16 and 64; G = 1024's level of stride
 * 256 runs in local memory. The butterflies are src/ref/convrot.c's: one
 * H4 per base-4 digit, lowest first, sums left to right, then the exact
 * scaling by 2^-levels. Quantize's native rows of 16 < G < 1024 run in
 * kernels of their own, one a dtype (convrot_quantize_native_*: one local
 * buffer of 16-byte unit slots, the next row loaded a step ahead). */
/* Local slot of row element i: a padding word after every 16, so that
 * both the consecutive and the regrouped accesses of 32 work-items fall in
 * distinct banks. */
static inline uint cr_at(uint i) { return i + (i >> 4); }

/* The native path: every sum and product native, the code unrolled. It is
 * taken where the program's native f32 keeps subnormals (CR_NATIVE): its
 * results then differ from qk_add's / qk_mul's only in the payload of a
 * NaN. Quantize takes it for every row, since a NaN or Inf anywhere in a
 * rotation group reaches every value of the group (each output of an H4
 * sums all four inputs) and fails the op (QK_ERR_NONFINITE) either way;
 * elsewhere quantize takes the exact path: the row in local memory and
 * qk_add / qk_mul in rolled loops, one copy of their code (unrolled over
 * 16 values, the integer fallbacks of qk_add made the dequantize kernel
 * five times slower than convrot.cl's on the H200). Dequantize runs here
 * only on chunks whose every row's scale keeps every product and sum
 * finite (CR_NATIVE_SCALE; the host checks: cl_ops.c). The host keeps
 * CR_NATIVE in step with the build options (native_f32). */
#if defined(QK_NATIVE_MUL) && !defined(QK_NATIVE_GUARD)
#define CR_NATIVE 1
#else
#define CR_NATIVE 0
#endif

/* |s| below 2^110: |q s| <= 2^117 for an int8 q, and G <= 1024 sums of
 * those stay below 2^127, so no product or sum is Inf or NaN. */
#define CR_NATIVE_SCALE 0x76800000u

/* The H4 butterfly of convrot.c on x[i], x[i + s], x[i + 2 s], x[i + 3 s],
 * native sums and differences as the reference writes them (qk_add's
 * addition of the negation gives the same bits but for a NaN's sign, and
 * a NaN fails quantize's row and never arises on dequantize's native
 * rows; the float difference spares an integer sign flip an operand). */
static inline void cr_h4(uint *x, const int i, const int s)
{
    float a = as_float(x[i]), b = as_float(x[i + s]), c = as_float(x[i + 2 * s]), d = as_float(x[i + 3 * s]);
    float ab = a + b;
    x[i] = as_uint((ab + c) - d);
    x[i + s] = as_uint((ab - c) + d);
    x[i + 2 * s] = as_uint(((a - b) + c) + d);
    x[i + 3 * s] = as_uint(((b - a) + c) + d);
}

/* cr_h4 with its last output as (c - (a - b)) + d: ten operations instead
 * of eleven, for quantize only. b - a is -(a - b) exactly (RN is odd) but
 * for a = b, where both are +0, so the two forms give the same rounded
 * real, or for a real 0 zeros whose signs may differ; the later sums of
 * operands equal as reals are again equal but for a zero's sign. Quantize
 * keeps no sign of a zero: the amax takes magnitudes and a zero codes 0
 * either way. An Inf or NaN input still reaches every output (the row
 * fails). cuda/k_convrot_rows_q.cuh's h4q. */
static inline void cr_h4q(uint *x, const int i, const int s)
{
    float a = as_float(x[i]), b = as_float(x[i + s]), c = as_float(x[i + 2 * s]), d = as_float(x[i + 3 * s]);
    float ab = a + b, amb = a - b;
    x[i] = as_uint((ab + c) - d);
    x[i + s] = as_uint((ab - c) + d);
    x[i + 2 * s] = as_uint((amb + c) + d);
    x[i + 3 * s] = as_uint((c - amb) + d);
}

/* x[k] holds value k s of a run (s = 1 or 16 apart): the level of stride
 * s, then, with `both`, that of stride 4 s; by cr_h4q where `q` (a
 * literal: quantize). */
static inline void cr_levels16(uint *x, const int both, const int q)
{
#pragma unroll
    for (int m = 0; m < 4; m++) {
        if (q)
            cr_h4q(x, 4 * m, 1);
        else
            cr_h4(x, 4 * m, 1);
    }
    if (both) {
#pragma unroll
        for (int m = 0; m < 4; m++) {
            if (q)
                cr_h4q(x, m, 4);
            else
                cr_h4(x, m, 4);
        }
    }
}

/* The regroup both native paths share: the work-item's unit x (its first
 * two levels done) into v, then, after a barrier, its regrouped columns b +
 * 16 k (returned b) into y with the levels of stride 16 and (G >= 256) 64
 * run on them. This work-item alone reads and writes those 16 slots. */
static inline uint cr_regrouped_levels(const uint *x, __local uint *v, uint G, uint *y, const int q)
{
    uint lid = get_local_id(0);
#pragma unroll
    for (uint k = 0; k < 16u; k++)
        v[cr_at(lid * 16u + k)] = x[k];
    barrier(CLK_LOCAL_MEM_FENCE);
    uint b = (lid >> 4) * 256u + (lid & 15u);
#pragma unroll
    for (uint k = 0; k < 16u; k++)
        y[k] = v[cr_at(b + 16u * k)];
    cr_levels16(y, G >= 256u, q);
    return b;
}

/* The native path: x holds the work-item's 16 consecutive values on entry
 * and their rotated values, scaled by sc = 2^-levels, on return. v: 17 L
 * words, not touched by any work-item since the barrier that last read
 * them (the callers alternate two buffers between rows: every work-item
 * passes this call's first barrier only after its reads of the row
 * before). */
static inline void cr_rotate_native(uint *x, __local uint *v, uint G, uint sc)
{
    uint lid = get_local_id(0), L = get_local_size(0);
    cr_levels16(x, G >= 16u, 0);
    if (G > 16u) {
        uint y[16], b = cr_regrouped_levels(x, v, G, y, 0);
#pragma unroll
        for (uint k = 0; k < 16u; k++)
            v[cr_at(b + 16u * k)] = y[k];
        barrier(CLK_LOCAL_MEM_FENCE);
        if (G == 1024u) { /* stride 256: quad t holds 1024 (t / 256) + t % 256 + 256 j */
            for (uint t = lid; t < 4u * L; t += L) {
                uint i = (t >> 8) * 1024u + (t & 255u), w[4];
#pragma unroll
                for (uint j = 0; j < 4u; j++)
                    w[j] = v[cr_at(i + 256u * j)];
                cr_h4(w, 0, 1);
#pragma unroll
                for (uint j = 0; j < 4u; j++)
                    v[cr_at(i + 256u * j)] = w[j];
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
#pragma unroll
        for (uint k = 0; k < 16u; k++)
            x[k] = v[cr_at(lid * 16u + k)];
    }
#pragma unroll
    for (uint k = 0; k < 16u; k++)
        x[k] = as_uint(as_float(x[k]) * as_float(sc));
}

/* Quantize's native path for 16 < G < 1024 (cr_quantize_native_rows) keeps
 * the row in one local buffer of 16-byte unit slots: element i at
 * cr_q_at(i) = i + 4 (i / 16) + 16 (i / 256) (cuda/k_convrot_rows_q.cuh's
 * crq_at), so unit u (elements 16 u .. 16 u + 15) is the four aligned
 * vectors from word 20 u + 16 (u / 16): written and read back by four
 * 16-byte accesses, whose 8-lane phases fall in distinct bank quads (5 u +
 * 4 (u / 16) mod 8). The regrouped element 256 g + j + 16 k (g = lid / 16,
 * j = lid % 16) sits at 336 g + j + 20 k: a base and constant offsets, and
 * a warp's 32 lanes hit 32 banks (336 = 16 mod 32). 21 L words for L
 * work-items (the kernel's buffer has 34 L). */
#define CRQ_UNIT4(u) (5u * (u) + 4u * ((u) >> 4))

/* The regrouped phase: the levels of stride 16 and (G >= 256) 64 by
 * cr_h4q on the 16 values 16 apart of this work-item, in place; returns
 * the largest of m and their magnitudes' bits (NaN above Inf). Between
 * the two barriers of a row: every work-item reads and writes its own 16
 * slots only. */
static inline uint cr_q_regrouped(__local uint *w, uint lid, uint G, uint m)
{
    __local uint *p = w + 336u * (lid >> 4) + (lid & 15u);
    uint y[16];
#pragma unroll
    for (uint k = 0; k < 16u; k++)
        y[k] = p[20u * k];
    cr_levels16(y, G >= 256u, 1);
#pragma unroll
    for (uint k = 0; k < 16u; k++) {
        m = max(m, y[k] & QK_F32_ABS);
        p[20u * k] = y[k];
    }
    return m;
}

/* Whether a finite row's codes may come from its unscaled sums v
 * (cr_quantize_native_rows; M = max |v|, d the row's divisor) divided by d'
 * = d 2^L, with T applied to v (cr_round_unscaled) instead of to y =
 * RN(v 2^-L), the reference's rotated value: the code of T(v) / d' must
 * be that of t / d, t = T(y). d is at least T(1e-30) > 2^-100
 * (scaled_params' floor), and d' stays a normal value below
 * int8_reciprocal's bound 2^122 (f16: d' <= 2^14; bf16 with M < 2^127: d
 * < 2^(121-L); f32: finite, d < 2^121):
 * - f32 (T the identity): where |y| >= 2^-126, y = v 2^-L exactly and the
 *   two quotients are one real; below, both are under 2^-26: code 0.
 * - bf16, M < 2^127 (T(v) finite; past it a negative T(v) = -Inf would
 *   code -128 where -127 is due): where |v| >= 2^(L-126), T(v) = t 2^L
 *   (scaling by 2^L commutes with rounding to 8 bits in f32's normal
 *   range); below, |t| <= 2^-126 and |T(v)| <= 2^(L-126) against d >
 *   2^-100: code 0 both ways.
 * - f16, d >= 2^-13: where |v| >= 2^(L-14), T(v) = t 2^L as above (y in
 *   f16's normal range; T(v) past f16's range is fine in f32 bits); below,
 *   |t| <= 2^-14 <= d / 2 and |T(v)| <= 2^(L-14) <= d' / 2: quotients of
 *   at most 1/2, code 0 both ways (1/2 rounds to the even 0).
 * Where T(v) = t 2^L, int8_code_rcp gives both pairs the same q0, since
 * r' = RN(1/d') is RN(1/d) 2^-L; scaled_code divides the same real. Other
 * rows (f16 rows of small amax, bf16 near the top of its range) take the
 * product by 2^-L first. Without the bf16 test src/check/convrot_cases.c's
 * near-top rows fail, without the f16 one test_opencl.c's test_convrot_rows. */
static inline int cr_codes_native(const int dt, uint M, uint d)
{
    return dt == DT_F32 || (dt == DT_BF16 ? M < 0x7F000000u : d >= 0x39000000u);
}

/* T(a) as f32 bits for the finite sum a of a cr_codes_native row: bf16's
 * rounding to nearest even at bit 16; f16's at bit 13 (below f16's normal
 * range a value of at most 2^(L-14) all the same, which that rule allows);
 * f32 as it is. */
static inline uint cr_round_unscaled(const int dt, uint a)
{
    if (dt == DT_BF16)
        return (a + 0x7FFFu + ((a >> 16) & 1u)) & 0xFFFF0000u;
    if (dt == DT_F16)
        return (a + 0xFFFu + ((a >> 13) & 1u)) & 0xFFFFE000u;
    return a;
}

/* int8_code_rcp's bf16 int8 code with one clamp (dt == DT_BF16,
 * one_clamp), T's rounding taken on the signed bits of q = RN(x r): for q
 * not NaN the magnitude a is at most 0x7F800000, so a + 0x7FFF + lsb (bit
 * 16 of a and of q alike) stays below 2^31 and no carry reaches the sign:
 * (q + 0x7FFF + lsb) & 0xFFFF0000 is q's sign over a's rounding, the bits
 * int8_code_rcp makes by masking the magnitude and putting the sign back
 * (three operations less a value). */
static inline uint cr_code_bf16(uint x, float r)
{
    uint q = as_uint(as_float(x) * r);
    float t = as_float((q + 0x7FFFu + ((q >> 16) & 1u)) & 0xFFFF0000u);
    return as_uint(fmin(t, 127.0f) + 0x1.8p23f) & 0xFFu;
}

/* bf16's rounding of a (f32 bits, |a| < 2^111) by Veltkamp's split: c =
 * RN(x (2^16 + 1)), RN(c - RN(c - x)) is x rounded to 8 significant bits,
 * ties to even, wherever x is zero or normal (test_codec_arith's
 * test_bf16_round_split checks every such x; c stays finite); three f32
 * operations for the bits' four integer ones (NVIDIA issues f32 twice as
 * fast). A subnormal x may round otherwise, to at most 2^-125 (callers:
 * code 0 either way). */
static inline uint cr_round_bf16_split(uint a)
{
    float x = as_float(a);
    float c = x * 65537.0f;
    float d = c - x;
    return as_uint(c - d);
}

/* cr_code_bf16 with T(q) by cr_round_bf16_split: |q| <= 127.5 (the
 * one-clamp bound), and a q below 2^-126 codes 0 whatever it rounds to. */
static inline uint cr_code_bf16_split(uint x, float r)
{
    float t = as_float(cr_round_bf16_split(as_uint(as_float(x) * r)));
    return as_uint(fmin(t, 127.0f) + 0x1.8p23f) & 0xFFu;
}

/* int8_code_rcp's f16 int8 code (dt == DT_F16, both clamps), T's rounding
 * on the signed bits of q = RN(x r) as cr_code_bf16 does, and
 * no test for f16's subnormal range: there |q| < 2^-14 rounds on the bits
 * to at most 2^-13 (f16's own rule: a multiple of 2^-24 up to 2^-14),
 * both far under 1/2, so code 0 either way (a negative one's -0 too). A q
 * past f16's range rounds to 2^16 on the bits and to Inf by T: 127 (-128)
 * after the clamps either way. Four operations less a value. */
static inline uint cr_code_f16(uint x, float r)
{
    uint q = as_uint(as_float(x) * r);
    float t = as_float((q + 0xFFFu + ((q >> 13) & 1u)) & 0xFFFFE000u);
    return as_uint(fmin(fmax(t, -128.0f), 127.0f) + 0x1.8p23f) & 0xFFu;
}

/* cr_code_f16 of two values of a cr_codes_native row, T(q) by a
 * conversion of the pair to f16 and back: vstore_half2_rte rounds to
 * nearest even, f16 subnormals and overflow to Inf included, as T does,
 * and vload_half2 widens exactly (the bits' rounding took about twice the
 * operations; H100: 66% -> 80% of the copy, BACKEND-OPENCL.md). A |q|
 * below 2^-14 codes 0 either way. No clamp: the row's divisor is at least
 * 2^-13 (cr_codes_native), a normal f16, so |q| <= 127.07
 * (qk_vk_products.glsl's one-clamp bound for f16) and |T(q)| <= 127.0625,
 * whose integer rounding lies in [-127, 127], where neither clamp acts. */
static inline uint2 cr_code_f16_pair(uint x0, uint x1, float r)
{
    float2 q = (float2)(as_float(x0) * r, as_float(x1) * r);
    uint h;
    vstore_half2_rte(q, 0, (__private half *)&h);
    float2 t = vload_half2(0, (const __private half *)&h);
    return (uint2)(as_uint(t.s0 + 0x1.8p23f) & 0xFFu, as_uint(t.s1 + 0x1.8p23f) & 0xFFu);
}

/* f32 int8 codes of a work-item's 16 values: by int8_code_f32_bounded (the
 * row's divisor comes from its own amax) where the
 * program's products are IEEE and d has a reciprocal (int8_f32_reciprocal),
 * all 16 divided (scaled_code) where one lies near a halfway point or
 * elsewhere. */
static inline uint4 cr_codes_f32(const uint *x, uint d)
{
    uint c[16], r = int8_f32_reciprocal(d);
    int near = r == 0u;
    if (!near) {
#pragma unroll
        for (uint k = 0; k < 16u; k++)
            c[k] = int8_code_f32_bounded(x[k], as_float(r), &near);
    }
    if (near) {
#pragma unroll
        for (uint k = 0; k < 16u; k++)
            c[k] = scaled_code(FMT_INT8, DT_F32, x[k], d);
    }
    return (uint4)(pack4(c[0], c[1], c[2], c[3]), pack4(c[4], c[5], c[6], c[7]), pack4(c[8], c[9], c[10], c[11]),
                   pack4(c[12], c[13], c[14], c[15]));
}

/* The 16 int8 codes of a row's unscaled sums x (cr_quantize_native_rows):
 * T(v) / d 2^L on cr_codes_native rows, else T(RN(v 2^-L)) / d as the
 * reference (sc = 2^-L). rd = RN(1/d) for 16-bit rows: every int8 divisor
 * of theirs has one (int8_code_rcp), and RN(1/d') is rd 2^-L (normal); f32
 * rows take cr_codes_f32 (every f32 row is cr_codes_native: T(v) = v, and
 * d' = d 2^L < 2^126). bf16 clamps once (int8_code_rcp's one_clamp: a
 * row's values are at most its amax, and T(v) r' is t r where T(v) = t
 * 2^L, or tiny), and so do f16's cr_codes_native rows (cr_code_f16_pair).
 * bf16 rows whose sums stay below 2^111 (all but rows near the top of
 * bf16's range) round T(v) and T(q) by cr_round_bf16_split: where v is
 * subnormal (the split's one difference) |T(v)| <= 2^-125, code 0 both ways.
 * Both loops straight-line: an element array indexed in a rolled loop goes
 * to the stack. */
static inline uint4 cr_codes16(const int dt, uint *x, uint M, uint d, uint rd, uint levels, uint sc)
{
    if (dt == DT_F32)
        return cr_codes_f32(x, d + (levels << 23));
    uint c[16];
    if (dt == DT_BF16 && M < 0x77000000u) { /* 2^111: T(v) and T(q) by the split */
        rd -= levels << 23; /* RN(1/d') for d' = d 2^L: d is normal */
#pragma unroll
        for (uint k = 0; k < 16u; k++)
            c[k] = cr_code_bf16_split(cr_round_bf16_split(x[k]), as_float(rd));
    } else if (cr_codes_native(dt, M, d)) {
        rd -= levels << 23; /* RN(1/d') for d' = d 2^L: d is normal */
#pragma unroll
        for (uint k = 0; k < 16u; k += 2u) {
            if (dt == DT_BF16) {
                c[k] = cr_code_bf16(cr_round_unscaled(dt, x[k]), as_float(rd));
                c[k + 1] = cr_code_bf16(cr_round_unscaled(dt, x[k + 1]), as_float(rd));
            } else {
                uint2 p = cr_code_f16_pair(cr_round_unscaled(dt, x[k]), cr_round_unscaled(dt, x[k + 1]), as_float(rd));
                c[k] = p.s0;
                c[k + 1] = p.s1;
            }
        }
    } else {
#pragma unroll
        for (uint k = 0; k < 16u; k++) {
            uint t = widen_low_finite(dt, narrow(dt, as_uint(as_float(x[k]) * as_float(sc))));
            c[k] = dt == DT_BF16 ? cr_code_bf16(t, as_float(rd)) : cr_code_f16(t, as_float(rd));
        }
    }
    return (uint4)(pack4(c[0], c[1], c[2], c[3]), pack4(c[4], c[5], c[6], c[7]), pack4(c[8], c[9], c[10], c[11]),
                   pack4(c[12], c[13], c[14], c[15]));
}

/* Quantize's exact path (programs without CR_NATIVE) for the work-item's
 * 16 consecutive values x, in place: the row's n values in v[0 .. n)
 * (consecutive, no padding), every level with qk_add (convrot.cl's
 * convrot_local), the scaling with qk_mul. Its first barrier keeps its
 * writes after every read of v by an earlier row. */
static inline void cr_rotate_exact16(uint *x, __local uint *v, uint n, uint levels, uint sc)
{
    uint lid = get_local_id(0), L = get_local_size(0);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid < n / 16u)
#pragma unroll
        for (uint k = 0; k < 16u; k++)
            v[lid * 16u + k] = x[k];
    barrier(CLK_LOCAL_MEM_FENCE);
    convrot_local(v, n, levels);
    for (uint i = lid; i < n; i += L)
        v[i] = qk_mul(v[i], sc);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid < n / 16u)
#pragma unroll
        for (uint k = 0; k < 16u; k++)
            x[k] = v[lid * 16u + k];
}

/* The input words of unit lid of row r (zeros past the row's units or
 * past the chunk's rows): two 16-byte vectors of 16-bit elements, four of
 * f32. */
static inline void cr_q_load(__global const uint4 *in, const int dt, ulong r, ulong rows, uint cols, uint lid,
                             uint nu, uint4 *w)
{
    uint vpu = dt == DT_F32 ? 4u : 2u;
    ulong w0 = (r * cols) / (16u / vpu) + (ulong)lid * vpu;
    int ok = r < rows && lid < nu;
#pragma unroll
    for (uint u = 0; u < 4u; u++)
        w[u] = ok && u < vpu ? in[w0 + u] : (uint4)(0u);
}

/* The eight f16 elements of w as f32 bits, by vload_half2 from a private
 * copy of each word (core OpenCL 1.2, no cl_khr_fp16 needed): exact,
 * subnormals included, Inf and NaN as they are. Fewer operations than
 * f16_widen_finite's six an element (with cr_code_f16, H100: 46% -> 55%
 * of the copy). One vload_half8 of the whole uint4 was slower: NVIDIA's
 * driver kept that copy in memory form, four 8-byte loads and a shift
 * an element before its cvt.f32.f16 (docs/BACKEND-OPENCL.md, sessions
 * 2026-12-05 21:43 and 2026-12-06 18:02: 61% -> 66% by words). */
static inline void cr_widen_f16x8(uint4 w, uint *x)
{
    uint t[4] = {w.s0, w.s1, w.s2, w.s3};
#pragma unroll
    for (int k = 0; k < 4; k++) {
        float2 f = vload_half2(0, (const __private half *)&t[k]);
        x[2 * k] = as_uint(f.s0), x[2 * k + 1] = as_uint(f.s1);
    }
}

/* Quantize's native path for 16 < G < 1024, a work-group per row and step
 * in two barriers a row: the levels of stride 1 and 4 in registers, the
 * unit into its slots (cr_q_at) by four vector stores, the next row's
 * words loaded (so that their latency passes under this row's work),
 * barrier; the levels of stride 16 and 64 in the regrouped order
 * (cr_q_regrouped, by cr_h4q), whose largest magnitude goes into the
 * row's word of `slot` by a local atomic_max before the second barrier,
 * which thus also ends the amax; then the unit back by four vector loads
 * and its codes (cr_codes16). No product by 2^-L on the values: they stay
 * the unscaled sums v (cr_codes16 scales where it must). One buffer is
 * enough: after the second barrier a work-item reads only its own unit's
 * slots, which only it writes at the next row's start, and the next
 * regrouped phase (other work-items' slots) starts after the next row's
 * first barrier, which every work-item passes only after its codes. slot:
 * three words that rotate over rows (k = row step % 3): the word of step
 * k - 1 is cleared after step k's second barrier (every read of it came
 * before step k's first barrier), so step k + 2 finds it zero. A row
 * whose rotation holds NaN or Inf (its amax does: every sum of a rotation
 * group takes all its inputs, Inf and NaN inputs widened as they are:
 * f16's by cr_widen_f16x8) raises status and writes no codes. No
 * `continue` in this loop: one ahead of barriers made PoCL 3.1 return
 * wrong bytes (docs/BACKEND-OPENCL.md). */
static inline void cr_quantize_native_rows(__global const uint4 *in, const int dt, ulong rows, uint cols, uint G,
                                           uint levels, __global uint *scale, __global uint4 *data,
                                           __global uint *status, __local uint4 *v4, __local uint *slot)
{
    uint lid = get_local_id(0), nu = cols / 16u, k3 = 0u;
    uint sc = (127u - levels) << 23;
    __local uint4 *unit = v4 + CRQ_UNIT4(lid);
    uint4 w[4];
    ulong r = get_group_id(0), step = get_num_groups(0);
    cr_q_load(in, dt, r, rows, cols, lid, nu, w);
    for (; r < rows; r += step, k3 = k3 == 2u ? 0u : k3 + 1u) {
        uint x[16];
#pragma unroll
        for (uint u = 0; u < 4u; u++) {
            if (dt == DT_F32) {
                x[4 * u] = w[u].s0, x[4 * u + 1] = w[u].s1, x[4 * u + 2] = w[u].s2, x[4 * u + 3] = w[u].s3;
            } else if (u < 2u && dt == DT_F16) {
                cr_widen_f16x8(w[u], x + 8 * u);
            } else if (u < 2u) {
#pragma unroll
                for (int k = 0; k < 4; k++) {
                    x[8 * u + 2 * k] = widen_low_finite(dt, w[u][k]);
                    x[8 * u + 2 * k + 1] = widen_high_finite(dt, w[u][k]);
                }
            }
        }
        cr_levels16(x, 1, 1);
#pragma unroll
        for (uint c = 0; c < 4u; c++)
            unit[c] = (uint4)(x[4 * c], x[4 * c + 1], x[4 * c + 2], x[4 * c + 3]);
        cr_q_load(in, dt, r + step, rows, cols, lid, nu, w);
        barrier(CLK_LOCAL_MEM_FENCE);
        uint m = cr_q_regrouped((__local uint *)v4, lid, G, 0u);
        atomic_max(slot + k3, m);
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid == 0u)
            slot[k3 == 0u ? 2u : k3 - 1u] = 0u;
        uint M = slot[k3];
        /* the reference's amax: the largest T(RN(|v| 2^-L)), which is
         * T(RN(M 2^-L)) (both roundings are monotone and odd) */
        uint mt = round_to_pos(dt, as_uint(as_float(M) * as_float(sc))) & QK_F32_ABS;
        if (mt >= QK_F32_INF) {
            if (lid == 0u)
                atomic_max(status, mt);
        } else {
            /* 16-bit rows: the scalars without qk_div (int8_scalars.cl) */
            uint d, rd = 0u;
            uint s = dt != DT_F32 ? int8_scalars16(dt, mt, &d, &rd) : scaled_params(FMT_INT8, dt, mt, &d);
            if (lid == 0u)
                scale[r] = s;
            if (lid < nu) {
#pragma unroll
                for (uint c = 0; c < 4u; c++) {
                    uint4 q = unit[c];
                    x[4 * c] = q.s0, x[4 * c + 1] = q.s1, x[4 * c + 2] = q.s2, x[4 * c + 3] = q.s3;
                }
                data[r * nu + lid] = cr_codes16(dt, x, M, d, rd, levels, sc);
            }
        }
    }
}

/* Quantize's other rows (G = 16 or 1024 on native programs, every row
 * on the others), a work-group per row and step: scale[r] and the
 * int8_tensorwise codes of the rotated row rounded to T, as ref_int8.c
 * with ConvRot (cr_rotate_native or cr_rotate_exact16, the rounded values'
 * amax by group16_max, the codes as scaled_groups16.cl's). A row whose
 * rotation holds NaN or Inf (every value of its group then does) raises
 * status to its magnitude: the op fails. Two local buffers alternate
 * between rows. */
static inline void cr_quantize_rows_generic(__global const uint4 *in, const int dt, ulong rows, uint cols, uint G,
                                            uint levels, __global uint *scale, __global uint4 *data,
                                            __global uint *status, __local uint *v, __local uint *red)
{
    uint lid = get_local_id(0), L = get_local_size(0), nu = cols / 16u, vpu = dt == DT_F32 ? 4u : 2u;
    uint sc = (127u - levels) << 23, top = dt == DT_F32 ? QK_F32_INF : dt == DT_BF16 ? 0x7F80u : 0x7C00u;
    uint par = 0u;
    for (ulong r = get_group_id(0); r < rows; r += get_num_groups(0), par ^= 1u) {
        uint x[16], in_max = 0u;
        ulong w0 = (r * cols) / (16u / vpu) + (ulong)lid * vpu;
#pragma unroll
        for (uint u = 0; u < 4u; u++) {
            uint4 w = lid < nu && u < vpu ? in[w0 + u] : (uint4)(0u);
            if (dt == DT_F32) {
                x[4 * u] = w.s0, x[4 * u + 1] = w.s1, x[4 * u + 2] = w.s2, x[4 * u + 3] = w.s3;
            } else if (u < 2u) {
                uint h[4] = {w.s0, w.s1, w.s2, w.s3};
#pragma unroll
                for (int k = 0; k < 4; k++) {
                    if (dt == DT_F16) /* f16's finite widening loses Inf and NaN: see below */
                        in_max = max(in_max, max(h[k] & 0x7FFFu, (h[k] >> 16) & 0x7FFFu));
                    x[8 * u + 2 * k] = widen_low_finite(dt, h[k]);
                    x[8 * u + 2 * k + 1] = widen_high_finite(dt, h[k]);
                }
            }
        }
        /* A NaN or Inf input fails its row: in f32 and bf16 rows it reaches
         * every value of its rotation group, so the row's amax; f16's finite
         * widening loses it, so f16 rows look at their input. */
        uint m = dt == DT_F16 && in_max >= top ? in_max : 0u, mt; /* mt: the row's amax (f32 bits of a T value) */
        if (CR_NATIVE)
            cr_rotate_native(x, v + par * 17u * L, G, sc);
        else
            cr_rotate_exact16(x, v + par * 17u * L, cols, levels, sc);
        /* the rounded values (16-bit element bits, f32 bits for f32) and their largest magnitude */
#pragma unroll
        for (uint k = 0; k < 16u; k++) {
            x[k] = narrow(dt, x[k]);
            m = max(m, x[k] & (dt == DT_F32 ? QK_F32_ABS : 0x7FFFu));
        }
        m = group16_max(red, lid < nu ? m : 0u, L);
        mt = dt == DT_F32 ? m : widen16(dt, m);
        if (mt >= QK_F32_INF) {
            if (lid == 0u)
                atomic_max(status, mt);
            continue;
        }
        uint d, s = scaled_params(FMT_INT8, dt, mt, &d);
        if (lid == 0u)
            scale[r] = s;
        if (lid >= nu)
            continue;
        uint2 lo, hi;
        if (dt == DT_F32) {
            uint4 c = cr_codes_f32(x, d);
            lo = c.s01;
            hi = c.s23;
        } else {
            uint rcp = int8_reciprocal(FMT_INT8, d);
            lo = group_codes8(dt, FMT_INT8, (uint4)(x[0] | x[1] << 16, x[2] | x[3] << 16, x[4] | x[5] << 16,
                                                    x[6] | x[7] << 16), d, rcp);
            hi = group_codes8(dt, FMT_INT8, (uint4)(x[8] | x[9] << 16, x[10] | x[11] << 16, x[12] | x[13] << 16,
                                                    x[14] | x[15] << 16), d, rcp);
        }
        data[r * nu + lid] = (uint4)(lo.s0, lo.s1, hi.s0, hi.s1);
    }
}

/* L work-items (a power of two, 16 to 256, 16 L >= cols); v: 34 L words (two
 * buffers of 16 L slots and their padding); red: L + 16 (group16_max's).
 * Native programs send rows of 16 < G < 1024 to convrot_quantize_native_*. */
__kernel void convrot_quantize_rows(__global const uint4 *in, int dt, ulong rows, uint cols, uint G, uint levels,
                                    __global uint *scale, __global uint4 *data, __global uint *status, __local uint *v,
                                    __local uint *red)
{
    QK_BY_DTYPE(dt, cr_quantize_rows_generic(in, DTC, rows, cols, G, levels, scale, data, status, v, red));
}

/* cr_quantize_native_rows as kernels of their own, one a dtype, for 16 <
 * G < 1024 on programs with CR_NATIVE (the host's native_f32): their
 * registers are their own, not the largest of every path of
 * convrot_quantize_rows nor of another dtype's (offline,
 * tools/cl-ptx-offline.sh: convrot_quantize_rows 142 registers; bf16 and
 * f16 here 40 each, 48 together in one kernel, 79 with f32; a
 * multiprocessor holds six work-groups of 256 at 40 registers, five at
 * 48, three at 79 and one at 142). L as convrot_quantize_rows'; v: 21 L
 * words, as vectors (NVIDIA aligns a local argument by its declared type;
 * the unit slots are 16-byte vectors); slot: the three amax words. A
 * program without CR_NATIVE never gets a launch (the host checks
 * native_f32); should it, every row fails (status NaN) rather than write
 * codes of another arithmetic. */
#if CR_NATIVE
#define CR_NATIVE_KERNEL(CALL)                                                                                         \
    do {                                                                                                               \
        uint lid = get_local_id(0);                                                                                    \
        if (lid < 3u)                                                                                                  \
            slot[lid] = 0u;                                                                                            \
        barrier(CLK_LOCAL_MEM_FENCE);                                                                                  \
        CALL;                                                                                                          \
    } while (0)
#else
#define CR_NATIVE_KERNEL(CALL)                                                                                         \
    do {                                                                                                               \
        if (get_global_id(0) == 0u)                                                                                    \
            atomic_max(status, 0x7FC00000u);                                                                           \
    } while (0)
#endif

#define CR_NATIVE_DTYPE_KERNEL(NAME, DT)                                                                               \
    __kernel void NAME(__global const uint4 *in, ulong rows, uint cols, uint G, uint levels, __global uint *scale,    \
                       __global uint4 *data, __global uint *status, __local uint4 *v, __local uint *slot)             \
    {                                                                                                                  \
        CR_NATIVE_KERNEL(cr_quantize_native_rows(in, DT, rows, cols, G, levels, scale, data, status, v, slot));       \
    }

CR_NATIVE_DTYPE_KERNEL(convrot_quantize_native_bf16, DT_BF16)
CR_NATIVE_DTYPE_KERNEL(convrot_quantize_native_f16, DT_F16)
CR_NATIVE_DTYPE_KERNEL(convrot_quantize_native_f32, DT_F32)

/* Rows of the chunk: T(unrotate(q * rscale[r])), the products and sums as
 * convrot_dequantize's. Native rows only: the host sends a chunk here only
 * where the program has CR_NATIVE and every row's scale is below
 * CR_NATIVE_SCALE (convrot.cl takes the others). An exact path here, with
 * barriers that a row's scale chooses or loops in branches between
 * barriers, made PoCL 3.1 return wrong rows and PoCL 5.0 abort. L and v as
 * convrot_quantize_rows'. */
static inline void cr_dequantize_body(__global const uint4 *data, __global const uint *rscale, const int dt,
                                      ulong rows, uint cols, uint G, uint levels, __global uint4 *out,
                                      __local uint *v)
{
    uint lid = get_local_id(0), L = get_local_size(0), nu = cols / 16u, vpu = dt == DT_F32 ? 4u : 2u;
    uint sc = (127u - levels) << 23, par = 0u;
    for (ulong r = get_group_id(0); r < rows; r += get_num_groups(0), par ^= 1u) {
        uint s = rscale[r], x[16];
        uint4 q = lid < nu ? data[r * nu + lid] : (uint4)(0u);
        uint w[4] = {q.s0, q.s1, q.s2, q.s3};
#pragma unroll
        for (uint k = 0; k < 16u; k++)
            x[k] = as_uint(convert_float((char)(uchar)(w[k / 4u] >> (8u * (k & 3u)))) * as_float(s));
        cr_rotate_native(x, v + par * 17u * L, G, sc);
        if (lid >= nu)
            continue;
#pragma unroll
        for (uint k = 0; k < 16u; k++)
            x[k] = narrow(dt, x[k]);
        ulong o = (r * cols) / (16u / vpu) + (ulong)lid * vpu;
        if (dt == DT_F32) {
#pragma unroll
            for (uint u = 0; u < 4u; u++)
                out[o + u] = (uint4)(x[4 * u], x[4 * u + 1], x[4 * u + 2], x[4 * u + 3]);
        } else {
#pragma unroll
            for (uint u = 0; u < 2u; u++)
                out[o + u] = (uint4)(x[8 * u] | x[8 * u + 1] << 16, x[8 * u + 2] | x[8 * u + 3] << 16,
                                     x[8 * u + 4] | x[8 * u + 5] << 16, x[8 * u + 6] | x[8 * u + 7] << 16);
        }
    }
}

__kernel void convrot_dequantize_rows(__global const uint4 *data, __global const uint *rscale, int dt, ulong rows,
                                      uint cols, uint G, uint levels, __global uint4 *out, __local uint *v)
{
    QK_BY_DTYPE(dt, cr_dequantize_body(data, rscale, DTC, rows, cols, G, levels, out, v));
}
