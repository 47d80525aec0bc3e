#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
/* int8_tensorwise with ConvRot per row (src/ref/ref_int8.c, convrot.c),
 * G = 4, 16 or 64, rows a multiple of 64, at most 4096 (G = 256 takes
 * convrot_quantize256.comp, or convrot_row_quantize.comp: a team-of-four
 * form of this shader measured 31% against the latter's 35% on the H200,
 * BACKEND-VULKAN.md):
 * rotate, round to T, the row's amax, its scale and divisor, codes, in
 * one pass with the input read once and no row held in shared memory.
 * The form of convrot_dequantize.comp run the other way.
 *
 * A workgroup of 64 takes 4096 / cols whole rows a step (grid-stride;
 * threads past them idle). A thread takes 64 consecutive values (eight
 * 16-byte loads, f32 sixteen, issued a step ahead) and runs the levels of
 * stride 1, 4 and 16 (those below G) in registers. The row's amax: a thread's own by a float max
 * of its magnitudes on the native path (finite values, zero or normal:
 * max selects one exactly) and an integer max of magnitude bits on the
 * exact path (NaN above Inf); across threads an integer max (order-free)
 * by shuffles within the row's part of a subgroup, then one shared
 * atomicMax a part, and one workgroup barrier a step. Every thread then
 * takes the scale and divisor (qk_group_scale) and codes the values it
 * holds from its registers, 16 codes a 16-byte store.
 *
 * Native path where every value a thread rotates is zero or has 2^(L-103) <= |x| < 2^(127-2L) (L = log4 G; f16
 * values are below 2^16 as well): every value and sum is then a multiple
 * of 2^(L-126), so a nonzero one is normal, no level overflows (each grows
 * magnitudes at most 4-fold), and RTE native sums are the reference's
 * (qk_vk_convrot_row_quantize.glsl's argument). No byte depends on a
 * zero's sign (the amax and codes see magnitudes), so the butterflies
 * take one sum fewer (qk_cr_h4_zeros_free) and zeros may follow IEEE's
 * signs or not. The scaling y = z 2^-L is then exact and y is zero or
 * normal. For bf16 and f32 (T has f32's
 * exponent range) T(y) = T(z) 2^-L exactly, so the thread rounds z on its
 * bits and moves the 2^-L into its amax (m = m' 2^-L: the exponent field
 * less L, m' >= 2^(L-126) if not 0) and into the factor of its codes
 * (r' = r 2^-L, exact: d <= T(max_T / 127) < 2^121.01, so r = RN(1/d)
 * >= 2^-122 and r' >= 2^-126 is normal, L <= 4): q0 =
 * RN(T(z) r') = RN(T(y) r), a product of the same reals, so the codes
 * are qk_vk_products.glsl's (a flushed subnormal q0 codes 0 as the exact
 * one). f16 scales y natively and rounds it with finish_fast (its
 * subnormal range). Elsewhere (subnormal or tiny, huge, Inf or NaN
 * values) the thread takes the exact path: its values read again
 * from memory into shared memory, qk_cr_add for every sum, finish_exact
 * for the scaling and T. A row may mix the paths: they meet at the same
 * barriers, and each thread keeps its rounded values in registers.
 *
 * Shared memory (the exact path only): the workgroup's 4096 values as
 * 16-byte words, no padding: within each 32-word row of banks, the word of
 * position p has bits 2-4 XOR-ed with bits 5-8 (crq_word), so that a
 * quarter warp's 16-byte accesses (64 L + 4 a: bits 6-8 vary) cover the 32
 * banks. A thread touches only its own 64 positions, so no barrier orders
 * them. The row amax words rotate over three steps, cleared by the step
 * after their use. Barriers a step: one workgroup barrier. */
#define CRQ_THREADS 64u
#define CRQ_SPAN (64u * CRQ_THREADS) /* vk_ops.c: QK_VK_CONVROT_Q_SPAN */
layout(local_size_x = CRQ_THREADS) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src;
layout(std430, binding = 1) writeonly buffer Data { uvec4 w[]; } data; /* 16 codes a vector */
layout(std430, binding = 2) writeonly buffer Scale { uint w[]; } scale;
layout(std430, binding = 3) buffer Flag { uint w[]; } flag;
layout(push_constant) uniform PC {
    uint rows;   /* rows in this chunk */
    uint cols;   /* a multiple of 64 and of G, at most 4096 */
    uint r0;     /* global index of the chunk's first row */
    uint group;  /* G: 4, 16, 64 or 256 */
    uint levels; /* L = log4 G */
    uint flags;  /* bit 0: no codes by products (tests) */
} pc;
#include "qk_vk.glsl"
#include "qk_vk_load.glsl"
#include "qk_vk_scaled.glsl"
#include "qk_vk_products.glsl"

shared uvec4 v[CRQ_SPAN / 4u];
shared uint s_m[3u * CRQ_THREADS]; /* a row's amax by its index in the step, three steps in turn */

