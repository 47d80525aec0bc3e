#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_memory_scope_semantics : require
/* float8 / int8 with per-tile (B x B) scales in one workgroup per tile:
 * the tile's amax (integer max, order-free), the scale as scales.comp
 * computes it, then the codes. bf16/f16 tiles of B <= 128 stay in
 * registers between the two (16 steps of 4 elements a thread at most, one
 * 8-byte load each): the input is read once, and the codes come from
 * products (qk_vk_products.glsl), or the tile's thresholds where its scale
 * does not allow them. f32 tiles of B <= 128 are held likewise, a 16-byte
 * quad a step (tile_held_f32). Otherwise (wider tiles)
 * a second sweep re-reads the tile the workgroup has just read (cache-
 * resident). Needs B and cols multiples of 4 (one data word per step). */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src;
layout(std430, binding = 1) writeonly buffer Data { uint w[]; } data;
layout(std430, binding = 2) writeonly buffer Scale { uint w[]; } scale;
layout(std430, binding = 3) buffer Flag { uint w[]; } flag;
layout(std430, binding = 4) readonly buffer In2 { uvec2 w[]; } src2; /* binding 0's range, 4 16-bit elements a step */
layout(push_constant) uniform PC {
    uint rows;  /* rows in this chunk (starts on a tile row) */
    uint cols;
    uint tr0;   /* global tile row of the chunk's first row */
    uint block;
    uint gc;    /* tiles across */
    uint dt;
    uint mode;  /* 0 e4m3, 1 e5m2, 3 int8_blockwise */
    uint extra; /* float8 maximum, or int8_blockwise's T(1e-8) */
    uint flags; /* bit 0: no codes by products (tests) */
} pc;
#include "qk_vk.glsl"
#include "qk_vk_load.glsl"
#include "qk_vk_scaled.glsl"
#include "qk_vk_products.glsl"

shared uint s_m;
#include "qk_vk_fp8_sig_table.glsl"
#include "qk_vk_fp8_sig_table16.glsl"
#include "qk_vk_thresholds.glsl"

/* The tile's divisor/multiplier a and factor prod (qk_product_factor)
 * from s_m: thread 0 computes them (integer divisions) and stores the
 * scale, flagging NaN/Inf; the others wait at one barrier. 256 threads
 * each computing them cost issue slots the tile's codes need (H200, bf16
 * tiles: int8 70% -> 72% of the copy, e4m3 66% -> 70%); the row shaders
 * keep the every-thread form, where this barrier measured slower. */
shared uint s_a, s_prod;

/* f32 int8 tiles: prod is the reciprocal qk_int8_reciprocal(a) (another
 * integer division, so thread 0's too); f32 takes no product factor. */
void tile_scale(uint tr, uint tc, out uint a, out uint prod)
{
    if (gl_LocalInvocationID.x == 0u) {
        uint m = s_m, sc, d;
        qk_group_scale(pc.mode < 2u ? 0u : 2u, QK_DT, m, pc.extra, sc, d);
        s_a = d;
        if (QK_DT == DT_F32)
            s_prod = pc.mode == 3u ? qk_int8_reciprocal(d) : 0u;
        else
            s_prod = (pc.flags & 1u) == 0u ? qk_product_factor(pc.mode, d, m) : 0u;
        if (m >= QK_F32_INF)
            atomicOr(flag.w[0], 1u); /* NaN/Inf input: the call fails */
        scale.w[(pc.tr0 + tr) * pc.gc + tc] = sc;
    }
    barrier();
    a = s_a;
    prod = s_prod;
}

/* The codes of a thread's steps (tile rows rl, rl + rps, ... below h) by
 * products with the tile's factor f. Every call passes mode and
 * native16 as literals, so that each inlined loop is straight-line code
 * (a uniform branch an element measured slower). */
void tile_codes_product(uint mode, bool native16, uvec2 v[16], uint rl, uint rps, uint h, uint base, uint rstep,
                        float f)
{
    [[unroll]] for (uint k = 0u; k < 16u; k++) {
        if (rl >= rps || rl + k * rps >= h)
            break;
        data.w[(base + k * rstep) >> 2] = qk_codes4_product(mode, v[k], f, native16);
    }
}

/* float8 codes of a thread's steps by the tile's table
 * (qk_fp8_codes8_table: kind 0 bf16, 1 f16, 2 f16 under the stand-in),
 * two steps (8 elements) at a time; kind and mode literals at each call. */
