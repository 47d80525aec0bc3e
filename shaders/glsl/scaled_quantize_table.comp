#version 450
/* Tensor-scaled float8 / int8_tensorwise of bf16/f16 input, step 2: each
 * workgroup copies the 32 KiB code table (scaled_table16.comp) into shared
 * memory, then every element is one lookup. Grid-stride over 8-element
 * units (one 16-byte load, one 8-byte store) so the copy is amortised; the
 * host dispatches at most 4096 workgroups. Each unit is loaded a step
 * ahead (H200, bf16 float8 per tensor: 45% -> 48% of the copy, against a
 * 60% bound). */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer In4 { uvec4 w[]; } src4;    /* whole units */
layout(std430, binding = 1) writeonly buffer Data2 { uvec2 w[]; } data2; /* whole units */
layout(std430, binding = 2) readonly buffer Table { uint w[]; } tab;
layout(std430, binding = 3) readonly buffer In { uint w[]; } src;       /* the chunk: its tail */
layout(std430, binding = 4) writeonly buffer Data { uint w[]; } data;
layout(push_constant) uniform PC {
    uint n;    /* elements in this chunk */
    uint int8; /* 1: int8_tensorwise, 0: float8 */
} pc;

shared uint s_tab[8192];

uint code(uint h)
{
    uint m = (s_tab[(h & 0x7FFFu) >> 2] >> (8u * (h & 3u))) & 0xFFu;
    if (pc.int8 == 0u)
        return m | ((h >> 8) & 0x80u);
    return (h & 0x8000u) != 0u ? (0u - m) & 0xFFu : min(m, 127u);
}

uint code4(uint w0, uint w1)
{
    return code(w0 & 0xFFFFu) | (code(w0 >> 16) << 8) | (code(w1 & 0xFFFFu) << 16) | (code(w1 >> 16) << 24);
}

void main()
{
    /* the first unit's load is in flight during the table copy */
    uint units = pc.n >> 3, stride = gl_NumWorkGroups.x * 256u, u = gl_GlobalInvocationID.x;
    uvec4 next = u < units ? src4.w[u] : uvec4(0u);
    for (uint k = gl_LocalInvocationID.x; k < 8192u; k += 256u)
        s_tab[k] = tab.w[k];
    barrier();
    for (; u < units; u += stride) {
        uvec4 w = next;
        if (u + stride < units)
            next = src4.w[u + stride];
        data2.w[u] = uvec2(code4(w.x, w.y), code4(w.z, w.w));
    }
    if (gl_GlobalInvocationID.x == 0u) { /* the last n % 8 elements */
        for (uint e = units * 8u; e < pc.n; e += 4u) {
            uint word = 0u;
            for (uint j = 0u; j < 4u && e + j < pc.n; j++)
                word |= code((src.w[(e + j) >> 1] >> (16u * ((e + j) & 1u))) & 0xFFFFu) << (8u * j);
            data.w[e >> 2] = word;
        }
    }
}
