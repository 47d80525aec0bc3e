/* qtool preset from-gguf: turns a GGUF file's quantization choices into a
 * layer plan for `qtool convert --layers`. GGUF's plain layers (F32, F16,
 * BF16, ...) stay high precision; its 1..5-bit layers get --format, its
 * 6..8-bit layers --format8. Names are mapped to the safetensors names
 * (identity, or llama.cpp's "blk.N.attn_q" -> "model.layers.N.self_attn.q_proj"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "commands.h"
#include "format_spec.h"
#include "gguf.h"
#include "tmpfiles.h"

/* llama.cpp's names of LLaMA-style layers and their Hugging Face names. */
static const struct {
    const char *gguf, *hf;
} llama_global[] = {
    {"token_embd", "model.embed_tokens"},
    {"output_norm", "model.norm"},
    {"output", "lm_head"},
};
static const struct {
    const char *gguf, *hf;
} llama_block[] = {
    {"attn_norm", "input_layernorm"},    {"attn_q", "self_attn.q_proj"},
    {"attn_k", "self_attn.k_proj"},      {"attn_v", "self_attn.v_proj"},
    {"attn_output", "self_attn.o_proj"}, {"attn_q_norm", "self_attn.q_norm"},
    {"attn_k_norm", "self_attn.k_norm"}, {"ffn_norm", "post_attention_layernorm"},
    {"ffn_gate", "mlp.gate_proj"},       {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},
};
static const char *const llama_archs[] = {"llama", "mistral", "qwen2", "qwen3"};

#define N_OF(a) (sizeof(a) / sizeof *(a))

/* Splits "base.weight" into base and suffix (".weight"/".bias" or ""). */
static size_t base_len(const char *name)
{
    static const char *const suffixes[] = {".weight", ".bias"};
    size_t n = strlen(name);
    for (size_t i = 0; i < N_OF(suffixes); i++) {
        size_t s = strlen(suffixes[i]);
        if (n > s && strcmp(name + n - s, suffixes[i]) == 0)
            return n - s;
    }
    return n;
}

/* The safetensors name of a llama.cpp tensor, or NULL if it has none. */
static char *llama_name(const char *name)
{
    size_t bl = base_len(name);
    const char *suffix = name + bl;
    char out[512];
    for (size_t i = 0; i < N_OF(llama_global); i++)
        if (strlen(llama_global[i].gguf) == bl && strncmp(name, llama_global[i].gguf, bl) == 0) {
            snprintf(out, sizeof out, "%s%s", llama_global[i].hf, suffix);
            return strdup(out);
        }
    unsigned blk;
    int used = 0;
    if (sscanf(name, "blk.%u.%n", &blk, &used) != 1 || used == 0 || (size_t)used >= bl)
        return NULL;
    for (size_t i = 0; i < N_OF(llama_block); i++)
        if (strlen(llama_block[i].gguf) == bl - (size_t)used &&
            strncmp(name + used, llama_block[i].gguf, bl - (size_t)used) == 0) {
            snprintf(out, sizeof out, "model.layers.%u.%s%s", blk, llama_block[i].hf, suffix);
            return strdup(out);
        }
    return NULL;
}

/* POSIX ERE escape of a literal name; with generalize, every all-digit
 * dot-separated component (a block index) becomes [0-9]+. -1 if it does not
 * fit in cap. */
static int to_regex(const char *name, int generalize, char *out, size_t cap)
{
    size_t o = 0;
    out[o++] = '^';
    for (const char *p = name; *p;) {
        if (o + 8 >= cap)
            return -1;
        int comp_start = p == name || p[-1] == '.';
        size_t digits = strspn(p, "0123456789");
        if (generalize && comp_start && digits > 0 && (p[digits] == '.' || p[digits] == '\0')) {
            memcpy(out + o, "[0-9]+", 6);
            o += 6;
            p += digits;
            continue;
        }
        if (strchr(".[]()*+?{}|^$\\", *p) != NULL)
            out[o++] = '\\';
        out[o++] = *p++;
    }
    out[o++] = '$';
    out[o] = '\0';
    return 0;
}

