/* qk_bench for OpenCL: the op on device-resident buffers, timed with
 * profiling events from its first command's start to its last command's end
 * (host round trips inside the op, like nvfp4's amax read, are inside that
 * span), and clEnqueueCopyBuffer of the input's size in the same call.
 * bitsandbytes double quant codes its absmax on the device after the
 * quantize (inside the span; the mean's records come back to the host), and
 * its dequantize rebuilds the absmax on the device first; only parts whose
 * nested scales are not finite take a host step, timed and added. */
#include <stdlib.h>

#include "../../cpu/cpu_internal.h"
#include "cl_internal.h"

static qk_status span(qcl_state *s, double *seconds)
{
    cl_ulong t0 = 0, t1 = 0;
    cl_event last = s->ev_last ? s->ev_last : s->ev_first;
    qk_status st = QK_OK;
    if (s->ev_first == NULL)
        st = qk_fail(QK_ERR_BACKEND_FAILURE, "opencl bench: the op enqueued nothing");
    if (st == QK_OK)
        st = qcl_check(s->cl->clGetEventProfilingInfo(s->ev_first, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL),
                       "clGetEventProfilingInfo");
    if (st == QK_OK)
        st = qcl_check(s->cl->clGetEventProfilingInfo(last, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL),
                       "clGetEventProfilingInfo");
    if (s->ev_first)
        s->cl->clReleaseEvent(s->ev_first);
    if (s->ev_last)
        s->cl->clReleaseEvent(s->ev_last);
    s->ev_first = s->ev_last = NULL;
    *seconds = (double)(t1 - t0) * 1e-9;
    return st;
}

/* bnb double quant's dequantize from parts the device must not rebuild
 * (non-finite nested scales): absmax on the host, uploaded; wall clock. */
static qk_status nested_host(qcl_state *s, cl_mem scale, size_t scale_bytes, uint32_t *absmax, uint8_t *codes,
                             void *nested, double *seconds)
{
    int64_t nb = (int64_t)(scale_bytes / 4);
    uint32_t offset;
    qk_bnb_nested_quantize(absmax, nb, codes, nested, &offset); /* parts as a caller holds them */
    double t0 = qk_bench_now();
    qk_cpu_bnb_nested_dequantize(&qk_host_exec, codes, nested, &offset, nb, absmax);
    qk_status st = qcl_check(s->cl->clEnqueueWriteBuffer(s->q, scale, CL_TRUE, 0, scale_bytes, absmax, 0, NULL, NULL),
                             "clEnqueueWriteBuffer");
    *seconds = qk_bench_now() - t0;
    return st;
}

