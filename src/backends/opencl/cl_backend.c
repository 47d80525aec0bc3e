/* OpenCL backend: the registry entry (qk_backend_opencl), contexts, and the
 * host-buffer path: upload, run the device op, download. bitsandbytes'
 * double quantization runs on the host with the reference's own code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    for (int i = 0; i < B_COUNT; i++)
        if (s->buf[i])
            cl->clReleaseMemObject(s->buf[i]);
    if (s->rcp_bf16)
        cl->clReleaseMemObject(s->rcp_bf16);
    if (s->rcp_f16)
        cl->clReleaseMemObject(s->rcp_f16);
    for (int i = 0; i < K_COUNT; i++)
        if (s->k[i])
            cl->clReleaseKernel(s->k[i]);
    if (s->prog)
        cl->clReleaseProgram(s->prog);
    if (s->q)
        cl->clReleaseCommandQueue(s->q);
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
    if (st == QK_OK) {
        s->q = s->cl->clCreateCommandQueue(s->ctx, s->dev->device, CL_QUEUE_PROFILING_ENABLE, &err);
        st = qcl_check(err, "clCreateCommandQueue");
    }
    if (st == QK_OK)
        st = qcl_program_build(s);
    if (st == QK_OK)
        st = upload_table(s, qk_bnb_rcp_bf16, 128, &s->rcp_bf16);
    if (st == QK_OK)
        st = upload_table(s, qk_bnb_rcp_f16, 1024, &s->rcp_f16);
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
    size = (size + 63) / 64 * 64;
    if (size == 0)
        size = 64;
    if (s->buf[role] != NULL && s->buf_size[role] >= size) {
        *out = s->buf[role];
        return QK_OK;
    }
    if (size > s->dev->max_alloc)
        return qk_fail(QK_ERR_UNSUPPORTED, "opencl: a %zu-byte buffer exceeds %s's largest allocation (%llu bytes)",
                       size, s->dev->name, (unsigned long long)s->dev->max_alloc);
    if (s->buf[role] != NULL) {
        s->cl->clReleaseMemObject(s->buf[role]);
        s->buf[role] = NULL;
        s->buf_size[role] = 0;
    }
    cl_int err;
    s->buf[role] = s->cl->clCreateBuffer(s->ctx, CL_MEM_READ_WRITE, size, NULL, &err);
    if (err != CL_SUCCESS) {
        s->buf[role] = NULL;
        return qcl_check(err, "clCreateBuffer");
    }
    s->buf_size[role] = size;
    *out = s->buf[role];
    return QK_OK;
}

static size_t esize(qk_dtype dt) { return dt == QK_DTYPE_F32 ? 4 : 2; }

static qk_status write_buf(qcl_state *s, cl_mem b, const void *src, size_t n)
{
    if (n == 0)
        return QK_OK;
    return qcl_check(s->cl->clEnqueueWriteBuffer(s->q, b, CL_FALSE, 0, n, src, 0, NULL, NULL), "clEnqueueWriteBuffer");
}

static qk_status read_buf(qcl_state *s, cl_mem b, void *dst, size_t n)
{
    if (n == 0)
        return QK_OK;
    return qcl_check(s->cl->clEnqueueReadBuffer(s->q, b, CL_FALSE, 0, n, dst, 0, NULL, NULL), "clEnqueueReadBuffer");
}

static int is_bnb(const qk_params *p) { return p->format == QK_FORMAT_NF4 || p->format == QK_FORMAT_FP4; }

static qk_status opencl_quantize(void *state, const qk_params *p, qk_dtype dt, const void *in, int64_t rows,
                                 int64_t cols, void *const parts[QK_PART_COUNT])
{
    qcl_state *s = state;
    size_t in_bytes = (size_t)(rows * cols) * esize(dt), data_bytes, scale_bytes;
    qcl_dev_sizes(p, rows, cols, &data_bytes, &scale_bytes);
    int dq = is_bnb(p) && p->double_quant;
    cl_mem bin, bdata, bscale;
    uint32_t scalar = 0, *absmax = NULL;
    qk_status st = qcl_buffer(s, B_IN, in_bytes, &bin);
    if (st == QK_OK)
        st = qcl_buffer(s, B_DATA, data_bytes, &bdata);
    if (st == QK_OK)
        st = qcl_buffer(s, B_SCALE, scale_bytes, &bscale);
    if (st == QK_OK)
        st = write_buf(s, bin, in, in_bytes);
    if (st == QK_OK)
        st = qcl_quantize_dev(s, p, dt, bin, rows, cols, bdata, bscale, &scalar);
    if (st == QK_OK)
        st = qcl_quantize_status(s, p);
    if (st == QK_OK)
        st = read_buf(s, bdata, parts[QK_PART_DATA], data_bytes);
    if (st == QK_OK && dq && (absmax = malloc(scale_bytes)) == NULL)
        st = qk_fail(QK_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == QK_OK)
        st = read_buf(s, bscale, dq ? (void *)absmax : parts[QK_PART_SCALE], scale_bytes);
    if (st == QK_OK)
        st = qcl_check(s->cl->clFinish(s->q), "clFinish");
    else
        s->cl->clFinish(s->q); /* nothing may still write into the caller's memory */
    if (st == QK_OK && dq)
        qk_bnb_nested_quantize(absmax, (int64_t)(scale_bytes / 4), parts[QK_PART_SCALE], parts[QK_PART_SCALE2],
                               parts[QK_PART_OFFSET]);
    if (st == QK_OK && p->format == QK_FORMAT_NVFP4)
        qk_put_f32(parts[QK_PART_SCALE2], 0, scalar);
    free(absmax);
    return st;
}

