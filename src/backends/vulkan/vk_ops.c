/* Per-format command recording of the Vulkan backend.
 *
 * Every pass is cut into chunks whose bindings stay within the device's
 * maxStorageBufferRange (128 MiB on lavapipe) and start on aligned offsets:
 * flat passes chunk at multiples of an element count, row passes at row
 * multiples (128 for the blocked scale layouts). Shaders index within their
 * chunk; passes that need global coordinates get the chunk origin. */
#include <stdlib.h>
#include <string.h>

#include "../../codec/qk_codec.h"
#include "../../ref/ref_internal.h"
#include "vk_internal.h"


static int log2_of(int64_t v)
{
    int l = 0;
    while (((int64_t)1 << l) < v)
        l++;
    return l;
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static size_t dsize(qk_dtype dt) { return dt == QK_DTYPE_F32 ? 4 : 2; }

qk_status qk_vk_job_init(qk_vk_job *j, const qk_params *p, qk_dtype dt, int64_t rows, int64_t cols)
{
    j->p = p;
    j->dt = dt;
    j->rows = rows;
    j->cols = cols;
    qk_layout_query(p, rows, cols, &j->lay);
    /* Shaders index elements with 32-bit integers (padded shapes included). */
    if (round_up(rows, 128) * round_up(cols, 32) >= ((int64_t)1 << 31))
        return qk_fail(QK_ERR_UNSUPPORTED, "vulkan: tensors of 2^31 elements or more are not supported");
    return QK_OK;
}

size_t qk_vk_input_bytes(const qk_vk_job *j) { return (size_t)(j->rows * j->cols) * dsize(j->dt); }

int qk_vk_bnb_absmax_slot(const qk_vk_job *j) { return j->p->double_quant ? VB_AUX : VB_SCALE; }

static qk_status too_large(const char *what)
{
    return qk_fail(QK_ERR_UNSUPPORTED, "vulkan: %s exceeds the device's storage-buffer range", what);
}

/* Largest multiple of `unit` units whose biggest binding fits max_range. */
static int64_t chunk_of(const qk_vk_state *s, int64_t unit, double bytes_per_unit)
{
    int64_t k = (int64_t)((double)s->max_range / (bytes_per_unit * (double)unit));
    return k * unit;
}

int qk_vk_env_off(const char *name)
{
    const char *e = getenv(name);
    return e && strcmp(e, "0") == 0;
}

/* Row multiple that keeps r0 * row_bytes aligned. */
static int64_t row_align(const qk_vk_state *s, int64_t row_bytes)
{
    int64_t a = (int64_t)s->align;
    return a / gcd64(row_bytes % a == 0 ? a : row_bytes % a, a);
}

/* Workgroups of 256 for `threads` invocations of a grid-stride shader:
 * at most QK_VK_STRIDE_GROUPS, so that a shader's per-workgroup setup (a
 * code table and its barrier) is paid once for several vectors. On the
 * H200, 16384 (about 16 waves) beat 2048 by 4-7 points of the copy on
 * every grid-stride dequantize, and 1024 (one wave) lost 5-6; the
 * environment variable QK_VULKAN_STRIDE_GROUPS sets it for other GPUs. */
static int64_t stride_cap(void)
{
    const char *e = getenv("QK_VULKAN_STRIDE_GROUPS");
    int64_t cap = e ? atoll(e) : 0;
    return cap < 1 || cap > 65535 ? QK_VK_STRIDE_GROUPS : cap; /* grid-stride shaders are one-dimensional */
}

static uint64_t stride_groups(int64_t threads)
{
    int64_t cap = stride_cap(), g = ceil_div(threads, 256);
    return (uint64_t)(g < 1 ? 1 : g > cap ? cap : g);
}

#define B(slot, off, len) ((qk_vk_bind){(slot), (VkDeviceSize)(off), (VkDeviceSize)(len)})

/* ---- the bench's compute copy ------------------------------------------- */
/* Chunks of whole 16-byte units at aligned offsets; a partial last word
 * (2-byte elements) is copied whole: the buffers are reserved in 256-byte
 * steps. At most 65535 workgroups per chunk (one dimension, as the
 * grid-stride loop needs), each invocation a few uvec4. */
static unsigned long copy_dispatches;

unsigned long qk_vk_copy_dispatches(void) { return __atomic_load_n(&copy_dispatches, __ATOMIC_RELAXED); }

qk_status qk_vk_record_copy(qk_vk_state *s, int from, int to, VkDeviceSize bytes)
{
    int64_t total = (int64_t)bytes, cb = chunk_of(s, max64((int64_t)s->align, 16), 1.0);
    if (cb == 0)
        return too_large("one copy chunk");
    qk_status st = QK_OK;
    for (int64_t b0 = 0; b0 < total && st == QK_OK; b0 += cb) {
        int64_t nb = total - b0 < cb ? total - b0 : cb, words = ceil_div(nb, 4), units = nb / 16;
        int64_t wg = ceil_div(units, 256 * 4);
        wg = wg < 1 ? 1 : wg > 65535 ? 65535 : wg;
        qk_vk_bind b[] = {B(from, b0, units * 16), B(to, b0, units * 16), B(from, b0, words * 4),
                          B(to, b0, words * 4)};
        uint32_t pc[QK_VK_PC_WORDS] = {(uint32_t)words};
        st = qk_vk_dispatch(s, VP_COPY, 0, b, 4, pc, (uint64_t)wg, 1);
        __atomic_fetch_add(&copy_dispatches, 1, __ATOMIC_RELAXED);
    }
    return st;
}

/* ---- bitsandbytes NF4 / FP4 --------------------------------------------- */
/* Elements a bnb4 quantize chunk starts at a multiple of: whole workgroup
 * spans, aligned input, data and absmax offsets. */
static int64_t bnb4_q_unit(const qk_vk_state *s, const qk_vk_job *j)
{
    int64_t bs = j->p->block_size, a = (int64_t)s->align;
    return max64(max64(max64(2048, bs), bs * max64(a / 4, 1)), 2 * a);
}

static int64_t bnb4_dq_unit(const qk_vk_state *s, const qk_vk_job *j)
{
    int64_t a = (int64_t)s->align;
    return max64(max64(j->p->block_size * max64(a / 4, 1), 2 * a), 8);
}

static qk_status bnb4_q_prepare(qk_vk_state *s, const qk_vk_job *j)
{
    int64_t n = j->rows * j->cols, bs = j->p->block_size;
    qk_status st = qk_vk_reserve(s, VB_DATA, j->lay.part[QK_PART_DATA].nbytes);
    if (st == QK_OK)
        st = qk_vk_reserve(s, qk_vk_bnb_absmax_slot(j), (VkDeviceSize)ceil_div(n, bs) * 4);
    if (st == QK_OK && j->p->double_quant)
        st = qk_vk_reserve(s, VB_PARTIAL,
                           (VkDeviceSize)ceil_div(ceil_div(n, bs), QK_BNB_PARTIAL_RUN) * QK_BNB_PARTIAL_WORDS * 4);
    /* the nested pass's outputs and the offset with its flag: reserved
     * here, since a reserve that grows a buffer may not fall inside a
     * recording that already uses it */
    if (st == QK_OK && j->p->double_quant)
        st = qk_vk_reserve(s, VB_SCALE, (VkDeviceSize)ceil_div(n, bs));
    if (st == QK_OK && j->p->double_quant)
        st = qk_vk_reserve(s, VB_SCALE2, (VkDeviceSize)ceil_div(ceil_div(n, bs), 256) * 4);
    if (st == QK_OK && j->p->double_quant)
        st = qk_vk_reserve(s, VB_AMAX, 8);
    return st;
}

static unsigned long bnb4_shuffle_runs;

unsigned long qk_vk_bnb4_shuffle_runs(void) { return __atomic_load_n(&bnb4_shuffle_runs, __ATOMIC_RELAXED); }

static unsigned long bnb4_q64_runs;

unsigned long qk_vk_bnb4_q64_runs(void) { return __atomic_load_n(&bnb4_q64_runs, __ATOMIC_RELAXED); }

static qk_status bnb4_quantize(qk_vk_state *s, const qk_vk_job *j, int64_t lo, int64_t hi)
{
    int64_t bs = j->p->block_size, es = (int64_t)dsize(j->dt);
    int64_t span = max64(2048, bs);
    int64_t ce = chunk_of(s, bnb4_q_unit(s, j), (double)es);
    if (ce == 0)
        return too_large("one NF4/FP4 chunk");
    int slot = qk_vk_bnb_absmax_slot(j);
    /* a block's bs / 8 words in one subgroup (up to 256 elements where
     * subgroups hold 32): maxima by shuffles, no shared memory or barrier */
    int cluster = s->dev->cluster_max != 0 && bs / 8 <= (int64_t)s->dev->cluster_max && bs <= 256;
    /* blocks of 64 (the usual case): bnb4_quantize64.comp, four lanes a
     * block by shuffles, grid-stride */
    int q64 = cluster && bs == 64;
    if (cluster)
        __atomic_add_fetch(q64 ? &bnb4_q64_runs : &bnb4_shuffle_runs, 1, __ATOMIC_RELAXED);
    qk_status st = QK_OK;
    for (int64_t e0 = lo; e0 < hi && st == QK_OK; e0 += ce) {
        int64_t ne = hi - e0 < ce ? hi - e0 : ce;
        qk_vk_bind b[] = {B(VB_IN, e0 * es, ne * es), B(VB_DATA, e0 / 2, ceil_div(ne, 2)),
                          B(slot, e0 / bs * 4, ceil_div(ne, bs) * 4), B(VB_TABLE, 0, QK_VK_TABLE_WORDS * 4)};
        uint32_t pc[QK_VK_PC_WORDS] = {(uint32_t)ne, (uint32_t)log2_of(bs), (uint32_t)j->dt,
                                       j->p->format == QK_FORMAT_NF4};
        if (q64)
            st = qk_vk_dispatch(s, VP_BNB4_Q64, j->dt, b, 4, pc, stride_groups(ceil_div(ne, 16)), 1);
        else
            st = qk_vk_dispatch(s, cluster ? VP_BNB4_Q_CLUSTER : VP_BNB4_Q, j->dt, b, 4, pc,
                                (uint64_t)ceil_div(ne, span), 1);
    }
    return st;
}

static qk_status bnb4_dequantize(qk_vk_state *s, const qk_vk_job *j, int64_t lo, int64_t hi)
{
    int64_t bs = j->p->block_size, es = (int64_t)dsize(j->dt);
    int64_t ce = chunk_of(s, bnb4_dq_unit(s, j), (double)es);
    if (ce == 0)
        return too_large("one NF4/FP4 chunk");
    int slot = j->p->double_quant ? VB_AUX : VB_SCALE;
    qk_status st = QK_OK;
    for (int64_t e0 = lo; e0 < hi && st == QK_OK; e0 += ce) {
        int64_t ne = hi - e0 < ce ? hi - e0 : ce;
        qk_vk_bind b[] = {B(VB_DATA, e0 / 2, ceil_div(ne, 2)), B(slot, e0 / bs * 4, ceil_div(ne, bs) * 4),
                          B(VB_OUT, e0 * es, ne * es)};
        uint32_t pc[QK_VK_PC_WORDS] = {(uint32_t)ne, (uint32_t)log2_of(bs), (uint32_t)j->dt,
                                       j->p->format == QK_FORMAT_NF4};
        st = qk_vk_dispatch(s, VP_BNB4_DQ, j->dt, b, 3, pc, stride_groups(ceil_div(ne, 8)), 1);
    }
    return st;
}

/* Double quant's nested pass in chunks of whole nested blocks (1 KiB of
 * absmax each): codes and nested absmax from the absmax in VB_AUX, or the
 * absmax back from them; the offset is in VB_AMAX[0] either way. */
static qk_status record_nested_pass(qk_vk_state *s, const qk_vk_job *j, int dequantize)
{
    int64_t nb = ceil_div(j->rows * j->cols, j->p->block_size), nn = ceil_div(nb, 256);
    int64_t unit = max64((int64_t)s->align / 4, 1);
    int64_t cn = chunk_of(s, unit, 1024.0);
    qk_status st = dequantize ? qk_vk_reserve(s, VB_AUX, (VkDeviceSize)nb * 4)
                              : qk_vk_reserve(s, VB_SCALE, (VkDeviceSize)nb);
    if (st == QK_OK && !dequantize)
        st = qk_vk_reserve(s, VB_SCALE2, (VkDeviceSize)nn * 4);
    for (int64_t b0 = 0; b0 < nn && st == QK_OK; b0 += cn) {
        int64_t k = nn - b0 < cn ? nn - b0 : cn;
        int64_t na = (b0 + k) * 256 < nb ? k * 256 : nb - b0 * 256;
        qk_vk_bind absmax = B(VB_AUX, b0 * 1024, na * 4), codes = B(VB_SCALE, b0 * 256, na),
                   nested = B(VB_SCALE2, b0 * 4, k * 4), table = B(VB_TABLE, 0, QK_VK_TABLE_WORDS * 4), off = B(VB_AMAX, 0, 4);
        uint32_t pc[QK_VK_PC_WORDS] = {(uint32_t)na};
        if (dequantize) { /* four absmax an invocation (bnb_nested_dequantize.comp) */
            qk_vk_bind b[] = {codes, nested, table, off, absmax};
            st = qk_vk_dispatch(s, VP_BNB_NESTED_DQ, j->dt, b, 5, pc, (uint64_t)ceil_div(na, 4), 0);
        } else { /* eight values an invocation, grid-stride (bnb_nested.comp) */
            qk_vk_bind b[] = {absmax, codes, nested, table, off, absmax};
            st = qk_vk_dispatch(s, VP_BNB_NESTED, j->dt, b, 6, pc, stride_groups(ceil_div(na, 8)), 1);
        }
    }
    return st;
}

qk_status qk_vk_record_nested(qk_vk_state *s, const qk_vk_job *j) { return record_nested_pass(s, j, 0); }

qk_status qk_vk_record_nested_dequantize(qk_vk_state *s, const qk_vk_job *j) { return record_nested_pass(s, j, 1); }

/* Double quant's exact integer sums of the absmax in VB_AUX, one record per
 * run (bnb_absmax_sum.comp), in chunks of whole runs: 16 KiB of absmax and
 * an aligned slice of VB_PARTIAL each. */
static qk_status record_absmax_sums(qk_vk_state *s, const qk_vk_job *j)
{
    const int64_t run = QK_BNB_PARTIAL_RUN, rec = QK_BNB_PARTIAL_WORDS * 4;
    int64_t nb = ceil_div(j->rows * j->cols, j->p->block_size), runs = ceil_div(nb, run);
    int64_t cr = chunk_of(s, max64((int64_t)s->align / rec, 1), 4.0 * (double)run);
    if (cr == 0)
        return too_large("one run of absmax");
    qk_status st = QK_OK;
    qk_vk_compute_barrier(s); /* the absmax are complete */
    for (int64_t r0 = 0; r0 < runs && st == QK_OK; r0 += cr) {
        int64_t k = runs - r0 < cr ? runs - r0 : cr;
        int64_t na = (r0 + k) * run < nb ? k * run : nb - r0 * run;
        qk_vk_bind b[] = {B(VB_AUX, r0 * run * 4, na * 4), B(VB_PARTIAL, r0 * rec, k * rec),
                          B(VB_AUX, r0 * run * 4, na * 4)};
        uint32_t pc[QK_VK_PC_WORDS] = {(uint32_t)na};
        st = qk_vk_dispatch(s, VP_BNB_SUM, j->dt, b, 3, pc, (uint64_t)k, 1);
    }
    return st;
}

/* ---- NVFP4 / MXFP8 over the padded, blocked layouts --------------------- */
typedef struct {
    int64_t rp, cp, ncb, col_tiles, data_row; /* padded shape, scale columns, data bytes per row */
} blocked_shape;

static blocked_shape blocked_of(const qk_vk_job *j)
{
    int nv = j->p->format == QK_FORMAT_NVFP4;
    int64_t pad = nv ? 16 : 32;
    blocked_shape b = {round_up(j->rows, pad), round_up(j->cols, pad), 0, 0, 0};
    b.ncb = b.cp / pad;
    b.col_tiles = ceil_div(b.ncb, 4);
    b.data_row = nv ? b.cp / 2 : b.cp;
    return b;
}

/* The amax of groups (tensor, rows or tiles) of a row-major f32/f16/bf16
 * buffer into VB_AMAX (zeroed by the caller). */
typedef struct {
    int64_t bh, bw, gc, ng;
} groups;

static groups groups_of(qk_scaling sc, int64_t block, int64_t rows, int64_t cols)
{
    groups g = {rows, cols, 1, 1};
    if (sc == QK_SCALING_ROW) {
        g.bh = 1;
        g.ng = rows;
    } else if (sc == QK_SCALING_BLOCK) {
        g.bh = g.bw = block;
        g.gc = ceil_div(cols, block);
        g.ng = ceil_div(rows, block) * g.gc;
    }
    return g;
}

/* One group (the tensor): rows [lo, hi) as a flat range, chunks of whole
 * 8-element units at aligned offsets (lo * cols * es is aligned: pieces
 * start at row_align multiples), at most 4096 workgroups of grid-stride
 * loads each, so few atomics reach the one amax word. */
static qk_status amax_tensor_pass(qk_vk_state *s, const qk_vk_job *j, int src, int64_t lo, int64_t hi)
{
    int64_t es = (int64_t)dsize(j->dt), per = 16 / es;
    int64_t ce = chunk_of(s, max64((int64_t)s->align, 8), (double)es);
    qk_status st = QK_OK;
    for (int64_t e0 = lo * j->cols; e0 < hi * j->cols && st == QK_OK; e0 += ce) {
        int64_t ne = hi * j->cols - e0 < ce ? hi * j->cols - e0 : ce;
        int64_t units = ne / per, wg = ceil_div(units, 2048);
        wg = wg < 1 ? 1 : wg > 4096 ? 4096 : wg;
        qk_vk_bind b[] = {B(src, e0 * es, units * 16), B(VB_AMAX, 0, 4), B(src, e0 * es, ne * es)};
        uint32_t pc[QK_VK_PC_WORDS] = {(uint32_t)ne, (uint32_t)j->dt};
        st = qk_vk_dispatch(s, VP_AMAX_TENSOR, j->dt, b, 3, pc, (uint64_t)wg, 1);
    }
    return st;
}

static qk_status amax_pass(qk_vk_state *s, const qk_vk_job *j, int src, const groups *g, int64_t lo, int64_t hi)
{
    if (g->ng == 1)
        return amax_tensor_pass(s, j, src, lo, hi);
    int64_t es = (int64_t)dsize(j->dt), row_bytes = j->cols * es;
    int64_t rc = chunk_of(s, row_align(s, row_bytes), (double)row_bytes);
    if (rc == 0)
        return too_large("one row");
    /* a segment: up to 64 whole groups (about 2048 columns), or a piece of
     * at most 4096 columns of a row-wide group */
    int64_t nsub = g->bw < j->cols ? (2048 / g->bw < 1 ? 1 : (2048 / g->bw > 64 ? 64 : 2048 / g->bw)) : 1;
    int64_t segw = g->bw < j->cols ? nsub * g->bw : (j->cols < 4096 ? j->cols : 4096);
    int64_t nseg = ceil_div(j->cols, segw);
    qk_status st = QK_OK;
    for (int64_t r0 = lo; r0 < hi && st == QK_OK; r0 += rc) {
        int64_t nr = hi - r0 < rc ? hi - r0 : rc;
        qk_vk_bind b[] = {B(src, r0 * row_bytes, nr * row_bytes), B(VB_AMAX, 0, g->ng * 4)};
        uint32_t pc[QK_VK_PC_WORDS] = {(uint32_t)nr, (uint32_t)j->cols, (uint32_t)segw, (uint32_t)nseg,
                                       (uint32_t)r0, (uint32_t)g->bh, (uint32_t)g->bw, (uint32_t)g->gc,
                                       (uint32_t)j->dt};
        st = qk_vk_dispatch(s, VP_AMAX, j->dt, b, 2, pc, (uint64_t)(nr * nseg), 1);
    }
    return st;
}

/* NVFP4 quantize (every dtype): the per-block steps from the table of
 * nvfp4_table.comp (VB_CODES16, QK_NVFP4_TAB_UNITS of qk_vk_nvfp4_scale.glsl
 * in 16-byte units), made once g is known: for bf16/f16 the scale byte of
 * every 16-bit amax, for f32 the amax thresholds of the scale bytes; both
 * the bounds of every scale byte. */
#define NVFP4_TABLE_BYTES ((2048 + 512) * 16)

static qk_status blocked_q_prepare(qk_vk_state *s, const qk_vk_job *j)
{
    size_t scale_bytes = j->lay.part[QK_PART_SCALE].nbytes;
    if (scale_bytes > s->max_range)
        return too_large("the scale tensor");
    qk_status st = qk_vk_reserve(s, VB_IN, qk_vk_input_bytes(j));
    if (st == QK_OK)
        st = qk_vk_reserve(s, VB_DATA, j->lay.part[QK_PART_DATA].nbytes);
    if (st == QK_OK)
        st = qk_vk_reserve(s, VB_SCALE, scale_bytes);
    if (st == QK_OK)
        st = qk_vk_reserve(s, VB_SCALE2, 4);
    if (st == QK_OK)
        st = qk_vk_reserve(s, VB_AMAX, 4);
    if (st == QK_OK)
        st = qk_vk_reserve(s, VB_FLAG, 4);
    if (st == QK_OK && j->p->format == QK_FORMAT_NVFP4)
        st = qk_vk_reserve(s, VB_CODES16, NVFP4_TABLE_BYTES);
    if (st != QK_OK)
        return st;
    qk_vk_fill(s, VB_SCALE, scale_bytes, 0);
    qk_vk_fill(s, VB_FLAG, 4, 0);
    qk_vk_fill(s, VB_AMAX, 4, 0);
    qk_vk_barrier(s);
    return QK_OK;
}

/* NVFP4's global scale g = T(amax / 2688), computed on the device after the
 * tensor amax (phase 0), then the table of its per-block steps. */
static qk_status nvfp4_middle(qk_vk_state *s, const qk_vk_job *j)
{
    qk_vk_compute_barrier(s);
    qk_vk_bind b[] = {B(VB_AMAX, 0, 4), B(VB_SCALE2, 0, 4), B(-1, 0, 0), B(VB_FLAG, 0, 4)};
    uint32_t pc[QK_VK_PC_WORDS] = {1, 3, (uint32_t)j->dt, 0};
    qk_status st = qk_vk_dispatch(s, VP_SCALES, j->dt, b, 4, pc, 1, 0);
    qk_vk_compute_barrier(s);
    if (st != QK_OK)
        return st;
    qk_vk_bind tb[] = {B(VB_SCALE2, 0, 4), B(VB_CODES16, 0, NVFP4_TABLE_BYTES)};
    uint32_t tpc[QK_VK_PC_WORDS] = {0};
    st = qk_vk_dispatch(s, VP_NVFP4_TABLE, j->dt, tb, 2, tpc, 2048 + 256, 0);
    qk_vk_compute_barrier(s);
    return st;
}

static unsigned long mxfp8_lanes_runs;

unsigned long qk_vk_mxfp8_lanes_runs(void) { return __atomic_load_n(&mxfp8_lanes_runs, __ATOMIC_RELAXED); }

static unsigned long nvfp4_gather_runs;

unsigned long qk_vk_nvfp4_gather_runs(void) { return __atomic_load_n(&nvfp4_gather_runs, __ATOMIC_RELAXED); }

/* Codes of padded rows [lo, hi) (multiples of 128). */
static qk_status blocked_quantize(qk_vk_state *s, const qk_vk_job *j, int64_t lo, int64_t hi)
{
    int nv = j->p->format == QK_FORMAT_NVFP4;
    blocked_shape bsh = blocked_of(j);
    int64_t es = (int64_t)dsize(j->dt), row_in = j->cols * es;
    int64_t per_row = max64(max64(row_in, bsh.data_row), bsh.col_tiles * 4);
    int64_t rc = chunk_of(s, 128, (double)per_row);
    if (rc == 0)
        return too_large("a 128-row tile");
    /* MXFP8 of bf16/f16 rows of whole 8-element vectors: two lanes a block
     * on a grid-stride loop (mxfp8_quantize_lanes.comp), where subgroups of
     * at least 8 gather a scale word */
    int lanes = !nv && j->dt != QK_DTYPE_F32 && j->cols % 8 == 0 && s->dev->cluster_max >= 8;
    if (lanes)
        __atomic_add_fetch(&mxfp8_lanes_runs, 1, __ATOMIC_RELAXED);
    /* NVFP4 of rows of whole scale words, where subgroups of at least 4
     * gather a word by shuffles (no atomicOr): on the H200, 38% of the
     * copy for f16 against 14% with the atomics (21% per-block) */
    int gather = nv && s->dev->cluster_max >= 4 && bsh.ncb % 4 == 0 && j->cols % 16 == 0;
    if (gather)
        __atomic_add_fetch(&nvfp4_gather_runs, 1, __ATOMIC_RELAXED);
    qk_status st = QK_OK;
    for (int64_t r0 = lo; r0 < hi && st == QK_OK; r0 += rc) {
        int64_t pr = hi - r0 < rc ? hi - r0 : rc;
        int64_t nr = j->rows - r0 < pr ? (j->rows > r0 ? j->rows - r0 : 0) : pr;
        qk_vk_bind b[] = {nr > 0 ? B(VB_IN, r0 * row_in, nr * row_in) : B(-1, 0, 0),
                          B(VB_DATA, r0 * bsh.data_row, pr * bsh.data_row),
                          B(VB_SCALE, r0 / 128 * bsh.col_tiles * 512, ceil_div(pr, 128) * bsh.col_tiles * 512),
                          nv ? B(VB_SCALE2, 0, 4) : B(VB_FLAG, 0, 4),
                          nv ? B(VB_CODES16, 0, NVFP4_TABLE_BYTES) : B(-1, 0, 0)};
        uint32_t pc[QK_VK_PC_WORDS] = {(uint32_t)nr, (uint32_t)pr, (uint32_t)j->cols, (uint32_t)bsh.cp,
                                       (uint32_t)j->dt, bsh.ncb % 4 == 0, (uint32_t)gather};
        if (lanes)
            st = qk_vk_dispatch(s, VP_MXFP8_Q_LANES, j->dt, b, 5, pc, stride_groups(pr * bsh.cp / 16), 1);
        else if (gather) /* grid-stride */
            st = qk_vk_dispatch(s, VP_NVFP4_Q_GATHER, j->dt, b, 5, pc, stride_groups(pr * bsh.cp / 16), 1);
        else
            st = qk_vk_dispatch(s, nv ? VP_NVFP4_Q : VP_MXFP8_Q, j->dt, b, 5, pc,
                                (uint64_t)(pr * bsh.cp / (nv ? 16 : 32)), 0); /* a thread per block */
    }
    return st;
}

static unsigned long nvfp4_dq_runs;

unsigned long qk_vk_nvfp4_dq_runs(void) { return __atomic_load_n(&nvfp4_dq_runs, __ATOMIC_RELAXED); }

static qk_status blocked_dequantize(qk_vk_state *s, const qk_vk_job *j, int64_t lo, int64_t hi)
{
    int nv = j->p->format == QK_FORMAT_NVFP4;
    blocked_shape bsh = blocked_of(j);
    int64_t es = (int64_t)dsize(j->dt), row_out = j->cols * es;
    int64_t per_row = max64(max64(row_out, bsh.data_row), bsh.col_tiles * 4);
    int64_t rc = chunk_of(s, 128, (double)per_row);
    if (rc == 0)
        return too_large("a 128-row tile");
    /* NVFP4 into bf16/f16 rows of whole 8-element vectors: exact products
     * from per-scale-byte factors (nvfp4_dequantize.comp); elsewhere a
     * thread's elements are 16 (one NVFP4 block) when rows are whole
     * blocks, else 8 (MXFP8 measured 52% of the copy with 16, 54% with 8) */
    int fast = nv && j->dt != QK_DTYPE_F32 && j->cols % 8 == 0;
    uint32_t vec = nv && j->cols % 16 == 0 ? 2 : j->cols % 8 == 0;
    qk_status st = QK_OK;
    for (int64_t r0 = lo; r0 < hi && st == QK_OK; r0 += rc) {
        int64_t nr = hi - r0 < rc ? hi - r0 : rc;
        qk_vk_bind b[] = {B(VB_DATA, r0 * bsh.data_row, nr * bsh.data_row),
                          B(VB_SCALE, r0 / 128 * bsh.col_tiles * 512, ceil_div(nr, 128) * bsh.col_tiles * 512),
                          nv ? B(VB_SCALE2, 0, 4) : B(-1, 0, 0), B(VB_OUT, r0 * row_out, nr * row_out)};
        if (fast) {
            uint32_t pc[QK_VK_PC_WORDS] = {(uint32_t)(nr * j->cols), (uint32_t)j->cols, (uint32_t)bsh.cp};
            st = qk_vk_dispatch(s, VP_NVFP4_DQ, j->dt, b, 4, pc, stride_groups(nr * j->cols / 8), 1);
            __atomic_add_fetch(&nvfp4_dq_runs, 1, __ATOMIC_RELAXED);
            continue;
        }
        uint32_t pc[QK_VK_PC_WORDS] = {(uint32_t)(nr * j->cols), (uint32_t)j->cols, (uint32_t)bsh.cp,
                                       (uint32_t)j->dt, (uint32_t)nv, vec};
        st = qk_vk_dispatch(s, VP_BLOCKED_DQ, j->dt, b, 4, pc, stride_groups(ceil_div(nr * j->cols, vec == 2 ? 16 : 8)), 1);
    }
    return st;
}

/* ---- float8 / int8 with tensor, row or tile scales ------------------------ */
static int scaled_mode(const qk_params *p)
{
    switch (p->format) {
    case QK_FORMAT_FLOAT8_E4M3FN: return 0;
    case QK_FORMAT_FLOAT8_E5M2: return 1;
    case QK_FORMAT_INT8_TENSORWISE: return 2;
    default: return 3;
    }
}

static groups scaled_groups(const qk_vk_job *j)
{
    qk_scaling sc = j->p->format == QK_FORMAT_INT8_BLOCKWISE ? QK_SCALING_BLOCK : j->p->scaling;
    return groups_of(sc, j->p->block_size, j->rows, j->cols);
}

/* The float8 maximum, or int8_blockwise's scale floor T(1e-8). */
static uint32_t scaled_extra(const qk_vk_job *j)
{
    int mode = scaled_mode(j->p);
    if (mode == 3) {
        uint32_t f = 0x322BCC77u;
        return j->dt == QK_DTYPE_BF16 ? qk_bf16_to_f32(qk_f32_to_bf16(f))
             : j->dt == QK_DTYPE_F16 ? qk_f16_to_f32(qk_f32_to_f16(f)) : f;
    }
    return mode == 0 ? QK_F32_E4M3_MAX : mode == 1 ? QK_F32_E5M2_MAX : 0;
}

/* Elements a convrot.comp workgroup rotates (its QK_CR_SPAN). */
#define QK_VK_CONVROT_SPAN 2048

/* ConvRot over rows [lo, hi): mode 0 rotates VB_IN into VB_ROT; mode 1
 * dequantizes VB_DATA with VB_SCALE and rotates into VB_OUT. */
static qk_status convrot_pass(qk_vk_state *s, const qk_vk_job *j, int mode, const groups *g, int64_t lo, int64_t hi)
{
    int64_t es = (int64_t)dsize(j->dt), row_bytes = j->cols * es, G = j->p->convrot_group;
    int64_t rc = chunk_of(s, row_align(s, j->cols), (double)row_bytes);
    if (rc == 0)
        return too_large("one row");
    qk_status st = QK_OK;
    for (int64_t r0 = lo; r0 < hi && st == QK_OK; r0 += rc) {
        int64_t nr = hi - r0 < rc ? hi - r0 : rc;
        qk_vk_bind b[3];
        if (mode == 0) {
            b[0] = B(VB_IN, r0 * row_bytes, nr * row_bytes);
            b[1] = B(VB_ROT, r0 * row_bytes, nr * row_bytes);
            b[2] = B(-1, 0, 0);
        } else {
            b[0] = B(VB_DATA, r0 * j->cols, nr * j->cols);
            b[1] = B(VB_OUT, r0 * row_bytes, nr * row_bytes);
            b[2] = B(VB_SCALE, 0, g->ng * 4);
        }
        uint32_t pc[QK_VK_PC_WORDS] = {(uint32_t)(nr * j->cols), (uint32_t)G, (uint32_t)(log2_of(G) / 2),
                                       (uint32_t)j->dt, (uint32_t)mode, (uint32_t)j->cols, (uint32_t)r0,
                                       (uint32_t)g->bh, (uint32_t)g->bw, (uint32_t)g->gc};
        st = qk_vk_dispatch(s, VP_CONVROT, j->dt, b, 3, pc, (uint64_t)ceil_div(nr * j->cols, QK_VK_CONVROT_SPAN), 1);
    }
    return st;
}

/* ConvRot dequantize of per-row scales in one pass without workgroup
 * barriers (convrot_dequantize.comp): G up to 256, rows of whole 64-value
 * runs and whole groups, a device whose full subgroups (of at least a
 * team, 4) fit the workgroup of 64. */
#define QK_VK_CONVROT_DQ_SPAN 4096
static unsigned long convrot_dq_runs;

unsigned long qk_vk_convrot_dq_runs(void) { return __atomic_load_n(&convrot_dq_runs, __ATOMIC_RELAXED); }

static int convrot_dq_rows(const qk_vk_state *s, const qk_vk_job *j, const groups *g)
{
    int64_t G = j->p->convrot_group, run = G > 64 ? G : 64;
    uint32_t n = s->dev->cluster_max, m = s->dev->subgroup_max;
    return G <= 256 && j->cols % run == 0 && g->bh == 1 && g->bw == j->cols && n >= 4 && m != 0 && 64 % m == 0 &&
           (VkDeviceSize)(4624 * 4) <= s->dev->props.limits.maxComputeSharedMemorySize;
}

static qk_status convrot_dequantize(qk_vk_state *s, const qk_vk_job *j, const groups *g, int64_t lo, int64_t hi)
{
    int64_t es = (int64_t)dsize(j->dt), row_bytes = j->cols * es, G = j->p->convrot_group;
    int64_t rc = chunk_of(s, row_align(s, j->cols), (double)row_bytes);
    if (rc == 0)
        return too_large("one row");
    __atomic_add_fetch(&convrot_dq_runs, 1, __ATOMIC_RELAXED);
    qk_status st = QK_OK;
    for (int64_t r0 = lo; r0 < hi && st == QK_OK; r0 += rc) {
        int64_t nr = hi - r0 < rc ? hi - r0 : rc;
        qk_vk_bind b[] = {B(VB_DATA, r0 * j->cols, nr * j->cols), B(VB_OUT, r0 * row_bytes, nr * row_bytes),
                          B(VB_SCALE, 0, g->ng * 4)};
        uint32_t pc[QK_VK_PC_WORDS] = {(uint32_t)(nr * j->cols), (uint32_t)j->cols, (uint32_t)r0, (uint32_t)G,
                                       (uint32_t)(log2_of(G) / 2)};
        int64_t units = ceil_div(nr * j->cols, QK_VK_CONVROT_DQ_SPAN);
        st = qk_vk_dispatch(s, VP_CONVROT_DQ, j->dt, b, 3, pc, stride_groups(units * 256), 1);
    }
    return st;
}

/* Where quantize reads its input: the rotated copy with ConvRot. */
static int scaled_src(const qk_vk_job *j) { return j->p->convrot_group > 0 ? VB_ROT : VB_IN; }

/* Per-row float8 / int8_tensorwise on rows that fit a workgroup's
 * registers: one pass, the input read once (with ConvRot: the rotated
 * rows, as the reference codes them, rotated by the piece just before).
 * bf16/f16 rows wider than 8192 (LLM MLP widths) take the wide variant,
 * up to 16384. */
static int fused_rows(const qk_vk_job *j)
{
    return j->p->scaling == QK_SCALING_ROW && j->p->format != QK_FORMAT_INT8_BLOCKWISE && j->cols % 8 == 0 &&
           j->cols <= (j->dt == QK_DTYPE_F32 ? 8192 : 16384);
}

/* ConvRot rows that convrot_row_quantize*.comp rotate, round and code in
 * one pass (the input read once): whole 16-value vectors, at most
 * QK_VK_CONVROT_ROW_MAX wide, on a device with the workgroup memory.
 * Other ConvRot rows are rotated into VB_ROT first (convrot_pass). */
static unsigned long convrot_fused_runs;

unsigned long qk_vk_convrot_fused_runs(void) { return __atomic_load_n(&convrot_fused_runs, __ATOMIC_RELAXED); }

static int convrot_fused(const qk_vk_state *s, const qk_vk_job *j)
{
    return j->p->convrot_group > 0 && fused_rows(j) && j->cols % 16 == 0 && j->cols <= QK_VK_CONVROT_ROW_MAX &&
           s->dev->props.limits.maxComputeSharedMemorySize >= QK_VK_CONVROT_ROW_SHARED;
}

/* Tile-scaled float8 / int8_blockwise: one workgroup per tile. */
static int fused_tiles(const qk_vk_job *j)
{
    int64_t b = j->p->block_size;
    int blockwise = j->p->format == QK_FORMAT_INT8_BLOCKWISE;
    return (blockwise || (j->p->scaling == QK_SCALING_BLOCK && j->p->format != QK_FORMAT_INT8_TENSORWISE)) &&
           b % 4 == 0 && b <= 512 && j->cols % 4 == 0;
}

/* Rows a tile band starts at a multiple of: whole tiles, aligned offsets. */
static int64_t tile_unit(const qk_vk_state *s, const qk_vk_job *j)
{
    int64_t B = scaled_groups(j).bh, ra = row_align(s, j->cols);
    return B / gcd64(B, ra) * ra;
}

/* Whether the row/tile shaders keep their thresholds in VB_THRESH: where
 * one binding can hold it (else they compute every group's, as when the
 * binding is the dummy). */
static int thresh_table(const qk_vk_state *s) { return (VkDeviceSize)QK_VK_THRESH_WORDS * 4 <= s->max_range; }

static qk_vk_bind thresh_bind(const qk_vk_state *s)
{
    return thresh_table(s) ? B(VB_THRESH, 0, (int64_t)QK_VK_THRESH_WORDS * 4) : B(-1, 0, 0);
}

static qk_status fused_prepare(qk_vk_state *s, const qk_vk_job *j)
{
    groups g = scaled_groups(j);
    qk_status st = qk_vk_reserve(s, VB_IN, qk_vk_input_bytes(j));
    if (st == QK_OK && j->p->convrot_group > 0 && !convrot_fused(s, j))
        st = qk_vk_reserve(s, VB_ROT, qk_vk_input_bytes(j));
    if (st == QK_OK)
        st = qk_vk_reserve(s, VB_DATA, (VkDeviceSize)(j->rows * j->cols));
    if (st == QK_OK)
        st = qk_vk_reserve(s, VB_SCALE, (VkDeviceSize)g.ng * 4);
    if (st == QK_OK)
        st = qk_vk_reserve(s, VB_FLAG, 4);
    int fresh_table = thresh_table(s) && s->bufs[VB_THRESH].size == 0;
    if (st == QK_OK && fresh_table)
        st = qk_vk_reserve(s, VB_THRESH, (VkDeviceSize)QK_VK_THRESH_WORDS * 4);
    if (st != QK_OK)
        return st;
    if ((VkDeviceSize)g.ng * 4 > s->max_range)
        return too_large("the scale tensor");
    qk_vk_fill(s, VB_FLAG, 4, 0);
    if (fresh_table)
        qk_vk_fill(s, VB_THRESH, QK_VK_THRESH_KEYS * 4, 0); /* no key filled yet */
    qk_vk_barrier(s);
    return QK_OK;
}

/* Push-constant flags of the row and tile shaders: bit 0 keeps the codes
 * off products, on the other coders (QK_VULKAN_PRODUCTS=0: tests compare
 * both). */
static uint32_t group_flags(void)
{
    return qk_vk_env_off("QK_VULKAN_PRODUCTS") ? 1u : 0u;
}

/* Rows of bf16/f16 up to 4096 take 64 threads of 8 units
 * (row_quantize_short.comp), other rows up to 8192 256 threads of 4 (f32
 * 4 x 8 elements), and up to 16384 256 of 8. */
static int row_pipeline(const qk_vk_job *j)
{
    if (j->cols > 8192)
        return VP_ROW_Q_WIDE;
    if (j->cols <= 4096)
        return j->dt == QK_DTYPE_F32 ? VP_ROW_Q_F32 : VP_ROW_Q_SHORT;
    return VP_ROW_Q;
}

/* ConvRot rows that convrot_quantize.comp takes: G up to 64 (G = 256
 * measured slower there than convrot_row_quantize.comp: BACKEND-VULKAN.md),
 * rows of whole 64-value runs, at most 4096 wide (a workgroup's step holds
 * 4096 / cols rows), on a device whose full subgroups of 4 to 64 fit the
 * workgroup of 64, where convrot_quantize256.comp (below) does not take
 * them; the others of convrot_fused take convrot_row_quantize*.comp.
 * QK_VULKAN_CONVROT_Q=0 sends these there too (to time one against the
 * other: on the H100 this shader ran f32 rows of 4032 at 16% of the copy,
 * convrot_quantize256.comp's _part builds 72-74%, QK_VULKAN_CONVROT_Q256_PART). */
#define QK_VK_CONVROT_Q_SPAN 4096
#define QK_VK_CONVROT_Q_SHARED ((QK_VK_CONVROT_Q_SPAN + 3 * 64) * 4)
static unsigned long convrot_q_runs;

unsigned long qk_vk_convrot_q_runs(void) { return __atomic_load_n(&convrot_q_runs, __ATOMIC_RELAXED); }

static int convrot_q_rows(const qk_vk_state *s, const qk_vk_job *j)
{
    int64_t G = j->p->convrot_group;
    uint32_t n = s->dev->cluster_max, m = s->dev->subgroup_max;
    return !qk_vk_env_off("QK_VULKAN_CONVROT_Q") && G <= 64 && j->cols % 64 == 0 && j->cols <= QK_VK_CONVROT_Q_SPAN &&
           n >= 4 && m != 0 && 64 % m == 0 &&
           (VkDeviceSize)QK_VK_CONVROT_Q_SHARED <= s->dev->props.limits.maxComputeSharedMemorySize;
}

/* ConvRot rows that convrot_quantize256.comp takes: G up to 256, rows of
 * whole 256-value blocks, at most 4096 wide, on a device whose full
 * subgroups of 8 or more fit its workgroup (a team of eight consecutive
 * invocations owns a block). QK_VULKAN_CONVROT_Q256=0 keeps them on
 * convrot_quantize.comp (G up to 64) or convrot_row_quantize.comp. Rows of
 * whole 64-value runs (G up to 64) take its _part builds, rows packed end
 * to end; QK_VULKAN_CONVROT_Q256_PART=0 keeps those on
 * convrot_quantize.comp (on the H100, 1 GiB, G = 64 / 16, BACKEND-VULKAN.md,
 * session of 2026-12-07 17:04: 640 bf16 columns 69-71% of the copy against
 * 57-60%, 128 f16 75% against 37-38%, 64 f32 71-73% against 17%). */
#define QK_VK_CONVROT_Q256_COLS 4096
static unsigned long convrot_q256_runs;
static unsigned convrot_q256_last;

unsigned long qk_vk_convrot_q256_runs(void) { return __atomic_load_n(&convrot_q256_runs, __ATOMIC_RELAXED); }
unsigned qk_vk_convrot_q256_last_teams(void) { return __atomic_load_n(&convrot_q256_last, __ATOMIC_RELAXED); }

/* Workgroup memory of convrot_quantize256.comp at `teams` teams: the
 * step's values, the _part build's row maxima (three steps of four rows a
 * team) and the bf16 table. */
static int64_t convrot_q256_shared(int64_t teams) { return (256 * teams + 3 * 4 * teams + 4 * 128) * 4; }

/* Whether the device runs convrot_quantize256.comp with `teams` teams:
 * full subgroups of eight or more, whole ones in the workgroup. */
static int convrot_q256_fits(const qk_vk_state *s, int64_t teams)
{
    const VkPhysicalDeviceLimits *lim = &s->dev->props.limits;
    uint32_t n = s->dev->cluster_max, m = s->dev->subgroup_max, threads = (uint32_t)(8 * teams);
    return n >= 8 && m != 0 && threads % m == 0 && threads <= lim->maxComputeWorkGroupInvocations &&
           threads <= lim->maxComputeWorkGroupSize[0] &&
           (VkDeviceSize)convrot_q256_shared(teams) <= lim->maxComputeSharedMemorySize;
}

/* Its workgroup's teams for rows of `cols` (unit: 256 for whole blocks,
 * 64 for the _part builds' runs), 0 where none fits. A step takes whole
 * rows, so a fixed 16 teams left 4 idle on rows of 3072 and 31 of 64 runs
 * on rows of 2112. Of 12, 16, 20 and 28 teams, the size whose step fills
 * the largest share of its units, that share weighed by what the size
 * itself costs (weight[], 16 teams 10): on the H100, rows of 640 bf16 ran
 * at 56% of the copy on 28 teams that they filled, at 65% on 16 that they
 * filled but for a sixteenth; 20 and 12 teams gave 5-13% less than their
 * share of the step foretold (BACKEND-VULKAN.md, 2026-12-07 23:06). 16
 * where scores tie, then the smaller. Fewer than 12 teams never fill more
 * than 16 do; 24 or 32 would, but at the H100's 92-96 registers a thread
 * their workgroups of 6 or 8 warps leave 18 or 16 warps a multiprocessor,
 * the others 20 or 21.
 * QK_VULKAN_CONVROT_Q256_TEAMS=N asks for N teams where the device and the
 * row allow it (tests, A/B). */
static int64_t convrot_q256_teams(const qk_vk_state *s, int64_t cols, int64_t unit)
{
    static const int64_t sizes[] = {16, 12, 20, 28}, weight[] = {10, 9, 9, 8};
    int64_t R = cols / unit, best = 0, best_score = 0, best_cap = 1;
    const char *e = getenv("QK_VULKAN_CONVROT_Q256_TEAMS");
    int64_t want = e ? atoll(e) : 0;
    if (want >= 1 && want <= 32 && convrot_q256_fits(s, want) && want * 256 >= cols)
        return want;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int64_t teams = sizes[i], cap = teams * 256 / unit, score = cap / R * R * weight[i]; /* over cap */
        if (score != 0 && convrot_q256_fits(s, teams) && (best == 0 || score * best_cap > best_score * cap)) {
            best = teams;
            best_score = score;
            best_cap = cap;
        }
    }
    return best;
}

