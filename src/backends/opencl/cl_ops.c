/* Device-resident quantize/dequantize: which kernels run, in which order,
 * with which launch shapes. Host steps are few and exact by construction:
 * nvfp4's g is computed with the reference helpers from the device amax. */
#include <stdlib.h>
#include <string.h>

#include "../../../cuda/qk_fast_codec.h" /* QKF_BNB_BUCKETS */
#include "../../ref/ref_internal.h"
#include "cl_internal.h"

typedef struct {
    size_t size;
    const void *ptr; /* NULL: __local memory of `size` bytes */
} qarg;

#define ARG(v) ((qarg){sizeof(v), &(v)})
#define LOCAL(bytes) ((qarg){(bytes), NULL})
#define RUN(s, id, dims, g, l, ...)                                                                \
    run((s), (id), (dims), (g), (l), (const qarg[]){__VA_ARGS__},                                  \
        (int)(sizeof((const qarg[]){__VA_ARGS__}) / sizeof(qarg)))

qk_status qcl_check(cl_int err, const char *what)
{
    if (err == CL_SUCCESS)
        return QK_OK;
    if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_HOST_MEMORY)
        return qk_fail(QK_ERR_OUT_OF_MEMORY, "opencl: %s: %s", what, qcl_error_name(err));
    return qk_fail(QK_ERR_BACKEND_FAILURE, "opencl: %s failed: %s (%d)", what, qcl_error_name(err), (int)err);
}

/* Profiling: the bench asks for the first and last command of an op. */
static void keep_event(qcl_state *s, cl_event ev)
{
    if (ev == NULL)
        return;
    if (s->ev_first == NULL) {
        s->ev_first = ev;
        return;
    }
    if (s->ev_last != NULL)
        s->cl->clReleaseEvent(s->ev_last);
    s->ev_last = ev;
}

static qk_status run(qcl_state *s, qcl_kernel_id id, cl_uint dims, const size_t *global, const size_t *local,
                     const qarg *args, int nargs)
{
    cl_kernel k = s->k[id];
    for (int i = 0; i < nargs; i++) {
        cl_int err = s->cl->clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].ptr);
        if (err != CL_SUCCESS)
            return qcl_check(err, "clSetKernelArg");
    }
    cl_event ev = NULL;
    cl_int err = s->cl->clEnqueueNDRangeKernel(s->q, k, dims, NULL, global, local, 0, NULL,
                                               s->profiling ? &ev : NULL);
    keep_event(s, ev);
    return qcl_check(err, "clEnqueueNDRangeKernel");
}

static qk_status fill_zero(qcl_state *s, cl_mem buf, size_t bytes)
{
    if (bytes == 0)
        return QK_OK;
    cl_uchar zero = 0;
    cl_event ev = NULL;
    cl_int err = s->cl->clEnqueueFillBuffer(s->q, buf, &zero, 1, 0, bytes, 0, NULL, s->profiling ? &ev : NULL);
    keep_event(s, ev);
    return qcl_check(err, "clEnqueueFillBuffer");
}

static size_t rup(size_t a, size_t b) { return (a + b - 1) / b * b; }

/* Grid-stride kernels: enough work-items to fill the device. A launch's
 * geometry depends on the device and the row width only, never on how many
 * rows a chunk holds, so every launch of a kernel in one op has the same
 * shape: PoCL before 7.0 aborts ("pocl_release_dlhandle_cache: Assertion
 * `found->ref_count > 0'") when one kernel with one local size runs with
 * several grid widths at once, as a chunked op's last, shorter chunk made
 * it do (its cache released entries by kernel and local size alone; fixed
 * upstream in pocl commit c9ac4c0). Idle work-items of a small op cost
 * little. */
static size_t cap_items(const qcl_state *s)
{
    size_t cu = s->dev->compute_units > 0 ? (size_t)s->dev->compute_units : 1;
    /* A GPU runs 2048 work-items per unit at best, fewer where a kernel's
     * registers allow fewer; four times that keeps the last, partly filled
     * wave of work-groups short whatever the kernel's occupancy. */
    return cu * 2048 * (s->dev->host_cpu ? 1 : 4);
}

/* 1-D grids that stride; QK_OPENCL_GRID_ITEMS caps them (tests: many rounds). */
static void grid1(const qcl_state *s, size_t local, size_t *g)
{
    const char *e = getenv("QK_OPENCL_GRID_ITEMS");
    size_t cap = e && atoll(e) > 0 ? (size_t)atoll(e) : cap_items(s);
    *g = rup(cap < cap_items(s) ? cap : cap_items(s), local);
}

/* grid1 capped at one wave of a GPU at full occupancy (2048 work-items a
 * unit), for kernels whose blocks all cost alike: no second, partly
 * filled wave (NF4/FP4 blocks of 64 on the H200: 71% of the copy, against
 * 67% with grid1's four waves and 58% with half a wave). */
static void grid1_wave(const qcl_state *s, size_t local, size_t *g)
{
    grid1(s, local, g);
    size_t cu = s->dev->compute_units > 0 ? (size_t)s->dev->compute_units : 1, wave = rup(cu * 2048, local);
    if (*g > wave)
        *g = wave;
}

/* 2-D: x over units of a row, y over rows; 64 work-items per group. */
static void grid2(const qcl_state *s, uint64_t ux, size_t g[2], size_t l[2])
{
    size_t lx = 1;
    while (lx < 64 && lx < ux)
        lx *= 2;
    l[0] = lx;
    l[1] = 64 / lx;
    g[0] = rup(ux < 4096 ? (size_t)ux : 4096, l[0]);
    size_t ycap = cap_items(s) / g[0];
    g[1] = rup(ycap < 1 ? 1 : ycap, l[1]);
}

static int log2u(uint64_t v)
{
    int k = 0;
    while (((uint64_t)1 << k) < v)
        k++;
    return k;
}

void qcl_dev_sizes(const qk_params *p, int64_t rows, int64_t cols, size_t *data, size_t *scale)
{
    qk_layout lay;
    qk_layout_query(p, rows, cols, &lay);
    *data = lay.part[QK_PART_DATA].nbytes;
    *scale = lay.part[QK_PART_SCALE].nbytes;
    if (p->format == QK_FORMAT_NF4 || p->format == QK_FORMAT_FP4)
        *scale = (size_t)qk_ceil_div(rows * cols, p->block_size) * 4; /* f32 absmax */
}

static int is_bnb(const qk_params *p) { return p->format == QK_FORMAT_NF4 || p->format == QK_FORMAT_FP4; }

