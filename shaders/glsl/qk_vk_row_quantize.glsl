/* float8 / int8_tensorwise with per-row scales in one pass: a workgroup
 * of QK_ROW_THREADS (default 256) owns a row (a multiple of 8 wide, at
 * most QK_ROW_UNITS * QK_ROW_THREADS * 8 for bf16/f16, 8192 for f32),
 * keeps it in registers, takes its amax in shared memory (integer max,
 * order-free), computes the scale as scales.comp does and codes it -- the
 * input is read once. bf16/f16 rows load 8 elements with one 16-byte load
 * and stay packed in registers, and their codes come from products
 * (qk_vk_products.glsl); the rare groups whose scale does not allow them
 * use the group's thresholds (QK_ROW_THRESHOLDS, default 1) or, without
 * them, qk_scaled_code. f32 rows take a grid-stride loop of their own
 * (row_f32, below). Included by row_quantize.comp (QK_ROW_UNITS 4, f32
 * rows of 4097 to 8192 too), row_quantize_f32.comp (2: f32 rows up to
 * 4096), row_quantize_wide.comp (8: rows up to 16384, bf16/f16 only) and
 * row_quantize_short.comp (64 threads of 8 units, bf16/f16 only). */
#ifndef QK_ROW_THREADS
#define QK_ROW_THREADS 256u
#endif
#ifndef QK_ROW_THRESHOLDS
#define QK_ROW_THRESHOLDS 1
#endif
layout(local_size_x = QK_ROW_THREADS) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src;
layout(std430, binding = 1) writeonly buffer Data { uvec2 w[]; } data; /* a vector's two code words, one store */
layout(std430, binding = 2) writeonly buffer Scale { uint w[]; } scale;
layout(std430, binding = 3) buffer Flag { uint w[]; } flag;
layout(std430, binding = 4) readonly buffer In4 { uvec4 w[]; } src4; /* binding 0's range, 8 16-bit elements */
layout(push_constant) uniform PC {
    uint rows; /* rows in this chunk */
    uint cols;
    uint r0;   /* global index of the chunk's first row */
    uint dt;
    uint mode; /* 0 e4m3, 1 e5m2, 2 int8_tensorwise */
    uint flags; /* bit 0: no codes by products (tests) */
} pc;
#include "qk_vk.glsl"
#include "qk_vk_load.glsl"
#include "qk_vk_scaled.glsl"
#include "qk_vk_products.glsl"

shared uint s_m;
#include "qk_vk_fp8_sig_table.glsl"
#define QK_FP8_SIG16_TABLE 0 /* f16 rows: products, no table (it lost on rows) */
#include "qk_vk_fp8_sig_table16.glsl"
#if QK_ROW_THRESHOLDS
#include "qk_vk_thresholds.glsl"
#endif

/* The code of the 16-bit element h where products cannot be used. */
uint row_code16(uint h, uint a)
{
#if QK_ROW_THRESHOLDS
    return qk_code_by_thresholds(h);
#else
    return qk_scaled_code(pc.mode, QK_DT, qk_widen(QK_DT, h), a);
#endif
}

/* The row's divisor/multiplier a and factor prod (qk_product_factor)
 * from its amax m, computed by every thread (no barrier and no
 * thread-0-only section follow the amax); thread 0 stores the scale and
 * flags NaN/Inf. */
void row_scale(uint r, uint m, out uint a, out uint prod)
{
    uint sc;
    qk_group_scale(pc.mode < 2u ? 0u : 1u, QK_DT, m, pc.mode == 1u ? QK_F32_E5M2_MAX : QK_F32_E4M3_MAX, sc, a);
    prod = (pc.flags & 1u) == 0u ? qk_product_factor(pc.mode, a, m) : 0u;
    if (gl_LocalInvocationID.x == 0u) {
        if (m >= QK_F32_INF)
            atomicOr(flag.w[0], 1u); /* NaN/Inf input: the call fails */
        scale.w[pc.r0 + r] = sc;
    }
}

/* The codes of a thread's units by products with the row's factor f.
 * Every call passes mode and native16 as literals, so that each inlined
 * loop is straight-line code (a uniform branch an element measured
 * slower). */
