/* bitsandbytes NF4/FP4 quantize of bf16/f16 input in blocks of 64
 * (src/ref/ref_bnb4.c): a work-item a block on a grid-stride loop, so no
 * work-items exchange maxima. On the H200 this gave 68% of the copy for
 * bf16 and 59% for f16, against 67% and 57% with four work-items a block
 * exchanging through local memory (a barrier each step), and 64% and 59%
 * when each block's 128 bytes were also loaded a step ahead (128
 * registers). Block maxima are integer maxima of the 16-bit magnitudes;
 * codes come from one lookup each in qkf_bnb_code_table, the code of
 * ftz(v) for every f32 v.
 *
 * Products are native where they are the reference's mul_ftz on any
 * device: block finite, r normal, and every nonzero input large enough
 * that its product is >= 2^-125 (bf16 blocks test that; f16 values are all
 * normal as f32, >= 2^-24, so their products are >= 2^-24 / 65504 >
 * 2^-41). Operands and results are then normal, so a flush mode cannot
 * matter. Other blocks take qk_mul_ftz; a block holding NaN or Inf, and a
 * partial last block, also take the reference's absmax. */

static inline uint bnb64_lookup(__local const uint *tab, uint v)
{
    uint e = tab[v >> 21];
    return (v << 11) > e ? (e & 15u) : ((e >> 4) & 15u);
}

/* Codes of a plain lane (element 2j in the high nibble of byte j). */
static inline uint2 bnb64_codes_plain(int dt, const uint *w, float f, __local const uint *tab)
{
    uint2 out = (uint2)(0u, 0u);
#pragma unroll
    for (int k = 0; k < 8; k++) {
        uint c = (bnb64_lookup(tab, as_uint(as_float(widen_low_finite(dt, w[k])) * f)) << 4) |
                 bnb64_lookup(tab, as_uint(as_float(widen_high_finite(dt, w[k])) * f));
        if (k < 4)
            out.x |= c << (8 * k);
        else
            out.y |= c << (8 * (k - 4));
    }
    return out;
}

/* w[j] for a j that stays a variable (a rolled loop) by selects with
 * constant indices: an array indexed by a variable lives in local memory
 * on NVIDIA, where every step stored the lane's words (57% of the copy). */
static inline uint bnb64_pick8(const uint *w, int j)
{
    uint a = (j & 1) ? w[1] : w[0], b = (j & 1) ? w[3] : w[2];
    uint c = (j & 1) ? w[5] : w[4], d = (j & 1) ? w[7] : w[6];
    uint lo = (j & 2) ? b : a, hi = (j & 2) ? d : c;
    return (j & 4) ? hi : lo;
}

/* The reference's codes by mul_ftz (rare: a rolled loop). No product is
 * Inf (|x| <= absmax, and an Inf absmax has r = 0), so the table's NaN
 * bucket meets only NaN. */
static inline uint2 bnb64_codes_exact(int dt, const uint *w, uint r, __local const uint *tab)
{
    uint2 out = (uint2)(0u, 0u);
    for (int k = 0; k < 16; k++) {
        uint word = bnb64_pick8(w, k / 2);
        uint h = (k & 1) ? word >> 16 : word & 0xFFFFu;
        uint c = bnb64_lookup(tab, qk_mul_ftz(widen16(dt, h), r));
        uint sh = ((k / 2) & 3) * 8 + ((k & 1) ? 0 : 4);
        if (k < 8)
            out.x |= c << sh;
        else
            out.y |= c << sh;
    }
    return out;
}

/* The reference's absmax of block b (elements past n are its +0 padding). */
static inline uint bnb64_exact_absmax(__global const uchar *in, int dt, ulong n, ulong b)
{
    uint key = 0u;
    for (ulong i = b * 64; i < b * 64 + 64; i++)
        key = max(key, bnb_key(i < n ? ld(in, dt, i) : 0u));
    return key != 0u ? key - 1u : 0xFF7FFFFFu;
}

