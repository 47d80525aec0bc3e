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

/* x[k] holds value k s of a run (s = 1 or 16 apart): the level of stride
 * s, then, with `both`, that of stride 4 s. */
static inline void cr_levels16(uint *x, const int both)
{
#pragma unroll
    for (int m = 0; m < 4; m++)
        cr_h4(x, 4 * m, 1);
    if (both) {
#pragma unroll
        for (int m = 0; m < 4; m++)
            cr_h4(x, m, 4);
    }
}

/* The regroup both native paths share: the work-item's unit x (its first
 * two levels done) into v, then, after a barrier, its regrouped columns b +
 * 16 k (returned b) into y with the levels of stride 16 and (G >= 256) 64
 * run on them. This work-item alone reads and writes those 16 slots. */
static inline uint cr_regrouped_levels(const uint *x, __local uint *v, uint G, uint *y)
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
    cr_levels16(y, G >= 256u);
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
    cr_levels16(x, G >= 16u);
    if (G > 16u) {
        uint y[16], b = cr_regrouped_levels(x, v, G, y);
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
 * end with the scaling and the rounding to T in the regrouped order, whose
 * largest magnitude (and m0, a NaN/Inf input's) goes into the row's word
 * of `slot` by a local atomic_max before the write-back barrier, which thus
 * also ends the amax. x: the work-item's 16 consecutive values on entry,
 * their rounded bits (narrow's) on return; returns the row's amax (T's
 * magnitude bits). slot: three words that rotate over rows (k = row step %
 * 3): the word of step k - 1 is cleared after step k's barrier (every read
 * of it came before step k's first barrier), so step k + 2 finds it zero.
 * On the H200 (bf16, 1 GiB) 28% of the copy against 26% with four. */
static inline uint cr_rotate_native_amax(uint *x, __local uint *v, uint G, uint sc, const int dt, uint m0,
                                         __local uint *slot, uint k)
{
    uint lid = get_local_id(0);
    cr_levels16(x, 1);
    uint y[16], b = cr_regrouped_levels(x, v, G, y), m = m0;
#pragma unroll
    for (uint j = 0; j < 16u; j++) {
        y[j] = narrow(dt, as_uint(as_float(y[j]) * as_float(sc)));
        m = max(m, y[j] & (dt == DT_F32 ? QK_F32_ABS : 0x7FFFu));
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
                    in_max = max(in_max, max(h[k] & 0x7FFFu, (h[k] >> 16) & 0x7FFFu));
                    x[8 * u + 2 * k] = widen_low_finite(dt, h[k]);
                    x[8 * u + 2 * k + 1] = widen_high_finite(dt, h[k]);
                }
            }
        }
        uint m = dt != DT_F32 && in_max >= top ? in_max : 0u; /* a NaN or Inf input fails its row */
        if (amax3) {
            m = cr_rotate_native_amax(x, v + par * 17u * L, G, sc, dt, m, slot, k3);
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
        }
        if (m >= top) {
            if (lid == 0u)
                atomic_max(status, dt == DT_F32 ? m : widen16(dt, m));
            continue;
        }
        uint d, s = scaled_params(FMT_INT8, dt, dt == DT_F32 ? m : widen16(dt, m), &d);
        if (lid == 0u)
            scale[r] = s;
        if (lid >= nu)
            continue;
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