void tile_codes_sig(uint kind, uint mode, uvec2 v[16], uint rl, uint rps, uint h, uint base, uint rstep, float f)
{
    [[unroll]] for (uint k = 0u; k < 16u; k += 2u) {
        if (rl >= rps || rl + k * rps >= h)
            break;
        uvec2 c = qk_fp8_codes8_table(kind, mode, uvec4(v[k], v[k + 1u]), f);
        data.w[(base + k * rstep) >> 2] = c.x;
        if (rl + (k + 1u) * rps < h)
            data.w[(base + (k + 1u) * rstep) >> 2] = c.y;
    }
}

/* f32 tiles of edge <= 128 held in registers, as the 16-bit ones (16
 * steps of one 16-byte quad a thread, 64 words): the input is read once,
 * where the two sweeps read it twice (56% of the copy on the H100). Codes
 * by products; a word near a halfway point (rare) is coded again after
 * the others by the exact coder, its quad read again, so that v is only
 * indexed by constants. */
void tile_held_f32(uint tr, uint tc, uint r0, uint c0, uint h, uint wq)
{
    uint lid = gl_LocalInvocationID.x;
    uint rps = 256u / wq, rl = lid / wq, cw = lid - rl * wq;
    uint base = (r0 + rl) * pc.cols + c0 + cw * 4u, rstep = rps * pc.cols;
    uvec4 v[16];
    [[unroll]] for (uint k = 0u; k < 16u; k++) {
        v[k] = uvec4(0u);
        if (rl < rps && rl + k * rps < h)
            v[k] = src.w[(base + k * rstep) >> 2];
    }
    /* the loads are in flight while s_m is cleared */
    if (lid == 0u)
        s_m = 0u;
    barrier();
    uint m = 0u;
    [[unroll]] for (uint k = 0u; k < 16u; k++) {
        uvec4 x = v[k] & QK_F32_ABS;
        m = max(m, max(max(x.x, x.y), max(x.z, x.w)));
    }
    atomicMax(s_m, m);
    barrier();
    uint a, rd;
    tile_scale(tr, tc, a, rd); /* rd: the int8 reciprocal */
    bool fp8 = pc.mode < 2u && qk_fp8_product_ok(a);
    uint nearmask = 0u;
    [[unroll]] for (uint k = 0u; k < 16u; k++) {
        if (rl >= rps || rl + k * rps >= h)
            break;
        bool near = rd == 0u && !fp8;
        uint word = 0u;
        if (fp8)
            word = qk_fp8_codes4_f32(pc.mode, v[k], uintBitsToFloat(a));
        else if (!near)
            word = qk_int8_codes4_f32(3u, v[k], uintBitsToFloat(rd), near);
        if (near)
            nearmask |= 1u << k;
        else
            data.w[(base + k * rstep) >> 2] = word;
    }
    while (nearmask != 0u) {
        uint k = uint(findLSB(nearmask)), e = base + k * rstep, word = 0u;
        nearmask &= nearmask - 1u;
        uvec4 x = src.w[e >> 2];
        for (uint j = 0u; j < 4u; j++)
            word |= qk_scaled_code(pc.mode, QK_DT, x[j], a) << (8u * j);
        data.w[e >> 2] = word;
    }
}

