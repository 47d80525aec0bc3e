/* Quantize / dequantize on the GPU for host buffers, and the benchmark.
 *
 * Every format is a short plan (cuda_plans.c): a first pass over chunks of
 * the input as they arrive, an optional host step on small per-group data
 * (scales computed by the reference's own helpers), an optional second pass,
 * and the DATA bytes each chunk produces. The driver below overlaps the
 * chunk uploads, the kernels and the downloads on three streams. */
#include <stdlib.h>
#include <string.h>

#include "cuda_plans.h"

/* About 32 MiB of input per chunk (st->chunk_bytes): enough to keep the
 * GPU busy, small enough that transfers and kernels of neighbouring chunks
 * overlap. */
static int64_t chunk_units(const cu_state *st, const cu_plan *pl, size_t es)
{
    int64_t per = pl->unit_elems > 0 ? st->chunk_bytes / (pl->unit_elems * (int64_t)es) : pl->units;
    if (per < 1)
        per = 1;
    per = qk_round_up(per, pl->align);
    return per;
}

void cu_job_free(cu_job *j)
{
    cu_state *st = j->st;
    st->cu->StreamSynchronize(st->s_in);
    st->cu->StreamSynchronize(st->s_comp);
    st->cu->StreamSynchronize(st->s_out);
    st->pend_dst[0] = st->pend_dst[1] = NULL;
    for (int i = 0; i < QK_PART_COUNT; i++)
        if (j->part[i])
            st->cu->MemFree(j->part[i]);
    if (j->buf)
        st->cu->MemFree(j->buf);
    if (j->work)
        st->cu->MemFree(j->work);
    if (j->work2)
        st->cu->MemFree(j->work2);
    if (j->table16)
        st->cu->MemFree(j->table16);
    free(j->host_tmp);
}

static qk_status job_alloc(cu_job *j)
{
    cu_state *st = j->st;
    for (int i = 0; i < QK_PART_COUNT; i++)
        if (j->lay.part[i].nbytes > 0 && st->cu->MemAlloc(&j->part[i], j->lay.part[i].nbytes) != CUDA_SUCCESS)
            return qk_fail(QK_ERR_OUT_OF_MEMORY, "cuda: cannot allocate %zu bytes of device memory",
                           j->lay.part[i].nbytes);
    size_t nbuf = (size_t)j->n * j->es;
    if (st->cu->MemAlloc(&j->buf, nbuf) != CUDA_SUCCESS)
        return qk_fail(QK_ERR_OUT_OF_MEMORY, "cuda: cannot allocate %zu bytes of device memory", nbuf);
    return QK_OK;
}

static void job_init(cu_job *j, cu_state *st, const qk_params *p, qk_dtype dt, int64_t rows, int64_t cols)
{
    memset(j, 0, sizeof *j);
    j->st = st;
    j->p = p;
    j->dt = dt;
    j->rows = rows;
    j->cols = cols;
    j->n = rows * cols;
    j->es = qk_dtype_size(dt);
    qk_layout_query(p, rows, cols, &j->lay);
}

/* ---- quantize ------------------------------------------------------------ */

/* The device part of a quantize: passes over [u_begin, u_end) in chunks.
 * With a host input the chunks are uploaded first and their DATA bytes
 * downloaded as soon as they are final. */
static qk_status run_quantize(cu_job *j, const cu_plan *pl, const unsigned char *in_host, void *const parts[4])
{
    cu_state *st = j->st;
    qk_status s = pl->prepare ? pl->prepare(j) : QK_OK;
    int64_t step = in_host ? chunk_units(st, pl, j->es) : pl->units;
    unsigned char *data_host = parts && !j->bench ? parts[QK_PART_DATA] : NULL;
    for (int64_t u0 = 0; u0 < pl->units && s == QK_OK; u0 += step) {
        int64_t u1 = u0 + step < pl->units ? u0 + step : pl->units;
        if (in_host) {
            int64_t e0, e1;
            pl->in_range(j, u0, u1, &e0, &e1);
            s = cu_upload(st, j->buf + (CUdeviceptr)(e0 * (int64_t)j->es), in_host + e0 * (int64_t)j->es,
                          (size_t)(e1 - e0) * j->es);
            if (s == QK_OK)
                s = cu_upload_ready(st);
        }
        if (s == QK_OK)
            s = pl->pass1(j, u0, u1);
        if (s == QK_OK && pl->between == NULL && data_host) {
            size_t b0, b1;
            pl->data_range(j, u0, u1, &b0, &b1);
            s = cu_download(st, data_host + b0, j->part[QK_PART_DATA] + b0, b1 - b0);
        }
    }
    if (s == QK_OK && pl->between) {
        s = pl->between(j, parts);
        for (int64_t u0 = 0; u0 < pl->units && s == QK_OK; u0 += step) {
            int64_t u1 = u0 + step < pl->units ? u0 + step : pl->units;
            s = pl->pass2(j, u0, u1);
            if (s == QK_OK && data_host) {
                size_t b0, b1;
                pl->data_range(j, u0, u1, &b0, &b1);
                s = cu_download(st, data_host + b0, j->part[QK_PART_DATA] + b0, b1 - b0);
            }
        }
    }
    if (s == QK_OK)
        s = cu_download_drain(st);
    if (s == QK_OK && pl->finish)
        s = pl->finish(j, parts);
    return s;
}