/* The 32 bytes of codes of block b, its 32 words w (+0 past n), by the
 * reference's arithmetic; the absmax too (work-item 0's part of a partial
 * last block, and blocks holding NaN or Inf), which it returns. */
static inline uint bnb64_block_exact(__global const uchar *in, int dt, ulong n, ulong b, const uint *w,
                                     __global const uint *rcp, __local const uint *tab, uint2 *c,
                                     __global uint *absmax)
{
    uint am = bnb64_exact_absmax(in, dt, n, b), r = bnb_rcp(dt, am, rcp);
    absmax[b] = am;
#pragma unroll
    for (int g = 0; g < 4; g++)
        c[g] = bnb64_codes_exact(dt, w + 8 * g, r, tab);
    return am;
}

/* Every work-item first: its mean-record slot emptied (double quant) and
 * its share of the code table copied to local memory, then one barrier. */
static inline void bnb64_setup(__global const uint *codes, __local uint *tab, const int with_rec, __local ulong *ls,
                               __local int *lb)
{
    if (with_rec) { /* this work-item's running sum (bnb_rec_merge): empty */
        ls[get_local_id(0)] = 0;
        lb[get_local_id(0)] = 0;
    }
    for (uint i = get_local_id(0); i < 2048u; i += get_local_size(0))
        tab[i] = codes[i];
    barrier(CLK_LOCAL_MEM_FENCE);
}

/* The codes c of the partial last block `whole` (n not a multiple of 64),
 * byte by byte up to the data's end. */
static inline void bnb64_store_partial(__global uchar *data, ulong n, ulong whole, const uint2 *c)
{
    ulong o = whole * 32, nbytes = (n + 1) / 2;
    for (ulong j = 0; o + j < nbytes; j++) {
        uint2 cg = j < 8 ? c[0] : j < 16 ? c[1] : j < 24 ? c[2] : c[3];
        data[o + j] = (uchar)(((j & 7) < 4 ? cg.x : cg.y) >> (8 * (j & 3)));
    }
}

/* The work-group's mean record from its work-items' slots (double quant). */
static inline void bnb64_rec_write(__local ulong *ls, __local int *lb, __global uint *rec)
{
    ulong rs = ls[get_local_id(0)];
    int rb = lb[get_local_id(0)];
    bnb_rec_group(&rs, &rb, ls, lb);
    if (get_local_id(0) == 0u) {
        ulong g = get_group_id(0);
        rec[4 * g] = (uint)rs;
        rec[4 * g + 1] = (uint)(rs >> 32);
        rec[4 * g + 2] = (uint)rb;
        rec[4 * g + 3] = rs >= BNB_REC_LIM ? 2u : 0u;
    }
}

/* with_rec (a constant): double quant's kernel, which also makes the
 * mean's records as it writes the absmax (bnb_rec_merge in bnb4.cl): each
 * work-item merges the absmax of its blocks, the work-group merges those,
 * and rec[group] = {sum low, sum high, base, flags} (flags 2: no proof).
 * No pass re-reads the absmax for them, and one record a work-group. A
 * work-item's running sum lives in its own slot of ls/lb, merged after
 * the block's codes are stored: no registers held across the loop, whose
 * 32 input words already fill them. */
