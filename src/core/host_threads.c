/* Ranges of host work over threads, for the CPU backend's kernels and the
 * host steps of the device backends (double quant's nested part). Ranges
 * come from a shared counter; every range writes disjoint output, so the
 * result does not depend on the thread count. */
#define _GNU_SOURCE
#include <pthread.h>
#include <unistd.h>

#include "../ref/ref_internal.h"

int qk_online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > 256 ? 256 : (int)n);
}

typedef struct {
    int64_t n, chunk;
    int64_t next; /* atomic */
    qk_range_fn fn;
    void *arg;
} pool_job;

static void *worker(void *p)
{
    pool_job *j = p;
    for (;;) {
        int64_t b = __atomic_fetch_add(&j->next, j->chunk, __ATOMIC_RELAXED);
        if (b >= j->n)
            break;
        j->fn(j->arg, b, b + j->chunk < j->n ? b + j->chunk : j->n);
    }
    return NULL;
}

void qk_run_on_threads(int threads, int64_t n, int64_t grain, qk_range_fn fn, void *arg)
{
    if (threads <= 0)
        threads = qk_online_cpus();
    if (threads > 256)
        threads = 256;
    int64_t useful = n / grain;
    if (useful < threads)
        threads = useful < 1 ? 1 : (int)useful;
    if (threads <= 1) {
        fn(arg, 0, n);
        return;
    }
    /* About 4 ranges per thread balances uneven rows without much overhead. */
    int64_t chunk = n / ((int64_t)threads * 4);
    pool_job j = {n, chunk < grain ? grain : chunk, 0, fn, arg};
    pthread_t tid[256];
    int started = 0;
    for (int t = 1; t < threads; t++)
        if (pthread_create(&tid[started], NULL, worker, &j) == 0)
            started++;
    worker(&j); /* the caller works too; if no thread started it does it all */
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
}

static void host_parallel_for(const qk_exec *ex, int64_t n, int64_t grain, qk_range_fn fn, void *arg)
{
    (void)ex;
    qk_run_on_threads(0, n, grain, fn, arg);
}

const qk_exec qk_host_exec = {host_parallel_for, NULL};
