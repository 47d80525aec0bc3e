#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
/* bitsandbytes NF4/FP4 quantize (qk_vk_bnb4_quantize.glsl) with each
 * block's maximum gathered by subgroup shuffles: no shared maxima and no
 * barrier between the loads and the codes. For 32 <= bs <= 256 with bs / 8
 * at most the subgroup size; the pipeline requires full subgroups, so the
 * invocations of a subgroup take consecutive words and a block's bs / 8
 * words are an aligned run of lanes, which xor offsets below bs / 8 keep to.
 * Integer max and or: the order does not matter. */
#include "qk_vk_bnb4_quantize.glsl"

void main()
{
    uint lid = gl_LocalInvocationID.x;
    if (pc.nf4 != 0u && lid < 128u)
        s_nf4[lid] = tables.w[QK_VK_TAB_NF4 + lid];
    barrier();
    uint e = qk_group_id() * 2048u + (gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID) * 8u;
    uint x[8];
    qk_load8(QK_DT, e, pc.n, x); /* past n: +0, outside the max (a partial block is handled by write_word) */
    uint any = 0u;
    uint m = e < pc.n ? word_max(x, any) : 0u;
    for (uint o = (1u << pc.bs_log2) >> 4; o > 0u; o >>= 1) { /* bs / 16 .. 1: within the block's lanes */
        m = max(m, subgroupShuffleXor(m, o));
        any |= subgroupShuffleXor(any, o);
    }
    if (e < pc.n)
        write_word(e, e & ~((1u << pc.bs_log2) - 1u), 1u << pc.bs_log2, m, any != 0u, x);
}
