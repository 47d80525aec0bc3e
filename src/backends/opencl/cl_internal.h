/* Shared declarations of the OpenCL backend (src/backends/opencl). */
#ifndef QK_CL_INTERNAL_H
#define QK_CL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../../core/core_internal.h"
#include "cl_loader.h"

/* One usable device, found on any platform. */
typedef struct {
    cl_platform_id platform;
    cl_device_id device;
    char name[128], vendor[64], platform_name[64], driver[64], version[64];
    uint64_t global_mem, max_alloc, local_mem;
    int compute_units;
    size_t max_wg;
    int denorms;       /* CL_FP_DENORM: native f32 mul/add keep subnormals */
    int cr_divide;     /* CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT */
    int host_cpu;      /* CL_DEVICE_TYPE_CPU (PoCL): `auto` passes it by */
} qcl_device;

/* Every accepted device of every platform (cached); 0 with *reason if none. */
int qcl_devices(const qcl_device **out, const char **reason);
/* How many NF4/FP4 quantize launches took bnb4_quantize64 (tests). */
unsigned long qcl_bnb4_q64_runs(void);
/* How many of them also made double quant's mean records (bnb4_quantize64_rec; tests). */
unsigned long qcl_bnb4_q64_rec_runs(void);
/* How many of the bnb4_quantize64 launches were f32's (bnb4_quantize64_f32 and _f32_rec; tests). */
unsigned long qcl_bnb4_q64_f32_runs(void);
/* How many MXFP8 quantize launches took mxfp8_quantize16 / mxfp8_quantize32 (tests). */
unsigned long qcl_mxfp8_q16_runs(void);
unsigned long qcl_mxfp8_q32_runs(void);
/* How many row/tile float8/int8 quantize launches took scaled_quantize_groups16 or
 * (f32) scaled_quantize_groups32 (tests). */
unsigned long qcl_groups16_runs(void);
/* How many NVFP4 quantize launches took nvfp4_quantize16 (tests). */
unsigned long qcl_nvfp4_q16_runs(void);
/* How many NVFP4 dequantize launches took nvfp4_dequantize_blocks (tests). */
unsigned long qcl_nvfp4_dq_blocks_runs(void);
/* How many ConvRot quantize/dequantize launches took convrot_rows.cl (tests). */
unsigned long qcl_convrot_rows_runs(void);
/* How many ConvRot dequantize launches took convrot_dequantize_runs.cl (tests). */
unsigned long qcl_convrot_dq_runs(void);
/* Test hook: on device `device`, compares the codes by products
 * (fp8_code_product, int8_code_rcp) with scaled_code's
 * (scaled_groups16.cl), every format, for the 16-bit pairs w = w0 + k *
 * stride (modulo 2^32), k = 0 .. pairs - 1 (pairs 0: 2^32 / stride, so
 * w0 = 0, stride 1 is every pair), dtype dt (bf16 or f16). *fails:
 * mismatches; *first: the smallest failing w; *int8_divides: 1 where the
 * device's program codes int8 by division instead (only float8 checked). */
qk_status qcl_product_codes_check(int device, int dt, uint32_t w0, uint32_t stride, uint64_t pairs, uint64_t *fails,
                                  uint32_t *first, int *int8_divides);

/* Test hook: on device `device`, compares int8_scalars16's scale, divisor
 * and reciprocal (int8_scalars.cl) with scaled_params' and
 * int8_reciprocal's for every finite positive 16-bit amax of dtype dt.
 * *fails: mismatches; *first: the smallest failing amax bits; *divides: 1
 * where the device's program divides by qk_div (nothing checked). */
qk_status qcl_int8_scalars_check(int device, int dt, uint32_t *fails, uint32_t *first, int *divides);

/* Test hook: on device `device`, compares scaled.cl's f32 int8 codes by
 * products (int8_code_f32_bounded) with scaled_code's division (both
 * clamps) for the crafted values base .. base + count - 1
 * (f32_codes_check: quotients a group can hold, near and on both sides of
 * every halfway point, integers, random values; divisors 2^-126 to below
 * 2^126). *fails: codes that differ where int8_code_f32_bounded did not
 * send its value to the division; *first: the
 * smallest such value id; *near: values it sent there; *divides: 1 where
 * the device's program is not native IEEE f32 (nothing checked). */
