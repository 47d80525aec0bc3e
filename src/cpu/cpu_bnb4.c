/* bitsandbytes NF4 / FP4 on the fast CPU path (semantics:
 * src/ref/ref_bnb4.c). Double quant of the absmax vector
 * (src/ref/bnb_nested.c) runs here in parallel with native float steps. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"

/* NF4: the number of thresholds below x (qk_nf4_encode); NaN compares false
 * everywhere and gets code 0, as there. */
static inline uint32_t nf4_code(float v)
{
    static const uint32_t t[15] = {0xBF591CD9u, 0xBF1C5270u, 0xBEEB8480u, 0xBEADEA76u, 0xBE703CECu,
                                   0xBE0D38BCu, 0xBD3A7871u, 0x3D22FAFFu, 0x3DF64863u, 0x3E5067E0u,
                                   0x3E9582D4u, 0x3EC753F9u, 0x3F006D03u, 0x3F248DAFu, 0x3F5C89D9u};
    uint32_t c = 0;
    for (int k = 0; k < 15; k++)
        c += (uint32_t)(v > qk_lane_f(t[k]));
    return c;
}

/* FP4: magnitude rank by thresholds, mapped to codes 0,1,6,7,4,5,2,3 (rank r
 * -> r ^ ((r & 2) << 1)), sign 8 for negative non-zero x (qk_fp4_encode). */
static inline uint32_t fp4_code(uint32_t u)
{
    static const uint32_t t[7] = {0x3B2AAAB9u, 0x3DB00000u, 0x3E555555u, 0x3E955555u,
                                  0x3ED55556u, 0x3F155550u, 0x3F555555u};
    uint32_t a = u & QK_F32_ABS, r = 0;
    for (int k = 0; k < 7; k++)
        r += (uint32_t)(a > t[k]);
    uint32_t c = (r ^ ((r & 2u) << 1)) | ((u >> 28) & 8u & (a != 0u ? 8u : 0u));
    return a > QK_F32_INF ? 0u : c;
}

static inline uint32_t ftz(uint32_t u) { return (u & QK_F32_INF) == 0u ? u & QK_F32_SIGN : u; }

/* The code of each value of a float's top 16 bits where all 65536 floats
 * sharing them have one code, else 0xFF (NaN/inf buckets, buckets holding a
 * threshold): a bucket is an interval of floats, and both codes are
 * monotone in the value (fp4: in the magnitude, with one sign per bucket;
 * its rank -> code map is one-to-one), so equal codes at its two ends mean
 * one code throughout. One load per value instead of 15 (7) compares. */
static uint8_t nf4_bucket[65536], fp4_bucket[65536];

static void code_buckets_init(void)
{
    for (uint32_t key = 0; key < 65536; key++) {
        uint32_t a = key << 16, b = a | 0xFFFFu;
        int special = (a & QK_F32_INF) == QK_F32_INF;
        uint32_t na = nf4_code(qk_lane_f(a)), nb = nf4_code(qk_lane_f(b));
        uint32_t fa = fp4_code(a), fb = fp4_code(b);
        nf4_bucket[key] = (uint8_t)(special || na != nb ? 0xFFu : na);
        fp4_bucket[key] = (uint8_t)(special || fa != fb ? 0xFFu : fa);
    }
}

typedef struct {
    const qk_ref_args *a;
    const void *in;
    int64_t n, bs;
    uint8_t *data;
    uint32_t *absmax;
} bnb_q_job;

/* Absmax of one block of bs (a multiple of 8) widened values: fmaxf over
 * flushed magnitudes, NaN skipped; an all-NaN full block gives -FLT_MAX.
 * Eight independent max/NaN-count lanes: a shape compilers vectorize. */
static inline uint32_t block_absmax(const uint32_t *x, int64_t bs, int64_t len)
{
    uint32_t m8[8] = {0}, n8[8] = {0};
    for (int64_t i = 0; i < bs; i += 8)
        for (int k = 0; k < 8; k++) {
            uint32_t v = x[i + k] & QK_F32_ABS;
            uint32_t nan = (uint32_t)(v > QK_F32_INF);
            v &= 0u - ((uint32_t)((v & QK_F32_INF) != 0u) & (nan ^ 1u)); /* ftz, NaN -> 0 */
            n8[k] += nan;
            m8[k] = v > m8[k] ? v : m8[k];
        }
    uint32_t m = 0, nans = 0;
    for (int k = 0; k < 8; k++) {
        m = m8[k] > m ? m8[k] : m;
        nans += n8[k];
    }
    return len < bs || nans < (uint32_t)bs ? m : 0xFF7FFFFFu;
}

