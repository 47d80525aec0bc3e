/* OpenCL backend: the registry entry (qk_backend_opencl), contexts, and the
 * vtable; the host-buffer path (chunked upload, kernels, download) is
 * cl_stream.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../cuda/qk_fast_codec.h" /* qkf_bnb_code_table */
#include "../../ref/ref_internal.h"
#include "cl_internal.h"

static int opencl_probe(const char **reason)
{
    const qcl_device *d;
    return qcl_devices(&d, reason);
}

static qk_status opencl_device_info(int device, qk_device_info *out)
{
    const qcl_device *d;
    if (device < 0 || device >= qcl_devices(&d, NULL))
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "opencl: no device %d", device);
    memset(out, 0, sizeof *out);
    /* The platform tells apart the same GPU seen by two drivers (e.g. NVIDIA and PoCL). */
    snprintf(out->name, sizeof out->name, "%.80s [%.40s]", d[device].name, d[device].platform_name);
    snprintf(out->vendor, sizeof out->vendor, "%s", d[device].vendor);
    out->memory_bytes = d[device].global_mem;
    out->compute_units = d[device].compute_units;
    out->host_cpu = d[device].host_cpu;
    return QK_OK;
}

static void opencl_close(void *state)
{
    qcl_state *s = state;
    if (s == NULL)
        return;
    const qcl_api *cl = s->cl;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < B_COUNT; i++)
            if (s->buf[k][i])
                cl->clReleaseMemObject(s->buf[k][i]);
    if (s->rcp_bf16)
        cl->clReleaseMemObject(s->rcp_bf16);
    if (s->rcp_f16)
        cl->clReleaseMemObject(s->rcp_f16);
    if (s->code_fp4)
        cl->clReleaseMemObject(s->code_fp4);
    if (s->code_nf4)
        cl->clReleaseMemObject(s->code_nf4);
    if (s->dmap)
        cl->clReleaseMemObject(s->dmap);
    if (s->dmap_code)
        cl->clReleaseMemObject(s->dmap_code);
    for (int i = 0; i < K_COUNT; i++)
        if (s->k[i])
            cl->clReleaseKernel(s->k[i]);
    if (s->prog)
        cl->clReleaseProgram(s->prog);
    for (int k = 0; k < 2; k++)
        if (s->qs[k])
            cl->clReleaseCommandQueue(s->qs[k]);
    if (s->ctx)
        cl->clReleaseContext(s->ctx);
    free(s);
}

static qk_status upload_table(qcl_state *s, const uint32_t *t, size_t n, cl_mem *out)
{
    cl_int err;
    *out = s->cl->clCreateBuffer(s->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, n * 4, (void *)t, &err);
    return qcl_check(err, "clCreateBuffer (reciprocal table)");
}

/* The NF4/FP4 code-by-bucket tables of bnb4_quantize64 and double quant's
 * dynamic-map lookup of bnb_nested_quantize (cuda/qk_fast_codec.h). */
static qk_status upload_code_tables(qcl_state *s)
{
    uint32_t t[2][QKF_BNB_BUCKETS], d[QKF_DMAP_BUCKETS];
    if (qkf_bnb_code_table(0, t[0]) != 0 || qkf_bnb_code_table(1, t[1]) != 0)
        return qk_fail(QK_ERR_BACKEND_FAILURE, "opencl: an FP4/NF4 code bucket holds two thresholds");
    if (qkf_dmap_table(qk_bnb_dynamic_map_code, d) != 0)
        return qk_fail(QK_ERR_BACKEND_FAILURE, "opencl: a dynamic-map bucket holds two thresholds");
    qk_status st = upload_table(s, t[0], QKF_BNB_BUCKETS, &s->code_fp4);
    if (st == QK_OK)
        st = upload_table(s, d, QKF_DMAP_BUCKETS, &s->dmap_code);
    return st == QK_OK ? upload_table(s, t[1], QKF_BNB_BUCKETS, &s->code_nf4) : st;
}

/* Element bytes per chunk of a host op: QK_OPENCL_CHUNK_BYTES (tests force
 * tiny chunks with it), else a sixth of device memory within the largest
 * allocation, so that two slots of input, codes and scratch fit. */
static size_t chunk_limit(const qcl_device *d)
{
    const char *env = getenv("QK_OPENCL_CHUNK_BYTES");
    if (env != NULL && strtoull(env, NULL, 10) > 0)
        return (size_t)strtoull(env, NULL, 10);
    uint64_t lim = d->global_mem / 6;
    if (d->max_alloc < lim)
        lim = d->max_alloc;
    return (size_t)(lim > 0 ? lim : 1);
}

void qcl_use_slot(qcl_state *s, int slot)
{
    s->slot = slot;
    s->q = s->qs[slot];
}

