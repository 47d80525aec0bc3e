/* bitsandbytes NF4/FP4 quantize of bf16/f16 input in blocks of 64
 * (src/ref/ref_bnb4.c), in the form of cuda/k_bnb4.cuh's
 * qk_bnb4_quantize64 and shaders/glsl/bnb4_quantize64.comp: four
 * work-items a block, 16 elements each, on a grid-stride loop that loads
 * each step's 32 bytes a step ahead. Block maxima are integer maxima of the
 * 16-bit magnitudes, exchanged through local memory (two halves used in
 * turn, so one barrier a step); codes come from one lookup each in
 * qkf_bnb_code_table, the code of ftz(v) for every f32 v.
 *
 * Products are native where they are the reference's mul_ftz on any
 * device: block finite, r normal, and every nonzero input large enough
 * that its product is >= 2^-125 (bf16 lanes test that; f16 values are all
 * normal as f32, >= 2^-24, so their products are >= 2^-24 / 65504 >
 * 2^-41). Operands and results are then normal, so a flush mode cannot
 * matter. Other lanes take qk_mul_ftz; a block holding NaN or Inf, and a
 * partial last block, also take the reference's absmax, which each of
 * their lanes computes from the whole block (no barrier in a branch). */

static inline uint bnb64_lookup(__local const uint *tab, uint v)
{
    uint e = tab[v >> 21];
    return (v << 11) > e ? (e & 15u) : ((e >> 4) & 15u);
}

static inline uint bnb64_low(int dt, uint w) { return dt == DT_BF16 ? w << 16 : f16_widen_finite(w & 0xFFFFu); }
static inline uint bnb64_high(int dt, uint w) { return dt == DT_BF16 ? w & 0xFFFF0000u : f16_widen_finite(w >> 16); }

/* Codes of a plain lane (element 2j in the high nibble of byte j). */
static inline uint2 bnb64_codes_plain(int dt, const uint *w, float f, __local const uint *tab)
{
    uint2 out = (uint2)(0u, 0u);
#pragma unroll
    for (int k = 0; k < 8; k++) {
        uint c = (bnb64_lookup(tab, as_uint(as_float(bnb64_low(dt, w[k])) * f)) << 4) |
                 bnb64_lookup(tab, as_uint(as_float(bnb64_high(dt, w[k])) * f));
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

static inline void bnb4_q64_body(__global const uchar *in, const int dt, ulong n, __global const uint *rcp,
                                 __global const uint *codes, __global uchar *data, __global uint *absmax,
                                 __local uint *red, __local uint *tab)
{
    uint L = get_local_size(0), lid = get_local_id(0);
    for (uint i = lid; i < 2048u; i += L)
        tab[i] = codes[i];
    barrier(CLK_LOCAL_MEM_FENCE);
    const uint inf16 = dt == DT_BF16 ? 0x7F80u : 0x7C00u;
    __global const uint4 *src = (__global const uint4 *)in;
    ulong whole = n / 64, units = (n + 63) / 64 * 4, stride = get_global_size(0);
    ulong nbytes = (n + 1) / 2;
    uint4 a = (uint4)(0u), b = (uint4)(0u);
    ulong u0 = get_group_id(0) * (ulong)L + lid;
    if (u0 < whole * 4) {
        a = src[2 * u0];
        b = src[2 * u0 + 1];
    }
    uint par = 0u;
    /* every work-item of a group takes the same steps: the barrier is in each */
    for (ulong base = get_group_id(0) * (ulong)L; base < units; base += stride, par ^= L) {
        ulong u = base + lid, blk = u / 4;
        int full = blk < whole;
        uint w[8] = {a.s0, a.s1, a.s2, a.s3, b.s0, b.s1, b.s2, b.s3};
        if (u + stride < whole * 4) {
            a = src[2 * (u + stride)];
            b = src[2 * (u + stride) + 1];
        }
        uint mh = 0u, ml = 0u;
#pragma unroll
        for (int k = 0; k < 8; k++) {
            mh = max(mh, w[k] & 0x7FFF0000u);
            ml = max(ml, w[k] & 0x7FFFu);
        }
        red[par + lid] = max(mh >> 16, ml);
        barrier(CLK_LOCAL_MEM_FENCE);
        if (u >= units)
            continue;
        uint q = par + (lid & ~3u);
        uint m16 = max(max(red[q], red[q + 1]), max(red[q + 2], red[q + 3]));
        uint2 c;
        if (full && m16 < inf16) {
            uint am = qk_f32_ftz(widen16(dt, m16)), r = bnb_rcp(dt, am, rcp);
            if ((u & 3) == 0)
                absmax[blk] = am;
            /* bf16: magnitudes below t (exponent field 129 - r's, at least
             * 1) may have products below 2^-125 */
            uint small = 0u;
            if (dt == DT_BF16) {
                uint t = (uint)clamp(129 - (int)((r >> 23) & 0xFFu), 1, 255) << 7;
#pragma unroll
                for (int k = 0; k < 8; k++)
                    small |= qk_halves_nonzero_below(w[k], t);
            }
            if (qk_is_normal(r) && small == 0u)
                c = bnb64_codes_plain(dt, w, as_float(r), tab);
            else
                c = bnb64_codes_exact(dt, w, r, tab);
        } else {
            if (!full) { /* the partial last block: this lane's elements, +0 past n */
#pragma unroll
                for (int k = 0; k < 8; k++) {
                    ulong e = u * 16 + 2 * (ulong)k;
                    uint lo = e < n ? ((__global const ushort *)in)[e] : 0u;
                    uint hi = e + 1 < n ? ((__global const ushort *)in)[e + 1] : 0u;
                    w[k] = lo | (hi << 16);
                }
            }
            uint am = bnb64_exact_absmax(in, dt, n, blk);
            if ((u & 3) == 0)
                absmax[blk] = am;
            c = bnb64_codes_exact(dt, w, bnb_rcp(dt, am, rcp), tab);
        }
        ulong o = u * 8;
        if (o + 8 <= nbytes) {
            ((__global uint2 *)data)[u] = c;
        } else {
            for (ulong j = 0; j < 8; j++)
                if (o + j < nbytes)
                    data[o + j] = (uchar)((j < 4 ? c.x : c.y) >> (8 * (j & 3)));
        }
    }
}

/* bf16/f16 input, block size 64. codes: the format's qkf_bnb_code_table;
 * red: 2 x the group size words; tab: 2048 words. */
__kernel void bnb4_quantize64(__global const uchar *in, int dt, ulong n, __global const uint *rcp,
                              __global const uint *codes, __global uchar *data, __global uint *absmax,
                              __local uint *red, __local uint *tab)
{
    if (dt == DT_BF16)
        bnb4_q64_body(in, DT_BF16, n, rcp, codes, data, absmax, red, tab);
    else
        bnb4_q64_body(in, DT_F16, n, rcp, codes, data, absmax, red, tab);
}
