/* Per-format plans of the CUDA backend. Each mirrors one file of src/ref:
 * the kernels reproduce the per-element and per-block steps, and the few
 * per-tensor / per-group scalars are computed here on the host with the
 * reference's own helpers (qk_fdiv, qk_round_to), so they are the same
 * bits by construction. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../ref/ref_groups.h"
#include "cuda_plans.h"

/* Mirror of `struct groups` in cuda/k_scaled.cuh (passed by value). */
typedef struct {
    int64_t cols;
    uint64_t cols_magic;
    int32_t mode, bh, bw;
    int64_t gc;
} cu_groups;

static uint64_t magic(int64_t d) { return UINT64_MAX / (uint64_t)d; }

#define P(x) ((void *)&(x))

/* A grid-stride kernel over `threads` work items in blocks of
 * cu_block_threads(k), no more than per_sm blocks a SM. */
static qk_status launch_at_most(cu_job *j, int k, int64_t threads, int per_sm, void **args)
{
    unsigned bt = cu_block_threads(k);
    int64_t blocks = qk_ceil_div(threads, bt), cap = (int64_t)j->st->sms * per_sm;
    return cu_launch_grid(j->st, k, blocks < cap ? blocks : cap, bt, args);
}

/* launch_at_most with every block that fits on the device at once (a block
 * beyond them would start a second wave that runs nearly empty), so
 * per-block setup pays once per block rather than once per 256 items. */
static qk_status launch_strided(cu_job *j, int k, int64_t threads, void **args)
{
    return launch_at_most(j, k, threads, j->st->resident[k], args);
}

/* launch_strided with at most cap blocks a SM (unless QK_CUDA_BLOCKS_PER_SM
 * sets them all): for kernels whose memory streams run faster with fewer
 * blocks resident than fit. */
static qk_status launch_capped(cu_job *j, int k, int64_t threads, int cap, void **args)
{
    int fit = j->st->resident[k];
    return launch_at_most(j, k, threads, j->st->blocks_tuned || fit <= cap ? fit : cap, args);
}

/* Blocks a SM for the dequantize kernels when they write f32. On the H100
 * f32 dequantize went from 68-84% of the copy (every block that fits, up
 * to 8) to 75-88% at 3 (QK_CUDA_BLOCKS_PER_SM, BACKEND-CUDA.md), where
 * f16 output and quantize lost 6-11 points: so f32 output only. */
#define CU_F32_DQ_BLOCKS_PER_SM 3
/* But qk_nvfp4_dequantize_spans (f32 only) at 4: on the H100, 86% of the
 * copy against 81% at 3, 82% at 5 and 75% at 2. */
#define CU_NVFP4_SPANS_F32_BLOCKS_PER_SM 4

/* launch_strided for a dequantize kernel (k) writing j->dt. */
static qk_status launch_dequantize(cu_job *j, int k, int64_t threads, void **args)
{
    if (j->dt != QK_DTYPE_F32)
        return launch_strided(j, k, threads, args);
    return launch_capped(j, k, threads, CU_F32_DQ_BLOCKS_PER_SM, args);
}

static qk_status memset_dev(cu_job *j, CUdeviceptr p, size_t n)
{
    CU_CHECK(j->st->cu->MemsetD8Async(p, 0, n, j->st->s_comp));
    return QK_OK;
}

/* Small synchronous transfers ordered on the compute stream. */
static qk_status get_small(cu_job *j, void *dst, CUdeviceptr src, size_t n)
{
    CU_CHECK(j->st->cu->MemcpyDtoHAsync(dst, src, n, j->st->s_comp));
    CU_CHECK(j->st->cu->StreamSynchronize(j->st->s_comp));
    return QK_OK;
}

static qk_status put_small(cu_job *j, CUdeviceptr dst, const void *src, size_t n)
{
    CU_CHECK(j->st->cu->MemcpyHtoDAsync(dst, src, n, j->st->s_comp));
    CU_CHECK(j->st->cu->StreamSynchronize(j->st->s_comp)); /* src may be freed after */
    return QK_OK;
}

/* Scratch of a job; kept across the iterations of a benchmark. */
static qk_status alloc_dev(CUdeviceptr *p, cu_job *j, size_t n)
{
    if (*p != 0)
        return QK_OK;
    if (j->st->cu->MemAlloc(p, n ? n : 4) != CUDA_SUCCESS)
        return qk_fail(QK_ERR_OUT_OF_MEMORY, "cuda: cannot allocate %zu bytes of device memory", n);
    return QK_OK;
}

/* Downloads part i to the caller (not in a benchmark). */
static qk_status fetch_part(cu_job *j, void *const parts[4], int i)
{
    if (j->bench || j->lay.part[i].nbytes == 0)
        return QK_OK;
    return get_small(j, parts[i], j->part[i], j->lay.part[i].nbytes);
}

static void *host_scratch(cu_job *j, size_t n)
{
    free(j->host_tmp);
    j->host_tmp = malloc(n ? n : 1);
    return j->host_tmp;
}

/* ---- ranges ---------------------------------------------------------------- */

static void bnb_in_range(const cu_job *j, int64_t u0, int64_t u1, int64_t *e0, int64_t *e1)
{
    int64_t bs = j->p->block_size;
    *e0 = u0 * bs;
    *e1 = u1 * bs < j->n ? u1 * bs : j->n;
}

static void bnb_data_range(const cu_job *j, int64_t u0, int64_t u1, size_t *b0, size_t *b1)
{
    int64_t e0, e1;
    bnb_in_range(j, u0, u1, &e0, &e1);
    *b0 = (size_t)(e0 / 2);
    *b1 = (size_t)((e1 + 1) / 2);
}

static void rows_in_range(const cu_job *j, int64_t u0, int64_t u1, int64_t *e0, int64_t *e1)
{
    *e0 = (u0 < j->rows ? u0 : j->rows) * j->cols;
    *e1 = (u1 < j->rows ? u1 : j->rows) * j->cols;
}

static void nvfp4_data_range(const cu_job *j, int64_t u0, int64_t u1, size_t *b0, size_t *b1)
{
    int64_t half = qk_round_up(j->cols, 16) / 2;
    *b0 = (size_t)(u0 * half);
    *b1 = (size_t)(u1 * half);
}

