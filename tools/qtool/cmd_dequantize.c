/* qtool dequantize: every quantized layer of a file back to a plain tensor
 * (through qk), other tensors unchanged; streamed like convert. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "detect.h"
#include "plan.h"
#include "st_model.h"
#include "st_stream.h"
#include "tmpfiles.h"

#define CHUNK ((size_t)64 << 20)

static int copy_tensor(st_stream *s, const st_tensor *t, char *err, size_t errlen)
{
    for (size_t off = 0; off < t->nbytes; off += CHUNK) {
        size_t n = t->nbytes - off < CHUNK ? t->nbytes - off : CHUNK;
        if (st_stream_write(s, t->data + off, n, err, errlen) != 0)
            return -1;
    }
    st_release(t);
    return 0;
}

/* What tensor t becomes: layer l dequantized, itself, or nothing (dtype
 * NULL: a part of a quantized layer other than its weight). */
typedef struct {
    const qlayer *l;
    const char *dtype;
    uint64_t nbytes;
} out_of;

static out_of output_of(const qlayers *q, const st_tensor *t, qk_dtype dt)
{
    const qlayer *l = detect_weight_of(q, t->name);
    if (l != NULL)
        return (out_of){l, plan_st_dtype(dt), (uint64_t)(l->rows * l->cols) * qk_dtype_size(dt)};
    if (detect_owner(q, t->name) == NULL)
        return (out_of){NULL, t->dtype, t->nbytes};
    return (out_of){NULL, NULL, 0};
}

int cmd_dequantize(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *dtname = "bf16", *backend = "auto";
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--dtype") == 0 && i + 1 < argc)
            dtname = argv[++i];
        else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc)
            backend = argv[++i];
        else if (strcmp(argv[i], "--quiet") == 0)
            quiet = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: qtool dequantize QUANT -o OUT [--dtype bf16|f16|f32] [--backend B]\n");
            return 0;
        } else if (argv[i][0] != '-' && in == NULL)
            in = argv[i];
        else
            return qtool_usage_error("dequantize: unknown argument '%s'", argv[i]);
    }
    if (in == NULL || out == NULL)
        return qtool_usage_error("dequantize: usage: qtool dequantize QUANT -o OUT [--dtype bf16|f16|f32]");
    qk_dtype dt;
    if (qk_dtype_from_name(dtname, &dt) != QK_OK || qk_dtype_size(dt) < 2 || dt > QK_DTYPE_BF16)
        return qtool_usage_error("dequantize: --dtype must be bf16, f16 or f32");
    st_model m;
    qlayers q;
    char err[2048];
    if (st_model_open(in, &m, err, sizeof err) != 0)
        return qtool_error("%s", err);
    if (detect_layers(&m, &q, err, sizeof err) != 0) {
        st_model_close(&m);
        return qtool_error("%s", err);
    }
    qk_context *ctx = NULL;
    if (qk_context_create(backend, 0, &ctx) != QK_OK) {
        detect_free(&q);
        st_model_close(&m);
        return qtool_error("backend %s: %s", backend, qk_last_error());
    }
    /* The header is known up front: dequantized sizes are rows*cols*es. */
    json_t *md = json_deep_copy(m.metadata), *h = json_object();
    json_object_del(md, "_quantization_metadata");
    json_object_del(md, "qtool_orig_shapes");
    out_of *outs = calloc(m.count ? m.count : 1, sizeof *outs);
    if (outs == NULL) {
        json_decref(md);
        json_decref(h);
        qk_context_destroy(ctx);
        detect_free(&q);
        st_model_close(&m);
        return qtool_error("out of memory");
    }
    for (size_t i = 0; i < m.count; i++)
        outs[i] = output_of(&q, m.tensors[i], dt);
    uint64_t pos = 0;
    for (int g = 0; g < ST_ALIGN_GROUPS; g++)
        for (size_t i = 0; i < m.count; i++) {
            const st_tensor *t = m.tensors[i];
            const out_of *o = &outs[i];
            if (o->dtype == NULL || st_align_group(o->dtype, o->nbytes) != g)
                continue;
            st_header_add(h, t->name, o->dtype, o->l ? o->l->ndim : t->ndim, o->l ? o->l->shape : t->shape, pos,
                          o->nbytes);
            pos += o->nbytes;
        }
    if (json_object_size(md) > 0)
        json_object_set(h, "__metadata__", md);
    st_stream s;
    memset(&s, 0, sizeof s);
    s.fd = s.slot = -1;
    uint64_t hlen = st_header_text_len(h);
    int rc = st_space_check(out, 8 + (hlen + 7) / 8 * 8 + pos, err, sizeof err);
    if (rc == 0)
        rc = st_stream_open(&s, out, hlen, err, sizeof err);
    json_decref(h);
    for (int g = 0; g < ST_ALIGN_GROUPS && rc == 0; g++)
        for (size_t i = 0; i < m.count && rc == 0; i++) {
            const st_tensor *t = m.tensors[i];
            const out_of *o = &outs[i];
            if (o->dtype == NULL || st_align_group(o->dtype, o->nbytes) != g)
                continue;
            if (o->l != NULL) {
                size_t nb = (size_t)o->nbytes;
                void *buf = malloc(nb ? nb : 1);
                rc = buf ? st_stream_tensor(&s, t->name, o->dtype, o->l->ndim, o->l->shape, nb, err, sizeof err) : -1;
                if (buf == NULL)
                    snprintf(err, sizeof err, "%s: out of memory", t->name);
                if (rc == 0)
                    rc = detect_dequantize(ctx, o->l, dt, buf, err, sizeof err);
                if (rc == 0)
                    rc = st_stream_write(&s, buf, nb, err, sizeof err);
                free(buf);
                for (int k = 0; k < o->l->nused; k++)
                    st_release(o->l->used[k]);
            } else {
                rc = st_stream_tensor(&s, t->name, t->dtype, t->ndim, t->shape, t->nbytes, err, sizeof err);
                if (rc == 0)
                    rc = copy_tensor(&s, t, err, sizeof err);
            }
        }
    free(outs);
    if (rc == 0)
        rc = st_stream_finish(&s, md, err, sizeof err);
    if (rc == 0)
        rc = st_stream_commit(&s, err, sizeof err);
    st_stream_abort(&s);
    json_decref(md);
    if (rc == 0 && !quiet)
        printf("wrote %s: %zu layers dequantized to %s\n", out, q.n, dtname);
    qk_context_destroy(ctx);
    detect_free(&q);
    st_model_close(&m);
    return rc == 0 ? 0 : qtool_error("%s", err);
}
