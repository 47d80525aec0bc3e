/* int8_tensorwise with ConvRot in one pass (src/ref/ref_int8.c): a
 * workgroup of 64 invocations takes a row at a time (grid-stride over the
 * chunk's rows), rotates it as the reference does, rounds it to T, takes
 * the amax of the rounded values, computes the row's scale and divisor as
 * the row shaders do (qk_group_scale) and writes the codes: the input is
 * read once, and only codes and scales are written. Included by
 * convrot_row_quantize.comp (QK_CRQ_SETS 4: rows up to 4096) and
 * convrot_row_quantize_short.comp (1: rows up to 1024, a quarter of the
 * shared memory, so more rows in flight).
 *
 * A row is cut into sets of 1024 values, 16 consecutive ones a thread
 * (zeros past the row's end, which rotate to zeros); every set is loaded
 * before any is used, so a row's loads are in flight together. Few
 * threads and a small row each leave room for many workgroups, so that
 * some rows load while others compute.
 *
 * Native sums (qk_vk_convrot.glsl's two levels on 16 values) where every
 * value entering the butterflies is zero or has 2^(L-103) <= |x| <
 * 2^(127-2L) (L = log4 G): all values and sums are then multiples of
 * 2^(L-126), a nonzero one normal and, times 2^-L, still normal, and no
 * level overflows (a level grows magnitudes at most 4-fold); RTE native
 * sums and the native product by 2^-L are then the reference's. (The
 * lower bound is convrot.comp's 2^-103 raised by L, so the scaling is one
 * product instead of its integer scale_down.) Elsewhere (subnormal or tiny
 * values, huge ones, Inf, NaN) the exact path: qk_add for every sum,
 * qk_mul for the scaling, qk_round_to for T. G <= 16 keeps whole groups in
 * a thread, so each thread chooses for itself; larger groups span threads,
 * so one value out of range sends the whole row down the exact path.
 *
 * Shared memory holds the row (element i at v[qk_cr_at(i)]); each thread
 * writes its own 16-value vectors first and reads them back last to code
 * them, so a row's first writes cannot disturb the previous row's last
 * reads and no barrier separates rows. Barriers a row: G <= 16 one (the
 * amax), G = 64 or 256 two, G = 1024 three. */
#if QK_CRQ_SETS != 1 && QK_CRQ_SETS != 4
#error "QK_CRQ_SETS: 1 or 4 (rotate_own and rotate_shared name each set)"
#endif
#define QK_CRQ_THREADS 64u
#define QK_CRQ_SET (16u * QK_CRQ_THREADS) /* values a set */
#define QK_CRQ_SET_WORDS (QK_CRQ_SET + QK_CRQ_SET / 16u)
layout(local_size_x = QK_CRQ_THREADS) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src;
layout(std430, binding = 1) writeonly buffer Data { uvec4 w[]; } data; /* 16 codes a vector */
layout(std430, binding = 2) writeonly buffer Scale { uint w[]; } scale;
layout(std430, binding = 3) buffer Flag { uint w[]; } flag;
layout(push_constant) uniform PC {
    uint rows;   /* rows in this chunk */
    uint cols;   /* a multiple of 16 and of G, at most QK_CRQ_SETS * 1024 */
    uint r0;     /* global index of the chunk's first row */
    uint group;  /* G: 4, 16, 64, 256 or 1024 */
    uint levels; /* L = log4 G */
    uint flags;  /* bit 0: no codes by products (tests) */
} pc;
#include "qk_vk.glsl"
#include "qk_vk_load.glsl"
#include "qk_vk_scaled.glsl"
#include "qk_vk_products.glsl"

shared uint v[QK_CRQ_SETS * QK_CRQ_SET_WORDS];
/* The amax and the exact-path flag of three rows in turn: thread 0 clears
 * row k's words (k % 3) in row k + 1, after its amax barrier (every read
 * of row k is done), and row k + 3 writes them after row k + 2's. */
shared uint s_m[3], s_slow[3];
#include "qk_vk_convrot.glsl"
#include "qk_vk_convrot_quantize.glsl"

/* A thread's 16 values from element e as 16-byte words: 2 (bf16/f16) or
 * 4 (f32), zeros past the row. (No loop here: spirv-opt leaves a loop
 * rolled, its arrays indexed by variables, where a loop inside it sits in
 * a branch.) */