static void mxfp8_data_range(const cu_job *j, int64_t u0, int64_t u1, size_t *b0, size_t *b1)
{
    int64_t cp = qk_round_up(j->cols, 32);
    *b0 = (size_t)(u0 * cp);
    *b1 = (size_t)(u1 * cp);
}

static void scaled_data_range(const cu_job *j, int64_t u0, int64_t u1, size_t *b0, size_t *b1)
{
    int64_t e0, e1;
    rows_in_range(j, u0, u1, &e0, &e1);
    *b0 = (size_t)e0;
    *b1 = (size_t)e1;
}

/* ---- bitsandbytes NF4 / FP4 ------------------------------------------------ */

/* Double quant's partials of the mean (cuda/k_absmax_sum.cuh's
 * absmax_partial) and the offset with the proof's flag, in work2. */
#define DQ_SUM_BLOCKS 16384 /* a load of four absmax a thread up to nb = 2^24 */
#define DQ_RESULT (16 * DQ_SUM_BLOCKS)

typedef struct {
    double sum;
    int32_t min_lsb;
    uint32_t bad;
} cu_partial;

/* Whether qk_bnb4_quantize64_sum (f32: qk_bnb4_quantize64_f32_sum) adds
 * up the mean's partials as it writes the absmax: double quant of whole
 * 64-blocks (a partial last block's absmax is summed apart, dq_nested). */
static int dq_sum_fused(const cu_job *j)
{
    return j->p->double_quant && j->p->block_size == 64;
}

/* The 64-block kernel for this input, with the partials or without. */
static int bnb_q64_kernel(const cu_job *j, int sum)
{
    if (j->dt == QK_DTYPE_F32)
        return sum ? K_BNB4_Q64_F32_SUM : K_BNB4_Q64_F32;
    return sum ? K_BNB4_Q64_SUM : K_BNB4_Q64;
}

/* Its partials: one per CUDA block of its grid (at most this many). */
static int64_t dq_slots(const cu_job *j)
{
    int64_t cap = (int64_t)j->st->sms * j->st->resident[bnb_q64_kernel(j, 1)];
    return cap < DQ_SUM_BLOCKS - 1 ? cap : DQ_SUM_BLOCKS - 1;
}

/* work: the absmax; work2: the partials, which start empty (each
 * quantize64_sum block adds to its own; qk_absmax_mean empties those it
 * reads), then the result. */
static qk_status bnb_q_prepare(cu_job *j)
{
    if (!j->p->double_quant) {
        j->work = 0; /* absmax goes straight into the SCALE part */
        return QK_OK;
    }
    qk_status s = alloc_dev(&j->work, j, (size_t)qk_ceil_div(j->n, j->p->block_size) * 4);
    if (s != QK_OK || j->work2 != 0 || !dq_sum_fused(j))
        return s;
    s = alloc_dev(&j->work2, j, DQ_RESULT + 8);
    int64_t slots = dq_slots(j);
    cu_partial *none = host_scratch(j, (size_t)slots * sizeof *none);
    if (s == QK_OK && none == NULL)
        s = qk_fail(QK_ERR_OUT_OF_MEMORY, "cuda: out of memory");
    for (int64_t k = 0; s == QK_OK && k < slots; k++)
        none[k] = (cu_partial){0.0, INT32_MAX, 0u};
    return s == QK_OK ? put_small(j, j->work2, none, (size_t)slots * sizeof *none) : s;
}

static qk_status bnb_q_pass(cu_job *j, int64_t b0, int64_t b1)
{
    cu_state *st = j->st;
    int dt = (int)j->dt, bs = j->p->block_size, nf4 = j->p->format == QK_FORMAT_NF4;
    int64_t n = j->n;
    CUdeviceptr absmax = j->work ? j->work : j->part[QK_PART_SCALE];
    CUdeviceptr rb = st->tables + 4 * CU_TAB_RCP_BF16, rf = st->tables + 4 * CU_TAB_RCP_F16;
    CUdeviceptr nt = st->tables + 4 * CU_TAB_NF4;
    if (bs == 64) {
        /* whole 64-blocks: qk_bnb4_quantize64 (four lanes a block of
         * 16-bit input), qk_bnb4_quantize64_f32 (eight a block of f32),
         * codes by one table lookup; a partial last block below */
        int64_t bf = n / 64 < b1 ? n / 64 : b1;
        if (bf > b0) {
            CUdeviceptr ct = st->tables + 4 * (nf4 ? CU_TAB_BNB_NF4 : CU_TAB_BNB_FP4);
            void *a64[] = {P(j->buf), P(dt), P(nf4), P(b0), P(bf), P(j->part[QK_PART_DATA]), P(absmax),
                           P(rb), P(rf), P(ct), P(j->work2)};
            void *a64_f32[] = {P(j->buf), P(nf4), P(b0), P(bf), P(j->part[QK_PART_DATA]), P(absmax), P(ct),
                               P(j->work2)};
            int f32 = dt == QK_DTYPE_F32, k = bnb_q64_kernel(j, dq_sum_fused(j));
            int64_t blocks = qk_ceil_div((bf - b0) * (f32 ? 8 : 4), 256);
            int64_t cap = dq_sum_fused(j) ? dq_slots(j) : (int64_t)st->sms * st->resident[k];
            qk_status s = cu_launch_grid(st, k, blocks < cap ? blocks : (cap > 0 ? cap : 1), 256, f32 ? a64_f32 : a64);
            if (s != QK_OK || bf == b1)
                return s;
            b0 = bf;
        }
    }
    void *args[] = {P(j->buf), P(dt), P(n), P(bs), P(nf4), P(b0), P(b1), P(j->part[QK_PART_DATA]), P(absmax),
                    P(rb), P(rf), P(nt)};
    /* segments of bs/8 threads in blocks of 256 (or one segment a block),
     * grid-stride over no more blocks than fit (resident: at 256 threads) */
    int64_t seg = bs / 8, block = seg > 256 ? seg : 256;
    int64_t blocks = qk_ceil_div((b1 - b0) * seg, block), cap = (int64_t)st->sms * st->resident[K_BNB4_Q] * 256 / block;
    return cu_launch_grid(st, K_BNB4_Q, blocks < cap ? blocks : (cap > 0 ? cap : 1), (unsigned)block, args);
}

