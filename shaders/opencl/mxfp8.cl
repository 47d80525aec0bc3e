/* MXFP8 (src/ref/ref_mxfp8.c). A work-item codes one 32-element block of a
 * row of the 32x32-padded tensor from registers (one read of the input).
 * The scale exponent comes from s = bamax / 448 (qk_div: native only where
 * operands and result are normal) and qk_e8m0_ceil_fast; the codes from
 * qk_mxfp8_code, the reference's division by 2^(e-127) done exactly as an
 * exponent change in integer code, so nothing a device does with
 * subnormals can change a byte. A non-finite block raises *status (the host
 * then reports QK_ERR_NONFINITE). */
static inline void mxfp8_quantize_body(__global const uchar *in, const int dt, ulong rows, ulong cols, ulong rp,
                                       ulong ncb, __global uchar *data, __global uchar *scale,
                                       __global uint *status)
{
    int aligned = (cols & 7) == 0;
    for (ulong r = get_global_id(1); r < rp; r += get_global_size(1))
        for (ulong cb = get_global_id(0); cb < ncb; cb += get_global_size(0)) {
            ulong base = r * cols + cb * 32, end = r < rows ? r * cols + cols : 0;
            uint x[32];
#pragma unroll
            for (int k = 0; k < 32; k += 8)
                ld8_any(in, dt, base + (ulong)k, end, aligned, x + k);
            uint bamax = 0u;
#pragma unroll
            for (int k = 0; k < 32; k++)
                bamax = max(bamax, x[k] & QK_F32_ABS);
            if (bamax >= QK_F32_INF)
                atomic_max(status, bamax);
            uint e = 0u;
            if (bamax != 0u) {
                uint s = qk_div(bamax, QK_F32_E4M3_MAX);
                e = qk_e8m0_ceil_fast(s < QK_F32_E8M0_MIN ? QK_F32_E8M0_MIN : s);
            }
            scale[blocked_offset(r, cb, ncb)] = (uchar)e;
            uint w[8];
#pragma unroll
            for (int k = 0; k < 8; k++)
                w[k] = bamax == 0u ? 0u
                                   : pack4(qk_mxfp8_code(x[4 * k], e), qk_mxfp8_code(x[4 * k + 1], e),
                                           qk_mxfp8_code(x[4 * k + 2], e), qk_mxfp8_code(x[4 * k + 3], e));
            /* row stride ncb*32 bytes: 16-byte aligned */
            __global uint4 *out = (__global uint4 *)data + (r * ncb + cb) * 2;
            out[0] = (uint4)(w[0], w[1], w[2], w[3]);
            out[1] = (uint4)(w[4], w[5], w[6], w[7]);
        }
}

__kernel void mxfp8_quantize(__global const uchar *in, int dt, ulong rows, ulong cols, ulong rp,
                             ulong ncb, __global uchar *data, __global uchar *scale,
                             __global uint *status)
{
    QK_GPU_BY_DTYPE(dt, mxfp8_quantize_body(in, DTC, rows, cols, rp, ncb, data, scale, status));
}

/* The same for bf16/f16 rows of whole 8-element vectors (the usual case),
 * in fewer operations: a grid-stride loop over blocks that loads each
 * block's 64 bytes a step ahead, and codes without integer division.
 *
 * The exponent comes from qk_mxfp8_exponent_fast when the amax is >=
 * 2^-100 (always, for f16). Then x / 2^(e-127) is x * 2^(127-e), the same
 * real rounded once, and the native product is exact wherever x and the
 * product are normal. Where either is not, the product is < 2^-18
 * (2^(127-e) <= 2^108 against |x| < 2^-126, or the product itself below
 * 2^-126), so its code is the zero of x's sign whatever the device does
 * with subnormals. The product never exceeds 448 (no clamp needed). A
 * smaller amax (bf16 only) takes mxfp8_quantize's arithmetic. */

/* e4m3 code of x * f, f = 2^(127-e): the magnitude by one rounding add on
 * the bits in e4m3's normal range (>= 2^-6), below it by the exact sum
 * with 2^14, whose ulp is e4m3's subnormal step 2^-9. */