static unsigned long bnb4_q64_runs;

unsigned long qcl_bnb4_q64_runs(void) { return __atomic_load_n(&bnb4_q64_runs, __ATOMIC_RELAXED); }

static unsigned long bnb4_q64_rec_runs;

unsigned long qcl_bnb4_q64_rec_runs(void) { return __atomic_load_n(&bnb4_q64_rec_runs, __ATOMIC_RELAXED); }

static unsigned long bnb4_q64_f32_runs;

unsigned long qcl_bnb4_q64_f32_runs(void) { return __atomic_load_n(&bnb4_q64_f32_runs, __ATOMIC_RELAXED); }

/* nrec (double quant; NULL otherwise): where bnb4_quantize64 runs, its
 * _rec kernel also writes the mean's records, one a work-group, into
 * B_PARTIAL and *nrec says how many (else 0). Blocks of 64 take the
 * bnb4_quantize64 family, a work-item a block (f32 in kernels of their
 * own, which hold a block's 64 words). */
static qk_status bnb_quantize(qcl_state *s, const qk_params *p, cl_int dt, cl_mem in, cl_ulong n, cl_mem data,
                              cl_mem absmax, size_t *nrec)
{
    if (nrec != NULL)
        *nrec = 0;
    cl_uint log2bs = (cl_uint)log2u((uint64_t)p->block_size);
    cl_int nf4 = p->format == QK_FORMAT_NF4;
    cl_ulong nb = (n + (cl_ulong)p->block_size - 1) / (cl_ulong)p->block_size;
    size_t L = s->wg, g;
    grid1(s, L, &g); /* work-groups stride over the blocks */
    cl_mem table = dt == QK_DTYPE_F16 ? s->rcp_f16 : s->rcp_bf16;
    if (p->block_size == 64) { /* a work-item a block */
        int f32 = dt == QK_DTYPE_F32;
        __atomic_add_fetch(&bnb4_q64_runs, 1, __ATOMIC_RELAXED);
        if (f32)
            __atomic_add_fetch(&bnb4_q64_f32_runs, 1, __ATOMIC_RELAXED);
        grid1_wave(s, L, &g);
        cl_mem codes = nf4 ? s->code_nf4 : s->code_fp4;
        if (nrec != NULL) {
            cl_mem rec;
            qk_status st = qcl_buffer(s, B_PARTIAL, g / L * QK_BNB_PARTIAL_WORDS * 4, &rec);
            if (st == QK_OK && f32)
                st = RUN(s, K_BNB4_QUANTIZE64_F32_REC, 1, &g, &L, ARG(in), ARG(n), ARG(codes), ARG(data),
                         ARG(absmax), LOCAL(QKF_BNB_BUCKETS * 4), ARG(rec), LOCAL(L * 8), LOCAL(L * 4));
            else if (st == QK_OK)
                st = RUN(s, K_BNB4_QUANTIZE64_REC, 1, &g, &L, ARG(in), ARG(dt), ARG(n), ARG(table), ARG(codes),
                         ARG(data), ARG(absmax), LOCAL(QKF_BNB_BUCKETS * 4), ARG(rec), LOCAL(L * 8), LOCAL(L * 4));
            if (st == QK_OK) {
                *nrec = g / L;
                __atomic_add_fetch(&bnb4_q64_rec_runs, 1, __ATOMIC_RELAXED);
            }
            return st;
        }
        if (f32)
            return RUN(s, K_BNB4_QUANTIZE64_F32, 1, &g, &L, ARG(in), ARG(n), ARG(codes), ARG(data), ARG(absmax),
                       LOCAL(QKF_BNB_BUCKETS * 4));
        return RUN(s, K_BNB4_QUANTIZE64, 1, &g, &L, ARG(in), ARG(dt), ARG(n), ARG(table), ARG(codes), ARG(data),
                   ARG(absmax), LOCAL(QKF_BNB_BUCKETS * 4));
    }
    return RUN(s, K_BNB4_QUANTIZE, 1, &g, &L, ARG(in), ARG(dt), ARG(n), ARG(log2bs), ARG(nf4), ARG(nb),
               ARG(table), ARG(data), ARG(absmax), LOCAL(L * 4), LOCAL(64 * 8)); /* NF4 bucket table, uint2 x 64 */
}

/* Folds max |x| of `in` into *amax (zeroed by qcl_quantize_begin). */
qk_status qcl_nested_dequantize(qcl_state *s, cl_mem codes, cl_mem nested, uint32_t off, uint64_t b0, uint64_t nb,
                                cl_mem absmax)
{
    size_t L = s->wg, g;
    grid1(s, L, &g);
    cl_uint o = off;
    cl_ulong first = b0, count = nb;
    return RUN(s, K_BNB_NESTED_DEQUANTIZE, 1, &g, &L, ARG(codes), ARG(nested), ARG(o), ARG(first), ARG(count),
               ARG(s->dmap), ARG(absmax));
}

qk_status qcl_absmax_records(qcl_state *s, cl_mem absmax, uint64_t nb, cl_mem rec)
{
    size_t L = s->wg, g;
    grid1(s, L, &g);
    cl_ulong n = nb;
    return RUN(s, K_BNB_ABSMAX_SUM, 1, &g, &L, ARG(absmax), ARG(n), ARG(rec), LOCAL(L * 8), LOCAL(8));
}

static unsigned long mean_fallbacks;

static qk_status nested_codes(qcl_state *s, cl_mem absmax, uint64_t nb, cl_mem mean, cl_mem codes, cl_mem nested)
{
    size_t L = s->wg < 256 ? s->wg : 256, g; /* a power of two */
    if (L < 32)
        return qk_fail(QK_ERR_UNSUPPORTED, "opencl: double quant needs work-groups of 32 or more (%s allows %zu)",
                       s->dev->name, L);
    grid1(s, L, &g);
    cl_ulong n = nb;
    return RUN(s, K_BNB_NESTED_QUANTIZE, 1, &g, &L, ARG(absmax), ARG(n), ARG(mean), ARG(s->dmap_code), ARG(codes),
               ARG(nested), LOCAL(L / 32 * 4));
}

/* The records, the device's mean from them (bnb_mean.cl) and the nested
 * codes with it, enqueued back to back; one 8-byte read says whether the
 * records proved the mean. If not, the host's mean of the downloaded
 * absmax and the nested codes again. */
