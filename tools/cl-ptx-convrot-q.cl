/* Wrapper kernels for tools/cl-ptx-offline.sh (QK_CL_APPEND): ConvRot row
 * quantize (convrot_rows.cl) with the dtype and group size fixed, so that
 * the count is that of one path's code (the other dtypes' and group sizes'
 * fall away as dead code). */
__kernel void crq_bf16_g256(__global const uint4 *in, ulong rows, uint cols, __global uint *scale,
                            __global uint4 *data, __global uint *status, __local uint *v, __local uint *red)
{
    cr_quantize_body(in, DT_BF16, rows, cols, 256u, 4u, scale, data, status, v, red);
}

__kernel void crq_bf16_g64(__global const uint4 *in, ulong rows, uint cols, __global uint *scale,
                           __global uint4 *data, __global uint *status, __local uint *v, __local uint *red)
{
    cr_quantize_body(in, DT_BF16, rows, cols, 64u, 3u, scale, data, status, v, red);
}

__kernel void crq_f16_g256(__global const uint4 *in, ulong rows, uint cols, __global uint *scale,
                           __global uint4 *data, __global uint *status, __local uint *v, __local uint *red)
{
    cr_quantize_body(in, DT_F16, rows, cols, 256u, 4u, scale, data, status, v, red);
}
