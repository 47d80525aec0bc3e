/* qtool quality: quantize every 2-D float weight of a model in each format,
 * dequantize it back, and report size and error against the original. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "st_model.h"
#include "format_spec.h"
#include "qk/qk.h"
#include "safetensors.h"

#define MAX_FORMATS 16

typedef struct {
    char spec[64];
    qk_params p;
    double signal, noise, max_abs, seconds;
    size_t bytes_in, bytes_out;
    int layers, failed, skipped;
} fmt_total;

static int dtype_of(const char *st, qk_dtype *dt)
{
    if (strcmp(st, "F32") == 0)
        *dt = QK_DTYPE_F32;
    else if (strcmp(st, "F16") == 0)
        *dt = QK_DTYPE_F16;
    else if (strcmp(st, "BF16") == 0)
        *dt = QK_DTYPE_BF16;
    else
        return -1;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Quantizes one tensor; adds its error to t. Returns 0, or -1 on failure. */
static int measure(qk_context *ctx, fmt_total *t, const st_tensor *x, qk_dtype dt, float *orig,
                   float *back, int verbose)
{
    int64_t rows = x->shape[0], cols = x->shape[1];
    qk_layout lay;
    if (qk_layout_query(&t->p, rows, cols, &lay) != QK_OK)
        return -1;
    void *parts[QK_PART_COUNT] = {0};
    size_t qbytes = 0;
    int rc = 0;
    for (int k = 0; k < QK_PART_COUNT; k++)
        if (lay.part[k].nbytes) {
            qbytes += lay.part[k].nbytes;
            if ((parts[k] = malloc(lay.part[k].nbytes)) == NULL)
                rc = -1;
        }
    void *copy = NULL;
    const void *in = rc == 0 ? st_aligned(x, &copy) : NULL;
    double t0 = now();
    if (in == NULL || qk_quantize(ctx, &t->p, dt, in, rows, cols, parts) != QK_OK)
        rc = -1;
    t->seconds += now() - t0;
    free(copy);
    const void *cp[QK_PART_COUNT] = {parts[0], parts[1], parts[2], parts[3]};
    if (rc == 0 && qk_dequantize(ctx, &t->p, cp, rows, cols, QK_DTYPE_F32, back) != QK_OK)
        rc = -1;
    if (rc == 0) {
        double s = 0, e = 0, dot = 0, yy = 0, mx = 0;
        for (int64_t i = 0; i < rows * cols; i++) {
            double a = orig[i], b = back[i], d = a - b;
            s += a * a;
            e += d * d;
            dot += a * b;
            yy += b * b;
            mx = fabs(d) > mx ? fabs(d) : mx;
        }
        t->signal += s;
        t->noise += e;
        t->max_abs = mx > t->max_abs ? mx : t->max_abs;
        t->bytes_in += x->nbytes;
        t->bytes_out += qbytes;
        t->layers++;
        if (verbose)
            printf("  %-40.40s %-24s SNR %6.2f dB  relL2 %.4f  cos %.6f  max %.3g\n", x->name, t->spec,
                   e > 0 ? 10 * log10(s / e) : INFINITY, s > 0 ? sqrt(e / s) : 0.0,
                   s > 0 && yy > 0 ? dot / sqrt(s * yy) : 1.0, mx);
    }
    for (int k = 0; k < QK_PART_COUNT; k++)
        free(parts[k]);
    return rc;
}