/* The word of position p (head comment). */
uint crq_word(uint p)
{
    return p ^ ((((p >> 8) ^ (p >> 6)) & 1u) << 2) ^ ((((p >> 5) ^ (p >> 7)) & 1u) << 3) ^ (((p >> 6) & 1u) << 4);
}
#define QK_CR_LOAD(i) v[crq_word(i) >> 2][crq_word(i) & 3u]
#define QK_CR_STORE(i, x) v[crq_word(i) >> 2][crq_word(i) & 3u] = (x)
#include "qk_vk_convrot.glsl"
#include "qk_vk_convrot_quantize.glsl"

/* T has f32's exponent range: the native path rounds z and scales later. */
const bool LATER = QK_DT != DT_F16;

/* The thread's 64 values from element e as 16-byte words (8, f32 16);
 * zeros where it has none. */
void fetch(uint e, bool on, out uvec4 q[16])
{
    [[unroll]] for (uint k = 0u; k < 16u; k++)
        q[k] = uvec4(0u);
    if (on) {
        uint w = QK_DT == DT_F32 ? e >> 2 : e >> 3;
        [[unroll]] for (uint k = 0u; k < 16u; k++)
            if (QK_DT == DT_F32 || k < 8u)
                q[k] = src.w[w + k];
    }
}

/* The 64 values as f32 bits: exact for finite input; f16 Inf and NaN come
 * out at 2^16 or above (out of the native range). */
void widen64(uvec4 q[16], out uint x[64])
{
    [[unroll]] for (uint k = 0u; k < 64u; k++) {
        uint w = q[k >> 3][(k >> 1) & 3u];
        x[k] = QK_DT == DT_F32 ? q[k >> 2][k & 3u] : (k & 1u) == 0u ? qk_low_finite(w) : qk_high_finite(w);
    }
}

/* x into positions p .. p+63 (p a multiple of 64). */
void store_run64(uint p, uint x[64])
{
    [[unroll]] for (uint a = 0u; a < 16u; a++)
        v[crq_word(p + 4u * a) >> 2] = uvec4(x[4u * a], x[4u * a + 1u], x[4u * a + 2u], x[4u * a + 3u]);
}

/* x from positions p .. p+63 (p a multiple of 64). */
void load_own(uint p, out uint x[64])
{
    [[unroll]] for (uint a = 0u; a < 16u; a++) {
        uvec4 u = v[crq_word(p + 4u * a) >> 2];
        [[unroll]] for (uint c = 0u; c < 4u; c++)
            x[4u * a + c] = u[c];
    }
}

/* A native value after every level, rounded to T: T(z) (LATER) or T(y). */
uint round_native(uint z, float down)
{
    return QK_DT == DT_F16 ? finish_fast(z, down) : QK_DT == DT_BF16 ? qk_t_round_normal(z) : z;
}

/* T(y) of a rounded value the thread holds: exact-path values already
 * are; native ones of LATER dtypes are T(z), zero or at least 2^(L-126). */
uint held_t(uint x, bool native)
{
    return native && LATER && (x & QK_F32_ABS) != 0u ? x - (pc.levels << 23) : x;
}

/* The codes of the thread's 64 values x (elements e .. e+63), with the
 * row's amax m (T values); p: the thread's positions (for the exact
 * coder). The scale by the row's first thread (first). */
void code_held(uint x[64], bool native, uint m, uint r, uint e, uint p, bool first, inout bool told)
{
    if (QK_DT == DT_F16 && m >= 0x47800000u)
        m = QK_F32_INF; /* 2^16 and above stand for Inf */
    uint sc, d;
    qk_group_scale(1u, QK_DT, m, 0u, sc, d);
    uint f = (pc.flags & 1u) == 0u ? qk_product_factor(2u, d, m) : 0u;
    uint rd = QK_DT == DT_F32 && (pc.flags & 1u) == 0u ? qk_int8_reciprocal(d) : 0u;
    if (first) {
        scale.w[pc.r0 + r] = sc;
        if (m >= QK_F32_INF)
            atomicOr(flag.w[0], 1u); /* NaN/Inf after rotation: the call fails */
        if (f != 0u && !told)
            atomicOr(flag.w[0], 2u); /* tells the host (and tests) products ran */
    }
    told = told || f != 0u;
    if (f != 0u) {
        float fr = uintBitsToFloat(native && LATER ? f - (pc.levels << 23) : f);
        [[unroll]] for (uint k = 0u; k < 4u; k++) {
            uvec4 c = uvec4(0u);
            [[unroll]] for (uint q = 0u; q < 4u; q++)
                [[unroll]] for (uint b = 0u; b < 4u; b++)
                    c[q] |= qk_int8_code_rcp(2u, uintBitsToFloat(x[16u * k + 4u * q + b]), fr, QK_DT == DT_BF16) << (8u * b);
            data.w[(e + 16u * k) >> 4] = c;
        }
        return;
    }
    [[unroll]] for (uint k = 0u; k < 64u; k++)
        x[k] = held_t(x[k], native);
    if (rd != 0u) { /* f32: by products with RN(1/d), unless a quotient lies near a halfway point */
        bool near = false;
        [[unroll]] for (uint k = 0u; k < 4u; k++) {
            uvec4 c;
            [[unroll]] for (uint q = 0u; q < 4u; q++) {
                uint b = 16u * k + 4u * q;
                c[q] = qk_int8_codes4_f32(2u, uvec4(x[b], x[b + 1u], x[b + 2u], x[b + 3u]), uintBitsToFloat(rd), near);
            }
            data.w[(e + 16u * k) >> 4] = c;
        }
        if (!near)
            return;
    }
    /* the exact coder (tiny or huge amax, or an f32 quotient near a
     * halfway point): one call site, from the thread's own positions */
    store_run64(p, x);
    [[dont_unroll]] for (uint k = 0u; k < 4u; k++)
        [[dont_unroll]] for (uint q = 0u; q < 4u; q++) {
            uint w = 0u;
            [[dont_unroll]] for (uint b = 0u; b < 4u; b++)
                w |= qk_scaled_code(2u, QK_DT, QK_CR_LOAD(p + 16u * k + 4u * q + b), d) << (8u * b);
            data.w[(e + 16u * k) >> 4][q] = w;
        }
}

