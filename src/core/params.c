/* Format parameters: defaults, validation, part layouts and names. */
#include <string.h>

#include "core_internal.h"

static int is_pow2(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

qk_status qk_params_default(qk_format format, qk_params *out)
{
    if (out == NULL)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "qk_params_default: out is NULL");
    if ((unsigned)format >= QK_FORMAT_COUNT)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "unknown format %d", (int)format);
    memset(out, 0, sizeof *out);
    out->format = format;
    out->scaling = QK_SCALING_TENSOR;
    switch (format) {
    case QK_FORMAT_NF4:
    case QK_FORMAT_FP4: out->block_size = 64; break;
    case QK_FORMAT_NVFP4: out->block_size = 16; break;
    case QK_FORMAT_MXFP8: out->block_size = 32; break;
    case QK_FORMAT_INT8_BLOCKWISE:
        out->scaling = QK_SCALING_BLOCK;
        out->block_size = 128;
        break;
    default: out->block_size = 128; break; /* used only by block scaling */
    }
    return QK_OK;
}

qk_status qk_params_validate(const qk_params *p, int64_t rows, int64_t cols)
{
    if (p == NULL)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "params is NULL");
    const char *fn = qk_format_name(p->format);
    if (fn == NULL)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "unknown format %d", (int)p->format);
    if (rows < 1 || cols < 1)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "%s: shape %lldx%lld must be at least 1x1", fn,
                       (long long)rows, (long long)cols);
    /* Padded shapes and byte counts of every part must fit comfortably. */
    if (rows > ((int64_t)1 << 40) || cols > ((int64_t)1 << 31) || rows > ((int64_t)1 << 58) / cols)
        return qk_fail(QK_ERR_OVERFLOW, "%s: shape %lldx%lld is too large", fn, (long long)rows,
                       (long long)cols);
    if (p->double_quant && p->format != QK_FORMAT_NF4 && p->format != QK_FORMAT_FP4)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "%s: double quant is a bitsandbytes option", fn);
    if (p->convrot_group != 0 && p->format != QK_FORMAT_INT8_TENSORWISE)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "%s: ConvRot applies to int8_tensorwise only", fn);
    switch (p->format) {
    case QK_FORMAT_NF4:
    case QK_FORMAT_FP4:
        if (!is_pow2(p->block_size) || p->block_size < 32 || p->block_size > 4096)
            return qk_fail(QK_ERR_INVALID_ARGUMENT,
                           "%s: block size %d must be a power of two in 32..4096", fn, p->block_size);
        break;
    case QK_FORMAT_NVFP4:
    case QK_FORMAT_MXFP8: {
        int fixed = p->format == QK_FORMAT_NVFP4 ? 16 : 32;
        if (p->block_size != 0 && p->block_size != fixed)
            return qk_fail(QK_ERR_INVALID_ARGUMENT, "%s: block size is fixed at %d", fn, fixed);
        break;
    }
    case QK_FORMAT_FLOAT8_E4M3FN:
    case QK_FORMAT_FLOAT8_E5M2:
    case QK_FORMAT_INT8_TENSORWISE:
    case QK_FORMAT_INT8_BLOCKWISE: {
        qk_scaling s = p->scaling;
        if ((unsigned)s > QK_SCALING_BLOCK)
            return qk_fail(QK_ERR_INVALID_ARGUMENT, "%s: unknown scaling %d", fn, (int)s);
        if (p->format == QK_FORMAT_INT8_TENSORWISE && s == QK_SCALING_BLOCK)
            return qk_fail(QK_ERR_INVALID_ARGUMENT,
                           "int8_tensorwise: scaling is per tensor or per row (use int8_blockwise for tiles)");
        if (p->format == QK_FORMAT_INT8_BLOCKWISE && s != QK_SCALING_BLOCK)
            return qk_fail(QK_ERR_INVALID_ARGUMENT, "int8_blockwise: scaling must be block");
        if (s == QK_SCALING_BLOCK && (p->block_size < 1 || p->block_size > 65536))
            return qk_fail(QK_ERR_INVALID_ARGUMENT, "%s: block size %d must be in 1..65536", fn,
                           p->block_size);
        if (p->convrot_group != 0) {
            int g = p->convrot_group;
            if (g != 4 && g != 16 && g != 64 && g != 256 && g != 1024)
                return qk_fail(QK_ERR_INVALID_ARGUMENT,
                               "int8_tensorwise: ConvRot group %d must be 4, 16, 64, 256 or 1024", g);
            if (s != QK_SCALING_ROW)
                return qk_fail(QK_ERR_INVALID_ARGUMENT, "int8_tensorwise: ConvRot needs per-row scaling");
            if (cols % g != 0)
                return qk_fail(QK_ERR_INVALID_ARGUMENT,
                               "int8_tensorwise: %lld columns are not a multiple of the ConvRot group %d",
                               (long long)cols, g);
        }
        break;
    }
    default: break;
    }
    return QK_OK;
}

static void set_part(qk_part_info *pi, qk_dtype dt, int ndim, int64_t d0, int64_t d1)
{
    pi->dtype = dt;
    pi->ndim = ndim;
    pi->shape[0] = ndim > 0 ? d0 : 0;
    pi->shape[1] = ndim > 1 ? d1 : 0;
    int64_t n = ndim == 0 ? 1 : (ndim == 1 ? d0 : d0 * d1);
    pi->nbytes = (size_t)n * qk_dtype_size(dt);
}