#define BNB_CHUNK 4096 /* elements per pass: long flat loops, small scratch */

/* Blocks [b0, b1) in chunks of whole blocks, each in passes: widen, per
 * block absmax and scaling, codes over the whole chunk, nibble packing. */
QK_CPU_HOT static void bnb_quantize_blocks(void *arg, int64_t b0, int64_t b1)
{
    const bnb_q_job *j = arg;
    int64_t bs = j->bs, per = bs < BNB_CHUNK ? BNB_CHUNK / bs : 1, cap = per * bs;
    uint32_t *x = qk_cpu_scratch((size_t)cap * 8 + (size_t)cap);
    uint32_t *y = x + cap;
    uint8_t *q = (uint8_t *)(y + cap);
    int nf4 = j->a->params->format == QK_FORMAT_NF4;
    for (int64_t b = b0; b < b1; b += per) {
        int64_t nblk = b1 - b < per ? b1 - b : per, i0 = b * bs;
        int64_t len = i0 + nblk * bs < j->n ? nblk * bs : j->n - i0; /* only the last block is short */
        qk_cpu_widen(j->a->dtype, j->in, i0, len, x);
        memset(x + len, 0, (size_t)(nblk * bs - len) * 4); /* the anchor pads with +0.0 */
        for (int64_t k = 0; k < nblk; k++) {
            const uint32_t *xb = x + k * bs;
            uint32_t *yb = y + k * bs;
            int64_t blen = len - k * bs < bs ? len - k * bs : bs;
            uint32_t absmax = block_absmax(xb, bs, blen);
            j->absmax[b + k] = absmax;
            float r = qk_lane_f(ftz(qk_bnb_reciprocal(j->a->dtype, absmax)));
            for (int64_t i = 0; i < bs; i++)
                yb[i] = ftz(qk_lane_u(qk_lane_f(ftz(xb[i])) * r));
        }
        int64_t even = len + (len & 1); /* an odd tail codes its +0.0 pad too */
        const uint8_t *tab = nf4 ? nf4_bucket : fp4_bucket;
        for (int64_t i = 0; i < even; i++) {
            uint8_t c = tab[y[i] >> 16];
            if (c == 0xFFu) /* a bucket of mixed codes: compare */
                c = (uint8_t)(nf4 ? nf4_code(qk_lane_f(y[i])) : fp4_code(y[i]));
            q[i] = c;
        }
        uint8_t *out = j->data + i0 / 2;
        for (int64_t k = 0; k < even / 2; k++)
            out[k] = (uint8_t)(q[2 * k] << 4 | q[2 * k + 1]);
    }
    free(x);
}

/* The search's answer for each value of fx's top 16 bits, where all 65536
 * floats sharing them get one answer; 0x100 where they may not (NaN/inf
 * buckets, buckets holding a map value or a midpoint): those search.
 * Every decision of the search is `fx > code[k]`, which for a sorted map is
 * `rank(fx) > k` with rank(fx) = #{k : code[k] < fx}; so the path, and with
 * it the final midpoint, is a function of the rank. A bucket is an interval
 * of floats: if its two ends have one rank and one side of that midpoint,
 * every float between does too. */
static uint16_t map_bucket[65536];
static int map_bucket_ok;

static int map_rank(const float *code, float fx)
{
    int r = 0;
    for (int k = 0; k < 256; k++)
        r += code[k] < fx;
    return r;
}

static void map_bucket_init(void)
{
    float code[256];
    for (int k = 0; k < 256; k++)
        code[k] = qk_lane_f(qk_bnb_dynamic_map[k]);
    for (int k = 1; k < 256; k++)
        if (!(code[k - 1] <= code[k]))
            return; /* not sorted: every value searches */
    for (uint32_t key = 0; key < 65536; key++) {
        uint32_t a = key << 16, b = a | 0xFFFFu;
        map_bucket[key] = 0x100;
        if ((a & QK_F32_INF) == QK_F32_INF)
            continue;
        float fa = qk_lane_f(a), fb = qk_lane_f(b);
        uint32_t mid_a, mid_b; /* equal ranks take one path: one midpoint */
        int ua, ub;
        uint8_t ca = qk_bnb_dynamic_map_search(a, &mid_a, &ua), cb = qk_bnb_dynamic_map_search(b, &mid_b, &ub);
        float ma = qk_lane_f(mid_a);
        if (map_rank(code, fa) != map_rank(code, fb) || ca != cb)
            continue;
        if (ua ? (fa > ma) != (fb > ma) : (fa < ma) != (fb < ma))
            continue;
        map_bucket[key] = ca;
    }
    map_bucket_ok = 1;
}

