/* Streaming conversion: input by mmap, one tensor at a time; the outputs go
 * to a writer thread (write_queue.c) so the next tensor is quantized while
 * this one is written. Held at once: the current tensor's input view and
 * outputs, plus at most WRITE_CAP bytes (or one tensor's outputs) queued. */
#define _GNU_SOURCE
#include "convert_exec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "outfmt.h"
#include "progress.h"
#include "st_stream.h"
#include "stats.h"
#include "tmpfiles.h"
#include "write_queue.h"

#define CHUNK ((size_t)64 << 20)
#define WRITE_CAP ((size_t)128 << 20)

typedef struct {
    const convert_opts *o;
    qk_context *ctx;
    st_stream *shards;
    write_queue *wq;
    char **paths;
    int nshards;
    char err[2048];
    json_t *metadata;
    double quant_seconds;
    int fail_after;  /* test hook: fail after this many tensors (0 = never) */
    int slow_ms;     /* test hook: sleep per tensor */
} run_state;

/* "dir/model.safetensors" -> "dir/model-00002-of-00005.safetensors". */
static char *shard_path(const char *out, int k, int n)
{
    size_t len = strlen(out) + 32;
    char *p = malloc(len);
    if (p == NULL)
        return NULL;
    const char *dot = strstr(out, ".safetensors");
    int stem = dot ? (int)(dot - out) : (int)strlen(out);
    snprintf(p, len, "%.*s-%05d-of-%05d.safetensors", stem, out, k + 1, n);
    return p;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Metadata of the output: the input's, plus the ComfyUI header mirror of the
 * per-layer markers and the unpadded shapes of padded layers. */
static json_t *output_metadata(const st_model *m, const plan *pl)
{
    json_t *md = json_deep_copy(m->metadata);
    if (md == NULL)
        md = json_object();
    if (pl->target != TARGET_COMFY || pl->quantized == 0 || pl->legacy)
        return md;
    json_t *layers = json_object(), *shapes = json_object();
    for (size_t i = 0; i < pl->n; i++) {
        const plan_entry *e = &pl->e[i];
        if (e->act != ACT_QUANT)
            continue;
        char err[256];
        json_t *conf = outfmt_comfy_conf(&e->p, err, sizeof err);
        size_t ln = strlen(e->t->name) - strlen(".weight");
        char layer[1024];
        snprintf(layer, sizeof layer, "%.*s", (int)ln, e->t->name);
        if (conf)
            json_object_set_new(layers, layer, conf);
        int64_t r = e->t->shape[0], c = e->t->shape[1];
        int pad = e->p.format == QK_FORMAT_NVFP4 ? 16 : (e->p.format == QK_FORMAT_MXFP8 ? 32 : 1);
        if (r % pad != 0 || c % pad != 0)
            json_object_set_new(shapes, layer, json_pack("[II]", (json_int_t)r, (json_int_t)c));
    }
    json_t *mirror = json_pack("{s:s, s:o}", "format_version", "1.0", "layers", layers);
    char *text = outfmt_pydumps(mirror);
    json_object_set_new(md, "_quantization_metadata", json_string(text ? text : "{}"));
    free(text);
    json_decref(mirror);
    if (json_object_size(shapes) > 0) {
        char *s = json_dumps(shapes, JSON_COMPACT);
        json_object_set_new(md, "qtool_orig_shapes", json_string(s ? s : "{}"));
        free(s);
    }
    json_decref(shapes);
    return md;
}

/* The output's place in its shard (st_align_group); late blobs, whose size
 * is known only at the end, go last with the other bytes. */
static int out_group(const out_tensor *ot)
{
    return ot->late ? ST_ALIGN_GROUPS - 1 : st_align_group(ot->dtype, ot->nbytes);
}

/* Header length bound of shard k, in the order written: late tensors at
 * their largest. */
static uint64_t header_bound(const plan *pl, int k, json_t *metadata)
{
    json_t *h = json_object();
    uint64_t pos = 0;
    for (int g = 0; g < ST_ALIGN_GROUPS; g++)
        for (size_t i = 0; i < pl->n; i++) {
            const plan_entry *e = &pl->e[i];
            if (e->shard != k)
                continue;
            for (int j = 0; j < e->nout; j++) {
                const out_tensor *t = &e->out[j];
                if (out_group(t) != g)
                    continue;
                int64_t shape[8];
                memcpy(shape, t->shape, sizeof shape);
                if (t->late)
                    shape[0] = (int64_t)t->nbytes;
                st_header_add(h, t->name, t->dtype, t->ndim, shape, pos, t->nbytes);
                pos += t->nbytes;
            }
        }
    if (metadata != NULL && json_object_size(metadata) > 0)
        json_object_set(h, "__metadata__", metadata);
    uint64_t n = st_header_text_len(h);
    json_decref(h);
    return n;
}

/* Bytes of every shard at most: headers at their bound, late tensors at
 * their largest. */
static uint64_t output_bound(const plan *pl, json_t *metadata)
{
    uint64_t n = 0;
    for (int k = 0; k < pl->nshards; k++)
        n += 8 + (header_bound(pl, k, metadata) + 7) / 8 * 8; /* st_stream pads to 8 */
    for (size_t i = 0; i < pl->n; i++)
        for (int j = 0; j < pl->e[i].nout; j++)
            n += pl->e[i].out[j].nbytes;
    return n;
}

/* Copies the writer's failure into rs->err. */
static int queue_failed(run_state *rs)
{
    snprintf(rs->err, sizeof rs->err, "%s", wq_error(rs->wq));
    return -1;
}

static int write_cast(run_state *rs, const plan_entry *e)
{
    size_t n = st_numel(e->t), es = qk_dtype_size(e->dt), step = CHUNK / 2;
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        uint16_t *buf = malloc(k * 2);
        if (buf == NULL) {
            snprintf(rs->err, sizeof rs->err, "out of memory");
            return -1;
        }
        narrow_to_bf16(e->dt, e->t->data + i * es, buf, k);
        if (wq_data(rs->wq, buf, k * 2, 1) != 0)
            return queue_failed(rs);
    }
    st_release(e->t);
    return 0;
}

