/* qtool convert: quantize a safetensors model into the exact layout that
 * ComfyUI or bitsandbytes loads, streaming tensor by tensor. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "convert_exec.h"
#include "format_spec.h"
#include "plan.h"
#include "st_model.h"
#include "tmpfiles.h"

static void usage_text(void)
{
    printf("usage: qtool convert IN -o OUT --format F [options]\n"
           "  IN   model.safetensors or model.safetensors.index.json (f32/f16/bf16)\n"
           "  --format F          nf4 fp4 nvfp4 mxfp8 float8_e4m3fn float8_e5m2 int8_tensorwise\n"
           "                      int8_blockwise (options as F:row, F:block=N, F:bs=N, F:dq, F:convrot=G)\n"
           "  --backend B         auto (default) cpu cuda vulkan opencl;  --threads N (CPU)\n"
           "  --preset P          generic (default) wan flux2 qwen-image hunyuan ltxv none\n"
           "  --fallback F        float8_e4m3fn|bf16 for layers the format cannot take\n"
           "  --exclude RE, --include RE   (repeatable, POSIX extended regex on tensor names)\n"
           "  --layers FILE       per-layer overrides {\"layers\": {\"RE\": \"skip\"|\"FORMAT\"|{...}}}\n"
           "  --block-size N  --double-quant  --scaling tensor|row|block\n"
           "  --convrot [--convrot-group-size G]\n"
           "  --max-shard-size SIZE   e.g. 5GB, 500MiB: write OUT-0000k-of-0000n + index\n"
           "  --config FILE       bitsandbytes: config.json to merge quantization_config into\n"
           "                      (default: config.json beside OUT)\n"
           "  --legacy-scaled-fp8 float8 only: old ComfyUI layout (scale_weight, scaled_fp8 marker)\n"
           "  --quality           measure SNR/relL2/cosine/max error per layer (--report implies it)\n"
           "  --report FILE       per-layer JSON report\n"
           "  --dry-run [--template]  print the per-layer plan (or a layers.json template)\n"
           "  --quiet             no progress bar or summary\n");
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v <= 0)
        return -1;
    static const struct {
        const char *suf;
        double mul;
    } units[] = {{"", 1},           {"B", 1},          {"K", 1e3},         {"KB", 1e3},
                 {"KiB", 1024.0},   {"M", 1e6},        {"MB", 1e6},        {"MiB", 1048576.0},
                 {"G", 1e9},        {"GB", 1e9},       {"GiB", 1073741824.0}};
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (strcmp(end, units[i].suf) == 0) {
            *out = (uint64_t)(v * units[i].mul);
            return 0;
        }
    return -1;
}

static int add_regex(regex_t **list, int *n, const char *pattern, const char *what)
{
    regex_t *l = realloc(*list, (size_t)(*n + 1) * sizeof *l);
    if (l == NULL)
        return qtool_error("out of memory");
    *list = l;
    if (plan_compile(&l[*n], pattern, what) != 0)
        return 2;
    (*n)++;
    return 0;
}

static void fmt_bytes(uint64_t b, char *buf, size_t len)
{
    if (b >= (1ull << 30))
        snprintf(buf, len, "%.2f GiB", (double)b / 1073741824.0);
    else if (b >= (1ull << 20))
        snprintf(buf, len, "%.2f MiB", (double)b / 1048576.0);
    else if (b >= 1024)
        snprintf(buf, len, "%.1f KiB", (double)b / 1024.0);
    else
        snprintf(buf, len, "%llu B", (unsigned long long)b);
}

static void print_plan(const plan *pl)
{
    printf("%-52s %-16s %-8s %-26s %12s %12s\n", "tensor", "shape", "dtype", "plan", "bytes", "after");
    for (size_t i = 0; i < pl->n; i++) {
        const plan_entry *e = &pl->e[i];
        char shape[48] = "", what[128], b0[24], b1[24];
        for (int d = 0; d < e->t->ndim; d++) {
            size_t l = strlen(shape);
            snprintf(shape + l, sizeof shape - l, "%s%lld", d ? "x" : "", (long long)e->t->shape[d]);
        }
        if (e->act == ACT_QUANT) {
            plan_describe(&e->p, what, sizeof what);
        } else if (e->act == ACT_CAST_BF16) {
            snprintf(what, sizeof what, "bf16 (%s)", e->why);
        } else {
            snprintf(what, sizeof what, "keep (%s)", e->why);
        }
        fmt_bytes(e->t->nbytes, b0, sizeof b0);
        fmt_bytes(e->bytes_out, b1, sizeof b1);
        printf("%-52s %-16s %-8s %-26s %12s %12s\n", e->t->name, shape, e->t->dtype, what, b0, b1);
    }
    char b0[24], b1[24];
    fmt_bytes(pl->bytes_in, b0, sizeof b0);
    fmt_bytes(pl->bytes_out, b1, sizeof b1);
    printf("\n%zu tensors: %d quantized, %d kept, %d cast to bf16; %s -> %s (%.2fx)%s\n", pl->n,
           pl->quantized, pl->kept, pl->cast, b0, b1,
           pl->bytes_out ? (double)pl->bytes_in / (double)pl->bytes_out : 0.0,
           pl->nshards > 1 ? "" : "");
    if (pl->nshards > 1)
        printf("%d output shards\n", pl->nshards);
}

/* layers.json template: one anchored, escaped rule per candidate weight. */
static int write_template(const plan *pl, const char *path)
{
    json_t *layers = json_object();
    for (size_t i = 0; i < pl->n; i++) {
        const plan_entry *e = &pl->e[i];
        if (!plan_is_candidate(e->t))
            continue;
        char re[1100], *o = re;
        *o++ = '^';
        for (const char *s = e->t->name; *s && o < re + sizeof re - 4; s++) {
            if (strchr(".[]()*+?{}|^$\\", *s))
                *o++ = '\\';
            *o++ = *s;
        }
        *o++ = '$';
        *o = '\0';
        char spec[96];
        if (e->act == ACT_QUANT) {
            json_t *r = json_pack("{s:s}", "format", qk_format_name(e->p.format));
            if (e->p.format == QK_FORMAT_NF4 || e->p.format == QK_FORMAT_FP4) {
                json_object_set_new(r, "block_size", json_integer(e->p.block_size));
                json_object_set_new(r, "double_quant", json_boolean(e->p.double_quant));
            } else if (e->p.format == QK_FORMAT_INT8_BLOCKWISE || e->p.scaling == QK_SCALING_BLOCK) {
                json_object_set_new(r, "scaling", json_string("block"));
                json_object_set_new(r, "block_size", json_integer(e->p.block_size));
            } else if (e->p.scaling == QK_SCALING_ROW) {
                json_object_set_new(r, "scaling", json_string("row"));
            }
            if (e->p.convrot_group)
                json_object_set_new(r, "convrot_group", json_integer(e->p.convrot_group));
            json_object_set_new(layers, re, r);
        } else {
            snprintf(spec, sizeof spec, "skip");
            json_object_set_new(layers, re, json_string(spec));
        }
    }
    json_t *root = json_pack("{s:o}", "layers", layers);
    int rc;
    if (path == NULL) {
        rc = json_dumpf(root, stdout, JSON_INDENT(2)) == 0 ? 0 : 1;
        putchar('\n');
    } else {
        char err[1024];
        rc = tmpfiles_write_json(path, root, JSON_INDENT(2), err, sizeof err) == 0 ? 0 : qtool_error("%s", err);
        if (rc == 0)
            printf("wrote layers.json template %s\n", path);
    }
    json_decref(root);
    return rc;
}

