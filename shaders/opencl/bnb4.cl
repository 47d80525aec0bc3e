/* bitsandbytes NF4 / FP4 (src/ref/ref_bnb4.c): blocks of bs (a power of two,
 * 32..4096) over the flattened tensor. A work-item handles units of 8
 * elements (4 output bytes); the bs/8 units of a block are spread over a
 * segment of work-items that reduce the block's absmax in local memory. */

/* Ordering key of one element for absmax: NaN is skipped (key 0), other
 * values count as ftz(|x|) (+1 so that a block of only NaN is told apart). */
static inline uint bnb_key(uint x)
{
    return qk_f32_is_nan(x) != 0u ? 0u : qk_f32_ftz(x & QK_F32_ABS) + 1u;
}

/* NF4 by bucket (fast_codec.cl): one local lookup and one compare instead
 * of the binary search's four compares and dependent selects. */
static inline uint bnb_code(int nf4, uint v, __local const uint2 *tab)
{
    if (nf4 == 0)
        return qk_fp4_encode_fast(v);
    uint2 e = tab[qk_nf4_bucket_index(v)];
    return qk_nf4_from_bucket(v, e.x, e.y);
}

/* bitsandbytes' reciprocal of absmax (qk_bnb_reciprocal): measured
 * rcp.approx tables for bf16/f16, the correctly rounded 1/absmax for f32. */
static inline uint bnb_rcp(int dt, uint am, __global const uint *table)
{
    if (dt == DT_BF16)
        return qk_rcp_from_table(table[(am >> 16) & 0x7Fu], am);
    if (dt == DT_F16)
        return qk_rcp_from_table(table[(am >> 13) & 0x3FFu], am);
    if ((am & QK_F32_INF) == 0u)
        return (am & QK_F32_SIGN) | QK_F32_INF;
    return qk_f32_ftz(qk_div(QK_F32_ONE, am));
}

static inline void bnb4_quantize_body(__global const uchar *in, const int dt, ulong n, uint log2bs, const int nf4,
                                      ulong nblocks, __global const uint *table, __global uchar *data,
                                      __global uint *absmax, __local uint *red, __local uint2 *tab)
{
    uint L = get_local_size(0), lid = get_local_id(0);
    /* The NF4 table, filled for FP4 too: a barrier under a condition, even
     * a uniform one, aborts PoCL 5.0's kernel compiler (its parallel-region
     * pass asserts), and 64 entries cost little. */
    for (uint i = lid; i < QK_NF4_BUCKETS; i += L)
        tab[i] = (uint2)(qk_nf4_bucket_base(i), qk_nf4_bucket_key(i));
    barrier(CLK_LOCAL_MEM_FENCE);
    uint ub = (1u << log2bs) / 8;  /* units per block */
    uint seg = min(ub, L);         /* work-items per block */
    uint per = ub / seg;           /* units per work-item */
    ulong bpw = L / seg;           /* blocks per work-group step */
    ulong nbytes = (n + 1) / 2;
    for (ulong wb = get_group_id(0) * bpw; wb < nblocks; wb += get_num_groups(0) * bpw) {
        ulong blk = wb + lid / seg;
        uint t = lid % seg;
        uint key = 0u;
        if (blk < nblocks)
            for (uint k = 0; k < per; k++) {
                uint v[8];
                ld8_any(in, dt, (blk << log2bs) + (ulong)(t + k * seg) * 8, n, 1, v);
#pragma unroll
                for (int j = 0; j < 8; j++)
                    key = max(key, bnb_key(v[j]));
            }
        uint m = seg_max(red, key, seg);
        if (blk >= nblocks)
            continue; /* after the barriers: every work-item takes part in them */
        uint am = m == 0u ? 0xFF7FFFFFu : m - 1u; /* only NaN: bitsandbytes' -FLT_MAX start */
        if (t == 0)
            absmax[blk] = am;
        uint r = bnb_rcp(dt, am, table);
        for (uint k = 0; k < per; k++) {
            ulong e0 = (blk << log2bs) + (ulong)(t + k * seg) * 8;
            if (e0 >= n)
                break;
            uint v[8], b[4];
            ld8_any(in, dt, e0, n, 1, v); /* an odd tail is coded as +0 */
#pragma unroll
            for (int j = 0; j < 4; j++)
                b[j] = (bnb_code(nf4, qk_mul_ftz(v[2 * j], r), tab) << 4) |
                       bnb_code(nf4, qk_mul_ftz(v[2 * j + 1], r), tab);
            ulong o = e0 / 2;
            if (o + 4 <= nbytes) {
                ((__global uint *)data)[o / 4] = pack4(b[0], b[1], b[2], b[3]);
            } else {
#pragma unroll
                for (int j = 0; j < 4; j++)
                    if (o + (ulong)j < nbytes)
                        data[o + (ulong)j] = (uchar)b[j];
            }
        }
    }
}

