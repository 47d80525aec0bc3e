#version 450
/* ComfyUI NVFP4 quantize (src/ref/ref_nvfp4.c) over the 16x16-padded data:
 * one thread per data word (8 columns); a 16-block is a thread pair. Scale
 * bytes are OR-ed into their word of the blocked layout (zeroed first).
 * Codes come from seven per-block bounds (qk_nvfp4_bounds), not a division
 * per element; the pair's even thread computes them once, into shared
 * memory. Rows whose width is a multiple of 8 load with one 16-byte load
 * (bf16/f16). */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In { uvec4 w[]; } src;
layout(std430, binding = 1) writeonly buffer Data { uint w[]; } data;
layout(std430, binding = 2) buffer Scale { uint w[]; } scale;
layout(std430, binding = 3) readonly buffer Global { uint w[]; } global; /* g at [0] */
layout(push_constant) uniform PC {
    uint rows;  /* input rows present in this chunk */
    uint prows; /* padded rows in this chunk */
    uint cols;
    uint cp;    /* padded columns */
    uint dt;
} pc;
#include "qk_vk.glsl"
#include "qk_vk_load.glsl"

shared uint s_max[128];
shared uint s_bound[128 * 8]; /* a pair's seven bounds, then whether it codes */

void main()
{
    uint w = qk_item_id(), lid = gl_LocalInvocationID.x, pair = lid >> 1;
    uint wpr = pc.cp / 8u;
    bool live = w < pc.prows * wpr;
    uint r = w / wpr, c0 = (w - r * wpr) * 8u;
    uint x[8];
    if (live && r < pc.rows && c0 < pc.cols && (pc.cols & 7u) == 0u) {
        qk_load8(pc.dt, r * pc.cols + c0, r * pc.cols + pc.cols, x);
    } else {
        for (uint j = 0u; j < 8u; j++)
            x[j] = live && r < pc.rows && c0 + j < pc.cols ? qk_load(pc.dt, r * pc.cols + c0 + j) : 0u;
    }
    uint m = 0u;
    for (uint j = 0u; j < 8u; j++)
        m = max(m, x[j] & QK_F32_ABS);
    if ((lid & 1u) == 0u)
        s_max[pair] = 0u;
    barrier();
    atomicMax(s_max[pair], m);
    barrier();
    uint g = global.w[0];
    if (live && (lid & 1u) == 0u) {
        bool codes = false;
        /* g == 0: an all-zero tensor, zero codes and scales */
        if (g != 0u) {
            uint s = qk_div(qk_div(s_max[pair], QK_F32_E2M1_MAX), g);
            if (s > QK_F32_E4M3_MAX)
                s = QK_F32_E4M3_MAX;
            uint s8 = qk_to_e4m3(s);
            if (s8 != 0u) {
                uint off = qk_blocked_off(r, c0 / 16u, pc.cp / 16u);
                atomicOr(scale.w[off >> 2], s8 << ((off & 3u) * 8u));
            }
            uint t = qk_mul(g, qk_e4m3_to_f32(s8));
            /* t == 0: the reference's zero block. A non-finite t needs a
             * NaN/Inf input, which scales.comp flags and the call refuses:
             * zero codes. */
            codes = (t & QK_F32_ABS) - 1u < QK_F32_INF - 1u;
            if (codes) {
                uint c[7]; /* e2m1(clamp(x / t, 6)) by compares, no division */
                qk_nvfp4_bounds(t, c);
                for (uint k = 0u; k < 7u; k++)
                    s_bound[pair * 8u + k] = c[k];
            }
        }
        s_bound[pair * 8u + 7u] = codes ? 1u : 0u;
    }
    barrier();
    if (!live)
        return;
    uint word = 0u;
    if (s_bound[pair * 8u + 7u] != 0u) {
        uint c[7];
        for (uint k = 0u; k < 7u; k++)
            c[k] = s_bound[pair * 8u + k];
        /* the code magnitude is the number of bounds |x| passes (they are
         * non-decreasing), counted with constant indices: registers only */
        for (uint j = 0u; j < 8u; j++) {
            uint a = x[j] & QK_F32_ABS, n = 0u;
            for (uint k = 0u; k < 7u; k++)
                n += a > c[k] ? 1u : 0u;
            word |= (((x[j] >> 28) & 8u) | n) << ((j >> 1) * 8u + ((j & 1u) == 0u ? 4u : 0u));
        }
    }
    data.w[w] = word;
}
