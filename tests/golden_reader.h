/* Reader of the committed golden vectors (tests/golden/G.json + G.bin),
 * made by tools/golden/make_golden.py from the anchor libraries. */
#ifndef QK_GOLDEN_READER_H
#define QK_GOLDEN_READER_H

#include <stddef.h>
#include <stdint.h>

#include "qk/qk.h"

typedef struct {
    const uint8_t *ptr; /* NULL when absent */
    size_t n;
} golden_blob;

typedef struct {
    const char *name;
    qk_params params;
    qk_dtype dtype;
    int64_t rows, cols;
    golden_blob input;
    golden_blob part[QK_PART_COUNT];
    golden_blob dequant[3]; /* f32, f16, bf16 */
    golden_blob rotated;    /* ConvRot: the anchor's rotated input */
    int log2_exact;         /* mxfp8: anchor exponents equal the exact ceil(log2) */
    double anchor_offset;   /* bnb double quant: the anchor's own mean */
    int has_anchor_offset;
} golden_case;

typedef struct golden_set golden_set;

/* Loads $QK_GOLDEN_DIR/<group>.json and .bin; NULL with a message on error. */
golden_set *golden_load(const char *group, char *err, size_t errlen);
void golden_free(golden_set *g);
size_t golden_count(const golden_set *g);
/* Fills *c for case i; 0 on success, -1 with a message on a malformed case. */
int golden_get(const golden_set *g, size_t i, golden_case *c, char *err, size_t errlen);

#endif
