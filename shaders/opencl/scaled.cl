/* float8_e4m3fn / float8_e5m2 and int8_tensorwise / int8_blockwise
 * (src/ref/ref_fp8.c, ref_int8.c). fmt is the qk_format value: 4 e4m3fn,
 * 5 e5m2, 6 int8_tensorwise, 7 int8_blockwise. */
#define FMT_E4M3 4
#define FMT_E5M2 5
#define FMT_INT8 6
#define FMT_INT8_BLOCK 7
#define QK_F32_1E_8 0x322BCC77u /* nearest f32 to 1e-8 */

/* The stored scale of a group with this amax; *div receives what each
 * element is multiplied (fp8: T(1/scale)) or divided (int8: s_T) by. */
static inline uint scaled_params(int fmt, int dt, uint amax, uint *div)
{
    if (fmt == FMT_E4M3 || fmt == FMT_E5M2) {
        uint scale = round_to(dt, qk_div(amax, fmt == FMT_E5M2 ? QK_F32_E5M2_MAX : QK_F32_E4M3_MAX));
        *div = round_to(dt, qk_div(QK_F32_ONE, scale));
        return scale;
    }
    uint scale = qk_div(amax, QK_F32_INT8_MAX);
    if (fmt == FMT_INT8_BLOCK) {
        scale = round_to(dt, scale);
        uint floor_t = round_to(dt, QK_F32_1E_8);
        scale = scale < floor_t ? floor_t : scale;
        *div = scale;
        return scale;
    }
    if (scale < QK_F32_1E_30)
        scale = QK_F32_1E_30;
    uint s_t = round_to(dt, scale);
    *div = s_t != 0u ? s_t : (dt == DT_F16 ? 0x38800000u : 0x00800000u); /* T's smallest normal */
    return scale;
}

static inline uint scaled_code(int fmt, int dt, uint x, uint d)
{
    if (fmt == FMT_E4M3 || fmt == FMT_E5M2) {
        /* a zero stays a zero where T(1/scale) is infinite (documented) */
        uint v = (x & QK_F32_ABS) == 0u ? x : round_to(dt, qk_mul(x, d));
        if (fmt == FMT_E5M2)
            return qk_f32_to_e5m2_fast(qk_f32_clamp_abs(v, QK_F32_E5M2_MAX));
        return qk_f32_to_e4m3_fast(qk_f32_clamp_abs(v, QK_F32_E4M3_MAX));
    }
    if (d == 0u)
        return 0u; /* blockwise zero tile with a zero floor */
    uint q = round_to(dt, qk_div(x, d));
    if (fmt == FMT_INT8_BLOCK)
        q = qk_f32_clamp_abs(q, QK_F32_INT8_MAX); /* clamp first, to +-127 */
    return (uint)qk_f32_to_int_rne_clamp(q, -128, 127) & 0xFFu;
}

/* Whether the program's native f32 products are IEEE (native_f32 without
 * the guard): then f32 int8 codes go by products (int8_code_f32_bounded). */
#if defined(QK_NATIVE_MUL) && !defined(QK_NATIVE_GUARD)
#define QK_F32_PRODUCTS 1
#else
#define QK_F32_PRODUCTS 0
#endif

/* RN(1/d), normal, for f32 int8 codes by products; 0 where they divide:
 * programs without IEEE products, d outside [2^-126, 2^126) (0 included). */
static inline uint int8_f32_reciprocal(uint d)
{
    return QK_F32_PRODUCTS && d >= 0x00800000u && d < 0x7E800000u ? qk_div(QK_F32_ONE, d) : 0u;
}

/* Whether a float8 multiplier a (f32 bits) lies in [2^-126, 2^100), where
 * its products with a group's elements are exact or harmlessly flushed
 * (fp8_code_product, fp8_code_f32). */
static inline int fp8_factor_in_range(uint a) { return a - 0x00800000u < 0x71800000u - 0x00800000u; }

