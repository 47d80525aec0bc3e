/* A one-line progress bar on stderr, drawn only when stderr is a terminal. */
#ifndef QTOOL_PROGRESS_H
#define QTOOL_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int enabled;
    size_t total_items;
    uint64_t total_bytes;
    double start, last_draw;
} progress;

void progress_start(progress *p, size_t items, uint64_t bytes, int allow);
void progress_update(progress *p, size_t items_done, uint64_t bytes_done, const char *what);
void progress_end(progress *p);
double progress_now(void);

#endif