static inline void bnb4_q64_body(__global const uchar *in, const int dt, ulong n, __global const uint *rcp,
                                 __global const uint *codes, __global uchar *data, __global uint *absmax,
                                 __local uint *tab, const int with_rec, __global uint *rec, __local ulong *ls,
                                 __local int *lb)
{
    bnb64_setup(codes, tab, with_rec, ls, lb);
    const uint inf16 = dt == DT_BF16 ? 0x7F80u : 0x7C00u;
    __global const uint4 *src = (__global const uint4 *)in;
    __global uint4 *dst = (__global uint4 *)data;
    ulong whole = n / 64, stride = get_global_size(0);
    for (ulong b = get_global_id(0); b < whole; b += stride) {
        uint w[32];
#pragma unroll
        for (int k = 0; k < 8; k++) {
            uint4 v = src[8 * b + k];
            w[4 * k] = v.s0;
            w[4 * k + 1] = v.s1;
            w[4 * k + 2] = v.s2;
            w[4 * k + 3] = v.s3;
        }
        uint mh = 0u, ml = 0u;
#pragma unroll
        for (int k = 0; k < 32; k++) {
            mh = max(mh, w[k] & 0x7FFF0000u);
            ml = max(ml, w[k] & 0x7FFFu);
        }
        uint m16 = max(mh >> 16, ml);
        uint2 c[4];
        uint am;
        if (m16 < inf16) {
            am = qk_f32_ftz(widen16(dt, m16));
            uint r = bnb_rcp(dt, am, rcp);
            absmax[b] = am;
            /* bf16: magnitudes below t (exponent field 129 - r's, at least
             * 1) may have products below 2^-125 */
            uint small = 0u;
            if (dt == DT_BF16) {
                uint t = (uint)clamp(129 - (int)((r >> 23) & 0xFFu), 1, 255) << 7;
#pragma unroll
                for (int k = 0; k < 32; k++)
                    small |= qk_halves_nonzero_below(w[k], t);
            }
            if (qk_is_normal(r) && small == 0u) {
#pragma unroll
                for (int g = 0; g < 4; g++)
                    c[g] = bnb64_codes_plain(dt, w + 8 * g, as_float(r), tab);
            } else {
#pragma unroll
                for (int g = 0; g < 4; g++)
                    c[g] = bnb64_codes_exact(dt, w + 8 * g, r, tab);
            }
        } else {
            am = bnb64_block_exact(in, dt, n, b, w, rcp, tab, c, absmax);
        }
        dst[2 * b] = (uint4)(c[0].x, c[0].y, c[1].x, c[1].y);
        dst[2 * b + 1] = (uint4)(c[2].x, c[2].y, c[3].x, c[3].y);
        if (with_rec)
            bnb_rec_slot(ls, lb, am);
    }
    if (get_global_id(0) == 0 && (n & 63) != 0) { /* the partial last block, +0 past n */
        uint w[32];
        __global const ushort *h = (__global const ushort *)in;
#pragma unroll
        for (int k = 0; k < 32; k++) {
            ulong e = whole * 64 + 2 * (ulong)k;
            w[k] = (e < n ? (uint)h[e] : 0u) | (e + 1 < n ? (uint)h[e + 1] << 16 : 0u);
        }
        uint2 c[4];
        uint am = bnb64_block_exact(in, dt, n, whole, w, rcp, tab, c, absmax);
        if (with_rec)
            bnb_rec_slot(ls, lb, am);
        bnb64_store_partial(data, n, whole, c);
    }
    if (with_rec)
        bnb64_rec_write(ls, lb, rec);
}

/* bf16/f16 input, block size 64. codes: the format's qkf_bnb_code_table;
 * tab: its 2048 words in local memory. */
__kernel void bnb4_quantize64(__global const uchar *in, int dt, ulong n, __global const uint *rcp,
                              __global const uint *codes, __global uchar *data, __global uint *absmax,
                              __local uint *tab)
{
    if (dt == DT_BF16)
        bnb4_q64_body(in, DT_BF16, n, rcp, codes, data, absmax, tab, 0, 0, 0, 0);
    else
        bnb4_q64_body(in, DT_F16, n, rcp, codes, data, absmax, tab, 0, 0, 0, 0);
}

/* The same for double quant, with the mean's records: rec[4 * group ..]
 * for each work-group (ls, lb: a ulong and an int a work-item). A kernel
 * of its own, so that plain NF4/FP4 keeps its registers. */