/* dtype and format as constants: each copy is specialized (QK_BY_DTYPE).
 * nf4tab: 64 entries of local memory for the NF4 bucket table, typed uint2
 * (NVIDIA aligns a local argument by its declared type). */
__kernel void bnb4_quantize(__global const uchar *in, int dt, ulong n, uint log2bs, int nf4,
                            ulong nblocks, __global const uint *table, __global uchar *data,
                            __global uint *absmax, __local uint *red, __local uint2 *nf4tab)
{
    if (nf4 != 0)
        QK_BY_DTYPE(dt, bnb4_quantize_body(in, DTC, n, log2bs, 1, nblocks, table, data, absmax, red, nf4tab));
    else
        QK_BY_DTYPE(dt, bnb4_quantize_body(in, DTC, n, log2bs, 0, nblocks, table, data, absmax, red, nf4tab));
}

/* Word u of the codes (elements 8u .. 8u + 7, those past n unwritten)
 * under absmax s, by the reference's arithmetic where it must be. */
static inline void bnb4_dequantize_word(__global const uchar *data, uint s, ulong n, ulong u,
                                        __local const uint *value, const int dt, __global uchar *out)
{
    ulong e0 = u * 8, nbytes = (n + 1) / 2;
    uint w;
    if (e0 / 2 + 4 <= nbytes) {
        w = ((__global const uint *)data)[u];
    } else {
        w = 0u;
        for (ulong j = 0; j < 4; j++)
            if (e0 / 2 + j < nbytes)
                w |= (uint)data[e0 / 2 + j] << (8 * j);
    }
    uint h[8];
    /* With 2^-117 <= |s| <= FLT_MAX every product of s and a code value
     * (zero, or 2^-8 <= |value| <= 1) is zero or at least 2^-125 and
     * finite: the native product is mul_ftz's on any device. */
    uint se = (s >> 23) & 0xFFu;
    int plain = se >= 10u && se < 255u;
#pragma unroll
    for (int j = 0; j < 8; j++) {
        uint byte = (w >> (8 * (j / 2))) & 0xFFu;
        uint c = (j & 1) ? (byte & 15u) : (byte >> 4);
        if (plain) {
            h[j] = narrow(dt, as_uint(as_float(value[c]) * as_float(s)));
            continue;
        }
        uint v = qk_mul_ftz(value[c], s);
        /* CUDA's canonical NaN, as bitsandbytes writes it */
        h[j] = qk_f32_is_nan(v) != 0u ? (dt == DT_F32 ? 0x7FFFFFFFu : 0x7FFFu) : narrow(dt, v);
    }
    st8_raw(out, dt, e0, n, h);
}

/* Quad q's four values from its codes (the low 16 bits of w) under
 * absmax s, in the plain range of bnb4_dequantize_word. */
static inline uint4 bnb4_quad_values(uint w, uint s, __local const uint *value)
{
    uint h[4];
#pragma unroll
    for (int j = 0; j < 4; j++) {
        uint byte = (w >> (8 * (j / 2))) & 0xFFu;
        h[j] = as_uint(as_float(value[(j & 1) ? (byte & 15u) : (byte >> 4)]) * as_float(s));
    }
    return (uint4)(h[0], h[1], h[2], h[3]);
}

/* An absmax outside [10, 255) in exponent needs the reference's arithmetic
 * (bnb4_dequantize_word). */
static inline int bnb4_plain(uint s) { return ((s >> 23) & 0xFFu) - 10u < 245u; }