/* Double quant's offset (bnb_nested.c's sequential mean) and nested pass.
 * The device sums the absmax in any order and, when src/ref/bnb_mean.c's
 * proof holds for that sum, computes the offset itself (qk_absmax_mean), so
 * the nested pass follows with no host round trip; one small download at
 * the end says whether the proof held. If not, the host takes the
 * sequential mean of the downloaded absmax and the nested pass runs again
 * with it. The partials come from quantize64_sum (dq_sum_fused) or from a
 * pass of qk_absmax_sum over the absmax. */
static qk_status nested_pass(cu_job *j, int64_t nb, CUdeviceptr offset)
{
    CUdeviceptr dmap = j->st->tables + 4 * CU_TAB_DMAP_CODE;
    void *args[] = {P(j->work), P(nb), P(offset), P(dmap), P(j->part[QK_PART_SCALE]), P(j->part[QK_PART_SCALE2])};
    int64_t blocks = qk_ceil_div(qk_ceil_div(nb, 256), 8), cap = (int64_t)j->st->sms * j->st->resident[K_NESTED_Q];
    return cu_launch_grid(j->st, K_NESTED_Q, blocks < cap ? blocks : cap, 256, args); /* a nested block a warp */
}

static qk_status dq_nested(cu_job *j, int64_t nb, uint32_t *off)
{
    qk_status s = alloc_dev(&j->work2, j, DQ_RESULT + 8);
    CUdeviceptr parts = j->work2, result = j->work2 + DQ_RESULT;
    int nparts;
    if (dq_sum_fused(j)) {
        /* the absmax of whole blocks are summed; a partial last block's
         * (the generic kernel's) takes the slot after quantize64_sum's */
        int64_t whole = j->n / 64, tail = nb - whole;
        CUdeviceptr last = j->work + 4 * (CUdeviceptr)whole, slot = parts + 16 * (CUdeviceptr)dq_slots(j);
        void *tail_args[] = {P(last), P(tail), P(slot)};
        nparts = (int)dq_slots(j) + (tail > 0);
        if (s == QK_OK && tail > 0)
            s = cu_launch_grid(j->st, K_ABSMAX_SUM, 1, 256, tail_args);
    } else {
        nparts = qk_ceil_div(nb, 1024) < DQ_SUM_BLOCKS ? (int)qk_ceil_div(nb, 1024) : DQ_SUM_BLOCKS;
        void *sum_args[] = {P(j->work), P(nb), P(parts)};
        if (s == QK_OK)
            s = cu_launch_grid(j->st, K_ABSMAX_SUM, nparts, 256, sum_args);
    }
    void *mean_args[] = {P(parts), P(nparts), P(nb), P(result)};
    if (s == QK_OK)
        s = cu_launch_grid(j->st, K_ABSMAX_MEAN, 1, 1024, mean_args);
    if (s == QK_OK)
        s = nested_pass(j, nb, result);
    uint32_t r[2] = {0u, 0u};
    if (s == QK_OK)
        s = get_small(j, r, result, sizeof r);
    if (s != QK_OK || r[1] == 1u) {
        *off = r[0];
        return s;
    }
    uint32_t *absmax = host_scratch(j, (size_t)nb * 4);
    if (absmax == NULL)
        return qk_fail(QK_ERR_OUT_OF_MEMORY, "cuda: out of memory");
    s = get_small(j, absmax, j->work, (size_t)nb * 4);
    if (s == QK_OK) {
        *off = qk_bnb_absmax_mean(absmax, nb);
        s = put_small(j, result, off, 4);
    }
    return s == QK_OK ? nested_pass(j, nb, result) : s;
}

static qk_status bnb_q_finish(cu_job *j, void *const parts[4])
{
    if (!j->p->double_quant)
        return fetch_part(j, parts, QK_PART_SCALE);
    int64_t nb = qk_ceil_div(j->n, j->p->block_size);
    uint32_t off = 0;
    qk_status s = dq_nested(j, nb, &off);
    if (s != QK_OK)
        return s;
    qk_put_f32(parts[QK_PART_OFFSET], 0, off);
    s = fetch_part(j, parts, QK_PART_SCALE);
    if (s == QK_OK)
        s = fetch_part(j, parts, QK_PART_SCALE2);
    return s;
}

/* Double quant rebuilds each absmax inside the dequantize kernel from the
 * 8-bit codes (the scale part), nested absmax and offset. */
static qk_status bnb_dq_pass(cu_job *j, int64_t b0, int64_t b1)
{
    int dt = (int)j->dt, bs = j->p->block_size, nf4 = j->p->format == QK_FORMAT_NF4;
    int64_t n = j->n, e0, e1;
    bnb_in_range(j, b0, b1, &e0, &e1);
    int dq = j->p->double_quant;
    CUdeviceptr absmax = dq ? 0 : j->part[QK_PART_SCALE], codes = dq ? j->part[QK_PART_SCALE] : 0;
    CUdeviceptr nested = dq ? j->part[QK_PART_SCALE2] : 0, dmap = j->st->tables + 4 * CU_TAB_DMAP;
    uint32_t off = dq ? qk_get_f32(j->hparts_in[QK_PART_OFFSET], 0) : 0u;
    void *args[] = {P(j->part[QK_PART_DATA]), P(absmax), P(codes), P(nested), P(off), P(dmap), P(n), P(bs), P(nf4),
                    P(dt), P(b0), P(b1), P(j->buf)};
    return launch_dequantize(j, K_BNB4_DQ, qk_ceil_div(e1 - e0, 8), args);
}

/* ---- NVFP4 ------------------------------------------------------------------- */

static qk_status amax_zero(cu_job *j, size_t ng)
{
    qk_status s = alloc_dev(&j->work, j, ng * 4);
    return s == QK_OK ? memset_dev(j, j->work, ng * 4) : s;
}

static qk_status nvfp4_q_prepare(cu_job *j)
{
    qk_status s = memset_dev(j, j->part[QK_PART_SCALE], j->lay.part[QK_PART_SCALE].nbytes);
    return s == QK_OK ? amax_zero(j, 1) : s;
}

