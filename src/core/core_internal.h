/* Internal interface of the core: errors, backend vtable and registry. */
#ifndef QK_CORE_INTERNAL_H
#define QK_CORE_INTERNAL_H

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
} qk_backend;

/* Registry in `auto` preference order is decided per device vendor; the
 * table order is: cuda, vulkan, opencl, cpu. */
int qk_registry_count(void);
const qk_backend *qk_registry_get(int index);
const qk_backend *qk_registry_find(const char *name);

extern const qk_backend qk_backend_cpu;
extern const qk_backend qk_backend_cuda_stub;
extern const qk_backend qk_backend_vulkan_stub;
extern const qk_backend qk_backend_opencl_stub;

/* Checks params, shape and dtype for an operation; message on failure. */
qk_status qk_check_call(const qk_params *params, int64_t rows, int64_t cols, qk_dtype dtype);

#endif