static int64_t rup(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

/* Scale part of the scaled formats: scalar, [rows, 1] or [tiles down, across]. */
static void set_scaled_scale(qk_part_info *pi, const qk_params *p, int64_t rows, int64_t cols)
{
    if (p->scaling == QK_SCALING_ROW)
        set_part(pi, QK_DTYPE_F32, 2, rows, 1);
    else if (p->scaling == QK_SCALING_BLOCK)
        set_part(pi, QK_DTYPE_F32, 2, (rows + p->block_size - 1) / p->block_size,
                 (cols + p->block_size - 1) / p->block_size);
    else
        set_part(pi, QK_DTYPE_F32, 0, 0, 0);
}

qk_status qk_layout_query(const qk_params *p, int64_t rows, int64_t cols, qk_layout *out)
{
    if (out == NULL)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "qk_layout_query: out is NULL");
    qk_status st = qk_params_validate(p, rows, cols);
    if (st != QK_OK)
        return st;
    memset(out, 0, sizeof *out);
    int64_t n = rows * cols;
    switch (p->format) {
    case QK_FORMAT_NF4:
    case QK_FORMAT_FP4: {
        int64_t nb = (n + p->block_size - 1) / p->block_size;
        set_part(&out->part[QK_PART_DATA], QK_DTYPE_U8, 2, (n + 1) / 2, 1);
        if (p->double_quant) {
            set_part(&out->part[QK_PART_SCALE], QK_DTYPE_U8, 1, nb, 0);
            set_part(&out->part[QK_PART_SCALE2], QK_DTYPE_F32, 1, (nb + 255) / 256, 0);
            set_part(&out->part[QK_PART_OFFSET], QK_DTYPE_F32, 0, 0, 0);
        } else {
            set_part(&out->part[QK_PART_SCALE], QK_DTYPE_F32, 1, nb, 0);
        }
        break;
    }
    case QK_FORMAT_NVFP4: {
        int64_t rp = rup(rows, 16), cp = rup(cols, 16);
        set_part(&out->part[QK_PART_DATA], QK_DTYPE_U8, 2, rp, cp / 2);
        set_part(&out->part[QK_PART_SCALE], QK_DTYPE_F8_E4M3, 2, rup(rp, 128), rup(cp / 16, 4));
        set_part(&out->part[QK_PART_SCALE2], QK_DTYPE_F32, 0, 0, 0);
        break;
    }
    case QK_FORMAT_MXFP8: {
        int64_t rp = rup(rows, 32), cp = rup(cols, 32);
        set_part(&out->part[QK_PART_DATA], QK_DTYPE_F8_E4M3, 2, rp, cp);
        set_part(&out->part[QK_PART_SCALE], QK_DTYPE_U8, 2, rup(rp, 128), rup(cp / 32, 4));
        break;
    }
    case QK_FORMAT_FLOAT8_E4M3FN:
    case QK_FORMAT_FLOAT8_E5M2:
        set_part(&out->part[QK_PART_DATA],
                 p->format == QK_FORMAT_FLOAT8_E5M2 ? QK_DTYPE_F8_E5M2 : QK_DTYPE_F8_E4M3, 2, rows, cols);
        set_scaled_scale(&out->part[QK_PART_SCALE], p, rows, cols);
        break;
    case QK_FORMAT_INT8_TENSORWISE:
    case QK_FORMAT_INT8_BLOCKWISE:
        set_part(&out->part[QK_PART_DATA], QK_DTYPE_I8, 2, rows, cols);
        set_scaled_scale(&out->part[QK_PART_SCALE], p, rows, cols);
        break;
    default: return qk_fail(QK_ERR_UNSUPPORTED, "format has no layout");
    }
    return QK_OK;
}

const char *qk_part_name(const qk_params *p, qk_part part)
{
    if (p == NULL || (unsigned)p->format >= QK_FORMAT_COUNT || (unsigned)part >= QK_PART_COUNT)
        return NULL;
    int bnb = p->format == QK_FORMAT_NF4 || p->format == QK_FORMAT_FP4;
    switch (part) {
    case QK_PART_DATA: return "weight";
    case QK_PART_SCALE: return bnb ? "weight.absmax" : "weight_scale";
    case QK_PART_SCALE2:
        if (bnb)
            return p->double_quant ? "weight.nested_absmax" : NULL;
        return p->format == QK_FORMAT_NVFP4 ? "weight_scale_2" : NULL;
    case QK_PART_OFFSET: return bnb && p->double_quant ? "nested_offset" : NULL;
    default: return NULL;
    }
}

qk_status qk_check_call(const qk_params *params, int64_t rows, int64_t cols, qk_dtype dtype)
{
    qk_status st = qk_params_validate(params, rows, cols);
    if (st != QK_OK)
        return st;
    if (dtype != QK_DTYPE_F32 && dtype != QK_DTYPE_F16 && dtype != QK_DTYPE_BF16)
        return qk_fail(QK_ERR_UNSUPPORTED, "dtype %s: inputs and outputs are f32, f16 or bf16",
                       qk_dtype_name(dtype) ? qk_dtype_name(dtype) : "?");
    return QK_OK;
}
