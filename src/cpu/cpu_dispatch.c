/* Format switch of the fast CPU kernels. */
#include "cpu_internal.h"

qk_status qk_cpu_quantize(const qk_ref_args *a, const void *in, void *const parts[4])
{
    switch (a->params->format) {
    case QK_FORMAT_NF4:
    case QK_FORMAT_FP4: return qk_cpu_bnb4_quantize(a, in, parts);
    case QK_FORMAT_NVFP4: return qk_cpu_nvfp4_quantize(a, in, parts);
    case QK_FORMAT_MXFP8: return qk_cpu_mxfp8_quantize(a, in, parts);
    case QK_FORMAT_INT8_TENSORWISE:
        if (a->params->convrot_group > 0)
            return qk_cpu_convrot_quantize(a, in, parts);
        return qk_cpu_scaled_quantize(a, in, parts);
    case QK_FORMAT_FLOAT8_E4M3FN:
    case QK_FORMAT_FLOAT8_E5M2:
    case QK_FORMAT_INT8_BLOCKWISE: return qk_cpu_scaled_quantize(a, in, parts);
    default: return QK_ERR_UNSUPPORTED;
    }
}

qk_status qk_cpu_dequantize(const qk_ref_args *a, const void *const parts[4], void *out)
{
    switch (a->params->format) {
    case QK_FORMAT_NF4:
    case QK_FORMAT_FP4: return qk_cpu_bnb4_dequantize(a, parts, out);
    case QK_FORMAT_NVFP4: return qk_cpu_nvfp4_dequantize(a, parts, out);
    case QK_FORMAT_MXFP8: return qk_cpu_mxfp8_dequantize(a, parts, out);
    case QK_FORMAT_INT8_TENSORWISE:
        if (a->params->convrot_group > 0)
            return qk_cpu_convrot_dequantize(a, parts, out);
        return qk_cpu_scaled_dequantize(a, parts, out);
    case QK_FORMAT_FLOAT8_E4M3FN:
    case QK_FORMAT_FLOAT8_E5M2:
    case QK_FORMAT_INT8_BLOCKWISE: return qk_cpu_scaled_dequantize(a, parts, out);
    default: return QK_ERR_UNSUPPORTED;
    }
}
