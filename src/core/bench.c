/* qk_bench: the public benchmark entry and timing helpers for backends. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core_internal.h"

double qk_bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double qk_bench_median(double *samples, int n)
{
    if (n <= 0)
        return 0.0;
    qsort(samples, (size_t)n, sizeof *samples, cmp_double);
    return n % 2 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
}

static size_t dtype_size(qk_dtype dt) { return dt == QK_DTYPE_F32 ? 4 : 2; }

qk_status qk_bench(qk_context *ctx, int dequantize, const qk_params *params, qk_dtype dtype,
                   const void *in, int64_t rows, int64_t cols, int iterations, qk_bench_result *out)
{
    qk_clear_error();
    if (in == NULL || out == NULL || iterations < 1)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "qk_bench: NULL input/result or iterations < 1");
    qk_status st = qk_check_call(params, rows, cols, dtype);
    if (st != QK_OK)
        return st;
    const qk_backend *be;
    void *state;
    if ((st = qk_context_resolve(ctx, &be, &state)) != QK_OK)
        return st;
    qk_op op = dequantize ? QK_OP_DEQUANTIZE : QK_OP_QUANTIZE;
    if (!be->supports(state, QK_OP_QUANTIZE, params, dtype) || !be->supports(state, op, params, dtype))
        return qk_fail(QK_ERR_UNSUPPORTED, "backend %s cannot run %s with %s", be->name,
                       qk_format_name(params->format), qk_dtype_name(dtype));
    if (be->bench == NULL)
        return qk_fail(QK_ERR_UNSUPPORTED, "backend %s has no benchmark", be->name);
    qk_layout lay;
    qk_layout_query(params, rows, cols, &lay);
    double parts = 0.0;
    for (int i = 0; i < QK_PART_COUNT; i++)
        parts += (double)lay.part[i].nbytes;
    memset(out, 0, sizeof *out);
    fenv_t env;
    qk_fenv_enter(&env);
    st = be->bench(state, op, params, dtype, in, rows, cols, iterations, out);
    qk_fenv_leave(&env);
    out->bytes_moved = parts + (double)rows * (double)cols * (double)dtype_size(dtype);
    return st;
}