/* The factor of f32 codes by products (f32 bits), or 0 where they take
 * scaled_code: int8's reciprocal (int8_f32_reciprocal); float8's multiplier
 * d = RN(1/scale) where the program's products are IEEE and d is normal
 * below 2^100 (scaled_groups32.cl's fp8_code_f32). */
static inline uint f32_product_factor(int fmt, uint d)
{
    if (fmt == FMT_E4M3 || fmt == FMT_E5M2)
        return QK_F32_PRODUCTS && fp8_factor_in_range(d) ? d : 0u;
    return int8_f32_reciprocal(d);
}

/* f32's int8 code of an element x of a group (row, tile or tensor) whose
 * divisor d comes from the group's own amax, by one product with r =
 * int8_f32_reciprocal(d) (nonzero), as scaled_code's RN(x / d) rounded to
 * an integer and clamped (either int8 format), where *near stays 0. With
 * z = x / d and |e1|, |e2| <= 2^-24, q0 = RN(x r) = z (1 + e1)(1 + e2)
 * lies within 2^-15 of z, and RN(z) within 2^-16 of z: under 2^-13 apart.
 * So where q0 lies at least 2^-13 from every point halfway between
 * integers, rint(q0) (the low bits of q0 + 1.5 * 2^23) is rint(RN(z)), the
 * reference's integer; a q0 that underflows means |z| < 2^-125, code 0
 * both ways. Otherwise *near is set and the caller divides (about 2^-12 of
 * values). No clamp: |x| <= amax and d >= amax / 127 (1 - 2^-24) (f32's T
 * is exact; the floors only raise d), so |q0| <= 127 (1 + 2^-24)^3 <
 * 127.5 and rint(q0) lies in [-127, 127], where neither clamp acts.
 * test_f32_codes_by_product crafts quotients on both sides of the margin
 * (f32_codes_check). */
static inline uint int8_code_f32_bounded(uint x, float r, int *near)
{
    float q0 = as_float(x) * r, b = q0 + 0x1.8p23f;
    *near |= fabs(q0 - (b - 0x1.8p23f)) >= 0.5f - 0x1p-13f;
    return as_uint(b) & 0xFFu;
}

/* One work-item: param[0] = what every element is multiplied or divided
 * by, param[1] = the stored scalar scale (copied into each chunk's scale). */
__kernel void scaled_tensor_params(__global const uint *amax, int fmt, int dt, __global uint *param)
{
    uint d;
    param[1] = scaled_params(fmt, dt, amax[0], &d);
    param[0] = d;
}

static inline void scaled_quantize_tensor_body(__global const uchar *in, const int dt, ulong n, const int fmt,
                                               uint d, __global uchar *data)
{
    ulong units = (n + 7) / 8;
    /* f32 int8: codes by products where they may (int8_code_f32_bounded) */
    uint rd = dt == DT_F32 && fmt == FMT_INT8 ? int8_f32_reciprocal(d) : 0u;
    for (ulong u = get_global_id(0); u < units; u += get_global_size(0)) {
        ulong e0 = u * 8;
        uint v[8], b[8];
        ld8_any(in, dt, e0, n, 1, v);
        int near = rd == 0u;
        if (!near) {
#pragma unroll
            for (int k = 0; k < 8; k++)
                b[k] = int8_code_f32_bounded(v[k], as_float(rd), &near);
        }
        if (near) {
#pragma unroll
            for (int k = 0; k < 8; k++)
                b[k] = scaled_code(fmt, dt, v[k], d);
        }
        if (e0 + 8 <= n) {
            ((__global uint2 *)data)[u] = (uint2)(pack4(b[0], b[1], b[2], b[3]), pack4(b[4], b[5], b[6], b[7]));
        } else { /* unrolled with a bound test: b indexed by a variable sat in local memory */
#pragma unroll
            for (int k = 0; k < 8; k++)
                if (e0 + (ulong)k < n)
                    data[e0 + k] = (uchar)b[k];
        }
    }
}

