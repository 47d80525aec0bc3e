/* The Vulkan backend's vtable: host <-> device transfers around the
 * recorded operations of vk_ops.c, the host steps of bitsandbytes double
 * quantization (the offset from the device's per-run sums), and the
 * benchmark. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cpu/cpu_internal.h"
#include "vk_internal.h"

static int vk_probe(const char **reason) { return qk_vk_devices(NULL, NULL, NULL, reason); }

static const char *vendor_name(uint32_t id)
{
    switch (id) {
    case 0x10DE: return "NVIDIA";
    case 0x1002: return "AMD";
    case 0x8086: return "Intel";
    case 0x13B5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x10005: return "Mesa";
    default: return NULL;
    }
}

static qk_status vk_device_info(int device, qk_device_info *out)
{
    const qk_vk_device *list;
    const char *why;
    int n = qk_vk_devices(NULL, NULL, &list, &why);
    if (device < 0 || device >= n)
        return qk_fail(QK_ERR_INVALID_ARGUMENT, "vulkan: no device %d", device);
    const qk_vk_device *d = &list[device];
    memset(out, 0, sizeof *out);
    size_t len = strnlen(d->props.deviceName, sizeof out->name - 1);
    memcpy(out->name, d->props.deviceName, len); /* truncated to qk_device_info.name */
    const char *v = vendor_name(d->props.vendorID);
    if (v)
        snprintf(out->vendor, sizeof out->vendor, "%s", v);
    else
        snprintf(out->vendor, sizeof out->vendor, "vendor 0x%04x", d->props.vendorID);
    out->memory_bytes = d->local_memory;
    out->host_cpu = d->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU; /* lavapipe: auto passes it by */
    return QK_OK;
}

static qk_status vk_open(int device, void **state)
{
    const qk_vk_api *api;
    const qk_vk_device *list;
    const char *why;
    int n = qk_vk_devices(&api, NULL, &list, &why);
    if (device < 0 || device >= n)
        return qk_fail(QK_ERR_BACKEND_UNAVAILABLE, "vulkan: no device %d (%s)", device, why);
    qk_vk_state *s;
    qk_status st = qk_vk_state_open(&list[device], api, &s);
    if (st == QK_OK)
        *state = s;
    return st;
}

static void vk_close(void *state) { qk_vk_state_close(state); }

static int vk_supports(void *state, qk_op op, const qk_params *p, qk_dtype dt)
{
    (void)state;
    (void)op;
    (void)p;
    return dt == QK_DTYPE_F32 || dt == QK_DTYPE_F16 || dt == QK_DTYPE_BF16;
}

static int has_flag(const qk_params *p)
{
    return p->format != QK_FORMAT_NF4 && p->format != QK_FORMAT_FP4;
}

/* Double quant's absmax into VB_AUX, from the nested parts: on the device
 * when the nested scales and the offset are finite (no NaN can arise), else
 * on the host, whose NaN results the reference defines. */
static qk_status nested_absmax_upload(qk_vk_state *s, const qk_vk_job *j, const void *const parts[QK_PART_COUNT])
{
    int64_t nb = (j->rows * j->cols + j->p->block_size - 1) / j->p->block_size;
    size_t nn = j->lay.part[QK_PART_SCALE2].nbytes / 4;
    if (qk_bnb_nested_finite(parts, (int64_t)nn)) {
        uint32_t off = qk_get_f32(parts[QK_PART_OFFSET], 0);
        qk_status st = qk_vk_upload(s, VB_SCALE, parts[QK_PART_SCALE], j->lay.part[QK_PART_SCALE].nbytes);
        if (st == QK_OK)
            st = qk_vk_upload(s, VB_SCALE2, parts[QK_PART_SCALE2], nn * 4);
        if (st == QK_OK)
            st = qk_vk_upload(s, VB_AMAX, &off, 4);
        if (st == QK_OK)
            st = qk_vk_begin(s);
        if (st == QK_OK) {
            st = qk_vk_record_nested_dequantize(s, j);
            qk_status st2 = qk_vk_submit_wait(s); /* ends the recording even after a failure */
            st = st == QK_OK ? st2 : st;
        }
        return st;
    }
    uint32_t *absmax = malloc((size_t)nb * 4);
    if (absmax == NULL)
        return qk_fail(QK_ERR_OUT_OF_MEMORY, "out of memory");
    qk_cpu_bnb_nested_dequantize(&qk_host_exec, parts[QK_PART_SCALE], parts[QK_PART_SCALE2],
                                 parts[QK_PART_OFFSET], nb, absmax);
    qk_status st = qk_vk_upload(s, VB_AUX, absmax, (VkDeviceSize)nb * 4);
    free(absmax);
    return st;
}

