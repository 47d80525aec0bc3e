/* Single-file and sharded safetensors models. */
#define _GNU_SOURCE
#include "st_model.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

size_t st_numel(const st_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    return n;
}

static void page_range(const st_tensor *t, uintptr_t *a, size_t *len)
{
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t s = (uintptr_t)t->data, e = s + t->nbytes;
    s &= ~(uintptr_t)(ps - 1);
    e = (e + (uintptr_t)ps - 1) & ~(uintptr_t)(ps - 1);
    *a = s;
    *len = e - s;
}

void st_prefetch(const st_tensor *t)
{
    uintptr_t a;
    size_t len;
    if (t == NULL || t->nbytes == 0)
        return;
    page_range(t, &a, &len);
    madvise((void *)a, len, MADV_WILLNEED);
}

void st_populate(const st_tensor *t)
{
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14; older kernels answer EINVAL */
#endif
    uintptr_t a;
    size_t len;
    if (t == NULL || t->nbytes == 0)
        return;
    page_range(t, &a, &len);
    madvise((void *)a, len, MADV_POPULATE_READ);
}

void st_release(const st_tensor *t)
{
    uintptr_t a;
    size_t len;
    if (t == NULL || t->nbytes == 0)
        return;
    page_range(t, &a, &len);
    /* Private read-only file pages: dropping them only means a later access
     * reads the file again. */
    madvise((void *)a, len, MADV_DONTNEED);
}

const void *st_aligned(const st_tensor *t, void **copy)
{
    size_t es = st_dtype_size(t->dtype);
    *copy = NULL;
    if (es <= 1 || (uintptr_t)t->data % es == 0)
        return t->data;
    *copy = malloc(t->nbytes ? t->nbytes : 1); /* malloc's alignment suits every dtype */
    if (*copy != NULL)
        memcpy(*copy, t->data, t->nbytes);
    return *copy;
}

static int add_file_tensors(st_model *m, st_file *f)
{
    const st_tensor **t = realloc(m->tensors, (m->count + f->count + 1) * sizeof *t);
    if (t == NULL)
        return -1;
    m->tensors = t;
    for (size_t i = 0; i < f->count; i++)
        m->tensors[m->count++] = &f->tensors[i];
    return 0;
}

static json_t *copy_metadata(const st_file *f)
{
    json_t *md = json_object_get(f->header, "__metadata__");
    return md ? json_deep_copy(md) : json_object();
}

static int open_sharded(const char *path, st_model *m, char *err, size_t errlen)
{
    json_error_t je;
    json_t *idx = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (idx == NULL) {
        snprintf(err, errlen, "%s: bad index JSON: %s (line %d)", path, je.text, je.line);
        return -1;
    }
    json_t *wm = json_object_get(idx, "weight_map");
    if (!json_is_object(wm) || json_object_size(wm) == 0) {
        snprintf(err, errlen, "%s: index has no weight_map object", path);
        json_decref(idx);
        return -1;
    }
    /* Shard names in order of first appearance. */
    const char **names = calloc(json_object_size(wm), sizeof *names);
    size_t nn = 0;
    const char *key;
    json_t *v;
    int rc = names ? 0 : -1;
    if (rc != 0)
        snprintf(err, errlen, "out of memory");
    json_object_foreach(wm, key, v)
    {
        if (rc != 0)
            break;
        if (!json_is_string(v)) {
            snprintf(err, errlen, "%s: weight_map entry '%s' is not a file name", path, key);
            rc = -1;
            break;
        }
        const char *s = json_string_value(v);
        if (strchr(s, '/') != NULL || strcmp(s, "..") == 0 || s[0] == '\0') {
            snprintf(err, errlen, "%s: shard name '%s' must be a file in the index's directory", path, s);
            rc = -1;
            break;
        }
        size_t k = 0;
        while (k < nn && strcmp(names[k], s) != 0)
            k++;
        if (k == nn)
            names[nn++] = s;
    }
    m->files = rc == 0 ? calloc(nn, sizeof *m->files) : NULL;
    if (rc == 0 && m->files == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path + 1) : 0;
    for (size_t k = 0; rc == 0 && k < nn; k++) {
        char sp[4096];
        snprintf(sp, sizeof sp, "%.*s%s", dirlen, path, names[k]);
        if (access(sp, F_OK) != 0) {
            snprintf(err, errlen, "%s: missing shard %s", path, sp);
            rc = -1;
            break;
        }
        if (st_open(sp, &m->files[k], err, errlen) != 0) {
            rc = -1;
            break;
        }
        m->nfiles++;
        if (add_file_tensors(m, &m->files[k]) != 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    /* Every indexed tensor is in its shard, and no tensor is in two. */
    json_object_foreach(wm, key, v)
    {
        if (rc != 0)
            break;
        size_t k = 0;
        while (k < nn && strcmp(names[k], json_string_value(v)) != 0)
            k++;
        if (json_object_get(m->files[k].header, key) == NULL || strcmp(key, "__metadata__") == 0) {
            snprintf(err, errlen, "%s: tensor '%s' is not in its shard %s", path, key, names[k]);
            rc = -1;
        }
    }
    for (size_t i = 0; rc == 0 && i < m->count; i++)
        for (size_t j = i + 1; j < m->count; j++)
            if (strcmp(m->tensors[i]->name, m->tensors[j]->name) == 0) {
                snprintf(err, errlen, "%s: tensor '%s' is in two shards", path, m->tensors[i]->name);
                rc = -1;
                break;
            }
    if (rc == 0) {
        m->metadata = copy_metadata(&m->files[0]);
        m->sharded = 1;
    }
    free(names);
    json_decref(idx);
    return rc;
}

int st_model_open(const char *path, st_model *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    int rc;
    if (ends_with(path, ".index.json")) {
        rc = open_sharded(path, m, err, errlen);
    } else {
        m->files = calloc(1, sizeof *m->files);
        rc = m->files ? st_open(path, &m->files[0], err, errlen) : -1;
        if (rc == 0) {
            m->nfiles = 1;
            rc = add_file_tensors(m, &m->files[0]);
            m->metadata = copy_metadata(&m->files[0]);
        }
    }
    if (rc != 0)
        st_model_close(m);
    return rc;
}

void st_model_close(st_model *m)
{
    for (size_t i = 0; i < m->nfiles; i++)
        st_close(&m->files[i]);
    free(m->files);
    free(m->tensors);
    json_decref(m->metadata);
    memset(m, 0, sizeof *m);
}

const st_tensor *st_model_find(const st_model *m, const char *name)
{
    for (size_t i = 0; i < m->count; i++)
        if (strcmp(m->tensors[i]->name, name) == 0)
            return m->tensors[i];
    return NULL;
}
