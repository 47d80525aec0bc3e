/* Golden conformance: qk's bytes against the anchors' bytes, by memcmp.
 *
 * For every committed case: quantize the input and compare every part with
 * what the anchor wrote; dequantize the anchor's parts to f32/f16/bf16 and
 * compare with the anchor's dequantization. Documented deviations (see
 * docs/FORMATS.md) are checked by deviation_* below: they must be exactly
 * the predicted difference, nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "codec/qk_codec.h"
#include "golden_reader.h"

typedef struct {
    int cases;
    size_t bytes, mismatched, explained;
} tally;

static tally per_format[QK_FORMAT_COUNT];

static uint32_t load_bits(qk_dtype dt, const uint8_t *p, size_t i)
{
    if (dt == QK_DTYPE_F32) {
        uint32_t u;
        memcpy(&u, p + 4 * i, 4);
        return u;
    }
    uint16_t h;
    memcpy(&h, p + 2 * i, 2);
    return dt == QK_DTYPE_BF16 ? qk_bf16_to_f32(h) : qk_f16_to_f32(h);
}

static double as_double(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Independent copy of the blocked scale layout (docs/FORMATS.md). */
static size_t blocked(int64_t r, int64_t c, int64_t ncb)
{
    int64_t tiles = (ncb + 3) / 4;
    return (size_t)(((r / 128 * tiles + c / 4) * 32 + r % 32) * 16 + ((r % 128) / 32) * 4 + c % 4);
}

/* ---- documented deviations (docs/FORMATS.md); each returns 1 when the
 * differing byte at i is exactly the predicted difference ---------------- */

/* bnb with f32 input: bitsandbytes' rcp.approx may be one ulp off the
 * correctly rounded 1/absmax that qk uses. A differing code is explained only
 * if the anchor's code is what a reciprocal one ulp lower or higher gives. */
static int bnb_code(int fp4, uint32_t x, uint32_t r)
{
    uint32_t v = qk_f32_mul_ftz(x, r);
    return (int)(fp4 ? qk_fp4_encode(v) : qk_nf4_encode(v));
}

static int bnb_one_ulp(const golden_case *c, size_t byte, const uint8_t *ref)
{
    int fp4 = c->params.format == QK_FORMAT_FP4;
    size_t n = (size_t)(c->rows * c->cols);
    for (int h = 0; h < 2; h++) {
        size_t e = 2 * byte + (size_t)h;
        int want = h == 0 ? ref[byte] >> 4 : ref[byte] & 15;
        uint32_t x = e < n ? load_bits(QK_DTYPE_F32, c->input.ptr, e) : 0;
        uint32_t absmax;
        memcpy(&absmax, c->part[QK_PART_SCALE].ptr + 4 * (e / (size_t)c->params.block_size), 4);
        uint32_t r = qk_f32_div(QK_F32_ONE, absmax);
        if (bnb_code(fp4, x, r) == want)
            continue;
        if (bnb_code(fp4, x, r - 1) != want && bnb_code(fp4, x, r + 1) != want)
            return 0;
    }
    return 1;
}

static int mxfp8_block_scale(const golden_case *c, size_t i, int64_t cp)
{
    int64_t r = (int64_t)i / cp, col = (int64_t)i % cp;
    return c->part[QK_PART_SCALE].ptr[blocked(r, col / 32, cp / 32)];
}

