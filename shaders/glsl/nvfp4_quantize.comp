#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
/* ComfyUI NVFP4 quantize (src/ref/ref_nvfp4.c) over the 16x16-padded data:
 * one thread per 16-block of a row, so the block's scale and bounds are a
 * thread's own (no shared memory, no barrier); rows whose width is a
 * multiple of 8 load bf16/f16 input 16 bytes at a time. Scale bytes are
 * OR-ed into their word of the blocked layout (zeroed first). Codes come
 * from seven per-block bounds (qk_nvfp4_bounds), not a division per
 * element; whole vectors of 16-bit input compare two elements at a time
 * on their 16-bit magnitudes (qk_vk_nvfp4_pairs.glsl). There a block's
 * scale byte and thresholds come from the table of nvfp4_table.comp (one
 * lookup by its 16-bit amax, two 16-byte loads) instead of two exact
 * divisions, the e4m3 rounding and seven bounds per block: a table entry
 * is that computation's result for the magnitude, so the bytes are the same
 * by construction (test_nvfp4_every_block_amax runs every 16-bit block
 * amax). The codes take the search with its selections as multiply-adds
 * (qk_pair_codes_madd), since per element the logic operations were what
 * remained. With pc.gather (rows of whole scale words, full subgroups) a
 * word's four blocks, consecutive invocations, gather it by two shuffles
 * and one stores it, no atomic. On the H200 (1 GiB) f16 ran at 21% of the
 * copy per block, 14% with the table and atomics, 38% with the shuffles.
 * f32 blocks whose rows are whole 16-byte units take four loads, and
 * their scale byte and bounds from the f32 table: a guess of the byte by
 * one product, which the amax thresholds on either side prove or replace
 * by the exact steps (f32_scale_byte), so again the bytes are the same by
 * construction. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src;
layout(std430, binding = 1) writeonly buffer Data { uvec2 w[]; } data;
layout(std430, binding = 2) buffer Scale { uint w[]; } scale;
layout(std430, binding = 3) readonly buffer Global { uint w[]; } global; /* g at [0] */
layout(std430, binding = 4) readonly buffer Table { uvec4 w[]; } tab; /* nvfp4_table.comp's (bf16/f16) */
layout(push_constant) uniform PC {
    uint rows;  /* input rows present in this chunk */
    uint prows; /* padded rows in this chunk */
    uint cols;
    uint cp;    /* padded columns */
    uint dt;
    uint whole4; /* unread (MXFP8's) */
    uint gather; /* rows of whole scale words, full subgroups: scale words by shuffles */
} pc;
#include "qk_vk.glsl"
#include "qk_vk_load.glsl"
#include "qk_vk_nvfp4_pairs.glsl"
#include "qk_vk_nvfp4_scale.glsl"

/* The nibbles of 8 elements, element 2j high. */
uint codes8(uint x[8], uint c[7])
{
    uint word = 0u;
    [[unroll]] for (uint j = 0u; j < 8u; j++)
        word |= qk_nvfp4_code(x[j], c) << ((j >> 1) * 8u + ((j & 1u) == 0u ? 4u : 0u));
    return word;
}

/* ORs the block's scale byte into its word of the blocked layout. */
void store_scale(uint s8, uint r, uint c0, uint nblk)
{
    if (s8 != 0u) {
        uint off = qk_blocked_off(r, c0 / 16u, nblk);
        atomicOr(scale.w[off >> 2], s8 << ((off & 3u) * 8u));
    }
}

/* The block's scale: stores its byte, returns t = g * e4m3(code). */
uint block_scale(uint m, uint g, uint r, uint c0, uint nblk)
{
    uint s8 = qk_nvfp4_scale_byte(m, g);
    store_scale(s8, r, c0, nblk);
    return qk_nvfp4_block_t(s8, g);
}

/* Elements in a 16-byte unit. */
const uint PER_UNIT = QK_DT == DT_F32 ? 4u : 8u;

/* Whether block (r, c0) takes the vector path: whole 16-byte units. */
bool vector_block(uint r, uint c0)
{
    return r < pc.rows && (pc.cols & (PER_UNIT - 1u)) == 0u && c0 + 16u <= pc.cols;
}