static qk_status opencl_dequantize(void *state, const qk_params *p, const void *const parts[QK_PART_COUNT],
                                   int64_t rows, int64_t cols, qk_dtype dt, void *out)
{
    qcl_state *s = state;
    size_t out_bytes = (size_t)(rows * cols) * esize(dt), data_bytes, scale_bytes;
    qcl_dev_sizes(p, rows, cols, &data_bytes, &scale_bytes);
    int dq = is_bnb(p) && p->double_quant;
    uint32_t *absmax = NULL, scalar = p->format == QK_FORMAT_NVFP4 ? qk_get_f32(parts[QK_PART_SCALE2], 0) : 0;
    const void *scale_src = parts[QK_PART_SCALE];
    if (dq) { /* the nested absmax is reconstructed on the host, as the reference does */
        if ((absmax = malloc(scale_bytes)) == NULL)
            return qk_fail(QK_ERR_OUT_OF_MEMORY, "out of memory");
        qk_bnb_nested_dequantize(parts[QK_PART_SCALE], parts[QK_PART_SCALE2], parts[QK_PART_OFFSET],
                                 (int64_t)(scale_bytes / 4), absmax);
        scale_src = absmax;
    }
    cl_mem bdata, bscale, bout;
    qk_status st = qcl_buffer(s, B_DATA, data_bytes, &bdata);
    if (st == QK_OK)
        st = qcl_buffer(s, B_SCALE, scale_bytes, &bscale);
    if (st == QK_OK)
        st = qcl_buffer(s, B_OUT, out_bytes, &bout);
    if (st == QK_OK)
        st = write_buf(s, bdata, parts[QK_PART_DATA], data_bytes);
    if (st == QK_OK)
        st = write_buf(s, bscale, scale_src, scale_bytes);
    if (st == QK_OK)
        st = qcl_dequantize_dev(s, p, dt, bdata, bscale, scalar, rows, cols, bout);
    if (st == QK_OK)
        st = read_buf(s, bout, out, out_bytes);
    cl_int err = s->cl->clFinish(s->q);
    if (st == QK_OK)
        st = qcl_check(err, "clFinish");
    free(absmax);
    return st;
}

static qk_status opencl_sync(void *state)
{
    qcl_state *s = state;
    return qcl_check(s->cl->clFinish(s->q), "clFinish");
}

const qk_backend qk_backend_opencl = {
    "opencl", 1, opencl_probe, opencl_device_info, opencl_open, opencl_close, opencl_supports,
    opencl_quantize, opencl_dequantize, opencl_sync, NULL, qcl_bench,
};
