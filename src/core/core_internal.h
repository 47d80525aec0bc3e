/* Internal interface of the core: errors, backend vtable and registry. */
#ifndef QK_CORE_INTERNAL_H
#define QK_CORE_INTERNAL_H

#include <fenv.h>
#include <stddef.h>

#include "qk/qk.h"

#define QK_STR2(x) #x
#define QK_STR(x) QK_STR2(x)
#define QK_VERSION_STRING                                                                          \
    QK_STR(QK_VERSION_MAJOR) "." QK_STR(QK_VERSION_MINOR) "." QK_STR(QK_VERSION_PATCH)

/* Records a message for qk_last_error() and returns status. */
qk_status qk_fail(qk_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void qk_clear_error(void);
/* Passes a message to the caller's qk_set_notice_handler hook, if any. */
void qk_notice(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

typedef enum qk_op { QK_OP_QUANTIZE = 0, QK_OP_DEQUANTIZE = 1 } qk_op;

/* A backend (ggml-style vtable). Every function but name/probe may assume
 * probe() reported at least one device. State is per context. */
typedef struct qk_backend {
    const char *name;
    int built; /* compiled into this libqk */
    /* Number of usable devices (0: unavailable, with a reason). Cheap after
     * the first call (results are cached by the backend). */
    int (*probe)(const char **reason);
    qk_status (*device_info)(int device, qk_device_info *out);
    qk_status (*open)(int device, void **state);
    void (*close)(void *state);
    int (*supports)(void *state, qk_op op, const qk_params *params, qk_dtype dtype);
    qk_status (*quantize)(void *state, const qk_params *params, qk_dtype in_dtype, const void *in,
                          int64_t rows, int64_t cols, void *const parts[QK_PART_COUNT]);
    qk_status (*dequantize)(void *state, const qk_params *params,
                            const void *const parts[QK_PART_COUNT], int64_t rows, int64_t cols,
                            qk_dtype out_dtype, void *out);
    qk_status (*sync)(void *state);
    qk_status (*set_threads)(void *state, int threads); /* NULL: not applicable */
    /* Times `op` on data resident where the backend computes (device memory
     * for GPUs; no host transfers in the timing) and a plain buffer copy of
     * `in`'s size there, in the same call. For QK_OP_DEQUANTIZE the backend
     * first quantizes `in` itself. Fills seconds, copy_seconds, copy_bytes and
     * iterations; the core fills bytes_moved. */
    qk_status (*bench)(void *state, qk_op op, const qk_params *params, qk_dtype dtype,
                       const void *in, int64_t rows, int64_t cols, int iterations,
                       qk_bench_result *out);
} qk_backend;

/* Registry in `auto` preference order is decided per device vendor; the
 * table order is: cuda, vulkan, opencl, cpu, reference. */
int qk_registry_count(void);
const qk_backend *qk_registry_get(int index);
const qk_backend *qk_registry_find(const char *name);

/* Every backend has an entry; unbuilt.c defines those this libqk lacks. */
extern const qk_backend qk_backend_cpu;
extern const qk_backend qk_backend_reference;
extern const qk_backend qk_backend_cuda;
extern const qk_backend qk_backend_vulkan;
extern const qk_backend qk_backend_opencl;

/* The backend and state behind a context (NULL ctx: the default CPU one). */
qk_status qk_context_resolve(qk_context *ctx, const qk_backend **be, void **state);

/* Benchmark helpers for backends: monotonic seconds, and the median of n
 * samples (sorts them in place). */
double qk_bench_now(void);
double qk_bench_median(double *samples, int n);

/* IEEE default float environment for the span of a call (registry.c). */
void qk_fenv_enter(fenv_t *saved);
void qk_fenv_leave(const fenv_t *saved);

/* Checks params, shape and dtype for an operation; message on failure. */
qk_status qk_check_call(const qk_params *params, int64_t rows, int64_t cols, qk_dtype dtype);

#endif
