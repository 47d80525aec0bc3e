/* The caller's hook for long one-time work (qk_set_notice_handler): a
 * backend announces such work before it starts, so that a tool can tell
 * its user why nothing seems to happen. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "core_internal.h"

static pthread_mutex_t notice_lock = PTHREAD_MUTEX_INITIALIZER;
static qk_notice_fn notice_fn;
static void *notice_user;

void qk_set_notice_handler(qk_notice_fn fn, void *user)
{
    pthread_mutex_lock(&notice_lock);
    notice_fn = fn;
    notice_user = user;
    pthread_mutex_unlock(&notice_lock);
}

void qk_notice(const char *fmt, ...)
{
    pthread_mutex_lock(&notice_lock);
    qk_notice_fn fn = notice_fn;
    void *user = notice_user;
    pthread_mutex_unlock(&notice_lock);
    if (fn == NULL)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fn(msg, user);
}