__kernel void scaled_quantize_tensor(__global const uchar *in, int dt, ulong n, int fmt,
                                     __global const uint *param, __global uchar *data)
{
    uint d = param[0];
    QK_BY_FMT_DTYPE(fmt, dt, scaled_quantize_tensor_body(in, DTC, n, FMTC, d, data));
}

/* One work-group per scale group (a row, or a bh x bw tile): the group's
 * amax is reduced in local memory, then the same work-group codes the group
 * (its second read hits the cache). */
static inline void scaled_quantize_groups_body(__global const uchar *in, const int dt, ulong rows, ulong cols,
                                               ulong bh, ulong bw, ulong ngroups, ulong gc, const int fmt,
                                               __global uint *scale, __global uchar *data, __global uint *status,
                                               __local uint *red)
{
    uint L = get_local_size(0), lid = get_local_id(0);
    for (ulong g = get_group_id(0); g < ngroups; g += get_num_groups(0)) {
        ulong r0 = g / gc * bh, c0 = g % gc * bw;
        ulong r1 = min(r0 + bh, rows), c1 = min(c0 + bw, cols);
        /* The group's elements as one flat range, so that every work-item
         * has work however narrow the tile; 8 at a time when aligned. */
        ulong w = c1 - c0, h = r1 - r0;
        int vec = (cols & 7) == 0 && (c0 & 7) == 0 && (w & 7) == 0;
        ulong wu = vec ? w / 8 : w, units = h * wu;
        uint m = 0u;
        for (ulong u = lid; u < units; u += L) {
            ulong i = (r0 + u / wu) * cols + c0 + (u % wu) * (vec ? 8 : 1);
            if (vec) {
                uint v[8];
                ld8(in, dt, i, v);
#pragma unroll
                for (int k = 0; k < 8; k++)
                    m = max(m, v[k] & QK_F32_ABS);
            } else {
                m = max(m, ld(in, dt, i) & QK_F32_ABS);
            }
        }
        m = seg_max(red, m, L);
        if (m >= QK_F32_INF) {
            if (lid == 0)
                atomic_max(status, m);
            continue;
        }
        uint d;
        uint s = scaled_params(fmt, dt, m, &d);
        /* f32 int8: codes by products where they may (int8_code_f32_bounded) */
        uint rd = dt == DT_F32 && (fmt == FMT_INT8 || fmt == FMT_INT8_BLOCK) ? int8_f32_reciprocal(d) : 0u;
        if (lid == 0)
            scale[g] = s;
        for (ulong u = lid; u < units; u += L) {
            ulong i = (r0 + u / wu) * cols + c0 + (u % wu) * (vec ? 8 : 1);
            if (vec) {
                uint v[8], b[8];
                ld8(in, dt, i, v);
                int near = rd == 0u;
                if (!near) {
#pragma unroll
                    for (int k = 0; k < 8; k++)
                        b[k] = int8_code_f32_bounded(v[k], as_float(rd), &near);
                }
                if (near) {
#pragma unroll
                    for (int k = 0; k < 8; k++)
                        b[k] = scaled_code(fmt, dt, v[k], d);
                }
                ((__global uint2 *)data)[i / 8] =
                    (uint2)(pack4(b[0], b[1], b[2], b[3]), pack4(b[4], b[5], b[6], b[7]));
            } else {
                data[i] = (uchar)scaled_code(fmt, dt, ld(in, dt, i), d);
            }
        }
    }
}

__kernel void scaled_quantize_groups(__global const uchar *in, int dt, ulong rows, ulong cols, ulong bh,
                                     ulong bw, ulong ngroups, ulong gc, int fmt, __global uint *scale,
                                     __global uchar *data, __global uint *status, __local uint *red)
{
    QK_BY_FMT_DTYPE(fmt, dt, scaled_quantize_groups_body(in, DTC, rows, cols, bh, bw, ngroups, gc, FMTC, scale,
                                                         data, status, red));
}

