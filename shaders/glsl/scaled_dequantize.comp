#version 450
/* float8 and int8 (without ConvRot) dequantize: one thread per 8 elements.
 * With one scale for the tensor (pc.lay 1) an element's output is a
 * function of its code, so each workgroup tabulates the 256 outputs first.
 * Where the host knows a vector of 8 lies in one scale group (pc.lay 2-3)
 * the thread finds that group with at most one division and, when no
 * product can leave the normal range and no code is a float8 NaN or Inf,
 * multiplies natively; otherwise (pc.lay 0) the group is followed element
 * by element along the row. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Data { uvec2 w[]; } data;
layout(std430, binding = 1) readonly buffer Scale { uint w[]; } scale;
layout(std430, binding = 2) writeonly buffer Out { uvec4 w[]; } dst;
layout(push_constant) uniform PC {
    uint n;
    uint e0;
    uint cols;
    uint bh;
    uint bw;
    uint gc;
    uint dt;
    uint mode; /* 0 e4m3, 1 e5m2, 2 int8_tensorwise, 3 int8_blockwise */
    uint lay;  /* 0 any, 1 the tensor, 2 rows (cols % 8 == 0), 3 tiles of 2^rsh rows by 2^csh >= 8 columns */
    uint rsh;
    uint csh;
} pc;
#include "qk_vk.glsl"
#include "qk_vk_store.glsl"

uint multiplier_of(uint s) { return pc.mode == 2u ? s : qk_round_to(QK_DT, s); }

uint multiplier(uint r, uint c) { return multiplier_of(scale.w[(r / pc.bh) * pc.gc + c / pc.bw]); }

/* Code values: T(fp8 value) for float8, the integer as f32 for int8. */
shared uint s_lut[256];
/* With one scale (pc.lay 1): each code's stored output, 16-bit or f32
 * bits, as the per-element path would make it (qk_mul, then narrowing). */
shared uint s_out[256];

/* Whether a word of four float8 codes holds a NaN or Inf (e4m3fn: 0x7F and
 * 0xFF; e5m2: exponent field all ones): a byte's masked bits plus the
 * mask's lowest bit carry into its top bit only when all are set. */
bool fp8_special4(uint w)
{
    uint m = pc.mode == 1u ? 0x7C7C7C7Cu : 0x7F7F7F7Fu, one = pc.mode == 1u ? 0x04040404u : 0x01010101u;
    return (((w & m) + one) & 0x80808080u) != 0u;
}

uint code(uvec2 q, uint j) { return ((j < 4u ? q.x : q.y) >> ((j & 3u) * 8u)) & 0xFFu; }

void dequantize_vector(uint e)
{
    /* the chunk's bytes are whole 8-byte units: its binding is rounded up */
    uvec2 q = data.w[e >> 3];
    uint v[8];
    if (pc.lay == 1u) {
        [[unroll]] for (uint j = 0u; j < 8u; j++)
            v[j] = s_out[code(q, j)];
        qk_store8_bits(QK_DT, e, pc.n, v);
        return;
    }
    if (pc.lay != 0u) { /* 2 or 3: lay 1 returned above */
        uint gi = pc.e0 + e, r = gi / pc.cols;
        uint g = pc.lay == 2u ? r : (r >> pc.rsh) * pc.gc + ((gi - r * pc.cols) >> pc.csh);
        uint f = multiplier_of(scale.w[g]);
        /* products straight from the table (loading v first and calling
         * qk_mul8 was part of a change measured 2.3x slower here) */
        if (qk_plain_factor(f) && (pc.mode >= 2u || !(fp8_special4(q.x) || fp8_special4(q.y)))) {
            for (uint j = 0u; j < 8u; j++) {
                precise float p = uintBitsToFloat(s_lut[code(q, j)]) * uintBitsToFloat(f);
                v[j] = floatBitsToUint(p);
            }
        } else {
            for (uint j = 0u; j < 8u; j++)
                v[j] = qk_mul(s_lut[code(q, j)], f);
        }
        qk_store8(QK_DT, e, pc.n, v);
        return;
    }
    uint gi = pc.e0 + e;
    uint r = gi / pc.cols, c = gi - r * pc.cols;
    uint next = (c / pc.bw + 1u) * pc.bw; /* column where the group changes */
    uint s = multiplier(r, c);
    for (uint j = 0u; j < 8u; j++) {
        if (j > 0u) {
            if (++c == pc.cols) {
                c = 0u;
                r++;
                next = pc.bw;
                s = multiplier(r, c);
            } else if (c == next) {
                next += pc.bw;
                s = multiplier(r, c);
            }
        }
        v[j] = qk_mul(s_lut[code(q, j)], s);
    }
    qk_store8(QK_DT, e, pc.n, v);
}

/* f32 with pc.lay 1-3: elements e .. e+3 (a multiple of 4, in one
 * group), one 16-byte store (qk_store4_f32). */
void dequantize_quad(uint e)
{
    uint q = data.w[e >> 3][(e >> 2) & 1u], v[4];
    if (pc.lay == 1u) {
        [[unroll]] for (uint j = 0u; j < 4u; j++)
            v[j] = s_out[(q >> (8u * j)) & 0xFFu];
    } else {
        uint gi = pc.e0 + e, r = gi / pc.cols;
        uint g = pc.lay == 2u ? r : (r >> pc.rsh) * pc.gc + ((gi - r * pc.cols) >> pc.csh);
        uint f = multiplier_of(scale.w[g]);
        if (qk_plain_factor(f) && (pc.mode >= 2u || !fp8_special4(q))) {
            [[unroll]] for (uint j = 0u; j < 4u; j++) {
                precise float p = uintBitsToFloat(s_lut[(q >> (8u * j)) & 0xFFu]) * uintBitsToFloat(f);
                v[j] = floatBitsToUint(p);
            }
        } else {
            for (uint j = 0u; j < 4u; j++)
                v[j] = qk_mul(s_lut[(q >> (8u * j)) & 0xFFu], f);
        }
    }
    qk_store4_f32(e, pc.n, v);
}

void main()
{
    uint lid = gl_LocalInvocationID.x;
    if (pc.mode < 2u)
        s_lut[lid] = qk_round_to(QK_DT, pc.mode == 1u ? qk_e5m2_to_f32(lid) : qk_e4m3_to_f32(lid));
    else
        s_lut[lid] = floatBitsToUint(float(int(lid << 24) >> 24)); /* exact: |q| <= 128 */
    if (pc.lay == 1u) {
        uint x = qk_mul(s_lut[lid], multiplier_of(scale.w[0]));
        s_out[lid] = QK_DT == DT_F32 ? x : qk_narrow(QK_DT, x);
    }
    barrier();

    /* grid-stride: the host dispatches a bounded number of workgroups
     * (QK_VK_STRIDE_GROUPS), so each builds its table once for many vectors */
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    if (QK_DT == DT_F32 && pc.lay != 0u) {
        for (uint t = gl_GlobalInvocationID.x; t < (pc.n + 3u) / 4u; t += stride)
            dequantize_quad(t * 4u);
        return;
    }
    for (uint t = gl_GlobalInvocationID.x; t < (pc.n + 7u) / 8u; t += stride)
        dequantize_vector(t * 8u);
}