static int explain_part(const golden_case *c, int k, size_t i, const uint8_t *ours, const uint8_t *ref,
                        const void *const ours_parts[4])
{
    qk_format f = c->params.format;
    int64_t cols = c->cols;
    if ((f == QK_FORMAT_NF4 || f == QK_FORMAT_FP4) && k == QK_PART_DATA && c->dtype == QK_DTYPE_F32)
        return !c->params.double_quant && bnb_one_ulp(c, i, ref);
    if (f == QK_FORMAT_NVFP4 && (k == QK_PART_DATA || k == QK_PART_SCALE)) {
        /* g rounded to 0 in T: the anchor divides by it; qk writes zeros. */
        uint32_t g;
        memcpy(&g, c->part[QK_PART_SCALE2].ptr, 4);
        return g == 0 && ours[i] == 0;
    }
    if (f == QK_FORMAT_MXFP8) {
        int64_t cp = (cols + 31) / 32 * 32;
        const uint8_t *qscale = ours_parts[QK_PART_SCALE];
        if (k == QK_PART_SCALE) /* exact ceil(log2) one above the anchor's */
            return !c->log2_exact && ours[i] == ref[i] + 1;
        if (k == QK_PART_DATA) {
            int64_t r = (int64_t)i / cp, col = (int64_t)i % cp;
            size_t so = blocked(r, col / 32, cp / 32);
            return mxfp8_block_scale(c, i, cp) == 0 /* anchor decodes byte 0 as 0.0 */
                   || qscale[so] != c->part[QK_PART_SCALE].ptr[so];
        }
    }
    if ((f == QK_FORMAT_FLOAT8_E4M3FN || f == QK_FORMAT_FLOAT8_E5M2) && k == QK_PART_DATA) {
        /* 1/scale infinite: the anchor's 0 * inf is NaN; qk keeps the zero. */
        uint32_t x = load_bits(c->dtype, c->input.ptr, i);
        int ref_nan = f == QK_FORMAT_FLOAT8_E4M3FN ? (ref[i] & 0x7F) == 0x7F : (ref[i] & 0x7F) > 0x7C;
        return ref_nan && (x & 0x7FFFFFFFu) == 0 && ours[i] == ((x >> 24) & 0x80);
    }
    if (f == QK_FORMAT_INT8_TENSORWISE && c->params.convrot_group > 0) {
        /* The anchor's dense-matmul rotation vs qk's fixed-order transform:
         * codes within one step, scales within a few ulps. */
        if (k == QK_PART_DATA)
            return abs((int8_t)ours[i] - (int8_t)ref[i]) <= 1 ? 2 : 0;
        if (k == QK_PART_SCALE) {
            size_t e = i / 4 * 4;
            uint32_t a, b;
            memcpy(&a, ours + e, 4);
            memcpy(&b, ref + e, 4);
            return (a > b ? a - b : b - a) <= 64 ? 2 : 0;
        }
    }
    return 0;
}

static int explain_dequant(const golden_case *c, qk_dtype dt, size_t e, uint32_t ours, uint32_t ref)
{
    /* NaN payloads are not part of the contract (torch's own conversions
     * differ by code path): a NaN must be a NaN. */
    if (qk_f32_is_nan(ours) && qk_f32_is_nan(ref))
        return 1;
    qk_format f = c->params.format;
    if (f == QK_FORMAT_MXFP8) {
        int64_t cp = (c->cols + 31) / 32 * 32;
        size_t i = (size_t)((int64_t)e / c->cols * cp + (int64_t)e % c->cols);
        return mxfp8_block_scale(c, i, cp) == 0 && (ref & 0x7FFFFFFFu) == 0; /* byte 0: 2^-127 vs 0.0 */
    }
    if (f == QK_FORMAT_INT8_TENSORWISE && c->params.convrot_group > 0) {
        /* Unrotation order: within 2 ulps of T at the row's largest magnitude. */
        double mx = 0;
        const uint8_t *row = c->dequant[dt == QK_DTYPE_F32 ? 0 : (dt == QK_DTYPE_F16 ? 1 : 2)].ptr;
        int64_t r = (int64_t)e / c->cols;
        for (int64_t j = 0; j < c->cols; j++) {
            double v = fabs(as_double(load_bits(dt, row, (size_t)(r * c->cols + j))));
            mx = v > mx ? v : mx;
        }
        int bits = dt == QK_DTYPE_F32 ? 24 : (dt == QK_DTYPE_F16 ? 11 : 8);
        double ulps = dt == QK_DTYPE_F32 ? 16.0 : 2.0; /* f32 keeps the summation noise */
        return fabs(as_double(ours) - as_double(ref)) <= ulps * ldexp(mx, -bits + 1) ? 2 : 0;
    }
    return 0;
}