static qk_status opencl_open(int device, void **state)
{
    const qcl_device *d;
    if (device < 0 || device >= qcl_devices(&d, NULL))
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "opencl: no device %d", device);
    qcl_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return qk_fail(QK_ERR_OUT_OF_MEMORY, "out of memory");
    s->cl = qcl_load(NULL);
    s->dev = &d[device];
    const char *soft = getenv("QK_OPENCL_SOFTFLOAT");
    s->soft_float = soft != NULL && strcmp(soft, "1") == 0; /* tests the integer-code kernels */
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)s->dev->platform, 0};
    s->ctx = s->cl->clCreateContext(props, 1, &s->dev->device, NULL, NULL, &err);
    qk_status st = qcl_check(err, "clCreateContext");
    for (int k = 0; k < 2 && st == QK_OK; k++) {
        s->qs[k] = s->cl->clCreateCommandQueue(s->ctx, s->dev->device, CL_QUEUE_PROFILING_ENABLE, &err);
        st = qcl_check(err, "clCreateCommandQueue");
    }
    qcl_use_slot(s, 0);
    s->chunk_bytes = chunk_limit(s->dev);
    if (st == QK_OK && !s->soft_float)
        s->native_ieee = qcl_probe_ieee(s, s->dev->cr_divide);
    if (st == QK_OK)
        st = qcl_program_build(s);
    if (st == QK_OK)
        st = upload_table(s, qk_bnb_rcp_bf16, 128, &s->rcp_bf16);
    if (st == QK_OK)
        st = upload_table(s, qk_bnb_rcp_f16, 1024, &s->rcp_f16);
    if (st == QK_OK)
        st = upload_table(s, qk_bnb_dynamic_map, 256, &s->dmap);
    if (st == QK_OK)
        st = upload_code_tables(s);
    if (st != QK_OK) {
        opencl_close(s);
        return st;
    }
    *state = s;
    return QK_OK;
}

static int opencl_supports(void *state, qk_op op, const qk_params *p, qk_dtype dt)
{
    (void)state;
    (void)op;
    (void)p;
    return dt == QK_DTYPE_F32 || dt == QK_DTYPE_F16 || dt == QK_DTYPE_BF16;
}

qk_status qcl_buffer(qcl_state *s, qcl_buf_role role, size_t size, cl_mem *out)
{
    int k = (role == B_STATUS || role == B_PARAM || role == B_TABLE16) ? 0 : s->slot;
    size = (size + 63) / 64 * 64;
    if (size == 0)
        size = 64;
    if (s->buf[k][role] != NULL && s->buf_size[k][role] >= size) {
        *out = s->buf[k][role];
        return QK_OK;
    }
    if (size > s->dev->max_alloc)
        return qk_fail(QK_ERR_UNSUPPORTED, "opencl: a %zu-byte buffer exceeds %s's largest allocation (%llu bytes)",
                       size, s->dev->name, (unsigned long long)s->dev->max_alloc);
    if (s->buf[k][role] != NULL) {
        s->cl->clReleaseMemObject(s->buf[k][role]);
        s->buf[k][role] = NULL;
        s->buf_size[k][role] = 0;
    }
    cl_int err;
    s->buf[k][role] = s->cl->clCreateBuffer(s->ctx, CL_MEM_READ_WRITE, size, NULL, &err);
    if (err != CL_SUCCESS) {
        s->buf[k][role] = NULL;
        return qcl_check(err, "clCreateBuffer");
    }
    s->buf_size[k][role] = size;
    *out = s->buf[k][role];
    return QK_OK;
}

static qk_status opencl_quantize(void *state, const qk_params *p, qk_dtype dt, const void *in, int64_t rows,
                                 int64_t cols, void *const parts[QK_PART_COUNT])
{
    return qcl_host_quantize(state, p, dt, in, rows, cols, parts);
}

static qk_status opencl_dequantize(void *state, const qk_params *p, const void *const parts[QK_PART_COUNT],
                                   int64_t rows, int64_t cols, qk_dtype dt, void *out)
{
    return qcl_host_dequantize(state, p, parts, rows, cols, dt, out);
}

static qk_status opencl_sync(void *state)
{
    qcl_state *s = state;
    qk_status st = qcl_check(s->cl->clFinish(s->qs[0]), "clFinish");
    qk_status st1 = qcl_check(s->cl->clFinish(s->qs[1]), "clFinish");
    return st != QK_OK ? st : st1;
}

qk_status qcl_product_codes_check(int device, int dt, uint32_t w0, uint32_t stride, uint64_t pairs, uint64_t *fails,
                                  uint32_t *first, int *int8_divides)
{
    void *state;
    qk_status st = opencl_open(device, &state);
    if (st != QK_OK)
        return st;
    st = qcl_run_product_codes_check(state, dt, w0, stride, pairs, fails, first, int8_divides);
    opencl_close(state);
    return st;
}

qk_status qcl_int8_scalars_check(int device, int dt, uint32_t *fails, uint32_t *first, int *divides)
{
    void *state;
    qk_status st = opencl_open(device, &state);
    if (st != QK_OK)
        return st;
    st = qcl_run_int8_scalars_check(state, dt, fails, first, divides);
    opencl_close(state);
    return st;
}

qk_status qcl_f32_codes_check(int device, uint32_t base, uint64_t count, uint64_t *fails, uint32_t *first,
                              uint64_t *near, int *divides)
{
    void *state;
    qk_status st = opencl_open(device, &state);
    if (st != QK_OK)
        return st;
    st = qcl_run_f32_codes_check(state, base, count, fails, first, near, divides);
    opencl_close(state);
    return st;
}

const qk_backend qk_backend_opencl = {
    "opencl", 1, opencl_probe, opencl_device_info, opencl_open, opencl_close, opencl_supports,
    opencl_quantize, opencl_dequantize, opencl_sync, NULL, qcl_bench,
};
