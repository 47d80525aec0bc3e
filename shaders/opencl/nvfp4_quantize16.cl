/* NVFP4 quantize of bf16/f16 rows of whole 8-element vectors
 * (nvfp4.cl's nvfp4_quantize takes f32 and other widths). A work-item codes
 * one 16-element block a step of a 1-D grid-stride loop (row and block
 * column advanced without a division), its 32 bytes loaded a step ahead.
 *
 * Why it is cheaper than nvfp4_quantize, which was bound by integer work:
 * - The block's code bounds depend on its scale byte s8 alone (t = g *
 *   e4m3(s8), g fixed for the launch, and s8 <= 0x7E because s <= 448), so
 *   each work-group tabulates them for the 127 bytes once in local memory
 *   (bt: two uint4 an entry, the seven thresholds below as words
 *   h * 0x10001 | 0x80008000, and t's zero flag) instead of seven 25x24-bit
 *   products per block.
 * - Codes compare 16-bit magnitudes with 16-bit thresholds, no widening:
 *   for an f32 bound c >= 0, |x| > c is m > h on x's 16-bit magnitude m,
 *   where h is the largest 16-bit magnitude whose value is <= c (values
 *   order as magnitudes do, and none lies in (h, c]); bf16's h is c's high
 *   half, f16's is c rounded to f16 and stepped down if that exceeds c (the
 *   largest finite f16 where c is beyond it). cuda/k_nvfp4_pairs.cuh's rule.
 * - Both elements of a word are coded at once (cuda/k_nvfp4_pairs.cuh's
 *   borrow-free threshold words, nvfp4_pair_codes); on the H200 (bf16,
 *   1 GiB) 37% of the copy, against 31% coding an element at a time and
 *   25% for nvfp4_quantize.
 * - The block amax on the 16-bit magnitudes (two maxima), and its scale
 *   byte from a per-call global table of every 16-bit magnitude
 *   (nvfp4_scale_table16, 32 KiB: a tensor's block maxima span few values,
 *   so the reads stay in L1) instead of two divisions a block (H200: 37%
 *   -> 38-39% of the copy). The table keeps nvfp4_quantize's steps (the
 *   reference's two divisions by qk_div, clamp, qk_f32_to_e4m3_fast).
 * The host runs this only on finite input (amax_tensor's result is checked
 * first), so no element is NaN or Inf. Zero blocks (t = 0, the entry's
 * flag) code +0 bytes. */

/* The largest 16-bit magnitude of dtype dt whose value is <= c (c >= 0). */
static inline uint nvfp4_threshold16(int dt, uint c)
{
    if (dt == DT_BF16)
        return c >> 16;
    uint h = qk_f32_to_f16(c);
    return qk_f16_to_f32(h) > c ? h - 1u : h;
}

/* Both elements of a word at once. A threshold word hp = h * 0x10001 |
 * 0x80008000; with magnitudes m <= 0x7FFF in both halves, hp - m borrows nothing across
 * the halves (each half's difference is 0x8000 + h - m >= 1), and bit 15 of
 * each half is set exactly when m <= h. Returns 0xFFFF in those halves. */
static inline uint nvfp4_pair_le(uint hp, uint m) { return (((hp - m) >> 15) & 0x10001u) * 0xFFFFu; }

/* The halves of a where mask is set, of b elsewhere. */
static inline uint nvfp4_pair_pick(uint mask, uint a, uint b) { return (mask & a) | (~mask & b); }

/* The codes (sign included) of word w's low element in bits 0-3, of its
 * high element in bits 16-19: qk_nvfp4_code's binary search on the
 * thresholds h[0..6] (in threshold words hp), on both halves. */
static inline uint nvfp4_pair_codes(uint w, const uint *hp)
{
    uint m = w & 0x7FFF7FFFu;
    uint le3 = nvfp4_pair_le(hp[3], m); /* code < 4 */
    uint le1 = nvfp4_pair_le(nvfp4_pair_pick(le3, hp[1], hp[5]), m);
    uint le0 = nvfp4_pair_le(nvfp4_pair_pick(le1, nvfp4_pair_pick(le3, hp[0], hp[4]), nvfp4_pair_pick(le3, hp[2], hp[6])), m);
    return (~le3 & 0x40004u) | (~le1 & 0x20002u) | (~le0 & 0x10001u) | ((w >> 12) & 0x80008u);
}

/* Bytes j and j + 1 of the codes of words j and j + 1 (pair codes ca, cb) in
 * the low 16 bits: each byte's first element in its high nibble. */
static inline uint nvfp4_pair_bytes(uint ca, uint cb)
{
    uint u = ca | (cb << 8);
    return ((u << 4) | (u >> 16)) & 0xFFFFu;
}

/* The scale byte of a block whose largest 16-bit magnitude is m16 (finite):
 * nvfp4_quantize's steps on the widened amax. */
