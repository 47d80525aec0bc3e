/* Every qk CUDA kernel in one translation unit (one fatbin, one module).
 * Built by cuda/meson.build with -fmad=false -ftz=false -prec-div=true
 * -prec-sqrt=true; never fast-math. Kernel names are extern "C" so the
 * host resolves them with cuModuleGetFunction. */
#include "k_bnb4.cuh"
#include "k_bnb4_f32.cuh"
#include "k_blocked.cuh"
#include "k_nvfp4_quantize16.cuh"
#include "k_nvfp4_dequantize.cuh"
#include "k_blocked_dequantize_spans.cuh"
#include "k_scaled.cuh"
#include "k_group_quantize.cuh"
#include "k_group_dequantize.cuh"
#include "k_convrot_rows.cuh"
#include "k_convrot64.cuh"
#include "k_convrot_rows_q.cuh"
#include "k_code_table.cuh"
#include "k_selftest.cuh"