static qk_status tensor_amax_pass(cu_job *j, int64_t u0, int64_t u1)
{
    int64_t e0, e1;
    rows_in_range(j, u0, u1, &e0, &e1);
    if (e1 <= e0)
        return QK_OK;
    int dt = (int)j->dt;
    cu_groups G = {j->cols, magic(j->cols), 0, 1, 1, 1};
    void *args[] = {P(j->buf), P(dt), P(G), P(e0), P(e1), P(j->work)};
    int k = j->dt != QK_DTYPE_F32 ? K_GROUP_AMAX4 : K_GROUP_AMAX; /* 16-bit: four vectors a thread in flight */
    return launch_strided(j, k, qk_ceil_div(e1 - e0, 8), args);
}

/* 16-bit input takes qk_nvfp4_quantize16 and its per-tensor table of
 * block-maximum entries (16 bytes for each 16-bit pattern up to Inf). */
static int nvfp4_q16(const cu_job *j)
{
    return j->dt != QK_DTYPE_F32 && qk_round_up(j->cols, 16) / 16 <= INT32_MAX;
}

static uint32_t nvfp4_table_entries(const cu_job *j) { return j->dt == QK_DTYPE_BF16 ? 0x7F81u : 0x7C01u; }

static qk_status nvfp4_q_between(cu_job *j, void *const parts[4])
{
    uint32_t amax;
    qk_status s = get_small(j, &amax, j->work, 4);
    if (s != QK_OK)
        return s;
    if (amax >= QK_F32_INF)
        return QK_ERR_NONFINITE;
    j->g = qk_nvfp4_global_scale(j->dt, amax);
    qk_put_f32(parts[QK_PART_SCALE2], 0, j->g);
    if (j->g == 0u) /* an all-zero tensor: zero codes and scales (ref_nvfp4.c) */
        return memset_dev(j, j->part[QK_PART_DATA], j->lay.part[QK_PART_DATA].nbytes);
    if (!nvfp4_q16(j))
        return QK_OK;
    int dt = (int)j->dt;
    uint32_t n = nvfp4_table_entries(j);
    s = alloc_dev(&j->work2, j, (size_t)n * 16);
    void *args[] = {P(dt), P(j->g), P(n), P(j->work2)};
    return s == QK_OK ? cu_launch(j->st, K_NVFP4_TABLE, n, 256, args) : s;
}

static qk_status nvfp4_q_pass2(cu_job *j, int64_t r0, int64_t r1)
{
    if (j->g == 0u)
        return QK_OK;
    int dt = (int)j->dt, native = j->st->native_fp4;
    int64_t ncb = qk_round_up(j->cols, 16) / 16;
    if (nvfp4_q16(j)) {
        /* launches of under 2^32 threads: the kernel's index is 32-bit */
        uint32_t n32 = (uint32_t)ncb, m32 = UINT32_MAX / n32;
        int64_t step = ((int64_t)1 << 31) / ncb;
        for (int64_t a = r0; a < r1; a += step) {
            int64_t b = r1 - a < step ? r1 : a + step;
            void *args[] = {P(j->buf), P(dt), P(j->rows), P(j->cols), P(n32), P(m32), P(j->g), P(a), P(b),
                            P(native), P(j->work2), P(j->part[QK_PART_DATA]), P(j->part[QK_PART_SCALE])};
            qk_status s = cu_launch(j->st, K_NVFP4_Q16, (b - a) * ncb, 256, args);
            if (s != QK_OK)
                return s;
        }
        return QK_OK;
    }
    uint64_t m = magic(ncb);
    void *args[] = {P(j->buf), P(dt), P(j->rows), P(j->cols), P(ncb), P(m), P(j->g), P(r0), P(r1), P(native),
                    P(j->part[QK_PART_DATA]), P(j->part[QK_PART_SCALE])};
    return cu_launch(j->st, K_NVFP4_Q, (r1 - r0) * ncb, 256, args);
}

static qk_status scale_finish(cu_job *j, void *const parts[4]) { return fetch_part(j, parts, QK_PART_SCALE); }

/* Rows a block and step of the row-walking dequantize kernels: enough that
 * units (per row) fill a block of 256 threads. */
static int rows_per_step(int64_t units) { return units >= 256 ? 1 : (int)(256 / units); }

/* Rows of whole 256-column spans: the flat kernels of
 * k_blocked_dequantize_spans.cuh, eight columns a thread (NVFP4: f32
 * output only). */
static int whole_spans(const cu_job *j) { return j->cols % 256 == 0; }

static qk_status nvfp4_dq_pass(cu_job *j, int64_t r0, int64_t r1)
{
    int dt = (int)j->dt;
    r1 = r1 < j->rows ? r1 : j->rows;
    if (whole_spans(j) && j->dt == QK_DTYPE_F32) {
        int64_t ncb = j->cols / 16;
        uint64_t m = magic(j->cols);
        uint32_t gt = qk_get_f32(j->hparts_in[QK_PART_SCALE2], 0); /* T(g) = g */
        void *args[] = {P(j->part[QK_PART_DATA]), P(j->part[QK_PART_SCALE]), P(j->cols), P(m), P(ncb), P(gt),
                        P(r0), P(r1), P(j->buf)};
        return launch_capped(j, K_NVFP4_DQ_SPANS, (r1 - r0) * j->cols / 8, CU_NVFP4_SPANS_F32_BLOCKS_PER_SM, args);
    }
    if (qk_ceil_div(j->cols, 8) <= INT32_MAX) {
        /* qk_nvfp4_dequantize8: eight columns a unit */
        int64_t ncb = qk_round_up(j->cols, 16) / 16;
        int vpr = (int)qk_ceil_div(j->cols, 8), R = rows_per_step(vpr);
        uint32_t gt = qk_round_to(j->dt, qk_get_f32(j->hparts_in[QK_PART_SCALE2], 0));
        void *args[] = {P(j->part[QK_PART_DATA]), P(j->part[QK_PART_SCALE]), P(dt), P(j->cols), P(ncb), P(vpr), P(R),
                        P(gt), P(r0), P(r1), P(j->buf)};
        return launch_dequantize(j, K_NVFP4_DQ8, qk_ceil_div(r1 - r0, R) * 256, args);
    }
    int ncb = (int)(qk_round_up(j->cols, 16) / 16), R = rows_per_step(ncb);
    uint32_t gt = qk_round_to(j->dt, qk_get_f32(j->hparts_in[QK_PART_SCALE2], 0));
    void *args[] = {P(j->part[QK_PART_DATA]), P(j->part[QK_PART_SCALE]), P(dt), P(j->cols), P(ncb), P(R), P(gt),
                    P(r0), P(r1), P(j->buf)};
    return launch_dequantize(j, K_NVFP4_DQ, qk_ceil_div(r1 - r0, R) * 256, args);
}

