/* Whether an f16 int8 code may take q0 = RN(x RN(1/d)) as its quotient
 * without the correction step: over every finite f16 x and positive finite
 * f16 d with |x| <= 256 d (the domain of scaled_groups16.cl's
 * int8_code_rcp), compares the code of T(q0) with the reference's, the
 * code of T(RN(x / d)) (src/ref/ref_int8.c), for int8_tensorwise's clamp
 * to [-128, 127] and int8_blockwise's to [-127, 127]. T is f16's rounding
 * (the codec's); quotients below 2^-14 code as 0 (the kernels' rule). Host
 * IEEE f32, subnormals kept, as the kernels' native products where they
 * take this path. Not part of libqk; about a minute:
 *   cc -O2 -ffp-contract=off -Iinclude -Isrc -o /tmp/f16-q0-check \
 *      tools/f16-int8-q0-check.c -lm && /tmp/f16-q0-check
 * Prints the pairs, the codes that differ (0 expected) and how often T(q0)
 * itself differs from the reference's T (not 0: why it needs checking). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "ref/ref_internal.h" /* qk_bits, qk_float; the codec */

static float round_f16(float x) { return qk_float(qk_f16_to_f32(qk_f32_to_f16(qk_bits(x)))); }

static int code(float q, float low) { return (int)rintf(fminf(fmaxf(q, low), 127.0f)) & 0xFF; }

int main(void)
{
    long pairs = 0, t_differ = 0, differ[2] = {0, 0};
    static const float low[2] = {-128.0f, -127.0f};
    for (uint32_t db = 1; db < 0x7C00u; db++) {
        float d = qk_float(qk_f16_to_f32(db)), r = 1.0f / d;
        for (uint32_t xb = 0; xb < 0x10000u; xb++) {
            float x = qk_float(qk_f16_to_f32(xb));
            if ((xb & 0x7C00u) == 0x7C00u || fabsf(x) > 256.0f * d)
                continue;
            pairs++;
            float ref = round_f16(x / d), q0 = x * r;
            float t = fabsf(q0) < 0x1p-14f ? 0.0f : round_f16(q0);
            t_differ += qk_bits(ref) != qk_bits(t) && fabsf(ref) >= 0x1p-14f;
            for (int k = 0; k < 2; k++)
                if (code(ref, low[k]) != code(t, low[k]) && differ[k]++ < 5)
                    printf("d %04x x %04x: reference %a, q0 %a (clamp at %g)\n", db, xb, ref, q0, low[k]);
        }
    }
    printf("%ld pairs; codes differing: %ld (clamp at -128), %ld (at -127); T(q0) differing: %ld\n", pairs,
           differ[0], differ[1], t_differ);
    return differ[0] || differ[1];
}