void load_raw(uint e, bool in_row, out uvec4 q[4])
{
    q[0] = q[1] = q[2] = q[3] = uvec4(0u);
    if (in_row) {
        uint w = QK_DT == DT_F32 ? e >> 2 : e >> 3;
        q[0] = src.w[w];
        q[1] = src.w[w + 1u];
        if (QK_DT == DT_F32) {
            q[2] = src.w[w + 2u];
            q[3] = src.w[w + 3u];
        }
    }
}

/* The 16 values as f32 bits: exact for finite input; f16 Inf and NaN come
 * out at 2^16 or above, where no finite f16 lies (fast_hi). */
void widen16(uvec4 q[4], out uint x[16])
{
    [[unroll]] for (uint k = 0u; k < 8u; k++) {
        uint w = q[k >> 2][k & 3u];
        x[2u * k] = QK_DT == DT_F32 ? q[k >> 1][(2u * k) & 3u] : qk_low_finite(w);
        x[2u * k + 1u] = QK_DT == DT_F32 ? q[k >> 1][(2u * k + 1u) & 3u] : qk_high_finite(w);
    }
}

/* Whether every value of x is zero or in the native range. */
bool in_range(uint x[16])
{
    uint mn = 0xFFFFFFFFu, mx = 0u;
    [[unroll]] for (uint j = 0u; j < 16u; j++)
        range_add(x[j], mn, mx);
    return range_native(mn, mx);
}

/* G <= 16, exactly: the thread's own 16 values from element i, from the
 * input, in its own words (no other thread touches them). */
uint rotate_own_exact(uint row0, uint i)
{
    [[dont_unroll]] for (uint j = 0u; j < 16u; j++)
        v[qk_cr_at(i + j)] = qk_load(QK_DT, row0 + i + j);
    [[dont_unroll]] for (uint s = 1u; s < pc.group; s *= 4u)
        [[dont_unroll]] for (uint u = 0u; u < 4u; u++)
            qk_cr_h4_exact(i + qk_cr_first(u, s, pc.group), s);
    uint m = 0u;
    [[dont_unroll]] for (uint j = 0u; j < 16u; j++) {
        uint t = finish_exact(v[qk_cr_at(i + j)]);
        m = max(m, t & QK_F32_ABS);
        v[qk_cr_at(i + j)] = t;
    }
    return m;
}

/* G <= 16, set s of the row natively: the thread's rounded values into
 * its own words, their amax into m. False (nothing done) where a value is
 * out of range. */
bool own_set(uint s, uvec4 q[4], uint lid, inout uint m)
{
    uint i = s * QK_CRQ_SET + lid * 16u, x[16];
    widen16(q, x);
    if (!in_range(x))
        return false;
    qk_cr_levels16(x, pc.group > 4u);
    float down = uintBitsToFloat((127u - pc.levels) << 23);
    [[unroll]] for (uint j = 0u; j < 16u; j++) {
        uint t = finish_fast(x[j], down);
        m = max(m, t & QK_F32_ABS);
        v[qk_cr_at(i + j)] = t;
    }
    return true;
}

/* G <= 16: each thread rotates its own vectors, natively where their
 * values allow, else (after the native ones, so that the exact code is
 * inlined once) exactly. Returns the amax of its rounded values. */
uint rotate_own(uint lid, uint row0, uint nsets, uvec4 raw[QK_CRQ_SETS][4])
{
    uint m = 0u, slow = own_set(0u, raw[0], lid, m) ? 0u : 1u;
#if QK_CRQ_SETS > 1
    if (nsets > 1u && !own_set(1u, raw[1], lid, m))
        slow |= 2u;
    if (nsets > 2u && !own_set(2u, raw[2], lid, m))
        slow |= 4u;
    if (nsets > 3u && !own_set(3u, raw[3], lid, m))
        slow |= 8u;
#endif
    [[dont_unroll]] for (uint s = 0u; s < nsets; s++)
        if ((slow & (1u << s)) != 0u) /* zeros past the row are in range: i is in it */
            m = max(m, rotate_own_exact(row0, s * QK_CRQ_SET + lid * 16u));
    return m;
}

/* G >= 64, exactly: the whole row again from the input (uniform control
 * flow). Returns the amax of the thread's own vectors. */
