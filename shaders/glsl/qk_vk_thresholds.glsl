/* float8 / int8 codes of a group's bf16/f16 elements by thresholds, shared
 * by the row and tile shaders (include after qk_vk_scaled.glsl; needs
 * pc.mode and pc.dt and GL_EXT_control_flow_attributes).
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

/* The group's 128 thresholds into s_t (every invocation, uniform control
 * flow: it holds a barrier). a: the group's multiplier (float8) or divisor
 * (int8). */
void qk_fill_thresholds(uint a)
{
    uint lid = gl_LocalInvocationID.x;
    s_t[lid] = lid < 128u ? qk_threshold(pc.mode, pc.dt, a, lid + 1u) : 0xFFFFFFFFu;
    barrier();
}

/* The larger 16-bit magnitude of a word's two elements: widening is
 * monotone in it (NaN and Inf stay >= Inf), so one widen gives the amax. */
uint qk_mag2(uint w) { return max(w & 0x7FFFu, (w >> 16) & 0x7FFFu); }
