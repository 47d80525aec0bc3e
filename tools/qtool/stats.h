/* Error statistics of a reconstruction against its original, and exact
 * widening of f16/bf16 tensors to f32. */
#ifndef QTOOL_STATS_H
#define QTOOL_STATS_H

#include <stddef.h>

#include <jansson.h>

#include "qk/qk.h"

typedef struct {
    double signal, noise, dot, back2, max_abs;
    size_t n, nonfinite;
} err_stats;

void stats_add(err_stats *s, const float *orig, const float *back, size_t n);
double stats_snr_db(const err_stats *s);  /* +inf when exact */
double stats_rel_l2(const err_stats *s);
double stats_cosine(const err_stats *s);
/* A real, or null where it is not finite (JSON has no inf). */
json_t *stats_json_real(double v);

/* out[i] = f32 value of element i of in (dtype f32, f16 or bf16). */
void widen_to_f32(qk_dtype dt, const void *in, float *out, size_t n);
/* f32/f16 -> bf16, round to nearest even (the torch cast). */
void narrow_to_bf16(qk_dtype dt, const void *in, uint16_t *out, size_t n);

#endif
