/* Cross-backend harness: every available backend and device against the
 * "reference" backend (the plain C reference kernels), by memcmp of every quantized part and every
 * dequantized output, with sentinel guard bytes around each output buffer.
 * Used by tests/test_crossbackend.c and `qtool crosscheck`. Public API only. */
#ifndef QK_CROSSCHECK_H
#define QK_CROSSCHECK_H

#include <stddef.h>

#include "qk/qk.h"

typedef struct {
    const char *format;  /* label, e.g. "nf4/bs64/dq" */
    const char *dtype;   /* input (quantize) / output (dequantize) dtype */
    const char *backend;
    int device;
    const char *device_name;
    size_t bytes;        /* bytes compared */
    size_t mismatches;   /* differing bytes + guard-byte violations + failed calls */
} qkc_row;

typedef void (*qkc_row_fn)(void *user, const qkc_row *row);

typedef struct {
    int large;            /* add large shapes (slower; qtool crosscheck --large) */
    int include_cpu;      /* compare the multi-threaded CPU backend too */
    const char *only_backend; /* NULL: every available backend */
} qkc_options;

/* Runs the harness; calls fn once per (format, dtype, backend, device).
 * With QK_CROSSCHECK_TRACE=1 it notes on stderr each device it opens, starts
 * and closes, so a crash inside a driver shows where it happened.
 * Returns the total of mismatches (0 = all bit-exact), or -1 if no backend
 * other than the reference could be run and include_cpu is off. */
long qkc_run(const qkc_options *opt, qkc_row_fn fn, void *user);

/* The crafted case sets below, by name (qtool crosscheck --crafted). */
typedef struct {
    const char *name;
    long (*run)(qk_context *ctx, const char *label);
} qkc_crafted_set;
extern const qkc_crafted_set qkc_crafted_sets[];
extern const int qkc_crafted_set_count;

/* Every crafted set on every device qkc_run would check: fn gets a row per
 * (set, backend, device) with format = the set's name, dtype "-", bytes 0
 * and mismatches = the cases that differ (each also printed by the set).
 * Returns the total as qkc_run does. */
long qkc_run_crafted(const qkc_options *opt, qkc_row_fn fn, void *user);

/* Double-quant parts a caller crafted (NaN, Inf and overflowing nested
 * absmax and offset) dequantized by ctx and by the reference backend
 * (nested_cases.c): the number of cases whose bytes differ, each printed
 * under `label`; 0 = all the same. */
long qkc_crafted_nested(qk_context *ctx, const char *label);

/* Double-quant quantize of inputs crafted for the offset (the absmax mean):
 * ordinary absmax over several 4096-value runs (a device's exact integer
 * sums), absmax over sixty binades and an order-sensitive vector (the host's
 * sequential sum), all zeros. Every part of ctx's output against the
 * reference backend's; the number of cases that differ, each printed. */
long qkc_crafted_means(qk_context *ctx, const char *label);

/* The same cases of bf16 input (where a device may sum the absmax as it
 * writes them), and also ordinary absmax with a partial last block, an Inf
 * absmax and a block of NaN. */
long qkc_crafted_means16(qk_context *ctx, const char *label);

/* Double-quant means a device divides itself: absmax vectors set one value
 * a 64-block (f32 input) -- random significands over a few binades at
 * counts from 1 to past three 4096-value runs, means that are f32 ties,
 * and a subnormal mean (a device leaves that to the host). Every part
 * against the reference backend's; the number of cases that differ. */
long qkc_random_means(qk_context *ctx, const char *label);

/* Tensor-scaled float8_e4m3fn, float8_e5m2 and int8_tensorwise of every
 * bf16 and every f16 value in [-1, 1] (and the same values in row groups
 * of 256: 128 magnitudes each, both signs), NF4/FP4 64-blocks of subnormals
 * under a small normal absmax, and MXFP8 blocks of every finite value under
 * chosen amax values (table_cases.c), quantized and dequantized by
 * ctx and by the reference backend: the number of cases that differ, each
 * printed under `label`. */
long qkc_every_magnitude16(qk_context *ctx, const char *label);

