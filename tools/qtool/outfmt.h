/* What the consumers' loaders read besides the qk parts: ComfyUI's per-layer
 * `comfy_quant` JSON and bitsandbytes' quant maps and packed quant state. */
#ifndef QTOOL_OUTFMT_H
#define QTOOL_OUTFMT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "qk/qk.h"

/* ComfyUI layer config, e.g. {"format": "nvfp4"}; NULL if the params have no
 * ComfyUI loader (message in err). */
json_t *outfmt_comfy_conf(const qk_params *p, char *err, size_t errlen);
/* Python json.dumps text of a JSON value (", " and ": " separators, the
 * shortest repr of a real); malloc'd. */
char *outfmt_pydumps(const json_t *v);

/* bitsandbytes' packed quant state (`quant_state.bitsandbytes__nf4`):
 * json.dumps of {"quant_type", "blocksize", "dtype", "shape"[, "nested_blocksize",
 * "nested_dtype", "nested_offset"]}. offset is used with double quant. */
char *outfmt_bnb_state(const qk_params *p, qk_dtype dt, int64_t rows, int64_t cols, float offset);
/* Upper bound of that text's length over every offset. */
size_t outfmt_bnb_state_bound(const qk_params *p, qk_dtype dt, int64_t rows, int64_t cols);
/* "bfloat16", "float16", "float32" (torch names). */
const char *outfmt_torch_dtype(qk_dtype dt);
int outfmt_dtype_from_torch(const char *name, qk_dtype *dt);
/* The 16-entry code of nf4/fp4 and the 256-entry nested (dynamic) map, f32. */
void outfmt_bnb_quant_map(qk_format f, float out[16]);
void outfmt_bnb_nested_map(float out[256]);

#endif