/* Dequantizes the parts and compares with the input, row block by row block
 * of the f32 widening to bound the extra memory. */
static void measure(run_state *rs, plan_entry *e, void *const parts[QK_PART_COUNT])
{
    int64_t rows = e->t->shape[0], cols = e->t->shape[1];
    size_t n = (size_t)(rows * cols);
    float *back = malloc(n * sizeof *back), *orig = malloc(CHUNK);
    const void *cp[QK_PART_COUNT] = {parts[0], parts[1], parts[2], parts[3]};
    if (back == NULL || orig == NULL ||
        qk_dequantize(rs->ctx, &e->p, cp, rows, cols, QK_DTYPE_F32, back) != QK_OK) {
        free(back);
        free(orig);
        return;
    }
    err_stats st = {0};
    size_t step = CHUNK / sizeof(float), es = qk_dtype_size(e->dt);
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        widen_to_f32(e->dt, e->t->data + i * es, orig, k);
        stats_add(&st, orig, back + i, k);
    }
    e->measured = 1;
    e->snr_db = stats_snr_db(&st);
    e->rel_l2 = stats_rel_l2(&st);
    e->cosine = stats_cosine(&st);
    e->max_abs = st.max_abs;
    free(back);
    free(orig);
}

/* name as a POSIX extended regex that matches it literally; -1 if it
 * does not fit or holds a quote (the hint is pasted into a shell). */
static int regex_quote(const char *name, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *c = name; *c; c++) {
        if (*c == '\'')
            return -1;
        if (strchr(".[]{}()\\*+?^$|", *c) != NULL && n + 1 < cap)
            out[n++] = '\\';
        if (n + 1 >= cap)
            return -1;
        out[n++] = *c;
    }
    out[n] = '\0';
    return 0;
}