qk_status qcl_f32_codes_check(int device, uint32_t base, uint64_t count, uint64_t *fails, uint32_t *first,
                              uint64_t *near, int *divides);

/* Kernels of the embedded program, in qcl_kernel_names order. */
typedef enum {
    K_AMAX_TENSOR,
    K_BNB4_QUANTIZE,
    K_BNB4_DEQUANTIZE,
    K_NVFP4_QUANTIZE,
    K_NVFP4_DEQUANTIZE,
    K_MXFP8_QUANTIZE,
    K_MXFP8_DEQUANTIZE,
    K_SCALED_TENSOR_PARAMS,
    K_SCALED_QUANTIZE_TENSOR,
    K_SCALED_QUANTIZE_GROUPS,
    K_SCALED_DEQUANTIZE,
    K_CONVROT_ROTATE,
    K_CONVROT_DEQUANTIZE,
    K_BNB_NESTED_DEQUANTIZE,
    K_BNB_ABSMAX_SUM,
    K_BNB_NESTED_QUANTIZE,
    K_SCALED_DEQUANTIZE_TENSOR,
    K_SCALED_CODE_TABLE16,
    K_SCALED_QUANTIZE_TABLE16,
    K_SCALED_DEQUANTIZE_ROWS,
    K_BNB4_QUANTIZE64,
    K_MXFP8_QUANTIZE16,
    K_SCALED_QUANTIZE_GROUPS16_4K,
    K_SCALED_QUANTIZE_GROUPS16_16K,
    K_PRODUCT_CODES_CHECK,
    K_CONVROT_QUANTIZE_ROWS,
    K_CONVROT_DEQUANTIZE_ROWS,
    K_NVFP4_DEQUANTIZE_BLOCKS,
    K_NVFP4_QUANTIZE16,
    K_CONVROT_DEQUANTIZE_RUNS,
    K_BNB_ABSMAX_MEAN,
    K_NVFP4_SCALE_TABLE16,
    K_INT8_SCALARS_CHECK,
    K_BNB4_QUANTIZE64_REC,
    K_CONVROT_QUANTIZE_NATIVE_BF16,
    K_CONVROT_QUANTIZE_NATIVE_F16,
    K_CONVROT_QUANTIZE_NATIVE_F32,
    K_F32_CODES_CHECK,
    K_BNB4_QUANTIZE64_F32,
    K_BNB4_QUANTIZE64_F32_REC,
    K_MXFP8_QUANTIZE32,
    K_SCALED_QUANTIZE_GROUPS32_4K,
    K_SCALED_QUANTIZE_GROUPS32_16K,
    K_COUNT
} qcl_kernel_id;

/* Reusable device buffers, one per role, grown on demand. */
typedef enum {
    B_IN,
    B_DATA,
    B_SCALE,
    B_OUT,
    B_TMP,
    B_NESTED,
    B_PARTIAL,
    B_MEAN,
    B_STATUS,
    B_PARAM,
    B_TABLE16,
    B_COUNT
} qcl_buf_role;

typedef struct {
    const qcl_api *cl;
    const qcl_device *dev;
    cl_context ctx;
    cl_command_queue q;     /* the current slot's queue (qs[slot]) */
    cl_command_queue qs[2]; /* chunked host ops alternate two in-order queues */
    cl_event kernels_done;  /* the last chunk's kernels, on its queue (cl_stream.c) */
    int slot;               /* which queue and buffer set ops use now */
    size_t chunk_bytes;     /* host ops: element bytes per chunk (QK_OPENCL_CHUNK_BYTES) */
    cl_program prog;
    cl_kernel k[K_COUNT];
    size_t wg; /* work-group size of the reduction kernels (power of two) */
    int soft_float; /* integer codec for mul/div/add instead of native ops */
    int native_ieee; /* qcl_probe_ieee said yes: native ops need finite operands only */
    int native_f32;  /* the program keeps native f32 with subnormals (neither soft float nor the guard) */
    cl_mem rcp_bf16, rcp_f16, dmap; /* bnb reciprocal tables, double quant's dynamic map */
    cl_mem dmap_code;              /* double quant's dynamic-map lookup (qkf_dmap_table) */
    cl_mem code_fp4, code_nf4;      /* qkf_bnb_code_table of each format */
    cl_mem buf[2][B_COUNT]; /* per slot; B_STATUS, B_PARAM and B_TABLE16 only in slot 0 */
    size_t buf_size[2][B_COUNT];
    int profiling;               /* bench: keep the first and last event of an op */
    cl_event ev_first, ev_last;
} qcl_state;

