#version 450
#extension GL_EXT_control_flow_attributes : require
/* bitsandbytes NF4/FP4 quantize (qk_vk_bnb4_quantize.glsl) with each
 * block's maximum gathered by shared-memory atomics: any block size. */
#include "qk_vk_bnb4_quantize.glsl"

shared uint s_max[64];
shared uint s_any[64];

/* Writes the codes of the word at element e (and, at its block's start,
 * the block's absmax) once the workgroup's maxima are in. */
void code_word(uint e, uint e_wg, uint bs, uint x[8])
{
    if (e >= pc.n)
        return;
    uint lb = (e - e_wg) >> pc.bs_log2;
    write_word(e, e_wg + (lb << pc.bs_log2), bs, s_max[lb], s_any[lb] != 0u, x);
}

void main()
{
    uint bs = 1u << pc.bs_log2;
    uint span = max(2048u, bs);
    uint wpt = span / 2048u; /* words per thread: 1, or 2 for bs 4096 */
    uint e_wg = qk_group_id() * span;
    uint lid = gl_LocalInvocationID.x;
    uint nblk = span >> pc.bs_log2;
    if (lid < nblk) {
        s_max[lid] = 0u;
        s_any[lid] = 0u;
    }
    if (pc.nf4 != 0u && lid < 128u)
        s_nf4[lid] = tables.w[QK_VK_TAB_NF4 + lid];
    barrier();
    /* elements past n are excluded from the max (a partial block is
     * handled below) and code as +0 */
    uint e0 = e_wg + lid * 8u, e1 = e0 + 2048u;
    uint x0[8], x1[8];
    qk_load8(QK_DT, e0, pc.n, x0);
    uint any0 = 0u, any1 = 0u;
    uint m0 = e0 < pc.n ? word_max(x0, any0) : 0u;
    uint lb0 = lid * 8u >> pc.bs_log2;
    atomicMax(s_max[lb0], m0);
    if (any0 != 0u)
        atomicOr(s_any[lb0], 1u);
    if (wpt > 1u) {
        qk_load8(QK_DT, e1, pc.n, x1);
        uint m1 = e1 < pc.n ? word_max(x1, any1) : 0u;
        uint lb1 = (e1 - e_wg) >> pc.bs_log2;
        atomicMax(s_max[lb1], m1);
        if (any1 != 0u)
            atomicOr(s_any[lb1], 1u);
    }
    barrier();
    /* straight-line calls, not a loop choosing x0 or x1 by index: a
     * dynamically chosen array went to local memory on NVIDIA */
    code_word(e0, e_wg, bs, x0);
    if (wpt > 1u)
        code_word(e1, e_wg, bs, x1);
}
