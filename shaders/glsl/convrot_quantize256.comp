#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_memory_scope_semantics : require
/* int8_tensorwise with ConvRot per row (src/ref/ref_int8.c, convrot.c),
 * G = 4, 16, 64 or 256 (G below 256 takes the same 256-value groups and
 * skips the levels of stride G and above), rows a multiple of 256 (the
 * partial build, G <= 64: of 64, packed end to end, CRQ_PARTIAL), at most
 * 4096 and CRQ_SPAN: rotate, round to T, the row's amax, its scale and
 * divisor, codes, in one pass with the input read once (a step ahead), one
 * workgroup barrier a step and no workgroup barrier between the levels.
 * The design of the CUDA backend's k_convrot_rows_q.cuh in GLSL, with this
 * backend's native-range proof (convrot_quantize.comp,
 * qk_vk_convrot_quantize.glsl).
 *
 * A workgroup of CRQ_THREADS (96 to 224) takes CRQ_SPAN / cols whole rows
 * a step (grid-stride; threads past them idle). A team (eight consecutive
 * invocations of a full subgroup) owns a 256-value group; its thread j
 * holds two of the group's 16-value units, 2 j and 2 j + 1 (values 32 j ..
 * 32 j + 31: four 16-byte loads of 16-bit input) or, f32, j and j + 8
 * (eight loads, 64 bytes apart across the team, CRQ_UNIT; the partial
 * build's f32: 2 j and 2 j + 1), issued a step ahead. Per step:
 *
 * - levels 1 and 4 (those below G, as every level here) on each unit in
 *   registers, one unit after the other; the units into the team's 1 KiB
 *   of shared memory, eight 16-byte stores;
 * - a team barrier (the subgroup's, shared memory only);
 * - the thread's columns 2 j and 2 j + 1 (values 16 k + 2 j, + 1, k = 0..15)
 *   by eight 16-byte loads, levels 16 and 64 on each in registers, rounded
 *   to T, their amax by a float max, and back by eight 16-byte stores;
 * - the next step's loads;
 * - the row's amax: shuffles within the row's part of a subgroup, one
 *   shared atomicMax a part (the partial build: a run at a time, then a
 *   row at a time), one workgroup barrier;
 * - every thread takes the scale, divisor and codes' factor (bf16: from a
 *   table of the 128 significands the workgroup fills once, scalars_tab;
 *   else qk_group_scale) and codes its two units, read back by eight
 *   16-byte loads (each coded as it comes: a chunk holds two values of
 *   each unit; f32's products a unit at a time, the chunks read once
 *   for each), 16 codes a 16-byte store.
 *
 * Shared memory: a 16-byte chunk holds column pair P (columns 2 P, 2 P + 1)
 * of unit pair m (thread m's units, CRQ_UNIT), at chunk 8 m + (P ^ m) of the
 * group: thread j's units are unit pair j (chunks (P, j), P = 0..7) and
 * its columns column pair j (chunks (j, m), m = 0..7), so every access is
 * a whole chunk, one access a value in all (convrot_row_quantize.comp:
 * four scalar accesses a value), and the eight threads of a quarter warp
 * (one team) touch eight chunks of distinct banks both ways (P ^ m is a
 * Latin square): no bank conflicts.
 *
 * Native path where every value a team rotates is zero or has 2^(L-103)
 * <= |x| < 2^(127-2L) (L = log4 G; f16 values below 2^16 as well, bf16
 * below 2^(111-2L): its T(z) and T(q) by qk_bf16_round_split): the
 * argument of convrot_quantize.comp's head comment, unchanged (every value
 * and sum a multiple of 2^(L-126), so a nonzero one is normal, no level
 * overflows, RTE native sums are the reference's; no byte depends on a
 * zero's sign, so qk_cr_h4_zeros_free; bf16 and f32 round z to T and move
 * the 2^-L into the amax and the codes' factor; f16 scales and rounds with
 * finish_fast). The team's choice is the OR of its threads' range tests
 * (three shuffles). Elsewhere the team takes the exact path between the
 * same barriers: its raw values (widened exactly from the words the
 * thread holds) into its group's words, soft additions for every sum
 * (qk_cr_h4_exact_lean: levels 1 and 4 on the thread's own units, 16 and
 * 64 on its own columns), finish_exact for the scaling and T, the amax on
 * magnitude bits (NaN above Inf). A row may mix the paths. The exact path
 * runs on few rows, yet with qk_cr_h4_exact and a soft product for the
 * scaling it cost G = 256 on an H100 a point of the copy in bf16, four in
 * f16 and five in f32 (session of 2026-12-07 09:49).
 *
 * Barriers a step: one team barrier, one workgroup barrier. The row amax
 * words rotate over three steps, cleared by the step after their use. A
 * thread's words: written as units by their thread and read back as units
 * by it; written and read as columns by their column's thread. Every
 * hand-over (units -> columns: the team barrier; columns -> units: the
 * workgroup barrier) and every reuse in the next step (after both of this
 * step's) is ordered.
 *
 * Registers (an H100 took 109 for the first form, which loaded the next
 * row before the team barrier): the 32 values of a level phase and the
 * next row's words are never live together. Units: the 16 input words,
 * then unit 0's 16 values beside unit 1's 8 words, then both units' 32
 * (the 16-byte stores need both). Columns: the 32 values, one column's
 * butterflies and roundings at a time. The next row's words (16 registers;
 * f32 32) are fetched after the columns, so they cross only the amax's
 * shuffles and barrier and the codes, which hold one 16-byte chunk and the
 * 8 code words at a time (the bf16 table is read there, after the
 * barrier). Across the team barrier the thread holds no value; across the
 * workgroup barrier only those words and a few scalars.
 *
 * The _f16n build (QK_F16_NATIVE, vk_devices.c) rounds f16's T(y) and
 * the codes' T(q) by native f32 -> f16 conversions of pairs where their
 * result is a normal f16 (RoundingModeRTE 16: the reference's rounding);
 * the f16 bits come back to f32 by rebiasing, never by a conversion: an
 * f32 -> f16 -> f32 round trip may be folded by a compiler (an H100 gave
 * wrong bytes with one). T(y) below 2^-14 keeps f16_tiny_round's add, since
 * no float control is relied on for f16 denormals; a q below 2^-14 codes
 * 0 whatever its conversion gives. Input stays widened by integers.
 *
 * The _f16d build (QK_F16_DENORMS as well; devices that keep f16
 * denormals, DenormPreserve 16 declared by spv_patch) takes every f16 step
 * of the native path by native conversions: input pairs widened by one
 * f16 -> f32 conversion (exact, Inf and NaN kept: rows of G >= 64 take
 * no range test, F16D_FINITE_FREE; at G = 16 and 4 the team's test sends
 * them to the exact path), T(y) by a conversion of the pair to f16 (RTE,
 * denormals kept: the reference's rounding) and one back, the codes' T(q)
 * by one conversion, then the integer rounding on the f16 pair, no clamp
 * (rows whose divisor is below 2^-14 take the exact coder). T(y)'s
 * f16 bits pass through an XOR with a push-constant zero the compiler
 * cannot see through (CRQ_OPAQUE_ZERO): with the round trip in plain
 * sight the H100's driver folded it away and gave wrong bytes (the 11:25
 * session of 2026-12-06, docs/BACKEND-VULKAN.md). */