/* 1 when the device's native f32 mul, add and (with_div) correctly rounded
 * div gave the host's IEEE bits on every probe pair (cl_probe.c): it keeps
 * subnormals. The pairs and the comparison, for tests. */
int qcl_probe_ieee(qcl_state *s, int with_div);
void qcl_probe_pairs(uint32_t *a, uint32_t *b, int n);
int qcl_probe_mismatches(const uint32_t *a, const uint32_t *b, const uint32_t *out, int n, int with_div);

/* qcl_int8_scalars_check on an open state. */
qk_status qcl_run_int8_scalars_check(qcl_state *s, int dt, uint32_t *fails, uint32_t *first, int *divides);

/* qcl_f32_codes_check on an open state. */
qk_status qcl_run_f32_codes_check(qcl_state *s, uint32_t base, uint64_t count, uint64_t *fails, uint32_t *first,
                                  uint64_t *near, int *divides);

/* qcl_product_codes_check on an open state. */
qk_status qcl_run_product_codes_check(qcl_state *s, int dt, uint32_t w0, uint32_t stride, uint64_t pairs,
                                      uint64_t *fails, uint32_t *first, int *int8_divides);

/* Builds (or loads from the disk cache) the program for s->dev; fills
 * s->prog and s->k. */
qk_status qcl_program_build(qcl_state *s);

/* On-disk program binary cache: key is any byte string identifying the
 * build (source, options, device, driver). Returns a malloc'ed binary or NULL. */
unsigned char *qcl_cache_load(const char *key, size_t key_len, size_t *size);
void qcl_cache_store(const char *key, size_t key_len, const unsigned char *bin, size_t size);
/* The cache directory (0), or -1 where the cache is off or has no home. */
int qcl_cache_where(char *dir, size_t n);

/* A device buffer of at least `size` bytes for `role` in the current slot
 * (B_STATUS, B_PARAM: shared by both slots); kept between calls. */
qk_status qcl_buffer(qcl_state *s, qcl_buf_role role, size_t size, cl_mem *out);
qk_status qcl_check(cl_int err, const char *what);

/* Device-resident operations. Quantize reads `in` and writes DATA and SCALE
 * (bnb: the f32 absmax, also with double quant) into `data`/`scale`;
 * *scalar receives nvfp4's g. Dequantize reads `data`, `scale` (bnb: f32
 * absmax) and `scalar` (nvfp4 g) and writes `out`; host_scale, when not
 * NULL, is the host's copy of `scale` (ConvRot: rows whose scales all fit
 * a native kernel's range take it, others the exact kernel). Nothing is
 * synchronised except where a host step needs a device value (the nvfp4
 * amax). */
qk_status qcl_quantize_dev(qcl_state *s, const qk_params *p, qk_dtype dt, cl_mem in, int64_t rows,
                           int64_t cols, cl_mem data, cl_mem scale, uint32_t *scalar);
qk_status qcl_dequantize_dev(qcl_state *s, const qk_params *p, qk_dtype dt, cl_mem data, cl_mem scale,
                             const void *host_scale, uint32_t scalar, int64_t rows, int64_t cols, cl_mem out);

/* Double quant's f32 absmax of blocks [b0, b0 + nb) into `absmax`, from the
 * u8 codes of those blocks, the nested absmax from nested block b0 / 256 on
 * and the offset; only for finite nested absmax and offset
 * (qk_bnb_nested_finite), whose results hold no NaN. */