/* The teams convrot_quantize256.comp takes the job's rows with, or 0
 * where they are not its. */
static int64_t convrot_q256_rows(const qk_vk_state *s, const qk_vk_job *j)
{
    int64_t G = j->p->convrot_group;
    int blocks = G <= 256 && j->cols % 256 == 0;
    int runs = G <= 64 && j->cols % 64 == 0 && !qk_vk_env_off("QK_VULKAN_CONVROT_Q256_PART");
    if (qk_vk_env_off("QK_VULKAN_CONVROT_Q256") || !(blocks || runs) || j->cols > QK_VK_CONVROT_Q256_COLS)
        return 0;
    return convrot_q256_teams(s, j->cols, blocks ? 256 : 64);
}

/* Grid-stride steps a workgroup takes at most in one dispatch. lavapipe
 * (llvmpipe) ends every loop of an invocation, silently, once it has run
 * 65535 loop iterations in all (gallivm's LP_MAX_TGSI_LOOP_ITERATIONS); a
 * row of convrot_row_quantize*.comp costs up to about 2850 (f32, 4096
 * wide, G = 1024, the exact path), so a workgroup went wrong from its 23rd
 * such row on. 8 leaves a margin of about 3; on a GPU a dispatch still
 * covers 16384 workgroups' 8 steps (131072 rows or more; 65535's for
 * convrot_quantize256.comp). That beat smaller grids walking a whole chunk
 * on the H100 (convrot_quantize256.comp, bf16 G = 256, 1 GiB, 96
 * registers: 0.771 ms against 0.777 ms for 1320 workgroups, 0.789 ms for
 * 660, 0.791 ms for 2048; BACKEND-VULKAN.md). */