/* The block's units: two of 16-bit input, four of f32. */
void load_units(uint r, uint c0, out uvec4 q[4])
{
    uint e = (r * pc.cols + c0) / PER_UNIT;
    q[0] = src.w[e];
    q[1] = src.w[e + 1u];
    q[2] = uvec4(0u);
    q[3] = uvec4(0u);
    if (QK_DT == DT_F32) { /* a branch, not a select: no load past 16-bit rows */
        q[2] = src.w[e + 2u];
        q[3] = src.w[e + 3u];
    }
}

/* Stores the scale byte of block b (pc.gather: the word's four lanes
 * gather it by shuffles and the first stores it). */
void put_scale(uint s8, uint b, uint r, uint c0, uint nblk)
{
    if (pc.gather != 0u) {
        uint sw = s8 << ((b & 3u) * 8u);
        sw |= subgroupShuffleXor(sw, 1u);
        sw |= subgroupShuffleXor(sw, 2u);
        if ((b & 3u) == 0u)
            scale.w[qk_blocked_off(r, c0 / 16u, nblk) >> 2] = sw;
    } else {
        store_scale(s8, r, c0, nblk);
    }
}

uint threshold(uint k) { return tab.w[k >> 2][k & 3u]; }

/* The scale byte of an f32 block amax m: the guess k from m / (6 g) by a
 * product holds if the thresholds of k - 1 and k + 2 bracket m (they do
 * not decrease), and then the thresholds of k and k + 1 tell the byte;
 * else (g or m at the edge of the range) the exact steps. */
uint f32_scale_byte(uint m, uint g)
{
    precise float guess = uintBitsToFloat(m) * uintBitsToFloat(tab.w[QK_NVFP4_TAB_ESTIMATE].x);
    uint k = clamp(qk_to_e4m3(min(floatBitsToUint(guess) & QK_F32_ABS, QK_F32_E4M3_MAX)), 1u, 0x7Du);
    if (threshold(k - 1u) <= m && m < threshold(k + 2u))
        return k - 1u + (m >= threshold(k) ? 1u : 0u) + (m >= threshold(k + 1u) ? 1u : 0u);
    return qk_nvfp4_scale_byte(m, g);
}

/* The f32 block q: its scale byte and bounds from the table, codes by
 * compares. */
uvec2 f32_codes(uint b, uint r, uint c0, uint nblk, uint g, uvec4 q[4])
{
    uint m = 0u;
    [[unroll]] for (uint i = 0u; i < 4u; i++)
        m = max(m, max(max(q[i].x & QK_F32_ABS, q[i].y & QK_F32_ABS), max(q[i].z & QK_F32_ABS, q[i].w & QK_F32_ABS)));
    uint s8 = f32_scale_byte(m, g);
    put_scale(s8, b, r, c0, nblk);
    uint u = QK_NVFP4_TAB_BOUNDS + 2u * s8;
    uvec4 lo = tab.w[u], hi = tab.w[u + 1u];
    if (hi.w == 0u)
        return uvec2(0u);
    uint c[7] = uint[7](lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z);
    uint x0[8] = uint[8](q[0].x, q[0].y, q[0].z, q[0].w, q[1].x, q[1].y, q[1].z, q[1].w);
    uint x1[8] = uint[8](q[2].x, q[2].y, q[2].z, q[2].w, q[3].x, q[3].y, q[3].z, q[3].w);
    return uvec2(codes8(x0, c), codes8(x1, c));
}

/* Block b of whole 16-byte units q: 16-bit input by the codes of two
 * elements at a time, the scale byte and thresholds from the table; f32
 * by f32_codes. */
