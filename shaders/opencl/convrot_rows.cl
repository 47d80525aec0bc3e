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
 * scaling by 2^-levels. */
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

/* Quantize's native path for 16 < G < 1024 in two barriers a row (the
 * path above with group16_max takes four): the levels of stride 16 and 64
 * (by cr_h4q) end in the regrouped order, whose largest magnitude goes
 * into the row's word of `slot` by a local atomic_max before the
 * write-back barrier, which thus also ends the amax. No product by 2^-L
 * here: the values stay the unscaled sums v (cr_codes16 scales where it
 * must). x: the work-item's 16 consecutive values on entry, their sums v
 * (f32 bits) on return; returns M, the row's largest |v| bits (NaN above
 * Inf), or m0 if larger (an Inf or NaN input). slot: three words that
 * rotate over rows (k = row step % 3): the word of step k - 1 is cleared
 * after step k's barrier (every read of it came before step k's first
 * barrier), so step k + 2 finds it zero. On the H200 (bf16, 1 GiB), before
 * the unscaled sums, 28% of the copy against 26% with four barriers. */
static inline uint cr_rotate_native_amax(uint *x, __local uint *v, uint G, uint m0, __local uint *slot, uint k)
{
    uint lid = get_local_id(0);
    cr_levels16(x, 1, 1);
    uint y[16], b = cr_regrouped_levels(x, v, G, y, 1), m = m0;
#pragma unroll
    for (uint j = 0; j < 16u; j++) {
        m = max(m, y[j] & QK_F32_ABS);
        v[cr_at(b + 16u * j)] = y[j];
    }
    atomic_max(slot + k, m);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0u)
        slot[k == 0u ? 2u : k - 1u] = 0u;
#pragma unroll
    for (uint j = 0; j < 16u; j++)
        x[j] = v[cr_at(lid * 16u + j)];
    return slot[k];
}

/* Whether a finite row's codes may come from its unscaled sums v
 * (cr_rotate_native_amax; M = max |v|, d the row's divisor) divided by d'
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
 * Where T(v) = t 2^L, int8_code_rcp gives both pairs the same q0, residual
 * (scaled by 2^L, normal: see there) and quotient, since r' = RN(1/d') is
 * RN(1/d) 2^-L; scaled_code divides the same real. Other rows (f16 rows of
 * small amax, bf16 near the top of its range) take the product by 2^-L
 * first. Without the bf16 test src/check/convrot_cases.c's near-top rows
 * fail, without the f16 one test_opencl.c's test_convrot_rows. */
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

/* The 16 int8 codes of a row's unscaled sums x (cr_rotate_native_amax):
 * T(v) / d 2^L on cr_codes_native rows, else T(RN(v 2^-L)) / d as the
 * reference (sc = 2^-L). rd = RN(1/d) for 16-bit rows: every int8 divisor
 * of theirs has one (int8_code_rcp), and RN(1/d') is rd 2^-L (normal); f32
 * divides. bf16 clamps once (int8_code_rcp's one_clamp: a row's values are
 * at most its amax, and T(v) r' is t r where T(v) = t 2^L, or tiny). Both
 * loops straight-line: an element array indexed in a rolled loop goes to
 * the stack. */