#define QK_VK_CONVROT_STEPS 8

/* Workgroups a dispatch of convrot_quantize256.comp takes at most: one
 * dispatch of up to 65535 (a one-dimensional grid) covers 1 GiB of bf16
 * at any width, where stride_cap's 16384 split rows of 3072 into a
 * dispatch of 8 steps a workgroup and one of under 3 (H100, bf16, G = 256
 * / 64: 65/68% of the copy against 67/70% in one, BACKEND-VULKAN.md).
 * QK_VULKAN_STRIDE_GROUPS still sets it (tests: many steps a workgroup). */
static int64_t convrot_q256_groups_cap(void)
{
    return getenv("QK_VULKAN_STRIDE_GROUPS") ? stride_cap() : 65535;
}

/* ConvRot rows [lo, hi) in one pass, grid-stride over at most
 * stride_cap's workgroups a dispatch (convrot_quantize256.comp:
 * convrot_q256_groups_cap's), each at most QK_VK_CONVROT_STEPS steps:
 * convrot_quantize256.comp (256 * teams / cols rows a workgroup's step)
 * where convrot_q256_rows, convrot_quantize.comp (likewise) where
 * convrot_q_rows, else a workgroup of 64 takes a row at a time (rows up
 * to 1024 on the shader with a quarter of the shared memory). */