/* Invocations a workgroup, eight a team: a specialization constant the
 * host picks from the row width (vk_ops.c, convrot_q256_teams) so that a
 * step's whole rows fill most of its teams (a fixed 128 left 4 of 16 teams
 * idle on rows of 3072). */
layout(constant_id = 1) const uint CRQ_THREADS = 128u;
#define CRQ_SPAN (32u * CRQ_THREADS) /* values a step (vk_ops.c: 256 a team) */
#define QK_CR_TEAM
#define QK_CR_BF16_SPLIT /* bf16's T by qk_bf16_round_split: fast_hi 2^(111 - 2L) */
layout(local_size_x_id = 1) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src;
layout(std430, binding = 1) writeonly buffer Data { uvec4 w[]; } data; /* 16 codes a vector */
layout(std430, binding = 2) writeonly buffer Scale { uint w[]; } scale;
layout(std430, binding = 3) buffer Flag { uint w[]; } flag;
layout(push_constant) uniform PC {
    uint rows;   /* rows in this chunk */
    uint cols;   /* a multiple of 256 (CRQ_PARTIAL: of 64), at most CRQ_SPAN */
    uint r0;     /* global index of the chunk's first row */
    uint group;  /* G: 4, 16, 64 or 256 */
    uint levels; /* L = log4 G */
    uint flags;  /* bit 0: no codes by products (tests); bits 16-31 zero */
} pc;
#include "qk_vk.glsl"
#include "qk_vk_scaled.glsl"
#include "qk_vk_products.glsl"

shared uvec4 v[CRQ_SPAN / 4u];
shared uvec4 s_tab[128]; /* bf16: the row scalars of amax 1 + k / 128 (scalars_tab) */

/* The team's group: chunks g_base .. g_base + 63 of v. Set once by main. */
uint g_base;

#ifdef CRQ_PARTIAL
/* The partial build (convrot_quantize256_part*, vk_ops.c) takes rows of
 * whole 64-value runs, G <= 64, packed: a step's CRQ_SPAN / cols rows lie
 * end to end, and team t's group is values 256 t .. 256 t + 255 of them,
 * four runs that may belong to different rows (with G <= 64 no rotation
 * group spans two runs, so only the amax sees rows). Both units of a
 * thread lie in one run (CRQ_UNIT), so in one row: the thread's row and
 * columns are the same every step, and it holds both units or neither.
 * The amax is taken a run at a time (CRQ_RUN), then a row at a time by
 * team_run_max and row_scan_max. Padding rows to whole blocks instead
 * left a quarter to half of the lanes idle on rows of 320-640 (H100:
 * 44-62% of the copy, BACKEND-VULKAN.md). */
#define CRQ_ROWS (CRQ_THREADS / 2u) /* rows a step at most (cols >= 64) */
#define CRQ_RUN(k) ((k) >> 2u)
#else
#define CRQ_ROWS (CRQ_THREADS / 8u) /* rows a step at most (cols >= 256) */
#define CRQ_RUN(k) 0u
#endif

shared uint s_m[3u * CRQ_ROWS]; /* a row's amax by its index in the step, three steps in turn */

/* Unit h (0 or 1) of the team's thread m: units 2 m, 2 m + 1 (16-bit:
 * 64 contiguous bytes a thread), f32 m and m + 8: a thread's 16-byte loads
 * lie 64 bytes apart across the team (128 apart, 32 lines a load
 * instruction, when it held two adjacent f32 units) and its code stores
 * 16 bytes apart, so a team stores 128 contiguous bytes a store (two
 * half-sector stores a sector before). Its elements start CRQ_U1 apart. */
#ifdef CRQ_PARTIAL
/* The partial build's units are 2 m and 2 m + 1 in every dtype: a
 * thread's two units must lie in one run. The H100 timed this order and
 * the f32 order 4 (m / 2) + m % 2 and 2 on alike (67-69% of the copy at
 * 4032 columns); this one took 97 registers, that one 113 (both four
 * workgroups a multiprocessor; 96 since the f32 codes go a unit at a
 * time, code_units). */