static qk_status run_recorded(qk_vk_state *s, const qk_vk_job *j, int dequantize)
{
    qk_status st = qk_vk_begin(s);
    if (st == QK_OK)
        st = dequantize ? qk_vk_record_dequantize(s, j) : qk_vk_record_quantize(s, j);
    qk_status st2 = qk_vk_submit_wait(s); /* ends the recording even after a failure */
    if (st == QK_OK)
        st = st2;
    qk_status sv = qk_vk_check_validation(s, dequantize ? "dequantize" : "quantize");
    return st == QK_OK ? sv : st;
}

static unsigned long mean_fallbacks;

unsigned long qk_vk_mean_fallbacks(void) { return __atomic_load_n(&mean_fallbacks, __ATOMIC_RELAXED); }

/* The offset by the host's sum of the downloaded absmax, then the nested
 * pass again with it. */
static qk_status host_mean_and_nested(qk_vk_state *s, const qk_vk_job *j, uint32_t *off)
{
    int64_t nb = (j->rows * j->cols + j->p->block_size - 1) / j->p->block_size;
    uint32_t *absmax = malloc((size_t)nb * 4 + 4);
    if (absmax == NULL)
        return qk_fail(QK_ERR_OUT_OF_MEMORY, "out of memory");
    qk_status st = qk_vk_download(s, VB_AUX, 0, absmax, (VkDeviceSize)nb * 4);
    if (st == QK_OK)
        *off = qk_bnb_absmax_mean(absmax, nb);
    free(absmax);
    if (st == QK_OK)
        st = qk_vk_upload(s, VB_AMAX, off, 4);
    if (st == QK_OK)
        st = qk_vk_begin(s);
    if (st == QK_OK) {
        st = qk_vk_record_nested(s, j);
        qk_status st2 = qk_vk_submit_wait(s);
        st = st == QK_OK ? st2 : st;
    }
    return st;
}

/* Double quant: the offset is src/ref/bnb_nested.c's mean -- a sequential
 * double sum divided by nb, rounded to f32. The quantize's recording
 * (qk_vk_record_finish) summed the absmax in exact per-run integers, took
 * the mean from them on the device where they prove the order irrelevant,
 * and coded the nested blocks with it. VB_AMAX holds {offset, proven}; the
 * offset and its flag are results, downloaded as the other parts are.
 * Unproven, the host sums the downloaded absmax (qk_bnb_absmax_mean, in
 * order where it matters) and the nested pass runs again with its mean. */
static qk_status nested_offset(qk_vk_state *s, const qk_vk_job *j, uint32_t *off)
{
    uint32_t res[2] = {0, 0};
    qk_status st = qk_vk_download(s, VB_AMAX, 0, res, sizeof res);
    if (st != QK_OK || res[1] == 1u) {
        *off = res[0];
        return st;
    }
    __atomic_fetch_add(&mean_fallbacks, 1, __ATOMIC_RELAXED);
    return host_mean_and_nested(s, j, off);
}

static qk_status nested_from_device(qk_vk_state *s, const qk_vk_job *j, void *const parts[QK_PART_COUNT])
{
    uint32_t off = 0;
    qk_status st = nested_offset(s, j, &off);
    if (st == QK_OK)
        qk_put_f32(parts[QK_PART_OFFSET], 0, off);
    if (st == QK_OK)
        st = qk_vk_download(s, VB_SCALE, 0, parts[QK_PART_SCALE], j->lay.part[QK_PART_SCALE].nbytes);
    if (st == QK_OK)
        st = qk_vk_download(s, VB_SCALE2, 0, parts[QK_PART_SCALE2], j->lay.part[QK_PART_SCALE2].nbytes);
    return st;
}

static unsigned long product_runs;

unsigned long qk_vk_product_runs(void) { return __atomic_load_n(&product_runs, __ATOMIC_RELAXED); }