/* Counts differing bytes of a quantized part; the explained ones go to
 * *explained, the rest are returned. Prints the first unexplained one. */
static size_t compare_part(const golden_case *c, int k, const uint8_t *ours, const uint8_t *ref, size_t n,
                           const void *const ours_parts[4], size_t *explained, size_t *statistical)
{
    static const char *const names[] = {"data", "scale", "scale2", "offset"};
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (ours[i] == ref[i])
            continue;
        int why = explain_part(c, k, i, ours, ref, ours_parts);
        if (why) {
            (*explained)++;
            *statistical += why == 2;
        } else if (bad++ == 0) {
            printf("  MISMATCH %s %s: byte %zu of %zu: qk 0x%02x anchor 0x%02x\n", c->name, names[k], i, n,
                   ours[i], ref[i]);
        }
    }
    return bad;
}

static size_t compare_dequant(const golden_case *c, qk_dtype dt, const uint8_t *ours, const uint8_t *ref,
                              size_t *explained, size_t *statistical)
{
    size_t bad = 0, n = (size_t)(c->rows * c->cols), es = qk_dtype_size(dt);
    for (size_t e = 0; e < n; e++) {
        if (memcmp(ours + e * es, ref + e * es, es) == 0)
            continue;
        uint32_t a = load_bits(dt, ours, e), b = load_bits(dt, ref, e);
        int why = explain_dequant(c, dt, e, a, b);
        if (why) {
            *explained += es;
            *statistical += why == 2 ? es : 0;
        } else if (bad++ == 0) {
            printf("  MISMATCH %s dequant %s: element %zu of %zu: qk 0x%08x anchor 0x%08x\n", c->name,
                   qk_dtype_name(dt), e, n, a, b);
        }
    }
    return bad;
}

/* ConvRot: quantizing the anchor's own rotated tensor must match exactly. */
static size_t check_convrot_quantization(const golden_case *c)
{
    if (c->rotated.ptr == NULL) {
        printf("  %s: ConvRot case without the anchor's rotated tensor\n", c->name);
        return 1;
    }
    qk_params p = c->params;
    p.convrot_group = 0;
    qk_layout lay;
    qk_layout_query(&p, c->rows, c->cols, &lay);
    void *parts[QK_PART_COUNT] = {0};
    for (int k = 0; k < 2; k++)
        parts[k] = malloc(lay.part[k].nbytes);
    size_t bad = qk_quantize(NULL, &p, c->dtype, c->rotated.ptr, c->rows, c->cols, parts) != QK_OK;
    for (int k = 0; k < 2 && !bad; k++)
        if (memcmp(parts[k], c->part[k].ptr, lay.part[k].nbytes) != 0) {
            printf("  MISMATCH %s: quantizing the anchor's rotated tensor, part %d differs\n", c->name, k);
            bad++;
        }
    for (int k = 0; k < 2; k++)
        free(parts[k]);
    return bad;
}