static inline uint mx16_code(uint x, float f)
{
    float p = fabs(as_float(x)) * f;
    float q = p + 16384.0f;
    uint u = as_uint(p);
    uint m = u < 0x3C800000u ? as_uint(q) - 0x46800000u : ((u + 0x7FFFFu + ((u >> 20) & 1u)) >> 20) - (120u << 3);
    return ((x >> 24) & 0x80u) | m;
}

/* The grid-stride walk of mxfp8_quantize16 and mxfp8_quantize32 over the
 * rp x ncb blocks: block b is (r, cb), and the stride, split once into
 * whole rows and blocks (step_r, step_c), advances it with no division. */
typedef struct {
    uint b, r, cb, stride, step_r, step_c;
} mx_walk;

static inline mx_walk mx_walk_start(uint ncb)
{
    mx_walk w;
    w.stride = (uint)get_global_size(0);
    w.b = (uint)get_global_id(0);
    w.r = w.b / ncb;
    w.cb = w.b - w.r * ncb;
    w.step_r = w.stride / ncb;
    w.step_c = w.stride - w.step_r * ncb;
    return w;
}

/* The block a stride after the walk's. */
static inline void mx_walk_next(const mx_walk *w, uint ncb, uint *nr, uint *nc)
{
    *nr = w->r + w->step_r;
    *nc = w->cb + w->step_c;
    if (*nc >= ncb) {
        *nc -= ncb;
        (*nr)++;
    }
}

/* Vector k of block (r, cb), per elements a vector (8: 16-bit, 4: f32),
 * +0 past the rows or columns (cols a multiple of per). */
static inline uint4 mx_load(__global const uint4 *in, uint rows, ulong cols, uint r, uint cb, uint k, const uint per)
{
    ulong c = (ulong)cb * 32 + per * k;
    return r < rows && c < cols ? in[((ulong)r * cols + c) / per] : (uint4)(0u);
}

/* Block b's scale byte and 32 codes (lo, hi). */
static inline void mx_store_block(__global uint4 *data, __global uchar *scale, const mx_walk *w, uint ncb, uint e,
                                  uint4 lo, uint4 hi)
{
    scale[blocked_offset(w->r, w->cb, ncb)] = (uchar)e;
    data[2 * (ulong)w->b] = lo;
    data[2 * (ulong)w->b + 1] = hi;
}

static inline void mxfp8_quantize16_body(__global const uint4 *in, const int dt, uint rows, ulong cols, uint rp,
                                         uint ncb, __global uint4 *data, __global uchar *scale,
                                         __global uint *status)
{
    uint nb = rp * ncb;
    mx_walk at = mx_walk_start(ncb);
    uint4 v[4];
    if (at.b < nb)
#pragma unroll
        for (uint k = 0; k < 4u; k++)
            v[k] = mx_load(in, rows, cols, at.r, at.cb, k, 8u);
    for (; at.b < nb; at.b += at.stride) {
        uint w[16], nr, nc;
#pragma unroll
        for (uint k = 0; k < 4u; k++) {
            w[4 * k] = v[k].x;
            w[4 * k + 1] = v[k].y;
            w[4 * k + 2] = v[k].z;
            w[4 * k + 3] = v[k].w;
        }
        mx_walk_next(&at, ncb, &nr, &nc);
        if (at.b + at.stride < nb)
#pragma unroll
            for (uint k = 0; k < 4u; k++)
                v[k] = mx_load(in, rows, cols, nr, nc, k, 8u);
        uint mh = 0u, ml = 0u;
#pragma unroll
        for (int k = 0; k < 16; k++) {
            mh = max(mh, w[k] & 0x7FFF0000u);
            ml = max(ml, w[k] & 0x7FFFu);
        }
        uint m16 = max(mh >> 16, ml), e = 0u;
        uint4 lo = (uint4)(0u), hi = (uint4)(0u); /* a zero block: scale byte 0, +0 data */
        if (m16 >= (dt == DT_BF16 ? 0x7F80u : 0x7C00u)) {
            atomic_max(status, widen16(dt, m16)); /* NaN or Inf: the call fails */
        } else if (m16 != 0u) {
            uint am = widen16(dt, m16), c[16];
            if (am >= 0x0D800000u) { /* 2^-100 */
                e = qk_mxfp8_exponent_fast(am);
                float f = as_float((254u - e) << 23);
#pragma unroll
                for (int k = 0; k < 16; k++)
                    c[k] = mx16_code(widen_low_finite(dt, w[k]), f) | (mx16_code(widen_high_finite(dt, w[k]), f) << 8);
            } else {
                uint s = qk_div(am, QK_F32_E4M3_MAX);
                e = qk_e8m0_ceil_fast(s < QK_F32_E8M0_MIN ? QK_F32_E8M0_MIN : s);
#pragma unroll
                for (int k = 0; k < 16; k++)
                    c[k] = qk_mxfp8_code(widen16(dt, w[k] & 0xFFFFu), e) | (qk_mxfp8_code(widen16(dt, w[k] >> 16), e) << 8);
            }
            lo = (uint4)(c[0] | c[1] << 16, c[2] | c[3] << 16, c[4] | c[5] << 16, c[6] | c[7] << 16);
            hi = (uint4)(c[8] | c[9] << 16, c[10] | c[11] << 16, c[12] | c[13] << 16, c[14] | c[15] << 16);
        }
        mx_store_block(data, scale, &at, ncb, e, lo, hi);
        at.r = nr;
        at.cb = nc;
    }
}

