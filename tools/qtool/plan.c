/* Conversion plan: decisions per tensor and the exact output tensors. */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "format_spec.h"
#include "outfmt.h"

int plan_float_dtype(const char *s, qk_dtype *out)
{
    if (strcmp(s, "F32") == 0)
        *out = QK_DTYPE_F32;
    else if (strcmp(s, "F16") == 0)
        *out = QK_DTYPE_F16;
    else if (strcmp(s, "BF16") == 0)
        *out = QK_DTYPE_BF16;
    else
        return -1;
    return 0;
}

const char *plan_st_dtype(qk_dtype dt)
{
    static const char *const names[QK_DTYPE_COUNT] = {"F32", "F16", "BF16", "U8", "I8", "F8_E4M3", "F8_E5M2"};
    return (unsigned)dt < QK_DTYPE_COUNT ? names[dt] : "?";
}

plan_target plan_target_of(qk_format f)
{
    return f == QK_FORMAT_NF4 || f == QK_FORMAT_FP4 ? TARGET_BNB : TARGET_COMFY;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int plan_is_candidate(const st_tensor *t)
{
    qk_dtype dt;
    return t->ndim == 2 && ends_with(t->name, ".weight") && plan_float_dtype(t->dtype, &dt) == 0 &&
           t->shape[0] > 0 && t->shape[1] > 0;
}

void plan_describe(const qk_params *p, char *buf, size_t len)
{
    const char *f = qk_format_name(p->format);
    switch (p->format) {
    case QK_FORMAT_NF4:
    case QK_FORMAT_FP4:
        snprintf(buf, len, "%s bs=%d%s", f, p->block_size, p->double_quant ? " dq" : "");
        break;
    case QK_FORMAT_FLOAT8_E4M3FN:
    case QK_FORMAT_FLOAT8_E5M2:
    case QK_FORMAT_INT8_TENSORWISE:
        if (p->convrot_group)
            snprintf(buf, len, "%s row convrot=%d", f, p->convrot_group);
        else if (p->scaling == QK_SCALING_BLOCK)
            snprintf(buf, len, "%s block=%d", f, p->block_size);
        else
            snprintf(buf, len, "%s%s", f, p->scaling == QK_SCALING_ROW ? " row" : "");
        break;
    case QK_FORMAT_INT8_BLOCKWISE: snprintf(buf, len, "%s block=%d", f, p->block_size); break;
    default: snprintf(buf, len, "%s", f); break;
    }
}

void plan_spec(const qk_params *p, char *buf, size_t len)
{
    const char *f = qk_format_name(p->format);
    if (p->format == QK_FORMAT_NF4 || p->format == QK_FORMAT_FP4)
        snprintf(buf, len, "%s:bs=%d%s", f, p->block_size, p->double_quant ? ":dq" : "");
    else if (p->convrot_group)
        snprintf(buf, len, "%s:convrot=%d", f, p->convrot_group);
    else if (p->format == QK_FORMAT_INT8_BLOCKWISE || p->scaling == QK_SCALING_BLOCK)
        snprintf(buf, len, "%s:block=%d", f, p->block_size);
    else if (p->scaling == QK_SCALING_ROW)
        snprintf(buf, len, "%s:row", f);
    else
        snprintf(buf, len, "%s", f);
}

int plan_compile(regex_t *re, const char *pattern, const char *what)
{
    int rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[256];
        regerror(rc, re, msg, sizeof msg);
        qtool_usage_error("%s: bad regular expression '%s': %s", what, pattern, msg);
        return -1;
    }
    return 0;
}

