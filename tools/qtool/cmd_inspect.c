/* qtool inspect: tensors, dtypes, detected quantized layers, sizes and
 * header metadata of a safetensors file or sharded model. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "detect.h"
#include "plan.h"
#include "st_model.h"

static void shape_text(const st_tensor *t, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int d = 0; d < t->ndim; d++) {
        size_t l = strlen(buf);
        snprintf(buf + l, len - l, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    }
}

static int inspect_json(const st_model *m, const qlayers *q)
{
    json_t *tensors = json_array(), *layers = json_array();
    for (size_t i = 0; i < m->count; i++) {
        const st_tensor *t = m->tensors[i];
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        const qlayer *l = detect_owner(q, t->name);
        json_array_append_new(tensors, json_pack("{s:s, s:s, s:o, s:I, s:s?}", "name", t->name, "dtype", t->dtype,
                                                 "shape", shape, "bytes", (json_int_t)t->nbytes, "layer",
                                                 l ? l->layer : NULL));
    }
    for (size_t i = 0; i < q->n; i++) {
        const qlayer *l = &q->l[i];
        char desc[96];
        plan_describe(&l->p, desc, sizeof desc);
        uint64_t b = 0;
        for (int k = 0; k < l->nused; k++)
            b += l->used[k]->nbytes;
        json_array_append_new(layers, json_pack("{s:s, s:s, s:s, s:s, s:[II], s:I}", "layer", l->layer, "layout",
                                                l->layout, "format", qk_format_name(l->p.format), "params", desc,
                                                "shape", (json_int_t)l->rows, (json_int_t)l->cols, "bytes",
                                                (json_int_t)b));
    }
    json_t *r = json_pack("{s:O, s:o, s:o}", "metadata", m->metadata, "tensors", tensors, "quantized_layers", layers);
    json_dumpf(r, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(r);
    return 0;
}

int cmd_inspect(int argc, char **argv)
{
    const char *path = NULL;
    int as_json = 0, brief = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (strcmp(argv[i], "--brief") == 0)
            brief = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: qtool inspect FILE [--json] [--brief]\n");
            return 0;
        } else if (argv[i][0] != '-' && path == NULL)
            path = argv[i];
        else
            return qtool_usage_error("inspect: unknown argument '%s'", argv[i]);
    }
    if (path == NULL)
        return qtool_usage_error("inspect: missing FILE (.safetensors or .safetensors.index.json)");
    st_model m;
    qlayers q;
    char err[2048];
    if (st_model_open(path, &m, err, sizeof err) != 0)
        return qtool_error("%s", err);
    if (detect_layers(&m, &q, err, sizeof err) != 0) {
        st_model_close(&m);
        return qtool_error("%s", err);
    }
    if (as_json) {
        inspect_json(&m, &q);
    } else {
        uint64_t total = 0;
        for (size_t i = 0; i < m.count; i++)
            total += m.tensors[i]->nbytes;
        printf("%s: %zu tensors in %zu file%s, %.2f MiB of data\n", path, m.count, m.nfiles,
               m.nfiles == 1 ? "" : "s", (double)total / 1048576.0);
        if (json_object_size(m.metadata) > 0) {
            printf("metadata:\n");
            const char *k;
            json_t *v;
            json_object_foreach(m.metadata, k, v)
            {
                const char *s = json_string_value(v);
                size_t l = s ? strlen(s) : 0;
                printf("  %s: %.*s%s\n", k, (int)(l > 160 ? 160 : l), s ? s : "", l > 160 ? "..." : "");
            }
        }
        if (!brief) {
            printf("tensors:\n");
            for (size_t i = 0; i < m.count; i++) {
                const st_tensor *t = m.tensors[i];
                char shape[96];
                shape_text(t, shape, sizeof shape);
                const qlayer *l = detect_owner(&q, t->name);
                printf("  %-60s %-8s [%s] %zu%s%s\n", t->name, t->dtype, shape, t->nbytes, l ? "  <- " : "",
                       l ? qk_format_name(l->p.format) : "");
            }
        }
        printf("quantized layers: %zu\n", q.n);
        int count[QK_FORMAT_COUNT] = {0};
        for (size_t i = 0; i < q.n; i++) {
            const qlayer *l = &q.l[i];
            char desc[96];
            plan_describe(&l->p, desc, sizeof desc);
            count[l->p.format]++;
            if (!brief)
                printf("  %-52s %-12s %-28s %lldx%lld\n", l->layer, l->layout, desc, (long long)l->rows,
                       (long long)l->cols);
        }
        for (int f = 0; f < QK_FORMAT_COUNT; f++)
            if (count[f])
                printf("  %d x %s\n", count[f], qk_format_name((qk_format)f));
    }
    detect_free(&q);
    st_model_close(&m);
    return 0;
}
