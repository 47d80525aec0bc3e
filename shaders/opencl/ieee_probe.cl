/* qcl_probe_ieee's kernel (src/backends/opencl/cl_probe.c): the device's
 * own f32 mul, add and div of operand pairs, nothing else. */
#pragma OPENCL FP_CONTRACT OFF
__kernel void ieee_probe(__global const uint *a, __global const uint *b, int with_div, __global uint *out)
{
    size_t i = get_global_id(0);
    float x = as_float(a[i]), y = as_float(b[i]);
    out[3 * i] = as_uint(x * y);
    out[3 * i + 1] = as_uint(x + y);
    out[3 * i + 2] = with_div != 0 ? as_uint(x / y) : 0u;
}