static inline uint8_t dynamic_map_code(float fx)
{
    uint32_t t = map_bucket_ok ? map_bucket[qk_lane_u(fx) >> 16] : 0x100u;
    if (t < 0x100u)
        return (uint8_t)t;
    uint32_t mid;
    int above;
    return qk_bnb_dynamic_map_search(qk_lane_u(fx), &mid, &above);
}

#define NESTED_BLOCK 256

typedef struct {
    const uint32_t *absmax;
    int64_t nb;
    uint32_t neg_off; /* -offset: the reference adds it */
    uint8_t *codes;
    void *nested;
} nested_job;

static void nested_blocks(void *arg, int64_t b0, int64_t b1)
{
    const nested_job *j = arg;
    float neg_off = qk_lane_f(j->neg_off);
    for (int64_t b = b0; b < b1; b++) {
        int64_t i0 = b * NESTED_BLOCK;
        int64_t i1 = i0 + NESTED_BLOCK < j->nb ? i0 + NESTED_BLOCK : j->nb;
        int any = (i1 - i0) < NESTED_BLOCK;
        uint32_t m = 0;
        for (int64_t i = i0; i < i1; i++) {
            uint32_t d = qk_lane_u(qk_lane_f(j->absmax[i]) + neg_off);
            uint32_t ad = ftz(d & QK_F32_ABS);
            if (qk_f32_is_nan(d))
                continue;
            if (!any || ad > m)
                m = ad;
            any = 1;
        }
        uint32_t amax = any ? m : 0xFF7FFFFFu;
        qk_put_f32(j->nested, b, amax);
        float r = qk_lane_f(ftz(qk_bnb_reciprocal(QK_DTYPE_F32, amax)));
        for (int64_t i = i0; i < i1; i++) {
            uint32_t d = ftz(qk_lane_u(qk_lane_f(j->absmax[i]) + neg_off));
            float fx = qk_lane_f(ftz(qk_lane_u(qk_lane_f(d) * r)));
            j->codes[i] = dynamic_map_code(fx);
        }
    }
}

/* qk_bnb_nested_quantize's bytes: the mean as the reference's sequential
 * double sum gives it (qk_bnb_absmax_mean); the blocks of 256 then run in
 * parallel (qk_cpu_bnb_nested_codes). */
void qk_cpu_bnb_nested_quantize(const qk_exec *ex, const uint32_t *absmax, int64_t nb, uint8_t *codes,
                                void *nested, void *offset)
{
    uint32_t off = qk_bnb_absmax_mean(absmax, nb);
    qk_put_f32(offset, 0, off);
    qk_cpu_bnb_nested_codes(ex, absmax, nb, off, codes, nested);
}

void qk_cpu_bnb_nested_codes(const qk_exec *ex, const uint32_t *absmax, int64_t nb, uint32_t off, uint8_t *codes,
                             void *nested)
{
    nested_job j = {absmax, nb, off ^ QK_F32_SIGN, codes, nested};
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, map_bucket_init);
    qk_exec_run(ex, qk_ceil_div(nb, NESTED_BLOCK), 16, nested_blocks, &j);
}

qk_status qk_cpu_bnb4_quantize(const qk_ref_args *a, const void *in, void *const parts[4])
{
    int64_t n = a->rows * a->cols, bs = a->params->block_size;
    int64_t nb = qk_ceil_div(n, bs);
    uint32_t *absmax = a->params->double_quant ? malloc((size_t)nb * 4) : (uint32_t *)parts[QK_PART_SCALE];
    if (absmax == NULL)
        return QK_ERR_OUT_OF_MEMORY;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, code_buckets_init);
    bnb_q_job j = {a, in, n, bs, parts[QK_PART_DATA], absmax};
    qk_exec_run(a->ex, nb, qk_ceil_div(65536, bs), bnb_quantize_blocks, &j);
    if (a->params->double_quant) {
        qk_cpu_bnb_nested_quantize(a->ex, absmax, nb, parts[QK_PART_SCALE], parts[QK_PART_SCALE2],
                                   parts[QK_PART_OFFSET]);
        free(absmax);
    }
    return QK_OK;
}

typedef struct {
    const qk_ref_args *a;
    const uint8_t *data;
    const uint32_t *absmax;
    int64_t n, bs;
    void *out;
} bnb_dq_job;

