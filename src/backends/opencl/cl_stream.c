/* Host-buffer quantize/dequantize: upload, device op, download. A tensor
 * larger than s->chunk_bytes (element bytes) passes in chunks of whole scale
 * groups: rows in multiples of the format's row alignment (128 for the
 * blocked nvfp4/mxfp8 scale layout, the tile height for block scaling), or
 * whole blocks of the flattened tensor for bitsandbytes. Every chunk runs as
 * a tensor of its own shape, and because it starts on a group boundary its
 * parts are exactly the bytes of the whole tensor's parts from the prefix's
 * sizes on. Chunks alternate two in-order queues with a buffer set each, so
 * one chunk's transfers overlap the other's kernels. Per-tensor scales
 * (nvfp4, tensor-scaled float8/int8) take an amax pass over every chunk
 * before any code is written. bitsandbytes' double quantization: a single
 * chunk codes its absmax on the device; chunks each send back the exact
 * records of the mean (qk_bnb_mean_from_partials) with their absmax, and the
 * host codes the nested blocks. */
#include <stdlib.h>
#include <string.h>

#include "../../cpu/cpu_internal.h"
#include "cl_internal.h"

static size_t esize(qk_dtype dt) { return dt == QK_DTYPE_F32 ? 4 : 2; }

static int is_bnb(const qk_params *p) { return p->format == QK_FORMAT_NF4 || p->format == QK_FORMAT_FP4; }

static int tensor_scaled(const qk_params *p) { return qcl_needs_amax(p) && p->format != QK_FORMAT_NVFP4; }

typedef struct {
    int bnb;
    int64_t rows, cols; /* the whole tensor */
    int64_t total;      /* rows (bnb: elements) */
    int64_t step;       /* rows (bnb: elements) per chunk */
    int64_t count;      /* chunks */
} plan;

static plan make_plan(const qcl_state *s, const qk_params *p, qk_dtype dt, int64_t rows, int64_t cols)
{
    plan pl = {is_bnb(p), rows, cols, 0, 0, 1};
    int64_t unit_bytes, align;
    if (pl.bnb) {
        pl.total = rows * cols;
        unit_bytes = (int64_t)esize(dt);
        align = p->block_size;
    } else {
        pl.total = rows;
        unit_bytes = cols * (int64_t)esize(dt);
        align = (p->format == QK_FORMAT_NVFP4 || p->format == QK_FORMAT_MXFP8) ? 128
                : (p->format == QK_FORMAT_INT8_BLOCKWISE || p->scaling == QK_SCALING_BLOCK) ? p->block_size
                                                                                           : 1;
    }
    int64_t per = unit_bytes > 0 ? (int64_t)(s->chunk_bytes / (size_t)unit_bytes) / align * align : 0;
    if (per < align)
        per = align;
    pl.step = per < pl.total ? per : pl.total;
    if (pl.step > 0)
        pl.count = (pl.total + pl.step - 1) / pl.step;
    return pl;
}

/* Chunk i: the shape it runs as, and the shape of everything before it. */
static void chunk_shape(const plan *pl, int64_t i, int64_t *r, int64_t *c, int64_t *pr, int64_t *pc)
{
    int64_t start = i * pl->step, n = pl->total - start < pl->step ? pl->total - start : pl->step;
    if (pl->count == 1)
        n = pl->total;
    if (pl->bnb) {
        *r = 1, *c = n, *pr = 1, *pc = start;
    } else {
        *r = n, *c = pl->cols, *pr = start, *pc = pl->cols;
    }
}

/* Device DATA/SCALE bytes of a shape; zero for an empty prefix. */
static void sizes(const qk_params *p, int64_t r, int64_t c, size_t *data, size_t *scale)
{
    *data = *scale = 0;
    if (r > 0 && c > 0)
        qcl_dev_sizes(p, r, c, data, scale);
}

static qk_status put(qcl_state *s, cl_mem b, const void *src, size_t n)
{
    if (n == 0)
        return QK_OK;
    return qcl_check(s->cl->clEnqueueWriteBuffer(s->q, b, CL_FALSE, 0, n, src, 0, NULL, NULL),
                     "clEnqueueWriteBuffer");
}

static qk_status get(qcl_state *s, cl_mem b, void *dst, size_t n)
{
    if (n == 0)
        return QK_OK;
    return qcl_check(s->cl->clEnqueueReadBuffer(s->q, b, CL_FALSE, 0, n, dst, 0, NULL, NULL),
                     "clEnqueueReadBuffer");
}

/* A chunk's kernels start after the previous chunk's, though chunks
 * alternate queues: only the transfers overlap the other queue's kernels.
 * PoCL 5.0's CPU driver finds a compiled work-group function to release by
 * kernel and local size alone, so one kernel in flight on both queues at
 * once with different grid sizes trips its reference-count assertion
 * (pocl_release_dlhandle_cache, seen on the H200 machine). Call
 * kernels_begin before a chunk's first kernel, kernels_end after its last. */