/* ---- MXFP8 ------------------------------------------------------------------- */

static qk_status mxfp8_q_prepare(cu_job *j)
{
    qk_status s = memset_dev(j, j->part[QK_PART_SCALE], j->lay.part[QK_PART_SCALE].nbytes);
    return s == QK_OK ? amax_zero(j, 1) : s; /* work: the nonfinite flag */
}

static qk_status mxfp8_q_pass(cu_job *j, int64_t r0, int64_t r1)
{
    int dt = (int)j->dt;
    int64_t ncb = qk_round_up(j->cols, 32) / 32;
    uint64_t m = magic(ncb);
    void *args[] = {P(j->buf), P(dt), P(j->rows), P(j->cols), P(ncb), P(m), P(r0), P(r1),
                    P(j->part[QK_PART_DATA]), P(j->part[QK_PART_SCALE]), P(j->work)};
    return cu_launch(j->st, K_MXFP8_Q, (r1 - r0) * ncb, 256, args);
}

/* The nonfinite flag a one-pass quantize raised, then the scale part. */
static qk_status flag_scale_finish(cu_job *j, void *const parts[4])
{
    uint32_t flag;
    qk_status s = get_small(j, &flag, j->work, 4);
    if (s == QK_OK && flag)
        s = QK_ERR_NONFINITE;
    return s == QK_OK ? fetch_part(j, parts, QK_PART_SCALE) : s;
}

static qk_status mxfp8_dq_pass(cu_job *j, int64_t r0, int64_t r1)
{
    int dt = (int)j->dt;
    r1 = r1 < j->rows ? r1 : j->rows;
    int64_t ncb = qk_round_up(j->cols, 32) / 32;
    if (whole_spans(j)) {
        uint64_t m = magic(j->cols);
        void *args[] = {P(j->part[QK_PART_DATA]), P(j->part[QK_PART_SCALE]), P(dt), P(j->cols), P(m), P(ncb),
                        P(r0), P(r1), P(j->buf)};
        return launch_dequantize(j, K_MXFP8_DQ_SPANS, (r1 - r0) * j->cols / 8, args);
    }
    int vpr = (int)qk_ceil_div(j->cols, 8), R = rows_per_step(vpr);
    void *args[] = {P(j->part[QK_PART_DATA]), P(j->part[QK_PART_SCALE]), P(dt), P(j->cols), P(ncb), P(vpr), P(R),
                    P(r0), P(r1), P(j->buf)};
    return launch_dequantize(j, K_MXFP8_DQ, qk_ceil_div(r1 - r0, R) * 256, args);
}

/* ---- ConvRot a row per block (k_convrot_rows.cuh) ---------------------------------- */

#define CR_MAX_COLS 8192 /* k_convrot_rows.cuh: the row in shared memory (_rows4k: half) */

/* G = 16..1024; G = 4 takes the tile kernels (a row kernel's unit is 16
 * columns of one group, and G = 4 rows need not hold whole units). */
static int convrot_rows_fit(const cu_job *j) { return j->p->convrot_group >= 16 && j->cols <= CR_MAX_COLS; }

/* G = 16, 64 or 256 on rows of whole 64-column runs: dequantize 64 values
 * a thread (k_convrot64.cuh). */
static int convrot64_fits(const cu_job *j)
{
    int G = j->p->convrot_group;
    return (G == 16 || G == 64 || G == 256) && j->cols % 64 == 0;
}

/* Blocks a SM for qk_convrot_quantize_rows4k of f16 input. On the H100,
 * f16 ConvRot quantize of 1 GiB ran at 86-88% of the copy with every block
 * that fits (8), 90% at 6, 92% at 5, 93% at 4 and 85% at 3; bf16 lost 3
 * points at 4 and f32 19, so they keep every block (BACKEND-CUDA.md). */
#define CU_CONVROT_Q4K_F16_BLOCKS_PER_SM 4

static qk_status convrot_q_rows_pass(cu_job *j, int64_t r0, int64_t r1)
{
    r1 = r1 < j->rows ? r1 : j->rows;
    int dt = (int)j->dt, G = j->p->convrot_group;
    void *args[] = {P(j->buf), P(dt), P(j->cols), P(G), P(r0), P(r1), P(j->part[QK_PART_SCALE]),
                    P(j->part[QK_PART_DATA]), P(j->work)};
    int k = j->cols <= CR_MAX_COLS / 2 ? K_CONVROT_Q_ROWS4K : K_CONVROT_Q_ROWS;
    int64_t threads = (r1 - r0) * cu_block_threads(k); /* a row a block and step */
    if (k == K_CONVROT_Q_ROWS4K && j->dt == QK_DTYPE_F16)
        return launch_capped(j, k, threads, CU_CONVROT_Q4K_F16_BLOCKS_PER_SM, args);
    return launch_strided(j, k, threads, args);
}

static qk_status convrot_dq_rows_pass(cu_job *j, int64_t r0, int64_t r1)
{
    r1 = r1 < j->rows ? r1 : j->rows;
    int dt = (int)j->dt, G = j->p->convrot_group;
    void *args[] = {P(j->part[QK_PART_DATA]), P(j->part[QK_PART_SCALE]), P(dt), P(j->cols), P(G), P(r0), P(r1),
                    P(j->buf)};
    int k = j->cols <= CR_MAX_COLS / 2 ? K_CONVROT_DQ_ROWS4K : K_CONVROT_DQ_ROWS;
    return launch_dequantize(j, k, (r1 - r0) * 256, args);
}

static qk_status convrot_dq64_pass(cu_job *j, int64_t u0, int64_t u1)
{
    int64_t e0, e1;
    rows_in_range(j, u0, u1, &e0, &e1);
    int dt = (int)j->dt, G = j->p->convrot_group;
    uint64_t m = magic(j->cols);
    void *args[] = {P(j->part[QK_PART_DATA]), P(j->part[QK_PART_SCALE]), P(dt), P(j->cols), P(m), P(G), P(e0),
                    P(e1), P(j->buf)};
    return launch_dequantize(j, K_CONVROT_DQ64, (e1 - e0) / 64, args);
}