static qk_status convrot_row_quantize(qk_vk_state *s, const qk_vk_job *j, int64_t lo, int64_t hi)
{
    int64_t es = (int64_t)dsize(j->dt), row_bytes = j->cols * es, G = j->p->convrot_group;
    int64_t ra = row_align(s, j->cols), rc = chunk_of(s, ra, (double)row_bytes);
    if (rc == 0)
        return too_large("one row");
    int64_t teams = convrot_q256_rows(s, j);
    int runs256 = teams != 0, runs64 = !runs256 && convrot_q_rows(s, j);
    int pipe = runs64                           ? VP_CONVROT_Q
               : runs256                        ? (j->cols % 256 == 0 ? VP_CONVROT_Q256 : VP_CONVROT_Q256_PART)
               : j->cols <= QK_VK_CONVROT_ROW_SHORT ? VP_CONVROT_ROW_Q_SHORT
                                                : VP_CONVROT_ROW_Q;
    int64_t step_rows = runs64 ? QK_VK_CONVROT_Q_SPAN / j->cols : runs256 ? 256 * teams / j->cols : 1;
    int64_t cap = runs256 ? convrot_q256_groups_cap() : stride_cap();
    int64_t most = cap * step_rows * QK_VK_CONVROT_STEPS / ra * ra; /* aligned binding offsets */
    if (rc > most)
        rc = most > ra ? most : ra;
    __atomic_add_fetch(&convrot_fused_runs, 1, __ATOMIC_RELAXED);
    if (runs64)
        __atomic_add_fetch(&convrot_q_runs, 1, __ATOMIC_RELAXED);
    if (runs256) {
        __atomic_add_fetch(&convrot_q256_runs, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&convrot_q256_last, (unsigned)teams, __ATOMIC_RELAXED);
    }
    qk_status st = QK_OK;
    for (int64_t r0 = lo; r0 < hi && st == QK_OK; r0 += rc) {
        int64_t nr = hi - r0 < rc ? hi - r0 : rc;
        qk_vk_bind b[] = {B(VB_IN, r0 * row_bytes, nr * row_bytes), B(VB_DATA, r0 * j->cols, nr * j->cols),
                          B(VB_SCALE, 0, j->rows * 4), B(VB_FLAG, 0, 4)};
        /* flags stay below 2^16: the _f16d build takes the high half for an opaque zero */
        uint32_t pc[QK_VK_PC_WORDS] = {(uint32_t)nr, (uint32_t)j->cols, (uint32_t)r0, (uint32_t)G,
                                       (uint32_t)(log2_of(G) / 2), group_flags()};
        int64_t groups = ceil_div(nr, step_rows);
        st = qk_vk_dispatch_sized(s, pipe, j->dt, (uint32_t)(8 * teams), b, 4, pc,
                                  (uint64_t)(groups < cap ? groups : cap), 1);
    }
    return st;
}

