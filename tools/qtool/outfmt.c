/* Consumer metadata: comfy_quant markers and bitsandbytes quant state. */
#include "outfmt.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/qk_codec.h"
#include "ref/ref_internal.h"

json_t *outfmt_comfy_conf(const qk_params *p, char *err, size_t errlen)
{
    switch (p->format) {
    case QK_FORMAT_NVFP4:
    case QK_FORMAT_MXFP8:
        return json_pack("{s:s}", "format", qk_format_name(p->format));
    case QK_FORMAT_FLOAT8_E4M3FN:
    case QK_FORMAT_FLOAT8_E5M2:
        if (p->scaling == QK_SCALING_BLOCK) {
            /* ComfyUI multiplies the values by weight_scale: a tensor or [N, 1]
             * scale broadcasts, a tile grid does not. */
            snprintf(err, errlen, "%s with block scaling has no ComfyUI loader (use tensor or row scaling)",
                     qk_format_name(p->format));
            return NULL;
        }
        return json_pack("{s:s}", "format", qk_format_name(p->format));
    case QK_FORMAT_INT8_TENSORWISE:
        if (p->convrot_group != 0)
            return json_pack("{s:s, s:b, s:i}", "format", "int8_tensorwise", "convrot", 1,
                             "convrot_groupsize", p->convrot_group);
        return json_pack("{s:s}", "format", "int8_tensorwise");
    case QK_FORMAT_INT8_BLOCKWISE:
        return json_pack("{s:s, s:i}", "format", "int8_blockwise", "group_size", p->block_size);
    default:
        snprintf(err, errlen, "%s is a bitsandbytes format, not a ComfyUI one", qk_format_name(p->format));
        return NULL;
    }
}

/* Python's repr of a float is the shortest decimal that reads back to the
 * same double; jansson prints reals with a chosen precision, so find it. */
static int shortest_precision(const json_t *v)
{
    if (json_is_real(v)) {
        double d = json_real_value(v);
        for (int prec = 1; prec < 17; prec++) {
            char buf[64];
            snprintf(buf, sizeof buf, "%.*g", prec, d);
            if (strtod(buf, NULL) == d)
                return prec;
        }
        return 17;
    }
    int best = 1;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            int p = shortest_precision(x);
            best = p > best ? p : best;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            int p = shortest_precision(x);
            best = p > best ? p : best;
        }
    }
    return best;
}

char *outfmt_pydumps(const json_t *v)
{
    /* Without JSON_COMPACT and with indent 0 jansson separates with ", " and
     * ": " on one line, as json.dumps does, and keeps insertion order. */
    return json_dumps(v, JSON_REAL_PRECISION(shortest_precision(v)) | JSON_ENCODE_ANY);
}

const char *outfmt_torch_dtype(qk_dtype dt)
{
    switch (dt) {
    case QK_DTYPE_F32: return "float32";
    case QK_DTYPE_F16: return "float16";
    case QK_DTYPE_BF16: return "bfloat16";
    default: return NULL;
    }
}

int outfmt_dtype_from_torch(const char *name, qk_dtype *dt)
{
    if (strncmp(name, "torch.", 6) == 0)
        name += 6;
    if (strcmp(name, "float32") == 0)
        *dt = QK_DTYPE_F32;
    else if (strcmp(name, "float16") == 0)
        *dt = QK_DTYPE_F16;
    else if (strcmp(name, "bfloat16") == 0)
        *dt = QK_DTYPE_BF16;
    else
        return -1;
    return 0;
}

static json_t *bnb_state_json(const qk_params *p, qk_dtype dt, int64_t rows, int64_t cols, double offset)
{
    json_t *o = json_pack("{s:s, s:i, s:s, s:[II]}", "quant_type", qk_format_name(p->format), "blocksize",
                          p->block_size, "dtype", outfmt_torch_dtype(dt), "shape", (json_int_t)rows,
                          (json_int_t)cols);
    if (o != NULL && p->double_quant) {
        json_object_set_new(o, "nested_blocksize", json_integer(256));
        json_object_set_new(o, "nested_dtype", json_string("float32"));
        json_object_set_new(o, "nested_offset", json_real(offset));
    }
    return o;
}

char *outfmt_bnb_state(const qk_params *p, qk_dtype dt, int64_t rows, int64_t cols, float offset)
{
    json_t *o = bnb_state_json(p, dt, rows, cols, (double)offset);
    char *s = o ? outfmt_pydumps(o) : NULL;
    json_decref(o);
    return s;
}

size_t outfmt_bnb_state_bound(const qk_params *p, qk_dtype dt, int64_t rows, int64_t cols)
{
    /* The longest 17-digit real with a three-digit negative exponent. */
    json_t *o = bnb_state_json(p, dt, rows, cols, -2.2250738585072014e-308);
    char *s = o ? json_dumps(o, JSON_REAL_PRECISION(17)) : NULL;
    size_t n = s ? strlen(s) + 8 : 0;
    free(s);
    json_decref(o);
    return n;
}

void outfmt_bnb_quant_map(qk_format f, float out[16])
{
    for (uint32_t c = 0; c < 16; c++) {
        uint32_t u = f == QK_FORMAT_NF4 ? qk_nf4_value(c) : qk_fp4_value(c);
        memcpy(&out[c], &u, 4);
    }
}

void outfmt_bnb_nested_map(float out[256])
{
    memcpy(out, qk_bnb_dynamic_map, 256 * sizeof *out);
}