/* ---- float8 / int8 with scale groups ----------------------------------------- */

static qk_groups job_groups(const cu_job *j)
{
    const qk_params *p = j->p;
    qk_scaling sc = p->format == QK_FORMAT_INT8_BLOCKWISE ? QK_SCALING_BLOCK : p->scaling;
    return qk_groups_make(sc, p->block_size, j->rows, j->cols);
}

static cu_groups dev_groups(const cu_job *j)
{
    const qk_params *p = j->p;
    qk_scaling sc = p->format == QK_FORMAT_INT8_BLOCKWISE ? QK_SCALING_BLOCK : p->scaling;
    qk_groups g = job_groups(j);
    cu_groups G = {j->cols, magic(j->cols), (int32_t)sc, (int32_t)g.bh, (int32_t)g.bw, g.gc};
    if (sc != QK_SCALING_BLOCK)
        G.bh = G.bw = 1;
    return G;
}

static int is_int8(const cu_job *j)
{
    return j->p->format == QK_FORMAT_INT8_TENSORWISE || j->p->format == QK_FORMAT_INT8_BLOCKWISE;
}

static qk_status scaled_q_prepare(cu_job *j)
{
    qk_groups g = job_groups(j);
    j->ng = qk_groups_count(&g);
    qk_status s = amax_zero(j, (size_t)j->ng);
    return s == QK_OK ? alloc_dev(&j->work2, j, (size_t)j->ng * 4) : s;
}

static qk_status scaled_amax_pass(cu_job *j, int64_t u0, int64_t u1)
{
    int64_t e0, e1;
    rows_in_range(j, u0, u1, &e0, &e1);
    int dt = (int)j->dt;
    if (j->p->convrot_group > 0) {
        int G = j->p->convrot_group, mode = 0;
        uint64_t m = magic(j->cols);
        CUdeviceptr none = 0;
        void *args[] = {P(j->buf), P(dt), P(j->cols), P(m), P(G), P(mode), P(e0), P(e1), P(j->work), P(none), P(none)};
        return cu_launch_grid(j->st, K_CONVROT_INT8, qk_ceil_div(e1 - e0, 1024), 256, args);
    }
    cu_groups G = dev_groups(j);
    void *args[] = {P(j->buf), P(dt), P(G), P(e0), P(e1), P(j->work)};
    return launch_strided(j, K_GROUP_AMAX, qk_ceil_div(e1 - e0, 8), args);
}

static uint32_t tiny_of(qk_dtype dt) { return dt == QK_DTYPE_F16 ? 0x38800000u : 0x00800000u; }

/* Tensor scaling of bf16/f16 input codes by table (k_code_table.cuh). */
static int by_table16(const cu_job *j)
{
    int fmt_ok = j->p->format == QK_FORMAT_FLOAT8_E4M3FN || j->p->format == QK_FORMAT_FLOAT8_E5M2 ||
                 j->p->format == QK_FORMAT_INT8_TENSORWISE;
    return j->st->table16 && fmt_ok && j->p->scaling == QK_SCALING_TENSOR && j->p->convrot_group == 0 &&
           (j->dt == QK_DTYPE_BF16 || j->dt == QK_DTYPE_F16);
}

static qk_status code_table16(cu_job *j)
{
    qk_status s = alloc_dev(&j->table16, j, CU_TABLE16_BYTES);
    if (s != QK_OK)
        return s;
    int dt = (int)j->dt;
    int kind = j->p->format == QK_FORMAT_INT8_TENSORWISE ? 2 : j->p->format == QK_FORMAT_FLOAT8_E5M2;
    void *args[] = {P(dt), P(kind), P(j->work2), P(j->table16)};
    return cu_launch_grid(j->st, K_CODE_TABLE16, CU_TABLE16_BYTES / 256, 256, args);
}

/* The per-group scalars exactly as ref_fp8.c / ref_int8.c compute them. */
static qk_status scaled_q_between(cu_job *j, void *const parts[4])
{
    int64_t ng = j->ng;
    uint32_t *amax = host_scratch(j, (size_t)ng * 8);
    if (amax == NULL)
        return qk_fail(QK_ERR_OUT_OF_MEMORY, "cuda: out of memory");
    qk_status s = get_small(j, amax, j->work, (size_t)ng * 4);
    if (s != QK_OK)
        return s;
    for (int64_t k = 0; k < ng; k++)
        if (amax[k] >= QK_F32_INF)
            return QK_ERR_NONFINITE;
    uint32_t *out = amax + ng; /* reciprocal (fp8) or divisor (int8) per group */
    qk_dtype dt = j->dt;
    if (!is_int8(j)) {
        uint32_t fpmax = j->p->format == QK_FORMAT_FLOAT8_E5M2 ? QK_F32_E5M2_MAX : QK_F32_E4M3_MAX;
        for (int64_t k = 0; k < ng; k++) {
            uint32_t scale = qk_round_to(dt, qk_fdiv(amax[k], fpmax));
            qk_put_f32(parts[QK_PART_SCALE], k, scale);
            out[k] = qk_round_to(dt, qk_fdiv(QK_F32_ONE, scale));
        }
    } else if (j->p->format == QK_FORMAT_INT8_BLOCKWISE) {
        uint32_t floor = qk_round_to(dt, 0x322BCC77u /* nearest f32 to 1e-8 */);
        for (int64_t k = 0; k < ng; k++) {
            uint32_t scale = qk_round_to(dt, qk_fdiv(amax[k], QK_F32_INT8_MAX));
            scale = scale < floor ? floor : scale;
            qk_put_f32(parts[QK_PART_SCALE], k, scale);
            out[k] = scale;
        }
    } else {
        for (int64_t k = 0; k < ng; k++) {
            uint32_t scale = qk_fdiv(amax[k], QK_F32_INT8_MAX);
            if (scale < QK_F32_1E_30)
                scale = QK_F32_1E_30;
            qk_put_f32(parts[QK_PART_SCALE], k, scale);
            uint32_t st_ = qk_round_to(dt, scale);
            out[k] = st_ == 0u ? tiny_of(dt) : st_;
        }
    }
    qk_status s2 = put_small(j, j->work2, out, (size_t)ng * 4);
    return s2 == QK_OK && by_table16(j) ? code_table16(j) : s2;
}

