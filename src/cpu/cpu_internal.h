/* Fast CPU kernels (src/cpu): the reference's semantics restructured for
 * speed. Rows are widened to f32 bit patterns in a per-range scratch buffer,
 * then processed by branch-free loops (cpu_lanes.h) the compiler vectorizes.
 * The cross-backend harness and the golden tests hold them to the reference
 * byte for byte. */
#ifndef QK_CPU_INTERNAL_H
#define QK_CPU_INTERNAL_H

#include <stdlib.h>

#include "../ref/ref_internal.h"
#include "cpu_lanes.h"

/* Entry points; QK_ERR_UNSUPPORTED where no fast path exists (the caller
 * then runs the reference kernel). */
qk_status qk_cpu_quantize(const qk_ref_args *a, const void *in, void *const parts[4]);
qk_status qk_cpu_dequantize(const qk_ref_args *a, const void *const parts[4], void *out);

/* A worker's scratch of `bytes`: a worker cannot report failure to the
 * caller, so without it nothing sensible remains but to stop. */
static inline void *qk_cpu_scratch(size_t bytes)
{
    void *p = malloc(bytes);
    if (p == NULL)
        abort();
    return p;
}

/* Elements [i0, i0 + n) of an f32/f16/bf16 buffer as f32 bits (exact). */
void qk_cpu_widen(qk_dtype dt, const void *in, int64_t i0, int64_t n, uint32_t *dst);
/* f32 bits -> elements [i0, i0 + n) of an f32/f16/bf16 buffer, RNE. */
void qk_cpu_narrow(qk_dtype dt, const uint32_t *src, int64_t n, void *out, int64_t i0);
/* Each value rounded to dt and widened back (finite values). */
void qk_cpu_round_to(qk_dtype dt, uint32_t *v, int64_t n);
/* max |x| over elements [i0, i0 + n) as f32 bits; NaN/Inf give >= 0x7F800000. */
uint32_t qk_cpu_amax(qk_dtype dt, const void *in, int64_t i0, int64_t n);
/* Whole-tensor amax in parallel; QK_ERR_NONFINITE on NaN/Inf. */
qk_status qk_cpu_amax_tensor(const qk_exec *ex, qk_dtype dt, const void *in, int64_t n,
                             uint32_t *amax);

/* int8 codes of n values x (f32 bits of T, finite) with divisor d, the
 * group's s_T (0: a blockwise zero tile, all codes 0); v is scratch for n. */
static inline void qk_cpu_int8_codes(const qk_ref_args *a, const uint32_t *x, int64_t n, uint32_t d, uint32_t *v,
                                     uint8_t *out)
{
    if (d == 0u) {
        memset(out, 0, (size_t)n);
        return;
    }
    float df = qk_lane_f(d);
    for (int64_t i = 0; i < n; i++)
        v[i] = qk_lane_u(qk_lane_f(x[i]) / df);
    qk_cpu_round_to(a->dtype, v, n);
    float lo = a->params->format == QK_FORMAT_INT8_BLOCKWISE ? -127.0f : -128.0f;
    for (int64_t i = 0; i < n; i++)
        out[i] = (uint8_t)qk_lane_int_rne(v[i], lo, 127.0f);
}

qk_status qk_cpu_nvfp4_quantize(const qk_ref_args *a, const void *in, void *const parts[4]);
qk_status qk_cpu_nvfp4_dequantize(const qk_ref_args *a, const void *const parts[4], void *out);
qk_status qk_cpu_mxfp8_quantize(const qk_ref_args *a, const void *in, void *const parts[4]);
qk_status qk_cpu_mxfp8_dequantize(const qk_ref_args *a, const void *const parts[4], void *out);
qk_status qk_cpu_scaled_quantize(const qk_ref_args *a, const void *in, void *const parts[4]);
qk_status qk_cpu_scaled_dequantize(const qk_ref_args *a, const void *const parts[4], void *out);
qk_status qk_cpu_convrot_quantize(const qk_ref_args *a, const void *in, void *const parts[4]);
qk_status qk_cpu_convrot_dequantize(const qk_ref_args *a, const void *const parts[4], void *out);
qk_status qk_cpu_bnb4_quantize(const qk_ref_args *a, const void *in, void *const parts[4]);
qk_status qk_cpu_bnb4_dequantize(const qk_ref_args *a, const void *const parts[4], void *out);
/* Double quant's nested part (qk_bnb_nested_quantize / _dequantize's bytes),
 * also for the device backends that keep it on the host; ex may be NULL. */
void qk_cpu_bnb_nested_quantize(const qk_exec *ex, const uint32_t *absmax, int64_t nb, uint8_t *codes,
                                void *nested, void *offset);
/* The same codes and nested absmax for an offset already known (bits). */
void qk_cpu_bnb_nested_codes(const qk_exec *ex, const uint32_t *absmax, int64_t nb, uint32_t off, uint8_t *codes,
                             void *nested);
void qk_cpu_bnb_nested_dequantize(const qk_exec *ex, const uint8_t *codes, const void *nested, const void *offset,
                                  int64_t nb, uint32_t *absmax);

#endif