qk_status cu_quantize(cu_state *st, const qk_params *p, qk_dtype dt, const void *in, int64_t rows, int64_t cols,
                      void *const parts[QK_PART_COUNT])
{
    cu_job j;
    job_init(&j, st, p, dt, rows, cols);
    cu_plan pl;
    qk_status s = cu_plan_quantize(&j, &pl);
    if (s == QK_OK)
        s = job_alloc(&j);
    if (s == QK_OK)
        s = run_quantize(&j, &pl, in, parts);
    cu_job_free(&j);
    return s;
}

/* ---- dequantize ------------------------------------------------------------ */

static qk_status run_dequantize(cu_job *j, const cu_plan *pl, const void *const parts[4], unsigned char *out_host)
{
    cu_state *st = j->st;
    qk_status s = pl->prepare ? pl->prepare(j) : QK_OK;
    int64_t step = out_host ? chunk_units(st, pl, j->es) : pl->units;
    const unsigned char *data = parts[QK_PART_DATA];
    for (int64_t u0 = 0; u0 < pl->units && s == QK_OK; u0 += step) {
        int64_t u1 = u0 + step < pl->units ? u0 + step : pl->units;
        if (out_host) {
            size_t b0, b1;
            pl->data_range(j, u0, u1, &b0, &b1);
            s = cu_upload(st, j->part[QK_PART_DATA] + b0, data + b0, b1 - b0);
            if (s == QK_OK)
                s = cu_upload_ready(st);
        }
        if (s == QK_OK)
            s = pl->pass1(j, u0, u1);
        if (s == QK_OK && out_host) {
            int64_t e0, e1;
            pl->in_range(j, u0, u1, &e0, &e1);
            s = cu_download(st, out_host + e0 * (int64_t)j->es, j->buf + (CUdeviceptr)(e0 * (int64_t)j->es),
                            (size_t)(e1 - e0) * j->es);
        }
    }
    if (s == QK_OK)
        s = cu_download_drain(st);
    return s;
}

/* Uploads the parts other than DATA (scales: small). */
static qk_status upload_small_parts(cu_job *j, const void *const parts[4])
{
    for (int i = 1; i < QK_PART_COUNT; i++)
        if (j->lay.part[i].nbytes > 0) {
            qk_status s = cu_upload(j->st, j->part[i], parts[i], j->lay.part[i].nbytes);
            if (s != QK_OK)
                return s;
        }
    return cu_upload_ready(j->st);
}

qk_status cu_dequantize(cu_state *st, const qk_params *p, const void *const parts[QK_PART_COUNT], int64_t rows,
                        int64_t cols, qk_dtype dt, void *out)
{
    cu_job j;
    job_init(&j, st, p, dt, rows, cols);
    j.hparts_in = parts;
    cu_plan pl;
    qk_status s = cu_plan_dequantize(&j, &pl);
    if (s == QK_OK)
        s = job_alloc(&j);
    if (s == QK_OK)
        s = upload_small_parts(&j, parts);
    if (s == QK_OK)
        s = run_dequantize(&j, &pl, parts, out);
    cu_job_free(&j);
    return s;
}

/* ---- benchmark ------------------------------------------------------------- */

static qk_status timed(cu_state *st, float *ms)
{
    CU_CHECK(st->cu->EventSynchronize(st->ev_t1));
    CU_CHECK(st->cu->EventElapsedTime(ms, st->ev_t0, st->ev_t1));
    return QK_OK;
}

