/* ConvRot rotation: y = H x per group, H = (H4 (x) H4 (x) ...) / sqrt(G) with
 * the regular Hadamard H4 = [[1,1,1,-1],[1,1,-1,1],[1,-1,1,1],[-1,1,1,1]].
 * H is symmetric and orthogonal, so the same call rotates and unrotates.
 *
 * qk evaluates it as a fast transform in f32 with a fixed order (one H4
 * butterfly per base-4 digit, lowest digit first, sums left to right) and a
 * final exact scaling by 2^-log2(sqrt G). The anchor multiplies by the dense
 * matrix (torch.matmul), whose summation order is unspecified: results can
 * differ in the last bit (documented and measured in the tests). */
#include "ref_internal.h"

void qk_convrot_group(uint32_t *v, int group)
{
    float x[1024];
    memcpy(x, v, (size_t)group * sizeof(float));
    int levels = 0;
    for (int stride = 1; stride < group; stride *= 4, levels++) {
        for (int base = 0; base < group; base += 4 * stride)
            for (int o = 0; o < stride; o++) {
                float *p = x + base + o;
                float a = p[0], b = p[stride], c = p[2 * stride], d = p[3 * stride];
                p[0] = ((a + b) + c) - d;
                p[stride] = ((a + b) - c) + d;
                p[2 * stride] = ((a - b) + c) + d;
                p[3 * stride] = ((b - a) + c) + d;
            }
    }
    memcpy(v, x, (size_t)group * sizeof(float));
    /* 1/sqrt(4^levels) = 2^-levels: exact unless the result is subnormal. */
    uint32_t scale = (uint32_t)(127 - levels) << 23;
    for (int i = 0; i < group; i++)
        v[i] = qk_fmul(v[i], scale);
}