static int write_quant(run_state *rs, plan_entry *e)
{
    const st_tensor *t = e->t;
    int64_t rows = t->shape[0], cols = t->shape[1];
    qk_layout lay;
    void *parts[QK_PART_COUNT] = {0};
    int rc = 0;
    if (qk_layout_query(&e->p, rows, cols, &lay) != QK_OK) {
        snprintf(rs->err, sizeof rs->err, "%s: %s", t->name, qk_last_error());
        return -1;
    }
    for (int k = 0; k < QK_PART_COUNT && rc == 0; k++)
        if (lay.part[k].nbytes && (parts[k] = malloc(lay.part[k].nbytes)) == NULL) {
            snprintf(rs->err, sizeof rs->err, "%s: out of memory for %zu bytes", t->name, lay.part[k].nbytes);
            rc = -1;
        }
    st_populate(t);
    void *copy = NULL;
    const void *in = rc == 0 ? st_aligned(t, &copy) : NULL;
    if (rc == 0 && in == NULL) {
        snprintf(rs->err, sizeof rs->err, "%s: out of memory for an aligned copy", t->name);
        rc = -1;
    }
    double t0 = progress_now();
    qk_status qs = rc == 0 ? qk_quantize(rs->ctx, &e->p, e->dt, in, rows, cols, parts) : QK_OK;
    if (qs != QK_OK) {
        char re[256];
        if (qs == QK_ERR_NONFINITE && regex_quote(t->name, re, sizeof re) == 0)
            snprintf(rs->err, sizeof rs->err, "%s: %s; to keep this layer unquantized, add --exclude '^%s$'", t->name,
                     qk_last_error(), re);
        else
            snprintf(rs->err, sizeof rs->err, "%s: %s", t->name, qk_last_error());
        rc = -1;
    }
    rs->quant_seconds += progress_now() - t0;
    free(copy);
    if (rc == 0 && rs->o->quality)
        measure(rs, e, parts);
    st_release(t);
    for (int j = 0; j < e->nout && rc == 0; j++) {
        out_tensor *ot = &e->out[j];
        if (ot->late) {
            float off;
            memcpy(&off, parts[QK_PART_OFFSET], 4);
            ot->blob = (uint8_t *)outfmt_bnb_state(&e->p, e->dt, rows, cols, off);
            if (ot->blob == NULL) {
                snprintf(rs->err, sizeof rs->err, "out of memory");
                rc = -1;
                break;
            }
            e->bytes_out -= ot->nbytes;
            ot->nbytes = strlen((char *)ot->blob);
            ot->shape[0] = (int64_t)ot->nbytes;
            e->bytes_out += ot->nbytes;
            continue; /* written at the shard's end */
        }
        if (out_group(ot) != 0) {
            /* written at the shard's end: a part is held until then */
            if (ot->kind == OUT_PART && (ot->blob = malloc(ot->nbytes ? ot->nbytes : 1)) == NULL) {
                snprintf(rs->err, sizeof rs->err, "%s: out of memory", ot->name);
                rc = -1;
            } else if (ot->kind == OUT_PART) {
                memcpy(ot->blob, parts[ot->part], ot->nbytes);
            }
            continue;
        }
        if (wq_tensor(rs->wq, ot->name, ot->dtype, ot->ndim, ot->shape, ot->nbytes) != 0 ||
            wq_data(rs->wq, ot->kind == OUT_BLOB ? ot->blob : parts[ot->part], ot->nbytes, 0) != 0)
            rc = queue_failed(rs);
    }
    /* the writer frees the parts once written; every queued job first */
    for (int k = 0; k < QK_PART_COUNT; k++)
        if (parts[k] != NULL && wq_free(rs->wq, parts[k], lay.part[k].nbytes) != 0 && rc == 0)
            rc = queue_failed(rs);
    return rc;
}

/* Writes output j of e (a kept or cast tensor is its entry's one output). */
static int write_output(run_state *rs, plan_entry *e, int j)
{
    const out_tensor *ot = &e->out[j];
    if (wq_tensor(rs->wq, ot->name, ot->dtype, ot->ndim, ot->shape, ot->nbytes) != 0)
        return queue_failed(rs);
    if (e->act == ACT_KEEP)
        return wq_mapped(rs->wq, e->t) != 0 ? queue_failed(rs) : 0;
    if (e->act == ACT_CAST_BF16)
        return write_cast(rs, e);
    return wq_data(rs->wq, ot->blob, ot->nbytes, 0) != 0 ? queue_failed(rs) : 0;
}

/* The shard's main pass writes group 0; the rest waits for write_tail. */
static int write_entry(run_state *rs, plan_entry *e)
{
    if (e->act == ACT_QUANT)
        return write_quant(rs, e);
    return out_group(&e->out[0]) == 0 ? write_output(rs, e, 0) : 0;
}

/* The shard's other groups, in order, once its main pass is written. */
static int write_tail(run_state *rs, const plan *pl, int k)
{
    for (int g = 1; g < ST_ALIGN_GROUPS; g++)
        for (size_t i = 0; i < pl->n; i++) {
            plan_entry *e = &pl->e[i];
            if (e->shard != k)
                continue;
            for (int j = 0; j < e->nout; j++)
                if (out_group(&e->out[j]) == g && write_output(rs, e, j) != 0)
                    return -1;
        }
    if (wq_drain(rs->wq) != 0)
        return queue_failed(rs);
    for (size_t i = 0; i < pl->n; i++) /* the held parts are written */
        for (int j = 0; j < pl->e[i].nout; j++)
            if (pl->e[i].shard == k && pl->e[i].out[j].kind == OUT_PART) {
                free(pl->e[i].out[j].blob);
                pl->e[i].out[j].blob = NULL;
            }
    return 0;
}

