/* "--format" specs: NAME[:row|:tensor|:block=N][:bs=N][:dq][:convrot=G]. */
#ifndef QTOOL_FORMAT_SPEC_H
#define QTOOL_FORMAT_SPEC_H

#include "qk/qk.h"

/* Parses spec into params; 0 on success, -1 with a message printed. */
int parse_format_spec(const char *spec, qk_params *out);

#endif