void row_codes_product(uint mode, bool native16, uvec4 v[QK_ROW_UNITS], uint row0, uint row1, float f)
{
    uint lid = gl_LocalInvocationID.x;
    [[unroll]] for (uint k = 0u; k < QK_ROW_UNITS; k++) {
        uint e = row0 + (k * QK_ROW_THREADS + lid) * 8u;
        if (e >= row1)
            break;
        data.w[e >> 3] = uvec2(qk_codes4_product(mode, v[k].xy, f, native16),
                               qk_codes4_product(mode, v[k].zw, f, native16));
    }
}

/* float8 codes of a thread's units by the group's table
 * (qk_fp8_codes8_table: kind 0 bf16, 2 f16 under the stand-in; rows keep
 * no f16 table), kind and mode literals at each call. */
void row_codes_sig(uint kind, uint mode, uvec4 v[QK_ROW_UNITS], uint row0, uint row1, float f)
{
    uint lid = gl_LocalInvocationID.x;
    [[unroll]] for (uint k = 0u; k < QK_ROW_UNITS; k++) {
        uint e = row0 + (k * QK_ROW_THREADS + lid) * 8u;
        if (e >= row1)
            break;
        uvec2 c = qk_fp8_codes8_table(kind, mode, v[k], f);
        data.w[e >> 3] = c;
    }
}

#if QK_ROW_F32
/* f32 rows by quads: a subgroup's 16-byte loads and 4-byte code stores
 * each cover whole sectors. A 1-D grid-stride loop over rows loads the
 * next row's quads before this row's amax barrier: a workgroup that took
 * one row and exited had its loads, barriers and scalars in series (46% of
 * the copy on the H100). The amax words rotate over three rows, so one
 * barrier a row suffices: thread 0 clears the next row's word before the
 * barrier that every thread passes before it reads this row's, and the
 * word cleared was last read two rows back, before the previous barrier. */
#define QK_ROW_QUADS (QK_ROW_UNITS * 2u)
shared uint s_m3[3];

void row_quads(uint r, out uvec4 x[QK_ROW_QUADS])
{
    uint lid = gl_LocalInvocationID.x, row0 = r * pc.cols, row1 = row0 + pc.cols;
    [[unroll]] for (uint k = 0u; k < QK_ROW_QUADS; k++) {
        uint e = row0 + (k * QK_ROW_THREADS + lid) * 4u; /* a quad is wholly in the row or past it */
        x[k] = r < pc.rows && e < row1 ? src.w[e >> 2] : uvec4(0u);
    }
}

void row_f32()
{
    uint lid = gl_LocalInvocationID.x, ng = gl_NumWorkGroups.x, slot = 0u;
    uvec4 x[QK_ROW_QUADS], xn[QK_ROW_QUADS];
    row_quads(gl_WorkGroupID.x, x);
    if (lid == 0u)
        s_m3[0] = 0u;
    barrier();
    for (uint r = gl_WorkGroupID.x; r < pc.rows; r += ng) { /* uniform across the workgroup */
        row_quads(r + ng, xn); /* zeros past the last row */
        uint m = 0u;
        [[unroll]] for (uint k = 0u; k < QK_ROW_QUADS; k++)
            m = max(m, max(max(x[k].x & QK_F32_ABS, x[k].y & QK_F32_ABS), max(x[k].z & QK_F32_ABS, x[k].w & QK_F32_ABS)));
        atomicMax(s_m3[slot], m);
        uint next = slot == 2u ? 0u : slot + 1u;
        if (lid == 0u)
            s_m3[next] = 0u;
        barrier();
        uint a, prod;
        row_scale(r, s_m3[slot], a, prod); /* prod: 0 for f32 */
        uint rd = pc.mode == 2u ? qk_int8_reciprocal(a) : 0u; /* int8: codes by products */
        bool fp8 = pc.mode < 2u && qk_fp8_product_ok(a);    /* float8: likewise */
        uint row0 = r * pc.cols, row1 = row0 + pc.cols;
        [[unroll]] for (uint k = 0u; k < QK_ROW_QUADS; k++) {
            uint e = row0 + (k * QK_ROW_THREADS + lid) * 4u;
            if (e >= row1)
                break;
            uint w = 0u;
            bool near = rd == 0u && !fp8;
            if (fp8)
                w = qk_fp8_codes4_f32(pc.mode, x[k], uintBitsToFloat(a));
            else if (!near)
                w = qk_int8_codes4_f32(2u, x[k], uintBitsToFloat(rd), near);
            if (near) {
                w = 0u;
                [[unroll]] for (uint j = 0u; j < 4u; j++)
                    w |= qk_scaled_code(pc.mode, QK_DT, x[k][j], a) << (8u * j);
            }
            data.w[e >> 3][(e >> 2) & 1u] = w;
        }
        x = xn;
        slot = next;
    }
}
#endif

