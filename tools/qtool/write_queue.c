/* Background writer of `qtool convert` (see write_queue.h). */
#define _GNU_SOURCE
#include "write_queue.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAPPED_CHUNK ((size_t)64 << 20) /* input pages held at once by a mapped write */

typedef enum { JOB_TENSOR, JOB_DATA, JOB_MAPPED, JOB_FREE } job_kind;

typedef struct job {
    job_kind kind;
    struct job *next;
    const char *name, *dtype; /* JOB_TENSOR: the plan's strings, alive all run */
    int ndim;
    int64_t shape[8];
    uint64_t nbytes;
    const void *data; /* JOB_DATA */
    size_t n;
    void *owned;      /* freed once written (JOB_DATA owned, JOB_FREE) */
    size_t counted;   /* bytes held against the cap */
    const st_tensor *t; /* JOB_MAPPED */
} job;

struct write_queue {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t more, room; /* writer waits on more; producer on room */
    job *head, *tail;
    size_t held, cap; /* bytes of queued owned buffers, and their bound */
    int busy;         /* the writer is running a job */
    int stop, failed;
    st_stream *s;
    char err[2048];      /* the writer's */
    char err_main[64];   /* the producer's (out of memory) */
};

static int run_job(write_queue *q, job *j)
{
    switch (j->kind) {
    case JOB_TENSOR:
        return st_stream_tensor(q->s, j->name, j->dtype, j->ndim, j->shape, j->nbytes, q->err, sizeof q->err);
    case JOB_DATA:
        return st_stream_write(q->s, j->data, j->n, q->err, sizeof q->err);
    case JOB_MAPPED:
        for (size_t off = 0; off < j->t->nbytes; off += MAPPED_CHUNK) {
            st_tensor piece = *j->t;
            piece.data = j->t->data + off;
            piece.nbytes = j->t->nbytes - off < MAPPED_CHUNK ? j->t->nbytes - off : MAPPED_CHUNK;
            int rc = st_stream_write(q->s, piece.data, piece.nbytes, q->err, sizeof q->err);
            st_release(&piece);
            if (rc != 0)
                return rc;
        }
        return 0;
    case JOB_FREE:
        return 0;
    }
    return -1;
}

static void *writer_main(void *arg)
{
    write_queue *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->head == NULL && !q->stop)
            pthread_cond_wait(&q->more, &q->mu);
        if (q->head == NULL)
            break;
        job *j = q->head;
        q->head = j->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->busy = 1;
        int failed = q->failed;
        pthread_mutex_unlock(&q->mu);
        /* after a failure the remaining jobs are only freed */
        int rc = failed ? 0 : run_job(q, j);
        free(j->owned);
        pthread_mutex_lock(&q->mu);
        if (rc != 0)
            q->failed = 1;
        q->held -= j->counted;
        q->busy = 0;
        free(j);
        pthread_cond_broadcast(&q->room);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

write_queue *wq_create(size_t cap)
{
    write_queue *q = calloc(1, sizeof *q);
    if (q == NULL)
        return NULL;
    q->cap = cap;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->more, NULL);
    pthread_cond_init(&q->room, NULL);
    if (pthread_create(&q->thread, NULL, writer_main, q) != 0) {
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->more);
        pthread_cond_destroy(&q->room);
        free(q);
        return NULL;
    }
    return q;
}

void wq_destroy(write_queue *q)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_signal(&q->more);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->more);
    pthread_cond_destroy(&q->room);
    free(q);
}

void wq_set_stream(write_queue *q, st_stream *s)
{
    pthread_mutex_lock(&q->mu);
    q->s = s;
    pthread_mutex_unlock(&q->mu);
}

/* Queues j, first waiting for room for its counted bytes. */
static int push(write_queue *q, job *j)
{
    if (j == NULL)
        return -1;
    pthread_mutex_lock(&q->mu);
    while (!q->failed && j->counted > 0 && q->held > 0 && q->held + j->counted > q->cap)
        pthread_cond_wait(&q->room, &q->mu);
    if (q->failed) {
        /* a job already running may still read a buffer j would free */
        while (q->busy)
            pthread_cond_wait(&q->room, &q->mu);
        pthread_mutex_unlock(&q->mu);
        free(j->owned);
        free(j);
        return -1;
    }
    q->held += j->counted;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    pthread_cond_signal(&q->more);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

static job *new_job(write_queue *q, job_kind kind)
{
    job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        pthread_mutex_lock(&q->mu);
        snprintf(q->err_main, sizeof q->err_main, "out of memory");
        q->failed = 1;
        pthread_mutex_unlock(&q->mu);
        return NULL;
    }
    j->kind = kind;
    return j;
}

int wq_tensor(write_queue *q, const char *name, const char *dtype, int ndim, const int64_t *shape,
              uint64_t nbytes)
{
    job *j = new_job(q, JOB_TENSOR);
    if (j != NULL) {
        j->name = name;
        j->dtype = dtype;
        j->ndim = ndim < 8 ? ndim : 8;
        memcpy(j->shape, shape, (size_t)j->ndim * sizeof *shape);
        j->nbytes = nbytes;
    }
    return push(q, j);
}

int wq_data(write_queue *q, const void *p, size_t n, int owned)
{
    job *j = new_job(q, JOB_DATA);
    if (j == NULL) {
        if (owned)
            free((void *)p);
        return -1;
    }
    j->data = p;
    j->n = n;
    if (owned) {
        j->owned = (void *)p;
        j->counted = n;
    }
    return push(q, j);
}

int wq_mapped(write_queue *q, const st_tensor *t)
{
    job *j = new_job(q, JOB_MAPPED);
    if (j != NULL)
        j->t = t;
    return push(q, j);
}

int wq_free(write_queue *q, void *p, size_t bytes)
{
    job *j = new_job(q, JOB_FREE);
    if (j == NULL) {
        free(p);
        return -1;
    }
    j->owned = p;
    j->counted = bytes;
    return push(q, j);
}

int wq_drain(write_queue *q)
{
    pthread_mutex_lock(&q->mu);
    while (q->head != NULL || q->busy)
        pthread_cond_wait(&q->room, &q->mu);
    int rc = q->failed ? -1 : 0;
    pthread_mutex_unlock(&q->mu);
    return rc;
}

const char *wq_error(write_queue *q) { return q->err_main[0] ? q->err_main : q->err; }