#define CRQ_UNIT(m, h) (2u * (m) + (h))
#define CRQ_U1 16u
#else
#define CRQ_UNIT(m, h) (QK_DT == DT_F32 ? (m) + 8u * (h) : 2u * (m) + (h))
#define CRQ_U1 (QK_DT == DT_F32 ? 128u : 16u)
#endif

/* Chunk (16 bytes) of column pair P (columns 2 P, 2 P + 1) of units
 * CRQ_UNIT(m, 0) and CRQ_UNIT(m, 1) of the team's group (head comment). */
uint crq_chunk(uint P, uint m) { return g_base + 8u * m + (P ^ m); }

/* Position p (16 k + c, 0..255) of the group: column pair c / 2 of the
 * unit pair holding unit k (CRQ_UNIT: k / 2, f32 k % 8; the partial
 * build's f32 k / 2 as well), word 2 h + (c & 1), h unit k's place in
 * its pair (k % 2, f32 k / 8; the partial build's f32 k % 2). */
#ifdef CRQ_PARTIAL
#define CRQ_PAIR(k) ((k) >> 1)
#define CRQ_HALF(k) ((k) & 1u)
#else
#define CRQ_PAIR(k) (QK_DT == DT_F32 ? (k) & 7u : (k) >> 1)
#define CRQ_HALF(k) (QK_DT == DT_F32 ? (k) >> 3 : (k) & 1u)
#endif
#define CRQ_CHUNK(p) crq_chunk(((p) & 15u) >> 1, CRQ_PAIR((p) >> 4))
#define CRQ_WORD(p) ((CRQ_HALF((p) >> 4) << 1) | ((p) & 1u))
#define QK_CR_LOAD(i) v[CRQ_CHUNK(i)][CRQ_WORD(i)]
#define QK_CR_STORE(i, x) v[CRQ_CHUNK(i)][CRQ_WORD(i)] = (x)
#include "qk_vk_convrot.glsl"
#include "qk_vk_convrot_quantize.glsl"

/* T has f32's exponent range: the native path rounds z and scales later. */
const bool LATER = QK_DT != DT_F16;

/* The _f16d build's f16 rows of G >= 64 take the native path whatever
 * their input, with no range test. Every f16 value is in its range but
 * Inf and NaN, and this build widens those as they are (pair_at): every
 * sum of a rotation group takes all its inputs, so a group with such an
 * input has no finite value, T keeps them non-finite, and the one value
 * of each group that native_columns takes as it is (the float max may
 * drop a NaN) makes the row's amax Inf or NaN: the call fails, as the
 * reference's does, and no byte of such a row counts. No other f16 row
 * can reach Inf before T (256 * 65504 < 2^24). G = 16 and 4 keep the
 * test: a thread holds a value of 16 groups there. */
#ifdef QK_F16_DENORMS
#define F16D_FINITE_FREE (QK_DT == DT_F16 && pc.group >= 64u)
#else
#define F16D_FINITE_FREE false
#endif

/* The thread's input from element e (its unit 0) as 16-byte words, zeros where it has
 * none, a step ahead: words 0..3 (16-bit input: all 32 values), f32 words
 * 0..7 (both units: all 32 values as well, so no load waits at the step's
 * start; unit 1's loads used to be issued there and waited for at once by
 * the range test, a whole memory latency exposed a step). Fetched after the
 * column levels, so the words are live only across the amax's barrier and
 * the codes, where the thread holds little else, never beside the 32
 * values of the level phases. */
void fetch_ahead(uint e, bool on, inout uvec4 q[8])
{
    const uint n = QK_DT == DT_F32 ? 8u : 4u;
    [[unroll]] for (uint k = 0u; k < n; k++)
        q[k] = uvec4(0u);
    if (on) {
        uint w = QK_DT == DT_F32 ? e >> 2 : e >> 3;
        [[unroll]] for (uint k = 0u; k < n; k++)
            q[k] = src.w[w + k + (k < 4u ? 0u : (CRQ_U1 >> 2) - 4u)]; /* f32 unit 1: CRQ_U1 on */
    }
}

/* Value k (0..31) of the thread's words as f32 bits: exact for finite
 * input; f16 Inf and NaN come out at 2^16 or above (out of the native
 * range). Widened where it is used, one unit at a time. */
uint value_at(uvec4 q[8], uint k)
{
    uint w = q[k >> 3][(k >> 1) & 3u];
    return QK_DT == DT_F32 ? q[k >> 2][k & 3u] : (k & 1u) == 0u ? qk_low_finite(w) : qk_high_finite(w);
}

/* Values k and k + 1 (k even) as value_at gives them; the _f16d build's
 * f16 pair by one native conversion. */
uvec2 pair_at(uvec4 q[8], uint k)
{
#ifdef QK_F16_DENORMS
    if (QK_DT == DT_F16)
        return floatBitsToUint(vec2(unpackFloat2x16(q[k >> 3][(k >> 1) & 3u])));
#endif
    return uvec2(value_at(q, k), value_at(q, k + 1u));
}

#ifdef QK_F16_DENORMS
/* Zero, from a push constant: an f32 -> f16 -> f32 round trip through it
 * cannot be folded into nothing (head comment). */
#define CRQ_OPAQUE_ZERO (pc.flags >> 16)

/* The pair v rounded to f16 and widened back, both by conversions. */
vec2 f16_round_pair(vec2 v) { return vec2(unpackFloat2x16(packFloat2x16(f16vec2(v)) ^ CRQ_OPAQUE_ZERO)); }

/* T(y) of two native sums z (zero or normal), y = z 2^-L (down): the
 * product is exact, T one round trip (past 65504: Inf, which the shader
 * takes for Inf as the integer path's 2^16). */
