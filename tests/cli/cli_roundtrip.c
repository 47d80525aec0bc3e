/* Checks qtool's files against the library itself: for every layer that the
 * convert report says was quantized, qk_quantize of the original tensor must
 * give exactly the part tensors in QUANT, and qk_dequantize of those parts
 * exactly the tensor in DEQ (qtool dequantize's output); every other tensor
 * of DEQ must be the original's bytes. The report's quality figures must
 * match a long double recomputation from ORIG and the f32 dequantization.
 *   cli_roundtrip REPORT.json ORIG QUANT DEQ bf16|f16|f32 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/qk_codec.h"
#include "format_spec.h"
#include "qk/qk.h"
#include "safetensors.h"

/* format_spec.c reports through these (tools/qtool/main.c in qtool). */
int qtool_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

int qtool_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static const st_tensor *find(const st_file *f, const char *name)
{
    for (size_t i = 0; i < f->count; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("cli_roundtrip: FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static qk_dtype dtype_of(const char *st)
{
    return strcmp(st, "F32") == 0 ? QK_DTYPE_F32 : (strcmp(st, "F16") == 0 ? QK_DTYPE_F16 : QK_DTYPE_BF16);
}

static float widen(const st_tensor *t, size_t i)
{
    uint32_t u;
    if (strcmp(t->dtype, "F32") == 0) {
        memcpy(&u, t->data + 4 * i, 4);
    } else {
        uint16_t h;
        memcpy(&h, t->data + 2 * i, 2);
        u = strcmp(t->dtype, "F16") == 0 ? qk_f16_to_f32(h) : qk_bf16_to_f32(h);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The report's figure `key` against want: equal to 1e-9 relative, or null
 * where want is not finite. */
static int figure_ok(const json_t *l, const char *key, double want)
{
    const json_t *v = json_object_get(l, key);
    if (!isfinite(want))
        return json_is_null(v);
    double got = json_number_value(v);
    return json_is_number(v) && fabs(got - want) <= 1e-9 * fmax(1.0, fabs(want));
}

/* snr_db, rel_l2, cosine and max_abs_error of the report entry l against
 * a recomputation in long double over ORIG's tensor o and back (f32). */
static int check_quality(const char *name, const json_t *l, const st_tensor *o, const float *back, size_t n)
{
    long double sig = 0, noise = 0, dot = 0, b2 = 0;
    double mx = 0;
    for (size_t i = 0; i < n; i++) {
        double a = widen(o, i), b = back[i];
        if (!isfinite(a) || !isfinite(b))
            continue;
        sig += (long double)a * a;
        noise += (long double)(a - b) * (a - b);
        dot += (long double)a * b;
        b2 += (long double)b * b;
        mx = fmax(mx, fabs(a - b));
    }
    double snr = noise == 0 ? INFINITY : sig > 0 ? (double)(10 * log10l(sig / noise)) : -INFINITY;
    double rel = sig == 0 ? (noise == 0 ? 0.0 : INFINITY) : (double)sqrtl(noise / sig);
    double cosine = sig == 0 || b2 == 0 ? (sig == b2 ? 1.0 : 0.0) : (double)(dot / sqrtl(sig * b2));
    if (!figure_ok(l, "snr_db", snr) || !figure_ok(l, "rel_l2", rel) || !figure_ok(l, "cosine", cosine) ||
        !figure_ok(l, "max_abs_error", mx))
        return fail("%s: the report's quality figures (snr %.12g dB) differ from the recomputed snr %.12g, "
                    "rel_l2 %.12g, cosine %.12g, max abs %.9g", name,
                    json_number_value(json_object_get(l, "snr_db")), snr, rel, cosine, mx);
    return 0;
}

static int check_layer(const char *name, const char *spec, const json_t *l, const st_file *orig,
                       const st_file *quant, const st_file *deq, qk_dtype out_dt)
{
    qk_params p;
    if (parse_format_spec(spec, &p) != 0)
        return fail("%s: bad spec %s", name, spec);
    const st_tensor *o = find(orig, name), *d = find(deq, name);
    if (o == NULL || d == NULL || o->ndim != 2)
        return fail("%s: missing in ORIG or DEQ", name);
    int64_t rows = o->shape[0], cols = o->shape[1];
    qk_layout lay;
    if (qk_layout_query(&p, rows, cols, &lay) != QK_OK)
        return fail("%s: %s", name, qk_last_error());
    void *parts[QK_PART_COUNT] = {0};
    for (int k = 0; k < QK_PART_COUNT; k++)
        if (lay.part[k].nbytes)
            parts[k] = malloc(lay.part[k].nbytes);
    size_t n = (size_t)(rows * cols), es = qk_dtype_size(out_dt);
    void *back = malloc(n * es);
    int rc = 0;
    if (qk_quantize(NULL, &p, dtype_of(o->dtype), o->data, rows, cols, parts) != QK_OK)
        rc = fail("%s: qk_quantize: %s", name, qk_last_error());
    size_t ln = strlen(name) - strlen(".weight");
    for (int k = 0; k < QK_PART_COUNT && rc == 0; k++) {
        const char *pn = qk_part_name(&p, (qk_part)k);
        if (lay.part[k].nbytes == 0 || pn == NULL || k == QK_PART_OFFSET)
            continue;
        char pname[1200];
        snprintf(pname, sizeof pname, "%.*s.%s", (int)ln, name, pn);
        const st_tensor *q = find(quant, pname);
        if (q == NULL)
            rc = fail("%s: QUANT lacks %s", name, pname);
        else if (q->nbytes != lay.part[k].nbytes || memcmp(q->data, parts[k], q->nbytes) != 0)
            rc = fail("%s: %s differs from qk_quantize's bytes", name, pname);
    }
    const void *cp[QK_PART_COUNT] = {parts[0], parts[1], parts[2], parts[3]};
    if (rc == 0 && qk_dequantize(NULL, &p, cp, rows, cols, out_dt, back) != QK_OK)
        rc = fail("%s: qk_dequantize: %s", name, qk_last_error());
    if (rc == 0 && (d->nbytes != n * es || memcmp(d->data, back, n * es) != 0))
        rc = fail("%s: qtool dequantize differs from qk_dequantize", name);
    if (rc == 0 && json_object_get(l, "snr_db") != NULL) {
        float *back32 = malloc(n * 4);
        if (back32 == NULL || qk_dequantize(NULL, &p, cp, rows, cols, QK_DTYPE_F32, back32) != QK_OK)
            rc = fail("%s: f32 dequantize failed", name);
        else
            rc = check_quality(name, l, o, back32, n);
        free(back32);
    }
    for (int k = 0; k < QK_PART_COUNT; k++)
        free(parts[k]);
    free(back);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: cli_roundtrip REPORT.json ORIG QUANT DEQ bf16|f16|f32\n");
        return 2;
    }
    qk_dtype out_dt;
    if (qk_dtype_from_name(argv[5], &out_dt) != QK_OK)
        return fail("bad dtype %s", argv[5]);
    json_error_t je;
    json_t *rep = json_load_file(argv[1], 0, &je);
    st_file orig, quant, deq;
    char err[1024];
    if (rep == NULL)
        return fail("%s: %s", argv[1], je.text);
    if (st_open(argv[2], &orig, err, sizeof err) || st_open(argv[3], &quant, err, sizeof err) ||
        st_open(argv[4], &deq, err, sizeof err))
        return fail("%s", err);
    int rc = 0, layers = 0, copies = 0;
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(rep, "layers"), i, l)
    {
        const char *name = json_string_value(json_object_get(l, "name"));
        const char *action = json_string_value(json_object_get(l, "action"));
        if (name == NULL || action == NULL)
            return fail("report entry without name/action");
        if (strcmp(action, "quantize") == 0) {
            rc |= check_layer(name, json_string_value(json_object_get(l, "spec")), l, &orig, &quant, &deq, out_dt);
            layers++;
        } else if (strcmp(action, "keep") == 0) {
            const st_tensor *o = find(&orig, name), *d = find(&deq, name);
            if (o == NULL || d == NULL || o->nbytes != d->nbytes || memcmp(o->data, d->data, o->nbytes) != 0)
                rc |= fail("%s: kept tensor differs after dequantize", name);
            copies++;
        }
    }
    if (layers == 0)
        rc |= fail("the report lists no quantized layer");
    printf("cli_roundtrip: %d quantized layers and %d kept tensors match the library\n", layers, copies);
    st_close(&orig);
    st_close(&quant);
    st_close(&deq);
    json_decref(rep);
    return rc;
}
