/* qk OpenCL C program, part 1 of the embedded source (libqk concatenates:
 * prelude.cl, src/codec/qk_codec.h, f32_add.cl, fast_codec.cl, common.cl, then one file per
 * format family). Exactness: no contraction into fma anywhere; the host adds
 * -DQK_NATIVE_MUL / -DQK_NATIVE_DIV only where the device's native f32
 * operations are correctly rounded with subnormals (common.cl). */
#pragma OPENCL FP_CONTRACT OFF