uvec2 t_round_pair(uint a, uint b, float down)
{
    precise vec2 y = vec2(uintBitsToFloat(a), uintBitsToFloat(b)) * down;
    return floatBitsToUint(f16_round_pair(y));
}

/* qk_int8_code_rcp (mode 2, f16) of two T values by the factor r, as the
 * two code bytes of a 16-bit word, where the row's divisor is a normal f16
 * (code_units sends the other rows to the exact coder): T(q) by one
 * conversion of the pair and the integer rounding on the f16 pair (one
 * f16 add): |T(q)| <= 127.0625 (qk_vk_products.glsl's one-clamp bound;
 * test_f16_int8_codes_unclamped), so v + 1536 lies in [1408.9, 1663.1],
 * where f16's step is 1: RTE rounds v to an integer in [-127, 127], ties
 * to even, and neither clamp could act; the sum's low byte is v's
 * two's-complement byte (1536 is 0x6600). A q below 2^-14, which that
 * function sends to 0, rounds to 0 here as well. */
uint code_pair(uint a, uint b, float r)
{
    precise vec2 q = vec2(uintBitsToFloat(a), uintBitsToFloat(b)) * r;
    precise f16vec2 biased = f16vec2(q) + float16_t(1536.0);
    uint h = packFloat2x16(biased);
    return (h & 0xFFu) | ((h >> 8) & 0xFF00u);
}
#elif defined(QK_F16_NATIVE)
/* T(y) of two native sums z (zero or normal), y = z 2^-L (down): the
 * product is exact; where |y| >= 2^-14 its f16 rounding is one conversion
 * of the pair (normal f16 or Inf, whose bits rebias to f32: Inf to 2^16,
 * which the shader takes for Inf), below it f16_tiny_round. */
uvec2 t_round_pair(uint a, uint b, float down)
{
    precise vec2 y = vec2(uintBitsToFloat(a), uintBitsToFloat(b)) * down;
    uint h = packFloat2x16(f16vec2(y));
    uvec2 n = ((uvec2(h, h >> 16) & 0x7FFFu) << 13) + 0x38000000u;
    vec2 m = abs(y);
    uvec2 t = mix(n, uvec2(f16_tiny_round(m.x), f16_tiny_round(m.y)), lessThan(m, vec2(uintBitsToFloat(0x38800000u))));
    return t | (floatBitsToUint(y) & QK_F32_SIGN);
}

/* qk_int8_code_rcp (mode 2, f16) of two T values by the factor r: T(q)
 * by one conversion of the pair, rebiased (normal f16 or Inf: 2^16, which
 * clamps as Inf does); a q below 2^-14, which that function sends to 0,
 * rebiases to below 2^-14 as well, whatever its conversion gave, and so
 * rounds to the same code 0. */
uvec2 code_pair(uint a, uint b, float r)
{
    precise vec2 q = vec2(uintBitsToFloat(a), uintBitsToFloat(b)) * r;
    uint h = packFloat2x16(f16vec2(q));
    uvec2 t = (((uvec2(h, h >> 16) & 0x7FFFu) << 13) + 0x38000000u) | ((uvec2(h, h >> 16) & 0x8000u) << 16);
    vec2 v = clamp(uintBitsToFloat(t), -128.0, 127.0);
    precise vec2 biased = v + 12582912.0; /* 1.5 * 2^23: rounds v to an integer, ties to even */
    return floatBitsToUint(biased) & 0xFFu;
}
#endif

/* The levels of stride 16 and 64 below G (uniform) on x[o + s k], k =
 * 0..15 (s = 2: a column pair's column o), natively (zeros free). */
void levels_pair(inout uint x[32], uint o, uint s)
{
    if (pc.group >= 64u) {
        [[unroll]] for (uint m = 0u; m < 4u; m++)
            qk_cr_h4_zeros_free(x[o + s * 4u * m], x[o + s * (4u * m + 1u)], x[o + s * (4u * m + 2u)],
                                x[o + s * (4u * m + 3u)]);
    }
    if (pc.group == 256u) {
        [[unroll]] for (uint m = 0u; m < 4u; m++)
            qk_cr_h4_zeros_free(x[o + s * m], x[o + s * (m + 4u)], x[o + s * (m + 8u)], x[o + s * (m + 12u)]);
    }
}

/* Levels 1 and 4 below G on a unit u[0..15], natively (zeros free):
 * levels_pair's butterflies, operands and order with s = 1. */
void levels_unit(inout uint u[16])
{
    [[unroll]] for (uint m = 0u; m < 4u; m++)
        qk_cr_h4_zeros_free(u[4u * m], u[4u * m + 1u], u[4u * m + 2u], u[4u * m + 3u]);
    if (pc.group >= 16u) {
        [[unroll]] for (uint m = 0u; m < 4u; m++)
            qk_cr_h4_zeros_free(u[m], u[m + 4u], u[m + 8u], u[m + 12u]);
    }
}

/* A native value after every level, rounded to T: T(z) (LATER) or T(y).
 * bf16's z is zero or normal below 2^111 (fast_hi): qk_bf16_round_split. */
uint round_native(uint z, float down)
{
    return QK_DT == DT_F16 ? finish_fast(z, down) : QK_DT == DT_BF16 ? qk_bf16_round_split(z) : z;
}

/* qk_int8_code_rcp (mode 2, bf16, a normal divisor: one clamp) of the T
 * value x by the factor r, T(q) by qk_bf16_round_split: |q| <= 127.5
 * (qk_vk_products.glsl's one-clamp bound), and a q below 2^-126, whatever
 * the split makes of it, is under 2^-26 and codes 0 either way. */
