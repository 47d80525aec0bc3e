/* Progress bar: layers and bytes done, rate and ETA; quiet off a terminal. */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_start(progress *p, size_t items, uint64_t bytes, int allow)
{
    p->enabled = allow && isatty(2);
    p->total_items = items;
    p->total_bytes = bytes;
    p->start = progress_now();
    p->last_draw = 0;
}

void progress_update(progress *p, size_t items_done, uint64_t bytes_done, const char *what)
{
    if (!p->enabled)
        return;
    double t = progress_now();
    if (t - p->last_draw < 0.1 && items_done < p->total_items)
        return;
    p->last_draw = t;
    double frac = p->total_bytes ? (double)bytes_done / (double)p->total_bytes : 1.0;
    double el = t - p->start, eta = frac > 0 ? el / frac - el : 0;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r[%s] %zu/%zu layers  %.2f/%.2f GiB  %.0f MB/s  ETA %d:%02d  %-30.30s\033[K", bar,
            items_done, p->total_items, (double)bytes_done / 1073741824.0,
            (double)p->total_bytes / 1073741824.0, el > 0 ? (double)bytes_done / 1e6 / el : 0.0,
            (int)eta / 60, (int)eta % 60, what ? what : "");
    fflush(stderr);
}

void progress_end(progress *p)
{
    if (p->enabled)
        fprintf(stderr, "\r\033[K");
}