void main()
{
    uint t = qk_group_id();
    uint tr = t / pc.gc, tc = t - tr * pc.gc;
    uint r0 = tr * pc.block, c0 = tc * pc.block;
    if (r0 >= pc.rows)
        return; /* uniform across the workgroup */
    uint h = min(pc.block, pc.rows - r0), wq = min(pc.block, pc.cols - c0) / 4u; /* words per tile row */
    uint lid = gl_LocalInvocationID.x;
    bool held = pc.block <= 128u; /* uniform */
    if (held && QK_DT == DT_F32) {
        tile_held_f32(tr, tc, r0, c0, h, wq);
        return;
    }
    if (held) {
        /* thread: word column cw of tile rows rl, rl + rps, ...; threads
         * past rps * wq idle. rps >= 8, so 16 steps cover 128 rows. */
        uint rps = 256u / wq, rl = lid / wq, cw = lid - rl * wq;
        uint base = (r0 + rl) * pc.cols + c0 + cw * 4u, rstep = rps * pc.cols;
        uvec2 v[16];
        uint m = 0u;
        [[unroll]] for (uint k = 0u; k < 16u; k++) {
            v[k] = uvec2(0u);
            if (rl < rps && rl + k * rps < h)
                v[k] = src2.w[(base + k * rstep) >> 2];
        }
        /* the loads are in flight while s_m is cleared */
        if (lid == 0u)
            s_m = 0u;
        barrier();
        [[unroll]] for (uint k = 0u; k < 16u; k++)
            m = max(m, max(qk_mag2(v[k].x), qk_mag2(v[k].y)));
        atomicMax(s_m, qk_widen(QK_DT, m));
        barrier();
        uint a, prod; /* uniform */
        tile_scale(tr, tc, a, prod);
        if (prod != 0u) {
            float f = uintBitsToFloat(prod);
            if (QK_DT == DT_BF16 && pc.mode < 2u) {
                qk_fp8_sig_fill(pc.mode, prod, lid, 256u);
                barrier();
                if (pc.mode == 0u)
                    tile_codes_sig(0u, 0u, v, rl, rps, h, base, rstep, f);
                else
                    tile_codes_sig(0u, 1u, v, rl, rps, h, base, rstep, f);
            } else if (QK_DT == DT_F16 && pc.mode < 2u) {
                if (prod == QK_FP8_STAND_IN) {
                    if (pc.mode == 0u)
                        tile_codes_sig(2u, 0u, v, rl, rps, h, base, rstep, f);
                    else
                        tile_codes_sig(2u, 1u, v, rl, rps, h, base, rstep, f);
                } else {
                    qk_fp8_sig16_fill(pc.mode, prod, lid, 256u);
                    barrier();
                    if (pc.mode == 0u)
                        tile_codes_sig(1u, 0u, v, rl, rps, h, base, rstep, f);
                    else
                        tile_codes_sig(1u, 1u, v, rl, rps, h, base, rstep, f);
                }
            } else if (qk_int8_native16(a)) /* int8_blockwise: float8 tiles take the tables */
                tile_codes_product(3u, true, v, rl, rps, h, base, rstep, f);
            else
                tile_codes_product(3u, false, v, rl, rps, h, base, rstep, f);
            /* tells the host (and tests) this path ran; few groups write. After the
             * codes, so that thread 0 codes without waiting for the load. */
            if (lid == 0u && (atomicLoad(flag.w[0], gl_ScopeDevice, gl_StorageSemanticsBuffer, gl_SemanticsRelaxed) & 2u) == 0u)
                atomicOr(flag.w[0], 2u);
            return;
        }
        qk_fill_thresholds(a);
        /* not unrolled, one coder call site (it is large): v rotates so
         * that every index stays constant and v stays in registers */
        [[dont_unroll]] for (uint k = 0u; k < 16u; k++) {
            uvec2 w = v[0];
            [[unroll]] for (uint i = 0u; i < 15u; i++)
                v[i] = v[i + 1u];
            if (rl >= rps || rl + k * rps >= h)
                break;
            uint word = 0u;
            [[dont_unroll]] for (uint j = 0u; j < 4u; j++) {
                uint h16 = ((j < 2u ? w.x : w.y) >> (16u * (j & 1u))) & 0xFFFFu;
                word |= qk_code_by_thresholds(h16) << (8u * j);
            }
            data.w[(base + k * rstep) >> 2] = word;
        }
        return;
    }
    if (lid == 0u)
        s_m = 0u;
    barrier();
    uint m = 0u;
    for (uint q = lid; q < h * wq; q += 256u) {
        uint rr = q / wq;
        uint e = (r0 + rr) * pc.cols + c0 + (q - rr * wq) * 4u;
        if (QK_DT == DT_F32) { /* e a multiple of 4: one 16-byte load */
            uvec4 x4 = src.w[e >> 2] & QK_F32_ABS;
            m = max(m, max(max(x4.x, x4.y), max(x4.z, x4.w)));
        } else {
            for (uint j = 0u; j < 4u; j++)
                m = max(m, qk_load(QK_DT, e + j) & QK_F32_ABS);
        }
    }
    atomicMax(s_m, m);
    barrier();
    uint a, rd;
    tile_scale(tr, tc, a, rd); /* f32: rd the int8 reciprocal (codes by products) */
    if (QK_DT != DT_F32)
        rd = 0u;
    /* f32: codes by products (qk_int8_codes4_f32, qk_fp8_codes4_f32) */
    bool fp8 = QK_DT == DT_F32 && pc.mode < 2u && qk_fp8_product_ok(a);
    for (uint q = lid; q < h * wq; q += 256u) {
        uint rr = q / wq;
        uint e = (r0 + rr) * pc.cols + c0 + (q - rr * wq) * 4u;
        uint word = 0u;
        bool near = rd == 0u && !fp8;
        uvec4 x4 = QK_DT == DT_F32 ? src.w[e >> 2] : uvec4(0u);
        if (fp8)
            word = qk_fp8_codes4_f32(pc.mode, x4, uintBitsToFloat(a));
        else if (!near)
            word = qk_int8_codes4_f32(3u, x4, uintBitsToFloat(rd), near);
        if (near) {
            word = 0u;
            for (uint j = 0u; j < 4u; j++)
                word |= qk_scaled_code(pc.mode, QK_DT, qk_load(QK_DT, e + j), a) << (8u * j);
        }
        data.w[e >> 2] = word;
    }
}