uint code_bf16(uint x, float r)
{
    precise float q = uintBitsToFloat(x) * r;
    precise float v = min(uintBitsToFloat(qk_bf16_round_split(floatBitsToUint(q))), 127.0);
    precise float biased = v + 12582912.0; /* 1.5 * 2^23: rounds v to an integer, ties to even */
    return floatBitsToUint(biased) & 0xFFu;
}

/* The code of the T value x (16-bit dtypes) by the factor r. */
uint code16(uint x, float r)
{
    return QK_DT == DT_BF16 ? code_bf16(x, r) : qk_int8_code_rcp(2u, uintBitsToFloat(x), r, false);
}

/* The native path's levels 1 and 4 on the thread's units (positions 32 j
 * .. 32 j + 31), one unit after the other: unit 0 widened from its words
 * (unit 1's still packed), then unit 1 beside unit 0's 16 results; then
 * into the group's words. Chunk (P, j) holds unit values 2 P, 2 P + 1 of
 * both units, unit 0's first (head comment). */
void native_units(uint j, uvec4 q[8])
{
    uint a[16], b[16];
    [[unroll]] for (uint c = 0u; c < 16u; c += 2u) {
        uvec2 p = pair_at(q, c);
        a[c] = p.x;
        a[c + 1u] = p.y;
    }
    levels_unit(a);
    [[unroll]] for (uint c = 0u; c < 16u; c += 2u) {
        uvec2 p = pair_at(q, 16u + c);
        b[c] = p.x;
        b[c + 1u] = p.y;
    }
    levels_unit(b);
    [[unroll]] for (uint P = 0u; P < 8u; P++)
        v[crq_chunk(P, j)] = uvec4(a[2u * P], a[2u * P + 1u], b[2u * P], b[2u * P + 1u]);
}

/* The native path's levels 16 and 64 on the thread's columns 2 j and
 * 2 j + 1 (x[2 k + c]: column 2 j + c of unit k; chunk (j, m) holds
 * both columns of units CRQ_UNIT(m, 0) and CRQ_UNIT(m, 1)), rounded to T,
 * back into the group's words; the amax of the results (f32 bits of a
 * float max; the _f16d build's f16 rows: Inf or NaN bits where a rotation
 * group of the thread's values had such an input, main), a run at a time
 * (CRQ_RUN: the partial build; the others' all in the first). */
uvec4 native_columns(uint j, float down)
{
    uint x[32];
    [[unroll]] for (uint m = 0u; m < 8u; m++) {
        uvec4 u = v[crq_chunk(j, m)];
        [[unroll]] for (uint c = 0u; c < 4u; c++)
            x[2u * CRQ_UNIT(m, c >> 1) + (c & 1u)] = u[c];
    }
    vec4 mf = vec4(0.0); /* zero or normal, never NaN (but in rows nf fails): max selects, exactly */
    uvec4 nf = uvec4(0u);
#ifdef QK_F16_NATIVE
    if (QK_DT == DT_F16) { /* both columns' levels, then T a pair of columns at a time */
        levels_pair(x, 0u, 2u);
        levels_pair(x, 1u, 2u);
        [[unroll]] for (uint k = 0u; k < 16u; k++) {
            uvec2 t = t_round_pair(x[2u * k], x[2u * k + 1u], down);
            x[2u * k] = t.x;
            x[2u * k + 1u] = t.y;
            mf[CRQ_RUN(k)] = max(mf[CRQ_RUN(k)], max(abs(uintBitsToFloat(t.x)), abs(uintBitsToFloat(t.y))));
        }
#ifdef QK_F16_DENORMS
        if (pc.group >= 64u) /* F16D_FINITE_FREE's rows, no range test: one value of each group, as it is */
            [[unroll]] for (uint k = 0u; k < 16u; k += 4u)
                nf[CRQ_RUN(k)] = max(nf[CRQ_RUN(k)], x[2u * k] & QK_F32_ABS);
#endif
    } else
#endif
    [[unroll]] for (uint c = 0u; c < 2u; c++) {
        levels_pair(x, c, 2u);
        [[unroll]] for (uint k = 0u; k < 16u; k++) {
            x[2u * k + c] = round_native(x[2u * k + c], down);
            mf[CRQ_RUN(k)] = max(mf[CRQ_RUN(k)], abs(uintBitsToFloat(x[2u * k + c])));
        }
    }
    [[unroll]] for (uint m = 0u; m < 8u; m++)
        v[crq_chunk(j, m)] = uvec4(x[2u * CRQ_UNIT(m, 0u)], x[2u * CRQ_UNIT(m, 0u) + 1u], x[2u * CRQ_UNIT(m, 1u)],
                                   x[2u * CRQ_UNIT(m, 1u) + 1u]);
    return max(floatBitsToUint(mf), nf);
}

/* The exact path's levels 1 and 4 on the thread's units (positions
 * 16 CRQ_UNIT(j, h) .. + 15), filled from its words q (value_at's order),
 * widened exactly (f16 Inf, NaN and subnormals too). Not from memory
 * again: a loop of 32 loads here, never run on most inputs, took the
 * register count of the whole shader from 96 to 122 (bf16; f16 _f16d 95
 * -> 102) on an H100, one workgroup fewer a multiprocessor. */
void exact_units(uint j, uvec4 q[8])
{
    [[unroll]] for (uint k = 0u; k < 32u; k++) {
        uint w = QK_DT == DT_F32 ? q[k >> 2][k & 3u] : q[k >> 3][(k >> 1) & 3u];
        uint x = QK_DT == DT_F32 ? w : qk_widen(QK_DT, (k & 1u) != 0u ? w >> 16 : w & 0xFFFFu);
        QK_CR_STORE(16u * CRQ_UNIT(j, k >> 4) + (k & 15u), x);
    }
    [[dont_unroll]] for (uint st = 1u; st < min(pc.group, 16u); st *= 4u)
        [[dont_unroll]] for (uint u = 0u; u < 8u; u++)
            qk_cr_h4_exact_lean(16u * CRQ_UNIT(j, u >> 2) + qk_cr_first(u & 3u, st, 16u), st);
}