static qk_status kernels_begin(qcl_state *s)
{
    if (s->kernels_done == NULL)
        return QK_OK;
    cl_int err = s->cl->clEnqueueBarrierWithWaitList(s->q, 1, &s->kernels_done, NULL);
    s->cl->clReleaseEvent(s->kernels_done);
    s->kernels_done = NULL;
    return qcl_check(err, "clEnqueueBarrierWithWaitList");
}

static qk_status kernels_end(qcl_state *s)
{
    return qcl_check(s->cl->clEnqueueMarkerWithWaitList(s->q, 0, NULL, &s->kernels_done),
                     "clEnqueueMarkerWithWaitList");
}

/* Waits for both queues (always both: nothing may still touch the caller's
 * memory after an op returns); the first error wins. */
static qk_status finish_all(qcl_state *s, qk_status st)
{
    for (int k = 0; k < 2; k++) {
        cl_int err = s->cl->clFinish(s->qs[k]);
        if (st == QK_OK)
            st = qcl_check(err, "clFinish");
    }
    if (s->kernels_done != NULL) {
        s->cl->clReleaseEvent(s->kernels_done);
        s->kernels_done = NULL;
    }
    qcl_use_slot(s, 0);
    return st;
}

/* Uploads chunk i's input into the current slot. */
static qk_status upload_input(qcl_state *s, const plan *pl, qk_dtype dt, const void *in, int64_t i, cl_mem *bin)
{
    int64_t r, c, pr, pc;
    chunk_shape(pl, i, &r, &c, &pr, &pc);
    size_t es = esize(dt);
    qk_status st = qcl_buffer(s, B_IN, (size_t)(r * c) * es, bin);
    return st == QK_OK ? put(s, *bin, (const uint8_t *)in + (size_t)(pr * pc) * es, (size_t)(r * c) * es) : st;
}

/* Double quant in one chunk: every step on the device, only the codes,
 * the nested absmax and the data come back. */
static qk_status quantize_single_dq(qcl_state *s, const qk_params *p, qk_dtype dt, const void *in, int64_t rows,
                                    int64_t cols, void *const parts[QK_PART_COUNT])
{
    size_t data_n, scale_n;
    qcl_dev_sizes(p, rows, cols, &data_n, &scale_n);
    uint64_t nb = scale_n / 4, nn = (nb + 255) / 256;
    uint32_t off = 0;
    cl_mem bin, bdata, bscale, bcodes, bnested;
    qcl_use_slot(s, 0);
    qk_status st = qcl_buffer(s, B_IN, (size_t)(rows * cols) * esize(dt), &bin);
    if (st == QK_OK)
        st = put(s, bin, in, (size_t)(rows * cols) * esize(dt));
    if (st == QK_OK)
        st = qcl_buffer(s, B_DATA, data_n, &bdata);
    if (st == QK_OK)
        st = qcl_buffer(s, B_SCALE, scale_n, &bscale);
    if (st == QK_OK)
        st = qcl_buffer(s, B_TMP, (size_t)nb, &bcodes);
    if (st == QK_OK)
        st = qcl_buffer(s, B_NESTED, (size_t)nn * 4, &bnested);
    size_t nrec = 0;
    if (st == QK_OK)
        st = qcl_quantize_dq_dev(s, p, dt, bin, rows, cols, bdata, bscale, &nrec);
    if (st == QK_OK)
        st = get(s, bdata, parts[QK_PART_DATA], data_n);
    if (st == QK_OK)
        st = qcl_nested_quantize_dev(s, bscale, nb, nrec, bcodes, bnested, &off);
    if (st == QK_OK)
        st = get(s, bcodes, parts[QK_PART_SCALE], (size_t)nb);
    if (st == QK_OK)
        st = get(s, bnested, parts[QK_PART_SCALE2], (size_t)nn * 4);
    st = finish_all(s, st);
    if (st == QK_OK)
        qk_put_f32(parts[QK_PART_OFFSET], 0, off);
    return st;
}

/* Enqueues the mean records of a chunk's nb absmax and their download to
 * rec + *nrec records. */
static qk_status chunk_records(qcl_state *s, cl_mem absmax, size_t nb, uint32_t *rec, int64_t *nrec)
{
    size_t count = (nb + QK_BNB_PARTIAL_RUN - 1) / QK_BNB_PARTIAL_RUN;
    cl_mem brec;
    qk_status st = qcl_buffer(s, B_PARTIAL, count * QK_BNB_PARTIAL_WORDS * 4, &brec);
    if (st == QK_OK)
        st = qcl_absmax_records(s, absmax, nb, brec);
    if (st == QK_OK)
        st = get(s, brec, rec + *nrec * QK_BNB_PARTIAL_WORDS, count * QK_BNB_PARTIAL_WORDS * 4);
    *nrec += (int64_t)count;
    return st;
}