/* A rule's value: "skip", a format spec string, or an object of params. */
static int rule_params(json_t *v, const qk_params *base, plan_rule *r, const char *path)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "skip") == 0 || strcmp(s, "keep") == 0) {
            r->skip = 1;
            return 0;
        }
        return parse_format_spec(s, &r->p);
    }
    if (!json_is_object(v)) {
        qtool_usage_error("%s: rule '%s' must be \"skip\", a format or an object", path, r->pattern);
        return -1;
    }
    json_t *f = json_object_get(v, "format");
    if (f != NULL && !json_is_string(f)) {
        qtool_usage_error("%s: rule '%s': format must be a string", path, r->pattern);
        return -1;
    }
    if (f != NULL && (strcmp(json_string_value(f), "skip") == 0 || strcmp(json_string_value(f), "keep") == 0)) {
        r->skip = 1;
        return 0;
    }
    if (f == NULL)
        r->p = *base;
    else if (parse_format_spec(json_string_value(f), &r->p) != 0)
        return -1;
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x)
    {
        if (strcmp(k, "format") == 0)
            continue;
        if (strcmp(k, "scaling") == 0 && json_is_string(x)) {
            const char *s = json_string_value(x);
            if (strcmp(s, "tensor") == 0)
                r->p.scaling = QK_SCALING_TENSOR;
            else if (strcmp(s, "row") == 0)
                r->p.scaling = QK_SCALING_ROW;
            else if (strcmp(s, "block") == 0)
                r->p.scaling = QK_SCALING_BLOCK;
            else
                goto bad;
        } else if ((strcmp(k, "block_size") == 0 || strcmp(k, "blocksize") == 0) && json_is_integer(x)) {
            r->p.block_size = (int32_t)json_integer_value(x);
        } else if (strcmp(k, "double_quant") == 0 && json_is_boolean(x)) {
            r->p.double_quant = json_is_true(x);
        } else if ((strcmp(k, "convrot_group") == 0 || strcmp(k, "convrot_groupsize") == 0) &&
                   json_is_integer(x)) {
            r->p.convrot_group = (int32_t)json_integer_value(x);
            if (r->p.convrot_group)
                r->p.scaling = QK_SCALING_ROW;
        } else {
            goto bad;
        }
    }
    return 0;
bad:
    qtool_usage_error("%s: rule '%s': unknown or ill-typed key '%s' (format, scaling, block_size, "
                      "double_quant, convrot_group)", path, r->pattern, k);
    return -1;
}

int plan_load_rules(const char *path, const qk_params *base, plan_options *o)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        qtool_usage_error("%s: bad JSON: %s (line %d)", path, je.text, je.line);
        return -1;
    }
    json_t *layers = json_object_get(root, "layers");
    if (layers == NULL)
        layers = root;
    if (!json_is_object(layers)) {
        json_decref(root);
        qtool_usage_error("%s: expected {\"layers\": {\"REGEX\": \"skip\" | \"FORMAT\" | {...}}}", path);
        return -1;
    }
    size_t n = json_object_size(layers);
    plan_rule *rules = realloc(o->rules, (size_t)(o->nrules + (int)n + 1) * sizeof *rules);
    if (rules == NULL) {
        json_decref(root);
        return qtool_error("out of memory") ? -1 : -1;
    }
    o->rules = rules;
    const char *k;
    json_t *v;
    json_object_foreach(layers, k, v)
    {
        plan_rule *r = &o->rules[o->nrules];
        memset(r, 0, sizeof *r);
        r->pattern = strdup(k);
        if (r->pattern == NULL || plan_compile(&r->re, k, path) != 0) {
            free(r->pattern);
            json_decref(root);
            return -1;
        }
        o->nrules++;
        if (rule_params(v, base, r, path) != 0) {
            json_decref(root);
            return -1;
        }
    }
    json_decref(root);
    return 0;
}

void plan_options_free(plan_options *o)
{
    for (int i = 0; i < o->nexclude; i++)
        regfree(&o->exclude[i]);
    for (int i = 0; i < o->ninclude; i++)
        regfree(&o->include[i]);
    for (int i = 0; i < o->nrules; i++) {
        regfree(&o->rules[i].re);
        free(o->rules[i].pattern);
    }
    free(o->exclude);
    free(o->include);
    free(o->rules);
    memset(o, 0, sizeof *o);
}

static int matches(const regex_t *re, const char *s) { return regexec(re, s, 0, NULL, 0) == 0; }

/* Largest index N of "<prefix>.N." in the model, -1 if none. */
static long last_block(const st_model *m, const char *prefix)
{
    long best = -1;
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < m->count; i++) {
        const char *s = m->tensors[i]->name, *at = strstr(s, prefix);
        while (at != NULL) {
            if ((at == s || at[-1] == '.') && at[pl] == '.' && at[pl + 1] >= '0' && at[pl + 1] <= '9') {
                char *end;
                long v = strtol(at + pl + 1, &end, 10);
                if (*end == '.' && v > best)
                    best = v;
            }
            at = strstr(at + 1, prefix);
        }
    }
    return best;
}

/* Is name in the first or last block of one of the preset's stacks? */
static int in_edge_block(const st_model *m, const preset *ps, const char *name, const char **stack)
{
    for (int k = 0; ps->edge_blocks[k] != NULL; k++) {
        const char *prefix = ps->edge_blocks[k];
        long last = last_block(m, prefix);
        if (last < 1)
            continue;
        size_t pl = strlen(prefix);
        for (const char *at = strstr(name, prefix); at != NULL; at = strstr(at + 1, prefix)) {
            if ((at != name && at[-1] != '.') || at[pl] != '.')
                continue;
            char *end;
            long v = strtol(at + pl + 1, &end, 10);
            if (end != at + pl + 1 && *end == '.' && (v == 0 || v == last)) {
                *stack = prefix;
                return 1;
            }
        }
    }
    return 0;
}

