/* qtool make-model: a synthetic DiT-like model whose weights look like
 * trained ones (scaled normal with heavy-tailed outliers, a zero-initialised
 * modulation layer, norms and biases that stay unquantized). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/qk_codec.h"
#include "commands.h"
#include "safetensors.h"

typedef struct {
    uint64_t s;
} rng;

static double uniform(rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return ((double)(r->s >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(rng *r)
{
    return sqrt(-2.0 * log(uniform(r))) * cos(6.283185307179586 * uniform(r));
}

typedef struct {
    const char *dtype;
    size_t esize;
    st_writer w;
    void **bufs;
    size_t nbufs;
    rng r;
} model;

static void store(const model *m, void *buf, size_t i, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    if (m->esize == 4) {
        memcpy((char *)buf + 4 * i, &u, 4);
        return;
    }
    uint16_t h = (uint16_t)(strcmp(m->dtype, "BF16") == 0 ? qk_f32_to_bf16(u) : qk_f32_to_f16(u));
    memcpy((char *)buf + 2 * i, &h, 2);
}

/* kind: 'w' weight, 'z' zeros, 'n' norm scale (around 1), 'b' bias. */
static int add(model *m, const char *name, int64_t rows, int64_t cols, char kind)
{
    size_t n = (size_t)(rows * (cols > 0 ? cols : 1));
    void *buf = calloc(n, m->esize);
    void **bufs = realloc(m->bufs, (m->nbufs + 1) * sizeof *bufs);
    if (bufs != NULL)
        m->bufs = bufs; /* the old array is gone even when buf failed */
    if (buf == NULL || bufs == NULL) {
        free(buf);
        return -1;
    }
    m->bufs[m->nbufs++] = buf;
    double sd = cols > 0 ? 1.0 / sqrt((double)cols) : 0.02;
    for (size_t i = 0; i < n && kind != 'z'; i++) {
        double v = normal(&m->r) * sd;
        if (kind == 'w' && uniform(&m->r) < 0.001)
            v *= 12.0; /* the outliers real checkpoints have */
        if (kind == 'n')
            v = 1.0 + 0.1 * normal(&m->r);
        store(m, buf, i, (float)v);
    }
    int64_t shape[2] = {rows, cols};
    return st_writer_add(&m->w, name, m->dtype, cols > 0 ? 2 : 1, shape, buf, n * m->esize);
}

int cmd_make_model(int argc, char **argv)
{
    const char *out = NULL, *dt = "bf16";
    int blocks = 4, width = 512;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--blocks") == 0 && i + 1 < argc)
            blocks = atoi(argv[++i]);
        else if (strcmp(argv[i], "--width") == 0 && i + 1 < argc)
            width = atoi(argv[++i]);
        else if (strcmp(argv[i], "--dtype") == 0 && i + 1 < argc)
            dt = argv[++i];
        else if (argv[i][0] != '-' && out == NULL)
            out = argv[i];
        else
            return qtool_usage_error("make-model: unknown argument '%s'", argv[i]);
    }
    if (out == NULL)
        return qtool_usage_error("make-model: missing OUT.safetensors");
    if (blocks < 1 || blocks > 512 || width < 16 || width > 16384 || width % 16 != 0)
        return qtool_usage_error("make-model: --blocks 1..512 and --width 16..16384 (multiple of 16)");
    model m = {0};
    m.r.s = 0x243F6A8885A308D3ull;
    if (strcmp(dt, "bf16") == 0)
        m.dtype = "BF16", m.esize = 2;
    else if (strcmp(dt, "f16") == 0)
        m.dtype = "F16", m.esize = 2;
    else if (strcmp(dt, "f32") == 0)
        m.dtype = "F32", m.esize = 4;
    else
        return qtool_usage_error("make-model: --dtype must be bf16, f16 or f32");
    st_writer_init(&m.w);
    int64_t w = width;
    int bad = add(&m, "img_in.weight", w, 64, 'w') | add(&m, "img_in.bias", w, 0, 'b');
    char name[128];
    for (int b = 0; b < blocks && !bad; b++) {
        static const struct {
            const char *suffix;
            int rows_mul, cols_mul;
            char kind;
        } layers[] = {
            {"norm1.weight", 1, 0, 'n'},        {"attn.qkv.weight", 3, 1, 'w'},
            {"attn.qkv.bias", 3, 0, 'b'},       {"attn.proj.weight", 1, 1, 'w'},
            {"norm2.weight", 1, 0, 'n'},        {"mlp.fc1.weight", 4, 1, 'w'},
            {"mlp.fc2.weight", 1, 4, 'w'},      {"adaLN_modulation.weight", 6, 1, 'z'},
        };
        for (size_t k = 0; k < sizeof layers / sizeof *layers; k++) {
            snprintf(name, sizeof name, "blocks.%d.%s", b, layers[k].suffix);
            bad |= add(&m, name, w * layers[k].rows_mul,
                       layers[k].cols_mul ? w * layers[k].cols_mul : 0, layers[k].kind);
        }
    }
    bad |= add(&m, "final_layer.linear.weight", 64, w, 'w');
    char err[512] = "out of memory";
    int rc = bad ? -1 : st_writer_finish(&m.w, out, err, sizeof err);
    for (size_t i = 0; i < m.nbufs; i++)
        free(m.bufs[i]);
    free(m.bufs);
    if (rc != 0)
        return qtool_error("make-model: %s", err);
    printf("wrote %s: %d blocks, width %d, %s\n", out, blocks, width, dt);
    return 0;
}