int cmd_convert(int argc, char **argv)
{
    convert_opts co;
    memset(&co, 0, sizeof co);
    co.backend = "auto";
    plan_options po;
    memset(&po, 0, sizeof po);
    const char *in = NULL, *format = NULL, *preset_name = "generic", *layers_path = NULL,
               *fallback = NULL, *scaling = NULL;
    int block_size = 0, double_quant = 0, convrot = 0, convrot_group = 256, dry = 0, templ = 0;
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
#define ARG(flag) (strcmp(a, flag) == 0 && has)
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage_text();
            plan_options_free(&po);
            return 0;
        } else if (ARG("-o") || ARG("--output"))
            co.out = argv[++i];
        else if (ARG("--format"))
            format = argv[++i];
        else if (ARG("--backend"))
            co.backend = argv[++i];
        else if (ARG("--threads"))
            co.threads = atoi(argv[++i]);
        else if (ARG("--preset"))
            preset_name = argv[++i];
        else if (ARG("--fallback"))
            fallback = argv[++i];
        else if (ARG("--exclude"))
            rc = add_regex(&po.exclude, &po.nexclude, argv[++i], "--exclude");
        else if (ARG("--include"))
            rc = add_regex(&po.include, &po.ninclude, argv[++i], "--include");
        else if (ARG("--layers"))
            layers_path = argv[++i];
        else if (ARG("--block-size")) {
            char *end;
            block_size = (int)strtol(argv[++i], &end, 10);
            if (*end != '\0' || block_size <= 0)
                rc = qtool_usage_error("convert: --block-size needs a positive integer");
        } else if (strcmp(a, "--double-quant") == 0)
            double_quant = 1;
        else if (ARG("--scaling"))
            scaling = argv[++i];
        else if (strcmp(a, "--convrot") == 0)
            convrot = 1;
        else if (ARG("--convrot-group-size")) {
            convrot_group = atoi(argv[++i]);
            convrot = 1;
        } else if (ARG("--max-shard-size")) {
            if (parse_size(argv[++i], &co.max_shard) != 0)
                rc = qtool_usage_error("convert: bad --max-shard-size '%s' (e.g. 5GB, 500MiB)", argv[i]);
        } else if (ARG("--config"))
            co.config = argv[++i];
        else if (ARG("--report")) {
            co.report = argv[++i];
            co.quality = 1;
        } else if (strcmp(a, "--quality") == 0)
            co.quality = 1;
        else if (strcmp(a, "--legacy-scaled-fp8") == 0)
            po.legacy_scaled_fp8 = 1;
        else if (strcmp(a, "--dry-run") == 0)
            dry = 1;
        else if (strcmp(a, "--template") == 0)
            templ = 1;
        else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0)
            co.quiet = 1;
        else if (a[0] != '-' && in == NULL)
            in = a;
        else
            rc = qtool_usage_error("convert: unknown or incomplete argument '%s' (see qtool convert --help)", a);