/* f32: a quad a work-item (elements 4q .. 4q + 3, two bytes of codes)
 * and one 16-byte store, consecutive across work-items: the pairs loop
 * below stored four 16-byte runs 64 bytes apart, each instruction writing
 * a quarter of every sector it touched (48% of the copy on the H100). A
 * word whose absmax needs the reference's arithmetic goes word by word
 * (its even quad's work-item takes it), and so does the tail past the last
 * whole word. */
static inline void bnb4_dequantize_quads(__global const uchar *data, __global const uint *absmax, ulong n,
                                         uint log2bs, __local const uint *value, __global uchar *out)
{
    ulong quads = n / 8 * 2, stride = get_global_size(0);
    /* Four quads' loads are issued before their stores, as Vulkan's
     * bnb4_dequantize.comp does (68% -> 87% of the copy on the H100). The
     * word path stays one call site in a rolled loop, as before: PoCL 5.0's
     * kernel compiler aborts on some exact paths in kernels with barriers
     * (BACKEND-OPENCL.md), and this form passed there. */
    for (ulong q = get_global_id(0); q < quads; q += 4 * stride) {
        uint w[4], s[4];
        int odd = 0;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            ulong qk = q + (ulong)k * stride;
            w[k] = qk < quads ? ((__global const ushort *)data)[qk] : 0u;
            s[k] = qk < quads ? absmax[(qk * 4) >> log2bs] : 0x3F800000u;
        }
#pragma unroll
        for (int k = 0; k < 4; k++) {
            ulong qk = q + (ulong)k * stride;
            if (qk >= quads)
                break;
            if (bnb4_plain(s[k]))
                ((__global uint4 *)out)[qk] = bnb4_quad_values(w[k], s[k], value);
            else
                odd = 1;
        }
        if (odd) /* rare; the word's even quad takes it. absmax read again: s[k] with
                  * a variable k would put s in private memory on NVIDIA */
            for (int k = 0; k < 4; k++) {
                ulong qk = q + (ulong)k * stride;
                uint sk = qk < quads ? absmax[(qk * 4) >> log2bs] : 0x3F800000u;
                if (!bnb4_plain(sk) && (qk & 1) == 0)
                    bnb4_dequantize_word(data, sk, n, qk / 2, value, DT_F32, out);
            }
    }
    for (ulong u = n / 8 + get_global_id(0); u < (n + 7) / 8; u += stride)
        bnb4_dequantize_word(data, absmax[(u * 8) >> log2bs], n, u, value, DT_F32, out);
}

/* Pairs of words (16 elements, one block: blocks hold >= 32) per step, one
 * absmax load and one test for both; products native where the test above
 * allows, so the loop has no branch per element. The rest word by word. */
static inline void bnb4_dequantize_body(__global const uchar *data, __global const uint *absmax, ulong n,
                                        uint log2bs, __local const uint *value, const int dt, __global uchar *out)
{
    if (dt == DT_F32) {
        bnb4_dequantize_quads(data, absmax, n, log2bs, value, out);
        return;
    }
    ulong pairs = n / 16, units = (n + 7) / 8, stride = get_global_size(0);
    for (ulong u = get_global_id(0); u < pairs; u += stride) {
        uint s = absmax[(u * 16) >> log2bs], se = (s >> 23) & 0xFFu;
        uint2 w = ((__global const uint2 *)data)[u];
        if (se - 10u >= 245u) { /* outside [10, 255) */
            bnb4_dequantize_word(data, s, n, 2 * u, value, dt, out);
            bnb4_dequantize_word(data, s, n, 2 * u + 1, value, dt, out);
            continue;
        }
        float f = as_float(s);
        uint h[16];
#pragma unroll
        for (int j = 0; j < 16; j++) {
            uint byte = ((j < 8 ? w.x : w.y) >> (8 * ((j / 2) & 3))) & 0xFFu;
            h[j] = narrow_finite(dt, as_uint(as_float(value[(j & 1) ? (byte & 15u) : (byte >> 4)]) * f));
        }
        if (dt == DT_F32) {
            __global uint4 *o = (__global uint4 *)out + 4 * u;
            o[0] = (uint4)(h[0], h[1], h[2], h[3]);
            o[1] = (uint4)(h[4], h[5], h[6], h[7]);
            o[2] = (uint4)(h[8], h[9], h[10], h[11]);
            o[3] = (uint4)(h[12], h[13], h[14], h[15]);
        } else {
            __global uint4 *o = (__global uint4 *)out + 2 * u;
            o[0] = (uint4)(h[0] | h[1] << 16, h[2] | h[3] << 16, h[4] | h[5] << 16, h[6] | h[7] << 16);
            o[1] = (uint4)(h[8] | h[9] << 16, h[10] | h[11] << 16, h[12] | h[13] << 16, h[14] | h[15] << 16);
        }
    }
    for (ulong u = 2 * pairs + get_global_id(0); u < units; u += stride)
        bnb4_dequantize_word(data, absmax[(u * 8) >> log2bs], n, u, value, dt, out);
}

