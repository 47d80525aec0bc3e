/* CPU backend: the fast kernels of src/cpu (the reference kernels where a
 * format has none), split over worker threads.
 *
 * Work is cut into ranges that write disjoint bytes, so the result does not
 * depend on the thread count (src/core/host_threads.c). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/core_internal.h"
#include "../cpu/cpu_internal.h"

typedef struct {
    int threads;   /* 0 = online CPUs */
    int reference; /* the "reference" backend: plain reference kernels, one thread */
} cpu_state;

static int cpu_probe(const char **reason)
{
    (void)reason;
    return 1;
}

static qk_status cpu_device_info(int device, qk_device_info *out)
{
    (void)device;
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "CPU (%d threads)", qk_online_cpus());
    snprintf(out->vendor, sizeof out->vendor, "host");
    out->compute_units = qk_online_cpus();
    out->host_cpu = 1;
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    out->memory_bytes = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0;
    return QK_OK;
}

static qk_status cpu_open(int device, void **state)
{
    (void)device;
    cpu_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return qk_fail(QK_ERR_OUT_OF_MEMORY, "out of memory");
    *state = s;
    return QK_OK;
}

static qk_status reference_open(int device, void **state)
{
    qk_status st = cpu_open(device, state);
    if (st == QK_OK)
        ((cpu_state *)*state)->reference = 1;
    return st;
}

static qk_status reference_device_info(int device, qk_device_info *out)
{
    (void)device;
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "C reference kernels (1 thread)");
    snprintf(out->vendor, sizeof out->vendor, "host");
    out->compute_units = 1;
    out->host_cpu = 1;
    return QK_OK;
}

static void cpu_close(void *state) { free(state); }

static int cpu_supports(void *state, qk_op op, const qk_params *p, qk_dtype dt)
{
    (void)state;
    (void)op;
    (void)p;
    return dt == QK_DTYPE_F32 || dt == QK_DTYPE_F16 || dt == QK_DTYPE_BF16;
}

static void cpu_parallel_for(const qk_exec *ex, int64_t n, int64_t grain, qk_range_fn fn, void *arg)
{
    const cpu_state *s = ex->impl;
    qk_run_on_threads(s->reference ? 1 : s->threads, n, grain, fn, arg);
}

/* One call: the fast kernel where the format has one (never for the
 * "reference" backend), else the reference kernel (the core runs every call
 * under IEEE defaults).
 * Quantize reads `in` and writes qparts; dequantize reads dparts and writes out. */
static qk_status cpu_run(void *state, qk_op op, const qk_params *params, qk_dtype dt, int64_t rows,
                         int64_t cols, const void *in, void *const qparts[QK_PART_COUNT],
                         const void *const dparts[QK_PART_COUNT], void *out)
{
    qk_exec ex = {cpu_parallel_for, state};
    qk_ref_args a = {&ex, params, dt, rows, cols};
    int fast = !((cpu_state *)state)->reference;
    qk_status st = QK_ERR_UNSUPPORTED;
    if (op == QK_OP_QUANTIZE) {
        if (fast)
            st = qk_cpu_quantize(&a, in, qparts);
        if (st == QK_ERR_UNSUPPORTED)
            st = qk_ref_quantize(&a, in, qparts);
    } else {
        if (fast)
            st = qk_cpu_dequantize(&a, dparts, out);
        if (st == QK_ERR_UNSUPPORTED)
            st = qk_ref_dequantize(&a, dparts, out);
    }
    return st;
}

static qk_status cpu_quantize(void *state, const qk_params *params, qk_dtype dt, const void *in,
                              int64_t rows, int64_t cols, void *const parts[QK_PART_COUNT])
{
    return cpu_run(state, QK_OP_QUANTIZE, params, dt, rows, cols, in, parts, NULL, NULL);
}

static qk_status cpu_dequantize(void *state, const qk_params *params, const void *const parts[QK_PART_COUNT],
                                int64_t rows, int64_t cols, qk_dtype dt, void *out)
{
    return cpu_run(state, QK_OP_DEQUANTIZE, params, dt, rows, cols, NULL, NULL, parts, out);
}

static qk_status cpu_sync(void *state)
{
    (void)state;
    return QK_OK;
}

static qk_status cpu_set_threads(void *state, int threads)
{
    ((cpu_state *)state)->threads = threads > 256 ? 256 : threads;
    return QK_OK;
}

/* Host memory is the CPU's device memory: the op runs on host buffers and the
 * ceiling is memcpy of a buffer the input's size. */
static qk_status cpu_bench(void *state, qk_op op, const qk_params *p, qk_dtype dt, const void *in,
                           int64_t rows, int64_t cols, int iterations, qk_bench_result *res)
{
    qk_layout lay;
    qk_layout_query(p, rows, cols, &lay);
    size_t in_bytes = (size_t)(rows * cols) * (dt == QK_DTYPE_F32 ? 4u : 2u);
    void *parts[QK_PART_COUNT] = {0};
    unsigned char *out = malloc(in_bytes), *copy = malloc(in_bytes);
    double *samples = malloc(sizeof(double) * (size_t)iterations);
    qk_status st = out && copy && samples ? QK_OK : QK_ERR_OUT_OF_MEMORY;
    for (int i = 0; i < QK_PART_COUNT && st == QK_OK; i++)
        if (lay.part[i].nbytes > 0 && (parts[i] = malloc(lay.part[i].nbytes)) == NULL)
            st = QK_ERR_OUT_OF_MEMORY;
    if (st == QK_OK && op == QK_OP_DEQUANTIZE)
        st = cpu_quantize(state, p, dt, in, rows, cols, parts);
    for (int it = 0; it < iterations && st == QK_OK; it++) {
        double t0 = qk_bench_now();
        st = op == QK_OP_QUANTIZE ? cpu_quantize(state, p, dt, in, rows, cols, parts)
                                  : cpu_dequantize(state, p, (const void *const *)parts, rows, cols, dt, out);
        samples[it] = qk_bench_now() - t0;
    }
    if (st == QK_OK) {
        res->seconds = qk_bench_median(samples, iterations);
        for (int it = 0; it < iterations; it++) {
            double t0 = qk_bench_now();
            memcpy(copy, in, in_bytes);
            samples[it] = qk_bench_now() - t0;
        }
        res->copy_seconds = qk_bench_median(samples, iterations);
        res->copy_bytes = 2.0 * (double)in_bytes;
        res->iterations = iterations;
    } else if (st == QK_ERR_OUT_OF_MEMORY) {
        qk_fail(st, "cpu bench: out of memory");
    }
    for (int i = 0; i < QK_PART_COUNT; i++)
        free(parts[i]);
    free(out);
    free(copy);
    free(samples);
    return st;
}

const qk_backend qk_backend_cpu = {
    "cpu", 1, cpu_probe, cpu_device_info, cpu_open, cpu_close, cpu_supports,
    cpu_quantize, cpu_dequantize, cpu_sync, cpu_set_threads, cpu_bench,
};

/* The reference kernels as a backend of their own: what every other backend
 * is checked against (crosscheck), never picked by `auto`. */
const qk_backend qk_backend_reference = {
    "reference", 1, cpu_probe, reference_device_info, reference_open, cpu_close, cpu_supports,
    cpu_quantize, cpu_dequantize, cpu_sync, NULL, cpu_bench,
};
