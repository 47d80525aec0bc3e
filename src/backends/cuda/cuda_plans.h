/* Per-format plans of the CUDA backend: how an operation is cut into
 * chunks and which kernels and host steps make it (cuda_plans.c). */
#ifndef QK_CUDA_PLANS_H
#define QK_CUDA_PLANS_H

#include "cuda_internal.h"

typedef struct cu_job {
    cu_state *st;
    const qk_params *p;
    qk_dtype dt;
    int64_t rows, cols, n;
    size_t es;
    qk_layout lay;
    CUdeviceptr buf;  /* quantize: the input; dequantize: the output (n elements of dt) */
    CUdeviceptr part[QK_PART_COUNT];
    CUdeviceptr work, work2; /* per-group amax / reciprocals, bnb absmax */
    CUdeviceptr table16;     /* tensor-scaled 16-bit input: its codes by bit pattern */
    const void *const *hparts_in; /* dequantize: the caller's parts */
    void *host_tmp;
    int bench;        /* device-resident benchmark: no DATA/SCALE downloads */
    int64_t ng;       /* scale groups */
    uint32_t g;       /* nvfp4 per-tensor scale */
    uint32_t flag;    /* device flag word offset use */
} cu_job;

/* Units are bnb blocks or rows; chunks hold a multiple of `align` units. */
typedef struct cu_plan {
    int64_t units, align, unit_elems;
    /* input (quantize) / output (dequantize) elements of units [u0, u1) */
    void (*in_range)(const cu_job *j, int64_t u0, int64_t u1, int64_t *e0, int64_t *e1);
    /* DATA bytes of units [u0, u1) */
    void (*data_range)(const cu_job *j, int64_t u0, int64_t u1, size_t *b0, size_t *b1);
    qk_status (*prepare)(cu_job *j);
    qk_status (*pass1)(cu_job *j, int64_t u0, int64_t u1);
    qk_status (*between)(cu_job *j, void *const parts[4]); /* NULL: one pass */
    qk_status (*pass2)(cu_job *j, int64_t u0, int64_t u1);
    qk_status (*finish)(cu_job *j, void *const parts[4]);
} cu_plan;

qk_status cu_plan_quantize(cu_job *j, cu_plan *pl);
qk_status cu_plan_dequantize(cu_job *j, cu_plan *pl);
void cu_job_free(cu_job *j);

#endif