/* The exact path's levels 16 and 64 on the thread's columns 2 j and
 * 2 j + 1, then the scaling and T; the amax of the results (magnitude
 * bits, NaN above Inf), a run at a time as native_columns. */
uvec4 exact_columns(uint j)
{
    [[dont_unroll]] for (uint c = 0u; c < 2u; c++) {
        uint col = 2u * j + c;
        [[dont_unroll]] for (uint b = 0u; b < 4u && pc.group >= 64u; b++)
            qk_cr_h4_exact_lean(64u * b + col, 16u);
        [[dont_unroll]] for (uint k = 0u; k < 4u && pc.group == 256u; k++)
            qk_cr_h4_exact_lean(16u * k + col, 64u);
    }
    uvec4 m = uvec4(0u);
    [[dont_unroll]] for (uint k = 0u; k < 32u; k++) {
        uint p = 16u * (k >> 1) + 2u * j + (k & 1u);
        uint t = finish_exact(QK_CR_LOAD(p));
        uvec4 a = uvec4(t & QK_F32_ABS); /* into its run's max (no dynamic index in a loop kept rolled) */
        m = max(m, mix(uvec4(0u), a, equal(uvec4(CRQ_RUN(k >> 1)), uvec4(0u, 1u, 2u, 3u))));
        QK_CR_STORE(p, t);
    }
    return m;
}

/* bf16 rows' scalars by table. The scale s = max(RN(m / 127), 1e-30), the
 * divisor d = T(s) and the codes' factor r = RN(1 / d) (qk_group_scale,
 * qk_product_factor) of an amax m = M 2^E (M = 1 + k / 128, a bf16 value)
 * are those of M scaled by 2^E, 2^E and 2^-E wherever all of them are
 * normal: m / 127 = (M / 127) 2^E exactly, and RN, T's rounding on the bits
 * and the reciprocal commute with a power of two in the normal range. For E
 * in [-90, 100]: s >= 2^-7 2^-90 > 1e-30 (no floor), d in [2^-97, 2^95)
 * (qk_int8_reciprocal's range), r in (2^-95, 2^97]. So thread k computes the
 * entry of M once a workgroup, and a row in that range takes it with three
 * additions instead of two exact divisions in every thread (about 150
 * instructions a row, for 32 values); other rows (zero, tiny, huge, NaN,
 * Inf amax) compute them. */
void scalars_tab(uint k)
{
    uint m = 0x3F800000u | (k << 16), sc, d;
    qk_group_scale(1u, DT_BF16, m, 0u, sc, d);
    s_tab[k] = uvec4(sc, d, qk_int8_reciprocal(d), 0u);
}

/* The codes of the thread's two units (elements e .. e + 15 and e + CRQ_U1
 * .. e + CRQ_U1 + 15), read back from
 * its words, with the row's amax m (T values). The scale by the row's
 * first thread (first). */