__kernel void mxfp8_quantize16(__global const uint4 *in, int dt, uint rows, ulong cols, uint rp, uint ncb,
                               __global uint4 *data, __global uchar *scale, __global uint *status)
{
    QK_GPU_BY_DTYPE(dt, mxfp8_quantize16_body(in, DTC, rows, cols, rp, ncb, data, scale, status));
}

/* The same for f32 rows of whole 4-element vectors: a block is 8 vectors,
 * loaded a step ahead. The codes are mx16_code's on the f32 bits where the
 * amax is >= 2^-100 (qk_mxfp8_exponent_fast holds for every such f32 amax,
 * and the block's largest product is at most 448): x * 2^(127-e) is exact
 * where x and the product are normal, and where either is not it is below
 * 2^-18, code the zero of x's sign, as in mxfp8_quantize16. Smaller
 * amaxes take qk_mxfp8_code. */
__kernel void mxfp8_quantize32(__global const uint4 *in, uint rows, ulong cols, uint rp, uint ncb,
                               __global uint4 *data, __global uchar *scale, __global uint *status)
{
    uint nb = rp * ncb;
    mx_walk at = mx_walk_start(ncb);
    uint4 v[8];
    if (at.b < nb)
#pragma unroll
        for (uint k = 0; k < 8u; k++)
            v[k] = mx_load(in, rows, cols, at.r, at.cb, k, 4u);
    for (; at.b < nb; at.b += at.stride) {
        uint x[32], nr, nc;
#pragma unroll
        for (uint k = 0; k < 8u; k++) {
            x[4 * k] = v[k].x;
            x[4 * k + 1] = v[k].y;
            x[4 * k + 2] = v[k].z;
            x[4 * k + 3] = v[k].w;
        }
        mx_walk_next(&at, ncb, &nr, &nc);
        if (at.b + at.stride < nb)
#pragma unroll
            for (uint k = 0; k < 8u; k++)
                v[k] = mx_load(in, rows, cols, nr, nc, k, 4u);
        uint m = 0u, e = 0u, c[8];
#pragma unroll
        for (int k = 0; k < 32; k++)
            m = max(m, x[k] & QK_F32_ABS);
        uint4 lo = (uint4)(0u), hi = (uint4)(0u); /* a zero block: scale byte 0, +0 data */
        if (m >= QK_F32_INF) {
            atomic_max(status, m); /* NaN or Inf: the call fails */
        } else if (m >= 0x0D800000u) { /* 2^-100 */
            e = qk_mxfp8_exponent_fast(m);
            float f = as_float((254u - e) << 23);
#pragma unroll
            for (int k = 0; k < 8; k++)
                c[k] = pack4(mx16_code(x[4 * k], f), mx16_code(x[4 * k + 1], f), mx16_code(x[4 * k + 2], f),
                             mx16_code(x[4 * k + 3], f));
            lo = (uint4)(c[0], c[1], c[2], c[3]);
            hi = (uint4)(c[4], c[5], c[6], c[7]);
        } else if (m != 0u) {
            uint s = qk_div(m, QK_F32_E4M3_MAX);
            e = qk_e8m0_ceil_fast(s < QK_F32_E8M0_MIN ? QK_F32_E8M0_MIN : s);
#pragma unroll
            for (int k = 0; k < 8; k++)
                c[k] = pack4(qk_mxfp8_code(x[4 * k], e), qk_mxfp8_code(x[4 * k + 1], e),
                             qk_mxfp8_code(x[4 * k + 2], e), qk_mxfp8_code(x[4 * k + 3], e));
            lo = (uint4)(c[0], c[1], c[2], c[3]);
            hi = (uint4)(c[4], c[5], c[6], c[7]);
        }
        mx_store_block(data, scale, &at, ncb, e, lo, hi);
        at.r = nr;
        at.cb = nc;
    }
}

