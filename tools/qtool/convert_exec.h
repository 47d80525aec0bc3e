/* Executes a conversion plan: streams every shard to a temporary file,
 * renames them into place at the end, writes config/report. */
#ifndef QTOOL_CONVERT_EXEC_H
#define QTOOL_CONVERT_EXEC_H

#include <stdint.h>

#include "plan.h"
#include "st_model.h"

typedef struct {
    const char *in, *out, *backend, *config, *report;
    int threads, quality, quiet;
    uint64_t max_shard;
} convert_opts;

int convert_run(const st_model *m, plan *pl, const convert_opts *o);

#endif