static int write_index(run_state *rs, const plan *pl)
{
    json_t *wm = json_object();
    uint64_t total = 0;
    for (size_t i = 0; i < pl->n; i++)
        for (int j = 0; j < pl->e[i].nout; j++) {
            json_object_set_new(wm, pl->e[i].out[j].name, json_string(base_name(rs->paths[pl->e[i].shard])));
            total += pl->e[i].out[j].nbytes;
        }
    json_t *idx = json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)total, "weight_map", wm);
    size_t len = strlen(rs->o->out) + 16;
    char *path = malloc(len);
    int rc = -1;
    if (path != NULL) {
        const char *dot = strstr(rs->o->out, ".safetensors");
        int stem = dot ? (int)(dot - rs->o->out) : (int)strlen(rs->o->out);
        snprintf(path, len, "%.*s.safetensors.index.json", stem, rs->o->out);
        rc = tmpfiles_write_json(path, idx, JSON_INDENT(2), rs->err, sizeof rs->err);
    }
    free(path);
    json_decref(idx);
    return rc;
}

/* bitsandbytes: transformers/diffusers read quantization_config from
 * config.json; layers left unquantized must be named in
 * llm_int8_skip_modules so the loader keeps them as nn.Linear. */
static int write_bnb_config(run_state *rs, const plan *pl)
{
    char path[4096];
    if (rs->o->config != NULL) {
        snprintf(path, sizeof path, "%s", rs->o->config);
    } else {
        const char *slash = strrchr(rs->o->out, '/');
        snprintf(path, sizeof path, "%.*sconfig.json", slash ? (int)(slash - rs->o->out + 1) : 0, rs->o->out);
    }
    json_t *cfg = NULL;
    if (access(path, F_OK) == 0) {
        json_error_t je;
        cfg = json_load_file(path, 0, &je);
        if (!json_is_object(cfg)) {
            json_decref(cfg);
            snprintf(rs->err, sizeof rs->err, "%.1024s: existing config is not a JSON object: %s", path, je.text);
            return -1;
        }
    } else {
        cfg = json_object();
    }
    const plan_entry *first = NULL;
    int dq = 0, mixed = 0;
    qk_dtype dt = QK_DTYPE_BF16;
    json_t *skip = json_array();
    for (size_t i = 0; i < pl->n; i++) {
        const plan_entry *e = &pl->e[i];
        if (e->act == ACT_QUANT) {
            if (first == NULL) {
                first = e;
                dt = e->dt;
            } else if (e->p.format != first->p.format) {
                mixed = 1;
            }
            dq |= e->p.double_quant;
        } else if (plan_is_candidate(e->t)) {
            size_t ln = strlen(e->t->name) - strlen(".weight");
            char layer[1024];
            snprintf(layer, sizeof layer, "%.*s", (int)ln, e->t->name);
            json_array_append_new(skip, json_string(layer));
        }
    }
    (void)mixed;
    json_t *qc = json_pack("{s:s, s:b, s:b, s:b, s:b, s:f, s:o, s:b, s:b, s:s, s:b, s:s, s:s}",
                           "quant_method", "bitsandbytes", "_load_in_4bit", 1, "_load_in_8bit", 0,
                           "load_in_4bit", 1, "load_in_8bit", 0, "llm_int8_threshold", 6.0,
                           "llm_int8_skip_modules", json_array_size(skip) ? skip : json_null(),
                           "llm_int8_enable_fp32_cpu_offload", 0, "llm_int8_has_fp16_weight", 0,
                           "bnb_4bit_quant_type", first ? qk_format_name(first->p.format) : "nf4",
                           "bnb_4bit_use_double_quant", dq, "bnb_4bit_compute_dtype", outfmt_torch_dtype(dt),
                           "bnb_4bit_quant_storage", "uint8");
    if (json_array_size(skip) == 0)
        json_decref(skip);
    json_object_set_new(cfg, "quantization_config", qc);
    int rc = tmpfiles_write_json(path, cfg, JSON_INDENT(2), rs->err, sizeof rs->err);
    json_decref(cfg);
    if (rc == 0 && !rs->o->quiet)
        printf("wrote quantization_config to %s\n", path);
    return rc;
}

