/* Parser of --format specs. */
#include "format_spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

static int parse_int(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0 || v > 1 << 20)
        return -1;
    *out = (int)v;
    return 0;
}

int parse_format_spec(const char *spec, qk_params *out)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    char *save = NULL, *tok = strtok_r(buf, ":", &save);
    qk_format f;
    if (tok == NULL || qk_format_from_name(tok, &f) != QK_OK) {
        qtool_usage_error("unknown format '%s' (nf4, fp4, nvfp4, mxfp8, float8_e4m3fn, float8_e5m2, "
                          "int8_tensorwise, int8_blockwise)", tok ? tok : spec);
        return -1;
    }
    qk_params_default(f, out);
    while ((tok = strtok_r(NULL, ":", &save)) != NULL) {
        int v = 0;
        if (strcmp(tok, "row") == 0)
            out->scaling = QK_SCALING_ROW;
        else if (strcmp(tok, "tensor") == 0)
            out->scaling = QK_SCALING_TENSOR;
        else if (strcmp(tok, "dq") == 0)
            out->double_quant = 1;
        else if (strncmp(tok, "block=", 6) == 0 && parse_int(tok + 6, &v) == 0) {
            out->scaling = QK_SCALING_BLOCK;
            out->block_size = v;
        } else if (strncmp(tok, "bs=", 3) == 0 && parse_int(tok + 3, &v) == 0)
            out->block_size = v;
        else if (strncmp(tok, "convrot=", 8) == 0 && parse_int(tok + 8, &v) == 0) {
            out->convrot_group = v;
            out->scaling = QK_SCALING_ROW;
        } else {
            qtool_usage_error("format '%s': unknown option '%s'", spec, tok);
            return -1;
        }
    }
    return 0;
}