static qk_status scaled_q_pass2(cu_job *j, int64_t u0, int64_t u1)
{
    int64_t e0, e1;
    rows_in_range(j, u0, u1, &e0, &e1);
    int dt = (int)j->dt;
    if (j->p->convrot_group > 0) {
        int G = j->p->convrot_group, mode = 1;
        uint64_t m = magic(j->cols);
        void *args[] = {P(j->buf), P(dt), P(j->cols), P(m), P(G), P(mode), P(e0), P(e1), P(j->work), P(j->work2),
                        P(j->part[QK_PART_DATA])};
        return cu_launch_grid(j->st, K_CONVROT_INT8, qk_ceil_div(e1 - e0, 1024), 256, args);
    }
    if (j->table16) {
        void *args[] = {P(j->buf), P(j->table16), P(e0), P(e1), P(j->part[QK_PART_DATA])};
        int64_t blocks = qk_ceil_div(e1 - e0, 8 * 1024);
        int64_t cap = (int64_t)j->st->sms * j->st->resident[K_QUANTIZE_BY_TABLE16];
        return cu_launch_smem(j->st, K_QUANTIZE_BY_TABLE16, blocks < cap ? blocks : cap, 1024, CU_TABLE16_BYTES,
                              args);
    }
    cu_groups G = dev_groups(j);
    int flag = is_int8(j) ? j->p->format == QK_FORMAT_INT8_BLOCKWISE : j->p->format == QK_FORMAT_FLOAT8_E5M2;
    void *args[] = {P(j->buf), P(dt), P(G), P(j->work2), P(flag), P(e0), P(e1), P(j->part[QK_PART_DATA])};
    return cu_launch(j->st, is_int8(j) ? K_INT8_Q : K_FP8_Q, qk_ceil_div(e1 - e0, 8), 256, args);
}

/* GQ_E4M3 .. GQ_INT8_BLOCKWISE (k_group_quantize.cuh) and GDQ_* alike. */
static int group_kind(const cu_job *j)
{
    return j->p->format == QK_FORMAT_FLOAT8_E4M3FN ? 0
           : j->p->format == QK_FORMAT_FLOAT8_E5M2 ? 1
           : j->p->format == QK_FORMAT_INT8_BLOCKWISE ? 3 : 2;
}

static int log2_exact(int64_t v)
{
    int l = 0;
    while (l < 62 && ((int64_t)1 << l) < v)
        l++;
    return ((int64_t)1 << l) == v ? l : -1;
}

/* Row groups, or tiles whose edge is a power of two (>= 8), of a tensor
 * whose columns come in whole vectors of 8: k_group_dequantize.cuh. */
static int group_dq_fits(const cu_job *j)
{
    qk_groups g = job_groups(j);
    qk_scaling sc = j->p->format == QK_FORMAT_INT8_BLOCKWISE ? QK_SCALING_BLOCK : j->p->scaling;
    if (sc == QK_SCALING_TENSOR || j->p->convrot_group != 0 || j->cols % 8 != 0 || j->cols / 8 > INT32_MAX)
        return 0;
    return sc == QK_SCALING_ROW || (g.bw >= 8 && log2_exact(g.bh) >= 0 && log2_exact(g.bw / 8) >= 0);
}

static qk_status group_dq_pass(cu_job *j, int64_t r0, int64_t r1)
{
    qk_groups g = job_groups(j);
    r1 = r1 < j->rows ? r1 : j->rows;
    int dt = (int)j->dt, kind = group_kind(j), vpr = (int)(j->cols / 8), R = rows_per_step(vpr);
    int row = g.bh == 1 && g.gc == 1, rsh = row ? 0 : log2_exact(g.bh), csh = row ? 31 : log2_exact(g.bw / 8);
    void *args[] = {P(j->part[QK_PART_DATA]), P(j->part[QK_PART_SCALE]), P(dt), P(j->cols), P(vpr), P(R), P(rsh),
                    P(csh), P(g.gc), P(r0), P(r1), P(kind), P(j->buf)};
    return launch_dequantize(j, K_GROUP_DQ, qk_ceil_div(r1 - r0, R) * 256, args); /* R rows a block and step */
}

static qk_status scaled_dq_pass(cu_job *j, int64_t u0, int64_t u1)
{
    int64_t e0, e1;
    rows_in_range(j, u0, u1, &e0, &e1);
    int dt = (int)j->dt;
    if (convrot64_fits(j))
        return convrot_dq64_pass(j, u0, u1);
    if (convrot_rows_fit(j))
        return convrot_dq_rows_pass(j, u0, u1);
    if (j->p->convrot_group > 0) {
        int G = j->p->convrot_group;
        uint64_t m = magic(j->cols);
        void *args[] = {P(j->part[QK_PART_DATA]), P(j->part[QK_PART_SCALE]), P(dt), P(j->cols), P(m), P(G), P(e0),
                        P(e1), P(j->buf)};
        return cu_launch_grid(j->st, K_CONVROT_DQ, qk_ceil_div(e1 - e0, 1024), 256, args);
    }
    if (group_dq_fits(j))
        return group_dq_pass(j, u0, u1);
    cu_groups G = dev_groups(j);
    int flag = is_int8(j) ? j->p->format == QK_FORMAT_INT8_BLOCKWISE : j->p->format == QK_FORMAT_FLOAT8_E5M2;
    void *args[] = {P(j->part[QK_PART_DATA]), P(j->part[QK_PART_SCALE]), P(dt), P(G), P(flag), P(e0), P(e1),
                    P(j->buf)};
    int k = is_int8(j) ? K_INT8_DQ : K_FP8_DQ;
    if (G.mode != QK_SCALING_TENSOR)
        return cu_launch(j->st, k, qk_ceil_div(e1 - e0, 8), 256, args);
    return launch_dequantize(j, k, qk_ceil_div(e1 - e0, 8), args); /* each block's table pays once */
}

/* ---- float8 / int8 row and tile groups in one pass (k_group_quantize.cuh) ------ */

/* Elements a group kernel holds: a block of 256 threads, 2 or (16-bit dtypes)
 * 8 vectors of 8 a thread, or (f32 past GQ_SMALL_ELEMS) a block of 1024
 * threads of 2 vectors; float8 groups of up to GQ_SMALL_ELEMS 16-bit
 * elements go to a warp of 16 vectors a lane instead. */