static inline uint scaled_value(int fmt, int dt, uint b, uint s)
{
    if (fmt == FMT_E4M3 || fmt == FMT_E5M2) {
        uint v = fmt == FMT_E5M2 ? qk_e5m2_to_f32(b) : qk_e4m3_to_f32(b);
        return qk_mul(round_to(dt, v), round_to(dt, s));
    }
    uint q = as_uint(convert_float((char)b)); /* exact: |q| <= 128 */
    return qk_mul(q, fmt == FMT_INT8_BLOCK ? round_to(dt, s) : s);
}

/* mode 1: per row; 2: bh x bw tiles with gc tiles across (mode 0, one
 * scale, still works, but the host sends tensor scaling to
 * scaled_dequantize_tensor).
 * Eight elements of a row per work-item. */
static inline void scaled_dequantize_body(__global const uchar *data, __global const uint *scale, const int fmt,
                                          const int dt, ulong rows, ulong cols, int mode, ulong bh, ulong bw,
                                          ulong gc, __global uchar *out)
{
    ulong units = (cols + 7) / 8;
    /* a unit never straddles two scale groups and its bytes are 8-aligned */
    int fast = (cols & 7) == 0 && (mode != 2 || (bw & 7) == 0);
    for (ulong r = get_global_id(1); r < rows; r += get_global_size(1)) {
        ulong grow = mode == 1 ? r : (mode == 2 ? r / bh * gc : 0);
        for (ulong u = get_global_id(0); u < units; u += get_global_size(0)) {
            ulong c0 = u * 8, i = r * cols + c0;
            uint h[8];
            if (fast) {
                uint s = scale[mode == 2 ? grow + (uint)c0 / (uint)bw : grow];
                uint2 w = ((__global const uint2 *)data)[i / 8];
#pragma unroll
                for (int k = 0; k < 8; k++)
                    h[k] = narrow(dt, scaled_value(fmt, dt, ((k < 4 ? w.s0 : w.s1) >> (8 * (k & 3))) & 0xFFu, s));
            } else {
#pragma unroll
                for (int k = 0; k < 8; k++) {
                    ulong c = c0 + (ulong)k;
                    h[k] = c < cols ? narrow(dt, scaled_value(fmt, dt, data[i + (ulong)k],
                                                              scale[mode == 2 ? grow + c / bw : grow]))
                                    : 0u;
                }
            }
            st8_raw(out, dt, i, r * cols + cols, h);
        }
    }
}

__kernel void scaled_dequantize(__global const uchar *data, __global const uint *scale, int fmt, int dt,
                                ulong rows, ulong cols, int mode, ulong bh, ulong bw, ulong gc,
                                __global uchar *out)
{
    QK_BY_FMT_DTYPE(fmt, dt, scaled_dequantize_body(data, scale, FMTC, DTC, rows, cols, mode, bh, bw, gc, out));
}

/* Tensor scaling: each output is a function of its byte alone, so every
 * work-group tabulates the 256 stored outputs once (scaled_value and
 * narrow, as scaled_dequantize computes them) and the elements cost one
 * local-memory lookup each. lut: 256 uints of local memory. */
__kernel void scaled_dequantize_tensor(__global const uchar *data, __global const uint *scale, int fmt, int dt,
                                       ulong n, __global uchar *out, __local uint *lut)
{
    uint s = scale[0];
    for (uint k = get_local_id(0); k < 256u; k += get_local_size(0))
        lut[k] = narrow(dt, scaled_value(fmt, dt, k, s));
    barrier(CLK_LOCAL_MEM_FENCE);
    if (dt == DT_F32) { /* a quad a work-item, one 16-byte store (bnb4_dequantize_quads says why) */
        for (ulong q = get_global_id(0); q < n / 4; q += get_global_size(0)) {
            uint w = ((__global const uint *)data)[q];
            ((__global uint4 *)out)[q] =
                (uint4)(lut[w & 0xFFu], lut[(w >> 8) & 0xFFu], lut[(w >> 16) & 0xFFu], lut[w >> 24]);
        }
        for (ulong e = n / 4 * 4 + get_global_id(0); e < n; e += get_global_size(0))
            ((__global uint *)out)[e] = lut[data[e]];
        return;
    }
    ulong units = (n + 7) / 8;
    for (ulong u = get_global_id(0); u < units; u += get_global_size(0)) {
        ulong e0 = u * 8;
        uint h[8];
        if (e0 + 8 <= n) {
            uint2 w = ((__global const uint2 *)data)[u];
#pragma unroll
            for (int k = 0; k < 8; k++)
                h[k] = lut[((k < 4 ? w.s0 : w.s1) >> (8 * (k & 3))) & 0xFFu];
        } else {
#pragma unroll
            for (int k = 0; k < 8; k++)
                h[k] = e0 + (ulong)k < n ? lut[data[e0 + (ulong)k]] : 0u;
        }
        QK_GPU_BY_DTYPE(dt, st8_raw(out, DTC, e0, n, h));
    }
}