/* Downloads the parts a quantize left on the device (the data part unless
 * a streamed run already brought it back). */
static qk_status fetch_parts(qk_vk_state *s, const qk_vk_job *j, void *const parts[QK_PART_COUNT], int with_data)
{
    if (has_flag(j->p)) {
        uint32_t flag = 0;
        qk_status st = qk_vk_download(s, VB_FLAG, 0, &flag, 4);
        if (st != QK_OK)
            return st;
        if (flag & 2u) /* the row/tile shaders coded by products */
            __atomic_add_fetch(&product_runs, 1, __ATOMIC_RELAXED);
        if (flag & 1u)
            return QK_ERR_NONFINITE;
    }
    qk_status st = with_data ? qk_vk_download(s, VB_DATA, 0, parts[QK_PART_DATA], j->lay.part[QK_PART_DATA].nbytes)
                             : QK_OK;
    if (st == QK_OK && !has_flag(j->p) && j->p->double_quant)
        return nested_from_device(s, j, parts);
    if (st == QK_OK)
        st = qk_vk_download(s, VB_SCALE, 0, parts[QK_PART_SCALE], j->lay.part[QK_PART_SCALE].nbytes);
    if (st == QK_OK && j->lay.part[QK_PART_SCALE2].nbytes > 0)
        st = qk_vk_download(s, VB_SCALE2, 0, parts[QK_PART_SCALE2], j->lay.part[QK_PART_SCALE2].nbytes);
    return st;
}

static qk_status vk_quantize(void *state, const qk_params *p, qk_dtype dt, const void *in, int64_t rows,
                             int64_t cols, void *const parts[QK_PART_COUNT])
{
    qk_vk_state *s = state;
    qk_vk_job j;
    qk_status st = qk_vk_job_init(&j, p, dt, rows, cols);
    int streamed = st == QK_OK && qk_vk_stream_fits(s, &j, 0);
    if (streamed) { /* pieces: upload, compute and download overlap */
        st = qk_vk_stream(s, &j, 0, in, parts[QK_PART_DATA]);
        if (st == QK_OK)
            st = qk_vk_check_validation(s, "quantize");
    } else {
        if (st == QK_OK)
            st = qk_vk_upload(s, VB_IN, in, qk_vk_input_bytes(&j));
        if (st == QK_OK)
            st = run_recorded(s, &j, 0);
    }
    if (st == QK_OK)
        st = fetch_parts(s, &j, parts, !streamed);
    return st == QK_OK ? qk_vk_check_validation(s, "quantize transfers") : st;
}

static qk_status upload_parts(qk_vk_state *s, const qk_vk_job *j, const void *const parts[QK_PART_COUNT],
                              int with_data)
{
    qk_status st = with_data ? qk_vk_upload(s, VB_DATA, parts[QK_PART_DATA], j->lay.part[QK_PART_DATA].nbytes)
                             : QK_OK;
    if (st == QK_OK && !has_flag(j->p) && j->p->double_quant)
        return nested_absmax_upload(s, j, parts);
    if (st == QK_OK)
        st = qk_vk_upload(s, VB_SCALE, parts[QK_PART_SCALE], j->lay.part[QK_PART_SCALE].nbytes);
    if (st == QK_OK && j->lay.part[QK_PART_SCALE2].nbytes > 0)
        st = qk_vk_upload(s, VB_SCALE2, parts[QK_PART_SCALE2], j->lay.part[QK_PART_SCALE2].nbytes);
    return st;
}

static qk_status vk_dequantize(void *state, const qk_params *p, const void *const parts[QK_PART_COUNT],
                               int64_t rows, int64_t cols, qk_dtype dt, void *out)
{
    qk_vk_state *s = state;
    qk_vk_job j;
    qk_status st = qk_vk_job_init(&j, p, dt, rows, cols);
    int streamed = st == QK_OK && qk_vk_stream_fits(s, &j, 1);
    if (st == QK_OK)
        st = upload_parts(s, &j, parts, !streamed);
    if (st == QK_OK && streamed) { /* the data part and the output go in pieces */
        st = qk_vk_stream(s, &j, 1, parts[QK_PART_DATA], out);
        if (st == QK_OK)
            st = qk_vk_check_validation(s, "dequantize");
    } else if (st == QK_OK) {
        st = run_recorded(s, &j, 1);
        if (st == QK_OK)
            st = qk_vk_download(s, VB_OUT, 0, out, qk_vk_input_bytes(&j));
    }
    return st == QK_OK ? qk_vk_check_validation(s, "dequantize transfers") : st;
}