#undef ARG
    }
    if (rc == 0 && in == NULL)
        rc = qtool_usage_error("convert: missing IN (a .safetensors file or *.safetensors.index.json)");
    if (rc == 0 && format == NULL)
        rc = qtool_usage_error("convert: missing --format (nf4, fp4, nvfp4, mxfp8, float8_e4m3fn, float8_e5m2, "
                               "int8_tensorwise, int8_blockwise)");
    if (rc == 0 && co.out == NULL && !(dry && templ) && !dry)
        rc = qtool_usage_error("convert: missing -o OUT");
    if (rc == 0 && parse_format_spec(format, &po.base) != 0)
        rc = 2;
    if (rc == 0) {
        qk_params *b = &po.base;
        if (block_size)
            b->block_size = block_size;
        if (block_size && (b->format == QK_FORMAT_FLOAT8_E4M3FN || b->format == QK_FORMAT_FLOAT8_E5M2) &&
            scaling == NULL)
            b->scaling = QK_SCALING_BLOCK;
        if (double_quant)
            b->double_quant = 1;
        if (scaling != NULL) {
            if (strcmp(scaling, "tensor") == 0)
                b->scaling = QK_SCALING_TENSOR;
            else if (strcmp(scaling, "row") == 0)
                b->scaling = QK_SCALING_ROW;
            else if (strcmp(scaling, "block") == 0)
                b->scaling = QK_SCALING_BLOCK;
            else
                rc = qtool_usage_error("convert: --scaling must be tensor, row or block");
        }
        if (convrot) {
            if (b->format != QK_FORMAT_INT8_TENSORWISE)
                rc = qtool_usage_error("convert: --convrot applies to int8_tensorwise");
            b->convrot_group = convrot_group;
            b->scaling = QK_SCALING_ROW;
        }
        if (double_quant && b->format != QK_FORMAT_NF4 && b->format != QK_FORMAT_FP4)
            rc = qtool_usage_error("convert: --double-quant applies to nf4 and fp4");
        if (rc == 0 && qk_params_validate(b, 1024, 1024) != QK_OK && qk_params_validate(b, 1, 1) != QK_OK)
            rc = qtool_usage_error("convert: %s", qk_last_error());
        if (rc == 0 && plan_target_of(b->format) == TARGET_COMFY && b->scaling == QK_SCALING_BLOCK &&
            (b->format == QK_FORMAT_FLOAT8_E4M3FN || b->format == QK_FORMAT_FLOAT8_E5M2))
            rc = qtool_usage_error("convert: %s with block scaling has no ComfyUI loader (use tensor or row "
                                   "scaling)", qk_format_name(b->format));
    }
    if (rc == 0 && fallback != NULL) {
        if (strcmp(fallback, "bf16") == 0)
            po.fallback = FALLBACK_BF16;
        else if (strcmp(fallback, "float8_e4m3fn") == 0 || strcmp(fallback, "fp8") == 0)
            po.fallback = FALLBACK_FP8;
        else
            rc = qtool_usage_error("convert: --fallback must be float8_e4m3fn or bf16");
        if (rc == 0 && po.fallback == FALLBACK_FP8 && plan_target_of(po.base.format) == TARGET_BNB)
            rc = qtool_usage_error("convert: --fallback float8_e4m3fn cannot be loaded by bitsandbytes; use bf16");
    }
    if (rc == 0 && strcmp(preset_name, "none") != 0) {
        po.preset = preset_find(preset_name);
        if (po.preset == NULL)
            rc = qtool_usage_error("convert: unknown preset '%s' (generic, wan, flux2, qwen-image, hunyuan, "
                                   "ltxv, none)", preset_name);
    }
    if (rc == 0 && layers_path != NULL && plan_load_rules(layers_path, &po.base, &po) != 0)
        rc = 2;
    if (rc != 0) {
        plan_options_free(&po);
        return rc;
    }

    st_model m;
    plan pl;
    char err[2048] = "";
    if (st_model_open(in, &m, err, sizeof err) != 0) {
        plan_options_free(&po);
        return qtool_error("%s", err);
    }
    if (plan_build(&m, &po, &pl, err, sizeof err) != 0) {
        plan_free(&pl);
        st_model_close(&m);
        plan_options_free(&po);
        return qtool_error("%s", err);
    }
    plan_shard(&pl, co.max_shard);
    if (dry) {
        if (templ)
            rc = write_template(&pl, co.out);
        else
            print_plan(&pl);
    } else {
        co.in = in;
        rc = convert_run(&m, &pl, &co);
    }
    plan_free(&pl);
    st_model_close(&m);
    plan_options_free(&po);
    return rc;
}