void quantize_vectors(uint b, uint r, uint c0, uint nblk, uint g, uvec4 q[4])
{
    uvec2 word = uvec2(0u);
    if (QK_DT == DT_F32) {
        if (g != 0u) /* g == 0: an all-zero tensor, zero codes and scales */
            word = f32_codes(b, r, c0, nblk, g, q);
        data.w[b] = word;
        return;
    }
    uint w[8] = uint[8](q[0].x, q[0].y, q[0].z, q[0].w, q[1].x, q[1].y, q[1].z, q[1].w);
    uint m2 = 0u;
    [[unroll]] for (uint j = 0u; j < 8u; j++)
        m2 = max(m2, max(w[j] & 0x7FFFu, (w[j] >> 16) & 0x7FFFu));
    if (g != 0u) { /* g == 0: an all-zero tensor, zero codes and scales */
        uint s8 = (tab.w[m2 >> 4][(m2 >> 2) & 3u] >> ((m2 & 3u) * 8u)) & 0xFFu;
        put_scale(s8, b, r, c0, nblk);
        uint u = QK_NVFP4_TAB_BOUNDS + 2u * s8;
        uvec4 hs = tab.w[u];
        if (hs.w != 0u) {
            uvec4 d = tab.w[u + 1u];
            uint k[8];
            [[unroll]] for (uint j = 0u; j < 8u; j++)
                k[j] = qk_pair_codes_madd(w[j], hs.xyz, d);
            word = uvec2(qk_pair_bytes(k[0], k[1]) | (qk_pair_bytes(k[2], k[3]) << 16),
                         qk_pair_bytes(k[4], k[5]) | (qk_pair_bytes(k[6], k[7]) << 16));
        }
    }
    data.w[b] = word;
}

/* Block b element by element (f32, partial or padded blocks). */
void quantize_elements(uint b, uint r, uint c0, uint nblk, uint g)
{
    uvec2 word = uvec2(0u);
    uint x0[8], x1[8];
    qk_load_row8(QK_DT, pc.rows, pc.cols, r, c0, x0);
    qk_load_row8(QK_DT, pc.rows, pc.cols, r, c0 + 8u, x1);
    uint m = 0u;
    [[unroll]] for (uint j = 0u; j < 8u; j++)
        m = max(m, max(x0[j] & QK_F32_ABS, x1[j] & QK_F32_ABS));
    if (g != 0u) { /* g == 0: an all-zero tensor, zero codes and scales */
        uint t = block_scale(m, g, r, c0, nblk);
        if (qk_nvfp4_codes_needed(t)) {
            uint c[7]; /* e2m1(clamp(x / t, 6)) by compares, no division */
            qk_nvfp4_bounds(t, c);
            word = uvec2(codes8(x0, c), codes8(x1, c));
        }
    }
    data.w[b] = word;
}

void main()
{
    uint nblk = pc.cp / 16u, blocks = pc.prows * nblk, g = global.w[0];
    if (pc.gather == 0u) { /* a thread per block */
        uint b = qk_item_id();
        if (b >= blocks)
            return;
        uint r = b / nblk, c0 = (b - r * nblk) * 16u;
        if (vector_block(r, c0)) {
            uvec4 q[4];
            load_units(r, c0, q);
            quantize_vectors(b, r, c0, nblk, g, q);
        } else {
            quantize_elements(b, r, c0, nblk, g);
        }
        return;
    }
    /* gather: a grid-stride loop whose next block's vectors are loaded a
     * step ahead; the stride is a multiple of 4, so a scale word's four
     * lanes take the same steps and branches */
    uint stride = gl_NumWorkGroups.x * 256u, b = gl_GlobalInvocationID.x;
    uint r = b / nblk, c0 = (b - r * nblk) * 16u;
    bool vec = b < blocks && vector_block(r, c0);
    uvec4 n[4] = uvec4[4](uvec4(0u), uvec4(0u), uvec4(0u), uvec4(0u));
    if (vec)
        load_units(r, c0, n);
    for (; b < blocks; b += stride) {
        uvec4 q[4] = n;
        uint nb = b + stride, nr = nb / nblk, nc0 = (nb - nr * nblk) * 16u;
        bool nvec = nb < blocks && vector_block(nr, nc0);
        if (nvec)
            load_units(nr, nc0, n);
        if (vec)
            quantize_vectors(b, r, c0, nblk, g, q);
        else
            quantize_elements(b, r, c0, nblk, g);
        r = nr; /* the next block's position and path, found with its loads */
        c0 = nc0;
        vec = nvec;
    }
}