/* The 16 code values sit in local memory: a lookup instead of a switch.
 * (A kernel argument: PoCL mishandles a kernel-scope __local array that an
 * inlined function reads through a pointer.) */
__kernel void bnb4_dequantize(__global const uchar *data, __global const uint *absmax, ulong n,
                              uint log2bs, int nf4, int dt, __global uchar *out, __local uint *value)
{
    if (get_local_id(0) < 16)
        value[get_local_id(0)] = nf4 != 0 ? qk_nf4_value(get_local_id(0)) : qk_fp4_value(get_local_id(0));
    barrier(CLK_LOCAL_MEM_FENCE);
    QK_BY_DTYPE(dt, bnb4_dequantize_body(data, absmax, n, log2bs, value, DTC, out));
}

/* Double quant's absmax of blocks [b0, b0 + nb) from their codes and the
 * nested absmax from nested block b0 / 256 on (qk_bnb_nested_dequantize):
 * dynamic-map value times nested scale (mul.ftz), plus the offset. The host
 * sends only finite nested scales and offsets here, so no NaN arises. */
__kernel void bnb_nested_dequantize(__global const uchar *codes, __global const uint *nested, uint off, ulong b0,
                                    ulong nb, __global const uint *dmap, __global uint *absmax)
{
    ulong n0 = b0 >> 8;
    for (ulong i = get_global_id(0); i < nb; i += get_global_size(0))
        absmax[i] = qk_add(qk_mul_ftz(dmap[codes[i]], nested[((b0 + i) >> 8) - n0]), off);
}

/* ---- double quant's quantize on the device (src/ref/bnb_nested.c) ----- */

/* a = odd * 2^lsb (a finite, nonzero, >= 0): *odd, returns lsb. OpenCL 1.2
 * has clz but no ctz: m & -m isolates the lowest set bit. */
static inline int bnb_lsb(uint a, uint *odd)
{
    uint ex = (a >> 23) & 0xFFu, m = a & 0x7FFFFFu;
    if (ex != 0u)
        m |= 0x800000u;
    int t = 31 - (int)clz(m & (0u - m));
    *odd = m >> t;
    return (ex != 0u ? (int)ex - 150 : -149) + t;
}

/* The mean's sums in any order and grouping, exact (src/ref/bnb_mean.c):
 * (S, B) stands for S * 2^B, and S == 0 for nothing yet. While S < 2^53 it
 * is the exact sum of what was merged. A sum that reaches 2^53 at base B
 * is at least 2^(53 + L) for the lowest base L of the whole vector, so the
 * proof fails whatever comes later: S turns BNB_REC_BAD for good, as for a
 * value that has no proof (negative, Inf or NaN). The outcome (the exact
 * total, or BAD) is the same in every order, and BAD exactly when the
 * total is at or above 2^(53 + L): what bnb_absmax_mean checked of the
 * per-run records. */
#define BNB_REC_LIM ((ulong)1 << 53)
#define BNB_REC_BAD ((ulong)0xFFFFFFFFFFFFFFFFUL)

/* x * 2^d when x < 2^53 and that stays below 2^53, else BAD (d >= 0). */
static inline ulong bnb_rec_shl(ulong x, int d)
{
    return d >= 53 || (x >> (53 - d)) != 0 ? BNB_REC_BAD : x << d;
}

