/* Internal interface of the C reference kernels (src/ref).
 *
 * The reference is the definition of every format: backends must produce
 * its bytes. Work is split into independent ranges (rows or blocks) that a
 * qk_exec may run on several threads; every range writes disjoint output,
 * and reductions (max) are order-independent, so threading never changes a
 * byte. */
#ifndef QK_REF_INTERNAL_H
#define QK_REF_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "qk/qk.h"
#include "../codec/qk_codec.h"

typedef void (*qk_range_fn)(void *arg, int64_t begin, int64_t end);

/* Runs fn over [0, n) in chunks of at least `grain`; NULL exec = serial. */
typedef struct qk_exec {
    void (*parallel_for)(const struct qk_exec *ex, int64_t n, int64_t grain, qk_range_fn fn,
                         void *arg);
    void *impl;
} qk_exec;

void qk_exec_run(const qk_exec *ex, int64_t n, int64_t grain, qk_range_fn fn, void *arg);
/* Host threads (src/core/host_threads.c): fn over [0, n) in ranges of at
 * least grain, on `threads` threads (<= 0: every online CPU). */
void qk_run_on_threads(int threads, int64_t n, int64_t grain, qk_range_fn fn, void *arg);
int qk_online_cpus(void);
/* An exec over every online CPU, for the device backends' host steps. */
extern const qk_exec qk_host_exec;

/* ---- scalar helpers (native IEEE f32 on the host; tests prove they equal
 * the integer codec versions that GPU dialects use) ---------------------- */
static inline uint32_t qk_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float qk_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint32_t qk_fmul(uint32_t a, uint32_t b) { return qk_bits(qk_float(a) * qk_float(b)); }
static inline uint32_t qk_fdiv(uint32_t a, uint32_t b) { return qk_bits(qk_float(a) / qk_float(b)); }
static inline uint32_t qk_fadd(uint32_t a, uint32_t b) { return qk_bits(qk_float(a) + qk_float(b)); }

/* Element i of a row-major f32/f16/bf16 buffer, widened exactly to f32 bits. */
static inline uint32_t qk_load_f32(qk_dtype dt, const void *p, int64_t i)
{
    if (dt == QK_DTYPE_F32) {
        uint32_t u;
        memcpy(&u, (const unsigned char *)p + 4 * i, 4);
        return u;
    }
    uint16_t h;
    memcpy(&h, (const unsigned char *)p + 2 * i, 2);
    return dt == QK_DTYPE_BF16 ? qk_bf16_to_f32(h) : qk_f16_to_f32(h);
}

/* Round f32 bits to dtype T and widen back: the value torch holds in T. */
static inline uint32_t qk_round_to(qk_dtype dt, uint32_t a)
{
    if (dt == QK_DTYPE_BF16)
        return qk_bf16_to_f32(qk_f32_to_bf16(a));
    if (dt == QK_DTYPE_F16)
        return qk_f16_to_f32(qk_f32_to_f16(a));
    return a;
}

/* NVFP4's per-tensor scale g = T(amax / (6 * 448)), as comfy-kitchen
 * computes it in the input dtype T; every backend's host side uses this. */
static inline uint32_t qk_nvfp4_global_scale(qk_dtype dt, uint32_t amax)
{
    return qk_round_to(dt, qk_fdiv(amax, QK_F32_NVFP4_GLOBAL_DIV));
}

/* Store f32 bits as element i of an f32/f16/bf16 buffer (RNE). */
static inline void qk_store_f32(qk_dtype dt, void *p, int64_t i, uint32_t a)
{
    if (dt == QK_DTYPE_F32) {
        memcpy((unsigned char *)p + 4 * i, &a, 4);
        return;
    }
    uint16_t h = (uint16_t)(dt == QK_DTYPE_BF16 ? qk_f32_to_bf16(a) : qk_f32_to_f16(a));
    memcpy((unsigned char *)p + 2 * i, &h, 2);
}