static qk_status row_quantize(qk_vk_state *s, const qk_vk_job *j, int64_t lo, int64_t hi)
{
    if (convrot_fused(s, j))
        return convrot_row_quantize(s, j, lo, hi);
    int64_t es = (int64_t)dsize(j->dt), row_bytes = j->cols * es;
    int64_t rc = chunk_of(s, row_align(s, j->cols), (double)row_bytes);
    if (rc == 0)
        return too_large("one row");
    int src = scaled_src(j);
    qk_status st = QK_OK;
    if (src == VB_ROT) {
        groups g = scaled_groups(j);
        st = convrot_pass(s, j, 0, &g, lo, hi);
        qk_vk_compute_barrier(s);
    }
    for (int64_t r0 = lo; r0 < hi && st == QK_OK; r0 += rc) {
        int64_t nr = hi - r0 < rc ? hi - r0 : rc;
        qk_vk_bind b[] = {B(src, r0 * row_bytes, nr * row_bytes), B(VB_DATA, r0 * j->cols, nr * j->cols),
                          B(VB_SCALE, 0, j->rows * 4), B(VB_FLAG, 0, 4),
                          B(src, r0 * row_bytes, nr * row_bytes), /* binding 4: the input as uvec4 */
                          thresh_bind(s)};
        uint32_t pc[QK_VK_PC_WORDS] = {(uint32_t)nr, (uint32_t)j->cols, (uint32_t)r0, (uint32_t)j->dt,
                                       (uint32_t)scaled_mode(j->p), group_flags()};
        /* f32: a 1-D grid-stride loop over the rows (qk_vk_row_quantize.glsl) */
        uint64_t groups = j->dt == QK_DTYPE_F32 ? stride_groups(nr * 256) : (uint64_t)nr;
        st = qk_vk_dispatch(s, row_pipeline(j), j->dt, b, 6, pc, groups, 1);
    }
    return st;
}