static int write_report(run_state *rs, const plan *pl, double seconds)
{
    json_t *layers = json_array();
    for (size_t i = 0; i < pl->n; i++) {
        const plan_entry *e = &pl->e[i];
        char what[96];
        json_t *shape = json_array();
        for (int d = 0; d < e->t->ndim; d++)
            json_array_append_new(shape, json_integer(e->t->shape[d]));
        json_t *l = json_pack("{s:s, s:o, s:s, s:s, s:I, s:I, s:s}", "name", e->t->name, "shape", shape,
                              "dtype", e->t->dtype, "action",
                              e->act == ACT_QUANT ? "quantize" : (e->act == ACT_KEEP ? "keep" : "cast_bf16"),
                              "bytes_in", (json_int_t)e->t->nbytes, "bytes_out", (json_int_t)e->bytes_out,
                              "reason", e->why);
        if (e->act == ACT_QUANT) {
            plan_describe(&e->p, what, sizeof what);
            json_object_set_new(l, "format", json_string(qk_format_name(e->p.format)));
            json_object_set_new(l, "params", json_string(what));
            plan_spec(&e->p, what, sizeof what);
            json_object_set_new(l, "spec", json_string(what));
        }
        if (e->measured) {
            json_object_set_new(l, "snr_db", stats_json_real(e->snr_db));
            json_object_set_new(l, "rel_l2", stats_json_real(e->rel_l2));
            json_object_set_new(l, "cosine", stats_json_real(e->cosine));
            json_object_set_new(l, "max_abs_error", stats_json_real(e->max_abs));
        }
        json_array_append_new(layers, l);
    }
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:I, s:I, s:f, s:f, s:o}", "input", rs->o->in,
                          "output", rs->o->out, "backend", qk_context_backend(rs->ctx), "device",
                          qk_context_device(rs->ctx), "quantized", pl->quantized, "kept", pl->kept, "cast_bf16",
                          pl->cast, "bytes_in", (json_int_t)pl->bytes_in, "bytes_out", (json_int_t)pl->bytes_out,
                          "seconds", seconds, "quantize_seconds", rs->quant_seconds, "layers", layers);
    int rc = tmpfiles_write_json(rs->o->report, r, JSON_INDENT(2), rs->err, sizeof rs->err);
    json_decref(r);
    return rc;
}

static void print_summary(const plan *pl, double seconds, int quality)
{
    printf("%zu tensors: %d quantized, %d kept, %d cast; %.2f MiB -> %.2f MiB (%.2fx) in %.2f s\n", pl->n,
           pl->quantized, pl->kept, pl->cast, (double)pl->bytes_in / 1048576.0,
           (double)pl->bytes_out / 1048576.0,
           pl->bytes_out ? (double)pl->bytes_in / (double)pl->bytes_out : 0.0, seconds);
    if (!quality || pl->quantized == 0)
        return;
    double worst = INFINITY, sum = 0, maxerr = 0;
    const char *worst_name = "";
    int n = 0;
    for (size_t i = 0; i < pl->n; i++) {
        const plan_entry *e = &pl->e[i];
        if (!e->measured)
            continue;
        n++;
        if (isfinite(e->snr_db))
            sum += e->snr_db;
        if (e->snr_db < worst) {
            worst = e->snr_db;
            worst_name = e->t->name;
        }
        maxerr = e->max_abs > maxerr ? e->max_abs : maxerr;
    }
    if (n > 0)
        printf("quality over %d layers: mean SNR %.2f dB, worst %.2f dB (%s), max abs error %.3g\n", n,
               sum / n, worst, worst_name, maxerr);
}