/* Store raw bits (4 bytes for f32, 2 for f16/bf16) as element i. */
static inline void qk_store_bits(qk_dtype dt, void *p, int64_t i, uint32_t bits)
{
    if (dt == QK_DTYPE_F32) {
        memcpy((unsigned char *)p + 4 * i, &bits, 4);
        return;
    }
    uint16_t h = (uint16_t)bits;
    memcpy((unsigned char *)p + 2 * i, &h, 2);
}

static inline void qk_put_f32(void *p, int64_t i, uint32_t a) { memcpy((unsigned char *)p + 4 * i, &a, 4); }

static inline uint32_t qk_get_f32(const void *p, int64_t i)
{
    uint32_t u;
    memcpy(&u, (const unsigned char *)p + 4 * i, 4);
    return u;
}

static inline int64_t qk_ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t qk_round_up(int64_t a, int64_t b) { return qk_ceil_div(a, b) * b; }

/* Byte offset of scale (r, c) in the cuBLAS 128x4 blocked layout of a
 * [ceil128(rows), ceil4(ncb)] scale matrix (ncb = scale columns). */
static inline int64_t qk_blocked_offset(int64_t r, int64_t c, int64_t ncb)
{
    int64_t col_tiles = qk_ceil_div(ncb, 4);
    return ((r / 128 * col_tiles + c / 4) * 32 + r % 32) * 16 + ((r % 128) / 32) * 4 + c % 4;
}

/* Bytes of that blocked scale matrix for rp (padded) rows and ncb scale
 * columns: both padded, to 128 rows and 4 columns. */
static inline size_t qk_blocked_scale_bytes(int64_t rp, int64_t ncb)
{
    return (size_t)(qk_round_up(rp, 128) * qk_round_up(ncb, 4));
}

/* Largest |x| (as f32 bits, NaN-free input assumed) over rows [r0, r1) x
 * cols [c0, c1) of a row-major matrix; the exact max of the input dtype. */
uint32_t qk_amax_rect(qk_dtype dt, const void *in, int64_t cols, int64_t r0, int64_t r1,
                      int64_t c0, int64_t c1);
/* Whole-tensor amax, in parallel; QK_ERR_NONFINITE on NaN/Inf. */
qk_status qk_amax_tensor(const qk_exec *ex, qk_dtype dt, const void *in, int64_t n,
                         uint32_t *amax);
qk_status qk_check_finite(const qk_exec *ex, qk_dtype dt, const void *in, int64_t n);

/* ---- per-format kernels ------------------------------------------------- */
typedef struct qk_ref_args {
    const qk_exec *ex;
    const qk_params *params;
    qk_dtype dtype;   /* input dtype (quantize) or output dtype (dequantize) */
    int64_t rows, cols;
} qk_ref_args;

qk_status qk_ref_bnb4_quantize(const qk_ref_args *a, const void *in, void *const parts[4]);
qk_status qk_ref_bnb4_dequantize(const qk_ref_args *a, const void *const parts[4], void *out);
qk_status qk_ref_nvfp4_quantize(const qk_ref_args *a, const void *in, void *const parts[4]);
qk_status qk_ref_nvfp4_dequantize(const qk_ref_args *a, const void *const parts[4], void *out);
qk_status qk_ref_mxfp8_quantize(const qk_ref_args *a, const void *in, void *const parts[4]);
qk_status qk_ref_mxfp8_dequantize(const qk_ref_args *a, const void *const parts[4], void *out);
qk_status qk_ref_fp8_quantize(const qk_ref_args *a, const void *in, void *const parts[4]);
qk_status qk_ref_fp8_dequantize(const qk_ref_args *a, const void *const parts[4], void *out);
qk_status qk_ref_int8_quantize(const qk_ref_args *a, const void *in, void *const parts[4]);
qk_status qk_ref_int8_dequantize(const qk_ref_args *a, const void *const parts[4], void *out);