qk_status qcl_nested_quantize_dev(qcl_state *s, cl_mem absmax, uint64_t nb, size_t nrec, cl_mem codes,
                                  cl_mem nested, uint32_t *off)
{
    if (nb == 0) {
        *off = qk_bnb_absmax_mean(NULL, 0);
        return QK_OK;
    }
    /* the quantize's records (nrec) already sit in B_PARTIAL, which a
     * smaller request returns unchanged */
    size_t count = nrec > 0 ? nrec : (size_t)qk_ceil_div((int64_t)nb, QK_BNB_PARTIAL_RUN), L = s->wg, one = L;
    cl_mem rec, mean;
    uint32_t res[2] = {0, 0};
    qk_status st = qcl_buffer(s, B_PARTIAL, count * QK_BNB_PARTIAL_WORDS * 4, &rec);
    if (st == QK_OK)
        st = qcl_buffer(s, B_MEAN, sizeof res, &mean);
    if (st == QK_OK && nrec == 0)
        st = qcl_absmax_records(s, absmax, nb, rec);
    cl_ulong runs = count, n = nb;
    if (st == QK_OK)
        st = RUN(s, K_BNB_ABSMAX_MEAN, 1, &one, &L, ARG(rec), ARG(runs), ARG(n), ARG(mean), LOCAL(L * 8),
                 LOCAL(L * 4));
    if (st == QK_OK)
        st = nested_codes(s, absmax, nb, mean, codes, nested);
    if (st == QK_OK)
        st = qcl_check(s->cl->clEnqueueReadBuffer(s->q, mean, CL_TRUE, 0, sizeof res, res, 0, NULL, NULL),
                       "clEnqueueReadBuffer");
    if (st != QK_OK || res[1] == 1u) {
        *off = res[0];
        return st;
    }
    __atomic_add_fetch(&mean_fallbacks, 1, __ATOMIC_RELAXED);
    uint32_t *host = malloc(nb * 4);
    if (host == NULL)
        return qk_fail(QK_ERR_OUT_OF_MEMORY, "out of memory");
    st = qcl_check(s->cl->clEnqueueReadBuffer(s->q, absmax, CL_TRUE, 0, nb * 4, host, 0, NULL, NULL),
                   "clEnqueueReadBuffer");
    if (st == QK_OK)
        *off = qk_bnb_absmax_mean(host, (int64_t)nb);
    free(host);
    if (st == QK_OK)
        st = qcl_check(s->cl->clEnqueueWriteBuffer(s->q, mean, CL_TRUE, 0, 4, off, 0, NULL, NULL),
                       "clEnqueueWriteBuffer");
    return st == QK_OK ? nested_codes(s, absmax, nb, mean, codes, nested) : st;
}

unsigned long qcl_mean_fallbacks(void) { return __atomic_load_n(&mean_fallbacks, __ATOMIC_RELAXED); }

static qk_status amax_tensor(qcl_state *s, cl_int dt, cl_mem in, cl_ulong n, cl_mem amax)
{
    size_t L = s->wg, g;
    grid1(s, L, &g);
    return RUN(s, K_AMAX_TENSOR, 1, &g, &L, ARG(in), ARG(dt), ARG(n), ARG(amax), LOCAL(L * 4));
}

static qk_status read_u32(qcl_state *s, cl_mem buf, uint32_t *v)
{
    return qcl_check(s->cl->clEnqueueReadBuffer(s->q, buf, CL_TRUE, 0, 4, v, 0, NULL, NULL), "read");
}

static qk_scaling scaling_of(const qk_params *p)
{
    return p->format == QK_FORMAT_INT8_BLOCKWISE ? QK_SCALING_BLOCK : p->scaling;
}

int qcl_needs_amax(const qk_params *p)
{
    if (p->format == QK_FORMAT_NVFP4)
        return 1;
    return !is_bnb(p) && p->format != QK_FORMAT_MXFP8 && scaling_of(p) == QK_SCALING_TENSOR;
}

qk_status qcl_quantize_begin(qcl_state *s)
{
    cl_mem status;
    qk_status st = qcl_buffer(s, B_STATUS, 4, &status);
    return st == QK_OK ? fill_zero(s, status, 4) : st;
}

static int levels_of(int group)
{
    int lv = 0;
    for (int g = 1; g < group; g *= 4)
        lv++;
    return lv;
}

/* ConvRot: rotates `in` into the slot's scratch copy in T, as the reference. */
static qk_status convrot_rotate(qcl_state *s, const qk_params *p, cl_int dt, cl_mem *in, cl_ulong n)
{
    cl_mem rot;
    size_t es = dt == QK_DTYPE_F32 ? 4 : 2;
    qk_status st = qcl_buffer(s, B_TMP, (size_t)n * es, &rot);
    if (st != QK_OK)
        return st;
    cl_uint G = (cl_uint)p->convrot_group, lv = (cl_uint)levels_of(p->convrot_group);
    size_t L = G / 4 < s->wg ? G / 4 : s->wg, g;
    grid1(s, L, &g);
    st = RUN(s, K_CONVROT_ROTATE, 1, &g, &L, ARG(*in), ARG(dt), ARG(n), ARG(G), ARG(lv), ARG(rot),
             LOCAL((size_t)G * 4));
    *in = rot;
    return st;
}

/* ConvRot a row per work-group (convrot_rows.cl): rows of whole 16-column
 * units up to CR_COLS, a work-item a unit; 0 where it does not apply. */
#define CR_COLS 4096
#define CR_LOCAL(L) ((L) * 34 * 4) /* two buffers of 16 L slots, a padding word every 16 */
#define CRQ_LOCAL(L) ((L) * 21 * 4) /* convrot_quantize_native_*: one buffer, 4 + 1/4 padding words every 16 */

static unsigned long convrot_rows_runs;

unsigned long qcl_convrot_rows_runs(void) { return __atomic_load_n(&convrot_rows_runs, __ATOMIC_RELAXED); }

static size_t convrot_rows_wg(const qcl_state *s, int64_t cols)
{
    if (cols % 16 != 0 || cols > CR_COLS)
        return 0;
    size_t L = 16;
    while (L < (size_t)cols / 16)
        L *= 2;
    if (L > s->wg || CR_LOCAL(L) + (L + 19) * 4 > s->dev->local_mem)
        return 0;
    return L;
}

/* The grid of a row per work-group and step. */
static size_t convrot_rows_grid(const qcl_state *s, size_t L, int64_t rows)
{
    __atomic_add_fetch(&convrot_rows_runs, 1, __ATOMIC_RELAXED);
    size_t g;
    grid1(s, L, &g);
    return (uint64_t)rows < g / L ? (size_t)rows * L : g;
}