#define GQ_SMALL_ELEMS (256 * 2 * 8)
#define GQ_MAX_ELEMS (256 * 8 * 8)

/* Row or tile groups that one CUDA block holds, in whole vectors of 8. */
static int one_pass_groups(const cu_job *j)
{
    qk_groups g = job_groups(j);
    qk_scaling sc = j->p->format == QK_FORMAT_INT8_BLOCKWISE ? QK_SCALING_BLOCK : j->p->scaling;
    return sc != QK_SCALING_TENSOR && j->p->convrot_group == 0 && j->cols % 8 == 0 && g.bw % 8 == 0 &&
           g.bh * g.bw <= GQ_MAX_ELEMS;
}

static qk_status group_q_prepare(cu_job *j) { return amax_zero(j, 1); } /* work: the nonfinite flag */

static qk_status group_q_pass(cu_job *j, int64_t r0, int64_t r1)
{
    qk_groups g = job_groups(j);
    r1 = r1 < j->rows ? r1 : j->rows;
    int64_t g0 = r0 / g.bh * g.gc, g1 = qk_ceil_div(r1, g.bh) * g.gc;
    int dt = (int)j->dt, bh = (int)g.bh, bw = (int)g.bw;
    int kind = group_kind(j);
    void *args[] = {P(j->buf), P(dt), P(j->rows), P(j->cols), P(bh), P(bw), P(g.gc), P(g0), P(g1), P(kind),
                    P(j->part[QK_PART_SCALE]), P(j->part[QK_PART_DATA]), P(j->work)};
    int small = g.bh * g.bw <= GQ_SMALL_ELEMS;
    if (small && j->dt != QK_DTYPE_F32)
        return launch_strided(j, K_GROUP_Q_WARP, (g1 - g0) * 32, args); /* a group a warp */
    if (!small && j->dt == QK_DTYPE_F32)
        return launch_strided(j, K_GROUP_Q_16K_F32, (g1 - g0) * 1024, args);
    return launch_strided(j, small ? K_GROUP_Q_4K : K_GROUP_Q_16K, (g1 - g0) * 256, args); /* a group a block */
}

/* ---- plan tables --------------------------------------------------------------- */

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b != 0) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static void rows_plan(cu_job *j, cu_plan *pl, int64_t units, int64_t align)
{
    memset(pl, 0, sizeof *pl);
    pl->units = units;
    /* Chunks start on a multiple of 8 elements: the flattened kernels load
     * and store 8 elements at a time with vector accesses aligned to that. */
    int64_t rows8 = 8 / gcd64(j->cols, 8);
    pl->align = align / gcd64(align, rows8) * rows8;
    pl->unit_elems = j->cols;
    pl->in_range = rows_in_range;
}

qk_status cu_plan_quantize(cu_job *j, cu_plan *pl)
{
    switch (j->p->format) {
    case QK_FORMAT_NF4:
    case QK_FORMAT_FP4:
        memset(pl, 0, sizeof *pl);
        pl->units = qk_ceil_div(j->n, j->p->block_size);
        pl->align = 1;
        pl->unit_elems = j->p->block_size;
        pl->in_range = bnb_in_range;
        pl->data_range = bnb_data_range;
        pl->prepare = bnb_q_prepare;
        pl->pass1 = bnb_q_pass;
        pl->finish = bnb_q_finish;
        return QK_OK;
    case QK_FORMAT_NVFP4:
        rows_plan(j, pl, qk_round_up(j->rows, 16), 16);
        pl->data_range = nvfp4_data_range;
        pl->prepare = nvfp4_q_prepare;
        pl->pass1 = tensor_amax_pass;
        pl->between = nvfp4_q_between;
        pl->pass2 = nvfp4_q_pass2;
        pl->finish = scale_finish;
        return QK_OK;
    case QK_FORMAT_MXFP8:
        rows_plan(j, pl, qk_round_up(j->rows, 32), 32);
        pl->data_range = mxfp8_data_range;
        pl->prepare = mxfp8_q_prepare;
        pl->pass1 = mxfp8_q_pass;
        pl->finish = flag_scale_finish;
        return QK_OK;
    default: {
        qk_groups g = job_groups(j);
        int block = j->p->format == QK_FORMAT_INT8_BLOCKWISE || j->p->scaling == QK_SCALING_BLOCK;
        rows_plan(j, pl, j->rows, block ? g.bh : 1); /* chunks hold whole tile rows */
        pl->data_range = scaled_data_range;
        if (one_pass_groups(j) || convrot_rows_fit(j)) {
            pl->prepare = group_q_prepare;
            pl->pass1 = j->p->convrot_group > 0 ? convrot_q_rows_pass : group_q_pass;
            pl->finish = flag_scale_finish;
            return QK_OK;
        }
        pl->prepare = scaled_q_prepare;
        pl->pass1 = scaled_amax_pass;
        pl->between = scaled_q_between;
        pl->pass2 = scaled_q_pass2;
        return QK_OK;
    }
    }
}

qk_status cu_plan_dequantize(cu_job *j, cu_plan *pl)
{
    switch (j->p->format) {
    case QK_FORMAT_NF4:
    case QK_FORMAT_FP4:
        memset(pl, 0, sizeof *pl);
        pl->units = qk_ceil_div(j->n, j->p->block_size);
        pl->align = 1;
        pl->unit_elems = j->p->block_size;
        pl->in_range = bnb_in_range;
        pl->data_range = bnb_data_range;
        pl->pass1 = bnb_dq_pass;
        return QK_OK;
    case QK_FORMAT_NVFP4:
        rows_plan(j, pl, j->rows, 1);
        pl->data_range = nvfp4_data_range;
        pl->pass1 = nvfp4_dq_pass;
        return QK_OK;
    case QK_FORMAT_MXFP8:
        rows_plan(j, pl, j->rows, 1);
        pl->data_range = mxfp8_data_range;
        pl->pass1 = mxfp8_dq_pass;
        return QK_OK;
    default:
        rows_plan(j, pl, j->rows, 1);
        pl->data_range = scaled_data_range;
        pl->pass1 = scaled_dq_pass;
        return QK_OK;
    }
}