/* (s, b) into (*S, *B). */
static inline void bnb_rec_merge(ulong *S, int *B, ulong s, int b)
{
    if (s == 0)
        return;
    if (*S == 0) {
        *S = s >= BNB_REC_LIM ? BNB_REC_BAD : s;
        *B = b;
        return;
    }
    int lo = min(*B, b);
    ulong x = bnb_rec_shl(*S, *B - lo), y = bnb_rec_shl(s, b - lo), t = x + y;
    *S = (x | y) >= BNB_REC_LIM || t >= BNB_REC_LIM ? BNB_REC_BAD : t; /* no wrap: x, y < 2^53 */
    *B = lo;
}

/* One absmax a (f32 bits) into (*S, *B). */
static inline void bnb_rec_value(ulong *S, int *B, uint a)
{
    uint odd;
    if (a >= QK_F32_INF)
        bnb_rec_merge(S, B, BNB_REC_BAD, 0);
    else if (a != 0u) {
        int l = bnb_lsb(a, &odd);
        bnb_rec_merge(S, B, (ulong)odd, l);
    }
}

/* One absmax a into the work-item's slot of ls/lb. */
static inline void bnb_rec_slot(__local ulong *ls, __local int *lb, uint a)
{
    uint lid = get_local_id(0);
    ulong S = ls[lid];
    int B = lb[lid];
    bnb_rec_value(&S, &B, a);
    ls[lid] = S;
    lb[lid] = B;
}

/* Every work-item's (S, B) merged into every work-item's (a tree of
 * log2(L) steps, L a power of two); all work-items must call it. */