/* ConvRot dequantize in one pass (convrot_dequantize_runs.cl): G up to
 * 256, rows of whole 64-value runs and whole groups; work-groups of 64
 * work-items, CRD_SPAN values a work-group step. */
#define CRD_SPAN 4096
#define CRD_LOCAL (4624 * 4) /* crd_slot(4095) + 1 words, rounded up */

static unsigned long convrot_dq_runs;

unsigned long qcl_convrot_dq_runs(void) { return __atomic_load_n(&convrot_dq_runs, __ATOMIC_RELAXED); }

/* Whether every row scale in `scale` lets a native-only ConvRot
 * dequantize kernel run: convrot_dequantize_runs.cl's exponent range
 * [24 + L, 247 - 2L) (`runs`), else convrot_rows.cl's |s| < 2^110
 * (CR_NATIVE_SCALE); never without native f32 with subnormals. NULL
 * (scales known only to the device): no. */
static int convrot_native_rows(const qcl_state *s, const void *scale, int64_t rows, int levels, int runs)
{
    if (!s->native_f32 || scale == NULL)
        return 0;
    uint32_t lo = 24u + (uint32_t)levels, hi = 247u - 2u * (uint32_t)levels;
    for (int64_t r = 0; r < rows; r++) {
        uint32_t v;
        memcpy(&v, (const unsigned char *)scale + r * 4, 4); /* a caller's part: any alignment */
        uint32_t e = (v >> 23) & 0xFFu;
        if (runs ? e - lo >= hi - lo : (v & 0x7FFFFFFFu) >= 0x76800000u)
            return 0;
    }
    return 1;
}

/* QK_OPENCL_CONVROT_RUNS=0 keeps such shapes on convrot_rows.cl (tests). */
static int convrot_dq_runs_ok(const qcl_state *s, const qk_params *p, int64_t cols)
{
    int64_t G = p->convrot_group;
    const char *e = getenv("QK_OPENCL_CONVROT_RUNS");
    if (e && strcmp(e, "0") == 0)
        return 0;
    return G >= 4 && G <= 256 && cols % 64 == 0 && cols % G == 0 && s->dev->local_mem >= CRD_LOCAL;
}

qk_status qcl_quantize_amax(qcl_state *s, const qk_params *p, qk_dtype dtype, cl_mem in, int64_t rows,
                            int64_t cols)
{
    cl_int dt = (cl_int)dtype;
    cl_ulong n = (cl_ulong)(rows * cols);
    qk_status st = QK_OK;
    if (p->convrot_group > 0 && p->format != QK_FORMAT_NVFP4)
        st = convrot_rotate(s, p, dt, &in, n);
    return st == QK_OK ? amax_tensor(s, dt, in, n, s->buf[0][B_STATUS]) : st;
}

qk_status qcl_quantize_params(qcl_state *s, const qk_params *p, qk_dtype dtype, uint32_t *scalar)
{
    cl_int dt = (cl_int)dtype, fmt = (cl_int)p->format;
    cl_mem amax = s->buf[0][B_STATUS], param;
    *scalar = 0;
    if (p->format == QK_FORMAT_NVFP4) {
        uint32_t am = 0;
        qk_status st = read_u32(s, amax, &am);
        if (st != QK_OK)
            return st;
        if (am >= QK_F32_INF)
            return QK_ERR_NONFINITE;
        /* g = T(amax / 2688) with the reference's own helpers */
        *scalar = qk_nvfp4_global_scale(dtype, am);
        return QK_OK;
    }
    if (!qcl_needs_amax(p))
        return QK_OK;
    qk_status st = qcl_buffer(s, B_PARAM, 8, &param);
    size_t one = 1;
    return st == QK_OK ? RUN(s, K_SCALED_TENSOR_PARAMS, 1, &one, &one, ARG(amax), ARG(fmt), ARG(dt), ARG(param))
                       : st;
}

static unsigned long nvfp4_q16_runs;

unsigned long qcl_nvfp4_q16_runs(void) { return __atomic_load_n(&nvfp4_q16_runs, __ATOMIC_RELAXED); }

static qk_status nvfp4_quantize(qcl_state *s, cl_int dt, cl_mem in, int64_t rows, int64_t cols, cl_mem data,
                                size_t data_bytes, cl_mem scale, size_t scale_bytes, uint32_t g)
{
    qk_status st = fill_zero(s, scale, scale_bytes);
    if (st != QK_OK)
        return st;
    if (g == 0u)
        return fill_zero(s, data, data_bytes);
    cl_ulong r = (cl_ulong)rows, c = (cl_ulong)cols, rp = (cl_ulong)qk_round_up(rows, 16);
    cl_ulong ncb = (cl_ulong)qk_round_up(cols, 16) / 16;
    if (dt != QK_DTYPE_F32 && c % 8 == 0 && rp * ncb < ((cl_ulong)1 << 31) && scale_bytes < ((size_t)1 << 31)) {
        /* 16-bit rows of whole vectors, block indices in 31 bits: nvfp4_quantize16 */
        __atomic_add_fetch(&nvfp4_q16_runs, 1, __ATOMIC_RELAXED);
        cl_uint r16 = (cl_uint)rows, rp16 = (cl_uint)rp, ncb16 = (cl_uint)ncb;
        cl_mem table; /* the scale byte of every 16-bit block amax, for this g */
        size_t tg = 32768, tl = 64, L = s->wg, g1;
        st = qcl_buffer(s, B_TABLE16, 32768, &table);
        if (st == QK_OK)
            st = RUN(s, K_NVFP4_SCALE_TABLE16, 1, &tg, &tl, ARG(dt), ARG(g), ARG(table));
        if (st != QK_OK)
            return st;
        grid1(s, L, &g1); /* work-groups stride over the blocks */
        return RUN(s, K_NVFP4_QUANTIZE16, 1, &g1, &L, ARG(in), ARG(dt), ARG(r16), ARG(c), ARG(g), ARG(rp16),
                   ARG(ncb16), ARG(table), ARG(data), ARG(scale), LOCAL(256 * 16));
    }
    size_t gs[2], ls[2];
    grid2(s, ncb, gs, ls);
    return RUN(s, K_NVFP4_QUANTIZE, 2, gs, ls, ARG(in), ARG(dt), ARG(r), ARG(c), ARG(g), ARG(rp), ARG(ncb),
               ARG(data), ARG(scale));
}

static unsigned long mxfp8_q16_runs, mxfp8_q32_runs;

unsigned long qcl_mxfp8_q16_runs(void) { return __atomic_load_n(&mxfp8_q16_runs, __ATOMIC_RELAXED); }
unsigned long qcl_mxfp8_q32_runs(void) { return __atomic_load_n(&mxfp8_q32_runs, __ATOMIC_RELAXED); }

