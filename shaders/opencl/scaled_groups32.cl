/* float8 and int8 quantize of f32 input in row (float8, int8_tensorwise)
 * or tile (float8, int8_blockwise) scale groups, in one pass:
 * scaled_groups16.cl's geometry and helpers (a work-group strides over the
 * groups; 64 work-items for groups of up to 4096 elements, 256 up to
 * 16384; eight 8-element units a work-item, two uint4 each, held in
 * registers between the group's amax and its codes), so the input is read
 * once where scaled_quantize_groups reads it twice. The host sends groups
 * whose width is a multiple of 8. int8 codes by one product with RN(1/d)
 * (int8_code_f32_bounded); a unit with a quotient near a halfway point (about
 * 2^-12 of values) is coded again by scaled_code from the input (just
 * read, so from cache) in rolled loops, its store after the product
 * codes' store of the same work-item. float8 codes by one product with the
 * multiplier (fp8_code_f32). A group without a factor (f32_product_factor)
 * codes every unit by scaled_code. */

/* The float8 code of a finite f32 x with the multiplier a
 * (f32_product_factor): scaled_code's fp8(clamp(RN(x a))), T being the
 * identity for f32. The product of |x| is IEEE's (correctly rounded,
 * QK_F32_PRODUCTS) wherever it is normal; below 2^-126 -- a product or an
 * x that the device may flush -- |x a| < 2^-26 (a < 2^100) is under half
 * the smallest float8 step, and the code is x's sign alone either way, as
 * the reference's (whose zero x keeps its sign). No product overflows:
 * |x| <= amax and a = RN(1/RN(amax / fpmax)). */
static inline uint fp8_code_f32(const int fmt, uint x, float a)
{
    return fp8_code_t(fmt, as_uint(fabs(as_float(x)) * a)) | ((x >> 24) & 0x80u);
}

/* Unit v of group G by scaled_code, each element loaded again. */
static inline void group32_unit_exact(__global const uint4 *in, group16 G, ulong cols, uint v, const int fmt,
                                      uint d, __global uint2 *data)
{
    ulong i = group16_vector(G, cols, v); /* in units of 8 elements */
    __global const uint *x = (__global const uint *)in + 8 * i;
    uint lo = 0u, hi = 0u;
#pragma unroll 1
    for (uint e = 0; e < 8u; e++) {
        uint c = scaled_code(fmt, DT_F32, x[e], d);
        lo |= e < 4u ? c << (8u * e) : 0u;
        hi |= e < 4u ? 0u : c << (8u * (e - 4u));
    }
    data[i] = (uint2)(lo, hi);
}

static inline uint max_abs4(uint4 w)
{
    return max(max(w.x & QK_F32_ABS, w.y & QK_F32_ABS), max(w.z & QK_F32_ABS, w.w & QK_F32_ABS));
}

/* The four codes of w by products with the factor r (nonzero); int8 sets
 * *near where one must be coded again. */
static inline uint group32_codes4(const int fmt, uint4 w, float r, int *near)
{
    if (fmt == FMT_E4M3 || fmt == FMT_E5M2)
        return pack4(fp8_code_f32(fmt, w.x, r), fp8_code_f32(fmt, w.y, r), fp8_code_f32(fmt, w.z, r),
                     fp8_code_f32(fmt, w.w, r));
    return pack4(int8_code_f32_bounded(w.x, r, near), int8_code_f32_bounded(w.y, r, near),
                 int8_code_f32_bounded(w.z, r, near), int8_code_f32_bounded(w.w, r, near));
}

/* L work-items; fmt one of FMT_E4M3, FMT_E5M2, FMT_INT8, FMT_INT8_BLOCK. */
static inline void groups32_body(__global const uint4 *in, ulong rows, ulong cols, ulong bh, ulong bw,
                                 ulong ngroups, ulong gc, const int fmt, const uint L, __global uint *scale,
                                 __global uint2 *data, __global uint *status, __local uint *red)
{
    ulong step = get_num_groups(0);
    uint lid = get_local_id(0);
    uint4 raw[16];
    for (ulong g = get_group_id(0); g < ngroups; g += step) { /* the same g for the whole work-group */
        group16 G = group16_at(g, rows, cols, bh, bw, gc);
        uint m = 0u;
#pragma unroll
        for (int k = 0; k < 8; k++) {
            uint v = lid + (uint)k * L;
            ulong i = group16_vector(G, cols, v < G.nv ? v : 0u);
            raw[2 * k] = v < G.nv ? in[2 * i] : (uint4)(0u); /* zeros leave the max alone */
            raw[2 * k + 1] = v < G.nv ? in[2 * i + 1] : (uint4)(0u);
            m = max(m, max(max_abs4(raw[2 * k]), max_abs4(raw[2 * k + 1])));
        }
        uint s = 0u, d = 0u, r = 0u;
        if (L == 256u) {
            m = group16_scale_one(red, m, L, fmt, DT_F32, QK_F32_INF, &s, &d, &r);
        } else {
            m = group16_max(red, m, L);
            if (m < QK_F32_INF)
                s = group_scalars(fmt, DT_F32, m, &d, &r);
        }
        if (m >= QK_F32_INF) {
            if (lid == 0u)
                atomic_max(status, m); /* the op fails with QK_ERR_NONFINITE */
            continue;
        }
        if (lid == 0u)
            scale[g] = s;
        uint exact = r == 0u ? 0xFFu : 0u; /* bit k: unit k again by scaled_code */
        if (r != 0u) { /* the same for the whole work-group */
#pragma unroll
            for (int k = 0; k < 8; k++) {
                uint v = lid + (uint)k * L;
                int near = 0;
                uint2 c = (uint2)(group32_codes4(fmt, raw[2 * k], as_float(r), &near),
                                  group32_codes4(fmt, raw[2 * k + 1], as_float(r), &near));
                if (v < G.nv)
                    data[group16_vector(G, cols, v)] = c;
                exact |= near ? 1u << k : 0u;
            }
        }
#pragma unroll 1
        while (exact != 0u) {
            uint k = 31u - clz(exact & (0u - exact)), v = lid + k * L;
            exact &= exact - 1u;
            if (v < G.nv)
                group32_unit_exact(in, G, cols, v, fmt, d, data);
        }
    }
}

/* red: L + 16 uints of local memory (group16_partials, group16_scale_one). */
#define GROUPS32_KERNEL(NAME, L)                                                                   \
    __kernel __attribute__((reqd_work_group_size(L, 1, 1))) void NAME(                             \
        __global const uint4 *in, ulong rows, ulong cols, ulong bh, ulong bw, ulong ngroups, ulong gc, \
        int fmt, __global uint *scale, __global uint2 *data, __global uint *status, __local uint *red) \
    {                                                                                              \
        QK_BY_FMT(fmt, groups32_body(in, rows, cols, bh, bw, ngroups, gc, FMTC, L, scale, data, status, red)); \
    }

GROUPS32_KERNEL(scaled_quantize_groups32_4k, 64)
GROUPS32_KERNEL(scaled_quantize_groups32_16k, 256)