typedef struct {
    char *name;        /* safetensors name */
    const char *format; /* plan format, or "skip" */
    char generic[600];  /* generalized regex */
    char exact[600];    /* the name's own regex */
} entry;

/* 0 for "skip", 1 for a ComfyUI format, 2 for a bitsandbytes one, -1 bad. */
static int format_target(const char *spec, const char *opt)
{
    qk_params p;
    if (strcmp(spec, "skip") == 0)
        return 0;
    if (parse_format_spec(spec, &p) != 0) {
        qtool_usage_error("preset: bad %s '%s'", opt, spec);
        return -1;
    }
    return p.format == QK_FORMAT_NF4 || p.format == QK_FORMAT_FP4 ? 2 : 1;
}

/* Builds {"layers": {REGEX: FORMAT, ...}} in the order convert applies
 * them (first match wins). Tensors whose generalized pattern (block indices
 * as [0-9]+) covers only tensors of one format share one entry; the others
 * get an exact entry each, in file order. keep_rest adds a last catch-all
 * "skip" so that tensors the GGUF lacks stay high precision. */
static json_t *build_plan(entry *e, size_t n, int keep_rest)
{
    json_t *layers = json_object();
    char *done = calloc(n ? n : 1, 1);
    if (layers == NULL || done == NULL) {
        free(done);
        json_decref(layers);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        int uniform = 1;
        for (size_t j = 0; j < n && uniform; j++)
            if (strcmp(e[j].generic, e[i].generic) == 0 && strcmp(e[j].format, e[i].format) != 0)
                uniform = 0;
        if (uniform) {
            for (size_t j = i; j < n; j++)
                if (strcmp(e[j].generic, e[i].generic) == 0)
                    done[j] = 1;
        } else {
            done[i] = 1;
        }
        json_object_set_new(layers, uniform ? e[i].generic : e[i].exact,
                            json_string(e[i].format));
    }
    if (keep_rest)
        json_object_set_new(layers, ".*", json_string("skip"));
    free(done);
    return json_pack("{s:o}", "layers", layers);
}