static qk_status mxfp8_quantize(qcl_state *s, cl_int dt, cl_mem in, int64_t rows, int64_t cols, cl_mem data,
                                cl_mem scale, size_t scale_bytes)
{
    qk_status st = fill_zero(s, scale, scale_bytes);
    if (st != QK_OK)
        return st;
    cl_mem status = s->buf[0][B_STATUS];
    int64_t blocks = qk_round_up(rows, 32) * (qk_round_up(cols, 32) / 32);
    int f32 = dt == QK_DTYPE_F32;
    if (cols % (f32 ? 4 : 8) == 0 && blocks < ((int64_t)1 << 31)) {
        /* rows of whole 16-byte vectors, block indices in 31 bits:
         * mxfp8_quantize16 (bf16/f16) or mxfp8_quantize32 */
        __atomic_add_fetch(f32 ? &mxfp8_q32_runs : &mxfp8_q16_runs, 1, __ATOMIC_RELAXED);
        cl_uint rows_u = (cl_uint)rows, rp_u = (cl_uint)qk_round_up(rows, 32);
        cl_uint ncb_u = (cl_uint)(qk_round_up(cols, 32) / 32);
        cl_ulong cols_u = (cl_ulong)cols;
        size_t L = s->wg, g;
        grid1(s, L, &g); /* work-groups stride over the blocks */
        if (f32)
            return RUN(s, K_MXFP8_QUANTIZE32, 1, &g, &L, ARG(in), ARG(rows_u), ARG(cols_u), ARG(rp_u), ARG(ncb_u),
                       ARG(data), ARG(scale), ARG(status));
        return RUN(s, K_MXFP8_QUANTIZE16, 1, &g, &L, ARG(in), ARG(dt), ARG(rows_u), ARG(cols_u), ARG(rp_u),
                   ARG(ncb_u), ARG(data), ARG(scale), ARG(status));
    }
    cl_ulong r = (cl_ulong)rows, c = (cl_ulong)cols, rp = (cl_ulong)qk_round_up(rows, 32);
    cl_ulong ncb = (cl_ulong)qk_round_up(cols, 32) / 32;
    size_t gs[2], ls[2];
    grid2(s, ncb, gs, ls);
    return RUN(s, K_MXFP8_QUANTIZE, 2, gs, ls, ARG(in), ARG(dt), ARG(r), ARG(c), ARG(rp), ARG(ncb), ARG(data),
               ARG(scale), ARG(status));
}

/* Tensor-scaled float8 / int8_tensorwise of bf16/f16 input: codes by a
 * 32 KiB table of the 16-bit magnitudes (scaled.cl), rebuilt per call (a
 * 32768-item kernel) from the device's param[0]. */
#define TABLE16_BYTES 32768

static int by_table16(const qcl_state *s, const qk_params *p, cl_int dt)
{
    int fmt_ok = p->format == QK_FORMAT_FLOAT8_E4M3FN || p->format == QK_FORMAT_FLOAT8_E5M2 ||
                 p->format == QK_FORMAT_INT8_TENSORWISE;
    return fmt_ok && (dt == QK_DTYPE_BF16 || dt == QK_DTYPE_F16) && s->dev->local_mem >= TABLE16_BYTES;
}

static qk_status quantize_by_table16(qcl_state *s, cl_int fmt, cl_int dt, cl_mem in, cl_ulong n, cl_mem param,
                                     cl_mem data)
{
    cl_mem table;
    qk_status st = qcl_buffer(s, B_TABLE16, TABLE16_BYTES, &table);
    size_t tg = TABLE16_BYTES, tl = 64;
    if (st == QK_OK)
        st = RUN(s, K_SCALED_CODE_TABLE16, 1, &tg, &tl, ARG(fmt), ARG(dt), ARG(param), ARG(table));
    if (st != QK_OK)
        return st;
    /* big work-groups: with 32 KiB of local memory each, small ones would
     * leave most of a GPU's threads idle */
    size_t L = s->dev->max_wg < 256 ? s->dev->max_wg : 256, g;
    grid1(s, L, &g);
    return RUN(s, K_SCALED_QUANTIZE_TABLE16, 1, &g, &L, ARG(in), ARG(n), ARG(fmt), ARG(table), ARG(data),
               LOCAL(TABLE16_BYTES));
}

/* float8 / int8 row and tile groups of any input dtype whose width is
 * whole vectors of 8 and whose elements fit 256 work-items x 8 vectors:
 * one pass (scaled_groups16.cl, scaled_groups32.cl), 64 work-items up to
 * 4096 elements. */
#define GROUPS16_L 256
#define GROUPS16_LOCAL ((GROUPS16_L + 16) * 4 + 128) /* amax words, then the significand table */

static unsigned long groups16_runs;

unsigned long qcl_groups16_runs(void) { return __atomic_load_n(&groups16_runs, __ATOMIC_RELAXED); }

static int by_one_pass_groups(const qcl_state *s, cl_ulong cols, cl_ulong bh, cl_ulong bw)
{
    cl_ulong h = bh, w = bw < cols ? bw : cols;
    return cols % 8 == 0 && w % 8 == 0 && h * w <= GROUPS16_L * 8 * 8 &&
           s->dev->max_wg >= GROUPS16_L && s->dev->local_mem >= GROUPS16_LOCAL;
}

static qk_status quantize_one_pass_groups(qcl_state *s, cl_int fmt, cl_int dt, cl_mem in, cl_ulong r, cl_ulong c,
                                   cl_ulong bh, cl_ulong bw, cl_ulong ng, cl_ulong gc, cl_mem data, cl_mem scale,
                                   cl_mem status)
{
    __atomic_add_fetch(&groups16_runs, 1, __ATOMIC_RELAXED);
    cl_ulong h = bh, w = bw < c ? bw : c;
    int big = h * w > 64 * 8 * 8; /* 64 work-items of 8 vectors up to 4096 elements, else 256 */
    size_t L = big ? GROUPS16_L : 64, g;
    grid1(s, L, &g); /* work-groups stride over the groups */
    if (ng < g / L)
        g = (size_t)ng * L;
    if (dt == QK_DTYPE_F32) {
        qcl_kernel_id k = big ? K_SCALED_QUANTIZE_GROUPS32_16K : K_SCALED_QUANTIZE_GROUPS32_4K;
        return RUN(s, k, 1, &g, &L, ARG(in), ARG(r), ARG(c), ARG(bh), ARG(bw), ARG(ng), ARG(gc), ARG(fmt),
                   ARG(scale), ARG(data), ARG(status), LOCAL(GROUPS16_LOCAL));
    }
    qcl_kernel_id k = big ? K_SCALED_QUANTIZE_GROUPS16_16K : K_SCALED_QUANTIZE_GROUPS16_4K;
    return RUN(s, k, 1, &g, &L, ARG(in), ARG(dt), ARG(r), ARG(c), ARG(bh), ARG(bw), ARG(ng), ARG(gc), ARG(fmt),
               ARG(scale), ARG(data), ARG(status), LOCAL(GROUPS16_LOCAL));
}

