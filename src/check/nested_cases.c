/* Double-quant parts a caller crafted, against the reference backend: a NaN
 * or Inf nested absmax or offset (device backends rebuild the absmax on the
 * host then, under its NaN rules) and finite ones near FLT_MAX whose sums
 * overflow (rebuilt on the device). Public API only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crosscheck.h"

long qkc_crafted_nested(qk_context *ctx, const char *label)
{
    const int64_t rows = 64, cols = 512; /* 512 absmax values: two nested blocks */
    qk_params p;
    qk_params_default(QK_FORMAT_NF4, &p);
    p.double_quant = 1;
    qk_layout lay;
    qk_context *ref = NULL;
    if (qk_layout_query(&p, rows, cols, &lay) != QK_OK || qk_context_create("reference", 0, &ref) != QK_OK)
        return 1;
    size_t n = (size_t)(rows * cols), bytes = n * 2;
    float *in = malloc(n * 4);
    unsigned char *want = malloc(bytes), *got = malloc(bytes);
    void *parts[QK_PART_COUNT] = {0};
    int ok = in && want && got;
    for (int k = 0; k < QK_PART_COUNT && ok; k++)
        if (lay.part[k].nbytes && (parts[k] = calloc(1, lay.part[k].nbytes)) == NULL)
            ok = 0;
    uint32_t s = 0x9E3779B9u;
    for (size_t i = 0; ok && i < n; i++) {
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        in[i] = ((float)(s & 0xFFFFu) - 32768.0f) / (float)(1u << (4 + (i / 64) % 12));
    }
    long bad = ok && qk_quantize(ref, &p, QK_DTYPE_F32, in, rows, cols, parts) == QK_OK ? 0 : 1;
    static const uint32_t nested1[] = {0x7FC00001u, 0x7F800000u, 0x7F7FFFFFu, 0x7F7FFFFFu};
    static const uint32_t offsets[] = {0x3C000000u, 0x3C000000u, 0x7F7FFFFFu, 0xFF800000u};
    for (size_t k = 0; k < sizeof nested1 / sizeof *nested1 && bad == 0; k++) {
        memcpy((unsigned char *)parts[QK_PART_SCALE2] + 4, &nested1[k], 4);
        memcpy(parts[QK_PART_OFFSET], &offsets[k], 4);
        const void *const *cp = (const void *const *)parts;
        int same = qk_dequantize(ref, &p, cp, rows, cols, QK_DTYPE_BF16, want) == QK_OK &&
                   qk_dequantize(ctx, &p, cp, rows, cols, QK_DTYPE_BF16, got) == QK_OK &&
                   memcmp(want, got, bytes) == 0;
        printf("%s: nested[1] 0x%08x, offset 0x%08x: %s\n", label, nested1[k], offsets[k],
               same ? "same bytes" : "DIFFERENT");
        bad += !same;
    }
    for (int k = 0; k < QK_PART_COUNT; k++)
        free(parts[k]);
    free(in);
    free(want);
    free(got);
    qk_context_destroy(ref);
    return bad;
}
