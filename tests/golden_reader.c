/* Golden vector reader: JSON manifest through jansson, blob read whole. */
#include "golden_reader.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct golden_set {
    json_t *root;
    json_t *cases;
    uint8_t *bin;
    size_t bin_len;
};

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    uint8_t *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
            if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
                free(buf);
                buf = NULL;
            } else {
                *len = (size_t)n;
            }
        }
    }
    fclose(f);
    return buf;
}

golden_set *golden_load(const char *group, char *err, size_t errlen)
{
    const char *dir = getenv("QK_GOLDEN_DIR");
    if (dir == NULL) {
        snprintf(err, errlen, "QK_GOLDEN_DIR is not set (run through meson test)");
        return NULL;
    }
    char path[4096];
    golden_set *g = calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    json_error_t je;
    snprintf(path, sizeof path, "%s/%s.json", dir, group);
    g->root = json_load_file(path, 0, &je);
    if (g->root == NULL) {
        snprintf(err, errlen, "%s: %s (line %d)", path, je.text, je.line);
        free(g);
        return NULL;
    }
    g->cases = json_object_get(g->root, "cases");
    snprintf(path, sizeof path, "%s/%s.bin", dir, group);
    g->bin = read_file(path, &g->bin_len);
    if (!json_is_array(g->cases) || g->bin == NULL) {
        snprintf(err, errlen, "%s: missing blob or 'cases' array", path);
        golden_free(g);
        return NULL;
    }
    return g;
}

void golden_free(golden_set *g)
{
    if (g == NULL)
        return;
    json_decref(g->root);
    free(g->bin);
    free(g);
}

size_t golden_count(const golden_set *g) { return json_array_size(g->cases); }

static int get_blob(const golden_set *g, json_t *ref, golden_blob *b, char *err, size_t errlen)
{
    b->ptr = NULL;
    b->n = 0;
    if (ref == NULL)
        return 0;
    json_int_t off = json_integer_value(json_array_get(ref, 0));
    json_int_t n = json_integer_value(json_array_get(ref, 1));
    if (!json_is_array(ref) || off < 0 || n < 0 || (size_t)(off + n) > g->bin_len) {
        snprintf(err, errlen, "blob reference out of range");
        return -1;
    }
    b->ptr = g->bin + off;
    b->n = (size_t)n;
    return 0;
}

static qk_scaling scaling_of(const char *s)
{
    if (s && strcmp(s, "row") == 0)
        return QK_SCALING_ROW;
    if (s && strcmp(s, "block") == 0)
        return QK_SCALING_BLOCK;
    return QK_SCALING_TENSOR;
}

int golden_get(const golden_set *g, size_t i, golden_case *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    json_t *jc = json_array_get(g->cases, i);
    c->name = json_string_value(json_object_get(jc, "name"));
    const char *fmt = json_string_value(json_object_get(jc, "format"));
    const char *dt = json_string_value(json_object_get(jc, "dtype"));
    qk_format f;
    if (c->name == NULL || fmt == NULL || dt == NULL || qk_format_from_name(fmt, &f) != QK_OK ||
        qk_dtype_from_name(dt, &c->dtype) != QK_OK) {
        snprintf(err, errlen, "case %zu: bad name/format/dtype", i);
        return -1;
    }
    qk_params_default(f, &c->params);
    json_t *p = json_object_get(jc, "params");
    if (json_is_object(p)) {
        json_t *v;
        if ((v = json_object_get(p, "scaling")) && json_is_string(v))
            c->params.scaling = scaling_of(json_string_value(v));
        if (f == QK_FORMAT_INT8_BLOCKWISE)
            c->params.scaling = QK_SCALING_BLOCK;
        if ((v = json_object_get(p, "block_size")) && json_is_integer(v) &&
            f != QK_FORMAT_NVFP4 && f != QK_FORMAT_MXFP8)
            c->params.block_size = (int32_t)json_integer_value(v);
        if ((v = json_object_get(p, "double_quant")))
            c->params.double_quant = json_is_true(v) || json_integer_value(v) != 0;
        if ((v = json_object_get(p, "convrot_group")) && json_is_integer(v))
            c->params.convrot_group = (int32_t)json_integer_value(v);
    }
    c->rows = json_integer_value(json_object_get(jc, "rows"));
    c->cols = json_integer_value(json_object_get(jc, "cols"));
    json_t *parts = json_object_get(jc, "parts"), *dq = json_object_get(jc, "dequant");
    static const char *const part_keys[QK_PART_COUNT] = {"data", "scale", "scale2", "offset"};
    static const char *const dq_keys[3] = {"f32", "f16", "bf16"};
    int bad = get_blob(g, json_object_get(jc, "input"), &c->input, err, errlen);
    for (int k = 0; k < QK_PART_COUNT; k++)
        bad |= get_blob(g, json_object_get(parts, part_keys[k]), &c->part[k], err, errlen);
    for (int k = 0; k < 3; k++)
        bad |= get_blob(g, json_object_get(dq, dq_keys[k]), &c->dequant[k], err, errlen);
    bad |= get_blob(g, json_object_get(jc, "rotated"), &c->rotated, err, errlen);
    json_t *le = json_object_get(jc, "log2_exact");
    c->log2_exact = le == NULL || json_is_true(le);
    json_t *ao = json_object_get(jc, "anchor_offset");
    c->has_anchor_offset = json_is_number(ao);
    c->anchor_offset = json_number_value(ao);
    if (bad)
        return -1;
    if (c->input.n != (size_t)(c->rows * c->cols) * qk_dtype_size(c->dtype)) {
        snprintf(err, errlen, "case %s: input holds %zu bytes for %lldx%lld %s", c->name, c->input.n,
                 (long long)c->rows, (long long)c->cols, dt);
        return -1;
    }
    return 0;
}