/* Dequantize walks rows (cuda/k_blocked.cuh): a work-group strides over
 * batches of R rows, each work-item over 8-column vectors of one row (vpr
 * = ceil(cols / 8) a row), with the row's part of the blocked scale offset
 * computed once per row. lut: 256 uints of local memory, the e4m3 values.
 * No NaN scale (E8M0 0xFF) and no NaN code (0x7F, 0xFF) in a whole vector:
 * no product is NaN and both operands are finite, so qk_mul_finite and
 * narrow_finite give qk_mul's and narrow's bits. */
static inline void mxfp8_dequantize_body(__global const uchar *data, __global const uchar *scale, const int dt,
                                         ulong rows, ulong cols, ulong ncb, uint vpr, uint R,
                                         __global uchar *out, __local uint *lut)
{
    for (uint k = get_local_id(0); k < 256u; k += get_local_size(0))
        lut[k] = qk_e4m3_to_f32(k);
    barrier(CLK_LOCAL_MEM_FENCE);
    uint lid = get_local_id(0), L = get_local_size(0);
    uint lr = lid / vpr, lc = lid - lr * vpr;
    if (lr >= R)
        return; /* no barrier follows */
    ulong rstep = (ulong)get_num_groups(0) * R;
    for (ulong r = (ulong)get_group_id(0) * R + lr; r < rows; r += rstep) {
        ulong srow = blocked_row_part(r, ncb);
        for (uint c = lc; c < vpr; c += L) {
            ulong c0 = (ulong)c * 8, i = r * cols + c0;
            uint sb = scale[srow + blocked_col_part(c >> 2)];
            uint s = qk_e8m0_to_f32(sb);
            uint2 w = ((__global const uint2 *)data)[(r * ncb * 32 + c0) / 8];
            uint h[8];
            int finite = sb != 0xFFu && !(qk_bytes_have_mask(w.s0, 0x7F7F7F7Fu) | qk_bytes_have_mask(w.s1, 0x7F7F7F7Fu));
            if (finite && dt == DT_BF16 && sb - 10u <= 235u) {
                /* 2^-117 <= s <= 2^118: every nonzero product of an e4m3
                 * value (2^-9 <= |v| <= 448, at most 4 significant bits)
                 * is a normal bf16 value, so its RNE is its high half */
#pragma unroll
                for (int j = 0; j < 8; j++)
                    h[j] = qk_mul_finite(lut[((j < 4 ? w.s0 : w.s1) >> (8 * (j & 3))) & 0xFFu], s) >> 16;
            } else if (finite) {
#pragma unroll
                for (int j = 0; j < 8; j++)
                    h[j] = narrow_finite(dt, qk_mul_finite(lut[((j < 4 ? w.s0 : w.s1) >> (8 * (j & 3))) & 0xFFu], s));
            } else {
#pragma unroll
                for (int j = 0; j < 8; j++)
                    h[j] = narrow(dt, qk_mul(lut[((j < 4 ? w.s0 : w.s1) >> (8 * (j & 3))) & 0xFFu], s));
            }
            if ((cols & 7) == 0 || c0 + 8 <= cols)
                st8_raw(out, dt, i, r * cols + cols, h);
            else
                for (ulong j = 0; j < 8 && c0 + j < cols; j++)
                    st_raw(out, dt, i + j, h[j]);
        }
    }
}

__kernel void mxfp8_dequantize(__global const uchar *data, __global const uchar *scale, int dt,
                               ulong rows, ulong cols, ulong ncb, uint vpr, uint R, __global uchar *out,
                               __local uint *lut)
{
    QK_GPU_BY_DTYPE(dt, mxfp8_dequantize_body(data, scale, DTC, rows, cols, ncb, vpr, R, out, lut));
}