void code_units(uint j, bool native, uint m, uint r, uint e, bool first, inout bool told)
{
    if (QK_DT == DT_F16 && m >= 0x47800000u)
        m = QK_F32_INF; /* 2^16 and above stand for Inf */
    uint sc, d, f, ex = m >> 23; /* m: a magnitude */
    if (QK_DT == DT_BF16 && ex - 37u <= 190u) { /* E = ex - 127 in [-90, 100] */
        uvec4 t = s_tab[(m >> 16) & 0x7Fu];
        uint up = (ex - 127u) << 23; /* 2^E on the exponent field, modulo 2^32 */
        sc = t.x + up;
        d = t.y + up;
        f = (pc.flags & 1u) == 0u ? t.z - up : 0u;
    } else {
        qk_group_scale(1u, QK_DT, m, 0u, sc, d);
        f = (pc.flags & 1u) == 0u ? qk_product_factor(2u, d, m) : 0u;
    }
#ifdef QK_F16_DENORMS
    if (QK_DT == DT_F16 && d < 0x38800000u)
        f = 0u; /* a subnormal f16 divisor: code_pair would need the clamps */
#endif
    uint rd = QK_DT == DT_F32 && (pc.flags & 1u) == 0u ? qk_int8_reciprocal(d) : 0u;
    if (first) {
        scale.w[pc.r0 + r] = sc;
        if (m >= QK_F32_INF)
            atomicOr(flag.w[0], 1u); /* NaN/Inf after rotation: the call fails */
        if (f != 0u && !told)
            atomicOr(flag.w[0], 2u); /* tells the host (and tests) products ran */
    }
    told = told || f != 0u;
    bool later = native && LATER; /* the words hold T(z): T(y) 2^L */
    if (f != 0u) {
        float fr = uintBitsToFloat(later ? f - (pc.levels << 23) : f);
        /* chunk by chunk (P, j): unit values 2 P, 2 P + 1 of both units,
         * bytes 2 (P & 1) and + 1 of code word P >> 1 of each unit's 16 */
        uvec4 c0 = uvec4(0u), c1 = uvec4(0u);
        [[unroll]] for (uint P = 0u; P < 8u; P++) {
            uvec4 u = v[crq_chunk(P, j)];
            uint sh = 16u * (P & 1u);
#ifdef QK_F16_DENORMS
            if (QK_DT == DT_F16) {
                c0[P >> 1] |= code_pair(u.x, u.y, fr) << sh;
                c1[P >> 1] |= code_pair(u.z, u.w, fr) << sh;
                continue;
            }
#elif defined(QK_F16_NATIVE)
            if (QK_DT == DT_F16) {
                uvec2 k0 = code_pair(u.x, u.y, fr), k1 = code_pair(u.z, u.w, fr);
                c0[P >> 1] |= (k0.x << sh) | (k0.y << (sh + 8u));
                c1[P >> 1] |= (k1.x << sh) | (k1.y << (sh + 8u));
                continue;
            }
#endif
            c0[P >> 1] |= (code16(u.x, fr) << sh) | (code16(u.y, fr) << (sh + 8u));
            c1[P >> 1] |= (code16(u.z, fr) << sh) | (code16(u.w, fr) << (sh + 8u));
        }
        data.w[e >> 4] = c0;
        data.w[(e + CRQ_U1) >> 4] = c1;
        return;
    }
    if (rd != 0u) { /* f32: by products with RN(1/d), the words near a halfway point by the exact coder */
        /* Native words hold T(z) = z = y 2^L (zero or >= 2^(L-126)): the
         * factor takes the 2^-L instead, rd 2^-L (rd > 2^-121, as d <
         * FLT_MAX / 127: normal, exact). z (rd 2^-L) is y rd as a real, so
         * q0 is the same float and so are the codes and the margin test. */
        float fr = uintBitsToFloat(later ? rd - (pc.levels << 23) : rd);
        /* A unit at a time (each chunk read once for each unit): one
         * vector of codes live, not two. That took the _part build from 97
         * registers to 96 on an H100 (five workgroups a multiprocessor, not
         * four: 4032 f32 columns 67% -> 72% of the copy, 2026-12-07 22:30). */
        uint nb = 0u; /* code words with a quotient near a halfway point: bit 2 k + unit */
        [[unroll]] for (uint h = 0u; h < 2u; h++) {
            uvec4 c;
            [[unroll]] for (uint k = 0u; k < 4u; k++) { /* code word k: chunks 2 k and 2 k + 1 */
                uvec4 u0 = v[crq_chunk(2u * k, j)], u1 = v[crq_chunk(2u * k + 1u, j)];
                bool n = false;
                c[k] = qk_int8_codes4_f32(2u, h == 0u ? uvec4(u0.xy, u1.xy) : uvec4(u0.zw, u1.zw), fr, n);
                nb |= (n ? 1u : 0u) << (2u * k + h);
            }
            data.w[(e + CRQ_U1 * h) >> 4] = c;
        }
        /* Only the four values of a near word divide (about 2^-12 of values,
         * so a fifth of warps have one): the whole thread's 32 divided before,
         * eight times the work on the warp's slowest lane. Stored after the
         * vectors by the same invocation, so the word lands last. */
        [[dont_unroll]] while (nb != 0u) {
            uint b = uint(findLSB(nb)), h = b & 1u, k = b >> 1, w = 0u;
            nb &= nb - 1u;
            [[dont_unroll]] for (uint i = 0u; i < 4u; i++) {
                uint t = QK_CR_LOAD(16u * CRQ_UNIT(j, h) + 4u * k + i);
                t = later && (t & QK_F32_ABS) != 0u ? t - (pc.levels << 23) : t;
                w |= qk_scaled_code(2u, QK_DT, t, d) << (8u * i);
            }
            data.w[(e + CRQ_U1 * h) >> 4][k] = w;
        }
        return;
    }
    /* the exact coder (tiny or huge amax, or an f32 quotient near a
     * halfway point): one call site, from the thread's own words; T(z)
     * words back to T(y) (zero or >= 2^(L-126)) */
    [[dont_unroll]] for (uint h = 0u; h < 2u; h++)
        [[dont_unroll]] for (uint q = 0u; q < 4u; q++) {
            uint w = 0u;
            [[dont_unroll]] for (uint b = 0u; b < 4u; b++) {
                uint t = QK_CR_LOAD(16u * CRQ_UNIT(j, h) + 4u * q + b);
                t = later && (t & QK_F32_ABS) != 0u ? t - (pc.levels << 23) : t;
                w |= qk_scaled_code(2u, QK_DT, t, d) << (8u * b);
            }
            data.w[(e + CRQ_U1 * h) >> 4][q] = w;
        }
}

#ifdef CRQ_PARTIAL
/* Where thread L's unit 0 starts among a step's values (rows end to end). */
uint unit_start(uint L) { return 256u * (L >> 3) + 16u * CRQ_UNIT(L & 7u, 0u); }

/* The amax of run j / 2 of the team's group, for its thread j, from every
 * thread's four run maxima m (thread j keeps runs 2, 3 where j & 4, then
 * the second of its two where j & 2): four shuffles. */
uint team_run_max(uvec4 m, uint j)
{
    bool up = (j & 4u) != 0u, odd = (j & 2u) != 0u;
    uvec2 keep = up ? m.zw : m.xy, give = up ? m.xy : m.zw;
    keep = max(keep, uvec2(subgroupShuffleXor(give.x, 4u), subgroupShuffleXor(give.y, 4u)));
    uint k = max(odd ? keep.y : keep.x, subgroupShuffleXor(odd ? keep.x : keep.y, 2u));
    return max(k, subgroupShuffleXor(k, 1u));
}

/* A max over each row's invocations up to this one in the subgroup: an
 * inclusive scan, segmented by row (rows rise with the invocation, and
 * the two threads of a run hold the same value, so offsets 2, 4, ...).
 * Bit b of links: the invocation 2 << b below is in the subgroup and in
 * the same row (set once by main). */
uint row_scan_max(uint k, uint links)
{
    uint inv = gl_SubgroupInvocationID;
    for (uint b = 0u; (2u << b) < gl_SubgroupSize; b++) { /* uniform */
        uint t = subgroupShuffle(k, inv - min(inv, 2u << b));
        if ((links & (1u << b)) != 0u)
            k = max(k, t);
    }
    return k;
}
#endif