/* Tensor-scaled float8 / int8_tensorwise quantize of 16-bit input by table:
 * with one scale, a code depends on the element's 16 bits alone, and on
 * its magnitude but for the sign: float8 codes are sign-magnitude (the
 * sign bit ORs in), and int8's rounding is symmetric, so the table keeps
 * the rounded magnitude clamped to 128 and the sign picks 127 or -128 at
 * the ends. 32 KiB: OpenCL 1.2's least local memory. NaN and Inf codes are
 * never used (the amax pass rejects such input). */
#define QK_TABLE16_ENTRIES 32768

__kernel void scaled_code_table16(int fmt, int dt, __global const uint *param, __global uchar *table)
{
    uint h = (uint)get_global_id(0), d = param[0];
    if (h >= QK_TABLE16_ENTRIES)
        return;
    uint x = widen16(dt, h), c;
    if (fmt == FMT_INT8)
        c = d == 0u ? 0u : (uint)qk_f32_to_int_rne_clamp(round_to(dt, qk_div(x, d)), 0, 128);
    else
        c = scaled_code(fmt, dt, x, d);
    table[h] = (uchar)c;
}

static inline uint code_by_table16(int fmt, __local const uchar *tab, uint h)
{
    uint m = tab[h & 0x7FFFu], neg = h >> 15;
    if (fmt != FMT_INT8)
        return m | (neg << 7);
    return neg != 0u ? (0u - m) & 0xFFu : min(m, 127u);
}

/* Codes of the 16-bit words in w, element 0 lowest. */
static inline uint2 codes8_by_table16(int fmt, __local const uchar *tab, uint4 w)
{
    uint lo = pack4(code_by_table16(fmt, tab, w.s0 & 0xFFFFu), code_by_table16(fmt, tab, w.s0 >> 16),
                    code_by_table16(fmt, tab, w.s1 & 0xFFFFu), code_by_table16(fmt, tab, w.s1 >> 16));
    uint hi = pack4(code_by_table16(fmt, tab, w.s2 & 0xFFFFu), code_by_table16(fmt, tab, w.s2 >> 16),
                    code_by_table16(fmt, tab, w.s3 & 0xFFFFu), code_by_table16(fmt, tab, w.s3 >> 16));
    return (uint2)(lo, hi);
}

/* tab4: QK_TABLE16_ENTRIES bytes of local memory, typed uint4 so that the
 * device aligns it for the vector copy (NVIDIA places a byte-typed local
 * argument with byte alignment, and a misaligned vector store faults).
 * Each 8-element unit is loaded a step ahead, the first during the table
 * copy; work-item 0 codes the last n % 8 elements. */