int cmd_quality(int argc, char **argv)
{
    const char *path = NULL, *backend = "auto";
    int threads = 0, verbose = 0, nf = 0;
    fmt_total *tot = calloc(MAX_FORMATS, sizeof *tot);
    if (tot == NULL)
        return qtool_error("out of memory");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--format") == 0 && i + 1 < argc && nf < MAX_FORMATS) {
            snprintf(tot[nf].spec, sizeof tot[nf].spec, "%s", argv[++i]);
            if (parse_format_spec(tot[nf].spec, &tot[nf].p) != 0) {
                free(tot);
                return 2;
            }
            nf++;
        } else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) {
            backend = argv[++i];
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--verbose") == 0) {
            verbose = 1;
        } else if (argv[i][0] != '-' && path == NULL) {
            path = argv[i];
        } else {
            free(tot);
            return qtool_usage_error("quality: unknown argument '%s'", argv[i]);
        }
    }
    if (path == NULL) {
        free(tot);
        return qtool_usage_error("quality: missing MODEL.safetensors");
    }
    if (nf == 0) {
        static const char *const defaults[] = {"nf4", "nf4:dq", "fp4", "nvfp4", "mxfp8",
                                               "float8_e4m3fn", "float8_e5m2", "int8_tensorwise:row",
                                               "int8_tensorwise:convrot=256", "int8_blockwise"};
        for (size_t k = 0; k < sizeof defaults / sizeof *defaults; k++, nf++) {
            snprintf(tot[nf].spec, sizeof tot[nf].spec, "%s", defaults[k]);
            parse_format_spec(defaults[k], &tot[nf].p);
        }
    }
    st_file f;
    char err[1024];
    if (st_open(path, &f, err, sizeof err) != 0) {
        free(tot);
        return qtool_error("%s", err);
    }
    qk_context *ctx;
    if (qk_context_create(backend, 0, &ctx) != QK_OK) {
        st_close(&f);
        free(tot);
        return qtool_error("%s", qk_last_error());
    }
    qk_context_set_threads(ctx, threads);
    printf("model %s: %zu tensors; backend %s (%s)\n", path, f.count, qk_context_backend(ctx),
           qk_context_device(ctx));
    int quantizable = 0, rc = 0;
    for (size_t i = 0; i < f.count && rc == 0; i++) {
        const st_tensor *x = &f.tensors[i];
        qk_dtype dt;
        if (x->ndim != 2 || dtype_of(x->dtype, &dt) != 0 || x->shape[0] == 0 || x->shape[1] == 0)
            continue; /* only 2-D float weights are ever quantized */
        quantizable++;
        size_t n = (size_t)(x->shape[0] * x->shape[1]);
        float *orig = malloc(n * 4), *back = malloc(n * 4);
        if (orig == NULL || back == NULL) {
            rc = qtool_error("out of memory on %s", x->name);
        } else {
            /* The original as f32: widen through qk (exact for f16/bf16). */
            for (size_t k = 0; k < n; k++) {
                uint32_t u = 0;
                if (dt == QK_DTYPE_F32)
                    memcpy(&u, x->data + 4 * k, 4);
                else {
                    uint16_t h;
                    memcpy(&h, x->data + 2 * k, 2);
                    u = dt == QK_DTYPE_BF16 ? (uint32_t)h << 16 : 0;
                    if (dt == QK_DTYPE_F16) {
                        float fv = 0;
                        int e = (h >> 10) & 31, mnt = h & 1023;
                        fv = e == 0 ? ldexpf((float)mnt, -24) : ldexpf((float)(mnt | 1024), e - 25);
                        fv = (h & 0x8000) ? -fv : fv;
                        memcpy(&u, &fv, 4);
                    }
                }
                memcpy(&orig[k], &u, 4);
            }
            for (int k = 0; k < nf; k++)
                if (qk_params_validate(&tot[k].p, x->shape[0], x->shape[1]) != QK_OK) {
                    if (verbose)
                        printf("  %-40.40s %-24s skipped: %s\n", x->name, tot[k].spec, qk_last_error());
                    tot[k].skipped++; /* e.g. ConvRot on a width that is not a multiple of the group */
                } else if (measure(ctx, &tot[k], x, dt, orig, back, verbose) != 0) {
                    if (tot[k].failed++ == 0)
                        fprintf(stderr, "qtool: %s on %s: %s\n", tot[k].spec, x->name, qk_last_error());
                }
        }
        free(orig);
        free(back);
    }
    if (rc == 0) {
        printf("%d of %zu tensors are 2-D float weights\n\n", quantizable, f.count);
        printf("%-28s %7s %10s %10s %7s %9s %9s %8s\n", "format", "layers", "MiB in", "MiB out",
               "ratio", "SNR dB", "max err", "MB/s");
        for (int k = 0; k < nf; k++) {
            fmt_total *t = &tot[k];
            double snr = t->noise > 0 ? 10 * log10(t->signal / t->noise) : INFINITY;
            printf("%-28s %7d %10.2f %10.2f %6.2fx %9.2f %9.3g %8.0f%s\n", t->spec, t->layers,
                   (double)t->bytes_in / 1048576.0, (double)t->bytes_out / 1048576.0,
                   t->bytes_out ? (double)t->bytes_in / (double)t->bytes_out : 0.0, snr, t->max_abs,
                   t->seconds > 0 ? (double)t->bytes_in / 1e6 / t->seconds : 0.0,
                   t->failed ? "  (some layers failed)" : (t->skipped ? "  (some shapes not supported)" : ""));
            if (t->failed)
                rc = 1;
        }
    }
    qk_context_destroy(ctx);
    st_close(&f);
    free(tot);
    return rc;
}