__kernel void bnb4_quantize64_rec(__global const uchar *in, int dt, ulong n, __global const uint *rcp,
                                  __global const uint *codes, __global uchar *data, __global uint *absmax,
                                  __local uint *tab, __global uint *rec, __local ulong *ls, __local int *lb)
{
    if (dt == DT_BF16)
        bnb4_q64_body(in, DT_BF16, n, rcp, codes, data, absmax, tab, 1, rec, ls, lb);
    else
        bnb4_q64_body(in, DT_F16, n, rcp, codes, data, absmax, tab, 1, rec, ls, lb);
}

/* ---- f32 input in blocks of 64 (bnb4_quantize64_f32) -------------------
 * The same form: a work-item a block (16 loads of 16 bytes, no exchange
 * of maxima, no barrier in the loop), a kernel of its own so that the
 * 16-bit kernels keep their registers (this one holds 64 words). Against
 * bnb4_quantize (segments of 8 work-items, maxima through local memory
 * with barriers, every block read twice, qk_mul_ftz and a division per
 * work-item of 8 elements): each block is read once, one division a
 * block, and the products are native where they are provably mul_ftz's.
 *
 * absmax = ftz(max |x|) for a finite block (ftz keeps the order of the
 * magnitude bits), r = bnb_rcp (the program's qk_div, flushed). A block
 * is plain when r is normal and every nonzero |x| has an exponent field
 * of at least 129 - r's (at least 1): then x is normal and
 * 2^-125 <= |x r| <= about 1, so operands and product are normal and the
 * native product is mul_ftz's on any device, whatever it flushes. Other
 * blocks take qk_mul_ftz; blocks holding NaN or Inf, and the partial last
 * block, also the reference's absmax. Both read the block again from
 * global memory in a rolled loop (rare), so that x[] is only ever indexed
 * by constants and stays in registers. */

/* Codes of 16 plain elements x[0..15] (element 2j in the high nibble of
 * byte j). */
static inline uint2 bnb64f_codes_plain(const uint *x, float f, __local const uint *tab)
{
    uint2 out = (uint2)(0u, 0u);
#pragma unroll
    for (int j = 0; j < 8; j++) {
        uint c = (bnb64_lookup(tab, as_uint(as_float(x[2 * j]) * f)) << 4) |
                 bnb64_lookup(tab, as_uint(as_float(x[2 * j + 1]) * f));
        if (j < 4)
            out.x |= c << (8 * j);
        else
            out.y |= c << (8 * (j - 4));
    }
    return out;
}

/* The 32 bytes of codes of block b by mul_ftz with r, its elements read
 * again from in (+0 past n). One rolled loop; the words of codes are
 * scalars set by selects, as an array indexed by a variable would live
 * in memory (bnb64_pick8). */
static inline void bnb64f_codes_exact(__global const uint *in, ulong n, ulong b, uint r, __local const uint *tab,
                                      uint2 *c)
{
    uint2 c0 = (uint2)(0u, 0u), c1 = c0, c2 = c0, c3 = c0;
    uint lo = 0u, hi = 0u;
    for (int k = 0; k < 64; k++) {
        ulong i = b * 64 + (ulong)k;
        uint add = bnb64_lookup(tab, qk_mul_ftz(i < n ? in[i] : 0u, r)) << (((k / 2) & 3) * 8 + ((k & 1) ? 0 : 4));
        if ((k & 8) == 0)
            lo |= add;
        else
            hi |= add;
        if ((k & 15) == 15) {
            uint2 w = (uint2)(lo, hi);
            int g = k >> 4;
            c0 = g == 0 ? w : c0;
            c1 = g == 1 ? w : c1;
            c2 = g == 2 ? w : c2;
            c3 = g == 3 ? w : c3;
            lo = 0u;
            hi = 0u;
        }
    }
    c[0] = c0;
    c[1] = c1;
    c[2] = c2;
    c[3] = c3;
}