/* Tensor-scaled float8_e4m3fn of bf16 and f16 tensors of 1285 whole
 * 16-byte units and a tail, a single peak moved through every 29th unit and
 * the tail (table_cases.c): a tensor amax that skips a unit of a strided
 * step gives another scale. Quantized and dequantized by ctx and by the
 * reference backend: the number of cases that differ, each printed. */
long qkc_tensor_amax_positions(qk_context *ctx, const char *label);

/* Float8/int8 row and tile parts with crafted scales (zero, subnormal,
 * huge, Inf, NaN) and float8 NaN/Inf codes in some rows, every dtype,
 * dequantized by ctx and by the reference (dequant_cases.c): the number of
 * cases whose bytes differ (a NaN's payload aside), each printed. */
long qkc_crafted_group_dequantize(qk_context *ctx, const char *label);

/* The same for NF4/FP4 (bs 64 and 32, a partial last block): absmax
 * exponents from 2^-117 to 2^32, so f16 outputs fall in f16's subnormal
 * range, its normal range and past it (Inf); products halfway between f16
 * values; every code byte; some absmax zero, subnormal, Inf or NaN. */
long qkc_crafted_bnb4_dequantize(qk_context *ctx, const char *label);

/* The same for MXFP8 and NVFP4: crafted E8M0, e4m3 block and global
 * scales, e4m3 NaN codes in some rows; rows with and without a tail. */
long qkc_crafted_blocked_dequantize(qk_context *ctx, const char *label);

/* The same for int8_tensorwise ConvRot rows: every group size and dtype,
 * row scales on either side of the backends' native ranges, zero,
 * subnormal, huge, Inf and NaN; rows of whole 64-value runs and others. */
long qkc_crafted_convrot_dequantize(qk_context *ctx, const char *label);

/* int8_tensorwise ConvRot quantize by ctx and by the reference backend:
 * every group size 4..1024 and every dtype (per-row scales), rows of typical, zero, subnormal, outlier, sixty-binade and tie-prone values
 * (convrot_cases.c); inputs with a NaN, an Inf or a group whose rotation
 * leaves T's range must be refused by both. Status, every part and the
 * dequantized output compared; the number of cases that differ. */
long qkc_convrot_quantize_cases(qk_context *ctx, const char *label);

/* f32 int8 and float8 quantize by ctx and by the reference (rows, tiles,
 * one scale, int8 ConvRot rows), every group's values crafted so that
 * their int8 quotients x / d lie near points halfway between integers, on
 * both sides of the 2^-13 margin the backends' codes by products keep, or
 * their float8 products near the points halfway between float8 values
 * and near 2^-126 (f32_tie_cases.c): the number of cases whose parts
 * differ. */
long qkc_f32_near_ties(qk_context *ctx, const char *label);

/* The scale qkc_crafted_convrot_dequantize gives row r of a rotation with
 * `levels` levels (x: random bits): on either side of the backends' native
 * ranges, zero, subnormal, huge, Inf, NaN and typical scales, by r % 18. */
uint32_t qkc_convrot_row_scale(int64_t r, int levels, uint32_t x);

/* NVFP4 parts whose scale bytes run through the scale tensor as (k + seed)
 * % 256 and whose codes run along a row as (c + r + seed) % 16, under the
 * global scale g (f32 bits), dequantized into dt by ctx and by the
 * reference: 1 if they differ (a NaN's payload aside), else 0. On 128 x 64
 * (one tile) every scale byte meets every code. */
long qkc_nvfp4_dequantize_case(qk_context *ctx, const char *label, qk_dtype dt, int64_t rows, int64_t cols,
                               uint32_t g, uint32_t seed);

/* qkc_nvfp4_dequantize_case on 128 x 64 for every dtype, under g through
 * every binade (several significands, so T(T(g) T(s)) crosses the range
 * ends of any exact fast path) and zero, negative, subnormal, huge, Inf and
 * NaN g: the number of cases that differ, each printed. */
long qkc_nvfp4_every_scale_code(qk_context *ctx, const char *label);

#endif
