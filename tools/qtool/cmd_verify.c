/* qtool verify ORIG QUANT: dequantize every quantized layer through qk and
 * compare it with the original; check that everything else is unchanged. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "detect.h"
#include "plan.h"
#include "st_model.h"
#include "stats.h"
#include "tmpfiles.h"

#define EXIT_BELOW_THRESHOLD 3

static int same_shape(const st_tensor *a, const st_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return 0;
    return 1;
}

/* Stats of a float tensor b (any float dtype) against a. */
static int compare_float(const st_tensor *a, const st_tensor *b, err_stats *st)
{
    qk_dtype da, db;
    if (plan_float_dtype(a->dtype, &da) != 0 || plan_float_dtype(b->dtype, &db) != 0)
        return -1;
    size_t n = st_numel(a), step = 1 << 20;
    float *x = malloc(step * 4), *y = malloc(step * 4);
    if (x == NULL || y == NULL) {
        free(x);
        free(y);
        return -1;
    }
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        widen_to_f32(da, a->data + i * qk_dtype_size(da), x, k);
        widen_to_f32(db, b->data + i * qk_dtype_size(db), y, k);
        stats_add(st, x, y, k);
    }
    free(x);
    free(y);
    return 0;
}

int cmd_verify(int argc, char **argv)
{
    const char *orig_path = NULL, *quant_path = NULL, *backend = "auto", *report = NULL;
    double min_snr = -INFINITY, max_rel = INFINITY;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--min-snr") == 0 && i + 1 < argc)
            min_snr = atof(argv[++i]);
        else if (strcmp(argv[i], "--max-rel-l2") == 0 && i + 1 < argc)
            max_rel = atof(argv[++i]);
        else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc)
            backend = argv[++i];
        else if (strcmp(argv[i], "--report") == 0 && i + 1 < argc)
            report = argv[++i];
        else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: qtool verify ORIG QUANT [--min-snr DB] [--max-rel-l2 X] [--report FILE] "
                   "[--backend B] [-v]\n  exit 0: all pass, 3: a layer below the threshold, 1: error\n");
            return 0;
        } else if (argv[i][0] != '-' && orig_path == NULL)
            orig_path = argv[i];
        else if (argv[i][0] != '-' && quant_path == NULL)
            quant_path = argv[i];
        else
            return qtool_usage_error("verify: unknown argument '%s'", argv[i]);
    }
    if (orig_path == NULL || quant_path == NULL)
        return qtool_usage_error("verify: usage: qtool verify ORIG QUANT [--min-snr DB]");
    st_model a, b;
    qlayers q;
    char err[2048];
    if (st_model_open(orig_path, &a, err, sizeof err) != 0)
        return qtool_error("%s", err);
    if (st_model_open(quant_path, &b, err, sizeof err) != 0) {
        st_model_close(&a);
        return qtool_error("%s", err);
    }
    if (detect_layers(&b, &q, err, sizeof err) != 0) {
        st_model_close(&a);
        st_model_close(&b);
        return qtool_error("%s", err);
    }
    qk_context *ctx = NULL;
    int rc = 0, below = 0, checked = 0, identical = 0;
    if (qk_context_create(backend, 0, &ctx) != QK_OK)
        rc = qtool_error("backend %s: %s", backend, qk_last_error());
    json_t *layers = json_array();
    double worst = INFINITY;
    const char *worst_name = "";
    for (size_t i = 0; i < q.n && rc == 0; i++) {
        const qlayer *l = &q.l[i];
        char name[2100];
        snprintf(name, sizeof name, "%s.weight", l->layer);
        const st_tensor *o = st_model_find(&a, name);
        qk_dtype od;
        if (o == NULL) {
            rc = qtool_error("%s: not in %s", name, orig_path);
            break;
        }
        if (plan_float_dtype(o->dtype, &od) != 0 || (int64_t)st_numel(o) != l->rows * l->cols) {
            rc = qtool_error("%s: original is %s with %zu elements, quantized layer is %lldx%lld", name, o->dtype,
                             st_numel(o), (long long)l->rows, (long long)l->cols);
            break;
        }
        size_t n = st_numel(o);
        float *back = malloc(n * 4), *orig = malloc(n * 4);
        if (back == NULL || orig == NULL) {
            free(back);
            free(orig);
            rc = qtool_error("%s: out of memory", name);
            break;
        }
        if (detect_dequantize(ctx, l, QK_DTYPE_F32, back, err, sizeof err) != 0) {
            free(back);
            free(orig);
            rc = qtool_error("%s", err);
            break;
        }
        widen_to_f32(od, o->data, orig, n);
        err_stats st = {0};
        stats_add(&st, orig, back, n);
        free(back);
        free(orig);
        st_release(o);
        for (int k = 0; k < l->nused; k++)
            st_release(l->used[k]);
        double snr = stats_snr_db(&st), rel = stats_rel_l2(&st);
        int fail = snr < min_snr || rel > max_rel;
        below += fail;
        checked++;
        if (snr < worst) {
            worst = snr;
            worst_name = l->layer;
        }
        char desc[96];
        plan_describe(&l->p, desc, sizeof desc);
        if (verbose || fail)
            printf("  %-52s %-24s SNR %7.2f dB  relL2 %.5f  cos %.6f  max %.4g%s\n", l->layer, desc, snr, rel,
                   stats_cosine(&st), st.max_abs, fail ? "  BELOW THRESHOLD" : "");
        json_array_append_new(layers, json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:b}", "layer", l->layer, "params",
                                                desc, "snr_db", stats_json_real(snr), "rel_l2", stats_json_real(rel),
                                                "cosine", stats_json_real(stats_cosine(&st)), "max_abs_error",
                                                stats_json_real(st.max_abs), "pass", !fail));
    }
    /* Everything else must be the original tensor (or its bf16 cast). */
    for (size_t i = 0; i < b.count && rc == 0; i++) {
        const st_tensor *t = b.tensors[i];
        if (detect_owner(&q, t->name) != NULL)
            continue;
        const st_tensor *o = st_model_find(&a, t->name);
        if (o == NULL) {
            rc = qtool_error("%s: in %s but not in %s", t->name, quant_path, orig_path);
            break;
        }
        if (!same_shape(o, t)) {
            rc = qtool_error("%s: shape differs from the original", t->name);
            break;
        }
        if (strcmp(o->dtype, t->dtype) == 0) {
            if (o->nbytes != t->nbytes || memcmp(o->data, t->data, o->nbytes) != 0) {
                rc = qtool_error("%s: differs from the original", t->name);
                break;
            }
            identical++;
        } else {
            err_stats st = {0};
            if (compare_float(o, t, &st) != 0) {
                rc = qtool_error("%s: %s vs original %s cannot be compared", t->name, t->dtype, o->dtype);
                break;
            }
            double snr = stats_snr_db(&st);
            int fail = snr < min_snr || stats_rel_l2(&st) > max_rel;
            below += fail;
            checked++;
            if (verbose || fail)
                printf("  %-52s %-24s SNR %7.2f dB  relL2 %.5f%s\n", t->name, t->dtype, snr, stats_rel_l2(&st),
                       fail ? "  BELOW THRESHOLD" : "");
        }
        st_release(o);
        st_release(t);
    }
    if (rc == 0) {
        printf("%d quantized layers checked (worst SNR %.2f dB%s%s%s), %d tensors identical to the original\n",
               checked, isfinite(worst) ? worst : INFINITY, *worst_name ? ", " : "", worst_name,
               "", identical);
        if (below) {
            printf("%d layers below the threshold\n", below);
            rc = EXIT_BELOW_THRESHOLD;
        } else {
            printf("PASS\n");
        }
    }
    if (report != NULL && (rc == 0 || rc == EXIT_BELOW_THRESHOLD)) {
        json_t *r = json_pack("{s:s, s:s, s:i, s:i, s:O}", "original", orig_path, "quantized", quant_path, "checked",
                              checked, "below_threshold", below, "layers", layers);
        char err[1024];
        if (tmpfiles_write_json(report, r, JSON_INDENT(2), err, sizeof err) != 0)
            rc = qtool_error("%s", err);
        json_decref(r);
    }
    json_decref(layers);
    qk_context_destroy(ctx);
    detect_free(&q);
    st_model_close(&a);
    st_model_close(&b);
    return rc;
}
