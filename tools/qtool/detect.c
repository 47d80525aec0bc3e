/* Quantized-layer detection for inspect, verify and dequantize. */
#include "detect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outfmt.h"
#include "plan.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static const st_tensor *find2(const st_model *m, const char *layer, const char *suffix)
{
    char name[2200];
    snprintf(name, sizeof name, "%.2048s%.64s", layer, suffix);
    return st_model_find(m, name);
}

static int use(qlayer *l, const st_tensor *t)
{
    if (t == NULL)
        return 0;
    const st_tensor **u = realloc(l->used, (size_t)(l->nused + 1) * sizeof *u);
    if (u == NULL)
        return -1;
    l->used = u;
    l->used[l->nused++] = t;
    return 0;
}

static qlayer *new_layer(qlayers *q, const char *layer, const char *layout)
{
    qlayer *l = realloc(q->l, (q->n + 1) * sizeof *l);
    if (l == NULL)
        return NULL;
    q->l = l;
    l = &q->l[q->n++];
    memset(l, 0, sizeof *l);
    l->layer = strdup(layer);
    l->layout = layout;
    return l->layer ? l : NULL;
}

static int64_t numel_of(const st_tensor *t) { return (int64_t)st_numel(t); }

/* Parts must have exactly the dtype size and byte count qk's layout gives. */
static int check_parts(qlayer *l, char *err, size_t errlen)
{
    qk_layout lay;
    if (qk_layout_query(&l->p, l->rows, l->cols, &lay) != QK_OK) {
        snprintf(err, errlen, "%s: %s", l->layer, qk_last_error());
        return -1;
    }
    for (int k = 0; k < QK_PART_COUNT; k++) {
        if (k == QK_PART_OFFSET && l->p.double_quant)
            continue; /* from the JSON */
        const st_tensor *t = l->part[k];
        size_t need = lay.part[k].nbytes;
        if (need == 0)
            continue;
        if (t == NULL) {
            snprintf(err, errlen, "%s: %s layer lacks its %s tensor", l->layer, qk_format_name(l->p.format),
                     qk_part_name(&l->p, (qk_part)k) ? qk_part_name(&l->p, (qk_part)k) : "scale");
            return -1;
        }
        if (t->nbytes != need || st_dtype_size(t->dtype) != qk_dtype_size(lay.part[k].dtype)) {
            snprintf(err, errlen, "%s: %s holds %zu bytes of %s, but %s of %lldx%lld needs %zu bytes of %s",
                     l->layer, t->name, t->nbytes, t->dtype, qk_format_name(l->p.format), (long long)l->rows,
                     (long long)l->cols, need, plan_st_dtype(lay.part[k].dtype));
            return -1;
        }
    }
    return 0;
}