static qk_status tile_quantize(qk_vk_state *s, const qk_vk_job *j, int64_t lo, int64_t hi)
{
    groups g = scaled_groups(j);
    int64_t es = (int64_t)dsize(j->dt), row_bytes = j->cols * es, B = g.bh;
    int64_t rc = chunk_of(s, tile_unit(s, j), (double)row_bytes);
    if (rc == 0)
        return too_large("a band of tiles");
    int mode = scaled_mode(j->p);
    uint32_t extra = scaled_extra(j);
    qk_status st = QK_OK;
    for (int64_t r0 = lo; r0 < hi && st == QK_OK; r0 += rc) {
        int64_t nr = hi - r0 < rc ? hi - r0 : rc;
        qk_vk_bind b[] = {B(VB_IN, r0 * row_bytes, nr * row_bytes), B(VB_DATA, r0 * j->cols, nr * j->cols),
                          B(VB_SCALE, 0, g.ng * 4), B(VB_FLAG, 0, 4),
                          B(VB_IN, r0 * row_bytes, nr * row_bytes), /* binding 4: the input as uvec2 */
                          thresh_bind(s)};
        uint32_t pc[QK_VK_PC_WORDS] = {(uint32_t)nr, (uint32_t)j->cols, (uint32_t)(r0 / B), (uint32_t)B,
                                       (uint32_t)g.gc, (uint32_t)j->dt, (uint32_t)mode, extra, group_flags()};
        st = qk_vk_dispatch(s, VP_TILE_Q, j->dt, b, 6, pc, (uint64_t)(ceil_div(nr, B) * g.gc), 1);
    }
    return st;
}

/* ---- the three-pass path: (ConvRot) and group amax per row range
 * (phase 0), scales (middle), codes per element range (phase 1) ---------- */

/* Tensor-scaled float8/int8_tensorwise of bf16/f16 input (no ConvRot):
 * with one scale a code is a function of the element's 16 bits, so the
 * middle step codes all 32768 magnitudes once (scaled_table16.comp) and
 * phase 1 looks them up from shared memory. Needs 32 KiB of it, else the
 * per-element shader. QK_VULKAN_TABLE16=0 forces the latter (tests). */
#define TABLE16_BYTES 32768
static unsigned long table16_runs;

unsigned long qk_vk_table16_runs(void) { return table16_runs; }