static int from_gguf(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *low = "nvfp4", *high8 = NULL, *def = "skip";
    const char *names = "auto";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && has)
            out = argv[++i];
        else if (strcmp(a, "--format") == 0 && has)
            low = argv[++i];
        else if (strcmp(a, "--format8") == 0 && has)
            high8 = argv[++i];
        else if (strcmp(a, "--default") == 0 && has)
            def = argv[++i];
        else if (strcmp(a, "--names") == 0 && has)
            names = argv[++i];
        else if (a[0] != '-' && in == NULL)
            in = a;
        else
            return qtool_usage_error("preset from-gguf: unknown argument '%s'", a);
    }
    if (in == NULL || out == NULL)
        return qtool_usage_error("preset from-gguf: need MODEL.gguf and -o layers.json");
    int t_low = format_target(low, "--format");
    if (t_low < 0)
        return 2;
    if (high8 == NULL) /* bitsandbytes has no 8-bit format here: keep those */
        high8 = t_low == 2 ? "skip" : "float8_e4m3fn";
    int t_high = format_target(high8, "--format8");
    if (t_high < 0)
        return 2;
    if (t_low && t_high && t_low != t_high)
        return qtool_usage_error("preset from-gguf: --format %s and --format8 %s write different "
                                 "file kinds (ComfyUI vs bitsandbytes)", low, high8);
    if (strcmp(def, "skip") != 0 && strcmp(def, "convert") != 0)
        return qtool_usage_error("preset from-gguf: --default must be skip or convert");
    if (strcmp(names, "auto") != 0 && strcmp(names, "identity") != 0 &&
        strcmp(names, "llama") != 0)
        return qtool_usage_error("preset from-gguf: --names must be auto, identity or llama");

    gguf_file g;
    char err[512];
    if (gguf_open(in, &g, err, sizeof err) != 0)
        return qtool_error("preset from-gguf: %s: %s", in, err);
    int llama = strcmp(names, "llama") == 0;
    for (size_t i = 0; strcmp(names, "auto") == 0 && g.architecture && i < N_OF(llama_archs); i++)
        llama |= strcmp(g.architecture, llama_archs[i]) == 0;

    entry *e = calloc(g.count ? g.count : 1, sizeof *e);
    size_t counts[3] = {0, 0, 0}; /* kept, --format, --format8 */
    int rc = e == NULL ? qtool_error("preset from-gguf: out of memory") : 0;
    for (size_t i = 0; i < g.count && rc == 0; i++) {
        const gguf_tensor *t = &g.tensors[i];
        char *mapped = llama ? llama_name(t->name) : NULL;
        if (llama && mapped == NULL)
            fprintf(stderr, "qtool: preset from-gguf: no llama name for '%s': kept as is\n",
                    t->name);
        e[i].name = mapped ? mapped : strdup(t->name);
        if (e[i].name == NULL) {
            rc = qtool_error("preset from-gguf: out of memory");
            break;
        }
        int bits = gguf_type_bits(t->type), cls = gguf_type_is_plain(t->type) ? 0
                                                  : bits <= 5                  ? 1
                                                                               : 2;
        if (cls != 0 && t->ndim != 2) { /* convert quantizes 2-D weights only */
            fprintf(stderr, "qtool: preset from-gguf: '%s' is %u-D: kept\n", t->name, t->ndim);
            cls = 0;
        }
        counts[cls]++;
        e[i].format = cls == 0 ? "skip" : cls == 1 ? low : high8;
        if (to_regex(e[i].name, 1, e[i].generic, sizeof e[i].generic) != 0 ||
            to_regex(e[i].name, 0, e[i].exact, sizeof e[i].exact) != 0)
            rc = qtool_error("preset from-gguf: tensor name too long: '%.60s...'", e[i].name);
    }
    json_t *plan = rc == 0 ? build_plan(e, g.count, strcmp(def, "skip") == 0) : NULL;
    if (rc == 0 && plan == NULL)
        rc = qtool_error("preset from-gguf: out of memory");
    char werr[1024];
    if (rc == 0 && tmpfiles_write_json(out, plan, JSON_INDENT(2) | JSON_PRESERVE_ORDER, werr, sizeof werr) != 0)
        rc = qtool_error("preset from-gguf: %s", werr);
    if (rc == 0)
        printf("%s: GGUF v%u%s%s, %zu tensors: %zu kept high precision, %zu -> %s, %zu -> %s; "
               "%zu plan entries in %s\n",
               in, g.version, g.architecture ? ", " : "", g.architecture ? g.architecture : "",
               g.count, counts[0], counts[1], low, counts[2], high8,
               json_object_size(json_object_get(plan, "layers")), out);
    json_decref(plan);
    for (size_t i = 0; e != NULL && i < g.count; i++)
        free(e[i].name);
    free(e);
    gguf_free(&g);
    return rc;
}

int cmd_preset(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "from-gguf") == 0)
        return from_gguf(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: qtool preset from-gguf MODEL.gguf -o layers.json [--format F] "
               "[--format8 F|skip] [--default skip|convert] [--names auto|identity|llama]\n"
               "  writes {\"layers\": {\"REGEX\": \"FORMAT\" | \"skip\", ...}} for "
               "`qtool convert --layers` (first match wins):\n"
               "  GGUF's F32/F16/BF16 layers: skip (kept); its 1..5-bit layers: --format (nvfp4); "
               "6..8-bit layers: --format8\n"
               "  (float8_e4m3fn; skip for nf4/fp4); tensors the GGUF lacks: skip, or with "
               "--default convert, convert's --format\n");
        return 0;
    }
    return qtool_usage_error("preset: usage: qtool preset from-gguf MODEL.gguf -o layers.json");
}