uint rotate_row_exact(uint lid, uint row0, uint nsets)
{
    uint n = nsets * QK_CRQ_SET;
    for (uint i = lid; i < n; i += QK_CRQ_THREADS)
        v[qk_cr_at(i)] = i < pc.cols ? qk_load(QK_DT, row0 + i) : 0u;
    barrier();
    qk_cr_levels_exact(lid, QK_CRQ_THREADS, n, pc.group);
    uint m = 0u;
    for (uint s = 0u; s < nsets; s++)
        for (uint j = 0u; j < 16u; j++) {
            uint i = s * QK_CRQ_SET + lid * 16u + j;
            uint t = finish_exact(v[qk_cr_at(i)]);
            m = max(m, t & QK_F32_ABS);
            v[qk_cr_at(i)] = t;
        }
    return m;
}

/* G >= 64: levels 1 and 4 on each thread's 16 consecutive values, then
 * (after regrouping in shared memory) 16 and 64 on values 16 apart, then
 * for G = 1024 (after another) 256 on values 256 apart, as convrot.comp;
 * or, if some value of the row is out of range, rotate_row_exact. Leaves
 * the rounded row in v; rotate_shared returns the amax of the values this
 * thread rounded.
 *
 * Set s's levels 1 and 4 natively on the thread's 16 consecutive values,
 * into its own words (not used where the row is out of range); whether
 * they are all in range. */
bool first_levels(uint s, uvec4 q[4], uint lid)
{
    uint i = s * QK_CRQ_SET + lid * 16u, x[16];
    widen16(q, x);
    bool ok = in_range(x);
    qk_cr_levels16(x, true);
    [[unroll]] for (uint j = 0u; j < 16u; j++)
        v[qk_cr_at(i + j)] = x[j];
    return ok;
}

uint rotate_shared(uint lid, uint row0, uint nsets, uvec4 raw[QK_CRQ_SETS][4], uint slot)
{
    bool ok = first_levels(0u, raw[0], lid);
#if QK_CRQ_SETS > 1
    if (nsets > 1u)
        ok = first_levels(1u, raw[1], lid) && ok;
    if (nsets > 2u)
        ok = first_levels(2u, raw[2], lid) && ok;
    if (nsets > 3u)
        ok = first_levels(3u, raw[3], lid) && ok;
#endif
    if (!ok)
        atomicOr(s_slow[slot], 1u);
    barrier();
    if (s_slow[slot] != 0u) /* uniform */
        return rotate_row_exact(lid, row0, nsets);
    float down = uintBitsToFloat((127u - pc.levels) << 23);
    bool last = pc.group <= 256u; /* these levels are the last */
    uint m = 0u, sb = (lid >> 4) * 272u + (lid & 15u); /* values t + 16 k of a 256 run */
    [[dont_unroll]] for (uint s = 0u; s < nsets; s++) {
        uint b = s * QK_CRQ_SET_WORDS + sb, x[16];
        [[unroll]] for (uint k = 0u; k < 16u; k++)
            x[k] = v[b + 17u * k];
        qk_cr_levels16(x, pc.group > 64u); /* strides 16 and 64 */
        [[unroll]] for (uint k = 0u; k < 16u; k++) {
            uint t = last ? finish_fast(x[k], down) : x[k];
            m = max(m, t & QK_F32_ABS);
            v[b + 17u * k] = t;
        }
    }
    if (last)
        return m;
    barrier();
    m = 0u;
    [[dont_unroll]] for (uint s = 0u; s < nsets; s++) {
        uint b = s * QK_CRQ_SET + lid, x[16]; /* values u + 64 m + 256 q of a 1024 run: x[4 m + q] */
        [[unroll]] for (uint k = 0u; k < 16u; k++)
            x[k] = v[qk_cr_at(b + 64u * (k >> 2) + 256u * (k & 3u))];
        qk_cr_levels16(x, false); /* stride 256 */
        [[unroll]] for (uint k = 0u; k < 16u; k++) {
            uint t = finish_fast(x[k], down);
            m = max(m, t & QK_F32_ABS);
            v[qk_cr_at(b + 64u * (k >> 2) + 256u * (k & 3u))] = t;
        }
    }
    return m;
}

/* 16 codes from element i of v by products with the reciprocal f of the
 * row's divisor (qk_vk_products.glsl: v holds T values up to the amax). */
uvec4 codes16_product(uint i, float f)
{
    uvec4 c = uvec4(0u);
    [[unroll]] for (uint q = 0u; q < 4u; q++)
        [[unroll]] for (uint k = 0u; k < 4u; k++)
            c[q] |= qk_int8_code_rcp(2u, uintBitsToFloat(v[qk_cr_at(i + 4u * q + k)]), f, QK_DT == DT_BF16) << (8u * k);
    return c;
}

