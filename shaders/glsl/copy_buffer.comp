#version 450
/* The bench's compute copy (vk_backend.c): one chunk of 32-bit words, a
 * uvec4 per invocation and step of a grid-stride loop. It exists because
 * vkCmdCopyBuffer on a compute queue can run far below what shaders reach
 * (a fifth of cuMemcpyDtoD on an H200), which would make a dishonest
 * ceiling. */
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Src4 { uvec4 w[]; } src4;  /* whole 16-byte units */
layout(std430, binding = 1) writeonly buffer Dst4 { uvec4 w[]; } dst4;
layout(std430, binding = 2) readonly buffer Src { uint w[]; } src;     /* the chunk: its tail */
layout(std430, binding = 3) writeonly buffer Dst { uint w[]; } dst;
layout(push_constant) uniform PC {
    uint n; /* words in this chunk */
} pc;

void main()
{
    uint units = pc.n / 4u, stride = gl_NumWorkGroups.x * 256u;
    for (uint u = gl_GlobalInvocationID.x; u < units; u += stride)
        dst4.w[u] = src4.w[u];
    if (gl_GlobalInvocationID.x == 0u) /* the last n % 4 words */
        for (uint e = units * 4u; e < pc.n; e++)
            dst.w[e] = src.w[e];
}
