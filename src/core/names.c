/* Names of dtypes, formats and parts. */
#include <string.h>

#include "core_internal.h"

static const char *const dtype_names[QK_DTYPE_COUNT] = {"f32", "f16", "bf16", "u8",
                                                         "i8",  "f8_e4m3", "f8_e5m2"};
static const size_t dtype_sizes[QK_DTYPE_COUNT] = {4, 2, 2, 1, 1, 1, 1};

static const char *const format_names[QK_FORMAT_COUNT] = {
    "nf4", "fp4", "nvfp4", "mxfp8", "float8_e4m3fn", "float8_e5m2", "int8_tensorwise", "int8_blockwise"};

size_t qk_dtype_size(qk_dtype dtype)
{
    return (unsigned)dtype < QK_DTYPE_COUNT ? dtype_sizes[dtype] : 0;
}

const char *qk_dtype_name(qk_dtype dtype)
{
    return (unsigned)dtype < QK_DTYPE_COUNT ? dtype_names[dtype] : NULL;
}

/* Index of name in names[0..n), or -1. */
static int find_name(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

qk_status qk_dtype_from_name(const char *name, qk_dtype *out)
{
    if (name == NULL || out == NULL)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "qk_dtype_from_name: NULL argument");
    int i = find_name(dtype_names, QK_DTYPE_COUNT, name);
    if (i < 0)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "unknown dtype '%s'", name);
    *out = (qk_dtype)i;
    return QK_OK;
}

const char *qk_format_name(qk_format format)
{
    return (unsigned)format < QK_FORMAT_COUNT ? format_names[format] : NULL;
}

qk_status qk_format_from_name(const char *name, qk_format *out)
{
    if (name == NULL || out == NULL)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "qk_format_from_name: NULL argument");
    int i = find_name(format_names, QK_FORMAT_COUNT, name);
    if (i < 0)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "unknown format '%s'", name);
    *out = (qk_format)i;
    return QK_OK;
}