static inline void bnb4_q64_f32_body(__global const uchar *in, ulong n, __global const uint *codes,
                                     __global uchar *data, __global uint *absmax, __local uint *tab,
                                     const int with_rec, __global uint *rec, __local ulong *ls, __local int *lb)
{
    bnb64_setup(codes, tab, with_rec, ls, lb);
    __global const uint *in32 = (__global const uint *)in;
    __global const uint4 *src = (__global const uint4 *)in;
    __global uint4 *dst = (__global uint4 *)data;
    ulong whole = n / 64, stride = get_global_size(0);
    for (ulong b = get_global_id(0); b < whole; b += stride) {
        uint x[64];
        /* m: max |x| (NaN above Inf); lo: the least nonzero |x| less one
         * (a zero wraps to the largest), for the plain test */
        uint m = 0u, lo = 0xFFFFFFFFu;
#pragma unroll
        for (int k = 0; k < 16; k++) {
            uint4 v = src[16 * b + k];
            x[4 * k] = v.s0;
            x[4 * k + 1] = v.s1;
            x[4 * k + 2] = v.s2;
            x[4 * k + 3] = v.s3;
        }
#pragma unroll
        for (int k = 0; k < 64; k++) {
            uint a = x[k] & QK_F32_ABS;
            m = max(m, a);
            lo = min(lo, a - 1u);
        }
        /* NaN or Inf in the block: the reference's absmax (ftz(m) below) */
        uint am = m < QK_F32_INF ? qk_f32_ftz(m) : bnb64_exact_absmax(in, DT_F32, n, b);
        uint r = bnb_rcp(DT_F32, am, 0);
        absmax[b] = am;
        uint t = (uint)clamp(129 - (int)((r >> 23) & 0xFFu), 1, 255) << 23;
        uint2 c[4];
        if (m < QK_F32_INF && qk_is_normal(r) && lo >= t - 1u) {
#pragma unroll
            for (int g = 0; g < 4; g++)
                c[g] = bnb64f_codes_plain(x + 16 * g, as_float(r), tab);
        } else {
            bnb64f_codes_exact(in32, n, b, r, tab, c);
        }
        dst[2 * b] = (uint4)(c[0].x, c[0].y, c[1].x, c[1].y);
        dst[2 * b + 1] = (uint4)(c[2].x, c[2].y, c[3].x, c[3].y);
        if (with_rec)
            bnb_rec_slot(ls, lb, am);
    }
    if (get_global_id(0) == 0 && (n & 63) != 0) { /* the partial last block, +0 past n */
        uint2 c[4];
        uint am = bnb64_exact_absmax(in, DT_F32, n, whole);
        absmax[whole] = am;
        bnb64f_codes_exact(in32, n, whole, bnb_rcp(DT_F32, am, 0), tab, c);
        if (with_rec)
            bnb_rec_slot(ls, lb, am);
        bnb64_store_partial(data, n, whole, c);
    }
    if (with_rec)
        bnb64_rec_write(ls, lb, rec);
}

/* f32 input, block size 64; arguments as bnb4_quantize64's less dt and
 * the 16-bit reciprocal tables. */
__kernel void bnb4_quantize64_f32(__global const uchar *in, ulong n, __global const uint *codes,
                                  __global uchar *data, __global uint *absmax, __local uint *tab)
{
    bnb4_q64_f32_body(in, n, codes, data, absmax, tab, 0, 0, 0, 0);
}

/* The same for double quant, with the mean's records (bnb4_quantize64_rec). */
__kernel void bnb4_quantize64_f32_rec(__global const uchar *in, ulong n, __global const uint *codes,
                                      __global uchar *data, __global uint *absmax, __local uint *tab,
                                      __global uint *rec, __local ulong *ls, __local int *lb)
{
    bnb4_q64_f32_body(in, n, codes, data, absmax, tab, 1, rec, ls, lb);
}