/* Everything lives on the device: the input (uploaded untimed), the parts;
 * one iteration is the whole device-side operation including its small
 * host steps (per-group scales, the double-quant mean), timed by events
 * on the compute stream. */
qk_status cu_bench(cu_state *st, qk_op op, const qk_params *p, qk_dtype dt, const void *in, int64_t rows,
                   int64_t cols, int iterations, qk_bench_result *res)
{
    cu_job j;
    job_init(&j, st, p, dt, rows, cols);
    j.bench = 1;
    size_t in_bytes = (size_t)j.n * j.es;
    void *hparts[QK_PART_COUNT] = {0};
    double *samples = malloc(sizeof(double) * (size_t)iterations);
    CUdeviceptr copy = 0;
    qk_status s = samples ? QK_OK : qk_fail(QK_ERR_OUT_OF_MEMORY, "cuda bench: out of memory");
    for (int i = 0; i < QK_PART_COUNT && s == QK_OK; i++)
        if (j.lay.part[i].nbytes > 0 && (hparts[i] = malloc(j.lay.part[i].nbytes)) == NULL)
            s = qk_fail(QK_ERR_OUT_OF_MEMORY, "cuda bench: out of memory");
    cu_plan pl;
    if (s == QK_OK)
        s = op == QK_OP_QUANTIZE ? cu_plan_quantize(&j, &pl) : QK_OK;
    if (s == QK_OK)
        s = job_alloc(&j);
    if (s == QK_OK && st->cu->MemAlloc(&copy, in_bytes) != CUDA_SUCCESS)
        s = qk_fail(QK_ERR_OUT_OF_MEMORY, "cuda bench: cannot allocate the copy buffer");
    if (s == QK_OK && op == QK_OP_QUANTIZE) {
        s = cu_upload(st, j.buf, in, in_bytes);
        if (s == QK_OK)
            s = cu_upload_ready(st);
    } else if (s == QK_OK) {
        /* quantize on this backend (host path), then put the parts on the device */
        s = cu_quantize(st, p, dt, in, rows, cols, hparts);
        j.hparts_in = (const void *const *)hparts;
        if (s == QK_OK)
            s = cu_plan_dequantize(&j, &pl);
        if (s == QK_OK)
            s = cu_upload(st, j.part[QK_PART_DATA], hparts[QK_PART_DATA], j.lay.part[QK_PART_DATA].nbytes);
        if (s == QK_OK)
            s = upload_small_parts(&j, (const void *const *)hparts);
    }
    /* one warm-up, then the timed iterations */
    for (int it = -1; it < iterations && s == QK_OK; it++) {
        if (st->cu->EventRecord(st->ev_t0, st->s_comp) != CUDA_SUCCESS)
            s = cu_fail("cuEventRecord", 1);
        if (s == QK_OK)
            s = op == QK_OP_QUANTIZE ? run_quantize(&j, &pl, NULL, hparts)
                                     : run_dequantize(&j, &pl, (const void *const *)hparts, NULL);
        if (s == QK_OK && st->cu->EventRecord(st->ev_t1, st->s_comp) != CUDA_SUCCESS)
            s = cu_fail("cuEventRecord", 1);
        float ms = 0.0f;
        if (s == QK_OK)
            s = timed(st, &ms);
        if (it >= 0)
            samples[it] = ms * 1e-3;
    }
    if (s == QK_OK) {
        res->seconds = qk_bench_median(samples, iterations);
        for (int it = -1; it < iterations && s == QK_OK; it++) {
            float ms = 0.0f;
            if (st->cu->EventRecord(st->ev_t0, st->s_comp) != CUDA_SUCCESS ||
                st->cu->MemcpyDtoDAsync(copy, j.buf, in_bytes, st->s_comp) != CUDA_SUCCESS ||
                st->cu->EventRecord(st->ev_t1, st->s_comp) != CUDA_SUCCESS)
                s = cu_fail("cuMemcpyDtoDAsync", 1);
            if (s == QK_OK)
                s = timed(st, &ms);
            if (it >= 0)
                samples[it] = ms * 1e-3;
        }
        res->copy_seconds = qk_bench_median(samples, iterations);
        res->copy_bytes = 2.0 * (double)in_bytes;
        res->iterations = iterations;
    }
    cu_job_free(&j);
    if (copy)
        st->cu->MemFree(copy);
    for (int i = 0; i < QK_PART_COUNT; i++)
        free(hparts[i]);
    free(samples);
    return s;
}