QK_CPU_HOT static void bnb_dequantize_blocks(void *arg, int64_t b0, int64_t b1)
{
    const bnb_dq_job *j = arg;
    const qk_ref_args *a = j->a;
    int64_t bs = j->bs;
    uint32_t *y = qk_cpu_scratch((size_t)(bs + 1) * 4);
    float lut[16];
    for (uint32_t c = 0; c < 16; c++)
        lut[c] = qk_lane_f(a->params->format == QK_FORMAT_NF4 ? qk_nf4_value(c) : qk_fp4_value(c));
    for (int64_t b = b0; b < b1; b++) {
        int64_t i0 = b * bs, len = i0 + bs < j->n ? bs : j->n - i0;
        float s = qk_lane_f(ftz(j->absmax[b]));
        const uint8_t *d = j->data + i0 / 2;
        for (int64_t k = 0; k < (len + 1) / 2; k++) {
            y[2 * k] = ftz(qk_lane_u(lut[d[k] >> 4] * s));
            y[2 * k + 1] = ftz(qk_lane_u(lut[d[k] & 15u] * s));
        }
        /* NaN (inf * 0) comes out as CUDA's canonical NaN, as bitsandbytes writes it */
        if (a->dtype == QK_DTYPE_F32) {
            uint32_t *o = (uint32_t *)j->out + i0;
            for (int64_t i = 0; i < len; i++)
                o[i] = (y[i] & QK_F32_ABS) > QK_F32_INF ? 0x7FFFFFFFu : y[i];
        } else if (a->dtype == QK_DTYPE_BF16) {
            uint16_t *o = (uint16_t *)j->out + i0;
            for (int64_t i = 0; i < len; i++)
                o[i] = (uint16_t)((y[i] & QK_F32_ABS) > QK_F32_INF ? 0x7FFFu : qk_lane_to_bf16(y[i]));
        } else {
            uint16_t *o = (uint16_t *)j->out + i0;
            for (int64_t i = 0; i < len; i++)
                o[i] = (uint16_t)((y[i] & QK_F32_ABS) > QK_F32_INF ? 0x7FFFu : qk_lane_to_f16(y[i]));
        }
    }
    free(y);
}

/* qk_bnb_nested_dequantize's bytes with the host's float multiply (IEEE,
 * like the codec's integer qk_f32_mul_ftz, for finite operands); a block
 * whose nested scale is NaN or Inf keeps the reference's code. */
typedef struct {
    const uint8_t *codes;
    const void *nested;
    uint32_t off;
    int64_t nb;
    uint32_t *absmax;
} nested_dq_job;

static void nested_dq_blocks(void *arg, int64_t b0, int64_t b1)
{
    const nested_dq_job *j = arg;
    float off = qk_lane_f(j->off);
    for (int64_t b = b0; b < b1; b++) {
        int64_t i0 = b * NESTED_BLOCK, i1 = i0 + NESTED_BLOCK < j->nb ? i0 + NESTED_BLOCK : j->nb;
        uint32_t s = qk_get_f32(j->nested, b);
        if ((s & QK_F32_INF) == QK_F32_INF) {
            for (int64_t i = i0; i < i1; i++)
                j->absmax[i] = qk_fadd(qk_f32_mul_ftz(qk_bnb_dynamic_map[j->codes[i]], s), j->off);
            continue;
        }
        float fs = qk_lane_f(ftz(s));
        for (int64_t i = i0; i < i1; i++) {
            float v = qk_lane_f(ftz(qk_bnb_dynamic_map[j->codes[i]]));
            j->absmax[i] = qk_lane_u(qk_lane_f(ftz(qk_lane_u(v * fs))) + off);
        }
    }
}

void qk_cpu_bnb_nested_dequantize(const qk_exec *ex, const uint8_t *codes, const void *nested, const void *offset,
                                  int64_t nb, uint32_t *absmax)
{
    nested_dq_job j = {codes, nested, qk_get_f32(offset, 0), nb, absmax};
    qk_exec_run(ex, qk_ceil_div(nb, NESTED_BLOCK), 64, nested_dq_blocks, &j);
}

qk_status qk_cpu_bnb4_dequantize(const qk_ref_args *a, const void *const parts[4], void *out)
{
    int64_t n = a->rows * a->cols, bs = a->params->block_size;
    int64_t nb = qk_ceil_div(n, bs);
    uint32_t *absmax = malloc((size_t)nb * 4);
    if (absmax == NULL)
        return QK_ERR_OUT_OF_MEMORY;
    if (a->params->double_quant)
        qk_cpu_bnb_nested_dequantize(a->ex, parts[QK_PART_SCALE], parts[QK_PART_SCALE2], parts[QK_PART_OFFSET],
                                     nb, absmax);
    else
        memcpy(absmax, parts[QK_PART_SCALE], (size_t)nb * 4);
    bnb_dq_job j = {a, parts[QK_PART_DATA], absmax, n, bs, out};
    qk_exec_run(a->ex, nb, qk_ceil_div(65536, bs), bnb_dequantize_blocks, &j);
    free(absmax);
    return QK_OK;
}
