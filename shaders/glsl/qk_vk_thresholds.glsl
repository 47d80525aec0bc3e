/* float8 / int8 codes of a group's bf16/f16 elements by thresholds, shared
 * by the row and tile shaders (include after qk_vk_scaled.glsl; needs
 * pc.mode and QK_DT, GL_EXT_control_flow_attributes and
 * GL_KHR_memory_scope_semantics).
 *
 * s_t[k - 1] is the smallest 16-bit magnitude whose code magnitude is >= k
 * (qk_threshold, the coder's own answer), so an element's code magnitude is
 * the number of thresholds <= |h|: a few coder calls a threshold instead of
 * one an element. (Finding that count from a native estimate and two
 * lookups instead of the 8-step search measured 3-8% slower on the H200.) */
shared uint s_t[256]; /* thresholds, then 0xFFFFFFFF */

/* The code of the 16-bit element h (8 steps over the 256 sorted entries). */
uint qk_code_by_thresholds(uint h)
{
    uint mag = h & 0x7FFFu, m = 0u;
    [[unroll]] for (uint step = 128u; step > 0u; step >>= 1)
        if (s_t[m + step - 1u] <= mag)
            m += step;
    return qk_signed_code(pc.mode, h, m);
}

/* Thresholds depend only on (mode, dtype, a), and a is a 16-bit value of
 * the dtype, so they are kept device-wide (VB_THRESH, binding 5): per key
 * (a's 16-bit pattern) a tag (1 + 2 mode + f16) and 64 words of packed
 * thresholds. The first workgroups that need a key compute it (several at
 * once write the same words), store the words and then, with release, the
 * tag; a workgroup that reads the tag with acquire takes the words instead
 * of computing them. A weight tensor has few distinct keys, so nearly every
 * group skips the 128 searches. Atomics throughout: the words are only read
 * after their tag. Where the host binds no table (the dummy: a binding
 * range too small for it), every group computes its own. */
#define QK_VK_THRESH_KEYS 32768u /* vk_internal.h */
layout(std430, binding = 5) buffer Thresh { uint w[]; } thresh;
shared uint s_hit;

/* The group's 128 thresholds into s_t (every invocation, uniform control
 * flow: it holds barriers). a: the group's multiplier (float8) or divisor
 * (int8), a bf16/f16 value. */
void qk_fill_thresholds(uint a)
{
    uint lid = gl_LocalInvocationID.x;
    uint key = qk_narrow(QK_DT, a) & 0x7FFFu, tag = 1u + 2u * pc.mode + (QK_DT == DT_F16 ? 1u : 0u);
    uint base = QK_VK_THRESH_KEYS + key * 64u;
    bool table = uint(thresh.w.length()) >= 65u * QK_VK_THRESH_KEYS; /* uniform */
    if (lid == 0u)
        s_hit = table && atomicLoad(thresh.w[key], gl_ScopeDevice, gl_StorageSemanticsBuffer,
                                    gl_SemanticsAcquire) == tag ? 1u : 0u;
    controlBarrier(gl_ScopeWorkgroup, gl_ScopeWorkgroup, gl_StorageSemanticsShared | gl_StorageSemanticsBuffer,
                   gl_SemanticsAcquireRelease);
    bool hit = s_hit != 0u; /* uniform */
    if (hit) {
        uint w = lid < 128u ? atomicLoad(thresh.w[base + (lid >> 1)], gl_ScopeDevice, gl_StorageSemanticsBuffer,
                                         gl_SemanticsRelaxed) : 0u;
        s_t[lid] = lid < 128u ? (w >> (16u * (lid & 1u))) & 0xFFFFu : 0xFFFFFFFFu;
    } else {
        s_t[lid] = lid < 128u ? qk_threshold(pc.mode, QK_DT, a, lid + 1u) : 0xFFFFFFFFu;
    }
    barrier();
    if (table && !hit) {
        if (lid < 64u)
            atomicStore(thresh.w[base + lid], s_t[2u * lid] | (s_t[2u * lid + 1u] << 16), gl_ScopeDevice,
                        gl_StorageSemanticsBuffer, gl_SemanticsRelaxed);
        controlBarrier(gl_ScopeWorkgroup, gl_ScopeDevice, gl_StorageSemanticsBuffer, gl_SemanticsAcquireRelease);
        if (lid == 0u)
            atomicStore(thresh.w[key], tag, gl_ScopeDevice, gl_StorageSemanticsBuffer, gl_SemanticsRelease);
    }
}