qk_status qk_ref_quantize(const qk_ref_args *a, const void *in, void *const parts[4]);
qk_status qk_ref_dequantize(const qk_ref_args *a, const void *const parts[4], void *out);

/* bitsandbytes helpers shared with the device backends. */
extern const uint32_t qk_bnb_dynamic_map[256];
extern const uint32_t qk_bnb_rcp_bf16[128];
extern const uint32_t qk_bnb_rcp_f16[1024];
/* The reciprocal bitsandbytes' CUDA kernel applies to a block absmax. */
uint32_t qk_bnb_reciprocal(qk_dtype dt, uint32_t absmax);
/* Double quant's code of x (f32 bits) in the signed dynamic map, as
 * bitsandbytes' dQuantize; also the last midpoint compared (f32 bits) and
 * whether x was above the final pivot (for lookup tables built from it). */
uint8_t qk_bnb_dynamic_map_search(uint32_t x, uint32_t *mid, int *above);
/* The code alone (the callback that builds cuda/qk_fast_codec.h's lookup). */
uint32_t qk_bnb_dynamic_map_code(uint32_t x);
/* Double quant: absmax f32[nb] -> u8 codes[nb], nested f32[ceil(nb/256)], offset. */
void qk_bnb_nested_quantize(const uint32_t *absmax, int64_t nb, uint8_t *codes, void *nested,
                            void *offset);
/* Double quant's offset as the reference defines it: the sequential double
 * sum of absmax f32[nb] over nb, rounded to f32 (bits). */
uint32_t qk_bnb_mean_sequential(const uint32_t *absmax, int64_t nb);
/* The same bits, summed in any order where that provably changes nothing
 * (bnb_mean.c says why), else sequentially. */
uint32_t qk_bnb_absmax_mean(const uint32_t *absmax, int64_t nb);
/* For a sum of the absmax in any order, by a device say: 1 and the offset in
 * *off when every absmax was finite and >= +0 (the caller checked) and sum
 * proves itself exact (below 2^(min_lsb + 53)); 0 when the caller must fall
 * back to the sequential sum. */
int qk_bnb_mean_if_exact(double sum, int min_lsb, int64_t nb, uint32_t *off);
/* e with a = odd * 2^e, for a finite nonzero f32 >= 0 (bits); never -0.0 (no set bit). */
int qk_f32_lsb_exp(uint32_t a);
/* Exact partial sums a device made of the absmax (bnb_mean.c says how):
 * records of QK_BNB_PARTIAL_WORDS words {sum low, sum high, base, flags},
 * one per run of at most QK_BNB_PARTIAL_RUN values. 1 and the offset in
 * *off when the records prove the sequential sum's bits, else 0 (the caller
 * sums the absmax on the host). */
#define QK_BNB_PARTIAL_WORDS 4
#define QK_BNB_PARTIAL_RUN 4096
#define QK_BNB_PARTIAL_WIDTH 52
int qk_bnb_mean_from_partials(const uint32_t *rec, int64_t count, int64_t nb, uint32_t *off);
/* The absmax of every block as f32[nb] (malloc'd; NULL when out of memory),
 * from the plain or the double-quant parts. */
uint32_t *qk_bnb_absmax_unpack(const qk_params *p, const void *const parts[4], int64_t nb);
/* Whether double-quant parts have a finite offset and nested absmax (the
 * first nested_count): then qk_bnb_nested_dequantize yields no NaN, and a
 * device may rebuild the absmax without the host's NaN rules. */
int qk_bnb_nested_finite(const void *const parts[4], int64_t nested_count);
/* Reconstructs absmax f32[nb] from double-quant parts. */
void qk_bnb_nested_dequantize(const uint8_t *codes, const void *nested, const void *offset,
                              int64_t nb, uint32_t *absmax);

/* ConvRot: in-place normalized regular-Hadamard rotation of each group of
 * `group` consecutive f32 values (group a power of 4). Involution. */
void qk_convrot_group(uint32_t *v, int group);

#endif /* QK_REF_INTERNAL_H */