/* f32: 16 codes from element i of v by products with r = RN(1/d)
 * (qk_int8_codes4_f32); false where one of them lies near a halfway point
 * and the caller must use the exact coder. */
bool codes16_f32(uint i, float r, out uvec4 c)
{
    bool near = false;
    [[unroll]] for (uint q = 0u; q < 4u; q++) {
        uint b = i + 4u * q;
        c[q] = qk_int8_codes4_f32(2u, uvec4(v[qk_cr_at(b)], v[qk_cr_at(b + 1u)], v[qk_cr_at(b + 2u)], v[qk_cr_at(b + 3u)]),
                                  r, near);
    }
    return !near;
}

/* 16 codes from element i of v by the exact coder (divisor d) into data
 * vector o: one call site of the (large) coder. */
void codes16_exact(uint i, uint o, uint d)
{
    [[dont_unroll]] for (uint q = 0u; q < 4u; q++) {
        uint w = 0u;
        [[dont_unroll]] for (uint k = 0u; k < 4u; k++)
            w |= qk_scaled_code(2u, QK_DT, v[qk_cr_at(i + 4u * q + k)], d) << (8u * k);
        data.w[o][q] = w;
    }
}

/* Row r's scale (thread 0 stores it and flags NaN/Inf) and codes, each
 * thread its own vectors. m: the row's amax (f32 bits of T values; for
 * f16, 2^16 and above stand for Inf). */
void code_row(uint lid, uint r, uint row0, uint m, inout bool told)
{
    if (QK_DT == DT_F16 && m >= 0x47800000u)
        m = QK_F32_INF;
    uint sc, d;
    qk_group_scale(1u, QK_DT, m, 0u, sc, d);
    uint f = (pc.flags & 1u) == 0u ? qk_product_factor(2u, d, m) : 0u;
    uint rd = QK_DT == DT_F32 && (pc.flags & 1u) == 0u ? qk_int8_reciprocal(d) : 0u;
    if (lid == 0u) {
        scale.w[pc.r0 + r] = sc;
        if (m >= QK_F32_INF)
            atomicOr(flag.w[0], 1u); /* NaN/Inf after rotation: the call fails */
        if (f != 0u && !told)
            atomicOr(flag.w[0], 2u); /* tells the host (and tests) products ran; once a workgroup */
    }
    told = told || f != 0u;
    if (f != 0u) {
        [[dont_unroll]] for (uint i = lid * 16u; i < pc.cols; i += QK_CRQ_SET)
            data.w[(row0 + i) >> 4] = codes16_product(i, uintBitsToFloat(f));
    } else {
        [[dont_unroll]] for (uint i = lid * 16u; i < pc.cols; i += QK_CRQ_SET) {
            uvec4 c;
            if (rd != 0u && codes16_f32(i, uintBitsToFloat(rd), c))
                data.w[(row0 + i) >> 4] = c;
            else
                codes16_exact(i, (row0 + i) >> 4, d);
        }
    }
}

void main()
{
    uint lid = gl_LocalInvocationID.x;
    uint nsets = (pc.cols + QK_CRQ_SET - 1u) / QK_CRQ_SET;
    uint step = gl_NumWorkGroups.x * gl_NumWorkGroups.y;
    if (lid < 3u) {
        s_m[lid] = 0u;
        s_slow[lid] = 0u;
    }
    barrier();
    bool told = false;
    uint slot = 0u;
    for (uint r = qk_group_id(); r < pc.rows; r += step) { /* uniform */
        uint row0 = r * pc.cols;
        uvec4 raw[QK_CRQ_SETS][4];
        [[unroll]] for (uint s = 0u; s < QK_CRQ_SETS; s++) {
            uint i = s * QK_CRQ_SET + lid * 16u;
            load_raw(row0 + i, s < nsets && i < pc.cols, raw[s]);
        }
        uint m = pc.group <= 16u ? rotate_own(lid, row0, nsets, raw) : rotate_shared(lid, row0, nsets, raw, slot);
        atomicMax(s_m[slot], m);
        barrier();
        if (lid == 0u) { /* the previous row's words, for the row after next */
            uint old = slot == 0u ? 2u : slot - 1u;
            s_m[old] = 0u;
            s_slow[old] = 0u;
        }
        code_row(lid, r, row0, s_m[slot], told);
        slot = slot == 2u ? 0u : slot + 1u;
    }
}