qk_status qcl_host_quantize(qcl_state *s, const qk_params *p, qk_dtype dt, const void *in, int64_t rows,
                            int64_t cols, void *const parts[QK_PART_COUNT])
{
    plan pl = make_plan(s, p, dt, rows, cols);
    size_t data_all, scale_all;
    qcl_dev_sizes(p, rows, cols, &data_all, &scale_all);
    int dq = is_bnb(p) && p->double_quant;
    uint32_t scalar = 0, *absmax = NULL, *rec = NULL;
    int64_t nrec = 0; /* mean records so far */
    if (dq && pl.count == 1)
        return quantize_single_dq(s, p, dt, in, rows, cols, parts);
    if (dq && ((absmax = malloc(scale_all)) == NULL ||
               (rec = malloc(((scale_all / 4) / QK_BNB_PARTIAL_RUN + (size_t)pl.count) * QK_BNB_PARTIAL_WORDS * 4)) ==
                   NULL)) {
        free(absmax);
        return qk_fail(QK_ERR_OUT_OF_MEMORY, "out of memory");
    }
    uint8_t *scale_dst = dq ? (uint8_t *)absmax : parts[QK_PART_SCALE];
    cl_mem bin = NULL, bdata, bscale;
    qcl_use_slot(s, 0);
    qk_status st = qcl_quantize_begin(s);
    int amax_pass = qcl_needs_amax(p);
    if (st == QK_OK && amax_pass) {
        if (pl.count > 1) /* the zeroed amax before the second queue adds to it */
            st = finish_all(s, st);
        for (int64_t i = 0; i < pl.count && st == QK_OK; i++) {
            int64_t r, c, pr, pc;
            chunk_shape(&pl, i, &r, &c, &pr, &pc);
            qcl_use_slot(s, (int)(i & 1));
            st = upload_input(s, &pl, dt, in, i, &bin);
            if (st == QK_OK)
                st = kernels_begin(s);
            if (st == QK_OK)
                st = qcl_quantize_amax(s, p, dt, bin, r, c);
            if (st == QK_OK)
                st = kernels_end(s);
        }
        st = finish_all(s, st);
    }
    if (st == QK_OK)
        st = qcl_quantize_params(s, p, dt, &scalar);
    if (st == QK_OK && pl.count > 1) /* the parameters before the second queue reads them */
        st = finish_all(s, st);
    for (int64_t i = 0; i < pl.count && st == QK_OK; i++) {
        int64_t r, c, pr, pc;
        size_t d_off, s_off, d_n, s_n;
        chunk_shape(&pl, i, &r, &c, &pr, &pc);
        sizes(p, r, c, &d_n, &s_n);
        sizes(p, pr, pc, &d_off, &s_off);
        qcl_use_slot(s, (int)(i & 1));
        if (!(amax_pass && pl.count == 1)) /* a single chunk is still on the device */
            st = upload_input(s, &pl, dt, in, i, &bin);
        if (st == QK_OK)
            st = qcl_buffer(s, B_DATA, d_n, &bdata);
        if (st == QK_OK)
            st = qcl_buffer(s, B_SCALE, s_n, &bscale);
        if (st == QK_OK)
            st = kernels_begin(s);
        if (st == QK_OK)
            st = qcl_quantize_codes(s, p, dt, bin, r, c, bdata, bscale, scalar);
        if (st == QK_OK && !dq) /* double quant's records kernel comes below */
            st = kernels_end(s);
        if (st == QK_OK)
            st = get(s, bdata, (uint8_t *)parts[QK_PART_DATA] + d_off, d_n);
        if (st == QK_OK && tensor_scaled(p)) /* one scalar scale, the same in every chunk */
            st = i == 0 ? get(s, bscale, scale_dst, 4) : QK_OK;
        else if (st == QK_OK)
            st = get(s, bscale, scale_dst + s_off, s_n);
        if (st == QK_OK && dq) /* this chunk's runs of the mean */
            st = chunk_records(s, bscale, s_n / 4, rec, &nrec);
        if (st == QK_OK && dq)
            st = kernels_end(s);
    }
    st = finish_all(s, st);
    if (st == QK_OK)
        st = qcl_quantize_status(s, p);
    if (st == QK_OK && dq) {
        int64_t nb = (int64_t)(scale_all / 4);
        uint32_t off;
        if (!qk_bnb_mean_from_partials(rec, nrec, nb, &off))
            off = qk_bnb_absmax_mean(absmax, nb);
        qk_put_f32(parts[QK_PART_OFFSET], 0, off);
        qk_cpu_bnb_nested_codes(&qk_host_exec, absmax, nb, off, parts[QK_PART_SCALE], parts[QK_PART_SCALE2]);
    }
    if (st == QK_OK && p->format == QK_FORMAT_NVFP4)
        qk_put_f32(parts[QK_PART_SCALE2], 0, scalar);
    free(absmax);
    free(rec);
    return st;
}

