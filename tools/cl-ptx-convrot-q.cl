/* Wrapper kernels for tools/cl-ptx-offline.sh (QK_CL_APPEND): ConvRot row
 * quantize's native path (convrot_rows.cl's cr_quantize_native_rows, the
 * body of the convrot_quantize_native_* kernels) with the dtype and group
 * size fixed, so that the count is that of one path's code (the other
 * dtypes' and group sizes' fall away as dead code). */
__kernel void crq_bf16_g256(__global const uint4 *in, ulong rows, uint cols, __global uint *scale,
                            __global uint4 *data, __global uint *status, __local uint4 *v, __local uint *slot)
{
    cr_quantize_native_rows(in, DT_BF16, rows, cols, 256u, 4u, scale, data, status, v, slot);
}

__kernel void crq_bf16_g64(__global const uint4 *in, ulong rows, uint cols, __global uint *scale,
                           __global uint4 *data, __global uint *status, __local uint4 *v, __local uint *slot)
{
    cr_quantize_native_rows(in, DT_BF16, rows, cols, 64u, 3u, scale, data, status, v, slot);
}

__kernel void crq_f16_g256(__global const uint4 *in, ulong rows, uint cols, __global uint *scale,
                           __global uint4 *data, __global uint *status, __local uint4 *v, __local uint *slot)
{
    cr_quantize_native_rows(in, DT_F16, rows, cols, 256u, 4u, scale, data, status, v, slot);
}

__kernel void crq_f32_g256(__global const uint4 *in, ulong rows, uint cols, __global uint *scale,
                           __global uint4 *data, __global uint *status, __local uint4 *v, __local uint *slot)
{
    cr_quantize_native_rows(in, DT_F32, rows, cols, 256u, 4u, scale, data, status, v, slot);
}