/* The words of a check kernel (failures, smallest failing input, a flag
 * or count, a flag), in B_TMP: set to 0, ~0, 0, 0 before it runs, read
 * back after. */
#define CHECK_WORDS 4
static qk_status check_words_set(qcl_state *s, uint32_t host[CHECK_WORDS], cl_mem *out)
{
    host[0] = 0u, host[1] = 0xFFFFFFFFu, host[2] = 0u, host[3] = 0u;
    qk_status st = qcl_buffer(s, B_TMP, CHECK_WORDS * sizeof *host, out);
    if (st == QK_OK)
        st = qcl_check(
            s->cl->clEnqueueWriteBuffer(s->q, *out, CL_TRUE, 0, CHECK_WORDS * sizeof *host, host, 0, NULL, NULL),
            "clEnqueueWriteBuffer");
    return st;
}

static qk_status check_words_get(qcl_state *s, qk_status st, cl_mem out, uint32_t host[CHECK_WORDS])
{
    if (st == QK_OK)
        st = qcl_check(
            s->cl->clEnqueueReadBuffer(s->q, out, CL_TRUE, 0, CHECK_WORDS * sizeof *host, host, 0, NULL, NULL),
            "clEnqueueReadBuffer");
    return st;
}

qk_status qcl_run_int8_scalars_check(qcl_state *s, int dt, uint32_t *fails, uint32_t *first, int *divides)
{
    cl_mem out;
    uint32_t host[CHECK_WORDS];
    qk_status st = check_words_set(s, host, &out);
    cl_int cdt = dt;
    size_t L = 64, g = 0x8000u; /* every 16-bit pattern below 0x8000 */
    if (st == QK_OK)
        st = RUN(s, K_INT8_SCALARS_CHECK, 1, &g, &L, ARG(cdt), ARG(out));
    st = check_words_get(s, st, out, host);
    *fails = host[0];
    *first = host[1];
    *divides = host[2] != 0u;
    return st;
}

qk_status qcl_run_product_codes_check(qcl_state *s, int dt, uint32_t w0, uint32_t stride, uint64_t pairs,
                                      uint64_t *fails, uint32_t *first, int *int8_divides)
{
    cl_mem out;
    uint32_t host[CHECK_WORDS];
    qk_status st = check_words_set(s, host, &out);
    uint64_t done = 0;
    if (pairs == 0)
        pairs = (((uint64_t)1 << 32) + stride - 1) / stride;
    cl_int cdt = dt;
    while (st == QK_OK && done < pairs) { /* launches of at most 2^24 pairs */
        uint64_t n = pairs - done < ((uint64_t)1 << 24) ? pairs - done : (uint64_t)1 << 24;
        size_t L = 64, g = (size_t)n / L * L;
        if (g == 0)
            g = L; /* a last piece shorter than a work-group: its few extra pairs wrap, harmlessly */
        cl_uint base = (cl_uint)(w0 + done * stride), cs = stride;
        st = RUN(s, K_PRODUCT_CODES_CHECK, 1, &g, &L, ARG(cdt), ARG(base), ARG(cs), ARG(out));
        done += g;
    }
    st = check_words_get(s, st, out, host);
    *fails = host[0];
    *first = host[1];
    *int8_divides = host[2] != 0u;
    return st;
}

qk_status qcl_run_f32_codes_check(qcl_state *s, uint32_t base, uint64_t count, uint64_t *fails, uint32_t *first,
                                  uint64_t *near, int *divides)
{
    cl_mem out;
    uint32_t host[CHECK_WORDS];
    qk_status st = check_words_set(s, host, &out);
    for (uint64_t done = 0; st == QK_OK && done < count;) { /* launches of at most 2^24 values */
        uint64_t n = count - done < ((uint64_t)1 << 24) ? count - done : (uint64_t)1 << 24;
        size_t L = 64, g = ((size_t)n + L - 1) / L * L;
        cl_uint b = (cl_uint)(base + done);
        st = RUN(s, K_F32_CODES_CHECK, 1, &g, &L, ARG(b), ARG(out));
        done += g;
    }
    st = check_words_get(s, st, out, host);
    *fails = host[0];
    *first = host[1];
    *near = host[2];
    *divides = host[3] != 0u;
    return st;
}