static inline uint4 cr_codes16(const int dt, uint *x, uint M, uint d, uint rd, uint levels, uint sc)
{
    if (cr_codes_native(dt, M, d)) {
        d += levels << 23; /* d' = d 2^L: d is normal */
        rd -= levels << 23;
#pragma unroll
        for (uint k = 0; k < 16u; k++)
            x[k] = cr_round_unscaled(dt, x[k]);
    } else {
#pragma unroll
        for (uint k = 0; k < 16u; k++)
            x[k] = dt == DT_F32 ? as_uint(as_float(x[k]) * as_float(sc))
                                : widen_low_finite(dt, narrow(dt, as_uint(as_float(x[k]) * as_float(sc))));
    }
    uint c[16];
#pragma unroll
    for (uint k = 0; k < 16u; k++)
        c[k] = dt == DT_F32 ? scaled_code(FMT_INT8, DT_F32, x[k], d)
                            : int8_code_rcp(dt, FMT_INT8, x[k], as_float(d), as_float(rd), dt == DT_BF16);
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

/* Rows of the chunk, a work-group per row and step: scale[r] and the
 * int8_tensorwise codes of the rotated row rounded to T, as ref_int8.c
 * with ConvRot. A row whose rotation holds NaN or Inf (every value of its
 * group then does) raises status to its magnitude: the op fails. */
static inline void cr_quantize_body(__global const uint4 *in, const int dt, ulong rows, uint cols, uint G,
                                    uint levels, __global uint *scale, __global uint4 *data,
                                    __global uint *status, __local uint *v, __local uint *red)
{
    uint lid = get_local_id(0), L = get_local_size(0), nu = cols / 16u, vpu = dt == DT_F32 ? 4u : 2u;
    uint sc = (127u - levels) << 23, top = dt == DT_F32 ? QK_F32_INF : dt == DT_BF16 ? 0x7F80u : 0x7C00u;
    uint par = 0u, k3 = 0u;
    /* the rotating amax words (red[L + 16 ..]) for 16 < G < 1024 on the native path */
    int amax3 = CR_NATIVE && G > 16u && G < 1024u;
    __local uint *slot = red + L + 16u;
    if (lid < 3u)
        slot[lid] = 0u;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (ulong r = get_group_id(0); r < rows; r += get_num_groups(0), par ^= 1u, k3 = k3 == 2u ? 0u : k3 + 1u) {
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
                    if (dt == DT_F16) /* bf16 widens Inf and NaN as they are: see below */
                        in_max = max(in_max, max(h[k] & 0x7FFFu, (h[k] >> 16) & 0x7FFFu));
                    x[8 * u + 2 * k] = widen_low_finite(dt, h[k]);
                    x[8 * u + 2 * k + 1] = widen_high_finite(dt, h[k]);
                }
            }
        }
        /* A NaN or Inf input fails its row: in f32 and bf16 rows it reaches
         * every sum of its rotation group, so the row's amax; f16's finite
         * widening loses it, so f16 rows look at their input. */
        uint m = dt == DT_F16 && in_max >= top ? in_max : 0u;
        uint M = 0u, mt; /* M: cr_rotate_native_amax's; mt: the row's amax (f32 bits of a T value) */
        if (amax3) {
            M = cr_rotate_native_amax(x, v + par * 17u * L, G, m != 0u ? QK_F32_INF : 0u, slot, k3);
            /* the reference's amax: the largest T(RN(|v| 2^-L)), which is
             * T(RN(M 2^-L)) (both roundings are monotone and odd) */
            mt = round_to(dt, as_uint(as_float(M) * as_float(sc))) & QK_F32_ABS;
        } else {
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
        }
        if (mt >= QK_F32_INF) {
            if (lid == 0u)
                atomic_max(status, mt);
            continue;
        }
        /* 16-bit rows of the native path: the scalars without qk_div (int8_scalars.cl) */
        uint d, rd = 0u;
        uint s = amax3 && dt != DT_F32 ? int8_scalars16(dt, mt, &d, &rd) : scaled_params(FMT_INT8, dt, mt, &d);
        if (lid == 0u)
            scale[r] = s;
        if (lid >= nu)
            continue;
        if (amax3) {
            data[r * nu + lid] = cr_codes16(dt, x, M, d, rd, levels, sc);
            continue;
        }
        uint2 lo, hi;
        if (dt == DT_F32) {
            uint c[16];
#pragma unroll
            for (uint k = 0; k < 16u; k++)
                c[k] = scaled_code(FMT_INT8, DT_F32, x[k], d);
            lo = (uint2)(pack4(c[0], c[1], c[2], c[3]), pack4(c[4], c[5], c[6], c[7]));
            hi = (uint2)(pack4(c[8], c[9], c[10], c[11]), pack4(c[12], c[13], c[14], c[15]));
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
 * buffers of 16 L slots and their padding); red: L + 19 (group16_max's
 * L + 16, then the three amax words). */
__kernel void convrot_quantize_rows(__global const uint4 *in, int dt, ulong rows, uint cols, uint G, uint levels,
                                    __global uint *scale, __global uint4 *data, __global uint *status, __local uint *v,
                                    __local uint *red)
{
    QK_BY_DTYPE(dt, cr_quantize_body(in, DTC, rows, cols, G, levels, scale, data, status, v, red));
}

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