static qk_status vk_sync(void *state)
{
    qk_vk_state *s = state;
    return s->d.vkDeviceWaitIdle(s->device) == VK_SUCCESS ? QK_OK
                                                          : qk_fail(QK_ERR_BACKEND_FAILURE, "vulkan: device lost");
}

/* ---- benchmark ------------------------------------------------------------
 * One command buffer holds every iteration: the op, a vkCmdCopyBuffer of the
 * input and a compute-shader copy of it, with a timestamp after each
 * (BOTTOM_OF_PIPE behind a full barrier: the moment all earlier work
 * finished). The ceiling is the faster copy's median: on NVIDIA's compute
 * queue vkCmdCopyBuffer reached a fifth of cuMemcpyDtoD, slower than some
 * kernels, so it alone would flatter them. The GPU never idles between
 * iterations, so clocks stay up; the buffer is submitted once untimed first
 * (warm-up, buffers and pipelines created). Without timestamps, host time
 * around the submission. */
typedef qk_status (*recorder)(qk_vk_state *s, const qk_vk_job *j);

static qk_status record_copy(qk_vk_state *s, const qk_vk_job *j)
{
    VkBufferCopy c = {0, 0, qk_vk_input_bytes(j)};
    s->d.vkCmdCopyBuffer(s->cmd, s->bufs[VB_IN].buf, s->bufs[VB_OUT].buf, 1, &c);
    return QK_OK;
}

/* Double quant's dequantize as a call runs it on finite nested parts: the
 * absmax rebuilt from the codes and nested absmax, then the data decoded. */
static qk_status record_nested_dequantize(qk_vk_state *s, const qk_vk_job *j)
{
    qk_status st = qk_vk_record_nested_dequantize(s, j);
    qk_vk_compute_barrier(s);
    return st == QK_OK ? qk_vk_record_dequantize(s, j) : st;
}

/* Timestamps per iteration: after the op, the transfer copy, the shader copy. */
#define BENCH_STEPS 3u

