/* The conversion plan: for every input tensor what happens to it (kept,
 * quantized with which parameters, cast) and every output tensor it becomes,
 * with exact sizes, before any data is touched. */
#ifndef QTOOL_PLAN_H
#define QTOOL_PLAN_H

#include <regex.h>
#include <stdint.h>

#include "presets.h"
#include "qk/qk.h"
#include "st_model.h"

typedef enum { TARGET_COMFY, TARGET_BNB } plan_target;
typedef enum { ACT_KEEP, ACT_QUANT, ACT_CAST_BF16 } plan_action;
typedef enum { OUT_COPY, OUT_PART, OUT_CAST, OUT_BLOB } out_kind;
typedef enum { FALLBACK_NONE, FALLBACK_FP8, FALLBACK_BF16 } plan_fallback;

typedef struct {
    char *name;
    const char *dtype; /* safetensors spelling */
    int ndim;
    int64_t shape[8];
    uint64_t nbytes; /* exact, or an upper bound while `late` */
    out_kind kind;
    int part;      /* OUT_PART: the qk_part */
    uint8_t *blob; /* OUT_BLOB: the bytes (NULL until produced when late) */
    int late;      /* size known only after quantizing: written at the shard's end */
} out_tensor;

typedef struct {
    const st_tensor *t;
    plan_action act;
    qk_params p;
    qk_dtype dt; /* input float dtype (quantized and cast tensors) */
    char why[96];
    out_tensor *out;
    int nout;
    uint64_t bytes_out;
    int shard;
    /* quality, when measured */
    int measured;
    double snr_db, rel_l2, cosine, max_abs;
} plan_entry;

typedef struct {
    regex_t re;
    char *pattern;
    int skip;
    qk_params p;
} plan_rule;

typedef struct {
    qk_params base; /* --format and its options */
    const preset *preset;
    regex_t *exclude, *include;
    int nexclude, ninclude;
    plan_rule *rules;
    int nrules;
    plan_fallback fallback;
    int legacy_scaled_fp8; /* old ComfyUI loaders: scale_weight + one scaled_fp8 marker */
} plan_options;

typedef struct {
    plan_target target;
    plan_entry *e;
    size_t n;
    int nshards;
    uint64_t bytes_in, bytes_out;
    int quantized, kept, cast;
    int legacy; /* legacy scaled_fp8 layout */
} plan;

/* Compiles a POSIX extended regex; -1 with a message printed on error. */
int plan_compile(regex_t *re, const char *pattern, const char *what);
/* Loads --layers JSON: {"layers": {"REGEX": "skip" | "FORMAT[:opts]" | {...}}}. */
int plan_load_rules(const char *path, const qk_params *base, plan_options *o);
void plan_options_free(plan_options *o);

/* Builds the plan; -1 with a one-line message in err. */
int plan_build(const st_model *m, const plan_options *o, plan *pl, char *err, size_t errlen);
/* Splits into shards of at most max_bytes (0 = one file). */
void plan_shard(plan *pl, uint64_t max_bytes);
void plan_free(plan *pl);

/* The target that a format belongs to. */
plan_target plan_target_of(qk_format f);
/* True for a tensor quantization may apply to: a 2-D f32/f16/bf16 "*.weight". */
int plan_is_candidate(const st_tensor *t);
int plan_float_dtype(const char *st_dtype, qk_dtype *out);
const char *plan_st_dtype(qk_dtype dt);
/* Short human description of params, e.g. "nf4 bs=64 dq", "int8_tensorwise row convrot=256". */
void plan_describe(const qk_params *p, char *buf, size_t len);
/* The same as a --format spec that parse_format_spec reads back. */
void plan_spec(const qk_params *p, char *buf, size_t len);

#endif
