/* Shared pieces of the reference kernels: range execution and reductions. */
#include <stdlib.h>

#include "ref_internal.h"

void qk_exec_run(const qk_exec *ex, int64_t n, int64_t grain, qk_range_fn fn, void *arg)
{
    if (n <= 0)
        return;
    if (ex == NULL || ex->parallel_for == NULL) {
        fn(arg, 0, n);
        return;
    }
    ex->parallel_for(ex, n, grain < 1 ? 1 : grain, fn, arg);
}

uint32_t qk_amax_rect(qk_dtype dt, const void *in, int64_t cols, int64_t r0, int64_t r1,
                      int64_t c0, int64_t c1)
{
    uint32_t m = 0;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t c = c0; c < c1; c++) {
            uint32_t a = qk_load_f32(dt, in, r * cols + c) & QK_F32_ABS;
            if (a > m)
                m = a;
        }
    return m;
}

/* Per-chunk partial results; chunks are fixed by index so any thread count
 * combines the same partials. */
#define QK_REDUCE_CHUNK 65536

typedef struct {
    qk_dtype dt;
    const void *in;
    int64_t n;
    uint32_t *partial;
} amax_job;

static void amax_range(void *arg, int64_t b, int64_t e)
{
    amax_job *j = arg;
    for (int64_t k = b; k < e; k++) {
        int64_t i0 = k * QK_REDUCE_CHUNK;
        int64_t i1 = i0 + QK_REDUCE_CHUNK < j->n ? i0 + QK_REDUCE_CHUNK : j->n;
        uint32_t m = 0;
        for (int64_t i = i0; i < i1; i++) {
            uint32_t a = qk_load_f32(j->dt, j->in, i) & QK_F32_ABS;
            if (a > m)
                m = a; /* NaN patterns exceed 0x7F800000: reported below */
        }
        j->partial[k] = m;
    }
}

qk_status qk_amax_tensor(const qk_exec *ex, qk_dtype dt, const void *in, int64_t n, uint32_t *amax)
{
    int64_t chunks = qk_ceil_div(n, QK_REDUCE_CHUNK);
    uint32_t stack[64];
    uint32_t *partial = chunks <= 64 ? stack : malloc((size_t)chunks * sizeof(uint32_t));
    if (partial == NULL)
        return QK_ERR_OUT_OF_MEMORY;
    amax_job j = {dt, in, n, partial};
    qk_exec_run(ex, chunks, 1, amax_range, &j);
    uint32_t m = 0;
    for (int64_t k = 0; k < chunks; k++)
        if (partial[k] > m)
            m = partial[k];
    if (partial != stack)
        free(partial);
    *amax = m;
    return m >= QK_F32_INF ? QK_ERR_NONFINITE : QK_OK;
}

qk_status qk_check_finite(const qk_exec *ex, qk_dtype dt, const void *in, int64_t n)
{
    uint32_t m;
    return qk_amax_tensor(ex, dt, in, n, &m);
}