qk_status qcl_bench(void *state, qk_op op, const qk_params *p, qk_dtype dt, const void *in, int64_t rows,
                    int64_t cols, int iterations, qk_bench_result *res)
{
    qcl_state *s = state;
    size_t in_bytes = (size_t)(rows * cols) * (dt == QK_DTYPE_F32 ? 4u : 2u), data_bytes, scale_bytes;
    qcl_dev_sizes(p, rows, cols, &data_bytes, &scale_bytes);
    int dq = (p->format == QK_FORMAT_NF4 || p->format == QK_FORMAT_FP4) && p->double_quant;
    double *samples = malloc(sizeof(double) * (size_t)iterations);
    uint32_t *absmax = dq ? malloc(scale_bytes) : NULL;
    uint8_t *codes = dq ? malloc(scale_bytes / 4 + 1) : NULL;
    void *nested = dq ? malloc(scale_bytes / 256 + 64) : NULL;
    cl_mem bin, bdata, bscale, bout, bcopy;
    uint32_t scalar = 0;
    qk_status st = samples && (!dq || (absmax && codes && nested)) ? QK_OK : qk_fail(QK_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == QK_OK)
        st = qcl_buffer(s, B_IN, in_bytes, &bin);
    if (st == QK_OK)
        st = qcl_buffer(s, B_DATA, data_bytes, &bdata);
    if (st == QK_OK)
        st = qcl_buffer(s, B_SCALE, scale_bytes, &bscale);
    if (st == QK_OK)
        st = qcl_buffer(s, B_OUT, in_bytes, &bout);
    if (st == QK_OK)
        st = qcl_check(s->cl->clEnqueueWriteBuffer(s->q, bin, CL_TRUE, 0, in_bytes, in, 0, NULL, NULL),
                       "clEnqueueWriteBuffer");
    /* Warm-up (and, for dequantize, the data to decode). */
    if (st == QK_OK)
        st = qcl_quantize_dev(s, p, dt, bin, rows, cols, bdata, bscale, &scalar);
    if (st == QK_OK)
        st = qcl_quantize_status(s, p);
    if (st == QK_OK && dq)
        st = qcl_check(s->cl->clEnqueueReadBuffer(s->q, bscale, CL_TRUE, 0, scale_bytes, absmax, 0, NULL, NULL),
                       "clEnqueueReadBuffer");
    /* ConvRot: the host's copy of the scales, as a caller's parts give it
     * (its rows pick the kernel) */
    void *host_scale = p->convrot_group > 0 && op == QK_OP_DEQUANTIZE ? malloc(scale_bytes) : NULL;
    if (st == QK_OK && p->convrot_group > 0 && op == QK_OP_DEQUANTIZE && host_scale == NULL)
        st = qk_fail(QK_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == QK_OK && host_scale)
        st = qcl_check(s->cl->clEnqueueReadBuffer(s->q, bscale, CL_TRUE, 0, scale_bytes, host_scale, 0, NULL, NULL),
                       "clEnqueueReadBuffer");
    if (st == QK_OK && op == QK_OP_DEQUANTIZE)
        st = qcl_dequantize_dev(s, p, dt, bdata, bscale, host_scale, scalar, rows, cols, bout);
    if (st == QK_OK)
        st = qcl_check(s->cl->clFinish(s->q), "clFinish");
    /* Double quant's dequantize rebuilds the absmax on the device from the
     * codes and nested absmax (uploaded here, as a caller's parts would be)
     * when those are finite: that kernel is then part of each timed op. */
    int64_t nb = (int64_t)(scale_bytes / 4);
    uint32_t offset = 0;
    cl_mem bcodes = NULL, bnested = NULL;
    int dq_dev = 0;
    if (st == QK_OK && dq && op == QK_OP_DEQUANTIZE) {
        qk_cpu_bnb_nested_quantize(&qk_host_exec, absmax, nb, codes, nested, &offset);
        const void *parts[QK_PART_COUNT] = {NULL, codes, nested, &offset};
        size_t nn = (size_t)qk_ceil_div(nb, 256);
        dq_dev = qk_bnb_nested_finite(parts, (int64_t)nn);
        if (dq_dev)
            st = qcl_buffer(s, B_TMP, (size_t)nb, &bcodes);
        if (st == QK_OK && dq_dev)
            st = qcl_buffer(s, B_NESTED, nn * 4, &bnested);
        if (st == QK_OK && dq_dev)
            st = qcl_check(s->cl->clEnqueueWriteBuffer(s->q, bcodes, CL_TRUE, 0, (size_t)nb, codes, 0, NULL, NULL),
                           "clEnqueueWriteBuffer");
        if (st == QK_OK && dq_dev)
            st = qcl_check(s->cl->clEnqueueWriteBuffer(s->q, bnested, CL_TRUE, 0, nn * 4, nested, 0, NULL, NULL),
                           "clEnqueueWriteBuffer");
    }
    if (st == QK_OK && dq && op == QK_OP_QUANTIZE) {
        st = qcl_buffer(s, B_TMP, (size_t)nb, &bcodes);
        if (st == QK_OK)
            st = qcl_buffer(s, B_NESTED, (size_t)qk_ceil_div(nb, 256) * 4, &bnested);
    }
    s->profiling = 1;
    for (int it = 0; it < iterations && st == QK_OK; it++) {
        double host = 0.0;
        if (dq_dev)
            st = qcl_nested_dequantize(s, bcodes, bnested, offset, 0, (uint64_t)nb, bscale);
        else if (dq && op == QK_OP_DEQUANTIZE)
            st = nested_host(s, bscale, scale_bytes, absmax, codes, nested, &host);
        size_t nrec = 0; /* double quant: the mean's records the quantize made */
        if (st == QK_OK && dq && op == QK_OP_QUANTIZE)
            st = qcl_quantize_dq_dev(s, p, dt, bin, rows, cols, bdata, bscale, &nrec);
        else if (st == QK_OK)
            st = op == QK_OP_QUANTIZE ? qcl_quantize_dev(s, p, dt, bin, rows, cols, bdata, bscale, &scalar)
                                      : qcl_dequantize_dev(s, p, dt, bdata, bscale, host_scale, scalar, rows, cols,
                                                           bout);
        if (st == QK_OK && dq && op == QK_OP_QUANTIZE)
            st = qcl_nested_quantize_dev(s, bscale, (uint64_t)nb, nrec, bcodes, bnested, &offset);
        if (st == QK_OK)
            st = qcl_check(s->cl->clFinish(s->q), "clFinish");
        if (st == QK_OK)
            st = span(s, &samples[it]);
        if (st == QK_OK)
            samples[it] += host;
    }
    s->profiling = 0;
    if (s->ev_first || s->ev_last) { /* an op that failed half-way */
        double ignored;
        span(s, &ignored);
    }
    if (st == QK_OK) {
        res->seconds = qk_bench_median(samples, iterations);
        st = qcl_buffer(s, B_TMP, in_bytes, &bcopy);
        for (int it = 0; it < iterations && st == QK_OK; it++) {
            cl_event ev;
            st = qcl_check(s->cl->clEnqueueCopyBuffer(s->q, bin, bcopy, 0, 0, in_bytes, 0, NULL, &ev),
                           "clEnqueueCopyBuffer");
            if (st != QK_OK)
                break;
            s->ev_first = ev;
            st = qcl_check(s->cl->clFinish(s->q), "clFinish");
            double t;
            qk_status st2 = span(s, &t);
            if (st == QK_OK)
                st = st2;
            samples[it] = t;
        }
        if (st == QK_OK) {
            res->copy_seconds = qk_bench_median(samples, iterations);
            res->copy_bytes = 2.0 * (double)in_bytes;
            res->iterations = iterations;
        }
    }
    free(samples);
    free(host_scale);
    free(absmax);
    free(codes);
    free(nested);
    return st;
}