static size_t check_case(const golden_case *c)
{
    qk_layout lay;
    qk_status st = qk_layout_query(&c->params, c->rows, c->cols, &lay);
    if (st != QK_OK) {
        printf("  %s: layout: %s\n", c->name, qk_last_error());
        return 1;
    }
    size_t bad = 0, bytes = 0, explained = 0, statistical = 0, dq_statistical = 0;
    void *parts[QK_PART_COUNT] = {0};
    for (int k = 0; k < QK_PART_COUNT; k++)
        if (lay.part[k].nbytes)
            parts[k] = malloc(lay.part[k].nbytes);
    st = qk_quantize(NULL, &c->params, c->dtype, c->input.ptr, c->rows, c->cols, parts);
    if (st != QK_OK) {
        printf("  %s: quantize failed: %s\n", c->name, qk_last_error());
        bad++;
    } else {
        for (int k = 0; k < QK_PART_COUNT; k++) {
            if (c->part[k].ptr == NULL && lay.part[k].nbytes == 0)
                continue;
            if (c->part[k].n != lay.part[k].nbytes) {
                printf("  %s: part %d holds %zu bytes, qk's layout says %zu\n", c->name, k, c->part[k].n,
                       lay.part[k].nbytes);
                bad++;
                continue;
            }
            bytes += c->part[k].n;
            bad += compare_part(c, k, parts[k], c->part[k].ptr, c->part[k].n, (const void *const *)parts,
                                &explained, &statistical);
        }
    }
    if (c->params.convrot_group > 0)
        bad += check_convrot_quantization(c);
    static const qk_dtype outs[3] = {QK_DTYPE_F32, QK_DTYPE_F16, QK_DTYPE_BF16};
    const void *ref_parts[QK_PART_COUNT];
    for (int k = 0; k < QK_PART_COUNT; k++)
        ref_parts[k] = c->part[k].ptr;
    for (int d = 0; d < 3; d++) {
        if (c->dequant[d].ptr == NULL)
            continue;
        size_t n = (size_t)(c->rows * c->cols) * qk_dtype_size(outs[d]);
        uint8_t *out = malloc(n);
        st = qk_dequantize(NULL, &c->params, ref_parts, c->rows, c->cols, outs[d], out);
        if (st != QK_OK) {
            printf("  %s: dequantize %s failed: %s\n", c->name, qk_dtype_name(outs[d]), qk_last_error());
            bad++;
        } else if (c->dequant[d].n != n) {
            printf("  %s: dequant %s holds %zu bytes, expected %zu\n", c->name, qk_dtype_name(outs[d]),
                   c->dequant[d].n, n);
            bad++;
        } else {
            bytes += n;
            bad += compare_dequant(c, outs[d], out, c->dequant[d].ptr, &explained, &dq_statistical);
        }
        free(out);
    }
    for (int k = 0; k < QK_PART_COUNT; k++)
        free(parts[k]);
    /* ConvRot's rounding-order deviations stay rare in the quantized bytes
     * (at most 10%: every rotated value carries its own rounding); its f32
     * dequantization differs almost everywhere, within the bound above. */
    size_t data_n = lay.part[QK_PART_DATA].nbytes;
    size_t limit = data_n / 10 + 2;
    if (statistical > limit) {
        printf("  %s: %zu quantized bytes differ by rounding-order deviations, more than the %zu allowed\n",
               c->name, statistical, limit);
        bad++;
    }
    tally *t = &per_format[c->params.format];
    t->cases++;
    t->bytes += bytes;
    t->mismatched += bad;
    t->explained += explained;
    return bad;
}

static void run_group(const char *group)
{
    char err[512];
    golden_set *g = golden_load(group, err, sizeof err);
    if (g == NULL)
        fail_msg("golden group %s cannot be loaded: %s", group, err);
    memset(per_format, 0, sizeof per_format);
    size_t bad = 0;
    for (size_t i = 0; i < golden_count(g); i++) {
        golden_case c;
        if (golden_get(g, i, &c, err, sizeof err) != 0) {
            printf("  case %zu: %s\n", i, err);
            bad++;
            continue;
        }
        bad += check_case(&c);
    }
    for (int f = 0; f < QK_FORMAT_COUNT; f++)
        if (per_format[f].cases)
            printf("golden %-6s %-16s %3d cases, %8zu bytes compared, %zu mismatched, "
                   "%zu bytes by documented deviations\n",
                   group, qk_format_name((qk_format)f), per_format[f].cases, per_format[f].bytes,
                   per_format[f].mismatched, per_format[f].explained);
    size_t n = golden_count(g);
    golden_free(g);
    assert_true(n > 0);
    assert_int_equal(bad, 0);
}

static void test_bnb4(void **s) { (void)s; run_group("bnb4"); }
static void test_nvfp4(void **s) { (void)s; run_group("nvfp4"); }
static void test_mxfp8(void **s) { (void)s; run_group("mxfp8"); }
static void test_fp8(void **s) { (void)s; run_group("fp8"); }
static void test_int8(void **s) { (void)s; run_group("int8"); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bnb4), cmocka_unit_test(test_nvfp4), cmocka_unit_test(test_mxfp8),
        cmocka_unit_test(test_fp8),  cmocka_unit_test(test_int8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