static int by_table16(const qk_vk_state *s, const qk_vk_job *j)
{
    return !qk_vk_env_off("QK_VULKAN_TABLE16") && j->p->scaling == QK_SCALING_TENSOR && j->p->convrot_group == 0 &&
           scaled_mode(j->p) < 3 && j->dt != QK_DTYPE_F32 &&
           s->dev->props.limits.maxComputeSharedMemorySize >= TABLE16_BYTES;
}

static qk_status scaled_q_prepare(qk_vk_state *s, const qk_vk_job *j)
{
    groups g = scaled_groups(j);
    int64_t n = j->rows * j->cols, es = (int64_t)dsize(j->dt);
    if ((VkDeviceSize)g.ng * 4 > s->max_range)
        return too_large("the scale tensor");
    qk_status st = qk_vk_reserve(s, VB_IN, qk_vk_input_bytes(j));
    if (st == QK_OK)
        st = qk_vk_reserve(s, VB_DATA, (VkDeviceSize)n);
    if (st == QK_OK)
        st = qk_vk_reserve(s, VB_SCALE, (VkDeviceSize)g.ng * 4);
    if (st == QK_OK)
        st = qk_vk_reserve(s, VB_AUX, (VkDeviceSize)g.ng * 4);
    if (st == QK_OK)
        st = qk_vk_reserve(s, VB_AMAX, (VkDeviceSize)g.ng * 4);
    if (st == QK_OK)
        st = qk_vk_reserve(s, VB_FLAG, 4);
    if (st == QK_OK && scaled_src(j) == VB_ROT)
        st = qk_vk_reserve(s, VB_ROT, (VkDeviceSize)(n * es));
    if (st == QK_OK && by_table16(s, j)) {
        st = qk_vk_reserve(s, VB_CODES16, TABLE16_BYTES);
        table16_runs++;
    }
    if (st != QK_OK)
        return st;
    qk_vk_fill(s, VB_AMAX, (VkDeviceSize)g.ng * 4, 0);
    qk_vk_fill(s, VB_FLAG, 4, 0);
    qk_vk_barrier(s);
    return QK_OK;
}

/* Rows a phase-0 piece starts at a multiple of. */
static int64_t scaled_amax_unit(const qk_vk_state *s, const qk_vk_job *j)
{
    int64_t u = row_align(s, j->cols * (int64_t)dsize(j->dt));
    if (j->p->convrot_group > 0) {
        int64_t c = row_align(s, j->cols);
        u = u / gcd64(u, c) * c;
    }
    return u;
}

static qk_status scaled_amax_rows(qk_vk_state *s, const qk_vk_job *j, int64_t lo, int64_t hi)
{
    groups g = scaled_groups(j);
    qk_status st = QK_OK;
    if (scaled_src(j) == VB_ROT) {
        st = convrot_pass(s, j, 0, &g, lo, hi);
        qk_vk_compute_barrier(s);
    }
    return st == QK_OK ? amax_pass(s, j, scaled_src(j), &g, lo, hi) : st;
}

static qk_status scaled_middle(qk_vk_state *s, const qk_vk_job *j)
{
    groups g = scaled_groups(j);
    int mode = scaled_mode(j->p);
    qk_vk_compute_barrier(s);
    qk_vk_bind sb[] = {B(VB_AMAX, 0, g.ng * 4), B(VB_SCALE, 0, g.ng * 4), B(VB_AUX, 0, g.ng * 4),
                       B(VB_FLAG, 0, 4)};
    uint32_t spc[QK_VK_PC_WORDS] = {(uint32_t)g.ng, (uint32_t)(mode < 2 ? 0 : mode - 1), (uint32_t)j->dt,
                                    scaled_extra(j)};
    qk_status st = qk_vk_dispatch(s, VP_SCALES, j->dt, sb, 4, spc, (uint64_t)g.ng, 0);
    qk_vk_compute_barrier(s);
    if (st == QK_OK && by_table16(s, j)) {
        qk_vk_bind tb[] = {B(VB_AUX, 0, 4), B(VB_CODES16, 0, TABLE16_BYTES)};
        uint32_t tpc[QK_VK_PC_WORDS] = {(uint32_t)j->dt, (uint32_t)mode};
        st = qk_vk_dispatch(s, VP_TABLE16, j->dt, tb, 2, tpc, TABLE16_BYTES / 4, 0);
        qk_vk_compute_barrier(s);
    }
    return st;
}

static int64_t scaled_elem_unit(const qk_vk_state *s) { return max64((int64_t)s->align, 8); }

static qk_status scaled_codes(qk_vk_state *s, const qk_vk_job *j, int64_t lo, int64_t hi)
{
    groups g = scaled_groups(j);
    int64_t es = (int64_t)dsize(j->dt);
    int src = scaled_src(j);
    int64_t ce = chunk_of(s, scaled_elem_unit(s), (double)es);
    int table = by_table16(s, j);
    qk_status st = QK_OK;
    for (int64_t e0 = lo; e0 < hi && st == QK_OK; e0 += ce) {
        int64_t ne = hi - e0 < ce ? hi - e0 : ce;
        if (table) {
            /* units of 8 elements, each thread several (the table copy is
             * per workgroup); e0 is a multiple of 8 and of the alignment.
             * At most 4096 workgroups: on the H200 (1 GiB of bf16) 0.5%
             * faster than 8192, 1-3% faster than 2048, 1024 or 16384. */
            int64_t units = ne / 8, wg = ceil_div(units, 1024);
            wg = wg < 1 ? 1 : wg > 4096 ? 4096 : wg;
            qk_vk_bind b[] = {B(src, e0 * es, units * 16), B(VB_DATA, e0, units * 8), B(VB_CODES16, 0, TABLE16_BYTES),
                              B(src, e0 * es, ne * es), B(VB_DATA, e0, ne)};
            uint32_t pc[QK_VK_PC_WORDS] = {(uint32_t)ne, scaled_mode(j->p) == 2};
            st = qk_vk_dispatch(s, VP_SCALED_Q_TABLE, j->dt, b, 5, pc, (uint64_t)wg, 1);
            continue;
        }
        qk_vk_bind b[] = {B(src, e0 * es, ne * es), B(VB_DATA, e0, ne), B(VB_AUX, 0, g.ng * 4)};
        uint32_t pc[QK_VK_PC_WORDS] = {(uint32_t)ne, (uint32_t)e0, (uint32_t)j->cols, (uint32_t)g.bh,
                                       (uint32_t)g.bw, (uint32_t)g.gc, (uint32_t)j->dt, (uint32_t)scaled_mode(j->p)};
        st = qk_vk_dispatch(s, VP_SCALED_Q, j->dt, b, 3, pc, (uint64_t)ceil_div(ne, 8), 0);
    }
    return st;
}

/* How scaled_dequantize.comp finds the group of a vector of 8 elements
 * (chunks start at multiples of 8): 1 the tensor's one scale; 2 the row,
 * when no vector crosses one; 3 a power-of-two tile at least 8 wide, by
 * shifts; 0 element by element. */
static int scaled_dq_layout(const qk_vk_job *j, const groups *g)
{
    if (g->ng == 1)
        return 1;
    if (j->cols % 8 != 0)
        return 0;
    if (g->bh == 1 && g->bw == j->cols)
        return 2;
    int pow2 = (g->bh & (g->bh - 1)) == 0 && (g->bw & (g->bw - 1)) == 0;
    return pow2 && g->bw >= 8 ? 3 : 0;
}

static qk_status scaled_dequantize(qk_vk_state *s, const qk_vk_job *j, int64_t lo, int64_t hi)
{
    groups g = scaled_groups(j);
    int64_t es = (int64_t)dsize(j->dt);
    if ((VkDeviceSize)g.ng * 4 > s->max_range)
        return too_large("the scale tensor");
    if (j->p->convrot_group > 0)
        return convrot_dq_rows(s, j, &g) ? convrot_dequantize(s, j, &g, lo, hi) : convrot_pass(s, j, 1, &g, lo, hi);
    int64_t ce = chunk_of(s, scaled_elem_unit(s), (double)es);
    int lay = scaled_dq_layout(j, &g);
    qk_status st = QK_OK;
    for (int64_t e0 = lo; e0 < hi && st == QK_OK; e0 += ce) {
        int64_t ne = hi - e0 < ce ? hi - e0 : ce;
        qk_vk_bind b[] = {B(VB_DATA, e0, ne), B(VB_SCALE, 0, g.ng * 4), B(VB_OUT, e0 * es, ne * es)};
        uint32_t pc[QK_VK_PC_WORDS] = {(uint32_t)ne,   (uint32_t)e0,   (uint32_t)j->cols,
                                       (uint32_t)g.bh, (uint32_t)g.bw, (uint32_t)g.gc,
                                       (uint32_t)j->dt, (uint32_t)scaled_mode(j->p), (uint32_t)lay,
                                       (uint32_t)log2_of(g.bh), (uint32_t)log2_of(g.bw)};
        st = qk_vk_dispatch(s, VP_SCALED_DQ, j->dt, b, 3, pc, stride_groups(ceil_div(ne, 8)), 1);
    }
    return st;
}

/* ---- the operations as phases of pieces ----------------------------------- */
typedef enum { K_BNB4, K_MXFP8, K_NVFP4, K_ROWS, K_TILES, K_SCALED } kind;

static kind kind_of(const qk_vk_job *j)
{
    switch (j->p->format) {
    case QK_FORMAT_NF4:
    case QK_FORMAT_FP4: return K_BNB4;
    case QK_FORMAT_MXFP8: return K_MXFP8;
    case QK_FORMAT_NVFP4: return K_NVFP4;
    default: return fused_rows(j) ? K_ROWS : fused_tiles(j) ? K_TILES : K_SCALED;
    }
}

