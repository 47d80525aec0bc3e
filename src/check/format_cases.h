/* The format cases of the cross-backend harness, for the backend tests too:
 * a label and the parameters that differ from qk_params_default. Defined in
 * crosscheck.c (library qkcheck). */
#ifndef QK_FORMAT_CASES_H
#define QK_FORMAT_CASES_H

#include "qk/qk.h"

typedef struct {
    const char *label; /* e.g. "nf4/bs128/dq" */
    qk_format format;
    qk_scaling scaling;
    int block; /* block size; nvfp4 and mxfp8 keep their fixed one */
    int dq, convrot;
} qkc_case;

/* Every format, scaling and option that crosscheck compares. */
extern const qkc_case qkc_cases[];
extern const int qkc_case_count;

/* The parameters of a case. */
qk_params qkc_case_params(const qkc_case *c);

#endif