__kernel void scaled_quantize_table16(__global const ushort *in, ulong n, int fmt, __global const uchar *table,
                                      __global uchar *data, __local uint4 *tab4)
{
    __local const uchar *tab = (__local const uchar *)tab4;
    __global const uint4 *in4 = (__global const uint4 *)in;
    ulong units = n / 8, u = get_global_id(0), gs = get_global_size(0);
    uint4 next = u < units ? in4[u] : (uint4)(0u);
    for (uint k = get_local_id(0); k < QK_TABLE16_ENTRIES / 16; k += get_local_size(0))
        tab4[k] = ((__global const uint4 *)table)[k];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (; u < units; u += gs) {
        uint4 w = next;
        if (u + gs < units)
            next = in4[u + gs];
        ((__global uint2 *)data)[u] = codes8_by_table16(fmt, tab, w);
    }
    if (get_global_id(0) == 0)
        for (ulong e = units * 8; e < n; e++)
            data[e] = (uchar)code_by_table16(fmt, tab, in[e]);
}

/* Row and power-of-two-tile dequantize walking rows (cuda/k_group_dequantize.cuh
 * re-expressed): a work-group strides over batches of R rows, each
 * work-item over 8-column vectors of one row (vpr vectors a row; R =
 * local size / vpr rows share a step when a row is short, else R = 1). A
 * vector's group is (r >> rsh) * gc + (c >> csh): rows take rsh = 0,
 * csh = 31, gc = 1; tiles the logarithms of their edges (csh of bw / 8),
 * so no division runs per vector. The host sends only cols % 8 == 0 here.
 * lut: 256 uints of local memory, each code's first operand exactly as
 * scaled_value forms it (float8: round_to(dt, decode); int8: q).
 * With a finite factor and (float8) no NaN/Inf code among the vector's
 * eight, no product is NaN and every operand is finite, so the plain
 * product is qk_mul's result (qk_mul_finite) and narrow_finite needs no
 * NaN test; otherwise the vector takes qk_mul and narrow. */
/* Nonzero when a word of four float8 codes holds a NaN or Inf code
 * (e4m3fn: 0x7F/0xFF; e5m2: exponent field all ones). */
static inline uint fp8_special4(int fmt, uint w)
{
    return qk_bytes_have_mask(w, fmt == FMT_E5M2 ? 0x7C7C7C7Cu : 0x7F7F7F7Fu);
}

