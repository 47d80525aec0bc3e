/* Backend registry, the `auto` policy and contexts. */
#include <fenv.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

/* Table order; `auto` applies its own preference below. */
static const qk_backend *const registry[] = {&qk_backend_cuda, &qk_backend_vulkan, &qk_backend_opencl,
                                             &qk_backend_cpu, &qk_backend_reference};

int qk_registry_count(void) { return (int)(sizeof registry / sizeof registry[0]); }

const qk_backend *qk_registry_get(int index)
{
    return index >= 0 && index < qk_registry_count() ? registry[index] : NULL;
}

const qk_backend *qk_registry_find(const char *name)
{
    for (int i = 0; i < qk_registry_count(); i++)
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

int qk_backend_count(void) { return qk_registry_count(); }

qk_status qk_backend_get_info(int index, qk_backend_info *out)
{
    const qk_backend *be = qk_registry_get(index);
    if (be == NULL || out == NULL)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "qk_backend_get_info: bad index %d or NULL out", index);
    const char *reason = "";
    int n = be->probe(&reason);
    out->name = be->name;
    out->built = be->built;
    out->available = n > 0;
    out->device_count = n;
    out->unavailable_reason = n > 0 ? "" : reason;
    return QK_OK;
}

qk_status qk_device_get_info(const char *backend, int device, qk_device_info *out)
{
    const qk_backend *be = backend ? qk_registry_find(backend) : NULL;
    if (be == NULL || out == NULL)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "unknown backend '%s'", backend ? backend : "(null)");
    const char *reason = "";
    int n = be->probe(&reason);
    if (device < 0 || device >= n)
        return qk_fail(n > 0 ? QK_ERR_INVALID_ARGUMENT : QK_ERR_BACKEND_UNAVAILABLE,
                       "%s: no device %d (%s)", be->name, device, n > 0 ? "out of range" : reason);
    memset(out, 0, sizeof *out);
    return be->device_info(device, out);
}

/* Device 0 is each backend's best device (GPUs sort first). */
static int first_device(const qk_backend *be, qk_device_info *di)
{
    const char *why;
    memset(di, 0, sizeof *di);
    return be->probe(&why) > 0 && be->device_info(0, di) == QK_OK && !di->host_cpu;
}

/* `auto`: CUDA on NVIDIA, Vulkan on AMD/Intel (and on NVIDIA without CUDA),
 * OpenCL as the fallback, the CPU last. Software devices on the host CPU (lavapipe,
 * PoCL) are passed by: the CPU backend does the same work faster. */
static const qk_backend *auto_backend(void)
{
    const qk_backend *cuda = qk_registry_find("cuda"), *vk = qk_registry_find("vulkan");
    const qk_backend *cl = qk_registry_find("opencl");
    qk_device_info di;
    if (first_device(cuda, &di))
        return cuda;
    if (first_device(vk, &di)) /* without CUDA, NVIDIA's Vulkan comes next too */
        return vk;
    if (first_device(cl, &di))
        return cl;
    return &qk_backend_cpu;
}

struct qk_context {
    const qk_backend *be;
    void *state;
    int device;
    qk_device_info info;
};

qk_status qk_context_create(const char *backend, int device, qk_context **out)
{
    if (out == NULL)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "qk_context_create: out is NULL");
    *out = NULL;
    if (backend == NULL || backend[0] == '\0') {
        backend = getenv("QK_BACKEND");
        if (backend == NULL || backend[0] == '\0')
            backend = "auto";
    }
    const qk_backend *be = strcmp(backend, "auto") == 0 ? auto_backend() : qk_registry_find(backend);
    if (be == NULL)
        return qk_fail(QK_ERR_INVALID_ARGUMENT,
                       "unknown backend '%s' (expected auto, cpu, cuda, vulkan, opencl or reference)", backend);
    const char *reason = "";
    int n = be->probe(&reason);
    if (n <= 0)
        return qk_fail(QK_ERR_BACKEND_UNAVAILABLE, "backend %s is unavailable: %s", be->name, reason);
    if (device < 0 || device >= n)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "backend %s has %d device(s); device %d does not exist",
                       be->name, n, device);
    qk_context *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return qk_fail(QK_ERR_OUT_OF_MEMORY, "out of memory");
    ctx->be = be;
    ctx->device = device;
    qk_status st = be->device_info(device, &ctx->info);
    if (st == QK_OK)
        st = be->open(device, &ctx->state);
    if (st != QK_OK) {
        free(ctx);
        return st;
    }
    *out = ctx;
    return QK_OK;
}

void qk_context_destroy(qk_context *ctx)
{
    if (ctx == NULL)
        return;
    ctx->be->close(ctx->state);
    free(ctx);
}

const char *qk_context_backend(const qk_context *ctx) { return ctx ? ctx->be->name : NULL; }
const char *qk_context_device(const qk_context *ctx) { return ctx ? ctx->info.name : NULL; }

qk_status qk_context_set_threads(qk_context *ctx, int threads)
{
    if (ctx == NULL || threads < 0)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "qk_context_set_threads: bad argument");
    if (ctx->be->set_threads == NULL)
        return QK_OK; /* device backends have no host worker threads */
    return ctx->be->set_threads(ctx->state, threads);
}