qk_status qcl_nested_dequantize(qcl_state *s, cl_mem codes, cl_mem nested, uint32_t off, uint64_t b0, uint64_t nb,
                                cl_mem absmax);

/* Double quant's mean records (qk_bnb_mean_from_partials) of absmax[0, nb)
 * into `rec`, one per run of QK_BNB_PARTIAL_RUN values. */
qk_status qcl_absmax_records(qcl_state *s, cl_mem absmax, uint64_t nb, cl_mem rec);
/* qcl_quantize_dev for bitsandbytes double quant: where bnb4_quantize64
 * codes the blocks, its double-quant kernel also makes the mean's records
 * (into the slot's B_PARTIAL buffer) as it writes the absmax, so no pass
 * re-reads them; *nrec says how many records it made (0: none, the nested
 * step makes them). */
qk_status qcl_quantize_dq_dev(qcl_state *s, const qk_params *p, qk_dtype dt, cl_mem in, int64_t rows,
                              int64_t cols, cl_mem data, cl_mem absmax, size_t *nrec);
/* Double quant of a device-resident absmax[0, nb): the offset (the
 * device's mean from the records, else the host's of the downloaded
 * absmax) into *off, the u8 codes into `codes` and the nested absmax into
 * `nested`. nrec: the records qcl_quantize_dq_dev made of this absmax
 * (0: a records pass makes them here). */
qk_status qcl_nested_quantize_dev(qcl_state *s, cl_mem absmax, uint64_t nb, size_t nrec, cl_mem codes,
                                  cl_mem nested, uint32_t *off);
/* How many double-quant means the host took because the records did not
 * prove the device's (tests). */
unsigned long qcl_mean_fallbacks(void);

/* qcl_quantize_dev in steps, so that a tensor can pass in chunks: begin
 * (zero the status/amax word), amax over every chunk where the format has a
 * per-tensor scale (qcl_needs_amax), params once (nvfp4: reads the amax and
 * returns g in *scalar, or QK_ERR_NONFINITE; scaled: the device parameters),
 * then codes chunk by chunk. */
int qcl_needs_amax(const qk_params *p);
qk_status qcl_quantize_begin(qcl_state *s);
qk_status qcl_quantize_amax(qcl_state *s, const qk_params *p, qk_dtype dt, cl_mem in, int64_t rows, int64_t cols);
qk_status qcl_quantize_params(qcl_state *s, const qk_params *p, qk_dtype dt, uint32_t *scalar);
qk_status qcl_quantize_codes(qcl_state *s, const qk_params *p, qk_dtype dt, cl_mem in, int64_t rows,
                             int64_t cols, cl_mem data, cl_mem scale, uint32_t scalar);

/* Host-buffer operations (the vtable's quantize/dequantize), chunked when
 * the tensor is larger than s->chunk_bytes (cl_stream.c). */
qk_status qcl_host_quantize(qcl_state *s, const qk_params *p, qk_dtype dt, const void *in, int64_t rows,
                            int64_t cols, void *const parts[QK_PART_COUNT]);
qk_status qcl_host_dequantize(qcl_state *s, const qk_params *p, const void *const parts[QK_PART_COUNT],
                              int64_t rows, int64_t cols, qk_dtype dt, void *out);
void qcl_use_slot(qcl_state *s, int slot);

/* Reads the non-finite flag the last quantize left (QK_OK or QK_ERR_NONFINITE). */
qk_status qcl_quantize_status(qcl_state *s, const qk_params *p);

/* Bytes of the device-side DATA / SCALE buffers for an op (bnb SCALE is the
 * f32 absmax even with double quant). */
void qcl_dev_sizes(const qk_params *p, int64_t rows, int64_t cols, size_t *data, size_t *scale);

qk_status qcl_bench(void *state, qk_op op, const qk_params *p, qk_dtype dt, const void *in,
                    int64_t rows, int64_t cols, int iterations, qk_bench_result *res);

#endif