static qk_vk_phase phase(int64_t units, int64_t unit, int in, int out)
{
    qk_vk_phase p = {units, unit, in, out};
    return p;
}

void qk_vk_plan_of(const qk_vk_state *s, const qk_vk_job *j, int dq, qk_vk_plan *plan)
{
    int64_t n = j->rows * j->cols;
    kind k = kind_of(j);
    plan->nphase = 1;
    if (dq) {
        if (k == K_BNB4)
            plan->ph[0] = phase(n, bnb4_dq_unit(s, j), VB_DATA, VB_OUT);
        else if (k == K_MXFP8 || k == K_NVFP4)
            plan->ph[0] = phase(j->rows, 128, VB_DATA, VB_OUT);
        else if (j->p->convrot_group > 0)
            plan->ph[0] = phase(j->rows, row_align(s, j->cols), VB_DATA, VB_OUT);
        else
            plan->ph[0] = phase(n, scaled_elem_unit(s), VB_DATA, VB_OUT);
        return;
    }
    switch (k) {
    case K_BNB4: plan->ph[0] = phase(n, bnb4_q_unit(s, j), VB_IN, VB_DATA); break;
    case K_MXFP8: plan->ph[0] = phase(blocked_of(j).rp, 128, VB_IN, VB_DATA); break;
    case K_NVFP4:
        plan->nphase = 2;
        plan->ph[0] = phase(j->rows, row_align(s, j->cols * (int64_t)dsize(j->dt)), VB_IN, -1);
        plan->ph[1] = phase(blocked_of(j).rp, 128, -1, VB_DATA);
        break;
    case K_ROWS: plan->ph[0] = phase(j->rows, row_align(s, j->cols), VB_IN, VB_DATA); break;
    case K_TILES: plan->ph[0] = phase(j->rows, tile_unit(s, j), VB_IN, VB_DATA); break;
    case K_SCALED:
        plan->nphase = 2;
        plan->ph[0] = phase(j->rows, scaled_amax_unit(s, j), VB_IN, -1);
        plan->ph[1] = phase(n, scaled_elem_unit(s), -1, VB_DATA);
        break;
    }
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

void qk_vk_piece_bytes(const qk_vk_state *s, const qk_vk_job *j, int dq, int ph, int64_t u0, int64_t u1,
                       VkDeviceSize *in_off, VkDeviceSize *in_len, VkDeviceSize *out_off, VkDeviceSize *out_len)
{
    (void)s;
    int64_t es = (int64_t)dsize(j->dt), n = j->rows * j->cols, row_bytes = j->cols * es;
    int64_t io = 0, il = 0, oo = 0, ol = 0;
    kind k = kind_of(j);
    if (dq) {
        if (k == K_BNB4) {
            io = u0 / 2, il = ceil_div(u1, 2) - io;
        } else if (k == K_MXFP8 || k == K_NVFP4) {
            int64_t dr = blocked_of(j).data_row;
            io = u0 * dr, il = (u1 - u0) * dr;
        } else if (j->p->convrot_group > 0) {
            io = u0 * j->cols, il = (u1 - u0) * j->cols;
        } else {
            io = u0, il = u1 - u0;
        }
        if (k == K_MXFP8 || k == K_NVFP4 || (k != K_BNB4 && j->p->convrot_group > 0))
            oo = u0 * row_bytes, ol = (u1 - u0) * row_bytes; /* row units */
        else
            oo = u0 * es, ol = (u1 - u0) * es; /* element units */
    } else if (k == K_BNB4) {
        io = u0 * es, il = (min64(u1, n) - u0) * es;
        oo = u0 / 2, ol = ceil_div(u1, 2) - oo;
    } else if (k == K_MXFP8 || (k == K_NVFP4 && ph == 1)) {
        int64_t present = min64(u1, j->rows) - u0;
        io = u0 * row_bytes, il = present > 0 ? present * row_bytes : 0;
        if (k == K_NVFP4)
            il = 0; /* the input went in during phase 0 */
        int64_t dr = blocked_of(j).data_row;
        oo = u0 * dr, ol = (u1 - u0) * dr;
    } else if (ph == 0) { /* rows in: NVFP4/three-pass amax, fused rows and tiles */
        io = u0 * row_bytes, il = (u1 - u0) * row_bytes;
        if (k == K_ROWS || k == K_TILES)
            oo = u0 * j->cols, ol = (u1 - u0) * j->cols;
    } else { /* three-pass codes */
        oo = u0, ol = u1 - u0;
    }
    *in_off = (VkDeviceSize)io, *in_len = (VkDeviceSize)il, *out_off = (VkDeviceSize)oo, *out_len = (VkDeviceSize)ol;
}

qk_status qk_vk_record_prepare(qk_vk_state *s, const qk_vk_job *j, int dq)
{
    if (dq) {
        qk_status st = qk_vk_reserve(s, VB_DATA, j->lay.part[QK_PART_DATA].nbytes);
        return st == QK_OK ? qk_vk_reserve(s, VB_OUT, qk_vk_input_bytes(j)) : st;
    }
    switch (kind_of(j)) {
    case K_BNB4: {
        qk_status st = qk_vk_reserve(s, VB_IN, qk_vk_input_bytes(j));
        return st == QK_OK ? bnb4_q_prepare(s, j) : st;
    }
    case K_MXFP8:
    case K_NVFP4: return blocked_q_prepare(s, j);
    case K_ROWS:
    case K_TILES: return fused_prepare(s, j);
    default: return scaled_q_prepare(s, j);
    }
}

qk_status qk_vk_record_piece(qk_vk_state *s, const qk_vk_job *j, int dq, int ph, int64_t u0, int64_t u1)
{
    kind k = kind_of(j);
    if (dq) {
        if (k == K_BNB4)
            return bnb4_dequantize(s, j, u0, u1);
        if (k == K_MXFP8 || k == K_NVFP4)
            return blocked_dequantize(s, j, u0, u1);
        return scaled_dequantize(s, j, u0, u1);
    }
    switch (k) {
    case K_BNB4: return bnb4_quantize(s, j, u0, u1);
    case K_MXFP8: return blocked_quantize(s, j, u0, u1);
    case K_NVFP4: {
        if (ph == 1)
            return blocked_quantize(s, j, u0, u1);
        groups g = groups_of(QK_SCALING_TENSOR, 0, j->rows, j->cols);
        return amax_pass(s, j, VB_IN, &g, u0, u1);
    }
    case K_ROWS: return row_quantize(s, j, u0, u1);
    case K_TILES: return tile_quantize(s, j, u0, u1);
    default: return ph == 0 ? scaled_amax_rows(s, j, u0, u1) : scaled_codes(s, j, u0, u1);
    }
}

qk_status qk_vk_record_middle(qk_vk_state *s, const qk_vk_job *j, int dq)
{
    (void)dq;
    return kind_of(j) == K_NVFP4 ? nvfp4_middle(s, j) : scaled_middle(s, j);
}

/* Double quant's offset from the records, on the device
 * (bnb_absmax_mean.comp): VB_AMAX[0] the offset, VB_AMAX[1] 1 when the
 * records proved it; then the nested pass with it. */
static qk_status record_mean_and_nested(qk_vk_state *s, const qk_vk_job *j)
{
    uint64_t nb = (uint64_t)ceil_div(j->rows * j->cols, j->p->block_size);
    int64_t runs = ceil_div((int64_t)nb, QK_BNB_PARTIAL_RUN);
    if (runs * QK_BNB_PARTIAL_WORDS * 4 > (int64_t)s->max_range || runs > UINT32_MAX)
        return too_large("the records of double quant's mean");
    qk_vk_bind b[] = {B(VB_PARTIAL, 0, runs * QK_BNB_PARTIAL_WORDS * 4), B(VB_AMAX, 0, 8)};
    uint32_t pc[QK_VK_PC_WORDS] = {(uint32_t)runs, (uint32_t)nb, (uint32_t)(nb >> 32)};
    qk_vk_compute_barrier(s); /* the records are complete */
    qk_status st = qk_vk_dispatch(s, VP_BNB_MEAN, j->dt, b, 2, pc, 1, 1);
    qk_vk_compute_barrier(s); /* the offset is written */
    return st == QK_OK ? qk_vk_record_nested(s, j) : st;
}

qk_status qk_vk_record_finish(qk_vk_state *s, const qk_vk_job *j, int dq)
{
    if (dq || kind_of(j) != K_BNB4 || !j->p->double_quant)
        return QK_OK;
    qk_status st = record_absmax_sums(s, j);
    return st == QK_OK ? record_mean_and_nested(s, j) : st;
}

/* The whole operation in one recording (whole-buffer path and bench). */
static qk_status record_all(qk_vk_state *s, const qk_vk_job *j, int dq)
{
    qk_vk_plan plan;
    qk_vk_plan_of(s, j, dq, &plan);
    qk_status st = qk_vk_record_prepare(s, j, dq);
    if (st == QK_OK)
        st = qk_vk_record_piece(s, j, dq, 0, 0, plan.ph[0].units);
    if (st == QK_OK && plan.nphase == 2) {
        st = qk_vk_record_middle(s, j, dq);
        if (st == QK_OK)
            st = qk_vk_record_piece(s, j, dq, 1, 0, plan.ph[1].units);
    }
    return st == QK_OK ? qk_vk_record_finish(s, j, dq) : st;
}

qk_status qk_vk_record_quantize(qk_vk_state *s, const qk_vk_job *j) { return record_all(s, j, 0); }
qk_status qk_vk_record_dequantize(qk_vk_state *s, const qk_vk_job *j) { return record_all(s, j, 1); }
