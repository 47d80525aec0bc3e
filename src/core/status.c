/* Version, status strings and the per-thread last-error message. */
#include <stdarg.h>
#include <stdio.h>

#include "core_internal.h"

static _Thread_local char last_error[512];

const char *qk_version(int *major, int *minor, int *patch)
{
    if (major)
        *major = QK_VERSION_MAJOR;
    if (minor)
        *minor = QK_VERSION_MINOR;
    if (patch)
        *patch = QK_VERSION_PATCH;
    return QK_VERSION_STRING;
}

const char *qk_status_string(qk_status status)
{
    switch (status) {
    case QK_OK: return "ok";
    case QK_ERR_INVALID_ARGUMENT: return "invalid argument";
    case QK_ERR_UNSUPPORTED: return "unsupported";
    case QK_ERR_NONFINITE: return "non-finite input";
    case QK_ERR_OUT_OF_MEMORY: return "out of memory";
    case QK_ERR_BACKEND_UNAVAILABLE: return "backend unavailable";
    case QK_ERR_BACKEND_FAILURE: return "backend failure";
    case QK_ERR_OVERFLOW: return "size overflow";
    }
    return "unknown status";
}

const char *qk_last_error(void) { return last_error; }

void qk_clear_error(void) { last_error[0] = '\0'; }

qk_status qk_fail(qk_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}