static qk_status scaled_quantize(qcl_state *s, const qk_params *p, cl_int dt, cl_mem in, int64_t rows,
                                 int64_t cols, cl_mem data, cl_mem scale)
{
    cl_int fmt = (cl_int)p->format;
    cl_ulong n = (cl_ulong)(rows * cols);
    cl_mem status = s->buf[0][B_STATUS];
    qk_status st;
    size_t crL = p->convrot_group > 0 ? convrot_rows_wg(s, cols) : 0;
    if (crL > 0) {
        size_t g = convrot_rows_grid(s, crL, rows);
        cl_ulong r = (cl_ulong)rows;
        cl_uint c = (cl_uint)cols, G = (cl_uint)p->convrot_group, lv = (cl_uint)levels_of(p->convrot_group);
        if (s->native_f32 && G > 16 && G < 1024) { /* convrot_rows.cl's convrot_quantize_native_*: a kernel a dtype */
            qcl_kernel_id k = dt == (cl_int)QK_DTYPE_BF16  ? K_CONVROT_QUANTIZE_NATIVE_BF16
                              : dt == (cl_int)QK_DTYPE_F16 ? K_CONVROT_QUANTIZE_NATIVE_F16
                                                           : K_CONVROT_QUANTIZE_NATIVE_F32;
            return RUN(s, k, 1, &g, &crL, ARG(in), ARG(r), ARG(c), ARG(G), ARG(lv), ARG(scale), ARG(data),
                       ARG(status), LOCAL(CRQ_LOCAL(crL)), LOCAL(3 * 4));
        }
        return RUN(s, K_CONVROT_QUANTIZE_ROWS, 1, &g, &crL, ARG(in), ARG(dt), ARG(r), ARG(c), ARG(G), ARG(lv),
                   ARG(scale), ARG(data), ARG(status), LOCAL(CR_LOCAL(crL)), LOCAL((crL + 19) * 4));
    }
    if (p->convrot_group > 0 && (st = convrot_rotate(s, p, dt, &in, n)) != QK_OK)
        return st;
    qk_scaling sc = scaling_of(p);
    if (sc == QK_SCALING_TENSOR) { /* param = {d, stored scale} from qcl_quantize_params */
        cl_mem param = s->buf[0][B_PARAM];
        cl_event ev = NULL;
        cl_int err = s->cl->clEnqueueCopyBuffer(s->q, param, scale, 4, 0, 4, 0, NULL, s->profiling ? &ev : NULL);
        keep_event(s, ev);
        if ((st = qcl_check(err, "clEnqueueCopyBuffer")) != QK_OK)
            return st;
        if (p->convrot_group == 0 && by_table16(s, p, dt))
            return quantize_by_table16(s, fmt, dt, in, n, param, data);
        size_t L = 64, g;
        grid1(s, L, &g);
        return RUN(s, K_SCALED_QUANTIZE_TENSOR, 1, &g, &L, ARG(in), ARG(dt), ARG(n), ARG(fmt), ARG(param),
                   ARG(data));
    }
    cl_ulong r = (cl_ulong)rows, c = (cl_ulong)cols, bh = 1, bw = (cl_ulong)cols, gc = 1;
    if (sc == QK_SCALING_BLOCK) {
        bh = bw = (cl_ulong)p->block_size;
        gc = (c + bw - 1) / bw;
    }
    cl_ulong ng = (r + bh - 1) / bh * gc;
    if (by_one_pass_groups(s, c, bh, bw))
        return quantize_one_pass_groups(s, fmt, dt, in, r, c, bh, bw, ng, gc, data, scale, status);
    size_t L = s->wg, gcap = cap_items(s) / L;
    size_t g = (size_t)(ng < gcap ? ng : (gcap ? gcap : 1)) * L;
    return RUN(s, K_SCALED_QUANTIZE_GROUPS, 1, &g, &L, ARG(in), ARG(dt), ARG(r), ARG(c), ARG(bh), ARG(bw),
               ARG(ng), ARG(gc), ARG(fmt), ARG(scale), ARG(data), ARG(status), LOCAL(L * 4));
}

qk_status qcl_quantize_codes(qcl_state *s, const qk_params *p, qk_dtype dtype, cl_mem in, int64_t rows,
                             int64_t cols, cl_mem data, cl_mem scale, uint32_t scalar)
{
    cl_int dt = (cl_int)dtype;
    size_t data_bytes, scale_bytes;
    qcl_dev_sizes(p, rows, cols, &data_bytes, &scale_bytes);
    switch (p->format) {
    case QK_FORMAT_NF4:
    case QK_FORMAT_FP4: return bnb_quantize(s, p, dt, in, (cl_ulong)(rows * cols), data, scale, NULL);
    case QK_FORMAT_NVFP4: return nvfp4_quantize(s, dt, in, rows, cols, data, data_bytes, scale, scale_bytes, scalar);
    case QK_FORMAT_MXFP8: return mxfp8_quantize(s, dt, in, rows, cols, data, scale, scale_bytes);
    default: return scaled_quantize(s, p, dt, in, rows, cols, data, scale);
    }
}

qk_status qcl_quantize_dev(qcl_state *s, const qk_params *p, qk_dtype dt, cl_mem in, int64_t rows,
                           int64_t cols, cl_mem data, cl_mem scale, uint32_t *scalar)
{
    qk_status st = qcl_quantize_begin(s);
    if (st == QK_OK && qcl_needs_amax(p))
        st = qcl_quantize_amax(s, p, dt, in, rows, cols);
    if (st == QK_OK)
        st = qcl_quantize_params(s, p, dt, scalar);
    return st == QK_OK ? qcl_quantize_codes(s, p, dt, in, rows, cols, data, scale, *scalar) : st;
}

qk_status qcl_quantize_dq_dev(qcl_state *s, const qk_params *p, qk_dtype dt, cl_mem in, int64_t rows,
                              int64_t cols, cl_mem data, cl_mem absmax, size_t *nrec)
{
    /* no qcl_quantize_begin: bitsandbytes kernels keep no status word
     * (qcl_quantize_status), and its fill would be one more command */
    return bnb_quantize(s, p, (cl_int)dt, in, (cl_ulong)(rows * cols), data, absmax, nrec);
}

qk_status qcl_quantize_status(qcl_state *s, const qk_params *p)
{
    if (is_bnb(p))
        return QK_OK; /* bitsandbytes formats code NaN and Inf */
    uint32_t v = 0;
    qk_status st = read_u32(s, s->buf[0][B_STATUS], &v);
    if (st != QK_OK)
        return st;
    return v >= QK_F32_INF ? QK_ERR_NONFINITE : QK_OK;
}

static unsigned long nvfp4_dq_blocks_runs;

unsigned long qcl_nvfp4_dq_blocks_runs(void) { return __atomic_load_n(&nvfp4_dq_blocks_runs, __ATOMIC_RELAXED); }