static inline void scaled_dequantize_rows_body(__global const uchar *data, __global const uint *scale,
                                               const int fmt, const int dt, ulong rows, ulong cols, uint vpr,
                                               uint R, uint rsh, uint csh, ulong gc, __global uchar *out,
                                               __local uint *lut)
{
    for (uint k = get_local_id(0); k < 256u; k += get_local_size(0)) {
        uint v = fmt == FMT_E5M2 ? qk_e5m2_to_f32(k) : qk_e4m3_to_f32(k);
        lut[k] = fmt >= FMT_INT8 ? as_uint(convert_float((char)k)) : round_to(dt, v);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    uint lid = get_local_id(0), L = get_local_size(0);
    uint lr = lid / vpr, lc = lid - lr * vpr;
    if (lr >= R)
        return; /* no barrier follows */
    int fp8 = fmt == FMT_E4M3 || fmt == FMT_E5M2;
    ulong rstep = (ulong)get_num_groups(0) * R;
    for (ulong r = (ulong)get_group_id(0) * R + lr; r < rows; r += rstep) {
        ulong grow = (r >> rsh) * gc;
        for (uint c = lc; c < vpr; c += L) {
            ulong i = r * cols + (ulong)c * 8;
            uint2 w = ((__global const uint2 *)data)[i / 8];
            uint s = scale[grow + (c >> csh)];
            uint f = fmt == FMT_INT8 ? s : round_to(dt, s);
            uint h[8];
            if ((f & QK_F32_INF) != QK_F32_INF && !(fp8 && (fp8_special4(fmt, w.s0) | fp8_special4(fmt, w.s1)))) {
#pragma unroll
                for (int k = 0; k < 8; k++)
                    h[k] = narrow_finite(dt, qk_mul_finite(lut[((k < 4 ? w.s0 : w.s1) >> (8 * (k & 3))) & 0xFFu], f));
            } else {
#pragma unroll
                for (int k = 0; k < 8; k++)
                    h[k] = narrow(dt, qk_mul(lut[((k < 4 ? w.s0 : w.s1) >> (8 * (k & 3))) & 0xFFu], f));
            }
            st8_raw(out, dt, i, i + 8, h);
        }
    }
}

__kernel void scaled_dequantize_rows(__global const uchar *data, __global const uint *scale, int fmt, int dt,
                                     ulong rows, ulong cols, uint vpr, uint R, uint rsh, uint csh, ulong gc,
                                     __global uchar *out, __local uint *lut)
{
    QK_BY_FMT_DTYPE(fmt, dt, scaled_dequantize_rows_body(data, scale, FMTC, DTC, rows, cols, vpr, R, rsh, csh, gc,
                                                         out, lut));
}

/* A 32-bit mix (for test hooks' crafted values). */
static inline uint check_mix(uint h)
{
    h ^= h >> 16;
    h *= 0x7FEB352Du;
    h ^= h >> 15;
    h *= 0x846CA68Bu;
    return h ^ (h >> 16);
}

__constant uint check_f32_divisors[8] = {0x00800000u, 0x0DA24260u, 0x21F3A5C1u, 0x3C010204u,
                                        0x3F800000u, 0x40400000u, 0x53C8D2E7u, 0x7E7FFFFFu};

/* Test hook: int8_code_f32_bounded against scaled_code (int8_tensorwise's
 * and int8_blockwise's clamps) for value id = base + global id, quotients
 * a group can hold. Divisor: one of eight, 2^-126 to just below 2^126.
 * Value x: half the ids RN(m d) for m a point halfway between integers in
 * [-126.5, 126.5], moved by up to 2^(12 - e) ulps either way (e: m's
 * exponent, so that the moves reach past the 2^-13 margin on both sides);
 * a quarter RN(m d) for an integer m in [-126, 126] moved by up to 4 ulps;
 * a quarter random bits within 2^12 of d's exponent either way, those up
 * to 126.5 d. out[0] counts the codes that differ where the value was not
 * flagged near, out[1] keeps the smallest such id, out[2] counts the
 * values flagged near, out[3] = 1 says the program has no IEEE products
 * (nothing checked). */
__kernel void f32_codes_check(uint base, __global uint *out)
{
#if QK_F32_PRODUCTS
    uint id = base + (uint)get_global_id(0), h = check_mix(id), d = check_f32_divisors[id & 7u], x;
    uint kind = (id >> 3) & 3u, mi = (id >> 5) & 1023u;
    if (kind < 2u) {
        float m = (float)((int)(mi % 254u) - 127) + 0.5f;
        int e = ilogb(m), span = 1 << clamp(12 - e, 0, 14);
        int delta = (int)(h % (uint)(2 * span + 1)) - span;
        x = as_uint(m * as_float(d));
        if ((int)(x & QK_F32_ABS) > abs(delta))
            x += delta;
    } else if (kind == 2u) {
        x = as_uint((float)((int)(mi % 253u) - 126) * as_float(d));
        int delta = (int)(h & 7u) - 4;
        if ((int)(x & QK_F32_ABS) > abs(delta))
            x += delta;
    } else {
        int e = (int)((d >> 23) & 0xFFu) + (int)(h % 25u) - 12;
        x = (h & 0x807FFFFFu) | ((uint)clamp(e, 1, 254) << 23);
        if (fabs(as_float(x)) > 126.5f * as_float(d))
            return; /* past what a group holds */
    }
    if ((x & QK_F32_ABS) >= QK_F32_INF) /* m d past f32's range: no group holds it */
        return;
    int near = 0;
    uint c = int8_code_f32_bounded(x, as_float(int8_f32_reciprocal(d)), &near);
    if (near)
        atomic_inc(&out[2]);
    else if (c != scaled_code(FMT_INT8, DT_F32, x, d) || c != scaled_code(FMT_INT8_BLOCK, DT_F32, x, d)) {
        atomic_inc(&out[0]);
        atomic_min(&out[1], id);
    }
#else
    if (get_global_id(0) == 0)
        out[3] = 1u;
#endif
}