static inline uint nvfp4_scale_byte16(int dt, uint m16, uint g)
{
    uint s = qk_div(qk_div(widen16(dt, m16), QK_F32_E2M1_MAX), g);
    if (s > QK_F32_E4M3_MAX)
        s = QK_F32_E4M3_MAX;
    return qk_f32_to_e4m3_fast(s);
}

/* The scale byte of every 16-bit magnitude for this call's g (entries past
 * dt's largest finite magnitude are never read: the input is finite). */
__kernel void nvfp4_scale_table16(int dt, uint g, __global uchar *table)
{
    uint m16 = (uint)get_global_id(0);
    if (m16 < 32768u)
        table[m16] = (uchar)nvfp4_scale_byte16(dt, m16, g);
}

static inline uint4 nvfp4_q16_load(__global const uint4 *in, uint rows, ulong cols, uint r, ulong c)
{
    return r < rows && c < cols ? in[((ulong)r * cols + c) >> 3] : (uint4)(0u);
}

static inline void nvfp4_quantize16_body(__global const uint4 *in, const int dt, uint rows, ulong cols, uint g,
                                         uint rp, uint ncb, __global const uchar *s8tab, __global uint2 *data,
                                         __global uchar *scale, __local uint4 *bt)
{
    for (uint k = get_local_id(0); k < 128u; k += get_local_size(0)) {
        uint t = qk_mul(g, qk_e4m3_to_f32(k)), h[7] = {0u, 0u, 0u, 0u, 0u, 0u, 0u};
        if ((t & QK_F32_ABS) != 0u) {
            int et = qk_f32_exp_norm(t);
            uint mt = qk_f32_sig_norm(t);
            for (uint j = 0; j < 7u; j++)
                h[j] = nvfp4_threshold16(dt, qk_nvfp4_bound(j, et, mt)) * 0x10001u | 0x80008000u;
        }
        bt[2 * k] = (uint4)(h[0], h[1], h[2], h[3]);
        bt[2 * k + 1] = (uint4)(h[4], h[5], h[6], (t & QK_F32_ABS) == 0u);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    uint nb = rp * ncb, stride = (uint)get_global_size(0);
    uint b = (uint)get_global_id(0), r = b / ncb, cb = b - r * ncb;
    uint step_r = stride / ncb, step_c = stride - step_r * ncb;
    uint4 v0 = (uint4)(0u), v1 = (uint4)(0u);
    if (b < nb) {
        v0 = nvfp4_q16_load(in, rows, cols, r, (ulong)cb * 16);
        v1 = nvfp4_q16_load(in, rows, cols, r, (ulong)cb * 16 + 8);
    }
    for (; b < nb; b += stride) {
        uint w[8] = {v0.s0, v0.s1, v0.s2, v0.s3, v1.s0, v1.s1, v1.s2, v1.s3};
        uint nr = r + step_r, nc = cb + step_c;
        if (nc >= ncb) {
            nc -= ncb;
            nr++;
        }
        if (b + stride < nb) {
            v0 = nvfp4_q16_load(in, rows, cols, nr, (ulong)nc * 16);
            v1 = nvfp4_q16_load(in, rows, cols, nr, (ulong)nc * 16 + 8);
        }
        uint mh = 0u, ml = 0u;
#pragma unroll
        for (int k = 0; k < 8; k++) {
            mh = max(mh, w[k] & 0x7FFF0000u);
            ml = max(ml, w[k] & 0x7FFFu);
        }
        uint s8 = s8tab[max(mh >> 16, ml)];
        scale[blocked_row_part(r, ncb) + blocked_col_part(cb)] = (uchar)s8;
        uint4 lo = bt[2 * s8], hi = bt[2 * s8 + 1];
        uint hp[7] = {lo.s0, lo.s1, lo.s2, lo.s3, hi.s0, hi.s1, hi.s2};
        uint c[8];
#pragma unroll
        for (int k = 0; k < 8; k++)
            c[k] = nvfp4_pair_codes(w[k], hp);
        uint2 out = (uint2)(nvfp4_pair_bytes(c[0], c[1]) | nvfp4_pair_bytes(c[2], c[3]) << 16,
                            nvfp4_pair_bytes(c[4], c[5]) | nvfp4_pair_bytes(c[6], c[7]) << 16);
        data[b] = hi.s3 != 0u ? (uint2)(0u) : out; /* the anchor's zero-block rule */
        r = nr;
        cb = nc;
    }
}

__kernel void nvfp4_quantize16(__global const uint4 *in, int dt, uint rows, ulong cols, uint g, uint rp, uint ncb,
                               __global const uchar *s8tab, __global uint2 *data, __global uchar *scale,
                               __local uint4 *bt)
{
    /* bf16 or f16 only: no f32 copy of the body */
    if (dt == DT_BF16)
        nvfp4_quantize16_body(in, DT_BF16, rows, cols, g, rp, ncb, s8tab, data, scale, bt);
    else
        nvfp4_quantize16_body(in, DT_F16, rows, cols, g, rp, ncb, s8tab, data, scale, bt);
}