static int detect_bnb(const st_model *m, const st_tensor *qs, qlayers *q, char *err, size_t errlen)
{
    const char *key = strstr(qs->name, ".weight.quant_state.bitsandbytes__");
    char layer[2048];
    snprintf(layer, sizeof layer, "%.*s", (int)(key - qs->name), qs->name);
    if (strcmp(qs->dtype, "U8") != 0) {
        snprintf(err, errlen, "%s: quant state is %s, not U8 JSON bytes", qs->name, qs->dtype);
        return -1;
    }
    json_error_t je;
    json_t *j = json_loadb((const char *)qs->data, qs->nbytes, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(err, errlen, "%s: bad quant state JSON: %s", qs->name, je.text);
        return -1;
    }
    qlayer *l = new_layer(q, layer, "bitsandbytes");
    int rc = -1;
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    const char *qt = json_string_value(json_object_get(j, "quant_type"));
    json_t *bs = json_object_get(j, "blocksize"), *shape = json_object_get(j, "shape");
    const char *dt = json_string_value(json_object_get(j, "dtype"));
    qk_format f;
    if (qt == NULL || (strcmp(qt, "nf4") != 0 && strcmp(qt, "fp4") != 0) || !json_is_integer(bs) ||
        !json_is_array(shape) || json_array_size(shape) < 1 || json_array_size(shape) > 8 || dt == NULL ||
        outfmt_dtype_from_torch(dt, &l->dtype) != 0) {
        snprintf(err, errlen, "%s: quant state lacks quant_type nf4|fp4, blocksize, shape or a float dtype",
                 qs->name);
        goto out;
    }
    qk_format_from_name(qt, &f);
    qk_params_default(f, &l->p);
    l->p.block_size = (int32_t)json_integer_value(bs);
    l->has_dtype = 1;
    l->ndim = (int)json_array_size(shape);
    int64_t n = 1;
    for (int d = 0; d < l->ndim; d++) {
        json_t *e = json_array_get(shape, (size_t)d);
        if (!json_is_integer(e) || json_integer_value(e) < 1) {
            snprintf(err, errlen, "%s: bad shape in quant state", qs->name);
            goto out;
        }
        l->shape[d] = json_integer_value(e);
        n *= l->shape[d];
    }
    l->cols = l->shape[l->ndim - 1];
    l->rows = n / l->cols;
    l->part[QK_PART_DATA] = find2(m, layer, ".weight");
    l->part[QK_PART_SCALE] = find2(m, layer, ".weight.absmax");
    const st_tensor *qmap = find2(m, layer, ".weight.quant_map");
    const st_tensor *nabs = find2(m, layer, ".weight.nested_absmax");
    const st_tensor *nmap = find2(m, layer, ".weight.nested_quant_map");
    if (nabs != NULL) {
        json_t *nb = json_object_get(j, "nested_blocksize"), *off = json_object_get(j, "nested_offset");
        if (!json_is_integer(nb) || json_integer_value(nb) != 256 || !json_is_number(off)) {
            snprintf(err, errlen, "%s: double quant needs nested_blocksize 256 and nested_offset", qs->name);
            goto out;
        }
        l->p.double_quant = 1;
        l->part[QK_PART_SCALE2] = nabs;
        l->offset = (float)json_number_value(off);
    }
    /* qk dequantizes with the standard codes: refuse files with others. */
    float want[256];
    outfmt_bnb_quant_map(f, want);
    if (qmap == NULL || qmap->nbytes != 64 || memcmp(qmap->data, want, 64) != 0) {
        snprintf(err, errlen, "%s: quant_map is missing or not bitsandbytes' %s code", layer, qt);
        goto out;
    }
    if (nabs != NULL) {
        outfmt_bnb_nested_map(want);
        if (nmap == NULL || nmap->nbytes != 1024 || memcmp(nmap->data, want, 1024) != 0) {
            snprintf(err, errlen, "%s: nested_quant_map is missing or not bitsandbytes' dynamic map", layer);
            goto out;
        }
    }
    if (check_parts(l, err, errlen) != 0)
        goto out;
    if (use(l, l->part[0]) || use(l, l->part[1]) || use(l, nabs) || use(l, qmap) || use(l, nmap) || use(l, qs)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = 0;
out:
    json_decref(j);
    return rc;
}

/* Original shapes of padded layers, recorded by qtool convert. */
static int orig_shape(const st_model *m, const char *layer, int64_t *rows, int64_t *cols)
{
    const char *s = json_string_value(json_object_get(m->metadata, "qtool_orig_shapes"));
    if (s == NULL)
        return -1;
    json_t *j = json_loads(s, 0, NULL), *a = json_object_get(j, layer);
    int rc = -1;
    if (json_is_array(a) && json_array_size(a) == 2 && json_is_integer(json_array_get(a, 0)) &&
        json_is_integer(json_array_get(a, 1))) {
        *rows = json_integer_value(json_array_get(a, 0));
        *cols = json_integer_value(json_array_get(a, 1));
        rc = 0;
    }
    json_decref(j);
    return rc;
}

static int detect_comfy(const st_model *m, const char *layer, json_t *conf, const st_tensor *marker,
                        qlayers *q, char *err, size_t errlen)
{
    const char *fname = json_string_value(json_object_get(conf, "format"));
    qk_format f;
    if (fname == NULL || qk_format_from_name(fname, &f) != QK_OK || plan_target_of(f) != TARGET_COMFY) {
        snprintf(err, errlen, "%s: ComfyUI format '%s' is not one qk reads", layer, fname ? fname : "?");
        return -1;
    }
    qlayer *l = new_layer(q, layer, "comfyui");
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    qk_params_default(f, &l->p);
    const st_tensor *w = find2(m, layer, ".weight"), *s = find2(m, layer, ".weight_scale"),
                    *s2 = find2(m, layer, ".weight_scale_2");
    if (w == NULL || w->ndim != 2) {
        snprintf(err, errlen, "%s: %s layer lacks a 2-D weight", layer, fname);
        return -1;
    }
    l->rows = w->shape[0];
    l->cols = f == QK_FORMAT_NVFP4 ? 2 * w->shape[1] : w->shape[1];
    if (f == QK_FORMAT_NVFP4 || f == QK_FORMAT_MXFP8)
        orig_shape(m, layer, &l->rows, &l->cols);
    l->ndim = 2;
    l->shape[0] = l->rows;
    l->shape[1] = l->cols;
    if (s != NULL && (f == QK_FORMAT_FLOAT8_E4M3FN || f == QK_FORMAT_FLOAT8_E5M2 || f == QK_FORMAT_INT8_TENSORWISE)) {
        if (s->ndim == 0 || numel_of(s) == 1)
            l->p.scaling = QK_SCALING_TENSOR;
        else if (s->ndim == 2 && s->shape[0] == l->rows && s->shape[1] == 1)
            l->p.scaling = QK_SCALING_ROW;
        else {
            l->p.scaling = QK_SCALING_BLOCK;
            json_t *gs = json_object_get(conf, "group_size");
            l->p.block_size = json_is_integer(gs) ? (int32_t)json_integer_value(gs) : 128;
        }
    }
    if (f == QK_FORMAT_INT8_TENSORWISE && json_is_true(json_object_get(conf, "convrot"))) {
        json_t *g = json_object_get(conf, "convrot_groupsize");
        l->p.convrot_group = json_is_integer(g) ? (int32_t)json_integer_value(g) : 256;
        l->p.scaling = QK_SCALING_ROW;
    }
    if (f == QK_FORMAT_INT8_BLOCKWISE) {
        json_t *gs = json_object_get(conf, "group_size");
        if (json_is_integer(gs))
            l->p.block_size = (int32_t)json_integer_value(gs);
    }
    /* A scalar scale may be stored as [1] by some writers. */
    l->part[QK_PART_DATA] = w;
    l->part[QK_PART_SCALE] = s;
    l->part[QK_PART_SCALE2] = f == QK_FORMAT_NVFP4 ? s2 : NULL;
    if (check_parts(l, err, errlen) != 0)
        return -1;
    if (use(l, w) || use(l, s) || use(l, l->part[QK_PART_SCALE2]) || use(l, marker) ||
        use(l, find2(m, layer, ".input_scale"))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int detect_scaled_fp8(const st_model *m, const st_tensor *sw, qlayers *q, char *err, size_t errlen)
{
    char layer[2048];
    snprintf(layer, sizeof layer, "%.*s", (int)(strlen(sw->name) - strlen(".scale_weight")), sw->name);
    const st_tensor *w = find2(m, layer, ".weight");
    if (w == NULL || w->ndim != 2 || strncmp(w->dtype, "F8_", 3) != 0)
        return 0; /* a scale beside an unquantized weight: leave both alone */
    qlayer *l = new_layer(q, layer, "scaled_fp8");
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    qk_params_default(strcmp(w->dtype, "F8_E5M2") == 0 ? QK_FORMAT_FLOAT8_E5M2 : QK_FORMAT_FLOAT8_E4M3FN, &l->p);
    l->rows = w->shape[0];
    l->cols = w->shape[1];
    l->ndim = 2;
    l->shape[0] = l->rows;
    l->shape[1] = l->cols;
    l->part[QK_PART_DATA] = w;
    l->part[QK_PART_SCALE] = sw;
    if (check_parts(l, err, errlen) != 0)
        return -1;
    if (use(l, w) || use(l, sw) || use(l, find2(m, layer, ".scale_input"))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int detect_layers(const st_model *m, qlayers *q, char *err, size_t errlen)
{
    memset(q, 0, sizeof *q);
    json_t *mirror = NULL;
    const char *ms = json_string_value(json_object_get(m->metadata, "_quantization_metadata"));
    if (ms != NULL) {
        json_t *root = json_loads(ms, 0, NULL);
        mirror = json_incref(json_object_get(root, "layers"));
        json_decref(root);
    }
    int rc = 0;
    const st_tensor *scaled = NULL;
    for (size_t i = 0; i < m->count && rc == 0; i++) {
        const st_tensor *t = m->tensors[i];
        if (strstr(t->name, ".weight.quant_state.bitsandbytes__") != NULL) {
            rc = detect_bnb(m, t, q, err, errlen);
        } else if (ends_with(t->name, ".comfy_quant")) {
            char layer[2048];
            snprintf(layer, sizeof layer, "%.*s", (int)(strlen(t->name) - strlen(".comfy_quant")), t->name);
            json_error_t je;
            json_t *conf = json_loadb((const char *)t->data, t->nbytes, 0, &je);
            if (!json_is_object(conf)) {
                snprintf(err, errlen, "%s: bad comfy_quant JSON: %s", t->name, je.text);
                rc = -1;
            } else {
                rc = detect_comfy(m, layer, conf, t, q, err, errlen);
            }
            json_decref(conf);
        } else if (ends_with(t->name, "scaled_fp8")) {
            scaled = t;
        }
    }
    /* Layers named only in the header mirror. */
    const char *k;
    json_t *v;
    if (json_is_object(mirror))
        json_object_foreach(mirror, k, v)
        {
            if (rc != 0)
                break;
            int known = 0;
            for (size_t i = 0; i < q->n && !known; i++)
                known = strcmp(q->l[i].layer, k) == 0;
            if (!known && json_is_object(v))
                rc = detect_comfy(m, k, v, NULL, q, err, errlen);
        }
    json_decref(mirror);
    if (scaled) {
        size_t first = q->n;
        for (size_t i = 0; i < m->count && rc == 0; i++)
            if (ends_with(m->tensors[i]->name, ".scale_weight"))
                rc = detect_scaled_fp8(m, m->tensors[i], q, err, errlen);
        /* The marker belongs to the layout: dequantize drops it. */
        if (rc == 0 && q->n > first && use(&q->l[first], scaled) != 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    if (rc != 0)
        detect_free(q);
    return rc;
}

void detect_free(qlayers *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->l[i].layer);
        free(q->l[i].used);
    }
    free(q->l);
    memset(q, 0, sizeof *q);
}

const qlayer *detect_owner(const qlayers *q, const char *tensor)
{
    for (size_t i = 0; i < q->n; i++)
        for (int k = 0; k < q->l[i].nused; k++)
            if (strcmp(q->l[i].used[k]->name, tensor) == 0)
                return &q->l[i];
    return NULL;
}

const qlayer *detect_weight_of(const qlayers *q, const char *tensor)
{
    for (size_t i = 0; i < q->n; i++)
        if (q->l[i].part[QK_PART_DATA] != NULL && strcmp(q->l[i].part[QK_PART_DATA]->name, tensor) == 0)
            return &q->l[i];
    return NULL;
}

int detect_dequantize(qk_context *ctx, const qlayer *l, qk_dtype out_dtype, void *out, char *err, size_t errlen)
{
    const void *parts[QK_PART_COUNT] = {0};
    void *copies[QK_PART_COUNT] = {0};
    int rc = 0;
    for (int k = 0; k < QK_PART_COUNT && rc == 0; k++)
        if (l->part[k] != NULL && (parts[k] = st_aligned(l->part[k], &copies[k])) == NULL) {
            snprintf(err, errlen, "%s: out of memory for an aligned copy of %s", l->layer, l->part[k]->name);
            rc = -1;
        }
    if (l->p.double_quant)
        parts[QK_PART_OFFSET] = &l->offset;
    if (rc == 0 && qk_dequantize(ctx, &l->p, parts, l->rows, l->cols, out_dtype, out) != QK_OK) {
        snprintf(err, errlen, "%s: %s", l->layer, qk_last_error());
        rc = -1;
    }
    for (int k = 0; k < QK_PART_COUNT; k++)
        free(copies[k]);
    return rc;
}