int convert_run(const st_model *m, plan *pl, const convert_opts *o)
{
    run_state rs;
    memset(&rs, 0, sizeof rs);
    rs.o = o;
    const char *hook = getenv("QTOOL_TEST_FAIL_AFTER");
    rs.fail_after = hook ? atoi(hook) : 0;
    hook = getenv("QTOOL_TEST_SLOW_MS");
    rs.slow_ms = hook ? atoi(hook) : 0;
    tmpfiles_install_handlers();
    if (qk_context_create(o->backend, 0, &rs.ctx) != QK_OK)
        return qtool_error("backend %s: %s", o->backend, qk_last_error());
    if (o->threads > 0)
        qk_context_set_threads(rs.ctx, o->threads);
    rs.nshards = pl->nshards;
    rs.shards = calloc((size_t)rs.nshards, sizeof *rs.shards);
    rs.paths = calloc((size_t)rs.nshards, sizeof *rs.paths);
    rs.metadata = output_metadata(m, pl);
    rs.wq = wq_create(WRITE_CAP);
    int rc = rs.shards && rs.paths && rs.metadata && rs.wq ? 0 : -1;
    if (rc != 0)
        snprintf(rs.err, sizeof rs.err, "out of memory");
    for (int k = 0; k < rs.nshards; k++)
        rs.shards[k].fd = -1, rs.shards[k].slot = -1;
    if (rc == 0)
        rc = st_space_check(o->out, output_bound(pl, rs.metadata), rs.err, sizeof rs.err);
    progress pr;
    size_t done = 0;
    uint64_t bytes_done = 0;
    progress_start(&pr, pl->n, pl->bytes_in, !o->quiet);
    double t0 = progress_now();
    for (int k = 0; k < rs.nshards && rc == 0; k++) {
        rs.paths[k] = rs.nshards > 1 ? shard_path(o->out, k, rs.nshards) : strdup(o->out);
        if (rs.paths[k] == NULL) {
            snprintf(rs.err, sizeof rs.err, "out of memory");
            rc = -1;
            break;
        }
        uint64_t reserve = header_bound(pl, k, rs.metadata);
        rc = st_stream_open(&rs.shards[k], rs.paths[k], reserve, rs.err, sizeof rs.err);
        if (rc == 0)
            wq_set_stream(rs.wq, &rs.shards[k]);
        for (size_t i = 0; i < pl->n && rc == 0; i++) {
            plan_entry *e = &pl->e[i];
            if (e->shard != k)
                continue;
            if (i + 1 < pl->n)
                st_prefetch(pl->e[i + 1].t);
            rc = write_entry(&rs, e);
            done++;
            bytes_done += e->t->nbytes;
            progress_update(&pr, done, bytes_done, e->t->name);
            if (rc == 0 && rs.slow_ms > 0)
                nanosleep(&(struct timespec){rs.slow_ms / 1000, (long)(rs.slow_ms % 1000) * 1000000L}, NULL);
            if (rc == 0 && rs.fail_after > 0 && (int)done >= rs.fail_after) {
                snprintf(rs.err, sizeof rs.err, "test hook QTOOL_TEST_FAIL_AFTER: failing after %zu tensors", done);
                rc = -1;
            }
        }
        /* the writer is idle from here to the next shard */
        if (wq_drain(rs.wq) != 0 && rc == 0)
            rc = queue_failed(&rs);
        if (rc == 0)
            rc = write_tail(&rs, pl, k);
        if (rc == 0)
            rc = st_stream_finish(&rs.shards[k], rs.metadata, rs.err, sizeof rs.err);
    }
    /* Every shard is complete: only now do they take their names. */
    for (int k = 0; k < rs.nshards && rc == 0; k++)
        rc = st_stream_commit(&rs.shards[k], rs.err, sizeof rs.err);
    pl->bytes_out = 0;
    for (size_t i = 0; i < pl->n; i++)
        pl->bytes_out += pl->e[i].bytes_out;
    if (rc == 0 && rs.nshards > 1)
        rc = write_index(&rs, pl);
    if (rc == 0 && pl->target == TARGET_BNB)
        rc = write_bnb_config(&rs, pl);
    double seconds = progress_now() - t0;
    progress_end(&pr);
    if (rc == 0 && o->report != NULL)
        rc = write_report(&rs, pl, seconds);
    wq_destroy(rs.wq); /* writes nothing more: every shard is drained */
    for (int k = 0; k < rs.nshards && rs.shards; k++)
        st_stream_abort(&rs.shards[k]);
    if (rc != 0)
        tmpfiles_remove_all();
    if (rc == 0 && !o->quiet) {
        printf("wrote %s", o->out);
        if (rs.nshards > 1)
            printf(" as %d shards + index", rs.nshards);
        printf(" (backend %s)\n", qk_context_backend(rs.ctx));
        print_summary(pl, seconds, o->quality);
    }
    for (int k = 0; k < rs.nshards && rs.paths; k++)
        free(rs.paths[k]);
    free(rs.paths);
    free(rs.shards);
    json_decref(rs.metadata);
    qk_context_destroy(rs.ctx);
    return rc == 0 ? 0 : qtool_error("%s", rs.err);
}