qk_status qcl_dequantize_dev(qcl_state *s, const qk_params *p, qk_dtype dtype, cl_mem data, cl_mem scale,
                             const void *host_scale, uint32_t scalar, int64_t rows, int64_t cols, cl_mem out)
{
    cl_int dt = (cl_int)dtype;
    cl_ulong r = (cl_ulong)rows, c = (cl_ulong)cols, n = r * c;
    size_t gs[2], ls[2];
    switch (p->format) {
    case QK_FORMAT_NF4:
    case QK_FORMAT_FP4: {
        cl_uint log2bs = (cl_uint)log2u((uint64_t)p->block_size);
        cl_int nf4 = p->format == QK_FORMAT_NF4;
        size_t L = 64, g;
        grid1(s, L, &g);
        return RUN(s, K_BNB4_DEQUANTIZE, 1, &g, &L, ARG(data), ARG(scale), ARG(n), ARG(log2bs), ARG(nf4),
                   ARG(dt), ARG(out), LOCAL(16 * 4));
    }
    case QK_FORMAT_NVFP4:
    case QK_FORMAT_MXFP8: {
        /* walk rows: 8-column vectors, R rows a step when a row is short */
        int nv = p->format == QK_FORMAT_NVFP4;
        cl_ulong ncb = (cl_ulong)qk_round_up(cols, nv ? 16 : 32) / (nv ? 16 : 32);
        size_t L = s->wg < 256 ? s->wg : 256;
        cl_uint vpr = (cl_uint)((c + 7) / 8), R = vpr >= L ? 1u : (cl_uint)(L / vpr);
        uint64_t ng = r > 0 ? (r + R - 1) / R : 1, gcap = cap_items(s) / L;
        size_t g = (size_t)(ng < gcap ? ng : (gcap ? gcap : 1)) * L;
        if (nv && c > 0 && c % 8 == 0 && ncb < ((cl_ulong)1 << 24)) {
            /* whole 8-column vectors, the block scales tabulated (nvfp4_dequantize_blocks.cl) */
            __atomic_add_fetch(&nvfp4_dq_blocks_runs, 1, __ATOMIC_RELAXED);
            cl_uint gs32 = scalar, nb32 = (cl_uint)ncb;
            return RUN(s, K_NVFP4_DEQUANTIZE_BLOCKS, 1, &g, &L, ARG(data), ARG(scale), ARG(gs32), ARG(dt), ARG(r),
                       ARG(c), ARG(nb32), ARG(vpr), ARG(R), ARG(out), LOCAL(16 * 4), LOCAL(256 * 4));
        }
        if (nv) {
            cl_uint gs32 = scalar;
            return RUN(s, K_NVFP4_DEQUANTIZE, 1, &g, &L, ARG(data), ARG(scale), ARG(gs32), ARG(dt), ARG(r),
                       ARG(c), ARG(ncb), ARG(vpr), ARG(R), ARG(out), LOCAL(16 * 4));
        }
        return RUN(s, K_MXFP8_DEQUANTIZE, 1, &g, &L, ARG(data), ARG(scale), ARG(dt), ARG(r), ARG(c), ARG(ncb),
                   ARG(vpr), ARG(R), ARG(out), LOCAL(256 * 4));
    }
    default: break;
    }
    cl_int fmt = (cl_int)p->format;
    int lv_cr = p->convrot_group > 0 ? levels_of(p->convrot_group) : 0;
    if (p->convrot_group > 0 && convrot_dq_runs_ok(s, p, cols) && convrot_native_rows(s, host_scale, rows, lv_cr, 1)) {
        __atomic_add_fetch(&convrot_dq_runs, 1, __ATOMIC_RELAXED);
        size_t L = 64, g;
        grid1(s, L, &g);
        uint64_t spans = (n + CRD_SPAN - 1) / CRD_SPAN;
        if (spans < g / L)
            g = (size_t)(spans > 0 ? spans : 1) * L;
        cl_uint c32 = (cl_uint)c, G = (cl_uint)p->convrot_group, lv = (cl_uint)levels_of(p->convrot_group);
        return RUN(s, K_CONVROT_DEQUANTIZE_RUNS, 1, &g, &L, ARG(data), ARG(scale), ARG(dt), ARG(n), ARG(c32),
                   ARG(G), ARG(lv), ARG(out), LOCAL(CRD_LOCAL));
    }
    size_t crL = p->convrot_group > 0 ? convrot_rows_wg(s, cols) : 0;
    if (crL > 0 && convrot_native_rows(s, host_scale, rows, lv_cr, 0)) {
        size_t g = convrot_rows_grid(s, crL, rows);
        cl_uint c32 = (cl_uint)c, G = (cl_uint)p->convrot_group, lv = (cl_uint)levels_of(p->convrot_group);
        return RUN(s, K_CONVROT_DEQUANTIZE_ROWS, 1, &g, &crL, ARG(data), ARG(scale), ARG(dt), ARG(r), ARG(c32),
                   ARG(G), ARG(lv), ARG(out), LOCAL(CR_LOCAL(crL)));
    }
    if (p->convrot_group > 0) {
        cl_uint G = (cl_uint)p->convrot_group, lv = (cl_uint)levels_of(p->convrot_group);
        size_t L = G / 4 < s->wg ? G / 4 : s->wg, g;
        grid1(s, L, &g);
        return RUN(s, K_CONVROT_DEQUANTIZE, 1, &g, &L, ARG(data), ARG(scale), ARG(dt), ARG(n), ARG(c), ARG(G),
                   ARG(lv), ARG(out), LOCAL((size_t)G * 4));
    }
    qk_scaling sc = p->format == QK_FORMAT_INT8_BLOCKWISE ? QK_SCALING_BLOCK : p->scaling;
    if (sc == QK_SCALING_TENSOR) {
        size_t L = 64, g;
        grid1(s, L, &g);
        return RUN(s, K_SCALED_DEQUANTIZE_TENSOR, 1, &g, &L, ARG(data), ARG(scale), ARG(fmt), ARG(dt), ARG(n),
                   ARG(out), LOCAL(256 * 4));
    }
    cl_int mode = sc == QK_SCALING_ROW ? 1 : 2;
    cl_ulong bh = (cl_ulong)p->block_size, bw = bh, gc = sc == QK_SCALING_BLOCK ? (c + bw - 1) / bw : 1;
    int pow2 = (bh & (bh - 1)) == 0;
    if (c % 8 == 0 && c / 8 < ((cl_ulong)1 << 31) && (mode == 1 || (bw % 8 == 0 && pow2))) {
        /* walk rows: group index by shifts, no division per vector */
        size_t L = s->wg < 256 ? s->wg : 256;
        cl_uint vpr = (cl_uint)(c / 8), R = vpr >= L ? 1u : (cl_uint)(L / vpr);
        cl_uint rsh = mode == 1 ? 0u : (cl_uint)log2u(bh), csh = mode == 1 ? 31u : (cl_uint)log2u(bw / 8);
        uint64_t ng = r > 0 ? (r + R - 1) / R : 1, gcap = cap_items(s) / L;
        size_t g = (size_t)(ng < gcap ? ng : (gcap ? gcap : 1)) * L;
        return RUN(s, K_SCALED_DEQUANTIZE_ROWS, 1, &g, &L, ARG(data), ARG(scale), ARG(fmt), ARG(dt), ARG(r),
                   ARG(c), ARG(vpr), ARG(R), ARG(rsh), ARG(csh), ARG(gc), ARG(out), LOCAL(256 * 4));
    }
    grid2(s, (c + 7) / 8, gs, ls);
    return RUN(s, K_SCALED_DEQUANTIZE, 2, gs, ls, ARG(data), ARG(scale), ARG(fmt), ARG(dt), ARG(r), ARG(c),
               ARG(mode), ARG(bh), ARG(bw), ARG(gc), ARG(out));
}