void main()
{
    /* Full subgroups: L runs over 0..CRQ_THREADS - 1, a team's and a row's
     * threads consecutive invocations (the shuffles, the team barrier). */
    uint L = gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID;
    uint j = L & 7u; /* the thread's place in its team */
#ifdef CRQ_PARTIAL
    uint nr = CRQ_SPAN / pc.cols, o0 = unit_start(L); /* rows a step; the thread's place in them */
    uint ri = o0 / pc.cols, c0 = o0 - ri * pc.cols;   /* the thread's row in a step, its unit 0's first column */
    bool lane = o0 < nr * pc.cols;
    uint links = 0u, inv = gl_SubgroupInvocationID;
    for (uint b = 0u; (2u << b) < gl_SubgroupSize; b++)
        links |= inv >= 2u << b && unit_start(L - (2u << b)) / pc.cols == ri ? 1u << b : 0u;
    /* the last run of its row in the subgroup: its odd thread adds the row's scan to s_m */
    bool tail = (inv & 1u) != 0u && (inv + 1u == gl_SubgroupSize || unit_start(L + 1u) / pc.cols != ri);
#else
    uint tpr = pc.cols >> 5, nr = CRQ_THREADS / tpr; /* threads a row, rows a step */
    uint ri = L / tpr, c0 = (L - ri * tpr) * 32u;    /* the thread's row in a step, its team's column + 32 j */
    c0 = c0 - 32u * j + 16u * CRQ_UNIT(j, 0u);       /* its unit 0's first column */
    bool lane = ri < nr;
    uint cl = min(tpr & (0u - tpr), gl_SubgroupSize); /* aligned invocations in one row */
#endif
    uint step = gl_NumWorkGroups.x * gl_NumWorkGroups.y * nr;
    float down = uintBitsToFloat((127u - pc.levels) << 23);
    g_base = (L >> 3) * 64u;
    /* the first row's loads before the table: its latency under the table's divisions */
    uvec4 qn[8];
    [[unroll]] for (uint k = 0u; k < 8u; k++)
        qn[k] = uvec4(0u);
    uint r = qk_group_id() * nr + ri;
    fetch_ahead(r * pc.cols + c0, lane && r < pc.rows, qn);
    for (uint i = L; i < 3u * CRQ_ROWS; i += CRQ_THREADS)
        s_m[i] = 0u;
    if (QK_DT == DT_BF16)
        for (uint k = L; k < 128u; k += CRQ_THREADS)
            scalars_tab(k);
    barrier();
    bool told = false;
    uint slot = 0u;
    for (uint rb = qk_group_id() * nr; rb < pc.rows; rb += step) { /* uniform */
        r = rb + ri;
        bool mine = lane && r < pc.rows; /* the same for a whole team but in the partial build */
        uint e = r * pc.cols + c0;
        uvec4 q[8] = qn;
        uint bad = 0u;
        if (QK_DT == DT_F32) {
            uint mn = 0xFFFFFFFFu, mx = 0u;
            [[unroll]] for (uint k = 0u; k < 32u; k++)
                range_add(value_at(q, k), mn, mx);
            bad = range_native(mn, mx) ? 0u : 1u;
        } else if (!F16D_FINITE_FREE) {
            [[unroll]] for (uint k = 0u; k < 16u; k++) /* on the raw words, two values at once */
                range_add16(q[k >> 2][k & 3u], bad);
            bad = range_native16(bad) ? 0u : 1u;
        }
        if (!F16D_FINITE_FREE) {
            bad |= subgroupShuffleXor(bad, 1u); /* the team's choice */
            bad |= subgroupShuffleXor(bad, 2u);
            bad |= subgroupShuffleXor(bad, 4u);
        }
        bool native = bad == 0u; /* a thread with no row loaded zeros: in range */
        if (native)
            native_units(j, q);
        else
            exact_units(j, q);
        qk_cr_team_sync();
        uvec4 mr; /* the amax of the thread's columns, a run at a time */
        if (native) {
            mr = native_columns(j, down);
            [[unroll]] for (uint c = 0u; c < 4u; c++)
                mr[c] = LATER && mr[c] != 0u ? mr[c] - (pc.levels << 23) : mr[c]; /* T(y) = T(z) 2^-L */
        } else {
            mr = exact_columns(j);
        }
        /* the next step's words (the 32 values are in shared memory now) */
        fetch_ahead(e + step * pc.cols, lane && r + step < pc.rows, qn);
#ifdef CRQ_PARTIAL
        /* every thread: its columns cross the team's runs, rows past the
         * chunk's or the step's end among them (all zeros) */
        uint m = row_scan_max(team_run_max(mr, j), links);
        if (tail && m != 0u)
            atomicMax(s_m[slot * CRQ_ROWS + ri], m);
#else
        uint m = mine ? mr.x : 0u;
        for (uint s = 1u; s < cl; s <<= 1) /* uniform */
            m = max(m, subgroupShuffleXor(m, s));
        if (mine && (L & (cl - 1u)) == 0u)
            atomicMax(s_m[slot * CRQ_ROWS + ri], m);
#endif
        barrier();
        m = s_m[slot * CRQ_ROWS + min(ri, CRQ_ROWS - 1u)];
        if (L < CRQ_ROWS) /* the previous step's, for the step after next */
            s_m[(slot == 0u ? 2u : slot - 1u) * CRQ_ROWS + L] = 0u;
        if (mine)
            code_units(j, native, m, r, e, c0 == 0u, told);
        slot = slot == 2u ? 0u : slot + 1u;
    }
}