void main()
{
#if QK_ROW_F32
    if (QK_DT == DT_F32) {
        row_f32();
        return;
    }
#endif
    uint r = qk_group_id();
    if (r >= pc.rows)
        return; /* uniform across the workgroup */
    uint lid = gl_LocalInvocationID.x;
    uint row0 = r * pc.cols, row1 = row0 + pc.cols;
    if (QK_DT != DT_F32) {
        uvec4 v[QK_ROW_UNITS];
        uint m16 = 0u;
        [[unroll]] for (uint k = 0u; k < QK_ROW_UNITS; k++) {
            uint e = row0 + (k * QK_ROW_THREADS + lid) * 8u; /* a unit is wholly in the row or past it */
            v[k] = uvec4(0u);
            if (e < row1)
                v[k] = src4.w[e >> 3];
        }
        /* the loads are in flight while s_m is cleared */
        if (lid == 0u)
            s_m = 0u;
        barrier();
        [[unroll]] for (uint k = 0u; k < QK_ROW_UNITS; k++)
            m16 = max(m16, max(max(qk_mag2(v[k].x), qk_mag2(v[k].y)), max(qk_mag2(v[k].z), qk_mag2(v[k].w))));
        atomicMax(s_m, qk_widen(QK_DT, m16));
        barrier();
        uint a, prod; /* uniform */
        row_scale(r, s_m, a, prod);
        if (prod != 0u) {
            float f = uintBitsToFloat(prod);
            if (QK_DT == DT_BF16 && pc.mode < 2u) {
                qk_fp8_sig_fill(pc.mode, prod, lid, QK_ROW_THREADS);
                barrier();
                if (pc.mode == 0u)
                    row_codes_sig(0u, 0u, v, row0, row1, f);
                else
                    row_codes_sig(0u, 1u, v, row0, row1, f);
            } else if (QK_DT == DT_F16 && pc.mode < 2u && prod == QK_FP8_STAND_IN) {
                if (pc.mode == 0u)
                    row_codes_sig(2u, 0u, v, row0, row1, f);
                else
                    row_codes_sig(2u, 1u, v, row0, row1, f);
            } else if (pc.mode == 0u)
                row_codes_product(0u, false, v, row0, row1, f);
            else if (pc.mode == 1u)
                row_codes_product(1u, false, v, row0, row1, f);
            else if (qk_int8_native16(a))
                row_codes_product(2u, true, v, row0, row1, f);
            else
                row_codes_product(2u, false, v, row0, row1, f);
            /* tells the host (and tests) this path ran; few groups write. After the
             * codes, so that thread 0 codes without waiting for the load. */
            if (lid == 0u && (atomicLoad(flag.w[0], gl_ScopeDevice, gl_StorageSemanticsBuffer, gl_SemanticsRelaxed) & 2u) == 0u)
                atomicOr(flag.w[0], 2u);
            return;
        }
#if QK_ROW_THRESHOLDS
        qk_fill_thresholds(a);
#endif
        /* not unrolled, one coder call site (the coder is large): v
         * rotates so that every index stays constant (registers) */
        [[dont_unroll]] for (uint k = 0u; k < QK_ROW_UNITS; k++) {
            uvec4 w = v[0];
            [[unroll]] for (uint i = 0u; i + 1u < QK_ROW_UNITS; i++)
                v[i] = v[i + 1u];
            uint e = row0 + (k * QK_ROW_THREADS + lid) * 8u;
            if (e >= row1)
                break;
            uvec2 out2 = uvec2(0u);
            [[dont_unroll]] for (uint i = 0u; i < 4u; i++) {
                uint wi = i == 0u ? w.x : i == 1u ? w.y : i == 2u ? w.z : w.w;
                uint c = (row_code16(wi & 0xFFFFu, a) | (row_code16(wi >> 16, a) << 8))
                         << (16u * (i & 1u));
                if (i < 2u)
                    out2.x |= c;
                else
                    out2.y |= c;
            }
            data.w[e >> 3] = out2;
        }
        return;
    }
}