void main()
{
    /* Full subgroups: L runs over 0..63, a row's threads consecutive
     * invocations (the amax shuffles). */
    uint L = gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID;
    uint tpr = pc.cols >> 6, nr = CRQ_SPAN / pc.cols; /* threads a row, rows a step */
    uint ri = L / tpr, c0 = (L - ri * tpr) * 64u;     /* the thread's row in a step, first column */
    bool lane = ri < nr;
    uint own = 64u * L; /* the thread's positions in shared memory */
    uint cl = min(tpr & (0u - tpr), gl_SubgroupSize); /* aligned invocations in one row */
    uint step = gl_NumWorkGroups.x * gl_NumWorkGroups.y * nr;
    float down = uintBitsToFloat((127u - pc.levels) << 23);
    s_m[L] = 0u;
    s_m[CRQ_THREADS + L] = 0u;
    s_m[2u * CRQ_THREADS + L] = 0u;
    barrier();
    bool told = false;
    uint slot = 0u;
    uvec4 qn[16];
    uint r = qk_group_id() * nr + ri;
    fetch(r * pc.cols + c0, lane && r < pc.rows, qn);
    for (uint rb = qk_group_id() * nr; rb < pc.rows; rb += step) { /* uniform */
        r = rb + ri;
        bool mine = lane && r < pc.rows;
        uint e = r * pc.cols + c0;
        uvec4 q[16] = qn;
        fetch(e + step * pc.cols, lane && r + step < pc.rows, qn);
        uint x[64];
        widen64(q, x);
        bool native;
        if (QK_DT == DT_F32) {
            uint mn = 0xFFFFFFFFu, mx = 0u;
            [[unroll]] for (uint k = 0u; k < 64u; k++)
                range_add(x[k], mn, mx);
            native = range_native(mn, mx);
        } else {
            uint bad = 0u; /* on the raw words, two values at once */
            [[unroll]] for (uint k = 0u; k < 32u; k++)
                range_add16(q[k >> 2][k & 3u], bad);
            native = range_native16(bad);
        }
        native = native || !mine;
        if (mine) {
            if (native) {
                qk_cr_levels64(x, pc.group, true);
            } else {
                [[dont_unroll]] for (uint k = 0u; k < 64u; k++)
                    QK_CR_STORE(own + k, qk_load(QK_DT, e + k));
                qk_cr_run_levels_exact(own, pc.group);
            }
        }
        uint m = 0u;
        if (mine) {
            if (native) {
                float mf = 0.0; /* values zero or normal, never NaN: max selects, exactly */
                [[unroll]] for (uint k = 0u; k < 64u; k++) {
                    x[k] = round_native(x[k], down);
                    mf = max(mf, abs(uintBitsToFloat(x[k])));
                }
                m = held_t(floatBitsToUint(mf), true);
            } else {
                [[dont_unroll]] for (uint k = 0u; k < 64u; k++) {
                    QK_CR_STORE(own + k, finish_exact(QK_CR_LOAD(own + k)));
                }
                load_own(own, x);
                [[unroll]] for (uint k = 0u; k < 64u; k++)
                    m = max(m, x[k] & QK_F32_ABS); /* NaN above Inf */
            }
        }
        for (uint s = 1u; s < cl; s <<= 1) /* uniform */
            m = max(m, subgroupShuffleXor(m, s));
        if (mine && (L & (cl - 1u)) == 0u)
            atomicMax(s_m[slot * CRQ_THREADS + ri], m);
        barrier();
        m = s_m[slot * CRQ_THREADS + ri];
        s_m[(slot == 0u ? 2u : slot - 1u) * CRQ_THREADS + L] = 0u; /* the previous step's, for the step after next */
        if (mine)
            code_held(x, native, m, r, e, own, c0 == 0u, told);
        slot = slot == 2u ? 0u : slot + 1u;
    }
}