static qk_status timed_batch(qk_vk_state *s, const qk_vk_job *j, recorder rec, int iterations, VkQueryPool qp,
                             double *op_s, double *copy_s, double *shader_s)
{
    qk_status st = qk_vk_begin(s);
    if (st != QK_OK)
        return st;
    uint32_t nq = BENCH_STEPS * (uint32_t)iterations + 1u;
    if (qp) {
        s->d.vkCmdResetQueryPool(s->cmd, qp, 0, nq);
        s->d.vkCmdWriteTimestamp(s->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, qp, 0);
    }
    for (int it = 0; it < iterations && st == QK_OK; it++) {
        for (uint32_t k = 1; k <= BENCH_STEPS && st == QK_OK; k++) {
            st = k == 1 ? rec(s, j)
               : k == 2 ? record_copy(s, j)
                        : qk_vk_record_copy(s, VB_IN, VB_OUT, qk_vk_input_bytes(j));
            qk_vk_barrier(s);
            if (qp)
                s->d.vkCmdWriteTimestamp(s->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, qp,
                                         BENCH_STEPS * (uint32_t)it + k);
        }
    }
    double t0 = qk_bench_now();
    qk_status st2 = qk_vk_submit_wait(s);
    double host = qk_bench_now() - t0;
    if (st == QK_OK)
        st = st2;
    if (st == QK_OK)
        st = qk_vk_check_validation(s, "bench");
    if (st != QK_OK)
        return st;
    if (qp == VK_NULL_HANDLE) { /* no timestamps: split the batch's host time evenly */
        for (int it = 0; it < iterations; it++)
            op_s[it] = copy_s[it] = shader_s[it] = host / (BENCH_STEPS * (double)iterations);
        return QK_OK;
    }
    uint64_t *ts = malloc(sizeof(uint64_t) * nq);
    if (ts == NULL)
        return qk_fail(QK_ERR_OUT_OF_MEMORY, "out of memory");
    VkResult r = s->d.vkGetQueryPoolResults(s->device, qp, 0, nq, sizeof(uint64_t) * nq, ts, sizeof ts[0],
                                            VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
    uint64_t mask = s->dev->timestamp_bits >= 64 ? ~0ull : ((1ull << s->dev->timestamp_bits) - 1);
    double tick = (double)s->dev->props.limits.timestampPeriod * 1e-9;
    for (int it = 0; it < iterations; it++) {
        const uint64_t *t = ts + BENCH_STEPS * (size_t)it;
        op_s[it] = (double)((t[1] - t[0]) & mask) * tick;
        copy_s[it] = (double)((t[2] - t[1]) & mask) * tick;
        shader_s[it] = (double)((t[3] - t[2]) & mask) * tick;
    }
    free(ts);
    return r == VK_SUCCESS ? QK_OK : qk_fail(QK_ERR_BACKEND_FAILURE, "vulkan: timestamp query failed (%d)", (int)r);
}

/* The op's and the faster copy's medians of a batch (sorts the samples). */
static void batch_medians(int iterations, double *op_s, double *copy_s, double *shader_s, double *op, double *copy)
{
    double xfer = qk_bench_median(copy_s, iterations), shader = qk_bench_median(shader_s, iterations);
    *op = qk_bench_median(op_s, iterations);
    *copy = shader < xfer ? shader : xfer;
}

static int within(double a, double b, double tol) { return a <= b * (1.0 + tol) && b <= a * (1.0 + tol); }

/* Warm-up, then the timed batch: batches for at least 0.2 s, and until two
 * batches in a row agree (op and copy medians within 2%), for at most 3 s.
 * A single warm-up batch left the first row of two H200 benches at a
 * quarter of its speed beside a copy at 9% and 41% of its own; on the
 * H100, 0.2 s of warm-up still left about one process in two with a copy
 * (and op) near 57% of the usual for its whole 20 ms batch. The last batch
 * is the one reported. QK_BENCH_TRACE=1 prints every batch's medians;
 * QK_BENCH_WARMUP_S sets the least warm-up (seconds, below 3). */
static qk_status settled_batch(qk_vk_state *s, const qk_vk_job *j, recorder rec, int iterations, VkQueryPool qp,
                               double *op_s, double *copy_s, double *shader_s)
{
    const char *trace = getenv("QK_BENCH_TRACE"), *warm = getenv("QK_BENCH_WARMUP_S");
    double least = warm ? strtod(warm, NULL) : 0.2, t0 = qk_bench_now(), op0 = 0.0, copy0 = 0.0;
    least = least > 0.0 && least < 3.0 ? least : 0.2;
    size_t n3 = (size_t)iterations * BENCH_STEPS;
    double *tmp = malloc(sizeof(double) * n3); /* medians sort: the batch's own samples stay for the caller */
    if (tmp == NULL)
        return qk_fail(QK_ERR_OUT_OF_MEMORY, "out of memory");
    qk_status st = QK_OK;
    for (int n = 0; st == QK_OK; n++) {
        st = timed_batch(s, j, rec, iterations, qp, op_s, copy_s, shader_s);
        if (st != QK_OK)
            break;
        double t = qk_bench_now() - t0, op, copy;
        memcpy(tmp, op_s, sizeof(double) * n3); /* op_s, copy_s and shader_s: one block (vk_bench) */
        batch_medians(iterations, tmp, tmp + iterations, tmp + 2 * iterations, &op, &copy);
        if (trace && *trace && strcmp(trace, "0") != 0)
            fprintf(stderr, "qk vulkan bench: batch %d at %.3f s: op %.4f ms, copy %.4f ms\n", n, t, op * 1e3,
                    copy * 1e3);
        if (t >= 3.0 || (t >= least && n > 0 && within(op, op0, 0.02) && within(copy, copy0, 0.02)))
            break;
        op0 = op;
        copy0 = copy;
    }
    free(tmp);
    return st;
}

static qk_status vk_bench(void *state, qk_op op, const qk_params *p, qk_dtype dt, const void *in, int64_t rows,
                          int64_t cols, int iterations, qk_bench_result *res)
{
    qk_vk_state *s = state;
    qk_vk_job j;
    qk_status st = qk_vk_job_init(&j, p, dt, rows, cols);
    void *host_parts[QK_PART_COUNT] = {0};
    double *op_s = malloc(sizeof(double) * (size_t)iterations * BENCH_STEPS);
    double *copy_s = op_s ? op_s + iterations : NULL, *shader_s = op_s ? op_s + 2 * iterations : NULL;
    int dq_host = !has_flag(p) && p->double_quant; /* host step of double quant */
    VkQueryPool qp = VK_NULL_HANDLE;
    if (op_s == NULL)
        st = qk_fail(QK_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < QK_PART_COUNT && st == QK_OK && dq_host; i++)
        if (j.lay.part[i].nbytes > 0 && (host_parts[i] = malloc(j.lay.part[i].nbytes)) == NULL)
            st = qk_fail(QK_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == QK_OK && s->dev->timestamp_bits > 0) {
        VkQueryPoolCreateInfo qpi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                     .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                     .queryCount = BENCH_STEPS * (uint32_t)iterations + 1u};
        if (s->d.vkCreateQueryPool(s->device, &qpi, NULL, &qp) != VK_SUCCESS)
            qp = VK_NULL_HANDLE;
    }
    if (st == QK_OK)
        st = qk_vk_upload(s, VB_IN, in, qk_vk_input_bytes(&j));
    if (st == QK_OK)
        st = qk_vk_reserve(s, VB_OUT, qk_vk_input_bytes(&j));
    /* Double quant's dequantize, as the CUDA and OpenCL benches time it: on
     * finite nested parts (uploaded once here, as a caller's would be) the
     * absmax is rebuilt on the device inside each timed op; otherwise the
     * host rebuilds and uploads it, and that host step is timed below. */
    int dq_dev = 0;
    if (st == QK_OK && op == QK_OP_DEQUANTIZE) {
        st = run_recorded(s, &j, 0);
        if (st == QK_OK && dq_host && (st = fetch_parts(s, &j, host_parts, 1)) == QK_OK) {
            dq_dev = qk_bnb_nested_finite((const void *const *)host_parts,
                                          (int64_t)(j.lay.part[QK_PART_SCALE2].nbytes / 4));
            st = nested_absmax_upload(s, &j, (const void *const *)host_parts);
        }
    }
    recorder rec = op == QK_OP_QUANTIZE ? qk_vk_record_quantize
                 : dq_dev               ? record_nested_dequantize
                                        : qk_vk_record_dequantize;
    if (st == QK_OK)
        st = settled_batch(s, &j, rec, iterations, qp, op_s, copy_s, shader_s);
    /* double quant's host part where a call pays one: a quantize whose
     * records did not prove the mean sums the absmax on the host and codes
     * the nested blocks again; a dequantize of non-finite nested parts
     * rebuilds the absmax on the host and uploads it */
    uint32_t mean[2] = {0, 1};
    if (st == QK_OK && dq_host && op == QK_OP_QUANTIZE)
        st = qk_vk_download(s, VB_AMAX, 0, mean, sizeof mean);
    int host_part = dq_host && (op == QK_OP_QUANTIZE ? mean[1] != 1u : !dq_dev);
    for (int it = 0; it < iterations && st == QK_OK && host_part; it++) {
        double t0 = qk_bench_now();
        uint32_t off;
        st = op == QK_OP_QUANTIZE ? host_mean_and_nested(s, &j, &off)
                                  : nested_absmax_upload(s, &j, (const void *const *)host_parts);
        op_s[it] += qk_bench_now() - t0;
    }
    if (st == QK_OK) {
        /* the faster of the two copies (same bytes moved) is the ceiling */
        batch_medians(iterations, op_s, copy_s, shader_s, &res->seconds, &res->copy_seconds);
        res->copy_bytes = 2.0 * (double)qk_vk_input_bytes(&j);
        res->iterations = iterations;
    }
    if (qp)
        s->d.vkDestroyQueryPool(s->device, qp, NULL);
    for (int i = 0; i < QK_PART_COUNT; i++)
        free(host_parts[i]);
    free(op_s);
    return st;
}

const qk_backend qk_backend_vulkan = {
    "vulkan", 1, vk_probe, vk_device_info, vk_open, vk_close, vk_supports,
    vk_quantize, vk_dequantize, vk_sync, NULL, vk_bench,
};