/* The context used when callers pass NULL: the CPU backend, created once. */
static qk_context *default_context(void)
{
    static qk_context ctx;
    static int ready;
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        static int lock;
        while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE))
            ;
        if (!ready) {
            ctx.be = &qk_backend_cpu;
            ctx.be->device_info(0, &ctx.info);
            if (ctx.be->open(0, &ctx.state) == QK_OK)
                __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
        }
        __atomic_store_n(&lock, 0, __ATOMIC_RELEASE);
    }
    return ready ? &ctx : NULL;
}

static qk_status resolve(qk_context **ctx)
{
    if (*ctx == NULL)
        *ctx = default_context();
    return *ctx ? QK_OK : qk_fail(QK_ERR_OUT_OF_MEMORY, "cannot create the default CPU context");
}

qk_status qk_context_resolve(qk_context *ctx, const qk_backend **be, void **state)
{
    qk_status st = resolve(&ctx);
    if (st != QK_OK)
        return st;
    *be = ctx->be;
    *state = ctx->state;
    return QK_OK;
}

/* The checks of every quantize/dequantize call: params, shape and dtype, the
 * host buffer (`in` or `out`) and every part the layout needs, then the
 * context (NULL: the default one) and whether its backend can do it. */
static qk_status begin_call(qk_op op, qk_context **ctx, const qk_params *params, int64_t rows, int64_t cols,
                            qk_dtype dtype, const void *buf, const void *const parts[QK_PART_COUNT])
{
    int q = op == QK_OP_QUANTIZE;
    const char *fn = q ? "qk_quantize" : "qk_dequantize";
    qk_clear_error();
    qk_status st = qk_check_call(params, rows, cols, dtype);
    if (st != QK_OK)
        return st;
    qk_layout lay;
    qk_layout_query(params, rows, cols, &lay);
    if (buf == NULL || parts == NULL)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "%s: NULL %s or parts", fn, q ? "input" : "output");
    /* The kernels load typed elements: C leaves a misaligned one undefined. */
    if ((uintptr_t)buf % qk_dtype_size(dtype) != 0)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "%s: the %s buffer is not aligned to its element size (%zu bytes)",
                       fn, q ? "input" : "output", qk_dtype_size(dtype));
    for (int i = 0; i < QK_PART_COUNT; i++) {
        if (lay.part[i].nbytes > 0 && parts[i] == NULL)
            return qk_fail(QK_ERR_INVALID_ARGUMENT, "%s: part %d needs %zu bytes but is NULL", fn, i,
                           lay.part[i].nbytes);
        size_t es = qk_dtype_size(lay.part[i].dtype);
        if (lay.part[i].nbytes > 0 && es > 1 && (uintptr_t)parts[i] % es != 0)
            return qk_fail(QK_ERR_INVALID_ARGUMENT, "%s: part %d is not aligned to its element size (%zu bytes)",
                           fn, i, es);
    }
    if ((st = resolve(ctx)) != QK_OK)
        return st;
    if (!(*ctx)->be->supports((*ctx)->state, op, params, dtype))
        return qk_fail(QK_ERR_UNSUPPORTED, "backend %s cannot %s %s %s %s", (*ctx)->be->name,
                       q ? "quantize" : "dequantize", qk_format_name(params->format), q ? "from" : "to",
                       qk_dtype_name(dtype));
    return QK_OK;
}

/* Every backend's host steps (scales, means, the CPU kernels) assume IEEE
 * defaults: round to nearest, no flush-to-zero. A host process may have
 * changed them; a call runs under the defaults (threads it starts inherit
 * them) and gives the caller's environment back. */
void qk_fenv_enter(fenv_t *saved)
{
    fegetenv(saved);
    fesetenv(FE_DFL_ENV);
}

void qk_fenv_leave(const fenv_t *saved) { fesetenv(saved); }

qk_status qk_quantize(qk_context *ctx, const qk_params *params, qk_dtype in_dtype, const void *in,
                      int64_t rows, int64_t cols, void *const parts[QK_PART_COUNT])
{
    qk_status st =
        begin_call(QK_OP_QUANTIZE, &ctx, params, rows, cols, in_dtype, in, (const void *const *)parts);
    if (st != QK_OK)
        return st;
    fenv_t env;
    qk_fenv_enter(&env);
    st = ctx->be->quantize(ctx->state, params, in_dtype, in, rows, cols, parts);
    qk_fenv_leave(&env);
    if (st == QK_ERR_NONFINITE && qk_last_error()[0] == '\0')
        qk_fail(st, "%s: the input holds NaN or Inf, which the format cannot encode",
                qk_format_name(params->format));
    return st;
}

qk_status qk_dequantize(qk_context *ctx, const qk_params *params, const void *const parts[QK_PART_COUNT],
                        int64_t rows, int64_t cols, qk_dtype out_dtype, void *out)
{
    qk_status st = begin_call(QK_OP_DEQUANTIZE, &ctx, params, rows, cols, out_dtype, out, parts);
    if (st != QK_OK)
        return st;
    fenv_t env;
    qk_fenv_enter(&env);
    st = ctx->be->dequantize(ctx->state, params, parts, rows, cols, out_dtype, out);
    qk_fenv_leave(&env);
    return st;
}
