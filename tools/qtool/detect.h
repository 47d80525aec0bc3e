/* Finds the quantized layers of a safetensors model, whichever consumer
 * layout wrote them (ComfyUI comfy_quant markers or header mirror, legacy
 * scaled_fp8, bitsandbytes packed quant state), and checks every part's size
 * against qk's layout before any byte is read. */
#ifndef QTOOL_DETECT_H
#define QTOOL_DETECT_H

#include <stddef.h>

#include "qk/qk.h"
#include "st_model.h"

typedef struct {
    char *layer;        /* "blocks.0.attn.qkv" */
    const char *layout; /* "comfyui", "bitsandbytes", "scaled_fp8" */
    qk_params p;
    int64_t rows, cols;
    int ndim;           /* original shape (bitsandbytes keeps it; else 2) */
    int64_t shape[8];
    int has_dtype;      /* bitsandbytes records the original dtype */
    qk_dtype dtype;
    const st_tensor *part[QK_PART_COUNT];
    float offset;       /* bitsandbytes nested offset */
    const st_tensor **used; /* every tensor that belongs to the layer */
    int nused;
} qlayer;

typedef struct {
    qlayer *l;
    size_t n;
} qlayers;

int detect_layers(const st_model *m, qlayers *out, char *err, size_t errlen);
void detect_free(qlayers *q);
/* The layer a tensor belongs to, or NULL. */
const qlayer *detect_owner(const qlayers *q, const char *tensor);
/* The layer whose dequantized weight replaces this tensor (its "<layer>.weight"). */
const qlayer *detect_weight_of(const qlayers *q, const char *tensor);
/* Dequantizes a layer into out (rows*cols elements of out_dtype). */
int detect_dequantize(qk_context *ctx, const qlayer *l, qk_dtype out_dtype, void *out, char *err,
                      size_t errlen);

#endif