/* Blocks [b0, b0 + nb) of double quant's absmax into `absmax` on the device:
 * their codes and the nested absmax they use go up, the kernel rebuilds. */
static qk_status nested_chunk(qcl_state *s, const void *const parts[QK_PART_COUNT], size_t b0, size_t nb,
                              cl_mem absmax)
{
    size_t n0 = b0 / 256, n1 = (b0 + nb + 255) / 256;
    cl_mem codes, nested;
    qk_status st = qcl_buffer(s, B_TMP, nb, &codes);
    if (st == QK_OK)
        st = qcl_buffer(s, B_NESTED, (n1 - n0) * 4, &nested);
    if (st == QK_OK)
        st = put(s, codes, (const uint8_t *)parts[QK_PART_SCALE] + b0, nb);
    if (st == QK_OK)
        st = put(s, nested, (const uint8_t *)parts[QK_PART_SCALE2] + n0 * 4, (n1 - n0) * 4);
    if (st == QK_OK)
        st = qcl_nested_dequantize(s, codes, nested, qk_get_f32(parts[QK_PART_OFFSET], 0), b0, nb, absmax);
    return st;
}

qk_status qcl_host_dequantize(qcl_state *s, const qk_params *p, const void *const parts[QK_PART_COUNT],
                              int64_t rows, int64_t cols, qk_dtype dt, void *out)
{
    plan pl = make_plan(s, p, dt, rows, cols);
    size_t data_all, scale_all, es = esize(dt);
    qcl_dev_sizes(p, rows, cols, &data_all, &scale_all);
    int dq = is_bnb(p) && p->double_quant;
    uint32_t *absmax = NULL, scalar = p->format == QK_FORMAT_NVFP4 ? qk_get_f32(parts[QK_PART_SCALE2], 0) : 0;
    const uint8_t *scale_src = parts[QK_PART_SCALE];
    /* Double quant's absmax: rebuilt per chunk on the device from finite
     * nested parts, else on the host (the reference's NaN results). */
    int dq_dev = dq && qk_bnb_nested_finite(parts, qk_ceil_div((int64_t)(scale_all / 4), 256));
    if (dq && !dq_dev) {
        if ((absmax = malloc(scale_all)) == NULL)
            return qk_fail(QK_ERR_OUT_OF_MEMORY, "out of memory");
        qk_cpu_bnb_nested_dequantize(&qk_host_exec, parts[QK_PART_SCALE], parts[QK_PART_SCALE2],
                                     parts[QK_PART_OFFSET], (int64_t)(scale_all / 4), absmax);
        scale_src = (const uint8_t *)absmax;
    }
    qk_status st = QK_OK;
    for (int64_t i = 0; i < pl.count && st == QK_OK; i++) {
        int64_t r, c, pr, pc;
        size_t d_off, s_off, d_n, s_n, o_n = 0;
        chunk_shape(&pl, i, &r, &c, &pr, &pc);
        sizes(p, r, c, &d_n, &s_n);
        sizes(p, pr, pc, &d_off, &s_off);
        if (tensor_scaled(p))
            s_off = 0;
        o_n = (size_t)(r * c) * es;
        cl_mem bdata, bscale, bout;
        qcl_use_slot(s, (int)(i & 1));
        st = qcl_buffer(s, B_DATA, d_n, &bdata);
        if (st == QK_OK)
            st = qcl_buffer(s, B_SCALE, s_n, &bscale);
        if (st == QK_OK)
            st = qcl_buffer(s, B_OUT, o_n, &bout);
        if (st == QK_OK)
            st = put(s, bdata, (const uint8_t *)parts[QK_PART_DATA] + d_off, d_n);
        if (st == QK_OK)
            st = kernels_begin(s);
        if (st == QK_OK && dq_dev)
            st = nested_chunk(s, parts, s_off / 4, s_n / 4, bscale);
        else if (st == QK_OK)
            st = put(s, bscale, scale_src + s_off, s_n);
        if (st == QK_OK)
            st = qcl_dequantize_dev(s, p, dt, bdata, bscale, dq_dev ? NULL : scale_src + s_off, scalar, r, c, bout);
        if (st == QK_OK)
            st = kernels_end(s);
        if (st == QK_OK)
            st = get(s, bout, (uint8_t *)out + (size_t)(pr * pc) * es, o_n);
    }
    st = finish_all(s, st);
    free(absmax);
    return st;
}