static int add_out(plan_entry *e, const char *name, const char *dtype, int ndim, const int64_t *shape,
                   uint64_t nbytes, out_kind kind, int part)
{
    out_tensor *o = realloc(e->out, (size_t)(e->nout + 1) * sizeof *o);
    if (o == NULL)
        return -1;
    e->out = o;
    o = &e->out[e->nout];
    memset(o, 0, sizeof *o);
    o->name = strdup(name);
    if (o->name == NULL)
        return -1;
    o->dtype = dtype;
    o->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        o->shape[d] = shape[d];
    o->nbytes = nbytes;
    o->kind = kind;
    o->part = part;
    e->nout++;
    e->bytes_out += nbytes;
    return 0;
}

static int add_blob(plan_entry *e, const char *name, const char *dtype, int64_t len, void *bytes,
                    int late)
{
    int64_t shape[1] = {dtype[0] == 'F' ? len / 4 : len};
    if (add_out(e, name, dtype, 1, shape, (uint64_t)len, OUT_BLOB, 0) != 0) {
        free(bytes);
        return -1;
    }
    e->out[e->nout - 1].blob = bytes;
    e->out[e->nout - 1].late = late;
    return 0;
}

static int quant_outputs(plan_entry *e, plan_target target, int legacy, char *err, size_t errlen)
{
    const st_tensor *t = e->t;
    int64_t rows = t->shape[0], cols = t->shape[1];
    qk_layout lay;
    if (qk_layout_query(&e->p, rows, cols, &lay) != QK_OK) {
        snprintf(err, errlen, "%s: %s", t->name, qk_last_error());
        return -1;
    }
    size_t ln = strlen(t->name) - strlen(".weight");
    char name[1024];
    if (ln + 64 > sizeof name) {
        snprintf(err, errlen, "%s: name too long", t->name);
        return -1;
    }
    for (int k = 0; k < QK_PART_COUNT; k++) {
        const char *pn = qk_part_name(&e->p, (qk_part)k);
        if (lay.part[k].nbytes == 0 || pn == NULL || k == QK_PART_OFFSET)
            continue; /* bnb's nested offset lives in the quant state JSON */
        if (legacy && k == QK_PART_SCALE)
            pn = "scale_weight"; /* the pre-comfy_quant name */
        snprintf(name, sizeof name, "%.*s.%s", (int)ln, t->name, pn);
        const qk_part_info *pi = &lay.part[k];
        if (add_out(e, name, plan_st_dtype(pi->dtype), pi->ndim, pi->shape, pi->nbytes, OUT_PART, k) != 0)
            goto oom;
        if (target == TARGET_BNB && k == QK_PART_SCALE) {
            float *map = malloc(16 * sizeof *map);
            if (map == NULL)
                goto oom;
            outfmt_bnb_quant_map(e->p.format, map);
            snprintf(name, sizeof name, "%.*s.weight.quant_map", (int)ln, t->name);
            if (add_blob(e, name, "F32", 64, map, 0) != 0)
                goto oom;
        }
        if (target == TARGET_BNB && k == QK_PART_SCALE2) {
            float *map = malloc(256 * sizeof *map);
            if (map == NULL)
                goto oom;
            outfmt_bnb_nested_map(map);
            snprintf(name, sizeof name, "%.*s.weight.nested_quant_map", (int)ln, t->name);
            if (add_blob(e, name, "F32", 1024, map, 0) != 0)
                goto oom;
        }
    }
    if (target == TARGET_BNB) {
        snprintf(name, sizeof name, "%.*s.weight.quant_state.bitsandbytes__%s", (int)ln, t->name,
                 qk_format_name(e->p.format));
        if (e->p.double_quant) { /* its text holds the offset: known after quantizing */
            size_t bound = outfmt_bnb_state_bound(&e->p, e->dt, rows, cols);
            if (add_blob(e, name, "U8", (int64_t)bound, NULL, 1) != 0)
                goto oom;
        } else {
            char *s = outfmt_bnb_state(&e->p, e->dt, rows, cols, 0.0f);
            if (s == NULL || add_blob(e, name, "U8", (int64_t)strlen(s), s, 0) != 0)
                goto oom;
        }
    } else if (!legacy) {
        json_t *conf = outfmt_comfy_conf(&e->p, err, errlen);
        if (conf == NULL) {
            size_t l = strlen(err);
            char tmp[512];
            snprintf(tmp, sizeof tmp, "%s", err);
            snprintf(err, errlen, "%s: %s", t->name, tmp);
            (void)l;
            return -1;
        }
        char *s = outfmt_pydumps(conf);
        json_decref(conf);
        snprintf(name, sizeof name, "%.*s.comfy_quant", (int)ln, t->name);
        if (s == NULL || add_blob(e, name, "U8", (int64_t)strlen(s), s, 0) != 0)
            goto oom;
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* Decides one tensor: returns the action, with params and reason filled. */
static int decide(const st_model *m, const plan_options *o, plan_entry *e, char *err, size_t errlen)
{
    const st_tensor *t = e->t;
    int cand = plan_is_candidate(t);
    for (int i = 0; i < o->nrules; i++) {
        const plan_rule *r = &o->rules[i];
        if (!matches(&r->re, t->name))
            continue;
        if (r->skip) {
            e->act = ACT_KEEP;
            snprintf(e->why, sizeof e->why, "layers.json: %.80s", r->pattern);
            return 0;
        }
        if (!cand) {
            if (t->ndim != 2)
                snprintf(err, errlen, "%s: layers.json rule '%s' asks to quantize a %d-D tensor; only 2-D "
                         "weights can be", t->name, r->pattern, t->ndim);
            else
                snprintf(err, errlen, "%s: layers.json rule '%s' asks to quantize a %s tensor; only f32/f16/bf16 "
                         "\"*.weight\" tensors can be", t->name, r->pattern, t->dtype);
            return -1;
        }
        if (plan_target_of(r->p.format) != plan_target_of(o->base.format)) {
            snprintf(err, errlen, "%s: layers.json rule '%s' picks %s, which the %s loader of the output "
                     "cannot read", t->name, r->pattern, qk_format_name(r->p.format),
                     plan_target_of(o->base.format) == TARGET_BNB ? "bitsandbytes" : "ComfyUI");
            return -1;
        }
        e->act = ACT_QUANT;
        e->p = r->p;
        snprintf(e->why, sizeof e->why, "layers.json: %.80s", r->pattern);
        return 0;
    }
    if (!cand) {
        e->act = ACT_KEEP;
        snprintf(e->why, sizeof e->why, "%s", t->ndim != 2 ? "not 2-D" :
                 (plan_float_dtype(t->dtype, &e->dt) != 0 ? "not a float tensor" : "not a *.weight"));
        return 0;
    }
    for (int i = 0; i < o->nexclude; i++)
        if (matches(&o->exclude[i], t->name)) {
            e->act = ACT_KEEP;
            snprintf(e->why, sizeof e->why, "--exclude");
            return 0;
        }
    if (o->ninclude > 0) {
        for (int i = 0; i < o->ninclude; i++)
            if (matches(&o->include[i], t->name)) {
                e->act = ACT_QUANT;
                e->p = o->base;
                snprintf(e->why, sizeof e->why, "--include");
                return 0;
            }
        e->act = ACT_KEEP;
        snprintf(e->why, sizeof e->why, "not in --include");
        return 0;
    }
    if (o->preset != NULL) {
        const char *stack;
        for (int i = 0; o->preset->keep[i].regex != NULL; i++) {
            regex_t re;
            if (regcomp(&re, o->preset->keep[i].regex, REG_EXTENDED | REG_NOSUB) != 0)
                continue;
            int hit = matches(&re, t->name);
            regfree(&re);
            if (hit) {
                e->act = ACT_KEEP;
                snprintf(e->why, sizeof e->why, "preset %s: %s", o->preset->name, o->preset->keep[i].why);
                return 0;
            }
        }
        if (in_edge_block(m, o->preset, t->name, &stack)) {
            e->act = ACT_KEEP;
            snprintf(e->why, sizeof e->why, "preset %s: first/last of %s", o->preset->name, stack);
            return 0;
        }
    }
    e->act = ACT_QUANT;
    e->p = o->base;
    snprintf(e->why, sizeof e->why, "default");
    return 0;
}

static int build_entry(const st_model *m, const plan_options *o, plan_target target, plan_entry *e,
                       char *err, size_t errlen)
{
    const st_tensor *t = e->t;
    if (decide(m, o, e, err, errlen) != 0)
        return -1;
    if (e->act == ACT_QUANT) {
        plan_float_dtype(t->dtype, &e->dt);
        if (qk_params_validate(&e->p, t->shape[0], t->shape[1]) != QK_OK) {
            char why[256];
            snprintf(why, sizeof why, "%s", qk_last_error());
            if (o->fallback == FALLBACK_NONE) {
                snprintf(err, errlen, "%s [%lld, %lld]: %s (use --fallback bf16|float8_e4m3fn, --exclude or "
                         "layers.json)", t->name, (long long)t->shape[0], (long long)t->shape[1], why);
                return -1;
            }
            if (o->fallback == FALLBACK_BF16) {
                e->act = ACT_CAST_BF16;
            } else {
                qk_params_default(QK_FORMAT_FLOAT8_E4M3FN, &e->p);
            }
            snprintf(e->why, sizeof e->why, "fallback: %.80s", why);
        }
    }
    if (e->act == ACT_KEEP)
        return add_out(e, t->name, t->dtype, t->ndim, t->shape, t->nbytes, OUT_COPY, 0) == 0 ? 0 : -1;
    if (e->act == ACT_CAST_BF16)
        return add_out(e, t->name, "BF16", t->ndim, t->shape, st_numel(t) * 2, OUT_CAST, 0) == 0 ? 0 : -1;
    return quant_outputs(e, target, o->legacy_scaled_fp8, err, errlen);
}

/* Legacy files carry one empty "scaled_fp8" tensor whose dtype names the fp8
 * type (with the model's key prefix, e.g. "model.diffusion_model."). */
static int add_legacy_marker(const st_model *m, plan *pl, char *err, size_t errlen)
{
    const char *prefix = "model.diffusion_model.";
    for (size_t i = 0; i < m->count; i++)
        if (strncmp(m->tensors[i]->name, prefix, strlen(prefix)) != 0)
            prefix = "";
    for (size_t i = 0; i < pl->n; i++) {
        plan_entry *e = &pl->e[i];
        if (e->act != ACT_QUANT)
            continue;
        char name[128];
        snprintf(name, sizeof name, "%sscaled_fp8", prefix);
        int64_t zero = 0;
        const char *dt = e->p.format == QK_FORMAT_FLOAT8_E5M2 ? "F8_E5M2" : "F8_E4M3";
        if (add_out(e, name, dt, 1, &zero, 0, OUT_BLOB, 0) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        e->out[e->nout - 1].blob = calloc(1, 1);
        return 0;
    }
    return 0;
}

int plan_build(const st_model *m, const plan_options *o, plan *pl, char *err, size_t errlen)
{
    memset(pl, 0, sizeof *pl);
    pl->target = plan_target_of(o->base.format);
    pl->legacy = o->legacy_scaled_fp8;
    pl->e = calloc(m->count + 1, sizeof *pl->e);
    if (pl->e == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pl->nshards = 1;
    for (size_t i = 0; i < m->count; i++) {
        plan_entry *e = &pl->e[pl->n++];
        e->t = m->tensors[i];
        if (build_entry(m, o, pl->target, e, err, errlen) != 0) {
            if (err[0] == '\0')
                snprintf(err, errlen, "out of memory");
            return -1;
        }
        pl->bytes_in += e->t->nbytes;
        pl->bytes_out += e->bytes_out;
        pl->quantized += e->act == ACT_QUANT;
        pl->kept += e->act == ACT_KEEP;
        pl->cast += e->act == ACT_CAST_BF16;
        if (o->legacy_scaled_fp8 && e->act == ACT_QUANT &&
            ((e->p.format != QK_FORMAT_FLOAT8_E4M3FN && e->p.format != QK_FORMAT_FLOAT8_E5M2) ||
             e->p.scaling != QK_SCALING_TENSOR || e->p.format != o->base.format)) {
            snprintf(err, errlen, "%s: the legacy scaled_fp8 layout holds one float8 format with per-tensor "
                     "scales only", e->t->name);
            return -1;
        }
    }
    return o->legacy_scaled_fp8 ? add_legacy_marker(m, pl, err, errlen) : 0;
}

void plan_shard(plan *pl, uint64_t max_bytes)
{
    int shard = 0;
    uint64_t used = 0;
    for (size_t i = 0; i < pl->n; i++) {
        uint64_t b = pl->e[i].bytes_out;
        if (max_bytes > 0 && used > 0 && used + b > max_bytes) {
            shard++;
            used = 0;
        }
        pl->e[i].shard = shard;
        used += b;
    }
    pl->nshards = shard + 1;
}

void plan_free(plan *pl)
{
    for (size_t i = 0; i < pl->n; i++) {
        for (int k = 0; k < pl->e[i].nout; k++) {
            free(pl->e[i].out[k].name);
            free(pl->e[i].out[k].blob);
        }
        free(pl->e[i].out);
    }
    free(pl->e);
    memset(pl, 0, sizeof *pl);
}