static inline void bnb_rec_group(ulong *S, int *B, __local ulong *ls, __local int *lb)
{
    uint L = get_local_size(0), lid = get_local_id(0);
    ls[lid] = *S;
    lb[lid] = *B;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint h = L / 2; h > 0; h >>= 1) {
        if (lid < h) {
            ulong s = ls[lid];
            int b = lb[lid];
            bnb_rec_merge(&s, &b, ls[lid + h], lb[lid + h]);
            ls[lid] = s;
            lb[lid] = b;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    *S = ls[0];
    *B = lb[0];
}

/* The mean's exact integer records (src/ref/bnb_mean.c, the model is
 * record_of in tests/test_bnb_mean.c): work-group per run of 4096 absmax,
 * rec[4 * run ..] = {sum low, sum high, base, flags}. */
__kernel void bnb_absmax_sum(__global const uint *absmax, ulong nb, __global uint *rec, __local ulong *part,
                             __local int *misc)
{
    uint L = get_local_size(0), lid = get_local_id(0), per = 4096u / L;
    for (ulong run = get_group_id(0); run * 4096u < nb; run += get_num_groups(0)) {
        ulong i0 = run * 4096u;
        if (lid == 0u) {
            misc[0] = INT_MAX;
            misc[1] = 0;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        int base = INT_MAX;
        uint flags = 0u, odd;
        for (uint k = 0; k < per; k++) {
            ulong i = i0 + k * L + lid;
            uint a = i < nb ? absmax[i] : 0u;
            if (a >= QK_F32_INF)
                flags = 1u; /* negative, Inf or NaN */
            else if (a != 0u)
                base = min(base, bnb_lsb(a, &odd));
        }
        atomic_min(&misc[0], base);
        barrier(CLK_LOCAL_MEM_FENCE);
        base = misc[0];
        ulong sum = 0;
        for (uint k = 0; k < per; k++) {
            ulong i = i0 + k * L + lid;
            uint a = i < nb ? absmax[i] : 0u;
            if (a == 0u || a >= QK_F32_INF)
                continue;
            int shift = bnb_lsb(a, &odd) - base;
            if (32 - (int)clz(odd) + shift > 52)
                flags |= 2u; /* the run's 64-bit sum could wrap */
            else
                sum += (ulong)odd << shift;
        }
        part[lid] = sum;
        atomic_or(&misc[1], (int)flags);
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint s = L / 2; s > 0; s >>= 1) {
            if (lid < s)
                part[lid] += part[lid + s];
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        if (lid == 0u) {
            rec[4 * run] = (uint)part[0];
            rec[4 * run + 1] = (uint)(part[0] >> 32);
            rec[4 * run + 2] = (uint)base;
            rec[4 * run + 3] = (uint)misc[1];
        }
        barrier(CLK_LOCAL_MEM_FENCE); /* misc and part are reused */
    }
}

/* bitsandbytes' dQuantize (the reference's binary search over the signed
 * dynamic map, nearer neighbour by float midpoints) by lookup: one load and
 * one integer compare. cuda/qk_fast_codec.h's qkf_dmap_lookup, which the
 * CUDA self-test proves equal to the search for all 2^32 inputs; `tab` is
 * its qkf_dmap_table (cl_backend.c). */
static inline uint bnb_dynamic_code(__global const uint *tab, uint x)
{
    uint mag = x & QK_F32_ABS, k = mag >> 17;
    k = k > 0x1A48u ? k - 0x1A48u : 0u; /* QKF_DMAP_KEY0 */
    uint e = tab[min(k, 1400u)];        /* QKF_DMAP_BUCKETS - 1 */
    uint t = (e & 0xFFu) + ((mag & 0x1FFFFu) > (e >> 8) ? 1u : 0u);
    return x > QK_F32_INF ? 127u - min(t, 127u) : 127u + t;
}

/* Codes and nested absmax of absmax[0, nb) given the offset (offset[0]).
 * A work-group (a multiple of 32 work-items) takes L / 32 nested blocks of
 * 256 a step, grid-stride: a work-item eight consecutive values, 32 a
 * block, whose maximum meets in one local word (keys: L / 32 words); one
 * division a work-item, codes by lookup, eight code bytes stored at once.
 * Few work-groups with their loads in flight, not a work-group a block
 * waiting on one load each. */
__kernel void bnb_nested_quantize(__global const uint *absmax, ulong nb, __global const uint *offset,
                                  __global const uint *tab, __global uchar *codes, __global uint *nested,
                                  __local uint *keys)
{
    uint L = get_local_size(0), lid = get_local_id(0), blk = lid >> 5, neg_off = offset[0] ^ QK_F32_SIGN;
    for (ulong g = get_group_id(0); g * L * 8u < nb; g += get_num_groups(0)) {
        ulong i0 = g * L * 8u + lid * 8u, b = g * (L / 32u) + blk; /* first value, nested block */
        uint d[8];
        if (i0 + 8u <= nb) {
            uint8 v = vload8(0, absmax + i0);
            d[0] = v.s0, d[1] = v.s1, d[2] = v.s2, d[3] = v.s3, d[4] = v.s4, d[5] = v.s5, d[6] = v.s6, d[7] = v.s7;
        } else {
            for (uint k = 0; k < 8u; k++)
                d[k] = i0 + k < nb ? absmax[i0 + k] : 0u;
        }
        if (lid < L / 32u)
            keys[lid] = 0u;
        barrier(CLK_LOCAL_MEM_FENCE);
        uint key = 0u; /* ftz(|d|) + 1 of the largest non-NaN d, 0 = none */
        for (uint k = 0; k < 8u; k++) {
            int live = i0 + k < nb;
            d[k] = live ? qk_add(d[k], neg_off) : 0u;
            if (live && qk_f32_is_nan(d[k]) == 0u)
                key = max(key, qk_f32_ftz(d[k] & QK_F32_ABS) + 1u);
        }
        if (key != 0u)
            atomic_max(&keys[blk], key);
        barrier(CLK_LOCAL_MEM_FENCE);
        uint m = keys[blk];
        ulong b0 = b * 256u;
        uint amax = m != 0u ? m - 1u : (b0 + 256u > nb ? 0u : 0xFF7FFFFFu); /* fmaxf from -FLT_MAX */
        if ((lid & 31u) == 0u && b0 < nb)
            nested[b] = amax;
        uint r = (amax & QK_F32_INF) == 0u ? (amax & QK_F32_SIGN) | QK_F32_INF
                                           : qk_f32_ftz(qk_div(QK_F32_ONE, amax));
        uchar c[8];
        for (uint k = 0; k < 8u; k++)
            c[k] = i0 + k < nb ? (uchar)bnb_dynamic_code(tab, qk_mul_ftz(d[k], r)) : (uchar)0;
        if (i0 + 8u <= nb)
            vstore8((uchar8)(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]), 0, codes + i0);
        else
            for (uint k = 0; k < 8u && i0 + k < nb; k++)
                codes[i0 + k] = c[k];
        barrier(CLK_LOCAL_MEM_FENCE); /* keys are cleared for the next step */
    }
}
