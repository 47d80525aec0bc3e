/* Background writer of `qtool convert`: the converting thread queues tensor
 * headers and data, a writer thread feeds them to the st_stream in order, so
 * quantizing tensor N+1 overlaps writing tensor N. The queue holds at most
 * `cap` bytes of owned buffers (one job larger than that still passes when
 * the queue is empty), which bounds the extra memory. */
#ifndef QTOOL_WRITE_QUEUE_H
#define QTOOL_WRITE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "st_model.h"
#include "st_stream.h"

typedef struct write_queue write_queue;

write_queue *wq_create(size_t cap);
/* Waits for every queued job, stops the thread and frees everything. */
void wq_destroy(write_queue *q);
/* Directs the following jobs to s (call with the queue drained). */
void wq_set_stream(write_queue *q, st_stream *s);

/* Each returns -1 once the writer has failed (wq_error says why); a job
 * queued after a failure is dropped, its buffer freed. */
int wq_tensor(write_queue *q, const char *name, const char *dtype, int ndim, const int64_t *shape,
              uint64_t nbytes);
/* n bytes at p; p stays valid until written (owned: freed by the writer). */
int wq_data(write_queue *q, const void *p, size_t n, int owned);
/* A tensor written straight from the input mapping, released as it goes. */
int wq_mapped(write_queue *q, const st_tensor *t);
/* Frees the buffer once every job before it is written (a buffer that
 * several wq_data jobs read); `bytes` counts against the cap until then. */
int wq_free(write_queue *q, void *p, size_t bytes);

/* Waits until every queued job is written; -1 if the writer failed. */
int wq_drain(write_queue *q);
const char *wq_error(write_queue *q);

#endif
